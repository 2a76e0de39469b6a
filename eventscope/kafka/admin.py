"""Admin reads (and the few admin writes tests and the simulator need), each bounded by the connection's timeout."""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from concurrent.futures import wait as wait_futures

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicCollection
from confluent_kafka import TopicPartition as _KafkaTopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, OffsetSpec, ResourceType

from ._diagnosis import ConnectionTrouble, is_definite
from ._translate import kafka_errors, translate_exception
from .connection import ClusterConnection
from .errors import KafkaGatewayError, KafkaUnavailableError, UnknownTopicError
from .types import (
    BrokerInfo,
    ClusterMetadata,
    ConsumerGroupDescription,
    ConsumerGroupListing,
    GroupMember,
    PartitionMetadata,
    PartitionOffset,
    TopicMetadata,
    TopicPartition,
)

__all__ = ["KafkaAdmin", "OffsetKind"]

logger = logging.getLogger(__name__)

# While a metadata request waits, librdkafka's reports are checked this often, so a definite failure
# (a refused login, an untrusted certificate) ends the wait instead of the timeout.
TROUBLE_CHECK_S = 0.1

# Kafka's own bookkeeping topics. Metadata does not flag internal topics, so by name; discovery
# can confirm with describe_topics where it matters.
INTERNAL_TOPIC_PREFIX = "__"


class OffsetKind(enum.Enum):
    EARLIEST = "earliest"
    LATEST = "latest"


def _name(value) -> str:
    """librdkafka enums (ConsumerGroupState.STABLE) as the plain upper-case names users know."""
    return getattr(value, "name", str(value)).upper()


class KafkaAdmin:
    """Admin operations on one cluster. Create one per unit of work; it holds a librdkafka handle."""

    def __init__(self, connection: ClusterConnection):
        self.connection = connection
        self._trouble = ConnectionTrouble(connection)
        with kafka_errors("admin client"):
            self._client = AdminClient(connection.client_config(error_cb=self._trouble.error_cb, logger=self._trouble))

    @property
    def _timeout(self) -> float:
        return self.connection.timeout_s

    def _explained(self, error: KafkaGatewayError, operation: str) -> KafkaGatewayError:
        """A transport failure or timeout replaced by its cause, when librdkafka reported one meanwhile."""
        if not isinstance(error, KafkaUnavailableError):
            return error
        self._client.poll(0)  # serves the error callbacks and log lines queued during the call
        return self._trouble.diagnosis(operation) or error

    def _results(self, futures: Mapping, operation: str) -> dict:
        """Wait for a batch of request futures together, bounded by one timeout; translate failures."""
        _done, not_done = wait_futures(list(futures.values()), timeout=self._timeout + 1)
        if not_done:
            for future in not_done:
                future.cancel()
            raise self._explained(translate_exception(TimeoutError(), operation), operation)
        results = {}
        for key, future in futures.items():
            try:
                results[key] = future.result()
            except KafkaException as exc:
                raise self._explained(translate_exception(exc, f"{operation} ({key})"), operation) from exc
        return results

    # -----------------------------------------------------------------------------------------
    # Cluster and topics
    # -----------------------------------------------------------------------------------------
    def _list_topics(self):
        """librdkafka's metadata request, failing early when the client reports a definite cause.

        The request runs in a helper thread (it is bounded by the timeout) while this one serves the
        client's error callbacks; a healthy cluster answers with no extra request and no delay.
        """
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka-metadata")
        future = executor.submit(self._client.list_topics, timeout=self._timeout)
        executor.shutdown(wait=False)
        while True:
            try:
                return future.result(timeout=TROUBLE_CHECK_S)
            except FutureTimeoutError:
                self._client.poll(0)
                cause = self._trouble.diagnosis("cluster metadata")
                if cause is not None and is_definite(cause):
                    raise cause from None
            except KafkaException as exc:
                raise self._explained(translate_exception(exc, "cluster metadata"), "cluster metadata") from exc

    def cluster_metadata(self) -> ClusterMetadata:
        metadata = self._list_topics()
        brokers = tuple(
            BrokerInfo(node_id=b.id, host=b.host, port=b.port)
            for b in sorted(metadata.brokers.values(), key=lambda b: b.id)
        )
        topics = []
        for name, topic in sorted(metadata.topics.items()):
            if topic.error is not None:
                raise translate_exception(KafkaException(topic.error), f"metadata of topic {name}")
            partitions = tuple(
                PartitionMetadata(partition=p.id, leader=p.leader, replicas=tuple(p.replicas), isrs=tuple(p.isrs))
                for p in sorted(topic.partitions.values(), key=lambda p: p.id)
            )
            topics.append(
                TopicMetadata(name=name, partitions=partitions, internal=name.startswith(INTERNAL_TOPIC_PREFIX))
            )
        return ClusterMetadata(
            cluster_id=metadata.cluster_id,
            controller_id=metadata.controller_id,
            brokers=brokers,
            topics=tuple(topics),
        )

    def create_topic(
        self,
        name: str,
        *,
        partitions: int = 1,
        replication_factor: int = 1,
        config: Mapping[str, str] | None = None,
    ) -> None:
        new_topic = NewTopic(
            name, num_partitions=partitions, replication_factor=replication_factor, config=dict(config or {})
        )
        with kafka_errors(f"create topic {name}"):
            futures = self._client.create_topics(
                [new_topic], operation_timeout=self._timeout, request_timeout=self._timeout
            )
        self._results(futures, "create topic")

    def delete_topics(self, names: Iterable[str]) -> None:
        names = list(names)
        if not names:
            return
        with kafka_errors("delete topics"):
            futures = self._client.delete_topics(names, operation_timeout=self._timeout, request_timeout=self._timeout)
        self._results(futures, "delete topic")

    def topic_configs(
        self, names: Iterable[str], keys: Iterable[str] | None = None
    ) -> dict[str, dict[str, str | None]]:
        """Effective configs of topics, optionally only the named keys: {topic: {key: value}}."""
        wanted = set(keys) if keys is not None else None
        resources = [ConfigResource(ResourceType.TOPIC, name) for name in names]
        if not resources:
            return {}
        with kafka_errors("describe topic configs"):
            futures = self._client.describe_configs(resources, request_timeout=self._timeout)
        results = self._results(futures, "describe topic configs")
        return {
            resource.name: {key: entry.value for key, entry in entries.items() if wanted is None or key in wanted}
            for resource, entries in results.items()
        }

    def describe_topics_internal_flags(self, names: Iterable[str]) -> dict[str, bool]:
        """Whether each topic is internal, as the broker says (metadata alone does not)."""
        names = list(names)
        if not names:
            return {}
        with kafka_errors("describe topics"):
            futures = self._client.describe_topics(TopicCollection(names), request_timeout=self._timeout)
        return {name: description.is_internal for name, description in self._results(futures, "describe topic").items()}

    # -----------------------------------------------------------------------------------------
    # Offsets
    # -----------------------------------------------------------------------------------------
    def list_offsets(
        self, partitions: Iterable[TopicPartition], kind: OffsetKind = OffsetKind.LATEST
    ) -> dict[TopicPartition, int]:
        """Log-end (LATEST) or log-start (EARLIEST) offsets, all partitions in one batched request."""
        spec = OffsetSpec.latest() if kind is OffsetKind.LATEST else OffsetSpec.earliest()
        request = {_KafkaTopicPartition(tp.topic, tp.partition): spec for tp in partitions}
        if not request:
            return {}
        with kafka_errors("list offsets"):
            futures = self._client.list_offsets(request, request_timeout=self._timeout)
        results = self._results(futures, "list offsets")
        return {TopicPartition(tp.topic, tp.partition): info.offset for tp, info in results.items()}

    def offsets_for_times(self, partitions: Mapping[TopicPartition, int]) -> dict[TopicPartition, PartitionOffset]:
        """The first offset at or after a timestamp (ms) per partition; offset -1 when none is that late."""
        request = {
            _KafkaTopicPartition(tp.topic, tp.partition): OffsetSpec.for_timestamp(ts) for tp, ts in partitions.items()
        }
        if not request:
            return {}
        with kafka_errors("offsets for times"):
            futures = self._client.list_offsets(request, request_timeout=self._timeout)
        results = self._results(futures, "offsets for times")
        return {
            TopicPartition(tp.topic, tp.partition): PartitionOffset(
                tp.topic, tp.partition, info.offset, timestamp_ms=info.timestamp, leader_epoch=info.leader_epoch
            )
            for tp, info in results.items()
        }

    # -----------------------------------------------------------------------------------------
    # Consumer groups
    # -----------------------------------------------------------------------------------------
    def list_consumer_groups(self) -> tuple[ConsumerGroupListing, ...]:
        with kafka_errors("list consumer groups"):
            future = self._client.list_consumer_groups(request_timeout=self._timeout)
        result = self._results({"groups": future}, "list consumer groups")["groups"]
        if result.errors:
            raise self._explained(translate_exception(result.errors[0], "list consumer groups"), "list consumer groups")
        return tuple(
            sorted(
                (
                    ConsumerGroupListing(
                        group_id=g.group_id,
                        state=_name(g.state),
                        type=_name(g.type),
                        is_simple=g.is_simple_consumer_group,
                    )
                    for g in result.valid
                ),
                key=lambda g: g.group_id,
            )
        )

    def describe_consumer_groups(self, group_ids: Iterable[str]) -> dict[str, ConsumerGroupDescription]:
        group_ids = list(group_ids)
        if not group_ids:
            return {}
        with kafka_errors("describe consumer groups"):
            futures = self._client.describe_consumer_groups(group_ids, request_timeout=self._timeout)
        descriptions = {}
        for group_id, g in self._results(futures, "describe consumer group").items():
            coordinator = g.coordinator
            descriptions[group_id] = ConsumerGroupDescription(
                group_id=g.group_id,
                state=_name(g.state),
                type=_name(g.type),
                partition_assignor=g.partition_assignor or "",
                coordinator=BrokerInfo(coordinator.id, coordinator.host, coordinator.port, coordinator.rack)
                if coordinator is not None
                else None,
                members=tuple(
                    GroupMember(
                        member_id=m.member_id,
                        client_id=m.client_id,
                        host=m.host,
                        group_instance_id=m.group_instance_id,
                        assignment=tuple(
                            sorted(TopicPartition(tp.topic, tp.partition) for tp in m.assignment.topic_partitions)
                            if m.assignment is not None
                            else ()
                        ),
                    )
                    for m in g.members
                ),
                is_simple=g.is_simple_consumer_group,
            )
        return descriptions

    def consumer_group_offsets(self, group_ids: Iterable[str]) -> dict[str, tuple[PartitionOffset, ...]]:
        """Committed offsets of each group. Kafka answers one group per request, so they are issued together."""
        group_ids = list(group_ids)
        if not group_ids:
            return {}
        futures: dict[str, Future] = {}
        with kafka_errors("list consumer group offsets"):
            for group_id in group_ids:
                futures.update(
                    self._client.list_consumer_group_offsets(
                        [ConsumerGroupTopicPartitions(group_id)], request_timeout=self._timeout
                    )
                )
        offsets = {}
        for group_id, result in self._results(futures, "list consumer group offsets").items():
            committed = []
            for tp in result.topic_partitions or ():
                if tp.error is not None:
                    raise translate_exception(KafkaException(tp.error), f"offsets of group {group_id}")
                committed.append(
                    PartitionOffset(
                        tp.topic,
                        tp.partition,
                        tp.offset,
                        leader_epoch=tp.leader_epoch,
                        metadata=tp.metadata or None,
                    )
                )
            offsets[group_id] = tuple(sorted(committed, key=lambda o: (o.topic, o.partition)))
        return offsets

    def delete_consumer_groups(self, group_ids: Iterable[str]) -> None:
        group_ids = list(group_ids)
        if not group_ids:
            return
        with kafka_errors("delete consumer groups"):
            futures = self._client.delete_consumer_groups(group_ids, request_timeout=self._timeout)
        self._results(futures, "delete consumer group")

    def record_timestamps(
        self, offsets: Mapping[TopicPartition, int], *, timeout_s: float | None = None
    ) -> dict[TopicPartition, int | None]:
        """The timestamp (ms) of the record at each given offset, read with a throwaway consumer.

        Manual assignment, no group membership and never a commit, so it changes nothing on the cluster.
        Where the record is gone, the first one after it stands in (compaction), or the oldest one kept
        (an offset that retention deleted). A partition with no record there (an offset at or past the
        end) or that does not answer within the timeout maps to None.
        """
        wanted = {tp: offset for tp, offset in offsets.items() if offset >= 0}
        if not wanted:
            return {}
        timeout = self._timeout if timeout_s is None else timeout_s
        config = self.connection.client_config(
            **{
                # A group id is required by librdkafka even for manual assignment; it never joins nor commits.
                "group.id": f"{self.connection.client_id}-record-timestamps",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "max.partition.fetch.bytes": 65536,
                "enable.partition.eof": False,
                # One record per partition is wanted, and it is already there: answer fetches at once
                # instead of holding them for more data (librdkafka's default waits up to 500 ms).
                "fetch.wait.max.ms": 10,
                "fetch.queue.backoff.ms": 0,
            }
        )
        found: dict[TopicPartition, int | None] = dict.fromkeys(wanted)
        with kafka_errors("record timestamps"):
            consumer = Consumer(config)
        try:
            with kafka_errors("record timestamps"):
                consumer.assign([_KafkaTopicPartition(tp.topic, tp.partition, offset) for tp, offset in wanted.items()])
                deadline = time.monotonic() + timeout
                missing = set(wanted)
                while missing and time.monotonic() < deadline:
                    for message in consumer.consume(num_messages=500, timeout=min(0.05, timeout)):
                        if message.error() is not None:
                            continue
                        tp = TopicPartition(message.topic(), message.partition())
                        if tp in missing:
                            ts_type, ts = message.timestamp()
                            found[tp] = ts if ts_type != 0 and ts >= 0 else None
                            missing.discard(tp)
                            consumer.pause([_KafkaTopicPartition(tp.topic, tp.partition)])
        finally:
            try:
                consumer.close()
            except (KafkaException, RuntimeError) as exc:
                # A throwaway consumer without group membership: failing to close it loses nothing.
                logger.warning("closing the record-timestamps consumer: %s", exc)
        return found

    def require_topic(self, name: str) -> TopicMetadata:
        topic = self.cluster_metadata().topic(name)
        if topic is None:
            raise UnknownTopicError(f"topic {name} does not exist", code="UNKNOWN_TOPIC_OR_PART")
        return topic
