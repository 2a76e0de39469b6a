"""Compatibility levels: which reader/writer pairs each level checks, labels, and schema type changes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.compatibility import CompatibilityLevel, ParsedSchema, SchemaType
from schemas.compatibility.levels import check_compatibility, reader_incompatibilities


def avro(*fields: dict[str, Any]) -> ParsedSchema:
    schema = {"type": "record", "name": "Order", "namespace": "shop", "fields": list(fields)}
    return ParsedSchema(SchemaType.AVRO, json.dumps(schema))


def js(schema: Any) -> ParsedSchema:
    return ParsedSchema(SchemaType.JSON, json.dumps(schema))


ID = {"name": "id", "type": "string"}
NOTE = {"name": "note", "type": "string"}
NOTE_WITH_DEFAULT = {"name": "note", "type": "string", "default": ""}

# A subject whose v2 dropped v1's note, and a new version bringing the note back without a
# default: as a reader it needs a field that v2's data lacks.
V1, V2 = avro(ID, NOTE), avro(ID)
ADDS_NOTE = avro(ID, NOTE)


def kinds(problems) -> list[str]:
    return [problem.kind for problem in problems]


@pytest.mark.parametrize("level", list(CompatibilityLevel))
def test_no_previous_version_is_always_compatible(level):
    assert check_compatibility(ADDS_NOTE, [], level) == []


def test_none_checks_nothing():
    assert check_compatibility(js({"type": "string"}), [js({"type": "integer"})], CompatibilityLevel.NONE) == []


def test_backward_reads_the_latest_version_with_the_new_schema():
    problems = check_compatibility(ADDS_NOTE, [V1, V2], CompatibilityLevel.BACKWARD)
    assert kinds(problems) == ["READER_FIELD_MISSING_DEFAULT_VALUE"]
    assert "new schema reading old data" in problems[0].message


def test_forward_reads_the_new_data_with_the_latest_version():
    drops_id = avro({"name": "other", "type": "string", "default": ""})
    problems = check_compatibility(drops_id, [V2], CompatibilityLevel.FORWARD)
    assert kinds(problems) == ["READER_FIELD_MISSING_DEFAULT_VALUE"]
    assert "old schema reading new data" in problems[0].message
    assert check_compatibility(drops_id, [V2], CompatibilityLevel.BACKWARD) == []


def test_full_checks_both_directions():
    promoted = avro({"name": "id", "type": "bytes"}, {"name": "amount", "type": "long", "default": 0})
    previous = avro({"name": "id", "type": "bytes"}, {"name": "amount", "type": "int", "default": 0})
    assert check_compatibility(promoted, [previous], CompatibilityLevel.BACKWARD) == []
    assert kinds(check_compatibility(promoted, [previous], CompatibilityLevel.FORWARD)) == ["TYPE_MISMATCH"]
    assert kinds(check_compatibility(promoted, [previous], CompatibilityLevel.FULL)) == ["TYPE_MISMATCH"]


def test_transitive_levels_check_every_version_and_label_them():
    # Compatible with the latest (v2 also has a defaulted note) but not with v1, whose note had no
    # default: a v1 reader cannot read data without a note.
    v1, v2 = avro(ID, NOTE), avro(ID, NOTE_WITH_DEFAULT)
    new = avro(ID)
    assert check_compatibility(new, [v1, v2], CompatibilityLevel.FORWARD, previous_versions=[1, 2]) == []
    problems = check_compatibility(new, [v1, v2], CompatibilityLevel.FORWARD_TRANSITIVE, previous_versions=[1, 2])
    assert kinds(problems) == ["READER_FIELD_MISSING_DEFAULT_VALUE"]
    assert problems[0].message.startswith("version 1: ")
    assert kinds(check_compatibility(new, [v1, v2], CompatibilityLevel.FULL_TRANSITIVE)) == [
        "READER_FIELD_MISSING_DEFAULT_VALUE"
    ]


def test_backward_transitive_reads_every_older_version():
    v1, v2 = js({"type": "integer"}), js({"type": "number", "maximum": 10})
    new = js({"type": "number", "maximum": 10})
    assert check_compatibility(new, [v1, v2], CompatibilityLevel.BACKWARD) == []
    [problem] = check_compatibility(new, [v1, v2], CompatibilityLevel.BACKWARD_TRANSITIVE, [1, 2])
    assert problem.kind == "MAXIMUM_ADDED"
    assert problem.message.startswith("version 1: ")


def test_transitive_problems_start_with_the_newest_version():
    v1, v2 = js({"type": "string", "maxLength": 30}), js({"type": "string", "maxLength": 20})
    new = js({"type": "string", "maxLength": 10})
    problems = check_compatibility(new, [v1, v2], CompatibilityLevel.BACKWARD_TRANSITIVE, [1, 2])
    assert [problem.message.split(":")[0] for problem in problems] == ["version 2", "version 1"]


def test_a_schema_type_change_is_incompatible():
    problems = check_compatibility(avro(ID), [js({"type": "object"})], CompatibilityLevel.BACKWARD, [4])
    assert kinds(problems) == ["TYPE_CHANGED"]
    assert "JSON" in problems[0].message and "AVRO" in problems[0].message
    assert problems[0].message.startswith("version 4: ")


def test_a_type_change_in_an_older_version_counts_for_transitive_levels():
    history = [js({"type": "object"}), avro(ID)]
    assert check_compatibility(avro(ID), history, CompatibilityLevel.FULL) == []
    assert kinds(check_compatibility(avro(ID), history, CompatibilityLevel.FULL_TRANSITIVE)) == ["TYPE_CHANGED"]


def test_reader_incompatibilities_dispatches_by_format_and_refuses_mixed_types():
    assert kinds(reader_incompatibilities(js({"type": "integer"}), js({"type": "number"}))) == ["TYPE_NARROWED"]
    assert kinds(reader_incompatibilities(avro(ID), js({"type": "string"}))) == ["TYPE_CHANGED"]


def test_levels_given_as_text_are_accepted():
    assert kinds(check_compatibility(ADDS_NOTE, [V2], "BACKWARD")) == ["READER_FIELD_MISSING_DEFAULT_VALUE"]


def test_version_labels_must_match_the_versions():
    with pytest.raises(ValueError, match="previous_versions"):
        check_compatibility(V2, [V1, V2], CompatibilityLevel.BACKWARD, previous_versions=[1])


# ---------------------------------------------------------------------------------------------
# Properties

AVRO_FIELD_TYPES = st.sampled_from(["int", "long", "float", "double", "string", "bytes", ["null", "string"]])


@st.composite
def avro_schemas(draw: st.DrawFn) -> ParsedSchema:
    names = draw(st.lists(st.sampled_from(["id", "amount", "note", "qty"]), min_size=1, max_size=4, unique=True))
    fields = []
    for name in names:
        field: dict[str, Any] = {"name": name, "type": draw(AVRO_FIELD_TYPES)}
        if draw(st.booleans()):
            field["default"] = None if isinstance(field["type"], list) else _default_of(field["type"])
        fields.append(field)
    return avro(*fields)


def _default_of(type_name: str) -> Any:
    return {"string": "", "bytes": ""}.get(type_name, 0)


JSON_SCHEMAS = st.one_of(
    st.builds(
        lambda props, closed: js(
            {"type": "object", "properties": props, **({"additionalProperties": False} if closed else {})}
        ),
        st.dictionaries(
            st.sampled_from(["id", "amount", "note"]),
            st.sampled_from([{"type": "string"}, {"type": "integer"}, {"type": "number"}, {"enum": ["A", "B"]}]),
            max_size=3,
        ),
        st.booleans(),
    ),
    st.builds(lambda n: js({"type": "string", "maxLength": n}), st.integers(1, 5)),
)

SCHEMAS = st.one_of(avro_schemas(), JSON_SCHEMAS)


@settings(max_examples=150, deadline=None)
@given(SCHEMAS, st.sampled_from(list(CompatibilityLevel)))
def test_a_schema_is_compatible_with_itself_under_every_level(schema, level):
    assert check_compatibility(schema, [schema, schema], level) == []


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.tuples(avro_schemas(), avro_schemas()), st.tuples(JSON_SCHEMAS, JSON_SCHEMAS)))
def test_backward_of_a_after_b_is_forward_of_b_after_a(pair):
    a, b = pair
    backward = check_compatibility(a, [b], CompatibilityLevel.BACKWARD)
    forward = check_compatibility(b, [a], CompatibilityLevel.FORWARD)
    assert [(p.kind, p.path) for p in backward] == [(p.kind, p.path) for p in forward]


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.tuples(avro_schemas(), avro_schemas()), st.tuples(JSON_SCHEMAS, JSON_SCHEMAS)))
def test_full_is_backward_and_forward(pair):
    new, old = pair
    full = check_compatibility(new, [old], CompatibilityLevel.FULL)
    backward = check_compatibility(new, [old], CompatibilityLevel.BACKWARD)
    forward = check_compatibility(new, [old], CompatibilityLevel.FORWARD)
    assert full == backward + forward
