"""Seed a fresh installation for the demo: the demo login, the shop's catalog and an alert rule the shop trips."""

from django.core.management.base import BaseCommand, CommandError

from eventscope.roles import ROLES
from eventscope.services import user_ensure
from simulator.catalog_seed import seed_shop_catalog

# The demo's simulator runs analytics as a slow consumer (dev/demo.sh), so this rule fires within a minute or
# two of `make demo` and the alerts page shows what an alert looks like. No webhook: nothing leaves the machine.
DEMO_ALERT_RULE = {
    "name": "Shop consumers falling behind",
    "kind": "group_status",
    "for_minutes": 1,
    "group_pattern": "shop.*",
    "description": "Demo rule: any shop consumer group whose status is not OK for a minute. "
    "The demo's analytics consumer is slow on purpose, so it fires.",
}


class Command(BaseCommand):
    help = "Create the demo login and seed data. Idempotent: running it again changes nothing that exists."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", help="Password to set (default: keep an existing one, else generate).")
        parser.add_argument("--role", default="admin", choices=ROLES)
        parser.add_argument(
            "--catalog",
            action="store_true",
            default=True,
            help="Seed the simulator shop's services, event types, topics and owners into the catalog (default).",
        )
        parser.add_argument("--no-catalog", dest="catalog", action="store_false", help="Skip the shop's catalog.")

    def handle(self, *args, username, password, role, catalog, **options):
        if not username.strip():
            raise CommandError("--username must not be empty")
        user, password_set = user_ensure(username=username, password=password, role=role)
        if password_set:
            self.stdout.write(f"demo login: {user.username} / {password_set} (role {role})")
        else:
            self.stdout.write(f"demo login: {user.username} (role {role}; password unchanged)")
        if catalog:
            seed = seed_shop_catalog(member=user)
            self.stdout.write(f"demo catalog: the shop's services, event types and topics ({seed.summary()})")
            self._seed_alert_rule(user)

    def _seed_alert_rule(self, user) -> None:
        from monitoring.alert_rules import alert_rule_create
        from monitoring.models import AlertRule

        if AlertRule.objects.filter(name=DEMO_ALERT_RULE["name"]).exists():
            return
        alert_rule_create(**DEMO_ALERT_RULE, created_by=user)
        self.stdout.write(f"demo alert rule: {DEMO_ALERT_RULE['name']} (no webhook; see Monitoring > Alerts)")
