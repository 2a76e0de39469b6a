"""Catalog reads shared by the pages and the API: list querysets, the catalog home, and detail-page data.

List querysets join what a row shows (select_related), prefetch many-to-many tags, and count related rows
with correlated subqueries rather than JOIN + GROUP BY: a page of 50 then costs the same few queries as a
page of 200, and the counts stay right when a filter adds its own joins. Detail selectors take the object
(the view has already 404'd a wrong URL) and return plain dataclasses the template reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, IntegerField, Model, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from .cluster_status import clusters_staleness
from .links import catalog_url, schema_subject_url
from .models import (
    Cluster,
    ConsumerGroup,
    DeclaredRelation,
    DiscoveryRun,
    Domain,
    EventType,
    Partition,
    Service,
    Tag,
    Team,
    TeamMembership,
    Topic,
)

__all__ = [
    "KEY_TOPIC_CONFIGS",
    "CatalogHome",
    "ClusterHealth",
    "TopicDetail",
    "catalog_home",
    "cluster_detail",
    "cluster_health",
    "cluster_list",
    "clusters_health",
    "consumer_group_detail",
    "consumer_group_list",
    "consumer_group_queryset",
    "domain_detail",
    "domain_list",
    "event_type_detail",
    "event_type_list",
    "event_type_queryset",
    "service_detail",
    "service_list",
    "service_queryset",
    "team_detail",
    "team_list",
    "team_queryset",
    "topic_detail",
    "topic_list",
    "topic_queryset",
]

# The configs people look at first, in this order; the rest of the fetched configs follow alphabetically.
KEY_TOPIC_CONFIGS = (
    "retention.ms",
    "retention.bytes",
    "cleanup.policy",
    "message.timestamp.type",
    "min.insync.replicas",
)
HOME_LIST_LENGTH = 6
RECENT_LENGTH = 12
DETAIL_TOPICS_LIMIT = 100
DISCOVERY_RUNS_SHOWN = 20


def _count_of(model: type[Model], fk: str, **filters: Any) -> Coalesce:
    """COUNT(*) of `model` rows whose `fk` points at the outer row, as a correlated subquery."""
    rows = (
        model._default_manager.filter(**{fk: OuterRef("pk")}, **filters)
        .order_by()
        .values(fk)
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


_GroupTopics = ConsumerGroup.committed_topics.through
_TAGS = Prefetch("tags", queryset=Tag.objects.order_by("name"))


# ---------------------------------------------------------------------------------------------
# List querysets (the filtersets narrow and order them)
# ---------------------------------------------------------------------------------------------
def topic_list() -> QuerySet[Topic]:
    return (
        Topic.objects.select_related("cluster", "owner_team", "domain")
        .prefetch_related(_TAGS)
        .defer("configs")  # every fetched config, possibly large; the list shows the column copies
        .annotate(
            event_type_count=_count_of(EventType, "topic"),
            consumer_group_count=_count_of(_GroupTopics, "topic", consumergroup__deleted_at__isnull=True),
        )
        .order_by("name", "cluster__name", "pk")
    )


def consumer_group_list() -> QuerySet[ConsumerGroup]:
    return (
        ConsumerGroup.objects.select_related("cluster", "service", "service__owner_team")
        .defer("members")
        .annotate(topic_count=_count_of(_GroupTopics, "consumergroup"))
        .order_by("group_id", "cluster__name", "pk")
    )


def event_type_list() -> QuerySet[EventType]:
    return (
        EventType.objects.select_related("domain", "owner_team", "topic", "topic__cluster")
        .prefetch_related(_TAGS)
        .defer("example_payload", "topic__configs")
        .annotate(
            producer_count=_count_of(DeclaredRelation, "event_type", direction=DeclaredRelation.Direction.PRODUCES),
            consumer_count=_count_of(DeclaredRelation, "event_type", direction=DeclaredRelation.Direction.CONSUMES),
        )
        .order_by("name", "version", "pk")
    )


def service_list() -> QuerySet[Service]:
    return (
        Service.objects.select_related("owner_team", "domain")
        .prefetch_related(_TAGS)
        .annotate(
            produces_count=_count_of(DeclaredRelation, "service", direction=DeclaredRelation.Direction.PRODUCES),
            consumes_count=_count_of(DeclaredRelation, "service", direction=DeclaredRelation.Direction.CONSUMES),
            group_count=_count_of(ConsumerGroup, "service", deleted_at__isnull=True),
        )
        .order_by("name", "pk")
    )


def team_list() -> QuerySet[Team]:
    return (
        Team.objects.select_related("domain")
        .annotate(
            member_count=_count_of(TeamMembership, "team"),
            service_count=_count_of(Service, "owner_team"),
            event_type_count=_count_of(EventType, "owner_team"),
            topic_count=_count_of(Topic, "owner_team", deleted_at__isnull=True),
        )
        .order_by("name", "pk")
    )


def domain_list() -> QuerySet[Domain]:
    return Domain.objects.annotate(
        team_count=_count_of(Team, "domain"),
        service_count=_count_of(Service, "domain"),
        event_type_count=_count_of(EventType, "domain"),
        topic_count=_count_of(Topic, "domain", deleted_at__isnull=True),
    ).order_by("name", "pk")


def cluster_list() -> QuerySet[Cluster]:
    runs = DiscoveryRun.objects.filter(cluster=OuterRef("pk"))
    return Cluster.objects.annotate(
        topic_count=_count_of(Topic, "cluster", deleted_at__isnull=True),
        group_count=_count_of(ConsumerGroup, "cluster", deleted_at__isnull=True),
        last_run_status=Subquery(runs.order_by("-started_at", "-id").values("status")[:1]),
        last_run_started_at=Subquery(runs.order_by("-started_at", "-id").values("started_at")[:1]),
        last_run_error=Subquery(runs.order_by("-started_at", "-id").values("error")[:1]),
    ).order_by("name", "pk")


# ---------------------------------------------------------------------------------------------
# Cluster staleness (catalog.cluster_status owns the rule; this pairs it with the cluster for pages)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClusterHealth:
    cluster: Cluster
    last_success_at: datetime | None
    age_s: float | None
    is_stale: bool
    last_run_failed: bool = False

    @property
    def never_synced(self) -> bool:
        return self.last_success_at is None


def cluster_health(cluster: Cluster) -> ClusterHealth:
    return clusters_health([cluster])[0]


def clusters_health(clusters: Iterable[Cluster]) -> list[ClusterHealth]:
    """Staleness of each cluster, in one query for all of them (a list page must not pay one per row)."""
    clusters = list(clusters)
    by_pk = clusters_staleness(clusters)
    return [ClusterHealth(cluster, *by_pk[cluster.pk]) for cluster in clusters]


# ---------------------------------------------------------------------------------------------
# Catalog home
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KindCount:
    label: str
    count: int
    url_name: str


@dataclass(frozen=True)
class LinkedItem:
    title: str
    url: str
    subtitle: str = ""
    mono: bool = False  # a Kafka name (topic, group id), shown in the monospace font like everywhere else


@dataclass(frozen=True)
class UndocumentedKind:
    label: str
    count: int
    list_query: str  # appended to the list page URL: the same filter that counted them
    url_name: str
    items: list[LinkedItem]


@dataclass(frozen=True)
class RecentChange:
    kind: str
    title: str
    url: str
    what: str  # "created", "edited", "discovered", "deleted"
    at: datetime


@dataclass(frozen=True)
class CatalogHome:
    counts: list[KindCount]
    undocumented: list[UndocumentedKind]
    recently_changed: list[RecentChange]
    clusters: list[ClusterHealth]

    @property
    def stale_clusters(self) -> list[ClusterHealth]:
        return [health for health in self.clusters if health.is_stale]

    @property
    def is_empty(self) -> bool:
        return not any(kind.count for kind in self.counts)


def _undocumented_topics() -> QuerySet[Topic]:
    # Internal topics (__consumer_offsets, ...) belong to Kafka, not to a team: nobody should document them.
    return Topic.objects.present().filter(internal=False, description="", owner_team__isnull=True)


def _undocumented_groups() -> QuerySet[ConsumerGroup]:
    return ConsumerGroup.objects.present().filter(service__isnull=True)


def _undocumented_event_types() -> QuerySet[EventType]:
    return EventType.objects.filter(Q(business_meaning="") | Q(owner_team__isnull=True))


def _recent_changes() -> list[RecentChange]:
    """Edits of the documented catalog, and topics and groups that discovery found or lost, newest first.

    Discovered rows use first_seen/deleted_at rather than updated_at: every discovery run touches
    them, which would bury the human edits under "changed a minute ago" noise.
    """
    changes: list[RecentChange] = []
    documented: tuple[tuple[str, QuerySet], ...] = (
        ("event type", EventType.objects.only("name", "version", "slug", "created_at", "updated_at")),
        ("service", Service.objects.only("name", "slug", "created_at", "updated_at")),
        ("team", Team.objects.only("name", "slug", "created_at", "updated_at")),
        ("domain", Domain.objects.only("name", "slug", "created_at", "updated_at")),
    )
    for kind, queryset in documented:
        for obj in queryset.order_by("-updated_at", "-pk")[:RECENT_LENGTH]:
            # auto_now and auto_now_add differ by microseconds on the creating save.
            created = abs((obj.updated_at - obj.created_at).total_seconds()) < 1
            changes.append(
                RecentChange(kind, str(obj), catalog_url(obj), "created" if created else "edited", obj.updated_at)
            )
    topics = Topic.objects.select_related("cluster").only("name", "cluster__name", "first_seen", "deleted_at")
    groups = ConsumerGroup.objects.select_related("cluster").only(
        "group_id", "cluster__name", "first_seen", "deleted_at"
    )
    for kind, queryset in (("topic", topics), ("consumer group", groups)):
        for obj in queryset.order_by("-first_seen", "-pk")[:RECENT_LENGTH]:
            changes.append(RecentChange(kind, str(obj), catalog_url(obj), "discovered", obj.first_seen))
        for obj in queryset.filter(deleted_at__isnull=False).order_by("-deleted_at", "-pk")[:RECENT_LENGTH]:
            changes.append(RecentChange(kind, str(obj), catalog_url(obj), "deleted", obj.deleted_at))
    changes.sort(key=lambda change: change.at, reverse=True)
    return changes[:RECENT_LENGTH]


def catalog_home() -> CatalogHome:
    counts = [
        KindCount("Topics", Topic.objects.present().count(), "catalog:topic-list"),
        KindCount("Event types", EventType.objects.count(), "catalog:event-type-list"),
        KindCount("Services", Service.objects.count(), "catalog:service-list"),
        KindCount("Consumer groups", ConsumerGroup.objects.present().count(), "catalog:consumer-group-list"),
        KindCount("Teams", Team.objects.count(), "catalog:team-list"),
        KindCount("Domains", Domain.objects.count(), "catalog:domain-list"),
    ]
    topics = _undocumented_topics()
    groups = _undocumented_groups()
    event_types = _undocumented_event_types()
    undocumented = [
        UndocumentedKind(
            "Topics",
            topics.count(),
            "documented=no&internal=no",
            "catalog:topic-list",
            [
                LinkedItem(t.name, catalog_url(t), t.cluster.name, mono=True)
                for t in topics.select_related("cluster").order_by("-first_seen", "pk")[:HOME_LIST_LENGTH]
            ],
        ),
        UndocumentedKind(
            "Consumer groups",
            groups.count(),
            "documented=no",
            "catalog:consumer-group-list",
            [
                LinkedItem(g.group_id, catalog_url(g), g.cluster.name, mono=True)
                for g in groups.select_related("cluster").order_by("-first_seen", "pk")[:HOME_LIST_LENGTH]
            ],
        ),
        UndocumentedKind(
            "Event types",
            event_types.count(),
            "documented=no",
            "catalog:event-type-list",
            [
                LinkedItem(str(e), catalog_url(e), "no owner" if not e.owner_team_id else "no business meaning")
                for e in event_types.order_by("-updated_at", "pk")[:HOME_LIST_LENGTH]
            ],
        ),
    ]
    return CatalogHome(
        counts=counts,
        undocumented=undocumented,
        recently_changed=_recent_changes(),
        clusters=clusters_health(Cluster.objects.order_by("name")),
    )


# ---------------------------------------------------------------------------------------------
# Detail pages
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Evidence:
    """How we know a service produces or consumes: a declaration, or a consumer group's committed offsets."""

    label: str
    url: str = ""
    source: str = ""


@dataclass
class Party:
    """A producer or consumer of a topic or event type: a service (or an unowned consumer group)."""

    title: str
    url: str
    team: Team | None = None
    evidence: list[Evidence] = field(default_factory=list)
    undocumented: bool = False


@dataclass(frozen=True)
class SubjectLink:
    subject: str
    url: str
    origin: str


@dataclass(frozen=True)
class ConfigRow:
    name: str
    value: Any
    source: str = ""
    key: bool = False


@dataclass(frozen=True)
class TopicDetail:
    topic: Topic
    partitions: list[Partition]
    configs: list[ConfigRow]
    event_types: list[EventType]
    producers: list[Party]
    consumers: list[Party]
    consumer_groups: list[ConsumerGroup]
    schema_subjects: list[SubjectLink]


def _config_rows(topic: Topic) -> list[ConfigRow]:
    """Key configs first (from the fetched map, else the column copies), then every other fetched config."""
    fetched: dict[str, Any] = topic.configs if isinstance(topic.configs, dict) else {}
    columns = {
        "retention.ms": topic.retention_ms,
        "retention.bytes": topic.retention_bytes,
        "cleanup.policy": topic.cleanup_policy,
        "message.timestamp.type": topic.message_timestamp_type,
        "min.insync.replicas": topic.min_insync_replicas,
    }

    def row(name: str, raw: Any, key: bool) -> ConfigRow:
        # Discovery may store {"value": ..., "source": ...} per config or the bare value; read both.
        if isinstance(raw, dict):
            return ConfigRow(name, raw.get("value"), str(raw.get("source") or ""), key)
        return ConfigRow(name, raw, "", key)

    rows = [row(name, fetched.get(name, columns[name]), True) for name in KEY_TOPIC_CONFIGS]
    rows += [row(name, fetched[name], False) for name in sorted(fetched) if name not in KEY_TOPIC_CONFIGS]
    return rows


def _party_for_service(parties: dict[Any, Party], service: Service) -> Party:
    if service.pk not in parties:
        parties[service.pk] = Party(title=service.name, url=catalog_url(service), team=service.owner_team)
    return parties[service.pk]


def _relation_evidence(relation: DeclaredRelation) -> Evidence:
    if relation.event_type_id:
        return Evidence(f"declared for {relation.event_type}", catalog_url(relation.event_type), relation.source)
    return Evidence("declared on the topic", "", relation.source)


def topic_detail(topic: Topic) -> TopicDetail:
    relations = (
        DeclaredRelation.objects.filter(Q(topic=topic) | Q(event_type__topic=topic))
        .select_related("service", "service__owner_team", "event_type")
        .order_by("service__name", "pk")
    )
    producers: dict[Any, Party] = {}
    consumers: dict[Any, Party] = {}
    for relation in relations:
        parties = producers if relation.direction == DeclaredRelation.Direction.PRODUCES else consumers
        _party_for_service(parties, relation.service).evidence.append(_relation_evidence(relation))
    groups = list(
        topic.consumer_groups.select_related("cluster", "service", "service__owner_team")
        .defer("members")
        .order_by("group_id")
    )
    for group in groups:
        evidence = Evidence(f"consumer group {group.group_id}", catalog_url(group), "committed offsets")
        if group.service is not None:
            _party_for_service(consumers, group.service).evidence.append(evidence)
        else:
            consumers[("group", group.pk)] = Party(
                title=group.group_id, url=catalog_url(group), evidence=[evidence], undocumented=True
            )

    event_types = list(topic.event_types.select_related("owner_team", "domain").order_by("name", "version"))
    subjects = [
        SubjectLink(f"{topic.name}-value", schema_subject_url(f"{topic.name}-value"), "value (topic name strategy)"),
        SubjectLink(f"{topic.name}-key", schema_subject_url(f"{topic.name}-key"), "key (topic name strategy)"),
    ]
    known = {link.subject for link in subjects}
    for event_type in event_types:
        if event_type.schema_subject and event_type.schema_subject not in known:
            known.add(event_type.schema_subject)
            subjects.append(
                SubjectLink(event_type.schema_subject, schema_subject_url(event_type.schema_subject), str(event_type))
            )
    return TopicDetail(
        topic=topic,
        partitions=list(topic.partitions.order_by("number")),
        configs=_config_rows(topic),
        event_types=event_types,
        producers=list(producers.values()),
        consumers=list(consumers.values()),
        consumer_groups=groups,
        schema_subjects=subjects,
    )


@dataclass(frozen=True)
class EventTypeDetail:
    event_type: EventType
    producers: list[Party]
    consumers: list[Party]
    other_versions: list[EventType]
    example_payload: str
    schema_subject: SubjectLink | None


def _pretty_json(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def event_type_detail(event_type: EventType) -> EventTypeDetail:
    producers: dict[Any, Party] = {}
    consumers: dict[Any, Party] = {}
    relations = event_type.relations.select_related("service", "service__owner_team").order_by("service__name", "pk")
    for relation in relations:
        parties = producers if relation.direction == DeclaredRelation.Direction.PRODUCES else consumers
        _party_for_service(parties, relation.service).evidence.append(Evidence("declared", "", relation.source))
    subject = event_type.schema_subject
    return EventTypeDetail(
        event_type=event_type,
        producers=list(producers.values()),
        consumers=list(consumers.values()),
        other_versions=list(
            EventType.objects.filter(name=event_type.name).exclude(pk=event_type.pk).order_by("version")
        ),
        example_payload=_pretty_json(event_type.example_payload) if event_type.example_payload else "",
        schema_subject=SubjectLink(subject, schema_subject_url(subject), "declared") if subject else None,
    )


def event_type_queryset() -> QuerySet[EventType]:
    return EventType.objects.select_related("domain", "owner_team", "topic", "topic__cluster").prefetch_related(_TAGS)


def topic_queryset() -> QuerySet[Topic]:
    return Topic.objects.select_related("cluster", "owner_team", "domain").prefetch_related(_TAGS)


def consumer_group_queryset() -> QuerySet[ConsumerGroup]:
    return ConsumerGroup.objects.select_related("cluster", "service", "service__owner_team")


def service_queryset() -> QuerySet[Service]:
    return Service.objects.select_related("owner_team", "domain").prefetch_related(_TAGS)


def team_queryset() -> QuerySet[Team]:
    return Team.objects.select_related("domain")


@dataclass(frozen=True)
class ServiceDetail:
    service: Service
    produces: list[DeclaredRelation]
    consumes: list[DeclaredRelation]
    consumer_groups: list[ConsumerGroup]


def service_detail(service: Service) -> ServiceDetail:
    relations = list(
        service.relations.select_related("event_type", "event_type__topic", "topic", "topic__cluster")
        .defer("topic__configs", "event_type__topic__configs")
        .order_by("direction", "event_type__name", "topic__name", "pk")
    )
    return ServiceDetail(
        service=service,
        produces=[r for r in relations if r.direction == DeclaredRelation.Direction.PRODUCES],
        consumes=[r for r in relations if r.direction == DeclaredRelation.Direction.CONSUMES],
        consumer_groups=list(
            service.consumer_groups.select_related("cluster").defer("members").order_by("deleted_at", "group_id")
        ),
    )


@dataclass(frozen=True)
class OwnedTopics:
    topics: list[Topic]
    total: int

    @property
    def truncated(self) -> bool:
        return self.total > len(self.topics)


def _owned_topics(queryset: QuerySet[Topic]) -> OwnedTopics:
    queryset = queryset.present().select_related("cluster").defer("configs").order_by("name", "pk")
    return OwnedTopics(topics=list(queryset[:DETAIL_TOPICS_LIMIT]), total=queryset.count())


@dataclass(frozen=True)
class TeamDetail:
    team: Team
    memberships: list[TeamMembership]
    services: list[Service]
    event_types: list[EventType]
    topics: OwnedTopics


def team_detail(team: Team) -> TeamDetail:
    return TeamDetail(
        team=team,
        memberships=list(team.memberships.select_related("user").order_by("user__username")),
        services=list(team.services.select_related("domain").order_by("name")),
        event_types=list(
            team.event_types.select_related("topic", "topic__cluster")
            .defer("topic__configs")
            .order_by("name", "version")
        ),
        topics=_owned_topics(Topic.objects.filter(owner_team=team)),
    )


@dataclass(frozen=True)
class DomainDetail:
    domain: Domain
    teams: list[Team]
    services: list[Service]
    event_types: list[EventType]
    topics: OwnedTopics


def domain_detail(domain: Domain) -> DomainDetail:
    return DomainDetail(
        domain=domain,
        teams=list(domain.teams.order_by("name")),
        services=list(domain.services.select_related("owner_team").order_by("name")),
        event_types=list(domain.event_types.select_related("owner_team").order_by("name", "version")),
        topics=_owned_topics(Topic.objects.filter(domain=domain)),
    )


@dataclass(frozen=True)
class GroupMember:
    member_id: str
    client_id: str
    host: str
    assignment: list[tuple[str, int]]


@dataclass(frozen=True)
class ConsumerGroupDetail:
    group: ConsumerGroup
    topics: list[Topic]
    members: list[GroupMember]


def consumer_group_detail(group: ConsumerGroup) -> ConsumerGroupDetail:
    members = []
    for raw in group.members if isinstance(group.members, list) else []:
        if not isinstance(raw, dict):
            continue
        assignment = [
            tuple(pair) for pair in raw.get("assignment") or [] if isinstance(pair, list | tuple) and len(pair) == 2
        ]
        members.append(
            GroupMember(
                member_id=str(raw.get("member_id", "")),
                client_id=str(raw.get("client_id", "")),
                host=str(raw.get("host", "")),
                assignment=sorted(assignment),
            )
        )
    return ConsumerGroupDetail(
        group=group,
        topics=list(group.committed_topics.select_related("cluster").defer("configs").order_by("name")),
        members=members,
    )


@dataclass(frozen=True)
class ClusterDetail:
    cluster: Cluster
    health: ClusterHealth
    runs: list[DiscoveryRun]
    topic_count: int
    group_count: int

    @property
    def last_failed_run(self) -> DiscoveryRun | None:
        """The latest finished run when it failed: the cluster page says why at the top."""
        finished = next((run for run in self.runs if run.status != DiscoveryRun.Status.RUNNING), None)
        return finished if finished is not None and finished.status == DiscoveryRun.Status.FAILED else None


def cluster_detail(cluster: Cluster) -> ClusterDetail:
    return ClusterDetail(
        cluster=cluster,
        health=cluster_health(cluster),
        runs=list(cluster.discovery_runs.order_by("-started_at", "-id")[:DISCOVERY_RUNS_SHOWN]),
        topic_count=cluster.topics.present().count(),
        group_count=cluster.consumer_groups.present().count(),
    )


def subject_catalog_value(subject: str, field: str):
    """What the catalog says of a registry subject, by its event type, else by its topic (Confluent's topic
    naming, `<topic>-key|value`): the id in `field` ("owner_team" or "domain"), or None."""
    found = (
        EventType.objects.filter(schema_subject=subject, **{f"{field}__isnull": False})
        .values_list(field, flat=True)
        .first()
    )
    if found is None:
        topic_name, sep, part = subject.rpartition("-")
        if sep and part in ("key", "value"):
            found = (
                Topic.objects.filter(name=topic_name, deleted_at__isnull=True, **{f"{field}__isnull": False})
                .values_list(field, flat=True)
                .first()
            )
    return found
