"""HTML views of the catalog: validate input, call one selector or service, render. No business logic here.

List pages share `CatalogListView`: a filterset (the API's too), a selector queryset, a paginator and a
table partial. When HTMX asks (filter, sort or page change), only the partial is rendered and swapped in.
Edit and create pages share `_form_page`: anyone logged in may look at a form; saving needs the editor
or admin role, checked before any input is read.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Page
from django.db.models import Model, QuerySet
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views import View
from django.views.decorators.http import require_http_methods, require_POST
from django_filters import FilterSet

from eventscope.listing import PAGE_SIZES, is_htmx_partial, paginate
from eventscope.roles import user_can_write
from governance import ownership

from . import filtersets, forms, selectors
from .links import catalog_url
from .models import Cluster, ConsumerGroup, DeclaredRelation, Domain, EventType, Service, Team, Topic
from .services import documentation
from .services.clusters import cluster_test_connection as test_connection
from .services.discovery import DiscoveryQueueUnavailableError, discovery_request

# Filterset parameters that the page's filter form does not show: the sort order travels in the table's
# headers, and `name` is q's name-only twin for API clients.
FORM_HIDDEN_FILTERS = frozenset({"ordering", "name"})


# ---------------------------------------------------------------------------------------------
# Shared plumbing
# ---------------------------------------------------------------------------------------------
def forbidden(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(request, "catalog/forbidden.html", {"reason": reason}, status=403)


def writes_need_role(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """GET for anyone logged in; POST only for editors and admins (403 page otherwise, nothing read or changed)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST" and not user_can_write(request.user):
            return forbidden(request)
        return view(request, *args, **kwargs)

    return require_http_methods(["GET", "POST"])(wrapper)


def writes_need_owner(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Like writes_need_role, for pages of owned things: the first gate lets team editors in (whatever their
    global role); the object itself is checked by _form_page (governance.ownership)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST" and not ownership.may_write_somewhere(request):
            return forbidden(request)
        return view(request, *args, **kwargs)

    return require_http_methods(["GET", "POST"])(wrapper)


def action_needs_role(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """POST-only actions (sync now, delete a relation): editors and admins."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not user_can_write(request.user):
            return forbidden(request)
        return view(request, *args, **kwargs)

    return require_POST(wrapper)


def _form_page(
    request: HttpRequest,
    *,
    form_class: type[Form],
    save: Callable[[Any], Model],
    title: str,
    cancel_url: str,
    initial: dict[str, Any] | None = None,
    subject: Model | None = None,
    submit_label: str = "Save",
    success_message: str = "Saved.",
    tab: str = "",
) -> HttpResponse:
    """Show a form; on a valid POST call `save(form)` (one service call) and go to the saved object's page.

    A ValidationError from the service lands on the form; the response is then a 400 with the form and
    its errors, and the service's transaction has rolled back, so nothing changed.
    """
    if request.method == "POST":
        try:  # who may change this at all, before reading any input (governance.ownership)
            if subject is not None:
                ownership.check_change(request, subject)
            elif "owner_team" not in form_class.base_fields:
                ownership.check_create(request, None)
        except ownership.OwnershipDenied as denied:
            return forbidden(request, str(denied))
        form = form_class(request.POST)
        if form.is_valid():
            # Ownership (governance.ownership): the edited object's team, and the team it would move to.
            new_owner = form.cleaned_data.get("owner_team")
            if isinstance(subject, ConsumerGroup) and form.cleaned_data.get("service") is not None:
                new_owner = form.cleaned_data["service"].owner_team  # a group belongs to its service's team
            try:
                if subject is None:
                    ownership.check_create(request, new_owner)
                else:
                    moving = new_owner is not None and new_owner != ownership.owner_team_of(subject)
                    ownership.check_change(request, subject, new_owner=new_owner if moving else None)
            except ownership.OwnershipDenied as denied:
                return forbidden(request, str(denied))
            try:
                saved = save(form)
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            else:
                messages.success(request, success_message)
                return redirect(catalog_url(saved))
    else:
        form = form_class(initial=initial or {})
    context = {
        "form": form,
        "title": title,
        "subject": subject,
        "cancel_url": cancel_url,
        "submit_label": submit_label,
        "catalog_tab": tab,
    }
    return render(request, "catalog/form.html", context, status=400 if form.errors else 200)


# ---------------------------------------------------------------------------------------------
# Catalog home
# ---------------------------------------------------------------------------------------------
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "catalog/index.html", {"home": selectors.catalog_home(), "catalog_tab": "overview"})


# ---------------------------------------------------------------------------------------------
# List pages
# ---------------------------------------------------------------------------------------------
def _shown_filter_fields(filterset: FilterSet) -> list[Any]:
    """The filter form's fields for the page; the cluster select only where there is more than one cluster
    (or one is chosen), its choices read once and reused for rendering (no extra query)."""
    fields = []
    for field in filterset.form:
        if field.name in FORM_HIDDEN_FILTERS:
            continue
        if field.name == "cluster" and hasattr(field.field, "queryset"):
            choices = list(iter(field.field.choices))  # iter(): list() of the iterator would COUNT first
            field.field.widget.choices = choices  # rendering reads the widget's; the queryset still validates
            if len(choices) <= 2 and not field.value():  # "Any cluster" and one cluster
                continue
        fields.append(field)
    return fields


class CatalogListView(View):
    """A list page: filter with the shared filterset, sort, paginate, render the page or just its table."""

    title: str = ""
    tab: str = ""
    filterset_class: type[FilterSet]
    queryset: Callable[[], QuerySet]
    table_template: str = ""
    create_url_name: str | None = None
    create_label: str = ""
    intro: str = ""

    def rows(self, page: Page) -> list[Any]:
        return list(page.object_list)

    def get(self, request: HttpRequest) -> HttpResponse:
        filterset = self.filterset_class(request.GET, queryset=self.queryset(), request=request)
        partial = is_htmx_partial(request)
        page = paginate(request, filterset.qs)
        context = {
            "title": self.title,
            "intro": self.intro,
            "catalog_tab": self.tab,
            "filterset": filterset,
            "filter_form": filterset.form,
            "filter_fields": [] if partial else _shown_filter_fields(filterset),  # a fragment has no form
            "page_obj": page,
            "rows": self.rows(page),
            "ordering": filtersets.ordering_params(filterset),
            "per_page": page.paginator.per_page,
            "page_sizes": PAGE_SIZES,
            "table_template": self.table_template,
            "create_url": reverse(self.create_url_name) if self.create_url_name else "",
            "create_label": self.create_label,
            "is_filtered": any(
                value for key, value in request.GET.items() if key not in ("page", "per_page", "ordering")
            ),
        }
        template = self.table_template if partial else "catalog/list.html"
        response = render(request, template, context)
        # The same URL answers a page or a fragment: caches must key on the header that decides.
        patch_vary_headers(response, ("HX-Request",))
        return response


class TopicListView(CatalogListView):
    title = "Topics"
    tab = "topics"
    filterset_class = filtersets.TopicFilterSet
    queryset = staticmethod(selectors.topic_list)
    table_template = "catalog/tables/topics.html"


class ConsumerGroupListView(CatalogListView):
    title = "Consumer groups"
    tab = "consumer-groups"
    filterset_class = filtersets.ConsumerGroupFilterSet
    queryset = staticmethod(selectors.consumer_group_list)
    table_template = "catalog/tables/consumer_groups.html"

    def rows(self, page: Page) -> list[Any]:
        # The lag poller's latest state per group (monitoring), in one query for the page: `group.lag`.
        from monitoring.lag_selectors import lag_states_for

        groups = list(page.object_list)
        states = lag_states_for(group.pk for group in groups)
        for group in groups:
            group.lag = states.get(group.pk)
        return groups


class EventTypeListView(CatalogListView):
    title = "Event types"
    tab = "event-types"
    filterset_class = filtersets.EventTypeFilterSet
    queryset = staticmethod(selectors.event_type_list)
    table_template = "catalog/tables/event_types.html"
    create_url_name = "catalog:event-type-create"
    create_label = "New event type"


class ServiceListView(CatalogListView):
    title = "Services"
    tab = "services"
    filterset_class = filtersets.ServiceFilterSet
    queryset = staticmethod(selectors.service_list)
    table_template = "catalog/tables/services.html"
    create_url_name = "catalog:service-create"
    create_label = "New service"


class TeamListView(CatalogListView):
    title = "Teams"
    tab = "teams"
    filterset_class = filtersets.TeamFilterSet
    queryset = staticmethod(selectors.team_list)
    table_template = "catalog/tables/teams.html"
    create_url_name = "catalog:team-create"
    create_label = "New team"


class DomainListView(CatalogListView):
    title = "Domains"
    tab = "domains"
    filterset_class = filtersets.DomainFilterSet
    queryset = staticmethod(selectors.domain_list)
    table_template = "catalog/tables/domains.html"
    create_url_name = "catalog:domain-create"
    create_label = "New domain"


class ClusterListView(CatalogListView):
    title = "Clusters"
    tab = "clusters"
    filterset_class = filtersets.ClusterFilterSet
    queryset = staticmethod(selectors.cluster_list)
    table_template = "catalog/tables/clusters.html"

    def rows(self, page: Page) -> list[Any]:
        return selectors.clusters_health(page.object_list)


# ---------------------------------------------------------------------------------------------
# Topics and consumer groups
# ---------------------------------------------------------------------------------------------
def _topic(cluster: str, name: str) -> Topic:
    return get_object_or_404(selectors.topic_queryset(), cluster__name=cluster, name=name)


def _group(cluster: str, group_id: str) -> ConsumerGroup:
    return get_object_or_404(selectors.consumer_group_queryset(), cluster__name=cluster, group_id=group_id)


def topic_detail(request: HttpRequest, cluster: str, name: str) -> HttpResponse:
    detail = selectors.topic_detail(_topic(cluster, name))
    return render(
        request, "catalog/topic_detail.html", {"detail": detail, "topic": detail.topic, "catalog_tab": "topics"}
    )


@writes_need_owner
def topic_edit(request: HttpRequest, cluster: str, name: str) -> HttpResponse:
    topic = _topic(cluster, name)
    return _form_page(
        request,
        form_class=forms.TopicDocumentationForm,
        initial=forms.initial_for(topic),
        save=lambda form: documentation.topic_update_documentation(topic=topic, **form.cleaned_data),
        title=f"Document topic {topic.name}",
        tab="topics",
        subject=topic,
        cancel_url=catalog_url(topic),
        success_message="Topic documentation saved.",
    )


def consumer_group_detail(request: HttpRequest, cluster: str, group_id: str) -> HttpResponse:
    detail = selectors.consumer_group_detail(_group(cluster, group_id))
    context = {"detail": detail, "group": detail.group, "catalog_tab": "consumer-groups"}
    return render(request, "catalog/consumer_group_detail.html", context)


@writes_need_owner
def consumer_group_edit(request: HttpRequest, cluster: str, group_id: str) -> HttpResponse:
    group = _group(cluster, group_id)
    return _form_page(
        request,
        form_class=forms.ConsumerGroupDocumentationForm,
        initial=forms.initial_for(group),
        save=lambda form: documentation.consumer_group_update_documentation(group=group, **form.cleaned_data),
        title=f"Document consumer group {group.group_id}",
        tab="consumer-groups",
        subject=group,
        cancel_url=catalog_url(group),
        success_message="Consumer group documentation saved.",
    )


# ---------------------------------------------------------------------------------------------
# Event types
# ---------------------------------------------------------------------------------------------
def _event_type(slug: str) -> EventType:
    return get_object_or_404(selectors.event_type_queryset(), slug=slug)


def event_type_detail(request: HttpRequest, slug: str) -> HttpResponse:
    detail = selectors.event_type_detail(_event_type(slug))
    context = {"detail": detail, "event_type": detail.event_type, "catalog_tab": "event-types"}
    return render(request, "catalog/event_type_detail.html", context)


@writes_need_owner
def event_type_create(request: HttpRequest) -> HttpResponse:
    return _form_page(
        request,
        form_class=forms.EventTypeForm,
        save=lambda form: documentation.event_type_create(**form.cleaned_data),
        title="New event type",
        tab="event-types",
        cancel_url=reverse("catalog:event-type-list"),
        submit_label="Create event type",
        success_message="Event type created.",
    )


@writes_need_owner
def event_type_edit(request: HttpRequest, slug: str) -> HttpResponse:
    event_type = _event_type(slug)
    return _form_page(
        request,
        form_class=forms.EventTypeForm,
        initial=forms.initial_for(event_type),
        save=lambda form: documentation.event_type_update(event_type=event_type, **form.cleaned_data),
        title=f"Edit event type {event_type}",
        tab="event-types",
        subject=event_type,
        cancel_url=catalog_url(event_type),
    )


# ---------------------------------------------------------------------------------------------
# Services and their declared relations
# ---------------------------------------------------------------------------------------------
def _service(slug: str) -> Service:
    return get_object_or_404(selectors.service_queryset(), slug=slug)


def service_detail(request: HttpRequest, slug: str) -> HttpResponse:
    detail = selectors.service_detail(_service(slug))
    context = {"detail": detail, "service": detail.service, "catalog_tab": "services"}
    return render(request, "catalog/service_detail.html", context)


@writes_need_owner
def service_create(request: HttpRequest) -> HttpResponse:
    return _form_page(
        request,
        form_class=forms.ServiceForm,
        save=lambda form: documentation.service_create(**form.cleaned_data),
        title="New service",
        tab="services",
        cancel_url=reverse("catalog:service-list"),
        submit_label="Create service",
        success_message="Service created.",
    )


@writes_need_owner
def service_edit(request: HttpRequest, slug: str) -> HttpResponse:
    service = _service(slug)
    return _form_page(
        request,
        form_class=forms.ServiceForm,
        initial=forms.initial_for(service),
        save=lambda form: documentation.service_update(service=service, **form.cleaned_data),
        title=f"Edit service {service.name}",
        tab="services",
        subject=service,
        cancel_url=catalog_url(service),
    )


@writes_need_owner
def relation_create(request: HttpRequest, slug: str) -> HttpResponse:
    service = _service(slug)

    def save(form: forms.RelationForm) -> Service:
        documentation.relation_create(service=service, source="manual", **form.cleaned_data)
        return service

    return _form_page(
        request,
        form_class=forms.RelationForm,
        initial={"direction": request.GET.get("direction", DeclaredRelation.Direction.PRODUCES)},
        save=save,
        title=f"Declare what {service.name} produces or consumes",
        tab="services",
        subject=service,
        cancel_url=catalog_url(service),
        submit_label="Declare",
        success_message="Relation declared.",
    )


@writes_need_owner
def relation_edit_reader(request: HttpRequest, pk: int) -> HttpResponse:
    """What a consumer declares it reads (reader schema version, read fields), for impact analysis."""
    relation = get_object_or_404(
        DeclaredRelation.objects.select_related("service", "event_type", "topic"),
        pk=pk,
        direction=DeclaredRelation.Direction.CONSUMES,
    )

    def save(form: forms.RelationReaderForm) -> Service:
        documentation.relation_update_reader(relation=relation, **form.cleaned_data)
        return relation.service

    return _form_page(
        request,
        form_class=forms.RelationReaderForm,
        initial=forms.initial_for(relation),
        save=save,
        title=f"What {relation.service.name} reads of {relation.event_type or relation.topic}",
        tab="services",
        subject=relation.service,
        cancel_url=catalog_url(relation.service),
        success_message="Reader declaration saved.",
    )


@require_POST
def relation_delete(request: HttpRequest, pk: int) -> HttpResponse:
    relation = get_object_or_404(DeclaredRelation.objects.select_related("service"), pk=pk)
    service = relation.service
    if not ownership.can_change(request, relation):
        return forbidden(request, f"{service.name}'s declarations belong to its team: only its editors (or an admin).")
    documentation.relation_delete(relation=relation)
    messages.success(request, "Relation removed.")
    return redirect(catalog_url(service))


# ---------------------------------------------------------------------------------------------
# Teams and domains
# ---------------------------------------------------------------------------------------------
def _team(slug: str) -> Team:
    return get_object_or_404(selectors.team_queryset(), slug=slug)


def team_detail(request: HttpRequest, slug: str) -> HttpResponse:
    detail = selectors.team_detail(_team(slug))
    return render(request, "catalog/team_detail.html", {"detail": detail, "team": detail.team, "catalog_tab": "teams"})


def _save_team(form: forms.TeamForm, team: Team | None) -> Team:
    values = {key: form.cleaned_data[key] for key in ("name", "description", "contact_channel", "domain")}
    if team is None:
        return documentation.team_create(**values, members=form.member_roles())
    return documentation.team_update(team=team, **values, members=form.member_roles())


@writes_need_role
def team_create(request: HttpRequest) -> HttpResponse:
    return _form_page(
        request,
        form_class=forms.TeamForm,
        save=lambda form: _save_team(form, None),
        title="New team",
        tab="teams",
        cancel_url=reverse("catalog:team-list"),
        submit_label="Create team",
        success_message="Team created.",
    )


@writes_need_owner
def team_edit(request: HttpRequest, slug: str) -> HttpResponse:
    team = _team(slug)
    return _form_page(
        request,
        form_class=forms.TeamForm,
        initial=forms.initial_for(team),
        save=lambda form: _save_team(form, team),
        title=f"Edit team {team.name}",
        tab="teams",
        subject=team,
        cancel_url=catalog_url(team),
    )


def _domain(slug: str) -> Domain:
    return get_object_or_404(Domain, slug=slug)


def domain_detail(request: HttpRequest, slug: str) -> HttpResponse:
    detail = selectors.domain_detail(_domain(slug))
    context = {"detail": detail, "domain": detail.domain, "catalog_tab": "domains"}
    return render(request, "catalog/domain_detail.html", context)


@writes_need_role
def domain_create(request: HttpRequest) -> HttpResponse:
    return _form_page(
        request,
        form_class=forms.DomainForm,
        save=lambda form: documentation.domain_create(**form.cleaned_data),
        title="New domain",
        tab="domains",
        cancel_url=reverse("catalog:domain-list"),
        submit_label="Create domain",
        success_message="Domain created.",
    )


@writes_need_role
def domain_edit(request: HttpRequest, slug: str) -> HttpResponse:
    domain = _domain(slug)
    return _form_page(
        request,
        form_class=forms.DomainForm,
        initial=forms.initial_for(domain),
        save=lambda form: documentation.domain_update(domain=domain, **form.cleaned_data),
        title=f"Edit domain {domain.name}",
        tab="domains",
        subject=domain,
        cancel_url=catalog_url(domain),
    )


# ---------------------------------------------------------------------------------------------
# Clusters
# ---------------------------------------------------------------------------------------------
def _cluster(name: str) -> Cluster:
    return get_object_or_404(Cluster, name=name)


def cluster_detail(request: HttpRequest, name: str) -> HttpResponse:
    detail = selectors.cluster_detail(_cluster(name))
    context = {"detail": detail, "cluster": detail.cluster, "catalog_tab": "clusters"}
    return render(request, "catalog/cluster_detail.html", context)


@action_needs_role
def cluster_sync(request: HttpRequest, name: str) -> HttpResponse:
    cluster = _cluster(name)
    try:
        discovery_request(cluster=cluster, trigger="manual")
    except DiscoveryQueueUnavailableError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, f"Discovery of {cluster.name} requested: the run appears below when a worker picks it up."
        )
    return redirect(catalog_url(cluster))


@action_needs_role
def cluster_test_connection(request: HttpRequest, name: str) -> HttpResponse:
    cluster = _cluster(name)
    result = test_connection(cluster=cluster)
    # The message is written for people and carries no secret (catalog.services.clusters redacts it).
    if result.ok:
        messages.success(request, f"Connected to {cluster.name} in {result.duration_ms} ms. {result.message}".strip())
    else:
        messages.error(request, f"Could not connect to {cluster.name}: {result.message}")
    return redirect(catalog_url(cluster))
