"""Trace and flow API serializers: read-only shapes over monitoring.traces and monitoring.flows dataclasses."""

from __future__ import annotations

from rest_framework import serializers

__all__ = [
    "FlowSerializer",
    "TraceMatchSerializer",
    "TraceSerializer",
]


class TraceEventSerializer(serializers.Serializer):
    """One hop: the record's coordinates and what it is, with the latency from the hop before (null first)."""

    cluster = serializers.CharField(source="event.cluster")
    topic = serializers.CharField(source="event.topic")
    partition = serializers.IntegerField(source="event.partition")
    offset = serializers.IntegerField(source="event.offset")
    timestamp = serializers.DateTimeField(source="event.timestamp")
    event_type = serializers.CharField(source="event.event_type")
    event_id = serializers.CharField(source="event.event_id")
    causation_id = serializers.CharField(source="event.causation_id")
    key = serializers.CharField(source="event.key")
    producer = serializers.SerializerMethodField(help_text="The producing service when a header says it, else null.")
    latency_ms = serializers.FloatField(allow_null=True, help_text="Milliseconds since the previous hop.")
    is_dead_letter = serializers.BooleanField(source="event.is_dead_letter")

    def get_producer(self, hop) -> str | None:
        return hop.event.producer or None


class NextStepSerializer(serializers.Serializer):
    service = serializers.CharField()
    topic = serializers.CharField()
    event_type = serializers.CharField()


class TraceEndSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["dead_letter", "stopped", "complete"])
    summary = serializers.CharField()
    topic = serializers.CharField(source="last_event.topic")
    event_type = serializers.CharField(source="last_event.event_type")
    reason = serializers.CharField(help_text="Why the record was dead-lettered (dead_letter only).")
    error_headers = serializers.DictField(child=serializers.CharField())
    expected_next = NextStepSerializer(many=True, help_text="Steps the declared lineage expects (stopped only).")


class TraceSerializer(serializers.Serializer):
    correlation_id = serializers.CharField()
    events = TraceEventSerializer(many=True, source="hops")
    event_count = serializers.SerializerMethodField()
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField()
    end_to_end_ms = serializers.FloatField()
    end = TraceEndSerializer()
    truncated = serializers.BooleanField(help_text="True when the chain is longer than the API returns.")

    def get_event_count(self, trace) -> int:
        return len(trace.hops)


class TraceMatchSerializer(serializers.Serializer):
    correlation_id = serializers.CharField()
    matched_by = serializers.ChoiceField(choices=["correlation_id", "key", "event_id"])
    events = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField()


class LatencySerializer(serializers.Serializer):
    count = serializers.IntegerField()
    p50 = serializers.FloatField(allow_null=True)
    p95 = serializers.FloatField(allow_null=True)
    p99 = serializers.FloatField(allow_null=True)


class HopStatsSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    source = serializers.CharField()
    target = serializers.CharField()
    latency_ms = LatencySerializer(source="latency")


class FlowSerializer(serializers.Serializer):
    signature = serializers.ListField(child=serializers.CharField())
    chains = serializers.IntegerField()
    complete = serializers.IntegerField()
    dead_lettered = serializers.IntegerField()
    stuck = serializers.IntegerField()
    in_progress = serializers.IntegerField()
    hops = HopStatsSerializer(many=True)
    end_to_end_ms = LatencySerializer(source="end_to_end")
    examples = serializers.ListField(child=serializers.CharField())
    stuck_examples = serializers.ListField(child=serializers.CharField())
