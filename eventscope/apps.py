"""The project package is also an app: roles, cross-cutting commands (seed_demo), base templates."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class EventscopeConfig(AppConfig):
    name = "eventscope"
    verbose_name = "Eventscope"

    def ready(self) -> None:
        from django.apps import apps

        from .roles import ensure_role_groups

        # This app has no models, so post_migrate never names it: hook onto auth, which owns Group.
        post_migrate.connect(ensure_role_groups, sender=apps.get_app_config("auth"), dispatch_uid="eventscope-roles")
