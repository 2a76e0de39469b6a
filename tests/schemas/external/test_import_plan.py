"""The pure import plan: what is imported, what is already present, and every kind of conflict."""

from __future__ import annotations

import pytest

from schemas.external.migration import (
    ExistingRegistry,
    ExistingVersion,
    SchemaIdentity,
    Status,
    plan_import,
)
from schemas.external.snapshot import ExternalReference, ExternalSchema, ExternalVersion, RegistrySnapshot

A = SchemaIdentity("AVRO", "fa")
B = SchemaIdentity("AVRO", "fb")
C = SchemaIdentity("PROTOBUF", "fc")


def _snapshot(*versions: tuple[str, int, int], refs: dict[int, tuple[ExternalReference, ...]] | None = None, **kw):
    refs = refs or {}
    ids = {schema_id for _s, _v, schema_id in versions}
    return RegistrySnapshot(
        versions=tuple(ExternalVersion(s, v, i) for s, v, i in versions),
        schemas={i: ExternalSchema(i, f"text {i}", "AVRO", refs.get(i, ())) for i in ids},
        **kw,
    )


def _statuses(plan) -> dict[tuple[str, int], Status]:
    return {(a.subject, a.version): a.status for a in plan.versions}


CASES = [
    pytest.param(
        _snapshot(("s", 1, 10), ("s", 2, 11)),
        ExistingRegistry(),
        {10: A, 11: B},
        {("s", 1): Status.IMPORT, ("s", 2): Status.IMPORT},
        [],
        id="empty-registry-imports-everything",
    ),
    pytest.param(
        _snapshot(("s", 1, 10), ("s", 2, 11)),
        ExistingRegistry(schemas={10: A}, versions={("s", 1): ExistingVersion(10)}),
        {10: A, 11: B},
        {("s", 1): Status.PRESENT, ("s", 2): Status.IMPORT},
        [],
        id="a-re-run-finds-what-is-present",
    ),
    pytest.param(
        _snapshot(("t", 1, 10)),
        ExistingRegistry(schemas={10: A}, versions={("s", 1): ExistingVersion(10)}),
        {10: A},
        {("t", 1): Status.IMPORT},
        [],
        id="a-schema-here-under-the-same-id-is-reused-in-another-subject",
    ),
    pytest.param(
        _snapshot(("s", 1, 10)),
        ExistingRegistry(schemas={10: B}),
        {10: A},
        {("s", 1): Status.CONFLICT},
        ["schema id 10 is used here by a different schema"],
        id="id-used-here-by-another-schema",
    ),
    pytest.param(
        _snapshot(("s", 1, 10)),
        ExistingRegistry(schemas={3: A}),
        {10: A},
        {("s", 1): Status.CONFLICT},
        ["registered here with id 3, not 10"],
        id="schema-here-under-another-id",
    ),
    pytest.param(
        _snapshot(("s", 1, 10)),
        ExistingRegistry(schemas={3: B}, versions={("s", 1): ExistingVersion(3)}),
        {10: A},
        {("s", 1): Status.CONFLICT},
        ["version 1 here holds schema id 3"],
        id="version-here-holds-another-schema",
    ),
    pytest.param(
        _snapshot(("s", 1, 10)),
        ExistingRegistry(schemas={10: A}, versions={("s", 1): ExistingVersion(10, deleted=True)}),
        {10: A},
        {("s", 1): Status.CONFLICT},
        ["soft-deleted here"],
        id="version-soft-deleted-here",
    ),
    pytest.param(
        _snapshot(("s", 2, 10)),
        ExistingRegistry(schemas={10: A}, versions={("s", 1): ExistingVersion(10)}),
        {10: A},
        {("s", 2): Status.CONFLICT},
        ["already live here as version 1"],
        id="schema-live-here-under-another-version",
    ),
    pytest.param(
        _snapshot(("s", 1, 10), ("t", 1, 11)),
        ExistingRegistry(),
        {10: A, 11: A},
        {("s", 1): Status.IMPORT, ("t", 1): Status.IMPORT},
        ["Schema ids 10 and 11 of the source are the same schema here"],
        id="two-source-ids-one-schema-here",
    ),
    pytest.param(
        _snapshot(("s", 1, 10)),
        ExistingRegistry(),
        {10: "the schema does not parse here: bad"},
        {("s", 1): Status.CONFLICT},
        ["does not parse here"],
        id="unparsable-schema",
    ),
    pytest.param(
        _snapshot(("s", 1, 10), refs={10: (ExternalReference("x", "gone", 1),)}),
        ExistingRegistry(),
        {10: A},
        {("s", 1): Status.CONFLICT},
        ["references gone version 1, which neither the source nor Eventscope holds"],
        id="dangling-reference",
    ),
    pytest.param(
        _snapshot(("s", 1, 10), refs={10: (ExternalReference("x", "base", 1),)}),
        ExistingRegistry(schemas={4: C}, versions={("base", 1): ExistingVersion(4)}),
        {10: A},
        {("s", 1): Status.IMPORT},
        [],
        id="reference-to-a-version-already-here",
    ),
]


@pytest.mark.parametrize(("snapshot", "existing", "identities", "statuses", "conflicts"), CASES)
def test_plan(snapshot, existing, identities, statuses, conflicts):
    plan = plan_import(snapshot, existing, identities=identities)

    assert _statuses(plan) == statuses
    assert len(plan.conflicts) == len(conflicts)
    for conflict, expected in zip(plan.conflicts, conflicts, strict=True):
        assert expected in conflict.message


def test_referenced_versions_come_first_and_a_subject_brings_its_references():
    snapshot = _snapshot(
        ("a-user", 1, 12),
        ("z-base", 1, 10),
        ("m-middle", 1, 11),
        ("other", 1, 13),
        refs={
            12: (ExternalReference("m", "m-middle", 1),),
            11: (ExternalReference("z", "z-base", 1),),
        },
    )
    identities = {10: A, 11: B, 12: C, 13: SchemaIdentity("JSON", "fd")}

    everything = plan_import(snapshot, ExistingRegistry(), identities=identities)
    one = plan_import(snapshot, ExistingRegistry(), identities=identities, subjects=["a-user"])

    order = [a.subject for a in everything.versions]
    assert order.index("z-base") < order.index("m-middle") < order.index("a-user")
    assert [a.subject for a in one.versions] == ["z-base", "m-middle", "a-user"]


def test_configs_copied_global_only_for_a_whole_registry():
    snapshot = _snapshot(
        ("s", 1, 10), ("t", 1, 11), global_compatibility="FULL", subject_compatibility={"s": "NONE", "t": "FORWARD"}
    )
    existing = ExistingRegistry(global_compatibility="BACKWARD", subject_compatibility={"t": "FORWARD"})
    identities = {10: A, 11: B}

    whole = plan_import(snapshot, existing, identities=identities)
    only_s = plan_import(snapshot, existing, identities=identities, subjects=["s"])

    assert [(c.subject, c.compatibility, c.previous, c.status) for c in whole.configs] == [
        (None, "FULL", "BACKWARD", Status.IMPORT),
        ("s", "NONE", None, Status.IMPORT),
        ("t", "FORWARD", "FORWARD", Status.PRESENT),
    ]
    assert [(c.subject, c.compatibility) for c in only_s.configs] == [("s", "NONE")]


def test_subject_problems_are_conflicts():
    plan = plan_import(
        _snapshot(("bad/versions", 1, 10)),
        ExistingRegistry(),
        identities={10: A},
        subject_problems={"bad/versions": "Eventscope refuses this subject name: nope"},
    )

    assert [c.message for c in plan.conflicts] == [
        "bad/versions version 1 (id 10): Eventscope refuses this subject name: nope"
    ]


# ---------------------------------------------------------------------------------------------
# Soft-deleted versions and modes
# ---------------------------------------------------------------------------------------------
def _with_deleted(live: tuple, deleted: tuple, refs=None, **kw) -> RegistrySnapshot:
    """A snapshot with live versions and soft-deleted ones (each as (subject, version, id))."""
    refs = refs or {}
    ids = {schema_id for _s, _v, schema_id in (*live, *deleted)}
    return RegistrySnapshot(
        versions=tuple(ExternalVersion(*v) for v in live),
        deleted_versions=tuple(ExternalVersion(*v) for v in deleted),
        schemas={i: ExternalSchema(i, f"text {i}", "AVRO", refs.get(i, ())) for i in ids},
        **kw,
    )


DELETED_CASES = [
    pytest.param(
        _with_deleted((("s", 2, 11),), (("s", 1, 10),)),
        ExistingRegistry(),
        {("s", 1): (Status.IMPORT, True), ("s", 2): (Status.IMPORT, False)},
        [],
        id="a-soft-deleted-version-is-imported-as-soft-deleted",
    ),
    pytest.param(
        _with_deleted((), (("only-deleted", 1, 10),)),
        ExistingRegistry(),
        {("only-deleted", 1): (Status.IMPORT, True)},
        [],
        id="a-subject-with-only-soft-deleted-versions",
    ),
    pytest.param(
        _with_deleted((("s", 2, 10),), (("s", 1, 10),)),
        ExistingRegistry(),
        {("s", 1): (Status.IMPORT, True), ("s", 2): (Status.IMPORT, False)},
        [],
        id="the-same-schema-soft-deleted-and-registered-again-is-no-twin",
    ),
    pytest.param(
        _with_deleted((), (("s", 1, 10),)),
        ExistingRegistry(schemas={10: A}, versions={("s", 1): ExistingVersion(10, deleted=True)}),
        {("s", 1): (Status.PRESENT, True)},
        [],
        id="soft-deleted-here-too-is-present",
    ),
    pytest.param(
        _with_deleted((), (("s", 1, 10),)),
        ExistingRegistry(schemas={10: A}, versions={("s", 1): ExistingVersion(10)}),
        {("s", 1): (Status.CONFLICT, True)},
        ["(id 10, soft-deleted): this version is live here but soft-deleted in the source"],
        id="live-here-but-soft-deleted-in-the-source",
    ),
    pytest.param(
        _with_deleted((), (("s", 1, 10),)),
        ExistingRegistry(schemas={10: A, 3: B}, versions={("s", 1): ExistingVersion(3, deleted=True)}),
        {("s", 1): (Status.CONFLICT, True)},
        ["version 1 here holds schema id 3"],
        id="soft-deleted-here-with-another-schema",
    ),
    pytest.param(
        _with_deleted((), (("s", 1, 10),)),
        ExistingRegistry(schemas={11: A}),
        {("s", 1): (Status.CONFLICT, True)},
        ["registered here with id 11, not 10"],
        id="a-soft-deleted-schema-here-under-another-id",
    ),
]


@pytest.mark.parametrize(("snapshot", "existing", "statuses", "conflicts"), DELETED_CASES)
def test_plan_of_soft_deleted_versions(snapshot, existing, statuses, conflicts):
    plan = plan_import(snapshot, existing, identities={10: A, 11: B})

    assert {(a.subject, a.version): (a.status, a.deleted) for a in plan.versions} == statuses
    assert [c.message for c in plan.conflicts if not any(e in c.message for e in conflicts)] == []
    assert len(plan.conflicts) == len(conflicts)
    assert plan.to_import_deleted == tuple(a for a in plan.versions if a.deleted and a.status == Status.IMPORT)


def test_a_soft_deleted_version_keeps_its_place_before_the_version_that_registered_its_schema_again():
    # "a" v1 references "b" v2 (live); b v1, soft-deleted, holds the same schema as b v2: b v1 must be
    # registered (and soft-deleted) before b v2, or the registry would answer b v2 for it.
    snapshot = _with_deleted(
        (("a", 1, 20), ("b", 2, 10)), (("b", 1, 10),), refs={20: (ExternalReference("b.avsc", "b", 2),)}
    )

    plan = plan_import(snapshot, ExistingRegistry(), identities={10: A, 20: B})

    assert [(a.subject, a.version, a.deleted) for a in plan.versions] == [
        ("b", 1, True),
        ("b", 2, False),
        ("a", 1, False),
    ]
    assert not plan.conflicts


def test_one_subject_brings_its_soft_deleted_versions_and_what_they_reference():
    snapshot = _with_deleted(
        (("base", 1, 10), ("other", 1, 12)), (("s", 1, 11),), refs={11: (ExternalReference("x", "base", 1),)}
    )

    plan = plan_import(snapshot, ExistingRegistry(), identities={10: A, 11: B, 12: C}, subjects=["s"])

    assert [(a.subject, a.version, a.deleted) for a in plan.versions] == [("base", 1, False), ("s", 1, True)]


def test_modes_copied_after_the_versions_global_only_for_a_whole_registry_never_import_or_a_frozen_source():
    snapshot = _snapshot(
        ("s", 1, 10),
        ("t", 1, 11),
        ("u", 1, 12),
        global_mode="READONLY",
        subject_modes={"s": "READONLY_OVERRIDE", "t": "IMPORT", "u": "READWRITE"},
    )
    existing = ExistingRegistry(global_mode="READWRITE", subject_modes={"u": "READWRITE"})
    identities = {10: A, 11: B, 12: C}

    whole = plan_import(snapshot, existing, identities=identities)
    only_s = plan_import(snapshot, existing, identities=identities, subjects=["s", "t"])
    source_importing = plan_import(
        _snapshot(("s", 1, 10), global_mode="IMPORT"), ExistingRegistry(), identities=identities
    )

    # The global READONLY is the source frozen for the move: not copied (producers would be refused here).
    assert [(m.subject, m.mode, m.previous, m.status) for m in whole.modes] == [
        ("s", "READONLY_OVERRIDE", None, Status.IMPORT),
        ("u", "READWRITE", "READWRITE", Status.PRESENT),
    ]
    assert [m.mode for m in whole.modes_to_set] == ["READONLY_OVERRIDE"]
    assert [(m.subject, m.mode) for m in only_s.modes] == [("s", "READONLY_OVERRIDE")]
    assert source_importing.modes == () and not source_importing.conflicts
    read_write_source = plan_import(
        _snapshot(("s", 1, 10), global_mode="READWRITE"),
        ExistingRegistry(global_mode="READONLY"),
        identities=identities,
    )
    assert [(m.subject, m.mode, m.status) for m in read_write_source.modes] == [(None, "READWRITE", Status.IMPORT)]


def test_a_mode_eventscope_does_not_know_is_a_conflict():
    plan = plan_import(
        _snapshot(("s", 1, 10), subject_modes={"s": "READ_SOMETIMES"}), ExistingRegistry(), identities={10: A}
    )

    assert [c.message for c in plan.conflicts] == ["The mode of s is 'READ_SOMETIMES', which Eventscope does not know."]
    assert plan.modes == ()
