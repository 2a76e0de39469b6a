"""Builders for lag rows (GroupLagState, TopicThroughput, GroupLagSample, LagPollRun) that the alert, page and
metrics tests need. The poller (monitoring.lag) is their only writer and needs a broker round trip per cycle; its
own tests cover it, so these tests write the rows it would write directly."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from catalog.models import Cluster, ConsumerGroup, Topic
from monitoring.models import GroupLagSample, GroupLagState, LagPollRun, TopicThroughput


def partition_row(
    topic: str, partition: int, *, committed: int, log_end: int, time_lag_s=0.0, status="OK", lower_bound=None
) -> dict:
    """A row of GroupLagState.partitions; lower_bound None leaves the flag out (rows written before it existed)."""
    row = {
        "topic": topic,
        "partition": partition,
        "committed": committed,
        "log_end": log_end,
        "lag": log_end - committed,
        "time_lag_s": time_lag_s,
        "status": status,
    }
    if lower_bound is not None:
        row["time_lag_lower_bound"] = lower_bound
    return row


def make_lag_state(
    group: ConsumerGroup,
    *,
    status: str = "OK",
    total_lag: int | None = None,
    max_time_lag_s: float | None = 0.0,
    time_lag_lower_bound: bool = False,
    since: datetime | None = None,
    partitions: list[dict] | None = None,
    stale: bool = False,
    time_to_clear_s: float | None = 0.0,
    consume_rate: float | None = 10.0,
    produce_rate: float | None = 10.0,
    sampled_at: datetime | None = None,
) -> GroupLagState:
    partitions = partitions or []
    if total_lag is None:
        total_lag = sum(row["lag"] for row in partitions)
    now = timezone.now()
    state, _ = GroupLagState.objects.update_or_create(
        group=group,
        defaults={
            "status": status,
            "since": since or now,
            "total_lag": total_lag,
            "max_time_lag_s": max_time_lag_s,
            "time_lag_lower_bound": time_lag_lower_bound,
            "time_to_clear_s": time_to_clear_s,
            "consume_rate": consume_rate,
            "produce_rate": produce_rate,
            "partitions": partitions,
            "sampled_at": sampled_at or now,
            "stale": stale,
        },
    )
    return state


def make_throughput(topic: Topic, *, rate: float, partitions: list[dict] | None = None) -> TopicThroughput:
    state, _ = TopicThroughput.objects.update_or_create(
        topic=topic,
        defaults={"produce_rate": rate, "partitions": partitions or [], "sampled_at": timezone.now()},
    )
    return state


def make_poll_run(
    cluster: Cluster, *, status: str = "ok", ago: timedelta = timedelta(0), error: str = "", duration_ms: int = 120
) -> LagPollRun:
    """A finished poll run that ended `ago` before now."""
    finished = timezone.now() - ago
    return LagPollRun.objects.create(
        cluster=cluster,
        started_at=finished - timedelta(milliseconds=duration_ms),
        finished_at=finished,
        status=status,
        error=error,
        duration_ms=duration_ms,
    )


def make_group_history(group: ConsumerGroup, points: list[tuple[datetime, int, float, float, float]]) -> None:
    """GroupLagSample rows: (sampled_at, total_lag, max_time_lag_s, consume_rate, produce_rate)."""
    GroupLagSample.objects.bulk_create(
        GroupLagSample(
            group=group,
            sampled_at=at,
            total_lag=lag,
            max_time_lag_s=time_lag,
            consume_rate=consume,
            produce_rate=produce,
            status="OK",
        )
        for at, lag, time_lag, consume, produce in points
    )
