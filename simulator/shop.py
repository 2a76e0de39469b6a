"""The shop engine: each service a thread with its own Kafka consumer and producer, on a real broker.

Usable from Python as well as from `manage.py simulate`::

    report = Shop(ShopConfig(bootstrap_servers="127.0.0.1:9092", rate=50, order_limit=100)).run()

Delivery semantics are at-least-once. A service consumes a batch, processes it record by record,
produces what the records cause, flushes its producer (so every output is acknowledged by the
broker) and only then commits the batch's offsets, synchronously. Offsets are never auto-committed,
so a stop or crash can repeat work but never lose it. Output event ids are derived from the input,
so a repeated record yields the same event id and downstream consumers can de-duplicate.

Processing time is simulated per record, serially, as if the service handled one record at a time:
record i of a batch may be emitted no earlier than batch start + (i + 1) x processing time. The
worker sleeps only when it is ahead of that schedule, so the real work counts towards the
simulated time, a processing time of 0 costs nothing, and a slow consumer really is slow (its
capacity is 1000 / ms records per second). Batches are sized so that one batch is at most about
half a second of simulated work, which keeps stops prompt and commits regular.

Record values are plain JSON unless the run has a schema registry (`ShopConfig.registry`): then the
shop registers every topic's value schema there before the services start, and the topics that
`simulator.topology.TOPIC_ENCODING` marks Avro are written with Confluent's AvroSerializer and read
with its AvroDeserializer through that registry (`simulator.schemas.RecordCodec`, one per service
thread). Dead letters always keep the failed record's original bytes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer as KafkaConsumer
from confluent_kafka import KafkaError, KafkaException, Message, Producer, TopicPartition

from eventscope.kafka import (
    ClusterConnection,
    KafkaAdmin,
    KafkaGatewayError,
    OffsetKind,
    TopicAlreadyExistsError,
)
from eventscope.kafka import TopicPartition as GatewayTopicPartition
from simulator.behaviour import ShopOdds, place_order, react
from simulator.correlation import EventIdentity, encode_correlation, extract_correlation
from simulator.schemas import RecordCodec, RegistryConnection, RegistryUnavailable, register_shop_schemas
from simulator.topology import (
    CONSUMER_SERVICES,
    DEAD_LETTER,
    EVENT_TOPIC,
    SERVICE_CONVENTION,
    SERVICES,
    SOURCE_SERVICE,
    TOPICS,
    Encoding,
)

__all__ = [
    "ServiceProgress",
    "ServiceTotals",
    "Shop",
    "ShopConfig",
    "ShopConfigError",
    "ShopError",
    "ShopProgress",
    "ShopReport",
]

logger = logging.getLogger(__name__)

MAX_BATCH = 500  # records per consume() call
BATCH_PROCESSING_BUDGET_S = 0.5  # simulated processing time of one batch, at most
CONSUME_TIMEOUT_S = 0.1  # how long consume() waits to fill a batch; bounds per-hop latency at low rates
FLUSH_TIMEOUT_S = 30.0
DRAIN_CHECK_INTERVAL_S = 0.25
SOURCE_TICK_S = 0.005  # the order source produces in ticks of at least this, not one wakeup per order
MAX_TOPIC_NAME = 249  # Kafka's limit
TOPIC_PREFIX_PATTERN = re.compile(r"[A-Za-z0-9._-]*")

# Commit errors that only mean the group is rebalancing: the batch will be redelivered to whoever
# owns the partitions next, which at-least-once allows.
REBALANCE_ERRORS = frozenset(
    {KafkaError.REBALANCE_IN_PROGRESS, KafkaError.ILLEGAL_GENERATION, KafkaError.UNKNOWN_MEMBER_ID}
)


class ShopConfigError(ValueError):
    """The run's options are invalid; the message says which and why."""


class ShopError(Exception):
    """The shop could not run: Kafka unreachable, a record that could not be delivered, a service crashed."""


def _random_seed() -> int:
    return random.randrange(1_000_000)


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShopConfig:
    """The options of one run (the `simulate` command's options, one to one)."""

    bootstrap_servers: str
    rate: float = 10.0  # orders per second
    duration_s: float = 0.0  # 0: until stopped (or, with order_limit, until drained)
    order_limit: int = 0  # 0: no limit; otherwise place this many orders, then drain and stop
    processing_ms: float = 5.0  # per record, every consuming service
    processing_overrides: Mapping[str, float] = field(default_factory=dict)  # service -> ms
    failure_rate: float = 0.01  # chance that a service fails on a record (it goes to the dead-letter topic)
    slow_consumer: str = "analytics"
    slow_ms: float = 0.0  # extra per-record processing time of the slow consumer; 0: no slow consumer
    seed: int = field(default_factory=_random_seed)
    topic_prefix: str = "shop."
    group_prefix: str | None = None  # None: the topic prefix
    partitions: int = 3  # for the topics the run creates
    progress_interval_s: float = 5.0  # 0: no progress reports
    stock_rejection_rate: float = 0.1
    payment_decline_rate: float = 0.1
    connect_timeout_s: float = 10.0
    # None: plain JSON everywhere. Otherwise the schemas are registered there at start and the
    # topics that TOPIC_ENCODING marks Avro are written in Confluent's Avro wire format.
    registry: RegistryConnection | None = None

    def __post_init__(self) -> None:
        problems = list(self._problems())
        if problems:
            raise ShopConfigError("; ".join(problems))

    def _problems(self) -> Iterator[str]:
        if not self.bootstrap_servers.strip():
            yield "the bootstrap servers are empty"
        if not (math.isfinite(self.rate) and self.rate > 0):
            yield f"the rate must be a positive number of orders per second, got {self.rate}"
        for name in ("duration_s", "processing_ms", "slow_ms", "progress_interval_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                yield f"{name} must be 0 or more, got {value}"
        if self.order_limit < 0:
            yield f"the order limit must be 0 (none) or more, got {self.order_limit}"
        for service, ms in self.processing_overrides.items():
            if service not in CONSUMER_SERVICES:
                yield f"no consuming service {service!r} to set a processing time for ({_choices()})"
            elif not (math.isfinite(ms) and ms >= 0):
                yield f"the processing time of {service} must be 0 ms or more, got {ms}"
        for name in ("failure_rate", "stock_rejection_rate", "payment_decline_rate"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                yield f"{name} must be between 0 and 1, got {value}"
        if self.slow_consumer == SOURCE_SERVICE:
            yield f"{SOURCE_SERVICE} is the source, not a consumer: it cannot be the slow consumer ({_choices()})"
        elif self.slow_consumer not in CONSUMER_SERVICES:
            yield f"no consuming service {self.slow_consumer!r} to slow down ({_choices()})"
        if not TOPIC_PREFIX_PATTERN.fullmatch(self.topic_prefix):
            yield f"the topic prefix may only hold letters, digits, '.', '_' and '-', got {self.topic_prefix!r}"
        elif len(self.topic_prefix) + max(map(len, TOPICS)) > MAX_TOPIC_NAME:
            yield f"the topic prefix is too long: topic names are at most {MAX_TOPIC_NAME} characters"
        if self.group_prefix is not None and any(char.isspace() for char in self.group_prefix):
            yield f"the group prefix may not contain whitespace, got {self.group_prefix!r}"
        if self.partitions < 1:
            yield f"topics need at least 1 partition, got {self.partitions}"
        if not self.connect_timeout_s > 0:
            yield f"the connect timeout must be positive, got {self.connect_timeout_s}"

    def topic(self, suffix: str) -> str:
        """The run's name for a topic of the topology (e.g. "orders.placed" -> "shop.orders.placed")."""
        return self.topic_prefix + suffix

    def group_id(self, service: str) -> str:
        """The consumer group (and client id) of a service."""
        return (self.topic_prefix if self.group_prefix is None else self.group_prefix) + service

    def processing_ms_for(self, service: str) -> float:
        """The simulated per-record processing time of a consuming service."""
        base = self.processing_overrides.get(service, self.processing_ms)
        return base + (self.slow_ms if service == self.slow_consumer else 0.0)

    @property
    def odds(self) -> ShopOdds:
        return ShopOdds(
            seed=self.seed,
            failure_rate=self.failure_rate,
            stock_rejection_rate=self.stock_rejection_rate,
            payment_decline_rate=self.payment_decline_rate,
        )


def _choices() -> str:
    return "choose from " + ", ".join(CONSUMER_SERVICES)


# ---------------------------------------------------------------------------------------------
# Counters, progress and the final report
# ---------------------------------------------------------------------------------------------
class _ServiceCounters:
    """Running totals of one service. Only the service's own thread writes them (in its loop and in
    the delivery callbacks, which librdkafka runs inside that thread's poll/flush), so they need no
    lock; the main thread only reads."""

    def __init__(self, service: str, input_topics: tuple[str, ...]):
        self.service = service
        # Every key exists from the start, so a reader summing the values never sees the dict grow.
        self.consumed_by_topic = dict.fromkeys(input_topics, 0)
        self.produced = 0
        self.produced_bytes = 0
        self.dead_lettered = 0
        self.skipped = 0

    @property
    def consumed(self) -> int:
        return sum(self.consumed_by_topic.values())

    def totals(self) -> ServiceTotals:
        return ServiceTotals(
            service=self.service,
            consumed=self.consumed,
            produced=self.produced,
            produced_bytes=self.produced_bytes,
            dead_lettered=self.dead_lettered,
            skipped=self.skipped,
            consumed_by_topic=dict(self.consumed_by_topic),
        )


@dataclass(frozen=True)
class ServiceTotals:
    """What one service did in a run. `produced` counts acknowledged records, dead letters included."""

    service: str
    consumed: int
    produced: int
    produced_bytes: int
    dead_lettered: int
    skipped: int  # records analytics could not read (it has no dead-letter topic)
    consumed_by_topic: dict[str, int]


@dataclass(frozen=True)
class ServiceProgress:
    """One service's rates over the last progress interval."""

    service: str
    consumed_per_s: float
    produced_per_s: float


@dataclass(frozen=True)
class ShopProgress:
    """A progress report: rates over the last interval, totals since the start."""

    elapsed_s: float
    services: tuple[ServiceProgress, ...]
    events_per_s: float
    events_produced: int
    dead_lettered: int

    def describe(self) -> str:
        """One line for a terminal."""
        parts = []
        for rates in self.services:
            spec = SERVICES[rates.service]
            flows = []
            if spec.inputs:
                flows.append(f"in {rates.consumed_per_s:.0f}")
            if spec.outputs:
                flows.append(f"out {rates.produced_per_s:.0f}")
            parts.append(f"{rates.service} {'/'.join(flows)}")
        return (
            f"[{self.elapsed_s:7.1f}s] {' | '.join(parts)} events/s | "
            f"total {self.events_per_s:.0f} events/s, {self.events_produced} events | dlq {self.dead_lettered}"
        )


@dataclass(frozen=True)
class ShopReport:
    """The outcome of a run."""

    seed: int
    stopped_by: str  # "drained", "duration" or "stop requested"
    elapsed_s: float
    services: dict[str, ServiceTotals]

    @property
    def orders_placed(self) -> int:
        return self.services[SOURCE_SERVICE].produced

    @property
    def events_produced(self) -> int:
        return sum(totals.produced for totals in self.services.values())

    @property
    def dead_lettered(self) -> int:
        return sum(totals.dead_lettered for totals in self.services.values())

    @property
    def events_per_s(self) -> float:
        return self.events_produced / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def describe(self) -> str:
        """A few lines for a terminal."""
        lines = [
            f"Stopped ({self.stopped_by}) after {self.elapsed_s:.1f}s: {self.orders_placed} orders, "
            f"{self.events_produced} events produced ({self.events_per_s:.0f} events/s), "
            f"{self.dead_lettered} dead-lettered. Seed {self.seed}."
        ]
        for totals in self.services.values():
            skipped = f", {totals.skipped} unreadable skipped" if totals.skipped else ""
            lines.append(
                f"  {totals.service:<14} consumed {totals.consumed:>8}  produced {totals.produced:>8}"
                f"  dead-lettered {totals.dead_lettered:>6}{skipped}"
            )
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Records on the wire
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _OutgoingRecord:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


CONTENT_TYPES = {Encoding.JSON: "application/json", Encoding.AVRO: "application/avro"}
# Every record names the service that wrote it, as many shops do: CloudEvents in `ce_source`, the other
# conventions in a `producer` header. The correlation index reads either, which is what observed lineage
# (consumed topic A, then produced topic B) needs.
PRODUCER_HEADER = "producer"


def _encode_event(
    event: dict[str, Any], *, service: str, correlation_id: str, config: ShopConfig, codec: RecordCodec
) -> _OutgoingRecord:
    """The Kafka record of an event: its home topic, keyed by order, correlated the service's way,
    its value in the topic's encoding (plain JSON, or Avro through the registry)."""
    topic = config.topic(EVENT_TOPIC[event["event_type"]])
    identity = EventIdentity(
        event_id=event["event_id"], event_type=event["event_type"], service=service, occurred_at=event["occurred_at"]
    )
    # CloudEvents binary mode states the body's media type in a header; the other conventions ignore it.
    carrier = encode_correlation(
        SERVICE_CONVENTION[service], correlation_id, identity, content_type=CONTENT_TYPES[codec.encoding(topic)]
    )
    body = {**event, **carrier.payload_fields} if carrier.payload_fields else event
    return _OutgoingRecord(
        topic=topic,
        key=event["order_id"].encode(),
        value=codec.encode(topic, body),
        headers=_with_producer(list(carrier.headers), service),
    )


def _with_producer(headers: list[tuple[str, bytes]], service: str) -> list[tuple[str, bytes]]:
    if any(name == "ce_source" for name, _ in headers):
        return headers
    return [*headers, (PRODUCER_HEADER, service.encode())]


def _dead_letter_headers(message: Message, service: str, error: Exception) -> list[tuple[str, bytes | str]]:
    """The failed record's own headers (they carry its correlation id) plus what went wrong where."""
    error_class = type(error)
    return [
        *(message.headers() or []),
        ("error.class", f"{error_class.__module__}.{error_class.__qualname__}".encode()),
        ("error.message", str(error).encode()),
        ("error.service", service.encode()),
        ("original.topic", message.topic().encode()),
        ("original.partition", str(message.partition()).encode()),
        ("original.offset", str(message.offset()).encode()),
    ]


def _producer_config(config: ShopConfig, service: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": config.bootstrap_servers,
        "client.id": config.group_id(service),
        # Retries neither duplicate nor reorder records.
        "enable.idempotence": True,
        # Batches form within a few ms; each batch's flush() sends at once anyway.
        "linger.ms": 5,
        # The Java client's partitioner: a key lands on the same partition whichever client wrote it.
        "partitioner": "murmur2_random",
        "logger": logger,
    }


# ---------------------------------------------------------------------------------------------
# Service threads
# ---------------------------------------------------------------------------------------------
class _ServiceThread(threading.Thread):
    """A service's thread. On a crash it records the error and stops the whole shop."""

    def __init__(self, service: str, config: ShopConfig, stop: threading.Event, counters: _ServiceCounters):
        super().__init__(name=f"shop-{service}", daemon=True)
        self.service = service
        self.config = config
        self.stop = stop
        self.counters = counters
        self.error: Exception | None = None
        self.producer: Producer | None = None
        self._delivery_error: KafkaError | None = None
        self._dead_letter_topic = config.topic(DEAD_LETTER)
        # Its own registry client and serializer caches (a plain-JSON codec without a registry).
        self.codec = RecordCodec(config.registry, config.topic_prefix)

    def run(self) -> None:
        try:
            self.work()
        except Exception as exc:  # handed to the main thread, which raises it as ShopError
            logger.exception("%s crashed", self.service)
            self.error = exc
            self.stop.set()
        finally:
            self.codec.close()

    def work(self) -> None:
        raise NotImplementedError

    def produce(
        self, topic: str, value: bytes | None, key: bytes | None, headers: list[tuple[str, bytes | str]]
    ) -> None:
        assert self.producer is not None
        while True:
            try:
                self.producer.produce(topic, value=value, key=key, headers=headers, on_delivery=self._on_delivery)
                break
            except BufferError:
                # The local queue is full: serve deliveries until there is room.
                self.producer.poll(0.05)
        self.producer.poll(0)

    def flush(self) -> None:
        """Wait until every record produced so far is acknowledged; raise ShopError if one was not."""
        assert self.producer is not None
        undelivered = self.producer.flush(FLUSH_TIMEOUT_S)
        if undelivered:
            raise ShopError(f"{self.service}: {undelivered} records not delivered within {FLUSH_TIMEOUT_S:.0f}s")
        if self._delivery_error is not None:
            raise ShopError(f"{self.service}: a record could not be delivered: {self._delivery_error.str()}")

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._delivery_error = self._delivery_error or error
            return
        self.counters.produced += 1
        self.counters.produced_bytes += len(message.value() or b"")
        if message.topic() == self._dead_letter_topic:
            self.counters.dead_lettered += 1


class _OrderSource(_ServiceThread):
    """The `orders` service: places orders at the configured rate, up to the order limit."""

    def __init__(self, config: ShopConfig, stop: threading.Event, counters: _ServiceCounters):
        super().__init__(SOURCE_SERVICE, config, stop, counters)
        self.finished = threading.Event()  # all orders placed and acknowledged

    def work(self) -> None:
        self.producer = Producer(_producer_config(self.config, self.service))
        self._place_orders()
        self.flush()
        if not self.stop.is_set():
            self.finished.set()

    def _place_orders(self) -> None:
        rate, limit = self.config.rate, self.config.order_limit
        started = time.monotonic()
        placed = 0
        while not self.stop.is_set() and not (limit and placed >= limit):
            # Orders are due at started + n / rate; place the ones due (at most a second's worth
            # at once, so a stalled source catches up without ignoring a stop for long).
            due = int((time.monotonic() - started) * rate) + 1
            if limit:
                due = min(due, limit)
            for sequence in range(placed, min(due, placed + max(1, int(rate)))):
                self._place(sequence)
                placed += 1
            wait = started + placed / rate - time.monotonic()
            if wait > 0:
                self.stop.wait(max(wait, SOURCE_TICK_S))

    def _place(self, sequence: int) -> None:
        order = place_order(self.config.seed, sequence, dt.datetime.now(dt.UTC))
        record = _encode_event(
            order.event,
            service=self.service,
            correlation_id=order.correlation_id,
            config=self.config,
            codec=self.codec,
        )
        self.produce(record.topic, record.value, record.key, record.headers)


class _ServiceWorker(_ServiceThread):
    """A consuming service: consume a batch, process it, produce, flush, commit; until stopped."""

    def __init__(self, service: str, config: ShopConfig, stop: threading.Event, counters: _ServiceCounters):
        super().__init__(service, config, stop, counters)
        self.spec = SERVICES[service]
        self.odds = config.odds
        self.processing_s = config.processing_ms_for(service) / 1000
        self.batch_size = (
            max(1, min(MAX_BATCH, int(BATCH_PROCESSING_BUDGET_S / self.processing_s)))
            if self.processing_s
            else MAX_BATCH
        )
        self.input_topics = [config.topic(suffix) for suffix in self.spec.inputs]

    def work(self) -> None:
        consumer = KafkaConsumer(
            {
                "bootstrap.servers": self.config.bootstrap_servers,
                "group.id": self.config.group_id(self.service),
                "client.id": self.config.group_id(self.service),
                # Offsets are committed explicitly, after the batch's outputs are acknowledged.
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                # The broker answers a fetch after at most this long even with little data: keeps
                # each hop of a chain quick at demo rates.
                "fetch.wait.max.ms": 100,
                "logger": logger,
            }
        )
        if self.spec.outputs or self.spec.dead_letters:
            self.producer = Producer(_producer_config(self.config, self.service))
        try:
            consumer.subscribe(self.input_topics)
            while not self.stop.is_set():
                messages = consumer.consume(num_messages=self.batch_size, timeout=CONSUME_TIMEOUT_S)
                if messages:
                    self._process_batch(consumer, messages)
        finally:
            # The last batch is committed already (or, after a crash, deliberately not); close()
            # leaves the group at once instead of making the broker wait for a session timeout.
            if self.producer is not None:
                self.producer.flush(FLUSH_TIMEOUT_S)
            consumer.close()

    def _process_batch(self, consumer: KafkaConsumer, messages: list[Message]) -> None:
        started = time.monotonic()
        next_offsets: dict[tuple[str, int], int] = {}
        processed_by_topic: dict[str, int] = {}
        for index, message in enumerate(messages):
            if (error := message.error()) is not None:
                if error.fatal():
                    raise ShopError(f"{self.service}: fatal consumer error: {error.str()}")
                logger.warning("%s: consumer error: %s", self.service, error.str())
                continue
            if self.processing_s:
                ahead = started + (index + 1) * self.processing_s - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            self._process_record(message)
            next_offsets[(message.topic(), message.partition())] = message.offset() + 1
            processed_by_topic[message.topic()] = processed_by_topic.get(message.topic(), 0) + 1
        if self.producer is not None:
            self.flush()
        if next_offsets and self._commit(consumer, next_offsets):
            for topic, count in processed_by_topic.items():
                self.counters.consumed_by_topic[topic] += count

    def _process_record(self, message: Message) -> None:
        now = dt.datetime.now(dt.UTC)
        try:
            # Plain JSON, or Avro through the registry: the topic's encoding decides (TOPIC_ENCODING).
            body = self.codec.decode(message.topic(), message.value())
            correlation = extract_correlation(message.headers(), body)
            if correlation is None:
                raise ValueError("the record carries no correlation id in any known convention")
            correlation_id = correlation.correlation_id
            outgoing = [
                _encode_event(
                    event, service=self.service, correlation_id=correlation_id, config=self.config, codec=self.codec
                )
                for event in react(self.service, body, self.odds, now)
            ]
        except RegistryUnavailable as exc:
            # The registry's failure, not the record's: stop without committing the batch (at-least-once).
            raise ShopError(f"{self.service}: {exc}") from exc
        except Exception as exc:  # whatever breaks on one record is that record's failure, not the service's
            if not self.spec.dead_letters:
                logger.warning(
                    "%s: skipping unreadable record %s[%s]@%s: %s",
                    self.service,
                    message.topic(),
                    message.partition(),
                    message.offset(),
                    exc,
                )
                self.counters.skipped += 1
                return
            self.produce(
                self._dead_letter_topic,
                message.value(),
                message.key(),
                _dead_letter_headers(message, self.service, exc),
            )
            return
        for record in outgoing:
            self.produce(record.topic, record.value, record.key, record.headers)

    def _commit(self, consumer: KafkaConsumer, next_offsets: dict[tuple[str, int], int]) -> bool:
        """Commit the batch synchronously; False if a rebalance took the partitions first."""
        offsets = [TopicPartition(topic, partition, offset) for (topic, partition), offset in next_offsets.items()]
        try:
            committed = consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() in REBALANCE_ERRORS:
                logger.warning("%s: commit lost to a rebalance (%s), batch to be redelivered", self.service, error)
                return False
            raise ShopError(f"{self.service}: commit failed: {error.str()}") from exc
        for tp in committed or ():
            if tp.error is not None:
                raise ShopError(f"{self.service}: commit failed for {tp.topic}[{tp.partition}]: {tp.error}")
        return True


# ---------------------------------------------------------------------------------------------
# The shop
# ---------------------------------------------------------------------------------------------
class Shop:
    """One run of the shop. `run()` blocks until the run ends; `request_stop()` ends it from any thread."""

    def __init__(self, config: ShopConfig, *, on_progress: Callable[[ShopProgress], None] | None = None):
        self.config = config
        self.on_progress = on_progress
        self._stop = threading.Event()
        self._stop_requested = False
        self._ran = False
        self._partitions: dict[str, int] = {}

    def request_stop(self) -> None:
        """Stop placing orders; every service finishes and commits its current batch. Safe from signal handlers."""
        self._stop_requested = True
        self._stop.set()

    def run(self) -> ShopReport:
        """Create missing topics, run the services until the run ends, stop them cleanly and report."""
        if self._ran:
            raise RuntimeError("a Shop runs once; make a new one for another run")
        self._ran = True
        # Topics and offsets go through the gateway; the services' hot loops use librdkafka directly.
        try:
            admin = KafkaAdmin(
                ClusterConnection(
                    bootstrap_servers=self.config.bootstrap_servers,
                    client_id="eventscope-simulator",
                    timeout_s=self.config.connect_timeout_s,
                )
            )
        except KafkaGatewayError as exc:
            raise ShopError(str(exc)) from exc
        self._ensure_topics(admin)
        if self.config.registry is not None:
            self._register_schemas(self.config.registry)

        counters = {
            name: _ServiceCounters(name, tuple(self.config.topic(suffix) for suffix in spec.inputs))
            for name, spec in SERVICES.items()
        }
        source = _OrderSource(self.config, self._stop, counters[SOURCE_SERVICE])
        threads: list[_ServiceThread] = [
            _ServiceWorker(name, self.config, self._stop, counters[name]) for name in CONSUMER_SERVICES
        ]
        threads.append(source)
        started = time.monotonic()
        for thread in threads:
            thread.start()
        try:
            stopped_by = self._supervise(admin, source, counters, started)
        finally:
            self._stop.set()
            for thread in threads:
                thread.join(FLUSH_TIMEOUT_S + 10)
        elapsed = time.monotonic() - started

        crashed = [thread for thread in threads if thread.error is not None]
        if crashed:
            raise ShopError(f"{crashed[0].service} failed: {crashed[0].error}") from crashed[0].error
        stuck = [thread.service for thread in threads if thread.is_alive()]
        if stuck:
            raise ShopError(f"services did not stop in time: {', '.join(stuck)}")
        return ShopReport(
            seed=self.config.seed,
            stopped_by=stopped_by,
            elapsed_s=elapsed,
            services={name: counter.totals() for name, counter in counters.items()},
        )

    def _supervise(
        self, admin: KafkaAdmin, source: _OrderSource, counters: dict[str, _ServiceCounters], started: float
    ) -> str:
        """Wait for the end of the run (while reporting progress); say what ended it."""
        interval = self.config.progress_interval_s
        next_progress = started + interval
        last_totals = {name: (counter.consumed, counter.produced) for name, counter in counters.items()}
        last_time = started
        while True:
            now = time.monotonic()
            if self._stop.is_set():
                return "stop requested" if self._stop_requested else "error"
            if self.config.duration_s and now - started >= self.config.duration_s:
                return "duration"
            if source.finished.is_set() and self._drained(admin):
                return "drained"
            if interval and self.on_progress and now >= next_progress:
                progress, last_totals = self._progress(counters, last_totals, now - last_time, now - started)
                self.on_progress(progress)
                last_time, next_progress = now, next_progress + interval
            wakeup = DRAIN_CHECK_INTERVAL_S
            if interval and self.on_progress:
                wakeup = min(wakeup, max(0.0, next_progress - now))
            self._stop.wait(wakeup)

    @staticmethod
    def _progress(
        counters: dict[str, _ServiceCounters],
        last_totals: dict[str, tuple[int, int]],
        interval_s: float,
        elapsed_s: float,
    ) -> tuple[ShopProgress, dict[str, tuple[int, int]]]:
        totals = {name: (counter.consumed, counter.produced) for name, counter in counters.items()}
        per_s = max(interval_s, 1e-9)
        services = tuple(
            ServiceProgress(
                service=name,
                consumed_per_s=(totals[name][0] - last_totals[name][0]) / per_s,
                produced_per_s=(totals[name][1] - last_totals[name][1]) / per_s,
            )
            for name in counters
        )
        progress = ShopProgress(
            elapsed_s=elapsed_s,
            services=services,
            events_per_s=sum(rates.produced_per_s for rates in services),
            events_produced=sum(produced for _, produced in totals.values()),
            dead_lettered=sum(counter.dead_lettered for counter in counters.values()),
        )
        return progress, totals

    # -- schemas, topics and offsets -------------------------------------------------------------
    def _register_schemas(self, registry: RegistryConnection) -> None:
        """Register every topic's value schema under `<topic>-value` before any service produces."""
        client = registry.client()
        try:
            for registered in register_shop_schemas(client, self.config.topic_prefix):
                logger.info(
                    "registered %s (%s): schema id %s, version %s",
                    registered.subject,
                    registered.schema_type,
                    registered.schema_id,
                    registered.version,
                )
        except Exception as exc:  # SchemaRegistryError, or the HTTP client's connection errors
            raise ShopError(f"could not register the shop's schemas at {registry.url}: {exc}") from exc
        finally:
            client.close()

    def _ensure_topics(self, admin: KafkaAdmin) -> None:
        """Create the topology's missing topics; note every topic's partition count."""
        names = [self.config.topic(suffix) for suffix in TOPICS]
        try:
            existing = {topic.name for topic in admin.cluster_metadata().topics}
            for name in names:
                if name not in existing:
                    # Another run with the same prefix may create it a moment before us: that is fine.
                    with contextlib.suppress(TopicAlreadyExistsError):
                        admin.create_topic(name, partitions=self.config.partitions)
            # Creation is asynchronous on the broker: wait until metadata lists every partition, so
            # the consumers do not start on topics that look absent.
            deadline = time.monotonic() + self.config.connect_timeout_s
            while True:
                metadata = admin.cluster_metadata()
                topics = {name: metadata.topic(name) for name in names}
                if all(topic is not None and topic.partitions for topic in topics.values()):
                    break
                if time.monotonic() > deadline:
                    raise ShopError(
                        f"topics did not appear within {self.config.connect_timeout_s:.0f}s: {', '.join(names)}"
                    )
                time.sleep(0.1)
        except KafkaGatewayError as exc:
            raise ShopError(f"Kafka at {self.config.bootstrap_servers} is not reachable: {exc}") from exc
        self._partitions = {name: len(topic.partitions) for name, topic in topics.items()}

    def _drained(self, admin: KafkaAdmin) -> bool:
        """Whether every service has committed everything on its input topics.

        Only asked once the source has placed its last order. Committed offsets are read before the
        log-end offsets: if each group's commits (read at t1) equal the ends (read at t2 > t1), no
        service had work in flight at t1 nor got any until t2, and since the source is done and the
        services only produce in reaction to input, nothing can be produced after that.
        """
        groups = {self.config.group_id(service): service for service in CONSUMER_SERVICES}
        try:
            committed = {
                (groups[group], offset.topic, offset.partition): offset.offset
                for group, offsets in admin.consumer_group_offsets(groups).items()
                for offset in offsets
            }
            partitions = [
                GatewayTopicPartition(self.config.topic(suffix), partition)
                for suffix in {suffix for name in CONSUMER_SERVICES for suffix in SERVICES[name].inputs}
                for partition in range(self._partitions[self.config.topic(suffix)])
            ]
            ends = admin.list_offsets(partitions, OffsetKind.LATEST)
            starts = admin.list_offsets(partitions, OffsetKind.EARLIEST)
        except KafkaGatewayError as exc:
            logger.warning("drain check failed, retrying: %s", exc)
            return False
        for service in CONSUMER_SERVICES:
            for suffix in SERVICES[service].inputs:
                topic = self.config.topic(suffix)
                for partition in range(self._partitions[topic]):
                    tp = GatewayTopicPartition(topic, partition)
                    position = committed.get((service, topic, partition), -1)
                    # No commit yet: the group would start at the log start (auto.offset.reset=earliest).
                    if position < 0:
                        position = starts[tp]
                    if position < ends[tp]:
                        return False
        return True
