"""The shop on the real broker: chains, correlation conventions, dead letters, determinism, commits, clean stops.

Everything a run wrote is read back with a plain confluent_kafka Consumer, independently of the engine.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from django.core.management import call_command

from eventscope.kafka import Record, TimestampType
from monitoring.extraction import ExtractionRules, extract
from simulator.correlation import Convention, Correlation, find_correlations
from simulator.shop import Shop, ShopConfig, ShopReport
from simulator.topology import (
    CONSUMER_SERVICES,
    DEAD_LETTER,
    EVENT_TOPIC,
    SERVICE_CONVENTION,
    SERVICES,
    TOPICS,
)

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
SEED = 42  # its first 30 orders take every path: rejected stock, declined payments, each service failing
ORDERS = 30
FAILURE_RATE = 0.2
ERROR_HEADERS = (
    "error.class",
    "error.message",
    "error.service",
    "original.topic",
    "original.partition",
    "original.offset",
)

# For each topic: the one service that writes it, and the one service that produces in reaction to
# it (analytics reads several topics but produces nothing).
PRODUCER_OF_TOPIC = {topic: name for name, spec in SERVICES.items() for topic in spec.outputs}
REACTING_SERVICE = {topic: name for name, spec in SERVICES.items() if spec.outputs for topic in spec.inputs}


# ---------------------------------------------------------------------------------------------
# Reading back
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReadRecord:
    topic: str  # without the run's prefix
    partition: int
    offset: int
    key: str
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int

    @cached_property
    def body(self) -> Any:
        return json.loads(self.value)

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key == name]
        return values[-1].decode() if values else None

    @property
    def is_dead_letter(self) -> bool:
        return self.topic == DEAD_LETTER

    @property
    def producer(self) -> str:
        """The service that wrote the record."""
        return self.header("error.service") if self.is_dead_letter else PRODUCER_OF_TOPIC[self.topic]

    def position(self, prefix: str) -> tuple[str, int, int]:
        """Where the record is, as dead-letter headers name a position."""
        return (prefix + self.topic, self.partition, self.offset)

    @property
    def original(self) -> tuple[str, int, int]:
        """A dead letter's original position, from its headers."""
        return (
            self.header("original.topic"),
            int(self.header("original.partition")),
            int(self.header("original.offset")),
        )


def _partitions(consumer: Consumer, topic: str) -> list[int]:
    return sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)


def read_topics(bootstrap: str, prefix: str) -> list[ReadRecord]:
    """Every record on the run's topics, from the log start to the current end."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex}"})
    try:
        assignment, ends = [], {}
        for suffix in TOPICS:
            for partition in _partitions(consumer, prefix + suffix):
                low, high = consumer.get_watermark_offsets(TopicPartition(prefix + suffix, partition), timeout=10)
                if high > low:
                    assignment.append(TopicPartition(prefix + suffix, partition, low))
                    ends[(prefix + suffix, partition)] = high
        consumer.assign(assignment)
        records = []
        deadline = time.monotonic() + 30
        while ends:
            assert time.monotonic() < deadline, f"could not read to the end of {sorted(ends)}"
            for message in consumer.consume(num_messages=500, timeout=1.0):
                assert message.error() is None, message.error()
                records.append(
                    ReadRecord(
                        topic=message.topic().removeprefix(prefix),
                        partition=message.partition(),
                        offset=message.offset(),
                        key=message.key().decode(),
                        value=message.value(),
                        headers=tuple(message.headers() or ()),
                        timestamp_ms=message.timestamp()[1],
                    )
                )
                if message.offset() + 1 >= ends.get((message.topic(), message.partition()), float("inf")):
                    del ends[(message.topic(), message.partition())]
        return records
    finally:
        consumer.close()


def committed_and_end_offsets(
    bootstrap: str, prefix: str, service: str
) -> dict[tuple[str, int], tuple[int | None, int]]:
    """For each partition a service's group consumes: (committed offset or None, log-end offset)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": prefix + service})
    try:
        partitions = [
            TopicPartition(prefix + suffix, partition)
            for suffix in SERVICES[service].inputs
            for partition in _partitions(consumer, prefix + suffix)
        ]
        committed = consumer.committed(partitions, timeout=10)
        return {
            (tp.topic.removeprefix(prefix), tp.partition): (
                tp.offset if tp.offset >= 0 else None,
                consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=10)[1],
            )
            for tp in committed
        }
    finally:
        consumer.close()


# ---------------------------------------------------------------------------------------------
# Chains
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Chain:
    """One order's records in causal order; the last may be a dead letter."""

    records: tuple[ReadRecord, ...]

    @property
    def correlation_id(self) -> str:
        return self.records[0].body["correlation_id"]  # orders uses the payload convention

    @property
    def outcome(self) -> tuple[str, ...]:
        return tuple(
            f"dead letter by {record.producer}" if record.is_dead_letter else record.body["event_type"]
            for record in self.records
        )


def follow_chains(records: list[ReadRecord], prefix: str) -> dict[str, Chain]:
    """Rebuild each order's chain by causation: an event names its input's event id, a dead letter
    its input's position. Fails if an order has a record outside its chain or a step twice."""
    by_order = defaultdict(list)
    for record in records:
        by_order[record.key].append(record)
    chains = {}
    for order_id, order_records in by_order.items():
        placed = [record for record in order_records if record.topic == EVENT_TOPIC["OrderPlaced"]]
        assert len(placed) == 1, f"{order_id}: {len(placed)} OrderPlaced records"
        steps = [placed[0]]
        while not steps[-1].is_dead_letter and (service := REACTING_SERVICE.get(steps[-1].topic)) is not None:
            current = steps[-1]
            reactions = [
                record
                for record in order_records
                if (
                    record.is_dead_letter and record.producer == service and record.original == current.position(prefix)
                )
                or (not record.is_dead_letter and record.body.get("causation_id") == current.body["event_id"])
            ]
            assert len(reactions) == 1, f"{order_id}: {service} reacted {len(reactions)} times to {current.topic}"
            assert reactions[0].producer == service
            steps.append(reactions[0])
        assert len(steps) == len(order_records), f"{order_id}: records outside the chain"
        chains[order_id] = Chain(tuple(steps))
    return chains


@dataclass(frozen=True)
class SeededRun:
    prefix: str
    records: list[ReadRecord]
    chains: dict[str, Chain]
    report: ShopReport | None  # None for the run through the command
    output: str


def seeded_run(bootstrap: str, *, via_command: bool) -> SeededRun:
    """30 orders with seed 42, failure rate 0.2 and 0-5 ms processing, run until drained."""
    # Module-scoped callers cannot use the function-scoped `unique_name`: the same recipe, by hand.
    prefix = f"t-sim-seeded-{'command' if via_command else 'python'}-{uuid.uuid4().hex[:8]}."
    output = StringIO()
    report = None
    if via_command:
        call_command(
            "simulate",
            *("--bootstrap", bootstrap, "--topic-prefix", prefix, "--seed", str(SEED)),
            *("--orders", str(ORDERS), "--rate", "200", "--failure-rate", str(FAILURE_RATE)),
            *("--processing-ms", "0", "--processing", "payments=5", "--processing", "notifications=2"),
            *("--progress-interval", "0"),
            stdout=output,
        )
    else:
        config = ShopConfig(
            bootstrap_servers=bootstrap,
            topic_prefix=prefix,
            seed=SEED,
            order_limit=ORDERS,
            rate=200,
            failure_rate=FAILURE_RATE,
            processing_ms=0,
            processing_overrides={"payments": 5, "notifications": 2},
            progress_interval_s=0,
        )
        report = Shop(config).run()
    records = read_topics(bootstrap, prefix)
    return SeededRun(prefix, records, follow_chains(records, prefix), report, output.getvalue())


@pytest.fixture(scope="module")
def seeded_runs(kafka_bootstrap) -> tuple[SeededRun, SeededRun]:
    """The same seeded run twice, once through the command and once through the Python API."""
    return seeded_run(kafka_bootstrap, via_command=True), seeded_run(kafka_bootstrap, via_command=False)


@pytest.fixture(params=["command", "python"])
def run(request, seeded_runs) -> SeededRun:
    return seeded_runs[0] if request.param == "command" else seeded_runs[1]


# ---------------------------------------------------------------------------------------------
# One seeded run
# ---------------------------------------------------------------------------------------------
def test_every_order_has_one_chain_that_follows_the_topology(run):
    endings = {"NotificationSent"} | {f"dead letter by {name}" for name in REACTING_SERVICE.values()}

    assert len(run.chains) == ORDERS
    for chain in run.chains.values():
        assert chain.outcome[0] == "OrderPlaced"
        assert chain.outcome[-1] in endings, chain.outcome
    # Seed 42 takes every path within 30 orders, so each is checked below.
    assert {step for chain in run.chains.values() for step in chain.outcome} == {
        "OrderPlaced",
        "StockReserved",
        "StockRejected",
        "PaymentCompleted",
        "PaymentFailed",
        "ShipmentCreated",
        "NotificationSent",
        *(f"dead letter by {name}" for name in ("inventory", "payments", "shipping", "notifications")),
    }


def test_each_chain_is_in_causal_and_time_order_on_the_expected_topics(run):
    for chain in run.chains.values():
        for earlier, later in zip(chain.records, chain.records[1:], strict=False):
            assert earlier.timestamp_ms <= later.timestamp_ms
            if later.is_dead_letter:
                continue
            assert later.topic == EVENT_TOPIC[later.body["event_type"]]
            assert later.producer == REACTING_SERVICE[earlier.topic]
            assert earlier.body["occurred_at"] <= later.body["occurred_at"]


def test_each_record_carries_the_correlation_id_the_way_its_producer_does(run):
    for chain in run.chains.values():
        assert len(chain.correlation_id) == 32
        for record in chain.records:
            if record.is_dead_letter:
                continue
            expected = Correlation(chain.correlation_id, SERVICE_CONVENTION[record.producer])
            # Exactly one convention per record: the producer's own.
            assert find_correlations(record.headers, record.body) == [expected], (record.topic, record.headers)
    assert len(set(SERVICE_CONVENTION.values())) == 4


def test_each_record_names_its_producer_as_the_correlation_index_reads_it(run):
    rules = ExtractionRules.from_settings()
    producers = set()
    for chain in run.chains.values():
        for record in chain.records:
            if record.is_dead_letter:
                continue
            found = extract(
                Record(
                    record.topic,
                    record.partition,
                    record.offset,
                    record.timestamp_ms,
                    TimestampType.CREATE_TIME,
                    record.key.encode(),
                    record.value,
                    record.headers,
                ),
                rules,
            )
            assert found.producer == record.producer, (record.topic, record.headers)
            producers.add(found.producer)
    # Every convention's producers were read: CloudEvents' through ce_source, the others' through the header.
    assert {SERVICE_CONVENTION[producer] for producer in producers} == set(Convention)


def test_failures_land_on_the_dead_letter_topic_with_error_headers_and_the_original_record(run):
    dead_letters = [chain.records[-2:] for chain in run.chains.values() if chain.records[-1].is_dead_letter]

    assert dead_letters
    for original, dead_letter in dead_letters:
        assert all(dead_letter.header(name) for name in ERROR_HEADERS)
        assert dead_letter.header("error.class") == "simulator.behaviour.SimulatedFailure"
        assert dead_letter.original == original.position(run.prefix)
        assert (dead_letter.key, dead_letter.value) == (original.key, original.value)
        # The original headers travel along, so the correlation id is where the original had it.
        assert find_correlations(dead_letter.headers, dead_letter.body) == find_correlations(
            original.headers, original.body
        )
        assert dead_letter.producer == REACTING_SERVICE[original.topic]


def test_committed_offsets_reach_the_log_end_after_a_drain(run, kafka_bootstrap):
    for service in CONSUMER_SERVICES:
        offsets = committed_and_end_offsets(kafka_bootstrap, run.prefix, service)
        assert offsets
        for (topic, partition), (committed, end) in offsets.items():
            # A partition that never had a record has no commit, and needs none.
            assert (committed or 0) == end, f"{service} on {topic}[{partition}]: committed {committed}, end {end}"


def test_the_report_counts_what_is_on_the_topics(seeded_runs):
    run = seeded_runs[1]
    report = run.report
    on_topic = defaultdict(int)
    for record in run.records:
        on_topic[record.topic] += 1

    assert report.stopped_by == "drained"
    assert report.orders_placed == ORDERS
    assert report.events_produced == len(run.records)
    assert report.dead_lettered == on_topic[DEAD_LETTER]
    for service in CONSUMER_SERVICES:
        assert report.services[service].consumed == sum(on_topic[topic] for topic in SERVICES[service].inputs)
    assert report.services["analytics"].produced == 0


def test_the_command_reports_the_drained_run(seeded_runs):
    output = seeded_runs[0].output

    assert f"seed {SEED}" in output
    assert "Stopped (drained) after" in output
    assert f"{ORDERS} orders" in output


# ---------------------------------------------------------------------------------------------
# Two runs with the same seed
# ---------------------------------------------------------------------------------------------
def test_the_same_seed_gives_the_same_orders_correlation_ids_and_outcomes(seeded_runs):
    first, second = seeded_runs

    def fingerprint(run: SeededRun) -> dict[str, tuple]:
        return {
            order_id: (
                chain.correlation_id,
                chain.outcome,
                tuple(record.body.get("event_id") for record in chain.records if not record.is_dead_letter),
                chain.records[0].body["items"],
            )
            for order_id, chain in run.chains.items()
        }

    assert first.prefix != second.prefix
    assert fingerprint(first) == fingerprint(second)


# ---------------------------------------------------------------------------------------------
# Records the shop did not write
# ---------------------------------------------------------------------------------------------
def test_unreadable_records_are_dead_lettered_by_services_and_skipped_by_analytics(kafka_bootstrap, unique_name):
    prefix = f"{unique_name}."
    poison = {
        b"not json": "json.decoder.JSONDecodeError",
        b'{"event_type": "OrderPlaced"}': "builtins.ValueError",  # no correlation id anywhere
        b'{"correlation_id": "c0ffee", "hello": "world"}': "simulator.behaviour.InvalidEvent",
    }
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for value in poison:
        producer.produce(prefix + EVENT_TOPIC["OrderPlaced"], value=value, key=b"ord-poison")
    assert producer.flush(10) == 0

    config = ShopConfig(
        bootstrap_servers=kafka_bootstrap,
        topic_prefix=prefix,
        seed=1,
        order_limit=5,
        rate=100,
        failure_rate=0,
        processing_ms=0,
        progress_interval_s=0,
    )
    report = Shop(config).run()

    dead_letters = [record for record in read_topics(kafka_bootstrap, prefix) if record.is_dead_letter]
    assert {record.value: record.header("error.class") for record in dead_letters} == poison
    assert {record.header("error.service") for record in dead_letters} == {"inventory"}
    assert report.services["analytics"].skipped == len(poison)
    assert report.services["inventory"].consumed == 5 + len(poison)


# ---------------------------------------------------------------------------------------------
# Stopping
# ---------------------------------------------------------------------------------------------
def test_a_requested_stop_commits_exactly_what_each_service_processed(kafka_bootstrap, unique_name):
    prefix = f"{unique_name}."
    config = ShopConfig(
        bootstrap_servers=kafka_bootstrap,
        topic_prefix=prefix,
        seed=5,
        rate=300,
        processing_ms=1,
        slow_ms=10,  # analytics falls behind, so the stop leaves lag behind
        failure_rate=0.1,
        progress_interval_s=0,
    )
    shop = Shop(config)
    outcome: dict[str, ShopReport] = {}
    runner = threading.Thread(target=lambda: outcome.update(report=shop.run()))
    runner.start()
    time.sleep(3)
    shop.request_stop()
    runner.join(60)
    report = outcome["report"]

    assert report.stopped_by == "stop requested"
    assert all(report.services[service].consumed > 0 for service in CONSUMER_SERVICES)
    for service in CONSUMER_SERVICES:
        committed = defaultdict(int)
        for (topic, _), (offset, _) in committed_and_end_offsets(kafka_bootstrap, prefix, service).items():
            committed[prefix + topic] += offset or 0
        assert dict(committed) == report.services[service].consumed_by_topic, service
    assert _lag(kafka_bootstrap, prefix, "analytics") > 0

    # Every committed input produced its one output (or dead letter) before the commit, and no
    # output exists for an input that was not committed.
    records = read_topics(kafka_bootstrap, prefix)
    for service in ("inventory", "payments", "shipping", "notifications"):
        outputs = [record for record in records if record.producer == service]
        assert len(outputs) == report.services[service].consumed == report.services[service].produced
    assert len([record for record in records if record.topic == EVENT_TOPIC["OrderPlaced"]]) == report.orders_placed


def test_ctrl_c_stops_the_command_cleanly(kafka_bootstrap, unique_name):
    prefix = f"{unique_name}."
    command = [sys.executable, "manage.py", "simulate", "--bootstrap", kafka_bootstrap, "--topic-prefix", prefix]
    command += ["--rate", "100", "--processing-ms", "1", "--progress-interval", "0.5", "--seed", "9"]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Wait until inventory reports consuming (group joins take longer on a loaded machine),
        # so the stop has something to commit.
        for _ in range(240):
            line = process.stdout.readline()
            assert line, f"the command ended early: {process.stderr.read()}"
            consuming = re.search(r"inventory in (\d+)", line)
            if consuming and int(consuming.group(1)) > 0:
                break
        else:
            raise AssertionError("inventory never consumed within 240 progress lines")
        process.send_signal(signal.SIGINT)
        output, errors = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()

    assert process.returncode == 0, errors
    assert "Traceback" not in errors
    assert "Stopped (stop requested)" in output
    records = read_topics(kafka_bootstrap, prefix)
    committed = sum(
        offset or 0 for offset, _ in committed_and_end_offsets(kafka_bootstrap, prefix, "inventory").values()
    )
    assert committed > 0
    assert committed == len([record for record in records if record.producer == "inventory"])


def _lag(bootstrap: str, prefix: str, service: str) -> int:
    return sum(
        end - (committed or 0) for committed, end in committed_and_end_offsets(bootstrap, prefix, service).values()
    )
