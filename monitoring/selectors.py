"""Reads of the correlation index that pages and the API share: traces, trace search, flows, dead letters.

Every function here runs a fixed number of queries whatever the size of its answer (no N+1): rows are read
with `.values()` into monitoring.traces dataclasses, and catalog links are resolved in one query per kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.db.models import Count, Exists, Max, Min, OuterRef, Q, QuerySet
from django.db.models.functions import TruncHour
from django.urls import reverse
from django.utils import timezone

from catalog.models import DeclaredRelation, EventType, Service, Topic
from eventscope.search_providers import SearchHit, SearchProvider

from .flows import (
    DEFAULT_STUCK_AFTER,
    FlowStats,
    LatencyOverview,
    ReasonCount,
    aggregate_flows,
    group_reasons,
    latency_overview,
)
from .models import TraceEvent, TracingSettings
from .traces import (
    DEFAULT_DEAD_LETTER_PATTERNS,
    NextStep,
    Trace,
    TraceEventData,
    build_trace,
    catalog_event_type,
    dead_letter_reason,
    glob_to_regex,
)

__all__ = [
    "LATENCY_WINDOWS",
    "TRACE_SEARCH_PROVIDER",
    "CatalogLinks",
    "DeadLetterOverview",
    "EventTypeNames",
    "TraceMatch",
    "catalog_links",
    "dead_letter_patterns",
    "dead_letters_overview",
    "declared_producers",
    "event_type_names",
    "expected_next_steps",
    "flows_overview",
    "latency_overview_for",
    "trace_for",
    "trace_matches",
]

MAX_TRACE_EVENTS = 5_000  # a chain longer than this is a loop, not a trace; the page shows the first ones
MAX_FLOW_CHAINS = 5_000  # chains aggregated on the flows page (the most recent ones in the window)
MAX_DEAD_LETTERS = 10_000  # dead letters grouped by reason on the dead-letters page
# The choices pages and API offer for the flows' window and the time after which a chain counts as stuck.
WINDOWS = {"1h": timedelta(hours=1), "6h": timedelta(hours=6), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
STUCK_AFTER = {
    "1m": timedelta(minutes=1),
    "5m": DEFAULT_STUCK_AFTER,
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
}
_EVENT_FIELDS = (
    "correlation_id",
    "cluster__name",
    "topic",
    "partition",
    "offset",
    "timestamp",
    "key",
    "event_id",
    "causation_id",
    "event_type",
    "producer",
    "payload_excerpt",
    "payload_encoding",
    "size",
    "is_dead_letter",
    "error_reason",
    "headers",
    "timestamp_type",
    "indexed_at",
)


@dataclass(frozen=True)
class EventTypeNames:
    """What maps indexed event types to the catalog's: its event type names and each cluster's aliases."""

    catalog: frozenset[str] = frozenset()
    aliases: dict[str, dict[str, str]] = field(default_factory=dict)  # cluster name -> {indexed: catalog}

    def resolve(self, cluster: str, event_type: str) -> str:
        return catalog_event_type(event_type, catalog_names=self.catalog, aliases=self.aliases.get(cluster, {}))


def event_type_names() -> EventTypeNames:
    """The catalog's event type names and the configured aliases. Two queries."""
    aliases = {
        cluster: {k: v for k, v in configured.items() if isinstance(k, str) and isinstance(v, str)}
        for cluster, configured in TracingSettings.objects.values_list("cluster__name", "event_type_aliases")
        if isinstance(configured, dict) and configured
    }
    catalog = frozenset(EventType.objects.values_list("name", flat=True).distinct().order_by())
    return EventTypeNames(catalog=catalog, aliases=aliases)


def _event_data(row: dict, names: EventTypeNames) -> TraceEventData:
    values = dict(row)
    values["cluster"] = values.pop("cluster__name")
    values["headers"] = values["headers"] if isinstance(values["headers"], dict) else {}
    indexed = values["event_type"]
    if indexed:
        resolved = names.resolve(values["cluster"], indexed)
        if resolved != indexed:
            values["event_type"], values["indexed_event_type"] = resolved, indexed
    return TraceEventData(**values)


# ---------------------------------------------------------------------------------------------
# Settings and the lineage the catalog declares
# ---------------------------------------------------------------------------------------------
def dead_letter_patterns() -> tuple[str, ...]:
    """Dead-letter topic patterns: every cluster's configured ones, or the defaults where none are set."""
    configured = [
        pattern
        for patterns in TracingSettings.objects.values_list("dead_letter_patterns", flat=True)
        for pattern in (patterns or [])
    ]
    return tuple(dict.fromkeys(configured)) or DEFAULT_DEAD_LETTER_PATTERNS


def expected_next_steps() -> dict[str, list[NextStep]]:
    """Topic or event type name -> the steps the declared lineage expects after an event on it.

    A step is a service that consumes the topic (or the event type) and declares that it produces
    something: a pure sink leaves no event behind, so its absence says nothing about the chain.
    """
    producing = DeclaredRelation.objects.filter(
        service=OuterRef("service"), direction=DeclaredRelation.Direction.PRODUCES
    )
    relations = (
        DeclaredRelation.objects.filter(direction=DeclaredRelation.Direction.CONSUMES)
        .filter(Exists(producing))
        .values_list("service__name", "topic__name", "event_type__name", "event_type__topic__name")
        .order_by("service__name")
    )
    steps: dict[str, list[NextStep]] = {}
    for service, topic, event_type, event_type_topic in relations:
        if topic:
            steps.setdefault(topic, []).append(NextStep(service=service, topic=topic))
        elif event_type:
            steps.setdefault(event_type, []).append(
                NextStep(service=service, topic=event_type_topic or "", event_type=event_type)
            )
    return steps


# ---------------------------------------------------------------------------------------------
# One trace
# ---------------------------------------------------------------------------------------------
def trace_for(correlation_id: str) -> Trace | None:
    """The trace of one correlation ID, or None when nothing is indexed for it. Six queries."""
    if "\x00" in correlation_id:  # never stored, and PostgreSQL refuses it as a query parameter
        return None
    rows = TraceEvent.objects.filter(correlation_id=correlation_id).order_by("timestamp", "id")
    found = list(rows.values(*_EVENT_FIELDS)[: MAX_TRACE_EVENTS + 1])
    if not found:
        return None
    names = event_type_names()
    events = [_event_data(row, names) for row in found]
    truncated = len(events) > MAX_TRACE_EVENTS
    trace = build_trace(
        correlation_id,
        events[:MAX_TRACE_EVENTS],
        next_steps=expected_next_steps(),
        dead_letter_patterns=dead_letter_patterns(),
    )
    return replace(trace, truncated=True) if truncated else trace


@dataclass(frozen=True)
class TraceMatch:
    """A correlation ID that a search found, and how (`correlation_id`, `key` or `event_id`)."""

    correlation_id: str
    matched_by: str
    events: int
    started_at: datetime
    ended_at: datetime


def _events_of(cluster: str | None) -> QuerySet:
    """Indexed events, of one cluster (by name) or of every cluster."""
    return TraceEvent.objects.filter(cluster__name=cluster) if cluster else TraceEvent.objects.all()


def trace_matches(query: str, *, limit: int = 20, cluster: str | None = None) -> list[TraceMatch]:
    """Traces the query names: the correlation ID itself first, then chains holding that key or event ID
    (only events of `cluster` when given).

    Two queries at most; each one uses an index (correlation_id, key, event_id).
    """
    query = query.strip()
    if not query or "\x00" in query:  # extraction never stores NUL; PostgreSQL refuses it as a parameter
        return []
    exact = list(
        _events_of(cluster)
        .filter(correlation_id=query)
        .values("correlation_id")
        .annotate(events=Count("id"), started_at=Min("timestamp"), ended_at=Max("timestamp"))
        .order_by()
    )
    matches = [TraceMatch(matched_by="correlation_id", **row) for row in exact]
    if len(matches) >= limit:
        return matches[:limit]
    others = (
        _events_of(cluster)
        # "<> ''" as in the partial indexes' conditions, which SQLite's planner needs to see to use them.
        .filter((Q(key=query) & ~Q(key="")) | (Q(event_id=query) & ~Q(event_id="")))
        .exclude(correlation_id=query)
        .values("correlation_id")
        .annotate(
            events=Count("id"),
            started_at=Min("timestamp"),
            ended_at=Max("timestamp"),
            by_event_id=Count("id", filter=Q(event_id=query)),
        )
        .order_by("-ended_at")[: limit - len(matches)]
    )
    for row in others:
        matched_by = "event_id" if row.pop("by_event_id") else "key"
        matches.append(TraceMatch(matched_by=matched_by, **row))
    return matches


@dataclass(frozen=True)
class CatalogLinks:
    """Catalog pages of the topics, event types and services a page mentions (absent when not in the catalog)."""

    topics: dict[tuple[str, str], str] = field(default_factory=dict)  # (cluster, topic) -> url
    event_types: dict[str, str] = field(default_factory=dict)  # name -> url (latest version)
    services: dict[str, str] = field(default_factory=dict)  # name -> url

    def topic(self, cluster: str, topic: str) -> str:
        return self.topics.get((cluster, topic), "")


def catalog_links(events: Sequence[TraceEventData], *, services: Iterable[str] = ()) -> CatalogLinks:
    """Links for the events' topics, event types and producers (plus `services`). Three queries."""
    clusters = {event.cluster for event in events}
    topic_names = {event.topic for event in events}
    type_names = {event.event_type for event in events if event.event_type}
    service_names = {event.producer for event in events if event.producer} | set(services)
    topics = {
        (cluster, name): reverse("catalog:topic-detail", args=[cluster, name])
        for cluster, name in Topic.objects.filter(cluster__name__in=clusters, name__in=topic_names).values_list(
            "cluster__name", "name"
        )
    }
    event_types: dict[str, str] = {}
    for name, slug in (
        EventType.objects.filter(name__in=type_names).order_by("name", "version").values_list("name", "slug")
    ):
        event_types[name] = reverse("catalog:event-type-detail", args=[slug])  # the last (latest) version wins
    linked_services = {
        name: reverse("catalog:service-detail", args=[slug])
        for name, slug in Service.objects.filter(name__in=service_names).values_list("name", "slug")
    }
    return CatalogLinks(topics=topics, event_types=event_types, services=linked_services)


_MATCH_SCORES = {"correlation_id": 120.0, "event_id": 110.0, "key": 105.0}
_MATCH_LABELS = {"correlation_id": "correlation ID", "event_id": "event ID", "key": "key"}


def _search_traces(query: str, kinds: set[str] | None, limit: int) -> list[SearchHit]:
    """The global search's trace hits: above every catalog hit, since a known ID is what the user meant."""
    if len(query) > 255 or (kinds is not None and "trace" not in kinds):
        return []
    hits = []
    for rank, match in enumerate(trace_matches(query, limit=limit)):
        label = _MATCH_LABELS[match.matched_by]
        hits.append(
            SearchHit(
                kind="trace",
                object_id=match.correlation_id,
                title=match.correlation_id,
                subtitle=f"trace · {match.events} event{'s' if match.events != 1 else ''} · matched by {label}",
                url=reverse("trace-detail", args=[match.correlation_id]),
                score=_MATCH_SCORES[match.matched_by] - rank * 0.001,
                snippet=f"{label} {query}" if match.matched_by != "correlation_id" else "",
            )
        )
    return hits


TRACE_SEARCH_PROVIDER = SearchProvider(kinds={"trace": "Traces"}, search=_search_traces)


# ---------------------------------------------------------------------------------------------
# Flows
# ---------------------------------------------------------------------------------------------
def _traces_of(correlation_ids: QuerySet, next_steps, patterns, cluster: str | None = None) -> list[Trace]:
    events: dict[str, list[TraceEventData]] = {}
    names = event_type_names()
    rows = _events_of(cluster).filter(correlation_id__in=correlation_ids).order_by("correlation_id", "timestamp", "id")
    for row in rows.values(*_EVENT_FIELDS).iterator(chunk_size=2_000):
        events.setdefault(row["correlation_id"], []).append(_event_data(row, names))
    return [
        trace
        for correlation_id, chain in events.items()
        if (trace := build_trace(correlation_id, chain, next_steps=next_steps, dead_letter_patterns=patterns))
    ]


def flows_overview(
    *,
    window: timedelta = timedelta(hours=24),
    stuck_after: timedelta = DEFAULT_STUCK_AFTER,
    now: datetime | None = None,
    max_chains: int = MAX_FLOW_CHAINS,
    cluster: str | None = None,
) -> list[FlowStats]:
    """Flows of the chains that had events in the last `window` (the most recent `max_chains` of them); with
    `cluster`, only that cluster's events (a chain is cut where it leaves the cluster)."""
    now = now or timezone.now()
    recent = (
        _events_of(cluster)
        .filter(timestamp__gte=now - window)
        .values("correlation_id")
        .annotate(last=Max("timestamp"))
        .order_by("-last")
        .values("correlation_id")[:max_chains]
    )
    traces = _traces_of(recent, expected_next_steps(), dead_letter_patterns(), cluster)
    return aggregate_flows(traces, now=now, stuck_after=stuck_after)


# ---------------------------------------------------------------------------------------------
# Latency
# ---------------------------------------------------------------------------------------------
LATENCY_WINDOWS = {"15m": timedelta(minutes=15), "1h": timedelta(hours=1), "24h": timedelta(hours=24)}


def declared_producers() -> dict[str, str]:
    """Topic or event type name -> the one service the catalog declares produces it (absent when several do)."""
    producers: dict[str, set[str]] = {}
    for service, topic, event_type in DeclaredRelation.objects.filter(
        direction=DeclaredRelation.Direction.PRODUCES
    ).values_list("service__name", "topic__name", "event_type__name"):
        for name in (topic, event_type):
            if name:
                producers.setdefault(name, set()).add(service)
    return {name: next(iter(services)) for name, services in producers.items() if len(services) == 1}


def latency_overview_for(
    *,
    window: timedelta = timedelta(hours=1),
    now: datetime | None = None,
    stuck_after: timedelta = DEFAULT_STUCK_AFTER,
    max_chains: int = MAX_FLOW_CHAINS,
    cluster: str | None = None,
) -> LatencyOverview:
    """Latency of the chains with events in the last `window` (the most recent `max_chains` of them).

    An event's service is the producer its record names, else the one service the catalog declares
    produces its event type or topic.
    """
    now = now or timezone.now()
    since = now - window
    recent = (
        _events_of(cluster)
        .filter(timestamp__gte=since)
        .values("correlation_id")
        .annotate(last=Max("timestamp"))
        .order_by("-last")
        .values("correlation_id")[:max_chains]
    )
    traces = _traces_of(recent, expected_next_steps(), dead_letter_patterns(), cluster)
    producers = declared_producers()

    def service_of(event: TraceEventData) -> str:
        return event.producer or producers.get(event.event_type) or producers.get(event.topic, "")

    return latency_overview(traces, since=since, now=now, service_of=service_of, stuck_after=stuck_after)


# ---------------------------------------------------------------------------------------------
# Dead letters
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeadLetter:
    correlation_id: str
    cluster: str
    topic: str
    partition: int
    offset: int
    timestamp: datetime
    event_type: str
    reason: str


@dataclass(frozen=True)
class DeadLetterOverview:
    patterns: tuple[str, ...]
    total: int
    per_hour: list[tuple[datetime, str, int]]  # (hour, topic, count)
    reasons: list[ReasonCount]
    recent: list[DeadLetter]


def dead_letter_filter(patterns: Sequence[str]) -> Q:
    condition = Q(is_dead_letter=True)
    for pattern in patterns:
        condition |= Q(topic__regex=glob_to_regex(pattern))
    return condition


def dead_letters_overview(
    *,
    window: timedelta = timedelta(hours=24),
    now: datetime | None = None,
    recent_limit: int = 50,
    cluster: str | None = None,
) -> DeadLetterOverview:
    """Dead letters of the last `window` (of one cluster when given): counts per hour and topic, reasons
    grouped, the most recent ones."""
    now = now or timezone.now()
    patterns = dead_letter_patterns()
    rows = _events_of(cluster).filter(dead_letter_filter(patterns), timestamp__gte=now - window)
    names = event_type_names()
    hourly = list(
        rows.annotate(hour=TruncHour("timestamp"))
        .values("hour", "cluster__name", "topic")
        .annotate(count=Count("id"))
        .order_by("hour", "topic", "cluster__name")
    )
    # Several clusters: a topic is "<cluster>/<name>", as the same dead-letter topic name may be on each.
    several = len({row["cluster__name"] for row in hourly}) > 1
    per_hour = [
        (row["hour"], f"{row['cluster__name']}/{row['topic']}" if several else row["topic"], row["count"])
        for row in hourly
    ]
    letters = [
        DeadLetter(
            correlation_id=row["correlation_id"],
            cluster=row["cluster__name"],
            topic=row["topic"],
            partition=row["partition"],
            offset=row["offset"],
            timestamp=row["timestamp"],
            event_type=names.resolve(row["cluster__name"], row["event_type"]),
            reason=dead_letter_reason(row["headers"] if isinstance(row["headers"], dict) else {}, row["error_reason"]),
        )
        for row in rows.order_by("-timestamp", "-id").values(
            "correlation_id",
            "cluster__name",
            "topic",
            "partition",
            "offset",
            "timestamp",
            "event_type",
            "headers",
            "error_reason",
        )[:MAX_DEAD_LETTERS]
    ]
    return DeadLetterOverview(
        patterns=patterns,
        total=sum(count for _hour, _topic, count in per_hour),
        per_hour=per_hour,
        reasons=group_reasons(letter.reason for letter in letters),
        recent=letters[:recent_limit],
    )
