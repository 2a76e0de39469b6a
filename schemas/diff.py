"""Field-level diff of two schemas (added, removed, renamed, type/default/doc/required changed) and a text diff.

Pure functions over `ParsedSchema` and `FieldInfo` (no Django, no I/O), built on `formats.field_paths`, so
every format the registry knows diffs the same way. The subject pages show these; compatibility verdicts
come from `schemas.compatibility`, never from here: a diff says what changed, not whether it breaks readers.

Renames are a guess, shown as such: a removed and an added field under the same parent, with the same type,
whose names are declared aliases (Avro `aliases`) or look alike (same letters ignoring case and separators,
or a close spelling). Fields under a renamed record follow their parent.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from schemas import formats
from schemas.compatibility import ParsedSchema, SchemaType
from schemas.formats import FieldInfo

__all__ = [
    "ADDED",
    "CHANGE_KINDS",
    "DEFAULT_CHANGED",
    "DOC_CHANGED",
    "REMOVED",
    "RENAMED",
    "REQUIRED_CHANGED",
    "TYPE_CHANGED",
    "FieldChange",
    "SchemaDiff",
    "field_diff",
    "pretty_text",
    "schema_diff",
    "unified_text_diff",
]

ADDED = "added"
REMOVED = "removed"
RENAMED = "renamed"
TYPE_CHANGED = "type changed"
DEFAULT_CHANGED = "default changed"
DOC_CHANGED = "doc changed"
REQUIRED_CHANGED = "required changed"
CHANGE_KINDS = (ADDED, REMOVED, RENAMED, TYPE_CHANGED, DEFAULT_CHANGED, DOC_CHANGED, REQUIRED_CHANGED)

# How alike two names must be (difflib ratio) to count as a likely rename when no alias says so.
SIMILAR_NAME_RATIO = 0.8
_NO_DEFAULT = object()


@dataclass(frozen=True)
class FieldChange:
    """One change of one field. `old`/`new` are the values people compare (a type, a default as JSON, a doc).

    For a rename, `path` is the new path and `old_path` the removed one; `reason` says why it looks like one.
    """

    kind: str
    path: str
    old: str | None = None
    new: str | None = None
    old_path: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class SchemaDiff:
    changes: tuple[FieldChange, ...]

    def __bool__(self) -> bool:
        return bool(self.changes)

    def of_kind(self, kind: str) -> list[FieldChange]:
        return [change for change in self.changes if change.kind == kind]

    @property
    def counts(self) -> dict[str, int]:
        """Changes per kind, in CHANGE_KINDS order, kinds without changes left out."""
        counts = {kind: len(self.of_kind(kind)) for kind in CHANGE_KINDS}
        return {kind: count for kind, count in counts.items() if count}


# ---------------------------------------------------------------------------------------------
# Field diff
# ---------------------------------------------------------------------------------------------
def schema_diff(old: ParsedSchema, new: ParsedSchema) -> SchemaDiff:
    """What changed field by field from `old` to `new`; raises formats.SchemaParseError when one does not parse."""
    aliases = _avro_aliases(new) if new.schema_type == SchemaType.AVRO else {}
    return field_diff(formats.field_paths(old), formats.field_paths(new), aliases=aliases)


def field_diff(
    old_fields: Sequence[FieldInfo], new_fields: Sequence[FieldInfo], *, aliases: dict[str, set[str]] | None = None
) -> SchemaDiff:
    """Diff two flattened field lists; `aliases` maps a new field's name to the old names it declares."""
    old_by_path = {field.path: field for field in old_fields}
    new_by_path = {field.path: field for field in new_fields}
    removed = [path for path in old_by_path if path not in new_by_path]
    added = [path for path in new_by_path if path not in old_by_path]
    renames = _renames(removed, added, old_by_path, new_by_path, aliases or {})

    changes: list[FieldChange] = []
    renamed_old = {old_path for old_path, _, _ in renames}
    renamed_new = {new_path for _, new_path, _ in renames}
    for path in removed:
        if path not in renamed_old:
            changes.append(FieldChange(REMOVED, path, old=old_by_path[path].type))
    for path in added:
        if path not in renamed_new:
            field = new_by_path[path]
            changes.append(FieldChange(ADDED, path, new=field.type))
    for old_path, new_path, reason in renames:
        changes.append(FieldChange(RENAMED, new_path, old=old_path, new=new_path, old_path=old_path, reason=reason))
        changes.extend(_field_changes(old_by_path[old_path], new_by_path[new_path], new_path))
    for path, new_field in new_by_path.items():
        if path in old_by_path:
            changes.extend(_field_changes(old_by_path[path], new_field, path))

    order: dict[str, int] = {}
    for path in [*new_by_path, *old_by_path]:  # new declaration order; removed fields after
        order.setdefault(path, len(order))
    changes.sort(key=lambda change: (order.get(change.path, len(order)), CHANGE_KINDS.index(change.kind)))
    return SchemaDiff(tuple(changes))


def _field_changes(old: FieldInfo, new: FieldInfo, path: str) -> Iterator[FieldChange]:
    if old.type != new.type:
        yield FieldChange(TYPE_CHANGED, path, old=old.type, new=new.type)
    old_default, new_default = _default(old), _default(new)
    if old_default != new_default:
        yield FieldChange(DEFAULT_CHANGED, path, old=_default_text(old_default), new=_default_text(new_default))
    if (old.doc or "") != (new.doc or ""):
        yield FieldChange(DOC_CHANGED, path, old=old.doc or "", new=new.doc or "")
    if old.required != new.required:
        yield FieldChange(REQUIRED_CHANGED, path, old=_yes_no(old.required), new=_yes_no(new.required))


def _default(field: FieldInfo) -> Any:
    # Compared as canonical JSON: 1 and 1.0, or dicts in another key order, are the same default.
    if not field.has_default:
        return _NO_DEFAULT
    return json.dumps(field.default, sort_keys=True, default=str)


def _default_text(value: Any) -> str:
    return "(none)" if value is _NO_DEFAULT else value


def _yes_no(value: bool) -> str:
    return "required" if value else "optional"


# ---------------------------------------------------------------------------------------------
# Likely renames
# ---------------------------------------------------------------------------------------------
def _split(path: str) -> tuple[str, str]:
    """(parent, name) of a field path; "[]" and "{}" stay with the parent ("lines[].sku" -> "lines[]", "sku")."""
    parent, _, name = path.rpartition(".")
    return parent, name


def _squashed(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _rename_reason(old_name: str, new_name: str, aliases: dict[str, set[str]]) -> tuple[int, str] | None:
    """(strength, reason) when `new_name` looks like a rename of `old_name`; higher strength wins."""
    if old_name in aliases.get(new_name, set()):
        return 3, f"declares alias {old_name}"
    if _squashed(old_name) == _squashed(new_name):
        return 2, "same name apart from case and separators"
    ratio = difflib.SequenceMatcher(None, old_name.lower(), new_name.lower()).ratio()
    if ratio >= SIMILAR_NAME_RATIO:
        return 1, f"similar name ({ratio:.0%} alike)"
    return None


def _renames(
    removed: list[str],
    added: list[str],
    old_by_path: dict[str, FieldInfo],
    new_by_path: dict[str, FieldInfo],
    aliases: dict[str, set[str]],
) -> list[tuple[str, str, str]]:
    """(old path, new path, reason) pairs, each field in at most one pair; shallow fields first."""
    renames: list[tuple[str, str, str]] = []
    moved: dict[str, str] = {}  # old parent path -> new parent path, for the fields under a renamed record
    free_new = set(added)
    for old_path in sorted(removed, key=lambda path: (path.count("."), removed.index(path))):
        parent, old_name = _split(old_path)
        target_parent = moved.get(parent, parent)
        if parent in moved:
            follower = f"{target_parent}.{old_name}" if target_parent else old_name
            if follower in free_new:
                renames.append((old_path, follower, "its parent was renamed"))
                free_new.discard(follower)
                moved[old_path] = follower
            continue
        best: tuple[int, float, str, str] | None = None
        for new_path in added:
            if new_path not in free_new:
                continue
            new_parent, new_name = _split(new_path)
            if new_parent != target_parent or new_by_path[new_path].type != old_by_path[old_path].type:
                continue
            found = _rename_reason(old_name, new_name, aliases)
            if found is None:
                continue
            strength, reason = found
            ratio = difflib.SequenceMatcher(None, old_name, new_name).ratio()
            if best is None or (strength, ratio) > best[:2]:
                best = (strength, ratio, new_path, reason)
        if best is not None:
            renames.append((old_path, best[2], best[3]))
            free_new.discard(best[2])
            moved[old_path] = best[2]
    return renames


def _avro_aliases(schema: ParsedSchema) -> dict[str, set[str]]:
    """Field name -> the aliases declared for it anywhere in an Avro schema (and its references)."""
    found: dict[str, set[str]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            fields = node.get("fields")
            if isinstance(fields, list):
                for field in fields:
                    if isinstance(field, dict) and isinstance(field.get("name"), str):
                        names = field.get("aliases")
                        if isinstance(names, list):
                            found.setdefault(field["name"], set()).update(a for a in names if isinstance(a, str))
            for value in node.values():
                walk(value)

    for text in (*schema.references.values(), schema.text):
        try:
            walk(json.loads(text))
        except ValueError:
            continue  # field_paths reports an unparsable schema; aliases are only a hint
    return found


# ---------------------------------------------------------------------------------------------
# Text diff
# ---------------------------------------------------------------------------------------------
def pretty_text(schema_type: str, text: str) -> str:
    """A schema text laid out for reading: JSON (Avro, JSON Schema) indented by two; Protobuf as given."""
    if schema_type in (SchemaType.AVRO, SchemaType.JSON):
        try:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            return text
    return text


def unified_text_diff(old_text: str, new_text: str, *, old_label: str, new_label: str, context: int = 3) -> list[str]:
    """The lines of a unified diff (difflib) between two texts; empty when they are equal."""
    return [
        line.rstrip("\n")
        for line in difflib.unified_diff(
            old_text.splitlines(), new_text.splitlines(), fromfile=old_label, tofile=new_label, n=context, lineterm=""
        )
    ]
