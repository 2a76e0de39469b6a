"""JSON Schema reader/writer compatibility (Confluent's rules): each rule in both directions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.compatibility import ParsedSchema, SchemaType
from schemas.compatibility.json_schema import reader_incompatibilities
from schemas.formats import SchemaParseError


def js(schema: Any, references: dict[str, Any] | None = None) -> ParsedSchema:
    refs = {name: json.dumps(text) for name, text in (references or {}).items()}
    return ParsedSchema(SchemaType.JSON, json.dumps(schema), refs)


def kinds(reader: Any, writer: Any) -> list[tuple[str, str]]:
    reader = reader if isinstance(reader, ParsedSchema) else js(reader)
    writer = writer if isinstance(writer, ParsedSchema) else js(writer)
    return [(problem.kind, problem.path) for problem in reader_incompatibilities(reader, writer)]


def obj(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = required
    return schema


STRING = {"type": "string"}
INTEGER = {"type": "integer"}


# ---------------------------------------------------------------------------------------------
# Content models


def test_property_added_to_an_open_model_breaks_the_new_reader_only():
    old = obj({"id": STRING})
    new = obj({"id": STRING, "note": STRING})
    assert kinds(new, old) == [("PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", "#/properties/note")]
    assert kinds(old, new) == []


def test_property_with_an_empty_schema_added_to_an_open_model_is_compatible():
    old = obj({"id": STRING})
    assert kinds(obj({"id": STRING, "anything": {}}), old) == []


def test_optional_property_added_to_a_closed_model_breaks_the_old_reader_only():
    old = obj({"id": STRING}, additionalProperties=False)
    new = obj({"id": STRING, "note": STRING}, additionalProperties=False)
    assert kinds(new, old) == []
    assert kinds(old, new) == [("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", "#/properties/note")]


def test_required_property_added_to_a_closed_model_needs_a_default():
    old = obj({"id": STRING}, additionalProperties=False)
    new = obj({"id": STRING, "currency": STRING}, ["currency"], additionalProperties=False)
    assert kinds(new, old) == [("REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", "#/properties/currency")]
    with_default = obj(
        {"id": STRING, "currency": {"type": "string", "default": "EUR"}}, ["currency"], additionalProperties=False
    )
    assert kinds(with_default, old) == []


def test_property_with_false_schema_removed_from_a_closed_model_is_compatible():
    old = obj({"id": STRING, "legacy": False}, additionalProperties=False)
    new = obj({"id": STRING}, additionalProperties=False)
    assert kinds(new, old) == []


def test_partially_open_model_covers_properties_its_schema_accepts():
    old = obj({"id": STRING}, additionalProperties=STRING)
    covered = obj({"id": STRING, "note": {"type": "string", "maxLength": 10}}, additionalProperties=STRING)
    not_covered = obj({"id": STRING, "count": INTEGER}, additionalProperties=STRING)
    # The writer may send "note" as any string: a reader limiting it to 10 characters is narrower.
    assert ("PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", "#/properties/note") in kinds(covered, old)
    assert kinds(obj({"id": STRING, "note": STRING}, additionalProperties=STRING), old) == []
    assert ("PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", "#/properties/count") in kinds(
        not_covered, old
    )
    # The other way round the reader's additionalProperties schema must accept the removed property.
    assert (
        kinds(old, obj({"id": STRING, "note": {"type": "string", "maxLength": 10}}, additionalProperties=STRING)) == []
    )
    assert ("PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", "#/properties/count") in kinds(
        old, not_covered
    )


def test_pattern_properties_make_a_model_partially_open():
    old = obj({"id": STRING}, patternProperties={"^x-": STRING})
    assert kinds(obj({"id": STRING, "x-trace": STRING}, patternProperties={"^x-": STRING}), old) == []
    assert kinds(obj({"id": STRING, "x-trace": INTEGER}, patternProperties={"^x-": STRING}), old) == [
        ("TYPE_CHANGED", "#/properties/x-trace"),
        ("PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", "#/properties/x-trace"),
    ]


def test_property_removed_from_an_open_reader_is_compatible():
    old = obj({"id": STRING, "note": STRING})
    new = obj({"id": STRING})
    assert kinds(new, old) == []
    assert kinds(old, new) == [("PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", "#/properties/note")]


def test_additional_properties_closed_and_opened():
    open_model, closed = obj({"id": STRING}), obj({"id": STRING}, additionalProperties=False)
    assert kinds(closed, open_model) == [("ADDITIONAL_PROPERTIES_REMOVED", "#/additionalProperties")]
    assert kinds(open_model, closed) == []


def test_additional_properties_narrowed_and_extended():
    anything, strings = obj({}), obj({}, additionalProperties=STRING)
    assert kinds(strings, anything) == [("ADDITIONAL_PROPERTIES_NARROWED", "#/additionalProperties")]
    assert kinds(anything, strings) == []
    integers = obj({}, additionalProperties=INTEGER)
    assert kinds(integers, strings) == [("TYPE_CHANGED", "#/additionalProperties")]


# ---------------------------------------------------------------------------------------------
# Required, dependencies, object limits


def test_required_attribute_added_and_removed():
    optional = obj({"id": STRING, "note": STRING})
    required = obj({"id": STRING, "note": STRING}, ["note"])
    assert kinds(required, optional) == [("REQUIRED_ATTRIBUTE_ADDED", "#/required/note")]
    assert kinds(optional, required) == []
    with_default = obj({"id": STRING, "note": {"type": "string", "default": ""}}, ["note"])
    assert kinds(with_default, optional) == []


def test_property_dependencies():
    plain = obj({"card": STRING, "cvv": STRING, "zip": STRING})
    depends = {**plain, "dependencies": {"card": ["cvv"]}}
    depends_more = {**plain, "dependencies": {"card": ["cvv", "zip"]}}
    assert kinds(depends, plain) == [("DEPENDENCY_ARRAY_ADDED", "#/dependencies/card")]
    assert kinds(plain, depends) == []
    assert kinds(depends_more, depends) == [("DEPENDENCY_ARRAY_EXTENDED", "#/dependencies/card")]
    assert kinds(depends, depends_more) == []


def test_dependent_required_of_newer_drafts_follows_the_same_rule():
    draft = "https://json-schema.org/draft/2020-12/schema"
    plain = {"$schema": draft, **obj({"card": STRING, "cvv": STRING})}
    depends = {**plain, "dependentRequired": {"card": ["cvv"]}}
    assert kinds(depends, plain) == [("DEPENDENCY_ARRAY_ADDED", "#/dependencies/card")]
    assert kinds(plain, depends) == []


def test_schema_dependencies():
    plain = obj({"card": STRING})
    depends = {**plain, "dependencies": {"card": {"required": ["cvv"]}}}
    assert kinds(depends, plain) == [("DEPENDENCY_SCHEMA_ADDED", "#/dependencies/card")]
    assert kinds(plain, depends) == []


def test_property_count_limits():
    plain = obj({})
    assert kinds({**plain, "maxProperties": 3}, plain) == [("MAX_PROPERTIES_ADDED", "#/maxProperties")]
    assert kinds({**plain, "minProperties": 2}, {**plain, "minProperties": 1}) == [
        ("MIN_PROPERTIES_INCREASED", "#/minProperties")
    ]
    assert kinds({**plain, "minProperties": 1}, {**plain, "minProperties": 2}) == []


# ---------------------------------------------------------------------------------------------
# Types


def test_integer_widened_to_number_is_one_way():
    assert kinds({"type": "number"}, INTEGER) == []
    assert kinds(INTEGER, {"type": "number"}) == [("TYPE_NARROWED", "#/")]


def test_type_change_breaks_both_ways():
    assert kinds(INTEGER, STRING) == [("TYPE_CHANGED", "#/")]
    assert kinds(STRING, INTEGER) == [("TYPE_CHANGED", "#/")]


def test_nullable_type_list_is_one_way():
    nullable = {"type": ["string", "null"]}
    assert kinds(nullable, STRING) == []
    assert kinds(STRING, nullable) == [("TYPE_CHANGED", "#/")]


def test_empty_and_false_schemas():
    assert kinds({}, obj({"id": STRING}, ["id"])) == []
    assert kinds(True, STRING) == []
    assert kinds(STRING, False) == []
    assert kinds(STRING, {}) == [("TYPE_CHANGED", "#/")]


# ---------------------------------------------------------------------------------------------
# Strings and numbers


@pytest.mark.parametrize(
    ("keyword", "stricter", "looser", "kind"),
    [
        ("maxLength", 5, 10, "MAX_LENGTH_DECREASED"),
        ("minLength", 3, 1, "MIN_LENGTH_INCREASED"),
        ("maximum", 50, 100, "MAXIMUM_DECREASED"),
        ("minimum", 10, 0, "MINIMUM_INCREASED"),
        ("exclusiveMaximum", 50, 100, "EXCLUSIVE_MAXIMUM_DECREASED"),
        ("exclusiveMinimum", 10, 0, "EXCLUSIVE_MINIMUM_INCREASED"),
    ],
)
def test_limits_narrowed_break_the_reader_and_widened_do_not(keyword, stricter, looser, kind):
    base = STRING if "Length" in keyword else {"type": "number"}
    assert kinds({**base, keyword: stricter}, {**base, keyword: looser}) == [(kind, f"#/{keyword}")]
    assert kinds({**base, keyword: looser}, {**base, keyword: stricter}) == []
    added = kind.rsplit("_", 1)[0] + "_ADDED"
    assert kinds({**base, keyword: stricter}, base) == [(added, f"#/{keyword}")]
    assert kinds(base, {**base, keyword: stricter}) == []


def test_pattern_added_changed_removed():
    pattern = {"type": "string", "pattern": "^[A-Z]{3}$"}
    assert kinds(pattern, STRING) == [("PATTERN_ADDED", "#/pattern")]
    assert kinds({"type": "string", "pattern": "^[a-z]{3}$"}, pattern) == [("PATTERN_CHANGED", "#/pattern")]
    assert kinds(STRING, pattern) == []


def test_multiple_of():
    number = {"type": "number"}
    assert kinds({**number, "multipleOf": 0.5}, {**number, "multipleOf": 1.5}) == []
    assert kinds({**number, "multipleOf": 1.5}, {**number, "multipleOf": 0.5}) == [
        ("MULTIPLE_OF_EXPANDED", "#/multipleOf")
    ]
    assert kinds({**number, "multipleOf": 2}, {**number, "multipleOf": 3}) == [("MULTIPLE_OF_CHANGED", "#/multipleOf")]
    assert kinds({**number, "multipleOf": 2}, number) == [("MULTIPLE_OF_ADDED", "#/multipleOf")]


def test_draft4_boolean_exclusive_maximum_is_a_limit():
    draft4 = "http://json-schema.org/draft-04/schema#"
    inclusive = {"$schema": draft4, "type": "number", "maximum": 10}
    exclusive = {"$schema": draft4, "type": "number", "maximum": 10, "exclusiveMaximum": True}
    assert kinds(exclusive, inclusive) == [("EXCLUSIVE_MAXIMUM_ADDED", "#/exclusiveMaximum")]


# ---------------------------------------------------------------------------------------------
# Enums and const


def test_enum_extended_and_narrowed():
    small, large = {"enum": ["PLACED", "PAID"]}, {"enum": ["PLACED", "PAID", "SHIPPED"]}
    assert kinds(large, small) == []
    assert kinds(small, large) == [("ENUM_ARRAY_NARROWED", "#/enum")]
    [problem] = reader_incompatibilities(js(small), js(large))
    assert '"SHIPPED"' in problem.message
    assert kinds({"enum": ["PLACED", "REFUNDED"]}, small) == [("ENUM_ARRAY_CHANGED", "#/enum")]


def test_typed_enum_narrowed_is_explained_by_the_enum():
    small = {"type": "string", "enum": ["PLACED", "PAID"]}
    large = {"type": "string", "enum": ["PLACED", "PAID", "SHIPPED"]}
    assert kinds(large, small) == []
    assert kinds(small, large) == [("ENUM_ARRAY_NARROWED", "#/enum")]
    # Dropping the enum (keeping the type) only widens what the reader accepts.
    assert kinds(STRING, small) == []


def test_const_is_an_enum_of_one_value():
    assert kinds({"enum": ["v1", "v2"]}, {"const": "v1"}) == []
    assert kinds({"const": "v2"}, {"const": "v1"}) == [("ENUM_ARRAY_CHANGED", "#/const")]


# ---------------------------------------------------------------------------------------------
# Arrays


def array(items: Any = None, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array", **extra}
    if items is not None:
        schema["items"] = items
    return schema


def test_array_items_are_compared():
    assert kinds(array({"type": "number"}), array(INTEGER)) == []
    assert kinds(array(INTEGER), array({"type": "number"})) == [("TYPE_NARROWED", "#/items")]
    assert kinds(array(STRING), array()) == [("SCHEMA_ADDED", "#/items")]
    assert kinds(array(), array(STRING)) == []


def test_array_limits_and_unique_items():
    assert kinds(array(STRING, maxItems=5), array(STRING, maxItems=10)) == [("MAX_ITEMS_DECREASED", "#/maxItems")]
    assert kinds(array(STRING, minItems=2), array(STRING)) == [("MIN_ITEMS_ADDED", "#/minItems")]
    assert kinds(array(STRING, uniqueItems=True), array(STRING)) == [("UNIQUE_ITEMS_ADDED", "#/uniqueItems")]
    assert kinds(array(STRING), array(STRING, uniqueItems=True, maxItems=3, minItems=1)) == []


def test_tuple_items_in_draft7():
    pair = array([STRING, INTEGER], additionalItems=False)
    triple = array([STRING, INTEGER, STRING], additionalItems=False)
    assert kinds(triple, pair) == []
    assert kinds(pair, triple) == [("ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL", "#/items/2")]
    open_pair = array([STRING, INTEGER])
    assert kinds(array([STRING, INTEGER, STRING]), open_pair) == [("ITEM_ADDED_TO_OPEN_CONTENT_MODEL", "#/items/2")]


def test_prefix_items_in_draft_2020_12():
    draft = "https://json-schema.org/draft/2020-12/schema"
    pair = {"$schema": draft, "type": "array", "prefixItems": [STRING, INTEGER], "items": False}
    triple = {"$schema": draft, "type": "array", "prefixItems": [STRING, INTEGER, STRING], "items": False}
    assert kinds(triple, pair) == []
    assert kinds(pair, triple) == [("ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL", "#/prefixItems/2")]
    assert kinds({**pair, "prefixItems": [STRING, STRING]}, pair) == [("TYPE_CHANGED", "#/prefixItems/1")]


def test_additional_items_closed():
    assert kinds(array([STRING], additionalItems=False), array([STRING])) == [
        ("ADDITIONAL_ITEMS_REMOVED", "#/additionalItems")
    ]
    assert kinds(array([STRING]), array([STRING], additionalItems=False)) == []


# ---------------------------------------------------------------------------------------------
# Combined schemas and not


def test_one_of_extended_and_narrowed():
    two = {"oneOf": [STRING, INTEGER]}
    three = {"oneOf": [STRING, INTEGER, {"type": "boolean"}]}
    assert kinds(three, two) == []
    assert kinds(two, three) == [("SUM_TYPE_NARROWED", "#/")]
    assert kinds({"oneOf": [STRING, {"type": "boolean"}]}, two) == [("COMBINED_TYPE_SUBSCHEMAS_CHANGED", "#/")]


def test_all_of_extended_and_narrowed():
    one = {"allOf": [obj({"id": STRING})]}
    two = {"allOf": [obj({"id": STRING}), {"required": ["id"]}]}
    assert kinds(two, one) == [("PRODUCT_TYPE_EXTENDED", "#/")]
    assert kinds(one, two) == []


def test_criterion_changes():
    short = {"type": "string", "maxLength": 3}
    any_of, one_of, all_of = {"anyOf": [STRING, short]}, {"oneOf": [STRING, short]}, {"allOf": [STRING, short]}
    assert kinds(any_of, one_of) == []
    assert kinds(one_of, any_of) == [("COMBINED_TYPE_CHANGED", "#/")]
    assert kinds(any_of, all_of) == []
    assert kinds(all_of, any_of) == [("COMBINED_TYPE_CHANGED", "#/")]
    assert kinds(one_of, all_of) == [("COMBINED_TYPE_CHANGED", "#/")]
    # A single schema may change its combinator freely.
    assert kinds({"oneOf": [STRING]}, {"allOf": [STRING]}) == []


def test_single_schema_widened_to_a_sum_type():
    sum_type = {"anyOf": [STRING, INTEGER]}
    assert kinds(sum_type, STRING) == []
    assert kinds(STRING, sum_type) == [("TYPE_CHANGED", "#/")]


def test_a_change_inside_a_sum_type_branch_is_explained_by_the_branch():
    writer = {"type": "string", "maxLength": 10}
    reader = {"anyOf": [{"type": "string", "maxLength": 5}, INTEGER]}
    assert kinds(reader, writer) == [("MAX_LENGTH_DECREASED", "#/anyOf/0/maxLength")]


def test_subschemas_are_matched_whatever_their_order():
    assert kinds({"oneOf": [INTEGER, STRING]}, {"oneOf": [STRING, INTEGER]}) == []
    widened = {"oneOf": [{"type": "number"}, STRING]}
    assert kinds(widened, {"oneOf": [STRING, INTEGER]}) == []
    assert kinds({"oneOf": [STRING, INTEGER]}, widened) == [("TYPE_NARROWED", "#/oneOf/0")]


def test_not_narrowed_and_extended():
    not_string = {"not": STRING}
    not_string_or_number = {"not": {"type": ["string", "number"]}}
    assert kinds(not_string, not_string_or_number) == []
    assert kinds(not_string_or_number, not_string) == [("NOT_TYPE_EXTENDED", "#/not")]


# ---------------------------------------------------------------------------------------------
# References, recursion, paths


def test_refs_within_the_document_are_followed():
    def with_amount(amount: dict[str, Any]) -> dict[str, Any]:
        return {"definitions": {"Amount": amount}, **obj({"amount": {"$ref": "#/definitions/Amount"}})}

    assert kinds(with_amount({"type": "number"}), with_amount(INTEGER)) == []
    assert kinds(with_amount(INTEGER), with_amount({"type": "number"})) == [("TYPE_NARROWED", "#/properties/amount")]


def test_refs_to_references_are_followed():
    order = obj({"shipTo": {"$ref": "address.json"}})
    address_v1 = obj({"city": STRING}, additionalProperties=False)
    address_v2 = obj({"city": STRING, "zip": STRING}, ["zip"], additionalProperties=False)
    old = js(order, {"address.json": address_v1})
    new = js(order, {"address.json": address_v2})
    assert kinds(new, old) == [
        ("REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", "#/properties/shipTo/properties/zip")
    ]
    assert kinds(old, new) == [("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", "#/properties/shipTo/properties/zip")]


def test_recursive_definitions():
    def tree(value: dict[str, Any]) -> dict[str, Any]:
        node = obj({"value": value, "children": {"type": "array", "items": {"$ref": "#/definitions/Node"}}})
        return {"definitions": {"Node": node}, "$ref": "#/definitions/Node"}

    assert kinds(tree(INTEGER), tree(INTEGER)) == []
    assert kinds(tree({"type": "number"}), tree(INTEGER)) == []
    assert kinds(tree(INTEGER), tree({"type": "number"})) == [("TYPE_NARROWED", "#/properties/value")]


def test_nested_paths_escape_json_pointer_characters():
    old = obj({"a/b": obj({"c~d": {"type": "number"}})})
    new = obj({"a/b": obj({"c~d": INTEGER})})
    assert kinds(new, old) == [("TYPE_NARROWED", "#/properties/a~1b/properties/c~0d")]


def test_messages_say_what_breaks():
    old = obj({"amount": {"type": "number", "maximum": 100}})
    new = obj({"amount": {"type": "number", "maximum": 50}})
    [problem] = reader_incompatibilities(js(new), js(old))
    assert problem.path == "#/properties/amount/maximum"
    assert "50" in problem.message and "100" in problem.message


def test_an_invalid_schema_is_a_parse_error():
    with pytest.raises(SchemaParseError, match="not a valid JSON Schema"):
        reader_incompatibilities(js({"type": "strnig"}), js(STRING))


# ---------------------------------------------------------------------------------------------
# Properties


LEAVES = st.one_of(
    st.just(STRING),
    st.just(INTEGER),
    st.just({"type": "number", "minimum": 0}),
    st.just({"type": "boolean"}),
    st.just({"type": ["string", "null"]}),
    st.builds(lambda n: {"type": "string", "maxLength": n}, st.integers(1, 20)),
    st.builds(lambda values: {"enum": values}, st.lists(st.sampled_from(["A", "B", "C"]), min_size=1, unique=True)),
)


def objects(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        properties = draw(st.dictionaries(st.sampled_from(["id", "amount", "note", "tags"]), children, max_size=4))
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        required = draw(st.lists(st.sampled_from(sorted(properties) or ["id"]), unique=True))
        if required and properties:
            schema["required"] = [name for name in required if name in properties]
        if draw(st.booleans()):
            schema["additionalProperties"] = False
        return schema

    return build()


SCHEMAS = st.recursive(
    LEAVES,
    lambda children: st.one_of(
        objects(children),
        st.builds(lambda items: {"type": "array", "items": items}, children),
        st.builds(lambda branches: {"oneOf": branches}, st.lists(children, min_size=1, max_size=3)),
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(SCHEMAS)
def test_a_schema_reads_its_own_documents(schema):
    assert kinds(schema, schema) == []


@settings(max_examples=200, deadline=None)
@given(SCHEMAS)
def test_the_empty_schema_reads_everything_and_false_is_read_by_anything(schema):
    assert kinds({}, schema) == []
    assert kinds(schema, False) == []


@settings(max_examples=200, deadline=None)
@given(objects(LEAVES), LEAVES)
def test_an_optional_property_added_to_a_closed_model_is_backward_compatible(schema, added):
    closed = {**schema, "additionalProperties": False}
    extended = {**closed, "properties": {**closed["properties"], "added": added}}
    assert kinds(extended, closed) == []
