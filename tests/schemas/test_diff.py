"""The field-level schema diff (schemas.diff): pure, no database."""

from __future__ import annotations

import json

import pytest

from schemas.compatibility import ParsedSchema
from schemas.diff import (
    ADDED,
    DEFAULT_CHANGED,
    DOC_CHANGED,
    REMOVED,
    RENAMED,
    REQUIRED_CHANGED,
    TYPE_CHANGED,
    FieldChange,
    field_diff,
    pretty_text,
    schema_diff,
    unified_text_diff,
)
from schemas.formats import FieldInfo, SchemaParseError


def avro(*fields: dict, name: str = "Order") -> ParsedSchema:
    return ParsedSchema(
        "AVRO", json.dumps({"type": "record", "name": name, "namespace": "shop", "fields": list(fields)})
    )


def kinds(diff) -> list[tuple[str, str]]:
    return [(change.kind, change.path) for change in diff.changes]


def test_identical_schemas_have_no_changes():
    schema = avro({"name": "id", "type": "string"})
    assert not schema_diff(schema, schema)
    assert schema_diff(schema, schema).counts == {}


def test_added_and_removed_fields():
    old = avro({"name": "id", "type": "string"}, {"name": "total", "type": "int"})
    new = avro({"name": "id", "type": "string"}, {"name": "currency", "type": "string", "default": "EUR"})
    diff = schema_diff(old, new)
    assert kinds(diff) == [(ADDED, "currency"), (REMOVED, "total")]
    assert diff.of_kind(ADDED)[0].new == "string"
    assert diff.of_kind(REMOVED)[0].old == "int"
    assert diff.counts == {ADDED: 1, REMOVED: 1}


def test_type_default_doc_and_required_changes():
    old = avro(
        {"name": "amount", "type": "int", "doc": "cents"},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "channel", "type": "string", "default": "web"},
    )
    new = avro(
        {"name": "amount", "type": "long", "doc": "in cents"},
        {"name": "note", "type": "string", "default": ""},
        {"name": "channel", "type": "string", "default": "app"},
    )
    diff = schema_diff(old, new)
    assert FieldChange(TYPE_CHANGED, "amount", old="int", new="long") in diff.changes
    assert FieldChange(DOC_CHANGED, "amount", old="cents", new="in cents") in diff.changes
    assert FieldChange(TYPE_CHANGED, "note", old="null | string", new="string") in diff.changes
    assert FieldChange(DEFAULT_CHANGED, "note", old="null", new='""') in diff.changes
    assert FieldChange(REQUIRED_CHANGED, "note", old="optional", new="required") in diff.changes
    assert FieldChange(DEFAULT_CHANGED, "channel", old='"web"', new='"app"') in diff.changes
    assert REMOVED not in diff.counts and ADDED not in diff.counts


def test_a_default_appearing_or_going_is_a_default_change():
    old = avro({"name": "n", "type": "int"})
    new = avro({"name": "n", "type": "int", "default": 0})
    assert kinds(schema_diff(old, new)) == [(DEFAULT_CHANGED, "n")]
    assert schema_diff(old, new).changes[0].old == "(none)"
    assert schema_diff(new, old).changes[0].new == "(none)"


def test_a_field_with_an_alias_is_a_rename_and_its_nested_fields_follow():
    address = {"type": "record", "name": "Address", "fields": [{"name": "city", "type": "string"}]}
    old = avro({"name": "addr", "type": address})
    new = avro({"name": "shipping", "type": address, "aliases": ["addr"]})
    diff = schema_diff(old, new)
    assert kinds(diff) == [(RENAMED, "shipping"), (RENAMED, "shipping.city")]
    first, nested = diff.changes
    assert (first.old_path, first.reason) == ("addr", "declares alias addr")
    assert (nested.old_path, nested.reason) == ("addr.city", "its parent was renamed")


def test_similar_names_with_the_same_type_are_likely_renames():
    old = avro({"name": "customerId", "type": "string"}, {"name": "shipment_date", "type": "long"})
    new = avro({"name": "customer_id", "type": "string"}, {"name": "shipmentDate", "type": "long"})
    diff = schema_diff(old, new)
    assert kinds(diff) == [(RENAMED, "customer_id"), (RENAMED, "shipmentDate")]
    assert diff.changes[0].reason == "same name apart from case and separators"


def test_a_similar_name_with_another_type_is_not_a_rename():
    old = avro({"name": "customerId", "type": "string"})
    new = avro({"name": "customer_id", "type": "long"})
    assert kinds(schema_diff(old, new)) == [(ADDED, "customer_id"), (REMOVED, "customerId")]


def test_unrelated_names_are_not_renames():
    old = avro({"name": "total", "type": "int"})
    new = avro({"name": "quantity", "type": "int"})
    assert kinds(schema_diff(old, new)) == [(ADDED, "quantity"), (REMOVED, "total")]


def test_a_rename_is_one_to_one():
    old = avro({"name": "price", "type": "int"})
    new = avro({"name": "prices", "type": "int"}, {"name": "Price", "type": "int"})
    diff = schema_diff(old, new)
    assert diff.counts == {ADDED: 1, RENAMED: 1}
    assert diff.of_kind(RENAMED)[0].path == "Price"  # the stronger reason wins


def test_renames_stay_under_the_same_parent():
    fields = [
        FieldInfo("a", "A"),
        FieldInfo("a.zip", "string"),
        FieldInfo("b", "B"),
    ]
    new = [FieldInfo("a", "A"), FieldInfo("b", "B"), FieldInfo("b.zip_", "string")]
    assert {change.kind for change in field_diff(fields, new).changes} == {ADDED, REMOVED}


def test_json_schema_diff():
    old = ParsedSchema(
        "JSON",
        json.dumps(
            {
                "type": "object",
                "properties": {"id": {"type": "string"}, "n": {"type": "integer", "description": "count"}},
                "required": ["id"],
            }
        ),
    )
    new = ParsedSchema(
        "JSON",
        json.dumps(
            {
                "type": "object",
                "properties": {"id": {"type": "string"}, "n": {"type": "number"}, "tag": {"type": "string"}},
                "required": ["id", "n"],
            }
        ),
    )
    diff = schema_diff(old, new)
    assert (TYPE_CHANGED, "n") in kinds(diff)
    assert (DOC_CHANGED, "n") in kinds(diff)
    assert (REQUIRED_CHANGED, "n") in kinds(diff)
    assert (ADDED, "tag") in kinds(diff)


def test_protobuf_diff():
    old = ParsedSchema("PROTOBUF", 'syntax = "proto3"; package shop; message Order { string id = 1; int32 qty = 2; }')
    new = ParsedSchema("PROTOBUF", 'syntax = "proto3"; package shop; message Order { string id = 1; int64 qty = 2; }')
    assert kinds(schema_diff(old, new)) == [(TYPE_CHANGED, "Order.qty")]


def test_an_invalid_schema_raises_the_parse_error():
    with pytest.raises(SchemaParseError):
        schema_diff(avro({"name": "id", "type": "string"}), ParsedSchema("AVRO", "{not json"))


def test_pretty_text_and_unified_diff():
    text = json.dumps({"type": "record", "name": "A", "fields": []}, separators=(",", ":"))
    assert pretty_text("AVRO", text).startswith('{\n  "type": "record"')
    assert pretty_text("AVRO", "{broken") == "{broken"
    assert pretty_text("PROTOBUF", "message A {}") == "message A {}"
    lines = unified_text_diff("a\nb\nc", "a\nB\nc", old_label="v1", new_label="v2")
    assert lines[:2] == ["--- v1", "+++ v2"]
    assert "-b" in lines and "+B" in lines
    assert unified_text_diff("same", "same", old_label="v1", new_label="v2") == []
