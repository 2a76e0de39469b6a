"""Trace and flow API views: thin, read-only. Reads through monitoring.selectors; errors in the project's format."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response

from catalog.cluster_choice import UnknownClusterError, cluster_choice

from .. import selectors
from .serializers import FlowSerializer, TraceMatchSerializer, TraceSerializer

__all__ = ["flow_list", "trace_detail", "trace_detail_with_slash", "trace_search"]

MAX_QUERY_LENGTH = 255  # the index's own column width
CLUSTER_PARAMETER = OpenApiParameter(
    "cluster", OpenApiTypes.STR, description="Only this cluster's events (a cluster name); default every cluster."
)


def _cluster(request) -> str | None:
    """The validated ?cluster= (None: every cluster); an unknown name is a 400 listing the clusters."""
    try:
        return cluster_choice(request.query_params, strict=True).selected
    except UnknownClusterError as exc:
        raise exceptions.ValidationError({"cluster": [exc.message]}) from None


def _trace_response(correlation_id: str) -> Response:
    trace = selectors.trace_for(correlation_id)
    if trace is None:
        raise exceptions.NotFound(f"No events are indexed for correlation ID {correlation_id!r}.")
    return Response(TraceSerializer(trace).data)


@extend_schema(operation_id="traces_detail", responses=TraceSerializer)
@api_view(["GET"])
def trace_detail(request, correlation_id: str):
    """The events of one correlation ID in time order, per-hop latency, end-to-end latency, where it ended."""
    return _trace_response(correlation_id)


@extend_schema(exclude=True)  # the same resource; DESIGN.md documents the URL without the slash
@api_view(["GET"])
def trace_detail_with_slash(request, correlation_id: str):
    return _trace_response(correlation_id)


@extend_schema(
    operation_id="traces_search",
    parameters=[
        OpenApiParameter("q", OpenApiTypes.STR, required=True, description="Correlation ID, key or event ID."),
        CLUSTER_PARAMETER,
    ],
    responses=inline_serializer("TraceSearch", {"results": TraceMatchSerializer(many=True)}),
)
@api_view(["GET"])
def trace_search(request):
    """Traces a correlation ID, record key or event ID names: the correlation ID itself first."""
    query = request.query_params.get("q", "").strip()
    if not query:
        raise exceptions.ValidationError({"q": ["Give a correlation ID, key or event ID to look for."]})
    if len(query) > MAX_QUERY_LENGTH:
        raise exceptions.ValidationError({"q": [f"At most {MAX_QUERY_LENGTH} characters."]})
    matches = selectors.trace_matches(query, cluster=_cluster(request))
    return Response({"results": TraceMatchSerializer(matches, many=True).data})


@extend_schema(
    operation_id="flows_list",
    parameters=[
        OpenApiParameter("window", OpenApiTypes.STR, enum=list(selectors.WINDOWS), description="Default 24h."),
        OpenApiParameter("stuck_after", OpenApiTypes.STR, enum=list(selectors.STUCK_AFTER), description="Default 5m."),
        CLUSTER_PARAMETER,
    ],
    responses=inline_serializer(
        "FlowList",
        {
            "window": serializers.CharField(),
            "stuck_after": serializers.CharField(),
            "results": FlowSerializer(many=True),
        },
    ),
)
@api_view(["GET"])
def flow_list(request):
    """Flows (sequences of event types) of the chains in a window: per-hop latency percentiles, stuck chains."""
    errors = {}
    window = request.query_params.get("window", "24h")
    stuck_after = request.query_params.get("stuck_after", "5m")
    if window not in selectors.WINDOWS:
        errors["window"] = [f"One of {', '.join(selectors.WINDOWS)}."]
    if stuck_after not in selectors.STUCK_AFTER:
        errors["stuck_after"] = [f"One of {', '.join(selectors.STUCK_AFTER)}."]
    try:
        cluster = cluster_choice(request.query_params, strict=True).selected
    except UnknownClusterError as exc:
        errors["cluster"] = [exc.message]
    if errors:
        raise exceptions.ValidationError(errors)
    flows = selectors.flows_overview(
        window=selectors.WINDOWS[window], stuck_after=selectors.STUCK_AFTER[stuck_after], cluster=cluster
    )
    return Response({"window": window, "stuck_after": stuck_after, "results": FlowSerializer(flows, many=True).data})
