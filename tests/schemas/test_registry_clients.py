"""Real clients against our registry: confluent-kafka's SchemaRegistryClient and its serializers.

The registry runs in pytest-django's live server with HTTP Basic credentials, exactly as a
producer would configure it (`basic.auth.user.info`); the serializers produce to the real local
broker and the deserializers read back, resolving the writer schema through our registry.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import (
    ConfigCompatibilityLevel,
    Schema,
    SchemaRegistryClient,
    SchemaRegistryError,
    ServerConfig,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from schemas import selectors
from schemas.models import Schema as SchemaRow
from schemas.models import SubjectVersion
from schemas.registry import authentication

pytestmark = [pytest.mark.kafka, pytest.mark.django_db(transaction=True)]

PASSWORD = "s3cret-pass!"
ORDER_V1 = json.dumps(
    {
        "type": "record",
        "name": "Order",
        "namespace": "shop",
        "fields": [{"name": "id", "type": "string"}, {"name": "amount", "type": "long"}],
    }
)
ORDER_V2 = json.dumps(
    {
        "type": "record",
        "name": "Order",
        "namespace": "shop",
        "fields": [
            {"name": "id", "type": "string"},
            {"name": "amount", "type": "long"},
            {"name": "currency", "type": "string", "default": "EUR"},
        ],
    }
)
ORDER_BREAKING = json.dumps(
    {
        "type": "record",
        "name": "Order",
        "namespace": "shop",
        "fields": [{"name": "id", "type": "string"}, {"name": "customer", "type": "string"}],
    }
)
ORDER_JSON = json.dumps(
    {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Order",
        "type": "object",
        "properties": {"id": {"type": "string"}, "amount": {"type": "integer"}},
        "required": ["id", "amount"],
    }
)
ORDER_PROTO = """syntax = "proto3";
package eventscope.test;

message ProtoOrder {
  string id = 1;
  int64 amount = 2;
  repeated string tags = 3;
}
"""


@pytest.fixture(autouse=True)
def _fresh_caches():
    # Each test starts on a flushed database: ids start again at 1, and the user is a new row.
    selectors.schema_caches_clear()
    authentication.forget_remembered_credentials()
    yield
    selectors.schema_caches_clear()
    authentication.forget_remembered_credentials()


@pytest.fixture
def registry_client(live_server, make_user, settings) -> Iterator[SchemaRegistryClient]:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast test logins
    make_user("producer", "admin", password=PASSWORD)  # the tests delete subjects too, which needs admin
    # max.retries 0: a 5xx must fail the test, not be retried into a pass.
    client = SchemaRegistryClient(
        {"url": f"{live_server.url}/registry", "basic.auth.user.info": f"producer:{PASSWORD}", "max.retries": 0}
    )
    yield client
    # Closing the keep-alive connections ends the live server's request threads, and with them
    # their database connections (PostgreSQL cannot drop the test database while they are open).
    client.close()


@pytest.fixture
def topic(kafka_bootstrap, unique_name) -> str:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    futures = admin.create_topics([NewTopic(unique_name, num_partitions=1, replication_factor=1)])
    futures[unique_name].result(timeout=30)
    return unique_name


def produce_and_consume(
    bootstrap: str, topic: str, serialize: Callable[[Any, SerializationContext], bytes], values: list[Any]
) -> list[bytes]:
    """Serialize and produce `values`, then consume the raw bytes back from the broker."""
    producer = Producer({"bootstrap.servers": bootstrap})
    context = SerializationContext(topic, MessageField.VALUE)
    for value in values:
        producer.produce(topic, value=serialize(value, context))
    assert producer.flush(30) == 0

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{topic}-reader-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    received: list[bytes] = []
    try:
        for _ in range(60):  # bounded: at most ~60 s
            message = consumer.poll(1.0)
            if message is None:
                if len(received) == len(values):
                    break
                continue
            assert message.error() is None, message.error()
            received.append(message.value())
            if len(received) == len(values):
                break
    finally:
        consumer.close()
    assert len(received) == len(values)
    return received


# ---------------------------------------------------------------------------------------------
# SchemaRegistryClient
# ---------------------------------------------------------------------------------------------
def test_schema_registry_client_against_our_registry(registry_client, unique_name):
    client = registry_client
    subject = f"{unique_name}-value"

    schema_id = client.register_schema(subject, Schema(ORDER_V1, "AVRO"))
    assert SchemaRow.objects.filter(pk=schema_id).exists()
    assert client.register_schema(subject, Schema(ORDER_V1, "AVRO")) == schema_id

    found = client.lookup_schema(subject, Schema(ORDER_V1, "AVRO"))
    assert (found.schema_id, found.version, found.subject) == (schema_id, 1, subject)
    assert json.loads(client.get_schema(schema_id).schema_str) == json.loads(ORDER_V1)

    assert client.test_compatibility(subject, Schema(ORDER_V2, "AVRO")) is True
    assert client.test_compatibility(subject, Schema(ORDER_BREAKING, "AVRO")) is False
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(subject, Schema(ORDER_BREAKING, "AVRO"))
    assert (refused.value.http_status_code, refused.value.error_code) == (409, 409)

    v2_id = client.register_schema(subject, Schema(ORDER_V2, "AVRO"))
    latest = client.get_latest_version(subject)
    assert (latest.schema_id, latest.version) == (v2_id, 2)
    assert client.get_versions(subject) == [1, 2]
    assert client.get_version(subject, 1).schema_id == schema_id
    assert subject in client.get_subjects()
    assert client.get_subjects_by_schema_id(schema_id) == [subject]
    assert [(v.subject, v.version) for v in client.get_schema_versions(v2_id)] == [(subject, 2)]
    assert sorted(client.get_schema_types()) == ["AVRO", "JSON", "PROTOBUF"]

    assert client.get_compatibility() == "BACKWARD"
    assert client.set_compatibility(subject, "FULL") == {"compatibility": "FULL"}
    assert client.get_compatibility(subject) == "FULL"
    level = ConfigCompatibilityLevel.FORWARD_TRANSITIVE
    assert client.set_config(subject, ServerConfig(compatibility=level)) == {"compatibility": "FORWARD_TRANSITIVE"}
    assert client.get_config(subject).compatibility_level.value == "FORWARD_TRANSITIVE"
    assert client.delete_config(subject).compatibility_level.value == "FORWARD_TRANSITIVE"

    assert client.get_global_mode() == "READWRITE"
    assert client.update_mode(subject, "READONLY") == "READONLY"
    assert client.get_mode(subject) == "READONLY"
    assert client.delete_mode(subject) == "READONLY"

    with pytest.raises(SchemaRegistryError) as missing:
        client.get_version(subject, 9)
    assert missing.value.error_code == 40402

    assert client.delete_version(subject, 2) == 2
    assert client.get_versions(subject) == [1]
    assert client.delete_subject(subject) == [1]
    assert client.delete_subject(subject, permanent=True) == [1, 2]
    assert not SubjectVersion.objects.exists()
    assert subject not in client.get_subjects()


# ---------------------------------------------------------------------------------------------
# Serializers through the real broker
# ---------------------------------------------------------------------------------------------
def test_avro_serializer_and_deserializer(registry_client, kafka_bootstrap, topic):
    orders = [{"id": f"o-{n}", "amount": n * 100} for n in range(3)]
    serializer = AvroSerializer(registry_client, ORDER_V1)
    raw = produce_and_consume(kafka_bootstrap, topic, serializer, orders)

    assert SubjectVersion.objects.filter(subject__name=f"{topic}-value").count() == 1
    deserializer = AvroDeserializer(registry_client)  # no reader schema: the writer's, from our registry
    context = SerializationContext(topic, MessageField.VALUE)
    assert [deserializer(value, context) for value in raw] == orders


def test_json_serializer_and_deserializer(registry_client, kafka_bootstrap, topic):
    orders = [{"id": f"o-{n}", "amount": n} for n in range(3)]
    serializer = JSONSerializer(ORDER_JSON, registry_client)
    raw = produce_and_consume(kafka_bootstrap, topic, serializer, orders)

    version = SubjectVersion.objects.select_related("schema").get(subject__name=f"{topic}-value")
    assert version.schema.schema_type == "JSON"
    deserializer = JSONDeserializer(None, schema_registry_client=registry_client)
    context = SerializationContext(topic, MessageField.VALUE)
    assert [deserializer(value, context) for value in raw] == orders


@pytest.fixture(scope="module")
def proto_order_class(tmp_path_factory) -> Iterator[type]:
    """Compile the .proto with grpcio-tools at test time and import the generated message class."""
    work = tmp_path_factory.mktemp("proto")
    proto_file = work / "eventscope_test_order.proto"
    proto_file.write_text(ORDER_PROTO)
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{work}", f"--python_out={work}", str(proto_file)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    sys.path.insert(0, str(work))
    try:
        module = importlib.import_module("eventscope_test_order_pb2")
        yield module.ProtoOrder
    finally:
        sys.path.remove(str(work))
        sys.modules.pop("eventscope_test_order_pb2", None)


def test_protobuf_serializer_and_deserializer(registry_client, kafka_bootstrap, topic, proto_order_class):
    orders = [proto_order_class(id=f"o-{n}", amount=n * 7, tags=["a", str(n)]) for n in range(3)]
    serializer = ProtobufSerializer(proto_order_class, registry_client)
    raw = produce_and_consume(kafka_bootstrap, topic, serializer, orders)

    version = SubjectVersion.objects.select_related("schema").get(subject__name=f"{topic}-value")
    assert version.schema.schema_type == "PROTOBUF"
    # The writer schema is fetched by id in the serialized (base64 descriptor) format.
    deserializer = ProtobufDeserializer(proto_order_class, schema_registry_client=registry_client)
    context = SerializationContext(topic, MessageField.VALUE)
    assert [deserializer(value, context) for value in raw] == orders
