import logging

from django.apps import AppConfig
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.models.signals import post_delete, post_migrate, post_save

logger = logging.getLogger(__name__)


def ensure_lag_schedules(*, using: str = DEFAULT_DB_ALIAS, **_kwargs) -> None:
    """Every cluster's lag poll beat entry in step (after migrate and when beat starts)."""
    from django_celery_beat.models import PeriodicTask

    from catalog.models import Cluster

    from .lag import lag_schedules_reconcile

    if using != DEFAULT_DB_ALIAS:
        return
    tables = set(connections[using].introspection.table_names())
    if not {Cluster._meta.db_table, PeriodicTask._meta.db_table} <= tables:
        return
    lag_schedules_reconcile()


def _on_beat_init(**_kwargs) -> None:
    try:
        ensure_lag_schedules()
    except DatabaseError:
        logger.exception("could not bring the lag poll schedules in step at beat start (is the database migrated?)")


def _on_cluster_saved(sender, instance, created: bool, raw: bool = False, **_kwargs) -> None:
    if created and not raw:
        from .lag import lag_schedule_sync

        lag_schedule_sync(cluster=instance)


def _on_cluster_deleted(sender, instance, **_kwargs) -> None:
    from .lag import lag_schedule_delete

    lag_schedule_delete(cluster_id=instance.pk)


class MonitoringConfig(AppConfig):
    name = "monitoring"

    def ready(self) -> None:
        from celery.signals import beat_init

        from catalog.models import Cluster

        # Each cluster gets its lag poll schedule when it is created and loses it with the cluster.
        post_save.connect(_on_cluster_saved, sender=Cluster, dispatch_uid="monitoring-lag-schedule-create")
        post_delete.connect(_on_cluster_deleted, sender=Cluster, dispatch_uid="monitoring-lag-schedule-delete")
        post_migrate.connect(ensure_lag_schedules, sender=self, dispatch_uid="monitoring-lag-schedules")
        beat_init.connect(_on_beat_init, dispatch_uid="monitoring-lag-schedules", weak=False)
        # /metrics: consumer lag, throughput and alerts, read from the database at scrape time.
        from . import alert_tasks  # noqa: F401 (registers the alert evaluation task with Celery)
        from .metrics import register_lag_collector

        register_lag_collector()
