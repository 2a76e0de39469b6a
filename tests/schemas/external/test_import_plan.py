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
