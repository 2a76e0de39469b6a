"""Lag reads (monitoring.lag_selectors) over rows as the poller writes them, and the schedules' reconciliation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from catalog.models import Cluster
from monitoring.apps import ensure_lag_schedules
from monitoring.lag import POLL_TASK
from monitoring.lag_selectors import MAX_HISTORY_POINTS, cluster_health, group_history, group_lag
from monitoring.models import GroupLagSample
from tests.factories import make_cluster, make_group
from tests.monitoring.lag_rows import make_lag_state, make_poll_run, partition_row

pytestmark = pytest.mark.django_db


def test_group_history_keeps_short_windows_whole_and_buckets_long_ones():
    cluster = make_cluster("hist")
    group = make_group(cluster, "orders")
    now = timezone.now()
    GroupLagSample.objects.bulk_create(
        GroupLagSample(
            group=group,
            sampled_at=now - timedelta(seconds=15 * i),
            total_lag=i,
            max_time_lag_s=float(i),
            consume_rate=1.0,
            produce_rate=2.0,
            status="WARN" if i == 5 else "OK",
        )
        for i in range(2000)
    )
    short = group_history(group, since=now - timedelta(minutes=5))
    assert [p["total_lag"] for p in short] == list(range(20, -1, -1))  # oldest first, every sample
    assert short[-1]["status"] == "OK"

    long = group_history(group, since=now - timedelta(hours=9))
    assert len(long) <= MAX_HISTORY_POINTS
    assert long[0]["sampled_at"] < long[-1]["sampled_at"]
    assert max(p["max_time_lag_s"] for p in long) == 1999.0  # maxima survive bucketing
    assert all(p["consume_rate"] == 1.0 for p in long)

    with pytest.raises(ValueError):
        group_history(group, since=now, until=now - timedelta(minutes=1))


def test_group_lag_shape_and_cluster_health():
    cluster = make_cluster("health")
    group = make_group(cluster, "payments")
    assert group_lag(group)["status"] == "UNKNOWN"
    make_lag_state(
        group,
        status="STOP",
        partitions=[partition_row("t", 0, committed=5, log_end=10, time_lag_s=12.5, status="STOP")],
        time_to_clear_s=None,
        consume_rate=0.0,
        produce_rate=1.0,
    )
    body = group_lag(group)
    assert (body["status"], body["total_lag"], body["time_to_clear"]) == ("STOP", 5, "never")
    assert body["partitions"] == [
        {
            "topic": "t",
            "partition": 0,
            "committed": 5,
            "log_end": 10,
            "lag": 5,
            "time_lag_s": 12.5,
            "time_lag_lower_bound": False,  # a row written before the flag existed: not a known bound
            "status": "STOP",
        }
    ]
    assert body["time_lag_lower_bound"] is False

    assert cluster_health(cluster)["stale"] is True  # never polled
    make_poll_run(cluster, status="ok")
    health = cluster_health(cluster)
    assert health["stale"] is False and health["groups_by_status"]["STOP"] == 1
    make_poll_run(cluster, status="failed", error="list consumer groups: Local: Timed out")
    health = cluster_health(cluster)
    assert health["stale"] is True and health["error"].startswith("list consumer groups")
    make_poll_run(cluster, status="ok", ago=timedelta(minutes=-1))
    assert cluster_health(cluster)["stale"] is False


def test_schedules_are_reconciled_after_migrate_and_at_beat_start():
    cluster = make_cluster("sched")
    interval = PeriodicTask.objects.get(task=POLL_TASK, args=f"[{cluster.pk}]").interval
    PeriodicTask.objects.filter(task=POLL_TASK).delete()
    PeriodicTask.objects.create(
        name="monitoring: poll lag of cluster 999999", task=POLL_TASK, args="[999999]", interval=interval
    )
    ensure_lag_schedules()
    # One per cluster (the default cluster too), none for the cluster that is gone.
    assert set(PeriodicTask.objects.filter(task=POLL_TASK).values_list("args", flat=True)) == {
        f"[{pk}]" for pk in Cluster.objects.values_list("pk", flat=True)
    }
    assert f"[{cluster.pk}]" in set(PeriodicTask.objects.filter(task=POLL_TASK).values_list("args", flat=True))


@pytest.mark.parametrize(
    ("rows", "group_flag", "expected"),
    [
        ([(12.5, None)], False, [False]),
        ([(12.5, False), (300.0, True)], True, [False, True]),
        ([(0.0, False), (0.0, False)], False, [False, False]),
        ([(900.0, True)], True, [True]),
    ],
)
def test_group_lag_says_which_time_lags_are_lower_bounds(rows, group_flag, expected):
    group = make_group(make_cluster("bounds"), "orders")
    partitions = [
        partition_row("t", index, committed=5, log_end=10, time_lag_s=seconds, status="WARN", lower_bound=bound)
        for index, (seconds, bound) in enumerate(rows)
    ]
    make_lag_state(
        group,
        status="WARN",
        partitions=partitions,
        max_time_lag_s=max(seconds for seconds, _bound in rows),
        time_lag_lower_bound=group_flag,
    )
    body = group_lag(group)
    assert [p["time_lag_lower_bound"] for p in body["partitions"]] == expected
    assert body["time_lag_lower_bound"] is group_flag
