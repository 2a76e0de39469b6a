"""The project package is also an app: roles, cross-cutting commands (seed_demo), base templates."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class EventscopeConfig(AppConfig):
    name = "eventscope"
    verbose_name = "Eventscope"

    def ready(self) -> None:
        from .roles import ensure_role_groups

        post_migrate.connect(ensure_role_groups, sender=self)
