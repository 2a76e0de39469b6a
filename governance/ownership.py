"""Who may change what: one permission layer for pages, the API, the registry and commands.

- **admin** changes everything; global configuration, clusters and deletes need admin.
- An object owned by a team (a service, an event type, a topic, a consumer group through its service,
  a declared relation through its service, a registry subject through its event type or topic, the team
  itself) may be changed by that team's **editors** (team membership with role editor), whatever their
  global role, and by nobody else but admins: other teams' editors get a 403 saying whose it is.
- An object without an owning team may be changed by anyone with the global **editor** role.
- An API token's scope caps all of this (a read token never writes).

`check_change` raises `OwnershipDenied` (a PermissionDenied) with a message meant for people; the
callers turn it into a 403 page, an API error, a registry 40301 or a command's exit code.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied

from eventscope.roles import ADMIN, EDITOR, ROLES, user_role

__all__ = [
    "CHANGE",
    "DELETE",
    "OwnershipDenied",
    "can_change",
    "check_change",
    "check_create",
    "may_write_somewhere",
    "owner_team_of",
    "subject_owner_team",
]

CHANGE, DELETE = "change", "delete"


class OwnershipDenied(PermissionDenied):
    pass


def subject_owner_team(subject: str):
    """The team owning a registry subject: its event type's owner, else its topic's (`<topic>-key|value`)."""
    from catalog.models import Team
    from catalog.selectors import subject_catalog_value

    owner = subject_catalog_value(subject, "owner_team")
    return Team.objects.get(pk=owner) if owner is not None else None


def owner_team_of(obj: Any):
    """The team that owns an object (catalog row or subject name), or None."""
    from catalog.models import ConsumerGroup, DeclaredRelation, EventType, Service, Team, Topic

    if isinstance(obj, str):
        return subject_owner_team(obj)
    if isinstance(obj, Team):
        return obj if obj.pk else None
    if isinstance(obj, (Service, EventType, Topic)):
        return obj.owner_team
    if isinstance(obj, ConsumerGroup):
        return obj.service.owner_team if obj.service_id else None
    if isinstance(obj, DeclaredRelation):
        return obj.service.owner_team if obj.service_id else None
    return None


def _role(request_or_user: Any) -> tuple[Any, str | None, str | None]:
    """(user, global role, token scope role) of a request, or of a bare user (commands, services)."""
    user = getattr(request_or_user, "user", request_or_user)
    scope_role = getattr(getattr(request_or_user, "auth", None), "scope_role", None)
    return user, user_role(user), scope_role


def _capped(role: str | None, scope_role: str | None) -> str | None:
    if role is None or scope_role is None:
        return role
    return min(role, scope_role, key=ROLES.index)


def check_change(request_or_user: Any, obj: Any = None, *, action: str = CHANGE, new_owner: Any = None) -> None:
    """Raise OwnershipDenied unless the request (or user) may change (or delete) `obj`.

    `obj` None means something global (configuration, a cluster): admin only. `new_owner` is the team
    an object is being moved to: the user must be allowed on both sides.
    """
    from catalog.models import TeamMembership

    user, role, scope_role = _role(request_or_user)
    if _capped(role, scope_role) == ADMIN:
        return
    if role is None:
        raise OwnershipDenied("Log in to change anything.")
    if action == DELETE:
        raise OwnershipDenied("Deleting needs the admin role.")
    if obj is None:
        raise OwnershipDenied("Changing this needs the admin role.")
    for team in {owner_team_of(obj), new_owner} - {None} or {None}:
        if team is None:
            if _capped(role, scope_role) != EDITOR:
                raise OwnershipDenied("Changing the catalog needs the editor or admin role.")
            continue
        team_editor = TeamMembership.objects.filter(team=team, user=user, role=TeamMembership.Role.EDITOR).exists()
        if not team_editor or _capped(EDITOR, scope_role) != EDITOR:
            raise OwnershipDenied(
                f"This belongs to team {team.name}: only its editors (or an admin) may change it."
                + (f" Ask {team.contact_channel}." if getattr(team, "contact_channel", "") else "")
            )


def check_create(request_or_user: Any, owner_team: Any = None) -> None:
    """Raise OwnershipDenied unless the request may create an object owned by `owner_team` (or unowned)."""
    from catalog.models import TeamMembership

    user, role, scope_role = _role(request_or_user)
    capped = _capped(role, scope_role)
    if capped == ADMIN:
        return
    if owner_team is None:
        if capped != EDITOR:
            raise OwnershipDenied("Adding to the catalog needs the editor or admin role.")
        return
    team_editor = TeamMembership.objects.filter(team=owner_team, user=user, role=TeamMembership.Role.EDITOR).exists()
    if not team_editor or _capped(EDITOR, scope_role) != EDITOR:
        raise OwnershipDenied(f"Only editors of team {owner_team.name} (or an admin) may add things it owns.")


def may_write_somewhere(request_or_user: Any) -> bool:
    """Whether the request could write anything at all: a cheap first gate before the object is known."""
    from catalog.models import TeamMembership

    user, role, scope_role = _role(request_or_user)
    if _capped(role, scope_role) in (EDITOR, ADMIN):
        return True
    if role is None or _capped(EDITOR, scope_role) != EDITOR:
        return False
    return TeamMembership.objects.filter(user=user, role=TeamMembership.Role.EDITOR).exists()


def can_change(request_or_user: Any, obj: Any = None, *, action: str = CHANGE) -> bool:
    try:
        check_change(request_or_user, obj, action=action)
    except OwnershipDenied:
        return False
    return True
