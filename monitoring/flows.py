"""Flows and latency, pure: traces grouped by the sequence of event types they follow, with per-hop latency
percentiles and the chains that are stuck (started, not finished within a configurable time); and the
same chains' latency per topic and per service, with the indexer's queue time and time in broker.

A chain's state: ``complete`` and ``dead_letter`` as its trace ended (monitoring.traces); a chain the
lineage expects more of is ``stuck`` once it started longer than `stuck_after` ago, else ``in_progress``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .traces import END_COMPLETE, END_DEAD_LETTER, LOG_APPEND_TIME, Trace, TraceEventData, percentile, reason_group

__all__ = [
    "DEFAULT_STUCK_AFTER",
    "STATE_COMPLETE",
    "STATE_DEAD_LETTER",
    "STATE_IN_PROGRESS",
    "STATE_STUCK",
    "FlowStats",
    "HopStats",
    "LatencyGroup",
    "LatencyOverview",
    "LatencyPercentiles",
    "ReasonCount",
    "aggregate_flows",
    "chain_state",
    "group_reasons",
    "latency_overview",
    "latency_percentiles",
]

DEFAULT_STUCK_AFTER = timedelta(minutes=5)
STATE_COMPLETE = "complete"
STATE_DEAD_LETTER = "dead_letter"
STATE_STUCK = "stuck"
STATE_IN_PROGRESS = "in_progress"


@dataclass(frozen=True)
class LatencyPercentiles:
    count: int
    p50: float | None
    p95: float | None
    p99: float | None


def latency_percentiles(values: Sequence[float]) -> LatencyPercentiles:
    return LatencyPercentiles(
        count=len(values), p50=percentile(values, 50), p95=percentile(values, 95), p99=percentile(values, 99)
    )


@dataclass(frozen=True)
class HopStats:
    """Latency of one hop of a flow: from the step before (`source`) to this one (`target`)."""

    index: int
    source: str
    target: str
    latency: LatencyPercentiles


@dataclass(frozen=True)
class FlowStats:
    signature: tuple[str, ...]
    chains: int
    states: dict[str, int]
    hops: tuple[HopStats, ...]
    end_to_end: LatencyPercentiles
    examples: tuple[str, ...]  # correlation ids, most recent first
    stuck_examples: tuple[str, ...]

    @property
    def stuck(self) -> int:
        return self.states.get(STATE_STUCK, 0)

    @property
    def dead_lettered(self) -> int:
        return self.states.get(STATE_DEAD_LETTER, 0)

    @property
    def complete(self) -> int:
        return self.states.get(STATE_COMPLETE, 0)

    @property
    def in_progress(self) -> int:
        return self.states.get(STATE_IN_PROGRESS, 0)

    @property
    def slowest_hop(self) -> HopStats | None:
        measured = [hop for hop in self.hops if hop.latency.p95 is not None]
        return max(measured, key=lambda hop: hop.latency.p95) if measured else None


def chain_state(trace: Trace, *, now: datetime, stuck_after: timedelta = DEFAULT_STUCK_AFTER) -> str:
    if trace.end.kind == END_DEAD_LETTER:
        return STATE_DEAD_LETTER
    if trace.end.kind == END_COMPLETE:
        return STATE_COMPLETE
    return STATE_STUCK if now - trace.started_at > stuck_after else STATE_IN_PROGRESS


def aggregate_flows(
    traces: Iterable[Trace],
    *,
    now: datetime,
    stuck_after: timedelta = DEFAULT_STUCK_AFTER,
    example_limit: int = 5,
) -> list[FlowStats]:
    """Per flow (signature): chain count, states, per-hop and end-to-end latency percentiles, example traces.

    Flows come most chains first (ties by signature). Examples are the most recently started chains.
    """
    by_signature: dict[tuple[str, ...], list[Trace]] = {}
    for trace in traces:
        by_signature.setdefault(trace.signature, []).append(trace)
    flows = []
    for signature, members in by_signature.items():
        members.sort(key=lambda trace: trace.started_at, reverse=True)
        states: Counter[str] = Counter()
        stuck_examples: list[str] = []
        hop_latencies: list[list[float]] = [[] for _ in signature[1:]]
        for trace in members:
            state = chain_state(trace, now=now, stuck_after=stuck_after)
            states[state] += 1
            if state == STATE_STUCK and len(stuck_examples) < example_limit:
                stuck_examples.append(trace.correlation_id)
            for hop in trace.hops[1:]:
                hop_latencies[hop.index - 1].append(hop.latency_ms or 0.0)
        hops = tuple(
            HopStats(
                index=index + 1,
                source=signature[index],
                target=signature[index + 1],
                latency=latency_percentiles(values),
            )
            for index, values in enumerate(hop_latencies)
        )
        flows.append(
            FlowStats(
                signature=signature,
                chains=len(members),
                states=dict(states),
                hops=hops,
                end_to_end=latency_percentiles([trace.end_to_end_ms for trace in members]),
                examples=tuple(trace.correlation_id for trace in members[:example_limit]),
                stuck_examples=tuple(stuck_examples),
            )
        )
    flows.sort(key=lambda flow: (-flow.chains, flow.signature))
    return flows


@dataclass(frozen=True)
class ReasonCount:
    reason: str  # the group (variable parts replaced)
    example: str  # one reason as it was written
    count: int


def group_reasons(reasons: Iterable[str]) -> list[ReasonCount]:
    """Dead-letter reasons grouped (ids and numbers aside), most frequent first."""
    counts: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for reason in reasons:
        group = reason_group(reason)
        counts[group] += 1
        examples.setdefault(group, reason or "no reason given")
    return [ReasonCount(reason=group, example=examples[group], count=count) for group, count in counts.most_common()]


# ---------------------------------------------------------------------------------------------
# Latency per topic, per service and per flow
# ---------------------------------------------------------------------------------------------
MAX_SAMPLES = 2_000  # hop latencies kept per group for the box chart (the percentiles use all of them)


@dataclass(frozen=True)
class LatencyGroup:
    """Latency of the events of one topic, or of the events one service produced.

    `hop`: from the chain's previous event to this one, i.e. the time the step took: the consumer's
    queue time plus its processing (and clock skew between producers). `queue`: the trace indexer's
    own queue time, the time it consumed the record minus the record's timestamp. `broker`: the same
    for records whose timestamp the broker set (LogAppendTime), i.e. time in the broker until read;
    None when the group has no such record.
    """

    name: str
    hop: LatencyPercentiles
    queue: LatencyPercentiles
    broker: LatencyPercentiles | None
    events: int
    samples: tuple[float, ...]  # hop latencies, at most MAX_SAMPLES, for the box chart


@dataclass(frozen=True)
class LatencyOverview:
    since: datetime
    chains: int
    events: int
    end_to_end: LatencyPercentiles  # chains that started in the window
    topics: list[LatencyGroup]
    services: list[LatencyGroup]
    flows: list[FlowStats]


class _Samples:
    __slots__ = ("broker", "events", "hop", "queue")

    def __init__(self) -> None:
        self.events = 0
        self.hop: list[float] = []
        self.queue: list[float] = []
        self.broker: list[float] = []

    def group(self, name: str) -> LatencyGroup:
        step = max(1, len(self.hop) // MAX_SAMPLES + (1 if len(self.hop) % MAX_SAMPLES else 0))
        return LatencyGroup(
            name=name,
            hop=latency_percentiles(self.hop),
            queue=latency_percentiles(self.queue),
            broker=latency_percentiles(self.broker) if self.broker else None,
            events=self.events,
            samples=tuple(self.hop[::step][:MAX_SAMPLES]),
        )


def _topic_groups(topics: dict[tuple[str, str], _Samples]) -> list[LatencyGroup]:
    several_clusters = len({cluster for cluster, _ in topics}) > 1
    return [
        samples.group(f"{cluster}/{topic}" if several_clusters else topic)
        for (cluster, topic), samples in sorted(topics.items(), key=lambda item: (item[0][1], item[0][0]))
    ]


def latency_overview(
    traces: Sequence[Trace],
    *,
    since: datetime,
    now: datetime,
    service_of: Callable[[TraceEventData], str],
    stuck_after: timedelta = DEFAULT_STUCK_AFTER,
) -> LatencyOverview:
    """Latency percentiles of the events at or after `since`, per topic and per producing service, and per flow.

    A hop counts for its target event (the topic it landed on, the service that produced it), and
    only when that event is in the window; a chain's first event has no hop but has a queue time.
    `service_of` names the service that produced an event ("" when unknown: not grouped). Topics
    are kept apart per cluster; when several clusters are in view a topic is named "cluster/topic".
    """
    topics: dict[tuple[str, str], _Samples] = {}
    services: dict[str, _Samples] = {}
    events = 0
    in_window: list[Trace] = []
    for trace in traces:
        if trace.started_at >= since:
            in_window.append(trace)
        for hop in trace.hops:
            event = hop.event
            if event.timestamp < since:
                continue
            events += 1
            groups = [topics.setdefault((event.cluster, event.topic), _Samples())]
            service = service_of(event)
            if service:
                groups.append(services.setdefault(service, _Samples()))
            queue_ms = (
                round((event.indexed_at - event.timestamp).total_seconds() * 1000, 3)
                if event.indexed_at is not None
                else None
            )
            for samples in groups:
                samples.events += 1
                if hop.latency_ms is not None:
                    samples.hop.append(hop.latency_ms)
                if queue_ms is not None:
                    samples.queue.append(queue_ms)
            if queue_ms is not None and event.timestamp_type == LOG_APPEND_TIME:
                groups[0].broker.append(queue_ms)
    return LatencyOverview(
        since=since,
        chains=len(in_window),
        events=events,
        end_to_end=latency_percentiles([trace.end_to_end_ms for trace in in_window if len(trace.hops) > 1]),
        topics=_topic_groups(topics),
        services=[samples.group(name) for name, samples in sorted(services.items())],
        flows=aggregate_flows(in_window, now=now, stuck_after=stuck_after),
    )
