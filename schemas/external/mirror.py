"""The mirror: apply a RegistrySnapshot to an external registry's Mirrored* rows, and one sync run end to end.

`mirror_apply` writes only what changed, in one transaction: new schema texts, subjects that appeared or
went, versions that appeared, went (soft or permanent delete in the registry) or now point at another id,
and changed compatibility levels and modes; the global search's documents of the subjects it added, changed
or removed follow in the same transaction. A snapshot equal to the mirror writes nothing. Schema texts stay
when their versions go (an id keeps its meaning, as in the registry, so old records still decode). The
snapshot's soft-deleted versions (`deleted_versions`) are not mirrored as versions (the mirror shows live
ones), but their schema texts are stored like any other, so records written with them decode too.

`external_registry_sync` reads the registry through its source (passing the ids already held, so their
texts are not fetched again), applies the snapshot and records the outcome on the registry row; a source
error is recorded as `last_error` and returned, never raised.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, fields

from django.db import transaction
from django.utils import timezone

from schemas.models_external import ExternalRegistry, MirroredSchema, MirroredSubject, MirroredVersion

from .snapshot import RegistrySnapshot, RegistrySource, RegistrySourceError

__all__ = ["MirrorCounts", "SyncResult", "external_registry_source", "external_registry_sync", "mirror_apply"]

logger = logging.getLogger(__name__)


@dataclass
class MirrorCounts:
    schemas_added: int = 0
    subjects_added: int = 0
    subjects_updated: int = 0
    subjects_deleted: int = 0
    versions_added: int = 0
    versions_changed: int = 0
    versions_deleted: int = 0
    config_changed: int = 0

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))

    def summary(self) -> str:
        if not self.total:
            return "no changes"
        parts = [f"{getattr(self, f.name)} {f.name.replace('_', ' ')}" for f in fields(self) if getattr(self, f.name)]
        return ", ".join(parts)

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class SyncResult:
    registry: str
    ok: bool
    counts: MirrorCounts
    error: str = ""
    subjects: int = 0
    versions: int = 0
    duration_ms: int = 0


class MirrorError(RegistrySourceError):
    """The snapshot is inconsistent (a version points at an id whose text is neither held nor given)."""


@transaction.atomic
def mirror_apply(*, registry: ExternalRegistry, snapshot: RegistrySnapshot) -> MirrorCounts:
    """Bring the registry's mirror in step with `snapshot`; returns what changed."""
    counts = MirrorCounts()
    # Lock the registry row: two syncs of one registry (beat and "sync now") apply one after the other.
    ExternalRegistry.objects.select_for_update().filter(pk=registry.pk).first()

    # -- schema texts ------------------------------------------------------------------------------
    held = dict(MirroredSchema.objects.filter(registry=registry).values_list("schema_id", "pk"))
    wanted_ids = {version.schema_id for version in snapshot.versions}
    missing = sorted(wanted_ids - set(held) - set(snapshot.schemas))
    if missing:
        raise MirrorError(f"The registry listed schema ids without their texts: {', '.join(map(str, missing[:10]))}")
    new_rows = [
        MirroredSchema(
            registry=registry,
            schema_id=schema.id,
            schema_type=(schema.schema_type or "AVRO").upper(),
            text=schema.schema,
            references=[{"name": r.name, "subject": r.subject, "version": r.version} for r in schema.references],
        )
        for schema_id, schema in sorted(snapshot.schemas.items())
        if schema_id not in held
    ]
    if new_rows:
        MirroredSchema.objects.bulk_create(new_rows)
        held.update(
            MirroredSchema.objects.filter(registry=registry, schema_id__in=[r.schema_id for r in new_rows]).values_list(
                "schema_id", "pk"
            )
        )
        counts.schemas_added = len(new_rows)

    # -- subjects ------------------------------------------------------------------------------------
    subjects = {row.name: row for row in MirroredSubject.objects.filter(registry=registry)}
    live = set(snapshot.subjects)
    gone = [row.pk for name, row in subjects.items() if name not in live]
    # Subjects whose search document may change: added, or a version added, changed or gone (its fields).
    touched: set[str] = set()
    if gone:
        counts.versions_deleted, _ = MirroredVersion.objects.filter(subject_id__in=gone).delete()
        MirroredSubject.objects.filter(pk__in=gone).delete()
        counts.subjects_deleted = len(gone)
    for name in sorted(live):
        compatibility = snapshot.subject_compatibility.get(name, "") or ""
        mode = snapshot.subject_modes.get(name, "") or ""
        row = subjects.get(name)
        if row is None:
            subjects[name] = MirroredSubject.objects.create(
                registry=registry, name=name, compatibility=compatibility, mode=mode
            )
            counts.subjects_added += 1
            touched.add(name)
        elif (row.compatibility, row.mode) != (compatibility, mode):
            MirroredSubject.objects.filter(pk=row.pk).update(compatibility=compatibility, mode=mode)
            counts.subjects_updated += 1

    # -- versions ------------------------------------------------------------------------------------
    existing = {
        (subject_name, version): (pk, schema_pk)
        for pk, subject_name, version, schema_pk in MirroredVersion.objects.filter(
            subject__registry=registry
        ).values_list("pk", "subject__name", "version", "schema_id")
    }
    wanted = {(v.subject, v.version): held[v.schema_id] for v in snapshot.versions}
    stale = [pk for key, (pk, _) in existing.items() if key not in wanted]
    touched.update(subject_name for subject_name, version in existing if (subject_name, version) not in wanted)
    if stale:
        MirroredVersion.objects.filter(pk__in=stale).delete()
        counts.versions_deleted += len(stale)
    to_add = []
    for (subject_name, version), schema_pk in sorted(wanted.items()):
        found = existing.get((subject_name, version))
        if found is None:
            to_add.append(MirroredVersion(subject=subjects[subject_name], version=version, schema_id=schema_pk))
            touched.add(subject_name)
        elif found[1] != schema_pk:  # the number was re-used after a permanent delete
            MirroredVersion.objects.filter(pk=found[0]).update(schema_id=schema_pk)
            counts.versions_changed += 1
            touched.add(subject_name)
    if to_add:
        MirroredVersion.objects.bulk_create(to_add)
        counts.versions_added = len(to_add)

    # -- registry-wide config ------------------------------------------------------------------------
    config = {"global_compatibility": snapshot.global_compatibility or "", "global_mode": snapshot.global_mode or ""}
    if any(getattr(registry, key) != value for key, value in config.items()):
        ExternalRegistry.objects.filter(pk=registry.pk).update(**config)
        for key, value in config.items():
            setattr(registry, key, value)
        counts.config_changed = 1

    # -- the global search ----------------------------------------------------------------------------
    # Bulk writes send no signals: index what changed here, in this transaction (a failed sync leaves the
    # index as it was). Subjects that went lose their documents; an unchanged sync touches nothing.
    reindex = gone + [subjects[name].pk for name in touched if name in live]
    if reindex:
        from catalog.search import Kind, search_index_bulk_update

        search_index_bulk_update(Kind.MIRRORED_SUBJECT, reindex)
    return counts


def external_registry_source(registry: ExternalRegistry, *, timeout_s: float = 10) -> RegistrySource:
    """The source that reads this registry (REST client, or the reader of its storage topic)."""
    if registry.source_kind == ExternalRegistry.SourceKind.STORAGE_TOPIC:
        if registry.cluster is None:
            raise RegistrySourceError(f"{registry.name}: a storage-topic source needs a cluster.")
        # Imported here: the storage-topic reader loads the Kafka gateway, which a REST mirror does not need.
        from .storage_topic import StorageTopicSource

        return StorageTopicSource(registry.cluster.connection(), topic=registry.topic or "_schemas")
    from .rest import RestRegistrySource

    secret = registry.secret()
    basic = registry.auth_kind == ExternalRegistry.AuthKind.BASIC
    bearer = registry.auth_kind == ExternalRegistry.AuthKind.BEARER
    return RestRegistrySource(
        registry.url,
        username=registry.username if basic else None,
        password=secret if basic else None,
        bearer_token=secret if bearer else None,
        ca_pem=registry.ca_pem or None,
        timeout_s=timeout_s,
    )


def external_registry_sync(
    *, registry_id: int, progress: Callable[[str], None] | None = None, timeout_s: float = 10
) -> SyncResult:
    """One sync: read the registry, apply the snapshot, record the outcome on the row. Never raises a source error."""
    registry = ExternalRegistry.objects.select_related("cluster").get(pk=registry_id)
    started = time.monotonic()
    say = progress or (lambda _message: None)
    source = None
    try:
        source = external_registry_source(registry, timeout_s=timeout_s)
        known = frozenset(MirroredSchema.objects.filter(registry=registry).values_list("schema_id", flat=True))
        say(f"{registry.name}: reading {source.description} ({len(known)} schema texts already held)")
        snapshot = source.fetch(known)
        say(f"{registry.name}: {len(snapshot.subjects)} subjects, {len(snapshot.versions)} versions; applying")
        counts = mirror_apply(registry=registry, snapshot=snapshot)
    except RegistrySourceError as exc:
        error = str(exc) or type(exc).__name__
        now = timezone.now()
        ExternalRegistry.objects.filter(pk=registry.pk).update(last_error=error, last_attempt_at=now)
        logger.warning("external registry %s: sync failed: %s", registry.name, error)
        return SyncResult(registry.name, False, MirrorCounts(), error, duration_ms=_ms(started))
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()
    now = timezone.now()
    ExternalRegistry.objects.filter(pk=registry.pk).update(
        last_error="", last_synced_at=now, last_attempt_at=now, last_sync_summary=counts.summary()[:500]
    )
    logger.info("external registry %s: synced: %s", registry.name, counts.summary())
    return SyncResult(
        registry.name,
        True,
        counts,
        subjects=len(snapshot.subjects),
        versions=len(snapshot.versions),
        duration_ms=_ms(started),
    )


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
