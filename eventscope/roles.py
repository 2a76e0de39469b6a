"""Roles: viewer (read), editor (write catalog and schemas), admin (everything). Django groups back them."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group

__all__ = [
    "ADMIN",
    "EDITOR",
    "ROLES",
    "VIEWER",
    "ensure_role_groups",
    "request_can_write",
    "request_role",
    "user_can_write",
    "user_role",
]

VIEWER = "viewer"
EDITOR = "editor"
ADMIN = "admin"
ROLES = (VIEWER, EDITOR, ADMIN)  # weakest first


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


def request_role(request) -> str | None:
    """The role a request acts with: its user's role, capped by the scope of the API token it came with.

    A token never gives more than its user has: an editor's admin-scoped token still acts as editor,
    and a read token of an admin only reads. Password and session requests act with the user's role.
    """
    role = user_role(request.user)
    scope_role = getattr(getattr(request, "auth", None), "scope_role", None)
    if role is None or scope_role is None:
        return role
    return min(role, scope_role, key=ROLES.index)


def request_can_write(request) -> bool:
    return request_role(request) in (EDITOR, ADMIN)
