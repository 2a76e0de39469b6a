from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        from celery.signals import task_postrun, task_prerun
        from django.contrib.auth.signals import user_login_failed

        from . import audit, openapi, throttle  # noqa: F401 (openapi registers the authenticators with drf-spectacular)

        audit.connect_signals()
        task_prerun.connect(audit.on_task_prerun, dispatch_uid="audit-task-prerun", weak=False)
        task_postrun.connect(audit.on_task_postrun, dispatch_uid="audit-task-postrun", weak=False)
        user_login_failed.connect(throttle.on_login_failed, dispatch_uid="throttle-login-failed", weak=False)
