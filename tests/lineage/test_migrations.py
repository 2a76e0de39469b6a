"""Upgrading from the id watermark to per-partition positions keeps each installation's place."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

LINEAGE_BEFORE = ("lineage", "0001_edge_evidence")


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _latest():
    """Every app's newest migration: where the test database was and must be again after the test."""
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def test_positions_start_after_what_the_old_watermark_read():
    latest = _latest()
    # Only lineage steps back (every other app stays at its newest migration, which the old state includes).
    old = _migrate([LINEAGE_BEFORE, *(node for node in latest if node[0] != "lineage")])
    try:
        cluster = old.get_model("catalog", "Cluster").objects.create(name="c1", bootstrap_servers="127.0.0.1:1")
        trace_event = old.get_model("monitoring", "TraceEvent")
        rows = [
            trace_event.objects.create(
                cluster=cluster,
                correlation_id=f"c-{n}",
                topic=topic,
                partition=partition,
                offset=offset,
                timestamp=datetime(2026, 1, 1, tzinfo=UTC),
            )
            for n, (topic, partition, offset) in enumerate(
                [("placed", 0, 0), ("placed", 0, 1), ("placed", 1, 7), ("reserved", 0, 3), ("reserved", 0, 4)]
            )
        ]
        # The old refresh had read up to the fourth row: placed-0 up to 1, placed-1 up to 7, reserved-0 up to 3.
        old.get_model("lineage", "LineageRefresh").objects.create(cluster=cluster, observed_until_id=rows[3].id)
        never_refreshed = old.get_model("catalog", "Cluster").objects.create(name="c2", bootstrap_servers="x:1")
        old.get_model("lineage", "LineageRefresh").objects.create(cluster=never_refreshed)
    finally:
        new = _migrate(latest)

    positions = new.get_model("lineage", "ObservedPosition").objects.values_list(
        "cluster__name", "topic", "partition", "read_until", "reading_until"
    )
    assert set(_latest()) == set(latest) and MigrationExecutor(connection).migration_plan(latest) == []
    assert sorted(positions) == [
        ("c1", "placed", 0, 2, 2),
        ("c1", "placed", 1, 8, 8),
        ("c1", "reserved", 0, 4, 4),  # offset 4 was not read yet: the next refresh reads it
    ]
