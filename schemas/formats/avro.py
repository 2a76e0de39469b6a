"""Avro schemas: parsing with named references, validation (names, defaults), canonical text, field paths.

Parsing uses the Apache `avro` package. Referenced schemas (Confluent references: the name is the
referenced type's full name, the text its schema) are parsed first into the same `Names`, so the
main schema can use their named types. Beyond what `avro.schema.parse` checks, the registry also
refuses field defaults that do not match their type (as Confluent does; readers would fail on them
at run time) and resolves relative aliases to full names.
"""

from __future__ import annotations

import functools
import io
import json
import pickle
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import avro.errors
import avro.schema
from avro.name import Names

from schemas.compatibility import ParsedSchema, SchemaType
from schemas.formats import FieldInfo, SchemaParseError, load_json

__all__ = ["field_paths", "normalize", "parse_schema", "type_name"]

# What the avro parser raises for malformed input besides its own errors: it indexes into and
# iterates over whatever JSON it was given (a number where a list belongs, a list as a name, ...).
_PARSER_ERRORS = (avro.errors.AvroException, TypeError, ValueError, AttributeError, KeyError, RecursionError)

_INT_RANGE = (-(2**31), 2**31 - 1)
_LONG_RANGE = (-(2**63), 2**63 - 1)


def parse_schema(schema: ParsedSchema) -> avro.schema.Schema:
    """Parse `schema` with its references into an avro Schema; raise SchemaParseError when invalid.

    Parsed schemas are cached by text: a transitive compatibility check meets the same versions
    again and again, and parsing dominates its cost. Callers must not mutate the result: equal
    sub-schemas of cached schemas are shared (see `_intern`).
    """
    return parse_schema_info(schema).schema


class ParsedAvro(NamedTuple):
    """A cached parse: the schema, and whether its graph is acyclic (no recursive type)."""

    schema: avro.schema.Schema
    acyclic: bool


def parse_schema_info(schema: ParsedSchema) -> ParsedAvro:
    """`parse_schema` with what the compatibility checks need to know about the result."""
    return _parse_cached(schema.text, tuple(sorted(schema.references.items())))


@functools.lru_cache(maxsize=512)
def _parse_cached(text: str, references: tuple[tuple[str, str], ...]) -> ParsedAvro:
    parsed, _ = _parse_with_references(ParsedSchema(SchemaType.AVRO, text, dict(references)))
    for current in _named_and_nested(parsed):
        if type(current) is avro.schema.RecordSchema:
            current.__class__ = _RecordSchema
    return ParsedAvro(*_intern(parsed))


class _RecordSchema(avro.schema.RecordSchema):
    """A cached record: its fields never change, so `fields_dict` is built once, not on every call.

    The avro checker looks every reader field up in the writer's `fields_dict`, which the plain
    class rebuilds from the field list each time: quadratic in the number of fields.
    """

    @property
    def fields_dict(self) -> Mapping[str, avro.schema.Field]:
        by_name = self.__dict__.get(_FIELDS_BY_NAME)
        if by_name is None:
            by_name = self.__dict__[_FIELDS_BY_NAME] = MappingProxyType(avro.schema.RecordSchema.fields_dict.fget(self))
        return by_name


_FIELDS_BY_NAME = "_eventscope_fields_by_name"


def normalize(schema: ParsedSchema) -> str:
    """Canonical JSON (sorted keys, no whitespace) of the schema as parsed; docs and custom props kept.

    Named types from references stay references (their full name), as in the original text; a
    named type's namespace is always written out, so "a.B" and {"name": "B", "namespace": "a"}
    give the same text.
    """
    parsed, referenced = _parse_with_references(schema)
    # to_json writes a named type in full the first time it meets it and by name afterwards;
    # seeding it with the referenced names keeps referenced types as names.
    written = Names()
    written.names.update(referenced.names)
    return json.dumps(parsed.to_json(written), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def field_paths(schema: ParsedSchema) -> list[FieldInfo]:
    """The record fields of `schema`, nested records (also inside unions, arrays and maps) flattened."""
    return list(_fields_of(parse_schema(schema), prefix="", enclosing=()))


# ---------------------------------------------------------------------------------------------
# Parsing


def _parse_with_references(schema: ParsedSchema) -> tuple[avro.schema.Schema, Names]:
    """The parsed schema and the names its references define."""
    referenced = _names_with_references(schema.references)
    json_data = load_json(schema.text, "the schema")
    try:
        parsed = avro.schema.make_avsc_object(json_data, _copy(referenced))
    except _PARSER_ERRORS as error:
        raise SchemaParseError(f"the schema is not a valid Avro schema: {error}") from None
    _check_parsed(parsed, "the schema")
    return parsed, referenced


def _copy(names: Names) -> Names:
    copied = Names(default_namespace=names.default_namespace, validate_names=names.validate_names)
    copied.names.update(names.names)
    return copied


def _names_with_references(references: dict[str, str]) -> Names:
    """Parse every referenced schema into one Names, dependencies first whatever the given order.

    A reference may itself use a type from another reference. Rather than trusting the order,
    parse in rounds: each round parses whatever now resolves, into a copy of the names so that a
    failed attempt leaves no half-registered types behind; a round without progress is an error.
    """
    names = Names()
    pending = {name: load_json(text, f"reference {name!r}") for name, text in references.items()}
    while pending:
        waiting = len(pending)
        failures: dict[str, str] = {}
        for name, json_data in list(pending.items()):
            attempt = _copy(names)
            try:
                parsed = avro.schema.make_avsc_object(json_data, attempt)
            except _PARSER_ERRORS as error:
                failures[name] = str(error)
                continue
            _check_parsed(parsed, f"reference {name!r}")
            names = attempt
            del pending[name]
        if len(pending) == waiting:
            name, error = next(iter(failures.items()))
            raise SchemaParseError(f"reference {name!r} is not a valid Avro schema: {error}")
    return names


def _check_parsed(parsed: avro.schema.Schema, what: str) -> None:
    try:
        _resolve_aliases(parsed)
        _check_defaults(parsed)
    except SchemaParseError as error:
        raise SchemaParseError(f"{what}: {error}") from None


# ---------------------------------------------------------------------------------------------
# Sharing equal sub-schemas between cached parses
#
# The avro checker memoizes reader/writer pairs by object identity. Versions of one subject repeat
# most of their sub-schemas ("long", ["null", "string"], an enum, a nested record), so when equal
# sub-schemas are one object, a check against many versions compares each distinct pair once.
#
# Two sub-schemas are merged only when their whole instance state is equal: same class, same
# attributes and properties (JSON values compared with their types: 1, 1.0 and True differ), same
# fields, and children that are (recursively) merged into the same object. Nothing that reads a
# schema can tell them apart then. The types along a cycle (a recursive type) are never merged, and
# the result says whether the schema is acyclic: the checker's memo may only be shared between
# acyclic schemas (schemas.compatibility.avro.ReaderChecks).

_INTERNED: dict[tuple[type, bytes], avro.schema.Schema] = {}
# Past either bound the table starts over (objects already shared stay valid, just not reused).
_INTERNED_MAX_ENTRIES = 100_000
_INTERNED_MAX_BYTES = 64 * 1024 * 1024  # of keys, roughly the state of the schemas the table keeps
_interned_bytes = 0


class _Cycle(Exception):
    """The schema refers back to itself."""


def _intern(schema: avro.schema.Schema) -> tuple[avro.schema.Schema, bool]:
    """`schema` with its sub-schemas replaced by the shared objects equal to them, and whether it is acyclic.

    Only for a freshly parsed schema that nobody else holds yet: its own references to its
    children are rewired in place to the shared children. A recursive schema keeps its own objects
    along its cycles (its acyclic parts are shared); so does a schema too deep to walk here. Either
    way, whatever was rewired points at an equal object.
    """
    global _interned_bytes
    if len(_INTERNED) > _INTERNED_MAX_ENTRIES or _interned_bytes > _INTERNED_MAX_BYTES:
        _INTERNED.clear()
        _interned_bytes = 0
    canonical: dict[int, avro.schema.Schema] = {}
    walked: list[avro.schema.Schema] = []  # keeps every id in `canonical` from being reused meanwhile
    in_progress: set[int] = set()

    def shared(node: avro.schema.Schema) -> avro.schema.Schema:
        known = canonical.get(id(node))
        if known is not None:
            return known
        if id(node) in in_progress:
            raise _Cycle
        walked.append(node)
        in_progress.add(id(node))
        _rewire_children(node, shared)
        key = _state_key(node, shared)
        result = node if key is None else _INTERNED.setdefault(key, node)
        if result is node and key is not None:
            added.append(len(key[1]))
        in_progress.discard(id(node))
        walked.append(result)
        canonical[id(node)] = canonical[id(result)] = result
        return result

    added: list[int] = []  # key sizes of the new entries
    try:
        return shared(schema), True
    except _Cycle:
        return schema, False
    except RecursionError:
        return schema, _is_acyclic(schema)
    finally:
        _interned_bytes += sum(added)


def _rewire_children(node: avro.schema.Schema, shared: Callable[[avro.schema.Schema], avro.schema.Schema]) -> None:
    """Point `node`'s references to its children at their shared objects."""
    kind = _children_kind(node)
    if kind == "record":
        for field in node.fields:
            child = shared(field.type)
            if field.props.get("type") is field.type:
                field.props["type"] = child
            field.type = child
    elif kind == "array":
        node.props["items"] = shared(node.props["items"])
    elif kind == "map":
        node.props["values"] = shared(node.props["values"])
    elif kind == "union":
        branches = node.schemas  # the union's own list
        branches[:] = [shared(branch) for branch in branches]


def _state_key(node: avro.schema.Schema, shared: Callable[[avro.schema.Schema], avro.schema.Schema]) -> Any:
    """The class and the pickled instance state of `node`, each schema in it pickled as its shared object's id.

    Pickling writes every value with its type (1, 1.0, True and -0.0 differ) and dicts in order, so
    equal keys mean equal state. The id of a shared object cannot be reused while a key holds it:
    the object stays alive in _INTERNED or in the schema being interned. None when the state does
    not pickle (then the node keeps its own object).
    """
    state = vars(node)
    try:
        if _children_kind(node) == "none":
            # No children (primitives, enums, fixed): plain pickling, which would write any schema
            # met in full, so equal keys still mean equal state.
            return (type(node), pickle.dumps(state, protocol=5))
        buffer = io.BytesIO()
        _StatePickler(buffer, shared).dump({name: value for name, value in state.items() if name != _FIELDS_BY_NAME})
    except (pickle.PicklingError, TypeError, AttributeError, ValueError):
        return None
    return (type(node), buffer.getvalue())


class _StatePickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, shared: Callable[[avro.schema.Schema], avro.schema.Schema]) -> None:
        super().__init__(file, protocol=5)
        self._shared = shared

    def reducer_override(self, obj: Any) -> Any:
        # Not called for plain values (str, int, float, dict, list, ...); Fields pickle as usual.
        if _is_schema_class(type(obj)):
            return (_schema_ref, (id(self._shared(obj)),))
        return NotImplemented


def _schema_ref(identity: int) -> None:
    """Stands for a schema in a pickled state key (never unpickled)."""


_IS_SCHEMA_CLASS: dict[type, bool] = {}


def _is_schema_class(kind: type) -> bool:
    # issubclass on the avro classes goes through abc's hooks; once per class is enough.
    known = _IS_SCHEMA_CLASS.get(kind)
    if known is None:
        known = _IS_SCHEMA_CLASS[kind] = issubclass(kind, avro.schema.Schema)
    return known


def _is_acyclic(schema: avro.schema.Schema) -> bool:
    """Whether no schema reachable from `schema` reaches itself again (iterative depth-first search)."""
    on_path: set[int] = {id(schema)}
    finished: set[int] = set()
    stack = [(schema, iter(_children(schema)))]
    while stack:
        node, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            on_path.discard(id(node))
            finished.add(id(node))
        elif id(child) in on_path:
            return False
        elif id(child) not in finished:
            on_path.add(id(child))
            stack.append((child, iter(_children(child))))
    return True


# ---------------------------------------------------------------------------------------------
# Walking a parsed schema


def _named_and_nested(schema: avro.schema.Schema) -> Iterator[avro.schema.Schema]:
    """Every schema reachable from `schema`, each once (recursive types refer back to themselves)."""
    seen: set[int] = set()
    stack = [schema]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(_children(current))


def _children(schema: avro.schema.Schema) -> list[avro.schema.Schema]:
    kind = _children_kind(schema)
    if kind == "record":
        return [field.type for field in schema.fields]
    if kind == "array":
        return [schema.items]
    if kind == "map":
        return [schema.values]
    if kind == "union":
        return list(schema.schemas)
    return []


# isinstance on the avro classes goes through abc's hooks: look each class up once.
_CHILDREN_BASES = (
    (avro.schema.RecordSchema, "record"),
    (avro.schema.ArraySchema, "array"),
    (avro.schema.MapSchema, "map"),
    (avro.schema.UnionSchema, "union"),
)
_CHILDREN_KIND: dict[type, str] = {}


def _children_kind(schema: avro.schema.Schema) -> str:
    kind = _CHILDREN_KIND.get(type(schema))
    if kind is None:
        kind = _CHILDREN_KIND[type(schema)] = next(
            (name for base, name in _CHILDREN_BASES if isinstance(schema, base)), "none"
        )
    return kind


def _resolve_aliases(schema: avro.schema.Schema) -> None:
    """Rewrite relative aliases of named types to full names, checking that aliases are name lists.

    The spec resolves an alias without a dot in the namespace of the type it names, but the avro
    compatibility checker compares aliases as written to the writer's full name: without this,
    renaming a namespaced record with `"aliases": ["OldName"]` would be reported as a name
    mismatch.
    """
    for current in _named_and_nested(schema):
        if isinstance(current, avro.schema.RecordSchema):
            for field in current.fields:
                _check_alias_list(field.props.get("aliases"), f"field {current.fullname}.{field.name}")
        if not isinstance(current, avro.schema.NamedSchema):
            continue
        aliases = current.props.get("aliases")
        _check_alias_list(aliases, f"type {current.fullname}")
        if aliases and current.namespace:
            current.props["aliases"] = [alias if "." in alias else f"{current.namespace}.{alias}" for alias in aliases]


def _check_alias_list(aliases: Any, owner: str) -> None:
    if aliases is not None and not (isinstance(aliases, list) and all(isinstance(a, str) for a in aliases)):
        raise SchemaParseError(f"the aliases of {owner} must be a list of names, not {json.dumps(aliases)}")


def _check_defaults(schema: avro.schema.Schema) -> None:
    """Refuse a field default that its type cannot hold (the avro package does not check them)."""
    for current in _named_and_nested(schema):
        if not isinstance(current, avro.schema.RecordSchema):
            continue
        for field in current.fields:
            if field.has_default and not _is_valid_default(field.type, field.default):
                raise SchemaParseError(
                    f"the default {json.dumps(field.default)} of field {current.fullname}.{field.name} "
                    f"is not a valid {type_name(field.type)}"
                )


def _is_valid_default(schema: avro.schema.Schema, value: Any) -> bool:
    """Whether a JSON default fits the schema, with the Java implementation's (Confluent's) rules.

    Java accepts a union default matching any branch, although the spec asks for the first one;
    refusing those would refuse schemas that Confluent registers.
    """
    kind = schema.type
    if isinstance(schema, avro.schema.UnionSchema):
        return any(_is_valid_default(branch, value) for branch in schema.schemas)
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind in ("int", "long"):
        low, high = _INT_RANGE if kind == "int" else _LONG_RANGE
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    if kind in ("float", "double"):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind in ("string", "bytes", "fixed"):
        return isinstance(value, str)
    if kind == "enum":
        return isinstance(value, str) and value in schema.symbols
    if kind == "array":
        return isinstance(value, list) and all(_is_valid_default(schema.items, item) for item in value)
    if kind == "map":
        return isinstance(value, dict) and all(_is_valid_default(schema.values, item) for item in value.values())
    if kind in ("record", "error"):
        return isinstance(value, dict) and all(
            _is_valid_default(field.type, value[field.name]) if field.name in value else field.has_default
            for field in schema.fields
        )
    return False


# ---------------------------------------------------------------------------------------------
# Field paths


def _fields_of(schema: avro.schema.Schema, prefix: str, enclosing: tuple[str, ...]) -> Iterator[FieldInfo]:
    """Fields under `schema` at `prefix`; `enclosing` holds the records on the way, to stop recursion."""
    if isinstance(schema, avro.schema.RecordSchema):
        if schema.fullname in enclosing:
            return
        for field in schema.fields:
            path = f"{prefix}.{field.name}" if prefix else field.name
            yield FieldInfo(
                path=path,
                type=type_name(field.type),
                doc=field.doc,
                required=not _is_nullable(field.type),
                has_default=field.has_default,
                default=field.default if field.has_default else None,
            )
            yield from _fields_of(field.type, path, (*enclosing, schema.fullname))
    elif isinstance(schema, avro.schema.ArraySchema):
        yield from _fields_of(schema.items, f"{prefix}[]", enclosing)
    elif isinstance(schema, avro.schema.MapSchema):
        yield from _fields_of(schema.values, f"{prefix}{{}}", enclosing)
    elif isinstance(schema, avro.schema.UnionSchema):
        for branch in schema.schemas:
            yield from _fields_of(branch, prefix, enclosing)


def _is_nullable(schema: avro.schema.Schema) -> bool:
    if isinstance(schema, avro.schema.UnionSchema):
        return any(branch.type == "null" for branch in schema.schemas)
    return schema.type == "null"


def type_name(schema: avro.schema.Schema) -> str:
    """A short readable type: "string", "long (timestamp-millis)", "array<Line>", "null | string"."""
    if isinstance(schema, avro.schema.UnionSchema):
        return " | ".join(type_name(branch) for branch in schema.schemas)
    if isinstance(schema, avro.schema.ArraySchema):
        return f"array<{type_name(schema.items)}>"
    if isinstance(schema, avro.schema.MapSchema):
        return f"map<{type_name(schema.values)}>"
    if isinstance(schema, avro.schema.EnumSchema):
        return f"enum {schema.name}"
    if isinstance(schema, avro.schema.FixedSchema):
        base = f"fixed {schema.name}[{schema.size}]"
    elif isinstance(schema, avro.schema.NamedSchema):
        return schema.name
    else:
        base = schema.type
    logical_type = schema.props.get("logicalType")
    if logical_type == "decimal":
        return f"{base} (decimal({schema.props.get('precision')},{schema.props.get('scale', 0)}))"
    return f"{base} ({logical_type})" if logical_type else base
