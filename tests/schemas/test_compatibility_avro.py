"""Avro reader/writer compatibility: each rule in both directions, explanations, and the checker's verdict."""

from __future__ import annotations

import json
from typing import Any

import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.compatibility import CompatibilityLevel, ParsedSchema, SchemaType
from schemas.compatibility.avro import reader_incompatibilities
from schemas.compatibility.levels import check_compatibility
from schemas.formats import SchemaParseError
from schemas.formats.avro import parse_schema


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
    raw_reader = parse_schema(renamed)
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
