"""Schema formats: identity (normalize, fingerprint), validation errors, references, field paths."""

from __future__ import annotations

import hashlib
import json
import random
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.compatibility import ParsedSchema, SchemaType
from schemas.formats import FieldInfo, SchemaParseError, field_paths, fingerprint, normalize


def avro(schema: Any, references: dict[str, Any] | None = None, *, indent: int | None = None) -> ParsedSchema:
    refs = {name: json.dumps(text) for name, text in (references or {}).items()}
    return ParsedSchema(SchemaType.AVRO, json.dumps(schema, indent=indent), refs)


def js(schema: Any, references: dict[str, Any] | None = None, *, indent: int | None = None) -> ParsedSchema:
    refs = {name: json.dumps(text) for name, text in (references or {}).items()}
    return ParsedSchema(SchemaType.JSON, json.dumps(schema, indent=indent), refs)


def shuffled(value: Any, rng: random.Random) -> Any:
    """The same JSON with every object's keys in another order (arrays keep theirs: order means something)."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {key: shuffled(item, rng) for key, item in items}
    if isinstance(value, list):
        return [shuffled(item, rng) for item in value]
    return value


ORDER = {
    "type": "record",
    "name": "Order",
    "namespace": "shop",
    "doc": "An order placed in the shop.",
    "fields": [
        {"name": "id", "type": "string", "doc": "The order's id."},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
        {"name": "placedAt", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "note", "type": ["null", "string"], "default": None},
        {
            "name": "lines",
            "type": {
                "type": "array",
                "items": {
                    "type": "record",
                    "name": "Line",
                    "fields": [{"name": "sku", "type": "string"}, {"name": "qty", "type": "int", "default": 1}],
                },
            },
        },
        {"name": "attributes", "type": {"type": "map", "values": "string"}},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["PLACED", "PAID"]}},
    ],
}

ORDER_JSON = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Order",
    "type": "object",
    "properties": {
        "id": {"type": "string", "description": "The order's id."},
        "amount": {"type": "number", "minimum": 0},
        "placedAt": {"type": "string", "format": "date-time"},
        "customer": {
            "type": "object",
            "properties": {"address": {"$ref": "#/definitions/Address"}},
            "required": ["address"],
        },
        "lines": {"type": "array", "items": {"type": "object", "properties": {"sku": {"type": "string"}}}},
        "status": {"type": "string", "enum": ["PLACED", "PAID"], "default": "PLACED"},
    },
    "required": ["id", "amount"],
    "definitions": {
        "Address": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name."}},
        }
    },
}


# ---------------------------------------------------------------------------------------------
# Identity


@pytest.mark.parametrize(("make", "schema"), [(avro, ORDER), (js, ORDER_JSON)])
def test_layout_and_key_order_do_not_change_identity(make, schema):
    reordered = shuffled(schema, random.Random(7))
    assert normalize(make(reordered, indent=4)) == normalize(make(schema))
    assert fingerprint(make(reordered, indent=2)) == fingerprint(make(schema))


@pytest.mark.parametrize(("make", "schema"), [(avro, ORDER), (js, ORDER_JSON)])
def test_the_fingerprint_is_the_sha256_of_the_normalized_text(make, schema):
    expected = hashlib.sha256(normalize(make(schema)).encode()).hexdigest()
    assert fingerprint(make(schema)) == expected
    assert len(expected) == 64


def test_an_avro_doc_change_changes_identity():
    changed = {**ORDER, "fields": [{**ORDER["fields"][0], "doc": "Another text."}, *ORDER["fields"][1:]]}
    assert normalize(avro(changed)) != normalize(avro(ORDER))
    assert fingerprint(avro({**ORDER, "doc": "Changed."})) != fingerprint(avro(ORDER))


def test_a_json_schema_description_change_changes_identity():
    changed = json.loads(json.dumps(ORDER_JSON))
    changed["properties"]["id"]["description"] = "Another text."
    assert normalize(js(changed)) != normalize(js(ORDER_JSON))


def test_avro_spellings_of_the_same_schema_have_one_identity():
    full_name = {"type": "record", "name": "shop.Order", "fields": [{"name": "id", "type": {"type": "string"}}]}
    split_name = {"type": "record", "name": "Order", "namespace": "shop", "fields": [{"name": "id", "type": "string"}]}
    assert normalize(avro(full_name)) == normalize(avro(split_name))


def test_avro_normalized_text_is_the_parsed_schema_and_parses_again():
    text = normalize(avro(ORDER))
    assert json.loads(text)["doc"] == ORDER["doc"]
    assert normalize(ParsedSchema(SchemaType.AVRO, text)) == text


def test_avro_referenced_types_stay_references():
    address = {"type": "record", "name": "Address", "namespace": "shop", "fields": [{"name": "city", "type": "string"}]}
    order = {"type": "record", "name": "Order", "namespace": "shop", "fields": [{"name": "to", "type": "shop.Address"}]}
    normalized = json.loads(normalize(avro(order, {"shop.Address": address})))
    assert normalized["fields"][0]["type"] == "shop.Address"


# ---------------------------------------------------------------------------------------------
# Invalid schemas


@pytest.mark.parametrize(
    ("schema_text", "message"),
    [
        ('{"type": "record", "name": "A", "fields": [}', "not valid JSON: .* line 1 column"),
        ('{"type": "record", "name": "A", "fields": [{"name": "x", "type": "Money"}]}', "Money"),
        ('{"type": "record", "name": "A", "fields": [{"name": "x", "type": "int", "default": "one"}]}', "A.x"),
        (
            '{"type": "record", "name": "A", "fields": [{"name": "x", "type": "int"}, {"name": "x", "type": "int"}]}',
            "x",
        ),
        ('{"type": "enum", "name": "E", "symbols": ["A", "A"]}', "Duplicate symbol"),
        ('{"type": "record", "name": "A", "aliases": "B", "fields": []}', "aliases of type A"),
        ('{"type": "recrod", "name": "A"}', "recrod"),
        ('{"type": "string", "x": NaN}', "NaN"),
    ],
)
def test_invalid_avro_schemas_say_why(schema_text, message):
    with pytest.raises(SchemaParseError, match=message):
        normalize(ParsedSchema(SchemaType.AVRO, schema_text))


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "object", "properties": {"x": {"type": "strnig"}}}, r"\$\.properties\.x\.type"),
        ({"type": "string", "maxLength": -1}, "maxLength"),
        ({"type": "string", "pattern": "(("}, "regex"),
        ({"$schema": "http://example.com/my-draft", "type": "string"}, "unsupported \\$schema"),
        ({"$ref": "#/definitions/Missing"}, "#/definitions/Missing"),
        ({"$ref": "customer.json"}, "customer.json"),
        ([{"type": "string"}], "JSON object or a boolean"),
    ],
)
def test_invalid_json_schemas_say_why(schema, message):
    with pytest.raises(SchemaParseError, match=message):
        normalize(js(schema))


def test_json_schema_drafts_are_chosen_by_their_schema_keyword():
    # exclusiveMinimum is a number from draft 6 on and a boolean in draft 4.
    draft4 = {"$schema": "http://json-schema.org/draft-04/schema#", "minimum": 0, "exclusiveMinimum": True}
    draft7 = {"$schema": "http://json-schema.org/draft-07/schema", "exclusiveMinimum": 0}
    normalize(js(draft4))
    normalize(js(draft7))
    normalize(js({**draft7, "$schema": "https://json-schema.org/draft-07/schema#"}))
    with pytest.raises(SchemaParseError, match=r"\(Draft7\)"):
        normalize(js({**draft4, "$schema": "http://json-schema.org/draft-07/schema#"}))


def test_an_invalid_reference_is_named():
    with pytest.raises(SchemaParseError, match=re.escape("reference 'shop.Address'")):
        normalize(avro({"type": "record", "name": "A", "fields": []}, {"shop.Address": {"type": "record"}}))
    with pytest.raises(SchemaParseError, match=re.escape("reference 'address.json'")):
        normalize(js({"$ref": "address.json"}, {"address.json": {"type": "nope"}}))


def test_an_unknown_schema_type_is_a_parse_error():
    with pytest.raises(SchemaParseError, match="unknown schema type"):
        normalize(ParsedSchema("XML", "<a/>"))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# References


def test_avro_references_resolve_whatever_their_order():
    country = {"type": "enum", "name": "Country", "namespace": "shop", "symbols": ["DE", "FR"]}
    address = {
        "type": "record",
        "name": "Address",
        "namespace": "shop",
        "fields": [{"name": "country", "type": "shop.Country"}],
    }
    order = {"type": "record", "name": "Order", "namespace": "shop", "fields": [{"name": "to", "type": "shop.Address"}]}
    # Address uses Country but comes first.
    schema = avro(order, {"shop.Address": address, "shop.Country": country})
    assert [info.path for info in field_paths(schema)] == ["to", "to.country"]


def test_avro_redefining_a_referenced_type_is_refused():
    address = {"type": "record", "name": "Address", "namespace": "shop", "fields": []}
    with pytest.raises(SchemaParseError, match="already in use"):
        normalize(avro(address, {"shop.Address": address}))


def test_json_references_resolve_by_name_and_relative_to_the_id():
    address = {"type": "object", "properties": {"city": {"type": "string"}}}
    by_name = {"properties": {"to": {"$ref": "address.json"}}}
    relative = {"$id": "https://shop.example/order.json", "properties": {"to": {"$ref": "address.json"}}}
    absolute = {"properties": {"to": {"$ref": "https://shop.example/address.json"}}}
    for schema in (by_name, relative):
        assert [info.path for info in field_paths(js(schema, {"address.json": address}))] == ["to", "to.city"]
    with_id = {**address, "$id": "https://shop.example/address.json"}
    assert [info.path for info in field_paths(js(absolute, {"address.json": with_id}))] == ["to", "to.city"]


# ---------------------------------------------------------------------------------------------
# Field paths


def test_avro_field_paths():
    fields = {info.path: info for info in field_paths(avro(ORDER))}
    assert list(fields) == [
        "id",
        "amount",
        "placedAt",
        "note",
        "lines",
        "lines[].sku",
        "lines[].qty",
        "attributes",
        "status",
    ]
    assert fields["id"] == FieldInfo(path="id", type="string", doc="The order's id.", required=True)
    assert fields["amount"].type == "bytes (decimal(10,2))"
    assert fields["placedAt"].type == "long (timestamp-millis)"
    assert fields["note"] == FieldInfo(path="note", type="null | string", required=False, has_default=True)
    assert fields["lines"].type == "array<Line>"
    assert fields["lines[].qty"].has_default and fields["lines[].qty"].default == 1
    assert fields["attributes"].type == "map<string>"
    assert fields["status"].type == "enum Status"


def test_avro_recursive_types_are_listed_once():
    node = {
        "type": "record",
        "name": "Node",
        "fields": [{"name": "value", "type": "int"}, {"name": "next", "type": ["null", "Node"], "default": None}],
    }
    assert [info.path for info in field_paths(avro(node))] == ["value", "next"]


def test_a_non_record_avro_schema_has_no_fields():
    assert field_paths(avro("string")) == []


def test_json_schema_field_paths():
    fields = {info.path: info for info in field_paths(js(ORDER_JSON))}
    assert list(fields) == [
        "id",
        "amount",
        "placedAt",
        "customer",
        "customer.address",
        "customer.address.city",
        "lines",
        "lines[].sku",
        "status",
    ]
    assert fields["id"] == FieldInfo(path="id", type="string", doc="The order's id.", required=True)
    assert fields["placedAt"].type == "string (date-time)"
    assert fields["customer.address"].type == "Address"
    assert fields["customer.address"].required
    assert fields["customer.address.city"].doc == "City name."
    assert fields["lines"].type == "array<object>"
    assert fields["status"] == FieldInfo(
        path="status", type="string enum", required=False, has_default=True, default="PLACED"
    )


def test_json_schema_combinators_contribute_fields():
    schema = {
        "allOf": [
            {"properties": {"id": {"type": "string"}}, "required": ["id"]},
            {"oneOf": [{"properties": {"card": {"type": "string"}}}, {"properties": {"iban": {"type": "string"}}}]},
        ]
    }
    fields = {info.path: info for info in field_paths(js(schema))}
    assert list(fields) == ["id", "card", "iban"]
    assert fields["id"].required and not fields["card"].required


def test_json_schema_recursion_terminates():
    schema = {
        "definitions": {
            "Node": {
                "type": "object",
                "properties": {
                    "value": {"type": "integer"},
                    "children": {"type": "array", "items": {"$ref": "#/definitions/Node"}},
                },
            }
        },
        "$ref": "#/definitions/Node",
    }
    assert [info.path for info in field_paths(js(schema))] == ["value", "children"]


# ---------------------------------------------------------------------------------------------
# Properties

AVRO_TYPES = st.sampled_from(["int", "long", "string", ["null", "string"], {"type": "array", "items": "double"}])


@st.composite
def avro_records(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(["id", "amount", "note", "qty", "sku"]), min_size=1, unique=True))
    fields = []
    for name in names:
        field: dict[str, Any] = {"name": name, "type": draw(AVRO_TYPES)}
        if draw(st.booleans()):
            field["doc"] = draw(st.text(max_size=20))
        fields.append(field)
    return {"type": "record", "name": "Order", "namespace": "shop", "fields": fields}


JSON_SCHEMAS = st.recursive(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["string", "integer", "boolean"])},
        optional={"description": st.text(max_size=20), "default": st.none()},
    ),
    lambda children: st.fixed_dictionaries(
        {"type": st.just("object"), "properties": st.dictionaries(st.sampled_from(["a", "b", "c"]), children)},
        optional={"additionalProperties": st.booleans(), "title": st.text(max_size=10)},
    ),
    max_leaves=6,
)


@settings(max_examples=100, deadline=None)
@given(st.one_of(avro_records().map(lambda s: (avro, s)), JSON_SCHEMAS.map(lambda s: (js, s))), st.randoms())
def test_normalize_ignores_layout_and_key_order(made, rng):
    make, schema = made
    assert normalize(make(shuffled(schema, rng), indent=rng.choice([None, 1, 4]))) == normalize(make(schema))


@settings(max_examples=100, deadline=None)
@given(st.one_of(avro_records().map(lambda s: (avro, s)), JSON_SCHEMAS.map(lambda s: (js, s))))
def test_normalize_is_idempotent(made):
    make, schema = made
    once = normalize(make(schema))
    assert normalize(ParsedSchema(make(schema).schema_type, once)) == once


KEYWORDS = st.sampled_from(
    [
        "type",
        "name",
        "namespace",
        "fields",
        "items",
        "values",
        "symbols",
        "size",
        "default",
        "aliases",
        "doc",
        "logicalType",
        "properties",
        "required",
        "additionalProperties",
        "$ref",
        "enum",
        "anyOf",
        "not",
        "$id",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from(["record", "enum", "array", "string", "int", "object", "integer", "A", "#", "#/definitions/A"]),
)
ANY_JSON = st.recursive(
    SCALARS, lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(KEYWORDS, children, max_size=4))
)


@pytest.mark.filterwarnings("ignore::avro.errors.IgnoredLogicalType")
@settings(max_examples=300, deadline=None)
@given(ANY_JSON, st.sampled_from([SchemaType.AVRO, SchemaType.JSON]))
def test_any_json_is_a_schema_or_a_parse_error(document, schema_type):
    schema = ParsedSchema(schema_type, json.dumps(document))
    try:
        normalize(schema)
    except SchemaParseError as error:
        assert str(error)
    else:
        field_paths(schema)
