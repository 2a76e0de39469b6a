"""Finding one correlation id among EVENTS events on 5 topics: our index lookup against kcat | grep.

A throwaway broker (`dev/kafka.sh start` in a temp EVENTSCOPE_KAFKA_DIR on a free port, always
stopped after) gets 5 fresh 3-partition topics and EVENTS small JSON events (env BENCH_SCAN_EVENTS,
default 1,000,000): chains of 6 events per correlation id across the 5 topics, the id in the payload's
`correlation_id`. The real indexer (`TraceIndexer.run_until_caught_up`, i.e. `index_traces --once`)
indexes them into a fresh, migrated temp database (see bench_trace_lookup.temp_database). Then, in
the same run, for one random known correlation id:

- the figure: `monitoring.selectors.trace_for(id)` (what the trace page and API call), median of REPEAT;
- the baseline: what users do today, median of SCAN_REPEAT runs of
  `for t in TOPICS; do kcat -C -b BOOT -t $t -e -q -f '%h %s\\n'; done | grep -F ID`
  (without kcat: Kafka's console consumer with --from-beginning --timeout-ms, piped to grep; the
  result says which tool was used). Both must find every event of the chain.

The ratio is lookup time / scan time (below 1: the index is faster; `speedup` is the inverse).

    BENCH_SCAN_EVENTS=200000 python -m benchmarks.run trace_scan
"""

from __future__ import annotations

import json
import os
import random
import shlex
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from django.test import override_settings

from benchmarks.bench_indexer import BATCH_SIZE, _setup_django
from benchmarks.bench_kafka_start import KAFKA_SH, _free_port, _kafka_sh
from benchmarks.bench_trace_lookup import CHAIN_LENGTH, EVENT_TYPES, correlation_id, temp_database

EVENTS = int(os.environ.get("BENCH_SCAN_EVENTS", "1000000"))
TOPIC_NAMES = ("orders", "payments", "inventory", "shipping", "notifications")
PARTITIONS = 3
REPEAT = 21
SCAN_REPEAT = int(os.environ.get("BENCH_SCAN_REPEAT", "3"))
CONSOLE_TIMEOUT_MS = 5000
SCAN_TIMEOUT_S = 1800
FLUSH_EVERY = 50_000


def run() -> dict[str, Any]:
    state_dir = Path(tempfile.mkdtemp(prefix="eventscope-bench-scan-"))
    env = {**os.environ, "EVENTSCOPE_KAFKA_DIR": str(state_dir), "EVENTSCOPE_KAFKA_PORT": str(_free_port())}
    try:
        started = time.perf_counter()
        _kafka_sh("start", env)
        broker_start_s = time.perf_counter() - started
        bootstrap = (state_dir / "bootstrap").read_text().strip()
        with override_settings(KAFKA_BOOTSTRAP_SERVERS=bootstrap):
            return _run_on(bootstrap, env, broker_start_s)
    finally:
        _kafka_sh("stop", env, check=False)
        shutil.rmtree(state_dir, ignore_errors=True)


def _run_on(bootstrap: str, env: dict[str, str], broker_start_s: float) -> dict[str, Any]:
    from catalog.services.clusters import cluster_ensure_default
    from monitoring.indexer import TraceIndexer
    from monitoring.models import TraceEvent
    from monitoring.selectors import trace_for

    prefix = f"bench-scan-{uuid.uuid4().hex[:8]}"
    topics = [f"{prefix}-{name}" for name in TOPIC_NAMES]
    produce_s = _produce(bootstrap, topics)

    with temp_database("bench_trace_scan") as where:
        cluster = cluster_ensure_default()
        indexer = TraceIndexer(cluster, include=[f"{prefix}-*"], batch_size=BATCH_SIZE)
        started = time.perf_counter()
        try:
            progress = indexer.run_until_caught_up()
        finally:
            indexer.close()
        index_s = time.perf_counter() - started
        rows = TraceEvent.objects.count()
        if rows != EVENTS:
            raise RuntimeError(f"the indexer wrote {rows} rows of {EVENTS} (last error: {progress.last_error})")

        chains = EVENTS // CHAIN_LENGTH or 1
        target = correlation_id(random.Random(5).randrange(chains))
        lookups = []
        trace = None
        for _ in range(REPEAT):
            started = time.perf_counter()
            trace = trace_for(target)
            lookups.append((time.perf_counter() - started) * 1000)
        if trace is None:
            raise RuntimeError(f"trace_for({target!r}) found nothing")
        found_by_lookup = len(trace.events)

    tool, command = _scan_command(bootstrap, topics, target)
    scans = []
    found_by_scan = 0
    for _ in range(SCAN_REPEAT):
        started = time.perf_counter()
        result = subprocess.run(
            ["bash", "-c", command], env=env, capture_output=True, text=True, timeout=SCAN_TIMEOUT_S, check=False
        )
        scans.append((time.perf_counter() - started) * 1000)
        if result.returncode not in (0, 1):  # grep exits 1 when nothing matched: checked below
            raise RuntimeError(f"scan exited {result.returncode}: {result.stderr.strip()[-2000:]}")
        found_by_scan = len(result.stdout.splitlines())
    if found_by_scan != found_by_lookup:
        raise RuntimeError(f"the scan found {found_by_scan} events of {target}, the lookup {found_by_lookup}")

    lookup_ms = statistics.median(lookups)
    scan_ms = statistics.median(scans)
    return {
        "figure": {
            "label": f"trace_for, {EVENTS:,} events indexed, median",
            "value": round(lookup_ms, 2),
            "unit": "ms",
        },
        "baseline": {"label": f"{tool} | grep over 5 topics, median", "value": round(scan_ms), "unit": "ms"},
        "ratio": round(lookup_ms / scan_ms, 6),
        "ratio_note": "lookup time / scan time (below 1: the index is faster; speedup is the inverse)",
        "speedup": round(scan_ms / lookup_ms),
        "events": EVENTS,
        "topics": len(topics),
        "partitions_per_topic": PARTITIONS,
        "correlation_id": target,
        "events_found": found_by_lookup,
        "scan_tool": tool,
        "scan_command": command,
        "lookup_ms": [round(ms, 2) for ms in lookups],
        "first_lookup_ms": round(lookups[0], 2),
        "scan_ms": [round(ms) for ms in scans],
        "database": where,
        "broker_start_s": round(broker_start_s, 1),
        "produce_s": round(produce_s, 1),
        "index_s": round(index_s, 1),
        "indexed_per_s": round(EVENTS / index_s),
        "indexer_skipped": progress.records_skipped,
    }


def _produce(bootstrap: str, topics: list[str]) -> float:
    """EVENTS events, chains of CHAIN_LENGTH across the topics; returns the seconds it took."""
    from eventscope.kafka import ClusterConnection, EventProducer, KafkaAdmin

    connection = ClusterConnection(bootstrap_servers=bootstrap, timeout_s=30)
    admin = KafkaAdmin(connection)
    for topic in topics:
        admin.create_topic(topic, partitions=PARTITIONS)
    chains = EVENTS // CHAIN_LENGTH or 1
    started = time.perf_counter()
    with EventProducer(connection, config={"linger.ms": 50, "batch.num.messages": 10000}) as producer:
        # Event i is step i // chains of chain i % chains, so a chain's events are far apart in the logs.
        for i in range(EVENTS):
            chain, step = i % chains, i // chains
            corr = correlation_id(chain)
            producer.produce(
                topics[step % len(topics)],
                json.dumps({"correlation_id": corr, "type": EVENT_TYPES[step % len(EVENT_TYPES)], "amount": i % 1000}),
                key=corr,
            )
            if i % FLUSH_EVERY == FLUSH_EVERY - 1:
                # Keep the local queue from filling while a fresh broker still warms up (idempotence PID).
                producer.flush(60)
    return time.perf_counter() - started


def _scan_command(bootstrap: str, topics: list[str], target: str) -> tuple[str, str]:
    """The shell pipeline users run today: kcat (or kafkacat) when installed, else Kafka's console consumer."""
    grep = f"grep -F {shlex.quote(target)}"
    names = " ".join(shlex.quote(topic) for topic in topics)
    for tool in ("kcat", "kafkacat"):
        if shutil.which(tool):
            consume = f"{tool} -C -b {shlex.quote(bootstrap)} -t \"$t\" -e -q -f '%h %s\\n'"
            return tool, f"for t in {names}; do {consume}; done | {grep}"
    consume = (
        f"bash {shlex.quote(str(KAFKA_SH))} tool console-consumer --bootstrap-server {shlex.quote(bootstrap)} "
        f'--topic "$t" --from-beginning --timeout-ms {CONSOLE_TIMEOUT_MS} '
        "--property print.headers=true 2>/dev/null"
    )
    return "kafka console-consumer", f"for t in {names}; do {consume}; done | {grep}"


if __name__ == "__main__":
    _setup_django()
    print(json.dumps(run(), indent=2))
