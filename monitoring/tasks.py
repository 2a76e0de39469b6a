"""Celery tasks of monitoring: thin, one service call, a log line."""

from __future__ import annotations

import logging

from celery import shared_task

from monitoring.indexing import retention_purge_all

logger = logging.getLogger(__name__)


@shared_task(name="monitoring.purge_trace_index", ignore_result=True)
def purge_trace_index() -> int:
    """Delete index rows older than each cluster's retention (beat: daily)."""
    deleted = retention_purge_all()
    logger.info("trace index retention: %d rows deleted", deleted)
    return deleted
