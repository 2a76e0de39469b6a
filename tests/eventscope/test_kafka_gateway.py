"""The Kafka gateway against the real local Apache Kafka broker (no mocks)."""

from __future__ import annotations

import socket
import time

import pytest

from eventscope.kafka import (
    ClusterConnection,
    EventConsumer,
    EventProducer,
    KafkaAdmin,
    KafkaConfigurationError,
    KafkaUnavailableError,
    OffsetKind,
    PartitionOffset,
    TimestampType,
    TopicAlreadyExistsError,
    TopicPartition,
    UnknownTopicError,
)

pytestmark = pytest.mark.kafka


@pytest.fixture
def connection(kafka_bootstrap) -> ClusterConnection:
    return ClusterConnection(bootstrap_servers=kafka_bootstrap, timeout_s=10)


@pytest.fixture
def admin(connection) -> KafkaAdmin:
    return KafkaAdmin(connection)


@pytest.fixture
def topic(admin, unique_name):
    admin.create_topic(unique_name, partitions=3, config={"retention.ms": "3600000"})
    yield unique_name
    admin.delete_topics([unique_name])


def consume_until(consumer: EventConsumer, count: int, deadline_s: float = 30) -> list:
    records, deadline = [], time.monotonic() + deadline_s
    while len(records) < count and time.monotonic() < deadline:
        records.extend(consumer.poll_batch(max_records=count, timeout_s=0.5))
    return records


def test_create_topic_shows_in_metadata_with_partitions_and_configs(admin, topic):
    metadata = admin.cluster_metadata()
    assert metadata.cluster_id
    assert [b.host for b in metadata.brokers] == ["127.0.0.1"]
    described = metadata.topic(topic)
    assert described is not None
    assert [p.partition for p in described.partitions] == [0, 1, 2]
    assert described.replication_factor == 1
    assert all(p.leader == metadata.brokers[0].node_id and not p.under_replicated for p in described.partitions)
    assert not described.internal

    configs = admin.topic_configs([topic], keys=["retention.ms", "cleanup.policy"])
    assert configs == {topic: {"retention.ms": "3600000", "cleanup.policy": "delete"}}
    assert admin.describe_topics_internal_flags([topic]) == {topic: False}


def test_creating_an_existing_topic_is_the_gateways_own_error(admin, topic):
    with pytest.raises(TopicAlreadyExistsError):
        admin.create_topic(topic, partitions=1)


def test_produce_with_headers_consume_commit_and_read_back_offsets(connection, admin, topic, unique_name):
    group = f"{unique_name}-group"
    with EventProducer(connection) as producer:
        for i in range(12):
            producer.produce(
                topic,
                f'{{"n": {i}}}'.encode(),
                key=f"order-{i % 4}",
                headers={"correlation_id": f"corr-{i}", "empty": None},
            )
    assert producer.delivered == 12

    with EventConsumer(connection, group_id=group) as consumer:
        consumer.subscribe([topic])
        records = consume_until(consumer, 12)
        assert len(records) == 12
        first = min(records, key=lambda r: r.value)
        assert first.header("correlation_id") == b"corr-0"
        assert first.header("empty") is None
        assert first.timestamp_type is TimestampType.CREATE_TIME
        assert first.timestamp_ms and abs(first.timestamp_ms - time.time() * 1000) < 60_000
        # Records of one key stay in one partition, in order.
        by_key: dict[bytes, list] = {}
        for record in records:
            by_key.setdefault(record.key, []).append(record)
        for same_key in by_key.values():
            assert len({r.partition for r in same_key}) == 1
            assert [r.offset for r in same_key] == sorted(r.offset for r in same_key)

        committed = consumer.commit(records)
        assert sum(o.offset for o in committed) == 12

        description = admin.describe_consumer_groups([group])[group]
        assert description.state == "STABLE"
        assert len(description.members) == 1
        member = description.members[0]
        assert member.client_id == "eventscope"
        assert {tp.topic for tp in member.assignment} == {topic}
        assert len(member.assignment) == 3

    assert group in {g.group_id for g in admin.list_consumer_groups()}
    partitions = [TopicPartition(topic, p) for p in range(3)]
    log_end = admin.list_offsets(partitions, OffsetKind.LATEST)
    log_start = admin.list_offsets(partitions, OffsetKind.EARLIEST)
    assert sum(log_end.values()) == 12
    assert set(log_start.values()) == {0}

    offsets = admin.consumer_group_offsets([group])[group]
    assert {(o.topic, o.partition): o.offset for o in offsets} == {
        (tp.topic, tp.partition): end for tp, end in log_end.items() if end > 0
    }


def test_consumer_group_offsets_for_many_groups_are_issued_together(connection, admin, topic, unique_name):
    with EventProducer(connection) as producer:
        for _ in range(5):
            producer.produce(topic, b"x", partition=0)
    groups = {f"{unique_name}-g{n}": n for n in range(1, 5)}  # group -> how many records it consumed
    for group, count in groups.items():
        with EventConsumer(connection, group_id=group) as consumer:
            consumer.assign([PartitionOffset(topic, 0, 0)])
            records = consume_until(consumer, 5)
            consumer.commit(records[:count])
    offsets = admin.consumer_group_offsets(groups)
    assert offsets == {group: (PartitionOffset(topic, 0, count),) for group, count in groups.items()}


def test_offsets_for_times_finds_the_first_record_at_or_after(connection, admin, topic):
    with EventProducer(connection) as producer:
        producer.produce(topic, b"old", partition=0, timestamp_ms=1_000_000)
        producer.produce(topic, b"new", partition=0, timestamp_ms=2_000_000)
    found = admin.offsets_for_times({TopicPartition(topic, 0): 1_500_000})
    assert found[TopicPartition(topic, 0)].offset == 1
    assert found[TopicPartition(topic, 0)].timestamp_ms == 2_000_000


def test_delete_topic_then_require_it_is_unknown(admin, unique_name):
    admin.create_topic(unique_name)
    admin.delete_topics([unique_name])
    deadline = time.monotonic() + 10
    while admin.cluster_metadata().topic(unique_name) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    with pytest.raises(UnknownTopicError):
        admin.require_topic(unique_name)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("bootstrap", ["closed-port", "no-such-host.invalid:9092"])
def test_unreachable_cluster_is_the_gateways_error_within_its_timeout(bootstrap):
    if bootstrap == "closed-port":
        bootstrap = f"127.0.0.1:{_closed_port()}"
    connection = ClusterConnection(bootstrap_servers=bootstrap, timeout_s=2)
    started = time.monotonic()
    with pytest.raises(KafkaUnavailableError) as raised:
        KafkaAdmin(connection).cluster_metadata()
    elapsed = time.monotonic() - started
    assert elapsed < 2 + 3, f"took {elapsed:.1f}s for a 2s timeout"
    assert raised.value.retriable
    assert raised.value.code


def test_unreachable_cluster_for_consumer_group_calls_is_bounded_too():
    connection = ClusterConnection(bootstrap_servers=f"127.0.0.1:{_closed_port()}", timeout_s=2)
    admin = KafkaAdmin(connection)
    started = time.monotonic()
    with pytest.raises(KafkaUnavailableError):
        admin.list_consumer_groups()
    assert time.monotonic() - started < 6


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"bootstrap_servers": ""}, "Bootstrap servers are required"),
        ({"bootstrap_servers": "localhost"}, "is not host:port"),
        ({"security_protocol": "TLS"}, "Security protocol 'TLS'"),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "GSSAPI"}, "SASL mechanism 'GSSAPI'"),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "sasl_username": "u"}, "username and a password"),
        ({"ssl_certificate_pem": "cert"}, "both a client certificate"),
    ],
)
def test_invalid_connection_settings_are_refused_before_any_io(overrides, message):
    settings = {"bootstrap_servers": "127.0.0.1:9092", **overrides}
    with pytest.raises(KafkaConfigurationError, match=message):
        KafkaAdmin(ClusterConnection(**settings))


def test_secrets_stay_out_of_repr():
    connection = ClusterConnection(
        bootstrap_servers="b:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="svc",
        sasl_password="hunter2-secret",
        ssl_ca_pem="-----BEGIN CERTIFICATE-----",
    )
    assert "hunter2" not in repr(connection)
    assert "BEGIN CERTIFICATE" not in repr(connection)
    config = connection.client_config()
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert config["ssl.ca.pem"].startswith("-----BEGIN")


def test_default_connection_comes_from_settings(settings, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    settings.KAFKA_BOOTSTRAP_SERVERS = "broker-1:9093,broker-2:9093"
    settings.KAFKA_SECURITY_PROTOCOL = "SASL_SSL"
    settings.KAFKA_SASL_MECHANISM = "SCRAM-SHA-256"
    settings.KAFKA_SASL_USERNAME = "eventscope"
    settings.KAFKA_SASL_PASSWORD = "pw"
    settings.KAFKA_SSL_CA_FILE = str(ca)
    connection = ClusterConnection.from_settings()
    assert connection.bootstrap_servers == "broker-1:9093,broker-2:9093"
    assert connection.client_config()["sasl.mechanism"] == "SCRAM-SHA-256"
    assert connection.ssl_ca_pem.startswith("-----BEGIN")

    settings.KAFKA_SSL_CA_FILE = str(tmp_path / "missing.pem")
    with pytest.raises(KafkaConfigurationError, match="KAFKA_SSL_CA_FILE cannot be read"):
        ClusterConnection.from_settings()
