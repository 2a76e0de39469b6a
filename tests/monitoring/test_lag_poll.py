"""The lag poller (monitoring.lag) against the real local broker, Redis and database.

Each test creates its own topic and group on the broker and puts them in the catalog the way discovery writes
them (tests/factories.py), on a cluster of its own, so a cycle evaluates only what the test made. Offsets are
committed by real confluent-kafka consumers: a subscribed one (a live member) or a bare commit (no member).
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from celery.signals import task_revoked
from confluent_kafka import Consumer, Producer
from confluent_kafka import TopicPartition as KafkaTopicPartition
from django.core.management import CommandError, call_command
from django.db.models import F
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from rest_framework.test import APIClient

from catalog.services import clusters as cluster_services
from eventscope.kafka import ClusterConnection, KafkaAdmin, KafkaGatewayError, OffsetKind, TopicPartition
from monitoring.lag import LOCK_KEY, POLL_TASK, lag_poll, lag_retention
from monitoring.lag_selectors import cluster_health, group_history, group_lag, topic_history
from monitoring.models import (
    GroupLagSample,
    GroupLagState,
    LagPollRun,
    OffsetTimePoint,
    PartitionLagSample,
    TopicThroughput,
    TopicThroughputSample,
)
from tests.factories import make_cluster, make_group, make_topic

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 3


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def lag_settings(settings):
    settings.EVENTSCOPE_LAG_WINDOW = 6
    settings.EVENTSCOPE_LAG_MIN_SAMPLES = 3
    settings.EVENTSCOPE_LAG_EXACT_PARTITIONS = 0
    return settings


@pytest.fixture
def kafka(kafka_bootstrap, unique_name):
    """A topic of this test's own (3 partitions) and a group name; the topic and group are deleted after."""
    admin = KafkaAdmin(ClusterConnection(bootstrap_servers=kafka_bootstrap, timeout_s=10))
    topic, group = f"{unique_name}-t", f"{unique_name}-g"
    admin.create_topic(topic, partitions=PARTITIONS)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "linger.ms": 5})

    def produce(count: int, *, partition: int | None = None, timestamp_ms: int | None = None) -> None:
        for i in range(count):
            kwargs = {"partition": partition if partition is not None else i % PARTITIONS}
            if timestamp_ms is not None:
                kwargs["timestamp"] = timestamp_ms
            producer.produce(topic, value=f"record-{i}".encode(), **kwargs)
        assert producer.flush(10) == 0

    def commit(offsets: dict[int, int]) -> None:
        """Commit offsets for the group without joining it (no live member)."""
        consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group, "enable.auto.commit": False})
        try:
            consumer.commit(offsets=[KafkaTopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
        finally:
            consumer.close()

    yield SimpleNamespace(
        topic=topic, group=group, admin=admin, produce=produce, commit=commit, bootstrap=kafka_bootstrap
    )
    try:
        admin.delete_consumer_groups([group])
    except Exception as exc:
        print(f"cleanup of group {group}: {exc}")
    admin.delete_topics([topic])


@pytest.fixture
def catalog(kafka, unique_name):
    """The test's cluster with the topic and the group in its catalog, as discovery would write them."""
    cluster = make_cluster(unique_name[:90])
    topic = make_topic(cluster, kafka.topic, partitions=PARTITIONS)
    group = make_group(cluster, kafka.group, topics=[topic], state="EMPTY", member_count=0, members=[])
    return SimpleNamespace(cluster=cluster, topic=topic, group=group)


def poll(cluster) -> LagPollRun:
    run = lag_poll(cluster_id=cluster.pk, trigger="test")
    assert run.status == LagPollRun.Status.OK, run.error
    return run


def state_of(group) -> GroupLagState:
    return GroupLagState.objects.get(group=group)


def by_partition(state: GroupLagState) -> dict[int, dict]:
    return {row["partition"]: row for row in state.partitions}


# ---------------------------------------------------------------------------------------------
# One cycle
# ---------------------------------------------------------------------------------------------
def test_a_cycle_records_committed_log_end_and_lag_per_partition(lag_settings, kafka, catalog):
    kafka.produce(30)  # 10 per partition
    kafka.commit({0: 10, 1: 4, 2: 0})

    run = poll(catalog.cluster)

    assert (run.groups, run.partitions) == (1, PARTITIONS)
    assert run.finished_at is not None and run.duration_ms is not None
    state = state_of(catalog.group)
    rows = by_partition(state)
    assert {p: (r["committed"], r["log_end"], r["lag"]) for p, r in rows.items()} == {
        0: (10, 10, 0),
        1: (4, 10, 6),
        2: (0, 10, 10),
    }
    assert rows[0]["time_lag_s"] == 0.0  # caught up: 0 s, never NaN
    assert state.total_lag == 16
    assert state.status == "OK"  # one sample is no evidence of anything else
    assert state.stale is False
    samples = PartitionLagSample.objects.filter(group=catalog.group, resolution="raw")
    assert sorted(samples.values_list("partition", "committed", "log_end", "lag")) == [
        (0, 10, 10, 0),
        (1, 4, 10, 6),
        (2, 0, 10, 10),
    ]
    assert GroupLagSample.objects.get(group=catalog.group).total_lag == 16
    throughput = TopicThroughput.objects.get(topic=catalog.topic)
    assert [p["log_end"] for p in throughput.partitions] == [10, 10, 10]
    assert throughput.produce_rate is None  # no previous cycle to compare with
    assert OffsetTimePoint.objects.filter(topic=catalog.topic).count() == PARTITIONS

    # The second cycle has rates: 30 more records in between, none consumed.
    kafka.produce(30)
    poll(catalog.cluster)
    throughput.refresh_from_db()
    assert throughput.produce_rate > 0
    state = state_of(catalog.group)
    assert state.total_lag == 46
    assert state.consume_rate == 0.0
    assert state.produce_rate > 0
    assert state.time_to_clear_s is None  # consuming no faster than producing: never clears
    assert group_lag(catalog.group)["time_to_clear"] == "never"
    assert TopicThroughputSample.objects.filter(topic=catalog.topic).count() == 2


def test_lag_equals_kafka_s_own_consumer_groups_tool(lag_settings, kafka, catalog):
    kafka.produce(300)
    kafka.commit({0: 100, 1: 37, 2: 0})
    kafka.produce(45)  # more after the commit; then nothing moves until both have looked

    poll(catalog.cluster)
    tool = subprocess.run(
        [
            "bash",
            str(ROOT / "dev" / "kafka.sh"),
            "tool",
            "consumer-groups",
            "--bootstrap-server",
            kafka.bootstrap,
            "--describe",
            "--group",
            kafka.group,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert tool.returncode == 0, tool.stderr
    theirs = {}
    for line in tool.stdout.splitlines():
        columns = line.split()
        if len(columns) >= 6 and columns[0] == kafka.group and columns[1] == kafka.topic:
            theirs[int(columns[2])] = (int(columns[3]), int(columns[4]), int(columns[5]))
    ours = {p: (r["committed"], r["log_end"], r["lag"]) for p, r in by_partition(state_of(catalog.group)).items()}
    assert len(theirs) == PARTITIONS, tool.stdout
    assert ours == theirs
    assert ours[2] == (0, 115, 115)


# ---------------------------------------------------------------------------------------------
# Status over cycles: WARN while a live consumer falls behind, STOP when it stops, OK when caught up
# ---------------------------------------------------------------------------------------------
def _subscribed_consumer(kafka) -> Consumer:
    consumer = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap,
            "group.id": kafka.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 30_000,
        }
    )
    consumer.subscribe([kafka.topic])
    return consumer


def _consume(consumer: Consumer, count: int, *, timeout_s: float = 30) -> int:
    """Consume up to `count` records (waiting for the group to be joined), commit them; the number consumed."""
    deadline = time.monotonic() + timeout_s
    consumed = 0
    while consumed < count and time.monotonic() < deadline:
        messages = consumer.consume(num_messages=count - consumed, timeout=1)
        messages = [m for m in messages if m.error() is None]
        if messages:
            consumed += len(messages)
            consumer.commit(asynchronous=False)
    return consumed


def test_a_slow_consumer_warns_a_stopped_one_stops_and_a_caught_up_one_is_ok(lag_settings, kafka, catalog):
    kafka.produce(30)
    consumer = _subscribed_consumer(kafka)
    try:
        assert _consume(consumer, 30) == 30
        poll(catalog.cluster)
        assert state_of(catalog.group).status == "OK"
        # A live member that gets through 3 records per partition and cycle while 13 arrive: the lag grows.
        position = dict.fromkeys(range(PARTITIONS), 10)
        statuses = []
        for _cycle in range(5):
            kafka.produce(13 * PARTITIONS)
            position = {p: offset + 3 for p, offset in position.items()}
            consumer.commit(
                offsets=[KafkaTopicPartition(kafka.topic, p, o) for p, o in position.items()], asynchronous=False
            )
            poll(catalog.cluster)
            statuses.append(state_of(catalog.group).status)
        assert statuses[-1] == "WARN", statuses
        warn = state_of(catalog.group)
        assert warn.total_lag == 150
        assert warn.consume_rate > 0 and warn.produce_rate > warn.consume_rate
        assert {row["status"] for row in warn.partitions} == {"WARN"}
    finally:
        consumer.close()  # leaves the group: nobody consumes any more

    statuses = []
    for _cycle in range(4):
        kafka.produce(6)
        poll(catalog.cluster)
        statuses.append(state_of(catalog.group).status)
    assert statuses[-1] == "STOP", statuses
    stopped = state_of(catalog.group)
    assert stopped.consume_rate == 0.0
    assert stopped.time_to_clear_s is None
    assert stopped.since >= warn.sampled_at  # the status changed, so did `since`

    consumer = _subscribed_consumer(kafka)
    try:
        assert _consume(consumer, 150 + 24) == 174
        poll(catalog.cluster)
        back = state_of(catalog.group)
        assert back.status == "OK"
        assert back.total_lag == 0
        assert back.max_time_lag_s == 0.0
        assert back.time_to_clear_s == 0.0
    finally:
        consumer.close()

    history = group_history(catalog.group, since=timezone.now() - timedelta(hours=1))
    assert [point["status"] for point in history][-1] == "OK"
    assert "WARN" in {point["status"] for point in history} and "STOP" in {point["status"] for point in history}
    assert history[0]["sampled_at"] < history[-1]["sampled_at"]


def test_a_group_without_members_keeps_its_lag_and_idle_partitions_never_stop(lag_settings, kafka, catalog):
    kafka.produce(30)
    kafka.commit({0: 10, 1: 10, 2: 5})  # partitions 0 and 1 caught up, 2 behind; nobody consumes
    for _cycle in range(4):
        poll(catalog.cluster)
    rows = by_partition(state_of(catalog.group))
    assert {p: r["status"] for p, r in rows.items()} == {0: "OK", 1: "OK", 2: "STOP"}
    assert state_of(catalog.group).total_lag == 5
    assert state_of(catalog.group).status == "STOP"


def test_an_offset_that_goes_backwards_is_rewind(lag_settings, kafka, catalog):
    kafka.produce(30)
    kafka.commit({0: 10, 1: 10, 2: 10})
    poll(catalog.cluster)
    kafka.commit({0: 2})
    poll(catalog.cluster)
    assert by_partition(state_of(catalog.group))[0]["status"] == "REWIND"
    assert state_of(catalog.group).status == "REWIND"


# ---------------------------------------------------------------------------------------------
# Time lag
# ---------------------------------------------------------------------------------------------
def test_exact_mode_reads_the_timestamp_of_the_record_at_the_committed_offset(lag_settings, kafka, catalog):
    lag_settings.EVENTSCOPE_LAG_EXACT_PARTITIONS = 5
    an_hour_ago_ms = int((time.time() - 3600) * 1000)
    kafka.produce(5, partition=0, timestamp_ms=an_hour_ago_ms)
    kafka.produce(5, partition=1)
    kafka.commit({0: 0, 1: 5})
    poll(catalog.cluster)
    rows = by_partition(state_of(catalog.group))
    assert 3595 <= rows[0]["time_lag_s"] <= 3700
    assert rows[1]["time_lag_s"] == 0.0
    assert state_of(catalog.group).max_time_lag_s == rows[0]["time_lag_s"]


def _delete_records(bootstrap: str, topic: str, partition: int, before_offset: int) -> int:
    """Kafka's DeleteRecords (what retention does to old segments): the log start moves to `before_offset`."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.delete_records([KafkaTopicPartition(topic, partition, before_offset)], request_timeout=10)
    (result,) = [future.result(timeout=15) for future in futures.values()]
    return result.low_watermark


def test_exact_mode_on_an_offset_retention_deleted_falls_back_to_the_oldest_record_as_a_lower_bound(
    lag_settings, kafka, catalog, make_user
):
    lag_settings.EVENTSCOPE_LAG_EXACT_PARTITIONS = 5
    two_hours_ago_ms = int((time.time() - 7200) * 1000)
    one_hour_ago_ms = int((time.time() - 3600) * 1000)
    kafka.produce(5, partition=0, timestamp_ms=two_hours_ago_ms)  # offsets 0..4
    kafka.produce(5, partition=0, timestamp_ms=one_hour_ago_ms)  # offsets 5..9
    kafka.produce(5, partition=1, timestamp_ms=two_hours_ago_ms)  # offsets 0..4, all kept
    kafka.commit({0: 2, 1: 2})
    assert _delete_records(kafka.bootstrap, kafka.topic, 0, 5) == 5
    assert kafka.admin.list_offsets([TopicPartition(kafka.topic, 0)], OffsetKind.EARLIEST) == {
        TopicPartition(kafka.topic, 0): 5
    }

    poll(catalog.cluster)
    state = state_of(catalog.group)
    rows = by_partition(state)
    # Partition 0: record 2 is gone; the oldest kept (offset 5, an hour old) stood in: "at least an hour".
    assert rows[0]["lag"] == 8
    assert 3595 <= rows[0]["time_lag_s"] <= 3700
    assert rows[0]["time_lag_lower_bound"] is True
    # Partition 1: record 2 is there: its own timestamp, exact.
    assert 7195 <= rows[1]["time_lag_s"] <= 7300
    assert rows[1]["time_lag_lower_bound"] is False
    assert set(rows) == {0, 1}  # partition 2: never committed, not shown
    assert state.max_time_lag_s == rows[1]["time_lag_s"]
    assert state.time_lag_lower_bound is True  # partition 0 may be further behind than partition 1

    # The next cycle, exact mode off and nothing moved: the carried-over value keeps its flag.
    lag_settings.EVENTSCOPE_LAG_EXACT_PARTITIONS = 0
    poll(catalog.cluster)
    rows = by_partition(state_of(catalog.group))
    assert rows[0]["time_lag_lower_bound"] is True and rows[0]["time_lag_s"] >= 3595
    assert rows[1]["time_lag_lower_bound"] is False and rows[1]["time_lag_s"] >= 7195

    # The API says so, per partition and on the group.
    api = _api(make_user)
    body = api.get(f"/api/v1/consumer-groups/{kafka.group}/lag").json()
    assert body["time_lag_lower_bound"] is True
    assert [(p["partition"], p["time_lag_lower_bound"]) for p in body["partitions"]] == [(0, True), (1, False)]
    detail = api.get(f"/api/v1/consumer-groups/{kafka.group}/").json()
    assert detail["lag"]["time_lag_lower_bound"] is True

    # The consumer catches up on partition 0: no lag, no bound.
    kafka.commit({0: 10})
    poll(catalog.cluster)
    rows = by_partition(state_of(catalog.group))
    assert (rows[0]["time_lag_s"], rows[0]["time_lag_lower_bound"]) == (0.0, False)


def test_interpolated_time_lag_survives_a_restart_through_the_persisted_table(lag_settings, kafka, catalog):
    kafka.produce(30)
    kafka.commit({0: 10, 1: 10, 2: 10})
    poll(catalog.cluster)
    first_poll = time.time()
    time.sleep(1.5)
    kafka.produce(30)  # offsets 10..19 of each partition, written after the first poll
    # A "restart": nothing survives in memory; the next cycle reads the table back from the database.
    poll(catalog.cluster)
    elapsed = time.time() - first_poll
    rows = by_partition(state_of(catalog.group))
    for row in rows.values():
        assert row["lag"] == 10
        assert 0 < row["time_lag_s"] <= elapsed + 0.5
    points = OffsetTimePoint.objects.get(topic=catalog.topic, partition=0).points
    assert [offset for offset, _at in points] == [10, 20]


# ---------------------------------------------------------------------------------------------
# Deleted groups and topics
# ---------------------------------------------------------------------------------------------
def test_a_deleted_group_stops_being_evaluated(lag_settings, kafka, catalog):
    kafka.produce(30)
    kafka.commit({0: 0})
    poll(catalog.cluster)
    assert GroupLagState.objects.filter(group=catalog.group).exists()

    catalog.group.deleted_at = timezone.now()  # as discovery marks it
    catalog.group.save(update_fields=["deleted_at"])
    run = poll(catalog.cluster)
    assert run.groups == 0
    assert not GroupLagState.objects.filter(group=catalog.group).exists()
    assert group_lag(catalog.group)["status"] == "UNKNOWN"
    assert group_lag(catalog.group)["deleted"] is True
    assert PartitionLagSample.objects.filter(group=catalog.group).count() == 1  # history stays


def test_a_group_gone_from_the_cluster_stops_being_evaluated(lag_settings, kafka, catalog):
    kafka.produce(3)
    kafka.commit({0: 0})
    poll(catalog.cluster)
    kafka.admin.delete_consumer_groups([kafka.group])
    run = poll(catalog.cluster)
    assert run.groups == 0
    assert not GroupLagState.objects.filter(group=catalog.group).exists()


def test_a_deleted_topic_stops_being_evaluated(lag_settings, kafka, catalog):
    kafka.produce(3)
    kafka.commit({0: 0})
    poll(catalog.cluster)
    catalog.topic.deleted_at = timezone.now()
    catalog.topic.save(update_fields=["deleted_at"])
    run = poll(catalog.cluster)
    assert (run.groups, run.partitions) == (0, 0)
    assert not GroupLagState.objects.filter(group=catalog.group).exists()


# ---------------------------------------------------------------------------------------------
# Faults, overlap, expiry
# ---------------------------------------------------------------------------------------------
def test_an_unreachable_cluster_fails_the_cycle_marks_states_stale_and_recovers(lag_settings, kafka, catalog):
    lag_settings.KAFKA_REQUEST_TIMEOUT_S = 2
    kafka.produce(30)
    kafka.commit({0: 5})
    poll(catalog.cluster)

    cluster = cluster_services.cluster_update(cluster=catalog.cluster, bootstrap_servers=f"127.0.0.1:{closed_port()}")
    run = lag_poll(cluster_id=cluster.pk)  # raises nothing
    assert run.status == LagPollRun.Status.FAILED
    assert run.error
    assert run.finished_at is not None
    state = state_of(catalog.group)
    assert state.stale is True
    assert state.total_lag == 5  # the last data stays, marked stale
    health = cluster_health(cluster)
    assert health["stale"] is True and health["status"] == "failed" and health["error"]

    cluster = cluster_services.cluster_update(cluster=cluster, bootstrap_servers=kafka.bootstrap)
    poll(cluster)
    assert state_of(catalog.group).stale is False
    health = cluster_health(cluster)
    assert health["stale"] is False and health["status"] == "ok"
    assert health["groups_by_status"]["OK"] == 1


def test_a_cycle_that_finds_the_previous_one_running_is_skipped(lag_settings, redis_url, catalog):
    import redis

    client = redis.Redis.from_url(redis_url)
    key = LOCK_KEY.format(cluster_id=catalog.cluster.pk)
    client.set(key, "another-worker", ex=60)
    try:
        run = lag_poll(cluster_id=catalog.cluster.pk)
        assert run.status == LagPollRun.Status.SKIPPED
        assert "still running" in run.error
        assert client.get(key) == b"another-worker"  # not ours to release
    finally:
        client.delete(key)
    assert poll(catalog.cluster).status == LagPollRun.Status.OK
    assert client.get(key) is None  # released after the cycle


def test_a_poll_that_expired_in_the_queue_is_recorded_as_skipped(lag_settings, catalog):
    import monitoring.tasks  # noqa: F401 (connects the revoked-task receiver)

    request = SimpleNamespace(name=POLL_TASK, args=[catalog.cluster.pk])
    task_revoked.send(sender=None, request=request, terminated=False, signum=None, expired=True)
    run = LagPollRun.objects.get(cluster=catalog.cluster)
    assert run.status == LagPollRun.Status.SKIPPED
    assert "Expired" in run.error


# ---------------------------------------------------------------------------------------------
# Schedules, retention, the command, the API
# ---------------------------------------------------------------------------------------------
def test_each_cluster_gets_a_lag_poll_schedule_and_loses_it_with_the_cluster(lag_settings, unique_name):
    lag_settings.EVENTSCOPE_LAG_POLL_INTERVAL_S = 15
    cluster = make_cluster(unique_name[:90])
    task = PeriodicTask.objects.get(task=POLL_TASK, args=f"[{cluster.pk}]")
    assert (task.interval.every, task.interval.period, task.expire_seconds, task.enabled) == (15, "seconds", 15, True)
    cluster_services.cluster_delete(cluster=cluster)
    assert not PeriodicTask.objects.filter(task=POLL_TASK, args=f"[{cluster.pk}]").exists()


def test_retention_rolls_raw_samples_up_to_minutes_then_hours(lag_settings, kafka, catalog):
    kafka.produce(30)
    kafka.commit({0: 5, 1: 5, 2: 5})
    for _cycle in range(3):
        poll(catalog.cluster)
    models = (PartitionLagSample, GroupLagSample, TopicThroughputSample)
    for model in models:
        model.objects.update(sampled_at=F("sampled_at") - timedelta(hours=25))
    result = lag_retention()
    assert result.rolled_to_minutes >= 3 * (PARTITIONS + 2)
    assert not PartitionLagSample.objects.filter(group=catalog.group, resolution="raw").exists()
    minute_rows = PartitionLagSample.objects.filter(group=catalog.group, resolution="1m")
    assert minute_rows.exists()
    assert {row.lag for row in minute_rows} == {5}
    assert GroupLagSample.objects.filter(group=catalog.group, resolution="1m").exists()
    history = group_history(catalog.group, since=timezone.now() - timedelta(days=2))
    assert history and all(point["total_lag"] == 15 for point in history)
    assert topic_history(catalog.topic, since=timezone.now() - timedelta(days=2))

    for model in models:
        model.objects.update(sampled_at=F("sampled_at") - timedelta(days=8))
    result = lag_retention()
    assert result.rolled_to_hours > 0
    assert set(PartitionLagSample.objects.filter(group=catalog.group).values_list("resolution", flat=True)) == {"1h"}
    for model in models:
        model.objects.update(sampled_at=F("sampled_at") - timedelta(days=100))
    lag_retention()
    assert not PartitionLagSample.objects.filter(group=catalog.group).exists()
    assert not GroupLagSample.objects.filter(group=catalog.group).exists()


def test_the_poll_lag_command(lag_settings, kafka, catalog, capsys):
    kafka.produce(3)
    kafka.commit({0: 0})
    call_command("poll_lag", "--cluster", catalog.cluster.name, "--once")
    out = capsys.readouterr().out
    assert f"cluster {catalog.cluster.name}: ok" in out
    assert "log-end offsets of 3 partitions" in out
    with pytest.raises(CommandError) as exit_info:
        call_command("poll_lag", "--cluster", "no-such-cluster", "--once")
    assert exit_info.value.returncode == 2


def test_the_poll_lag_command_exits_1_when_the_cluster_is_unreachable(lag_settings, unique_name, capsys):
    lag_settings.KAFKA_REQUEST_TIMEOUT_S = 2
    cluster = make_cluster(unique_name[:90], bootstrap_servers=f"127.0.0.1:{closed_port()}")
    with pytest.raises(CommandError) as exit_info:
        call_command("poll_lag", "--cluster", cluster.name, "--once")
    assert exit_info.value.returncode == 1
    assert "FAILED" in capsys.readouterr().out


def _api(make_user) -> APIClient:
    client = APIClient()
    client.force_authenticate(make_user("lag-viewer", "viewer"))
    return client


def test_the_lag_api(lag_settings, kafka, catalog, make_user):
    kafka.produce(30)
    kafka.commit({0: 10, 1: 4, 2: 0})
    poll(catalog.cluster)
    api = _api(make_user)

    for url in (f"/api/v1/consumer-groups/{kafka.group}/lag", f"/api/v1/consumer-groups/{kafka.group}/lag/"):
        response = api.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["group"] == kafka.group and body["cluster"] == catalog.cluster.name
        assert body["total_lag"] == 16
        assert body["status"] == "OK" and body["stale"] is False
        assert [(p["partition"], p["committed"], p["log_end"], p["lag"], p["status"]) for p in body["partitions"]] == [
            (0, 10, 10, 0, "OK"),
            (1, 4, 10, 6, "OK"),
            (2, 0, 10, 10, "OK"),
        ]
        assert body["partitions"][0]["time_lag_s"] == 0.0
        assert {"time_to_clear_s", "time_to_clear", "max_time_lag_s", "sampled_at"} <= set(body)
        # The first cycle has one point per partition: the lagging ones' records predate it ("at least").
        assert [p["time_lag_lower_bound"] for p in body["partitions"]] == [False, True, True]
        assert body["time_lag_lower_bound"] is True

    listed = api.get("/api/v1/consumer-groups/", {"search": kafka.group}).json()["results"]
    assert [row["lag"]["total_lag"] for row in listed] == [16]
    assert listed[0]["lag"]["time_lag_lower_bound"] is True
    assert listed[0]["lag"]["status"] == "OK"
    detail = api.get(f"/api/v1/consumer-groups/{kafka.group}/").json()
    assert detail["lag"]["total_lag"] == 16 and "partitions" not in detail["lag"]

    missing = api.get("/api/v1/consumer-groups/no-such-group-anywhere/lag")
    assert missing.status_code == 404
    assert set(missing.json()) == {"error"} and missing.json()["error"]["status"] == 404

    # The same group id on a second cluster: ?cluster= picks one; without it, a 400 says so.
    other = make_cluster(f"{catalog.cluster.name[:80]}-b")
    make_group(other, kafka.group)
    ambiguous = api.get(f"/api/v1/consumer-groups/{kafka.group}/lag")
    assert ambiguous.status_code == 400 and "cluster" in ambiguous.json()["error"]["detail"]
    picked = api.get(f"/api/v1/consumer-groups/{kafka.group}/lag", {"cluster": other.name}).json()
    assert picked["cluster"] == other.name and picked["status"] == "UNKNOWN" and picked["partitions"] == []
    assert (
        api.get(f"/api/v1/consumer-groups/{kafka.group}/lag", {"cluster": catalog.cluster.name}).json()["total_lag"]
        == 16
    )

    assert APIClient().get(f"/api/v1/consumer-groups/{kafka.group}/lag").status_code in (401, 403)


def test_error_messages_keep_no_secret(lag_settings, unique_name):
    lag_settings.KAFKA_REQUEST_TIMEOUT_S = 2
    cluster = make_cluster(
        unique_name[:90],
        bootstrap_servers=f"127.0.0.1:{closed_port()}",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username="svc",
        sasl_password="hunter2-very-secret",
    )
    run = lag_poll(cluster_id=cluster.pk)
    assert run.status == LagPollRun.Status.FAILED
    assert "hunter2-very-secret" not in run.error
    assert re.search(r"\S", run.error)


def test_the_poll_task_polls_and_removes_the_schedule_of_a_cluster_that_is_gone(lag_settings, kafka, catalog):
    from monitoring.tasks import poll_lag

    kafka.produce(3)
    kafka.commit({0: 1})
    poll_lag(catalog.cluster.pk)
    assert LagPollRun.objects.get(cluster=catalog.cluster).status == LagPollRun.Status.OK
    assert state_of(catalog.group).total_lag == 0  # committed past partition 0's only record

    gone_id = catalog.cluster.pk + 10_000
    PeriodicTask.objects.create(
        name="stray lag schedule",
        task=POLL_TASK,
        args=f"[{gone_id}]",
        interval=PeriodicTask.objects.get(task=POLL_TASK, args=f"[{catalog.cluster.pk}]").interval,
    )
    poll_lag(gone_id)
    assert not PeriodicTask.objects.filter(task=POLL_TASK, args=f"[{gone_id}]").exists()


def test_a_stuck_partition_s_time_lag_grows_with_the_clock(lag_settings, kafka, catalog):
    kafka.produce(30)
    kafka.commit({0: 2})
    poll(catalog.cluster)
    time.sleep(1)
    kafka.produce(3)  # the log end moves: the table gets a point
    poll(catalog.cluster)
    first = state_of(catalog.group)
    time.sleep(1.5)
    poll(catalog.cluster)  # nothing moved: the same record, older by exactly the time between the samples
    second = state_of(catalog.group)
    grown = by_partition(second)[0]["time_lag_s"] - by_partition(first)[0]["time_lag_s"]
    assert grown == pytest.approx((second.sampled_at - first.sampled_at).total_seconds(), abs=0.01)
    assert grown > 0


# ---------------------------------------------------------------------------------------------
# The simulator's slow consumer (the demo shop on the real broker)
# ---------------------------------------------------------------------------------------------
def test_the_simulator_s_slow_consumer_warns_then_stops_then_recovers(lag_settings, kafka_bootstrap, unique_name):
    import threading

    from simulator.shop import Shop, ShopConfig
    from simulator.topology import SERVICES, TOPICS

    def shop_config(**overrides) -> ShopConfig:
        values = {
            "bootstrap_servers": kafka_bootstrap,
            "topic_prefix": f"{unique_name}.",
            "partitions": 1,
            "processing_ms": 0.0,
            "failure_rate": 0.0,
            "progress_interval_s": 0.0,
            "seed": 7,
        }
        values.update(overrides)
        return ShopConfig(**values)

    # analytics handles 5 records/s (200 ms each) while the shop sends it several dozen per second.
    slow = shop_config(rate=30.0, slow_consumer="analytics", slow_ms=200.0)
    cluster = make_cluster(unique_name[:90])
    inputs = [make_topic(cluster, slow.topic(suffix), partitions=1) for suffix in SERVICES["analytics"].inputs]
    group = make_group(cluster, slow.group_id("analytics"), topics=inputs)
    admin = KafkaAdmin(ClusterConnection(bootstrap_servers=kafka_bootstrap, timeout_s=10))
    try:
        shop = Shop(slow)
        runner = threading.Thread(target=shop.run, daemon=True)
        runner.start()
        try:
            statuses = []
            for _cycle in range(40):
                time.sleep(0.7)
                run = poll(cluster)
                if run.groups:
                    statuses.append(state_of(group).status)
                if statuses[-1:] == ["WARN"]:
                    break
            assert statuses and statuses[-1] == "WARN", statuses
            assert state_of(group).total_lag > 0
        finally:
            shop.request_stop()
            runner.join(60)
        assert not runner.is_alive()

        # Stopped (the shop closed its consumers): the offsets no longer move and the lag stays.
        for _cycle in range(4):
            poll(cluster)
        stopped = state_of(group)
        assert stopped.status == "STOP", stopped.partitions
        assert stopped.total_lag > 0

        # Restarted at full speed: one more order, and the shop drains every backlog before it stops.
        report = Shop(shop_config(rate=5.0, order_limit=1)).run()
        assert report.stopped_by == "drained"
        poll(cluster)
        back = state_of(group)
        assert back.status == "OK", back.partitions
        assert back.total_lag == 0
    finally:
        groups = [slow.group_id(service) for service in SERVICES if service != "orders"]
        try:
            admin.delete_consumer_groups(groups)
        except KafkaGatewayError as exc:  # a group may never have committed
            print(f"cleanup of the shop's groups: {exc.message}")
        admin.delete_topics([slow.topic(suffix) for suffix in TOPICS])
