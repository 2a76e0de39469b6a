"""Celery tasks of the catalog: thin, ids in, one service call, a log line.

Each cluster's beat entry (a django-celery-beat PeriodicTask kept in step by the cluster services)
sends `catalog.discover_cluster` with the cluster's id; "sync now" sends it through
`catalog.services.discovery.discovery_request`.
"""

from __future__ import annotations

import logging

from celery import current_app, shared_task
from kombu.exceptions import OperationalError as KombuOperationalError

from catalog.models import Cluster
from catalog.services.discovery import (
    ABANDONED_AFTER,
    DiscoveryAlreadyRunningError,
    discovery_run,
    discovery_schedule_delete,
)

logger = logging.getLogger(__name__)


# The soft limit ends a hung run (its row is marked failed) before the abandoned-run rule would
# let a second run start beside it.
@shared_task(name="catalog.discover_cluster", ignore_result=True, soft_time_limit=ABANDONED_AFTER.total_seconds() - 30)
def discover_cluster(cluster_id: int, trigger: str = "schedule") -> None:
    try:
        run = discovery_run(cluster_id=cluster_id, trigger=trigger)
    except Cluster.DoesNotExist:
        # Its schedule outlived it (deleted outside the services): remove the schedule too.
        logger.warning("cluster %s no longer exists; removing its discovery schedule", cluster_id)
        discovery_schedule_delete(cluster_id=cluster_id)
        return
    except DiscoveryAlreadyRunningError as exc:
        # Not an error: a slow run overlapped the next tick, or someone clicked "sync now" twice.
        logger.info("%s Skipped.", exc)
        return
    logger.info("discovery run %s of cluster %s (%s): %s", run.pk, cluster_id, trigger, run.status)
    changed = run.topics_created + run.topics_deleted + run.groups_created + run.groups_deleted
    if run.status == run.Status.SUCCEEDED and changed:
        # New or vanished topics and groups change the lineage graph: refresh it now rather than at the next
        # 5-minute tick (by name: the catalog does not import lineage). A fresh install's graph is then
        # complete right after its first discovery.
        try:
            current_app.signature("lineage.refresh_edges", args=[cluster_id]).apply_async(retry=False)
        except (KombuOperationalError, OSError) as exc:  # the 5-minute beat entry refreshes it anyway
            logger.warning("lineage refresh of cluster %s not queued: %s", cluster_id, exc)
