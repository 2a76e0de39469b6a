"""Monitoring models: the correlation index (tracing); lag and alerts arrive with the lag issue."""

from .tracing import IndexerOffset, IndexerStatus, TraceEvent, TracingSettings

__all__ = ["IndexerOffset", "IndexerStatus", "TraceEvent", "TracingSettings"]
