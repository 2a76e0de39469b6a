"""Discovery writes: read a cluster through the gateway, then upsert its topics, partitions and groups.

Rules of this module:
- no Kafka I/O inside a database transaction: the cluster is read first, then ONE short write
  transaction applies what `catalog.discovery_diff` says (bulk statements, no per-row queries);
- runs of one cluster never overlap: the RUNNING DiscoveryRun row is committed before any Kafka
  call, and the database's one-running-run-per-cluster constraint turns a second start into
  DiscoveryAlreadyRunningError instead of a queue of runs;
- an unreachable cluster fails the run with the gateway's message (secrets redacted) and changes
  nothing else, so the last known data stays and pages show it as stale;
- each cluster has one django-celery-beat PeriodicTask, kept in step by the cluster services.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from kombu.exceptions import OperationalError as KombuOperationalError

from catalog import search
from catalog.discovery_diff import (
    DISCOVERED_CONFIG_KEYS,
    GroupMemberState,
    GroupState,
    PartitionState,
    StoredRow,
    TopicState,
    committed_topics,
    diff_links,
    diff_rows,
)
from catalog.models import Cluster, ConsumerGroup, DiscoveryRun, Partition, Topic
from eventscope.kafka import (
    ClusterConnection,
    ClusterMetadata,
    ConsumerGroupDescription,
    ConsumerGroupListing,
    KafkaAdmin,
    KafkaGatewayError,
    UnknownGroupError,
    UnknownTopicError,
)
from eventscope.schedules import periodic_task_sync, periodic_tasks_delete
from eventscope.secrets import SecretDecryptionError

__all__ = [
    "ABANDONED_AFTER",
    "DISCOVER_TASK",
    "DiscoveryAlreadyRunningError",
    "DiscoveryQueueUnavailableError",
    "cluster_metadata_settled",
    "discovery_request",
    "discovery_run",
    "discovery_schedule_delete",
    "discovery_schedule_sync",
    "discovery_schedules_reconcile",
    "live_unlisted_groups",
    "redact",
]

logger = logging.getLogger(__name__)

DISCOVER_TASK = "catalog.discover_cluster"
# A RUNNING row older than this belongs to a worker that died mid-run (killed, OOM, host lost):
# it is marked failed so that the cluster is not locked out of discovery for ever. Generous,
# because a run of a large, slow cluster makes a few dozen calls bounded by the gateway timeout.
ABANDONED_AFTER = timedelta(minutes=10)
# A manual request still queued after this long is dropped by the worker: the schedule has long
# run since, and a person who clicked "sync now" an hour ago does not want it now.
REQUEST_EXPIRES_S = 600
QUEUE_CHECK_TIMEOUT_S = 3
METADATA_ATTEMPTS = 3

# Batch sizes. Reads: enough names per request to keep the request count low on 5,000 topics,
# few enough that one answer stays well within the gateway's timeout. Writes: rows per INSERT,
# ids per UPDATE/DELETE ... WHERE id IN (...), under SQLite's bound-parameter limit.
CONFIG_BATCH = 500
DESCRIBE_TOPICS_BATCH = 500
DESCRIBE_GROUPS_BATCH = 100
GROUP_OFFSETS_BATCH = 200
READ_CONCURRENCY = 4
INTERNAL_TOPIC_PREFIX = "__"
WRITE_BATCH = 500
ID_BATCH = 500

TOPIC_COLUMNS = (
    "internal",
    "partition_count",
    "replication_factor",
    "under_replicated_partitions",
    "retention_ms",
    "retention_bytes",
    "cleanup_policy",
    "message_timestamp_type",
    "min_insync_replicas",
    "configs",
)
PARTITION_COLUMNS = ("leader", "replicas", "isr", "under_replicated")
GROUP_COLUMNS = ("state", "protocol", "partition_assignor", "is_simple", "member_count", "members")

ProgressCallback = Callable[[str], None]
T = TypeVar("T")


class DiscoveryAlreadyRunningError(Exception):
    """A run of this cluster is in progress; the new one was not started (nor queued)."""

    def __init__(self, cluster: Cluster, running: DiscoveryRun):
        self.cluster = cluster
        self.running = running
        super().__init__(
            f"Discovery of cluster {cluster.name} is already running "
            f"(run {running.pk}, {running.trigger}, started {running.started_at:%Y-%m-%d %H:%M:%S} UTC)."
        )


class DiscoveryQueueUnavailableError(Exception):
    """The Celery broker cannot take the task, so a requested sync was not queued."""


# ---------------------------------------------------------------------------------------------
# One run
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ClusterSnapshot:
    """What the cluster reported in one run, as the pure core's plain values."""

    broker_count: int
    topics: dict[str, TopicState]
    groups: dict[str, GroupState]

    @property
    def partition_count(self) -> int:
        return sum(len(topic.partitions) for topic in self.topics.values())


def discovery_run(
    *, cluster_id: int, trigger: str = "schedule", progress: ProgressCallback | None = None
) -> DiscoveryRun:
    """Discover one cluster now, in this process; returns the finished run (SUCCEEDED or FAILED).

    Raises Cluster.DoesNotExist for an unknown id and DiscoveryAlreadyRunningError when another
    run of the cluster is in progress. A failure to reach or read the cluster is not raised: it
    is the run's status and error. Anything else (a bug, a database failure) marks the run failed
    and is raised.
    """
    say = progress or (lambda message: None)
    cluster = Cluster.objects.get(pk=cluster_id)
    run = _run_start(cluster, trigger)
    started = time.monotonic()
    secrets: list[str] = []
    say(f"cluster {cluster.name} ({cluster.bootstrap_servers}): run {run.pk} started")
    try:
        try:
            connection = cluster.connection()
            if connection.sasl_password:
                secrets.append(connection.sasl_password)
            catalog_groups = frozenset(
                ConsumerGroup.objects.filter(cluster=cluster, deleted_at__isnull=True).values_list(
                    "group_id", flat=True
                )
            )
            snapshot = _cluster_snapshot(connection, say, catalog_groups)
        except SecretDecryptionError:
            return _run_fail(
                run,
                "The stored SASL password or TLS client key cannot be decrypted with the configured keys "
                "(EVENTSCOPE_SECRETS_KEYS or DJANGO_SECRET_KEY changed): enter the password again.",
                started,
                say,
            )
        except KafkaGatewayError as exc:
            return _run_fail(run, redact(exc.message, secrets), started, say)
        return _catalog_write(cluster, run, snapshot, started, say)
    except BaseException as exc:
        # Whatever stops the run (a bug, the database, Ctrl-C, the task's time limit), the row
        # must not stay RUNNING: that would lock the cluster out until it is deemed abandoned.
        _run_fail(run, redact(f"internal error: {type(exc).__name__}: {exc}", secrets), started, say)
        raise


def redact(text: str, secrets: Sequence[str | None]) -> str:
    """The text with every secret replaced: a last line of defence for messages that reach people and logs."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _run_start(cluster: Cluster, trigger: str) -> DiscoveryRun:
    """Commit the RUNNING row (after retiring an abandoned one), or raise DiscoveryAlreadyRunningError."""
    now = timezone.now()
    with transaction.atomic():
        for stale in DiscoveryRun.objects.select_for_update().filter(
            cluster=cluster, status=DiscoveryRun.Status.RUNNING, started_at__lt=now - ABANDONED_AFTER
        ):
            stale.status = DiscoveryRun.Status.FAILED
            stale.finished_at = now
            stale.duration_ms = int((now - stale.started_at).total_seconds() * 1000)
            stale.error = (
                f"Abandoned: no result after {ABANDONED_AFTER.total_seconds() / 60:.0f} minutes "
                "(the worker running it was probably stopped)."
            )
            stale.save(update_fields=["status", "finished_at", "duration_ms", "error"])
            logger.warning("discovery run %s of cluster %s was abandoned; marked failed", stale.pk, cluster.name)
    try:
        with transaction.atomic():
            return DiscoveryRun.objects.create(cluster=cluster, trigger=trigger)
    except IntegrityError:
        running = DiscoveryRun.objects.filter(cluster=cluster, status=DiscoveryRun.Status.RUNNING).first()
        if running is None:  # not the one-running constraint (the cluster was deleted meanwhile, say)
            raise
        raise DiscoveryAlreadyRunningError(cluster, running) from None


def _run_fail(run: DiscoveryRun, message: str, started: float, say: ProgressCallback) -> DiscoveryRun:
    run.status = DiscoveryRun.Status.FAILED
    run.error = message
    run.finished_at = timezone.now()
    run.duration_ms = int((time.monotonic() - started) * 1000)
    try:
        run.save(update_fields=["status", "error", "finished_at", "duration_ms"])
    except DatabaseError:
        # Do not hide the failure that brought us here; the abandoned-run rule retires the row later.
        logger.exception("could not record the failure of discovery run %s", run.pk)
    logger.warning("discovery of cluster %s failed after %d ms: %s", run.cluster.name, run.duration_ms, message)
    say(f"cluster {run.cluster.name}: FAILED after {run.duration_ms} ms: {message}")
    return run


# ---------------------------------------------------------------------------------------------
# Reading the cluster (Kafka I/O only, no database)
# ---------------------------------------------------------------------------------------------
def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _read_batched(
    keys: Sequence[str],
    read: Callable[[list[str]], Mapping[str, T]],
    batch: int,
    vanished_error: type[KafkaGatewayError],
) -> tuple[dict[str, T], set[str]]:
    """Read keys in batches, READ_CONCURRENCY at a time; keys that vanished since the listing are returned apart.

    The gateway fails a whole batch when one topic (or group) in it was deleted after the listing,
    which on a busy cluster happens often. Halving the failed batch finds the vanished keys with a
    few extra requests instead of one request per key. Batches go out together because each one
    mostly waits for the brokers; the gateway's admin client is thread-safe.
    """

    def read_part(part: list[str]) -> tuple[dict[str, T], set[str]]:
        try:
            return dict(read(part)), set()
        except vanished_error:
            if len(part) == 1:
                return {}, {part[0]}
            middle = len(part) // 2
            found_first, vanished_first = read_part(part[:middle])
            found_second, vanished_second = read_part(part[middle:])
            return found_first | found_second, vanished_first | vanished_second

    chunks = [list(chunk) for chunk in _chunks(keys, batch)]
    if len(chunks) <= 1:
        results = [read_part(chunk) for chunk in chunks]
    else:
        with ThreadPoolExecutor(max_workers=min(READ_CONCURRENCY, len(chunks))) as pool:
            results = list(pool.map(read_part, chunks))
    found: dict[str, T] = {}
    vanished: set[str] = set()
    for found_part, vanished_part in results:
        found.update(found_part)
        vanished |= vanished_part
    return found, vanished


def cluster_metadata_settled(admin: KafkaAdmin) -> ClusterMetadata:
    """The cluster's metadata, read again when one topic had a passing error.

    The gateway fails the whole read when a single topic reports an error, and a topic being
    created (or deleted) answers LEADER_NOT_AVAILABLE for a moment; on a busy cluster that would
    fail runs at random. Such an error names its topic ("metadata of topic ..."), unlike an
    unreachable cluster, which is not retried (it already cost the full timeout).
    """
    attempt = 1
    while True:
        try:
            return admin.cluster_metadata()
        except KafkaGatewayError as exc:
            if attempt >= METADATA_ATTEMPTS or not exc.message.startswith("metadata of topic"):
                raise
            time.sleep(0.5 * attempt)
            attempt += 1


def _confirm_vanished(vanished: set[str], listed_now: set[str], kind: str) -> None:
    """A topic (group) the gateway called unknown must be gone from a fresh listing too.

    Otherwise the "unknown" answer was something else (a broker's passing state, an ACL that hides
    it), and taking it for gone would mark a live topic deleted: fail the run instead.
    """
    still_there = sorted(vanished & listed_now)
    if still_there:
        raise KafkaGatewayError(
            f"the cluster called {len(still_there)} {kind}(s) unknown that it still lists, e.g. {still_there[0]}"
        )


def live_unlisted_groups(admin: KafkaAdmin, unlisted: Iterable[str]) -> dict[str, ConsumerGroupDescription]:
    """Of the groups the catalog has and the cluster's listing left out, those a describe shows still exist.

    Right after a broker (re)starts, its group coordinator is still loading __consumer_offsets and the
    listing can leave out groups that exist, without an error. Taken at its word, it would mark live groups
    deleted (and drop their lag state) until the next run. A group that is really gone describes as DEAD
    or unknown; a coordinator still loading answers with an error, which fails the run (data stays stale).
    """
    descriptions, _gone = _read_batched(
        sorted(unlisted), admin.describe_consumer_groups, DESCRIBE_GROUPS_BATCH, UnknownGroupError
    )
    return {group_id: d for group_id, d in descriptions.items() if d.state != "DEAD"}


def _cluster_snapshot(
    connection: ClusterConnection, say: ProgressCallback, catalog_groups: frozenset[str] = frozenset()
) -> ClusterSnapshot:
    admin = KafkaAdmin(connection)
    metadata = cluster_metadata_settled(admin)
    say(
        f"metadata: {len(metadata.brokers)} brokers, {len(metadata.topics)} topics, "
        f"{sum(len(t.partitions) for t in metadata.topics)} partitions"
    )
    names = [topic.name for topic in metadata.topics]
    configs, gone_configs = _read_batched(
        names, lambda part: admin.topic_configs(part, keys=DISCOVERED_CONFIG_KEYS), CONFIG_BATCH, UnknownTopicError
    )
    # Kafka's internal topics (__consumer_offsets, __transaction_state, __share_group_state) all
    # carry the "__" prefix and no other topic can be internal, so only those are asked about:
    # describing all 5,000 topics of a large cluster to learn "not internal" cost as much as
    # reading their configs.
    internal_flags, gone_flags = _read_batched(
        [name for name in names if name.startswith(INTERNAL_TOPIC_PREFIX)],
        admin.describe_topics_internal_flags,
        DESCRIBE_TOPICS_BATCH,
        UnknownTopicError,
    )
    gone_topics = gone_configs | gone_flags
    if gone_topics:
        _confirm_vanished(gone_topics, {topic.name for topic in cluster_metadata_settled(admin).topics}, "topic")
    topics = {
        topic.name: TopicState(
            name=topic.name,
            # The broker's flag where it answered; metadata's by-name guess otherwise.
            internal=internal_flags.get(topic.name, topic.internal),
            partitions=tuple(
                PartitionState(number=p.partition, leader=p.leader, replicas=p.replicas, isr=p.isrs)
                for p in topic.partitions
            ),
            configs=configs.get(topic.name, {}),
        )
        for topic in metadata.topics
        if topic.name not in gone_topics
    }
    say(
        f"configs and internal flags of {len(topics)} topics"
        + (f" ({len(gone_topics)} vanished)" if gone_topics else "")
    )

    listings = list(admin.list_consumer_groups())
    unlisted = catalog_groups - {listing.group_id for listing in listings}
    if unlisted:
        kept = live_unlisted_groups(admin, unlisted)
        listings += [
            ConsumerGroupListing(group_id=group_id, state=d.state, type=d.type, is_simple=d.is_simple)
            for group_id, d in sorted(kept.items())
        ]
        if kept:
            logger.warning("the group listing left out %d live groups (a coordinator still loading?)", len(kept))
            say(f"the cluster's group listing left out {len(kept)} groups that still exist: kept")
    group_ids = [listing.group_id for listing in listings]
    descriptions, gone_groups = _read_batched(
        group_ids, admin.describe_consumer_groups, DESCRIBE_GROUPS_BATCH, UnknownGroupError
    )
    if gone_groups:
        _confirm_vanished(gone_groups, {listing.group_id for listing in admin.list_consumer_groups()}, "group")
    offsets, _ = _read_batched(group_ids, admin.consumer_group_offsets, GROUP_OFFSETS_BATCH, UnknownGroupError)
    groups = {}
    for listing in listings:
        description = descriptions.get(listing.group_id)
        # DEAD: the group went away between the listing and the describe; it is not on the cluster.
        if description is None or description.state == "DEAD":
            continue
        protocol = description.type if description.type in ("CLASSIC", "CONSUMER") else listing.type
        groups[listing.group_id] = GroupState(
            group_id=listing.group_id,
            state=description.state,
            protocol=protocol if protocol in ("CLASSIC", "CONSUMER") else "",
            partition_assignor=description.partition_assignor,
            is_simple=description.is_simple,
            members=tuple(
                GroupMemberState(
                    member_id=member.member_id,
                    client_id=member.client_id,
                    host=member.host,
                    group_instance_id=member.group_instance_id,
                    assignment=tuple((tp.topic, tp.partition) for tp in member.assignment),
                )
                for member in description.members
            ),
            committed_topics=committed_topics((o.topic, o.offset) for o in offsets.get(listing.group_id, ())),
        )
    say(
        f"consumer groups: {len(groups)} described, committed offsets read"
        + (f" ({len(gone_groups)} vanished)" if gone_groups else "")
    )
    return ClusterSnapshot(broker_count=len(metadata.brokers), topics=topics, groups=groups)


# ---------------------------------------------------------------------------------------------
# Writing the catalog (one transaction, bulk statements)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _WriteCounts:
    created: int
    updated: int
    deleted: int
    # Rows whose search document changes: new, deleted and revived ones. The search index watches
    # the name and deleted_at of topics and groups, which discovery writes without model signals.
    reindex: tuple[int, ...] = ()


def _catalog_write(
    cluster: Cluster, run: DiscoveryRun, snapshot: ClusterSnapshot, started: float, say: ProgressCallback
) -> DiscoveryRun:
    now = timezone.now()
    with transaction.atomic():
        topic_ids, topics = _write_topics(cluster, snapshot.topics, now)
        partitions = _write_partitions(cluster, snapshot.topics, topic_ids)
        group_ids, groups = _write_groups(cluster, snapshot.groups, now)
        links = _write_committed_topics(cluster, snapshot.groups, topic_ids, group_ids)
        search.search_index_bulk_update(search.Kind.TOPIC, topics.reindex)
        search.search_index_bulk_update(search.Kind.CONSUMER_GROUP, groups.reindex)

        run.status = DiscoveryRun.Status.SUCCEEDED
        run.finished_at = timezone.now()
        run.duration_ms = int((time.monotonic() - started) * 1000)
        run.topics_seen = len(snapshot.topics)
        run.topics_created = topics.created
        run.topics_deleted = topics.deleted
        run.partitions_seen = snapshot.partition_count
        run.groups_seen = len(snapshot.groups)
        run.groups_created = groups.created
        run.groups_deleted = groups.deleted
        run.error = ""
        run.save()
    summary = (
        f"{run.topics_seen} topics ({topics.created} new, {topics.updated} changed, {topics.deleted} deleted), "
        f"{run.partitions_seen} partitions ({partitions.created} new, {partitions.updated} changed, "
        f"{partitions.deleted} removed), {run.groups_seen} groups ({groups.created} new, {groups.updated} changed, "
        f"{groups.deleted} deleted), committed-topic links +{links.created} -{links.deleted}"
    )
    logger.info("discovery of cluster %s succeeded in %d ms: %s", cluster.name, run.duration_ms, summary)
    say(f"cluster {cluster.name}: succeeded in {run.duration_ms} ms: {summary}")
    return run


def _by_id_in_batches(queryset_for: Callable[[Sequence[int]], Any], ids: Sequence[int], **update: Any) -> None:
    """Update (mark) or, without `update`, delete rows by id, in batches under the bound-parameter limit."""
    for chunk in _chunks(ids, ID_BATCH):
        queryset = queryset_for(chunk)
        if update:
            queryset.update(**update)
        else:
            queryset.delete()


def _update_changed(model: type[Any], rows: Iterable[tuple[int, Mapping[str, Any]]], **common: Any) -> None:
    """Write changed rows: those that get identical values share one UPDATE ... WHERE id IN (...).

    Not bulk_update: Django builds a CASE expression per row and field for it, about 2 ms a row
    in Python, which made a cluster-wide leader change (every partition at once, as after a
    rolling broker restart) take tens of seconds. Changed partitions mostly share their new
    values (the same leader and replicas), so they take a handful of statements; rows that all
    differ (topics with their own retention) cost one short statement each, still cheaper.
    """
    by_values: dict[str, tuple[Mapping[str, Any], list[int]]] = {}
    for row_id, values in rows:
        key = json.dumps(values, sort_keys=True, default=str)
        by_values.setdefault(key, (values, []))[1].append(row_id)
    for values, ids in by_values.values():
        _by_id_in_batches(lambda chunk: model.objects.filter(id__in=chunk), ids, **values, **common)


def _write_topics(
    cluster: Cluster, reported: Mapping[str, TopicState], now: datetime
) -> tuple[dict[str, int], _WriteCounts]:
    stored = {
        row["name"]: StoredRow(id=row["id"], key=row["name"], columns=row, deleted=row["deleted_at"] is not None)
        for row in Topic.objects.filter(cluster=cluster).values("id", "name", "deleted_at", *TOPIC_COLUMNS)
    }
    columns = {name: topic.columns() for name, topic in reported.items()}
    plan = diff_rows(columns, stored)

    new = [Topic(cluster=cluster, name=name, first_seen=now, last_seen=now, **columns[name]) for name in plan.create]
    Topic.objects.bulk_create(new, batch_size=WRITE_BATCH)
    # updated_at is set by hand: a queryset update does not run auto_now, and it should move only
    # on a real change (the catalog's "recently changed"), not on every run's last_seen.
    _update_changed(Topic, ((row_id, columns[name]) for row_id, name in plan.update), deleted_at=None, updated_at=now)
    _by_id_in_batches(lambda ids: Topic.objects.filter(id__in=ids), plan.delete, deleted_at=now, updated_at=now)
    # Every row still present was reported in this run: one statement instead of one per row.
    Topic.objects.filter(cluster=cluster, deleted_at__isnull=True).update(last_seen=now)

    ids = {name: row.id for name, row in stored.items()}
    ids.update((topic.name, topic.pk) for topic in new)
    if any(topic.pk is None for topic in new):  # a backend that cannot return ids from a bulk insert
        ids.update(Topic.objects.filter(cluster=cluster, name__in=plan.create).values_list("name", "id"))
    reindex = (*(ids[name] for name in plan.create), *plan.revived, *plan.delete)
    return ids, _WriteCounts(len(plan.create), len(plan.update), len(plan.delete), reindex)


def _write_partitions(
    cluster: Cluster, reported: Mapping[str, TopicState], topic_ids: Mapping[str, int]
) -> _WriteCounts:
    """Partitions of reported topics follow the cluster exactly; those of deleted topics stay as last seen."""
    reported_topic_ids = {topic_ids[name] for name in reported}
    stored = {}
    for row in Partition.objects.filter(topic__cluster=cluster).values("id", "topic_id", "number", *PARTITION_COLUMNS):
        if row["topic_id"] in reported_topic_ids:
            key = (row["topic_id"], row["number"])
            stored[key] = StoredRow(id=row["id"], key=key, columns=row)
    columns = {
        (topic_ids[name], partition.number): partition.columns()
        for name, topic in reported.items()
        for partition in topic.partitions
    }
    plan = diff_rows(columns, stored)
    Partition.objects.bulk_create(
        [
            Partition(topic_id=topic_id, number=number, **columns[(topic_id, number)])
            for topic_id, number in plan.create
        ],
        batch_size=WRITE_BATCH,
    )
    _update_changed(Partition, ((row_id, columns[key]) for row_id, key in plan.update))
    # A partition is not documented by anyone, so one the topic no longer has (a topic deleted and
    # re-created with fewer partitions) is erased rather than marked.
    _by_id_in_batches(lambda ids: Partition.objects.filter(id__in=ids), plan.delete)
    return _WriteCounts(len(plan.create), len(plan.update), len(plan.delete))


def _write_groups(
    cluster: Cluster, reported: Mapping[str, GroupState], now: datetime
) -> tuple[dict[str, int], _WriteCounts]:
    stored = {
        row["group_id"]: StoredRow(
            id=row["id"], key=row["group_id"], columns=row, deleted=row["deleted_at"] is not None
        )
        for row in ConsumerGroup.objects.filter(cluster=cluster).values("id", "group_id", "deleted_at", *GROUP_COLUMNS)
    }
    columns = {group_id: group.columns() for group_id, group in reported.items()}
    plan = diff_rows(columns, stored)

    new = [
        ConsumerGroup(cluster=cluster, group_id=group_id, first_seen=now, last_seen=now, **columns[group_id])
        for group_id in plan.create
    ]
    ConsumerGroup.objects.bulk_create(new, batch_size=WRITE_BATCH)
    _update_changed(
        ConsumerGroup,
        ((row_id, columns[group_id]) for row_id, group_id in plan.update),
        deleted_at=None,
        updated_at=now,
    )
    _by_id_in_batches(lambda ids: ConsumerGroup.objects.filter(id__in=ids), plan.delete, deleted_at=now, updated_at=now)
    ConsumerGroup.objects.filter(cluster=cluster, deleted_at__isnull=True).update(last_seen=now)

    ids = {group_id: row.id for group_id, row in stored.items()}
    ids.update((group.group_id, group.pk) for group in new)
    if any(group.pk is None for group in new):
        ids.update(
            ConsumerGroup.objects.filter(cluster=cluster, group_id__in=plan.create).values_list("group_id", "id")
        )
    reindex = (*(ids[group_id] for group_id in plan.create), *plan.revived, *plan.delete)
    return ids, _WriteCounts(len(plan.create), len(plan.update), len(plan.delete), reindex)


def _write_committed_topics(
    cluster: Cluster,
    reported: Mapping[str, GroupState],
    topic_ids: Mapping[str, int],
    group_ids: Mapping[str, int],
) -> _WriteCounts:
    """Set each reported group's committed_topics through the through model, in bulk."""
    link_model = ConsumerGroup.committed_topics.through
    topic_names = {pk: name for name, pk in topic_ids.items()}
    group_names = {pk: group_id for group_id, pk in group_ids.items()}
    stored: dict[str, set[str]] = {}
    link_ids: dict[tuple[str, str], int] = {}
    for link_id, group_pk, topic_pk in link_model.objects.filter(consumergroup__cluster=cluster).values_list(
        "id", "consumergroup_id", "topic_id"
    ):
        # A link to a topic outside this cluster's catalog (set by hand) is not one discovery wants.
        key = (group_names[group_pk], topic_names.get(topic_pk, f"#{topic_pk}"))
        stored.setdefault(key[0], set()).add(key[1])
        link_ids[key] = link_id
    # Only topics the catalog has can be linked; offsets can outlive a topic the catalog never saw.
    wanted = {
        group_id: {name for name in group.committed_topics if name in topic_ids} for group_id, group in reported.items()
    }
    plan = diff_links(wanted, stored)
    link_model.objects.bulk_create(
        [link_model(consumergroup_id=group_ids[group], topic_id=topic_ids[topic]) for group, topic in plan.add],
        batch_size=WRITE_BATCH,
    )
    _by_id_in_batches(lambda ids: link_model.objects.filter(id__in=ids), [link_ids[key] for key in plan.remove])
    return _WriteCounts(len(plan.add), 0, len(plan.remove))


# ---------------------------------------------------------------------------------------------
# Sync now, and the beat schedules
# ---------------------------------------------------------------------------------------------
def _safe_broker_url(url: str) -> str:
    """The broker URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def discovery_request(*, cluster: Cluster, trigger: str = "manual") -> None:
    """Queue a discovery run of the cluster ("sync now"), sent once the caller's transaction commits.

    When the Celery broker cannot be reached this raises DiscoveryQueueUnavailableError and
    queues nothing. It does not fall back to running here: a run may take as long as the
    cluster's timeouts allow, which a web request must not wait for. `manage.py discover` is
    the synchronous way.
    """
    from eventscope.celery import app

    broker_url = app.conf.broker_url or settings.CELERY_BROKER_URL
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=0, interval_start=0, timeout=QUEUE_CHECK_TIMEOUT_S)
    except (KombuOperationalError, OSError) as exc:
        logger.warning("discovery of cluster %s not queued: the task queue is unavailable: %s", cluster.name, exc)
        raise DiscoveryQueueUnavailableError(
            f"The task queue is unavailable (cannot reach {_safe_broker_url(broker_url)}), so the sync was not "
            "requested. Start Redis and the Celery worker, or run `manage.py discover` on the server."
        ) from exc

    cluster_id, cluster_name = cluster.pk, cluster.name

    def send() -> None:
        app.send_task(DISCOVER_TASK, args=[cluster_id, trigger], expires=REQUEST_EXPIRES_S, retry=False)
        logger.info("discovery of cluster %s queued (%s)", cluster_name, trigger)

    # robust: should the broker go away between the check and the commit, the caller's commit
    # still succeeds and the failure is logged, instead of a committed change raising.
    transaction.on_commit(send, robust=True)


def _schedule_name(cluster_id: int) -> str:
    # Keyed by id, not name: a renamed cluster keeps its schedule (and its last-run bookkeeping).
    return f"catalog: discover cluster {cluster_id}"


def discovery_schedule_sync(*, cluster: Cluster) -> PeriodicTask:
    """Create or update the cluster's beat entry: every discovery_interval_s, enabled = discovery_enabled."""
    every = cluster.discovery_interval_s
    return periodic_task_sync(
        name=_schedule_name(cluster.pk),
        task=DISCOVER_TASK,
        every=every,
        args=[cluster.pk],
        enabled=cluster.discovery_enabled,
        description=f"Discovery of Kafka cluster {cluster.name} every {every} s (kept in step by the catalog).",
    )


def discovery_schedule_delete(*, cluster_id: int) -> None:
    periodic_tasks_delete(PeriodicTask.objects.filter(name=_schedule_name(cluster_id)))


@transaction.atomic
def discovery_schedules_reconcile() -> None:
    """Bring every cluster's beat entry in step, and remove entries of clusters that are gone.

    Called after migrate and when beat starts, so schedules changed behind the services' back
    (the admin, a restored database) are right again.
    """
    clusters = list(Cluster.objects.all())
    for cluster in clusters:
        discovery_schedule_sync(cluster=cluster)
    wanted = {_schedule_name(cluster.pk) for cluster in clusters}
    for task in PeriodicTask.objects.filter(task=DISCOVER_TASK).exclude(name__in=wanted):
        logger.info("removing the discovery schedule %r: its cluster no longer exists", task.name)
        task.delete()
