"""Trace lookup latency (`monitoring.selectors.trace_for`, what the trace page and API call) over a big index.

ROWS TraceEvent rows (env BENCH_TRACE_ROWS; default 10,000,000 when DATABASE_URL is PostgreSQL,
1,000,000 on SQLite) are generated straight into a fresh, migrated temp database: chains of 6 events
per correlation id across 5 topics, a chain's events spread over the table as they would be in time
order. PostgreSQL: a temp database made with the current DATABASE_URL's credentials, filled with
`INSERT ... SELECT generate_series(...)` in chunks, dropped afterwards. SQLite: a temp file filled with
executemany in big transactions. Env BENCH_TRACE_GEN_BUDGET_S stops the generation after the chunk
that crosses that many seconds (the rows actually written are reported).

Then, in the same run:

- the figure: p95 of LOOKUPS `trace_for(id)` calls on random known correlation ids (p50/p99 kept too);
- the baseline: p95 of as many `TraceEvent.objects.get(pk=...)` on random rows, the trivial indexed query.

The ratio is selector p95 / primary-key p95 (the goal on PostgreSQL with 10M rows: p95 under 20 ms).

    BENCH_TRACE_ROWS=1000000 python -m benchmarks.run trace_lookup
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings

from benchmarks._pg import drop_database
from benchmarks.bench_indexer import _setup_django

CHAIN_LENGTH = 6
TOPICS = ("orders", "payments", "inventory", "shipping", "notifications")
EVENT_TYPES = ("OrderPlaced", "PaymentAuthorized", "StockReserved", "ShipmentCreated", "CustomerNotified", "OrderDone")
LOOKUPS = int(os.environ.get("BENCH_TRACE_LOOKUPS", "1000"))
WARMUP = 20
CHUNK = 500_000
SQLITE_BATCH = 50_000
GEN_BUDGET_S = float(os.environ.get("BENCH_TRACE_GEN_BUDGET_S", "0")) or None
BASE_TIME = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PAYLOAD = '{"correlation_id": "%s", "amount": 42, "currency": "EUR"}'


def is_postgresql() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def default_rows() -> int:
    return int(os.environ.get("BENCH_TRACE_ROWS") or (10_000_000 if is_postgresql() else 1_000_000))


def correlation_id(chain: int) -> str:
    return f"corr-{chain:010d}"


@contextlib.contextmanager
def temp_database(prefix: str) -> Iterator[str]:
    """Point Django's default connection at a fresh, migrated temp database; restore and remove it after.

    PostgreSQL: CREATE DATABASE with the current credentials (psycopg), DROP ... WITH (FORCE) after.
    SQLite: a file in a temp directory. Yields a description of where the database is.
    """
    from django.core.management import call_command
    from django.db import connection

    original = dict(connection.settings_dict)
    connection.close()
    if is_postgresql():
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        admin_params = {
            "host": original["HOST"] or "localhost",
            "port": original["PORT"] or 5432,
            "user": original["USER"],
            "password": original["PASSWORD"],
            "dbname": original["NAME"],
        }
        with psycopg.connect(**admin_params, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            connection.settings_dict["NAME"] = name
            call_command("migrate", interactive=False, verbosity=0)
            yield f"postgresql database {name}"
        finally:
            connection.close()
            connection.settings_dict.clear()
            connection.settings_dict.update(original)
            with psycopg.connect(**admin_params, autocommit=True) as admin:
                drop_database(admin.execute, name)
    else:
        with tempfile.TemporaryDirectory(prefix=f"{prefix}-") as directory:
            try:
                connection.settings_dict["NAME"] = str(Path(directory) / "bench.sqlite3")
                call_command("migrate", interactive=False, verbosity=0)
                yield f"sqlite file in {directory}"
            finally:
                connection.close()
                connection.settings_dict.clear()
                connection.settings_dict.update(original)


def run() -> dict[str, Any]:
    from django.db import connection

    from catalog.services.clusters import cluster_ensure_default

    target = default_rows()
    engine = "postgresql" if is_postgresql() else "sqlite"
    with temp_database("bench_trace_lookup") as where:
        cluster = cluster_ensure_default()
        started = time.perf_counter()
        fill = _fill_postgresql if engine == "postgresql" else _fill_sqlite
        rows = fill(cluster.pk, target)
        generate_s = time.perf_counter() - started
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        analyze_s = time.perf_counter() - started
        chains = min(rows, target // CHAIN_LENGTH or 1)
        result = _measure(chains, rows)
        result.update(
            engine=engine,
            database=where,
            rows_requested=target,
            rows=rows,
            chains=chains,
            generate_s=round(generate_s, 1),
            rows_per_s=round(rows / generate_s),
            analyze_s=round(analyze_s, 1),
        )
    figure = result["selector_ms"]["p95"]
    baseline = result["pk_ms"]["p95"]
    return {
        "figure": {"label": f"trace_for p95, {rows:,} rows ({engine})", "value": figure, "unit": "ms"},
        "baseline": {"label": "TraceEvent by primary key, p95", "value": baseline, "unit": "ms"},
        "ratio": round(figure / baseline, 2),
        "ratio_note": "selector p95 / primary-key p95 (goal on PostgreSQL, 10M rows: p95 < 20 ms)",
        **result,
    }


def _measure(chains: int, rows: int) -> dict[str, Any]:
    from monitoring.models import TraceEvent
    from monitoring.selectors import trace_for

    rng = random.Random(5)
    ids = [correlation_id(rng.randrange(chains)) for _ in range(LOOKUPS + WARMUP)]
    first = {}
    started = time.perf_counter()
    trace = trace_for(ids[0])
    first["selector_ms"] = round((time.perf_counter() - started) * 1000, 2)
    if trace is None:
        raise RuntimeError(f"trace_for({ids[0]!r}) found nothing")
    hops = []

    def lookup(correlation: str) -> None:
        found = trace_for(correlation)
        if found is None:
            raise RuntimeError(f"trace_for({correlation!r}) found nothing")
        hops.append(len(found.events))

    selector = _timings(lookup, ids[1:])
    pks = [rng.randrange(1, rows + 1) for _ in range(LOOKUPS + WARMUP)]
    pk = _timings(lambda key: TraceEvent.objects.get(pk=key), pks)
    plan = TraceEvent.objects.filter(correlation_id=ids[0]).order_by("timestamp", "id").explain()
    return {
        "lookups": LOOKUPS,
        "selector_ms": selector,
        "pk_ms": pk,
        "first_selector_call_ms": first["selector_ms"],
        "events_per_trace_mean": round(statistics.mean(hops), 2),
        "plan": plan.splitlines()[:4],
    }


def _timings(call: Callable[[Any], Any], arguments: list[Any]) -> dict[str, float]:
    """Call once per argument (the first WARMUP not counted); p50/p95/p99/mean/max in ms."""
    for argument in arguments[:WARMUP]:
        call(argument)
    samples = []
    for argument in arguments[WARMUP:]:
        started = time.perf_counter()
        call(argument)
        samples.append((time.perf_counter() - started) * 1000)
    centiles = statistics.quantiles(samples, n=100, method="inclusive")
    return {
        "p50": round(centiles[49], 3),
        "p95": round(centiles[94], 3),
        "p99": round(centiles[98], 3),
        "mean": round(statistics.mean(samples), 3),
        "max": round(max(samples), 3),
    }


def _over_budget(started: float) -> bool:
    return GEN_BUDGET_S is not None and time.perf_counter() - started > GEN_BUDGET_S


def _fill_postgresql(cluster_id: int, target: int) -> int:
    """INSERT ... SELECT generate_series in chunks of CHUNK rows; returns the rows written."""
    from django.db import connection

    chains = target // CHAIN_LENGTH or 1
    # Row g is step g / chains of chain g % chains: a chain's events lie far apart, as in time order.
    sql = """
        INSERT INTO monitoring_traceevent (
            correlation_id, cluster_id, topic, partition, "offset", timestamp, timestamp_type, key, event_id,
            causation_id, event_type, producer, correlation_source, size, payload_excerpt, payload_encoding,
            is_dead_letter, error_reason, headers, indexed_at)
        SELECT c.id, %(cluster)s, (%(topics)s::text[])[(g / %(chains)s) %% 5 + 1], (g %% %(chains)s) %% 3, g,
               %(base)s::timestamptz + g * interval '1 millisecond', 1, c.id, 'evt-' || g, '',
               (%(types)s::text[])[(g / %(chains)s) %% 6 + 1], 'bench', 'payload:correlation_id', 80,
               '{"correlation_id": "' || c.id || '", "amount": 42, "currency": "EUR"}', 'json',
               false, '', '{}'::jsonb, now()
        FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS g,
             LATERAL (SELECT 'corr-' || lpad((g %% %(chains)s)::text, 10, '0') AS id) AS c
    """
    started = time.perf_counter()
    written = 0
    with connection.cursor() as cursor:
        while written < target:
            stop = min(written + CHUNK, target)
            params = {
                "cluster": cluster_id,
                "chains": chains,
                "base": BASE_TIME,
                "topics": list(TOPICS),
                "types": list(EVENT_TYPES),
                "start": written,
                "stop": stop - 1,
            }
            cursor.execute(sql, params)
            written = stop
            if _over_budget(started):
                break
    return written


def _fill_sqlite(cluster_id: int, target: int) -> int:
    """executemany in transactions of SQLITE_BATCH rows; returns the rows written."""
    from django.db import connection, transaction

    chains = target // CHAIN_LENGTH or 1
    sql = """
        INSERT INTO monitoring_traceevent (
            correlation_id, cluster_id, topic, partition, "offset", timestamp, timestamp_type, key, event_id,
            causation_id, event_type, producer, correlation_source, size, payload_excerpt, payload_encoding,
            is_dead_letter, error_reason, headers, indexed_at)
        VALUES (%s, %s, %s, %s, %s, %s, 1, %s, %s, '', %s, 'bench', 'payload:correlation_id', 80, %s, 'json',
                0, '', '{}', %s)
    """
    base = BASE_TIME.replace(tzinfo=None)
    indexed_at = base.isoformat(sep=" ")

    def batch(start: int, stop: int) -> Iterator[tuple]:
        for g in range(start, stop):
            chain, step = g % chains, g // chains
            corr = correlation_id(chain)
            stamp = (base + dt.timedelta(milliseconds=g)).isoformat(sep=" ", timespec="microseconds")
            yield (
                corr,
                cluster_id,
                TOPICS[step % 5],
                chain % 3,
                g,
                stamp,
                corr,
                f"evt-{g}",
                EVENT_TYPES[step % 6],
                PAYLOAD % corr,
                indexed_at,
            )

    started = time.perf_counter()
    written = 0
    while written < target:
        stop = min(written + SQLITE_BATCH, target)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, batch(written, stop))
        written = stop
        if _over_budget(started):
            break
    return written


if __name__ == "__main__":
    _setup_django()
    print(json.dumps(run(), indent=2))
