"""Retention of the trace index: the chunked delete of one day's rows out of several, and lookups meanwhile.

Why this and not daily partitions on PostgreSQL: `monitoring.indexing.retention_purge` deletes by
timestamp in chunks of PURGE_CHUNK primary keys, each chunk its own short transaction. If that is
cheap per million rows and does not hold up lookups, partitions (DROP TABLE instead of DELETE, at
the price of a partitioned unique key and per-day DDL) are not worth their complexity yet.

DAYS x ROWS_PER_DAY TraceEvent rows (env BENCH_RETENTION_ROWS_PER_DAY; default 500,000 on PostgreSQL,
250,000 on SQLite; 4 days) are generated into a fresh, migrated temp database (chains of 6
events close in time, timestamps spread evenly over the days). Then, in the same run:

- the baseline: p95 of LOOKUPS `trace_for(id)` calls on chains of the days that stay;
- the purge: `retention_purge(older_than=<end of the first day>)` in a thread of its own, while the
  main thread keeps calling `trace_for` on chains that stay; the figure is the purge's seconds per
  million rows deleted, and the lookups' p95 during the purge is reported next to the idle p95.

The ratio is lookup p95 during the purge / lookup p95 idle (1.0: the purge does not slow lookups).

    python -m benchmarks.run trace_retention
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import threading
import time
from typing import Any

from benchmarks.bench_indexer import _setup_django
from benchmarks.bench_trace_lookup import (
    CHAIN_LENGTH,
    EVENT_TYPES,
    PAYLOAD,
    TOPICS,
    correlation_id,
    is_postgresql,
    temp_database,
)

DAYS = 4
LOOKUPS = int(os.environ.get("BENCH_RETENTION_LOOKUPS", "500"))
BASE_TIME = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DAY_MS = 86_400_000


def rows_per_day() -> int:
    return int(os.environ.get("BENCH_RETENTION_ROWS_PER_DAY") or (500_000 if is_postgresql() else 250_000))


def run() -> dict[str, Any]:
    from django.db import connection

    from catalog.services.clusters import cluster_ensure_default

    per_day = rows_per_day()
    total = per_day * DAYS
    engine = "postgresql" if is_postgresql() else "sqlite"
    with temp_database("bench_trace_retention") as where:
        cluster = cluster_ensure_default()
        started = time.perf_counter()
        (_fill_postgresql if engine == "postgresql" else _fill_sqlite)(cluster.pk, total)
        generate_s = time.perf_counter() - started
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        result = _measure(cluster, per_day, total)
    figure = result["purge_s_per_million_rows"]
    idle, during = result["lookup_idle_ms"]["p95"], result["lookup_during_purge_ms"]["p95"]
    return {
        "figure": {
            "label": f"retention purge of 1 day of {DAYS} ({per_day:,} rows/day, {engine})",
            "value": figure,
            "unit": "s per million rows deleted",
        },
        "baseline": {"label": "trace_for p95 with no purge running", "value": idle, "unit": "ms"},
        "ratio": round(during / idle, 2),
        "ratio_note": "trace_for p95 during the purge / p95 idle (1.0: lookups unaffected)",
        "engine": engine,
        "database": where,
        "rows": total,
        "generate_s": round(generate_s, 1),
        **result,
    }


def _measure(cluster, per_day: int, total: int) -> dict[str, Any]:
    from django.db import connection

    from monitoring.indexing import retention_purge
    from monitoring.models import TraceEvent
    from monitoring.selectors import trace_for

    chains = total // CHAIN_LENGTH
    rng = random.Random(9)
    # Row g is step g % 6 of chain g // 6 at time g * spacing: a chain's events are close in time,
    # and the chains after the first day keep all their events.
    spacing_ms = DAY_MS * DAYS / total
    first_kept_chain = min(chains - 1, int(DAY_MS / spacing_ms) // CHAIN_LENGTH + 1)
    kept = [correlation_id(rng.randrange(first_kept_chain, chains)) for _ in range(LOOKUPS)] if chains > 1 else []

    def lookups(stop: threading.Event | None = None) -> list[float]:
        samples = []
        for index in range(10**9):
            if stop is None and index >= len(kept):
                break
            if stop is not None and stop.is_set() and index >= 50:
                break
            started = time.perf_counter()
            if trace_for(kept[index % len(kept)]) is None:
                raise RuntimeError("a chain that retention keeps was not found")
            samples.append((time.perf_counter() - started) * 1000)
        return samples

    lookups()  # warm up
    idle = lookups()
    cutoff = BASE_TIME + dt.timedelta(days=1)
    expected = TraceEvent.objects.filter(timestamp__lt=cutoff).count()
    done = threading.Event()
    outcome: dict[str, Any] = {}

    def purge() -> None:
        try:
            started = time.perf_counter()
            outcome["deleted"] = retention_purge(cluster=cluster, older_than=cutoff)
            outcome["seconds"] = time.perf_counter() - started
        except BaseException as exc:  # reported by the main thread
            outcome["error"] = exc
        finally:
            connection.close()
            done.set()

    worker = threading.Thread(target=purge, name="retention-purge")
    worker.start()
    during = lookups(done)
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    if outcome["deleted"] != expected or TraceEvent.objects.filter(timestamp__lt=cutoff).exists():
        raise RuntimeError(f"the purge deleted {outcome['deleted']} rows, expected {expected}")
    remaining = TraceEvent.objects.count()
    return {
        "rows_deleted": outcome["deleted"],
        "rows_remaining": remaining,
        "purge_s": round(outcome["seconds"], 2),
        "purge_s_per_million_rows": round(outcome["seconds"] / outcome["deleted"] * 1e6, 2),
        "lookup_idle_ms": _centiles(idle),
        "lookup_during_purge_ms": _centiles(during),
        "lookups_during_purge": len(during),
    }


def _centiles(samples: list[float]) -> dict[str, float]:
    import statistics

    centiles = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": round(centiles[49], 3), "p95": round(centiles[94], 3), "max": round(max(samples), 3)}


_COLUMNS = """correlation_id, cluster_id, topic, partition, "offset", timestamp, timestamp_type, key, event_id,
    causation_id, event_type, producer, correlation_source, size, payload_excerpt, payload_encoding,
    is_dead_letter, error_reason, headers, indexed_at"""


def _fill_postgresql(cluster_id: int, total: int) -> None:
    from django.db import connection

    sql = f"""
        INSERT INTO monitoring_traceevent ({_COLUMNS})
        SELECT c.id, %(cluster)s, (%(topics)s::text[])[(g %% 6) %% 5 + 1], g %% 3, g,
               %(base)s::timestamptz + g * %(spacing)s * interval '1 millisecond', 1, c.id, 'evt-' || g, '',
               (%(types)s::text[])[g %% 6 + 1], 'bench', 'payload:correlation_id', 80,
               '{{"correlation_id": "' || c.id || '"}}', 'json', false, '', '{{}}'::jsonb, now()
        FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS g,
             LATERAL (SELECT 'corr-' || lpad((g / 6)::text, 10, '0') AS id) AS c
    """  # noqa: S608 - fixed column names
    with connection.cursor() as cursor:
        for start in range(0, total, 500_000):
            cursor.execute(
                sql,
                {
                    "cluster": cluster_id,
                    "base": BASE_TIME,
                    "spacing": DAY_MS * DAYS / total,
                    "topics": list(TOPICS),
                    "types": list(EVENT_TYPES),
                    "start": start,
                    "stop": min(start + 500_000, total) - 1,
                },
            )


def _fill_sqlite(cluster_id: int, total: int) -> None:
    from django.db import connection, transaction

    spacing = DAY_MS * DAYS / total
    base = BASE_TIME.replace(tzinfo=None)
    sql = f"""INSERT INTO monitoring_traceevent ({_COLUMNS})
        VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, '', ?, 'bench', 'payload:correlation_id', 80, ?, 'json', 0, '', '{{}}', ?)"""  # noqa: S608
    for start in range(0, total, 50_000):
        rows = []
        for g in range(start, min(start + 50_000, total)):
            corr = correlation_id(g // CHAIN_LENGTH)
            stamp = str(base + dt.timedelta(milliseconds=g * spacing))
            rows.append(
                (
                    corr,
                    cluster_id,
                    TOPICS[(g % CHAIN_LENGTH) % 5],
                    g % 3,
                    g,
                    stamp,
                    corr,
                    f"evt-{g}",
                    EVENT_TYPES[g % CHAIN_LENGTH],
                    PAYLOAD % corr,
                    str(base),
                )
            )
        with transaction.atomic():
            connection.ensure_connection()
            connection.connection.executemany(sql, rows)


if __name__ == "__main__":
    _setup_django()
    print(json.dumps(run(), indent=2))
