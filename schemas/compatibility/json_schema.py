"""JSON Schema compatibility with Confluent's rules: can a reader's schema accept every document the writer's accepts?

No library implements these rules, so this follows the behaviour of Confluent Schema Registry's
JSON Schema diff (`io.confluent.kafka.schemaregistry.json.diff`), written from its documented
difference types: the writer's schema is compared with the reader's, every difference gets a type
(`MAX_LENGTH_DECREASED`, `PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL`, ...) and the change is
compatible when every difference is in `COMPATIBLE_CHANGES`. Only the incompatible differences are
reported, with JSON-pointer paths into the schemas ("#/properties/amount/maximum").

Schemas are first typed the way Confluent's loader (everit) types them, because the rules compare
those types: `{"type": "string"}` is a string schema, `{"type": ["string", "null"]}` an anyOf of a
string and a null schema, a schema that mixes a type with `enum`, `not` or a combinator an allOf of
those parts, `true`/`{}` the empty schema that accepts everything, and `$ref` is followed.

The content model decides what adding or removing a property means: an object is open when it
allows any additional property (`additionalProperties` absent or true, no `patternProperties`),
closed when `additionalProperties` is false, and partially open when `additionalProperties` is a
schema or `patternProperties` match the property; then the property's schema is compared with the
schema that covered it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from schemas.compatibility import Incompatibility, ParsedSchema
from schemas.formats.json_schema import Subschema, parse_schema

__all__ = ["COMPATIBLE_CHANGES", "reader_incompatibilities"]

# Confluent's list of compatible difference types (SchemaDiff.COMPATIBLE_CHANGES); any other
# difference makes the change incompatible. The four *_CONTAINS entries are ours: Confluent
# reports those differences but lists none of them as compatible, although relaxing a
# `maxContains`/`minContains` limit is as safe as relaxing `maxItems`/`minItems`.
COMPATIBLE_CHANGES = frozenset(
    {
        "ID_CHANGED",
        "DESCRIPTION_CHANGED",
        "TITLE_CHANGED",
        "DEFAULT_CHANGED",
        "SCHEMA_REMOVED",
        "TYPE_EXTENDED",
        "MAX_LENGTH_INCREASED",
        "MAX_LENGTH_REMOVED",
        "MIN_LENGTH_DECREASED",
        "MIN_LENGTH_REMOVED",
        "PATTERN_REMOVED",
        "MAXIMUM_INCREASED",
        "MAXIMUM_REMOVED",
        "MINIMUM_DECREASED",
        "MINIMUM_REMOVED",
        "EXCLUSIVE_MAXIMUM_INCREASED",
        "EXCLUSIVE_MAXIMUM_REMOVED",
        "EXCLUSIVE_MINIMUM_DECREASED",
        "EXCLUSIVE_MINIMUM_REMOVED",
        "MULTIPLE_OF_REDUCED",
        "MULTIPLE_OF_REMOVED",
        "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED",
        "REQUIRED_ATTRIBUTE_REMOVED",
        "DEPENDENCY_ARRAY_NARROWED",
        "DEPENDENCY_ARRAY_REMOVED",
        "DEPENDENCY_SCHEMA_REMOVED",
        "MAX_PROPERTIES_INCREASED",
        "MAX_PROPERTIES_REMOVED",
        "MIN_PROPERTIES_DECREASED",
        "MIN_PROPERTIES_REMOVED",
        "ADDITIONAL_PROPERTIES_ADDED",
        "ADDITIONAL_PROPERTIES_EXTENDED",
        "PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL",
        "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL",
        "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL",
        "PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL",
        "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL",
        "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
        "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
        "MAX_ITEMS_INCREASED",
        "MAX_ITEMS_REMOVED",
        "MIN_ITEMS_DECREASED",
        "MIN_ITEMS_REMOVED",
        "MAX_CONTAINS_INCREASED",
        "MAX_CONTAINS_REMOVED",
        "MIN_CONTAINS_DECREASED",
        "MIN_CONTAINS_REMOVED",
        "UNIQUE_ITEMS_REMOVED",
        "ADDITIONAL_ITEMS_ADDED",
        "ADDITIONAL_ITEMS_EXTENDED",
        "ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL",
        "ITEM_ADDED_TO_CLOSED_CONTENT_MODEL",
        "ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL",
        "ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL",
        "ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
        "ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
        "ENUM_ARRAY_EXTENDED",
        "COMBINED_TYPE_EXTENDED",
        "PRODUCT_TYPE_NARROWED",
        "SUM_TYPE_EXTENDED",
        "NOT_TYPE_NARROWED",
    }
)


def reader_incompatibilities(reader: ParsedSchema, writer: ParsedSchema) -> list[Incompatibility]:
    """Why a document valid under `writer` may be refused by `reader` (empty when it never is)."""
    loader = _Loader()
    original = loader.load(parse_schema(writer))
    update = loader.load(parse_schema(reader))
    found = [
        Incompatibility(kind=difference.kind, path=_pointer(difference.path), message=difference.message)
        for difference in _Differ(loader).diff(original, update)
        if difference.kind not in COMPATIBLE_CHANGES
    ]
    return list(dict.fromkeys(found))


# ---------------------------------------------------------------------------------------------
# Typing schemas the way the rules see them

EMPTY, FALSE, STRING, NUMBER, BOOLEAN, NULL, OBJECT, ARRAY, ENUM, NOT, COMBINED = (
    "empty",
    "false",
    "string",
    "number",
    "boolean",
    "null",
    "object",
    "array",
    "enum",
    "not",
    "combined",
)
ALL_OF, ANY_OF, ONE_OF = "allOf", "anyOf", "oneOf"

_KIND_OF_TYPE = {
    "string": STRING,
    "integer": NUMBER,
    "number": NUMBER,
    "boolean": BOOLEAN,
    "null": NULL,
    "object": OBJECT,
    "array": ARRAY,
}

# Without "type", the keywords present say which types a schema constrains.
_KEYWORDS_OF_KIND = {
    STRING: ("minLength", "maxLength", "pattern"),
    NUMBER: ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"),
    OBJECT: (
        "properties",
        "required",
        "additionalProperties",
        "patternProperties",
        "minProperties",
        "maxProperties",
        "dependencies",
        "dependentRequired",
        "dependentSchemas",
        "propertyNames",
    ),
    ARRAY: ("items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems", "contains"),
}


@dataclass(eq=False)
class _Node:
    """A typed subschema: a kind, the JSON it reads its keywords from, and its parts when combined.

    `synthetic` marks a combination the loader made (a type list, or a type next to `enum`): its
    parts read their keywords from the same JSON object, so they share its path; `tag` tells
    such parts apart (the "string" and "null" parts of `{"type": ["string", "null"]}`).
    """

    at: Subschema
    kind: str = EMPTY
    criterion: str = ""
    parts: tuple[_Node, ...] = ()
    integer: bool = False
    values: tuple[Any, ...] = ()
    synthetic: bool = False
    tag: str = ""

    @property
    def contents(self) -> dict[str, Any]:
        return self.at.contents if isinstance(self.at.contents, dict) else {}

    @property
    def identity(self) -> str:
        """Equal for equal schemas: a combination's duplicate subschemas count once, as in Confluent."""
        return f"{self.tag}:{json.dumps(self.at.contents, sort_keys=True)}"


class _Loader:
    """Types subschemas once each, so a recursive schema gives a finite graph of nodes."""

    def __init__(self) -> None:
        self._nodes: dict[int, _Node] = {}

    def load(self, at: Subschema) -> _Node:
        at = at.resolve()
        cached = self._nodes.get(id(at.contents))
        if cached is not None:
            return cached
        # Registered before typing its parts: a part referring back to it gets this same node.
        node = _Node(at)
        self._nodes[id(at.contents)] = node
        self._type(node, at)
        return node

    def child(self, parent: _Node, contents: Any) -> _Node:
        return self.load(parent.at.child(contents))

    def _type(self, node: _Node, at: Subschema) -> None:
        contents = at.contents
        if contents is False:
            node.kind = FALSE
            return
        if not isinstance(contents, dict):
            return
        parts: list[_Node] = []
        typed = self._typed(at)
        if typed is not None:
            parts.append(typed)
        if "enum" in contents:
            parts.append(_Node(at, ENUM, values=tuple(contents["enum"]), tag="enum"))
        if "const" in contents:
            # A constant is an enum of one value, so changing it or widening it to an enum follows the enum rules.
            parts.append(_Node(at, ENUM, values=(contents["const"],), tag="const"))
        if "not" in contents:
            parts.append(_Node(at, NOT, parts=(self.load(at.child(contents["not"])),), tag="not"))
        for criterion in (ALL_OF, ANY_OF, ONE_OF):
            if isinstance(contents.get(criterion), list):
                branches = tuple(self.load(at.child(branch)) for branch in contents[criterion])
                parts.append(_Node(at, COMBINED, criterion=criterion, parts=branches, tag=criterion))
        if len(parts) == 1:
            _copy_into(node, parts[0])
        elif parts:
            node.kind, node.criterion, node.parts, node.synthetic = COMBINED, ALL_OF, tuple(parts), True

    def _typed(self, at: Subschema) -> _Node | None:
        declared = at.contents.get("type")
        if isinstance(declared, str):
            names = [declared]
        elif isinstance(declared, list):
            names = list(dict.fromkeys(declared))
        else:
            names = [kind for kind, keywords in _KEYWORDS_OF_KIND.items() if any(k in at.contents for k in keywords)]
        typed = [_Node(at, _KIND_OF_TYPE.get(name, name), integer=name == "integer", tag=name) for name in names]
        if not typed:
            return None
        if len(typed) == 1:
            return typed[0]
        # A list of types accepts any of them; keywords for several types without "type" each
        # constrain only their own type, so every part must hold.
        criterion = ANY_OF if isinstance(declared, list) else ALL_OF
        return _Node(at, COMBINED, criterion=criterion, parts=tuple(typed), synthetic=True, tag="types")


def _copy_into(node: _Node, part: _Node) -> None:
    node.kind, node.criterion, node.parts = part.kind, part.criterion, part.parts
    node.integer, node.values, node.synthetic = part.integer, part.values, part.synthetic


# ---------------------------------------------------------------------------------------------
# Comparing


@dataclass(frozen=True)
class _Difference:
    kind: str
    path: tuple[str, ...] = ()
    message: str = ""

    def under(self, prefix: tuple[str, ...]) -> _Difference:
        return _Difference(self.kind, prefix + self.path, self.message)


Differences = list[_Difference]


def _compatible(differences: Differences) -> bool:
    return all(difference.kind in COMPATIBLE_CHANGES for difference in differences)


def _under(prefix: tuple[str, ...], differences: Differences) -> Differences:
    return [difference.under(prefix) for difference in differences]


class _Differ:
    """Compares an original (writer) schema with an update (reader) schema.

    Results are memoized per pair of nodes with paths relative to the pair, and a pair met again
    while it is being compared (a recursive schema) counts as compatible, as in Confluent's diff.
    """

    def __init__(self, loader: _Loader) -> None:
        self._loader = loader
        self._memo: dict[tuple[int, int], Differences] = {}
        self._in_progress: set[tuple[int, int]] = set()
        self._by_kind: dict[str, Callable[[_Node, _Node], Differences]] = {
            STRING: self._string,
            NUMBER: self._number,
            ENUM: self._enum,
            NOT: self._not,
            OBJECT: self._object,
            ARRAY: self._array,
            COMBINED: self._combined,
        }

    def diff(self, original: _Node | None, update: _Node | None) -> Differences:
        if original is None and update is None:
            return []
        if original is None:
            assert update is not None
            if update.kind == EMPTY:
                return []
            return [_Difference("SCHEMA_ADDED", (), f"the reader adds a schema ({_describe(update)}) the writer lacks")]
        if update is None:
            return [_Difference("SCHEMA_REMOVED")]
        pair = (id(original), id(update))
        if pair in self._memo:
            return self._memo[pair]
        if pair in self._in_progress:
            return []
        self._in_progress.add(pair)
        try:
            result = self._compare(original, update)
        finally:
            self._in_progress.discard(pair)
        self._memo[pair] = result
        return result

    # -- dispatch ------------------------------------------------------------------------------

    def _compare(self, original: _Node, update: _Node) -> Differences:
        if original.kind != COMBINED and update.kind == COMBINED:
            found = self._into_combined(original, update)
            if found is not None:
                return found
        elif original.kind == COMBINED and update.kind != COMBINED:
            found = self._out_of_combined(original, update)
            if found is not None:
                return found
        if original.kind != update.kind:
            if original.kind == FALSE or update.kind == EMPTY:
                return []
            return [
                _Difference(
                    "TYPE_CHANGED",
                    (),
                    f"the writer allows {_describe(original)} but the reader expects {_describe(update)}",
                )
            ]
        # Booleans, nulls, empty and false schemas have no keywords to compare.
        compare = self._by_kind.get(original.kind)
        return compare(original, update) if compare is not None else []

    def _into_combined(self, original: _Node, update: _Node) -> Differences | None:
        """A single writer schema read by a combined reader: fine when one reader branch reads it."""
        if len(update.parts) == 1:
            found = self.diff(original, update.parts[0])
            return found if _compatible(found) else None
        if update.criterion in (ANY_OF, ONE_OF):
            for part in update.parts:
                found = self.diff(original, part)
                if _compatible(found):
                    return [*found, _Difference("SUM_TYPE_EXTENDED")]
            return self._closest_part(original, update, reader_side=True)
        return None

    def _out_of_combined(self, original: _Node, update: _Node) -> Differences | None:
        """A combined writer read by a single reader schema: fine when one of the writer's allOf parts suffices."""
        if len(original.parts) == 1:
            found = self.diff(original.parts[0], update)
            return found if _compatible(found) else None
        if original.criterion == ALL_OF:
            for part in original.parts:
                found = self.diff(part, update)
                if _compatible(found):
                    return [*found, _Difference("PRODUCT_TYPE_NARROWED")]
            return self._closest_part(original, update, reader_side=False)
        return None

    def _closest_part(self, original: _Node, update: _Node, *, reader_side: bool) -> Differences | None:
        """Explain with the part of the same kind: "maxLength decreased" says more than "type changed".

        Used only once no part was compatible, so the verdict (incompatible) is Confluent's.
        """
        combined, single = (update, original) if reader_side else (original, update)
        for index, part in enumerate(combined.parts):
            if part.kind == single.kind:
                found = self.diff(original, part) if reader_side else self.diff(part, update)
                if not _compatible(found):
                    return _under(_part_path(combined, index), found)
        return None

    # -- strings and numbers -------------------------------------------------------------------

    def _string(self, original: _Node, update: _Node) -> Differences:
        found = self._limit(original.contents, update.contents, "maxLength", "MAX_LENGTH", "characters")
        found += self._limit(original.contents, update.contents, "minLength", "MIN_LENGTH", "characters")
        before, after = original.contents.get("pattern"), update.contents.get("pattern")
        if before is None and after is not None:
            found.append(
                _Difference(
                    "PATTERN_ADDED", ("pattern",), f"the reader requires the pattern {after!r}; the writer has none"
                )
            )
        elif before is not None and after is None:
            found.append(_Difference("PATTERN_REMOVED", ("pattern",)))
        elif before != after:
            found.append(
                _Difference("PATTERN_CHANGED", ("pattern",), f"the pattern changed from {before!r} to {after!r}")
            )
        return found

    def _number(self, original: _Node, update: _Node) -> Differences:
        before, after = _number_limits(original.contents), _number_limits(update.contents)
        found: Differences = []
        for keyword, prefix in (
            ("maximum", "MAXIMUM"),
            ("minimum", "MINIMUM"),
            ("exclusiveMaximum", "EXCLUSIVE_MAXIMUM"),
            ("exclusiveMinimum", "EXCLUSIVE_MINIMUM"),
        ):
            found += self._limit(before, after, keyword, prefix, "")
        found += _multiple_of(before.get("multipleOf"), after.get("multipleOf"))
        if original.integer and not update.integer:
            found.append(_Difference("TYPE_EXTENDED"))
        elif update.integer and not original.integer:
            found.append(
                _Difference("TYPE_NARROWED", (), "the reader accepts only integers but the writer allows any number")
            )
        return found

    @staticmethod
    def _limit(before: dict[str, Any], after: dict[str, Any], keyword: str, prefix: str, unit: str) -> Differences:
        """A numeric limit: raising a minimum or lowering a maximum narrows what the reader accepts."""
        old, new = before.get(keyword), after.get(keyword)
        if not _is_number(old):
            old = None
        if not _is_number(new):
            new = None
        if old == new:
            return []
        path = (keyword,)
        units = f" {unit}" if unit else ""
        if old is None:
            return [
                _Difference(
                    f"{prefix}_ADDED", path, f"the reader adds {keyword} {new}{units}; the writer has no such limit"
                )
            ]
        if new is None:
            return [_Difference(f"{prefix}_REMOVED", path)]
        change = "INCREASED" if old < new else "DECREASED"
        return [
            _Difference(
                f"{prefix}_{change}",
                path,
                f"the reader's {keyword} is {new}{units} where the writer's is {old}{units}",
            )
        ]

    # -- enums and not -------------------------------------------------------------------------

    def _enum(self, original: _Node, update: _Node) -> Differences:
        before = {_canonical(value): value for value in original.values}
        after = {_canonical(value): value for value in update.values}
        if before.keys() == after.keys():
            return []
        keyword = "const" if "const" in update.contents and "enum" not in update.contents else "enum"
        if after.keys() >= before.keys():
            return [_Difference("ENUM_ARRAY_EXTENDED", (keyword,))]
        missing = ", ".join(_canonical(before[key]) for key in before if key not in after)
        kind = "ENUM_ARRAY_NARROWED" if before.keys() >= after.keys() else "ENUM_ARRAY_CHANGED"
        return [_Difference(kind, (keyword,), f"the writer may send {missing}, which the reader does not accept")]

    def _not(self, original: _Node, update: _Node) -> Differences:
        # "not X" accepts less when X accepts more: compare the negated schemas the other way round.
        if _compatible(self.diff(update.parts[0], original.parts[0])):
            return [_Difference("NOT_TYPE_NARROWED", ("not",))]
        return [
            _Difference(
                "NOT_TYPE_EXTENDED",
                ("not",),
                "the reader's `not` refuses values that the writer's `not` lets through",
            )
        ]

    # -- objects -------------------------------------------------------------------------------

    def _object(self, original: _Node, update: _Node) -> Differences:
        found = self._required(original, update)
        found += self._properties(original, update)
        found += self._dependencies(original, update)
        found += self._additional_properties(original, update)
        found += self._limit(original.contents, update.contents, "maxProperties", "MAX_PROPERTIES", "properties")
        found += self._limit(original.contents, update.contents, "minProperties", "MIN_PROPERTIES", "properties")
        return found

    def _required(self, original: _Node, update: _Node) -> Differences:
        found: Differences = []
        before, after = _properties(original), _properties(update)
        required_before, required_after = _required(original), _required(update)
        for name in before:
            if name not in after:
                continue
            path = ("required", name)
            if name in required_before and name not in required_after:
                found.append(_Difference("REQUIRED_ATTRIBUTE_REMOVED", path))
            elif name in required_after and name not in required_before:
                if self._has_default(update, after[name]):
                    found.append(_Difference("REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED", path))
                else:
                    found.append(
                        _Difference(
                            "REQUIRED_ATTRIBUTE_ADDED",
                            path,
                            f"the reader requires property {name!r}, which the writer may omit",
                        )
                    )
        return found

    def _properties(self, original: _Node, update: _Node) -> Differences:
        found: Differences = []
        before, after = _properties(original), _properties(update)
        for name in [*before, *(name for name in after if name not in before)]:
            path = ("properties", name)
            if name not in after:
                found += _under(path, self._property_removed(original, update, name))
            elif name not in before:
                found += _under(path, self._property_added(original, update, name))
            else:
                found += _under(
                    path,
                    self.diff(self._loader.child(original, before[name]), self._loader.child(update, after[name])),
                )
        return found

    def _property_removed(self, original: _Node, update: _Node, name: str) -> Differences:
        """The writer declares `name`, the reader does not: only the reader's content model matters."""
        if _is_open(update):
            return [_Difference("PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL")]
        writer_property = self._loader.child(original, _properties(original)[name])
        covering = self._covering_schema(update, name)
        if covering is not None:
            found = self.diff(writer_property, covering)
            if _compatible(found):
                return [*found, _Difference("PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL")]
            return [
                *found,
                _Difference(
                    "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                    (),
                    f"the reader dropped property {name!r} and its additional/pattern properties schema "
                    "does not accept the writer's values for it",
                ),
            ]
        if writer_property.kind == FALSE:
            return [_Difference("PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL")]
        return [
            _Difference(
                "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL",
                (),
                f"the reader no longer declares property {name!r} and allows no additional properties, "
                "but the writer may send it",
            )
        ]

    def _property_added(self, original: _Node, update: _Node, name: str) -> Differences:
        """The reader declares `name`, the writer does not: only the writer's content model matters."""
        reader_property = self._loader.child(update, _properties(update)[name])
        if _is_open(original):
            if reader_property.kind == EMPTY:
                return [_Difference("PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL")]
            return [
                _Difference(
                    "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL",
                    (),
                    f"the reader adds property {name!r} ({_describe(reader_property)}), but the writer's open "
                    "content model allows any value under that name",
                )
            ]
        found: Differences = []
        covering = self._covering_schema(original, name)
        if covering is not None:
            covered = self.diff(covering, reader_property)
            found += covered
            if _compatible(covered):
                found.append(_Difference("PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"))
            else:
                found.append(
                    _Difference(
                        "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                        (),
                        f"the reader adds property {name!r}, but the writer's additional/pattern properties "
                        "schema allows values for it that the reader refuses",
                    )
                )
        if name in _required(update):
            if self._has_default(update, _properties(update)[name]):
                found.append(_Difference("REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL"))
            else:
                found.append(
                    _Difference(
                        "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL",
                        (),
                        f"the reader requires the new property {name!r} (without a default), "
                        "which the writer never sends",
                    )
                )
        else:
            found.append(_Difference("OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"))
        return found

    def _covering_schema(self, node: _Node, name: str) -> _Node | None:
        """The schema a partially open object applies to an undeclared property `name`, if any."""
        for pattern, schema in (node.contents.get("patternProperties") or {}).items():
            try:
                matches = re.search(pattern, name) is not None
            except re.error:
                # An ECMA-262 pattern Python cannot compile: it cannot be shown to cover the property.
                matches = False
            if matches:
                return self._loader.child(node, schema)
        additional = node.contents.get("additionalProperties")
        return self._loader.child(node, additional) if isinstance(additional, dict) else None

    def _has_default(self, node: _Node, raw: Any) -> bool:
        if isinstance(raw, dict) and "default" in raw:
            return True
        return "default" in self._loader.child(node, raw).contents

    def _dependencies(self, original: _Node, update: _Node) -> Differences:
        found: Differences = []
        arrays_before, schemas_before = _dependencies(original.contents)
        arrays_after, schemas_after = _dependencies(update.contents)
        for name in [*arrays_before, *(name for name in arrays_after if name not in arrays_before)]:
            path = ("dependencies", name)
            old, new = arrays_before.get(name), arrays_after.get(name)
            if new is None:
                found.append(_Difference("DEPENDENCY_ARRAY_REMOVED", path))
            elif old is None:
                found.append(
                    _Difference(
                        "DEPENDENCY_ARRAY_ADDED",
                        path,
                        f"the reader adds dependencies {sorted(new)} for property {name!r}",
                    )
                )
            elif old != new:
                if new >= old:
                    kind = "DEPENDENCY_ARRAY_EXTENDED"
                elif old >= new:
                    kind = "DEPENDENCY_ARRAY_NARROWED"
                else:
                    kind = "DEPENDENCY_ARRAY_CHANGED"
                found.append(
                    _Difference(
                        kind,
                        path,
                        f"property {name!r} depends on {sorted(new)} in the reader, {sorted(old)} in the writer",
                    )
                )
        for name in [*schemas_before, *(name for name in schemas_after if name not in schemas_before)]:
            path = ("dependencies", name)
            if name not in schemas_after:
                found.append(_Difference("DEPENDENCY_SCHEMA_REMOVED", path))
            elif name not in schemas_before:
                found.append(
                    _Difference(
                        "DEPENDENCY_SCHEMA_ADDED", path, f"the reader adds a dependent schema for property {name!r}"
                    )
                )
            else:
                found += _under(
                    path,
                    self.diff(
                        self._loader.child(original, schemas_before[name]),
                        self._loader.child(update, schemas_after[name]),
                    ),
                )
        return found

    def _additional_properties(self, original: _Node, update: _Node) -> Differences:
        return self._additional(original, update, "additionalProperties", "ADDITIONAL_PROPERTIES", "properties")

    def _additional(self, original: _Node, update: _Node, keyword: str, prefix: str, what: str) -> Differences:
        """additionalProperties / additionalItems: false, a schema, or absent/true (anything)."""
        path = (keyword,)
        old, new = original.contents.get(keyword), update.contents.get(keyword)
        permitted_before, permitted_after = old is not False, new is not False
        if permitted_before != permitted_after:
            if permitted_after:
                return [_Difference(f"{prefix}_ADDED", path)]
            return [
                _Difference(
                    f"{prefix}_REMOVED", path, f"the reader allows no additional {what}, but the writer may send them"
                )
            ]
        schema_before = self._loader.child(original, old) if isinstance(old, dict) else None
        schema_after = self._loader.child(update, new) if isinstance(new, dict) else None
        if schema_before is None and schema_after is not None:
            return [
                _Difference(
                    f"{prefix}_NARROWED",
                    path,
                    f"the reader constrains additional {what} with a schema, the writer allows any",
                )
            ]
        if schema_after is None and schema_before is not None:
            return [_Difference(f"{prefix}_EXTENDED", path)]
        return _under(path, self.diff(schema_before, schema_after))

    # -- arrays --------------------------------------------------------------------------------

    def _array(self, original: _Node, update: _Node) -> Differences:
        all_before, tuple_before, _ = _array_items(original.contents)
        all_after, tuple_after, _ = _array_items(update.contents)
        found = _under(
            ("items",),
            self.diff(
                self._loader.child(original, all_before) if all_before is not None else None,
                self._loader.child(update, all_after) if all_after is not None else None,
            ),
        )
        found += self._tuple_items(original, update, tuple_before, tuple_after)
        found += self._additional_items(original, update)
        contents_before, contents_after = original.contents, update.contents
        for keyword, prefix in (
            ("maxItems", "MAX_ITEMS"),
            ("minItems", "MIN_ITEMS"),
            ("maxContains", "MAX_CONTAINS"),
            ("minContains", "MIN_CONTAINS"),
        ):
            found += self._limit(contents_before, contents_after, keyword, prefix, "items")
        unique_before, unique_after = (
            contents_before.get("uniqueItems") is True,
            contents_after.get("uniqueItems") is True,
        )
        if unique_before and not unique_after:
            found.append(_Difference("UNIQUE_ITEMS_REMOVED", ("uniqueItems",)))
        elif unique_after and not unique_before:
            found.append(
                _Difference(
                    "UNIQUE_ITEMS_ADDED", ("uniqueItems",), "the reader requires unique items; the writer does not"
                )
            )
        return found

    def _additional_items(self, original: _Node, update: _Node) -> Differences:
        # Draft 2020-12 spells the schema for items after `prefixItems` as `items`, older drafts
        # `additionalItems`: compare the two under the reader's spelling, so one rule serves both.
        keyword = "items" if "prefixItems" in update.contents else "additionalItems"
        before = _with_additional_items(original, keyword)
        after = _with_additional_items(update, keyword)
        return self._additional(before, after, keyword, "ADDITIONAL_ITEMS", "items")

    def _tuple_items(self, original: _Node, update: _Node, before: list[Any], after: list[Any]) -> Differences:
        found: Differences = []
        keyword = "prefixItems" if "prefixItems" in update.contents else "items"
        for index in range(max(len(before), len(after))):
            path = (keyword, str(index))
            if index < len(before) and index < len(after):
                found += _under(
                    path,
                    self.diff(self._loader.child(original, before[index]), self._loader.child(update, after[index])),
                )
            elif index < len(before):
                found += _under(path, self._item_removed(original, update, before[index], index))
            else:
                found += _under(path, self._item_added(original, update, after[index], index))
        return found

    def _item_removed(self, original: _Node, update: _Node, raw: Any, index: int) -> Differences:
        if _is_open_array(update):
            return [_Difference("ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL")]
        writer_item = self._loader.child(original, raw)
        covering = _additional_items_schema(self._loader, update)
        if covering is not None:
            found = self.diff(writer_item, covering)
            if _compatible(found):
                return [*found, _Difference("ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL")]
            return [
                *found,
                _Difference(
                    "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                    (),
                    f"the reader dropped tuple item {index} and its additional items schema does not accept the "
                    "writer's values for it",
                ),
            ]
        if writer_item.kind == FALSE:
            return [_Difference("ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL")]
        return [
            _Difference(
                "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL",
                (),
                f"the reader no longer declares tuple item {index} and allows no additional items, "
                "but the writer may send it",
            )
        ]

    def _item_added(self, original: _Node, update: _Node, raw: Any, index: int) -> Differences:
        reader_item = self._loader.child(update, raw)
        if _is_open_array(original):
            if reader_item.kind == EMPTY:
                return [_Difference("ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL")]
            return [
                _Difference(
                    "ITEM_ADDED_TO_OPEN_CONTENT_MODEL",
                    (),
                    f"the reader adds tuple item {index} ({_describe(reader_item)}), but the writer allows any "
                    "value in that position",
                )
            ]
        covering = _additional_items_schema(self._loader, original)
        if covering is None:
            return [_Difference("ITEM_ADDED_TO_CLOSED_CONTENT_MODEL")]
        found = self.diff(covering, reader_item)
        if _compatible(found):
            return [*found, _Difference("ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL")]
        return [
            *found,
            _Difference(
                "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                (),
                f"the reader adds tuple item {index}, but the writer's additional items schema allows values "
                "there that the reader refuses",
            ),
        ]

    # -- combined schemas ----------------------------------------------------------------------

    def _combined(self, original: _Node, update: _Node) -> Differences:
        found: Differences = []
        if original.criterion != update.criterion:
            change = _criterion_change(original, update)
            if change == "COMBINED_TYPE_CHANGED":
                return [
                    _Difference(
                        change,
                        (),
                        f"the writer combines schemas with {original.criterion}, the reader with {update.criterion}",
                    )
                ]
            found.append(_Difference(change))
        before = list({part.identity: part for part in original.parts}.values())
        after = list({part.identity: part for part in update.parts}.values())
        product = update.criterion == ALL_OF
        if len(before) < len(after):
            found.append(
                _Difference(
                    "PRODUCT_TYPE_EXTENDED" if product else "SUM_TYPE_EXTENDED",
                    (),
                    "the reader's allOf adds a schema every value must also match" if product else "",
                )
            )
        elif len(before) > len(after):
            found.append(
                _Difference(
                    "PRODUCT_TYPE_NARROWED" if product else "SUM_TYPE_NARROWED",
                    (),
                    "" if product else f"the reader's {update.criterion} has fewer alternatives than the writer's",
                )
            )
        pairs = {
            (i, j): _under(_part_path(original, i), self.diff(old, new))
            for i, old in enumerate(before)
            for j, new in enumerate(after)
        }
        compatible_pairs = [pair for pair, differences in pairs.items() if _compatible(differences)]
        matching = _maximum_matching(compatible_pairs)
        for pair in matching:
            found += pairs[pair]
        if len(matching) < min(len(before), len(after)):
            found += self._unmatched(original, update, before, after, pairs, matching)
        return found

    def _unmatched(
        self,
        original: _Node,
        update: _Node,
        before: list[_Node],
        after: list[_Node],
        pairs: dict[tuple[int, int], Differences],
        matching: list[tuple[int, int]],
    ) -> Differences:
        """Why the parts could not be paired: the differences of same-kind parts when that explains it all."""
        generic = [
            _Difference(
                "COMBINED_TYPE_SUBSCHEMAS_CHANGED",
                (),
                f"not every schema of the writer's {original.criterion} is accepted by its own schema of the "
                f"reader's {update.criterion}",
            )
        ]
        if len(before) != len(after):
            return generic
        matched_before = {i for i, _ in matching}
        matched_after = {j for _, j in matching}
        explanation: Differences = []
        for i, old in enumerate(before):
            if i in matched_before:
                continue
            same_kind = [
                pairs[(i, j)]
                for j, new in enumerate(after)
                if j not in matched_after and new.kind == old.kind and not _compatible(pairs[(i, j)])
            ]
            if not same_kind:
                return generic
            explanation += same_kind[0]
        return explanation


# ---------------------------------------------------------------------------------------------
# Keyword helpers


def _properties(node: _Node) -> dict[str, Any]:
    properties = node.contents.get("properties")
    return properties if isinstance(properties, dict) else {}


def _required(node: _Node) -> set[str]:
    required = node.contents.get("required")
    return {name for name in required if isinstance(name, str)} if isinstance(required, list) else set()


def _is_open(node: _Node) -> bool:
    """Open content model: any undeclared property is allowed, with any value."""
    additional = node.contents.get("additionalProperties", True)
    return not node.contents.get("patternProperties") and additional is True


def _dependencies(contents: dict[str, Any]) -> tuple[dict[str, frozenset[str]], dict[str, Any]]:
    """Property dependencies (name -> required names) and schema dependencies (name -> schema).

    Draft 2019-09 split `dependencies` into `dependentRequired` and `dependentSchemas`; both
    spellings are read.
    """
    arrays: dict[str, frozenset[str]] = {}
    schemas: dict[str, Any] = {}
    for name, value in (contents.get("dependencies") or {}).items():
        if isinstance(value, list):
            arrays[name] = frozenset(value)
        else:
            schemas[name] = value
    arrays.update({name: frozenset(value) for name, value in (contents.get("dependentRequired") or {}).items()})
    schemas.update(contents.get("dependentSchemas") or {})
    return arrays, schemas


def _array_items(contents: dict[str, Any]) -> tuple[Any, list[Any], Any]:
    """(schema of every item or None, tuple item schemas, schema of items after the tuple or None)."""
    if isinstance(contents.get("prefixItems"), list):
        return None, contents["prefixItems"], contents.get("items")
    items = contents.get("items")
    if isinstance(items, list):
        return None, items, contents.get("additionalItems")
    return items, [], None


def _with_additional_items(node: _Node, keyword: str) -> _Node:
    """`node` reduced to its schema for the items after the tuple, under `keyword`."""
    _, _, additional = _array_items(node.contents)
    contents = {keyword: additional} if additional is not None else {}
    return _Node(Subschema(contents, node.at.resolver, node.at.specification), ARRAY)


def _additional_items_schema(loader: _Loader, node: _Node) -> _Node | None:
    _, _, additional = _array_items(node.contents)
    return loader.child(node, additional) if isinstance(additional, dict) else None


def _is_open_array(node: _Node) -> bool:
    _, _, additional = _array_items(node.contents)
    return additional is None or additional is True


def _number_limits(contents: dict[str, Any]) -> dict[str, Any]:
    """The numeric keywords, with draft 4's boolean exclusiveMaximum/Minimum turned into limits."""
    limits = {key: contents.get(key) for key in ("maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum")}
    for bound, exclusive in (("maximum", "exclusiveMaximum"), ("minimum", "exclusiveMinimum")):
        if isinstance(limits[exclusive], bool):
            # Draft 4: `"maximum": 10, "exclusiveMaximum": true` is draft 6's `"exclusiveMaximum": 10`.
            limits[exclusive], limits[bound] = (limits[bound], None) if limits[exclusive] else (None, limits[bound])
    limits["multipleOf"] = contents.get("multipleOf")
    return limits


def _multiple_of(old: Any, new: Any) -> Differences:
    path = ("multipleOf",)
    old = _decimal(old)
    new = _decimal(new)
    if old == new:
        return []
    if old is None:
        return [_Difference("MULTIPLE_OF_ADDED", path, f"the reader requires multiples of {new}; the writer does not")]
    if new is None:
        return [_Difference("MULTIPLE_OF_REMOVED", path)]
    if new % old == 0:
        return [
            _Difference("MULTIPLE_OF_EXPANDED", path, f"the reader requires multiples of {new}, the writer of {old}")
        ]
    if old % new == 0:
        return [_Difference("MULTIPLE_OF_REDUCED", path)]
    return [_Difference("MULTIPLE_OF_CHANGED", path, f"the reader requires multiples of {new}, the writer of {old}")]


def _decimal(value: Any) -> Decimal | None:
    # Decimal of the JSON text, so 0.1 and 0.3 divide exactly as a person expects.
    if not _is_number(value):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _criterion_change(original: _Node, update: _Node) -> str:
    """Confluent's rules for changing allOf/anyOf/oneOf: only changes that accept more are allowed."""
    if update.criterion == ANY_OF:
        return "COMBINED_TYPE_EXTENDED"
    if update.criterion == ONE_OF and len(original.parts) == 1:
        return "COMBINED_TYPE_EXTENDED"
    if update.criterion == ALL_OF and len(original.parts) == 1 and len(update.parts) == 1:
        return "COMBINED_TYPE_EXTENDED"
    return "COMBINED_TYPE_CHANGED"


def _part_path(combined: _Node, index: int) -> tuple[str, ...]:
    # The parts of a combination the loader made live in the same JSON object as the whole.
    return () if combined.synthetic else (combined.criterion, str(index))


def _maximum_matching(edges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """A maximum matching of a bipartite graph (augmenting paths; the graphs here are tiny)."""
    neighbours: dict[int, list[int]] = {}
    for left, right in edges:
        neighbours.setdefault(left, []).append(right)
    match_of_right: dict[int, int] = {}

    def augment(left: int, visited: set[int]) -> bool:
        for right in neighbours.get(left, []):
            if right in visited:
                continue
            visited.add(right)
            if right not in match_of_right or augment(match_of_right[right], visited):
                match_of_right[right] = left
                return True
        return False

    for left in neighbours:
        augment(left, set())
    return sorted((left, right) for right, left in match_of_right.items())


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _describe(node: _Node) -> str:
    """What a schema accepts, in a few words, for messages."""
    if node.kind == EMPTY:
        return "any value"
    if node.kind == FALSE:
        return "no value"
    if node.kind == NUMBER:
        return "integer" if node.integer else "number"
    if node.kind == ENUM:
        shown = ", ".join(_canonical(value) for value in node.values[:5])
        return f"one of {shown}{', ...' if len(node.values) > 5 else ''}"
    if node.kind == NOT:
        return f"not {_describe(node.parts[0])}"
    if node.kind == COMBINED:
        if node.synthetic:
            joiner = " or " if node.criterion == ANY_OF else " and "
            return joiner.join(_describe(part) for part in node.parts)
        return f"{node.criterion} [{', '.join(_describe(part) for part in node.parts[:4])}]"
    return node.kind


def _pointer(path: tuple[str, ...]) -> str:
    return "#/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in path)
