"""Writes of the correlation index: a batch of records and the indexer's offsets in one transaction; retention.

Exactly once in the database: the rows of a batch and the next offset of each of its partitions
commit together, so a crash before the commit redoes the batch and a crash after it does not. Two
guards make this hold even when two indexer copies briefly read the same partition (while they
re-split partitions): inside the transaction the partition's offset row is locked and records below
its stored next offset are dropped, and the stored offset only ever moves forward. The unique
constraint on a record's coordinates (with ON CONFLICT DO NOTHING) is the last line of defence.

Rows are written as plain tuples rather than model instances (building a model object per record
costs more than the insert itself at tens of thousands of records per second): on SQLite with
sqlite3's executemany and ON CONFLICT DO NOTHING, on PostgreSQL with COPY into a temp staging
table and one INSERT ... SELECT ... ON CONFLICT DO NOTHING (about 3x a multi-row INSERT there).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from catalog.models import Cluster
from eventscope.kafka import Record, TopicPartition
from monitoring.extraction import ExtractionRules, PayloadDecoder, SkipReason, extract
from monitoring.models import IndexerOffset, TraceEvent, TracingSettings

__all__ = [
    "BatchResult",
    "PreparedBatch",
    "batch_prepare",
    "batch_write",
    "index_batch",
    "indexer_offsets",
    "indexer_offsets_ensure",
    "retention_purge",
    "retention_purge_all",
    "rules_for_cluster",
]

logger = logging.getLogger(__name__)

INSERT_CHUNK = 1000  # rows per executemany call
PURGE_CHUNK = 5000
SQLITE_CACHE_KIB = 131072  # rows per DELETE in retention
SKIP_EXTRACTION_ERROR = SkipReason.INTERNAL_ERROR
SKIP_NO_CORRELATION_ID = SkipReason.NO_CORRELATION_ID
SKIP_ALREADY_INDEXED = "already indexed"  # a record below the partition's stored offset

# TraceEvent columns written by index_batch, in this order (the id is the database's).
_COLUMNS = (
    "correlation_id",
    "cluster_id",
    "topic",
    "partition",
    "offset",
    "timestamp",
    "timestamp_type",
    "key",
    "event_id",
    "causation_id",
    "event_type",
    "producer",
    "correlation_source",
    "size",
    "payload_excerpt",
    "payload_encoding",
    "is_dead_letter",
    "error_reason",
    "headers",
    "indexed_at",
)


@dataclass
class BatchResult:
    """What one batch did: rows written, records skipped by reason, and each partition's next offset."""

    indexed: int = 0
    skipped: int = 0
    skip_reasons: Counter = field(default_factory=Counter)
    next_offsets: dict[TopicPartition, int] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return self.indexed + self.skipped


def rules_for_cluster(cluster: Cluster) -> ExtractionRules:
    """The extraction rules of a cluster's tracing settings (defaults when it has none)."""
    tracing = TracingSettings.objects.filter(cluster=cluster).first()
    if tracing is None:
        return ExtractionRules.from_settings()
    return ExtractionRules.from_settings(
        correlation_headers=tuple(tracing.correlation_headers or ()),
        payload_paths=tracing.payload_paths or None,
        key_topics=tuple(tracing.key_topics or ()),
        dead_letter_patterns=tuple(tracing.dead_letter_patterns or ()),
        excerpt_bytes=tracing.excerpt_bytes,
    )


# ---------------------------------------------------------------------------------------------
# Offsets
# ---------------------------------------------------------------------------------------------
def indexer_offsets(*, cluster: Cluster, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
    """The stored next offset of each partition that has one."""
    wanted = set(partitions)
    topics = {tp.topic for tp in wanted}
    rows = IndexerOffset.objects.filter(cluster=cluster, topic__in=topics).values_list(
        "topic", "partition", "next_offset"
    )
    return {TopicPartition(t, p): o for t, p, o in rows if TopicPartition(t, p) in wanted}


def indexer_offsets_ensure(*, cluster: Cluster, start_offsets: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
    """Create the offset rows that do not exist yet (at the given start, e.g. the log start); return all."""
    existing = indexer_offsets(cluster=cluster, partitions=start_offsets)
    missing = [
        IndexerOffset(cluster=cluster, topic=tp.topic, partition=tp.partition, next_offset=max(offset, 0))
        for tp, offset in start_offsets.items()
        if tp not in existing
    ]
    if missing:
        IndexerOffset.objects.bulk_create(missing, ignore_conflicts=True)
        existing = indexer_offsets(cluster=cluster, partitions=start_offsets)
    return existing


# ---------------------------------------------------------------------------------------------
# Index a batch
# ---------------------------------------------------------------------------------------------
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _clean(value: str) -> str:
    # PostgreSQL text cannot hold NUL (SQLite can); only PostgreSQL pays for this.
    return value.replace("\x00", "")


class _RowBuilder:
    """Builds the INSERT parameters of one record; the per-vendor choices are made once per batch.

    Timestamps for SQLite are written as Django writes them (UTC, naive, ``str()``), which skips
    building an aware datetime and adapting it per row; PostgreSQL gets aware datetimes.
    """

    def __init__(self, cluster_id: int):
        self.cluster_id = cluster_id
        self.sqlite = connection.vendor == "sqlite"
        self.clean = (lambda value: value) if self.sqlite else _clean
        now = timezone.now()
        self.now = connection.ops.adapt_datetimefield_value(now)
        self.now_timestamp = self._timestamp_value(int(now.timestamp() * 1000))

    def _timestamp_value(self, ms: int):
        moment = _EPOCH + dt.timedelta(milliseconds=ms)
        return str(moment.replace(tzinfo=None)) if self.sqlite else moment

    def row(self, record: Record, extracted) -> tuple:
        clean = self.clean
        key = record.key.decode("utf-8", "replace")[:255] if record.key else ""
        ms = record.timestamp_ms
        headers = extracted.headers
        return (
            clean(extracted.correlation_id[:255]),
            self.cluster_id,
            record.topic,
            record.partition,
            record.offset,
            self.now_timestamp if ms is None or ms < 0 else self._timestamp_value(ms),
            int(record.timestamp_type),
            clean(key),
            clean((extracted.event_id or "")[:255]),
            clean((extracted.causation_id or "")[:255]),
            clean((extracted.event_type or "")[:200]),
            clean((extracted.producer or "")[:200]),
            (extracted.source or "")[:40],
            record.size,
            clean(extracted.payload_excerpt or ""),
            (extracted.payload_encoding or "")[:20],
            bool(extracted.is_dead_letter),
            clean((extracted.error_reason or "")[:500]),
            clean(json.dumps(headers, ensure_ascii=True)).replace("\\u0000", "") if headers else "{}",
            self.now,
        )


def _insert_rows(rows: Sequence[tuple]) -> None:
    if not rows:
        return
    if connection.vendor not in ("sqlite", "postgresql"):  # no ON CONFLICT DO NOTHING: the ORM's equivalent
        TraceEvent.objects.bulk_create(
            [TraceEvent(**dict(zip(_COLUMNS, row, strict=True))) for row in rows],
            batch_size=INSERT_CHUNK,
            ignore_conflicts=True,
        )
        return
    quote = connection.ops.quote_name
    table = quote(TraceEvent._meta.db_table)
    columns = ", ".join(
        quote(TraceEvent._meta.get_field("cluster" if c == "cluster_id" else c).column) for c in _COLUMNS
    )
    if connection.vendor == "sqlite":
        # sqlite3's own executemany with qmarks: Django's cursor wrapper would rewrite every %s of
        # a large statement with a regex first. Same connection, so the same transaction.
        sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['?'] * len(_COLUMNS))}) ON CONFLICT DO NOTHING"  # noqa: S608
        connection.ensure_connection()
        # The index's B-trees outgrow SQLite's default 2 MB page cache quickly; 128 MB for this
        # connection keeps inserts from re-reading index pages (a no-op when already set).
        connection.connection.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        connection.connection.executemany(sql, rows)
        return
    if connection.vendor == "postgresql":
        _copy_rows(rows, table=table, columns=columns)
        return
    one_row = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start : start + INSERT_CHUNK]
            sql = f"INSERT INTO {table} ({columns}) VALUES {', '.join([one_row] * len(chunk))} ON CONFLICT DO NOTHING"  # noqa: S608 - names from the model, values bound
            cursor.execute(sql, [value for row in chunk for value in row])


def _copy_rows(rows: Sequence[tuple], *, table: str, columns: str) -> None:
    """PostgreSQL: COPY into a session temp table, then one INSERT ... SELECT ... ON CONFLICT DO NOTHING.

    COPY alone cannot skip a conflicting row (it would abort the batch), hence the staging table;
    it empties itself at commit.
    """
    stage = "eventscope_trace_stage"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "  # noqa: S608 - fixed names
            f"SELECT {columns} FROM {table} WITH NO DATA"
        )
        with cursor.cursor.copy(f"COPY {stage} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage} ON CONFLICT DO NOTHING")  # noqa: S608
        cursor.execute(f"TRUNCATE {stage}")


@dataclass
class PreparedBatch:
    """A batch after extraction, before the transaction: rows to insert and what was skipped, per record."""

    cluster_id: int
    # (topic, partition, offset, row or None, skip reason or None), in record order
    entries: list[tuple[str, int, int, tuple | None, str | None]] = field(default_factory=list)
    first_offsets: dict[TopicPartition, int] = field(default_factory=dict)
    next_offsets: dict[TopicPartition, int] = field(default_factory=dict)


def batch_prepare(
    *, cluster: Cluster, records: Sequence[Record], rules: ExtractionRules, decoder: PayloadDecoder | None = None
) -> PreparedBatch:
    """Extract every record (CPU work, no transaction, no query); a record the extractor cannot handle is skipped."""
    builder = _RowBuilder(cluster.pk)
    prepared = PreparedBatch(cluster.pk)
    entries = prepared.entries
    first, after = prepared.first_offsets, prepared.next_offsets
    for record in records:
        try:
            extracted = extract(record, rules, decode_framed=decoder)
        except Exception:  # a bad record is counted, never a crash
            logger.debug("extraction failed on %s-%s@%s", record.topic, record.partition, record.offset, exc_info=True)
            entries.append((record.topic, record.partition, record.offset, None, SKIP_EXTRACTION_ERROR))
        else:
            if extracted.correlation_id:
                entries.append((record.topic, record.partition, record.offset, builder.row(record, extracted), None))
            else:
                reason = extracted.skip_reason or SKIP_NO_CORRELATION_ID
                entries.append((record.topic, record.partition, record.offset, None, reason))
        tp = TopicPartition(record.topic, record.partition)
        if tp not in first:
            first[tp] = record.offset
        if record.offset + 1 > after.get(tp, -1):
            after[tp] = record.offset + 1
        if record.offset < first[tp]:
            first[tp] = record.offset
    return prepared


def batch_write(*, cluster: Cluster, prepared: PreparedBatch) -> BatchResult:
    """Insert a prepared batch's rows and move its partitions' offsets forward, in one transaction."""
    result = BatchResult()
    if not prepared.entries:
        return result
    batch_next = prepared.next_offsets
    with transaction.atomic():
        locked = {
            TopicPartition(row.topic, row.partition): row
            for row in IndexerOffset.objects.select_for_update()
            .filter(cluster=cluster, topic__in={tp.topic for tp in batch_next})
            .only("id", "topic", "partition", "next_offset")
            if TopicPartition(row.topic, row.partition) in batch_next
        }
        stored = {tp: row.next_offset for tp, row in locked.items()}
        fenced = {tp: offset for tp, offset in stored.items() if offset > prepared.first_offsets[tp]}
        rows = []
        reasons = result.skip_reasons
        for topic, partition, offset, row, skip_reason in prepared.entries:
            if fenced and offset < fenced.get(TopicPartition(topic, partition), -1):
                # Another copy (or an earlier run) already indexed this record.
                reasons[SKIP_ALREADY_INDEXED] += 1
            elif row is None:
                reasons[skip_reason] += 1
            else:
                rows.append(row)
        _insert_rows(rows)
        result.indexed = len(rows)
        result.skipped = len(prepared.entries) - len(rows)
        for tp, next_offset in batch_next.items():
            row = locked.get(tp)
            if row is None:
                IndexerOffset.objects.create(
                    cluster=cluster, topic=tp.topic, partition=tp.partition, next_offset=next_offset
                )
                result.next_offsets[tp] = next_offset
            elif next_offset > row.next_offset:  # offsets only move forward
                IndexerOffset.objects.filter(pk=row.pk).update(next_offset=next_offset, updated_at=timezone.now())
                result.next_offsets[tp] = next_offset
            else:
                result.next_offsets[tp] = row.next_offset
    return result


def index_batch(
    *,
    cluster: Cluster,
    records: Sequence[Record],
    rules: ExtractionRules,
    decoder: PayloadDecoder | None = None,
) -> BatchResult:
    """Index the records that carry a correlation ID and move each partition's offset past the batch, atomically.

    Extraction happens before the transaction (it is CPU work and must not hold the lock); a record
    that the extractor cannot handle is counted as skipped, never raised.
    """
    prepared = batch_prepare(cluster=cluster, records=records, rules=rules, decoder=decoder)
    return batch_write(cluster=cluster, prepared=prepared)


# ---------------------------------------------------------------------------------------------
# Retention
# ---------------------------------------------------------------------------------------------
def retention_purge(*, cluster: Cluster | None = None, older_than: dt.datetime) -> int:
    """Delete index rows with a timestamp before `older_than` (of one cluster, or all); returns how many.

    Deletes go in chunks of primary keys found through the timestamp index, each chunk its own
    short transaction, so a large purge never holds a long lock against the indexer. (Daily
    partitions on PostgreSQL would make this a DROP TABLE; a chunked range delete is the portable
    equivalent and is cheap enough for the retention run once a day.)
    """
    queryset = TraceEvent.objects.filter(timestamp__lt=older_than)
    if cluster is not None:
        queryset = queryset.filter(cluster=cluster)
    deleted = 0
    while True:
        ids = list(queryset.order_by("timestamp").values_list("id", flat=True)[:PURGE_CHUNK])
        if not ids:
            return deleted
        with transaction.atomic():
            count, _ = TraceEvent.objects.filter(id__in=ids).delete()
        deleted += count


def retention_purge_all(*, now: dt.datetime | None = None) -> int:
    """Apply each cluster's retention_days (7 when it has no tracing settings); returns rows deleted."""
    now = now or timezone.now()
    days = dict(TracingSettings.objects.values_list("cluster_id", "retention_days"))
    deleted = 0
    for cluster in Cluster.objects.all():
        retention = days.get(cluster.pk, TracingSettings._meta.get_field("retention_days").default)
        deleted += retention_purge(cluster=cluster, older_than=now - dt.timedelta(days=retention))
    return deleted
