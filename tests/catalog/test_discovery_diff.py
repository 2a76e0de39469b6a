"""The pure core of discovery (catalog.discovery_diff): no broker, no database."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from catalog.discovery_diff import (
    GroupMemberState,
    GroupState,
    PartitionState,
    StoredRow,
    TopicState,
    committed_topics,
    diff_links,
    diff_rows,
)


def topic(name: str = "orders", partitions: int = 3, **configs: str) -> TopicState:
    return TopicState(
        name=name,
        internal=False,
        partitions=tuple(PartitionState(n, leader=1, replicas=(1, 2), isr=(1, 2)) for n in range(partitions)),
        configs=configs,
    )


# ---------------------------------------------------------------------------------------------
# What the cluster reports, as columns
# ---------------------------------------------------------------------------------------------
def test_topic_columns_take_the_configs_users_look_at_into_typed_columns():
    state = topic(
        **{
            "retention.ms": "3600000",
            "retention.bytes": "-1",
            "cleanup.policy": "compact,delete",
            "message.timestamp.type": "LogAppendTime",
            "min.insync.replicas": "2",
            "segment.bytes": "1024",
        }
    )
    columns = state.columns()
    assert columns["retention_ms"] == 3_600_000
    assert columns["retention_bytes"] == -1  # Kafka's "unlimited", kept as Kafka says it
    assert columns["cleanup_policy"] == "compact,delete"
    assert columns["message_timestamp_type"] == "LogAppendTime"
    assert columns["min_insync_replicas"] == 2
    assert columns["configs"]["segment.bytes"] == "1024"
    assert list(columns["configs"]) == sorted(columns["configs"])  # stable JSON, stable comparison
    assert columns["partition_count"] == 3
    assert columns["replication_factor"] == 2
    assert columns["under_replicated_partitions"] == 0


def test_missing_or_unparsable_configs_are_empty_not_errors():
    columns = topic(**{"retention.ms": "forever"}).columns()
    assert columns["retention_ms"] is None
    assert columns["retention_bytes"] is None
    assert columns["cleanup_policy"] == ""
    assert columns["min_insync_replicas"] is None


def test_under_replicated_partitions_are_those_with_fewer_in_sync_replicas_than_replicas():
    state = TopicState(
        name="t",
        internal=False,
        partitions=(
            PartitionState(0, leader=1, replicas=(1, 2, 3), isr=(1, 2, 3)),
            PartitionState(1, leader=2, replicas=(1, 2, 3), isr=(2,)),
            PartitionState(2, leader=-1, replicas=(1, 2, 3), isr=()),
        ),
    )
    assert state.under_replicated_partitions == 2
    assert state.replication_factor == 3
    assert [p.columns()["under_replicated"] for p in state.partitions] == [False, True, True]
    assert state.partitions[2].columns() == {"leader": -1, "replicas": [1, 2, 3], "isr": [], "under_replicated": True}


def test_group_columns_sort_members_so_that_an_unchanged_group_compares_equal():
    a = GroupMemberState("m-2", "svc", "/10.0.0.2", None, (("orders", 0), ("orders", 1)))
    b = GroupMemberState("m-1", "svc", "/10.0.0.1", "static-1", (("orders", 2),))
    one = GroupState("g", "STABLE", "CLASSIC", "range", False, members=(a, b))
    other = GroupState("g", "STABLE", "CLASSIC", "range", False, members=(b, a))
    assert one.columns() == other.columns()
    columns = one.columns()
    assert columns["member_count"] == 2
    assert columns["members"][0] == {
        "member_id": "m-1",
        "client_id": "svc",
        "host": "/10.0.0.1",
        "group_instance_id": "static-1",
        "assignment": [["orders", 2]],
    }


def test_committed_topics_ignore_partitions_without_a_commit():
    assert committed_topics([("a", 5), ("a", -1), ("b", -1), ("c", 0)]) == {"a", "c"}


# ---------------------------------------------------------------------------------------------
# The difference
# ---------------------------------------------------------------------------------------------
def stored(row_id: int, key: str, deleted: bool = False, **columns) -> StoredRow:
    return StoredRow(id=row_id, key=key, columns=columns, deleted=deleted)


def test_diff_creates_updates_deletes_and_leaves_the_unchanged_alone():
    reported = {"new": {"x": 1}, "same": {"x": 1}, "changed": {"x": 2}}
    rows = {"same": stored(1, "same", x=1), "changed": stored(2, "changed", x=1), "gone": stored(3, "gone", x=1)}
    diff = diff_rows(reported, rows)
    assert diff.create == ["new"]
    assert diff.update == [(2, "changed")]
    assert diff.delete == [3]
    assert diff.revived == []
    assert diff.unchanged == 1
    assert diff.changes == 3


def test_a_reappearing_row_is_revived_even_when_its_columns_did_not_change():
    diff = diff_rows({"back": {"x": 1}}, {"back": stored(7, "back", deleted=True, x=1)})
    assert diff.update == [(7, "back")]
    assert diff.revived == [7]
    assert diff.delete == []


def test_a_row_already_deleted_is_not_deleted_again():
    diff = diff_rows({}, {"gone": stored(1, "gone", deleted=True, x=1)})
    assert diff.delete == []
    assert diff.changes == 0


def test_stored_columns_that_discovery_does_not_report_do_not_count_as_a_change():
    # The stored row carries more (id, name, documentation); only the reported columns are compared.
    diff = diff_rows({"t": {"x": 1}}, {"t": stored(1, "t", x=1, description="docs", id=1)})
    assert diff.unchanged == 1


def test_partition_keys_can_be_tuples():
    diff = diff_rows({(1, 0): {"leader": 1}, (1, 1): {"leader": 2}}, {(1, 0): stored(10, (1, 0), leader=2)})
    assert diff.create == [(1, 1)]
    assert diff.update == [(10, (1, 0))]


def test_links_are_set_for_reported_groups_and_kept_for_the_others():
    diff = diff_links(
        {"g1": {"a", "b"}, "g2": set()},
        {"g1": {"b", "c"}, "g2": {"x"}, "gone": {"y"}},
    )
    assert diff.add == [("g1", "a")]
    assert diff.remove == [("g1", "c"), ("g2", "x")]


# ---------------------------------------------------------------------------------------------
# Property: applying the diff to the stored rows gives exactly what the cluster reports
# ---------------------------------------------------------------------------------------------
keys = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=3)
values = st.fixed_dictionaries({"x": st.integers(0, 3), "y": st.sampled_from(["", "a", "b"])})


@given(
    reported=st.dictionaries(keys, values, max_size=12),
    stored_rows=st.dictionaries(keys, st.tuples(values, st.booleans()), max_size=12),
)
def test_applying_the_diff_reproduces_the_report(reported, stored_rows):
    rows = {
        key: StoredRow(id=index, key=key, columns=columns, deleted=deleted)
        for index, (key, (columns, deleted)) in enumerate(sorted(stored_rows.items()))
    }
    diff = diff_rows(reported, rows)

    # Apply it the way the service does: create, update (and un-delete), mark deleted.
    state = {key: (dict(row.columns), row.deleted) for key, row in rows.items()}
    by_id = {row.id: key for key, row in rows.items()}
    for key in diff.create:
        state[key] = (dict(reported[key]), False)
    for row_id, key in diff.update:
        assert by_id[row_id] == key
        state[key] = (dict(reported[key]), False)
    for row_id in diff.delete:
        state[by_id[row_id]] = (state[by_id[row_id]][0], True)

    present = {key: columns for key, (columns, deleted) in state.items() if not deleted}
    assert present == reported
    # Nothing is touched twice, and an unchanged present row is not touched at all.
    touched = [key for key in diff.create] + [key for _, key in diff.update] + [by_id[i] for i in diff.delete]
    assert len(touched) == len(set(touched))
    assert diff.unchanged == sum(
        1 for key, row in rows.items() if key in reported and not row.deleted and row.columns == reported[key]
    )
