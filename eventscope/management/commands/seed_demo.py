"""Seed a fresh installation for the demo: the demo login (more seed data arrives with each feature)."""

from django.core.management.base import BaseCommand, CommandError

from eventscope.roles import ROLES
from eventscope.services import user_ensure


class Command(BaseCommand):
    help = "Create the demo login and seed data. Idempotent: running it again changes nothing that exists."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo")
        parser.add_argument("--password", help="Password to set (default: keep an existing one, else generate).")
        parser.add_argument("--role", default="admin", choices=ROLES)

    def handle(self, *args, username, password, role, **options):
        if not username.strip():
            raise CommandError("--username must not be empty")
        user, password_set = user_ensure(username=username, password=password, role=role)
        if password_set:
            self.stdout.write(f"demo login: {user.username} / {password_set} (role {role})")
        else:
            self.stdout.write(f"demo login: {user.username} (role {role}; password unchanged)")
