"""The trace indexer's loop: which partitions this copy reads, consuming in batches, its heartbeat and status.

Start offsets come from the database (IndexerOffset), never from Kafka's committed offsets, so the
rows and the offsets stay one unit. The gateway's EventConsumer has no rebalance callback to seek
on assignment with, so copies split partitions themselves (manual assignment): each copy keeps an
IndexerStatus row with a heartbeat; the live copies (heartbeat younger than LIVENESS_S), sorted by
instance name, take the sorted partitions round-robin. A copy re-checks membership at every
heartbeat and topics every `resolve_interval_s`; when either changes it re-assigns from the stored
offsets. While two copies disagree about membership for a moment both may read a partition; the
offset fence in `index_batch` keeps the index exactly-once anyway. A fixed split (`copy=(i, n)`)
skips membership altogether.

The consumer still joins nothing: its group id `eventscope-indexer-<cluster>` only names it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fnmatch
import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.db import DEFAULT_DB_ALIAS, DatabaseError, close_old_connections, connections
from django.utils import timezone

from catalog.models import Cluster
from eventscope.kafka import (
    EventConsumer,
    KafkaAdmin,
    KafkaGatewayError,
    OffsetKind,
    PartitionOffset,
    TopicPartition,
)
from monitoring.decoding import registry_decoder
from monitoring.indexing import (
    BatchResult,
    PreparedBatch,
    batch_prepare,
    batch_write,
    indexer_offsets,
    indexer_offsets_ensure,
    rules_for_cluster,
)
from monitoring.models import IndexerStatus, TracingSettings

__all__ = ["IndexerProgress", "TraceIndexer", "consumer_group_name", "topics_to_index"]

logger = logging.getLogger(__name__)

LIVENESS_S = 30.0  # a copy whose heartbeat is older is considered gone
STALE_STATUS = dt.timedelta(days=1)  # status rows of copies gone this long are removed
MAX_BACKOFF_S = 30.0


def _use_connection(shared) -> None:
    """Writer thread initializer: use the indexer thread's database connection."""
    connections[DEFAULT_DB_ALIAS] = shared


def consumer_group_name(cluster: Cluster) -> str:
    return f"eventscope-indexer-{cluster.name}"


def topics_to_index(topic_names: list[str], *, include: list[str], exclude: list[str]) -> list[str]:
    """Non-internal topics matching an include pattern (all when none) and no exclude pattern."""
    chosen = []
    for name in topic_names:
        if name.startswith("__"):
            continue
        if include and not any(fnmatch.fnmatchcase(name, p) for p in include):
            continue
        if any(fnmatch.fnmatchcase(name, p) for p in exclude):
            continue
        chosen.append(name)
    return sorted(chosen)


@dataclass
class IndexerProgress:
    """Totals since start and the current rates, for progress lines and the status row."""

    records_indexed: int = 0
    records_skipped: int = 0
    skip_reasons: Counter = field(default_factory=Counter)
    events_per_s: float = 0.0
    lag_records: int | None = None
    assigned: tuple[TopicPartition, ...] = ()
    last_error: str = ""

    def describe(self) -> str:
        lag = "?" if self.lag_records is None else str(self.lag_records)
        line = (
            f"{self.events_per_s:,.0f} events/s, indexed {self.records_indexed}, skipped {self.records_skipped}, "
            f"lag {lag}, {len(self.assigned)} partitions"
        )
        if self.last_error:
            line += f" | last error: {self.last_error}"
        return line


class TraceIndexer:
    """One indexer copy on one cluster. `step()` indexes one batch; `run_until_caught_up()` and `run()` loop."""

    def __init__(
        self,
        cluster: Cluster,
        *,
        batch_size: int = 20_000,
        batch_wait_s: float = 0.2,
        resolve_interval_s: float = 30.0,
        heartbeat_interval_s: float = 2.0,
        include: list[str] | None = None,
        exclude: list[str] | None = None,
        copy: tuple[int, int] | None = None,
        instance: str | None = None,
    ):
        self.cluster = cluster
        self.batch_size = batch_size
        self.batch_wait_s = batch_wait_s
        self.resolve_interval_s = resolve_interval_s
        self.heartbeat_interval_s = heartbeat_interval_s
        self._include_override = include
        self._exclude_override = exclude
        self.copy = copy
        self.instance = instance or f"{socket.gethostname()}:{os.getpid()}"
        self.progress = IndexerProgress()
        self.rules = rules_for_cluster(cluster)
        self.decoder = registry_decoder(cluster.pk)
        self._connection = cluster.connection()
        self._admin: KafkaAdmin | None = None
        self._consumer: EventConsumer | None = None
        self._topics: list[str] = []
        self._topics_resolved_at = -1e9
        self._heartbeat_at = -1e9
        self._needs_assign = True
        self._started_at = timezone.now()
        self._rate_window: list[tuple[float, int]] = []
        self._backoff_s = 0.0
        self._last_error_at: dt.datetime | None = None
        self._solo = False  # catching up (--once) reads every partition, whatever other copies do
        self._copies: list[str] | None = None
        self._partitions_by_topic: dict[str, int] = {}
        self._prepared: PreparedBatch | None = None  # polled and extracted, to be written by the next step
        self._writer: ThreadPoolExecutor | None = None
        self._shared_connection = None

    # -----------------------------------------------------------------------------------------
    # Lifecycle
    # -----------------------------------------------------------------------------------------
    def close(self, *, deregister: bool = True) -> None:
        self._prepared = None  # polled, not written: the next run reads it again from the stored offsets
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
            self._shared_connection.dec_thread_sharing()
            self._shared_connection = None
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
        if deregister:
            try:
                IndexerStatus.objects.filter(cluster=self.cluster, instance=self.instance).delete()
            except DatabaseError:
                logger.warning("could not remove the status row of %s", self.instance)

    def __enter__(self) -> TraceIndexer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def admin(self) -> KafkaAdmin:
        if self._admin is None:
            self._admin = KafkaAdmin(self._connection)
        return self._admin

    @property
    def consumer(self) -> EventConsumer:
        if self._consumer is None:
            self._consumer = EventConsumer(
                self._connection,
                group_id=consumer_group_name(self.cluster),
                auto_offset_reset="earliest",
                config={"fetch.min.bytes": 1, "queued.max.messages.kbytes": 262144},
            )
        return self._consumer

    # -----------------------------------------------------------------------------------------
    # Topics, membership and assignment
    # -----------------------------------------------------------------------------------------
    def _patterns(self) -> tuple[list[str], list[str]]:
        tracing = TracingSettings.objects.filter(cluster=self.cluster).first()
        include = list(tracing.include_patterns or []) if tracing else []
        exclude = list(tracing.exclude_patterns or []) if tracing else []
        if self._include_override is not None:
            include = self._include_override
        if self._exclude_override is not None:
            exclude = self._exclude_override
        return include, exclude

    def _resolve_topics(self) -> list[str]:
        include, exclude = self._patterns()
        metadata = self.admin.cluster_metadata()
        self._partitions_by_topic = {t.name: len(t.partitions) for t in metadata.topics}
        return topics_to_index([t.name for t in metadata.topics if not t.internal], include=include, exclude=exclude)

    def _live_copies(self) -> list[str]:
        if self._solo:
            return [self.instance]
        since = timezone.now() - dt.timedelta(seconds=LIVENESS_S)
        live = set(
            IndexerStatus.objects.filter(cluster=self.cluster, heartbeat_at__gte=since).values_list(
                "instance", flat=True
            )
        )
        live.add(self.instance)
        return sorted(live)

    def _my_partitions(self, copies: list[str]) -> tuple[TopicPartition, ...]:
        partitions = sorted(
            TopicPartition(topic, p) for topic in self._topics for p in range(self._partitions_by_topic.get(topic, 0))
        )
        if self.copy is not None:
            index, count = self.copy
        else:
            index, count = copies.index(self.instance), len(copies)
        return tuple(tp for i, tp in enumerate(partitions) if i % count == index)

    def _assign(self) -> None:
        copies = self._live_copies() if self.copy is None else []
        self._copies = copies
        wanted = self._my_partitions(copies)
        if wanted:
            log_start = self.admin.list_offsets(wanted, OffsetKind.EARLIEST)
            offsets = indexer_offsets_ensure(cluster=self.cluster, start_offsets=log_start)
            self.consumer.assign([PartitionOffset(tp.topic, tp.partition, offsets[tp]) for tp in wanted])
        else:
            self.consumer.assign([])
        if wanted != self.progress.assigned:
            logger.info("indexer %s reads %d partitions (%d copies)", self.instance, len(wanted), len(copies) or 1)
        self.progress.assigned = wanted
        self._needs_assign = False

    def _maintain(self, *, force: bool = False) -> None:
        """Re-resolve topics and membership when due; heartbeat; re-assign when anything changed."""
        now = time.monotonic()
        if force or now - self._topics_resolved_at >= self.resolve_interval_s:
            topics = self._resolve_topics()
            if topics != self._topics or force:
                self._topics = topics
                self._needs_assign = True
            self._topics_resolved_at = now
        if force or now - self._heartbeat_at >= self.heartbeat_interval_s:
            self._heartbeat()
            if self.copy is None and self._live_copies() != self._copies:
                self._needs_assign = True
        if self._needs_assign:
            self._assign()

    # -----------------------------------------------------------------------------------------
    # Status
    # -----------------------------------------------------------------------------------------
    def lag(self) -> int | None:
        """Log-end minus the stored next offset, summed over this copy's partitions."""
        if not self.progress.assigned:
            return 0
        ends = self.admin.list_offsets(self.progress.assigned, OffsetKind.LATEST)
        stored = indexer_offsets(cluster=self.cluster, partitions=self.progress.assigned)
        return sum(max(0, end - stored.get(tp, 0)) for tp, end in ends.items())

    def _heartbeat(self) -> None:
        try:
            self.progress.lag_records = self.lag()
        except KafkaGatewayError as exc:
            self._record_error(exc)
        now = timezone.now()
        IndexerStatus.objects.filter(cluster=self.cluster, heartbeat_at__lt=now - STALE_STATUS).delete()
        IndexerStatus.objects.update_or_create(
            cluster=self.cluster,
            instance=self.instance,
            defaults={
                "started_at": self._started_at,
                "heartbeat_at": now,
                "records_indexed": self.progress.records_indexed,
                "records_skipped": self.progress.records_skipped,
                "events_per_s": self.progress.events_per_s,
                "lag_records": self.progress.lag_records,
                "assigned_partitions": [f"{tp.topic}:{tp.partition}" for tp in self.progress.assigned],
                "skip_reasons": dict(self.progress.skip_reasons),
                "last_error": self.progress.last_error,
                "last_error_at": self._last_error_at if self.progress.last_error else None,
            },
        )
        self._heartbeat_at = time.monotonic()

    def _record_error(self, exc: BaseException) -> None:
        self.progress.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        self._last_error_at = timezone.now()
        logger.warning("indexer %s: %s", self.instance, self.progress.last_error)

    def _count(self, result: BatchResult) -> None:
        self.progress.records_indexed += result.indexed
        self.progress.records_skipped += result.skipped
        self.progress.skip_reasons.update(result.skip_reasons)
        now = time.monotonic()
        self._rate_window.append((now, result.records))
        while self._rate_window and now - self._rate_window[0][0] > 5.0:
            self._rate_window.pop(0)
        span = now - self._rate_window[0][0] if len(self._rate_window) > 1 else 0
        total = sum(n for _, n in self._rate_window[1:])
        self.progress.events_per_s = total / span if span > 0 else 0.0

    # -----------------------------------------------------------------------------------------
    # Loops
    # -----------------------------------------------------------------------------------------
    def _poll_prepared(self) -> PreparedBatch:
        records = self.consumer.poll_raw(max_records=self.batch_size, timeout_s=self.batch_wait_s)
        return batch_prepare(cluster=self.cluster, records=records, rules=self.rules, decoder=self.decoder)

    def _writer_pool(self) -> ThreadPoolExecutor:
        if self._writer is None:
            # The writer thread uses this thread's database connection (Django's are per thread):
            # the two never use it at once, as step() waits for each write before touching the
            # database again, and the tests' transaction stays visible to both.
            shared = connections[DEFAULT_DB_ALIAS]
            shared.inc_thread_sharing()
            self._shared_connection = shared
            self._writer = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="trace-writer", initializer=_use_connection, initargs=(shared,)
            )
        return self._writer

    def step(self) -> BatchResult:
        """Write one batch while polling and extracting the next. Raises KafkaGatewayError or DatabaseError.

        Pipelined: the batch polled in the previous step is written (one transaction, in a writer
        thread) while this thread consumes and extracts the next one; sqlite3 and psycopg release
        the GIL while the database works. At most one write is in flight and each step waits for
        it, so batches commit in order, and a batch is never written after a failed one: a failure
        drops the batch polled meanwhile and the next step re-reads from the stored offsets. A
        batch polled but not yet written when the indexer stops is simply read again next time.
        """
        self._maintain()  # no write is in flight here: the database is this thread's
        prepared = self._prepared if self._prepared is not None else self._poll_prepared()
        self._prepared = None
        if not prepared.records:
            self._prepared = self._poll_prepared()
            result = BatchResult()
            self._count(result)
            return result
        write = self._writer_pool().submit(batch_write, cluster=self.cluster, prepared=prepared)
        try:
            upcoming = self._poll_prepared()
        except BaseException:
            self._needs_assign = True
            error = write.exception()  # wait: the database is free again only after the write
            if error is None:
                self._count(write.result())
            else:
                logger.warning("indexer %s: write failed while polling failed too: %s", self.instance, error)
            raise
        try:
            result = write.result()
        except BaseException:
            # The transaction rolled back: the consumer's position is past records that were not
            # written, so the next step starts again from the stored offsets.
            self._needs_assign = True
            raise
        self._prepared = upcoming
        self._count(result)
        return result

    def step_safely(self) -> BatchResult | None:
        """step(), but a Kafka or database failure is recorded and backed off instead of raised."""
        try:
            result = self.step()
        except (KafkaGatewayError, DatabaseError) as exc:
            self._record_error(exc)
            self._needs_assign = True
            self._topics_resolved_at = -1e9  # a topic may have gone: resolve again before re-assigning
            close_old_connections()
            self._backoff_s = min(MAX_BACKOFF_S, max(0.5, self._backoff_s * 2))
            time.sleep(self._backoff_s)
            with contextlib.suppress(KafkaGatewayError, DatabaseError):
                self._heartbeat()
            return None
        self._backoff_s = 0.0
        return result

    def run_until_caught_up(
        self,
        *,
        idle_s: float = 3.0,
        max_s: float | None = None,
        unreachable_s: float = 60.0,
        first_records_s: float = 30.0,
    ) -> IndexerProgress:
        """Index until every partition's stored offset reaches the log end seen at start (or until idle).

        Idle: no record for `idle_s` (the end of a log can be a transaction marker no consumer ever
        receives); before the first record, `first_records_s`, as a busy broker can take seconds to
        answer a new consumer's first fetch.

        A catch-up reads every partition (or its fixed `copy` share), also those of other live copies:
        a copy killed a moment ago still looks alive, and the offset fence keeps overlap harmless.
        """
        self._solo = self.copy is None
        deadline = None if max_s is None else time.monotonic() + max_s
        target: dict[TopicPartition, int] | None = None
        idle_since = time.monotonic()
        idle_limit = max(idle_s, first_records_s)
        while deadline is None or time.monotonic() < deadline:
            if target is None:
                try:
                    self._maintain(force=True)
                    target = self.admin.list_offsets(self.progress.assigned, OffsetKind.LATEST)
                except (KafkaGatewayError, DatabaseError) as exc:
                    self._record_error(exc)
                    with contextlib.suppress(KafkaGatewayError, DatabaseError):
                        self._heartbeat()  # the status page shows the error meanwhile
                    if time.monotonic() - idle_since > unreachable_s:
                        return self.progress  # the caller sees last_error and nothing assigned
                    time.sleep(1.0)
                    continue
            stored = indexer_offsets(cluster=self.cluster, partitions=target)
            if all(stored.get(tp, 0) >= end for tp, end in target.items()):
                break
            result = self.step_safely()
            if result is not None and result.records:
                idle_since = time.monotonic()
                idle_limit = idle_s
            elif time.monotonic() - idle_since > idle_limit:
                break
        self._heartbeat()
        return self.progress

    def run(
        self,
        *,
        should_stop: Callable[[], bool],
        on_progress: Callable[[IndexerProgress], None] | None = None,
        progress_interval_s: float = 5.0,
    ) -> IndexerProgress:
        """Index until should_stop() says so; a stop lands between batches (a batch's transaction completes)."""
        last_progress = time.monotonic()
        while not should_stop():
            self.step_safely()
            if on_progress is not None and time.monotonic() - last_progress >= progress_interval_s:
                on_progress(self.progress)
                last_progress = time.monotonic()
        return self.progress
