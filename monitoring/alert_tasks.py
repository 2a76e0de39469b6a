"""Celery task of alerts: thin, one service call, a log line. (Imported by MonitoringConfig.ready, so workers
register it; monitoring.tasks belongs to the pollers.)

The lag poll task evaluates alerts right after each cycle of its cluster; this beat task (every minute) is the
fallback that keeps no-data rules and webhook retries going when no poll finishes at all.
"""

from __future__ import annotations

import logging

from celery import shared_task

from .alerts import evaluate_alerts

__all__ = ["EVALUATE_ALERTS_TASK", "evaluate_alerts_task"]

logger = logging.getLogger(__name__)

EVALUATE_ALERTS_TASK = "monitoring.evaluate_alerts"


@shared_task(name=EVALUATE_ALERTS_TASK, ignore_result=True, soft_time_limit=50)
def evaluate_alerts_task() -> None:
    summary = evaluate_alerts()
    logger.info(
        "alerts evaluated: %d rules, %d fired, %d resolved, %d notifications sent, %d failed",
        summary.rules,
        summary.fired,
        summary.resolved,
        summary.sent,
        summary.failed,
    )
