"""Writes of the correlation index: a batch of records and the indexer's offsets in one transaction; retention.

Exactly once in the database: the rows of a batch and the next offset of each of its partitions
commit together, so a crash before the commit redoes the batch and a crash after it does not. Two
guards make this hold even when two indexer copies briefly read the same partition (while they
re-split partitions): inside the transaction the partition's offset row is locked and records below
its stored next offset are dropped, and the stored offset only ever moves forward. The unique
constraint on a record's coordinates (with ON CONFLICT DO NOTHING) is the last line of defence.

Rows are written as plain tuples rather than model instances (building a model object per record
costs more than the insert itself at tens of thousands of records per second): on SQLite as
multi-row INSERT ... ON CONFLICT DO NOTHING statements of a few thousand rows through sqlite3
itself, on PostgreSQL with binary COPY straight into the table (a staging table and INSERT ... SELECT
... ON CONFLICT DO NOTHING only when a row exists already). Timestamps go in as the text SQLite
stores, or as datetimes for COPY.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from catalog.models import Cluster
from eventscope.kafka import Record, TopicPartition
from monitoring.extraction import ExtractionRules, PayloadDecoder, SkipReason, extract_fields
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

INSERT_CHUNK = 1000  # rows per bulk_create statement (databases other than SQLite and PostgreSQL)
PURGE_CHUNK = 10_000  # rows per DELETE in retention
SQLITE_CACHE_KIB = 131072
SKIP_EXTRACTION_ERROR = SkipReason.INTERNAL_ERROR
SKIP_NO_CORRELATION_ID = SkipReason.NO_CORRELATION_ID
SKIP_ALREADY_INDEXED = "already indexed"  # a record below the partition's stored offset

# TraceEvent columns of a prepared row, in this order; the cluster and indexed_at are the same for
# a whole batch and bound once per statement (the id is the database's).
_ROW_COLUMNS = (
    "correlation_id",
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
)
_BATCH_COLUMNS = ("cluster_id", "indexed_at")
_COLUMNS = _BATCH_COLUMNS + _ROW_COLUMNS
_TOPIC, _PARTITION, _OFFSET = 1, 2, 3  # positions in a prepared row
# SQLite binds at most 32,766 parameters per statement (its default since 3.32).
SQLITE_ROWS_PER_STATEMENT = (32_766 - len(_BATCH_COLUMNS)) // len(_ROW_COLUMNS)


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
_EPOCH_NAIVE = dt.datetime(1970, 1, 1)  # UTC, naive as Django stores it on SQLite
_MAX_TIMESTAMP_S = 253_402_300_799  # 9999-12-31 23:59:59, the last second a datetime can hold


class _Timestamps:
    """Record timestamps (epoch ms) as the database takes them, cached per millisecond.

    SQLite gets what Django writes there (``str()`` of the naive UTC datetime), PostgreSQL an aware
    datetime for binary COPY. Records produced together share milliseconds, so most lookups hit.
    """

    def __init__(self, *, sqlite: bool, now: dt.datetime):
        self.sqlite = sqlite
        self._cache: dict[int, str | dt.datetime] = {}
        self.now = self.value(int(now.timestamp() * 1000))

    def value(self, ms: int | None) -> str | dt.datetime:
        if ms is None or ms < 0 or ms // 1000 > _MAX_TIMESTAMP_S:
            return self.now
        found = self._cache.get(ms)
        if found is None:
            if len(self._cache) > 100_000:
                self._cache.clear()
            moment = _EPOCH_NAIVE + dt.timedelta(milliseconds=ms)
            found = self._cache[ms] = str(moment) if self.sqlite else moment.replace(tzinfo=dt.UTC)
        return found


def _clean(value: str) -> str:
    # PostgreSQL text cannot hold NUL (SQLite can). Extraction's texts never hold one; keys can.
    return value.replace("\x00", "") if "\x00" in value else value


def _sqlite_insert(rows: Sequence[tuple], *, table: str, columns: str, batch_params: list) -> None:
    """Multi-row INSERTs of up to SQLITE_ROWS_PER_STATEMENT rows through sqlite3 itself.

    One statement per few thousand rows (not executemany's one step per row): sqlite3 releases the
    GIL for the whole step, so the indexer's consumer thread keeps working meanwhile, and the
    statement is cached per row count. Django's cursor wrapper would rewrite every %s of a large
    statement with a regex first; this is the same connection, so the same transaction.
    """
    raw = connection.connection
    # The index's B-trees outgrow SQLite's default 2 MB page cache quickly; 128 MB for this
    # connection keeps inserts from re-reading index pages (a no-op when already set).
    raw.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    one_row = "(" + ", ".join(["?"] * len(_ROW_COLUMNS)) + ")"
    selected = ", ".join(f"column{i}" for i in range(1, len(_ROW_COLUMNS) + 1))
    for start in range(0, len(rows), SQLITE_ROWS_PER_STATEMENT):
        chunk = rows[start : start + SQLITE_ROWS_PER_STATEMENT]
        # "WHERE true" keeps SQLite from reading ON CONFLICT as part of the SELECT's join.
        sql = (
            f"INSERT INTO {table} ({columns}) SELECT ?, ?, {selected} "  # noqa: S608 - names from the model
            f"FROM (VALUES {', '.join([one_row] * len(chunk))}) WHERE true ON CONFLICT DO NOTHING"
        )
        with connection.wrap_database_errors:  # sqlite3's errors as Django's, as the callers expect
            raw.execute(sql, [*batch_params, *itertools.chain.from_iterable(chunk)])


def _insert_rows(rows: Sequence[tuple], *, cluster_id: int, indexed_at: dt.datetime) -> None:
    if not rows:
        return
    if connection.vendor not in ("sqlite", "postgresql"):  # no ON CONFLICT DO NOTHING: the ORM's equivalent
        events = []
        for row in rows:
            values = dict(zip(_ROW_COLUMNS, row, strict=True))
            values["headers"] = json.loads(values["headers"])
            events.append(TraceEvent(cluster_id=cluster_id, indexed_at=indexed_at, **values))
        TraceEvent.objects.bulk_create(events, batch_size=INSERT_CHUNK, ignore_conflicts=True)
        return
    quote = connection.ops.quote_name
    table = quote(TraceEvent._meta.db_table)
    columns = ", ".join(
        quote(TraceEvent._meta.get_field("cluster" if c == "cluster_id" else c).column) for c in _COLUMNS
    )
    connection.ensure_connection()
    if connection.vendor == "sqlite":
        params = [cluster_id, connection.ops.adapt_datetimefield_value(indexed_at)]
        _sqlite_insert(rows, table=table, columns=columns, batch_params=params)
    else:
        _copy_rows(rows, table=table, columns=columns, cluster_id=cluster_id, indexed_at=indexed_at)


def _copy_rows(rows: Sequence[tuple], *, table: str, columns: str, cluster_id: int, indexed_at: dt.datetime) -> None:
    """PostgreSQL: binary COPY straight into the table; when a row is there already, through a staging table.

    Binary COPY: psycopg's C dumpers write the values as they are, with no text escaping, which
    halves the time the writer thread holds the GIL (the consumer thread needs it meanwhile).

    The offset fence has dropped every record below its partition's stored offset, and rows only
    ever commit together with their offsets, so a conflict means someone reset the offsets by hand:
    the COPY runs in a savepoint, and on a unique violation the batch goes the slow way, COPY into
    a session temp table and one INSERT ... SELECT ... ON CONFLICT DO NOTHING.
    """
    quote = connection.ops.quote_name
    row_columns = ", ".join(quote(TraceEvent._meta.get_field(c).column) for c in _ROW_COLUMNS)
    types = _pg_column_types(table)
    try:
        with (
            transaction.atomic(),
            connection.wrap_database_errors,  # psycopg's errors as Django's
            connection.cursor() as cursor,
        ):
            _headers_as_json_text(cursor.cursor)
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(types)
                write_row = copy.write_row
                for row in rows:
                    write_row((cluster_id, indexed_at, *row))
        return
    except IntegrityError:
        logger.info("trace index: rows of this batch exist already; inserting around them")
    stage = "eventscope_trace_stage_rows"
    with connection.wrap_database_errors, connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "  # noqa: S608 - fixed names
            f"SELECT {row_columns} FROM {table} WITH NO DATA"
        )
        _headers_as_json_text(cursor.cursor)
        with cursor.cursor.copy(f"COPY {stage} ({row_columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types[len(_BATCH_COLUMNS) :])
            write_row = copy.write_row
            for row in rows:
                write_row(row)
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT %s, %s, {row_columns} FROM {stage} ON CONFLICT DO NOTHING",  # noqa: S608
            [cluster_id, indexed_at],
        )
        cursor.execute(f"TRUNCATE {stage}")


def _json_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _headers_as_json_text(cursor) -> None:
    """The rows carry `headers` as JSON text already (_dump_headers). psycopg's jsonb dumper would encode that
    str once more, into a JSON *string*; on this cursor it passes JSON text through as the document."""
    from psycopg.types.json import set_json_dumps  # PostgreSQL only

    set_json_dumps(_json_text, cursor)


def _pg_column_types(table: str) -> list[int]:
    """The type OIDs of the trace table's _COLUMNS, read from the catalog (binary COPY must match them exactly)."""
    names = [TraceEvent._meta.get_field("cluster" if c == "cluster_id" else c).column for c in _COLUMNS]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %s::regclass AND attname = ANY(%s)",
            [table, names],
        )
        oids = dict(cursor.fetchall())
    return [int(oids[name]) for name in names]


@dataclass
class PreparedBatch:
    """A batch after extraction, before the transaction: its rows, what it skipped and why, its offsets."""

    cluster_id: int
    indexed_at: dt.datetime
    rows: list[tuple] = field(default_factory=list)  # in _ROW_COLUMNS order
    skipped: list[tuple[str, int, int, str]] = field(default_factory=list)  # (topic, partition, offset, reason)
    first_offsets: dict[TopicPartition, int] = field(default_factory=dict)
    next_offsets: dict[TopicPartition, int] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return len(self.rows) + len(self.skipped)


def batch_prepare(
    *,
    cluster: Cluster,
    records: Sequence[Record] | Sequence[tuple],
    rules: ExtractionRules,
    decoder: PayloadDecoder | None = None,
) -> PreparedBatch:
    """Extract every record (CPU work, no transaction, no query); a record the extractor cannot handle is skipped.

    `records` are Records, or the plain tuples of `EventConsumer.poll_raw` (the indexer's hot path).
    """
    now = timezone.now()
    sqlite = connection.vendor == "sqlite"
    timestamps = _Timestamps(sqlite=sqlite, now=now)
    timestamp_value = timestamps.value
    prepared = PreparedBatch(cluster.pk, now)
    rows, skipped = prepared.rows, prepared.skipped
    add_row, add_skip = rows.append, skipped.append
    first: dict[tuple[str, int], int] = {}
    after: dict[tuple[str, int], int] = {}
    dumps = _dump_headers
    run_topic, run_partition, run_first, run_after, tp = None, -1, 0, 0, None
    for record in records:
        if isinstance(record, Record):
            topic, partition, offset, key, value, headers = (
                record.topic,
                record.partition,
                record.offset,
                record.key,
                record.value,
                record.headers,
            )
            timestamp_type, timestamp_ms = int(record.timestamp_type), record.timestamp_ms
        else:
            topic, partition, offset, timestamp_type, timestamp_ms, key, value, headers = record
        if partition != run_partition or topic != run_topic:  # records come in runs per partition
            run_topic, run_partition = topic, partition
            tp = (topic, partition)
            run_first = first.setdefault(tp, offset)
            run_after = after.setdefault(tp, offset)
        if offset < run_first:
            run_first = first[tp] = offset
        if offset >= run_after:
            run_after = after[tp] = offset + 1
        try:
            (
                correlation_id,
                source,
                event_id,
                causation_id,
                event_type,
                producer,
                encoding,
                excerpt,
                is_dead_letter,
                error_reason,
                header_texts,
                skip_reason,
            ) = extract_fields(topic, key, value, headers, rules, decoder)
            if not correlation_id:
                add_skip((topic, partition, offset, skip_reason or SKIP_NO_CORRELATION_ID))
                continue
            key_text = key.decode("utf-8", "replace")[:255] if key else ""
            if not sqlite:
                key_text = _clean(key_text)
            add_row(
                (
                    correlation_id,
                    topic,
                    partition,
                    offset,
                    timestamp_value(timestamp_ms),
                    timestamp_type,
                    key_text,
                    event_id,
                    causation_id,
                    event_type,
                    producer,
                    source[:40],
                    (len(key) if key else 0) + (len(value) if value else 0),
                    excerpt,
                    encoding[:20],
                    is_dead_letter,
                    error_reason,
                    dumps(header_texts) if header_texts else "{}",
                )
            )
        except Exception:  # a bad record is counted, never a crash
            logger.debug("extraction failed on %s-%s@%s", topic, partition, offset, exc_info=True)
            add_skip((topic, partition, offset, SKIP_EXTRACTION_ERROR))
    prepared.first_offsets = {TopicPartition(*tp): offset for tp, offset in first.items()}
    prepared.next_offsets = {TopicPartition(*tp): offset for tp, offset in after.items()}
    return prepared


def _dump_headers(headers: dict[str, str]) -> str:
    # ASCII escapes keep the text valid for jsonb; extraction already replaced any NUL.
    return json.dumps(headers, ensure_ascii=True)


def batch_write(*, cluster: Cluster, prepared: PreparedBatch) -> BatchResult:
    """Insert a prepared batch's rows and move its partitions' offsets forward, in one transaction."""
    result = BatchResult()
    if not prepared.records:
        return result
    batch_next = prepared.next_offsets
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Losing the last moments of indexing in a server crash is harmless (rows and offsets
            # go together, and Kafka still has the records), so the commit need not wait for the
            # WAL flush. Exactly-once does not depend on it.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        locked = {
            TopicPartition(row.topic, row.partition): row
            for row in IndexerOffset.objects.select_for_update()
            .filter(cluster=cluster, topic__in={tp.topic for tp in batch_next})
            .only("id", "topic", "partition", "next_offset")
            if TopicPartition(row.topic, row.partition) in batch_next
        }
        fenced = {
            (tp.topic, tp.partition): row.next_offset
            for tp, row in locked.items()
            if row.next_offset > prepared.first_offsets[tp]
        }
        reasons = result.skip_reasons
        rows = prepared.rows
        if fenced:
            # Another copy (or an earlier run) already indexed the records below the stored offset.
            kept = [row for row in rows if row[_OFFSET] >= fenced.get((row[_TOPIC], row[_PARTITION]), -1)]
            reasons[SKIP_ALREADY_INDEXED] += len(rows) - len(kept)
            rows = kept
        for topic, partition, offset, reason in prepared.skipped:
            if fenced and offset < fenced.get((topic, partition), -1):
                reasons[SKIP_ALREADY_INDEXED] += 1
            else:
                reasons[reason] += 1
        _insert_rows(rows, cluster_id=prepared.cluster_id, indexed_at=prepared.indexed_at)
        result.indexed = len(rows)
        result.skipped = prepared.records - len(rows)
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
    records: Sequence[Record] | Sequence[tuple],
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

    Deletes go through the primary key in windows of PURGE_CHUNK ids, from the first to the last id
    of an old row, each window one statement in its own short transaction, so a large purge never
    holds a long lock against the indexer or slows lookups much, and no window re-reads what an
    earlier one deleted (rows arrive in roughly timestamp order, so old rows have low ids). This is
    the "equally cheap delete" instead of daily partitions on PostgreSQL; see the README and
    benchmarks/bench_trace_retention.py for what it costs.
    """
    queryset = TraceEvent.objects.filter(timestamp__lt=older_than)
    if cluster is not None:
        queryset = queryset.filter(cluster=cluster)
    bounds = queryset.aggregate(first=Min("id"), last=Max("id"))
    if bounds["first"] is None:
        return 0
    deleted = 0
    for start in range(bounds["first"], bounds["last"] + 1, PURGE_CHUNK):
        with transaction.atomic():
            if connection.vendor == "postgresql":
                # A window lost in a server crash is deleted again by the next run.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            # No signals or cascades on TraceEvent: Django deletes with this one statement.
            count, _ = queryset.filter(id__gte=start, id__lt=start + PURGE_CHUNK).delete()
        deleted += count
    return deleted


def retention_purge_all(*, now: dt.datetime | None = None) -> int:
    """Apply each cluster's retention_days (7 when it has no tracing settings); returns rows deleted."""
    now = now or timezone.now()
    days = dict(TracingSettings.objects.values_list("cluster_id", "retention_days"))
    deleted = 0
    for cluster in Cluster.objects.all():
        retention = days.get(cluster.pk, TracingSettings._meta.get_field("retention_days").default)
        deleted += retention_purge(cluster=cluster, older_than=now - dt.timedelta(days=retention))
    return deleted
