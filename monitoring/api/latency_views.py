"""`GET /api/v1/latency/`: the latency page's figures (per service, topic and flow) for scripts and dashboards."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response

from catalog.cluster_choice import UnknownClusterError, cluster_choice

from .. import selectors
from .serializers import FlowSerializer, LatencySerializer

__all__ = ["latency_overview"]

DEFAULT_WINDOW = "1h"


class LatencyGroupSerializer(serializers.Serializer):
    name = serializers.CharField()
    events = serializers.IntegerField()
    hop_ms = LatencySerializer(source="hop", help_text="From the chain's previous event to this one.")
    queue_ms = LatencySerializer(source="queue", help_text="Record timestamp to the indexer reading it.")
    broker_ms = LatencySerializer(
        source="broker", allow_null=True, help_text="Time in the broker, for topics with LogAppendTime; else null."
    )


class LatencyOverviewSerializer(serializers.Serializer):
    window = serializers.CharField()
    cluster = serializers.CharField(allow_null=True)
    since = serializers.DateTimeField()
    chains = serializers.IntegerField()
    events = serializers.IntegerField()
    end_to_end_ms = LatencySerializer(source="end_to_end")
    services = LatencyGroupSerializer(many=True)
    topics = LatencyGroupSerializer(many=True)
    flows = FlowSerializer(many=True)


@extend_schema(
    parameters=[
        OpenApiParameter(
            "window", OpenApiTypes.STR, enum=list(selectors.LATENCY_WINDOWS), description=f"Default {DEFAULT_WINDOW}."
        ),
        OpenApiParameter("cluster", OpenApiTypes.STR, description="A cluster name; default every cluster."),
    ],
    responses=LatencyOverviewSerializer,
)
@api_view(["GET"])
def latency_overview(request):
    """Latency percentiles (p50/p95/p99, ms) of the recent chains: end to end, per service, per topic and per flow."""
    errors = {}
    window = request.query_params.get("window", DEFAULT_WINDOW)
    if window not in selectors.LATENCY_WINDOWS:
        errors["window"] = [f"One of {', '.join(selectors.LATENCY_WINDOWS)}."]
    cluster = None
    try:
        cluster = cluster_choice(request.query_params, strict=True).selected
    except UnknownClusterError as exc:
        errors["cluster"] = [exc.message]
    if errors:
        raise exceptions.ValidationError(errors)
    overview = selectors.latency_overview_for(window=selectors.LATENCY_WINDOWS[window], cluster=cluster)
    data = LatencyOverviewSerializer(
        {
            "window": window,
            "cluster": cluster,
            "since": overview.since,
            "chains": overview.chains,
            "events": overview.events,
            "end_to_end": overview.end_to_end,
            "services": overview.services,
            "topics": overview.topics,
            "flows": overview.flows,
        }
    ).data
    return Response(data)
