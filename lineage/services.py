"""Lineage writes: refresh the stored edge evidence from the catalog, discovery and the correlation index.

- declared: the catalog's DeclaredRelations (manual, API, AsyncAPI imports). ``produces`` gives
  service -> topic; ``consumes`` gives topic -> group for each group of the service that consumes the topic,
  else topic -> service. An event type counts through its topic (an event type without one gives no edge).
- discovered: present consumer groups: topic -> group for each committed topic and each topic in a member's
  assignment; group -> service when the group's service is set.
- observed: in the correlation index, a record B with a known producer S (``TraceEvent.producer``, from
  ``ce_source`` or a producer header) whose chain has an earlier record A on another topic (the one B's
  causation id names, else the latest before B, within ``LINEAGE_OBSERVED_WINDOW_S``): S consumed A's topic
  and produced B's. Gives S -> topic B, and topic A -> S's group(s) consuming A -> S (or topic A -> S).
  Counts are chains (distinct correlation ids). One aggregate SQL query per cluster over the rows indexed
  since the last refresh: per partition, the offsets between where the last refresh stopped and the
  indexer's committed position (``ObservedPosition``), so each row counts once.

Evidence that vanishes (a relation deleted, a group gone, traffic not seen for
``LINEAGE_OBSERVED_STALE_AFTER_S``) gets ``stale_since``; it is never deleted.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from catalog.models import Cluster, ConsumerGroup, DeclaredRelation, Service, Topic
from monitoring.models import IndexerOffset, TraceEvent

from .models import EdgeEvidence, LineageRefresh, ObservedPosition
from .selectors import group_node_id_of, service_node_id_of, topic_node_id_of

__all__ = ["RefreshStats", "refresh_edges"]

logger = logging.getLogger(__name__)

Key = tuple[str, str]  # (source node id, target node id)


@dataclass
class RefreshStats:
    cluster: str
    declared: int = 0  # current edges per kind after the refresh
    discovered: int = 0
    observed_new_chains: int = 0  # chains read from the index in this refresh
    observed_edges_touched: int = 0
    created: int = 0
    revived: int = 0
    marked_stale: int = 0
    duration_ms: int = 0

    def as_dict(self) -> dict:
        return {
            "cluster": self.cluster,
            "declared": self.declared,
            "discovered": self.discovered,
            "observed_new_chains": self.observed_new_chains,
            "observed_edges_touched": self.observed_edges_touched,
            "created": self.created,
            "revived": self.revived,
            "marked_stale": self.marked_stale,
            "duration_ms": self.duration_ms,
        }


def _observed_window_s() -> float:
    return float(settings.LINEAGE_OBSERVED_WINDOW_S)


def _observed_stale_after() -> timedelta:
    return timedelta(seconds=float(settings.LINEAGE_OBSERVED_STALE_AFTER_S))


# --------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------


def refresh_edges(
    cluster: Cluster | None = None,
    *,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[RefreshStats]:
    """Upsert the evidence of one cluster (or of every cluster) and mark vanished evidence stale.
    Each cluster is one transaction. Returns the figures per cluster."""
    clusters = [cluster] if cluster is not None else list(Cluster.objects.order_by("name"))
    results = []
    for one in clusters:
        started = timezone.now()
        with transaction.atomic():
            stats = _refresh_cluster(one, now=now or timezone.now(), progress=progress)
        stats.duration_ms = int((timezone.now() - started).total_seconds() * 1000)
        logger.info("lineage refresh %s", stats.as_dict())
        results.append(stats)
    return results


def _refresh_cluster(cluster: Cluster, *, now: datetime, progress: Callable[[str], None] | None) -> RefreshStats:
    say = progress or (lambda message: None)
    stats = RefreshStats(cluster=cluster.name)
    state, _ = LineageRefresh.objects.select_for_update().get_or_create(cluster=cluster)

    group_topics = _group_topics(cluster)
    discovered = _discovered(cluster, group_topics)
    say(f"{cluster.name}: {len(discovered)} discovered edges")
    declared = _declared(cluster, group_topics)
    say(f"{cluster.name}: {len(declared)} declared edges")
    stats.declared, stats.discovered = len(declared), len(discovered)

    existing = {
        (row.source, row.target, row.kind): row
        for row in EdgeEvidence.objects.select_for_update().filter(cluster=cluster)
    }
    to_create: list[EdgeEvidence] = []
    to_update: list[EdgeEvidence] = []
    still_seen: list[int] = []

    # Declared and discovered: the current set replaces the previous one.
    for kind, current in ((EdgeEvidence.Kind.DECLARED, declared), (EdgeEvidence.Kind.DISCOVERED, discovered)):
        for (source, target), count in current.items():
            row = existing.get((source, target, kind))
            if row is None:
                to_create.append(
                    EdgeEvidence(
                        cluster=cluster,
                        source=source,
                        target=target,
                        kind=kind,
                        count=count,
                        first_seen=now,
                        last_seen=now,
                    )
                )
                continue
            if row.stale_since is None and row.count == count:
                still_seen.append(row.pk)  # only last_seen moves: one UPDATE for all of them
                continue
            if row.stale_since is not None:
                stats.revived += 1
            row.count, row.last_seen, row.stale_since = count, now, None
            to_update.append(row)
        for (source, target, row_kind), row in existing.items():
            if row_kind == kind and (source, target) not in current and row.stale_since is None:
                row.stale_since = now
                stats.marked_stale += 1
                to_update.append(row)

    # Observed: add what was indexed since the last refresh; old evidence goes stale.
    observed: dict[Key, tuple[int, datetime, datetime]] = {}
    if _positions_advance(cluster):
        hops = _observed_hops(cluster)
        stats.observed_new_chains = sum(h.chains for h in hops)
        observed = _observed_edges(cluster, hops, group_topics)
        ObservedPosition.objects.filter(cluster=cluster).exclude(read_until=F("reading_until")).update(
            read_until=F("reading_until")
        )
    say(f"{cluster.name}: {len(observed)} observed edges from {stats.observed_new_chains} new chain hops")
    stats.observed_edges_touched = len(observed)
    for (source, target), (chains, first, last) in observed.items():
        row = existing.get((source, target, EdgeEvidence.Kind.OBSERVED))
        if row is None:
            row = EdgeEvidence(
                cluster=cluster,
                source=source,
                target=target,
                kind=EdgeEvidence.Kind.OBSERVED,
                count=chains,
                first_seen=first,
                last_seen=last,
            )
            existing[(source, target, row.kind)] = row
            to_create.append(row)
            continue
        row.count += chains
        row.first_seen = min(row.first_seen, first)
        row.last_seen = max(row.last_seen, last)
        to_update.append(row)
    stale_before = now - _observed_stale_after()
    for (_, _, kind), row in existing.items():
        if kind != EdgeEvidence.Kind.OBSERVED or row.pk is None:
            continue
        if row.last_seen < stale_before and row.stale_since is None:
            row.stale_since = now
            stats.marked_stale += 1
            to_update.append(row)
        elif row.last_seen >= stale_before and row.stale_since is not None:
            row.stale_since = None
            stats.revived += 1
            to_update.append(row)
    for row in to_create:
        if row.kind == EdgeEvidence.Kind.OBSERVED and row.last_seen < stale_before:
            row.stale_since = now

    EdgeEvidence.objects.bulk_create(to_create, batch_size=500)
    for start in range(0, len(still_seen), 500):  # SQLite's limit on query parameters
        EdgeEvidence.objects.filter(pk__in=still_seen[start : start + 500]).update(last_seen=now)
    unique_updates = list({id(row): row for row in to_update}.values())
    EdgeEvidence.objects.bulk_update(
        unique_updates, ["count", "first_seen", "last_seen", "stale_since"], batch_size=500
    )
    stats.created = len(to_create)
    state.last_run_at = now
    state.last_stats = stats.as_dict()
    state.save()
    return stats


# --------------------------------------------------------------------------------------------------
# Discovered and declared
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _GroupTopics:
    """Present groups of a cluster: the topics each consumes, and the groups of each service per topic."""

    topics_of_group: dict[str, set[str]]  # group_id -> topic names
    service_of_group: dict[str, str]  # group_id -> service name
    groups_of_service_topic: dict[tuple[str, str], list[str]]  # (service name, topic name) -> group ids


def _group_topics(cluster: Cluster) -> _GroupTopics:
    present_topics = set(Topic.objects.present().filter(cluster=cluster).values_list("name", flat=True))
    topics_of_group: dict[str, set[str]] = {}
    service_of_group: dict[str, str] = {}
    groups = ConsumerGroup.objects.present().filter(cluster=cluster)
    for group_id, members, service_name in groups.values_list("group_id", "members", "service__name"):
        names = topics_of_group.setdefault(group_id, set())
        for member in members or ():
            for assignment in (member or {}).get("assignment") or ():
                if assignment and assignment[0] in present_topics:
                    names.add(assignment[0])
        if service_name:
            service_of_group[group_id] = service_name
    through = ConsumerGroup.committed_topics.through.objects.filter(
        consumergroup__cluster=cluster, consumergroup__deleted_at__isnull=True, topic__deleted_at__isnull=True
    )
    for group_id, topic_name in through.values_list("consumergroup__group_id", "topic__name"):
        topics_of_group.setdefault(group_id, set()).add(topic_name)
    groups_of_service_topic: dict[tuple[str, str], list[str]] = {}
    for group_id, service_name in service_of_group.items():
        for topic_name in topics_of_group.get(group_id, ()):
            groups_of_service_topic.setdefault((service_name, topic_name), []).append(group_id)
    return _GroupTopics(topics_of_group, service_of_group, groups_of_service_topic)


def _discovered(cluster: Cluster, groups: _GroupTopics) -> dict[Key, int]:
    edges: dict[Key, int] = {}
    for group_id, topic_names in groups.topics_of_group.items():
        group = group_node_id_of(cluster.name, group_id)
        for topic_name in topic_names:
            edges[(topic_node_id_of(cluster.name, topic_name), group)] = 1
        if group_id in groups.service_of_group:
            edges[(group, service_node_id_of(groups.service_of_group[group_id]))] = 1
    return edges


def _declared(cluster: Cluster, groups: _GroupTopics) -> Counter:
    edges: Counter = Counter()
    of_cluster = Q(topic__cluster=cluster) | Q(topic__isnull=True, event_type__topic__cluster=cluster)
    relations = DeclaredRelation.objects.filter(of_cluster).values_list(
        "service__name", "direction", "topic__name", "event_type__topic__name"
    )
    for service_name, direction, topic_name, event_topic_name in relations:
        topic_name = topic_name or event_topic_name
        topic = topic_node_id_of(cluster.name, topic_name)
        service = service_node_id_of(service_name)
        if direction == DeclaredRelation.Direction.PRODUCES:
            edges[(service, topic)] += 1
            continue
        group_ids = groups.groups_of_service_topic.get((service_name, topic_name))
        if group_ids:
            for group_id in group_ids:
                edges[(topic, group_node_id_of(cluster.name, group_id))] += 1
        else:
            edges[(topic, service)] += 1
    return edges


# --------------------------------------------------------------------------------------------------
# Observed
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Hop:
    consumed_topic: str
    producer: str
    produced_topic: str
    chains: int
    first: datetime
    last: datetime


def _positions_advance(cluster: Cluster) -> bool:
    """Set each indexed partition's ``reading_until`` to the indexer's committed position; True when some
    partition has rows to read. A partition new to lineage starts at offset 0."""
    committed = {
        (topic, partition): next_offset
        for topic, partition, next_offset in IndexerOffset.objects.filter(cluster=cluster).values_list(
            "topic", "partition", "next_offset"
        )
    }
    positions = {
        (row.topic, row.partition): row for row in ObservedPosition.objects.select_for_update().filter(cluster=cluster)
    }
    to_create, to_update = [], []
    for (topic, partition), next_offset in committed.items():
        row = positions.get((topic, partition))
        if row is None:
            to_create.append(
                ObservedPosition(
                    cluster=cluster, topic=topic, partition=partition, read_until=0, reading_until=next_offset
                )
            )
        elif next_offset > row.read_until and next_offset != row.reading_until:
            row.reading_until = next_offset
            to_update.append(row)
    ObservedPosition.objects.bulk_create(to_create, batch_size=500)
    ObservedPosition.objects.bulk_update(to_update, ["reading_until"], batch_size=500)
    return ObservedPosition.objects.filter(cluster=cluster, reading_until__gt=F("read_until")).exists()


def _observed_hops(cluster: Cluster) -> list[_Hop]:
    """Aggregate (topic A, producer S, topic B) hops over the records B not read yet: per partition, the
    offsets from ``read_until`` up to ``reading_until`` (the indexer's committed position)."""
    table = connection.ops.quote_name(TraceEvent._meta.db_table)
    positions = connection.ops.quote_name(ObservedPosition._meta.db_table)
    window = _observed_window_s()
    if connection.vendor == "postgresql":
        in_window = "a.timestamp >= b.timestamp - (%s * interval '1 second')"
    elif connection.vendor == "sqlite":
        in_window = "julianday(a.timestamp) >= julianday(b.timestamp) - (%s / 86400.0)"
    else:  # pragma: no cover - the project supports PostgreSQL and SQLite
        raise NotImplementedError(f"observed lineage needs PostgreSQL or SQLite, not {connection.vendor}")
    # a: the record B's producer consumed. With a causation id naming a record of the chain, that record;
    # otherwise the latest record of the chain on another topic at or before B (no record c in between).
    sql = f"""
        SELECT a.topic, b.producer, b.topic, COUNT(DISTINCT b.correlation_id), MIN(b.timestamp), MAX(b.timestamp)
        FROM {positions} p
        JOIN {table} b ON b.cluster_id = p.cluster_id AND b.topic = p.topic AND b.partition = p.partition
          AND b."offset" >= p.read_until AND b."offset" < p.reading_until
        JOIN {table} a ON a.cluster_id = b.cluster_id AND a.correlation_id = b.correlation_id
        WHERE p.cluster_id = %s AND p.reading_until > p.read_until
          AND b.producer <> '' AND b.is_dead_letter = %s
          AND a.is_dead_letter = %s AND a.topic <> b.topic AND a.timestamp <= b.timestamp AND {in_window}
          AND (
            (b.causation_id <> '' AND a.event_id = b.causation_id)
            OR (
              NOT EXISTS (
                SELECT 1 FROM {table} d
                WHERE d.cluster_id = b.cluster_id AND d.correlation_id = b.correlation_id
                  AND b.causation_id <> '' AND d.event_id = b.causation_id AND d.topic <> b.topic
              )
              AND NOT EXISTS (
                SELECT 1 FROM {table} c
                WHERE c.cluster_id = b.cluster_id AND c.correlation_id = b.correlation_id
                  AND c.topic <> b.topic AND c.is_dead_letter = %s
                  AND c.timestamp <= b.timestamp AND c.timestamp > a.timestamp
              )
            )
          )
        GROUP BY a.topic, b.producer, b.topic
    """  # noqa: S608 - only the quoted table names and fixed fragments are interpolated; values are bound
    params = [cluster.pk, False, False, window, False]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        _Hop(consumed, producer, produced, chains, _as_datetime(first), _as_datetime(last))
        for consumed, producer, produced, chains, first, last in rows
    ]


def _as_datetime(value) -> datetime:
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)
    parsed = parse_datetime(str(value))
    if parsed is None:  # pragma: no cover - the column is a timestamp
        raise ValueError(f"not a timestamp: {value!r}")
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)


def _observed_edges(
    cluster: Cluster, hops: list[_Hop], groups: _GroupTopics
) -> dict[Key, tuple[int, datetime, datetime]]:
    """Turn hops into edges. The producer names a service by its name or slug (case-insensitive); an
    unknown producer still gets a service node under the name traffic gives."""
    services = {}
    for name, slug in Service.objects.values_list("name", "slug"):
        services[name.lower()] = name
        services.setdefault(slug.lower(), name)
    edges: dict[Key, tuple[int, datetime, datetime]] = {}

    def add(key: Key, hop: _Hop) -> None:
        if key in edges:
            chains, first, last = edges[key]
            edges[key] = (chains + hop.chains, min(first, hop.first), max(last, hop.last))
        else:
            edges[key] = (hop.chains, hop.first, hop.last)

    for hop in hops:
        service_name = services.get(hop.producer.lower(), hop.producer)
        service = service_node_id_of(service_name)
        consumed = topic_node_id_of(cluster.name, hop.consumed_topic)
        add((service, topic_node_id_of(cluster.name, hop.produced_topic)), hop)
        group_ids = groups.groups_of_service_topic.get((service_name, hop.consumed_topic))
        if group_ids:
            for group_id in group_ids:
                group = group_node_id_of(cluster.name, group_id)
                add((consumed, group), hop)
                add((group, service), hop)
        else:
            add((consumed, service), hop)
    return edges
