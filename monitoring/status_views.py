"""HTML view of the trace indexer's status: no business logic here, one read per page.

URL (monitoring/urls.py): ``path("indexer/", status_views.indexer_status, name="indexer-status")``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, Max, Min
from django.shortcuts import render
from django.utils import timezone

from catalog.models import Cluster
from monitoring.indexer import LIVENESS_S
from monitoring.models import IndexerStatus, TraceEvent

__all__ = ["ClusterIndexStatus", "indexer_status", "indexer_status_overview"]


@dataclass
class ClusterIndexStatus:
    """One cluster on the status page: its indexer copies and what its index holds."""

    cluster: Cluster
    copies: list[IndexerStatus] = field(default_factory=list)
    rows: int = 0
    oldest: dt.datetime | None = None
    newest: dt.datetime | None = None

    @property
    def live_copies(self) -> list[IndexerStatus]:
        return [copy for copy in self.copies if copy.is_live]

    @property
    def events_per_s(self) -> float:
        return sum(copy.events_per_s for copy in self.live_copies)

    @property
    def lag_records(self) -> int | None:
        lags = [copy.lag_records for copy in self.live_copies if copy.lag_records is not None]
        return sum(lags) if lags else None


def indexer_status_overview(*, now: dt.datetime | None = None) -> list[ClusterIndexStatus]:
    """Every cluster with its copies (newest heartbeat first) and the index's size and time span.

    Three queries whatever the number of clusters (a selector; it moves to monitoring/selectors.py
    when the monitoring app has one).
    """
    now = now or timezone.now()
    overview = {cluster.pk: ClusterIndexStatus(cluster) for cluster in Cluster.objects.order_by("name")}
    for copy in IndexerStatus.objects.order_by("-heartbeat_at"):
        copy.heartbeat_age_s = (now - copy.heartbeat_at).total_seconds()
        copy.is_live = copy.heartbeat_age_s <= LIVENESS_S
        copy.skip_reason_items = sorted((copy.skip_reasons or {}).items(), key=lambda item: -item[1])
        if copy.cluster_id in overview:
            overview[copy.cluster_id].copies.append(copy)
    spans = TraceEvent.objects.values("cluster").annotate(
        rows=Count("id"), oldest=Min("timestamp"), newest=Max("timestamp")
    )
    for span in spans.order_by():
        status = overview.get(span["cluster"])
        if status is not None:
            status.rows, status.oldest, status.newest = span["rows"], span["oldest"], span["newest"]
    return list(overview.values())


def indexer_status(request):
    return render(
        request,
        "monitoring/indexer_status.html",
        {"clusters": indexer_status_overview(), "liveness_s": LIVENESS_S, "nav_section": "monitoring"},
    )
