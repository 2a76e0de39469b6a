"""One lag poll cycle over 1,000 consumer groups and 10,000 partitions (goal: under 5 s), against Kafka's own
`kafka-consumer-groups --describe --all-groups` on the same groups in the same run.

Setup (not timed): a throwaway local broker (`dev/kafka.sh start` in a temp dir, on a free port), so the
shared development broker keeps its own topics and groups and the tool describes exactly ours. 1,000 topics
of 10 partitions are created through the gateway from a thread pool; RECORDS_PER_PARTITION records go to
every partition; each group commits offsets on one topic (all 10 partitions, half-way through them) with a
plain consumer (explicit offsets, no subscription), so every group is behind on 10 partitions: 1,000 groups,
10,000 partitions, 10,000 group-partitions with lag. The catalog is filled by one discovery run.

Measured, in a temporary database (a SQLite file in the temp dir, or a test database on the configured
PostgreSQL), with `lag_poll` exactly as the Celery task calls it:
- the first cycle (every state, table and throughput row is created);
- steady cycles (median of STEADY_RUNS): the beat schedule's every-15-seconds work on a cluster at rest,
  with exact time lag on for EVENTSCOPE_LAG_EXACT_PARTITIONS partitions as configured (the headline figure);
- busy cycles (median of BUSY_RUNS): a record lands on every partition between cycles, so every log end
  moves and every partition's (offset, time) table is read and rewritten: the worst case for the database;
- the phases of a cycle (Kafka reads of groups and offsets, log-end offsets, exact timestamps, computing and
  writing) from its progress messages, and its query count.
Baseline: `dev/kafka.sh tool consumer-groups --describe --all-groups`, which reads every group's offsets and
the log ends of their partitions, the same reads a poll cycle makes. The broker is always stopped.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka import TopicPartition as KafkaTopicPartition

from benchmarks.bench_discovery import _counting_queries, _free_port, _kafka_sh, _temporary_database

TOPICS = 1_000
PARTITIONS_PER_TOPIC = 10
GROUPS = 1_000
RECORDS_PER_PARTITION = 20
COMMITTED_OFFSET = 10
STEADY_RUNS = 3
BUSY_RUNS = 3
CLI_RUNS = 2
CREATE_THREADS = 32
GROUP_THREADS = 16
GOAL_S = 5.0


def _say(message: str) -> None:
    print(f"  lag_poll: {message}", file=sys.stderr, flush=True)


def run() -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="eventscope-bench-lag-"))
    env = {**os.environ, "EVENTSCOPE_KAFKA_DIR": str(state / "kafka"), "EVENTSCOPE_KAFKA_PORT": str(_free_port())}
    try:
        bootstrap = _kafka_sh(["start"], env).strip().splitlines()[-1]
        _say(f"broker at {bootstrap}; creating {TOPICS} topics x {PARTITIONS_PER_TOPIC} partitions, {GROUPS} groups")
        setup = _populate(bootstrap)
        _say(f"setup done: {setup}; baseline (Kafka's consumer-groups tool)")
        baseline = _baseline(bootstrap, env)
        _say(f"baseline: {baseline['kafka_consumer_groups_describe_s']} s; poll cycles")
        with _temporary_database(state):
            measured = _measure(bootstrap)
    finally:
        _kafka_sh(["stop"], env, check=False)
        shutil.rmtree(state, ignore_errors=True)

    steady = measured["steady_s_median"]
    cli = baseline["kafka_consumer_groups_describe_s_median"]
    return {
        "figure": {"label": "lag poll cycle, 1,000 groups / 10,000 partitions, median", "value": steady, "unit": "s"},
        "baseline": {"label": "kafka-consumer-groups --describe --all-groups", "value": cli, "unit": "s"},
        "ratio": round(steady / cli, 3),
        "ratio_note": f"poll cycle / Kafka's describe-all-groups tool (goal: cycle under {GOAL_S:g} s)",
        "goal_met": steady < GOAL_S,
        "scale": {
            "groups": GROUPS,
            "topics": TOPICS,
            "partitions": TOPICS * PARTITIONS_PER_TOPIC,
            "group_partitions": GROUPS * PARTITIONS_PER_TOPIC,
            "lag_per_partition": RECORDS_PER_PARTITION - COMMITTED_OFFSET,
        },
        **measured,
        **baseline,
        "setup": setup,
    }


def _topic_name(n: int) -> str:
    return f"bench.lag.events-{n:04d}"


def _populate(bootstrap: str) -> dict[str, Any]:
    from eventscope.kafka import ClusterConnection, KafkaAdmin

    admin = KafkaAdmin(ClusterConnection(bootstrap_servers=bootstrap, timeout_s=120))
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=CREATE_THREADS) as pool:
        list(pool.map(lambda n: admin.create_topic(_topic_name(n), partitions=PARTITIONS_PER_TOPIC), range(TOPICS)))
    deadline = time.monotonic() + 300
    while sum(1 for t in admin.cluster_metadata().topics if t.name.startswith("bench.lag.")) < TOPICS:
        if time.monotonic() > deadline:
            raise RuntimeError("the topics did not all show in the metadata within 300 s")
        time.sleep(1)
    topics_s = time.monotonic() - started
    _say(f"{TOPICS} topics in {topics_s:.1f} s; producing {RECORDS_PER_PARTITION} records per partition")

    started = time.monotonic()
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.num.messages": 10000})
    for n in range(TOPICS):
        for partition in range(PARTITIONS_PER_TOPIC):
            for i in range(RECORDS_PER_PARTITION):
                while True:
                    try:
                        producer.produce(_topic_name(n), value=b"x" * 64, key=str(i).encode(), partition=partition)
                        break
                    except BufferError:
                        producer.poll(0.1)
        producer.poll(0)
    if producer.flush(120) != 0:
        raise RuntimeError("records were not all delivered within 120 s")
    produce_s = time.monotonic() - started
    _say(f"{TOPICS * PARTITIONS_PER_TOPIC * RECORDS_PER_PARTITION} records in {produce_s:.1f} s; committing offsets")

    def commit(group: int) -> None:
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-lag-group-{group:04d}"})
        try:
            offsets = [
                KafkaTopicPartition(_topic_name(group % TOPICS), partition, COMMITTED_OFFSET)
                for partition in range(PARTITIONS_PER_TOPIC)
            ]
            deadline = time.monotonic() + 180
            while True:
                try:
                    consumer.commit(offsets=offsets, asynchronous=False)
                    return
                except KafkaException as exc:
                    # The first commits create __consumer_offsets; its partitions take a moment to load.
                    if time.monotonic() > deadline or not exc.args[0].retriable():
                        raise
                    time.sleep(1)
        finally:
            consumer.close()

    started = time.monotonic()
    commit(0)
    with ThreadPoolExecutor(max_workers=GROUP_THREADS) as pool:
        list(pool.map(commit, range(1, GROUPS)))
    groups_s = time.monotonic() - started
    _say(f"{GROUPS} groups committed in {groups_s:.1f} s")
    return {
        "create_topics_s": round(topics_s, 1),
        "produce_s": round(produce_s, 1),
        "commit_groups_s": round(groups_s, 1),
    }


def _baseline(bootstrap: str, env: dict[str, str]) -> dict[str, Any]:
    runs = []
    output = ""
    for _ in range(CLI_RUNS):
        started = time.monotonic()
        output = _kafka_sh(
            ["tool", "consumer-groups", "--bootstrap-server", bootstrap, "--describe", "--all-groups"], env
        )
        runs.append(time.monotonic() - started)
    rows = [line.split() for line in output.splitlines() if line.startswith("bench-lag-group-")]
    return {
        "kafka_consumer_groups_describe_s": [round(s, 3) for s in runs],
        "kafka_consumer_groups_describe_s_median": round(statistics.median(runs), 3),
        "kafka_consumer_groups_rows": len(rows),
        "kafka_consumer_groups_total_lag": sum(int(row[5]) for row in rows if len(row) > 5 and row[5].isdigit()),
    }


def _timed_cycle(cluster_id: int) -> dict[str, Any]:
    from monitoring.lag import lag_poll
    from monitoring.models import GroupLagState, LagPollRun

    marks: list[tuple[str, float]] = []

    def progress(message: str) -> None:
        marks.append((message, time.monotonic()))

    with _counting_queries() as queries:
        started = time.monotonic()
        run = lag_poll(cluster_id=cluster_id, trigger="benchmark", progress=progress)
        elapsed = time.monotonic() - started
    if run.status != LagPollRun.Status.OK:
        raise RuntimeError(f"lag poll failed: {run.status} {run.error}")
    # Progress messages, by their first words: run started, groups (and committed offsets), log-end offsets,
    # offset-time tables, evaluated, and the summary after the write; "exact time lag" comes from a
    # background thread, overlapping the tables and the evaluation.
    at = {}
    for message, moment in marks:
        for prefix in ("cluster", "groups", "log-end", "exact", "offset-time", "evaluated"):
            if message.startswith(prefix) and prefix not in at:
                at[prefix] = moment
        if ": ok in " in message:
            at["done"] = moment
    phases = {
        "groups_and_committed_offsets_s": at["groups"] - at["cluster"],
        "log_end_offsets_s": at["log-end"] - at["groups"],
        "offset_time_tables_s": at["offset-time"] - at["log-end"],
        "evaluate_s": at["evaluated"] - at["offset-time"],
        "database_write_s": at["done"] - at["evaluated"],
    }
    if "exact" in at:
        phases["exact_timestamps_in_background_s"] = at["exact"] - at["log-end"]
    phases = {name: round(value, 3) for name, value in phases.items()}
    total_lag = sum(GroupLagState.objects.filter(group__cluster_id=cluster_id).values_list("total_lag", flat=True))
    return {
        "seconds": round(elapsed, 3),
        "queries": queries[0],
        **phases,
        "groups": run.groups,
        "partitions": run.partitions,
        "total_lag": total_lag,
    }


def _measure(bootstrap: str) -> dict[str, Any]:
    from django.db import connection

    from catalog.models import DiscoveryRun
    from catalog.services.clusters import cluster_create
    from catalog.services.discovery import discovery_run

    cluster = cluster_create(name="bench-lag", bootstrap_servers=bootstrap, discovery_enabled=False)
    discovered = discovery_run(cluster_id=cluster.pk, trigger="benchmark")
    if discovered.status != DiscoveryRun.Status.SUCCEEDED:
        raise RuntimeError(f"discovery failed: {discovered.error}")
    _say(f"catalog: {discovered.topics_seen} topics, {discovered.groups_seen} groups; first cycle")
    first = _timed_cycle(cluster.pk)
    _say(f"first cycle {first['seconds']} s; steady cycles")
    steady = []
    for _ in range(STEADY_RUNS):
        steady.append(_timed_cycle(cluster.pk))
        _say(f"steady cycle {steady[-1]['seconds']} s")
    # The busy case: a record arrives on every partition between cycles, so every log end moves and every
    # partition's offset-time table is read and written (the figure above is a cluster at rest).
    busy = []
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for _ in range(BUSY_RUNS):
        for n in range(TOPICS):
            for partition in range(PARTITIONS_PER_TOPIC):
                producer.produce(_topic_name(n), value=b"y", partition=partition)
            producer.poll(0)
        if producer.flush(60) != 0:
            raise RuntimeError("records were not all delivered within 60 s")
        busy.append(_timed_cycle(cluster.pk))
        _say(f"busy cycle (every log end moved) {busy[-1]['seconds']} s")
    return {
        "first_cycle": first,
        "steady_cycles": steady,
        "busy_cycles": busy,
        "busy_s_median": round(statistics.median(run["seconds"] for run in busy), 3),
        "steady_s_median": round(statistics.median(run["seconds"] for run in steady), 3),
        "database": connection.vendor,
    }
