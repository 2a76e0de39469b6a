"""Create an API token for a user and print it (for bootstrapping CI pipelines and scripts).

    python manage.py create_token alice --name "orders CI" --scope write --expires-days 90

Only the token goes to stdout, so `TOKEN=$(python manage.py create_token ...)` works; the rest goes
to stderr. Exit 2 with a message on bad input; nothing is created then.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from governance.models import ApiToken
from governance.services import token_create


class Command(BaseCommand):
    help = "Create an API token for a user and print it once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", required=True, help="What the token is for.")
        parser.add_argument("--scope", choices=ApiToken.Scope.values, default=ApiToken.Scope.READ)
        parser.add_argument("--expires-days", type=int, default=None, help="Default: never expires.")

    def handle(self, *args, username: str, name: str, scope: str, expires_days: int | None, **options) -> None:
        user = get_user_model()._default_manager.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.", returncode=2)
        if expires_days is not None and expires_days < 1:
            raise CommandError("--expires-days must be at least 1.", returncode=2)
        expires_at = timezone.now() + dt.timedelta(days=expires_days) if expires_days else None
        try:
            token, clear = token_create(user=user, name=name, scope=scope, expires_at=expires_at)
        except ValidationError as exc:
            problems = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items())
            raise CommandError(problems, returncode=2) from exc
        self.stderr.write(
            f"created token {token.name!r} ({token.scope}, "
            f"{'expires ' + token.expires_at.isoformat() if token.expires_at else 'never expires'}) for {username}; "
            "it is shown once:"
        )
        self.stdout.write(clear)
