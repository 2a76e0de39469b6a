"""Consumers and producers of the gateway: records in and out as plain dataclasses, errors as our own."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, KafkaException, Producer
from confluent_kafka import TopicPartition as _KafkaTopicPartition

from ._diagnosis import ConnectionTrouble, is_definite
from ._translate import kafka_errors, translate_kafka_error
from .connection import ClusterConnection
from .errors import KafkaGatewayError
from .types import PartitionOffset, Record, TimestampType, TopicPartition

__all__ = ["EventConsumer", "EventProducer", "HeaderValue"]

logger = logging.getLogger(__name__)

HeaderValue = str | bytes | None

# Errors a consumer reports through poll() that are facts, not failures: reaching the end of a
# partition (only with enable.partition.eof) and a transient rebalance in progress.
_BENIGN_CONSUMER_ERRORS = {KafkaError._PARTITION_EOF}


def _record(message) -> Record:
    ts_type, ts = message.timestamp()
    return Record(
        topic=message.topic(),
        partition=message.partition(),
        offset=message.offset(),
        timestamp_ms=ts if ts_type != 0 else None,
        timestamp_type=TimestampType(ts_type),
        key=message.key(),
        value=message.value(),
        headers=tuple(message.headers() or ()),
    )


class EventConsumer:
    """A consumer in a group (or with manual assignment), committing explicitly.

    Auto-commit is off: a record counts as consumed only when the caller commits after its work,
    so a crash redoes work instead of losing it.
    """

    def __init__(
        self,
        connection: ClusterConnection,
        *,
        group_id: str,
        auto_offset_reset: str = "earliest",
        config: Mapping[str, Any] | None = None,
    ):
        self.connection = connection
        self.group_id = group_id
        self._trouble = ConnectionTrouble(connection)
        client_config = connection.client_config(
            **{
                "group.id": group_id,
                "enable.auto.commit": False,
                "auto.offset.reset": auto_offset_reset,
                "session.timeout.ms": 10_000,
                "heartbeat.interval.ms": 1_000,
                "error_cb": self._on_error,
                "logger": self._trouble,
            }
        )
        client_config.update(config or {})
        self._fatal: KafkaGatewayError | None = None
        with kafka_errors(f"consumer for group {group_id}"):
            self._consumer = Consumer(client_config)
        self._closed = False

    def _on_error(self, error: KafkaError) -> None:
        # Connection trouble is reported here while librdkafka keeps retrying in the background;
        # only fatal errors end the consumer.
        if error.fatal():
            self._fatal = translate_kafka_error(error, f"consumer {self.group_id}")
        else:
            self._trouble.error_cb(error)
            logger.debug("consumer %s: %s", self.group_id, error.str())

    def __enter__(self) -> EventConsumer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def subscribe(self, topics: Sequence[str]) -> None:
        with kafka_errors(f"subscribe {self.group_id}"):
            self._consumer.subscribe(list(topics))

    def assign(self, partitions: Iterable[PartitionOffset | TopicPartition], *, from_beginning: bool = False) -> None:
        """Manual assignment, no group rebalance: a PartitionOffset starts at its offset."""
        assignment = []
        for p in partitions:
            start = OFFSET_BEGINNING if from_beginning else OFFSET_END
            offset = p.offset if isinstance(p, PartitionOffset) else start
            assignment.append(_KafkaTopicPartition(p.topic, p.partition, offset))
        with kafka_errors(f"assign {self.group_id}"):
            self._consumer.assign(assignment)

    def assignment(self) -> tuple[TopicPartition, ...]:
        with kafka_errors(f"assignment {self.group_id}"):
            return tuple(TopicPartition(tp.topic, tp.partition) for tp in self._consumer.assignment())

    def poll_batch(self, *, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        """Up to max_records records, waiting at most timeout_s; [] when nothing arrived."""
        records = []
        for message in self._consume(max_records, timeout_s):
            error = message.error()
            if error is None:
                records.append(_record(message))
            elif error.code() not in _BENIGN_CONSUMER_ERRORS:
                raise translate_kafka_error(error, f"consume {self.group_id}")
        return records

    def poll_raw(self, *, max_records: int = 500, timeout_s: float = 1.0) -> list[tuple]:
        """poll_batch for hot paths: each record a plain tuple in `RawRecord`'s field order, no dataclass.

        At a hundred thousand records a second, building a frozen Record (and a tuple of headers)
        per record costs as much as consuming it; the trace indexer reads these instead.
        """
        records: list[tuple] = []
        append = records.append
        for message in self._consume(max_records, timeout_s):
            if message.error() is None:
                ts_type, ts = message.timestamp()
                append(
                    (
                        message.topic(),
                        message.partition(),
                        message.offset(),
                        ts_type,
                        ts if ts_type else None,
                        message.key(),
                        message.value(),
                        message.headers(),
                    )
                )
            elif message.error().code() not in _BENIGN_CONSUMER_ERRORS:
                raise translate_kafka_error(message.error(), f"consume {self.group_id}")
        return records

    def _consume(self, max_records: int, timeout_s: float) -> list:
        if self._fatal is not None:
            raise self._fatal
        with kafka_errors(f"consume {self.group_id}"):
            messages = self._consumer.consume(num_messages=max_records, timeout=timeout_s)
        if not messages:
            # Nothing arrived: say why when librdkafka reported a cause retrying cannot fix (a refused
            # login, an untrusted certificate). Reported once; the consumer itself keeps retrying.
            cause = self._trouble.diagnosis(f"consume {self.group_id}")
            self._trouble.clear()
            if cause is not None and is_definite(cause):
                raise cause
        return messages

    def commit(self, records: Iterable[Record] | None = None) -> tuple[PartitionOffset, ...]:
        """Commit synchronously: past the given records (the next offset per partition), or the consumed position."""
        with kafka_errors(f"commit {self.group_id}"):
            if records is None:
                committed = self._consumer.commit(asynchronous=False)
            else:
                next_offsets: dict[tuple[str, int], int] = {}
                for record in records:
                    key = (record.topic, record.partition)
                    next_offsets[key] = max(next_offsets.get(key, -1), record.offset + 1)
                if not next_offsets:
                    return ()
                committed = self._consumer.commit(
                    offsets=[_KafkaTopicPartition(t, p, o) for (t, p), o in next_offsets.items()],
                    asynchronous=False,
                )
        return tuple(PartitionOffset(tp.topic, tp.partition, tp.offset) for tp in committed or ())

    def committed(self, partitions: Iterable[TopicPartition]) -> tuple[PartitionOffset, ...]:
        with kafka_errors(f"committed {self.group_id}"):
            result = self._consumer.committed(
                [_KafkaTopicPartition(tp.topic, tp.partition) for tp in partitions], timeout=self.connection.timeout_s
            )
        return tuple(PartitionOffset(tp.topic, tp.partition, tp.offset) for tp in result)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self._consumer.close()
            except (KafkaException, RuntimeError) as exc:
                logger.warning("closing consumer %s: %s", self.group_id, exc)


class EventProducer:
    """An idempotent producer; flush() reports any record that could not be delivered."""

    def __init__(self, connection: ClusterConnection, *, config: Mapping[str, Any] | None = None):
        self.connection = connection
        self._trouble = ConnectionTrouble(connection)
        client_config = connection.client_config(
            **{
                "error_cb": self._trouble.error_cb,
                "logger": self._trouble,
                "enable.idempotence": True,
                "linger.ms": 5,
                "compression.type": "lz4",
                "message.timeout.ms": int(max(connection.timeout_s * 3, 30) * 1000),
            }
        )
        client_config.update(config or {})
        with kafka_errors("producer"):
            self._producer = Producer(client_config)
        self._lock = threading.Lock()
        self._delivery_errors: list[KafkaGatewayError] = []
        self.delivered = 0

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.flush()

    def _on_delivery(self, error: KafkaError | None, message) -> None:
        with self._lock:
            if error is None:
                self.delivered += 1
            else:
                self._delivery_errors.append(translate_kafka_error(error, f"deliver to {message.topic()}"))

    def produce(
        self,
        topic: str,
        value: bytes | str | None,
        *,
        key: bytes | str | None = None,
        headers: Mapping[str, HeaderValue] | Sequence[tuple[str, HeaderValue]] | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {"value": value, "key": key, "on_delivery": self._on_delivery}
        if headers:
            kwargs["headers"] = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        if partition is not None:
            kwargs["partition"] = partition
        if timestamp_ms is not None:
            kwargs["timestamp"] = timestamp_ms
        with kafka_errors(f"produce to {topic}"):
            try:
                self._producer.produce(topic, **kwargs)
            except BufferError:
                # The local queue is full: serve delivery reports to make room, then try once more.
                self._producer.poll(self.connection.timeout_s)
                self._producer.produce(topic, **kwargs)
            self._producer.poll(0)

    def flush(self, timeout_s: float | None = None) -> int:
        """Wait for every queued record; raise the first delivery error. Returns records still queued (0)."""
        timeout = self.connection.timeout_s if timeout_s is None else timeout_s
        with kafka_errors("flush"):
            remaining = self._producer.flush(timeout)
        with self._lock:
            errors, self._delivery_errors = self._delivery_errors, []
        if errors or remaining:
            # Records time out while librdkafka retries a refused login or handshake: name that cause.
            cause = self._trouble.diagnosis("produce")
            if cause is not None and is_definite(cause):
                raise cause
        if errors:
            raise errors[0]
        if remaining:
            raise translate_kafka_error(KafkaError(KafkaError._TIMED_OUT), f"flush: {remaining} records not delivered")
        return remaining
