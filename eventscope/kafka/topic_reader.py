"""Read a whole topic, from its first kept record to the end offsets seen at the start, as (key, value) bytes.

For small bookkeeping topics such as a schema registry's `_schemas`: a throwaway consumer with manual
assignment (no group membership, never a commit), so reading changes nothing on the cluster. The read
is bounded: records written after the start are not waited for, and a partition that makes no progress
within the connection's timeout ends the read with KafkaTimeoutError instead of hanging.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaException
from confluent_kafka import TopicPartition as _KafkaTopicPartition

from ._translate import kafka_errors, translate_kafka_error
from .admin import KafkaAdmin, OffsetKind
from .connection import ClusterConnection
from .errors import KafkaTimeoutError
from .types import TopicPartition

__all__ = ["KeyValue", "read_topic_to_end"]

logger = logging.getLogger(__name__)

KeyValue = tuple[bytes | None, bytes | None]


def read_topic_to_end(
    connection: ClusterConnection,
    topic: str,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> list[KeyValue]:
    """Every record of `topic` in offset order per partition (partitions one after another), as (key, value).

    Raises UnknownTopicError when the topic does not exist, KafkaUnavailableError/KafkaTimeoutError when
    the cluster cannot be reached or stops answering, and the gateway's other errors as they come.
    `progress(read, total)` is called after each batch.
    """
    admin = KafkaAdmin(connection)
    metadata = admin.require_topic(topic)
    partitions = [TopicPartition(topic, p.partition) for p in metadata.partitions]
    starts = admin.list_offsets(partitions, OffsetKind.EARLIEST)
    ends = admin.list_offsets(partitions, OffsetKind.LATEST)
    wanted = {tp: (starts[tp], ends[tp]) for tp in partitions if ends[tp] > starts[tp]}
    total = sum(end - start for start, end in wanted.values())
    if not wanted:
        return []

    config = connection.client_config(
        **{
            # librdkafka needs a group id even for manual assignment; it never joins nor commits.
            "group.id": f"{connection.client_id}-topic-reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
            # Only existing records are wanted: answer fetches at once instead of waiting for more.
            "fetch.wait.max.ms": 10,
        }
    )
    by_partition: dict[TopicPartition, list[KeyValue]] = {tp: [] for tp in wanted}
    with kafka_errors(f"read topic {topic}"):
        consumer = Consumer(config)
    try:
        with kafka_errors(f"read topic {topic}"):
            consumer.assign([_KafkaTopicPartition(tp.topic, tp.partition, start) for tp, (start, _) in wanted.items()])
            remaining = set(wanted)
            read = 0
            last_progress = time.monotonic()
            while remaining:
                messages = consumer.consume(num_messages=1000, timeout=min(0.5, connection.timeout_s))
                before = (read, len(remaining))
                for message in messages:
                    error = message.error()
                    if error is not None:
                        if error.fatal() or not error.retriable():
                            raise translate_kafka_error(error, f"read topic {topic}")
                        continue
                    tp = TopicPartition(message.topic(), message.partition())
                    if tp in remaining and message.offset() < wanted[tp][1]:
                        by_partition[tp].append((message.key(), message.value()))
                        read += 1
                # The position (next offset to fetch) also steps over offsets that hold no record a
                # consumer sees (compacted away, transaction markers), where waiting for a record would hang.
                for position in consumer.position([_KafkaTopicPartition(tp.topic, tp.partition) for tp in remaining]):
                    tp = TopicPartition(position.topic, position.partition)
                    if position.offset >= wanted[tp][1]:
                        remaining.discard(tp)
                if (read, len(remaining)) != before:  # error-only batches are no progress
                    last_progress = time.monotonic()
                    if progress is not None:
                        progress(read, total)
                elif remaining and time.monotonic() - last_progress > connection.timeout_s:
                    raise KafkaTimeoutError(
                        f"read topic {topic}: no records arrived within {connection.timeout_s:g} s "
                        f"({read} of about {total} read)",
                        code="_TIMED_OUT",
                    )
    finally:
        try:
            consumer.close()
        except (KafkaException, RuntimeError) as exc:
            # A throwaway consumer without group membership: failing to close it loses nothing.
            logger.warning("closing the reader of topic %s: %s", topic, exc)
    return [record for tp in sorted(by_partition) for record in by_partition[tp]]
