"""A discovery cycle for 5,000 topics / 20,000 partitions / 1,000 consumer groups, against Kafka's own tool.

Setup (not timed): a throwaway two-broker cluster in a temp dir, node 1 started by `dev/kafka.sh`
(broker and controller) and node 2 a broker-only node joined to it from the same cached jars. Two
brokers, because Kafka keeps one open file per partition and this machine's open-file limit may be
too low for 20,000 partitions on one JVM (it is 20,000 where this was written); it also makes the
leaders and replicas that discovery reads look like a real cluster's. Topics are created through
the gateway (`KafkaAdmin.create_topic`) from a thread pool; each group commits offsets on
TOPICS_PER_GROUP topics with a plain consumer (assign and commit, no subscription), so every group
is EMPTY with committed topics, as most groups of a real cluster are most of the time.

Measured, in a temporary database (a SQLite file in the temp dir, or a test database on the
configured PostgreSQL), with `discovery_run` exactly as the Celery task calls it:
- the first run: every topic, partition, group and committed-topic link is created;
- the steady-state run (median of STEADY_RUNS): everything is seen again and nothing changed, which
  is what the beat schedule does every minute;
- a run where every row changed (the stored columns are scrambled first): all rows updated;
- the phases of a run (metadata, configs and flags, groups, database write), its query count,
  and the peak Python memory (tracemalloc, in separate runs so it does not slow the timed ones).

Baselines in the same run: Kafka's own `kafka-consumer-groups --describe --all-groups` (through
`dev/kafka.sh tool`), a JVM tool that reads every group's description and offsets, the work
discovery does for groups; and the floor under any discovery, a bare `cluster_metadata()` plus
`list_consumer_groups()` through the gateway. The brokers are always stopped (try/finally).
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException
from confluent_kafka import TopicPartition as KafkaTopicPartition

ROOT = Path(__file__).resolve().parent.parent
KAFKA_SH = ROOT / "dev" / "kafka.sh"

TOPICS = 5_000
PARTITIONS_PER_TOPIC = 4
GROUPS = 1_000
TOPICS_PER_GROUP = 2
STEADY_RUNS = 3
CLI_RUNS = 2
BARE_READ_RUNS = 3
CREATE_THREADS = 32
GROUP_THREADS = 16
COMMAND_TIMEOUT_S = 600


def _say(message: str) -> None:
    # stderr, like the runner's own progress: setup takes minutes and should say where it is.
    print(f"  discovery: {message}", file=sys.stderr, flush=True)


def run() -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="eventscope-bench-discovery-"))
    env = {**os.environ, "EVENTSCOPE_KAFKA_DIR": str(state / "node1"), "EVENTSCOPE_KAFKA_PORT": str(_free_port())}
    second_broker: subprocess.Popen | None = None
    try:
        node1 = _kafka_sh(["start"], env).strip().splitlines()[-1]
        second_broker, node2 = _start_second_broker(state, env)
        bootstrap = f"{node1},{node2}"
        _say(f"two brokers at {bootstrap}; creating {TOPICS} topics and {GROUPS} groups")
        setup = _populate(bootstrap)
        _say(f"setup done: {setup}; baselines")
        baselines = _baselines(bootstrap, env)
        _say("discovery runs")
        with _temporary_database(state):
            measured = _measure(bootstrap)
    finally:
        if second_broker is not None:
            second_broker.terminate()
            try:
                second_broker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                second_broker.kill()
                second_broker.wait()
        _kafka_sh(["stop"], env, check=False)
        shutil.rmtree(state, ignore_errors=True)

    steady = measured["steady_s_median"]
    cli = baselines["kafka_consumer_groups_describe_s_median"]
    bare = baselines["bare_metadata_and_list_groups_s_median"]
    return {
        "figure": {"label": "steady-state discovery cycle, median", "value": steady, "unit": "s"},
        "baseline": {"label": "kafka-consumer-groups --describe --all-groups", "value": cli, "unit": "s"},
        "ratio": round(steady / cli, 3),
        "ratio_note": "discovery cycle / Kafka's describe-all-groups tool",
        "ratio_vs_bare_reads": round(steady / bare, 2),
        "scale": {
            "topics": TOPICS,
            "partitions": TOPICS * PARTITIONS_PER_TOPIC,
            "groups": GROUPS,
            "committed_topics_per_group": TOPICS_PER_GROUP,
            "brokers": 2,
        },
        **measured,
        **baselines,
        "setup": setup,
    }


# ---------------------------------------------------------------------------------------------
# The throwaway cluster
# ---------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _kafka_sh(args: list[str], env: dict[str, str], *, check: bool = True) -> str:
    result = subprocess.run(
        ["bash", str(KAFKA_SH), *args], env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"dev/kafka.sh {' '.join(args)} exited {result.returncode}: {result.stderr.strip()[-2000:]}")
    return result.stdout


def _start_second_broker(state: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """A broker-only node 2 that joins node 1's controller: same cluster id, same cached jars."""
    node1 = Path(env["EVENTSCOPE_KAFKA_DIR"])
    cluster_id = next(
        line.split("=", 1)[1].strip()
        for line in (node1 / "data" / "meta.properties").read_text().splitlines()
        if line.startswith("cluster.id=")
    )
    node2 = state / "node2"
    node2.mkdir()
    port = _free_port()
    # Everything cluster-wide as node 1 has it (offsets.topic.num.partitions above all: brokers that
    # disagree on it disagree on every group's coordinator); only the node's own lines differ.
    own = {
        "process.roles": "broker",
        "node.id": "2",
        "listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(node2 / "data"),
    }
    lines = [f"{key}={value}" for key, value in own.items()]
    for line in (node1 / "server.properties").read_text().splitlines():
        key = line.split("=", 1)[0]
        if line and not line.startswith("#") and key not in own:
            lines.append(line)
    (node2 / "server.properties").write_text("\n".join(lines) + "\n")
    java = [
        os.environ.get("JAVA", "java"),
        f"-Dlog4j2.configurationFile={node1 / 'tools-log4j2.properties'}",
        "-cp",
        f"{_libs_dir()}/*",
    ]
    subprocess.run(
        [*java, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(node2 / "server.properties")],
        check=True,
        capture_output=True,
        timeout=COMMAND_TIMEOUT_S,
    )
    broker = subprocess.Popen(
        [java[0], "-Xms256m", "-Xmx1g", *java[1:], "kafka.Kafka", str(node2 / "server.properties")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C to the runner's terminal reaches us, and we stop it in order
    )
    from eventscope.kafka import ClusterConnection, KafkaAdmin, KafkaGatewayError

    admin = KafkaAdmin(ClusterConnection(bootstrap_servers=(node1 / "bootstrap").read_text().strip(), timeout_s=5))
    deadline = time.monotonic() + 120
    while True:
        if broker.poll() is not None:
            raise RuntimeError(f"the second broker exited with {broker.returncode}")
        try:
            if len(admin.cluster_metadata().brokers) == 2:
                return broker, f"127.0.0.1:{port}"
        except KafkaGatewayError:
            pass  # node 1 is busy electing; the deadline below decides
        if time.monotonic() > deadline:
            broker.terminate()
            raise RuntimeError("the second broker did not join within 120 s")
        time.sleep(0.5)


def _libs_dir() -> Path:
    version = next(
        line.split("=", 1)[1] for line in KAFKA_SH.read_text().splitlines() if line.startswith("KAFKA_VERSION=")
    )
    cache = Path(os.environ.get("EVENTSCOPE_CACHE_DIR") or Path.home() / ".cache" / "eventscope")
    return cache / f"kafka-{version}" / "libs"


def _topic_name(n: int) -> str:
    return f"bench.domain-{n % 50:02d}.events-{n:05d}"


def _config(n: int) -> dict[str, str]:
    # A retention of its own per topic, as teams set them: every topic row differs from the others,
    # which is the worst case for writing changed topics (no two share an UPDATE).
    return {"retention.ms": str(86_400_000 + n * 1000)}


def _populate(bootstrap: str) -> dict[str, Any]:
    """TOPICS topics through the gateway, GROUPS groups with committed offsets; returns the setup times."""
    from eventscope.kafka import ClusterConnection, KafkaAdmin

    # A long timeout: thousands of creates queue up at the controller, and each waits its turn.
    admin = KafkaAdmin(ClusterConnection(bootstrap_servers=bootstrap, timeout_s=120))
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=CREATE_THREADS) as pool:
        list(
            pool.map(
                lambda n: admin.create_topic(_topic_name(n), partitions=PARTITIONS_PER_TOPIC, config=_config(n)),
                range(TOPICS),
            )
        )
    deadline = time.monotonic() + 300
    while sum(1 for t in admin.cluster_metadata().topics if t.name.startswith("bench.")) < TOPICS:
        if time.monotonic() > deadline:
            raise RuntimeError("the topics did not all show in the metadata within 300 s")
        time.sleep(1)
    topics_s = time.monotonic() - started

    def commit(group: int) -> None:
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-group-{group:04d}"})
        try:
            offsets = [
                KafkaTopicPartition(_topic_name((group * TOPICS_PER_GROUP + k) % TOPICS), partition, 0)
                for k in range(TOPICS_PER_GROUP)
                for partition in range(PARTITIONS_PER_TOPIC)
            ]
            consumer.assign(offsets)
            deadline = time.monotonic() + 180
            while True:
                try:
                    consumer.commit(offsets=offsets, asynchronous=False)
                    return
                except KafkaException as exc:
                    # The first commits create __consumer_offsets, and its partitions take a while
                    # to get leaders and load on brokers busy with 20,000 partitions.
                    if time.monotonic() > deadline or not exc.args[0].retriable():
                        raise
                    time.sleep(1)
        finally:
            consumer.close()

    started = time.monotonic()
    commit(0)  # alone first: it waits out the creation of __consumer_offsets
    with ThreadPoolExecutor(max_workers=GROUP_THREADS) as pool:
        list(pool.map(commit, range(1, GROUPS)))
    groups_s = time.monotonic() - started
    brokers = admin.cluster_metadata().brokers
    return {"create_topics_s": round(topics_s, 1), "commit_groups_s": round(groups_s, 1), "broker_count": len(brokers)}


# ---------------------------------------------------------------------------------------------
# Baselines
# ---------------------------------------------------------------------------------------------
def _baselines(bootstrap: str, env: dict[str, str]) -> dict[str, Any]:
    from eventscope.kafka import ClusterConnection, KafkaAdmin

    cli_runs = []
    for _ in range(CLI_RUNS):
        started = time.monotonic()
        output = _kafka_sh(
            ["tool", "consumer-groups", "--bootstrap-server", bootstrap, "--describe", "--all-groups"], env
        )
        cli_runs.append(time.monotonic() - started)
    described_rows = sum(1 for line in output.splitlines() if line.startswith("bench-group-"))

    admin = KafkaAdmin(ClusterConnection(bootstrap_servers=bootstrap, timeout_s=30))
    bare_runs = []
    for _ in range(BARE_READ_RUNS):
        started = time.monotonic()
        metadata = admin.cluster_metadata()
        groups = admin.list_consumer_groups()
        bare_runs.append(time.monotonic() - started)
    return {
        "kafka_consumer_groups_describe_s": [round(s, 3) for s in cli_runs],
        "kafka_consumer_groups_describe_s_median": round(statistics.median(cli_runs), 3),
        "kafka_consumer_groups_rows": described_rows,
        "bare_metadata_and_list_groups_s": [round(s, 3) for s in bare_runs],
        "bare_metadata_and_list_groups_s_median": round(statistics.median(bare_runs), 3),
        "bare_read_topics": len(metadata.topics),
        "bare_read_groups": len(groups),
    }


# ---------------------------------------------------------------------------------------------
# Discovery runs
# ---------------------------------------------------------------------------------------------
@contextmanager
def _temporary_database(state: Path) -> Iterator[None]:
    """A migrated database of its own, so the benchmark never writes into the developer's catalog."""
    from django.db import connections
    from django.test.utils import setup_databases, teardown_databases

    settings_dict = connections["default"].settings_dict
    if settings_dict["ENGINE"] == "django.db.backends.sqlite3":
        # A file, not Django's in-memory test default: a real installation writes to a file.
        settings_dict["TEST"] = {**settings_dict.get("TEST", {}), "NAME": str(state / "bench.sqlite3")}
    old_config = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    try:
        yield
    finally:
        teardown_databases(old_config, verbosity=0)


@contextmanager
def _counting_queries() -> Iterator[list[int]]:
    from django.db import connection

    count = [0]

    def counter(execute, sql, params, many, context):
        count[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counter):
        yield count


def _timed_run(cluster_id: int) -> dict[str, Any]:
    """One discovery run: wall time, phases (from its progress messages), queries, and its counts."""
    from catalog.models import DiscoveryRun
    from catalog.services.discovery import discovery_run

    marks: list[tuple[str, float]] = []

    def progress(message: str) -> None:
        marks.append((message.split(":", 1)[0].split(" ", 1)[0], time.monotonic()))

    with _counting_queries() as queries:
        started = time.monotonic()
        run = discovery_run(cluster_id=cluster_id, trigger="benchmark", progress=progress)
        elapsed = time.monotonic() - started
    if run.status != DiscoveryRun.Status.SUCCEEDED:
        raise RuntimeError(f"discovery failed: {run.error}")
    # Progress says: run started, metadata, configs and flags, consumer groups, then the summary
    # after the write transaction.
    times = [mark for _, mark in marks]
    phases = dict(
        zip(
            ("metadata_s", "topic_configs_and_flags_s", "groups_s", "database_write_s"),
            (round(b - a, 3) for a, b in itertools.pairwise(times)),
            strict=False,
        )
    )
    return {
        "seconds": round(elapsed, 3),
        "queries": queries[0],
        **phases,
        "topics_seen": run.topics_seen,
        "topics_created": run.topics_created,
        "partitions_seen": run.partitions_seen,
        "groups_seen": run.groups_seen,
        "groups_created": run.groups_created,
    }


def _peak_memory(action: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _measure(bootstrap: str) -> dict[str, Any]:
    from catalog.models import ConsumerGroup, Partition, Topic
    from catalog.services.clusters import cluster_create
    from catalog.services.discovery import discovery_run

    cluster = cluster_create(name="bench", bootstrap_servers=bootstrap, discovery_enabled=False)
    first = _timed_run(cluster.pk)
    steady = [_timed_run(cluster.pk) for _ in range(STEADY_RUNS)]

    # Every row changed: scramble what the catalog holds so that the next run updates all of it.
    Topic.objects.filter(cluster=cluster).update(retention_ms=None, configs={})
    Partition.objects.filter(topic__cluster=cluster).update(leader=-2)
    ConsumerGroup.objects.filter(cluster=cluster).update(state="")
    all_changed = _timed_run(cluster.pk)

    # Memory in runs of their own (tracemalloc slows Python down): a first run on a second cluster
    # row for the same brokers (so it creates everything again), then a steady run of it.
    memory_cluster = cluster_create(name="bench-memory", bootstrap_servers=bootstrap, discovery_enabled=False)
    first_peak = _peak_memory(lambda: discovery_run(cluster_id=memory_cluster.pk, trigger="benchmark"))
    steady_peak = _peak_memory(lambda: discovery_run(cluster_id=memory_cluster.pk, trigger="benchmark"))

    steady_seconds = [run["seconds"] for run in steady]
    return {
        "first_run": first,
        "steady_runs": steady,
        "steady_s_median": round(statistics.median(steady_seconds), 3),
        "all_rows_changed_run": all_changed,
        "peak_python_memory_mib": {
            "first_run": round(first_peak / 2**20, 1),
            "steady_run": round(steady_peak / 2**20, 1),
        },
        "database": _database_vendor(),
    }


def _database_vendor() -> str:
    from django.db import connection

    return connection.vendor
