"""Protobuf schemas: compiling with protoc, canonical text, serialized descriptors, field paths.

A Protobuf schema reaches the registry in one of two forms, and both compile to the same
`FileDescriptorProto`:

- `.proto` text (what the Java clients, the CLI and people send);
- a base64-encoded serialized `FileDescriptorProto` (what confluent-kafka's Python
  `ProtobufSerializer` registers, for the main schema and for each reference).

References map an import path ("common/money.proto") to the text of that file, in either form. The
well-known types (`google/protobuf/*.proto`) are built in, as in Confluent's registry. Compilation
runs protoc in-process (grpcio-tools) and is cached, so checking one schema against every version
of a subject compiles each text once.

Pure functions over `ParsedSchema`: no Django, and no I/O beyond protoc's temporary files.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_encoding, text_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from grpc_tools import protoc

from schemas.compatibility import ParsedSchema
from schemas.formats import FieldInfo, SchemaParseError

__all__ = [
    "MAIN_FILE_NAME",
    "CompiledProto",
    "DeclaredType",
    "compile_proto",
    "compile_schema",
    "declared_types",
    "field_paths",
    "message_names",
    "normalize",
    "serialized",
]

FileDescriptorProto = descriptor_pb2.FileDescriptorProto
DescriptorProto = descriptor_pb2.DescriptorProto
EnumDescriptorProto = descriptor_pb2.EnumDescriptorProto
FieldDescriptorProto = descriptor_pb2.FieldDescriptorProto

# The file name the main schema gets inside the compiled set (a reference may not use it; see
# `_main_file_name`). Confluent's deserializers rename the main file anyway.
MAIN_FILE_NAME = "schema.proto"

_WELL_KNOWN_TYPES_DIR = str(resources.files("grpc_tools") / "_proto")
_DESCRIPTOR_PROTO = "google/protobuf/descriptor.proto"
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
# protoc reports through the process's stderr (file descriptor 2); capturing it means swapping
# that descriptor, which must not happen in two threads at once.
_PROTOC_LOCK = threading.Lock()


# ---------------------------------------------------------------------------------------------
# Compiling
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledProto:
    """A compiled schema: its main file and every file it needs, dependencies first, main last.

    Instances are shared by the compile cache: treat the descriptors as read-only. The main file
    keeps protoc's source info (comments), which `field_paths` reads as field docs.
    """

    main: FileDescriptorProto
    files: tuple[FileDescriptorProto, ...]


def compile_schema(schema: ParsedSchema) -> CompiledProto:
    """Compile `schema` and its references; raise SchemaParseError with protoc's message when invalid."""
    return _compile_cached(schema.text, tuple(sorted(schema.references.items())))


def compile_proto(text: str, references: dict[str, str]) -> FileDescriptorProto:
    """The main file's descriptor (a fresh copy, without source info) of `text` with its references.

    `text` and each reference (import path -> text) are `.proto` text or a base64-encoded
    serialized FileDescriptorProto. Raises SchemaParseError ("schema.proto:8:3: Expected ...").
    """
    compiled = _compile_cached(text, tuple(sorted(references.items())))
    main = FileDescriptorProto()
    main.CopyFrom(compiled.main)
    main.ClearField("source_code_info")
    return main


@functools.lru_cache(maxsize=512)
def _compile_cached(text: str, references: tuple[tuple[str, str], ...]) -> CompiledProto:
    return _compile(text, dict(references))


def _compile(text: str, references: dict[str, str]) -> CompiledProto:
    main_name = _main_file_name(references)
    sources: dict[str, str] = {}
    descriptors: list[FileDescriptorProto] = []
    for import_path, reference_text in references.items():
        _check_import_path(import_path)
        _collect_file(import_path, reference_text, sources, descriptors)
    _collect_file(main_name, text, sources, descriptors)

    with tempfile.TemporaryDirectory(prefix="eventscope-protoc-") as tmp:
        root = Path(tmp)
        source_dir = root / "src"
        for import_path, body in sources.items():
            path = source_dir / import_path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_utf8(body, import_path, main_name))
        source_dir.mkdir(exist_ok=True)
        args = ["protoc", f"--proto_path={source_dir}", f"--proto_path={_WELL_KNOWN_TYPES_DIR}"]
        if descriptors:
            # Files given as descriptors join the compilation as a descriptor set; protoc still
            # checks them (every type resolves, no duplicates) when it builds the main file.
            descriptor_set = root / "given.pb"
            descriptor_set.write_bytes(descriptor_pb2.FileDescriptorSet(file=descriptors).SerializeToString())
            args.append(f"--descriptor_set_in={descriptor_set}")
        output = root / "compiled.pb"
        args += [f"--descriptor_set_out={output}", "--include_imports", "--include_source_info", main_name]
        exit_code, messages = _run_protoc(args)
        if exit_code != 0:
            raise SchemaParseError(_protoc_errors(messages, root))
        compiled = descriptor_pb2.FileDescriptorSet.FromString(output.read_bytes())

    files = tuple(compiled.file)
    main = next(file for file in files if file.name == main_name)
    return CompiledProto(main=main, files=files)


def _main_file_name(references: dict[str, str]) -> str:
    name, suffix = MAIN_FILE_NAME, 0
    while name in references:
        suffix += 1
        name = f"schema_{suffix}.proto"
    return name


def _check_import_path(import_path: str) -> None:
    """Refuse reference names that are not plain relative paths: they become files on disk."""
    path = PurePosixPath(import_path)
    if (
        not import_path
        or "\\" in import_path
        or "\x00" in import_path
        or path.is_absolute()
        or ".." in path.parts
        or str(path) != import_path
    ):
        raise SchemaParseError(f"reference name {import_path!r} is not a relative import path such as 'a/b.proto'")


def _collect_file(import_path: str, text: str, sources: dict[str, str], descriptors: list[FileDescriptorProto]) -> None:
    descriptor = _descriptor_from_base64(text)
    if descriptor is None:
        sources[import_path] = text
    else:
        # Confluent's clients name a file by its import path whatever name its descriptor carries.
        descriptor.name = import_path
        descriptors.append(descriptor)


def _descriptor_from_base64(text: str) -> FileDescriptorProto | None:
    """The descriptor `text` encodes, or None when it is not base64 of a FileDescriptorProto.

    Non-empty `.proto` text always has a character outside the base64 alphabet (`;`, `{`, a quote
    or a space), so trying base64 first never mistakes a proto file for a descriptor.
    """
    compact = "".join(text.split())
    if not compact or not _BASE64.fullmatch(compact):
        return None
    try:
        return FileDescriptorProto.FromString(base64.b64decode(compact, validate=True))
    except (binascii.Error, DecodeError):
        return None


def _utf8(text: str, import_path: str, main_name: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as error:
        which = "the schema" if import_path == main_name else f"reference {import_path!r}"
        raise SchemaParseError(f"{which} is not valid UTF-8 text: {error.reason}") from None


def _run_protoc(args: list[str]) -> tuple[int, str]:
    """Run protoc in this process; return its exit code and what it printed (errors, warnings)."""
    with _PROTOC_LOCK, tempfile.TemporaryFile() as captured:
        sys.stderr.flush()
        saved_stderr = os.dup(2)
        try:
            os.dup2(captured.fileno(), 2)
            try:
                exit_code = protoc.main(args)
            finally:
                os.dup2(saved_stderr, 2)
        finally:
            os.close(saved_stderr)
        captured.seek(0)
        return exit_code, captured.read().decode("utf-8", errors="replace")


def _protoc_errors(messages: str, root: Path) -> str:
    """protoc's error lines ("schema.proto:8:3: Expected ..."), warnings and temp paths left out."""
    errors = []
    for line in messages.splitlines():
        for prefix in (f"{root / 'src'}{os.sep}", f"{root}{os.sep}", f"{_WELL_KNOWN_TYPES_DIR}{os.sep}"):
            line = line.replace(prefix, "")
        line = line.strip()
        if line and ": warning:" not in line:
            errors.append(line)
    return "\n".join(errors) or "protoc could not compile the schema"


# ---------------------------------------------------------------------------------------------
# Declared types
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeclaredType:
    """A message or enum declared in one of a compiled schema's files."""

    full_name: str  # "shop.Order.Item"
    local_name: str  # without the package: "Order.Item"
    package: str
    file_name: str
    syntax: str  # "proto2", "proto3" or "editions"
    message: DescriptorProto | None = None
    enum: EnumDescriptorProto | None = None

    @property
    def is_map_entry(self) -> bool:
        return self.message is not None and self.message.options.map_entry


def declared_types(files: Iterable[FileDescriptorProto]) -> dict[str, DeclaredType]:
    """Every message and enum of `files`, keyed by the name fields use for it (".shop.Order.Item")."""
    found: dict[str, DeclaredType] = {}
    for file in files:
        syntax = _syntax(file)
        for local, message, enum in _local_types(file.message_type, file.enum_type, ""):
            full = f"{file.package}.{local}" if file.package else local
            found[f".{full}"] = DeclaredType(full, local, file.package, file.name, syntax, message, enum)
    return found


def _local_types(
    messages: Iterable[DescriptorProto], enums: Iterable[EnumDescriptorProto], scope: str
) -> Iterator[tuple[str, DescriptorProto | None, EnumDescriptorProto | None]]:
    """(name without the package, message, enum) of each type, a message before its nested types."""
    for enum in enums:
        yield f"{scope}{enum.name}", None, enum
    for message in messages:
        yield f"{scope}{message.name}", message, None
        yield from _local_types(message.nested_type, message.enum_type, f"{scope}{message.name}.")


def _syntax(file: FileDescriptorProto) -> str:
    # protoc leaves `syntax` empty for proto2 files.
    return file.syntax or "proto2"


def _scalar_name(field_type: int) -> str:
    return FieldDescriptorProto.Type.Name(field_type).removeprefix("TYPE_").lower()


def _in_real_oneof(field: FieldDescriptorProto) -> bool:
    """True for members of a declared oneof; proto3 `optional` fields sit in a synthetic one."""
    return field.HasField("oneof_index") and not field.proto3_optional


def _map_entry(field: FieldDescriptorProto, types: dict[str, DeclaredType]) -> DescriptorProto | None:
    if field.type != FieldDescriptorProto.TYPE_MESSAGE or field.label != FieldDescriptorProto.LABEL_REPEATED:
        return None
    declared = types.get(field.type_name)
    return declared.message if declared is not None and declared.is_map_entry else None


# ---------------------------------------------------------------------------------------------
# Canonical text, serialized form, message names
# ---------------------------------------------------------------------------------------------


def normalize(schema: ParsedSchema) -> str:
    """Canonical `.proto` text of the main file, rendered from its compiled descriptor.

    Layout and comments are gone; type names are fully qualified (".shop.Money"); imports and
    options are sorted; fields are in field-number order with each oneof at its first member.
    Messages and enums keep their declaration order, because a message's position is part of
    Confluent's wire format (the message indexes). The text form and the base64 descriptor form of
    one schema give the same text. Raises SchemaParseError when the schema does not compile.
    """
    compiled = compile_schema(schema)
    return _ProtoWriter(compiled).file_text()


def serialized(schema: ParsedSchema) -> str:
    """Base64 of the main file's serialized FileDescriptorProto (`?format=serialized`)."""
    main = compile_proto(schema.text, schema.references)
    return base64.b64encode(main.SerializeToString()).decode("ascii")


def message_names(schema: ParsedSchema) -> list[str]:
    """Fully qualified names of the main file's messages, nested ones after their parent.

    The first is the message serializers use by default (Confluent's message index [0]).
    """
    compiled = compile_schema(schema)
    types = declared_types([compiled.main])
    return [
        name.removeprefix(".") for name, declared in types.items() if declared.message and not declared.is_map_entry
    ]


class _ProtoWriter:
    """Renders a compiled file as `.proto` text, deterministically."""

    def __init__(self, compiled: CompiledProto) -> None:
        self._file = compiled.main
        self._syntax = _syntax(compiled.main)
        self._types = declared_types(compiled.files)
        self._options = _OptionWriter(compiled.files)

    def file_text(self) -> str:
        file = self._file
        head = []
        if self._syntax == "editions":
            head.append(f'edition = "{descriptor_pb2.Edition.Name(file.edition).removeprefix("EDITION_")}";')
        else:
            head.append(f'syntax = "{self._syntax}";')
        if file.package:
            head.append(f"package {file.package};")
        imports = []
        for index, dependency in enumerate(file.dependency):
            modifier = (
                "public " if index in file.public_dependency else "weak " if index in file.weak_dependency else ""
            )
            imports.append(f'import {modifier}"{dependency}";')
        head += sorted(imports)
        head += [f"option {entry};" for entry in self._options.entries(file.options)]

        blocks = ["\n".join(head)]
        blocks += ["\n".join(self._message(message, "")) for message in file.message_type]
        blocks += ["\n".join(self._enum(enum, "")) for enum in file.enum_type]
        blocks += ["\n".join(self._service(service)) for service in file.service]
        blocks += ["\n".join(self._extensions(file.extension, ""))] if file.extension else []
        return "\n\n".join(blocks) + "\n"

    def _message(self, message: DescriptorProto, indent: str) -> list[str]:
        return [f"{indent}message {message.name} {{", *self._message_body(message, indent + "  "), f"{indent}}}"]

    def _message_body(self, message: DescriptorProto, indent: str) -> list[str]:
        lines = [f"{indent}option {entry};" for entry in self._options.entries(message.options)]
        lines += self._reserved(message.reserved_range, message.reserved_name, indent, end_inclusive=False)
        for extension_range in message.extension_range:
            lines.append(f"{indent}extensions {_range_text(extension_range.start, extension_range.end - 1)};")

        # A proto2 group's message is written inside its field, not again among the nested types.
        group_types = {
            field.type_name.rsplit(".", 1)[-1]
            for field in message.field
            if field.type == FieldDescriptorProto.TYPE_GROUP and self._syntax == "proto2"
        }
        nested_by_name = {nested.name: nested for nested in message.nested_type}
        written_oneofs: set[int] = set()
        for field in sorted(message.field, key=lambda f: f.number):
            if not _in_real_oneof(field):
                lines += self._field(field, indent, nested_by_name, in_oneof=False)
            elif field.oneof_index not in written_oneofs:
                written_oneofs.add(field.oneof_index)
                lines += self._oneof(message, field.oneof_index, nested_by_name, indent)

        for nested in message.nested_type:
            if not nested.options.map_entry and nested.name not in group_types:
                lines += self._message(nested, indent)
        for enum in message.enum_type:
            lines += self._enum(enum, indent)
        lines += self._extensions(message.extension, indent)
        return lines

    def _oneof(
        self, message: DescriptorProto, index: int, nested_by_name: dict[str, DescriptorProto], indent: str
    ) -> list[str]:
        oneof = message.oneof_decl[index]
        lines = [f"{indent}oneof {oneof.name} {{"]
        lines += [f"{indent}  option {entry};" for entry in self._options.entries(oneof.options)]
        members = sorted(
            (f for f in message.field if _in_real_oneof(f) and f.oneof_index == index), key=lambda f: f.number
        )
        for member in members:
            lines += self._field(member, indent + "  ", nested_by_name, in_oneof=True)
        lines.append(f"{indent}}}")
        return lines

    def _field(
        self, field: FieldDescriptorProto, indent: str, nested_by_name: dict[str, DescriptorProto], *, in_oneof: bool
    ) -> list[str]:
        options = self._field_options(field)
        entry = _map_entry(field, self._types)
        if entry is not None:
            key, value = entry.field[0], entry.field[1]
            return [
                f"{indent}map<{self._type_text(key)}, {self._type_text(value)}> {field.name} = {field.number}{options};"
            ]
        label = self._label(field, in_oneof)
        if field.type == FieldDescriptorProto.TYPE_GROUP and self._syntax == "proto2":
            group = nested_by_name[field.type_name.rsplit(".", 1)[-1]]
            body = self._message_body(group, indent + "  ")
            return [f"{indent}{label}group {group.name} = {field.number}{options} {{", *body, f"{indent}}}"]
        return [f"{indent}{label}{self._type_text(field)} {field.name} = {field.number}{options};"]

    def _label(self, field: FieldDescriptorProto, in_oneof: bool) -> str:
        if field.label == FieldDescriptorProto.LABEL_REPEATED:
            return "repeated "
        if field.label == FieldDescriptorProto.LABEL_REQUIRED:
            return "required "
        if in_oneof or self._syntax == "editions":
            return ""
        if self._syntax == "proto2" or field.proto3_optional:
            return "optional "
        return ""

    @staticmethod
    def _type_text(field: FieldDescriptorProto) -> str:
        if field.type_name:
            return field.type_name
        return _scalar_name(field.type)

    def _field_options(self, field: FieldDescriptorProto) -> str:
        entries = []
        if field.HasField("default_value"):
            entries.append(f"default = {_default_text(field)}")
        if field.HasField("json_name") and field.json_name != _default_json_name(field.name):
            entries.append(f'json_name = "{text_encoding.CEscape(field.json_name, as_utf8=True)}"')
        entries += self._options.entries(field.options)
        return f" [{', '.join(entries)}]" if entries else ""

    def _enum(self, enum: EnumDescriptorProto, indent: str) -> list[str]:
        inner = indent + "  "
        lines = [f"{indent}enum {enum.name} {{"]
        lines += [f"{inner}option {entry};" for entry in self._options.entries(enum.options)]
        lines += self._reserved(enum.reserved_range, enum.reserved_name, inner, end_inclusive=True)
        # Declaration order, not number order: the first value is the default in proto2.
        for value in enum.value:
            options = self._options.entries(value.options)
            suffix = f" [{', '.join(options)}]" if options else ""
            lines.append(f"{inner}{value.name} = {value.number}{suffix};")
        lines.append(f"{indent}}}")
        return lines

    def _service(self, service: descriptor_pb2.ServiceDescriptorProto) -> list[str]:
        lines = [f"service {service.name} {{"]
        lines += [f"  option {entry};" for entry in self._options.entries(service.options)]
        for method in service.method:
            request = f"{'stream ' if method.client_streaming else ''}{method.input_type}"
            response = f"{'stream ' if method.server_streaming else ''}{method.output_type}"
            signature = f"  rpc {method.name}({request}) returns ({response})"
            options = self._options.entries(method.options)
            if options:
                lines.append(f"{signature} {{")
                lines += [f"    option {entry};" for entry in options]
                lines.append("  }")
            else:
                lines.append(f"{signature};")
        lines.append("}")
        return lines

    def _extensions(self, extensions: Iterable[FieldDescriptorProto], indent: str) -> list[str]:
        by_extendee: dict[str, list[FieldDescriptorProto]] = {}
        for extension in extensions:
            by_extendee.setdefault(extension.extendee, []).append(extension)
        lines = []
        for extendee, fields in by_extendee.items():
            lines.append(f"{indent}extend {extendee} {{")
            for field in sorted(fields, key=lambda f: f.number):
                lines += self._field(field, indent + "  ", {}, in_oneof=False)
            lines.append(f"{indent}}}")
        return lines

    @staticmethod
    def _reserved(ranges: Iterable[Any], names: Iterable[str], indent: str, *, end_inclusive: bool) -> list[str]:
        # Message reserved ranges store an exclusive end, enum reserved ranges an inclusive one.
        spans = sorted((r.start, r.end if end_inclusive else r.end - 1) for r in ranges)
        lines = []
        if spans:
            lines.append(f"{indent}reserved {', '.join(_range_text(start, end) for start, end in spans)};")
        if names:
            quoted = sorted(f'"{name}"' for name in names)
            lines.append(f"{indent}reserved {', '.join(quoted)};")
        return lines


def _range_text(start: int, end: int) -> str:
    return str(start) if start == end else f"{start} to {end}"


def _default_text(field: FieldDescriptorProto) -> str:
    if field.type == FieldDescriptorProto.TYPE_STRING:
        return f'"{text_encoding.CEscape(field.default_value, as_utf8=True)}"'
    if field.type == FieldDescriptorProto.TYPE_BYTES:
        # protoc stores a bytes default already C-escaped.
        return f'"{field.default_value}"'
    return field.default_value


def _default_json_name(name: str) -> str:
    """protoc's JSON name for a field: underscores dropped, the letter after each one capitalized."""
    parts = name.split("_")
    return parts[0] + "".join(part[:1].upper() + part[1:] for part in parts[1:])


class _OptionWriter:
    """Writes an options message as sorted `name = value` entries, custom options included.

    Custom options are extensions of descriptor.proto's option messages; the stock classes do not
    know them and keep them as unknown fields. When the compiled files define any (they must then
    import descriptor.proto), the options are re-read through a pool that holds those files.
    """

    def __init__(self, files: tuple[FileDescriptorProto, ...]) -> None:
        self._pool: descriptor_pool.DescriptorPool | None = None
        if any(file.name == _DESCRIPTOR_PROTO for file in files):
            self._pool = descriptor_pool.DescriptorPool()
            for file in files:
                self._pool.AddSerializedFile(file.SerializeToString())

    def entries(self, options: Message) -> list[str]:
        if self._pool is not None:
            descriptor = self._pool.FindMessageTypeByName(options.DESCRIPTOR.full_name)
            options = message_factory.GetMessageClass(descriptor).FromString(options.SerializeToString())
        entries = []
        for field, value in options.ListFields():
            name = f"({field.full_name})" if field.is_extension else field.name
            for item in value if field.is_repeated else [value]:
                entries.append(f"{name} = {_option_value(field, item)}")
        return sorted(entries)


def _option_value(field: FieldDescriptor, value: Any) -> str:
    if field.type in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP):
        body = text_format.MessageToString(value, as_one_line=True)
        return f"{{ {body} }}" if body else "{}"
    if field.type == FieldDescriptor.TYPE_ENUM:
        known = field.enum_type.values_by_number.get(value)
        return known.name if known is not None else str(value)
    if field.type == FieldDescriptor.TYPE_STRING:
        return f'"{text_encoding.CEscape(value, as_utf8=True)}"'
    if field.type == FieldDescriptor.TYPE_BYTES:
        return f'"{text_encoding.CEscape(value, as_utf8=False)}"'
    if field.type == FieldDescriptor.TYPE_BOOL:
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


# ---------------------------------------------------------------------------------------------
# Field paths
# ---------------------------------------------------------------------------------------------


def field_paths(schema: ParsedSchema) -> list[FieldInfo]:
    """Every field of the main file's top-level messages, flattened, in declaration order.

    Paths start at the message ("Order.customer.address.city"); a repeated field's items add "[]"
    and a map's values "{}" ("Order.lines[].sku", "Order.attributes{}.value"). Message-typed
    fields are expanded into their own fields, except recursive uses of a message and the
    well-known types (a Timestamp reads as one value, not as seconds and nanos). `doc` is the
    field's leading (else trailing) comment; `has_default` means an explicit proto2 default.
    """
    compiled = compile_schema(schema)
    types = declared_types(compiled.files)
    docs = _field_docs(compiled.files)
    fields: list[FieldInfo] = []
    for message in compiled.main.message_type:
        declared = types[_qualified(compiled.main.package, message.name)]
        fields += _flatten(declared, message.name, types, docs, frozenset({declared.full_name}))
    return fields


def _qualified(package: str, name: str) -> str:
    return f".{package}.{name}" if package else f".{name}"


def _flatten(
    declared: DeclaredType,
    prefix: str,
    types: dict[str, DeclaredType],
    docs: dict[tuple[str, int], str],
    expanding: frozenset[str],
) -> Iterator[FieldInfo]:
    assert declared.message is not None
    for field in declared.message.field:
        path = f"{prefix}.{field.name}"
        entry = _map_entry(field, types)
        yield FieldInfo(
            path=path,
            type=_type_for_people(field, types),
            doc=docs.get((declared.full_name, field.number)),
            required=field.label == FieldDescriptorProto.LABEL_REQUIRED,
            has_default=field.HasField("default_value"),
            default=_default_value(field) if field.HasField("default_value") else None,
        )
        if entry is not None:
            value_field, items_path = entry.field[1], f"{path}{{}}"
        elif field.label == FieldDescriptorProto.LABEL_REPEATED:
            value_field, items_path = field, f"{path}[]"
        else:
            value_field, items_path = field, path
        target = types.get(value_field.type_name)
        if (
            target is not None
            and target.message is not None
            and target.full_name not in expanding
            and not target.file_name.startswith("google/protobuf/")
        ):
            yield from _flatten(target, items_path, types, docs, expanding | {target.full_name})


def _type_for_people(field: FieldDescriptorProto, types: dict[str, DeclaredType]) -> str:
    entry = _map_entry(field, types)
    if entry is not None:
        return f"map<{_type_for_people(entry.field[0], types)}, {_type_for_people(entry.field[1], types)}>"
    name = field.type_name.removeprefix(".") if field.type_name else _scalar_name(field.type)
    return f"repeated {name}" if field.label == FieldDescriptorProto.LABEL_REPEATED else name


def _default_value(field: FieldDescriptorProto) -> Any:
    """The explicit default as a Python value; bytes stay in their escaped text form."""
    text = field.default_value
    kind = field.type
    if kind == FieldDescriptorProto.TYPE_BOOL:
        return text == "true"
    if kind in (FieldDescriptorProto.TYPE_DOUBLE, FieldDescriptorProto.TYPE_FLOAT):
        return float(text)
    if kind in (FieldDescriptorProto.TYPE_STRING, FieldDescriptorProto.TYPE_BYTES, FieldDescriptorProto.TYPE_ENUM):
        return text
    return int(text)


def _field_docs(files: Iterable[FileDescriptorProto]) -> dict[tuple[str, int], str]:
    """Comments of every field, keyed by (message full name, field number), from protoc's source info."""
    docs: dict[tuple[str, int], str] = {}
    for file in files:
        locations = {tuple(location.path): location for location in file.source_code_info.location}
        if not locations:
            continue
        scope = f"{file.package}." if file.package else ""
        top_level = FileDescriptorProto.MESSAGE_TYPE_FIELD_NUMBER
        for full_name, message_path, message in _messages_with_paths(file.message_type, scope, (), top_level):
            for index, field in enumerate(message.field):
                location = locations.get((*message_path, DescriptorProto.FIELD_FIELD_NUMBER, index))
                doc = _comment_text(location) if location is not None else None
                if doc:
                    docs[(full_name, field.number)] = doc
    return docs


def _messages_with_paths(
    messages: Iterable[DescriptorProto], scope: str, path: tuple[int, ...], tag: int
) -> Iterator[tuple[str, tuple[int, ...], DescriptorProto]]:
    """(full name, source-info path, message) of each message, nested ones included."""
    for index, message in enumerate(messages):
        full_name, message_path = f"{scope}{message.name}", (*path, tag, index)
        yield full_name, message_path, message
        nested_tag = DescriptorProto.NESTED_TYPE_FIELD_NUMBER
        yield from _messages_with_paths(message.nested_type, f"{full_name}.", message_path, nested_tag)


def _comment_text(location: descriptor_pb2.SourceCodeInfo.Location) -> str | None:
    comment = location.leading_comments.strip() or location.trailing_comments.strip()
    return "\n".join(line.strip() for line in comment.splitlines()) or None
