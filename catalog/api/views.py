"""Catalog REST API viewsets: thin. Read through the selectors and the pages' FilterSets, write through the services.

Every list takes the same query parameters as its page (catalog.filtersets: filters, `q`, `ordering`),
plus `search` (the API's name for `q`) and `limit`/`offset` pagination. A detail URL names one object
whatever the list filters say (a deleted topic keeps its id). Writes validate the request's shape with an
input serializer, call one service (which validates the rest and writes in one transaction), and answer
with the object as a read would show it. Any ValidationError becomes a 400 in the project's error
format (eventscope.api.errors), and the service's transaction has rolled back, so nothing changed.

Permissions: reading needs a login, writing the editor or admin role; creating, changing or deleting a
cluster needs the admin role (its test-connection and sync actions, like the pages' buttons, need an editor).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import Model, Prefetch, QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from eventscope.api.errors import error_response
from eventscope.api.permissions import OwnedObjectWrites, ReadAuthenticatedWriteEditor, require_change, require_create
from eventscope.roles import ADMIN, request_role
from monitoring.lag_selectors import group_lag

from .. import filtersets, selectors
from ..models import Cluster, ConsumerGroup, DeclaredRelation, Domain, EventType, Service, Team, TeamMembership, Topic
from ..services import clusters as cluster_services
from ..services import documentation
from . import serializers as s

__all__ = [
    "CatalogFilterBackend",
    "CatalogPagination",
    "ClusterViewSet",
    "ConsumerGroupViewSet",
    "DomainViewSet",
    "EventTypeViewSet",
    "RelationViewSet",
    "ServiceViewSet",
    "TeamViewSet",
    "TopicViewSet",
]


# ---------------------------------------------------------------------------------------------
# Plumbing shared by every catalog viewset
# ---------------------------------------------------------------------------------------------
class CatalogPagination(LimitOffsetPagination):
    # The default limit is REST_FRAMEWORK["PAGE_SIZE"]; a cap keeps ?limit=1000000 from loading a whole cluster.
    max_limit = 1000


class CatalogFilterBackend(DjangoFilterBackend):
    """The list page's FilterSet on the API. `search` is the API's name for the pages' `q` (same filter)."""

    def get_filterset_kwargs(self, request: Request, queryset: QuerySet, view: Any) -> dict[str, Any]:
        kwargs = super().get_filterset_kwargs(request, queryset, view)
        data = kwargs["data"]
        if "search" in data and "q" not in data:
            data = data.copy()
            data["q"] = data["search"]
            kwargs["data"] = data
        return kwargs


SEARCH_PARAMETER = OpenApiParameter(
    "search",
    OpenApiTypes.STR,
    description="Text to look for in names and descriptions (the same as `q`, the list pages' parameter).",
)
ERROR_RESPONSES = {
    400: s.ErrorSerializer,
    401: s.ErrorSerializer,
    403: s.ErrorSerializer,
    404: s.ErrorSerializer,
}


class CatalogAutoSchema(AutoSchema):
    """OpenAPI for the input/output split: a write takes the input serializer and answers with the output one."""

    def get_request_serializer(self) -> Any:
        view = self.view
        if getattr(view, "action", None) in ("create", "partial_update") and getattr(
            view, "input_serializer_class", None
        ):
            return view.input_serializer_class
        return super().get_request_serializer()

    def get_response_serializers(self) -> Any:
        view = self.view
        action_name = getattr(view, "action", None)
        output = getattr(view, "detail_serializer_class", None) or getattr(view, "serializer_class", None)
        if action_name == "create":
            return {201: output, **ERROR_RESPONSES}
        if action_name == "partial_update":
            return {200: output, **ERROR_RESPONSES}
        if action_name == "destroy":
            return {204: None, **ERROR_RESPONSES}
        if action_name == "retrieve":
            return {200: output, 401: s.ErrorSerializer, 404: s.ErrorSerializer}
        if action_name == "list":
            return {200: super().get_response_serializers(), 400: s.ErrorSerializer, 401: s.ErrorSerializer}
        return super().get_response_serializers()


class CatalogViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """List and retrieve through a selector and a FilterSet; subclasses add writes through services."""

    schema = CatalogAutoSchema()
    filter_backends = [CatalogFilterBackend]
    pagination_class = CatalogPagination
    permission_classes = [OwnedObjectWrites]
    # PATCH changes the fields it names; there is no PUT (a full replace would reset what it leaves out).
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    selector: Callable[[], QuerySet]  # the list page's queryset
    detail_selector: Callable[[], QuerySet] | None = None  # one object, with what the detail shows
    detail_serializer_class: type[s.serializers.Serializer] | None = None
    input_serializer_class: type[s.serializers.Serializer] | None = None

    def get_queryset(self) -> QuerySet:
        if self.action != "list" and self.detail_selector is not None:
            return self.detail_selector()
        return self.selector()

    def get_serializer_class(self) -> type[s.serializers.Serializer]:
        if self.action != "list" and self.detail_serializer_class is not None:
            return self.detail_serializer_class
        return self.serializer_class

    def get_object(self) -> Model:
        # Not filter_queryset(): list filters (say, "present topics only") do not hide an object from its URL.
        lookup = self.lookup_url_kwarg or self.lookup_field
        queryset = self.get_queryset()
        try:  # "/topics/abc/" is an unknown topic, not a server error
            meta = queryset.model._meta
            field = meta.pk if self.lookup_field == "pk" else meta.get_field(self.lookup_field)
            value = field.to_python(self.kwargs[lookup])
        except ValidationError:
            value = None
        if isinstance(value, str) and "\x00" in value:
            value = None  # no name holds NUL (PostgreSQL text cannot): unknown, not a database error
        obj = queryset.filter(**{self.lookup_field: value}).first() if value is not None else None
        if obj is None:
            # DRF's NotFound, not Django's Http404: the error handler formats APIExceptions.
            raise exceptions.NotFound(
                f"No {self.get_queryset().model._meta.verbose_name} with this {self.lookup_field}."
            )
        self.check_object_permissions(self.request, obj)
        return obj

    def validated_input(self, *, partial: bool = False) -> dict[str, Any]:
        assert self.input_serializer_class is not None
        serializer = self.input_serializer_class(
            data=self.request.data, partial=partial, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def written(self, obj: Model, status_code: int = status.HTTP_200_OK) -> Response:
        """Answer a write with the object as GET shows it (re-read: counts and joins come from the selector)."""
        fresh = self.get_queryset().get(pk=obj.pk)
        serializer_class = self.detail_serializer_class or self.serializer_class
        return Response(serializer_class(fresh, context=self.get_serializer_context()).data, status=status_code)


class DocumentedViewSet(CatalogViewSet):
    """Create, change (PATCH) and delete through `<entity>_create` / `<entity>_update` services."""

    def create_object(self, values: dict[str, Any]) -> Model:
        raise NotImplementedError

    def update_object(self, obj: Model, values: dict[str, Any]) -> Model:
        raise NotImplementedError

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        owned = "owner_team" in self.input_serializer_class().fields
        if not owned:  # nothing in the body can change who may create it: refuse before reading it
            require_create(request, None)
        values = self.validated_input()
        if owned:
            require_create(request, values.get("owner_team"))
        return self.written(self.create_object(values), status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        obj = self.get_object()  # checks the object's own owner
        values = self.validated_input(partial=True)
        if "owner_team" in values:
            require_change(request, obj, new_owner=values["owner_team"])
        return self.written(self.update_object(obj, values))


def _list_schema(**kwargs: Any) -> Callable:
    return extend_schema_view(list=extend_schema(parameters=[SEARCH_PARAMETER]), **kwargs)


# ---------------------------------------------------------------------------------------------
# Clusters
# ---------------------------------------------------------------------------------------------
class ClusterChangesNeedAdmin(BasePermission):
    message = "Creating, changing or deleting a cluster needs the admin role."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS or getattr(view, "action", None) in ClusterViewSet.EDITOR_ACTIONS:
            return True
        return request_role(request) == ADMIN


@_list_schema()
class ClusterViewSet(DocumentedViewSet):
    """Kafka clusters. The SASL password and TLS client key are write-only: stored encrypted, in no response."""

    EDITOR_ACTIONS = frozenset({"test_connection", "sync"})

    queryset = Cluster.objects.none()  # for the schema generator; requests use the selector
    selector = staticmethod(selectors.cluster_list)
    serializer_class = s.ClusterSerializer
    input_serializer_class = s.ClusterInputSerializer
    filterset_class = filtersets.ClusterFilterSet
    permission_classes = [ReadAuthenticatedWriteEditor, ClusterChangesNeedAdmin]
    lookup_field = "name"
    lookup_value_regex = "[-a-zA-Z0-9_]+"

    def create_object(self, values: dict[str, Any]) -> Model:
        return cluster_services.cluster_create(**values)

    def update_object(self, obj: Model, values: dict[str, Any]) -> Model:
        return cluster_services.cluster_update(cluster=obj, **values)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        cluster_services.cluster_delete(cluster=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: s.ConnectionTestSerializer, **ERROR_RESPONSES})
    @action(detail=True, methods=["post"], url_path="test-connection")
    def test_connection(self, request: Request, name: str) -> Response:
        """Try the cluster's connection now. 200 with ok=false and a message when it does not work."""
        result = cluster_services.cluster_test_connection(cluster=self.get_object())
        return Response(
            {
                "ok": result.ok,
                "message": result.message,
                "broker_count": result.broker_count,
                "duration_ms": result.duration_ms,
                "error_kind": str(result.error_kind) if result.error_kind else None,
            }
        )

    @extend_schema(request=None, responses={202: s.SyncRequestedSerializer, 503: s.ErrorSerializer, **ERROR_RESPONSES})
    @action(detail=True, methods=["post"])
    def sync(self, request: Request, name: str) -> Response:
        """Queue a discovery run of the cluster ("sync now"); 503 when the task queue is down."""
        from ..services.discovery import DiscoveryQueueUnavailableError, discovery_request

        cluster = self.get_object()
        try:
            discovery_request(cluster=cluster, trigger="api")
        except DiscoveryQueueUnavailableError as exc:
            return error_response(status.HTTP_503_SERVICE_UNAVAILABLE, "queue_unavailable", str(exc))
        return Response({"cluster": cluster.name, "status": "queued"}, status=status.HTTP_202_ACCEPTED)


# ---------------------------------------------------------------------------------------------
# Topics and consumer groups: discovered, so read-only but for their documentation (PATCH)
# ---------------------------------------------------------------------------------------------
def _topic_detail() -> QuerySet[Topic]:
    return selectors.topic_list().defer(None).prefetch_related("partitions")


@_list_schema()
class TopicViewSet(CatalogViewSet):
    """Topics as discovered, with their documentation and ownership (changed with PATCH)."""

    queryset = Topic.objects.none()
    selector = staticmethod(selectors.topic_list)
    detail_selector = staticmethod(_topic_detail)
    serializer_class = s.TopicSerializer
    detail_serializer_class = s.TopicDetailSerializer
    input_serializer_class = s.TopicInputSerializer
    filterset_class = filtersets.TopicFilterSet
    http_method_names = ["get", "patch", "head", "options"]

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        topic = self.get_object()
        values = self.validated_input(partial=True)
        if "owner_team" in values:
            require_change(request, topic, new_owner=values["owner_team"])
        return self.written(documentation.topic_update_documentation(topic=topic, **values))


def _group_detail() -> QuerySet:
    return selectors.consumer_group_list().defer(None).prefetch_related("committed_topics")


CLUSTER_PARAMETER = OpenApiParameter(
    "cluster", OpenApiTypes.STR, description="Cluster name; needed when the group id exists on several clusters."
)


@_list_schema(
    retrieve=extend_schema(parameters=[CLUSTER_PARAMETER]),
    partial_update=extend_schema(parameters=[CLUSTER_PARAMETER]),
)
class ConsumerGroupViewSet(CatalogViewSet):
    """Consumer groups as discovered; PATCH sets the service they belong to and their description.

    A group is addressed by its group id, as Kafka's tools do; a group id found on more than one cluster
    needs `?cluster=NAME`.
    """

    queryset = ConsumerGroup.objects.none()
    selector = staticmethod(selectors.consumer_group_list)
    detail_selector = staticmethod(_group_detail)
    serializer_class = s.ConsumerGroupSerializer
    detail_serializer_class = s.ConsumerGroupDetailSerializer
    input_serializer_class = s.ConsumerGroupInputSerializer
    filterset_class = filtersets.ConsumerGroupFilterSet
    http_method_names = ["get", "patch", "head", "options"]
    lookup_field = "group_id"
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> QuerySet:
        # The poller's latest verdict rides along in the same query (its per-partition data stays behind).
        return super().get_queryset().select_related("lag_state").defer("lag_state__partitions", "lag_state__window")

    @extend_schema(parameters=[CLUSTER_PARAMETER], responses={200: s.GroupLagSerializer, 404: s.ErrorSerializer})
    @action(detail=True, methods=["get"], url_path="lag")
    def lag(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Per partition committed offset, log-end offset, lag, time lag (s) and status; per group totals, status
        and time-to-clear estimate, as of the last lag poll."""
        return Response(group_lag(self.get_object()))

    def get_object(self) -> Model:
        group_id = self.kwargs["group_id"]
        cluster = self.request.query_params.get("cluster")
        groups = self.get_queryset().filter(group_id=group_id)
        if cluster:
            groups = groups.filter(cluster__name=cluster)
        # No group id or cluster name holds NUL (PostgreSQL text cannot): unknown, not a database error.
        found = [] if "\x00" in group_id or "\x00" in (cluster or "") else list(groups[:10])
        if not found:
            raise exceptions.NotFound(
                "No consumer group with this id" + (f" on cluster {cluster}." if cluster else ".")
            )
        if len(found) > 1:
            names = ", ".join(sorted(group.cluster.name for group in found))
            raise exceptions.ValidationError(
                {"cluster": [f"This group id exists on several clusters ({names}): add ?cluster=NAME."]}
            )
        self.check_object_permissions(self.request, found[0])
        return found[0]

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        group = self.get_object()
        values = self.validated_input(partial=True)
        if values.get("service") is not None:
            require_change(request, group, new_owner=values["service"].owner_team)
        return self.written(documentation.consumer_group_update_documentation(group=group, **values))


@extend_schema(exclude=True)
class ConsumerGroupLagWithoutSlash(ConsumerGroupViewSet):
    """DESIGN.md's `/consumer-groups/{group}/lag` (no trailing slash): the router's `lag/` answer, listed once in
    the OpenAPI document."""


# ---------------------------------------------------------------------------------------------
# The documented catalog
# ---------------------------------------------------------------------------------------------
@_list_schema()
class DomainViewSet(DocumentedViewSet):
    queryset = Domain.objects.none()
    selector = staticmethod(selectors.domain_list)
    serializer_class = s.DomainSerializer
    input_serializer_class = s.DomainInputSerializer
    filterset_class = filtersets.DomainFilterSet
    lookup_field = "slug"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def create_object(self, values: dict[str, Any]) -> Model:
        return documentation.domain_create(**values)

    def update_object(self, obj: Model, values: dict[str, Any]) -> Model:
        return documentation.domain_update(domain=obj, **values)


def _teams() -> QuerySet:
    members = TeamMembership.objects.select_related("user").order_by("user__username")
    return selectors.team_list().prefetch_related(Prefetch("memberships", queryset=members))


@_list_schema()
class TeamViewSet(DocumentedViewSet):
    queryset = Team.objects.none()
    selector = staticmethod(_teams)
    serializer_class = s.TeamSerializer
    input_serializer_class = s.TeamInputSerializer
    filterset_class = filtersets.TeamFilterSet
    lookup_field = "slug"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def create_object(self, values: dict[str, Any]) -> Model:
        return documentation.team_create(**values)

    def update_object(self, obj: Model, values: dict[str, Any]) -> Model:
        return documentation.team_update(team=obj, **values)


@_list_schema()
class ServiceViewSet(DocumentedViewSet):
    queryset = Service.objects.none()
    selector = staticmethod(selectors.service_list)
    serializer_class = s.ServiceSerializer
    input_serializer_class = s.ServiceInputSerializer
    filterset_class = filtersets.ServiceFilterSet
    lookup_field = "slug"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def create_object(self, values: dict[str, Any]) -> Model:
        return documentation.service_create(**values)

    def update_object(self, obj: Model, values: dict[str, Any]) -> Model:
        return documentation.service_update(service=obj, **values)


def _event_type_detail() -> QuerySet[EventType]:
    # The list defers the example payload (and the topic's configs); one event type shows the payload.
    return selectors.event_type_list().defer(None).defer("topic__configs")


@_list_schema()
class EventTypeViewSet(DocumentedViewSet):
    queryset = EventType.objects.none()
    selector = staticmethod(selectors.event_type_list)
    detail_selector = staticmethod(_event_type_detail)
    serializer_class = s.EventTypeSerializer
    detail_serializer_class = s.EventTypeDetailSerializer
    input_serializer_class = s.EventTypeInputSerializer
    filterset_class = filtersets.EventTypeFilterSet
    lookup_field = "slug"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def create_object(self, values: dict[str, Any]) -> Model:
        return documentation.event_type_create(**values)

    def update_object(self, obj: Model, values: dict[str, Any]) -> Model:
        return documentation.event_type_update(event_type=obj, **values)


class RelationFilterSet(django_filters.FilterSet):
    """No page lists relations on their own (they show on service, topic and event type pages), so this
    filterset lives with the API; it moves to catalog.filtersets when a page needs it."""

    service = django_filters.ModelChoiceFilter(
        field_name="service", to_field_name="slug", queryset=Service.objects.all()
    )
    direction = django_filters.ChoiceFilter(choices=DeclaredRelation.Direction.choices)
    event_type = django_filters.ModelChoiceFilter(
        field_name="event_type", to_field_name="slug", queryset=EventType.objects.all()
    )
    topic = django_filters.NumberFilter(field_name="topic_id", label="Topic id")
    source = django_filters.CharFilter(max_length=20)
    ordering = filtersets.StableOrderingFilter(
        fields=(("service__name", "service"), ("direction", "direction"), ("created_at", "created"))
    )

    class Meta:
        model = DeclaredRelation
        fields: list[str] = []


def _relations() -> QuerySet[DeclaredRelation]:
    return DeclaredRelation.objects.select_related("service", "event_type", "topic", "topic__cluster").order_by(
        "service__name", "direction", "pk"
    )


class RelationViewSet(mixins.DestroyModelMixin, CatalogViewSet):
    """Declared relations: a service produces or consumes an event type or a topic. Create and delete; PATCH
    changes only what a consumer declares it reads (reader schema version, read fields)."""

    queryset = DeclaredRelation.objects.none()
    selector = staticmethod(_relations)
    serializer_class = s.RelationSerializer
    input_serializer_class = s.RelationInputSerializer
    filterset_class = RelationFilterSet
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    delete_is_change = True  # removing a declaration changes the service's documentation; it deletes no data

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # The service named decides (its team's editors), before the rest of the body is looked at.
        named = request.data.get("service") if isinstance(request.data, dict) else None
        service = Service.objects.filter(slug=named).first() if isinstance(named, str) and named else None
        if service is not None:
            require_change(request, service)
        values = self.validated_input()
        require_change(request, values["service"])
        relation = documentation.relation_create(**values, source="api")
        return self.written(relation, status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        relation = self.get_object()
        return self.written(
            documentation.relation_update_reader(relation=relation, **self.validated_input(partial=True))
        )

    def perform_destroy(self, instance: DeclaredRelation) -> None:
        documentation.relation_delete(relation=instance)
