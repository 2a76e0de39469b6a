"""Celery tasks of monitoring: thin, one service call, a log line.

Each cluster's beat entry (a django-celery-beat PeriodicTask kept in step by monitoring.lag) sends
`monitoring.poll_lag` with the cluster's id; a poll that expired in the queue is recorded as skipped.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import task_revoked

from catalog.models import Cluster
from monitoring.alerts import evaluate_alerts
from monitoring.indexing import retention_purge_all
from monitoring.lag import (
    POLL_TASK,
    RETENTION_TASK,
    lag_poll,
    lag_poll_record_expired,
    lag_retention,
    lag_schedule_delete,
    lock_ttl_s,
)
from monitoring.models import LagPollRun

logger = logging.getLogger(__name__)


@shared_task(name="monitoring.purge_trace_index", ignore_result=True)
def purge_trace_index() -> int:
    """Delete index rows older than each cluster's retention (beat: daily)."""
    deleted = retention_purge_all()
    logger.info("trace index retention: %d rows deleted", deleted)
    return deleted


# The soft limit ends a hung cycle (its run is marked failed) before its Redis lock expires, so two
# cycles of a cluster never run side by side.
@shared_task(name=POLL_TASK, bind=True, ignore_result=True, soft_time_limit=lock_ttl_s() - 10)
def poll_lag(self, cluster_id: int, trigger: str = "schedule") -> None:
    try:
        # The task id is the lock's token: a redelivery after its worker died mid-cycle redoes the cycle.
        run = lag_poll(cluster_id=cluster_id, trigger=trigger, task_id=self.request.id)
    except Cluster.DoesNotExist:
        logger.warning("cluster %s no longer exists; removing its lag poll schedule", cluster_id)
        lag_schedule_delete(cluster_id=cluster_id)
        return
    logger.info("lag poll run %s of cluster %s: %s", run.pk, cluster_id, run.status)
    if run.status != LagPollRun.Status.SKIPPED:
        # Alerts judge the states this cycle wrote (or the failure it recorded: the no-data rule).
        evaluate_alerts(cluster=run.cluster)


@shared_task(name=RETENTION_TASK, ignore_result=True)
def lag_retention_task() -> None:
    result = lag_retention()
    logger.info(
        "lag retention: %d rolled up to minutes, %d to hours, %d deleted",
        result.rolled_to_minutes,
        result.rolled_to_hours,
        result.deleted,
    )


@task_revoked.connect(dispatch_uid="monitoring-lag-poll-expired")
def _record_expired_poll(sender=None, request=None, expired: bool = False, **_kwargs) -> None:
    if not expired or request is None or getattr(request, "name", None) != POLL_TASK or not request.args:
        return
    lag_poll_record_expired(cluster_id=int(request.args[0]))
