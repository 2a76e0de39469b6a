from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        from . import openapi  # noqa: F401 (registers the authenticators with drf-spectacular)
