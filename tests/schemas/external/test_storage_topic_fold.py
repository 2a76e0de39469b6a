"""The pure replay of `_schemas` records into a snapshot: one table row per rule of Confluent's store."""

from __future__ import annotations

import json

import pytest

from schemas.external.snapshot import ExternalReference, ExternalSchema, ExternalVersion
from schemas.external.storage_topic import fold_storage_records

from . import storage_records as r

A1 = r.avro_record("A", "a")
A2 = r.avro_record("A", "a", "b")
B1 = r.avro_record("B", "b")

CASES = [
    pytest.param([r.schema("s", 1, 1, A1)], {("s", 1, 1)}, set(), {1: A1}, id="one-version"),
    pytest.param(
        [r.schema("s", 1, 1, A1), r.schema("s", 2, 2, A2)],
        {("s", 1, 1), ("s", 2, 2)},
        set(),
        {1: A1, 2: A2},
        id="two-versions",
    ),
    pytest.param(
        [r.schema("s", 1, 1, A1), r.schema("s", 2, 2, A2), r.schema("s", 2, 2, A2, deleted=True)],
        {("s", 1, 1)},
        {("s", 2, 2)},
        {1: A1, 2: A2},
        id="soft-delete-of-a-version-by-a-later-record",
    ),
    pytest.param(
        [r.schema("s", 1, 1, A1), r.schema("s", 2, 2, A2), r.tombstone("s", 1)],
        {("s", 2, 2)},
        set(),
        {2: A2},
        id="tombstone-is-a-hard-delete",
    ),
    pytest.param(
        [r.schema("s", 1, 1, A1), r.schema("s", 1, 1, A1, deleted=True), r.tombstone("s", 1)],
        set(),
        set(),
        {},
        id="tombstone-removes-a-soft-deleted-version",
    ),
    pytest.param(
        [r.schema("s", 1, 1, A1), r.schema("s", 2, 2, A2), r.delete_subject("s", 2), r.schema("t", 1, 3, B1)],
        {("t", 1, 3)},
        {("s", 1, 1), ("s", 2, 2)},
        {1: A1, 2: A2, 3: B1},
        id="delete-subject-soft-deletes-up-to-its-version",
    ),
    pytest.param(
        [r.schema("s", 1, 1, A1), r.delete_subject("s", 1), r.schema("s", 2, 2, A2)],
        {("s", 2, 2)},
        {("s", 1, 1)},
        {1: A1, 2: A2},
        id="a-version-after-delete-subject-is-live",
    ),
    pytest.param(
        [r.schema("s", 1, 1, A1), r.schema("s", 2, 2, A2), r.delete_subject("s", 2), r.clear_subject("s")],
        set(),
        set(),
        {},
        id="clear-subject-removes-the-soft-deleted-versions",
    ),
    pytest.param(
        [r.schema("s", 1, 1, A1), r.schema("s", 2, 2, A2), r.delete_subject("s", 1), r.clear_subject("s")],
        {("s", 2, 2)},
        set(),
        {2: A2},
        id="clear-subject-keeps-the-live-versions",
    ),
    pytest.param(
        [r.schema("s", 1, 1, A1, deleted=True), r.clear_subject("s"), r.schema("s", 1, 1, A1)],
        {("s", 1, 1)},
        set(),
        {1: A1},
        id="clear-subject-then-a-new-registration",
    ),
    pytest.param(
        [r.schema("s", 1, 1, A1), r.schema("s", 1, 1, A1, deleted=True), r.schema("s", 2, 1, A1)],
        {("s", 2, 1)},
        {("s", 1, 1)},
        {1: A1},
        id="a-schema-registered-again-after-its-soft-delete",
    ),
    pytest.param(
        [r.schema("s", 1, 1, A1), r.schema("t", 1, 1, B1)],
        {("s", 1, 1)},
        set(),
        {1: A1},
        id="a-reused-id-with-another-text-is-ignored",
    ),
    pytest.param(
        [r.schema("s", 1, 1, A1), r.schema("t", 1, 1, A1)],
        {("s", 1, 1), ("t", 1, 1)},
        set(),
        {1: A1},
        id="one-id-in-two-subjects",
    ),
    pytest.param(
        [r.noop(), r.schema("s", 1, 1, A1), r.noop()],
        {("s", 1, 1)},
        set(),
        {1: A1},
        id="noop-records-change-nothing",
    ),
    pytest.param(
        [
            (b"not json", b"{}"),
            (b'{"no":"keytype"}', b"{}"),
            r.schema("s", 1, 1, A1),
            (r.schema_key("s", 2), b"[broken"),
        ],
        {("s", 1, 1)},
        set(),
        {1: A1},
        id="foreign-and-broken-records-are-skipped",
    ),
    pytest.param(
        [
            (
                json.dumps({"magic": 1, "version": 1, "subject": "s", "keytype": "SCHEMA"}).encode(),
                r.schema("s", 1, 1, A1)[1],
            ),
            r.schema("s", 1, 1, A1, deleted=True),
        ],
        set(),
        {("s", 1, 1)},
        {1: A1},
        id="keys-compare-by-fields-not-bytes",
    ),
]


@pytest.mark.parametrize(("records", "live", "deleted", "texts"), CASES)
def test_fold_keeps_live_and_soft_deleted_versions_and_their_texts(records, live, deleted, texts):
    snapshot = fold_storage_records(records)

    assert {(v.subject, v.version, v.schema_id) for v in snapshot.versions} == live
    assert {(v.subject, v.version, v.schema_id) for v in snapshot.deleted_versions} == deleted
    assert {schema_id: schema.schema for schema_id, schema in snapshot.schemas.items()} == texts


def test_fold_leaves_out_texts_of_soft_deleted_versions_the_caller_knows():
    records = [r.schema("s", 1, 1, A1), r.schema("s", 2, 2, A2), r.delete_subject("s", 2), r.schema("s", 3, 3, B1)]

    snapshot = fold_storage_records(records, known_schema_ids=frozenset({1}))

    assert snapshot.deleted_versions == (ExternalVersion("s", 1, 1), ExternalVersion("s", 2, 2))
    assert snapshot.versions == (ExternalVersion("s", 3, 3),)
    assert set(snapshot.schemas) == {2, 3}
    assert snapshot.subjects == snapshot.all_subjects == ("s",)


SETTING_CASES = [
    pytest.param([r.config(None, "FULL")], "FULL", {}, id="global-config"),
    pytest.param([r.config(None, "FULL"), r.config(None, None)], None, {}, id="global-config-tombstone"),
    pytest.param(
        [r.config("s", "NONE"), r.config("t", "FORWARD"), r.config("s", "BACKWARD_TRANSITIVE")],
        None,
        {"s": "BACKWARD_TRANSITIVE", "t": "FORWARD"},
        id="subject-configs-latest-wins",
    ),
    pytest.param([r.config("s", "NONE"), r.config("s", None)], None, {}, id="subject-config-deleted"),
    pytest.param(
        [(b'{"keytype":"CONFIG","subject":null,"magic":0}', b'{"compatibilityLevel":"FORWARD"}')],
        "FORWARD",
        {},
        id="null-subject-is-global",
    ),
]


@pytest.mark.parametrize(("records", "global_level", "subject_levels"), SETTING_CASES)
def test_fold_keeps_compatibility_levels(records, global_level, subject_levels):
    snapshot = fold_storage_records(records)

    assert snapshot.global_compatibility == global_level
    assert dict(snapshot.subject_compatibility) == subject_levels


def test_fold_keeps_modes():
    snapshot = fold_storage_records(
        [r.mode(None, "READWRITE"), r.mode("s", "READONLY"), r.mode("t", "IMPORT"), r.mode("t", None)]
    )

    assert snapshot.global_mode == "READWRITE"
    assert dict(snapshot.subject_modes) == {"s": "READONLY"}


def test_fold_keeps_types_and_references():
    proto = 'syntax = "proto3";\nmessage M { string id = 1; }\n'
    records = [
        r.schema("shared", 1, 1, proto, schema_type="PROTOBUF"),
        r.schema(
            "s",
            1,
            2,
            'syntax = "proto3";\nimport "shared.proto";\nmessage N { M m = 1; }\n',
            schema_type="PROTOBUF",
            references=[{"name": "shared.proto", "subject": "shared", "version": 1}],
        ),
        r.schema("j", 1, 3, '{"type":"object"}', schema_type="JSON"),
        r.schema("a", 1, 4, A1),
    ]

    snapshot = fold_storage_records(records)

    assert snapshot.schemas[2].references == (ExternalReference("shared.proto", "shared", 1),)
    assert {i: s.schema_type for i, s in snapshot.schemas.items()} == {
        1: "PROTOBUF",
        2: "PROTOBUF",
        3: "JSON",
        4: "AVRO",
    }
    assert snapshot.versions_of("s") == (ExternalVersion("s", 1, 2),)


def test_fold_leaves_out_texts_the_caller_knows():
    snapshot = fold_storage_records([r.schema("s", 1, 1, A1), r.schema("s", 2, 2, A2)], known_schema_ids=frozenset({1}))

    assert {v.schema_id for v in snapshot.versions} == {1, 2}
    assert dict(snapshot.schemas) == {2: ExternalSchema(2, A2)}
