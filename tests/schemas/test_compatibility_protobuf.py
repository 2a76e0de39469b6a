"""Protobuf compatibility: Confluent's difference kinds, each checked with the writer and reader swapped.

`diff(writer, reader)` lists the kinds of difference Confluent's rules see when a consumer using
`reader` reads data written with `writer`; `compatible(writer, reader)` says whether none of them
breaks that consumer.
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.compatibility import CompatibilityLevel, Incompatibility, ParsedSchema, SchemaType, levels
from schemas.compatibility.protobuf import COMPATIBLE_CHANGES, reader_incompatibilities, schema_differences
from schemas.formats import SchemaParseError
from schemas.formats.protobuf import compile_proto


def proto(text: str, references: dict[str, str] | None = None) -> ParsedSchema:
    return ParsedSchema(SchemaType.PROTOBUF, text, references or {})


def p3(body: str, package: str = "") -> ParsedSchema:
    head = 'syntax = "proto3";\n' + (f"package {package};\n" if package else "")
    return proto(head + body)


def p2(body: str) -> ParsedSchema:
    return proto('syntax = "proto2";\n' + body)


def diff(writer: ParsedSchema, reader: ParsedSchema) -> list[tuple[str, str]]:
    return [(d.kind, d.path) for d in schema_differences(reader, writer)]


def kinds(writer: ParsedSchema, reader: ParsedSchema) -> list[str]:
    return [d.kind for d in schema_differences(reader, writer)]


def compatible(writer: ParsedSchema, reader: ParsedSchema) -> bool:
    return reader_incompatibilities(reader, writer) == []


def check_both_ways(
    old: ParsedSchema,
    new: ParsedSchema,
    *,
    forward_kinds: list[str],
    backward_kinds: list[str],
    forward_ok: bool,
    backward_ok: bool,
) -> None:
    """old -> new read by `new` (backward) and new -> old read by `old` (forward)."""
    assert kinds(old, new) == forward_kinds
    assert compatible(old, new) is forward_ok
    assert kinds(new, old) == backward_kinds
    assert compatible(new, old) is backward_ok


# -- no difference --------------------------------------------------------------------------------


def test_identical_schemas_have_no_differences():
    schema = p3("message A { string s = 1; repeated int32 n = 2; map<string, B> m = 3; }\nmessage B {}\n")
    assert diff(schema, schema) == []


def test_layout_comments_and_name_qualification_are_no_difference():
    writer = p3("message A { string s = 1; B b = 2; message B {} }", package="foo")
    reader = p3(
        "// the A\nmessage A {\n  string s = 1;\n  .foo.A.B b = 2; // qualified\n  message B {}\n}", package="foo"
    )
    assert diff(writer, reader) == []


# -- file level -----------------------------------------------------------------------------------


def test_package_changed_is_compatible():
    foo = p3("message A { string s = 1; .foo.A.B b = 2; message B { string t = 1; } }", package="foo")
    bar = p3("message A { string s = 1; .bar.A.B b = 2; message B { string t = 1; } }", package="bar")
    check_both_ways(
        foo,
        bar,
        forward_kinds=["PACKAGE_CHANGED"],
        backward_kinds=["PACKAGE_CHANGED"],
        forward_ok=True,
        backward_ok=True,
    )


def test_syntax_version_changed_is_listed_but_compatible():
    check_both_ways(
        p2("message A { optional string s = 1; }"),
        p3("message A { string s = 1; }"),
        forward_kinds=["SYNTAX_VERSION_CHANGED"],
        backward_kinds=["SYNTAX_VERSION_CHANGED"],
        forward_ok=True,
        backward_ok=True,
    )


# -- messages -------------------------------------------------------------------------------------


def test_message_added_or_removed():
    one = p3("message A { string s = 1; }")
    two = p3("message A { string s = 1; }\nmessage B { string s = 1; }")
    check_both_ways(
        one,
        two,
        forward_kinds=["MESSAGE_ADDED"],
        backward_kinds=["MESSAGE_REMOVED"],
        forward_ok=True,
        backward_ok=False,
    )
    assert diff(two, one) == [("MESSAGE_REMOVED", "B")]


def test_nested_message_removed_is_incompatible_too():
    writer = p3("message A { string s = 1; message Inner { int32 x = 1; } }")
    reader = p3("message A { string s = 1; }")
    assert diff(writer, reader) == [("MESSAGE_REMOVED", "A.Inner")]
    assert not compatible(writer, reader)


def test_message_moved_is_compatible():
    ab = p3("message A { string s = 1; }\nmessage B { string s = 1; }")
    ba = p3("message B { string s = 1; }\nmessage A { string s = 1; }")
    assert diff(ab, ba) == [("MESSAGE_MOVED", "A"), ("MESSAGE_MOVED", "B")]
    assert compatible(ab, ba) and compatible(ba, ab)


def test_message_added_before_another_moves_it():
    one = p3("message A { string s = 1; }")
    two = p3("message B { string s = 1; }\nmessage A { string s = 1; }")
    assert kinds(one, two) == ["MESSAGE_MOVED", "MESSAGE_ADDED"]
    assert compatible(one, two)


def test_changes_inside_nested_messages_have_their_path():
    writer = p3("message Wrapper { int32 w = 1; message Inner { string s = 1; } }")
    reader = p3("message Wrapper { int32 w = 1; message Inner { string s = 1; string t = 2; } }")
    assert diff(writer, reader) == [("FIELD_ADDED", "Wrapper.Inner.t (field 2)")]


# -- fields ---------------------------------------------------------------------------------------


def test_field_added_or_removed_is_compatible():
    check_both_ways(
        p3("message A { string s = 1; }"),
        p3("message A { string s = 1; string t = 2; }"),
        forward_kinds=["FIELD_ADDED"],
        backward_kinds=["FIELD_REMOVED"],
        forward_ok=True,
        backward_ok=True,
    )


def test_required_field_added_or_removed_is_incompatible():
    old = p2("message A { optional string s = 1; }")
    new = p2("message A { optional string s = 1; required string t = 2; }")
    check_both_ways(
        old,
        new,
        forward_kinds=["REQUIRED_FIELD_ADDED"],
        backward_kinds=["REQUIRED_FIELD_REMOVED"],
        forward_ok=False,
        backward_ok=False,
    )
    assert diff(old, new) == [("REQUIRED_FIELD_ADDED", "A.t (field 2)")]


def test_field_name_changed_is_compatible():
    check_both_ways(
        p3("message A { string s = 1; }"),
        p3("message A { string renamed = 1; }"),
        forward_kinds=["FIELD_NAME_CHANGED"],
        backward_kinds=["FIELD_NAME_CHANGED"],
        forward_ok=True,
        backward_ok=True,
    )


def test_changed_field_number_is_a_removal_and_an_addition():
    writer = p3("message A { string s = 1; }")
    reader = p3("message A { string s = 2; }")
    assert diff(writer, reader) == [("FIELD_REMOVED", "A.s (field 1)"), ("FIELD_ADDED", "A.s (field 2)")]
    assert compatible(writer, reader)


SAME_WIRE_TYPE = [
    ("int32", "int64"),
    ("int32", "uint32"),
    ("uint64", "bool"),
    ("int64", "E"),
    ("sint32", "sint64"),
    ("fixed32", "sfixed32"),
    ("fixed64", "sfixed64"),
    ("string", "bytes"),
]
OTHER_WIRE_TYPE = [
    ("int32", "sint32"),
    ("int32", "fixed32"),
    ("int64", "fixed64"),
    ("fixed32", "fixed64"),
    ("float", "double"),
    ("float", "fixed32"),
    ("string", "int32"),
    ("bytes", "E"),
    ("bool", "sint64"),
]


def scalar_field(type_name: str, field_name: str = "v") -> ParsedSchema:
    return p3(f"message A {{ {type_name} {field_name} = 1; }}\nenum E {{ E0 = 0; }}")


@pytest.mark.parametrize(("first", "second"), SAME_WIRE_TYPE)
def test_scalar_types_of_one_wire_group_are_compatible(first, second):
    assert diff(scalar_field(first), scalar_field(second)) == []
    assert diff(scalar_field(second), scalar_field(first)) == []


@pytest.mark.parametrize(("first", "second"), OTHER_WIRE_TYPE)
def test_scalar_types_of_different_wire_groups_are_incompatible(first, second):
    check_both_ways(
        scalar_field(first),
        scalar_field(second),
        forward_kinds=["FIELD_SCALAR_KIND_CHANGED"],
        backward_kinds=["FIELD_SCALAR_KIND_CHANGED"],
        forward_ok=False,
        backward_ok=False,
    )


SCALARS = ["int32", "int64", "uint32", "uint64", "bool", "sint32", "sint64", "fixed32", "sfixed32"]
SCALARS += ["fixed64", "sfixed64", "float", "double", "string", "bytes", "E"]
GROUP_OF = {first: index for index, group in enumerate(SAME_WIRE_TYPE) for first in group}


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(SCALARS), st.sampled_from(SCALARS))
def test_scalar_compatibility_is_symmetric_and_follows_wire_groups(first, second):
    def group(type_name: str) -> str:
        for members in (
            {"int32", "int64", "uint32", "uint64", "bool", "E"},
            {"sint32", "sint64"},
            {"fixed32", "sfixed32"},
            {"fixed64", "sfixed64"},
            {"string", "bytes"},
        ):
            if type_name in members:
                return min(members)
        return type_name

    forward = compatible(scalar_field(first), scalar_field(second))
    backward = compatible(scalar_field(second), scalar_field(first))
    assert forward == backward == (group(first) == group(second))


def test_field_kind_changed_from_scalar_to_message():
    old = p3("message A { string s = 1; int32 v = 2; }")
    new = p3("message A { string s = 1; B v = 2; }\nmessage B { string s1 = 1; }")
    check_both_ways(
        old,
        new,
        forward_kinds=["FIELD_KIND_CHANGED", "MESSAGE_ADDED"],
        backward_kinds=["FIELD_KIND_CHANGED", "MESSAGE_REMOVED"],
        forward_ok=False,
        backward_ok=False,
    )
    assert ("FIELD_KIND_CHANGED", "A.v (field 2)") in diff(old, new)


def test_field_kind_changed_from_map_to_message():
    old = p3("message A { map<string, int32> v = 1; }")
    new = p3("message A { repeated Entry v = 1; }\nmessage Entry { string key = 1; int32 value = 2; }")
    assert kinds(old, new) == ["FIELD_KIND_CHANGED", "MESSAGE_ADDED"]
    assert not compatible(old, new)


def test_field_named_type_changed():
    old = p3("message A { B v = 1; }\nmessage B { string s = 1; }")
    new = p3("message A { C v = 1; }\nmessage C { string s = 1; }")
    check_both_ways(
        old,
        new,
        forward_kinds=["FIELD_NAMED_TYPE_CHANGED", "MESSAGE_REMOVED", "MESSAGE_ADDED"],
        backward_kinds=["FIELD_NAMED_TYPE_CHANGED", "MESSAGE_REMOVED", "MESSAGE_ADDED"],
        forward_ok=False,
        backward_ok=False,
    )


def test_map_values_are_compared_like_fields():
    old = p3("message A { map<string, int32> counts = 1; }")
    assert diff(old, p3("message A { map<string, int64> counts = 1; }")) == []
    check_both_ways(
        old,
        p3("message A { map<string, string> labels = 1; }"),
        forward_kinds=["FIELD_NAME_CHANGED", "FIELD_SCALAR_KIND_CHANGED"],
        backward_kinds=["FIELD_NAME_CHANGED", "FIELD_SCALAR_KIND_CHANGED"],
        forward_ok=False,
        backward_ok=False,
    )


def test_map_keys_are_compared_like_fields():
    old = p3("message A { map<string, int32> m = 1; }")
    new = p3("message A { map<int64, int32> m = 1; }")
    assert kinds(old, new) == ["FIELD_SCALAR_KIND_CHANGED"]


# -- labels ---------------------------------------------------------------------------------------


def test_string_or_bytes_label_changed_is_compatible():
    for type_name in ("string", "bytes"):
        check_both_ways(
            p3(f"message A {{ optional {type_name} v = 1; }}"),
            p3(f"message A {{ repeated {type_name} v = 1; }}"),
            forward_kinds=["FIELD_STRING_OR_BYTES_LABEL_CHANGED"],
            backward_kinds=["FIELD_STRING_OR_BYTES_LABEL_CHANGED"],
            forward_ok=True,
            backward_ok=True,
        )


def test_numeric_label_changed_is_incompatible():
    for type_name in ("int32", "double", "E"):
        check_both_ways(
            p3(f"message A {{ optional {type_name} v = 1; }}\nenum E {{ E0 = 0; }}"),
            p3(f"message A {{ repeated {type_name} v = 1; }}\nenum E {{ E0 = 0; }}"),
            forward_kinds=["FIELD_NUMERIC_LABEL_CHANGED"],
            backward_kinds=["FIELD_NUMERIC_LABEL_CHANGED"],
            forward_ok=False,
            backward_ok=False,
        )


def test_optional_to_required_number_is_a_label_change():
    old = p2("message A { optional int32 v = 1; }")
    new = p2("message A { required int32 v = 1; }")
    assert kinds(old, new) == kinds(new, old) == ["FIELD_NUMERIC_LABEL_CHANGED"]


def test_message_field_labels_are_not_compared():
    old = p3("message A { optional B v = 1; }\nmessage B { string s = 1; }")
    new = p3("message A { repeated B v = 1; }\nmessage B { string s = 1; }")
    assert diff(old, new) == diff(new, old) == []


def test_proto3_field_without_label_is_not_compared_as_confluent_does():
    # Confluent's parser sees no label on `int32 v = 1` in proto3, so it compares none.
    assert diff(p3("message A { int32 v = 1; }"), p3("message A { repeated int32 v = 1; }")) == []


# -- oneofs ---------------------------------------------------------------------------------------


def test_one_field_moved_into_a_new_oneof_is_compatible():
    old = p3("message A { string s = 1; string t = 2; }")
    new = p3("message A { string s = 1; oneof choice { string t = 2; int32 other = 3; } }")
    check_both_ways(
        old,
        new,
        forward_kinds=["ONEOF_ADDED"],
        backward_kinds=["ONEOF_REMOVED", "FIELD_ADDED"],
        forward_ok=True,
        backward_ok=True,
    )
    assert diff(old, new) == [("ONEOF_ADDED", "A.choice (oneof)")]


def test_multiple_fields_moved_into_one_oneof_is_incompatible():
    old = p3("message A { string s = 1; string t = 2; }")
    new = p3("message A { oneof choice { string s = 1; string t = 2; int32 other = 3; } }")
    check_both_ways(
        old,
        new,
        forward_kinds=["MULTIPLE_FIELDS_MOVED_TO_ONEOF", "ONEOF_ADDED"],
        backward_kinds=["ONEOF_REMOVED", "FIELD_ADDED", "FIELD_ADDED"],
        forward_ok=False,
        backward_ok=True,
    )


def test_oneof_field_added_or_removed():
    old = p3("message A { oneof choice { string s = 1; string t = 2; } }")
    new = p3("message A { oneof choice { string s = 1; string t = 2; int32 other = 3; } }")
    check_both_ways(
        old,
        new,
        forward_kinds=["ONEOF_FIELD_ADDED"],
        backward_kinds=["ONEOF_FIELD_REMOVED"],
        forward_ok=True,
        backward_ok=False,
    )
    assert diff(new, old) == [("ONEOF_FIELD_REMOVED", "A.other (field 3)")]


def test_field_moved_to_existing_oneof_is_incompatible():
    old = p3("message A { string s = 1; oneof choice { string t = 2; } }")
    new = p3("message A { oneof choice { string s = 1; string t = 2; } }")
    check_both_ways(
        old,
        new,
        forward_kinds=["FIELD_MOVED_TO_EXISTING_ONEOF", "ONEOF_FIELD_ADDED"],
        backward_kinds=["FIELD_ADDED"],
        forward_ok=False,
        backward_ok=True,
    )


def test_field_moved_out_of_a_oneof_still_has_its_type_compared():
    old = p3("message A { oneof choice { int32 v = 1; string s = 2; } }")
    new = p3("message A { string v = 1; oneof choice { string s = 2; } }")
    assert kinds(old, new) == ["FIELD_ADDED", "FIELD_SCALAR_KIND_CHANGED"]
    assert not compatible(old, new)


def test_proto3_optional_is_not_a_oneof():
    old = p3("message A { optional string s = 1; }")
    new = p3("message A { optional string s = 1; optional int32 n = 2; }")
    assert kinds(old, new) == ["FIELD_ADDED"]


# -- enums ----------------------------------------------------------------------------------------


def test_enum_changes_are_compatible():
    base = "message A {{ E e = 1; }}\nenum E {{ {values} }}"
    old = p3(base.format(values="ACTIVE = 0; INACTIVE = 1;"))
    renamed = p3(base.format(values="ACTIVE = 0; NOT_ACTIVE = 1;"))
    extended = p3(base.format(values="ACTIVE = 0; INACTIVE = 1; GONE = 2;"))

    assert diff(old, renamed) == [("ENUM_CONST_CHANGED", "E.NOT_ACTIVE (value 1)")]
    check_both_ways(
        old,
        extended,
        forward_kinds=["ENUM_CONST_ADDED"],
        backward_kinds=["ENUM_CONST_REMOVED"],
        forward_ok=True,
        backward_ok=True,
    )


def test_enum_added_or_removed_is_compatible():
    check_both_ways(
        p3("message A { int32 v = 1; }"),
        p3("message A { E v = 1; }\nenum E { ACTIVE = 0; INACTIVE = 1; }"),
        forward_kinds=["ENUM_ADDED"],
        backward_kinds=["ENUM_REMOVED"],
        forward_ok=True,
        backward_ok=True,
    )


# -- references and well-known types --------------------------------------------------------------


HOME_V1 = 'syntax = "proto3";\npackage demo.domain;\nmessage GoogleHome { int32 device_id = 1; bool enabled = 2; }\n'
HOME_V2 = HOME_V1.replace("int32 device_id", "string device_id")
USES_HOME = 'syntax = "proto3";\nimport "home.proto";\nmessage Test { demo.domain.GoogleHome home = 1; }\n'


def test_incompatible_change_in_a_referenced_message():
    old = proto(USES_HOME, {"home.proto": HOME_V1})
    new = proto(USES_HOME, {"home.proto": HOME_V2})
    check_both_ways(
        old,
        new,
        forward_kinds=["FIELD_SCALAR_KIND_CHANGED", "FIELD_NAMED_TYPE_CHANGED"],
        backward_kinds=["FIELD_SCALAR_KIND_CHANGED", "FIELD_NAMED_TYPE_CHANGED"],
        forward_ok=False,
        backward_ok=False,
    )
    assert diff(old, new) == [
        ("FIELD_SCALAR_KIND_CHANGED", "GoogleHome.device_id (field 1)"),
        ("FIELD_NAMED_TYPE_CHANGED", "Test.home (field 1)"),
    ]


def test_referenced_message_in_another_package_with_the_same_shape_is_compatible():
    moved_home = HOME_V1.replace("package demo.domain;", "package demo.domain2;")
    uses_moved = USES_HOME.replace('"home.proto"', '"home2.proto"').replace("demo.domain.", "demo.domain2.")
    old = proto(USES_HOME, {"home.proto": HOME_V1})
    new = proto(uses_moved, {"home2.proto": moved_home})
    assert diff(old, new) == diff(new, old) == []


def test_message_moved_to_or_from_a_reference():
    local = p3("message Test { GoogleHome home = 1; }\nmessage GoogleHome { int32 device_id = 1; bool enabled = 2; }")
    imported = proto(USES_HOME, {"home.proto": HOME_V1})
    check_both_ways(
        local,
        imported,
        forward_kinds=["MESSAGE_REMOVED"],
        backward_kinds=["MESSAGE_ADDED"],
        forward_ok=False,
        backward_ok=True,
    )


def test_well_known_types_are_built_in():
    old = p3('import "google/protobuf/timestamp.proto";\nmessage A { google.protobuf.Timestamp at = 1; }')
    same = p3('import "google/protobuf/timestamp.proto";\nmessage A { .google.protobuf.Timestamp when = 1; }')
    other = p3('import "google/protobuf/duration.proto";\nmessage A { google.protobuf.Duration at = 1; }')

    assert kinds(old, same) == ["FIELD_NAME_CHANGED"]
    assert kinds(old, other) == ["FIELD_NAMED_TYPE_CHANGED"]
    assert not compatible(old, other)


def test_recursive_messages_terminate():
    old = p3("message Node { string name = 1; repeated Node children = 2; Node parent = 3; }")
    new = p3("message Node { string label = 1; repeated Node children = 2; Node parent = 3; int32 depth = 4; }")
    assert kinds(old, new) == ["FIELD_NAME_CHANGED", "FIELD_ADDED"]


def test_recursion_through_a_reference_terminates():
    tree = 'syntax = "proto3";\npackage t;\nmessage Tree { repeated Tree kids = 1; int32 v = 2; }\n'
    uses = 'syntax = "proto3";\nimport "tree.proto";\nmessage A { t.Tree tree = 1; }\n'
    old = proto(uses, {"tree.proto": tree})
    new = proto(uses, {"tree.proto": tree.replace("int32 v", "string v")})
    assert kinds(old, new) == ["FIELD_SCALAR_KIND_CHANGED", "FIELD_NAMED_TYPE_CHANGED"]


def test_descriptor_form_compares_like_its_text():
    text = 'syntax = "proto3";\npackage shop;\nmessage Order { string id = 1; int64 cents = 2; }\n'
    encoded = base64.b64encode(compile_proto(text, {}).SerializeToString()).decode()

    assert diff(proto(encoded), proto(text)) == []
    assert kinds(proto(encoded), proto(text.replace("int64 cents", "double cents"))) == ["FIELD_SCALAR_KIND_CHANGED"]


# -- the public entry point -----------------------------------------------------------------------


def test_reader_incompatibilities_lists_only_breaking_differences():
    writer = p3("message Order { string id = 1; int32 amount = 3; }", package="shop")
    reader = p3("message Order { string order_id = 1; string amount = 3; int32 extra = 4; }", package="shop")

    problems = reader_incompatibilities(reader, writer)

    assert problems == [
        Incompatibility(
            kind="FIELD_SCALAR_KIND_CHANGED",
            path="Order.amount (field 3)",
            message=problems[0].message,
        )
    ]
    assert "int32" in problems[0].message and "string" in problems[0].message


def test_every_kind_reported_is_named_in_confluents_vocabulary():
    confluent_incompatible = {
        "MESSAGE_REMOVED",
        "FIELD_KIND_CHANGED",
        "FIELD_SCALAR_KIND_CHANGED",
        "FIELD_NAMED_TYPE_CHANGED",
        "FIELD_NUMERIC_LABEL_CHANGED",
        "REQUIRED_FIELD_ADDED",
        "REQUIRED_FIELD_REMOVED",
        "ONEOF_FIELD_REMOVED",
        "MULTIPLE_FIELDS_MOVED_TO_ONEOF",
        "FIELD_MOVED_TO_EXISTING_ONEOF",
    }
    assert not confluent_incompatible & COMPATIBLE_CHANGES


def test_unparseable_schema_raises_parse_error():
    with pytest.raises(SchemaParseError):
        reader_incompatibilities(p3("message A {"), p3("message A {}"))


def test_levels_run_the_protobuf_rules_in_confluents_directions():
    old = p3("message A { string s = 1; }")
    new = p3("message A { string s = 1; }\nmessage B { string s = 1; }")

    # Adding a message: the new schema reads old data, but the old one lacks the new message.
    assert levels.check_compatibility(new, [old], CompatibilityLevel.BACKWARD) == []
    forward = levels.check_compatibility(new, [old], CompatibilityLevel.FORWARD)
    assert [problem.kind for problem in forward] == ["MESSAGE_REMOVED"]
