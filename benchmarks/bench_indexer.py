"""Trace indexer throughput on one topic of small JSON events, against a raw confluent-kafka consume loop.

EVENTS small JSON events (about 90 bytes, a `correlation_id` field each; env BENCH_INDEXER_EVENTS,
default 1,000,000) are produced to one fresh 3-partition topic with the gateway's EventProducer.
Then, in the same run:

- the figure: the indexer (`TraceIndexer.run_until_caught_up`, i.e. `index_traces --once`) indexes
  the topic into a fresh, migrated temp SQLite database, in a subprocess with its own DATABASE_URL;
  records/s is records / the catch-up's wall time (Django start-up and migrate excluded). When
  DATABASE_URL is PostgreSQL, the same runs go into temp PostgreSQL databases as well;
- the same again with PARTITIONS indexer copies at once (`copy=(i, n)`, one partition each): how the
  indexer scales out, which is how it is meant to go faster (records / first start to last end);
- the baseline: a bare confluent_kafka Consumer reading the same partitions from the start,
  consume(BATCH_SIZE) in a loop (env BENCH_INDEXER_BATCH, default 20,000, the indexer's batch size
  too), touching each message's value, until it has every record.

The ratio is indexer records/s / raw records/s (the goal: at least 0.5, and at least 50,000
events/s). CPU seconds per event of both (the process's, all threads) are reported too, with the
load average at the start: on a shared machine the wall time mostly says how long each waited for a
CPU. The topic is deleted after.

    python -m benchmarks.bench_indexer     # prints the result as JSON
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from django.conf import settings  # lazy: configured by the runner, or by _setup_django below

from benchmarks._pg import drop_database

EVENTS = int(os.environ.get("BENCH_INDEXER_EVENTS", "1000000"))
PARTITIONS = 3
BATCH_SIZE = int(os.environ.get("BENCH_INDEXER_BATCH", "20000"))
MANAGE = Path(__file__).resolve().parent.parent / "manage.py"

# Run inside the subprocess by `manage.py shell -c`: index the topic once, print the timing as JSON.
_INDEX_SCRIPT = """
import json, time
from catalog.services.clusters import cluster_ensure_default
from monitoring.indexer import TraceIndexer
cluster = cluster_ensure_default()
indexer = TraceIndexer(cluster, include=[{topic!r}], batch_size={batch_size}, copy={copy!r})
started = time.time()
cpu = time.process_time()
progress = indexer.run_until_caught_up()
ended = time.time()
cpu = time.process_time() - cpu
indexer.close()
from monitoring.models import TraceEvent
print(json.dumps({{"started": started, "ended": ended, "cpu_s": cpu, "indexed": progress.records_indexed,
                  "skipped": progress.records_skipped, "rows": TraceEvent.objects.count()}}))
"""


def run() -> dict[str, Any]:
    from eventscope.kafka import ClusterConnection, EventProducer, KafkaAdmin

    bootstrap = settings.KAFKA_BOOTSTRAP_SERVERS
    load_at_start = round(os.getloadavg()[0], 2)
    topic = f"bench-indexer-{uuid.uuid4().hex[:8]}"
    connection = ClusterConnection(bootstrap_servers=bootstrap, timeout_s=30)
    admin = KafkaAdmin(connection)
    admin.create_topic(topic, partitions=PARTITIONS)
    try:
        started = time.perf_counter()
        with EventProducer(connection, config={"linger.ms": 50, "batch.num.messages": 10000}) as producer:
            for i in range(EVENTS):
                producer.produce(
                    topic,
                    json.dumps({"correlation_id": f"ord-{i:012d}", "type": "OrderPlaced", "amount": i % 1000}),
                    key=f"ord-{i % 10_000:012d}",
                )
        produce_s = time.perf_counter() - started

        raw_s, raw_cpu_s = _raw_consume_s(bootstrap, topic)
        with tempfile.TemporaryDirectory(prefix="bench-indexer-") as directory:
            results = {"sqlite": _index_in_subprocess(topic, f"sqlite:///{directory}/one.sqlite3")}
            results[f"sqlite, {PARTITIONS} copies"] = _index_in_subprocess(
                topic, f"sqlite:///{directory}/copies.sqlite3", copies=PARTITIONS
            )
        if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
            results["postgresql"] = _index_in_postgres(topic)
            results[f"postgresql, {PARTITIONS} copies"] = _index_in_postgres(topic, copies=PARTITIONS)
    finally:
        admin.delete_topics([topic])

    raw_rate = EVENTS / raw_s
    sqlite_rate = EVENTS / results["sqlite"]["elapsed_s"]
    postgres_rate = EVENTS / results["postgresql"]["elapsed_s"] if "postgresql" in results else None
    ratios = {name: EVENTS / result["elapsed_s"] / raw_rate for name, result in results.items()}
    detail = {
        name: {
            **result,
            "elapsed_s": round(result["elapsed_s"], 2),
            "records_per_s": round(EVENTS / result["elapsed_s"]),
        }
        for name, result in results.items()
    }
    return {
        "figure": {"label": f"indexer into SQLite, {EVENTS:,} events", "value": round(sqlite_rate), "unit": "events/s"},
        "baseline": {"label": "raw confluent-kafka consume loop", "value": round(raw_rate), "unit": "events/s"},
        "ratio": round(sqlite_rate / raw_rate, 3),
        "ratio_note": (
            "indexer events/s / raw consume events/s (goal >= 0.5 and >= 50,000 events/s); "
            + ", ".join(f"{name}: {ratio:.2f}" for name, ratio in ratios.items() if name != "sqlite")
        ),
        "postgresql_events_per_s": round(postgres_rate) if postgres_rate else None,
        "postgresql_ratio": round(postgres_rate / raw_rate, 3) if postgres_rate else None,
        # Every run's ratio: one copy, and PARTITIONS copies at once (how the indexer scales out).
        "ratios": {name: round(ratio, 3) for name, ratio in ratios.items()},
        # The machine is shared (the broker runs on it too): its load says how comparable runs are.
        "load_average_1m_at_start": load_at_start,
        "cpus": os.cpu_count(),
        "events": EVENTS,
        "produce_s": round(produce_s, 2),
        "raw_consume_s": round(raw_s, 2),
        # On a busy machine wall time mostly measures the wait for a CPU: CPU per record compares
        # the work itself (the indexer's excludes the database server's on PostgreSQL).
        "raw_cpu_us_per_event": round(raw_cpu_s / EVENTS * 1e6, 2),
        "indexer_cpu_us_per_event": {name: round(r["cpu_s"] / EVENTS * 1e6, 2) for name, r in results.items()},
        "indexer": detail,
    }


def _raw_consume_s(bootstrap: str, topic: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, librdkafka's threads included) of the raw loop."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"bench-raw-{uuid.uuid4().hex}", "enable.auto.commit": False}
    )
    try:
        started = time.perf_counter()
        cpu = time.process_time()
        consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        seen = 0
        size = 0
        while seen < EVENTS:
            for message in consumer.consume(num_messages=BATCH_SIZE, timeout=1.0):
                if message.error() is None:
                    seen += 1
                    size += len(message.value())
        return time.perf_counter() - started, time.process_time() - cpu
    finally:
        consumer.close()


def _index_in_subprocess(topic: str, database_url: str, *, copies: int = 1) -> dict[str, Any]:
    """Migrate a fresh database, run `copies` indexer processes (copy i of n) at once; time the catch-up."""
    env = {**os.environ, "DATABASE_URL": database_url, "KAFKA_BOOTSTRAP_SERVERS": settings.KAFKA_BOOTSTRAP_SERVERS}
    subprocess.run([sys.executable, MANAGE, "migrate", "--noinput"], env=env, check=True, capture_output=True)
    processes = []
    for index in range(copies):
        copy = (index, copies) if copies > 1 else None
        script = _INDEX_SCRIPT.format(topic=topic, batch_size=BATCH_SIZE, copy=copy)
        processes.append(
            subprocess.Popen(
                [sys.executable, MANAGE, "shell", "-c", script],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    reports = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=1800)
        if process.returncode != 0:
            raise RuntimeError(f"indexer subprocess failed: {stderr[-2000:]}")
        reports.append(json.loads(stdout.strip().splitlines()[-1]))
    rows = max(report["rows"] for report in reports)
    if rows != EVENTS:
        raise RuntimeError(f"the indexer wrote {rows} rows of {EVENTS}")
    return {
        "copies": copies,
        "elapsed_s": max(r["ended"] for r in reports) - min(r["started"] for r in reports),
        # CPU of the indexer processes (all their threads; not the database server's)
        "cpu_s": round(sum(r["cpu_s"] for r in reports), 2),
        "indexed": sum(r["indexed"] for r in reports),
        "skipped": sum(r["skipped"] for r in reports),
        "rows": rows,
    }


def _index_in_postgres(topic: str, *, copies: int = 1) -> dict[str, Any]:
    from django.db import connection

    params = connection.settings_dict
    name = f"bench_indexer_{uuid.uuid4().hex[:8]}"
    host, port = params["HOST"] or "localhost", params["PORT"] or 5432
    base = f"postgresql://{params['USER']}:{params['PASSWORD']}@{host}:{port}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        return _index_in_subprocess(topic, f"{base}/{name}", copies=copies)
    finally:
        with connection.cursor() as cursor:
            drop_database(cursor.execute, name)


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventscope.settings")
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()


if __name__ == "__main__":
    _setup_django()
    print(json.dumps(run(), indent=2))
