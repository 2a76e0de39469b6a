"""Reads for the schema pages that `schemas.selectors` (shared with the REST API) does not have.

Nothing here writes. Registration goes through `schemas.services`; schemas, versions, settings and
compatibility inputs come from `schemas.selectors`. What is added here is page-shaped: the subjects list
with its annotations and filters, a subject page's data, a compatibility verdict that keeps each problem's
kind and path apart (the API's selector joins them into one string), and validating a sample message.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, Exists, F, Max, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, NullIf

from catalog import selectors as catalog_selectors
from catalog.models import EventType
from schemas import diff, formats, selectors
from schemas.compatibility import CompatibilityLevel, Incompatibility, ParsedSchema, SchemaType
from schemas.compatibility.levels import check_compatibility
from schemas.errors import SubjectNotFoundError
from schemas.external import selectors as mirror_selectors
from schemas.external.snapshot import RegistrySourceError
from schemas.models import Subject, SubjectVersion

__all__ = [
    "SUBJECT_ORDERINGS",
    "CompatibilityVerdict",
    "FieldRow",
    "MessageError",
    "SubjectPage",
    "VersionRow",
    "compatibility_verdict",
    "message_errors",
    "normalized_pretty_text",
    "subject_list",
    "subject_page",
    "subject_versions",
    "version_schema",
    "versions_for_choices",
]

logger = logging.getLogger(__name__)

# ?ordering= values of the subjects list -> the annotation they sort by.
SUBJECT_ORDERINGS = {
    "name": "name",
    "type": "schema_type",
    "compatibility": "effective_compatibility",
    "latest": "latest_version",
    "versions": "version_count",
    "registered": "last_registered",
    "owner": "owner_team_name",
}
MAX_MESSAGE_ERRORS = 50


# ---------------------------------------------------------------------------------------------
# Subjects list
# ---------------------------------------------------------------------------------------------
def subject_list(
    *,
    q: str = "",
    schema_type: str = "",
    compatibility: str = "",
    owner_team: str = "",
    ordering: str = "name",
) -> QuerySet[Subject]:
    """Subjects with a live version, annotated for the list: latest version and its type, version count,
    last registration, effective compatibility, and the owner team of the event type that declares it."""
    live = Q(versions__deleted_at__isnull=True)
    latest = SubjectVersion.objects.filter(subject=OuterRef("pk"), deleted_at__isnull=True).order_by("-version")
    owner = (
        EventType.objects.filter(schema_subject=OuterRef("name"), owner_team__isnull=False)
        .order_by("name", "version", "pk")
        .values("owner_team__name", "owner_team__slug")
    )
    default_level = selectors.global_config().compatibility
    queryset = Subject.objects.filter(
        Exists(SubjectVersion.objects.filter(subject=OuterRef("pk"), deleted_at__isnull=True))
    ).annotate(
        latest_version=Max("versions__version", filter=live),
        version_count=Count("versions", filter=live),
        last_registered=Max("versions__created_at", filter=live),
        schema_type=Subquery(latest.values("schema__schema_type")[:1]),
        effective_compatibility=Coalesce(NullIf(F("compatibility"), Value("")), Value(str(default_level))),
        owner_team_name=Subquery(owner.values("owner_team__name")[:1]),
        owner_team_slug=Subquery(owner.values("owner_team__slug")[:1]),
    )
    if q:
        queryset = queryset.filter(name__icontains=q)
    if schema_type:
        queryset = queryset.filter(schema_type=schema_type)
    if compatibility:
        queryset = queryset.filter(effective_compatibility=compatibility)
    if owner_team:
        queryset = queryset.filter(
            Exists(EventType.objects.filter(schema_subject=OuterRef("name"), owner_team__slug=owner_team))
        )
    descending = ordering.startswith("-")
    column = SUBJECT_ORDERINGS.get(ordering.lstrip("-"), "name")
    order = F(column).desc(nulls_last=True) if descending else F(column).asc(nulls_last=True)
    return queryset.order_by(order, "pk")


# ---------------------------------------------------------------------------------------------
# Subject page
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VersionRow:
    version: int
    schema_id: int
    schema_type: str
    deleted: bool
    created_at: datetime


@dataclass(frozen=True)
class SubjectPage:
    """Everything the subject page shows besides the selected schema."""

    name: str
    versions: list[VersionRow]
    compatibility: CompatibilityLevel
    compatibility_is_own: bool
    mode: str
    event_types: list[EventType]
    # Set when the subject is mirrored from an external registry: read-only, ids are that registry's.
    mirror: mirror_selectors.MirrorRef | None = None

    @property
    def read_only(self) -> bool:
        return self.mirror is not None

    @property
    def query(self) -> str:
        """The query string pair registry=<name> for a mirrored subject (the pages carry it along), else ""."""
        return self.mirror.query if self.mirror is not None else ""

    @property
    def api_url(self) -> str:
        """The base URL of the Confluent API that holds this subject ("/registry", an external registry's URL, or
        "" for a mirror read from a storage topic)."""
        if self.mirror is None:
            return "/registry"
        return self.mirror.source if self.mirror.source.startswith(("http://", "https://")) else ""

    @property
    def qs(self) -> str:
        """The query as a URL's whole query string ("?registry=<name>" or "")."""
        return f"?{self.query}" if self.query else ""

    @property
    def amp(self) -> str:
        """The query to append to a URL that has one ("&registry=<name>" or "")."""
        return f"&{self.query}" if self.query else ""

    def record(self, schema_id: int) -> selectors.SchemaRecord:
        """A schema of this subject by id, from our registry or from the mirror the subject comes from."""
        if self.mirror is not None:
            return mirror_selectors.mirrored_record(self.mirror, schema_id)
        return selectors.schema_by_id(schema_id)

    def parsed(self, schema_id: int) -> ParsedSchema:
        if self.mirror is not None:
            return mirror_selectors.mirrored_parsed_schema(self.mirror, schema_id)
        return selectors.parsed_schema_by_id(schema_id)

    @property
    def live_versions(self) -> list[VersionRow]:
        return [row for row in self.versions if not row.deleted]

    @property
    def deleted_count(self) -> int:
        return len(self.versions) - len(self.live_versions)

    @property
    def latest(self) -> VersionRow | None:
        """The newest live version, else (all soft deleted) the newest one."""
        live = self.live_versions
        if live:
            return live[-1]
        return self.versions[-1] if self.versions else None

    @property
    def topic_name(self) -> str:
        """The topic this subject names under the topic name strategy (<topic>-value, <topic>-key), if any."""
        for suffix in ("-value", "-key"):
            if self.name.endswith(suffix) and len(self.name) > len(suffix):
                return self.name.removesuffix(suffix)
        return ""

    def version(self, number: int | None) -> VersionRow | None:
        if number is None:
            return self.latest
        return next((row for row in self.versions if row.version == number), None)


def subject_versions(subject: str) -> list[VersionRow]:
    """Every version of the subject, soft-deleted ones included, oldest first."""
    rows = (
        SubjectVersion.objects.filter(subject__name=subject)
        .order_by("version")
        .values_list("version", "schema_id", "schema__schema_type", "deleted_at", "created_at")
    )
    return [
        VersionRow(version, schema_id, schema_type, deleted_at is not None, created_at)
        for version, schema_id, schema_type, deleted_at, created_at in rows
    ]


def subject_page(subject: str, *, registry: str | None = None) -> SubjectPage:
    """The subject page's data; SubjectNotFoundError when the subject has no versions at all (also deleted).

    A subject only an external registry has (or `registry` names that registry) is read from its mirror.
    """
    mirror = mirror_selectors.subject_source(subject, registry=registry or None)
    if mirror is not None:
        return _mirrored_subject_page(subject, mirror)
    versions = subject_versions(subject)
    if not versions:
        raise SubjectNotFoundError(f"Subject '{subject}' not found.")
    settings = selectors.subject_settings(subject)
    own = bool(Subject.objects.filter(name=subject).exclude(compatibility="").exists())
    event_types = list(catalog_selectors.event_type_list().filter(schema_subject=subject))
    return SubjectPage(
        name=subject,
        versions=versions,
        compatibility=settings.compatibility,
        compatibility_is_own=own,
        mode=str(settings.mode),
        event_types=event_types,
    )


def _mirrored_subject_page(subject: str, mirror: mirror_selectors.MirrorRef) -> SubjectPage:
    rows = mirror_selectors.mirrored_subject_versions(mirror, subject)
    if not rows:
        raise SubjectNotFoundError(f"Subject '{subject}' not found.")
    level, own, mode = mirror_selectors.mirrored_subject_settings(mirror, subject)
    try:
        compatibility = CompatibilityLevel(level)
    except ValueError:
        compatibility = CompatibilityLevel.BACKWARD
    return SubjectPage(
        name=subject,
        versions=[VersionRow(r.version, r.schema_id, r.schema_type, False, r.first_seen_at) for r in rows],
        compatibility=compatibility,
        compatibility_is_own=own,
        mode=mode,
        event_types=list(catalog_selectors.event_type_list().filter(schema_subject=subject)),
        mirror=mirror,
    )


@dataclass(frozen=True)
class FieldRow:
    """A FieldInfo for the field table: the default as JSON (true, null, {"a": 1}), as the schema writes it."""

    path: str
    type: str
    doc: str
    required: bool
    has_default: bool
    default_json: str

    @classmethod
    def of(cls, info: formats.FieldInfo) -> FieldRow:
        default = json.dumps(info.default, ensure_ascii=False, default=str) if info.has_default else ""
        return cls(info.path, info.type, info.doc or "", info.required, info.has_default, default)


@dataclass(frozen=True)
class VersionSchema:
    """One version's schema as the page shows it: laid out text, fields, references and who references it."""

    record: selectors.SchemaRecord
    parsed: ParsedSchema
    pretty: str
    fields: list[FieldRow]
    fields_error: str = ""
    referenced_by: list[tuple[str, int]] = field(default_factory=list)


def version_schema(subject: str, row: VersionRow, *, page: SubjectPage | None = None) -> VersionSchema:
    mirror = page.mirror if page is not None else None
    if mirror is not None:
        record = mirror_selectors.mirrored_record(mirror, row.schema_id)
        parsed = mirror_selectors.mirrored_parsed_schema(mirror, row.schema_id)
    else:
        record = selectors.schema_by_id(row.schema_id)
        parsed = selectors.parsed_schema_by_id(row.schema_id)
    try:
        fields, error = [FieldRow.of(info) for info in formats.field_paths(parsed)], ""
    except formats.SchemaParseError as exc:  # stored schemas parse; a reference changed under it would not
        fields, error = [], str(exc)
    if mirror is not None:
        users = mirror_selectors.mirrored_referenced_by(mirror, subject, row.version)
    else:
        users = [
            pair
            for schema_id in selectors.referenced_by(subject, row.version)
            for pair in selectors.schema_id_versions(schema_id)
        ]
    return VersionSchema(record, parsed, diff.pretty_text(record.schema_type, record.text), fields, error, users)


def normalized_pretty_text(parsed: ParsedSchema) -> str:
    """The canonical text laid out for reading (what the unified diff compares)."""
    return diff.pretty_text(parsed.schema_type, selectors.normalized_text(parsed))


# ---------------------------------------------------------------------------------------------
# Compatibility verdict for a candidate schema
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CompatibilityVerdict:
    level: CompatibilityLevel
    checked_versions: list[int]
    problems: list[Incompatibility]
    existing_version: int | None = None  # the schema is already live as this version: no check, as on registration
    # Mirrored subjects: whose verdict this is ("https://sr.example.com"), and why there is none when unreachable.
    asked: str = ""
    unknown_reason: str = ""

    @property
    def compatible(self) -> bool:
        return not self.problems and not self.unknown_reason

    @property
    def unknown(self) -> bool:
        return bool(self.unknown_reason)


def compatibility_verdict(
    subject: str, prepared: selectors.PreparedSchema, *, mirror: mirror_selectors.MirrorRef | None = None
) -> CompatibilityVerdict:
    """What registering `prepared` would meet, without storing anything (the same inputs as the service).

    For a mirrored subject, the external registry's own compatibility endpoint answers (see
    `mirrored_compatibility_verdict`).
    """
    if mirror is not None:
        return mirrored_compatibility_verdict(subject, prepared, mirror)
    level = selectors.subject_settings(subject).compatibility
    holding = selectors.subject_version_holding(subject, prepared)
    if holding is not None:
        return CompatibilityVerdict(level, [], [], existing_version=holding.version)
    previous, numbers = selectors.live_parsed_versions(subject)
    problems = check_compatibility(prepared.parsed, previous, level, numbers)
    # Which versions the level looks at, for the sentence above the verdict.
    if level == CompatibilityLevel.NONE or not numbers:
        checked: list[int] = []
    elif level.endswith("_TRANSITIVE"):
        checked = list(numbers)
    else:
        checked = numbers[-1:]
    return CompatibilityVerdict(level, checked, problems)


def mirrored_compatibility_verdict(
    subject: str, prepared: selectors.PreparedSchema, mirror: mirror_selectors.MirrorRef
) -> CompatibilityVerdict:
    """The external registry's verdict, asked at its compatibility endpoint (the registry is the authority on its
    own rules). Unreachable: an "unknown" verdict with the reason. A storage-topic source has no endpoint: our own
    check against the mirrored versions under the mirrored level, said as such."""
    from schemas.external.mirror import external_registry_source
    from schemas.models_external import ExternalRegistry

    level_name, _, _ = mirror_selectors.mirrored_subject_settings(mirror, subject)
    try:
        level = CompatibilityLevel(level_name)
    except ValueError:
        level = CompatibilityLevel.BACKWARD
    existing = mirror_selectors.mirrored_version_holding(mirror, subject, prepared)
    if existing is not None:
        return CompatibilityVerdict(level, [], [], existing_version=existing, asked=mirror.source)
    numbers = [row.version for row in mirror_selectors.mirrored_subject_versions(mirror, subject)]
    checked = (
        []
        if level == CompatibilityLevel.NONE or not numbers
        else (list(numbers) if level.endswith("_TRANSITIVE") else numbers[-1:])
    )
    registry = ExternalRegistry.objects.select_related("cluster").get(pk=mirror.registry_id)
    if registry.source_kind != ExternalRegistry.SourceKind.REST:
        previous, numbers = mirror_selectors.mirrored_live_parsed_versions(mirror, subject)
        problems = check_compatibility(prepared.parsed, previous, level, numbers)
        return CompatibilityVerdict(level, checked, problems, asked="Eventscope's check of the mirrored versions")
    try:
        with external_registry_source(registry) as source:
            ok, messages = source.check_compatibility(
                subject, prepared.text, str(prepared.schema_type), [r.as_dict() for r in prepared.references]
            )
    except RegistrySourceError as exc:
        return CompatibilityVerdict(level, checked, [], asked=mirror.source, unknown_reason=str(exc))
    problems = [] if ok else [Incompatibility("INCOMPATIBLE", "", m) for m in messages]
    if not ok and not problems:
        problems = [Incompatibility("INCOMPATIBLE", "", f"{mirror.source} answered: not compatible")]
    return CompatibilityVerdict(level, checked, problems, asked=mirror.source)


# ---------------------------------------------------------------------------------------------
# Sample message validation
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MessageError:
    path: str
    message: str


def message_errors(parsed: ParsedSchema, message_text: str, *, message_type: str = "") -> list[MessageError]:
    """Why `message_text` (JSON) is not a valid message of `parsed`; empty when it is.

    - JSON Schema: the document's draft validator (jsonschema), every error with its JSON path.
    - Avro: fastavro. The message may be plain JSON (a union's value as is, as Python producers pass
      records) or the Avro JSON encoding (a non-null union value wrapped as {"type": value}); plain is
      tried first, then the Avro JSON encoding, and the plain errors are shown when neither fits.
    - Protobuf: protobuf's json_format parses the message into the compiled message type (the first
      message of the file unless `message_type` names another), then proto2 required fields are checked.
    Never raises for a bad message: every failure is an error in the list.
    """
    return [
        MessageError(_printable(e.path), _printable(e.message)) for e in _errors(parsed, message_text, message_type)
    ]


def _errors(parsed: ParsedSchema, message_text: str, message_type: str) -> list[MessageError]:
    try:
        value = json.loads(message_text)
    except ValueError as exc:
        return [MessageError("$", f"not valid JSON: {exc}")]
    except RecursionError:
        return [MessageError("$", "the message is nested too deeply")]
    try:
        if parsed.schema_type == SchemaType.JSON:
            return _json_schema_errors(parsed, value)
        if parsed.schema_type == SchemaType.AVRO:
            return _avro_errors(parsed, value, message_text)
        return _protobuf_errors(parsed, message_text, message_type)
    except formats.SchemaParseError as exc:
        return [MessageError("", f"the schema does not parse: {exc}")]
    except RecursionError:
        return [MessageError("$", "the message is nested too deeply")]
    except Exception as exc:  # validator libraries raise anything on odd input; never a 500
        logger.exception("validating a sample %s message failed", parsed.schema_type)
        return [MessageError("$", f"the message could not be validated ({type(exc).__name__}: {exc})")]


def _printable(text: str) -> str:
    # JSON may carry lone surrogates ("\ud800"), which errors quote back and no page can encode.
    return str(text).encode("utf-8", "backslashreplace").decode("utf-8")


def _json_schema_errors(parsed: ParsedSchema, value: Any) -> list[MessageError]:
    from jsonschema import validators
    from referencing import Registry
    from referencing.jsonschema import specification_with

    from schemas.formats import json_schema

    json_schema.parse_schema(parsed)  # refuses what the registry refuses, with its message
    contents = json.loads(parsed.text)
    validator_class = validators.validator_for(contents, default=json_schema.DEFAULT_DRAFT)
    default_spec = specification_with(validator_class.META_SCHEMA["$schema"])
    registry: Registry = Registry()
    for name, text in parsed.references.items():
        registry = registry.with_resource(name, default_spec.create_resource(json.loads(text)))
    validator = validator_class(contents, registry=registry)
    errors = sorted(validator.iter_errors(value), key=lambda error: list(map(str, error.absolute_path)))
    return [MessageError(error.json_path, error.message) for error in errors[:MAX_MESSAGE_ERRORS]]


def _avro_errors(parsed: ParsedSchema, value: Any, message_text: str) -> list[MessageError]:
    import fastavro
    from fastavro.validation import ValidationError, validate

    formats.normalize(parsed)  # refuses what the registry refuses, with its message
    named: dict[str, Any] = {}
    for text in parsed.references.values():
        fastavro.parse_schema(json.loads(text), named_schemas=named)
    schema = fastavro.parse_schema(json.loads(parsed.text), named_schemas=named)
    try:
        validate(value, schema, raise_errors=True)
        return []
    except ValidationError as exc:
        plain = [_avro_error(item) for item in exc.errors]
        reported = {error.path for error in plain}
        plain += [error for error in _avro_missing_fields(schema, value) if error.path not in reported]
        plain = plain[:MAX_MESSAGE_ERRORS]
    try:
        decoded = next(iter(fastavro.json_reader(io.StringIO(message_text), schema)))
        validate(decoded, schema, raise_errors=True)
        return []
    except Exception:  # not the Avro JSON encoding either: the plain errors say more
        return plain


def _avro_missing_fields(schema: Any, value: Any) -> list[MessageError]:
    """Top-level fields without a default that the message lacks: fastavro stops at a record's first error."""
    if not isinstance(schema, dict) or schema.get("type") != "record" or not isinstance(value, dict):
        return []
    name = schema.get("name", "")
    return [
        MessageError(f"{name}.{item['name']}", "is missing and has no default")
        for item in schema.get("fields", [])
        if isinstance(item, dict) and item.get("name") not in value and "default" not in item
    ]


def _avro_error(item: Any) -> MessageError:
    """A fastavro ValidationErrorData (datum, schema, field) as a path and a sentence without schema dumps."""
    datum, schema, path = getattr(item, "datum", None), getattr(item, "schema", None), getattr(item, "field", "")
    if datum is None and schema is None:
        return MessageError("", str(item))
    return MessageError(str(path or "$"), f"{_json_preview(datum)} is not a valid {_avro_type_name(schema)}")


def _avro_type_name(schema: Any) -> str:
    if isinstance(schema, list):
        return " | ".join(_avro_type_name(branch) for branch in schema)
    if isinstance(schema, dict):
        kind = schema.get("type")
        if kind in ("record", "enum", "fixed", "error"):
            return f"{kind} {schema.get('name', '')}".strip()
        if kind == "array":
            return f"array<{_avro_type_name(schema.get('items'))}>"
        if kind == "map":
            return f"map<{_avro_type_name(schema.get('values'))}>"
        logical = schema.get("logicalType")
        return f"{_avro_type_name(kind)} ({logical})" if logical else _avro_type_name(kind)
    return str(schema)


def _json_preview(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _protobuf_errors(parsed: ParsedSchema, message_text: str, message_type: str) -> list[MessageError]:
    from google.protobuf import descriptor_pool, json_format, message_factory

    from schemas.formats import protobuf

    if not isinstance(json.loads(message_text), dict):
        return [MessageError("$", "a Protobuf message in JSON is an object ({...})")]
    compiled = protobuf.compile_schema(parsed)
    names = protobuf.message_names(parsed)
    if not names:
        return [MessageError("", "the schema declares no message")]
    name = message_type or names[0]
    if name not in names:
        return [MessageError("", f"the schema has no message {name!r}; it has {', '.join(names)}")]
    pool = descriptor_pool.DescriptorPool()
    for file in compiled.files:
        pool.Add(file)
    message = message_factory.GetMessageClass(pool.FindMessageTypeByName(name))()
    try:
        json_format.Parse(message_text, message)
    except json_format.ParseError as exc:
        return [MessageError(name, str(exc))]
    return [MessageError(path, "required field is missing") for path in message.FindInitializationErrors()]


def versions_for_choices(rows: Sequence[VersionRow]) -> list[tuple[int, str]]:
    return [(row.version, f"v{row.version}{' (deleted)' if row.deleted else ''}") for row in reversed(rows)]
