"""Monitoring models: the correlation index (tracing) and consumer lag (poll runs, samples, latest states)."""

from .alerts import Alert, AlertNotification, AlertRule
from .lag import (
    GroupLagSample,
    GroupLagState,
    LagPollRun,
    LagStatus,
    OffsetTimePoint,
    PartitionLagSample,
    Resolution,
    TopicThroughput,
    TopicThroughputSample,
)
from .tracing import IndexerOffset, IndexerStatus, TraceEvent, TracingSettings

__all__ = [
    "Alert",
    "AlertNotification",
    "AlertRule",
    "GroupLagSample",
    "GroupLagState",
    "IndexerOffset",
    "IndexerStatus",
    "LagPollRun",
    "LagStatus",
    "OffsetTimePoint",
    "PartitionLagSample",
    "Resolution",
    "TopicThroughput",
    "TopicThroughputSample",
    "TraceEvent",
    "TracingSettings",
]
