"""Consumer lag writes: one poll cycle of a cluster, the per-cluster beat schedules, and retention with rollups.

Rules of this module:
- no Kafka I/O inside a database transaction: the cluster is read first (groups, committed offsets,
  log-end offsets, a bounded number of record timestamps), the pure cores (monitoring.lag_evaluation,
  monitoring.timelag) compute, then ONE write transaction stores samples and states with bulk statements;
- cycles of one cluster never overlap: a Redis lock (SET NX with an expiry) is taken before anything
  else, and a cycle that finds it held is recorded as "skipped" instead of waiting; a cycle that sat in
  the queue past its beat interval expires there (recorded as "skipped" too), so a slow cluster cannot
  pile up work;
- the groups evaluated are the catalog's (discovery creates and marks deleted): present in the catalog
  AND listed by the cluster now. Groups without members keep their lag (their committed offsets stay);
  a deleted group (or one whose topic is gone) stops being evaluated and loses its latest state, so
  nothing alerts on it; its history stays until retention;
- an unreachable cluster fails the cycle with the gateway's message (secrets redacted), marks the
  cluster's states stale and raises nothing; the next cycle recovers by itself.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import redis
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Avg, Max, Q
from django.db.models.functions import TruncHour, TruncMinute
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from catalog.models import Cluster, ConsumerGroup, Topic
from catalog.services.discovery import cluster_metadata_settled, live_unlisted_groups, redact
from eventscope.kafka import (
    KafkaAdmin,
    KafkaGatewayError,
    OffsetKind,
    PartitionOffset,
    TopicPartition,
    UnknownGroupError,
    UnknownTopicError,
)
from eventscope.schedules import periodic_task_sync, periodic_tasks_delete
from eventscope.secrets import SecretDecryptionError

from .lag_evaluation import EvaluationConfig, PartitionSample, lag_of, partition_status, worst_status
from .models import (
    GroupLagSample,
    GroupLagState,
    LagPollRun,
    OffsetTimePoint,
    PartitionLagSample,
    Resolution,
    TopicThroughput,
    TopicThroughputSample,
)
from .timelag import (
    TimeLag,
    TimeLagKind,
    rate_per_second,
    sum_rates,
    table_observe,
    time_lag_exact,
    time_lag_from_table,
    time_lag_refine,
    time_to_clear,
)

__all__ = [
    "POLL_TASK",
    "RETENTION_TASK",
    "lag_poll",
    "lag_poll_record_expired",
    "lag_retention",
    "lag_schedule_delete",
    "lag_schedule_sync",
    "lag_schedules_reconcile",
]

logger = logging.getLogger(__name__)

POLL_TASK = "monitoring.poll_lag"
RETENTION_TASK = "monitoring.lag_retention"
LOCK_KEY = "eventscope:lag-poll:{cluster_id}"
# A cycle is cut off (the task's soft time limit) before its lock expires, so an expired lock always
# belongs to a dead worker; the minimum covers a cycle whose every Kafka call hits the gateway's timeout.
MIN_LOCK_TTL_S = 90
REDIS_TIMEOUT_S = 3

# Reads: groups per offsets batch and partitions per list-offsets request, a few batches at a time.
GROUP_OFFSETS_BATCH = 250
LIST_OFFSETS_BATCH = 500
READ_CONCURRENCY = 4
# Writes: rows per INSERT, ids per DELETE ... WHERE id IN (...), under SQLite's bound-parameter limit.
WRITE_BATCH = 500
ID_BATCH = 500

# Consume and produce rates of a group are measured over its last few samples (about a minute at the
# default interval): smooth enough to ignore one batchy commit, recent enough that a stopped consumer
# shows a consume rate of 0 within a minute.
RATE_SAMPLES = 4

ProgressCallback = Callable[[str], None]
T = TypeVar("T")


def lock_ttl_s() -> int:
    return max(MIN_LOCK_TTL_S, int(4 * settings.EVENTSCOPE_LAG_POLL_INTERVAL_S))


def evaluation_config() -> EvaluationConfig:
    return EvaluationConfig(window=settings.EVENTSCOPE_LAG_WINDOW, min_samples=settings.EVENTSCOPE_LAG_MIN_SAMPLES)


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ---------------------------------------------------------------------------------------------
# One cycle, under the cluster's lock
# ---------------------------------------------------------------------------------------------
class _Lock:
    """A Redis lock with a token: released only by its holder (an expired lock is not ours to delete).

    The token is the Celery task id when a task polls, else random. A task whose worker process was killed
    mid-cycle (SIGKILL, the OOM killer) is given back by the broker (acks_late, reject_on_worker_lost) under
    the same id: that delivery finds the lock held with its own token and takes it over, so the cycle is
    redone at once instead of being skipped until the lock expires. No other cycle can hold that token.
    """

    _RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
    _TAKE_OVER = (
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) else return 0 end"
    )

    def __init__(self, cluster_id: int, token: str | None = None):
        self.key = LOCK_KEY.format(cluster_id=cluster_id)
        self.token = token or uuid.uuid4().hex
        self.taken_over = False
        self.client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
        )

    def acquire(self) -> bool:
        if self.client.set(self.key, self.token, nx=True, ex=lock_ttl_s()):
            return True
        self.taken_over = bool(self.client.eval(self._TAKE_OVER, 1, self.key, self.token, lock_ttl_s()))
        return self.taken_over

    def release(self) -> None:
        try:
            self.client.eval(self._RELEASE, 1, self.key, self.token)
        except redis.RedisError as exc:
            logger.warning("could not release the lag poll lock %s (it expires by itself): %s", self.key, exc)


def lag_poll(
    *, cluster_id: int, trigger: str = "schedule", progress: ProgressCallback | None = None, task_id: str | None = None
) -> LagPollRun:
    """Poll one cluster's consumer lag now, in this process; returns the run (ok, failed or skipped).

    `task_id`: the Celery task's id, so that a redelivery of a task whose worker died mid-cycle redoes it.

    Raises Cluster.DoesNotExist for an unknown id. An unreachable cluster (or Redis) is the run's status
    and error, not an exception; anything else (a bug, the database) marks the run failed and is raised.
    """
    say = progress or (lambda message: None)
    cluster = Cluster.objects.get(pk=cluster_id)
    lock = _Lock(cluster.pk, token=task_id)
    try:
        acquired = lock.acquire()
    except redis.RedisError as exc:
        run = _run_create(cluster)
        return _run_fail(run, f"the poll lock in Redis is unavailable: {exc}", time.monotonic(), say, mark_stale=False)
    if not acquired:
        run = LagPollRun.objects.create(
            cluster=cluster,
            started_at=timezone.now(),
            finished_at=timezone.now(),
            duration_ms=0,
            status=LagPollRun.Status.SKIPPED,
            error="The previous cycle of this cluster is still running.",
        )
        logger.info("lag poll of cluster %s skipped: the previous cycle is still running", cluster.name)
        say(f"cluster {cluster.name}: skipped (the previous cycle is still running)")
        return run
    if lock.taken_over:
        logger.warning(
            "lag poll of cluster %s: redelivered after its worker died mid-cycle; polling again", cluster.name
        )
        say(f"cluster {cluster.name}: the previous delivery of this cycle died mid-cycle; polling again")
    try:
        return _cycle(cluster, trigger, say, redelivered=lock.taken_over)
    finally:
        lock.release()


def lag_poll_record_expired(*, cluster_id: int) -> None:
    """Record a cycle that expired in the task queue (the worker was busy or down) as skipped."""
    now = timezone.now()
    if Cluster.objects.filter(pk=cluster_id).exists():
        LagPollRun.objects.create(
            cluster_id=cluster_id,
            started_at=now,
            finished_at=now,
            duration_ms=0,
            status=LagPollRun.Status.SKIPPED,
            error="Expired in the task queue: the next cycle was due before a worker took it.",
        )


def _run_create(cluster: Cluster, *, redelivered: bool = False) -> LagPollRun:
    now = timezone.now()
    # A RUNNING row older than the lock belongs to a worker that died mid-cycle: close it. A redelivered
    # task holds the lock its dead delivery took, so every RUNNING row of the cluster is that delivery's.
    running = LagPollRun.objects.filter(cluster=cluster, status=LagPollRun.Status.RUNNING)
    if not redelivered:
        running = running.filter(started_at__lt=now - timedelta(seconds=lock_ttl_s()))
    running.update(status=LagPollRun.Status.FAILED, finished_at=now, error="Abandoned: the worker running it stopped.")
    return LagPollRun.objects.create(cluster=cluster, started_at=now)


def _run_fail(
    run: LagPollRun, message: str, started: float, say: ProgressCallback, *, mark_stale: bool = True
) -> LagPollRun:
    run.status = LagPollRun.Status.FAILED
    run.error = message
    run.finished_at = timezone.now()
    run.duration_ms = int((time.monotonic() - started) * 1000)
    try:
        with transaction.atomic():
            run.save(update_fields=["status", "error", "finished_at", "duration_ms"])
            if mark_stale:
                GroupLagState.objects.filter(group__cluster_id=run.cluster_id).update(stale=True)
    except DatabaseError:
        logger.exception("could not record the failure of lag poll run %s", run.pk)
    logger.warning("lag poll of cluster %s failed after %d ms: %s", run.cluster.name, run.duration_ms, message)
    say(f"cluster {run.cluster.name}: FAILED after {run.duration_ms} ms: {message}")
    return run


def _cycle(cluster: Cluster, trigger: str, say: ProgressCallback, *, redelivered: bool = False) -> LagPollRun:
    run = _run_create(cluster, redelivered=redelivered)
    started = time.monotonic()
    secrets: list[str] = []
    say(f"cluster {cluster.name} ({cluster.bootstrap_servers}): lag poll run {run.pk} ({trigger})")
    try:
        try:
            kafka_connection = cluster.connection()
            if kafka_connection.sasl_password:
                secrets.append(kafka_connection.sasl_password)
            catalog = _catalog_view(cluster)
            reading = _read_cluster(KafkaAdmin(kafka_connection), catalog, say)
        except SecretDecryptionError:
            return _run_fail(
                run,
                "The stored SASL password or TLS client key cannot be decrypted with the configured keys: "
                "enter it again.",
                started,
                say,
            )
        except KafkaGatewayError as exc:
            return _run_fail(run, redact(exc.message, secrets), started, say)
        return _write(cluster, run, catalog, reading, started, say)
    except BaseException as exc:
        _run_fail(run, redact(f"internal error: {type(exc).__name__}: {exc}", secrets), started, say)
        raise


# ---------------------------------------------------------------------------------------------
# Reading the cluster (Kafka I/O only)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _CatalogView:
    """The catalog rows of a cluster that a cycle needs: present groups and topics by name."""

    groups: dict[str, int]
    topics: dict[str, int]


@dataclass(slots=True)
class _Reading:
    group_states: dict[str, str]  # group id -> state (STABLE, EMPTY, ...), for the evaluated groups
    committed: dict[str, tuple[PartitionOffset, ...]]
    log_end: dict[TopicPartition, int]
    at: float  # unix time of the log-end offsets
    groups_not_in_catalog: int = 0
    # -> {(partition, committed offset): (record timestamp (ms) or None, log-start offset or None)}
    exact: Future | None = None

    @property
    def record_timestamps(self) -> dict[tuple[TopicPartition, int], tuple[int | None, int | None]]:
        return self.exact.result() if self.exact is not None else {}


def _catalog_view(cluster: Cluster) -> _CatalogView:
    return _CatalogView(
        groups=dict(ConsumerGroup.objects.present().filter(cluster=cluster).values_list("group_id", "id")),
        topics=dict(Topic.objects.present().filter(cluster=cluster, internal=False).values_list("name", "id")),
    )


def _read_batched(
    keys: Sequence[Any], read: Callable[[list[Any]], Mapping[Any, T]], batch: int, vanished: type[KafkaGatewayError]
) -> dict[Any, T]:
    """Read keys in batches, READ_CONCURRENCY at a time; a batch failing because one key vanished since the
    listing (deleted group or topic) is halved until the vanished keys are found and left out."""

    def read_part(part: list[Any]) -> dict[Any, T]:
        try:
            return dict(read(part))
        except vanished:
            if len(part) == 1:
                return {}
            middle = len(part) // 2
            return read_part(part[:middle]) | read_part(part[middle:])

    chunks = [list(chunk) for chunk in _chunks(keys, batch)]
    if len(chunks) <= 1:
        results = [read_part(chunk) for chunk in chunks]
    else:
        with ThreadPoolExecutor(max_workers=min(READ_CONCURRENCY, len(chunks))) as pool:
            results = list(pool.map(read_part, chunks))
    found: dict[Any, T] = {}
    for part in results:
        found.update(part)
    return found


def _read_cluster(admin: KafkaAdmin, catalog: _CatalogView, say: ProgressCallback) -> _Reading:
    listings = admin.list_consumer_groups()
    states = {g.group_id: g.state for g in listings if g.state != "DEAD" and g.group_id in catalog.groups}
    # A listing right after a broker restart can leave out live groups: they keep being evaluated.
    unlisted = set(catalog.groups) - {g.group_id for g in listings}
    if unlisted:
        states.update((group_id, d.state) for group_id, d in live_unlisted_groups(admin, unlisted).items())
    not_in_catalog = sum(1 for g in listings if g.group_id not in catalog.groups)
    # Committed offsets first, log ends after: a commit between the two reads then shows as less lag,
    # never as a committed offset past the log end (the order Kafka's own consumer-groups tool uses).
    committed = _read_batched(sorted(states), admin.consumer_group_offsets, GROUP_OFFSETS_BATCH, UnknownGroupError)
    say(
        f"groups: {len(listings)} listed, {len(states)} in the catalog"
        + (f" ({not_in_catalog} not discovered yet)" if not_in_catalog else "")
        + f", committed offsets of {len(committed)} read"
    )
    metadata = cluster_metadata_settled(admin)
    partitions = [
        TopicPartition(topic.name, p.partition)
        for topic in metadata.topics
        if topic.name in catalog.topics
        for p in topic.partitions
    ]
    log_end = _read_batched(partitions, lambda part: admin.list_offsets(part), LIST_OFFSETS_BATCH, UnknownTopicError)
    at = time.time()
    say(f"log-end offsets of {len(log_end)} partitions in {len({tp.topic for tp in log_end})} topics")
    reading = _Reading(
        group_states=states, committed=committed, log_end=log_end, at=at, groups_not_in_catalog=not_in_catalog
    )
    # Exact timestamps need a consumer and a fetch: read them in the background while the cycle reads its
    # tables from the database; the group loop waits for them (bounded by their own timeout).
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lag-exact")
    reading.exact = pool.submit(_exact_timestamps, admin, reading, say)
    pool.shutdown(wait=False)
    return reading


def _exact_timestamps(
    admin: KafkaAdmin, reading: _Reading, say: ProgressCallback
) -> dict[tuple[TopicPartition, int], tuple[int | None, int | None]]:
    """Timestamps of the records at the committed offsets of the most lagging partitions (bounded per cycle),
    with each partition's log-start offset read just after: a committed offset below it was deleted by
    retention, and the oldest kept record that stood in for it gives only a lower bound."""
    limit = settings.EVENTSCOPE_LAG_EXACT_PARTITIONS
    if limit <= 0:
        return {}
    lagging: dict[tuple[TopicPartition, int], int] = {}
    for offsets in reading.committed.values():
        for o in offsets:
            tp = TopicPartition(o.topic, o.partition)
            end = reading.log_end.get(tp)
            if end is not None and 0 <= o.offset < end:
                lagging[(tp, o.offset)] = max(lagging.get((tp, o.offset), 0), end - o.offset)
    if not lagging:
        return {}
    # One record per partition: the most lagging committed offset of each partition, the worst partitions first.
    per_partition: dict[TopicPartition, tuple[int, int]] = {}
    for (tp, offset), lag in lagging.items():
        if tp not in per_partition or lag > per_partition[tp][1]:
            per_partition[tp] = (offset, lag)
    chosen = sorted(per_partition.items(), key=lambda item: -item[1][1])[:limit]
    try:
        timestamps = admin.record_timestamps(
            {tp: offset for tp, (offset, _lag) in chosen}, timeout_s=min(5.0, admin.connection.timeout_s)
        )
    except KafkaGatewayError as exc:
        # Exact mode is a refinement: the interpolated time lag stands in for it.
        logger.info("exact time lag unavailable this cycle: %s", exc.message)
        return {}
    try:
        log_start = admin.list_offsets([tp for tp, _chosen in chosen], OffsetKind.EARLIEST)
    except KafkaGatewayError as exc:
        # Without it a value cannot be told exact from a lower bound: taken as exact (the older behaviour).
        logger.info("log-start offsets unavailable this cycle: %s", exc.message)
        log_start = {}
    deleted = sum(1 for tp, (offset, _lag) in chosen if offset < log_start.get(tp, -1))
    say(
        f"exact time lag: {sum(1 for ts in timestamps.values() if ts is not None)} of {len(chosen)} records read"
        + (f" ({deleted} committed offsets already deleted by retention: lower bounds)" if deleted else "")
    )
    return {(tp, offset): (timestamps.get(tp), log_start.get(tp)) for tp, (offset, _lag) in chosen}


# ---------------------------------------------------------------------------------------------
# Computing and writing (one transaction)
# ---------------------------------------------------------------------------------------------
ACTIVE_GROUP_STATES = frozenset({"STABLE", "PREPARING_REBALANCE", "COMPLETING_REBALANCE", "ASSIGNING", "RECONCILING"})


def _partition_key(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


def _written_at(
    stored_window: Sequence[Sequence[Any]] | None, committed: int | None, log_end: int
) -> tuple[float, bool] | None:
    """When the record at `committed` was appended, as the last cycle worked out, if nothing moved since; and
    whether that was only a bound (appended at the latest then: the time lag is a lower bound)."""
    if not stored_window or committed is None or committed >= log_end:
        return None
    last = stored_window[-1]
    if len(last) > 4 and last[4] is not None and last[1] == committed and last[2] == log_end:
        return float(last[4]), bool(last[5]) if len(last) > 5 else False
    return None


def _carried_time_lag(
    stored_window: Sequence[Sequence[Any]] | None, committed: int | None, log_end: int, at: float
) -> TimeLag | None:
    """The time lag at `at` from the last cycle's written_at, when nothing moved since (see _written_at)."""
    carried = _written_at(stored_window, committed, log_end)
    if carried is None:
        return None
    written_at, bound = carried
    return TimeLag(max(0.0, at - written_at), TimeLagKind.LOWER_BOUND if bound else TimeLagKind.INTERPOLATED)


def _write(
    cluster: Cluster, run: LagPollRun, catalog: _CatalogView, reading: _Reading, started: float, say: ProgressCallback
) -> LagPollRun:
    now = datetime.fromtimestamp(reading.at, tz=UTC)
    at = reading.at
    config = evaluation_config()

    # --- topics: produce rates, and the (log-end offset, time) tables --------------------------
    topic_partitions: dict[str, dict[int, int]] = defaultdict(dict)
    for tp, end in reading.log_end.items():
        topic_partitions[tp.topic][tp.partition] = end
    topic_ids = {name: catalog.topics[name] for name in topic_partitions}
    # By cluster, not by a list of ids: a large cluster's ids would exceed SQLite's bound-parameter limit.
    previous_throughput = {
        topic_id: (sampled_at, partitions)
        for topic_id, sampled_at, partitions in TopicThroughput.objects.filter(topic__cluster=cluster).values_list(
            "topic_id", "sampled_at", "partitions"
        )
    }
    previous_end: dict[TopicPartition, tuple[int, float]] = {}
    for name, topic_id in topic_ids.items():
        row = previous_throughput.get(topic_id)
        if row is not None:
            seen = row[0].timestamp()
            for p in row[1]:
                previous_end[TopicPartition(name, p["partition"])] = (p["log_end"], seen)

    # (status, since, window) of each group's latest state: the evaluation's memory between cycles.
    previous_states = {
        group_id: (status, since, window)
        for group_id, status, since, window in GroupLagState.objects.filter(group__cluster=cluster).values_list(
            "group_id", "status", "since", "window"
        )
    }
    group_pks = {group_id: catalog.groups[group_id] for group_id in reading.committed}

    # Tables are read for partitions whose log end moved (they get a new point) and for lagging ones whose
    # time lag cannot be carried over: when neither the committed offset nor the log end moved since the
    # last cycle, the record at the committed offset was written when it was then, and the window says when.
    lagging: set[TopicPartition] = set()
    for group_id, offsets in reading.committed.items():
        previous = previous_states.get(group_pks[group_id])
        previous_window = previous[2] if previous is not None else {}
        for o in offsets:
            tp = TopicPartition(o.topic, o.partition)
            end = reading.log_end.get(tp)
            if end is None or not 0 <= o.offset < end:
                continue
            if _written_at(previous_window.get(_partition_key(tp.topic, tp.partition)), o.offset, end) is None:
                lagging.add(tp)
    changed = {tp for tp, end in reading.log_end.items() if previous_end.get(tp, (None,))[0] != end}
    needed = changed | lagging
    tables: dict[TopicPartition, list] = {}
    if needed:
        needed_topics = {topic_ids[tp.topic] for tp in needed}
        names = {topic_id: name for name, topic_id in topic_ids.items()}
        for chunk in _chunks(sorted(needed_topics), ID_BATCH):
            for topic_id, partition, points in OffsetTimePoint.objects.filter(topic_id__in=chunk).values_list(
                "topic_id", "partition", "points"
            ):
                tables[TopicPartition(names[topic_id], partition)] = points
    table_writes: list[dict[str, Any]] = []
    for tp in changed:
        before = previous_end.get(tp)
        table = table_observe(tables.get(tp, []), reading.log_end[tp], at, previous_seen=before)
        tables[tp] = table
        table_writes.append(dict(topic_id=topic_ids[tp.topic], partition=tp.partition, points=table, updated_at=now))

    throughput_rows: list[dict[str, Any]] = []
    throughput_samples: list[dict[str, Any]] = []
    for name, ends in topic_partitions.items():
        rates = []
        for partition, end in sorted(ends.items()):
            tp = TopicPartition(name, partition)
            before = previous_end.get(tp)
            rate = rate_per_second(before, (end, at)) if before is not None else None
            rates.append({"partition": partition, "log_end": end, "rate": rate})
        topic_rate = sum_rates(r["rate"] for r in rates)
        throughput_rows.append(
            dict(topic_id=topic_ids[name], produce_rate=topic_rate, partitions=rates, sampled_at=now)
        )
        throughput_samples.append(
            dict(
                topic_id=topic_ids[name],
                sampled_at=now,
                produce_rate=topic_rate,
                log_end_total=sum(ends.values()),
                resolution=Resolution.RAW.value,
            )
        )

    say(f"offset-time tables: {len(tables)} read, {len(table_writes)} updated")

    # --- groups: samples, windows, statuses, rates -------------------------------------------
    record_timestamps = reading.record_timestamps
    samples: list[dict[str, Any]] = []
    group_samples: list[dict[str, Any]] = []
    states: list[dict[str, Any]] = []
    partition_count = 0
    for group_id, offsets in reading.committed.items():
        group_pk = group_pks[group_id]
        previous = previous_states.get(group_pk)
        previous_window = previous[2] if previous is not None else {}
        active = reading.group_states.get(group_id) in ACTIVE_GROUP_STATES
        rows = []
        windows: dict[str, list] = {}
        consume_rates: list[float | None] = []
        produce_rates: list[float | None] = []
        for o in offsets:
            tp = TopicPartition(o.topic, o.partition)
            end = reading.log_end.get(tp)
            if end is None:  # a topic deleted (or not discovered yet): not evaluated
                continue
            committed = o.offset if o.offset >= 0 else None
            key = _partition_key(tp.topic, tp.partition)
            stored = previous_window.get(key, ())
            time_lag: TimeLag | None = None
            if committed is not None and (tp, committed) in record_timestamps:
                timestamp_ms, log_start = record_timestamps[(tp, committed)]
                time_lag = time_lag_exact(timestamp_ms, committed, end, at, log_start=log_start)
                if time_lag is not None and time_lag.lower_bound:
                    # Deleted by retention: the table (or what the last cycle made of it) may still date it.
                    estimate = (
                        time_lag_from_table(tables[tp], committed, end, at)
                        if tp in tables
                        else _carried_time_lag(stored, committed, end, at)
                    )
                    time_lag = time_lag_refine(time_lag, estimate)
            if time_lag is None:
                time_lag = _carried_time_lag(stored, committed, end, at)
                if time_lag is None:
                    time_lag = time_lag_from_table(tables.get(tp, []), committed, end, at)
            time_lag_s = round(time_lag.seconds, 3) if time_lag is not None else None
            lag = lag_of(committed, end)
            lower_bound = bool(time_lag is not None and time_lag.lower_bound and lag)
            # The window as stored, this cycle's sample last: [t, committed, log_end, active, written_at,
            # lower_bound], written_at being when the record at the committed offset was appended (None when
            # caught up), lower_bound 1 when it was appended at the latest then (the time lag is "at least").
            raw = [w for w in stored if w[0] < at]
            raw.append(
                [
                    round(at, 3),
                    committed,
                    end,
                    int(active),
                    round(at - time_lag.seconds, 3) if time_lag and lag else None,
                    int(lower_bound),
                ]
            )
            raw = raw[-config.window :]
            windows[key] = raw
            window = [PartitionSample(*w[:4]) for w in raw]
            status = partition_status(window, config)
            oldest = window[-RATE_SAMPLES:][0]
            if len(window) >= 2:
                if oldest.committed is not None and committed is not None:
                    consume_rates.append(rate_per_second((oldest.committed, oldest.at), (committed, at)))
                produce_rates.append(rate_per_second((oldest.log_end, oldest.at), (end, at)))
            rows.append(
                {
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "committed": committed,
                    "log_end": end,
                    "lag": lag,
                    "time_lag_s": time_lag_s,
                    "time_lag_lower_bound": lower_bound,
                    "status": status,
                }
            )
            samples.append(
                dict(
                    cluster_id=cluster.pk,
                    group_id=group_pk,
                    topic_id=topic_ids[tp.topic],
                    partition=tp.partition,
                    sampled_at=now,
                    committed=committed,
                    log_end=end,
                    lag=lag,
                    time_lag_s=time_lag_s,
                    resolution=Resolution.RAW.value,
                )
            )
        if not rows:
            continue
        partition_count += len(rows)
        rows.sort(key=lambda r: (r["topic"], r["partition"]))
        status = worst_status(r["status"] for r in rows)
        total_lag = sum(r["lag"] for r in rows)
        time_lags = [r["time_lag_s"] for r in rows if r["time_lag_s"] is not None]
        max_time_lag = max(time_lags) if time_lags else None
        # The group's largest time lag is "at least" when any partition's is: that one may be the largest.
        time_lag_lower_bound = any(r["time_lag_lower_bound"] for r in rows)
        consume_rate = sum_rates(consume_rates)
        produce_rate = sum_rates(produce_rates)
        clear = time_to_clear(total_lag, consume_rate, produce_rate)
        since = previous[1] if previous is not None and previous[0] == status else now
        states.append(
            dict(
                group_id=group_pk,
                status=status,
                since=since,
                total_lag=total_lag,
                max_time_lag_s=max_time_lag,
                time_lag_lower_bound=time_lag_lower_bound,
                time_to_clear_s=round(clear.seconds, 3) if clear.seconds is not None else None,
                consume_rate=consume_rate,
                produce_rate=produce_rate,
                partitions=rows,
                window=windows,
                sampled_at=now,
                stale=False,
            )
        )
        group_samples.append(
            dict(
                group_id=group_pk,
                sampled_at=now,
                total_lag=total_lag,
                max_time_lag_s=max_time_lag,
                consume_rate=consume_rate,
                produce_rate=produce_rate,
                status=status,
                resolution=Resolution.RAW.value,
            )
        )

    say(f"evaluated {len(states)} groups on {partition_count} partitions; writing")
    evaluated = [state["group_id"] for state in states]
    with transaction.atomic():
        _insert_rows(PartitionLagSample, samples)
        _insert_rows(GroupLagSample, group_samples)
        _insert_rows(TopicThroughputSample, throughput_samples)
        _upsert_rows(GroupLagState, states, unique=["group_id"])
        _upsert_rows(TopicThroughput, throughput_rows, unique=["topic_id"])
        _upsert_rows(OffsetTimePoint, table_writes, unique=["topic_id", "partition"])
        # Groups no longer evaluated (deleted, gone from the cluster, or left with no live topic) lose
        # their latest state, so that pages, /metrics and alerts stop showing and judging them.
        gone = _gone_states(cluster, set(evaluated))
        for chunk in _chunks(gone, ID_BATCH):
            GroupLagState.objects.filter(id__in=chunk).delete()
        run.status = LagPollRun.Status.OK
        run.finished_at = timezone.now()
        run.duration_ms = int((time.monotonic() - started) * 1000)
        run.groups = len(states)
        run.partitions = partition_count
        run.error = ""
        run.save(update_fields=["status", "finished_at", "duration_ms", "groups", "partitions", "error"])
    by_status: dict[str, int] = defaultdict(int)
    for state in states:
        by_status[state["status"]] += 1
    summary = (
        f"{run.groups} groups, {run.partitions} partitions, {len(topic_partitions)} topics; "
        + ", ".join(f"{status} {count}" for status, count in sorted(by_status.items()))
        + (f"; {len(gone)} no longer evaluated" if gone else "")
    )
    logger.info("lag poll of cluster %s ok in %d ms: %s", cluster.name, run.duration_ms, summary)
    say(f"cluster {cluster.name}: ok in {run.duration_ms} ms: {summary}")
    return run


def _db_rows(model: type[Any], rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[tuple]]:
    """Column names and parameter tuples for rows given as {field name or attname: Python value}.

    Only datetimes and JSON need the backend's conversion; numbers and text go as they are. Model
    instances are not built: for 10,000 samples a cycle, their __init__ alone cost about a second.
    """
    fields = [model._meta.get_field(name) for name in rows[0]]
    converted = {f.attname for f in fields if f.get_internal_type() in ("DateTimeField", "JSONField")}
    memo: dict[tuple[str, int], Any] = {}
    params = []
    for row in rows:
        values = []
        for f in fields:
            value = row[f.attname] if f.attname in row else row[f.name]
            if f.attname in converted and value is not None:
                if isinstance(value, datetime):
                    key = (f.attname, id(value))
                    if key not in memo:
                        memo[key] = f.get_db_prep_save(value, connection)
                    value = memo[key]
                else:
                    value = f.get_db_prep_save(value, connection)
            values.append(value)
        params.append(tuple(values))
    return [f.column for f in fields], params


def _insert_rows(model: type[Any], rows: Sequence[Mapping[str, Any]]) -> None:
    """Append rows: COPY on PostgreSQL (five times faster than batched INSERTs for a cycle's samples),
    batched INSERTs elsewhere."""
    if not rows:
        return
    columns, params = _db_rows(model, rows)
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    column_list = ", ".join(quote(c) for c in columns)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({column_list}) FROM STDIN") as copy:
            for row in params:
                copy.write_row(row)
        return
    # Table and column names come from the model, quoted; every value is a parameter.
    sql = f"INSERT INTO {table} ({column_list}) VALUES ({', '.join(['%s'] * len(columns))})"  # noqa: S608
    with connection.cursor() as cursor:
        for chunk in _chunks(params, WRITE_BATCH * 10):
            cursor.executemany(sql, chunk)


def _upsert_rows(model: type[Any], rows: Sequence[Mapping[str, Any]], *, unique: Sequence[str]) -> None:
    """INSERT ... ON CONFLICT (unique) DO UPDATE: the same statement on SQLite (3.24+) and PostgreSQL."""
    if not rows:
        return
    columns, params = _db_rows(model, rows)
    quote = connection.ops.quote_name
    unique_columns = [model._meta.get_field(name).column for name in unique]
    updates = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in columns if c not in unique_columns)
    # Table and column names come from the model, quoted; every value is a parameter.
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({', '.join(quote(c) for c in unique_columns)}) DO UPDATE SET {updates}"
    )
    with connection.cursor() as cursor:
        for chunk in _chunks(params, WRITE_BATCH * 10):
            cursor.executemany(sql, chunk)


def _gone_states(cluster: Cluster, evaluated: set[int]) -> list[int]:
    """Ids of the cluster's states whose group was not evaluated (without a huge NOT IN list)."""
    return [
        state_id
        for state_id, group_id in GroupLagState.objects.filter(group__cluster=cluster).values_list("id", "group_id")
        if group_id not in evaluated
    ]


# ---------------------------------------------------------------------------------------------
# Beat schedules: one PeriodicTask per cluster
# ---------------------------------------------------------------------------------------------
def _schedule_name(cluster_id: int) -> str:
    return f"monitoring: poll lag of cluster {cluster_id}"


def lag_schedule_sync(*, cluster: Cluster) -> PeriodicTask:
    """Create or update the cluster's lag poll beat entry (every EVENTSCOPE_LAG_POLL_INTERVAL_S)."""
    every = max(1, round(settings.EVENTSCOPE_LAG_POLL_INTERVAL_S))
    # A cycle still queued when the next one is due is dropped (and recorded as skipped).
    return periodic_task_sync(
        name=_schedule_name(cluster.pk),
        task=POLL_TASK,
        every=every,
        args=[cluster.pk],
        description=f"Consumer lag of Kafka cluster {cluster.name} every {every} s (kept in step by monitoring).",
    )


def lag_schedule_delete(*, cluster_id: int) -> None:
    periodic_tasks_delete(
        PeriodicTask.objects.filter(
            Q(name=_schedule_name(cluster_id)) | Q(task=POLL_TASK, args=json.dumps([cluster_id]))
        )
    )


@transaction.atomic
def lag_schedules_reconcile() -> None:
    """Every cluster's lag poll entry in step; entries of clusters that are gone removed."""
    clusters = list(Cluster.objects.all())
    for cluster in clusters:
        lag_schedule_sync(cluster=cluster)
    wanted = {_schedule_name(cluster.pk) for cluster in clusters}
    for task in PeriodicTask.objects.filter(task=POLL_TASK).exclude(name__in=wanted):
        task.delete()


# ---------------------------------------------------------------------------------------------
# Retention: raw samples -> 1-minute rollups -> hourly rollups -> gone
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RetentionResult:
    rolled_to_minutes: int
    rolled_to_hours: int
    deleted: int


ROLLUP_SLICE = timedelta(minutes=30)  # raw rows rolled up per statement batch: bounded memory
_WORST = {"OK": 0, "WARN": 1, "STALL": 2, "STOP": 3, "REWIND": 4}


def lag_retention(*, now: datetime | None = None, progress: ProgressCallback | None = None) -> RetentionResult:
    """Roll raw samples older than EVENTSCOPE_LAG_RAW_RETENTION_H into 1-minute ones, 1-minute ones older than
    EVENTSCOPE_LAG_MINUTE_RETENTION_D into hourly ones, and delete hourly ones older than
    EVENTSCOPE_LAG_HOUR_RETENTION_D. Each time range is kept at exactly one resolution, so a history
    query reads whatever covers its window. Poll runs are kept as long as minute rollups."""
    say = progress or (lambda message: None)
    now = now or timezone.now()
    raw_cutoff = (now - timedelta(hours=settings.EVENTSCOPE_LAG_RAW_RETENTION_H)).replace(second=0, microsecond=0)
    minute_cutoff = (now - timedelta(days=settings.EVENTSCOPE_LAG_MINUTE_RETENTION_D)).replace(
        minute=0, second=0, microsecond=0
    )
    hour_cutoff = now - timedelta(days=settings.EVENTSCOPE_LAG_HOUR_RETENTION_D)
    to_minutes = _roll_up(Resolution.RAW, Resolution.MINUTE, TruncMinute, raw_cutoff)
    say(f"lag retention: {to_minutes} raw samples rolled up to minutes")
    to_hours = _roll_up(Resolution.MINUTE, Resolution.HOUR, TruncHour, minute_cutoff)
    say(f"lag retention: {to_hours} minute samples rolled up to hours")
    deleted = 0
    for model in (PartitionLagSample, GroupLagSample, TopicThroughputSample):
        deleted += model.objects.filter(resolution=Resolution.HOUR, sampled_at__lt=hour_cutoff).delete()[0]
    deleted += (
        LagPollRun.objects.filter(started_at__lt=minute_cutoff).exclude(status=LagPollRun.Status.RUNNING).delete()[0]
    )
    say(f"lag retention: {deleted} old rows deleted")
    return RetentionResult(to_minutes, to_hours, deleted)


def _roll_up(source: str, target: str, trunc: type, cutoff: datetime) -> int:
    rolled = 0
    oldest = _oldest(source, cutoff)
    while oldest is not None and oldest < cutoff:
        # Slices start on a bucket boundary (cutoffs are on one too), so a bucket is rolled up whole, once.
        start = (
            oldest.replace(second=0, microsecond=0)
            if target == Resolution.MINUTE
            else oldest.replace(minute=0, second=0, microsecond=0)
        )
        end = min(start + ROLLUP_SLICE if target == Resolution.MINUTE else start + timedelta(hours=24), cutoff)
        with transaction.atomic():
            rolled += _roll_slice(source, target, trunc, start, end)
        oldest = _oldest(source, cutoff)
    return rolled


def _oldest(resolution: str, cutoff: datetime) -> datetime | None:
    candidates = [
        model.objects.filter(resolution=resolution, sampled_at__lt=cutoff)
        .order_by("sampled_at")
        .values_list("sampled_at", flat=True)
        .first()
        for model in (PartitionLagSample, GroupLagSample, TopicThroughputSample)
    ]
    known = [c for c in candidates if c is not None]
    return min(known) if known else None


def _roll_slice(source: str, target: str, trunc: type, start: datetime, end: datetime) -> int:
    window = {"resolution": source, "sampled_at__gte": start, "sampled_at__lt": end}
    partition_rows = (
        PartitionLagSample.objects.filter(**window)
        .annotate(bucket=trunc("sampled_at"))
        .values("cluster_id", "group_id", "topic_id", "partition", "bucket")
        .annotate(
            committed_max=Max("committed"),
            log_end_max=Max("log_end"),
            lag_avg=Avg("lag"),
            time_lag_max=Max("time_lag_s"),
        )
    )
    _insert_rows(
        PartitionLagSample,
        [
            dict(
                cluster_id=row["cluster_id"],
                group_id=row["group_id"],
                topic_id=row["topic_id"],
                partition=row["partition"],
                sampled_at=row["bucket"],
                committed=row["committed_max"],
                log_end=row["log_end_max"],
                lag=round(row["lag_avg"] or 0),
                time_lag_s=row["time_lag_max"],
                resolution=str(target),
            )
            for row in partition_rows
        ],
    )
    # Group totals: averages, the maximum time lag, and the worst status of the bucket.
    groups: dict[tuple[int, datetime], list[dict[str, Any]]] = defaultdict(list)
    for row in (
        GroupLagSample.objects.filter(**window)
        .annotate(bucket=trunc("sampled_at"))
        .values("group_id", "bucket", "total_lag", "max_time_lag_s", "consume_rate", "produce_rate", "status")
    ):
        groups[(row["group_id"], row["bucket"])].append(row)
    _insert_rows(
        GroupLagSample,
        [
            dict(
                group_id=group_id,
                sampled_at=bucket,
                total_lag=round(sum(r["total_lag"] for r in rows) / len(rows)),
                max_time_lag_s=_max_known(r["max_time_lag_s"] for r in rows),
                consume_rate=_avg_known(r["consume_rate"] for r in rows),
                produce_rate=_avg_known(r["produce_rate"] for r in rows),
                status=max((r["status"] for r in rows), key=lambda s: _WORST.get(s, -1)),
                resolution=str(target),
            )
            for (group_id, bucket), rows in groups.items()
        ],
    )
    topic_rows = (
        TopicThroughputSample.objects.filter(**window)
        .annotate(bucket=trunc("sampled_at"))
        .values("topic_id", "bucket")
        .annotate(rate_avg=Avg("produce_rate"), log_end_max=Max("log_end_total"))
    )
    _insert_rows(
        TopicThroughputSample,
        [
            dict(
                topic_id=row["topic_id"],
                sampled_at=row["bucket"],
                produce_rate=row["rate_avg"],
                log_end_total=row["log_end_max"],
                resolution=str(target),
            )
            for row in topic_rows
        ],
    )
    deleted = 0
    for model in (PartitionLagSample, GroupLagSample, TopicThroughputSample):
        deleted += model.objects.filter(**window).delete()[0]
    return deleted


def _max_known(values) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _avg_known(values) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None
