"""Writes of the schema registry: registration, deletes, config and mode. Each one is one transaction.

Concurrency: registrations lock the subject row (select_for_update on PostgreSQL; SQLite runs
every write transaction BEGIN IMMEDIATE, which serializes them), and the database constraints
(one schema per type and fingerprint, one row per subject and version, a schema live at most
once in a subject) turn any race that slips through into an IntegrityError, after which the
whole transaction is retried and finds what the other one stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from governance import audit
from schemas import selectors
from schemas.compatibility.levels import check_compatibility
from schemas.errors import (
    IncompatibleSchemaError,
    InvalidCompatibilityLevelError,
    OperationNotPermittedError,
    ReferenceExistsError,
    SchemaPolicyViolationError,
    SubjectCompatibilityNotConfiguredError,
    SubjectModeNotConfiguredError,
    SubjectNotFoundError,
    SubjectNotSoftDeletedError,
    SubjectSoftDeletedError,
    VersionNotFoundError,
    VersionNotSoftDeletedError,
    VersionSoftDeletedError,
)
from schemas.models import (
    DEFAULT_COMPATIBILITY,
    DEFAULT_MODE,
    GlobalConfig,
    Mode,
    Schema,
    SchemaIdAllocator,
    SchemaReference,
    Subject,
    SubjectVersion,
)
from schemas.selectors import LATEST, MAX_VERSION, PreparedSchema, VersionSpec

__all__ = [
    "Registration",
    "config_delete",
    "config_set",
    "mode_delete",
    "mode_set",
    "subject_delete",
    "subject_register_version",
    "subject_version_delete",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Enough for 20 simultaneous registrations of one schema: each retry finds what the winner stored.
MAX_ATTEMPTS = 5
_READ_ONLY_MODES = (Mode.READONLY, Mode.READONLY_OVERRIDE)


@dataclass(frozen=True)
class Registration:
    schema_id: int
    version: int
    created: bool


def _with_retry(write: Callable[[], T]) -> T:
    """Run `write` in a transaction; on a constraint race, run it again from the start."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                return write()
        except IntegrityError:
            if attempt == MAX_ATTEMPTS:
                raise
            logger.info("registry write raced another one (attempt %d); retrying", attempt)
    raise AssertionError("unreachable")  # the loop returns or raises


def _lock_subject(name: str, *, create: bool) -> Subject | None:
    if create:
        Subject.objects.get_or_create(name=name)
    return Subject.objects.select_for_update().filter(name=name).first()


def _refuse_read_only(subject: str, mode: Mode | None = None) -> Mode:
    mode = mode or selectors.subject_settings(subject).mode
    if mode in _READ_ONLY_MODES:
        raise OperationNotPermittedError(f"Subject {subject} is in read-only mode")
    return mode


# ---------------------------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------------------------
def subject_register_version(
    *,
    subject: str,
    schema_text: Any,
    schema_type: Any = None,
    references: Any = None,
    normalize: bool | None = None,
    id: int | None = None,
    version: int | None = None,
) -> Registration:
    """Register a schema under a subject: its id and version, and whether a version was added.

    A schema already live in the subject returns its version without a compatibility check; a
    schema known from another subject keeps its id. Otherwise the subject's level (subject
    config, else global, else BACKWARD) is checked against its live versions: incompatible is
    409 and nothing is stored. `id` and `version` are for IMPORT mode only.
    """
    selectors.validate_subject_name(subject)
    applied = selectors.subject_settings(subject)
    mode = _refuse_read_only(subject, applied.mode)
    if (id is not None or version is not None) and mode != Mode.IMPORT:
        raise OperationNotPermittedError(f"Subject {subject} is not in import mode: an id or version cannot be given")
    if id is not None and (isinstance(id, bool) or not isinstance(id, int) or not 1 <= id <= MAX_VERSION):
        raise OperationNotPermittedError(f"Schema id must be between 1 and {MAX_VERSION}, got {id!r}")
    explicit_version = None
    if version is not None:
        spec = selectors.parse_version(version)
        explicit_version = None if spec == LATEST else spec
    if normalize is None:
        normalize = applied.normalize

    prepared = selectors.prepare_schema(
        schema_text=schema_text, schema_type=schema_type, references=references, normalize=normalize
    )
    if id is None and explicit_version is None:
        # The idempotent path (every producer start) answers without a write transaction.
        found = selectors.subject_version_holding(subject, prepared)
        if found is not None:
            return Registration(found.schema.id, found.version, False)

    return _with_retry(lambda: _register(subject, prepared, schema_id=id, version=explicit_version))


def _register(subject: str, prepared: PreparedSchema, *, schema_id: int | None, version: int | None) -> Registration:
    subject_row = _lock_subject(subject, create=True)
    applied = selectors.subject_settings(subject)  # again, under the lock: a change may have landed
    mode = _refuse_read_only(subject, applied.mode)

    existing = (
        SubjectVersion.objects.filter(
            subject=subject_row,
            deleted_at__isnull=True,
            schema__schema_type=prepared.schema_type,
            schema__fingerprint=prepared.fingerprint,
        )
        .order_by("-version")
        .first()
    )
    if existing is not None and (schema_id is None or schema_id == existing.schema_id):
        return Registration(existing.schema_id, existing.version, False)

    if version is not None:
        taken = SubjectVersion.objects.filter(subject=subject_row, version=version).first()
        if taken is not None:
            raise OperationNotPermittedError(
                f"Version {version} of subject {subject} already exists with schema id {taken.schema_id}"
            )

    if mode != Mode.IMPORT:
        previous, numbers = selectors.live_parsed_versions(subject)
        problems = check_compatibility(prepared.parsed, previous, applied.compatibility, numbers)
        if problems:
            raise IncompatibleSchemaError([str(problem) for problem in problems], applied.compatibility)
        _refuse_policy_errors(subject, prepared, previous[-1] if previous else None)

    schema = _schema_for(prepared, schema_id)
    if version is None:
        newest = SubjectVersion.objects.filter(subject=subject_row).aggregate(newest=Max("version"))["newest"]
        version = (newest or 0) + 1
    SubjectVersion.objects.create(subject=subject_row, version=version, schema=schema)
    return Registration(schema.id, version, True)


def _refuse_policy_errors(subject: str, prepared: PreparedSchema, latest: Any) -> None:
    """Schema policies of severity error block a new version (IMPORT mode copies history and skips them)."""
    from governance.services import schema_policy_check

    errors = [v for v in schema_policy_check(subject, prepared.parsed, latest) if v.severity == "error"]
    if errors:
        raise SchemaPolicyViolationError(errors)


def _schema_for(prepared: PreparedSchema, schema_id: int | None) -> Schema:
    """The stored schema with this identity, created (with a new or the imported id) if missing."""
    identity = {"schema_type": prepared.schema_type, "fingerprint": prepared.fingerprint}
    schema = Schema.objects.filter(**identity).first()
    if schema is None:
        # Lock the id counter, then look again: a concurrent registration of the same schema in
        # another subject held the counter until it committed, and its row is visible now.
        allocator = _lock_allocator()
        schema = Schema.objects.filter(**identity).first()
    if schema is not None:
        if schema_id is not None and schema.id != schema_id:
            raise OperationNotPermittedError(f"This schema is already registered with id {schema.id}, not {schema_id}")
        return schema

    if schema_id is not None:
        if Schema.objects.filter(pk=schema_id).exists():
            raise OperationNotPermittedError(f"Schema id {schema_id} is already used by another schema")
        new_id = schema_id
    else:
        new_id = allocator.next_id
    allocator.next_id = max(allocator.next_id, new_id + 1)
    allocator.save(update_fields=["next_id"])
    schema = Schema.objects.create(
        id=new_id,
        schema_type=prepared.schema_type,
        text=prepared.text,
        normalized_text=selectors.normalized_text(prepared.parsed),
        fingerprint=prepared.fingerprint,
    )
    SchemaReference.objects.bulk_create(
        SchemaReference(schema=schema, position=position, name=ref.name, subject=ref.subject, version=ref.version)
        for position, ref in enumerate(prepared.references)
    )
    # This process may have cached an id that a rolled-back transaction (tests) had handed out.
    selectors.schema_caches_clear()
    return schema


def _lock_allocator() -> SchemaIdAllocator:
    SchemaIdAllocator.objects.get_or_create(pk=1)
    allocator = SchemaIdAllocator.objects.select_for_update().get(pk=1)
    # Never below an id in use, even if the counter row was lost (a restore, a manual fix).
    highest = Schema.objects.aggregate(highest=Max("id"))["highest"] or 0
    allocator.next_id = max(allocator.next_id, highest + 1)
    return allocator


# ---------------------------------------------------------------------------------------------
# Deletes
# ---------------------------------------------------------------------------------------------
def subject_delete(*, subject: str, permanent: bool = False) -> list[int]:
    """Soft-delete a subject's live versions, or (permanent) remove a soft-deleted subject entirely."""
    with transaction.atomic():
        subject_row = _lock_subject(subject, create=False)
        versions = list(SubjectVersion.objects.filter(subject=subject_row).order_by("version")) if subject_row else []
        if not versions:
            raise SubjectNotFoundError(f"Subject '{subject}' not found.")
        _refuse_read_only(subject)
        live = [row for row in versions if row.deleted_at is None]
        if permanent:
            if live:
                raise SubjectNotSoftDeletedError(
                    f"Subject '{subject}' was not deleted first before being permanently deleted"
                )
            _refuse_referenced(subject, versions)
            subject_row.delete()  # its versions, config and mode go with it
            return [row.version for row in versions]
        if not live:
            raise SubjectSoftDeletedError(
                f"Subject '{subject}' was soft deleted. Set permanent=true to delete permanently"
            )
        _refuse_referenced(subject, live)
        now = timezone.now()
        SubjectVersion.objects.filter(pk__in=[row.pk for row in live]).update(deleted_at=now)
        for row in live:  # a queryset update sends no signals: log each version here
            before = audit.snapshot(row)
            row.deleted_at = now
            audit.record("update", row, before=before, after=audit.snapshot(row))
        return [row.version for row in live]


def subject_version_delete(*, subject: str, version: VersionSpec, permanent: bool = False) -> int:
    """Soft-delete one version, or (permanent) remove a soft-deleted one; "latest" is allowed."""
    with transaction.atomic():
        subject_row = _lock_subject(subject, create=False)
        rows = SubjectVersion.objects.filter(subject=subject_row) if subject_row else SubjectVersion.objects.none()
        if not rows.exists():
            raise SubjectNotFoundError(f"Subject '{subject}' not found.")
        _refuse_read_only(subject)
        if version == LATEST:
            candidates = rows if permanent else rows.filter(deleted_at__isnull=True)
            row = candidates.order_by("-version").first()
        else:
            row = rows.filter(version=version).first()
        if row is None:
            raise VersionNotFoundError(f"Version {version} not found.")
        if permanent and row.deleted_at is None:
            raise VersionNotSoftDeletedError(
                f"Subject '{subject}' Version {row.version} was not deleted first before being permanently deleted"
            )
        if not permanent and row.deleted_at is not None:
            raise VersionSoftDeletedError(
                f"Subject '{subject}' Version {row.version} was soft deleted. Set permanent=true to delete permanently"
            )
        _refuse_referenced(subject, [row])
        if permanent:
            row.delete()
        else:
            row.deleted_at = timezone.now()
            row.save(update_fields=["deleted_at"])
        return row.version


def _refuse_referenced(subject: str, rows: Sequence[SubjectVersion]) -> None:
    for row in rows:
        users = selectors.referenced_by(subject, row.version)
        if users:
            raise ReferenceExistsError(
                f"Subject '{subject}' version {row.version} is referenced by schema id(s) {', '.join(map(str, users))}"
            )


# ---------------------------------------------------------------------------------------------
# Config and mode
# ---------------------------------------------------------------------------------------------
def config_set(
    *, subject: str | None = None, compatibility: Any = None, normalize: bool | None = None
) -> dict[str, Any]:
    """Set the global or a subject's compatibility level and/or normalize flag; returns what was set."""
    if compatibility is None and normalize is None:
        raise InvalidCompatibilityLevelError("Invalid compatibility level: give compatibility or normalize")
    level = selectors.parse_compatibility_level(compatibility) if compatibility is not None else None
    if subject is not None:
        selectors.validate_subject_name(subject)
    with transaction.atomic():
        row = _config_row(subject)
        if level is not None:
            row.compatibility = level
        if normalize is not None:
            row.normalize = normalize
        row.save()
    result: dict[str, Any] = {}
    if level is not None:
        result["compatibility"] = level.value
    if normalize is not None:
        result["normalize"] = normalize
    return result


def config_delete(*, subject: str | None = None) -> dict[str, Any]:
    """Forget the global config (back to BACKWARD) or a subject's own; returns the previous one."""
    with transaction.atomic():
        if subject is None:
            row = _config_row(None)
            previous = {"compatibility": row.compatibility, "normalize": row.normalize}
            row.compatibility, row.normalize = DEFAULT_COMPATIBILITY, False
            row.save()
            return previous
        row = _lock_subject(subject, create=False)
        if row is None:
            raise SubjectNotFoundError(f"Subject '{subject}' not found.")
        if not row.compatibility and row.normalize is None:
            raise SubjectCompatibilityNotConfiguredError(
                f"Subject '{subject}' does not have subject-level compatibility configured"
            )
        previous = {"compatibility": row.compatibility, "normalize": row.normalize}
        row.compatibility, row.normalize = "", None
        row.save()
        return previous


def mode_set(*, mode: Any, subject: str | None = None, force: bool = False) -> Mode:
    """Set the global or a subject's mode. IMPORT needs no versions there yet, unless forced."""
    new_mode = selectors.parse_mode(mode)
    if subject is not None:
        selectors.validate_subject_name(subject)
    with transaction.atomic():
        row = _config_row(subject)
        if new_mode == Mode.IMPORT and not force:
            versions = SubjectVersion.objects.all()
            if subject is not None:
                versions = versions.filter(subject=row)
            if versions.exists():
                where = f"subject {subject}" if subject is not None else "the registry"
                raise OperationNotPermittedError(
                    f"Cannot import since {where} already has schemas; empty it first or set force=true"
                )
        row.mode = new_mode
        row.save()
    return new_mode


def mode_delete(*, subject: str) -> Mode:
    """Forget a subject's own mode (the global one applies again); returns the previous mode."""
    with transaction.atomic():
        row = _lock_subject(subject, create=False)
        if row is None:
            raise SubjectNotFoundError(f"Subject '{subject}' not found.")
        if not row.mode:
            raise SubjectModeNotConfiguredError(f"Subject '{subject}' does not have subject-level mode configured")
        previous = Mode(row.mode)
        row.mode = ""
        row.save()
        return previous


def _config_row(subject: str | None) -> GlobalConfig | Subject:
    """The locked row that holds the global config and mode, or the subject's (created if new)."""
    if subject is None:
        GlobalConfig.objects.get_or_create(
            pk=1, defaults={"compatibility": DEFAULT_COMPATIBILITY, "normalize": False, "mode": DEFAULT_MODE}
        )
        return GlobalConfig.objects.select_for_update().get(pk=1)
    return _lock_subject(subject, create=True)
