"""Protobuf schema handling: compiling text and descriptors, errors, canonical text, fields, names."""

from __future__ import annotations

import base64
import importlib
import sys
import tempfile
from importlib import resources

import pytest
from google.protobuf import descriptor_pb2
from grpc_tools import protoc

from schemas.compatibility import ParsedSchema, SchemaType
from schemas.formats import FieldInfo, SchemaParseError
from schemas.formats import protobuf as pb

MONEY = """
syntax = "proto3";
package common;

message Money {
  int64 units = 1;
  string currency = 2;
}
"""

ORDER = """
syntax = "proto3";
package shop;

import "google/protobuf/timestamp.proto";
import "common/money.proto";

// An order a customer placed.
message Order {
  // The order's id.
  string id = 1;
  common.Money total = 2;  // what the customer pays
  google.protobuf.Timestamp placed_at = 3;
  repeated Line lines = 4;
  map<string, Address> addresses = 5;
  Status status = 6;

  message Line {
    string sku = 1;
    int32 quantity = 2;
  }
}

message Address {
  string city = 1;
}

enum Status {
  STATUS_UNKNOWN = 0;
  PLACED = 1;
}
"""

REFERENCES = {"common/money.proto": MONEY}


def proto(text: str, references: dict[str, str] | None = None) -> ParsedSchema:
    return ParsedSchema(SchemaType.PROTOBUF, text, references or {})


# -- compiling text -------------------------------------------------------------------------------


def test_compiles_text_with_a_reference_and_a_well_known_type():
    main = pb.compile_proto(ORDER, REFERENCES)

    assert main.name == pb.MAIN_FILE_NAME
    assert main.package == "shop"
    assert list(main.dependency) == ["google/protobuf/timestamp.proto", "common/money.proto"]
    fields = {f.name: f.type_name for f in main.message_type[0].field}
    assert fields["total"] == ".common.Money"
    assert fields["placed_at"] == ".google.protobuf.Timestamp"


def test_compiled_set_holds_the_dependencies_before_the_main_file():
    compiled = pb.compile_schema(proto(ORDER, REFERENCES))

    names = [file.name for file in compiled.files]
    assert names[-1] == pb.MAIN_FILE_NAME
    assert set(names[:-1]) == {"google/protobuf/timestamp.proto", "common/money.proto"}
    assert compiled.main is compiled.files[-1]


def test_references_may_import_each_other():
    geo = 'syntax = "proto3";\npackage geo;\nmessage Point { double lat = 1; double lng = 2; }\n'
    place = 'syntax = "proto3";\npackage geo;\nimport "geo/point.proto";\nmessage Place { Point at = 1; }\n'
    text = 'syntax = "proto3";\nimport "geo/place.proto";\nmessage Visit { geo.Place place = 1; }\n'

    main = pb.compile_proto(text, {"geo/point.proto": geo, "geo/place.proto": place})

    assert main.message_type[0].field[0].type_name == ".geo.Place"


def test_compile_proto_returns_a_fresh_copy_without_source_info():
    first = pb.compile_proto(ORDER, REFERENCES)
    first.message_type[0].name = "Changed"

    second = pb.compile_proto(ORDER, REFERENCES)
    assert second.message_type[0].name == "Order"
    assert not second.HasField("source_code_info")


def test_compilation_is_cached_per_text_and_references():
    assert pb.compile_schema(proto(ORDER, REFERENCES)) is pb.compile_schema(proto(ORDER, dict(REFERENCES)))
    other_money = MONEY.replace("string currency = 2;", "string currency_code = 2;")
    assert pb.compile_schema(proto(ORDER, REFERENCES)) is not pb.compile_schema(
        proto(ORDER, {"common/money.proto": other_money})
    )


def test_a_reference_named_like_the_main_file_does_not_clash():
    text = 'syntax = "proto3";\nimport "schema.proto";\nmessage B { A a = 1; }\n'
    main = pb.compile_proto(text, {"schema.proto": 'syntax = "proto3";\nmessage A {}\n'})

    assert main.name != "schema.proto"
    assert list(main.dependency) == ["schema.proto"]


def test_proto2_compiles():
    text = 'syntax = "proto2";\nmessage Reading {\n  required string sensor = 1;\n  optional double value = 2;\n}\n'

    main = pb.compile_proto(text, {})

    assert main.message_type[0].field[0].label == descriptor_pb2.FieldDescriptorProto.LABEL_REQUIRED


# -- errors ---------------------------------------------------------------------------------------


def test_syntax_error_names_file_line_and_column():
    text = 'syntax = "proto3";\nmessage A {\n  int32 x = 1\n}\n'

    with pytest.raises(SchemaParseError) as raised:
        pb.compile_proto(text, {})

    assert str(raised.value) == 'schema.proto:4:1: Expected ";".'


def test_error_in_a_reference_names_the_reference():
    broken = 'syntax = "proto3";\npackage common;\nmessage Money { int64 units = 1 }\n'

    with pytest.raises(SchemaParseError) as raised:
        pb.compile_proto(ORDER, {"common/money.proto": broken})

    assert "common/money.proto:3:33:" in str(raised.value)


def test_missing_import_and_unknown_type_are_reported():
    text = 'syntax = "proto3";\nimport "nowhere.proto";\nmessage A { Missing m = 1; }\n'

    with pytest.raises(SchemaParseError) as raised:
        pb.compile_proto(text, {})

    message = str(raised.value)
    assert "nowhere.proto: File not found." in message
    assert 'schema.proto:3:13: "Missing" is not defined.' in message


def test_error_messages_carry_no_temporary_paths():
    with pytest.raises(SchemaParseError) as raised:
        pb.compile_proto('syntax = "proto3";\nimport "common/money.proto";\nmessage A { int32 x = 1 }\n', REFERENCES)

    assert str(raised.value) == 'schema.proto:3:25: Expected ";".'
    assert tempfile.gettempdir() not in str(raised.value)


def test_warnings_are_neither_errors_nor_printed(capfd):
    # An unused import is a protoc warning only.
    text = 'syntax = "proto3";\nimport "google/protobuf/timestamp.proto";\nmessage A { int32 x = 1; }\n'

    pb.compile_proto(text, {})

    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("name", ["../escape.proto", "/etc/passwd", "a/../../b.proto", "", "a\\b.proto"])
def test_reference_names_must_be_relative_paths(name):
    with pytest.raises(SchemaParseError, match="relative import path"):
        pb.compile_proto('syntax = "proto3";\nmessage A {}\n', {name: MONEY})


def test_text_that_is_not_utf8_is_refused():
    with pytest.raises(SchemaParseError, match="not valid UTF-8"):
        pb.compile_proto('syntax = "proto3";\nmessage A {}\n// \udc80\n', {})


def test_garbage_is_a_parse_error_not_a_descriptor():
    with pytest.raises(SchemaParseError):
        pb.compile_proto("bm90IGEgZGVzY3JpcHRvcg==", {})  # base64 of "not a descriptor"


# -- the base64 descriptor form (confluent-kafka's Python serializer) -----------------------------


@pytest.fixture(scope="module")
def generated_modules(tmp_path_factory):
    """order_pb2 and money_pb2 generated by protoc, as a producer's code would have them.

    The files live under a package no other test uses, since generated modules register their
    files in protobuf's process-wide default pool.
    """
    out = tmp_path_factory.mktemp("generated")
    source = out / "src"
    (source / "eventscope_pbtest").mkdir(parents=True)
    (source / "eventscope_pbtest" / "money.proto").write_text(MONEY)
    order = ORDER.replace('import "common/money.proto";', 'import "eventscope_pbtest/money.proto";')
    (source / "eventscope_pbtest" / "order.proto").write_text(order)
    well_known = str(resources.files("grpc_tools") / "_proto")
    code = protoc.main(
        [
            "protoc",
            f"-I{source}",
            f"-I{well_known}",
            f"--python_out={out}",
            "eventscope_pbtest/money.proto",
            "eventscope_pbtest/order.proto",
        ]
    )
    assert code == 0
    sys.path.insert(0, str(out))
    try:
        yield (
            importlib.import_module("eventscope_pbtest.order_pb2"),
            importlib.import_module("eventscope_pbtest.money_pb2"),
            order,
        )
    finally:
        sys.path.remove(str(out))


def serializer_form(file_descriptor) -> str:
    """What ProtobufSerializer registers for a file: base64 of its serialized FileDescriptorProto."""
    fdp = descriptor_pb2.FileDescriptorProto()
    file_descriptor.CopyToProto(fdp)
    return base64.standard_b64encode(fdp.SerializeToString()).decode("ascii")


def test_base64_descriptor_with_base64_reference_compiles(generated_modules):
    order_pb2, money_pb2, _ = generated_modules
    # The serializer skips the well-known types: they are built in on both sides.
    references = {"eventscope_pbtest/money.proto": serializer_form(money_pb2.DESCRIPTOR)}

    main = pb.compile_proto(serializer_form(order_pb2.DESCRIPTOR), references)

    assert [m.name for m in main.message_type] == ["Order", "Address"]
    assert main.message_type[0].field[1].type_name == ".common.Money"


def test_base64_and_text_forms_normalize_alike(generated_modules):
    order_pb2, money_pb2, order_text = generated_modules
    references = {"eventscope_pbtest/money.proto": MONEY}
    base64_references = {"eventscope_pbtest/money.proto": serializer_form(money_pb2.DESCRIPTOR)}

    from_text = pb.normalize(proto(order_text, references))
    from_descriptor = pb.normalize(proto(serializer_form(order_pb2.DESCRIPTOR), base64_references))
    mixed = pb.normalize(proto(order_text, base64_references))

    assert from_text == from_descriptor == mixed


def test_base64_may_be_wrapped_over_lines(generated_modules):
    _, money_pb2, _ = generated_modules
    encoded = serializer_form(money_pb2.DESCRIPTOR)
    wrapped = "\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60))

    assert pb.compile_proto(wrapped, {}).message_type[0].name == "Money"


def test_base64_descriptor_with_a_missing_dependency_is_refused(generated_modules):
    order_pb2, _, _ = generated_modules

    with pytest.raises(SchemaParseError, match=r"eventscope_pbtest/money\.proto"):
        pb.compile_proto(serializer_form(order_pb2.DESCRIPTOR), {})


# -- normalize ------------------------------------------------------------------------------------


def test_whitespace_and_comments_do_not_change_the_normalized_text():
    compact = (
        'syntax="proto3";package shop;import "google/protobuf/timestamp.proto";import "common/money.proto";'
        "message Order{string id=1;common.Money total=2;google.protobuf.Timestamp placed_at=3;"
        "repeated Line lines=4;map<string,Address>addresses=5;Status status=6;"
        "message Line{string sku=1;int32 quantity=2;}}"
        "message Address{string city=1;}enum Status{STATUS_UNKNOWN=0;PLACED=1;}"
    )
    commented = ORDER.replace("  string id = 1;", "  /* block */ string id = 1; // trailing")

    expected = pb.normalize(proto(ORDER, REFERENCES))
    assert pb.normalize(proto(compact, REFERENCES)) == expected
    assert pb.normalize(proto(commented, REFERENCES)) == expected


def test_field_declaration_order_and_name_qualification_do_not_matter():
    first = 'syntax = "proto3";\npackage a;\nmessage M { string x = 1; int32 y = 2; N n = 3; }\nmessage N {}\n'
    second = 'syntax = "proto3";\npackage a;\nmessage M { .a.N n = 3; int32 y = 2; string x = 1; }\nmessage N {}\n'

    assert pb.normalize(proto(first)) == pb.normalize(proto(second))


@pytest.mark.parametrize(
    "change",
    [
        ("int32 quantity = 2;", "int64 quantity = 2;"),
        ("int32 quantity = 2;", "int32 qty = 2;"),
        ("int32 quantity = 2;", "int32 quantity = 7;"),
        ("int32 quantity = 2;", "repeated int32 quantity = 2;"),
        ("PLACED = 1;", "PLACED = 1; SHIPPED = 2;"),
        ("package shop;", "package store;"),
        ("string city = 1;", "string city = 1 [deprecated = true];"),
    ],
)
def test_a_changed_schema_normalizes_differently(change):
    old, new = change
    assert pb.normalize(proto(ORDER, REFERENCES)) != pb.normalize(proto(ORDER.replace(old, new), REFERENCES))


def test_message_order_matters_because_message_indexes_do():
    first = 'syntax = "proto3";\nmessage A {}\nmessage B {}\n'
    second = 'syntax = "proto3";\nmessage B {}\nmessage A {}\n'

    assert pb.normalize(proto(first)) != pb.normalize(proto(second))


def test_normalized_text_is_proto_that_normalizes_to_itself():
    normalized = pb.normalize(proto(ORDER, REFERENCES))

    assert pb.normalize(proto(normalized, REFERENCES)) == normalized


def test_normalized_text_reads_as_proto():
    normalized = pb.normalize(proto(ORDER, REFERENCES))

    assert normalized.startswith('syntax = "proto3";\npackage shop;\nimport "common/money.proto";\n')
    assert "  map<string, .shop.Address> addresses = 5;\n" in normalized
    assert "  .google.protobuf.Timestamp placed_at = 3;\n" in normalized
    assert "An order" not in normalized  # comments are not part of the identity


def test_normalize_keeps_proto2_details_and_custom_options():
    options = (
        'syntax = "proto3";\npackage opts;\nimport "google/protobuf/descriptor.proto";\n'
        "message Meta { string doc = 1; }\n"
        "extend google.protobuf.FieldOptions { Meta meta = 50001; }\n"
    )
    text = (
        'syntax = "proto2";\nimport "opts.proto";\n'
        "message Reading {\n"
        '  required string sensor = 1 [(opts.meta) = { doc: "which one" }];\n'
        "  optional double value = 2 [default = 1.5];\n"
        "  optional group Extra = 3 { optional int32 depth = 1; }\n"
        "  oneof source { string device = 4; string manual = 5; }\n"
        "  extensions 100 to max;\n"
        "}\n"
    )

    normalized = pb.normalize(proto(text, {"opts.proto": options}))

    assert '  required string sensor = 1 [(opts.meta) = { doc: "which one" }];' in normalized
    assert "  optional double value = 2 [default = 1.5];" in normalized
    assert "  optional group Extra = 3 {\n    optional int32 depth = 1;\n  }" in normalized
    assert "  oneof source {\n    string device = 4;\n    string manual = 5;\n  }" in normalized
    assert "  extensions 100 to 536870911;" in normalized
    assert pb.normalize(proto(normalized, {"opts.proto": options})) == normalized


def test_normalize_refuses_an_invalid_schema():
    with pytest.raises(SchemaParseError):
        pb.normalize(proto("message {"))


# -- serialized -----------------------------------------------------------------------------------


def test_serialized_is_base64_of_the_main_descriptor():
    encoded = pb.serialized(proto(ORDER, REFERENCES))

    fdp = descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(encoded))
    assert fdp.package == "shop"
    assert [m.name for m in fdp.message_type] == ["Order", "Address"]
    assert not fdp.HasField("source_code_info")


def test_serialized_form_registers_as_the_same_schema():
    encoded = pb.serialized(proto(ORDER, REFERENCES))

    assert pb.normalize(proto(encoded, REFERENCES)) == pb.normalize(proto(ORDER, REFERENCES))


# -- field paths and message names ----------------------------------------------------------------


def test_field_paths_flatten_nested_repeated_and_map_fields():
    fields = {f.path: f for f in pb.field_paths(proto(ORDER, REFERENCES))}

    assert list(fields) == [
        "Order.id",
        "Order.total",
        "Order.total.units",
        "Order.total.currency",
        "Order.placed_at",
        "Order.lines",
        "Order.lines[].sku",
        "Order.lines[].quantity",
        "Order.addresses",
        "Order.addresses{}.city",
        "Order.status",
        "Address.city",
    ]
    assert fields["Order.id"] == FieldInfo(path="Order.id", type="string", doc="The order's id.")
    assert fields["Order.total"].doc == "what the customer pays"
    assert fields["Order.total"].type == "common.Money"
    assert fields["Order.placed_at"].type == "google.protobuf.Timestamp"
    assert fields["Order.lines"].type == "repeated shop.Order.Line"
    assert fields["Order.addresses"].type == "map<string, shop.Address>"
    assert fields["Order.status"].type == "shop.Status"


def test_field_paths_of_proto2_give_required_and_defaults():
    text = (
        'syntax = "proto2";\n'
        "message Reading {\n"
        "  required string sensor = 1;\n"
        "  optional double value = 2 [default = 1.5];\n"
        "  optional bool live = 3 [default = true];\n"
        "  optional int64 count = 4 [default = -3];\n"
        "  optional Unit unit = 5 [default = CELSIUS];\n"
        "  optional string label = 6;\n"
        "  enum Unit { KELVIN = 0; CELSIUS = 1; }\n"
        "}\n"
    )

    fields = {f.path: f for f in pb.field_paths(proto(text))}

    assert fields["Reading.sensor"].required is True
    assert (fields["Reading.value"].has_default, fields["Reading.value"].default) == (True, 1.5)
    assert fields["Reading.live"].default is True
    assert fields["Reading.count"].default == -3
    assert fields["Reading.unit"].default == "CELSIUS"
    assert (fields["Reading.label"].has_default, fields["Reading.label"].required) == (False, False)


def test_field_paths_stop_at_recursion():
    text = 'syntax = "proto3";\nmessage Node {\n  string name = 1;\n  repeated Node children = 2;\n}\n'

    assert [f.path for f in pb.field_paths(proto(text))] == ["Node.name", "Node.children"]


def test_message_names_are_fully_qualified_and_nested_after_their_parent():
    assert pb.message_names(proto(ORDER, REFERENCES)) == ["shop.Order", "shop.Order.Line", "shop.Address"]


def test_message_names_without_package_and_without_map_entries():
    text = 'syntax = "proto3";\nmessage A { map<string, int32> m = 1; }\n'

    assert pb.message_names(proto(text)) == ["A"]
