"""What an external registry holds, as immutable plain data (no Django, no I/O).

A source returns a RegistrySnapshot of the registry's contents: its live versions, and apart from them
its soft-deleted versions (`deleted_versions`: still resolvable by id in the registry, so a migration
imports them; a mirror shows live versions only). Hard-deleted versions are left out. Schema texts,
of live and soft-deleted versions alike, are keyed by the registry's own global ids; a source may leave
out the texts of ids the caller says it already has (`known_schema_ids`), which is what makes repeated
mirroring cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "ExternalReference",
    "ExternalSchema",
    "ExternalVersion",
    "RegistrySnapshot",
    "RegistrySource",
    "RegistrySourceError",
]


class RegistrySourceError(Exception):
    """The registry could not be read: unreachable, refused the credentials, or answered nonsense.

    The message is for the user (it names the registry and what went wrong, never a secret).
    """


@dataclass(frozen=True)
class ExternalReference:
    """A schema reference as the Confluent API spells it: import name, subject and version."""

    name: str
    subject: str
    version: int


@dataclass(frozen=True)
class ExternalSchema:
    """One schema text under its global id in the external registry."""

    id: int
    schema: str
    schema_type: str = "AVRO"  # AVRO, JSON or PROTOBUF (Confluent omits the type for Avro)
    references: tuple[ExternalReference, ...] = ()


@dataclass(frozen=True)
class ExternalVersion:
    """One version of one subject, pointing at a schema id (live, or soft-deleted in `deleted_versions`)."""

    subject: str
    version: int
    schema_id: int


@dataclass(frozen=True)
class RegistrySnapshot:
    """The contents of an external registry at one moment: live versions, and soft-deleted ones apart."""

    versions: tuple[ExternalVersion, ...]
    # Texts by id (of live and soft-deleted versions); may omit ids listed in the caller's known_schema_ids.
    schemas: Mapping[int, ExternalSchema] = field(default_factory=dict)
    global_compatibility: str | None = None
    # Subjects with their own compatibility level (subjects without one inherit the global level).
    subject_compatibility: Mapping[str, str] = field(default_factory=dict)
    global_mode: str | None = None
    subject_modes: Mapping[str, str] = field(default_factory=dict)
    # Soft-deleted versions: gone from the subject's listing but their ids still resolve (GET /schemas/ids/{id}).
    # Hard-deleted versions are in neither tuple. A subject may have only soft-deleted versions.
    deleted_versions: tuple[ExternalVersion, ...] = ()

    @property
    def subjects(self) -> tuple[str, ...]:
        """Subjects with at least one live version."""
        return tuple(sorted({version.subject for version in self.versions}))

    @property
    def all_subjects(self) -> tuple[str, ...]:
        """Subjects with a live or a soft-deleted version."""
        return tuple(sorted({version.subject for version in (*self.versions, *self.deleted_versions)}))

    def versions_of(self, subject: str) -> tuple[ExternalVersion, ...]:
        return tuple(sorted((v for v in self.versions if v.subject == subject), key=lambda v: v.version))


class RegistrySource(Protocol):
    """Anything that can read an external registry's contents."""

    #: Shown to users as the source of mirrored subjects, e.g. "https://sr.example.com" or "_schemas on prod-eu".
    description: str

    def fetch(self, known_schema_ids: frozenset[int] = frozenset()) -> RegistrySnapshot:
        """Read the registry. Raises RegistrySourceError with a user-facing message."""
        ...
