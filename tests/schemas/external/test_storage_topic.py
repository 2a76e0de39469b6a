"""The `_schemas` reader against records a registry store wrote on the real broker, and an import from it.

The records are produced with a real producer to a compacted single-partition topic, byte for byte as
Confluent's KafkaStore writes them (tests/schemas/external/storage_records.py): registrations of every
format with a reference, a soft delete, a hard delete (soft delete, then tombstone), config changes, a
subject deletion (DELETE_SUBJECT), a mode and NOOP markers.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Producer
from django.core.management import CommandError, call_command

from catalog.services.clusters import cluster_create
from eventscope.kafka import ClusterConnection, KafkaAdmin
from schemas import selectors
from schemas.external.migration import import_snapshot
from schemas.external.snapshot import ExternalReference, ExternalVersion, RegistrySourceError
from schemas.external.storage_topic import StorageTopicSource
from schemas.models import SubjectVersion

from ...eventscope.test_kafka_topic_reader import create_visible_topic
from . import storage_records as r

pytestmark = [pytest.mark.kafka]

ORDER_V1 = r.avro_record("Order", "id")
ORDER_V2 = r.avro_record("Order", "id", "note")
ORDER_V3 = r.avro_record("Order", "id", "note", "extra")
MONEY = 'syntax = "proto3";\npackage shop;\n\nmessage Money {\n  string currency = 1;\n}\n'
REFUND = 'syntax = "proto3";\npackage shop;\n\nimport "money.proto";\n\nmessage Refund {\n  shop.Money amount = 1;\n}\n'
PAYMENT = '{"type":"object","properties":{"id":{"type":"string"}}}'
GONE = r.avro_record("Gone", "id")
DROPPED = r.avro_record("Dropped", "id")


@pytest.fixture
def storage_topic(kafka_bootstrap, unique_name):
    """A registry store's topic on the real broker, written as Confluent's KafkaStore writes it."""
    connection = ClusterConnection(bootstrap_servers=kafka_bootstrap)
    admin = KafkaAdmin(connection)
    topic = f"{unique_name}-schemas"
    create_visible_topic(admin, topic, partitions=1, config={"cleanup.policy": "compact"})
    s = {name: f"{unique_name}-{name}" for name in ("order", "money", "refund", "payment", "gone", "dropped")}
    records = [
        r.noop(),
        r.config(None, "BACKWARD"),
        r.schema(s["order"], 1, 1, ORDER_V1),
        r.schema(s["order"], 2, 2, ORDER_V2),
        r.schema(s["money"], 1, 3, MONEY, schema_type="PROTOBUF"),
        r.schema(
            s["refund"],
            1,
            4,
            REFUND,
            schema_type="PROTOBUF",
            references=[{"name": "money.proto", "subject": s["money"], "version": 1}],
        ),
        r.schema(s["payment"], 1, 5, PAYMENT, schema_type="JSON"),
        r.schema(s["gone"], 1, 6, GONE),
        r.schema(s["dropped"], 1, 7, DROPPED),
        r.schema(s["order"], 3, 8, ORDER_V3),
        # Soft delete of order v3: the registry rewrites the version with deleted=true.
        r.schema(s["order"], 3, 8, ORDER_V3, deleted=True),
        # Hard delete of "gone": soft delete, then a tombstone.
        r.schema(s["gone"], 1, 6, GONE, deleted=True),
        r.tombstone(s["gone"], 1),
        # Subject deletion of "dropped".
        r.delete_subject(s["dropped"], 1),
        r.schema(s["dropped"], 1, 7, DROPPED, deleted=True),
        r.config(None, "FULL"),
        r.config(s["order"], "NONE"),
        r.config(s["payment"], "FORWARD"),
        r.config(s["payment"], None),
        r.mode(s["refund"], "READONLY"),
        r.noop(),
    ]
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "acks": "all"})
    for key, value in records:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0
    yield {"topic": topic, "subjects": s, "connection": connection}
    admin.delete_topics([topic])


def test_the_reader_folds_a_registry_store_into_its_live_contents(storage_topic):
    s = storage_topic["subjects"]
    source = StorageTopicSource(storage_topic["connection"], storage_topic["topic"])

    snapshot = source.fetch()

    assert source.description == f"{storage_topic['topic']} on {storage_topic['connection'].bootstrap_servers}"
    assert set(snapshot.versions) == {
        ExternalVersion(s["order"], 1, 1),
        ExternalVersion(s["order"], 2, 2),
        ExternalVersion(s["money"], 1, 3),
        ExternalVersion(s["refund"], 1, 4),
        ExternalVersion(s["payment"], 1, 5),
    }
    # Soft-deleted versions (by their own record and by DELETE_SUBJECT) apart, the hard-deleted one nowhere.
    assert set(snapshot.deleted_versions) == {ExternalVersion(s["order"], 3, 8), ExternalVersion(s["dropped"], 1, 7)}
    assert {i: (x.schema_type, x.schema) for i, x in snapshot.schemas.items()} == {
        1: ("AVRO", ORDER_V1),
        2: ("AVRO", ORDER_V2),
        3: ("PROTOBUF", MONEY),
        4: ("PROTOBUF", REFUND),
        5: ("JSON", PAYMENT),
        7: ("AVRO", DROPPED),
        8: ("AVRO", ORDER_V3),
    }
    assert snapshot.schemas[4].references == (ExternalReference("money.proto", s["money"], 1),)
    assert snapshot.global_compatibility == "FULL"
    assert dict(snapshot.subject_compatibility) == {s["order"]: "NONE"}
    assert dict(snapshot.subject_modes) == {s["refund"]: "READONLY"}
    # Ids the caller already knows come without their texts.
    assert set(source.fetch(known_schema_ids=frozenset({1, 2, 3, 8})).schemas) == {4, 5, 7}


def test_a_missing_topic_is_a_clear_error(kafka_bootstrap, unique_name):
    source = StorageTopicSource(ClusterConnection(bootstrap_servers=kafka_bootstrap), f"{unique_name}-missing")

    with pytest.raises(RegistrySourceError, match=rf"Topic {unique_name}-missing does not exist on {kafka_bootstrap}"):
        source.fetch()


def test_an_unreachable_cluster_is_a_clear_error_not_a_hang():
    source = StorageTopicSource(ClusterConnection(bootstrap_servers="127.0.0.1:1", timeout_s=2))
    started = time.monotonic()

    with pytest.raises(
        RegistrySourceError, match=r"Could not reach the Kafka cluster to read _schemas on 127\.0\.0\.1:1"
    ):
        source.fetch()
    assert time.monotonic() - started < 30  # bounded by the connection's timeout, far from a hang


def test_an_empty_storage_topic_is_an_empty_registry(kafka_bootstrap, unique_name):
    connection = ClusterConnection(bootstrap_servers=kafka_bootstrap)
    admin = KafkaAdmin(connection)
    topic = f"{unique_name}-schemas"
    create_visible_topic(admin, topic, config={"cleanup.policy": "compact"})
    try:
        snapshot = StorageTopicSource(connection, topic).fetch()
    finally:
        admin.delete_topics([topic])

    assert snapshot.versions == () and dict(snapshot.schemas) == {} and snapshot.global_compatibility is None


def test_a_topic_of_something_else_is_refused(kafka_bootstrap, unique_name):
    connection = ClusterConnection(bootstrap_servers=kafka_bootstrap)
    admin = KafkaAdmin(connection)
    topic = f"{unique_name}-orders"
    create_visible_topic(admin, topic)
    try:
        producer = Producer({"bootstrap.servers": kafka_bootstrap})
        producer.produce(topic, key=b"order-1", value=b'{"id": 1}')
        assert producer.flush(30) == 0
        with pytest.raises(RegistrySourceError, match="none is a schema registry's"):
            StorageTopicSource(connection, topic).fetch()
    finally:
        admin.delete_topics([topic])


@pytest.mark.django_db
def test_import_from_the_storage_topic(storage_topic):
    s = storage_topic["subjects"]
    snapshot = StorageTopicSource(storage_topic["connection"], storage_topic["topic"]).fetch()

    result = import_snapshot(snapshot, dry_run=False, subjects=[s["order"], s["refund"], s["payment"]])

    assert result.applied and not result.plan.conflicts
    stored = {
        (subject, version, schema_id, deleted_at is None)
        for subject, version, schema_id, deleted_at in SubjectVersion.objects.filter(
            subject__name__in=s.values()
        ).values_list("subject__name", "version", "schema_id", "deleted_at")
    }
    assert stored == {
        (s["order"], 1, 1, True),
        (s["order"], 2, 2, True),
        (s["order"], 3, 8, False),  # soft-deleted in the store, soft-deleted here: id 8 still resolves
        (s["money"], 1, 3, True),
        (s["refund"], 1, 4, True),
        (s["payment"], 1, 5, True),
    }
    assert selectors.schema_by_id(4).text == REFUND
    assert selectors.schema_by_id(8).text == ORDER_V3
    assert selectors.subject_config(s["order"])["compatibility"] == "NONE"
    # The subject's mode is copied after its versions are in.
    assert selectors.subject_settings(s["refund"]).mode == "READONLY"


@pytest.mark.django_db
def test_the_command_imports_from_the_storage_topic_of_a_named_cluster(storage_topic, capsys):
    s = storage_topic["subjects"]
    cluster = cluster_create(
        name=storage_topic["topic"][-60:].strip("-"),
        bootstrap_servers=storage_topic["connection"].bootstrap_servers,
        discovery_enabled=False,
    )
    args = ["--storage-topic", storage_topic["topic"], "--cluster", cluster.name, "--subject", s["payment"]]

    call_command("import_registry", *args, "--dry-run")
    assert SubjectVersion.objects.count() == 0
    call_command("import_registry", *args)
    out = capsys.readouterr().out

    assert "would import" in out and "Imported 1 version (1 schema id)" in out
    assert list(SubjectVersion.objects.values_list("subject__name", "version", "schema_id")) == [(s["payment"], 1, 5)]

    with pytest.raises(CommandError) as missing:
        call_command("import_registry", "--storage-topic", f"{storage_topic['topic']}-nope", "--cluster", cluster.name)
    assert missing.value.returncode == 2
    assert "does not exist" in str(missing.value)
