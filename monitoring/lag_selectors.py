"""Reads of consumer lag that pages, the API, /metrics and alerts share: a group's latest lag, histories, and the
health of a cluster's poller. A fixed number of queries per call, whatever the size of the answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from catalog.models import Cluster, ConsumerGroup, Topic

from .lag_evaluation import STATUS_ORDER, UNKNOWN
from .models import GroupLagSample, GroupLagState, LagPollRun, TopicThroughput, TopicThroughputSample
from .timelag import ClearState

__all__ = [
    "MAX_HISTORY_POINTS",
    "cluster_health",
    "group_history",
    "group_lag",
    "lag_states_for",
    "topic_history",
    "topic_throughput",
]

# Histories are cut down to at most this many points (averaged per bucket): enough for a chart's width.
MAX_HISTORY_POINTS = 720


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _clear_state(state: GroupLagState) -> str:
    if state.total_lag <= 0:
        return ClearState.CLEAR
    if state.time_to_clear_s is not None:
        return ClearState.CLEARING
    if state.consume_rate is None or state.produce_rate is None:
        return ClearState.UNKNOWN
    return ClearState.NEVER


def lag_states_for(group_ids: Iterable[int]) -> dict[int, GroupLagState]:
    """The latest lag state of each group (by ConsumerGroup pk) that has one, in one query (for lists)."""
    ids = list(group_ids)
    if not ids:
        return {}
    return {state.group_id: state for state in GroupLagState.objects.filter(group_id__in=ids)}


def group_lag(group: ConsumerGroup) -> dict[str, Any]:
    """The DESIGN.md shape of `GET /api/v1/consumer-groups/{group}/lag`: per partition committed offset,
    log-end offset, lag, time lag (s), whether that time lag is only a lower bound, and status; per group
    totals, status and time-to-clear estimate.

    A group the poller has not evaluated (yet, or any more: deleted) has status UNKNOWN and no partitions.
    """
    state = GroupLagState.objects.filter(group=group).first()
    base = {
        "cluster": group.cluster.name,
        "group": group.group_id,
        "deleted": group.deleted_at is not None,
    }
    if state is None:
        return {
            **base,
            "status": UNKNOWN,
            "since": None,
            "total_lag": None,
            "max_time_lag_s": None,
            "time_lag_lower_bound": False,
            "time_to_clear_s": None,
            "time_to_clear": ClearState.UNKNOWN.value,
            "consume_rate": None,
            "produce_rate": None,
            "sampled_at": None,
            "stale": False,
            "partitions": [],
        }
    return {
        **base,
        "status": state.status,
        "since": _iso(state.since),
        "total_lag": state.total_lag,
        "max_time_lag_s": state.max_time_lag_s,
        "time_lag_lower_bound": state.time_lag_lower_bound,
        "time_to_clear_s": state.time_to_clear_s,
        "time_to_clear": str(_clear_state(state)),
        "consume_rate": state.consume_rate,
        "produce_rate": state.produce_rate,
        "sampled_at": _iso(state.sampled_at),
        "stale": state.stale,
        "partitions": [
            {
                "topic": p["topic"],
                "partition": p["partition"],
                "committed": p.get("committed"),
                "log_end": p.get("log_end"),
                "lag": p.get("lag"),
                "time_lag_s": p.get("time_lag_s"),
                # Rows written before the flag existed say nothing: not a known lower bound.
                "time_lag_lower_bound": bool(p.get("time_lag_lower_bound", False)),
                "status": p.get("status", UNKNOWN),
            }
            for p in state.partitions
        ],
    }


# ---------------------------------------------------------------------------------------------
# Histories
# ---------------------------------------------------------------------------------------------
def _window(since: datetime, until: datetime | None) -> tuple[datetime, datetime]:
    until = until or timezone.now()
    if since >= until:
        raise ValueError("`since` must be before `until`.")
    return since, until


def _bucketed(rows: Sequence[dict[str, Any]], since: datetime, until: datetime, fields: dict[str, str]) -> list[dict]:
    """At most MAX_HISTORY_POINTS points: rows averaged (or maxed, per `fields`) per equal time bucket.

    Raw samples cover the last day, minute rollups the week before, hourly ones the rest; a window's
    rows therefore come from whichever resolution covers each part of it, and bucketing evens them out.
    """
    if len(rows) <= MAX_HISTORY_POINTS:
        return [dict(row) for row in rows]
    width = (until - since) / MAX_HISTORY_POINTS
    buckets: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        buckets.setdefault(int((row["sampled_at"] - since) / width), []).append(row)
    points = []
    for _index, members in sorted(buckets.items()):
        point: dict[str, Any] = {"sampled_at": members[-1]["sampled_at"]}
        for name, how in fields.items():
            values = [m[name] for m in members if m[name] is not None]
            if not values:
                point[name] = None
            elif how == "max":
                point[name] = max(values)
            elif how == "last":
                point[name] = values[-1]
            else:
                point[name] = sum(values) / len(values)
        points.append(point)
    return points


def group_history(group: ConsumerGroup, *, since: datetime, until: datetime | None = None) -> list[dict[str, Any]]:
    """Points {sampled_at, total_lag, max_time_lag_s, consume_rate, produce_rate, status}, oldest first."""
    since, until = _window(since, until)
    rows = list(
        GroupLagSample.objects.filter(group=group, sampled_at__gte=since, sampled_at__lte=until)
        .order_by("sampled_at", "id")
        .values("sampled_at", "total_lag", "max_time_lag_s", "consume_rate", "produce_rate", "status")
    )
    return _bucketed(
        rows,
        since,
        until,
        {
            "total_lag": "avg",
            "max_time_lag_s": "max",
            "consume_rate": "avg",
            "produce_rate": "avg",
            "status": "last",
        },
    )


def topic_history(topic: Topic, *, since: datetime, until: datetime | None = None) -> list[dict[str, Any]]:
    """Points {sampled_at, produce_rate, log_end_total}, oldest first."""
    since, until = _window(since, until)
    rows = list(
        TopicThroughputSample.objects.filter(topic=topic, sampled_at__gte=since, sampled_at__lte=until)
        .order_by("sampled_at", "id")
        .values("sampled_at", "produce_rate", "log_end_total")
    )
    return _bucketed(rows, since, until, {"produce_rate": "avg", "log_end_total": "last"})


def topic_throughput(topic: Topic) -> dict[str, Any] | None:
    """The latest produce rate of a topic and its partitions, or None before the first poll."""
    throughput = TopicThroughput.objects.filter(topic=topic).first()
    if throughput is None:
        return None
    return {
        "produce_rate": throughput.produce_rate,
        "partitions": throughput.partitions,
        "sampled_at": _iso(throughput.sampled_at),
    }


# ---------------------------------------------------------------------------------------------
# The poller's health
# ---------------------------------------------------------------------------------------------
def cluster_health(cluster: Cluster) -> dict[str, Any]:
    """The last poll run, the last successful one, groups by status, and whether the data is stale.

    Stale: the last finished run failed, or no run succeeded within three poll intervals. While the cluster
    is unreachable a cycle is mostly in progress (waiting for Kafka's timeout), so the failure and its error
    come from the last *finished* run, not from the one running now.
    """
    runs = LagPollRun.objects.filter(cluster=cluster)
    last = runs.exclude(status=LagPollRun.Status.SKIPPED).first()
    last_finished = (
        last
        if last is None or last.status != LagPollRun.Status.RUNNING
        else runs.exclude(status__in=(LagPollRun.Status.SKIPPED, LagPollRun.Status.RUNNING)).first()
    )
    last_ok = runs.filter(status=LagPollRun.Status.OK).first()
    interval = timedelta(seconds=settings.EVENTSCOPE_LAG_POLL_INTERVAL_S)
    now = timezone.now()
    failed = last_finished is not None and last_finished.status == LagPollRun.Status.FAILED
    stale = last_ok is None or failed
    if last_ok is not None and (last_ok.finished_at or last_ok.started_at) < now - 3 * interval:
        stale = True
    counts = Counter(
        GroupLagState.objects.filter(group__cluster=cluster, group__deleted_at__isnull=True).values_list(
            "status", flat=True
        )
    )
    return {
        "cluster": cluster.name,
        "status": last.status if last is not None else None,
        "stale": stale,
        "last_run": _run(last),
        "last_ok_run": _run(last_ok),
        "duration_ms": last.duration_ms if last is not None else None,
        "last_finished_status": last_finished.status if last_finished is not None else None,
        "error": last_finished.error if failed else "",
        "groups_by_status": {status: counts.get(status, 0) for status in (*STATUS_ORDER, UNKNOWN)},
        "poll_interval_s": interval.total_seconds(),
    }


def _run(run: LagPollRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "id": run.pk,
        "status": run.status,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "duration_ms": run.duration_ms,
        "groups": run.groups,
        "partitions": run.partitions,
        "error": run.error,
    }
