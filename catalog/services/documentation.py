"""Documentation and ownership writes: domains, teams, services, event types, declared relations, tags, and
the documentation of discovered topics and consumer groups.

Every public function is `<entity>_<verb>(*, ...)`, runs in one transaction and validates through the
model's `full_clean()` (fields, choices, unique and check constraints), so the pages, the API and the
AsyncAPI import reject the same input with the same messages. A failed call raises
`django.core.exceptions.ValidationError` keyed by model field and changes nothing.

Update functions take only the fields to change; a field left out keeps its value. Slugs are made from
the name on create and kept on rename, so links and bookmarks keep working.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils.text import slugify

from catalog.models import (
    ConsumerGroup,
    DeclaredRelation,
    Domain,
    EventType,
    Service,
    Tag,
    Team,
    TeamMembership,
    Topic,
)

__all__ = [
    "UNSET",
    "consumer_group_update_documentation",
    "domain_create",
    "domain_update",
    "event_type_create",
    "event_type_update",
    "relation_create",
    "relation_delete",
    "relation_update_reader",
    "service_create",
    "service_update",
    "tags_ensure",
    "team_create",
    "team_set_members",
    "team_update",
    "topic_update_documentation",
    "unique_slug",
    "validate_json_text",
]


class _Unset:
    """Marks an update argument that was not given (None is a real value: "no owner team")."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()

# Path segments of the catalog pages (/catalog/domains/new/): a slug equal to one would shadow the page.
RESERVED_SLUGS = frozenset({"new", "edit"})
TAG_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
@contextmanager
def _integrity_as_validation() -> Iterator[None]:
    """Two writers racing for the same name pass full_clean and then collide in the database.

    The unique index is the real guard; turn its error into the same ValidationError that full_clean
    raises, so callers (forms, API) show a message instead of a 500. The surrounding atomic block
    rolls back because the ValidationError propagates out of it.
    """
    try:
        yield
    except IntegrityError as exc:
        raise ValidationError("Someone else saved a conflicting change at the same time; try again.") from exc


def _kebab(text: str) -> str:
    # "OrderPlaced" -> "order-placed": CamelCase event names make readable slugs.
    return slugify(re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", text))


def unique_slug(model: type[models.Model], text: str, *, exclude_pk: int | None = None) -> str:
    """A slug for `text` not yet used by `model` (nor reserved): "orders", then "orders-2", "orders-3"..."""
    max_length = model._meta.get_field("slug").max_length or 50
    base = (_kebab(text) or model._meta.model_name)[: max_length - 4].strip("-") or model._meta.model_name
    taken_qs = model._default_manager.filter(slug__startswith=base)
    if exclude_pk is not None:
        taken_qs = taken_qs.exclude(pk=exclude_pk)
    taken = set(taken_qs.values_list("slug", flat=True)) | RESERVED_SLUGS
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _apply(instance: models.Model, changes: Mapping[str, Any]) -> None:
    for field, value in changes.items():
        if value is not UNSET:
            setattr(instance, field, value)


def _save(instance: models.Model) -> None:
    instance.full_clean()
    with _integrity_as_validation():
        instance.save()


def validate_json_text(text: str) -> None:
    """Empty, or a JSON document (an event type's example payload); also the form field's validator."""
    if text and text.strip():
        try:
            json.loads(text)
        except ValueError as exc:
            raise ValidationError(f"Not valid JSON: {exc}", code="invalid_json") from exc


def _validate_example_payload(payload: str) -> None:
    try:
        validate_json_text(payload)
    except ValidationError as exc:
        raise ValidationError({"example_payload": exc.messages}) from exc


def tags_ensure(*, names: Iterable[str]) -> list[Tag]:
    """The tags of these names, creating the missing ones. Names are lower-cased; order and duplicates dropped."""
    cleaned = sorted({name.strip().lower() for name in names if name and name.strip()})
    invalid = [name for name in cleaned if not TAG_NAME_RE.match(name) or len(name) > 64]
    if invalid:
        raise ValidationError(
            {"tags": f"Tag names are lowercase letters, digits, '-' and '_' (at most 64): {', '.join(invalid)}"}
        )
    existing = {tag.name: tag for tag in Tag.objects.filter(name__in=cleaned)}
    with _integrity_as_validation():
        for name in cleaned:
            if name not in existing:
                existing[name] = Tag.objects.create(name=name)
    return [existing[name] for name in cleaned]


def _set_tags(instance: models.Model, tags: Iterable[str] | _Unset) -> None:
    if tags is not UNSET:
        instance.tags.set(tags_ensure(names=tags))


# ---------------------------------------------------------------------------------------------
# Domains and teams
# ---------------------------------------------------------------------------------------------
@transaction.atomic
def domain_create(*, name: str, description: str = "") -> Domain:
    domain = Domain(name=name.strip(), description=description, slug=unique_slug(Domain, name))
    _save(domain)
    return domain


@transaction.atomic
def domain_update(*, domain: Domain, name: str = UNSET, description: str = UNSET) -> Domain:
    _apply(domain, {"name": _strip(name), "description": description})
    _save(domain)
    return domain


@transaction.atomic
def team_set_members(*, team: Team, members: Mapping[AbstractBaseUser, str]) -> None:
    """Make the team's members exactly these users, each with a role (member or editor)."""
    roles = set(TeamMembership.Role.values)
    bad = sorted({role for role in members.values() if role not in roles})
    if bad:
        raise ValidationError({"members": f"Unknown team role(s): {', '.join(bad)}"})
    wanted = {user.pk: role for user, role in members.items()}
    current = {m.user_id: m for m in team.memberships.all()}
    team.memberships.exclude(user_id__in=wanted).delete()
    for user_id, role in wanted.items():
        membership = current.get(user_id)
        if membership is None:
            TeamMembership.objects.create(team=team, user_id=user_id, role=role)
        elif membership.role != role:
            membership.role = role
            membership.save(update_fields=["role"])


@transaction.atomic
def team_create(
    *,
    name: str,
    description: str = "",
    contact_channel: str = "",
    domain: Domain | None = None,
    members: Mapping[AbstractBaseUser, str] | None = None,
) -> Team:
    team = Team(
        name=name.strip(),
        slug=unique_slug(Team, name),
        description=description,
        contact_channel=contact_channel.strip(),
        domain=domain,
    )
    _save(team)
    if members:
        team_set_members(team=team, members=members)
    return team


@transaction.atomic
def team_update(
    *,
    team: Team,
    name: str = UNSET,
    description: str = UNSET,
    contact_channel: str = UNSET,
    domain: Domain | None = UNSET,
    members: Mapping[AbstractBaseUser, str] | None = UNSET,
) -> Team:
    _apply(
        team,
        {
            "name": _strip(name),
            "description": description,
            "contact_channel": _strip(contact_channel),
            "domain": domain,
        },
    )
    _save(team)
    if members is not UNSET:
        team_set_members(team=team, members=members or {})
    return team


# ---------------------------------------------------------------------------------------------
# Services
# ---------------------------------------------------------------------------------------------
@transaction.atomic
def service_create(
    *,
    name: str,
    description: str = "",
    owner_team: Team | None = None,
    domain: Domain | None = None,
    repository_url: str = "",
    tags: Iterable[str] = (),
) -> Service:
    service = Service(
        name=name.strip(),
        slug=unique_slug(Service, name),
        description=description,
        owner_team=owner_team,
        domain=domain,
        repository_url=repository_url.strip(),
    )
    _save(service)
    _set_tags(service, tags)
    return service


@transaction.atomic
def service_update(
    *,
    service: Service,
    name: str = UNSET,
    description: str = UNSET,
    owner_team: Team | None = UNSET,
    domain: Domain | None = UNSET,
    repository_url: str = UNSET,
    tags: Iterable[str] = UNSET,
) -> Service:
    _apply(
        service,
        {
            "name": _strip(name),
            "description": description,
            "owner_team": owner_team,
            "domain": domain,
            "repository_url": _strip(repository_url),
        },
    )
    _save(service)
    _set_tags(service, tags)
    return service


# ---------------------------------------------------------------------------------------------
# Event types
# ---------------------------------------------------------------------------------------------
@transaction.atomic
def event_type_create(
    *,
    name: str,
    version: int = 1,
    summary: str = "",
    business_meaning: str = "",
    domain: Domain | None = None,
    owner_team: Team | None = None,
    topic: Topic | None = None,
    schema_subject: str = "",
    data_classification: str = EventType.Classification.INTERNAL,
    tags: Iterable[str] = (),
    example_payload: str = "",
) -> EventType:
    _validate_example_payload(example_payload)
    name = name.strip()
    event_type = EventType(
        name=name,
        version=version,
        slug=unique_slug(EventType, f"{name}-v{version}"),
        summary=summary.strip(),
        business_meaning=business_meaning,
        domain=domain,
        owner_team=owner_team,
        topic=topic,
        schema_subject=schema_subject.strip(),
        data_classification=data_classification,
        example_payload=example_payload,
    )
    _save(event_type)
    _set_tags(event_type, tags)
    return event_type


@transaction.atomic
def event_type_update(
    *,
    event_type: EventType,
    name: str = UNSET,
    version: int = UNSET,
    summary: str = UNSET,
    business_meaning: str = UNSET,
    domain: Domain | None = UNSET,
    owner_team: Team | None = UNSET,
    topic: Topic | None = UNSET,
    schema_subject: str = UNSET,
    data_classification: str = UNSET,
    tags: Iterable[str] = UNSET,
    example_payload: str = UNSET,
) -> EventType:
    if example_payload is not UNSET:
        _validate_example_payload(example_payload)
    _apply(
        event_type,
        {
            "name": _strip(name),
            "version": version,
            "summary": _strip(summary),
            "business_meaning": business_meaning,
            "domain": domain,
            "owner_team": owner_team,
            "topic": topic,
            "schema_subject": _strip(schema_subject),
            "data_classification": data_classification,
            "example_payload": example_payload,
        },
    )
    _save(event_type)
    _set_tags(event_type, tags)
    return event_type


# ---------------------------------------------------------------------------------------------
# Declared relations
# ---------------------------------------------------------------------------------------------
@transaction.atomic
def relation_create(
    *,
    service: Service,
    direction: str,
    event_type: EventType | None = None,
    topic: Topic | None = None,
    source: str = "manual",
    reader_schema_version: int | None = None,
    reads_fields: list[str] | None = None,
) -> DeclaredRelation:
    """Declare that a service produces or consumes an event type or a topic (exactly one of the two).

    A consumer may also declare its reader: the subject version it reads with and the fields it reads.
    """
    if (event_type is None) == (topic is None):
        raise ValidationError("A relation names either an event type or a topic, not both and not neither.")
    relation = DeclaredRelation(
        service=service,
        direction=direction,
        event_type=event_type,
        topic=topic,
        source=source,
        reader_schema_version=reader_schema_version,
        reads_fields=_read_field_list(reads_fields),
    )
    # The model's unique constraints would say "Constraint ... is violated"; say it in the domain's words.
    if DeclaredRelation.objects.filter(
        service=service, direction=direction, event_type=event_type, topic=topic
    ).exists():
        target = event_type or topic
        raise ValidationError(f"{service} already declares that it {direction} {target}.", code="duplicate")
    _save(relation)
    return relation


@transaction.atomic
def relation_update_reader(
    *, relation: DeclaredRelation, reader_schema_version: Any = UNSET, reads_fields: Any = UNSET
) -> DeclaredRelation:
    """Change what a consumer declares it reads: its reader schema version and/or its read fields."""
    if reader_schema_version is not UNSET:
        relation.reader_schema_version = reader_schema_version
    if reads_fields is not UNSET:
        relation.reads_fields = _read_field_list(reads_fields)
    _save(relation)
    return relation


def _read_field_list(paths: Any) -> Any:
    """Field paths stripped, blanks and repeats dropped, order kept; anything not a list is left for clean()."""
    if paths is None:
        return []
    if not isinstance(paths, list | tuple) or not all(isinstance(path, str) for path in paths):
        return paths
    return list(dict.fromkeys(path.strip() for path in paths if path.strip()))


@transaction.atomic
def relation_delete(*, relation: DeclaredRelation) -> None:
    relation.delete()


# ---------------------------------------------------------------------------------------------
# Documentation of discovered topics and consumer groups (discovery never overwrites these fields)
# ---------------------------------------------------------------------------------------------
@transaction.atomic
def topic_update_documentation(
    *,
    topic: Topic,
    description: str = UNSET,
    owner_team: Team | None = UNSET,
    domain: Domain | None = UNSET,
    tags: Iterable[str] = UNSET,
) -> Topic:
    _apply(topic, {"description": description, "owner_team": owner_team, "domain": domain})
    topic.full_clean()
    # Only the documentation columns: a discovery run may be updating the discovered ones right now.
    topic.save(update_fields=["description", "owner_team", "domain", "updated_at"])
    _set_tags(topic, tags)
    return topic


@transaction.atomic
def consumer_group_update_documentation(
    *,
    group: ConsumerGroup,
    description: str = UNSET,
    service: Service | None = UNSET,
) -> ConsumerGroup:
    _apply(group, {"description": description, "service": service})
    group.full_clean()
    group.save(update_fields=["description", "service", "updated_at"])
    return group
