"""Reads of external registries and their mirror, for the pages, the API, tracing and impact analysis.

Nothing here writes. A mirrored schema is addressed by (registry, its id in that registry): ids of different
registries, and ours, are separate spaces. Which registry answers for a subject name (`subject_source`):
1. a registry tied in mode "instead" to one of the given clusters, when it holds the subject;
2. otherwise our own registry, when it has the subject;
3. otherwise any registry holding it (those tied to the given clusters first, then by name).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, NullIf

from schemas import formats
from schemas.compatibility import ParsedSchema, SchemaType
from schemas.errors import InvalidSchemaError, SchemaNotFoundError, SubjectNotFoundError
from schemas.models_external import ExternalRegistry, MirroredSchema, MirroredSubject, MirroredVersion

__all__ = [
    "DEFAULT_COMPATIBILITY",
    "MirrorRef",
    "external_registry_for_cluster",
    "external_registry_list",
    "mirror_ref",
    "mirrored_live_parsed_versions",
    "mirrored_parsed_schema",
    "mirrored_prepare",
    "mirrored_record",
    "mirrored_referenced_by",
    "mirrored_subject_list",
    "mirrored_subject_settings",
    "mirrored_subject_versions",
    "subject_source",
]

DEFAULT_COMPATIBILITY = "BACKWARD"  # Confluent's default when a registry reports no global level


@dataclass(frozen=True)
class MirrorRef:
    """Which mirror a subject page or analysis reads: enough to name it and to query it."""

    registry_id: int
    name: str
    source: str  # "https://sr.example.com", "_schemas on prod-eu"
    mode: str
    global_compatibility: str
    global_mode: str

    @property
    def query(self) -> str:
        """The query-string pair that selects this mirror on the subject pages."""
        return f"registry={self.name}"


def mirror_ref(registry: ExternalRegistry) -> MirrorRef:
    return MirrorRef(
        registry.pk,
        registry.name,
        registry.source_description,
        registry.mode,
        registry.global_compatibility or DEFAULT_COMPATIBILITY,
        registry.global_mode or "READWRITE",
    )


# ---------------------------------------------------------------------------------------------
# Registries
# ---------------------------------------------------------------------------------------------
def external_registry_list() -> QuerySet[ExternalRegistry]:
    """Registries with their cluster and mirror counts, by name."""
    return (
        ExternalRegistry.objects.select_related("cluster")
        .annotate(
            subject_count=Count("subjects", distinct=True),
            version_count=Count("subjects__versions", distinct=True),
        )
        .order_by("name")
    )


def external_registry_for_cluster(cluster_id: int | None) -> ExternalRegistry | None:
    if cluster_id is None:
        return None
    return ExternalRegistry.objects.select_related("cluster").filter(cluster_id=cluster_id).first()


def subject_source(subject: str, *, registry: str | None = None, cluster_ids: Iterable[int] = ()) -> MirrorRef | None:
    """The mirror that answers for `subject` (None: our own registry). SubjectNotFoundError when none has it.

    `registry` names a mirror explicitly (the subject pages' ?registry=); otherwise the order is the module's.
    """
    from schemas.models import SubjectVersion

    holding = ExternalRegistry.objects.select_related("cluster").filter(
        Exists(MirroredVersion.objects.filter(subject__registry=OuterRef("pk"), subject__name=subject))
    )
    if registry:
        found = holding.filter(name=registry).first()
        if found is None:
            raise SubjectNotFoundError(f"Subject '{subject}' not found in external registry {registry!r}.")
        return mirror_ref(found)
    clusters = [pk for pk in cluster_ids if pk is not None]
    if clusters:
        instead = holding.filter(cluster_id__in=clusters, mode=ExternalRegistry.Mode.INSTEAD).order_by("name").first()
        if instead is not None:
            return mirror_ref(instead)
    if SubjectVersion.objects.filter(subject__name=subject).exists():
        return None  # our own (also when all its versions are soft deleted: its page says so)
    ordered = sorted(holding, key=lambda r: (r.cluster_id not in clusters, r.name))
    if not ordered:
        raise SubjectNotFoundError(f"Subject '{subject}' not found.")
    return mirror_ref(ordered[0])


# ---------------------------------------------------------------------------------------------
# Subjects and versions
# ---------------------------------------------------------------------------------------------
def mirrored_subject_list(
    *, q: str = "", schema_type: str = "", compatibility: str = "", owner_team: str = ""
) -> QuerySet[MirroredSubject]:
    """Mirrored subjects annotated like the registry's list (latest version and type, count, level, owner)."""
    from catalog.models import EventType

    latest = MirroredVersion.objects.filter(subject=OuterRef("pk")).order_by("-version")
    owner = (
        EventType.objects.filter(schema_subject=OuterRef("name"), owner_team__isnull=False)
        .order_by("name", "version", "pk")
        .values("owner_team__name", "owner_team__slug")
    )
    queryset = (
        MirroredSubject.objects.select_related("registry")
        .filter(Exists(MirroredVersion.objects.filter(subject=OuterRef("pk"))))
        .annotate(
            latest_version=Max("versions__version"),
            version_count=Count("versions"),
            first_seen=Min("versions__first_seen_at"),
            schema_type=Subquery(latest.values("schema__schema_type")[:1]),
            effective_compatibility=Coalesce(
                NullIf(F("compatibility"), Value("")),
                NullIf(F("registry__global_compatibility"), Value("")),
                Value(DEFAULT_COMPATIBILITY),
            ),
            owner_team_name=Subquery(owner.values("owner_team__name")[:1]),
            owner_team_slug=Subquery(owner.values("owner_team__slug")[:1]),
        )
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
    return queryset.order_by("name", "registry__name")


@dataclass(frozen=True)
class MirroredVersionRow:
    version: int
    schema_id: int
    schema_type: str
    first_seen_at: Any


def mirrored_subject_versions(ref: MirrorRef, subject: str) -> list[MirroredVersionRow]:
    rows = (
        MirroredVersion.objects.filter(subject__registry_id=ref.registry_id, subject__name=subject)
        .order_by("version")
        .values_list("version", "schema__schema_id", "schema__schema_type", "first_seen_at")
    )
    return [MirroredVersionRow(*row) for row in rows]


def mirrored_subject_settings(ref: MirrorRef, subject: str) -> tuple[str, bool, str]:
    """(effective compatibility level, whether it is the subject's own, effective mode)."""
    row = MirroredSubject.objects.filter(registry_id=ref.registry_id, name=subject).values("compatibility", "mode")
    own = row[0] if row else {"compatibility": "", "mode": ""}
    return (
        own["compatibility"] or ref.global_compatibility,
        bool(own["compatibility"]),
        own["mode"] or ref.global_mode,
    )


def mirrored_referenced_by(ref: MirrorRef, subject: str, version: int) -> list[tuple[str, int]]:
    """(subject, version) pairs of the mirror whose schema references this subject version."""
    pairs = []
    rows = MirroredVersion.objects.filter(subject__registry_id=ref.registry_id).exclude(schema__references=[])
    for name, number, references in rows.values_list("subject__name", "version", "schema__references"):
        if any(r.get("subject") == subject and r.get("version") == version for r in references or []):
            pairs.append((name, number))
    return sorted(pairs)


# ---------------------------------------------------------------------------------------------
# Schemas by (registry, id)
# ---------------------------------------------------------------------------------------------
def _schema_row(registry_id: int, schema_id: int) -> MirroredSchema:
    row = MirroredSchema.objects.filter(registry_id=registry_id, schema_id=schema_id).first()
    if row is None:
        raise SchemaNotFoundError(f"Schema {schema_id} not found in the mirror")
    return row


def mirrored_record(ref: MirrorRef | int, schema_id: int):
    """The mirrored schema as the registry's SchemaRecord (so the pages show it like one of ours)."""
    from schemas.selectors import Reference, SchemaRecord

    registry_id = ref if isinstance(ref, int) else ref.registry_id
    row = _schema_row(registry_id, schema_id)
    references = tuple(Reference(r["name"], r["subject"], int(r["version"])) for r in row.references or [])
    return SchemaRecord(row.schema_id, _schema_type(row.schema_type), row.text, references)


def mirrored_parsed_schema(ref: MirrorRef | int, schema_id: int) -> ParsedSchema:
    """The mirrored schema with the texts of its references (resolved in the same mirror), for the format modules."""
    registry_id = ref if isinstance(ref, int) else ref.registry_id
    row = _schema_row(registry_id, schema_id)
    return ParsedSchema(_schema_type(row.schema_type), row.text, _reference_texts(registry_id, row.references or []))


def mirrored_live_parsed_versions(ref: MirrorRef, subject: str) -> tuple[list[ParsedSchema], list[int]]:
    rows = mirrored_subject_versions(ref, subject)
    return [mirrored_parsed_schema(ref, row.schema_id) for row in rows], [row.version for row in rows]


def _schema_type(value: str) -> SchemaType:
    try:
        return SchemaType(value.upper())
    except ValueError:
        return SchemaType.AVRO


def _reference_texts(registry_id: int, references: Sequence[dict[str, Any]]) -> dict[str, str]:
    """name -> text of every schema these references need, dependencies first (transitively), from the mirror."""
    texts: dict[str, str] = {}
    seen: set[tuple[str, int]] = set()

    def visit(reference: dict[str, Any]) -> None:
        key = (str(reference.get("subject")), int(reference.get("version") or 0))
        if key in seen:
            return
        seen.add(key)
        target = (
            MirroredVersion.objects.filter(subject__registry_id=registry_id, subject__name=key[0], version=key[1])
            .select_related("schema")
            .first()
        )
        if target is None:
            raise InvalidSchemaError(
                f"Invalid schema: reference {reference.get('name')!r} to subject {key[0]!r} version {key[1]} "
                "not found in the mirror"
            )
        for nested in target.schema.references or []:
            visit(nested)
        texts.setdefault(str(reference.get("name")), target.schema.text)

    for reference in references:
        visit(reference)
    return texts


def mirrored_prepare(ref: MirrorRef, *, schema_text: Any, schema_type: Any = None, references: Any = None):
    """A candidate schema for a mirrored subject, validated like `selectors.prepare_schema`, with its
    references resolved in the mirror (version -1 or "latest": the subject's newest mirrored version)."""
    from schemas.errors import InvalidVersionError
    from schemas.selectors import PreparedSchema, Reference, parse_schema_type, parse_version

    if not isinstance(schema_text, str) or not schema_text.strip():
        raise InvalidSchemaError("Invalid schema: the schema text is missing or empty")
    kind = parse_schema_type(schema_type)
    resolved: list[Reference] = []
    if references not in (None, []):
        if not isinstance(references, list):
            raise InvalidSchemaError("Invalid schema: references must be a list")
        for item in references:
            if not isinstance(item, dict) or not item.get("name") or not item.get("subject"):
                raise InvalidSchemaError("Invalid schema: each reference is an object with name, subject and version")
            try:
                spec = parse_version(item.get("version"))
            except InvalidVersionError:
                raise InvalidSchemaError(f"Invalid schema: reference {item['name']!r} has an invalid version") from None
            if spec == "latest":
                spec = (
                    MirroredVersion.objects.filter(subject__registry_id=ref.registry_id, subject__name=item["subject"])
                    .aggregate(top=Max("version"))
                    .get("top")
                )
                if spec is None:
                    raise InvalidSchemaError(f"Invalid schema: subject {item['subject']!r} has no mirrored versions")
            resolved.append(Reference(str(item["name"]), str(item["subject"]), int(spec)))
    parsed = ParsedSchema(kind, schema_text, _reference_texts(ref.registry_id, [r.as_dict() for r in resolved]))
    try:
        fingerprint = formats.fingerprint(parsed)
    except formats.SchemaParseError as exc:
        raise InvalidSchemaError(f"Invalid schema: {exc}") from None
    except (RecursionError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise InvalidSchemaError(f"Invalid schema: it could not be parsed ({type(exc).__name__})") from None
    if resolved:
        payload = json.dumps([fingerprint, [[r.name, r.subject, r.version] for r in resolved]])
        fingerprint = hashlib.sha256(payload.encode("utf-8")).hexdigest()
    return PreparedSchema(kind, schema_text, fingerprint, tuple(resolved), parsed)


def mirrored_version_holding(ref: MirrorRef, subject: str, prepared) -> int | None:
    """The mirrored version of `subject` whose schema is the same as `prepared` (by canonical form), if any."""
    for row in reversed(mirrored_subject_versions(ref, subject)):
        if row.schema_type != str(prepared.schema_type):
            continue
        try:
            same = formats.fingerprint(mirrored_parsed_schema(ref, row.schema_id)) == formats.fingerprint(
                prepared.parsed
            )
        except (formats.SchemaParseError, InvalidSchemaError):
            continue
        if same:
            return row.version
    return None


def mirrors_with_subjects(names: Iterable[str]) -> dict[str, list[str]]:
    """subject name -> names of the registries mirroring it (for links from catalog pages)."""
    found: dict[str, list[str]] = {}
    rows = MirroredSubject.objects.filter(Q(name__in=list(names))).values_list("name", "registry__name")
    for name, registry in rows.order_by("registry__name"):
        found.setdefault(name, []).append(registry)
    return found
