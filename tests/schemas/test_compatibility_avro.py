"""Avro reader/writer compatibility: each rule in both directions, explanations, and the checker's verdict."""

from __future__ import annotations

import json
from typing import Any

import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from avro.errors import AvroRuntimeException
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.compatibility import CompatibilityLevel, ParsedSchema, SchemaType, levels
from schemas.compatibility.avro import reader_check_session, reader_incompatibilities
from schemas.compatibility.levels import check_compatibility
from schemas.formats import SchemaParseError
from schemas.formats.avro import _parse_with_references, parse_schema, parse_schema_info, type_name


def avro(schema: Any, references: dict[str, Any] | None = None) -> ParsedSchema:
    refs = {name: json.dumps(text) for name, text in (references or {}).items()}
    return ParsedSchema(SchemaType.AVRO, json.dumps(schema), refs)


def record(*fields: dict[str, Any], name: str = "Order", **extra: Any) -> ParsedSchema:
    return avro({"type": "record", "name": name, "namespace": "shop", "fields": list(fields), **extra})


def kinds(reader: ParsedSchema, writer: ParsedSchema) -> list[tuple[str, str]]:
    return [(problem.kind, problem.path) for problem in reader_incompatibilities(reader, writer)]


ID = {"name": "id", "type": "string"}


# ---------------------------------------------------------------------------------------------
# Fields


def test_field_added_with_default_reads_both_ways():
    old = record(ID)
    new = record(ID, {"name": "currency", "type": "string", "default": "EUR"})
    assert kinds(new, old) == []
    assert kinds(old, new) == []


def test_field_added_without_default_breaks_the_new_reader_only():
    old = record(ID)
    new = record(ID, {"name": "currency", "type": "string"})
    assert kinds(new, old) == [("READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/1")]
    assert kinds(old, new) == []
    [problem] = reader_incompatibilities(new, old)
    assert "shop.Order.currency" in problem.message
    assert "no default" in problem.message


def test_field_removed_without_default_breaks_the_old_reader_only():
    old = record(ID, {"name": "note", "type": "string"})
    new = record(ID)
    assert kinds(new, old) == []
    assert kinds(old, new) == [("READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/1")]


def test_field_renamed_with_an_alias_is_read_by_the_new_reader():
    old = record(ID, {"name": "amount", "type": "int"})
    new = record(ID, {"name": "total", "type": "int", "aliases": ["amount"]})
    assert kinds(new, old) == []
    assert kinds(old, new) == [("READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/1")]


# ---------------------------------------------------------------------------------------------
# Types


def test_int_promoted_to_long_is_one_way():
    old = record({"name": "amount", "type": "int"})
    new = record({"name": "amount", "type": "long"})
    assert kinds(new, old) == []
    assert kinds(old, new) == [("TYPE_MISMATCH", "/fields/0/type")]
    [problem] = reader_incompatibilities(old, new)
    assert "shop.Order.amount" in problem.message
    assert "int" in problem.message and "long" in problem.message


@pytest.mark.parametrize(("narrow", "wide"), [("int", "float"), ("long", "double"), ("float", "double")])
def test_numeric_promotions(narrow, wide):
    assert kinds(avro(wide), avro(narrow)) == []
    assert kinds(avro(narrow), avro(wide)) == [("TYPE_MISMATCH", "/")]


def test_string_and_bytes_read_each_other():
    assert kinds(avro("string"), avro("bytes")) == []
    assert kinds(avro("bytes"), avro("string")) == []


def test_unrelated_type_change_breaks_both_ways():
    old = record({"name": "amount", "type": "string"})
    new = record({"name": "amount", "type": "boolean"})
    assert kinds(new, old) == [("TYPE_MISMATCH", "/fields/0/type")]
    assert kinds(old, new) == [("TYPE_MISMATCH", "/fields/0/type")]


def test_array_item_type_change_points_into_the_items():
    old = record({"name": "tags", "type": {"type": "array", "items": "string"}})
    new = record({"name": "tags", "type": {"type": "array", "items": "int"}})
    assert kinds(new, old) == [("TYPE_MISMATCH", "/fields/0/type/items")]


def test_map_value_promotion_is_one_way():
    old = record({"name": "totals", "type": {"type": "map", "values": "int"}})
    new = record({"name": "totals", "type": {"type": "map", "values": "long"}})
    assert kinds(new, old) == []
    assert kinds(old, new) == [("TYPE_MISMATCH", "/fields/0/type/values")]


# ---------------------------------------------------------------------------------------------
# Enums, fixed, names


def status(*symbols: str, **extra: Any) -> ParsedSchema:
    return record({"name": "status", "type": {"type": "enum", "name": "Status", "symbols": list(symbols), **extra}})


def test_enum_symbol_added_breaks_the_old_reader():
    old, new = status("PLACED", "PAID"), status("PLACED", "PAID", "SHIPPED")
    assert kinds(new, old) == []
    assert kinds(old, new) == [("MISSING_ENUM_SYMBOLS", "/fields/0/type/symbols")]
    [problem] = reader_incompatibilities(old, new)
    assert "SHIPPED" in problem.message


def test_enum_default_lets_the_reader_read_unknown_symbols():
    old = status("UNKNOWN", "PLACED", default="UNKNOWN")
    new = status("UNKNOWN", "PLACED", "SHIPPED", default="UNKNOWN")
    assert kinds(old, new) == []


def test_fixed_size_change():
    old = record({"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 16}})
    new = record({"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 32}})
    assert kinds(new, old) == [("FIXED_SIZE_MISMATCH", "/fields/0/type/size")]
    assert kinds(old, new) == [("FIXED_SIZE_MISMATCH", "/fields/0/type/size")]


def test_record_rename_needs_an_alias():
    old = record(ID, name="Order")
    renamed = record(ID, name="PurchaseOrder")
    assert kinds(renamed, old) == [("NAME_MISMATCH", "/name")]
    [problem] = reader_incompatibilities(renamed, old)
    assert "shop.Order" in problem.message


def test_relative_alias_is_resolved_in_the_types_namespace():
    old = record(ID, name="Order")
    renamed = record(ID, name="PurchaseOrder", aliases=["Order"])
    assert kinds(renamed, old) == []
    # The avro checker alone compares the alias as written with the writer's full name; this is
    # why aliases are resolved before checking.
    raw_reader, _ = _parse_with_references(renamed)  # a private copy: cached schemas are shared
    raw_reader.props["aliases"] = ["Order"]
    raw_result = ReaderWriterCompatibilityChecker().get_compatibility(raw_reader, parse_schema(old))
    assert raw_result.compatibility is SchemaCompatibilityType.incompatible


# ---------------------------------------------------------------------------------------------
# Unions


def test_making_a_field_nullable_is_one_way():
    old = record({"name": "note", "type": "string"})
    new = record({"name": "note", "type": ["null", "string"], "default": None})
    assert kinds(new, old) == []
    assert kinds(old, new) == [("TYPE_MISMATCH", "/fields/0/type")]


def test_union_branch_added_breaks_the_old_reader():
    old = record({"name": "value", "type": ["null", "string"], "default": None})
    new = record({"name": "value", "type": ["null", "string", "long"], "default": None})
    assert kinds(new, old) == []
    assert kinds(old, new) == [("MISSING_UNION_BRANCH", "/fields/0/type")]
    [problem] = reader_incompatibilities(old, new)
    assert "long" in problem.message


def test_a_change_inside_a_union_branch_is_explained_by_the_branch():
    address_v1 = {"type": "record", "name": "Address", "fields": [{"name": "city", "type": "string"}]}
    address_v2 = {**address_v1, "fields": [{"name": "city", "type": "string"}, {"name": "zip", "type": "string"}]}
    old = record({"name": "shipTo", "type": ["null", address_v1], "default": None})
    new = record({"name": "shipTo", "type": ["null", address_v2], "default": None})
    assert kinds(new, old) == [("READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/0/type/1/fields/1")]
    assert kinds(old, new) == []


def test_several_problems_each_get_their_own_location():
    old = record(ID, {"name": "amount", "type": "long"}, {"name": "tags", "type": {"type": "array", "items": "string"}})
    new = record(
        ID,
        {"name": "amount", "type": "int"},
        {"name": "tags", "type": {"type": "array", "items": "bytes"}},
        {"name": "currency", "type": "string"},
    )
    assert kinds(new, old) == [
        ("TYPE_MISMATCH", "/fields/1/type"),
        ("READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/3"),
    ]


# ---------------------------------------------------------------------------------------------
# Recursion and references


def linked_list(value_type: str) -> ParsedSchema:
    return avro(
        {
            "type": "record",
            "name": "Node",
            "fields": [{"name": "value", "type": value_type}, {"name": "next", "type": ["null", "Node"]}],
        }
    )


def test_recursive_schemas():
    assert kinds(linked_list("int"), linked_list("int")) == []
    assert kinds(linked_list("long"), linked_list("int")) == []
    assert kinds(linked_list("int"), linked_list("long")) == [("TYPE_MISMATCH", "/fields/0/type")]


def test_referenced_types_are_compared():
    address_v1 = {
        "type": "record",
        "name": "Address",
        "namespace": "shop",
        "fields": [{"name": "city", "type": "string"}],
    }
    address_v2 = {**address_v1, "fields": [*address_v1["fields"], {"name": "zip", "type": "string"}]}
    order = {
        "type": "record",
        "name": "Order",
        "namespace": "shop",
        "fields": [{"name": "shipTo", "type": "shop.Address"}],
    }
    old = avro(order, {"shop.Address": address_v1})
    new = avro(order, {"shop.Address": address_v2})
    assert kinds(new, old) == [("READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/0/type/fields/1")]
    assert kinds(old, new) == []


def test_an_invalid_schema_is_a_parse_error():
    with pytest.raises(SchemaParseError, match="not a valid Avro schema"):
        reader_incompatibilities(avro({"type": "record", "name": "A"}), avro("string"))


# ---------------------------------------------------------------------------------------------
# Properties


PRIMITIVES = ["boolean", "int", "long", "float", "double", "bytes", "string"]
FIELD_NAMES = ["id", "amount", "status", "note", "tags", "qty", "sku", "placedAt"]


@st.composite
def field_types(draw: st.DrawFn, name: str) -> Any:
    shape = draw(st.sampled_from(["primitive", "nullable", "array", "map", "enum"]))
    primitive = draw(st.sampled_from(PRIMITIVES))
    if shape == "primitive":
        return primitive
    if shape == "nullable":
        return ["null", primitive]
    if shape == "array":
        return {"type": "array", "items": primitive}
    if shape == "map":
        return {"type": "map", "values": primitive}
    symbols = draw(st.lists(st.sampled_from(["A", "B", "C"]), min_size=1, unique=True))
    return {"type": "enum", "name": name.capitalize(), "symbols": symbols}


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    fields = []
    for name in draw(st.lists(st.sampled_from(FIELD_NAMES), min_size=1, max_size=5, unique=True)):
        field: dict[str, Any] = {"name": name, "type": draw(field_types(name))}
        if isinstance(field["type"], list) and draw(st.booleans()):
            field["default"] = None
        fields.append(field)
    return {"type": "record", "name": "Order", "namespace": "shop", "fields": fields}


@settings(max_examples=150, deadline=None)
@given(records())
def test_a_schema_reads_its_own_data(schema):
    assert reader_incompatibilities(avro(schema), avro(schema)) == []


@settings(max_examples=150, deadline=None)
@given(records(), st.sampled_from(PRIMITIVES))
def test_adding_an_optional_field_with_a_default_is_fully_compatible(schema, primitive):
    extended = {
        **schema,
        "fields": [*schema["fields"], {"name": "added", "type": ["null", primitive], "default": None}],
    }
    assert check_compatibility(avro(extended), [avro(schema)], CompatibilityLevel.FULL_TRANSITIVE) == []


@settings(max_examples=300, deadline=None)
@given(records(), records())
def test_explanations_agree_with_the_avro_checker(reader, writer):
    verdict = ReaderWriterCompatibilityChecker().get_compatibility(
        parse_schema(avro(reader)), parse_schema(avro(writer))
    )
    problems = reader_incompatibilities(avro(reader), avro(writer))
    assert (problems == []) == (verdict.compatibility is not SchemaCompatibilityType.incompatible)
    assert all(problem.path.startswith("/") and problem.message for problem in problems)


# ---------------------------------------------------------------------------------------------
# One checker shared by the pairs of a check, over schemas sharing their equal sub-schemas: the
# verdict must be exactly what a fresh checker says about freshly parsed (unshared) schemas.


def fresh_verdict(reader: ParsedSchema, writer: ParsedSchema) -> bool | Exception:
    """The plain avro verdict: uncached, unshared schemas and a new checker (True when compatible)."""
    reader_schema, _ = _parse_with_references(reader)
    writer_schema, _ = _parse_with_references(writer)
    try:
        verdict = ReaderWriterCompatibilityChecker().get_compatibility(reader_schema, writer_schema)
    except Exception as error:  # the checker refuses some schemas (an "error" record); so must we
        return error
    return verdict.compatibility is not SchemaCompatibilityType.incompatible


LINE_FIELDS = ["sku", "qty", "price"]
VERSION_FIELDS = ["id", "amount", "status", "note", "tags", "line", "lines", "hash", "at", "old_note"]
LOGICAL_TYPES = [
    {"type": "long", "logicalType": "timestamp-millis"},
    {"type": "int", "logicalType": "date"},
    {"type": "string", "logicalType": "uuid"},
    {"type": "bytes", "logicalType": "decimal", "precision": 6, "scale": 2},
]


@st.composite
def version_field_types(draw: st.DrawFn, name: str, defined: set[str], line_ref: str) -> tuple[Any, list[Any]]:
    """A field type and the defaults that fit it; a type uses one small vocabulary across versions."""
    primitive = draw(st.sampled_from([*PRIMITIVES, "null"]))
    shape = draw(
        st.sampled_from(["primitive", "logical", "nullable", "array", "map", "enum", "fixed", "record", "union"])
    )
    if shape == "primitive":
        defaults = {"boolean": [True], "int": [0, 7], "long": [0], "float": [0.5], "double": [0.0, 1],
                    "bytes": [""], "string": ["", "x"], "null": [None]}[primitive]  # fmt: skip
        return primitive, defaults
    if shape == "logical":
        return draw(st.sampled_from(LOGICAL_TYPES)), []
    if shape == "nullable":
        first = draw(st.booleans())
        return (["null", primitive] if first else [primitive, "null"]) if primitive != "null" else "null", [None]
    if shape in ("array", "map"):
        inner = draw(st.sampled_from([primitive, ["null", "string"], "long"]))
        key = "items" if shape == "array" else "values"
        return {"type": shape, key: inner}, [[] if shape == "array" else {}]
    if shape == "enum":
        symbols = draw(st.lists(st.sampled_from(["A", "B", "C"]), min_size=1, unique=True))
        enum: dict[str, Any] = {"type": "enum", "name": f"{name.capitalize()}Kind", "symbols": symbols}
        if draw(st.booleans()):
            enum["default"] = draw(st.sampled_from(symbols))
        return enum, [symbols[0]]
    if shape == "fixed":
        return {"type": "fixed", "name": f"{name.capitalize()}Bytes", "size": draw(st.sampled_from([4, 8]))}, []
    # A nested record, defined once per schema and named afterwards, alone or in a union.
    if "Line" in defined:
        line: Any = line_ref
    else:
        defined.add("Line")
        fields = [
            {"name": field, "type": draw(st.sampled_from(["int", "long", "string"]))}
            for field in draw(st.lists(st.sampled_from(LINE_FIELDS), min_size=1, unique=True))
        ]
        line = {"type": "record", "name": "Line", "fields": fields}
        if draw(st.booleans()):
            line["aliases"] = ["OldLine"]
    return (["null", line], [None]) if shape == "union" else (line, [])


@st.composite
def versions(draw: st.DrawFn) -> dict[str, Any]:
    """A record from a small shared vocabulary; sometimes recursive, rarely an "error" record."""
    # An "error" record does not pass its namespace on to the types defined in it.
    kind = "error" if draw(st.integers(0, 15)) == 0 else "record"
    line_ref = "shop.Line" if kind == "record" else "Line"
    defined: set[str] = set()
    fields = []
    for name in draw(st.lists(st.sampled_from(VERSION_FIELDS), min_size=1, max_size=6, unique=True)):
        field_type, defaults = draw(version_field_types(name, defined, line_ref))
        field: dict[str, Any] = {"name": name, "type": field_type}
        if defaults and draw(st.booleans()):
            field["default"] = draw(st.sampled_from(defaults))
        if name == "note" and draw(st.booleans()):
            field["aliases"] = ["old_note"]
        if draw(st.integers(0, 4)) == 0:
            field["doc"] = f"The {name}."
        fields.append(field)
    if kind == "record" and draw(st.integers(0, 5)) == 0:
        fields.append({"name": "next", "type": ["null", "Order"], "default": None})
    return {"type": kind, "name": "Order", "namespace": "shop", "fields": fields}


@settings(max_examples=400, deadline=None)
@given(st.lists(versions(), min_size=2, max_size=6), st.randoms(use_true_random=False))
def test_a_shared_checker_gives_the_fresh_checker_verdict(drawn, random):
    schemas = [avro(schema) for schema in drawn]
    pairs = [(reader, writer) for reader in schemas for writer in schemas]
    random.shuffle(pairs)
    check = reader_check_session()
    for reader, writer in pairs:
        expected = fresh_verdict(reader, writer)
        try:
            problems = check(reader, writer)
        except Exception as error:
            assert isinstance(expected, Exception), f"raised {error!r}, the fresh checker did not"
            assert (type(error), str(error)) == (type(expected), str(expected))
            continue
        assert not isinstance(expected, Exception), f"the fresh checker raised {expected!r}"
        assert (problems == []) is expected
        assert problems == reader_incompatibilities(reader, writer)


@settings(max_examples=200, deadline=None)
@given(st.lists(versions(), min_size=1, max_size=5), versions(), st.sampled_from(list(CompatibilityLevel)))
def test_check_compatibility_answers_as_the_plain_pair_by_pair_check(drawn, new_schema, level):
    previous, new = [avro(schema) for schema in drawn], avro(new_schema)
    numbers = list(range(1, len(previous) + 1))

    def outcome() -> Any:
        try:
            return check_compatibility(new, previous, level, numbers)
        except Exception as error:
            return (type(error), str(error))

    optimized = outcome()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(levels, "_session_for", levels._checker_for)  # a fresh checker per pair
        assert outcome() == optimized


@settings(max_examples=200, deadline=None)
@given(versions())
def test_shared_sub_schemas_keep_the_parsed_content(schema):
    parsed = parse_schema_info(avro(schema))
    fresh, _ = _parse_with_references(avro(schema))
    assert parsed.schema.to_json() == fresh.to_json()
    assert type_name(parsed.schema) == type_name(fresh)
    assert parsed.acyclic == ("Order" not in json.dumps([field["type"] for field in schema["fields"]]))


def test_equal_sub_schemas_of_cached_parses_are_one_object():
    first = parse_schema(record(ID, {"name": "note", "type": ["null", "string"], "default": None}))
    second = parse_schema(record({"name": "note", "type": ["null", "string"], "doc": "A note."}, ID, name="Other"))
    assert second.fields[0].type is first.fields[1].type
    assert second.fields[1].type is first.fields[0].type


@pytest.mark.parametrize(
    "variants",
    [
        ["long", {"type": "long", "logicalType": "timestamp-millis"}, {"type": "long", "logicalType": "time-micros"}],
        [{"type": "string", "x": 1}, {"type": "string", "x": 1.0}, {"type": "string", "x": True}],
        [{"type": "double", "x": 0.0}, {"type": "double", "x": -0.0}],
        [{"type": "enum", "name": "S", "symbols": ["A", "B"]}, {"type": "enum", "name": "S", "symbols": ["B", "A"]}],
        [
            {"type": "enum", "name": "S", "symbols": ["A"]},
            {"type": "enum", "name": "S", "symbols": ["A"], "default": "A"},
        ],
        [{"type": "fixed", "name": "F", "size": 4}, {"type": "fixed", "name": "F", "namespace": "other", "size": 4}],
    ],
)
def test_sub_schemas_that_differ_in_anything_stay_apart(variants):
    types = [parse_schema(record({"name": "value", "type": variant})).fields[0].type for variant in variants]
    assert len({id(kind) for kind in types}) == len(variants)


def test_recursive_schemas_keep_a_checker_of_their_own():
    assert parse_schema_info(linked_list("int")).acyclic is False
    check = reader_check_session()
    assert check(linked_list("long"), linked_list("int")) == []
    assert [(p.kind, p.path) for p in check(linked_list("int"), linked_list("long"))] == [
        ("TYPE_MISMATCH", "/fields/0/type")
    ]


def test_a_checker_error_is_raised_as_the_plain_check_raises_it():
    error_record = avro({"type": "error", "name": "Failed", "fields": [ID]})
    with pytest.raises(AvroRuntimeException, match="Unknown schema type: error"):
        reader_incompatibilities(error_record, error_record)
    check = reader_check_session()
    for _ in range(2):  # and the shared checker does not answer from the unfinished entries left behind
        with pytest.raises(AvroRuntimeException, match="Unknown schema type: error"):
            check(error_record, error_record)
