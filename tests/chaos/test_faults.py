"""Faults survived: Kafka gone for 60 s, Redis gone, a Celery worker process SIGKILLed mid-task.

Everything here runs against the private Kafka, Redis and database of tests/chaos/conftest.py, with
Eventscope's real processes (gunicorn, Celery worker and beat, the trace indexer) as subprocesses.
`make chaos` runs only these; `make test` runs them with the rest.
"""

from __future__ import annotations

import html
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests
from confluent_kafka import Consumer, Producer
from confluent_kafka import TopicPartition as KafkaTopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from ..conftest import SCREENSHOTS
from .conftest import PASSWORD, VENV_BIN, Stack, wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.kafka, pytest.mark.redis, pytest.mark.browser]

OUTAGE_S = 60


# ---------------------------------------------------------------------------------------------
# Kafka helpers (tests may use the client directly)
# ---------------------------------------------------------------------------------------------
def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept until the answer came: its handle serves it
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(timeout=60)


def produce(bootstrap: str, topic: str, start: int, count: int, *, prefix: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "enable.idempotence": True})
    for i in range(start, start + count):
        value = json.dumps({"correlation_id": f"{prefix}-{i}", "n": i})
        while True:
            try:
                producer.produce(topic, value=value, key=f"k-{i % 31}")
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(60) == 0, "not every record was delivered"


def commit_offsets(bootstrap: str, group: str, topic: str, partitions: int, offset: int) -> None:
    """Commit an offset on every partition for a group (a group without members, as after a consumer stops)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[KafkaTopicPartition(topic, p, offset) for p in range(partitions)], asynchronous=False)
    finally:
        consumer.close()


# ---------------------------------------------------------------------------------------------
# What the pages and API answer
# ---------------------------------------------------------------------------------------------
def urls_to_check(cluster_id: int, cluster: str, topic: str, group: str, correlation_id: str) -> list[str]:
    return [
        "/",
        "/catalog/",
        "/catalog/topics/",
        f"/catalog/topics/{cluster}/{topic}/",
        "/catalog/consumer-groups/",
        f"/catalog/consumer-groups/{cluster}/{group}/",
        "/catalog/clusters/",
        f"/catalog/clusters/{cluster}/",
        "/monitoring/",
        "/monitoring/clusters/",
        f"/monitoring/clusters/{cluster_id}/",
        "/monitoring/indexer/",
        "/lineage/",
        f"/traces/{correlation_id}/",
        f"/search/?q={correlation_id}",
        "/metrics",
        "/healthz",
        "/api/v1/clusters/",
        "/api/v1/topics/",
        "/api/v1/consumer-groups/",
        f"/api/v1/consumer-groups/{group}/lag",
        f"/api/v1/traces/{correlation_id}",
    ]


def hit(session: requests.Session, base: str, paths: list[str]) -> list[str]:
    """GET every path; the answers that are server errors (5xx, no answer within 60 s), as messages."""
    problems = []
    for path in paths:
        try:
            response = session.get(base + path, timeout=60, allow_redirects=False)
        except requests.RequestException as exc:
            problems.append(f"GET {path}: no answer ({type(exc).__name__}: {exc})")
            continue
        if response.status_code >= 500:
            problems.append(f"GET {path}: {response.status_code} {response.text[:300]!r}")
    return problems


def post_form(session: requests.Session, base: str, path: str) -> requests.Response:
    """POST a page's form (CSRF token from the session's cookie), following the redirect to the page."""
    return session.post(
        base + path,
        data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": base + "/"},
        timeout=60,
    )


def max_id(stack: Stack, table: str) -> int:
    return stack.database.scalar(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608 (a fixed table name)


def index_counts(stack: Stack, topic: str) -> tuple[int, int]:
    """(rows, distinct (topic, partition, offset)) of the trace index for one topic."""
    return tuple(
        stack.database.query(
            'SELECT COUNT(*), COUNT(DISTINCT "partition" || \':\' || "offset") FROM monitoring_traceevent '
            "WHERE topic = %s",
            (topic,),
        )[0]
    )


def group_lag_state(stack: Stack, group: str) -> tuple | None:
    rows = stack.database.query(
        "SELECT s.stale, s.total_lag FROM monitoring_grouplagstate s "
        "JOIN catalog_consumergroup g ON s.group_id = g.id WHERE g.group_id = %s",
        (group,),
    )
    return rows[0] if rows else None


def has_run(stack: Stack, table: str, after_id: int, cluster_id: int, status: str) -> bool:
    return any(run[1] == status for run in runs_after(stack, table, after_id, cluster_id))


def runs_after(stack: Stack, table: str, after_id: int, cluster_id: int) -> list[tuple[int, str, str]]:
    return stack.database.query(
        f"SELECT id, status, error FROM {table} WHERE id > %s AND cluster_id = %s ORDER BY id",  # noqa: S608
        (after_id, cluster_id),
    )


# ---------------------------------------------------------------------------------------------
# Kafka gone for 60 s
# ---------------------------------------------------------------------------------------------
def test_kafka_outage_no_5xx_stale_marked_everything_recovers_index_exactly_once(chaos_stack, unique_name, page):
    stack = chaos_stack
    bootstrap = stack.kafka.bootstrap
    cluster_id, cluster = stack.default_cluster()
    topic, group, prefix = unique_name, f"{unique_name}-readers", f"{unique_name}-c"
    create_topic(bootstrap, topic, 3)
    produce(bootstrap, topic, 0, 3000, prefix=prefix)
    commit_offsets(bootstrap, group, topic, 3, 500)
    # Discovery every 10 s (the minimum) so that the outage spans several runs; lag is polled every 3 s.
    stack.manage(
        "shell",
        "-c",
        "from catalog.models import Cluster; from catalog.services.clusters import cluster_update; "
        "cluster_update(cluster=Cluster.objects.get(is_default=True), discovery_interval_s=10)",
    )
    try:
        stack.start_web()
        stack.start_worker()
        stack.start_beat()
        stack.start_indexer(topic)
        session = stack.login()
        paths = urls_to_check(cluster_id, cluster, topic, group, f"{prefix}-7")

        # Before: discovered, lag measured, indexed.
        wait_for(
            lambda: stack.database.scalar(
                "SELECT COUNT(*) FROM catalog_consumergroup WHERE group_id = %s AND deleted_at IS NULL", (group,)
            ),
            120,
            "discovery finding the test's group",
        )
        wait_for(lambda: group_lag_state(stack, group), 120, "a lag poll measuring the group")
        assert group_lag_state(stack, group)[1] == 3000 - 3 * 500
        wait_for(lambda: index_counts(stack, topic)[0] == 3000, 120, "the indexer indexing the first 3,000 records")
        assert hit(session, stack.web_url, paths) == []

        # More records, and Kafka goes away while the indexer works through them.
        produce(bootstrap, topic, 3000, 30_000, prefix=prefix)
        discovery_mark, lag_mark = max_id(stack, "catalog_discoveryrun"), max_id(stack, "monitoring_lagpollrun")
        stack.kafka.stop()
        outage_started = time.monotonic()

        problems: list[str] = []
        while time.monotonic() - outage_started < OUTAGE_S - 15:
            problems += hit(session, stack.web_url, paths)
            time.sleep(3)
        # Test connection and sync now while the cluster is down: a message on the page, not an error.
        tested = post_form(session, stack.web_url, f"/catalog/clusters/{cluster}/test-connection/")
        assert tested.status_code == 200 and "Could not connect to" in tested.text, tested.text[:2000]
        synced = post_form(session, stack.web_url, f"/catalog/clusters/{cluster}/sync/")
        assert synced.status_code == 200, synced.text[:2000]
        assert problems == [], "\n".join(problems)
        stack.assert_running("web", "worker", "beat", "indexer")

        # Stale data is marked as stale: the runs failed, the lag is flagged, the pages say so.
        # (The first runs may have read the cluster before it went away; the ones after failed, none succeeded.)
        discoveries = [
            r[1] for r in runs_after(stack, "catalog_discoveryrun", discovery_mark, cluster_id) if r[1] != "running"
        ]
        assert discoveries.count("failed") >= 2 and discoveries[-1] == "failed", discoveries
        # (A cycle due while the last one waited for Kafka's timeout is recorded as skipped.)
        polls = [
            r[1] for r in runs_after(stack, "monitoring_lagpollrun", lag_mark, cluster_id) if r[1] in ("ok", "failed")
        ]
        assert polls[-3:] == ["failed"] * 3, polls
        assert group_lag_state(stack, group)[0] in (True, 1)
        health = session.get(f"{stack.web_url}/monitoring/clusters/{cluster_id}/", timeout=60).text
        assert 'id="cluster-stale"' in health and "The last poll failed" in health
        detail = session.get(f"{stack.web_url}/catalog/clusters/{cluster}/", timeout=60).text
        assert 'class="badge stale"' in detail and "last sync failed" in detail
        (last_error,) = stack.database.query(
            "SELECT error FROM catalog_discoveryrun WHERE cluster_id = %s AND status = 'failed' ORDER BY id DESC",
            (cluster_id,),
        )[0]
        assert last_error and html.escape(last_error) in detail  # the discovery runs table says why
        assert "Last successful discovery" in detail
        group_page = session.get(f"{stack.web_url}/catalog/consumer-groups/", timeout=60).text
        assert "lag-stale" in group_page
        lag = session.get(f"{stack.web_url}/api/v1/consumer-groups/{group}/lag", timeout=60).json()
        assert lag["stale"] is True, lag
        # What a person sees meanwhile (screenshots to look at; the assertions above are the test).
        page.goto(f"{stack.web_url}/accounts/login/")
        page.fill("#id_username", "chaos")
        page.fill("#id_password", PASSWORD)
        page.click(".login-card button[type=submit]")
        page.wait_for_url(lambda url: "/accounts/login/" not in url)
        for name, path in (
            ("cluster", f"/catalog/clusters/{cluster}/"),
            ("lag", f"/monitoring/clusters/{cluster_id}/"),
        ):
            page.goto(f"{stack.web_url}{path}")
            page.screenshot(path=str(SCREENSHOTS / f"chaos-kafka-outage-{name}.png"), full_page=True)

        remaining = OUTAGE_S - (time.monotonic() - outage_started)
        if remaining > 0:
            time.sleep(remaining)
        stack.kafka.start()
        restarted_discovery, restarted_lag = (
            max_id(stack, "catalog_discoveryrun"),
            max_id(stack, "monitoring_lagpollrun"),
        )
        produce(bootstrap, topic, 33_000, 2000, prefix=prefix)
        # Everything recovers by itself: discovery, lag polling, the indexer catching up exactly once. Meanwhile
        # the group never counts as deleted nor loses its lag state (a broker that has just started may list
        # groups before its coordinator has loaded them all).
        flaps: list[str] = []

        def recovered() -> bool:
            deleted_at = stack.database.scalar(
                "SELECT deleted_at FROM catalog_consumergroup WHERE group_id = %s", (group,)
            )
            state = group_lag_state(stack, group)
            if deleted_at is not None or state is None:
                flaps.append(f"deleted_at={deleted_at} state={state}")
            return (
                has_run(stack, "catalog_discoveryrun", restarted_discovery, cluster_id, "succeeded")
                and has_run(stack, "monitoring_lagpollrun", restarted_lag, cluster_id, "ok")
                and state is not None
                and state[0] in (False, 0)
            )

        wait_for(recovered, 180, "a successful discovery and lag poll after Kafka came back", interval=0.2)
        assert flaps == [], flaps[:5]
        wait_for(lambda: group_lag_state(stack, group)[1] == 35_000 - 3 * 500, 60, "the lag of all 35,000 records")
        wait_for(lambda: index_counts(stack, topic)[0] >= 35_000, 180, "the indexer catching up to 35,000 records")
        time.sleep(3)  # a duplicate written after the catch-up would show now
        assert index_counts(stack, topic) == (35_000, 35_000)
        indexed_offsets = stack.database.scalar(
            "SELECT SUM(next_offset) FROM monitoring_indexeroffset WHERE topic = %s", (topic,)
        )
        assert indexed_offsets == 35_000

        health = session.get(f"{stack.web_url}/monitoring/clusters/{cluster_id}/", timeout=60).text
        assert 'id="cluster-fresh"' in health
        assert hit(session, stack.web_url, paths) == []
        stack.assert_running("web", "worker", "beat", "indexer")
    finally:
        stack.stop_all()


# ---------------------------------------------------------------------------------------------
# Redis gone
# ---------------------------------------------------------------------------------------------
def test_redis_outage_pages_and_api_keep_serving_and_beat_resumes(chaos_stack, unique_name):
    stack = chaos_stack
    cluster_id, cluster = stack.default_cluster()
    try:
        stack.start_web()
        stack.start_worker()
        stack.start_beat()
        session = stack.login()
        mark = max_id(stack, "monitoring_lagpollrun")
        wait_for(
            lambda: has_run(stack, "monitoring_lagpollrun", mark, cluster_id, "ok"),
            120,
            "beat and the worker running a lag poll",
        )  # fmt: skip
        paths = urls_to_check(cluster_id, cluster, "no-such-topic", "no-such-group", "no-such-id")

        stack.redis.stop()
        try:
            problems = hit(session, stack.web_url, paths)
            # Logging in counts failures in Redis (the login throttle): without it, logins still work.
            fresh = stack.login()
            problems += hit(fresh, stack.web_url, ["/catalog/"])
            wrong = requests.Session()
            wrong.get(f"{stack.web_url}/accounts/login/", timeout=30)
            refused = wrong.post(
                f"{stack.web_url}/accounts/login/",
                data={"username": "chaos", "password": "wrong", "csrfmiddlewaretoken": wrong.cookies["csrftoken"]},
                timeout=30,
            )
            assert refused.status_code == 200 and "Please enter a correct username" in refused.text, refused.text[:1000]
            basic = requests.get(f"{stack.web_url}/api/v1/topics/", auth=("chaos", PASSWORD), timeout=30)
            assert basic.status_code == 200, basic.text[:1000]
            bad_basic = requests.get(f"{stack.web_url}/api/v1/topics/", auth=("chaos", "wrong"), timeout=30)
            assert bad_basic.status_code == 401, bad_basic.text[:1000]
            # Sync now needs the task queue: it says that it is down, and nothing breaks.
            synced = post_form(session, stack.web_url, f"/catalog/clusters/{cluster}/sync/")
            assert synced.status_code == 200 and "The task queue is unavailable" in synced.text, synced.text[:2000]
            # The API's sync answers 503 in the API's error format: the one deliberate 5xx, saying what is down.
            api_sync = requests.post(
                f"{stack.web_url}/api/v1/clusters/{cluster}/sync/", auth=("chaos", PASSWORD), timeout=30
            )
            assert api_sync.status_code == 503, api_sync.text[:1000]
            assert "task queue is unavailable" in json.dumps(api_sync.json()), api_sync.text[:1000]
            time.sleep(10)  # beat's ticks and the worker's reconnects meanwhile
            problems += hit(session, stack.web_url, paths)
            assert problems == [], "\n".join(problems)
            stack.assert_running("web", "worker", "beat")
        finally:
            stack.redis.start()

        # Beat sends scheduled tasks again and the worker runs them.
        mark = max_id(stack, "monitoring_lagpollrun")
        wait_for(
            lambda: has_run(stack, "monitoring_lagpollrun", mark, cluster_id, "ok"),
            120,
            "a scheduled lag poll after Redis came back",
        )  # fmt: skip
        stack.assert_running("web", "worker", "beat")
    finally:
        stack.stop_all()


# ---------------------------------------------------------------------------------------------
# A worker process SIGKILLed in the middle of a task
# ---------------------------------------------------------------------------------------------
# ---------------------------------------------------------------------------------------------
# Beat told to stop while its tick waits on the database
# ---------------------------------------------------------------------------------------------
def _beat_waits_on_the_lock(stack: Stack) -> bool:
    return bool(
        stack.database.scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query ILIKE %s",
            ("%django_celery_beat_periodictasks%",),
        )
    )


def test_beat_stops_on_term_while_its_tick_waits_on_the_database(chaos_stack):
    """SIGTERM landing in the middle of one of beat's queries: beat still stops, and saves its schedule.

    Celery's own handler queried the database inside the signal handler; on PostgreSQL that query
    waited for psycopg's lock on the connection, held by the query the signal interrupted, and beat
    hung until killed. Here (on PostgreSQL) another session locks the table beat reads every tick,
    so beat's tick is blocked in a query when TERM arrives, twice (as from Ctrl-C plus a supervisor).
    """
    stack = chaos_stack
    beat = stack.start_beat()
    try:
        wait_for(lambda: "beat: Starting" in stack.log("beat"), 60, "beat started")
        time.sleep(2)  # past its start-up queries, into the tick loop
        held = None
        if stack.database.vendor == "postgresql":
            import psycopg

            held = psycopg.connect(stack.database.url.replace("postgres://", "postgresql://", 1))
            held.execute("LOCK TABLE django_celery_beat_periodictasks IN ACCESS EXCLUSIVE MODE")
            wait_for(lambda: _beat_waits_on_the_lock(stack), 30, "beat's tick waiting on the locked table")
        beat.send_signal(signal.SIGTERM)
        beat.send_signal(signal.SIGTERM)
        if held is not None:
            time.sleep(3)
            assert beat.poll() is None, "beat left while its query could not have finished"
            held.rollback()
            held.close()
        try:
            code = beat.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"beat still running 30 s after TERM: {stack.log('beat')}")
        assert code == 0, stack.log("beat")
        assert "beat: Shutting down" in stack.log("beat")
    finally:
        stack.stop("beat")


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def test_sigkill_of_a_worker_process_mid_lag_poll_redoes_the_whole_cycle_once(chaos_stack, unique_name):
    stack = chaos_stack
    bootstrap = stack.kafka.bootstrap
    cluster_id, _ = stack.default_cluster()
    partitions, groups = 200, 100
    topic = unique_name
    create_topic(bootstrap, topic, partitions)
    produce(bootstrap, topic, 0, partitions * 10, prefix=topic)
    for g in range(groups):
        commit_offsets(bootstrap, f"{topic}-g{g:03d}", topic, partitions, 5)
    stack.manage("discover")  # the catalog knows the groups: the lag poll evaluates the catalog's groups
    try:
        worker = stack.start_worker(concurrency=1)
        # The lag samples of this test's groups (the cluster may have others' groups too).
        samples = (
            "SELECT COUNT(*) FROM monitoring_partitionlagsample s JOIN catalog_consumergroup g ON s.group_id = g.id "
            "WHERE s.cluster_id = %s AND g.group_id LIKE %s"
        )
        mine = (cluster_id, f"{topic}-g%")
        before = stack.database.scalar(samples, mine)
        mark = max_id(stack, "monitoring_lagpollrun")
        sent = subprocess_call(stack, "monitoring.poll_lag", [cluster_id, "test"])

        # The cycle has started (its RUNNING row is committed) and is now inside its one write transaction.
        (killed_run,) = wait_for(
            lambda: [r for r in runs_after(stack, "monitoring_lagpollrun", mark, cluster_id) if r[1] == "running"],
            90,
            "the lag poll starting",
            interval=0.01,
        )
        wait_for(stack.database.write_in_progress, 90, "the cycle's write transaction", interval=0.005)
        (child,) = _children(worker.pid)
        os.kill(child, signal.SIGKILL)
        status = stack.database.scalar("SELECT status FROM monitoring_lagpollrun WHERE id = %s", (killed_run[0],))
        assert status == "running", "the cycle committed before the kill: nothing was tested"
        assert stack.database.scalar(samples, mine) == before, "a half cycle was written"

        # The broker gives the task back (acks_late, reject_on_worker_lost); its redelivery redoes the cycle.
        redone = wait_for(
            lambda: [r for r in runs_after(stack, "monitoring_lagpollrun", killed_run[0], cluster_id) if r[1] == "ok"],
            120,
            "the redelivered task finishing the cycle",
        )
        # The killed cycle ends failed (abandoned, closed by its redelivery), the redelivery's is the one success,
        # and every partition of every group has exactly one new sample: the cycle was written once, whole.
        runs = runs_after(stack, "monitoring_lagpollrun", mark, cluster_id)
        assert [status for _, status, _ in runs] == ["failed", "ok"], runs
        assert runs[0][0] == killed_run[0] and "Abandoned" in runs[0][2]
        assert stack.database.scalar(samples, mine) == before + partitions * groups, "the cycle was not written once"
        assert stack.database.scalar("SELECT partitions FROM monitoring_lagpollrun WHERE id = %s", (redone[0][0],)) >= (
            partitions * groups
        )
        log = stack.log("worker", tail=200_000)
        assert re.search(r"exited with 'signal 9 \(SIGKILL\)'", log), log[-3000:]
        assert sent in log and "redelivered after its worker died mid-cycle" in log, log[-3000:]
        assert worker.poll() is None and _children(worker.pid) and _children(worker.pid) != [child]
    finally:
        stack.stop_all()


def subprocess_call(stack: Stack, task: str, args: list) -> str:
    """Send a task through the private Redis with `celery call`; returns its id."""
    done = subprocess.run(
        [str(VENV_BIN / "celery"), "-A", "eventscope", "call", task, "--args", json.dumps(args)],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]
