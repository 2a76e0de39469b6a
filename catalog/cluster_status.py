"""How fresh a cluster's discovered data is (read-only; pages show it beside the data).

The data is stale when the last successful discovery is older than STALE_AFTER_INTERVALS times
the cluster's interval, when there never was one, or when the latest finished run failed (the
cluster is unreachable now, whatever the age of the last success).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from django.db.models import Max, OuterRef, Subquery
from django.utils import timezone

from catalog.models import Cluster, DiscoveryRun

__all__ = ["STALE_AFTER_INTERVALS", "ClusterStaleness", "cluster_staleness", "clusters_staleness", "staleness"]

STALE_AFTER_INTERVALS = 3


class ClusterStaleness(NamedTuple):
    last_success_at: datetime | None
    age_s: float | None  # seconds since the last success; None when there never was one
    is_stale: bool
    last_run_failed: bool = False  # the latest finished run failed: the cluster is unreachable (or refuses us) now


def staleness(
    *, last_success_at: datetime | None, last_finished_status: str | None, interval_s: int, now: datetime
) -> ClusterStaleness:
    """The pure rule, from the two facts it needs."""
    failed = last_finished_status == DiscoveryRun.Status.FAILED
    if last_success_at is None:
        return ClusterStaleness(None, None, True, failed)
    age_s = max(0.0, (now - last_success_at).total_seconds())
    is_stale = age_s > STALE_AFTER_INTERVALS * interval_s or failed
    return ClusterStaleness(last_success_at, age_s, is_stale, failed)


def cluster_staleness(cluster: Cluster, *, now: datetime | None = None) -> ClusterStaleness:
    """(last_success_at, age_s, is_stale) of one cluster, in one query."""
    return clusters_staleness([cluster], now=now)[cluster.pk]


def clusters_staleness(clusters: Iterable[Cluster], *, now: datetime | None = None) -> dict[int, ClusterStaleness]:
    """Staleness of many clusters in one query (a list page must not pay a query per cluster)."""
    clusters = list(clusters)
    now = now or timezone.now()
    finished = DiscoveryRun.objects.filter(cluster=OuterRef("pk")).exclude(status=DiscoveryRun.Status.RUNNING)
    facts = (
        Cluster.objects.filter(pk__in=[cluster.pk for cluster in clusters])
        .annotate(
            last_success_at=Subquery(
                finished.filter(status=DiscoveryRun.Status.SUCCEEDED)
                .values("cluster")
                .annotate(last=Max("finished_at"))
                .values("last")[:1]
            ),
            last_finished_status=Subquery(finished.order_by("-started_at", "-id").values("status")[:1]),
        )
        .values("pk", "last_success_at", "last_finished_status")
    )
    by_pk = {row["pk"]: row for row in facts}
    return {
        cluster.pk: staleness(
            last_success_at=by_pk.get(cluster.pk, {}).get("last_success_at"),
            last_finished_status=by_pk.get(cluster.pk, {}).get("last_finished_status"),
            interval_s=cluster.discovery_interval_s,
            now=now,
        )
        for cluster in clusters
    }
