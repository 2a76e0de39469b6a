"""Avro compatibility: the Apache `avro` package's reader/writer checker, explained per problem.

The verdict is always `avro.compatibility.ReaderWriterCompatibilityChecker`'s (the Python port of
the Java checker Confluent uses). Its Python result merges the messages and locations of all
problems into unordered sets, so it cannot say which message belongs where; to report each problem
at its own location, this module walks the two schemas the way the checker does (records field by
field, arrays, maps, union branches) and asks the checker about each pair on the way. Problem kinds
are the checker's `SchemaIncompatibilityType` names in upper case; paths are locations in the
reader schema in the checker's notation ("/fields/1/type/items"; a union branch adds its index in
the reader's union).
"""

from __future__ import annotations

from avro.compatibility import (
    ReaderWriterCompatibilityChecker,
    SchemaCompatibilityResult,
    SchemaCompatibilityType,
    SchemaIncompatibilityType,
    lookup_writer_field,
    schema_name_equals,
)
from avro.schema import (
    ArraySchema,
    EnumSchema,
    FixedSchema,
    MapSchema,
    NamedSchema,
    RecordSchema,
    Schema,
    UnionSchema,
)

from schemas.compatibility import Incompatibility, ParsedSchema
from schemas.formats.avro import parse_schema, parse_schema_info, type_name

__all__ = ["reader_check_session", "reader_incompatibilities"]

NAME_MISMATCH = SchemaIncompatibilityType.name_mismatch.name.upper()
FIXED_SIZE_MISMATCH = SchemaIncompatibilityType.fixed_size_mismatch.name.upper()
MISSING_ENUM_SYMBOLS = SchemaIncompatibilityType.missing_enum_symbols.name.upper()
READER_FIELD_MISSING_DEFAULT_VALUE = SchemaIncompatibilityType.reader_field_missing_default_value.name.upper()
TYPE_MISMATCH = SchemaIncompatibilityType.type_mismatch.name.upper()
MISSING_UNION_BRANCH = SchemaIncompatibilityType.missing_union_branch.name.upper()


def reader_incompatibilities(reader: ParsedSchema, writer: ParsedSchema) -> list[Incompatibility]:
    """Why data written with `writer` cannot be read with `reader` (empty when it can)."""
    explainer = _Explainer()
    reader_schema, writer_schema = parse_schema(reader), parse_schema(writer)
    verdict = explainer.check(reader_schema, writer_schema)
    if verdict.compatibility is not SchemaCompatibilityType.incompatible:
        return []
    found = explainer.explain(reader_schema, writer_schema, location=(), label="the schema")
    # The walk mirrors the checker; should the two ever disagree, the checker's verdict stands
    # and its own (merged) wording is the explanation.
    return _deduplicated(found) or _from_result(verdict)


def reader_check_session() -> ReaderChecks:
    """A `reader_incompatibilities` for the many pairs of one compatibility check (see ReaderChecks)."""
    return ReaderChecks()


class ReaderChecks:
    """`reader_incompatibilities` for many pairs, sharing one checker (and so its memo) between them.

    The checker memoizes each reader/writer pair it compares by object identity, and parsed schemas
    share their equal sub-schemas (schemas.formats.avro), so checking one schema against many
    versions compares each distinct pair of sub-schemas once. The verdict stays the checker's:

    - the memo is shared only between acyclic schemas: there a pair can never be met again during
      its own comparison, the only case where the checker answers from an unfinished entry, so a
      memoized answer is exactly what a fresh checker computes for that pair;
    - when the checker raises, its memo may hold unfinished entries: it is dropped, and the pair
      goes through the plain path (which raises the same way);
    - an incompatible pair, or a pair with a recursive schema, goes through the plain path with a
      fresh checker: problems and messages are exactly `reader_incompatibilities`'.

    One instance per check, in one thread: the memo is not safe to share between threads.
    """

    def __init__(self) -> None:
        self._checker = ReaderWriterCompatibilityChecker()

    def __call__(self, reader: ParsedSchema, writer: ParsedSchema) -> list[Incompatibility]:
        reader_info, writer_info = parse_schema_info(reader), parse_schema_info(writer)
        if reader_info.acyclic and writer_info.acyclic:
            try:
                verdict = self._checker.get_compatibility(reader_info.schema, writer_info.schema)
            except Exception:
                self._checker = ReaderWriterCompatibilityChecker()
            else:
                if verdict.compatibility is not SchemaCompatibilityType.incompatible:
                    return []
        return reader_incompatibilities(reader, writer)


class _Explainer:
    """One comparison: a shared checker (it memoizes pairs) and the pairs being explained."""

    def __init__(self) -> None:
        self._checker = ReaderWriterCompatibilityChecker()
        self._in_progress: set[tuple[int, int]] = set()

    def check(self, reader: Schema, writer: Schema) -> SchemaCompatibilityResult:
        return self._checker.get_compatibility(reader, writer)

    def compatible(self, reader: Schema, writer: Schema) -> bool:
        return self.check(reader, writer).compatibility is not SchemaCompatibilityType.incompatible

    def explain(self, reader: Schema, writer: Schema, location: tuple[str, ...], label: str) -> list[Incompatibility]:
        """The problems of one pair, each at its own location; `label` names the place for people."""
        if self.compatible(reader, writer):
            return []
        pair = (id(reader), id(writer))
        if pair in self._in_progress:
            # A recursive type met again: the checker treats the repeated pair as compatible too.
            return []
        self._in_progress.add(pair)
        try:
            return self._explain_pair(reader, writer, location, label)
        finally:
            self._in_progress.discard(pair)

    def _explain_pair(
        self, reader: Schema, writer: Schema, location: tuple[str, ...], label: str
    ) -> list[Incompatibility]:
        if isinstance(writer, UnionSchema) and not isinstance(reader, UnionSchema):
            # Data may come from any writer branch; each one must be readable.
            return [problem for branch in writer.schemas for problem in self.explain(reader, branch, location, label)]
        if isinstance(reader, UnionSchema) and not isinstance(writer, UnionSchema):
            return self._missing_branch(reader, writer, location, label)
        if isinstance(reader, UnionSchema) and isinstance(writer, UnionSchema):
            return [
                problem
                for branch in writer.schemas
                if not self.compatible(reader, branch)
                for problem in self._missing_branch(reader, branch, location, label)
            ]
        if reader.type != writer.type:
            return [
                _problem(
                    TYPE_MISMATCH,
                    location,
                    f"{label}: the reader's {type_name(reader)} cannot hold the writer's {type_name(writer)}",
                )
            ]
        found: list[Incompatibility] = []
        if isinstance(reader, NamedSchema) and not schema_name_equals(reader, writer):
            found.append(
                _problem(
                    NAME_MISMATCH,
                    (*location, "name"),
                    f"{label}: the reader's {reader.type} is named {reader.fullname} but the writer's "
                    f"{writer.fullname}; give the reader's type the alias {writer.fullname!r} to rename it",
                )
            )
        if isinstance(reader, RecordSchema):
            found += self._record_fields(reader, writer, location)
        elif isinstance(reader, EnumSchema):
            missing = [symbol for symbol in writer.symbols if symbol not in reader.symbols]
            # The checker lets a reader's default symbol stand in for symbols it does not know.
            default = reader.get_prop("default")
            if missing and not (default and default in reader.symbols):
                found.append(
                    _problem(
                        MISSING_ENUM_SYMBOLS,
                        (*location, "symbols"),
                        f"{label}: the reader's enum {reader.fullname} lacks the writer's symbols "
                        f"{', '.join(missing)} and has no default symbol to read them as",
                    )
                )
        elif isinstance(reader, FixedSchema) and reader.size != writer.size:
            found.append(
                _problem(
                    FIXED_SIZE_MISMATCH,
                    (*location, "size"),
                    f"{label}: the reader's fixed {reader.fullname} has {reader.size} bytes, the writer's "
                    f"{writer.size}",
                )
            )
        elif isinstance(reader, ArraySchema):
            found += self.explain(reader.items, writer.items, (*location, "items"), f"{label} items")
        elif isinstance(reader, MapSchema):
            found += self.explain(reader.values, writer.values, (*location, "values"), f"{label} values")
        return found

    def _record_fields(
        self, reader: RecordSchema, writer: RecordSchema, location: tuple[str, ...]
    ) -> list[Incompatibility]:
        found: list[Incompatibility] = []
        for index, reader_field in enumerate(reader.fields):
            field_location = (*location, "fields", str(index))
            field_label = f"field {reader.fullname}.{reader_field.name}"
            writer_field = lookup_writer_field(writer_schema=writer, reader_field=reader_field)
            if writer_field is not None:
                found += self.explain(reader_field.type, writer_field.type, (*field_location, "type"), field_label)
            elif not reader_field.has_default:
                found.append(
                    _problem(
                        READER_FIELD_MISSING_DEFAULT_VALUE,
                        field_location,
                        f"{field_label} has no default value and the writer's {writer.fullname} does not have it",
                    )
                )
        return found

    def _missing_branch(
        self, reader: UnionSchema, writer: Schema, location: tuple[str, ...], label: str
    ) -> list[Incompatibility]:
        """No reader branch reads `writer`; when one has the writer's type and name, say why it cannot."""
        for index, branch in enumerate(reader.schemas):
            if branch.type == writer.type and getattr(branch, "name", None) == getattr(writer, "name", None):
                deeper = self.explain(branch, writer, (*location, str(index)), label)
                if deeper:
                    return deeper
        return [
            _problem(
                MISSING_UNION_BRANCH,
                location,
                f"{label}: the reader's union ({type_name(reader)}) has no branch that reads the writer's "
                f"{type_name(writer)}",
            )
        ]


def _problem(kind: str, location: tuple[str, ...], message: str) -> Incompatibility:
    return Incompatibility(kind=kind, path="/" + "/".join(location), message=message)


def _deduplicated(problems: list[Incompatibility]) -> list[Incompatibility]:
    # A record reachable twice (once per writer union branch, say) would report the same problem twice.
    return list(dict.fromkeys(problems))


def _from_result(result: SchemaCompatibilityResult) -> list[Incompatibility]:
    kinds = sorted({kind.name.upper() for kind in result.incompatibilities})
    return [
        Incompatibility(
            kind=kind,
            path=", ".join(sorted(result.locations)),
            message="; ".join(sorted(result.messages)),
        )
        for kind in kinds
    ]
