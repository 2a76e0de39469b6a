"""Compatibility levels: which reader/writer pairs a level checks, dispatched to the format modules.

Confluent's semantics (see the package docstring): BACKWARD means the new schema reads data written
with the latest version, FORWARD the reverse, FULL both; the *_TRANSITIVE levels check every
previous (not soft-deleted) version instead of only the latest one; NONE checks nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

from schemas.compatibility import CompatibilityLevel, Incompatibility, ParsedSchema, SchemaType

__all__ = ["check_compatibility", "reader_incompatibilities"]

ReaderCheck = Callable[[ParsedSchema, ParsedSchema], list[Incompatibility]]

# Module per format; imported on first use so a format module that is missing or broken only
# affects subjects of that format (the protobuf module is maintained separately).
_FORMAT_MODULES: dict[SchemaType, str] = {
    SchemaType.AVRO: "schemas.compatibility.avro",
    SchemaType.JSON: "schemas.compatibility.json_schema",
    SchemaType.PROTOBUF: "schemas.compatibility.protobuf",
}

_BACKWARD_LEVELS = {
    CompatibilityLevel.BACKWARD,
    CompatibilityLevel.BACKWARD_TRANSITIVE,
    CompatibilityLevel.FULL,
    CompatibilityLevel.FULL_TRANSITIVE,
}
_FORWARD_LEVELS = {
    CompatibilityLevel.FORWARD,
    CompatibilityLevel.FORWARD_TRANSITIVE,
    CompatibilityLevel.FULL,
    CompatibilityLevel.FULL_TRANSITIVE,
}
_TRANSITIVE_LEVELS = {
    CompatibilityLevel.BACKWARD_TRANSITIVE,
    CompatibilityLevel.FORWARD_TRANSITIVE,
    CompatibilityLevel.FULL_TRANSITIVE,
}


def reader_incompatibilities(reader: ParsedSchema, writer: ParsedSchema) -> list[Incompatibility]:
    """Why a consumer using `reader` cannot read data written with `writer`; other schema types: TYPE_CHANGED."""
    if reader.schema_type != writer.schema_type:
        return [_type_changed(writer.schema_type, reader.schema_type)]
    return _checker_for(reader.schema_type)(reader, writer)


def check_compatibility(
    new: ParsedSchema,
    previous: Sequence[ParsedSchema],
    level: CompatibilityLevel | str,
    previous_versions: Sequence[int] | None = None,
) -> list[Incompatibility]:
    """Every reason `new` breaks `level` against `previous` (the subject's live versions, oldest first).

    `previous_versions`, when given, holds the version numbers of `previous` (same order) and
    prefixes each message with the version it was found against ("version 3: ..."), because a
    transitive check can fail against an old version while passing against the latest one.
    """
    level = CompatibilityLevel(level)
    if level == CompatibilityLevel.NONE or not previous:
        return []
    if previous_versions is not None and len(previous_versions) != len(previous):
        raise ValueError(f"previous_versions has {len(previous_versions)} numbers for {len(previous)} schemas")

    labelled = list(zip(previous, previous_versions or [None] * len(previous), strict=True))
    # Confluent checks the newest version first; keep that order so the first message is about
    # the version a user most likely compares against.
    against = list(reversed(labelled)) if level in _TRANSITIVE_LEVELS else labelled[-1:]

    found: list[Incompatibility] = []
    check: ReaderCheck | None = None  # one per call: a format may share work between its pairs
    for old, version in against:
        if old.schema_type != new.schema_type:
            problems = [_type_changed(old.schema_type, new.schema_type)]
        else:
            if check is None:
                check = _session_for(new.schema_type)
            problems = []
            if level in _BACKWARD_LEVELS:
                problems += _explained(check(new, old), "the new schema reading old data")
            if level in _FORWARD_LEVELS:
                problems += _explained(check(old, new), "the old schema reading new data")
        found += [_with_version(problem, version) for problem in problems]
    return found


def _checker_for(schema_type: SchemaType) -> ReaderCheck:
    module = importlib.import_module(_FORMAT_MODULES[SchemaType(schema_type)])
    return module.reader_incompatibilities


def _session_for(schema_type: SchemaType) -> ReaderCheck:
    """The format's check for the pairs of one call: its `reader_check_session()` when it has one."""
    module = importlib.import_module(_FORMAT_MODULES[SchemaType(schema_type)])
    session = getattr(module, "reader_check_session", None)
    return session() if session is not None else module.reader_incompatibilities


def _type_changed(old: SchemaType, new: SchemaType) -> Incompatibility:
    return Incompatibility(
        kind="TYPE_CHANGED",
        path="/",
        message=f"the schema type changed from {old} to {new}; a subject's versions must keep one type",
    )


def _explained(problems: list[Incompatibility], direction: str) -> list[Incompatibility]:
    """Say which direction failed: under FULL the same rule can break either way."""
    return [Incompatibility(p.kind, p.path, f"{p.message} ({direction})") for p in problems]


def _with_version(problem: Incompatibility, version: int | None) -> Incompatibility:
    if version is None:
        return problem
    return Incompatibility(problem.kind, problem.path, f"version {version}: {problem.message}")
