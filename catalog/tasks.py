"""Celery tasks of the catalog: thin, ids in, one service call, a log line.

Each cluster's beat entry (a django-celery-beat PeriodicTask kept in step by the cluster services)
sends `catalog.discover_cluster` with the cluster's id; "sync now" sends it through
`catalog.services.discovery.discovery_request`.
"""

from __future__ import annotations

import logging

from celery import shared_task

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
