"""The trace indexer on the real broker: exactly-once indexing, offsets in the database, SIGKILL, retention."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from catalog.services.clusters import cluster_create
from eventscope.kafka import (
    ClusterConnection,
    EventConsumer,
    EventProducer,
    KafkaAdmin,
    OffsetKind,
    PartitionOffset,
    Record,
    TimestampType,
    TopicPartition,
)
from eventscope.kafka.types import RawRecord
from monitoring import indexing
from monitoring.extraction import ExtractionRules
from monitoring.indexer import TraceIndexer, topics_to_index
from monitoring.indexing import index_batch, retention_purge
from monitoring.models import IndexerOffset, IndexerStatus, TraceEvent, TracingSettings
from simulator.correlation import extract_correlation
from simulator.shop import Shop, ShopConfig
from simulator.topology import TOPICS

pytestmark = pytest.mark.kafka

MANAGE = Path(settings.BASE_DIR) / "manage.py"


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def cluster(db, kafka_bootstrap, unique_name):
    return cluster_create(name=unique_name[:90], bootstrap_servers=kafka_bootstrap, discovery_enabled=False)


def read_all(bootstrap: str, topics: list[str]) -> list[Record]:
    """Every record of the topics, log start to current end, through the gateway."""
    connection_ = ClusterConnection(bootstrap_servers=bootstrap)
    admin = KafkaAdmin(connection_)
    metadata = admin.cluster_metadata()
    partitions = [TopicPartition(t, p.partition) for t in topics for p in metadata.topic(t).partitions]
    starts = admin.list_offsets(partitions, OffsetKind.EARLIEST)
    ends = {tp: end for tp, end in admin.list_offsets(partitions, OffsetKind.LATEST).items() if end > starts[tp]}
    records: list[Record] = []
    with EventConsumer(connection_, group_id=f"reader-{uuid.uuid4().hex}") as consumer:
        consumer.assign([PartitionOffset(tp.topic, tp.partition, starts[tp]) for tp in ends])
        deadline = time.monotonic() + 60
        while ends:
            assert time.monotonic() < deadline, f"could not read to the end of {sorted(ends)}"
            for record in consumer.poll_batch(max_records=2000, timeout_s=1.0):
                records.append(record)
                tp = TopicPartition(record.topic, record.partition)
                if record.offset + 1 >= ends.get(tp, float("inf")):
                    del ends[tp]
    return records


def produce_json(bootstrap: str, topic: str, count: int, *, partitions: int = 1) -> None:
    connection_ = ClusterConnection(bootstrap_servers=bootstrap)
    KafkaAdmin(connection_).create_topic(topic, partitions=partitions)
    with EventProducer(connection_, config={"linger.ms": 20, "batch.num.messages": 10000}) as producer:
        for i in range(count):
            producer.produce(topic, json.dumps({"correlation_id": f"c-{i}", "n": i}), key=f"k-{i % 97}")


def coordinates(cluster) -> list[tuple[str, int, int]]:
    return list(TraceEvent.objects.filter(cluster=cluster).values_list("topic", "partition", "offset"))


# ---------------------------------------------------------------------------------------------
# Pure pieces
# ---------------------------------------------------------------------------------------------
def test_topics_to_index_skips_internal_and_applies_patterns():
    names = ["__consumer_offsets", "shop.orders", "shop.dlq", "other"]
    assert topics_to_index(names, include=[], exclude=[]) == ["other", "shop.dlq", "shop.orders"]
    assert topics_to_index(names, include=["shop.*"], exclude=["*.dlq"]) == ["shop.orders"]


# ---------------------------------------------------------------------------------------------
# The simulator's chains
# ---------------------------------------------------------------------------------------------
def test_seeded_shop_run_is_indexed_exactly_once(cluster, kafka_bootstrap, unique_name):
    prefix = f"{unique_name}."
    report = Shop(
        ShopConfig(
            bootstrap_servers=kafka_bootstrap,
            topic_prefix=prefix,
            seed=7,
            order_limit=30,
            rate=200,
            failure_rate=0.1,
            processing_ms=0,
            progress_interval_s=0,
        )
    ).run()
    assert report.orders_placed == 30
    TracingSettings.objects.create(cluster=cluster, include_patterns=[prefix + "*"])
    records = read_all(kafka_bootstrap, [prefix + suffix for suffix in TOPICS])
    expected = {}
    for record in records:
        try:
            payload = json.loads(record.value)
        except (TypeError, ValueError):
            payload = None
        found = extract_correlation(record.headers, payload)
        if found is not None:
            expected[(record.topic, record.partition, record.offset)] = (found.correlation_id, record.timestamp_ms)
    assert len(expected) >= 30 * 2  # every order and what it caused carry the chain's id

    with TraceIndexer(cluster, batch_size=50) as indexer:
        progress = indexer.run_until_caught_up(max_s=60)
    assert progress.records_indexed == len(expected)

    rows = TraceEvent.objects.filter(cluster=cluster)
    indexed = {(r.topic, r.partition, r.offset): (r.correlation_id, int(r.timestamp.timestamp() * 1000)) for r in rows}
    assert len(indexed) == rows.count()  # no duplicate coordinates
    assert indexed == expected
    # Each chain (one correlation id) starts at an OrderPlaced and is ordered in time.
    chains = {}
    for row in rows.order_by("timestamp", "id"):
        chains.setdefault(row.correlation_id, []).append(row)
    assert len(chains) == 30
    assert all(chain[0].topic == prefix + "orders.placed" for chain in chains.values())
    dead = rows.filter(topic=prefix + "deadletter")
    assert all(row.is_dead_letter for row in dead)

    # The offsets are in the database: a second run reads nothing new.
    ends = KafkaAdmin(cluster.connection()).list_offsets(
        [
            TopicPartition(t, p)
            for t, p in IndexerOffset.objects.filter(cluster=cluster).values_list("topic", "partition")
        ]
    )
    stored = {
        TopicPartition(o.topic, o.partition): o.next_offset for o in IndexerOffset.objects.filter(cluster=cluster)
    }
    assert stored == ends
    with TraceIndexer(cluster) as again:
        assert again.run_until_caught_up(max_s=30).records_indexed == 0
    assert TraceEvent.objects.filter(cluster=cluster).count() == len(expected)
    assert not IndexerStatus.objects.filter(cluster=cluster).exists()  # a clean stop deregisters


def test_records_without_correlation_id_are_skipped_and_advance_the_offset(cluster, kafka_bootstrap, unique_name):
    connection_ = cluster.connection()
    KafkaAdmin(connection_).create_topic(unique_name)
    with EventProducer(connection_) as producer:
        producer.produce(unique_name, b"\xff\xfe not json")
        producer.produce(unique_name, json.dumps({"nothing": 1}))
        producer.produce(unique_name, b"{}", headers={"traceparent": "garbage"})
        producer.produce(unique_name, b"{}", headers={"correlation_id": "abc"})
    with TraceIndexer(cluster, include=[unique_name]) as indexer:
        progress = indexer.run_until_caught_up(max_s=30)
    assert (progress.records_indexed, progress.records_skipped) == (1, 3)
    assert sum(progress.skip_reasons.values()) == 3
    assert IndexerOffset.objects.get(cluster=cluster, topic=unique_name).next_offset == 4
    assert TraceEvent.objects.get(cluster=cluster).correlation_id == "abc"


def test_two_copies_split_partitions_and_index_each_record_once(cluster, kafka_bootstrap, unique_name):
    produce_json(kafka_bootstrap, unique_name, 4000, partitions=4)
    first = TraceIndexer(cluster, include=[unique_name], batch_size=300, instance="copy-a")
    second = TraceIndexer(cluster, include=[unique_name], batch_size=300, instance="copy-b")
    try:
        first.step()  # alone: takes every partition and indexes a first batch
        assert len(first.progress.assigned) == 4
        second.step()  # joins: takes its half from the stored offsets
        first._heartbeat_at = -1e9
        for _ in range(200):
            first.step()
            second.step()
            if first.progress.records_indexed + second.progress.records_indexed >= 4000:
                break
        assert set(first.progress.assigned).isdisjoint(second.progress.assigned)
        assert len(first.progress.assigned) == len(second.progress.assigned) == 2
    finally:
        first.close()
        second.close()
    found = coordinates(cluster)
    assert len(found) == len(set(found)) == 4000


def test_poll_raw_gives_what_poll_batch_gives_as_plain_tuples(kafka_bootstrap, unique_name):
    # The gateway's hot path for the indexer: same records, headers and timestamps, no dataclass.
    connection_ = ClusterConnection(bootstrap_servers=kafka_bootstrap)
    KafkaAdmin(connection_).create_topic(unique_name)
    with EventProducer(connection_) as producer:
        producer.produce(unique_name, b'{"correlation_id": "a"}', key="k1", headers={"h": b"v", "n": None})
        producer.produce(unique_name, None, timestamp_ms=1_700_000_000_123)
    expected = read_all(kafka_bootstrap, [unique_name])
    raw: list[tuple] = []
    with EventConsumer(connection_, group_id=f"raw-{uuid.uuid4().hex}") as consumer:
        consumer.assign([PartitionOffset(unique_name, 0, 0)])
        deadline = time.monotonic() + 30
        while len(raw) < 2 and time.monotonic() < deadline:
            raw.extend(consumer.poll_raw(max_records=10, timeout_s=1.0))
    assert all(type(record) is tuple for record in raw)
    assert [RawRecord._make(record).to_record() for record in raw] == expected
    assert expected[0].headers == (("h", b"v"), ("n", None)) and expected[1].timestamp_ms == 1_700_000_000_123


def _poison_inserts_of(correlation_id: str) -> None:
    """A trigger that fails the insert of one correlation id: a real database failure mid-run."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION poison_trace() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.correlation_id = '{correlation_id}' THEN RAISE EXCEPTION 'poisoned'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER poison BEFORE INSERT ON monitoring_traceevent "
                "FOR EACH ROW EXECUTE FUNCTION poison_trace()"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER poison BEFORE INSERT ON monitoring_traceevent "
                f"WHEN NEW.correlation_id = '{correlation_id}' BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
            )


def _cure() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "DROP TRIGGER poison ON monitoring_traceevent"
            if connection.vendor == "postgresql"
            else "DROP TRIGGER poison"
        )


def test_a_failed_write_is_redone_and_the_batch_polled_meanwhile_is_not_written(cluster, kafka_bootstrap, unique_name):
    # Batches of 100 over one partition: the write of the second batch (c-100..c-199) fails while
    # the third is being polled; that third batch must not be written past the failed one.
    produce_json(kafka_bootstrap, unique_name, 500)
    _poison_inserts_of("c-150")
    indexer = TraceIndexer(cluster, include=[unique_name], batch_size=100, batch_wait_s=1.0)
    try:
        assert indexer.step().indexed == 100
        with pytest.raises(DatabaseError):
            indexer.step()
        assert IndexerOffset.objects.get(cluster=cluster, topic=unique_name).next_offset == 100
        assert TraceEvent.objects.filter(cluster=cluster).count() == 100
        with pytest.raises(DatabaseError):  # still failing: re-read from the stored offset, not skipped
            indexer.step()
        assert IndexerOffset.objects.get(cluster=cluster, topic=unique_name).next_offset == 100
        _cure()
        for _ in range(20):
            indexer.step()
            if IndexerOffset.objects.get(cluster=cluster, topic=unique_name).next_offset == 500:
                break
    finally:
        indexer.close()
    found = coordinates(cluster)
    assert sorted(offset for _, _, offset in found) == list(range(500))


def test_offsets_reset_by_hand_do_not_duplicate_rows(cluster):
    # Rows commit with their offsets, so only a hand-made reset leaves rows above the stored
    # offset; the insert then goes around them (PostgreSQL: the staging table fallback).
    records = [
        Record("reset", 0, offset, 1_700_000_000_000, TimestampType.CREATE_TIME, None, b'{"correlation_id": "r"}')
        for offset in range(5)
    ]
    rules = ExtractionRules.from_settings()
    assert index_batch(cluster=cluster, records=records[:3], rules=rules).indexed == 3
    IndexerOffset.objects.filter(cluster=cluster, topic="reset").update(next_offset=0)
    result = index_batch(cluster=cluster, records=records, rules=rules)
    assert result.next_offsets == {TopicPartition("reset", 0): 5}
    assert sorted(coordinates(cluster)) == [("reset", 0, offset) for offset in range(5)]


def test_timestamps_round_trip_and_impossible_ones_become_the_index_time(cluster):
    def record(offset: int, timestamp_ms: int | None) -> Record:
        return Record(
            topic="stamps",
            partition=0,
            offset=offset,
            timestamp_ms=timestamp_ms,
            timestamp_type=TimestampType.CREATE_TIME if timestamp_ms is not None else TimestampType.NOT_AVAILABLE,
            key=b"k\x00ey",
            value=json.dumps({"correlation_id": f"s{offset}"}).encode(),
        )

    stamps = [1_700_000_000_000, 1_700_000_000_007, 1_700_000_000_999, 0, 10**17, -5, None]
    before = timezone.now() - dt.timedelta(seconds=1)
    result = index_batch(
        cluster=cluster, records=[record(i, ms) for i, ms in enumerate(stamps)], rules=ExtractionRules.from_settings()
    )
    assert result.indexed == len(stamps)
    rows = {row.offset: row for row in TraceEvent.objects.filter(cluster=cluster)}
    for offset, ms in enumerate(stamps[:4]):
        assert int(rows[offset].timestamp.timestamp() * 1000) == ms
    for offset in (4, 5, 6):  # beyond year 9999, negative, none: the time of indexing
        assert rows[offset].timestamp >= before
    assert {row.key for row in rows.values()} <= {"k\x00ey", "key"}  # PostgreSQL text holds no NUL


# ---------------------------------------------------------------------------------------------
# Retention
# ---------------------------------------------------------------------------------------------
def _aged_record(topic: str, offset: int, created: dt.datetime, correlation_id: str) -> Record:
    return Record(
        topic=topic,
        partition=0,
        offset=offset,
        timestamp_ms=int(created.timestamp() * 1000),
        timestamp_type=TimestampType.CREATE_TIME,
        key=None,
        value=json.dumps({"correlation_id": correlation_id}).encode(),
    )


def test_retention_removes_old_rows_only(cluster):
    now = timezone.now()

    def record(offset: int, age: dt.timedelta) -> Record:
        return _aged_record("retention", offset, now - age, f"c{offset}")

    old = [record(i, dt.timedelta(days=10)) for i in range(7)]
    young = [record(i, dt.timedelta(hours=1)) for i in range(7, 10)]
    IndexerOffset.objects.create(cluster=cluster, topic="retention", partition=0, next_offset=0)
    index_batch(cluster=cluster, records=old + young, rules=ExtractionRules.from_settings())
    assert retention_purge(older_than=now - dt.timedelta(days=7)) == 7
    assert sorted(TraceEvent.objects.values_list("offset", flat=True)) == [7, 8, 9]
    assert retention_purge(cluster=cluster, older_than=now - dt.timedelta(days=7)) == 0


def test_retention_deletes_window_by_window_around_young_rows(cluster, monkeypatch):
    """Old rows spread over many id windows, young ones (a backfill's order) between them: only the old go."""
    monkeypatch.setattr(indexing, "PURGE_CHUNK", 3)
    now = timezone.now()
    ages = [dt.timedelta(days=10) if i % 3 else dt.timedelta(hours=1) for i in range(20)]
    records = [_aged_record("retention-windows", i, now - age, f"w{i}") for i, age in enumerate(ages)]
    IndexerOffset.objects.create(cluster=cluster, topic="retention-windows", partition=0, next_offset=0)
    index_batch(cluster=cluster, records=records, rules=ExtractionRules.from_settings())
    old = sum(1 for age in ages if age > dt.timedelta(days=7))
    assert retention_purge(cluster=cluster, older_than=now - dt.timedelta(days=7)) == old
    assert sorted(TraceEvent.objects.values_list("offset", flat=True)) == [i for i in range(20) if i % 3 == 0]


# ---------------------------------------------------------------------------------------------
# SIGKILL in the middle of a batch
# ---------------------------------------------------------------------------------------------
class _FileDatabase:
    """A database of its own for the indexer subprocesses: a temp SQLite file, or a temp PostgreSQL database."""

    def __init__(self, tmp_path: Path):
        self.vendor = connection.vendor
        if self.vendor == "postgresql":
            self.name = f"eventscope_kill_{uuid.uuid4().hex[:8]}"
            params = connection.settings_dict
            self._admin = (
                f"postgresql://{params['USER']}:{params['PASSWORD']}@{params['HOST'] or 'localhost'}:"
                f"{params['PORT'] or 5432}"
            )
            self.url = f"{self._admin}/{self.name}"
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{self.name}"')
        else:
            self.path = tmp_path / "indexer.sqlite3"
            self.url = f"sqlite:///{self.path}"

    def query(self, sql: str):
        if self.vendor == "postgresql":
            import psycopg

            with psycopg.connect(self.url) as conn:
                return conn.execute(sql).fetchall()
        with sqlite3.connect(self.path, timeout=20) as conn:
            return conn.execute(sql).fetchall()

    def drop(self) -> None:
        if self.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@pytest.mark.django_db(transaction=True)
def test_sigkill_mid_batch_then_restart_indexes_each_record_once(kafka_bootstrap, unique_name, tmp_path):
    total = 50_000
    produce_json(kafka_bootstrap, unique_name, total, partitions=3)
    database = _FileDatabase(tmp_path)
    env = {**os.environ, "DATABASE_URL": database.url, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    try:
        subprocess.run([sys.executable, MANAGE, "migrate", "--noinput"], env=env, check=True, capture_output=True)
        command = [sys.executable, MANAGE, "index_traces", "--include", unique_name, "--batch-size", "2000"]
        indexer = subprocess.Popen([*command, "--progress-interval", "0"], env=env, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while True:
            assert indexer.poll() is None, "the indexer exited before it was killed"
            assert time.monotonic() < deadline, "the indexer wrote nothing within 120 s"
            try:
                (count,) = database.query("SELECT COUNT(*) FROM monitoring_traceevent")[0]
            except (sqlite3.OperationalError, Exception):
                count = 0
            if count >= 6000:
                break
            time.sleep(0.02)
        os.kill(indexer.pid, signal.SIGKILL)
        indexer.wait(timeout=30)
        (killed_at,) = database.query("SELECT COUNT(*) FROM monitoring_traceevent")[0]
        assert killed_at < total, "the indexer finished before the kill: nothing was tested"

        finished = subprocess.run([*command, "--once"], env=env, capture_output=True, text=True, timeout=180)
        assert finished.returncode == 0, finished.stderr
        ((count, distinct),) = database.query(
            "SELECT COUNT(*), COUNT(DISTINCT topic || ':' || \"partition\" || ':' || \"offset\") "
            "FROM monitoring_traceevent"
        )
        assert count == distinct == total, finished.stdout + finished.stderr
        offsets = [row for row in database.query("SELECT topic, next_offset FROM monitoring_indexeroffset")]
        assert sum(offset for topic, offset in offsets if topic == unique_name) == total
    finally:
        database.drop()


# ---------------------------------------------------------------------------------------------
# Status page and the retention task
# ---------------------------------------------------------------------------------------------
def test_status_page_shows_copies_and_index_span(cluster, make_user, rf, django_assert_max_num_queries):
    from monitoring.status_views import indexer_status
    from monitoring.tasks import purge_trace_index

    now = timezone.now()
    IndexerStatus.objects.create(
        cluster=cluster,
        instance="host:1",
        started_at=now,
        heartbeat_at=now,
        events_per_s=1234,
        lag_records=56,
        skip_reasons={"no correlation id": 3},
        last_error="KafkaUnavailableError: down",
        last_error_at=now,
    )
    record = Record("t", 0, 0, int(now.timestamp() * 1000), TimestampType.CREATE_TIME, None, b'{"correlation_id": "x"}')
    index_batch(cluster=cluster, records=[record], rules=ExtractionRules.from_settings())
    request = rf.get("/monitoring/indexer/")
    request.user = make_user()
    with django_assert_max_num_queries(12):
        response = indexer_status(request)
    html = response.content.decode()
    assert response.status_code == 200
    for text in ("host:1", "1234", "56", "no correlation id: 3", "KafkaUnavailableError: down", cluster.name):
        assert text in html
    assert purge_trace_index() == 0  # the row is young


# ---------------------------------------------------------------------------------------------
# The command's errors
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("arguments", "message"),
    [(["--cluster", "nope"], "no cluster named 'nope'"), (["--copy", "3/3"], "--copy takes I/N")],
)
def test_index_traces_usage_errors_exit_2(db, kafka_bootstrap, arguments, message):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match=message) as caught:
        call_command("index_traces", "--once", *arguments)
    assert caught.value.returncode == 2


def test_unreachable_cluster_is_recorded_not_raised(db, settings):
    settings.KAFKA_REQUEST_TIMEOUT_S = 1.0
    dead = cluster_create(name="dead-cluster", bootstrap_servers="127.0.0.1:1", discovery_enabled=False)
    with TraceIndexer(dead) as indexer:
        progress = indexer.run_until_caught_up(unreachable_s=1.0)
        assert progress.last_error
        assert not progress.assigned
        assert IndexerStatus.objects.get(cluster=dead).last_error == progress.last_error
    assert not IndexerStatus.objects.filter(cluster=dead).exists()


# ---------------------------------------------------------------------------------------------
# Registry decoding
# ---------------------------------------------------------------------------------------------
def test_registry_decoder_reads_framed_avro_and_json_and_tolerates_unknown_ids(db):
    import io
    import struct

    import fastavro

    from monitoring.decoding import registry_decoder
    from schemas.selectors import schema_caches_clear
    from schemas.services import subject_register_version

    schema_caches_clear()
    avro_schema = {
        "type": "record",
        "name": "OrderPlaced",
        "fields": [{"name": "correlation_id", "type": "string"}, {"name": "amount", "type": "long"}],
    }
    avro_id = subject_register_version(subject="orders-value", schema_text=json.dumps(avro_schema)).schema_id
    json_id = subject_register_version(
        subject="payments-value", schema_text='{"type": "object"}', schema_type="JSON"
    ).schema_id
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(avro_schema), {"correlation_id": "c-1", "amount": 5})
    decode = registry_decoder()
    assert decode(struct.pack(">bI", 0, avro_id) + body.getvalue()) == ({"correlation_id": "c-1", "amount": 5}, "avro")
    assert decode(struct.pack(">bI", 0, json_id) + b'{"correlation_id": "c-2"}') == ({"correlation_id": "c-2"}, "json")
    assert decode(struct.pack(">bI", 0, 999_999) + b"\x02") == (None, "avro")
    assert decode(struct.pack(">bI", 0, avro_id) + b"\xff") == (None, "avro")  # truncated body

    record = Record(
        "orders",
        0,
        0,
        1_700_000_000_000,
        TimestampType.CREATE_TIME,
        None,
        struct.pack(">bI", 0, avro_id) + body.getvalue(),
    )
    cluster_ = cluster_create(name="decoding", bootstrap_servers="127.0.0.1:9092", discovery_enabled=False)
    result = index_batch(cluster=cluster_, records=[record], rules=ExtractionRules.from_settings(), decoder=decode)
    assert result.indexed == 1
    row = TraceEvent.objects.get(cluster=cluster_)
    assert (row.correlation_id, row.payload_encoding) == ("c-1", "avro")
