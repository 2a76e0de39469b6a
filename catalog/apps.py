"""The catalog app: a fresh installation gets its default cluster and discovery schedules by itself."""

from __future__ import annotations

import logging

from django.apps import AppConfig
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.models.signals import post_migrate

logger = logging.getLogger(__name__)


def ensure_default_cluster_and_schedules(*, using: str = DEFAULT_DB_ALIAS, **_kwargs) -> None:
    """Create or update the default cluster from settings and bring every discovery schedule in step.

    Connected to post_migrate and to Celery beat's start. A bad Kafka setting is logged, not
    raised: it must not fail a migrate (or stop beat), and discovery then reports it.
    """
    from django_celery_beat.models import PeriodicTask

    from .models import Cluster
    from .services.clusters import cluster_ensure_default
    from .services.discovery import discovery_schedules_reconcile

    if using != DEFAULT_DB_ALIAS:
        return
    # After `migrate catalog zero` (or before beat's database is migrated) the tables are not there.
    tables = set(connections[using].introspection.table_names())
    if not {Cluster._meta.db_table, PeriodicTask._meta.db_table} <= tables:
        return
    try:
        cluster_ensure_default()
    except ValidationError as exc:
        logger.warning("the default Kafka cluster from settings is not usable: %s", "; ".join(exc.messages))
    discovery_schedules_reconcile()


def _on_beat_init(**_kwargs) -> None:
    try:
        ensure_default_cluster_and_schedules()
    except DatabaseError:
        logger.exception("could not bring the discovery schedules in step at beat start (is the database migrated?)")


class CatalogConfig(AppConfig):
    name = "catalog"

    def ready(self) -> None:
        from celery.signals import beat_init

        from . import signals  # noqa: F401 (connects the search index's receivers)

        post_migrate.connect(ensure_default_cluster_and_schedules, sender=self, dispatch_uid="catalog-default-cluster")
        beat_init.connect(_on_beat_init, dispatch_uid="catalog-discovery-schedules", weak=False)
