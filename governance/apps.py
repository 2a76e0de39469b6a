from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        from celery.signals import task_postrun, task_prerun

        from . import audit, openapi  # noqa: F401 (openapi registers the authenticators with drf-spectacular)

        audit.connect_signals()
        task_prerun.connect(audit.on_task_prerun, dispatch_uid="audit-task-prerun", weak=False)
        task_postrun.connect(audit.on_task_postrun, dispatch_uid="audit-task-postrun", weak=False)
