"""Moving an existing registry into our own, keeping every schema id and version (Confluent's IMPORT mode).

Two layers:
- `plan_import` is pure: given what the source holds (a RegistrySnapshot, with the identity of each
  of its schemas as our registry computes it) and what our registry already holds, it lists what to
  import, in dependency order (a referenced version before the schemas that use it), what is already
  present, and every conflict: an id used here by another schema, a version here holding another
  schema, a schema here under another id, a reference the source does not hold.
- `import_snapshot` is the service: it reads our side, plans, and (unless a dry run, and only when
  there is no conflict) applies the plan in ONE transaction through the registry's own services:
  each subject is put in IMPORT mode, its versions are registered with their ids and versions (a
  version soft-deleted in the source is soft-deleted right after its registration, so its id still
  resolves here, as it does there), its previous mode is restored, the compatibility configs are
  copied, then the modes (a subject's own mode; the global mode when the whole registry is imported;
  never IMPORT itself). Anything refused rolls it all back. A second run finds everything present and
  changes nothing. The id allocator moves past the imported ids (`subject_register_version` does that
  for explicit ids).

Hard-deleted versions are not in a snapshot, so they are not imported (their ids stay unknown here).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from schemas import formats, selectors, services
from schemas.compatibility import ParsedSchema, SchemaType
from schemas.errors import RegistryError
from schemas.external.snapshot import ExternalReference, ExternalSchema, ExternalVersion, RegistrySnapshot
from schemas.models import Mode, Schema, Subject, SubjectVersion

# The stored identity of a schema with references (format fingerprint + reference list); the same
# function registration uses, so a planned identity is exactly what registering would compute.
from schemas.selectors import schema_identity

__all__ = [
    "ConfigAction",
    "Conflict",
    "ExistingRegistry",
    "ExistingVersion",
    "ImportInputError",
    "ImportPlan",
    "ImportResult",
    "ModeAction",
    "SchemaIdentity",
    "Status",
    "VersionAction",
    "import_snapshot",
    "plan_import",
]

_CHUNK = 500  # ids per IN (...) query: far below SQLite's variable limit


# ---------------------------------------------------------------------------------------------
# Plain data
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SchemaIdentity:
    """What makes two schemas the same schema in our registry: type and stored fingerprint."""

    schema_type: str
    fingerprint: str


@dataclass(frozen=True)
class ExistingVersion:
    schema_id: int
    deleted: bool = False


@dataclass(frozen=True)
class ExistingRegistry:
    """The part of our registry an import touches: schema ids, subject versions, compatibility levels."""

    schemas: Mapping[int, SchemaIdentity] = field(default_factory=dict)
    versions: Mapping[tuple[str, int], ExistingVersion] = field(default_factory=dict)
    global_compatibility: str = "BACKWARD"
    subject_compatibility: Mapping[str, str] = field(default_factory=dict)
    global_mode: str = "READWRITE"
    subject_modes: Mapping[str, str] = field(default_factory=dict)  # subjects with a mode of their own


class Status(enum.StrEnum):
    IMPORT = "import"
    PRESENT = "already present"
    CONFLICT = "conflict"


@dataclass(frozen=True)
class VersionAction:
    subject: str
    version: int
    schema_id: int
    schema_type: str
    status: Status
    deleted: bool = False  # soft-deleted in the source: imported, then soft-deleted here


@dataclass(frozen=True)
class ModeAction:
    """A mode to copy (after the versions are in): subject None is the global mode."""

    subject: str | None
    mode: str
    previous: str | None
    status: Status


@dataclass(frozen=True)
class ConfigAction:
    """A compatibility level to copy: subject None is the global level."""

    subject: str | None
    compatibility: str
    previous: str | None
    status: Status


@dataclass(frozen=True)
class Conflict:
    message: str
    subject: str | None = None
    version: int | None = None
    schema_id: int | None = None


@dataclass(frozen=True)
class ImportPlan:
    versions: tuple[VersionAction, ...]  # dependency order
    configs: tuple[ConfigAction, ...]
    conflicts: tuple[Conflict, ...]
    modes: tuple[ModeAction, ...] = ()

    @property
    def to_import(self) -> tuple[VersionAction, ...]:
        return tuple(action for action in self.versions if action.status == Status.IMPORT)

    @property
    def configs_to_set(self) -> tuple[ConfigAction, ...]:
        return tuple(action for action in self.configs if action.status == Status.IMPORT)

    @property
    def modes_to_set(self) -> tuple[ModeAction, ...]:
        return tuple(action for action in self.modes if action.status == Status.IMPORT)

    @property
    def to_import_deleted(self) -> tuple[VersionAction, ...]:
        """The versions to import as soft-deleted ones."""
        return tuple(action for action in self.to_import if action.deleted)

    @property
    def present(self) -> tuple[VersionAction, ...]:
        return tuple(action for action in self.versions if action.status == Status.PRESENT)

    @property
    def new_schema_ids(self) -> frozenset[int]:
        return frozenset(action.schema_id for action in self.to_import)


@dataclass(frozen=True)
class ImportResult:
    source: str
    plan: ImportPlan
    dry_run: bool
    applied: bool  # True when the plan was written (it had something to write and no conflict)


class ImportInputError(Exception):
    """The import was asked for something the source does not hold (an unknown subject)."""


# ---------------------------------------------------------------------------------------------
# The plan (pure)
# ---------------------------------------------------------------------------------------------
def _source_versions(snapshot: RegistrySnapshot) -> list[ExternalVersion]:
    """Live and soft-deleted versions alike (a version is one or the other)."""
    return [*snapshot.versions, *snapshot.deleted_versions]


def _selected_versions(snapshot: RegistrySnapshot, subjects: Iterable[str] | None) -> list[ExternalVersion]:
    """The versions (live and soft-deleted) of the chosen subjects (all when None) and, transitively, the
    versions they reference."""
    if subjects is None:
        return _source_versions(snapshot)
    by_key = {(v.subject, v.version): v for v in _source_versions(snapshot)}
    wanted = [v for v in _source_versions(snapshot) if v.subject in set(subjects)]
    chosen: dict[tuple[str, int], ExternalVersion] = {}
    while wanted:
        version = wanted.pop()
        if (version.subject, version.version) in chosen:
            continue
        chosen[(version.subject, version.version)] = version
        schema = snapshot.schemas.get(version.schema_id)
        for ref in schema.references if schema else ():
            target = by_key.get((ref.subject, ref.version))
            if target is not None:
                wanted.append(target)
    return list(chosen.values())


def plan_import(
    snapshot: RegistrySnapshot,
    existing: ExistingRegistry,
    *,
    identities: Mapping[int, SchemaIdentity | str],
    subjects: Sequence[str] | None = None,
    subject_problems: Mapping[str, str] | None = None,
) -> ImportPlan:
    """What importing `snapshot` into `existing` would do.

    `identities` maps each source schema id to its identity here, or to why it cannot be stored (a
    schema that does not parse); `subject_problems` names subjects our registry refuses. `subjects`
    limits the import to those subjects and the versions they reference. Configs: the subjects' own
    levels are copied, the global level only when the whole registry is imported; modes likewise
    (except IMPORT). Versions soft-deleted in the source are imported as soft-deleted versions; one
    already soft-deleted here with the same schema id is present.
    """
    subject_problems = subject_problems or {}
    selected = sorted(_selected_versions(snapshot, subjects), key=lambda v: (v.subject, v.version))
    source_keys = {(v.subject, v.version) for v in _source_versions(snapshot)}
    deleted_keys = {(v.subject, v.version) for v in snapshot.deleted_versions}
    conflicts: list[Conflict] = []
    statuses: dict[tuple[str, int], Status] = {}

    def conflict(version: ExternalVersion | None, message: str) -> None:
        conflicts.append(
            Conflict(
                message,
                subject=version.subject if version else None,
                version=version.version if version else None,
                schema_id=version.schema_id if version else None,
            )
        )
        if version is not None:
            statuses[(version.subject, version.version)] = Status.CONFLICT

    ids_here: dict[SchemaIdentity, int] = {identity: schema_id for schema_id, identity in existing.schemas.items()}
    # Two source ids that are one schema to us: we keep one id per schema, so the second cannot keep its id.
    first_id_of: dict[SchemaIdentity, int] = {}
    for schema_id in sorted({v.schema_id for v in selected}):
        identity = identities.get(schema_id)
        if isinstance(identity, SchemaIdentity):
            other = first_id_of.setdefault(identity, schema_id)
            if other != schema_id:
                conflicts.append(
                    Conflict(
                        f"Schema ids {other} and {schema_id} of the source are the same schema here (their texts "
                        "differ only in layout or key order); Eventscope keeps one id per schema.",
                        schema_id=schema_id,
                    )
                )

    live_here_by_subject: dict[tuple[str, int], int] = {
        (subject, version.schema_id): number
        for (subject, number), version in existing.versions.items()
        if not version.deleted
    }
    seen_in_subject: dict[tuple[str, int], int] = {}
    for version in selected:
        key = (version.subject, version.version)
        source_deleted = key in deleted_keys
        where = f"{version.subject} version {version.version} (id {version.schema_id}"
        where += ", soft-deleted)" if source_deleted else ")"
        schema = snapshot.schemas.get(version.schema_id)
        identity = identities.get(version.schema_id)
        ours = existing.versions.get(key)
        if version.subject in subject_problems:
            conflict(version, f"{where}: {subject_problems[version.subject]}")
            continue
        if schema is None:
            conflict(version, f"{where}: the source did not give the text of schema id {version.schema_id}.")
            continue
        if not isinstance(identity, SchemaIdentity):
            conflict(version, f"{where}: {identity or 'the schema could not be read'}")
            continue
        # Soft-deleted versions may repeat a schema of the subject (it was registered again after the delete).
        twin = (
            version.version
            if source_deleted
            else seen_in_subject.setdefault((version.subject, version.schema_id), version.version)
        )
        if twin != version.version:
            conflict(
                version,
                f"{where}: the same schema is also version {twin} of the subject; Eventscope keeps a schema "
                "live once per subject.",
            )
            continue
        here = existing.schemas.get(version.schema_id)
        if here is not None and here != identity:
            conflict(version, f"{where}: schema id {version.schema_id} is used here by a different schema.")
            continue
        same_here = ids_here.get(identity)
        if here is None and same_here is not None:
            conflict(version, f"{where}: this schema is registered here with id {same_here}, not {version.schema_id}.")
            continue
        if ours is not None:
            if ours.schema_id != version.schema_id:
                conflict(version, f"{where}: version {version.version} here holds schema id {ours.schema_id}.")
            elif source_deleted and not ours.deleted:
                conflict(
                    version,
                    f"{where}: this version is live here but soft-deleted in the source; soft-delete it here "
                    f"(DELETE /registry/subjects/{version.subject}/versions/{version.version}) or leave the subject "
                    "out.",
                )
            elif source_deleted:
                statuses[key] = Status.PRESENT  # soft-deleted here too, with the same schema
            elif ours.deleted:
                conflict(version, f"{where}: this version is soft-deleted here; delete it permanently or restore it.")
            else:
                statuses[key] = Status.PRESENT
            continue
        elsewhere = live_here_by_subject.get((version.subject, version.schema_id))
        if elsewhere is not None:
            conflict(version, f"{where}: the schema is already live here as version {elsewhere} of the subject.")
            continue
        missing = [
            ref
            for ref in schema.references
            if (ref.subject, ref.version) not in source_keys and (ref.subject, ref.version) not in existing.versions
        ]
        if missing:
            names = ", ".join(f"{ref.subject} version {ref.version}" for ref in missing)
            conflict(version, f"{where}: it references {names}, which neither the source nor Eventscope holds.")
            continue
        statuses[key] = Status.IMPORT

    ordered = _dependency_order(selected, snapshot, conflict)
    actions = tuple(
        VersionAction(
            subject=v.subject,
            version=v.version,
            schema_id=v.schema_id,
            schema_type=snapshot.schemas[v.schema_id].schema_type if v.schema_id in snapshot.schemas else "?",
            status=statuses.get((v.subject, v.version), Status.CONFLICT),
            deleted=(v.subject, v.version) in deleted_keys,
        )
        for v in ordered
    )
    modes = _mode_actions(snapshot, existing, selected, subjects, conflict)
    return ImportPlan(
        versions=actions,
        configs=_config_actions(snapshot, existing, selected, subjects),
        conflicts=tuple(conflicts),
        modes=modes,
    )


def _dependency_order(
    selected: list[ExternalVersion],
    snapshot: RegistrySnapshot,
    conflict: Callable[[ExternalVersion | None, str], None],
) -> list[ExternalVersion]:
    """Referenced versions first; otherwise by subject and version. A reference cycle is a conflict.

    Versions of a subject holding the same schema (a soft-deleted one and the later one that registered it
    again) keep their order: the registry would otherwise answer the live one for the earlier number.
    """
    by_key = {(v.subject, v.version): v for v in selected}
    same_schema: dict[tuple[str, int], list[ExternalVersion]] = {}
    for v in sorted(selected, key=lambda v: v.version):
        same_schema.setdefault((v.subject, v.schema_id), []).append(v)
    ordered: list[ExternalVersion] = []
    state: dict[tuple[str, int], str] = {}

    def visit(version: ExternalVersion) -> None:
        key = (version.subject, version.version)
        if state.get(key) == "done":
            return
        if state.get(key) == "visiting":
            conflict(version, f"{version.subject} version {version.version} is part of a reference cycle.")
            return
        state[key] = "visiting"
        for earlier in same_schema.get((version.subject, version.schema_id), ()):
            if earlier.version < version.version:
                visit(earlier)
        schema = snapshot.schemas.get(version.schema_id)
        for ref in schema.references if schema else ():
            target = by_key.get((ref.subject, ref.version))
            if target is not None:
                visit(target)
        state[key] = "done"
        ordered.append(version)

    for version in selected:
        visit(version)
    return ordered


def _config_actions(
    snapshot: RegistrySnapshot,
    existing: ExistingRegistry,
    selected: list[ExternalVersion],
    subjects: Sequence[str] | None,
) -> tuple[ConfigAction, ...]:
    actions = []
    if subjects is None and snapshot.global_compatibility:
        level, previous = snapshot.global_compatibility.upper(), existing.global_compatibility
        actions.append(ConfigAction(None, level, previous, Status.PRESENT if level == previous else Status.IMPORT))
    for subject in sorted({v.subject for v in selected}):
        level = snapshot.subject_compatibility.get(subject)
        if level:
            previous = existing.subject_compatibility.get(subject)
            status = Status.PRESENT if level.upper() == previous else Status.IMPORT
            actions.append(ConfigAction(subject, level.upper(), previous, status))
    return tuple(actions)


def _mode_actions(
    snapshot: RegistrySnapshot,
    existing: ExistingRegistry,
    selected: list[ExternalVersion],
    subjects: Sequence[str] | None,
    conflict: Callable[[ExternalVersion | None, str], None],
) -> tuple[ModeAction, ...]:
    """Modes to copy: the subjects' own, the global one only for a whole-registry import; never IMPORT, and
    never a READONLY global mode (the source frozen for the move)."""
    wanted: list[tuple[str | None, str, str | None]] = []
    if subjects is None and snapshot.global_mode:
        wanted.append((None, snapshot.global_mode.upper(), existing.global_mode))
    for subject in sorted({v.subject for v in selected}):
        mode = snapshot.subject_modes.get(subject)
        if mode:
            wanted.append((subject, mode.upper(), existing.subject_modes.get(subject)))
    actions = []
    for subject, mode, previous in wanted:
        if mode == Mode.IMPORT:
            continue  # the source is itself being imported into; that is no state to copy
        if subject is None and mode in (Mode.READONLY, Mode.READONLY_OVERRIDE):
            # A team freezes its old registry for the move; copied, that would refuse every producer
            # once they switch to Eventscope. A subject's own READONLY is a deliberate freeze and is copied.
            continue
        if mode not in Mode.values:
            conflict(
                None, f"The mode of {subject or 'the source registry'} is {mode!r}, which Eventscope does not know."
            )
            continue
        actions.append(ModeAction(subject, mode, previous, Status.PRESENT if mode == previous else Status.IMPORT))
    return tuple(actions)


# ---------------------------------------------------------------------------------------------
# Our side: identities of the source's schemas, and what our registry holds
# ---------------------------------------------------------------------------------------------
def _chunks(values: Iterable, size: int = _CHUNK) -> Iterable[list]:
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _our_text(subject: str, version: int) -> ExternalSchema | None:
    """A version of our registry as a source schema (its text and references), for reference resolution."""
    row = SubjectVersion.objects.filter(subject__name=subject, version=version).values_list("schema_id", flat=True)
    schema_id = row.first()
    if schema_id is None:
        return None
    record = selectors.schema_by_id(schema_id)
    return ExternalSchema(
        id=record.id,
        schema=record.text,
        schema_type=str(record.schema_type),
        references=tuple(_as_external_ref(ref) for ref in record.references),
    )


def _as_external_ref(ref: selectors.Reference) -> ExternalReference:
    return ExternalReference(name=ref.name, subject=ref.subject, version=ref.version)


def source_identities(snapshot: RegistrySnapshot, schema_ids: Iterable[int]) -> dict[int, SchemaIdentity | str]:
    """Each source schema's identity as our registry computes it, or why our registry would refuse it."""
    by_key = {(v.subject, v.version): v.schema_id for v in _source_versions(snapshot)}
    limit = settings.EVENTSCOPE_MAX_SCHEMA_BYTES

    def target(subject: str, version: int) -> ExternalSchema | None:
        schema_id = by_key.get((subject, version))
        if schema_id is not None and schema_id in snapshot.schemas:
            return snapshot.schemas[schema_id]
        return _our_text(subject, version)

    def reference_texts(schema: ExternalSchema) -> dict[str, str]:
        texts: dict[str, str] = {}
        seen: set[tuple[str, int]] = set()

        def visit(ref) -> None:
            if (ref.subject, ref.version) in seen:
                return
            seen.add((ref.subject, ref.version))
            found = target(ref.subject, ref.version)
            if found is None:
                raise LookupError(f"reference {ref.name!r} to {ref.subject} version {ref.version} is not available")
            for nested in found.references:
                visit(nested)
            texts.setdefault(ref.name, found.schema)

        for ref in schema.references:
            visit(ref)
        return texts

    identities: dict[int, SchemaIdentity | str] = {}
    for schema_id in schema_ids:
        schema = snapshot.schemas.get(schema_id)
        if schema is None:
            continue
        if len(schema.schema.encode("utf-8")) > limit:
            identities[schema_id] = f"the schema is larger than this registry's limit of {limit} bytes."
            continue
        try:
            kind = SchemaType(schema.schema_type)
            parsed = ParsedSchema(kind, schema.schema, reference_texts(schema))
            fingerprint = formats.fingerprint(parsed)
        except LookupError as exc:
            identities[schema_id] = f"{exc}."
            continue
        except ValueError as exc:  # SchemaParseError, or a schema type we do not know
            identities[schema_id] = f"the schema does not parse here: {exc}"
            continue
        except (RecursionError, TypeError, AttributeError) as exc:
            identities[schema_id] = f"the schema could not be parsed ({type(exc).__name__})."
            continue
        references = [selectors.Reference(r.name, r.subject, r.version) for r in schema.references]
        identities[schema_id] = SchemaIdentity(kind.value, schema_identity(fingerprint, references))
    return identities


def existing_registry(
    versions: Sequence[ExternalVersion], identities: Mapping[int, SchemaIdentity | str], snapshot: RegistrySnapshot
) -> ExistingRegistry:
    """What our registry holds of the ids, fingerprints and subjects (and referenced subjects) of `versions`."""
    ids = {v.schema_id for v in versions}
    fingerprints = {identity.fingerprint for identity in identities.values() if isinstance(identity, SchemaIdentity)}
    subjects = {v.subject for v in versions}
    for v in versions:
        schema = snapshot.schemas.get(v.schema_id)
        subjects.update(ref.subject for ref in (schema.references if schema else ()))

    schemas: dict[int, SchemaIdentity] = {}
    for chunk in _chunks(ids):
        for schema_id, kind, fingerprint in Schema.objects.filter(id__in=chunk).values_list(
            "id", "schema_type", "fingerprint"
        ):
            schemas[schema_id] = SchemaIdentity(kind, fingerprint)
    for chunk in _chunks(fingerprints):
        for schema_id, kind, fingerprint in Schema.objects.filter(fingerprint__in=chunk).values_list(
            "id", "schema_type", "fingerprint"
        ):
            schemas[schema_id] = SchemaIdentity(kind, fingerprint)

    ours: dict[tuple[str, int], ExistingVersion] = {}
    compatibility: dict[str, str] = {}
    modes: dict[str, str] = {}
    for chunk in _chunks(subjects):
        for name, number, schema_id, deleted_at in SubjectVersion.objects.filter(subject__name__in=chunk).values_list(
            "subject__name", "version", "schema_id", "deleted_at"
        ):
            ours[(name, number)] = ExistingVersion(schema_id, deleted_at is not None)
        for name, level in (
            Subject.objects.filter(name__in=chunk).exclude(compatibility="").values_list("name", "compatibility")
        ):
            compatibility[name] = level
        modes.update(Subject.objects.filter(name__in=chunk).exclude(mode="").values_list("name", "mode"))
    global_config = selectors.global_config()
    return ExistingRegistry(
        schemas=schemas,
        versions=ours,
        global_compatibility=str(global_config.compatibility),
        subject_compatibility=compatibility,
        global_mode=str(global_config.mode),
        subject_modes=modes,
    )


# ---------------------------------------------------------------------------------------------
# The service
# ---------------------------------------------------------------------------------------------
Progress = Callable[[str], None]


def _subject_problem(name: str) -> str | None:
    try:
        selectors.validate_subject_name(name)
    except RegistryError as exc:
        return f"Eventscope refuses this subject name: {exc.message}"
    return None


def import_snapshot(
    snapshot: RegistrySnapshot,
    *,
    dry_run: bool,
    subjects: Sequence[str] | None = None,
    source: str = "",
    progress: Progress | None = None,
) -> ImportResult:
    """Plan the import of `snapshot` and, unless a dry run or a conflict, apply it in one transaction.

    Raises ImportInputError for a requested subject the source does not hold, and RegistryError when
    our registry refuses a write while applying (then nothing is stored).
    """
    say = progress or (lambda message: None)
    if subjects is not None:
        unknown = sorted(set(subjects) - set(snapshot.all_subjects))
        if unknown:
            raise ImportInputError(f"The source has no subject {', '.join(unknown)}.")
    selected = _selected_versions(snapshot, subjects)
    say(f"Checking {len({v.schema_id for v in selected})} schemas of {len(selected)} versions against this registry")
    identities = source_identities(snapshot, {v.schema_id for v in selected})
    existing = existing_registry(selected, identities, snapshot)
    problems = {name: problem for name in {v.subject for v in selected} if (problem := _subject_problem(name))}
    plan = plan_import(snapshot, existing, identities=identities, subjects=subjects, subject_problems=problems)
    applied = False
    if not dry_run and not plan.conflicts and (plan.to_import or plan.configs_to_set or plan.modes_to_set):
        try:
            _apply(plan, snapshot, say)
        finally:
            # A rolled-back transaction may have left ids in this process's schema caches.
            selectors.schema_caches_clear()
        applied = True
    return ImportResult(source=source, plan=plan, dry_run=dry_run, applied=applied)


def _apply(plan: ImportPlan, snapshot: RegistrySnapshot, say: Progress) -> None:
    to_import = plan.to_import
    subjects = sorted({action.subject for action in to_import})
    with transaction.atomic():
        previous_modes = dict(Subject.objects.filter(name__in=subjects).values_list("name", "mode"))
        for subject in subjects:
            services.mode_set(mode=Mode.IMPORT, subject=subject, force=True)
        for number, action in enumerate(to_import, start=1):
            schema = snapshot.schemas[action.schema_id]
            as_deleted = " as soft-deleted" if action.deleted else ""
            say(
                f"[{number}/{len(to_import)}] {action.subject} version {action.version} (id {action.schema_id})"
                f"{as_deleted}"
            )
            registration = services.subject_register_version(
                subject=action.subject,
                schema_text=schema.schema,
                schema_type=schema.schema_type,
                references=[{"name": r.name, "subject": r.subject, "version": r.version} for r in schema.references],
                normalize=False,  # keep the source's text as it is: clients compare and parse it
                id=action.schema_id,
                version=action.version,
            )
            if (registration.schema_id, registration.version) != (action.schema_id, action.version):
                raise RegistryError(
                    f"{action.subject} version {action.version} was stored as version {registration.version} "
                    f"with id {registration.schema_id}; nothing was imported."
                )
            if action.deleted:
                # Right away: a later version of the subject may hold the same schema again.
                services.subject_version_delete(subject=action.subject, version=action.version)
        for subject in subjects:
            previous = previous_modes.get(subject) or ""
            if previous:
                services.mode_set(mode=previous, subject=subject, force=True)
            else:
                services.mode_delete(subject=subject)
        for config in plan.configs_to_set:
            where = config.subject or "the global level"
            say(f"compatibility of {where}: {config.compatibility}")
            services.config_set(subject=config.subject, compatibility=config.compatibility)
        # Modes last, subjects before the global one: a READONLY mode would refuse the writes above.
        for mode in sorted(plan.modes_to_set, key=lambda action: action.subject is None):
            say(f"mode of {mode.subject or 'the registry'}: {mode.mode}")
            services.mode_set(mode=mode.mode, subject=mode.subject)
