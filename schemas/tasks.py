"""Celery tasks of the schemas app: thin, ids in, one service call, a log line.

Each external registry's beat entry (kept in step by `schemas.external.services`) sends
`schemas.sync_external_registry` with the registry's id; "Sync now" sends it through
`external_registry_sync_request`.
"""

from __future__ import annotations

import logging

from celery import shared_task

from schemas.external.mirror import external_registry_sync
from schemas.external.services import external_registry_schedule_delete
from schemas.models_external import ExternalRegistry

logger = logging.getLogger(__name__)


@shared_task(name="schemas.sync_external_registry", ignore_result=True, soft_time_limit=600)
def sync_external_registry(registry_id: int) -> None:
    try:
        result = external_registry_sync(registry_id=registry_id)
    except ExternalRegistry.DoesNotExist:
        # Its schedule outlived it (deleted outside the services): remove the schedule too.
        logger.warning("external registry %s no longer exists; removing its sync schedule", registry_id)
        external_registry_schedule_delete(registry_id=registry_id)
        return
    if result.ok:
        logger.info(
            "external registry %s mirrored in %s ms: %s", result.registry, result.duration_ms, result.counts.summary()
        )
    else:
        logger.warning("external registry %s not mirrored: %s", result.registry, result.error)
