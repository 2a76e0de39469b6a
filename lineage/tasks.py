"""Celery tasks of lineage: thin, one service call, a log line."""

from __future__ import annotations

import logging

from celery import shared_task

from catalog.models import Cluster
from lineage.services import refresh_edges

logger = logging.getLogger(__name__)


@shared_task(name="lineage.refresh_edges", ignore_result=True)
def refresh_lineage_edges(cluster_id: int | None = None) -> int:
    """Refresh the lineage evidence of one cluster (after its discovery) or of all (beat: every 5 minutes)."""
    cluster = None
    if cluster_id is not None:
        cluster = Cluster.objects.filter(pk=cluster_id).first()
        if cluster is None:
            logger.info("lineage refresh: cluster %s no longer exists", cluster_id)
            return 0
    results = refresh_edges(cluster)
    logger.info("lineage refresh: %d cluster(s), %s", len(results), [r.as_dict() for r in results])
    return len(results)
