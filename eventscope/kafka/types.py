"""Frozen dataclasses the gateway returns: plain data, no librdkafka objects leak out."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = [
    "BrokerInfo",
    "ClusterMetadata",
    "ConsumerGroupDescription",
    "ConsumerGroupListing",
    "GroupMember",
    "PartitionMetadata",
    "PartitionOffset",
    "RawRecord",
    "Record",
    "TimestampType",
    "TopicMetadata",
    "TopicPartition",
]


class TimestampType(enum.IntEnum):
    NOT_AVAILABLE = 0
    CREATE_TIME = 1
    LOG_APPEND_TIME = 2


@dataclass(frozen=True, slots=True, order=True)
class TopicPartition:
    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class PartitionOffset:
    """An offset of one partition: committed by a group, or the log start/end, or for a timestamp.

    `offset` is -1 where Kafka has none (a group that never committed on the partition).
    """

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = None
    leader_epoch: int | None = None
    metadata: str | None = None


@dataclass(frozen=True, slots=True)
class BrokerInfo:
    node_id: int
    host: str
    port: int
    rack: str | None = None


@dataclass(frozen=True, slots=True)
class PartitionMetadata:
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isrs: tuple[int, ...]

    @property
    def under_replicated(self) -> bool:
        return len(self.isrs) < len(self.replicas)


@dataclass(frozen=True, slots=True)
class TopicMetadata:
    name: str
    partitions: tuple[PartitionMetadata, ...]
    internal: bool = False

    @property
    def replication_factor(self) -> int:
        return max((len(p.replicas) for p in self.partitions), default=0)


@dataclass(frozen=True, slots=True)
class ClusterMetadata:
    cluster_id: str | None
    controller_id: int
    brokers: tuple[BrokerInfo, ...]
    topics: tuple[TopicMetadata, ...]

    def topic(self, name: str) -> TopicMetadata | None:
        return next((t for t in self.topics if t.name == name), None)


@dataclass(frozen=True, slots=True)
class ConsumerGroupListing:
    group_id: str
    state: str
    type: str
    is_simple: bool


@dataclass(frozen=True, slots=True)
class GroupMember:
    member_id: str
    client_id: str
    host: str
    group_instance_id: str | None
    assignment: tuple[TopicPartition, ...]


@dataclass(frozen=True, slots=True)
class ConsumerGroupDescription:
    group_id: str
    state: str
    type: str  # CLASSIC or CONSUMER (KIP-848 protocol)
    partition_assignor: str
    coordinator: BrokerInfo | None
    members: tuple[GroupMember, ...]
    is_simple: bool


@dataclass(frozen=True, slots=True)
class Record:
    """One consumed record. Key and value stay bytes: decoding is the caller's business."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    timestamp_type: TimestampType
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = field(default=())

    def header(self, name: str) -> bytes | None:
        """The last value of a header (Kafka allows repeats; the last one wins, as in most clients)."""
        found = None
        for key, value in self.headers:
            if key == name:
                found = value
        return found

    @property
    def size(self) -> int:
        return len(self.key or b"") + len(self.value or b"")


class RawRecord(NamedTuple):
    """The field order of the plain tuples that `EventConsumer.poll_raw` returns, for hot paths.

    poll_raw builds bare tuples (no object per record beyond the tuple); unpack them in this order,
    or wrap one with ``RawRecord._make(t)`` for names and ``.to_record()`` for a `Record`.
    """

    topic: str
    partition: int
    offset: int
    timestamp_type: int  # TimestampType's value: 0 not available, 1 CreateTime, 2 LogAppendTime
    timestamp_ms: int | None  # None when not available
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] | None  # None when the record has none

    def to_record(self) -> Record:
        return Record(
            topic=self.topic,
            partition=self.partition,
            offset=self.offset,
            timestamp_ms=self.timestamp_ms,
            timestamp_type=TimestampType(self.timestamp_type),
            key=self.key,
            value=self.value,
            headers=tuple(self.headers or ()),
        )
