"""Reads of the schema registry, shared by the REST API, the pages and the services.

Nothing here writes. Schemas are immutable and their ids never change meaning, so a schema by id
(and its parsed form) is cached in-process; `schema_caches_clear` empties the caches after a
schema row is created, for the one case where an id can come back with another content: a test
database rolled back or flushed between tests.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from django.conf import settings
from django.db.models import F, Max, Prefetch, Q

from schemas import formats
from schemas.compatibility import CompatibilityLevel, ParsedSchema, SchemaType
from schemas.compatibility.levels import check_compatibility
from schemas.errors import (
    InvalidCompatibilityLevelError,
    InvalidModeError,
    InvalidSchemaError,
    InvalidSubjectError,
    InvalidVersionError,
    SchemaNotFoundError,
    SchemaTooLargeError,
    SubjectCompatibilityNotConfiguredError,
    SubjectModeNotConfiguredError,
    SubjectNotFoundError,
    VersionNotFoundError,
)
from schemas.models import (
    DEFAULT_COMPATIBILITY,
    DEFAULT_MODE,
    SUBJECT_MAX_LENGTH,
    GlobalConfig,
    Mode,
    Schema,
    SchemaReference,
    Subject,
    SubjectVersion,
)

__all__ = [
    "LATEST",
    "MAX_VERSION",
    "PreparedSchema",
    "Reference",
    "RegisteredVersion",
    "SchemaRecord",
    "SubjectSettings",
    "VersionSpec",
    "compatibility_messages",
    "global_config",
    "live_parsed_versions",
    "normalized_text",
    "parse_compatibility_level",
    "parse_mode",
    "parse_schema_type",
    "parse_version",
    "parsed_schema_by_id",
    "prepare_schema",
    "referenced_by",
    "schema_by_id",
    "schema_caches_clear",
    "schema_id_subjects",
    "schema_id_versions",
    "schema_identity",
    "schema_list",
    "schema_text_in_format",
    "subject_config",
    "subject_lookup",
    "subject_mode",
    "subject_names",
    "subject_settings",
    "subject_version_get",
    "subject_version_holding",
    "subject_version_numbers",
    "validate_subject_name",
]

logger = logging.getLogger(__name__)

LATEST: Literal["latest"] = "latest"
MAX_VERSION = 2**31 - 1  # Confluent's versions and ids are Java ints
VersionSpec = int | Literal["latest"]

# A subject may contain "/", but not end in what the REST routes read as a suffix: with these
# names forbidden, /subjects/{s}/versions/{v} is unambiguous even after %2F is decoded.
_ROUTE_SUFFIX = re.compile(r"/versions(/[^/]+(/(schema|referencedby))?)?$")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


# ---------------------------------------------------------------------------------------------
# Value objects
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reference:
    name: str
    subject: str
    version: int

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "subject": self.subject, "version": self.version}


@dataclass(frozen=True)
class SchemaRecord:
    """A stored schema: what `GET /schemas/ids/{id}` answers."""

    id: int
    schema_type: SchemaType
    text: str
    references: tuple[Reference, ...] = ()


@dataclass(frozen=True)
class RegisteredVersion:
    """One subject version with its schema."""

    subject: str
    version: int
    schema: SchemaRecord
    deleted: bool = False


@dataclass(frozen=True)
class PreparedSchema:
    """A schema from a request, validated, with its references resolved and its identity computed.

    `text` is what would be stored (the request's text, or its canonical form with normalize);
    `parsed` carries it with the texts of its references, for the format modules.
    """

    schema_type: SchemaType
    text: str
    fingerprint: str
    references: tuple[Reference, ...]
    parsed: ParsedSchema = field(compare=False)


# ---------------------------------------------------------------------------------------------
# Input parsing shared by the API and the pages
# ---------------------------------------------------------------------------------------------
def parse_version(value: str | int) -> VersionSpec:
    """A version from a URL or body: 1..2^31-1, or "latest" (also spelled -1); else 42202."""
    if isinstance(value, str):
        if value.lower() == LATEST:
            return LATEST
        if not re.fullmatch(r"-?\d{1,10}", value):
            raise InvalidVersionError()
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidVersionError()
    if value == -1:
        return LATEST
    if not 1 <= value <= MAX_VERSION:
        raise InvalidVersionError()
    return value


def parse_schema_type(value: Any) -> SchemaType:
    """A schemaType from a request (absent: AVRO, as in Confluent's API); 42201 otherwise."""
    if value is None:
        return SchemaType.AVRO
    if isinstance(value, str) and value.upper() in SchemaType.__members__:
        return SchemaType[value.upper()]
    raise InvalidSchemaError(f"Invalid schema type {value!r}: expected one of {', '.join(SchemaType)}")


def parse_compatibility_level(value: Any) -> CompatibilityLevel:
    if isinstance(value, str) and value.upper() in CompatibilityLevel.__members__:
        return CompatibilityLevel[value.upper()]
    allowed = ", ".join(CompatibilityLevel)
    raise InvalidCompatibilityLevelError(f"Invalid compatibility level {value!r}: expected one of {allowed}")


def parse_mode(value: Any) -> Mode:
    if isinstance(value, str) and value.upper() in Mode.values:
        return Mode(value.upper())
    raise InvalidModeError(f"Invalid mode {value!r}: expected one of {', '.join(Mode.values)}")


def validate_subject_name(name: str) -> str:
    """A subject name the registry accepts (42208 otherwise)."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidSubjectError("Subject name must not be empty")
    if len(name) > SUBJECT_MAX_LENGTH:
        raise InvalidSubjectError(f"Subject name is longer than {SUBJECT_MAX_LENGTH} characters")
    if _CONTROL_CHARACTERS.search(name):
        raise InvalidSubjectError("Subject name must not contain control characters")
    if _ROUTE_SUFFIX.search(name):
        raise InvalidSubjectError(
            "Subject name must not end in /versions, /versions/<v>, /versions/<v>/schema or /versions/<v>/referencedby"
        )
    return name


# ---------------------------------------------------------------------------------------------
# Schemas by id (cached: an id never changes meaning)
# ---------------------------------------------------------------------------------------------
def schema_by_id(schema_id: int) -> SchemaRecord:
    """The schema with this global id, also when every version using it was deleted; else 40403."""
    if not 1 <= schema_id <= MAX_VERSION:  # beyond a Java int no id exists (nor fits SQLite's column)
        raise SchemaNotFoundError(f"Schema {schema_id} not found")
    return _schema_record(schema_id)


def parsed_schema_by_id(schema_id: int) -> ParsedSchema:
    """The schema with this id with the texts of its references, ready for the format modules."""
    schema_by_id(schema_id)  # the range check and 40403
    return _parsed_schema(schema_id)


def schema_text_in_format(schema_id: int, fmt: str = "") -> str:
    """The schema's text; for Protobuf with fmt "serialized", the base64 FileDescriptorProto."""
    record = schema_by_id(schema_id)
    if record.schema_type == SchemaType.PROTOBUF and fmt.lower() == "serialized":
        return _serialized_protobuf(record.id)
    return record.text


def schema_caches_clear() -> None:
    _schema_record.cache_clear()
    _parsed_schema.cache_clear()
    _serialized_protobuf.cache_clear()


@functools.lru_cache(maxsize=4096)
def _schema_record(schema_id: int) -> SchemaRecord:
    try:
        schema = Schema.objects.prefetch_related("references").get(pk=schema_id)
    except Schema.DoesNotExist:
        raise SchemaNotFoundError(f"Schema {schema_id} not found") from None
    return _record(schema)


@functools.lru_cache(maxsize=1024)
def _parsed_schema(schema_id: int) -> ParsedSchema:
    record = _schema_record(schema_id)
    return ParsedSchema(record.schema_type, record.text, _reference_texts(record.references))


@functools.lru_cache(maxsize=256)
def _serialized_protobuf(schema_id: int) -> str:
    # Imported here: the Protobuf module loads the protobuf compiler, which only Protobuf needs.
    from schemas.formats import protobuf

    return protobuf.serialized(_parsed_schema(schema_id))


def _record(schema: Schema) -> SchemaRecord:
    references = tuple(Reference(ref.name, ref.subject, ref.version) for ref in schema.references.all())
    return SchemaRecord(schema.id, SchemaType(schema.schema_type), schema.text, references)


def _reference_texts(references: Sequence[Reference]) -> dict[str, str]:
    """name -> text of every schema these references need, dependencies first (transitively)."""
    texts: dict[str, str] = {}
    seen: set[tuple[str, int]] = set()

    def visit(reference: Reference) -> None:
        key = (reference.subject, reference.version)
        if key in seen:
            return
        seen.add(key)
        target = (
            SubjectVersion.objects.filter(subject__name=reference.subject, version=reference.version)
            .values_list("schema_id", flat=True)
            .first()
        )
        if target is None:
            raise InvalidSchemaError(
                f"Invalid schema: reference {reference.name!r} to subject {reference.subject!r} "
                f"version {reference.version} not found"
            )
        record = schema_by_id(target)
        for nested in record.references:
            visit(nested)
        texts.setdefault(reference.name, record.text)

    for reference in references:
        visit(reference)
    return texts


# ---------------------------------------------------------------------------------------------
# Preparing a schema from a request: validate, resolve references, compute the identity
# ---------------------------------------------------------------------------------------------
def prepare_schema(
    *,
    schema_text: Any,
    schema_type: Any = None,
    references: Any = None,
    normalize: bool = False,
) -> PreparedSchema:
    """Validate a schema from a request; raises 42201 (invalid) or 42209 (too large)."""
    if not isinstance(schema_text, str) or not schema_text.strip():
        raise InvalidSchemaError("Invalid schema: the schema text is missing or empty")
    limit = settings.EVENTSCOPE_MAX_SCHEMA_BYTES
    if len(schema_text.encode("utf-8")) > limit:
        raise SchemaTooLargeError(f"Schema is larger than {limit} bytes")
    kind = parse_schema_type(schema_type)
    resolved = _resolve_references(references)
    parsed = ParsedSchema(kind, schema_text, _reference_texts(resolved))
    format_fingerprint = _format_fingerprint(parsed)
    if normalize:
        parsed = ParsedSchema(kind, normalized_text(parsed), parsed.references)
    return PreparedSchema(kind, parsed.text, schema_identity(format_fingerprint, resolved), resolved, parsed)


def normalized_text(parsed: ParsedSchema) -> str:
    """The canonical text of a schema (stored with it); 42201 when it does not parse."""
    return _parsing(formats.normalize, parsed)


def _parsing(parse: Callable[[ParsedSchema], str], parsed: ParsedSchema) -> str:
    try:
        return parse(parsed)
    except formats.SchemaParseError as exc:
        raise InvalidSchemaError(f"Invalid schema: {exc}") from None
    except (RecursionError, TypeError, KeyError, AttributeError, IndexError) as exc:
        # A parser crashing on odd input is still a bad input for the client (a 5xx would be
        # retried by Confluent's clients forever); log it so the parser gets fixed.
        logger.exception("schema parser failed on a %s schema", parsed.schema_type)
        raise InvalidSchemaError(f"Invalid schema: it could not be parsed ({type(exc).__name__})") from None


_fingerprints: dict[bytes, str] = {}
_MAX_FINGERPRINTS = 4096


def _format_fingerprint(parsed: ParsedSchema) -> str:
    """The format's fingerprint (and so validation), remembered by a digest of the exact input.

    Producers re-register the same text on every start; parsing a large schema costs
    milliseconds, hashing its text microseconds. Only valid inputs are remembered.
    """
    digest = hashlib.sha256()
    for part in (
        parsed.schema_type,
        parsed.text,
        *(item for pair in sorted(parsed.references.items()) for item in pair),
    ):
        encoded = part.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "big"))  # length-prefixed: no two inputs collide by joining
        digest.update(encoded)
    key = digest.digest()
    cached = _fingerprints.get(key)
    if cached is None:
        cached = _parsing(formats.fingerprint, parsed)
        if len(_fingerprints) >= _MAX_FINGERPRINTS:
            _fingerprints.clear()  # bounded; the next requests simply parse again
        _fingerprints[key] = cached
    return cached


def _resolve_references(references: Any) -> tuple[Reference, ...]:
    """References from a request; version -1 means the subject's latest live version."""
    if references in (None, []):
        return ()
    if not isinstance(references, list):
        raise InvalidSchemaError("Invalid schema: references must be a list")
    resolved: list[Reference] = []
    names: set[str] = set()
    for item in references:
        if not isinstance(item, Mapping):
            raise InvalidSchemaError("Invalid schema: each reference is an object with name, subject and version")
        name, subject, version = item.get("name"), item.get("subject"), item.get("version")
        if not isinstance(name, str) or not name or not isinstance(subject, str) or not subject:
            raise InvalidSchemaError("Invalid schema: a reference needs a name and a subject")
        if name in names:
            raise InvalidSchemaError(f"Invalid schema: reference name {name!r} is used twice")
        names.add(name)
        try:
            spec = parse_version(version)
        except InvalidVersionError:
            raise InvalidSchemaError(f"Invalid schema: reference {name!r} has an invalid version {version!r}") from None
        if spec == LATEST:
            latest = _live_versions(subject).order_by("-version").values_list("version", flat=True).first()
            if latest is None:
                raise InvalidSchemaError(f"Invalid schema: reference {name!r}: subject {subject!r} has no versions")
            spec = latest
        resolved.append(Reference(name, subject, spec))
    return tuple(resolved)


def schema_identity(format_fingerprint: str, references: Sequence[Reference]) -> str:
    """The stored fingerprint: the format's own, or combined with the references when there are any.

    Public for the registry import, which must plan exactly the identity a registration computes."""
    if not references:
        return format_fingerprint
    payload = json.dumps([format_fingerprint, [[r.name, r.subject, r.version] for r in references]])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------
# Config and mode
# ---------------------------------------------------------------------------------------------
def global_config() -> GlobalConfig:
    """The global config row, or an unsaved one holding the defaults."""
    return GlobalConfig.objects.filter(pk=1).first() or GlobalConfig(
        pk=1, compatibility=DEFAULT_COMPATIBILITY, normalize=False, mode=DEFAULT_MODE
    )


def _subject_row(name: str) -> Subject | None:
    return Subject.objects.filter(name=name).first()


@dataclass(frozen=True)
class SubjectSettings:
    """What applies to a subject: its own compatibility, normalize and mode, else the global ones."""

    compatibility: CompatibilityLevel
    normalize: bool
    mode: Mode


def subject_settings(subject: str | None) -> SubjectSettings:
    glob = global_config()
    row = _subject_row(subject) if subject is not None else None
    return SubjectSettings(
        compatibility=CompatibilityLevel((row and row.compatibility) or glob.compatibility),
        normalize=row.normalize if row is not None and row.normalize is not None else glob.normalize,
        mode=Mode((row and row.mode) or glob.mode),
    )


def subject_config(subject: str, *, default_to_global: bool = False) -> dict[str, Any]:
    """The subject's own config ({"compatibility", "normalize"}); 40408 if it has none."""
    row = _subject_row(subject)
    if row is not None and (row.compatibility or row.normalize is not None):
        glob = global_config()
        return {
            "compatibility": row.compatibility or glob.compatibility,
            "normalize": row.normalize,
        }
    if default_to_global:
        glob = global_config()
        return {"compatibility": glob.compatibility, "normalize": glob.normalize}
    raise SubjectCompatibilityNotConfiguredError(
        f"Subject '{subject}' does not have subject-level compatibility configured"
    )


def subject_mode(subject: str, *, default_to_global: bool = False) -> Mode:
    """The subject's own mode; 40409 if it has none (unless default_to_global)."""
    row = _subject_row(subject)
    if row is not None and row.mode:
        return Mode(row.mode)
    if default_to_global:
        return Mode(global_config().mode)
    raise SubjectModeNotConfiguredError(f"Subject '{subject}' does not have subject-level mode configured")


# ---------------------------------------------------------------------------------------------
# Subjects and versions
# ---------------------------------------------------------------------------------------------
def _live_versions(subject: str):
    return SubjectVersion.objects.filter(subject__name=subject, deleted_at__isnull=True)


def _versions(subject: str, *, deleted: bool = False, deleted_only: bool = False):
    queryset = SubjectVersion.objects.filter(subject__name=subject)
    if deleted_only:
        return queryset.filter(deleted_at__isnull=False)
    if not deleted:
        return queryset.filter(deleted_at__isnull=True)
    return queryset


def subject_names(*, prefix: str = "", deleted: bool = False, deleted_only: bool = False) -> list[str]:
    """Subjects with at least one live version (or soft-deleted ones too, or only those)."""
    versions = SubjectVersion.objects.all()
    if deleted_only:
        # Confluent's deletedOnly: subjects whose versions are all soft deleted.
        live = SubjectVersion.objects.filter(deleted_at__isnull=True).values("subject_id")
        versions = versions.exclude(subject_id__in=live)
    elif not deleted:
        versions = versions.filter(deleted_at__isnull=True)
    queryset = Subject.objects.filter(id__in=versions.values("subject_id"))
    if prefix:
        queryset = queryset.filter(name__startswith=prefix)
    return list(queryset.order_by("name").values_list("name", flat=True))


def subject_version_numbers(subject: str, *, deleted: bool = False, deleted_only: bool = False) -> list[int]:
    """The subject's version numbers, ascending; 40401 when it has none to show."""
    numbers = list(
        _versions(subject, deleted=deleted, deleted_only=deleted_only)
        .order_by("version")
        .values_list("version", flat=True)
    )
    if not numbers and not (deleted_only and _versions(subject, deleted=True).exists()):
        raise SubjectNotFoundError(f"Subject '{subject}' not found.")
    return numbers


def subject_version_get(subject: str, version: VersionSpec, *, deleted: bool = False) -> RegisteredVersion:
    """One version ("latest": the newest live one, or newest at all with deleted); 40401/40402."""
    row = _subject_version_row(subject, version, deleted=deleted)
    return RegisteredVersion(subject, row.version, schema_by_id(row.schema_id), row.deleted_at is not None)


def _subject_version_row(subject: str, version: VersionSpec, *, deleted: bool) -> SubjectVersion:
    queryset = _versions(subject, deleted=deleted)
    row = queryset.order_by("-version").first() if version == LATEST else queryset.filter(version=version).first()
    if row is None:
        # As Confluent's: 40401 when the subject shows no version (a wholly soft-deleted one without ?deleted=true).
        if not _versions(subject, deleted=deleted).exists():
            raise SubjectNotFoundError(f"Subject '{subject}' not found.")
        raise VersionNotFoundError(f"Version {version} not found.")
    return row


def live_parsed_versions(subject: str) -> tuple[list[ParsedSchema], list[int]]:
    """The subject's live versions, oldest first, parsed for a compatibility check."""
    rows = list(_live_versions(subject).order_by("version").values_list("version", "schema_id"))
    return [parsed_schema_by_id(schema_id) for _, schema_id in rows], [version for version, _ in rows]


def subject_version_holding(
    subject: str, prepared: PreparedSchema, *, deleted: bool = False
) -> RegisteredVersion | None:
    """The subject's version holding this schema (a live one first, then the newest), if any."""
    row = (
        _versions(subject, deleted=deleted)
        .filter(schema__schema_type=prepared.schema_type, schema__fingerprint=prepared.fingerprint)
        .order_by(F("deleted_at").asc(nulls_first=True), "-version")  # live (NULL) first, on any database
        .first()
    )
    if row is None:
        return None
    return RegisteredVersion(subject, row.version, schema_by_id(row.schema_id), row.deleted_at is not None)


def subject_lookup(subject: str, prepared: PreparedSchema, *, deleted: bool = False) -> RegisteredVersion:
    """Like subject_version_holding, but 40401 when the subject is unknown and 40403 when not in it."""
    found = subject_version_holding(subject, prepared, deleted=deleted)
    if found is None:
        if not _versions(subject, deleted=deleted).exists():
            raise SubjectNotFoundError(f"Subject '{subject}' not found.")
        raise SchemaNotFoundError("Schema not found")
    return found


def referenced_by(subject: str, version: int) -> list[int]:
    """Ids of the schemas, still used by some subject version, that reference this subject version."""
    return list(
        SchemaReference.objects.filter(subject=subject, version=version, schema__subject_versions__isnull=False)
        .values_list("schema_id", flat=True)
        .distinct()
        .order_by("schema_id")
    )


# ---------------------------------------------------------------------------------------------
# Schemas: listings by id
# ---------------------------------------------------------------------------------------------
def schema_id_versions(schema_id: int, *, deleted: bool = False) -> list[tuple[str, int]]:
    """(subject, version) pairs that use this schema id; 40403 when the id is unknown."""
    schema_by_id(schema_id)
    queryset = SubjectVersion.objects.filter(schema_id=schema_id)
    if not deleted:
        queryset = queryset.filter(deleted_at__isnull=True)
    return list(queryset.order_by("subject__name", "version").values_list("subject__name", "version"))


def schema_id_subjects(schema_id: int, *, deleted: bool = False) -> list[str]:
    return list(dict.fromkeys(subject for subject, _ in schema_id_versions(schema_id, deleted=deleted)))


def schema_list(
    *, prefix: str = "", deleted: bool = False, latest_only: bool = False, offset: int = 0, limit: int = -1
) -> list[RegisteredVersion]:
    """Subject versions with their schemas, by subject and version (Confluent's GET /schemas)."""
    queryset = SubjectVersion.objects.select_related("subject", "schema").prefetch_related(
        Prefetch("schema__references", queryset=SchemaReference.objects.order_by("position"))
    )
    if not deleted:
        queryset = queryset.filter(deleted_at__isnull=True)
    if prefix:
        queryset = queryset.filter(subject__name__startswith=prefix)
    if latest_only:
        newest = queryset.values("subject_id").annotate(newest=Max("version"))
        latest = Q()
        for item in newest:
            latest |= Q(subject_id=item["subject_id"], version=item["newest"])
        queryset = queryset.filter(latest) if newest else queryset.none()
    rows = queryset.order_by("subject__name", "version")
    window = rows[offset:] if limit < 0 else rows[offset : offset + limit]
    return [RegisteredVersion(row.subject.name, row.version, _record(row.schema), row.is_deleted) for row in window]


# ---------------------------------------------------------------------------------------------
# Compatibility
# ---------------------------------------------------------------------------------------------
def compatibility_messages(subject: str, prepared: PreparedSchema, *, version: VersionSpec | None = None) -> list[str]:
    """Why `prepared` breaks the subject's level: against one version, or (None) its live versions."""
    level = subject_settings(subject).compatibility
    if version is None:
        previous, numbers = live_parsed_versions(subject)
    else:
        try:
            row = _subject_version_row(subject, version, deleted=False)
        except (SubjectNotFoundError, VersionNotFoundError):
            if version == LATEST:
                return []  # nothing registered yet: nothing to break
            raise
        previous, numbers = [parsed_schema_by_id(row.schema_id)], [row.version]
    return [str(problem) for problem in check_compatibility(prepared.parsed, previous, level, numbers)]
