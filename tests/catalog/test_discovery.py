"""Discovery against the real local Kafka broker: topics, partitions, configs, groups, deletes, failures, overlap.

Every test works on topics and groups of its own (unique names) on the shared broker, and on a
cluster row of its own, so the assertions hold whatever else lives on the broker. The
stopped-broker test starts a throwaway broker of its own with dev/kafka.sh.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from catalog import search
from catalog.cluster_status import cluster_staleness, staleness
from catalog.models import Cluster, ConsumerGroup, DiscoveryRun, Partition, Team, Topic
from catalog.search import search_catalog
from catalog.services.clusters import cluster_create
from catalog.services.discovery import (
    DiscoveryAlreadyRunningError,
    DiscoveryQueueUnavailableError,
    discovery_request,
    discovery_run,
    discovery_schedule_sync,
)
from catalog.tasks import discover_cluster
from eventscope.kafka import ClusterConnection, EventConsumer, EventProducer, KafkaAdmin, PartitionOffset

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]


def wait_until(predicate, timeout_s: float = 20, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(0.2)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def connection(kafka_bootstrap) -> ClusterConnection:
    return ClusterConnection(bootstrap_servers=kafka_bootstrap, timeout_s=10)


@pytest.fixture
def admin(connection) -> KafkaAdmin:
    return KafkaAdmin(connection)


@pytest.fixture
def cluster(db, kafka_bootstrap, unique_name) -> Cluster:
    return cluster_create(name=unique_name[:100], bootstrap_servers=kafka_bootstrap, discovery_enabled=False)


@pytest.fixture
def topics(admin):
    """Create topics through the gateway and delete whatever a test left behind."""
    created: list[str] = []

    def create(name: str, **kwargs) -> str:
        admin.create_topic(name, **kwargs)
        created.append(name)
        wait_until(lambda: admin.cluster_metadata().topic(name) is not None, message=f"topic {name}")
        return name

    yield create
    existing = {t.name for t in admin.cluster_metadata().topics}
    admin.delete_topics([name for name in dict.fromkeys(created) if name in existing])


def delete_topic(admin: KafkaAdmin, name: str) -> None:
    admin.delete_topics([name])
    wait_until(lambda: admin.cluster_metadata().topic(name) is None, message=f"topic {name} to go")


def commit_offsets(connection: ClusterConnection, group: str, topic: str, partitions: int) -> None:
    """A group that committed on a topic and left (EMPTY): assign and commit, no subscription."""
    records = []
    with EventProducer(connection) as producer:
        for partition in range(partitions):
            producer.produce(topic, b"x", partition=partition)
    with EventConsumer(connection, group_id=group) as consumer:
        consumer.assign([PartitionOffset(topic, p, 0) for p in range(partitions)])
        deadline = time.monotonic() + 20
        while len(records) < partitions and time.monotonic() < deadline:
            records.extend(consumer.poll_batch(max_records=partitions, timeout_s=0.5))
        consumer.commit(records)


def run_ok(cluster: Cluster, **kwargs) -> DiscoveryRun:
    run = discovery_run(cluster_id=cluster.pk, trigger="test", **kwargs)
    assert run.status == DiscoveryRun.Status.SUCCEEDED, run.error
    return run


# ---------------------------------------------------------------------------------------------
# Topics, partitions, configs
# ---------------------------------------------------------------------------------------------
def test_discovery_finds_topics_with_partitions_leaders_isr_and_configs(
    cluster, admin, connection, topics, unique_name
):
    orders = topics(
        f"{unique_name}.orders", partitions=3, config={"retention.ms": "3600000", "min.insync.replicas": "1"}
    )
    compacted = topics(f"{unique_name}.state", partitions=1, config={"cleanup.policy": "compact"})
    # A fresh broker creates its internal __consumer_offsets topic on the first group commit.
    commit_offsets(connection, f"{unique_name}-g", orders, 3)
    broker_ids = [b.node_id for b in admin.cluster_metadata().brokers]

    run = run_ok(cluster)

    assert run.trigger == "test"
    assert run.finished_at is not None and run.duration_ms is not None and run.error == ""
    assert run.topics_seen >= 2 and run.topics_created == run.topics_seen  # a first run creates everything
    assert run.partitions_seen >= 4

    topic = Topic.objects.get(cluster=cluster, name=orders)
    assert (topic.partition_count, topic.replication_factor, topic.under_replicated_partitions) == (3, 1, 0)
    assert topic.retention_ms == 3_600_000
    assert topic.configs["retention.ms"] == "3600000"
    assert topic.cleanup_policy == "delete"
    assert topic.message_timestamp_type == "CreateTime"
    assert topic.min_insync_replicas == 1
    assert topic.retention_bytes == -1
    assert not topic.internal
    assert topic.first_seen == topic.last_seen and topic.deleted_at is None

    partitions = list(Partition.objects.filter(topic=topic).order_by("number"))
    assert [p.number for p in partitions] == [0, 1, 2]
    for partition in partitions:
        assert partition.leader in broker_ids
        assert partition.replicas == [partition.leader]
        assert partition.isr == [partition.leader]
        assert not partition.under_replicated

    assert Topic.objects.get(cluster=cluster, name=compacted).cleanup_policy == "compact"
    internal = Topic.objects.get(cluster=cluster, name="__consumer_offsets")
    assert internal.internal and internal.cleanup_policy == "compact"


def test_a_second_run_changes_nothing_but_last_seen(cluster, topics, unique_name):
    name = topics(unique_name, partitions=2)
    run_ok(cluster)
    first = Topic.objects.get(cluster=cluster, name=name)

    second = run_ok(cluster)

    again = Topic.objects.get(cluster=cluster, name=name)
    assert second.topics_created == 0
    assert again.last_seen > first.last_seen
    assert again.first_seen == first.first_seen
    assert again.updated_at == first.updated_at  # "recently changed" does not move on a mere sighting


# ---------------------------------------------------------------------------------------------
# Consumer groups
# ---------------------------------------------------------------------------------------------
def test_discovery_finds_groups_with_members_assignments_and_committed_topics(
    cluster, connection, admin, topics, unique_name
):
    live_topic = topics(f"{unique_name}.live", partitions=2)
    old_topic = topics(f"{unique_name}.old", partitions=1)
    live_group, old_group = f"{unique_name}-live", f"{unique_name}-old"
    commit_offsets(connection, old_group, old_topic, partitions=1)

    with EventProducer(connection) as producer:
        for i in range(4):
            producer.produce(live_topic, f"{i}".encode(), partition=i % 2)
    # The consumer stays in its group while discovery runs, so the group has a member then.
    with EventConsumer(connection, group_id=live_group) as consumer:
        consumer.subscribe([live_topic])
        records = []
        deadline = time.monotonic() + 30
        while len(records) < 4 and time.monotonic() < deadline:
            records.extend(consumer.poll_batch(max_records=4, timeout_s=0.5))
        consumer.commit(records)
        wait_until(lambda: admin.describe_consumer_groups([live_group])[live_group].state == "STABLE")

        run = run_ok(cluster)

    assert run.groups_seen >= 2 and run.groups_created == run.groups_seen
    live = ConsumerGroup.objects.get(cluster=cluster, group_id=live_group)
    assert live.state == "STABLE"
    assert live.protocol in ("CLASSIC", "CONSUMER")
    assert live.member_count == 1
    [member] = live.members
    assert member["client_id"] == "eventscope"
    assert "127.0.0.1" in member["host"]
    assert sorted(map(tuple, member["assignment"])) == [(live_topic, 0), (live_topic, 1)]
    assert [t.name for t in live.committed_topics.all()] == [live_topic]
    assert live.first_seen == live.last_seen and live.deleted_at is None

    old = ConsumerGroup.objects.get(cluster=cluster, group_id=old_group)
    assert old.state == "EMPTY"
    assert old.member_count == 0 and old.members == []
    assert [t.name for t in old.committed_topics.all()] == [old_topic]

    # The consumer has left: the next run updates the group (and says it changed), links unchanged.
    wait_until(lambda: admin.describe_consumer_groups([live_group])[live_group].state == "EMPTY")
    run_ok(cluster)
    left = ConsumerGroup.objects.get(cluster=cluster, group_id=live_group)
    assert (left.state, left.member_count, left.members) == ("EMPTY", 0, [])
    assert left.updated_at > live.updated_at and left.first_seen == live.first_seen
    assert [t.name for t in left.committed_topics.all()] == [live_topic]
    admin.delete_consumer_groups([old_group, live_group])


# ---------------------------------------------------------------------------------------------
# Disappearing and reappearing
# ---------------------------------------------------------------------------------------------
def test_a_deleted_topic_and_group_are_marked_deleted_and_keep_their_documentation(
    cluster, connection, admin, topics, unique_name
):
    name = topics(unique_name, partitions=3)
    group = f"{unique_name}-g"
    commit_offsets(connection, group, name, partitions=3)
    first = run_ok(cluster)
    team = Team.objects.create(name=f"team {unique_name}", slug=unique_name[:100])
    Topic.objects.filter(cluster=cluster, name=name).update(description="Orders, as placed.", owner_team=team)
    ConsumerGroup.objects.filter(cluster=cluster, group_id=group).update(description="The billing reader.")
    seen_before = Topic.objects.get(cluster=cluster, name=name).last_seen
    topic_pk = Topic.objects.get(cluster=cluster, name=name).pk
    group_pk = ConsumerGroup.objects.get(cluster=cluster, group_id=group).pk
    # Discovered rows are searchable at once (discovery writes in bulk, so it feeds the index itself).
    assert topic_pk in {hit.object_id for hit in search_catalog(name, kinds={search.Kind.TOPIC})}
    assert group_pk in {hit.object_id for hit in search_catalog(group, kinds={search.Kind.CONSUMER_GROUP})}

    admin.delete_consumer_groups([group])
    delete_topic(admin, name)
    second = run_ok(cluster)

    topic = Topic.objects.get(cluster=cluster, name=name)
    assert topic.deleted_at is not None and topic.deleted_at >= first.started_at
    assert topic.last_seen == seen_before  # last seen when it was last there
    assert (topic.description, topic.owner_team) == ("Orders, as placed.", team)
    assert topic.partitions.count() == 3  # the last known partitions stay with it
    assert second.topics_deleted >= 1 and second.groups_deleted >= 1
    gone_group = ConsumerGroup.objects.get(cluster=cluster, group_id=group)
    assert gone_group.deleted_at is not None
    assert gone_group.description == "The billing reader."
    assert [t.name for t in gone_group.committed_topics.all()] == [name]
    assert not Topic.objects.present().filter(cluster=cluster, name=name).exists()
    assert topic_pk not in {hit.object_id for hit in search_catalog(name, kinds={search.Kind.TOPIC})}
    assert group_pk not in {hit.object_id for hit in search_catalog(group, kinds={search.Kind.CONSUMER_GROUP})}

    # Re-created with fewer partitions: un-deleted, documentation and first sighting kept.
    topics(name, partitions=1)
    run_ok(cluster)
    back = Topic.objects.get(cluster=cluster, name=name)
    assert back.deleted_at is None
    assert back.first_seen == topic.first_seen
    assert back.description == "Orders, as placed."
    assert back.partition_count == 1
    assert list(back.partitions.values_list("number", flat=True)) == [0]
    assert topic_pk in {hit.object_id for hit in search_catalog(name, kinds={search.Kind.TOPIC})}


# ---------------------------------------------------------------------------------------------
# An unreachable cluster
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def throwaway_broker(tmp_path):
    """A broker of this test's own (dev/kafka.sh in a temp dir, on a free port); stopped at the end."""
    env = {**os.environ, "EVENTSCOPE_KAFKA_DIR": str(tmp_path / "kafka"), "EVENTSCOPE_KAFKA_PORT": str(closed_port())}
    script = str(ROOT / "dev" / "kafka.sh")

    def stop() -> None:
        subprocess.run(["bash", script, "stop"], env=env, capture_output=True, timeout=60, check=False)

    try:
        started = subprocess.run(
            ["bash", script, "start"], env=env, capture_output=True, text=True, timeout=150, check=False
        )
        assert started.returncode == 0, started.stderr[-2000:]
        yield started.stdout.strip().splitlines()[-1], stop
    finally:
        stop()


def test_an_unreachable_cluster_fails_the_run_and_keeps_the_data(db, settings, throwaway_broker, unique_name):
    settings.KAFKA_REQUEST_TIMEOUT_S = 3
    bootstrap, stop_broker = throwaway_broker
    own = KafkaAdmin(ClusterConnection(bootstrap_servers=bootstrap, timeout_s=10))
    own.create_topic(unique_name, partitions=2)
    cluster = cluster_create(name="throwaway", bootstrap_servers=bootstrap, discovery_interval_s=30)
    run_ok(cluster)
    before = Topic.objects.get(cluster=cluster, name=unique_name)
    assert cluster_staleness(cluster).is_stale is False

    stop_broker()
    started = time.monotonic()
    failed = discovery_run(cluster_id=cluster.pk, trigger="test")

    assert time.monotonic() - started < 3 * 3 + 5  # bounded by the gateway's timeout, never a hang
    assert failed.status == DiscoveryRun.Status.FAILED
    assert "metadata" in failed.error and failed.finished_at is not None and failed.duration_ms is not None
    after = Topic.objects.get(cluster=cluster, name=unique_name)
    assert after.deleted_at is None
    assert (after.last_seen, after.partition_count) == (before.last_seen, 2)
    assert after.partitions.count() == 2
    status = cluster_staleness(cluster)
    assert status.is_stale and status.last_success_at is not None and status.age_s >= 0


# ---------------------------------------------------------------------------------------------
# Runs never overlap
# ---------------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_of_one_cluster_one_runs_the_other_reports_already_running(kafka_bootstrap):
    cluster = cluster_create(name="overlap", bootstrap_servers=kafka_bootstrap, discovery_enabled=False)
    first_started, second_done = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def hold_first_run(message: str) -> None:
        # Called right after the first run committed its RUNNING row, before it reads Kafka: hold
        # it there until the second call has tried, so the two truly overlap on every machine.
        if not first_started.is_set():
            first_started.set()
            second_done.wait(timeout=30)

    def first() -> None:
        try:
            outcome["first"] = discovery_run(cluster_id=cluster.pk, trigger="test", progress=hold_first_run)
        except Exception as exc:  # reported to the assertions below
            outcome["first"] = exc

    def second() -> None:
        first_started.wait(timeout=30)
        try:
            outcome["second"] = discovery_run(cluster_id=cluster.pk, trigger="test")
        except Exception as exc:  # the expected DiscoveryAlreadyRunningError, asserted below
            outcome["second"] = exc
        finally:
            second_done.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert isinstance(outcome["second"], DiscoveryAlreadyRunningError), outcome["second"]
    assert "already running" in str(outcome["second"])
    assert isinstance(outcome["first"], DiscoveryRun) and outcome["first"].status == DiscoveryRun.Status.SUCCEEDED
    assert outcome["second"].running.pk == outcome["first"].pk
    assert DiscoveryRun.objects.filter(cluster=cluster).count() == 1  # nothing queued up


def test_a_running_row_blocks_a_new_run_until_it_is_old_enough_to_be_abandoned(cluster):
    running = DiscoveryRun.objects.create(cluster=cluster, trigger="schedule")
    with pytest.raises(DiscoveryAlreadyRunningError):
        discovery_run(cluster_id=cluster.pk)

    # Its worker died eleven minutes ago: the row is retired and discovery goes on.
    DiscoveryRun.objects.filter(pk=running.pk).update(started_at=timezone.now() - timedelta(minutes=11))
    run = run_ok(cluster)

    running.refresh_from_db()
    assert running.status == DiscoveryRun.Status.FAILED
    assert "Abandoned" in running.error and running.finished_at is not None
    assert run.pk != running.pk


def test_a_run_stopped_by_an_unexpected_error_is_failed_not_left_running(cluster):
    def broken_progress(message: str) -> None:
        if message.startswith("metadata"):
            raise RuntimeError("progress display broke")

    with pytest.raises(RuntimeError, match="progress display broke"):
        discovery_run(cluster_id=cluster.pk, progress=broken_progress)
    run = DiscoveryRun.objects.get(cluster=cluster)
    assert run.status == DiscoveryRun.Status.FAILED
    assert run.error == "internal error: RuntimeError: progress display broke"
    run_ok(cluster)  # and the cluster is not locked out


# ---------------------------------------------------------------------------------------------
# Staleness (pure rule)
# ---------------------------------------------------------------------------------------------
def test_staleness_rule():
    now = timezone.now()
    never = staleness(last_success_at=None, last_finished_status=None, interval_s=60, now=now)
    assert never == (None, None, True, False)
    fresh = staleness(
        last_success_at=now - timedelta(seconds=100), last_finished_status="succeeded", interval_s=60, now=now
    )
    assert fresh == (now - timedelta(seconds=100), 100.0, False, False)
    old = staleness(
        last_success_at=now - timedelta(seconds=181), last_finished_status="succeeded", interval_s=60, now=now
    )
    assert old.is_stale
    failing = staleness(
        last_success_at=now - timedelta(seconds=5), last_finished_status="failed", interval_s=60, now=now
    )
    assert failing.is_stale and failing.age_s == 5.0 and failing.last_run_failed


def test_a_cluster_never_discovered_is_stale(cluster):
    assert cluster_staleness(cluster) == (None, None, True, False)


# ---------------------------------------------------------------------------------------------
# The task, "sync now", and the command
# ---------------------------------------------------------------------------------------------
def test_the_task_runs_discovery_and_removes_the_schedule_of_a_cluster_that_is_gone(cluster):
    discover_cluster(cluster.pk, "test")
    assert DiscoveryRun.objects.get(cluster=cluster).status == DiscoveryRun.Status.SUCCEEDED

    discover_cluster(cluster.pk, "test")  # an already-running or repeated call never raises
    assert DiscoveryRun.objects.filter(cluster=cluster).count() == 2

    gone_id = cluster.pk
    Cluster.objects.filter(pk=gone_id).delete()  # behind the services' back, as the admin would
    assert PeriodicTask.objects.filter(task="catalog.discover_cluster", args=f"[{gone_id}]").exists()
    discover_cluster(gone_id)
    assert not PeriodicTask.objects.filter(task="catalog.discover_cluster", args=f"[{gone_id}]").exists()


def test_the_task_skips_quietly_when_a_run_is_in_progress(cluster, caplog):
    DiscoveryRun.objects.create(cluster=cluster)
    with caplog.at_level("INFO", logger="catalog.tasks"):
        discover_cluster(cluster.pk)
    assert "already running" in caplog.text
    assert DiscoveryRun.objects.filter(cluster=cluster).count() == 1


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_sync_now_goes_through_the_queue_to_a_real_worker(kafka_bootstrap, redis_url):
    from celery.contrib.testing.worker import start_worker

    from eventscope.celery import app

    cluster = cluster_create(name="sync-now", bootstrap_servers=kafka_bootstrap, discovery_enabled=False)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        discovery_request(cluster=cluster)  # outside a transaction: sent at once
        wait_until(
            lambda: DiscoveryRun.objects.filter(cluster=cluster).exclude(status="running").exists(),
            timeout_s=60,
            message="the worker's run",
        )
    run = DiscoveryRun.objects.get(cluster=cluster)
    assert (run.trigger, run.status) == ("manual", DiscoveryRun.Status.SUCCEEDED)


def test_sync_now_says_so_when_the_queue_is_down_and_queues_nothing(
    cluster, monkeypatch, django_capture_on_commit_callbacks
):
    from eventscope.celery import app

    monkeypatch.setattr(app.conf, "broker_url", f"redis://:hunter2@127.0.0.1:{closed_port()}/0")
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(DiscoveryQueueUnavailableError, match="task queue is unavailable") as raised,
    ):
        discovery_request(cluster=cluster)
    assert callbacks == []
    assert "hunter2" not in str(raised.value)


def test_sync_now_is_sent_only_when_the_transaction_commits(cluster, redis_url, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        discovery_request(cluster=cluster)
    assert len(callbacks) == 1  # registered, not sent: the test transaction never commits


def test_discover_command_runs_a_cluster_with_progress_and_a_summary(cluster, topics, unique_name):
    topics(unique_name)
    out = StringIO()
    call_command("discover", "--cluster", cluster.name, stdout=out)
    output = out.getvalue()
    assert "metadata:" in output
    assert f"cluster {cluster.name}: succeeded in" in output
    assert DiscoveryRun.objects.get(cluster=cluster).trigger == "manual"


def test_discover_command_exit_codes(cluster, settings):
    settings.KAFKA_REQUEST_TIMEOUT_S = 2
    with pytest.raises(CommandError, match="no cluster named 'nope'") as unknown:
        call_command("discover", "--cluster", "nope")
    assert unknown.value.returncode == 2
    with pytest.raises(CommandError, match="not allowed with"):
        call_command("discover", "--cluster", cluster.name, "--all")

    cluster_create(name="down", bootstrap_servers=f"127.0.0.1:{closed_port()}")
    out = StringIO()
    with pytest.raises(CommandError, match="discovery failed for down") as failed:
        call_command("discover", "--cluster", "down", stdout=out)
    assert failed.value.returncode == 1
    assert "FAILED" in out.getvalue()

    DiscoveryRun.objects.create(cluster=cluster)
    err = StringIO()
    with pytest.raises(CommandError) as running:
        call_command("discover", "--cluster", cluster.name, stdout=StringIO(), stderr=err)
    assert running.value.returncode == 1 and "already running" in err.getvalue()


def test_discover_command_without_arguments_runs_the_default_cluster(db, kafka_bootstrap):
    out = StringIO()
    call_command("discover", stdout=out)
    default = Cluster.objects.get(is_default=True)
    assert default.bootstrap_servers == kafka_bootstrap
    assert f"cluster {default.name}: succeeded" in out.getvalue()


def test_discover_command_all_runs_every_cluster_with_discovery_enabled(cluster, kafka_bootstrap):
    enabled = cluster_create(name="enabled-too", bootstrap_servers=kafka_bootstrap)
    out = StringIO()
    call_command("discover", "--all", stdout=out)
    ran = set(DiscoveryRun.objects.values_list("cluster__name", flat=True))
    assert ran == {Cluster.objects.get(is_default=True).name, enabled.name}  # not `cluster`: its discovery is off
    assert out.getvalue().count(": succeeded in") == 2


def test_schedule_follows_the_cluster(cluster):
    task = PeriodicTask.objects.get(task="catalog.discover_cluster", args=f"[{cluster.pk}]")
    assert (task.task, task.enabled, task.interval.every, task.interval.period) == (
        "catalog.discover_cluster",
        False,
        60,
        "seconds",
    )
    cluster.discovery_enabled = True
    discovery_schedule_sync(cluster=cluster)
    task.refresh_from_db()
    assert task.enabled
