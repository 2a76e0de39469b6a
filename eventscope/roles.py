"""Roles: viewer (read), editor (write catalog and schemas), admin (everything). Django groups back them."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group

__all__ = ["ADMIN", "EDITOR", "ROLES", "VIEWER", "ensure_role_groups", "user_can_write", "user_role"]

VIEWER = "viewer"
EDITOR = "editor"
ADMIN = "admin"
ROLES = (VIEWER, EDITOR, ADMIN)


def ensure_role_groups(**_kwargs) -> None:
    """Create the role groups (idempotent); connected to post_migrate so a fresh database has them."""
    for name in ROLES:
        Group.objects.get_or_create(name=name)


def user_role(user: AbstractBaseUser | AnonymousUser) -> str | None:
    """The strongest role a user holds, or None when anonymous or inactive."""
    if not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return ADMIN
    names = set(user.groups.values_list("name", flat=True))
    if ADMIN in names:
        return ADMIN
    if EDITOR in names or user.is_staff:
        return EDITOR
    return VIEWER


def user_can_write(user: AbstractBaseUser | AnonymousUser) -> bool:
    return user_role(user) in (EDITOR, ADMIN)
