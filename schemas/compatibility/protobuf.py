"""Protobuf compatibility: Confluent's rules, as a reader/writer check over compiled descriptors.

Confluent's registry (`io.confluent.kafka.schemaregistry.protobuf.diff`) lists the differences
between an "original" and an "update" schema and calls the update compatible when every difference
is in its COMPATIBLE_CHANGES set. `update.isBackwardCompatible(original)` is what every level runs
(FORWARD swaps the two), so in reader/writer terms the original is the writer and the update the
reader. The same difference kinds are used here:

- Messages and enums are matched by name within their scope, fields by number, oneofs by name,
  enum constants by number.
- Field types are grouped as Confluent groups them (after the proto3 "updating a message" rules):
  int32/int64/uint32/uint64/bool/enums are varints; sint32/sint64 zigzag varints; string/bytes
  length-delimited; fixed32/sfixed32; fixed64/sfixed64; float; double. A change inside a group is
  silent, a change across groups is FIELD_SCALAR_KIND_CHANGED, and scalar <-> message <-> map is
  FIELD_KIND_CHANGED. A message-typed field compares the types' names without their package; a
  type that comes from a reference is compared field by field as well.
- Labels (optional / required / repeated) are compared only where Confluent's parser sees one on
  both sides: a proto3 field without a label and a oneof member have none, so `int32 x = 1` ->
  `repeated int32 x = 1` passes, as it does in Confluent's registry.
- Removing or adding a message anywhere is MESSAGE_REMOVED / MESSAGE_ADDED; only the removal is
  incompatible. Moving a message is compatible (message indexes are resolved per schema id).

SYNTAX_VERSION_CHANGED is this module's own addition, listed but compatible: Confluent does not
compare syntax, and what a proto2 -> proto3 change breaks (required fields, labels) is reported by
the other rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf import descriptor_pb2

from schemas.compatibility import Incompatibility, ParsedSchema
from schemas.formats.protobuf import CompiledProto, DeclaredType, compile_schema, declared_types

__all__ = ["COMPATIBLE_CHANGES", "Difference", "reader_incompatibilities", "schema_differences"]

FieldDescriptorProto = descriptor_pb2.FieldDescriptorProto
DescriptorProto = descriptor_pb2.DescriptorProto

COMPATIBLE_CHANGES = frozenset(
    {
        "PACKAGE_CHANGED",
        "SYNTAX_VERSION_CHANGED",
        "MESSAGE_ADDED",
        "MESSAGE_MOVED",
        "ENUM_ADDED",
        "ENUM_REMOVED",
        "ENUM_CONST_ADDED",
        "ENUM_CONST_CHANGED",
        "ENUM_CONST_REMOVED",
        "FIELD_ADDED",
        "FIELD_REMOVED",
        "FIELD_NAME_CHANGED",
        "FIELD_STRING_OR_BYTES_LABEL_CHANGED",
        "ONEOF_ADDED",
        "ONEOF_REMOVED",
        "ONEOF_FIELD_ADDED",
    }
)

_VARINT, _ZIGZAG, _LENGTH_DELIMITED = "varint", "zigzag varint", "string or bytes"
_SCALAR_GROUPS: dict[int, str] = {
    FieldDescriptorProto.TYPE_INT32: _VARINT,
    FieldDescriptorProto.TYPE_INT64: _VARINT,
    FieldDescriptorProto.TYPE_UINT32: _VARINT,
    FieldDescriptorProto.TYPE_UINT64: _VARINT,
    FieldDescriptorProto.TYPE_BOOL: _VARINT,
    FieldDescriptorProto.TYPE_ENUM: _VARINT,
    FieldDescriptorProto.TYPE_SINT32: _ZIGZAG,
    FieldDescriptorProto.TYPE_SINT64: _ZIGZAG,
    FieldDescriptorProto.TYPE_STRING: _LENGTH_DELIMITED,
    FieldDescriptorProto.TYPE_BYTES: _LENGTH_DELIMITED,
    FieldDescriptorProto.TYPE_FIXED32: "fixed32",
    FieldDescriptorProto.TYPE_SFIXED32: "fixed32",
    FieldDescriptorProto.TYPE_FIXED64: "fixed64",
    FieldDescriptorProto.TYPE_SFIXED64: "fixed64",
    FieldDescriptorProto.TYPE_FLOAT: "float",
    FieldDescriptorProto.TYPE_DOUBLE: "double",
}


@dataclass(frozen=True)
class Difference:
    """One difference between a writer's and a reader's schema; `kind` is Confluent's name."""

    kind: str
    path: str
    message: str

    @property
    def compatible(self) -> bool:
        return self.kind in COMPATIBLE_CHANGES


def reader_incompatibilities(reader: ParsedSchema, writer: ParsedSchema) -> list[Incompatibility]:
    """Why a consumer using `reader` cannot read data written with `writer` (empty: it can).

    Raises SchemaParseError when either schema does not compile.
    """
    return [
        Incompatibility(difference.kind, difference.path, difference.message)
        for difference in schema_differences(reader, writer)
        if not difference.compatible
    ]


def schema_differences(reader: ParsedSchema, writer: ParsedSchema) -> list[Difference]:
    """Every difference Confluent's rules see from `writer` to `reader`, compatible ones included."""
    comparison = _Comparison(_Side.of(writer), _Side.of(reader))
    comparison.compare_files()
    # A message type used by several fields is compared once per field; say each thing once.
    return list(dict.fromkeys(comparison.differences))


@dataclass(frozen=True)
class _Side:
    """One compiled schema with its declared types (those of its references included)."""

    compiled: CompiledProto
    types: dict[str, DeclaredType]

    @classmethod
    def of(cls, schema: ParsedSchema) -> _Side:
        compiled = compile_schema(schema)
        return cls(compiled, declared_types(compiled.files))

    def is_main(self, declared: DeclaredType) -> bool:
        return declared.file_name == self.compiled.main.name


@dataclass(frozen=True)
class _FieldType:
    """A field (or a map's key or value) and its label as Confluent sees it (None: no label)."""

    field: FieldDescriptorProto
    label: str | None


class _Comparison:
    """Walks a writer's and a reader's schema side by side, collecting differences."""

    def __init__(self, writer: _Side, reader: _Side, comparing: set[tuple[str, str]] | None = None) -> None:
        self.writer = writer
        self.reader = reader
        self.differences: list[Difference] = []
        # Message pairs being compared further up: recursive types stop here instead of looping.
        self._comparing = comparing if comparing is not None else set()

    def add(self, kind: str, path: str, message: str) -> None:
        self.differences.append(Difference(kind, path, message))

    # -- files, messages, enums ----------------------------------------------------------------

    def compare_files(self) -> None:
        writer, reader = self.writer.compiled.main, self.reader.compiled.main
        if writer.package != reader.package:
            self.add(
                "PACKAGE_CHANGED",
                "",
                f"the package is {writer.package or '(none)'} in the writer's schema "
                f"and {reader.package or '(none)'} in the reader's",
            )
        writer_syntax, reader_syntax = writer.syntax or "proto2", reader.syntax or "proto2"
        if writer_syntax != reader_syntax:
            self.add(
                "SYNTAX_VERSION_CHANGED",
                "",
                f"the writer's schema is {writer_syntax} and the reader's {reader_syntax}",
            )
        self._compare_types(
            writer.message_type,
            writer.enum_type,
            reader.message_type,
            reader.enum_type,
            writer_scope=_scope(writer.package),
            reader_scope=_scope(reader.package),
            path="",
        )

    def _compare_types(
        self,
        writer_messages: Iterable[DescriptorProto],
        writer_enums: Iterable[descriptor_pb2.EnumDescriptorProto],
        reader_messages: Iterable[DescriptorProto],
        reader_enums: Iterable[descriptor_pb2.EnumDescriptorProto],
        *,
        writer_scope: str,
        reader_scope: str,
        path: str,
    ) -> None:
        # Map entries are how protoc spells map fields, not messages anyone declared.
        writer_positions = _positions(m.name for m in writer_messages if not m.options.map_entry)
        reader_positions = _positions(m.name for m in reader_messages if not m.options.map_entry)
        for name in _union(writer_positions, reader_positions):
            message_path = _join(path, name)
            if name not in reader_positions:
                self.add(
                    "MESSAGE_REMOVED",
                    message_path,
                    f"message {message_path} is in the writer's schema but not in the reader's",
                )
            elif name not in writer_positions:
                self.add(
                    "MESSAGE_ADDED",
                    message_path,
                    f"message {message_path} is in the reader's schema but not the writer's",
                )
            else:
                writer_type = self.writer.types[f"{writer_scope}{name}"]
                reader_type = self.reader.types[f"{reader_scope}{name}"]
                self._compare_messages(writer_type, reader_type, message_path)
                if writer_positions[name] != reader_positions[name]:
                    self.add(
                        "MESSAGE_MOVED",
                        message_path,
                        f"message {message_path} is at position {writer_positions[name]} in the writer's schema "
                        f"and {reader_positions[name]} in the reader's",
                    )

        writer_by_name = {enum.name: enum for enum in writer_enums}
        reader_by_name = {enum.name: enum for enum in reader_enums}
        for name in _union(writer_by_name, reader_by_name):
            enum_path = _join(path, name)
            if name not in reader_by_name:
                self.add(
                    "ENUM_REMOVED", enum_path, f"enum {enum_path} is in the writer's schema but not in the reader's"
                )
            elif name not in writer_by_name:
                self.add("ENUM_ADDED", enum_path, f"enum {enum_path} is in the reader's schema but not the writer's")
            else:
                self._compare_enums(writer_by_name[name], reader_by_name[name], enum_path)

    def _compare_enums(
        self, writer: descriptor_pb2.EnumDescriptorProto, reader: descriptor_pb2.EnumDescriptorProto, path: str
    ) -> None:
        # With allow_alias a number has several names; the first one declared stands for it.
        writer_names: dict[int, str] = {}
        reader_names: dict[int, str] = {}
        for value in writer.value:
            writer_names.setdefault(value.number, value.name)
        for value in reader.value:
            reader_names.setdefault(value.number, value.name)
        for number in sorted(writer_names.keys() | reader_names.keys()):
            name = reader_names.get(number) or writer_names[number]
            value_path = f"{path}.{name} (value {number})"
            if number not in reader_names:
                self.add("ENUM_CONST_REMOVED", value_path, f"value {number} is only in the writer's enum")
            elif number not in writer_names:
                self.add("ENUM_CONST_ADDED", value_path, f"value {number} is only in the reader's enum")
            elif writer_names[number] != name:
                self.add(
                    "ENUM_CONST_CHANGED",
                    value_path,
                    f"value {number} is {writer_names[number]} in the writer's enum and {name} in the reader's",
                )

    def _compare_messages(self, writer_type: DeclaredType, reader_type: DeclaredType, path: str) -> None:
        pair = (writer_type.full_name, reader_type.full_name)
        if pair in self._comparing:
            return
        self._comparing.add(pair)
        try:
            self._compare_message_fields(writer_type, reader_type, path)
        finally:
            self._comparing.discard(pair)
        assert writer_type.message is not None and reader_type.message is not None
        self._compare_types(
            writer_type.message.nested_type,
            writer_type.message.enum_type,
            reader_type.message.nested_type,
            reader_type.message.enum_type,
            writer_scope=f".{writer_type.full_name}.",
            reader_scope=f".{reader_type.full_name}.",
            path=path,
        )

    # -- fields and oneofs ---------------------------------------------------------------------

    def _compare_message_fields(self, writer_type: DeclaredType, reader_type: DeclaredType, path: str) -> None:
        writer, reader = _MessageFields(writer_type), _MessageFields(reader_type)

        # Fields that were plain fields for the writer and share a oneof for the reader: a writer
        # may set them all, and the reader keeps only the last one it reads.
        writer_plain = dict(writer.plain)
        for oneof_name, numbers in reader.oneofs.items():
            moved = [number for number in numbers if number in writer_plain]
            already_in_oneof = [
                number for number in numbers if number not in writer_plain and number in writer.oneof_of
            ]
            for number in moved:
                del writer_plain[number]
            oneof_path = f"{path}.{oneof_name} (oneof)"
            if len(moved) > 1:
                self.add(
                    "MULTIPLE_FIELDS_MOVED_TO_ONEOF",
                    oneof_path,
                    f"fields {_numbers(moved)} are separate in the writer's schema but share oneof {oneof_name} in "
                    "the reader's, so a reader drops all but one of them",
                )
            elif moved and already_in_oneof:
                self.add(
                    "FIELD_MOVED_TO_EXISTING_ONEOF",
                    oneof_path,
                    f"field {moved[0]} moved into oneof {oneof_name}, which holds fields {_numbers(already_in_oneof)} "
                    "that were in a oneof of the writer's schema already; a writer may set both",
                )

        for oneof_name in _union(writer.oneofs, reader.oneofs):
            oneof_path = f"{path}.{oneof_name} (oneof)"
            if oneof_name not in reader.oneofs:
                self.add("ONEOF_REMOVED", oneof_path, f"oneof {oneof_name} is only in the writer's schema")
            elif oneof_name not in writer.oneofs:
                self.add("ONEOF_ADDED", oneof_path, f"oneof {oneof_name} is only in the reader's schema")
            else:
                self._compare_oneof_members(writer, reader, oneof_name, path)

        for number in sorted(writer_plain.keys() | reader.plain.keys()):
            writer_field, reader_field = writer_plain.get(number), reader.plain.get(number)
            if reader_field is None:
                assert writer_field is not None
                self._field_removed(writer_field, path)
            elif writer_field is None:
                self._field_added(reader_field, path)
            else:
                self._compare_fields(writer_field, reader_field, writer_type.syntax, reader_type.syntax, path)

        # A field that moved into, out of or between oneofs was skipped above; its type still counts.
        for number in sorted(writer.all.keys() & reader.all.keys()):
            writer_oneof, reader_oneof = writer.oneof_of.get(number), reader.oneof_of.get(number)
            if writer_oneof == reader_oneof:
                continue
            self._compare_fields(writer.all[number], reader.all[number], writer_type.syntax, reader_type.syntax, path)

    def _compare_oneof_members(
        self, writer: _MessageFields, reader: _MessageFields, oneof_name: str, path: str
    ) -> None:
        writer_members = {n: writer.all[n] for n in writer.oneofs[oneof_name]}
        reader_members = {n: reader.all[n] for n in reader.oneofs[oneof_name]}
        for number in sorted(writer_members.keys() | reader_members.keys()):
            writer_field, reader_field = writer_members.get(number), reader_members.get(number)
            if reader_field is None:
                assert writer_field is not None
                # A member that moved elsewhere in the message is compared by number, not lost.
                if number not in reader.all:
                    self.add(
                        "ONEOF_FIELD_REMOVED",
                        _field_path(path, writer_field),
                        f"field {number} ({writer_field.name}) of oneof {oneof_name} is only in the writer's schema: "
                        "a writer that sets it leaves the reader's oneof unset",
                    )
            elif writer_field is None:
                self.add(
                    "ONEOF_FIELD_ADDED",
                    _field_path(path, reader_field),
                    f"field {number} ({reader_field.name}) of oneof {oneof_name} is only in the reader's schema",
                )
            else:
                self._compare_fields(writer_field, reader_field, writer.syntax, reader.syntax, path)

    def _field_removed(self, writer_field: FieldDescriptorProto, path: str) -> None:
        number, name = writer_field.number, writer_field.name
        if writer_field.label == FieldDescriptorProto.LABEL_REQUIRED:
            self.add(
                "REQUIRED_FIELD_REMOVED",
                _field_path(path, writer_field),
                f"field {number} ({name}) is required in the writer's schema but missing from the reader's",
            )
        else:
            self.add(
                "FIELD_REMOVED",
                _field_path(path, writer_field),
                f"field {number} ({name}) is only in the writer's schema",
            )

    def _field_added(self, reader_field: FieldDescriptorProto, path: str) -> None:
        number, name = reader_field.number, reader_field.name
        if reader_field.label == FieldDescriptorProto.LABEL_REQUIRED:
            self.add(
                "REQUIRED_FIELD_ADDED",
                _field_path(path, reader_field),
                f"the reader's schema requires field {number} ({name}), which the writer's schema does not have",
            )
        else:
            self.add(
                "FIELD_ADDED",
                _field_path(path, reader_field),
                f"field {number} ({name}) is only in the reader's schema",
            )

    def _compare_fields(
        self,
        writer_field: FieldDescriptorProto,
        reader_field: FieldDescriptorProto,
        writer_syntax: str,
        reader_syntax: str,
        path: str,
    ) -> None:
        field_path = _field_path(path, reader_field)
        if writer_field.name != reader_field.name:
            self.add(
                "FIELD_NAME_CHANGED",
                field_path,
                f"field {reader_field.number} is named {writer_field.name} in the writer's schema "
                f"and {reader_field.name} in the reader's",
            )
        self._compare_field_types(
            _FieldType(writer_field, _label(writer_field, writer_syntax)),
            _FieldType(reader_field, _label(reader_field, reader_syntax)),
            field_path,
        )

    def _compare_field_types(self, writer: _FieldType, reader: _FieldType, path: str) -> None:
        writer_kind, reader_kind = self._kind(self.writer, writer.field), self._kind(self.reader, reader.field)
        if writer_kind != reader_kind:
            self.add(
                "FIELD_KIND_CHANGED",
                path,
                f"the field is a {writer_kind} ({self._type_text(self.writer, writer.field)}) in the writer's schema "
                f"but a {reader_kind} ({self._type_text(self.reader, reader.field)}) in the reader's",
            )
        elif writer_kind == "scalar":
            self._compare_scalars(writer, reader, path)
        elif writer_kind == "message":
            self._compare_message_types(writer.field, reader.field, path)
        else:
            writer_entry = self.writer.types[writer.field.type_name].message
            reader_entry = self.reader.types[reader.field.type_name].message
            assert writer_entry is not None and reader_entry is not None
            # Keys and values carry no label of their own.
            for index in (0, 1):
                self._compare_field_types(
                    _FieldType(writer_entry.field[index], None), _FieldType(reader_entry.field[index], None), path
                )

    def _compare_scalars(self, writer: _FieldType, reader: _FieldType, path: str) -> None:
        writer_group, reader_group = _SCALAR_GROUPS[writer.field.type], _SCALAR_GROUPS[reader.field.type]
        writer_text = self._type_text(self.writer, writer.field)
        reader_text = self._type_text(self.reader, reader.field)
        if writer_group != reader_group:
            self.add(
                "FIELD_SCALAR_KIND_CHANGED",
                path,
                f"the field is {writer_text} ({writer_group}) in the writer's schema but {reader_text} "
                f"({reader_group}) in the reader's: their wire encodings differ",
            )
        elif writer.label is not None and reader.label is not None and writer.label != reader.label:
            if writer_group == _LENGTH_DELIMITED:
                kind, why = "FIELD_STRING_OR_BYTES_LABEL_CHANGED", "strings and bytes read either way"
            elif "repeated" in (writer.label, reader.label):
                kind, why = "FIELD_NUMERIC_LABEL_CHANGED", "packed repeated numbers do not read as a single number"
            else:
                kind, why = "FIELD_NUMERIC_LABEL_CHANGED", "a reader that requires the number fails when it is absent"
            self.add(
                kind,
                path,
                f"the field is {writer.label} {writer_text} in the writer's schema but {reader.label} {reader_text} "
                f"in the reader's; {why}",
            )

    def _compare_message_types(
        self, writer_field: FieldDescriptorProto, reader_field: FieldDescriptorProto, path: str
    ) -> None:
        writer_type = self.writer.types[writer_field.type_name]
        reader_type = self.reader.types[reader_field.type_name]
        if writer_type.local_name != reader_type.local_name:
            self.add(
                "FIELD_NAMED_TYPE_CHANGED",
                path,
                f"the field is a {writer_type.full_name} in the writer's schema but a {reader_type.full_name} "
                "in the reader's",
            )
            return
        if self.writer.is_main(writer_type) and self.reader.is_main(reader_type):
            return  # the walk over the main file compares these two messages where they are declared
        # At least one side takes the type from a reference (or a built-in file): compare the
        # messages themselves, under their own names.
        nested = _Comparison(self.writer, self.reader, self._comparing)
        nested._compare_messages(writer_type, reader_type, writer_type.local_name)
        self.differences += nested.differences
        if any(not difference.compatible for difference in nested.differences):
            self.add(
                "FIELD_NAMED_TYPE_CHANGED",
                path,
                f"the field's type {writer_type.local_name} changed incompatibly between the writer's schema and the "
                "reader's",
            )

    @staticmethod
    def _kind(side: _Side, field_descriptor: FieldDescriptorProto) -> str:
        if field_descriptor.type not in (FieldDescriptorProto.TYPE_MESSAGE, FieldDescriptorProto.TYPE_GROUP):
            return "scalar"  # enums included: on the wire they are varints
        return "map" if side.types[field_descriptor.type_name].is_map_entry else "message"

    @staticmethod
    def _type_text(side: _Side, field_descriptor: FieldDescriptorProto) -> str:
        if field_descriptor.type_name:
            return side.types[field_descriptor.type_name].full_name
        return FieldDescriptorProto.Type.Name(field_descriptor.type).removeprefix("TYPE_").lower()


class _MessageFields:
    """A message's fields by number, split into plain fields and oneof members."""

    def __init__(self, declared: DeclaredType) -> None:
        assert declared.message is not None
        message = declared.message
        self.syntax = declared.syntax
        self.all: dict[int, FieldDescriptorProto] = {f.number: f for f in message.field}
        self.plain: dict[int, FieldDescriptorProto] = {}
        self.oneof_of: dict[int, str] = {}
        self.oneofs: dict[str, list[int]] = {}
        for each in message.field:
            if _in_declared_oneof(each):
                oneof_name = message.oneof_decl[each.oneof_index].name
                self.oneof_of[each.number] = oneof_name
                self.oneofs.setdefault(oneof_name, []).append(each.number)
            else:
                self.plain[each.number] = each


def _in_declared_oneof(field_descriptor: FieldDescriptorProto) -> bool:
    # proto3 `optional` puts a field in a synthetic oneof of its own; that is not a oneof to compare.
    return field_descriptor.HasField("oneof_index") and not field_descriptor.proto3_optional


def _label(field_descriptor: FieldDescriptorProto, syntax: str) -> str | None:
    """The label as written in the source, or None where Confluent's parser sees none."""
    if field_descriptor.label == FieldDescriptorProto.LABEL_REPEATED:
        return "repeated"
    if field_descriptor.label == FieldDescriptorProto.LABEL_REQUIRED:
        return "required"
    if _in_declared_oneof(field_descriptor):
        return None
    if syntax == "proto2" or field_descriptor.proto3_optional:
        return "optional"
    return None


def _scope(package: str) -> str:
    return f".{package}." if package else "."


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _field_path(path: str, field_descriptor: FieldDescriptorProto) -> str:
    return f"{path}.{field_descriptor.name} (field {field_descriptor.number})"


def _positions(names: Iterable[str]) -> dict[str, int]:
    return {name: index for index, name in enumerate(names)}


def _union(first: Iterable[str], second: Iterable[str]) -> list[str]:
    """Names of both, the first's in order and then the second's new ones: a stable report order."""
    return list(dict.fromkeys([*first, *second]))


def _numbers(numbers: list[int]) -> str:
    return ", ".join(str(number) for number in numbers)
