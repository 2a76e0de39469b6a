"""Pure core of discovery: what a cluster reports, compared with what the catalog holds, as rows to write.

No Django and no Kafka here: the discovery service reads the cluster through the gateway and the
catalog through the ORM, turns both into the plain values below, and writes what `diff_rows` and
`diff_links` say. Keeping the rules here lets them be unit-tested without a broker or a database:

- a reported row that the catalog lacks is created;
- a stored row whose columns differ from the report, or that was marked deleted and is reported
  again, is updated (and un-deleted);
- a stored, present row that the cluster no longer reports is deleted (the service marks topics
  and groups `deleted_at`; partitions of a reported topic are erased);
- a stored row that matches the report is left alone (the service bumps `last_seen` in bulk).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = [
    "COLUMN_CONFIG_KEYS",
    "DISCOVERED_CONFIG_KEYS",
    "GroupMemberState",
    "GroupState",
    "LinkDiff",
    "PartitionState",
    "RowDiff",
    "StoredRow",
    "TopicState",
    "committed_topics",
    "diff_links",
    "diff_rows",
]

# The topic configs users look at, each kept in a column of its own (for filters and sorting).
COLUMN_CONFIG_KEYS = (
    "retention.ms",
    "retention.bytes",
    "cleanup.policy",
    "message.timestamp.type",
    "min.insync.replicas",
)
# Every config discovery fetches (and keeps in Topic.configs): the column ones plus those a topic
# page shows beside them. Not all ~35 of a topic: most are broker defaults nobody asks about, and
# 5,000 topics times 35 entries would bloat every row for nothing.
DISCOVERED_CONFIG_KEYS = (
    *COLUMN_CONFIG_KEYS,
    "max.message.bytes",
    "compression.type",
    "segment.bytes",
    "segment.ms",
    "delete.retention.ms",
    "min.compaction.lag.ms",
    "max.compaction.lag.ms",
    "unclean.leader.election.enable",
    "remote.storage.enable",
    "local.retention.ms",
    "local.retention.bytes",
)

K = TypeVar("K", bound=Hashable)


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# What the cluster reports
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PartitionState:
    number: int
    leader: int  # -1: no leader
    replicas: tuple[int, ...]
    isr: tuple[int, ...]

    @property
    def under_replicated(self) -> bool:
        return len(self.isr) < len(self.replicas)

    def columns(self) -> dict[str, Any]:
        """The Partition row's values (lists, as the JSON columns give them back)."""
        return {
            "leader": self.leader,
            "replicas": list(self.replicas),
            "isr": list(self.isr),
            "under_replicated": self.under_replicated,
        }


@dataclass(frozen=True, slots=True)
class TopicState:
    name: str
    internal: bool
    partitions: tuple[PartitionState, ...]
    configs: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def replication_factor(self) -> int:
        return max((len(p.replicas) for p in self.partitions), default=0)

    @property
    def under_replicated_partitions(self) -> int:
        return sum(1 for p in self.partitions if p.under_replicated)

    def columns(self) -> dict[str, Any]:
        """The Topic row's discovered values; documentation columns are not discovery's business."""
        configs = self.configs
        return {
            "internal": self.internal,
            "partition_count": len(self.partitions),
            "replication_factor": self.replication_factor,
            "under_replicated_partitions": self.under_replicated_partitions,
            "retention_ms": _int_or_none(configs.get("retention.ms")),
            "retention_bytes": _int_or_none(configs.get("retention.bytes")),
            "cleanup_policy": configs.get("cleanup.policy") or "",
            "message_timestamp_type": configs.get("message.timestamp.type") or "",
            "min_insync_replicas": _int_or_none(configs.get("min.insync.replicas")),
            # Sorted so that the stored JSON, and the comparison with it, do not depend on fetch order.
            "configs": {key: configs[key] for key in sorted(configs)},
        }


@dataclass(frozen=True, slots=True)
class GroupMemberState:
    member_id: str
    client_id: str
    host: str
    group_instance_id: str | None
    assignment: tuple[tuple[str, int], ...]  # (topic, partition), sorted

    def as_json(self) -> dict[str, Any]:
        return {
            "member_id": self.member_id,
            "client_id": self.client_id,
            "host": self.host,
            "group_instance_id": self.group_instance_id,
            "assignment": [[topic, partition] for topic, partition in self.assignment],
        }


@dataclass(frozen=True, slots=True)
class GroupState:
    group_id: str
    state: str
    protocol: str  # CLASSIC or CONSUMER (KIP-848); "" when the broker does not say
    partition_assignor: str
    is_simple: bool
    members: tuple[GroupMemberState, ...] = ()
    committed_topics: frozenset[str] = frozenset()

    def columns(self) -> dict[str, Any]:
        # Member ids are random per consumer instance; sorting by them keeps the JSON stable between runs.
        members = sorted(self.members, key=lambda m: (m.member_id, m.client_id))
        return {
            "state": self.state,
            "protocol": self.protocol,
            "partition_assignor": self.partition_assignor,
            "is_simple": self.is_simple,
            "member_count": len(members),
            "members": [member.as_json() for member in members],
        }


def committed_topics(offsets: Iterable[tuple[str, int]]) -> frozenset[str]:
    """Topics a group has committed on, from (topic, offset) pairs; offset -1 means no commit there."""
    return frozenset(topic for topic, offset in offsets if offset >= 0)


# ---------------------------------------------------------------------------------------------
# What the catalog holds, and the difference
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StoredRow(Generic[K]):
    """One catalog row as discovery sees it: its id, natural key, discovered columns, deleted or not."""

    id: int
    key: K
    columns: Mapping[str, Any]
    deleted: bool = False


@dataclass(slots=True)
class RowDiff(Generic[K]):
    create: list[K] = field(default_factory=list)  # keys reported but not stored
    update: list[tuple[int, K]] = field(default_factory=list)  # (id, key): changed or reappearing
    revived: list[int] = field(default_factory=list)  # ids among `update` that were marked deleted
    delete: list[int] = field(default_factory=list)  # ids stored and present, no longer reported
    unchanged: int = 0

    @property
    def changes(self) -> int:
        return len(self.create) + len(self.update) + len(self.delete)


def diff_rows(reported: Mapping[K, Mapping[str, Any]], stored: Mapping[K, StoredRow[K]]) -> RowDiff[K]:
    """Compare reported columns by key with the stored rows; the result lists keys and ids in a stable order.

    A stored row already marked deleted and still not reported is neither deleted again nor
    counted: its deleted_at keeps the time it disappeared.
    """
    diff: RowDiff[K] = RowDiff()
    for key, columns in reported.items():
        row = stored.get(key)
        if row is None:
            diff.create.append(key)
        elif row.deleted:
            diff.update.append((row.id, key))
            diff.revived.append(row.id)
        elif any(row.columns.get(name) != value for name, value in columns.items()):
            diff.update.append((row.id, key))
        else:
            diff.unchanged += 1
    diff.delete = sorted(row.id for key, row in stored.items() if not row.deleted and key not in reported)
    return diff


@dataclass(slots=True)
class LinkDiff:
    add: list[tuple[str, str]] = field(default_factory=list)  # (group, topic)
    remove: list[tuple[str, str]] = field(default_factory=list)


def diff_links(reported: Mapping[str, Iterable[str]], stored: Mapping[str, Iterable[str]]) -> LinkDiff:
    """Group-to-topic links (committed topics) to add and remove, for the reported groups only.

    Links of groups the cluster no longer reports are left alone: a deleted group keeps its last
    known topics.
    """
    diff = LinkDiff()
    for group, topics in sorted(reported.items()):
        wanted = set(topics)
        have = set(stored.get(group, ()))
        diff.add.extend((group, topic) for topic in sorted(wanted - have))
        diff.remove.extend((group, topic) for topic in sorted(have - wanted))
    return diff
