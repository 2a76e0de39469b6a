"""The gateway's whole-topic reader against the real broker: every record up to the end offsets seen at the start."""

from __future__ import annotations

import time

import pytest

from eventscope.kafka import ClusterConnection, EventProducer, KafkaAdmin, UnknownTopicError, read_topic_to_end

pytestmark = [pytest.mark.kafka]


def create_visible_topic(admin: KafkaAdmin, name: str, **options) -> None:
    """Create a topic and wait (bounded) until the broker's metadata lists it, as a long-lived topic would be."""
    admin.create_topic(name, **options)
    deadline = time.monotonic() + 30
    while admin.cluster_metadata().topic(name) is None:
        assert time.monotonic() < deadline, f"topic {name} did not appear in the metadata"
        time.sleep(0.1)


@pytest.fixture
def connection(kafka_bootstrap) -> ClusterConnection:
    return ClusterConnection(bootstrap_servers=kafka_bootstrap)


def test_reads_every_partition_in_offset_order_and_changes_nothing(connection, unique_name):
    admin = KafkaAdmin(connection)
    create_visible_topic(admin, unique_name, partitions=2)
    try:
        with EventProducer(connection) as producer:
            for n in range(5):
                producer.produce(unique_name, f"v{n}", key=f"k{n}", partition=n % 2)
            producer.produce(unique_name, None, key="tombstone", partition=1)
        progress: list[tuple[int, int]] = []

        records = read_topic_to_end(
            connection, unique_name, progress=lambda read, total: progress.append((read, total))
        )

        assert records == [
            (b"k0", b"v0"),
            (b"k2", b"v2"),
            (b"k4", b"v4"),
            (b"k1", b"v1"),
            (b"k3", b"v3"),
            (b"tombstone", None),
        ]
        assert progress[-1] == (6, 6)
        # No group joined or committed: nothing is left on the cluster.
        assert not [g for g in admin.list_consumer_groups() if "topic-reader" in g.group_id]
    finally:
        admin.delete_topics([unique_name])


def test_an_empty_topic_reads_as_nothing(connection, unique_name):
    admin = KafkaAdmin(connection)
    create_visible_topic(admin, unique_name)
    try:
        assert read_topic_to_end(connection, unique_name) == []
    finally:
        admin.delete_topics([unique_name])


def test_a_missing_topic_raises_the_gateways_error(connection, unique_name):
    with pytest.raises(UnknownTopicError):
        read_topic_to_end(connection, unique_name)
