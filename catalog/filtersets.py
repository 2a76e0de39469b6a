"""Catalog filtersets: one per list, shared by the HTML pages and the REST API (same parameters, same meaning).

Parameters are the ones a person types into a URL: clusters, teams and domains by name or slug, tags by
name, yes/no switches as ``yes``/``no`` (``true``/``false``/``1``/``0`` work too, for API clients).
Sorting is ``?ordering=<param>`` or ``?ordering=-<param>`` over a whitelist per list; ties are broken by
primary key so pagination never shows a row twice or skips one.

Discovered rows (topics, consumer groups) default to present ones only: a deleted topic is history and
shows up with ``?deleted=yes`` (only deleted) or ``?deleted=all``.
"""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import F, Q, QuerySet

from .models import Cluster, ConsumerGroup, Domain, EventType, Service, Tag, Team, Topic

__all__ = [
    "ClusterFilterSet",
    "ConsumerGroupFilterSet",
    "DomainFilterSet",
    "EventTypeFilterSet",
    "ServiceFilterSet",
    "TeamFilterSet",
    "TopicFilterSet",
    "YesNoFilter",
    "ordering_params",
]

Q_MAX_LENGTH = 200


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------
class YesNoSelect(forms.Select):
    """A select of Any / Yes / No that also reads the spellings API clients use (true/false, 1/0)."""

    TRUE_VALUES = frozenset({"yes", "true", "1", "on"})
    FALSE_VALUES = frozenset({"no", "false", "0", "off"})

    def __init__(self, attrs=None):
        super().__init__(attrs, choices=(("", "Any"), ("yes", "Yes"), ("no", "No")))

    def format_value(self, value):
        if value is True or str(value).lower() in self.TRUE_VALUES:
            return ["yes"]
        if value is False or str(value).lower() in self.FALSE_VALUES:
            return ["no"]
        return [""]

    def value_from_datadict(self, data, files, name):
        value = data.get(name)
        if value is None:
            return None
        value = str(value).strip().lower()
        if value in self.TRUE_VALUES:
            return True
        if value in self.FALSE_VALUES:
            return False
        # Anything else (including "any" and "") means "no filter"; a typo is not worth a 400 here.
        return None


class YesNoFilter(django_filters.BooleanFilter):
    """A boolean filter whose form field is a yes/no/any select (documented, internal, under-replicated...)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", YesNoSelect)
        super().__init__(*args, **kwargs)


class StableOrderingFilter(django_filters.OrderingFilter):
    """OrderingFilter that puts empty values last on every database and breaks ties by primary key.

    SQLite and PostgreSQL disagree on where NULLs sort; pinning them last keeps pages identical on both.
    The primary-key tie-breaker makes the order total, so page 2 starts exactly where page 1 ended.
    """

    def filter(self, qs: QuerySet, value: list[str] | None) -> QuerySet:
        if not value:
            return qs
        ordering = []
        for param in value:
            if not param:
                continue
            field_name = self.get_ordering_value(param)
            if field_name.startswith("-"):
                ordering.append(F(field_name[1:]).desc(nulls_last=True))
            else:
                ordering.append(F(field_name).asc(nulls_last=True))
        return qs.order_by(*ordering, "pk") if ordering else qs


DELETED_CHOICES = (("no", "Present"), ("yes", "Deleted"), ("all", "All"))


def _deleted_filter() -> django_filters.ChoiceFilter:
    return django_filters.ChoiceFilter(
        choices=DELETED_CHOICES, empty_label=None, method="filter_deleted", label="Status"
    )


class DiscoveredFilterSet(django_filters.FilterSet):
    """Shared by topics and consumer groups: present rows by default, deleted ones on request.

    Subclasses declare `deleted = _deleted_filter()` where it belongs in their form's order.
    """

    def filter_deleted(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == "yes":
            return queryset.filter(deleted_at__isnull=False)
        if value == "all":
            return queryset
        return queryset.filter(deleted_at__isnull=True)

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = super().filter_queryset(queryset)
        # An absent (or invalid) `deleted` means "present only": the filter method never runs for an
        # empty value, so the default is applied here.
        if not self.form.cleaned_data.get("deleted"):
            queryset = queryset.filter(deleted_at__isnull=True)
        return queryset


def _cluster_filter() -> django_filters.ModelChoiceFilter:
    return django_filters.ModelChoiceFilter(
        field_name="cluster", to_field_name="name", queryset=Cluster.objects.all(), empty_label="Any cluster"
    )


def _team_filter(field_name: str = "owner_team", label: str = "Owner team") -> django_filters.ModelChoiceFilter:
    return django_filters.ModelChoiceFilter(
        field_name=field_name, to_field_name="slug", queryset=Team.objects.all(), label=label, empty_label="Any team"
    )


def _domain_filter() -> django_filters.ModelChoiceFilter:
    return django_filters.ModelChoiceFilter(
        field_name="domain", to_field_name="slug", queryset=Domain.objects.all(), empty_label="Any domain"
    )


def _tag_filter() -> django_filters.ModelChoiceFilter:
    return django_filters.ModelChoiceFilter(
        field_name="tags", to_field_name="name", queryset=Tag.objects.all(), label="Tag", empty_label="Any tag"
    )


def _q_filter(method: str) -> django_filters.CharFilter:
    return django_filters.CharFilter(
        method=method,
        label="Contains",
        max_length=Q_MAX_LENGTH,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Filter by name or text"}),
    )


# ---------------------------------------------------------------------------------------------
# Discovered: topics and consumer groups
# ---------------------------------------------------------------------------------------------
class TopicFilterSet(DiscoveredFilterSet):
    q = _q_filter("filter_q")
    cluster = _cluster_filter()
    owner_team = _team_filter()
    domain = _domain_filter()
    tag = _tag_filter()
    documented = YesNoFilter(method="filter_documented", label="Documented")
    internal = YesNoFilter(field_name="internal", label="Internal")
    under_replicated = YesNoFilter(method="filter_under_replicated", label="Under-replicated")
    cleanup_policy = django_filters.ChoiceFilter(
        choices=(("delete", "delete"), ("compact", "compact")),
        method="filter_cleanup_policy",
        label="Cleanup policy",
        empty_label="Any policy",
    )
    deleted = _deleted_filter()
    # For API clients that want the name only (q also searches descriptions); the page form leaves it out.
    name = django_filters.CharFilter(field_name="name", lookup_expr="icontains", max_length=249, label="Name contains")
    ordering = StableOrderingFilter(
        fields=(
            ("name", "name"),
            ("cluster__name", "cluster"),
            ("partition_count", "partitions"),
            ("replication_factor", "replication"),
            ("under_replicated_partitions", "under_replicated"),
            ("retention_ms", "retention"),
            ("cleanup_policy", "cleanup_policy"),
            ("owner_team__name", "owner_team"),
            ("domain__name", "domain"),
            ("first_seen", "first_seen"),
            ("last_seen", "last_seen"),
            ("updated_at", "updated"),
        ),
    )

    class Meta:
        model = Topic
        fields: list[str] = []

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))

    def filter_documented(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        # Mirrors Topic.is_documented: a description or an owner makes a topic documented.
        documented = ~Q(description="") | Q(owner_team__isnull=False)
        return queryset.filter(documented) if value else queryset.exclude(documented)

    def filter_under_replicated(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        if value:
            return queryset.filter(under_replicated_partitions__gt=0)
        return queryset.filter(under_replicated_partitions=0)

    def filter_cleanup_policy(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # Kafka reports a list ("compact,delete"); a topic with both policies matches either choice.
        return queryset.filter(cleanup_policy__icontains=value)


class ConsumerGroupFilterSet(DiscoveredFilterSet):
    q = _q_filter("filter_q")
    cluster = _cluster_filter()
    state = django_filters.CharFilter(
        field_name="state",
        lookup_expr="iexact",
        max_length=30,
        label="State",
        widget=forms.TextInput(attrs={"placeholder": "Stable, Empty…"}),
    )
    service = django_filters.ModelChoiceFilter(
        field_name="service", to_field_name="slug", queryset=Service.objects.all(), empty_label="Any service"
    )
    # Documented means "belongs to a service": exclude the groups whose service is null.
    documented = YesNoFilter(field_name="service", lookup_expr="isnull", exclude=True, label="Documented")
    deleted = _deleted_filter()
    ordering = StableOrderingFilter(
        fields=(
            ("group_id", "group_id"),
            ("cluster__name", "cluster"),
            ("state", "state"),
            ("member_count", "members"),
            ("service__name", "service"),
            ("first_seen", "first_seen"),
            ("last_seen", "last_seen"),
            ("updated_at", "updated"),
        ),
    )

    class Meta:
        model = ConsumerGroup
        fields: list[str] = []

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(group_id__icontains=value) | Q(description__icontains=value))


# ---------------------------------------------------------------------------------------------
# The documented catalog
# ---------------------------------------------------------------------------------------------
class EventTypeFilterSet(django_filters.FilterSet):
    q = _q_filter("filter_q")
    domain = _domain_filter()
    owner_team = _team_filter()
    classification = django_filters.ChoiceFilter(
        field_name="data_classification", choices=EventType.Classification.choices, empty_label="Any classification"
    )
    tag = _tag_filter()
    cluster = django_filters.ModelChoiceFilter(
        method="filter_cluster", to_field_name="name", queryset=Cluster.objects.all(), empty_label="Any cluster"
    )
    # By name, since that is what people know; a name present on two clusters matches both (add cluster=).
    topic = django_filters.CharFilter(
        field_name="topic__name",
        max_length=249,
        label="Topic",
        widget=forms.TextInput(attrs={"placeholder": "exact topic name"}),
    )
    documented = YesNoFilter(method="filter_documented", label="Documented")
    ordering = StableOrderingFilter(
        fields=(
            ("name", "name"),
            ("version", "version"),
            ("domain__name", "domain"),
            ("owner_team__name", "owner_team"),
            ("data_classification", "classification"),
            ("topic__name", "topic"),
            ("updated_at", "updated"),
        ),
    )

    class Meta:
        model = EventType
        fields: list[str] = []

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(
            Q(name__icontains=value) | Q(summary__icontains=value) | Q(business_meaning__icontains=value)
        )

    def filter_cluster(self, queryset: QuerySet, name: str, value: Cluster) -> QuerySet:
        # An event type is on the cluster of its topic, or of a topic a service declares for it.
        return queryset.filter(
            pk__in=EventType.objects.filter(Q(topic__cluster=value) | Q(relations__topic__cluster=value)).values("pk")
        )

    def filter_documented(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        # Mirrors EventType.is_documented: both a business meaning and an owner.
        documented = ~Q(business_meaning="") & Q(owner_team__isnull=False)
        return queryset.filter(documented) if value else queryset.exclude(documented)


class ServiceFilterSet(django_filters.FilterSet):
    q = _q_filter("filter_q")
    owner_team = _team_filter()
    domain = _domain_filter()
    tag = _tag_filter()
    cluster = django_filters.ModelChoiceFilter(
        method="filter_cluster", to_field_name="name", queryset=Cluster.objects.all(), empty_label="Any cluster"
    )
    ordering = StableOrderingFilter(
        fields=(
            ("name", "name"),
            ("owner_team__name", "owner_team"),
            ("domain__name", "domain"),
            ("updated_at", "updated"),
        ),
    )

    class Meta:
        model = Service
        fields: list[str] = []

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))

    def filter_cluster(self, queryset: QuerySet, name: str, value: Cluster) -> QuerySet:
        # A service is on a cluster where it declares a topic (directly or through an event type's topic) or
        # where one of its consumer groups lives; a subquery keeps the rows distinct without DISTINCT.
        on_cluster = Service.objects.filter(
            Q(relations__topic__cluster=value)
            | Q(relations__event_type__topic__cluster=value)
            | Q(consumer_groups__cluster=value, consumer_groups__deleted_at__isnull=True)
        )
        return queryset.filter(pk__in=on_cluster.values("pk"))


class TeamFilterSet(django_filters.FilterSet):
    q = _q_filter("filter_q")
    domain = _domain_filter()
    ordering = StableOrderingFilter(
        fields=(("name", "name"), ("domain__name", "domain"), ("updated_at", "updated")),
    )

    class Meta:
        model = Team
        fields: list[str] = []

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(
            Q(name__icontains=value) | Q(description__icontains=value) | Q(contact_channel__icontains=value)
        )


class DomainFilterSet(django_filters.FilterSet):
    q = _q_filter("filter_q")
    ordering = StableOrderingFilter(fields=(("name", "name"), ("updated_at", "updated")))

    class Meta:
        model = Domain
        fields: list[str] = []

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))


class ClusterFilterSet(django_filters.FilterSet):
    q = _q_filter("filter_q")
    ordering = StableOrderingFilter(fields=(("name", "name"), ("bootstrap_servers", "bootstrap_servers")))

    class Meta:
        model = Cluster
        fields: list[str] = []

    def filter_q(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(
            Q(name__icontains=value) | Q(description__icontains=value) | Q(bootstrap_servers__icontains=value)
        )


def ordering_params(filterset: django_filters.FilterSet) -> list[str]:
    """The validated ``ordering`` params of a bound filterset (empty when absent or invalid)."""
    if not filterset.is_bound or "ordering" not in filterset.filters:
        return []
    filterset.form.is_valid()  # populates cleaned_data with the fields that validated
    return [param for param in filterset.form.cleaned_data.get("ordering") or [] if param]
