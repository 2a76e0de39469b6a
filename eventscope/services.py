"""Project-wide writes: users of the demo and their roles."""

from __future__ import annotations

import secrets

from django.contrib.auth.models import Group, User
from django.db import transaction

from .roles import ROLES


@transaction.atomic
def user_ensure(*, username: str, password: str | None, role: str) -> tuple[User, str | None]:
    """Create the user with a role, or bring an existing one to that role.

    Returns the user and the password that was set: the given one, a generated one for a new user
    without a password, or None when an existing user's password was left alone.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    user, created = User.objects.get_or_create(username=username)
    password_set = password or (secrets.token_urlsafe(12) if created else None)
    if password_set:
        user.set_password(password_set)
    user.is_staff = role == "admin"
    user.is_superuser = role == "admin"
    user.save()
    user.groups.set([Group.objects.get(name=role)])
    return user, password_set
