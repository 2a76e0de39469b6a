"""HTML views of consumer lag: cluster health pages and the group page's live partials (HTMX polls them). Thin:
reads through monitoring.lag_selectors, figures from monitoring.charts. The context builders here also serve
the panels that catalog pages include (monitoring.templatetags.lag_tags), so a panel and its refresh render alike.

Stale data is shown as stale, never as an error: a failed or old poll marks the panel, and a group or cluster the
poller has not measured yet says so.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from catalog.models import Cluster, ConsumerGroup, Topic

from . import charts, lag_selectors
from .lag_evaluation import STATUS_ORDER, UNKNOWN
from .models import GroupLagState, LagPollRun

__all__ = [
    "LIVE_REFRESH",
    "cluster_health",
    "cluster_list",
    "group_charts_context",
    "group_lag_charts",
    "group_lag_live",
    "group_live_context",
    "service_lag_context",
    "topic_lag_context",
]

LIVE_REFRESH = "every 15s"  # hx-trigger of the live partials
STALE_AFTER_INTERVALS = 3
RUNS_SHOWN = 30
GROUPS_SHOWN = 50
STATUSES = (*STATUS_ORDER, UNKNOWN)
DEFAULT_WINDOW = "1h"


def _stale_cutoff(now: datetime) -> datetime:
    return now - timedelta(seconds=STALE_AFTER_INTERVALS * settings.EVENTSCOPE_LAG_POLL_INTERVAL_S)


def _is_stale(state_stale: bool, sampled_at: datetime | None, now: datetime) -> bool:
    return bool(state_stale) or (sampled_at is not None and sampled_at < _stale_cutoff(now))


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# ---------------------------------------------------------------------------------------------
# Context builders (views and template tags)
# ---------------------------------------------------------------------------------------------
def group_live_context(group: ConsumerGroup) -> dict[str, Any]:
    """The group's latest lag (lag_selectors.group_lag's shape) with staleness worked out for the page."""
    now = timezone.now()
    lag = lag_selectors.group_lag(group)
    sampled_at = _parse_time(lag["sampled_at"])
    partitions = sorted(lag["partitions"], key=lambda p: (p["topic"], p["partition"]))
    return {
        "group": group,
        "lag": lag,
        "measured": sampled_at is not None,
        "sampled_at": sampled_at,
        "since": _parse_time(lag["since"]),
        "stale": sampled_at is not None and _is_stale(lag["stale"], sampled_at, now),
        "partitions": partitions,
        "live_refresh": LIVE_REFRESH,
    }


def group_charts_context(group: ConsumerGroup, window: str) -> dict[str, Any]:
    window = window if window in charts.LAG_WINDOWS else DEFAULT_WINDOW
    points = lag_selectors.group_history(group, since=timezone.now() - charts.LAG_WINDOWS[window])
    return {
        "group": group,
        "window": window,
        "windows": list(charts.LAG_WINDOWS),
        "charts": charts.group_lag_charts(points),
        "point_count": len(points),
    }


def topic_lag_context(topic: Topic) -> dict[str, Any]:
    """Throughput of the topic and the lag of each present consumer group on it (its partitions only)."""
    now = timezone.now()
    throughput = lag_selectors.topic_throughput(topic)
    groups = list(topic.consumer_groups.filter(deleted_at__isnull=True).select_related("cluster").defer("members"))
    states = lag_selectors.lag_states_for(group.pk for group in groups)
    rows = []
    for group in groups:
        state = states.get(group.pk)
        mine = [p for p in (state.partitions if state else []) if p.get("topic") == topic.name]
        time_lags = [p["time_lag_s"] for p in mine if p.get("time_lag_s") is not None]
        rows.append(
            {
                "group": group,
                "state": state,
                "lag": sum(p.get("lag") or 0 for p in mine) if state else None,
                "time_lag_s": max(time_lags) if time_lags else None,
                "stale": state is not None and _is_stale(state.stale, state.sampled_at, now),
            }
        )
    rows.sort(key=lambda row: (-(row["lag"] or 0), row["group"].group_id))
    sampled_at = _parse_time(throughput["sampled_at"]) if throughput else None
    return {
        "topic": topic,
        "throughput": throughput,
        "throughput_stale": sampled_at is not None and _is_stale(False, sampled_at, now),
        "partition_rates": sorted((throughput or {}).get("partitions") or [], key=lambda p: p.get("partition", 0)),
        "group_rows": rows,
        "total_lag": sum(row["lag"] or 0 for row in rows),
    }


def service_lag_context(service) -> dict[str, Any]:
    """The lag of the service's present consumer groups, and the throughput of the topics it declares it produces."""
    from catalog.models import DeclaredRelation

    now = timezone.now()
    groups = list(service.consumer_groups.filter(deleted_at__isnull=True).select_related("cluster").defer("members"))
    states = lag_selectors.lag_states_for(group.pk for group in groups)
    group_rows = [
        {
            "group": group,
            "state": states.get(group.pk),
            "stale": group.pk in states and _is_stale(states[group.pk].stale, states[group.pk].sampled_at, now),
        }
        for group in groups
    ]
    topic_ids = set()
    for topic_id, event_topic_id in DeclaredRelation.objects.filter(
        service=service, direction=DeclaredRelation.Direction.PRODUCES
    ).values_list("topic_id", "event_type__topic_id"):
        topic_ids.update(value for value in (topic_id, event_topic_id) if value)
    topics = list(
        Topic.objects.filter(pk__in=topic_ids, deleted_at__isnull=True)
        .select_related("cluster", "throughput")
        .defer("configs")
        .order_by("name")
    )
    topic_rows = [{"topic": topic, "throughput": getattr(topic, "throughput", None)} for topic in topics]
    return {"service": service, "group_rows": group_rows, "topic_rows": topic_rows}


def _cluster_summary(cluster: Cluster) -> dict[str, Any]:
    health = lag_selectors.cluster_health(cluster)
    last = health["last_run"]
    return {
        "cluster": cluster,
        "health": health,
        "last_started": _parse_time(last["started_at"]) if last else None,
        "last_ok_finished": _parse_time(health["last_ok_run"]["finished_at"]) if health["last_ok_run"] else None,
        "measured": sum(health["groups_by_status"].values()),
        "not_ok": sum(count for status, count in health["groups_by_status"].items() if status not in ("OK", UNKNOWN)),
    }


# ---------------------------------------------------------------------------------------------
# Views
# ---------------------------------------------------------------------------------------------
@require_GET
def cluster_list(request: HttpRequest) -> HttpResponse:
    clusters = [_cluster_summary(cluster) for cluster in Cluster.objects.order_by("name")]
    return render(request, "monitoring/lag_clusters.html", {"clusters": clusters, "statuses": STATUSES})


@require_GET
def cluster_health(request: HttpRequest, pk: int) -> HttpResponse:
    cluster = get_object_or_404(Cluster, pk=pk)
    summary = _cluster_summary(cluster)
    day_ago = timezone.now() - timedelta(hours=24)
    runs = LagPollRun.objects.filter(cluster=cluster)
    counts = runs.filter(started_at__gte=day_ago).aggregate(
        total=Count("pk"),
        failed=Count("pk", filter=Q(status=LagPollRun.Status.FAILED)),
        skipped=Count("pk", filter=Q(status=LagPollRun.Status.SKIPPED)),
    )
    worst = list(
        GroupLagState.objects.filter(group__cluster=cluster, group__deleted_at__isnull=True)
        .exclude(status="OK")
        .select_related("group", "group__cluster")
        .defer("window", "partitions", "group__members")
        .order_by("-total_lag", "group__group_id")[:GROUPS_SHOWN]
    )
    context = {
        **summary,
        "statuses": STATUSES,
        "runs": list(runs.order_by("-started_at", "-id")[:RUNS_SHOWN]),
        "runs_24h": counts,
        "worst_groups": worst,
    }
    return render(request, "monitoring/lag_cluster_health.html", context)


def _group(pk: int) -> ConsumerGroup:
    return get_object_or_404(ConsumerGroup.objects.select_related("cluster").defer("members"), pk=pk)


@require_GET
def group_lag_live(request: HttpRequest, pk: int) -> HttpResponse:
    """The group page's live summary and per-partition table (an HTMX partial polled every 15 s)."""
    return render(request, "monitoring/_group_lag_live.html", group_live_context(_group(pk)))


@require_GET
def group_lag_charts(request: HttpRequest, pk: int) -> HttpResponse:
    """The group page's charts over the chosen window (an HTMX partial)."""
    return render(
        request, "monitoring/_group_lag_charts.html", group_charts_context(_group(pk), request.GET.get("window", ""))
    )
