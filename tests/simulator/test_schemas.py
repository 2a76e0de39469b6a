"""The shop's Avro and JSON Schemas: derived from simulator.events, valid, and fitting the simulator's events."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

import avro.schema
import fastavro
import pytest
from fastavro.validation import validate as avro_validate
from jsonschema import Draft7Validator, FormatChecker

from simulator.catalog_seed import event_json_schema, example_events
from simulator.correlation import Convention
from simulator.events import EVENT_TYPES
from simulator.schemas import (
    AVRO_NAMESPACE,
    JSON_SCHEMA_DIALECT,
    RecordCodec,
    RegistryConnection,
    event_avro_schema,
    event_json_schema_document,
    from_avro_record,
    to_avro_record,
    topic_schema,
    value_subject,
)
from simulator.topology import DEAD_LETTER, EVENT_TOPIC, SERVICE_CONVENTION, SERVICES, TOPIC_ENCODING, TOPICS, Encoding

EXAMPLES = example_events()
HEADER_CONVENTIONS = {Convention.HEADER, Convention.TRACEPARENT, Convention.CLOUDEVENTS}


def producer_of(topic: str) -> str:
    return next(name for name, spec in SERVICES.items() if topic in spec.outputs)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_event_type_has_a_valid_avro_schema_with_docs(event_type):
    schema = event_avro_schema(event_type)

    parsed = avro.schema.parse(json.dumps(schema))  # the Apache implementation, as the registry uses
    assert parsed.fullname == f"{AVRO_NAMESPACE}.{event_type}"
    assert schema["doc"] == EVENT_TYPES[event_type].doc
    assert [field["name"] for field in schema["fields"]] == [spec.name for spec in EVENT_TYPES[event_type].all_fields]
    assert all(field["doc"] for field in schema["fields"])
    fastavro.parse_schema(schema)


def test_avro_types_use_logical_types_and_optional_fields_default_to_null():
    fields = {field["name"]: field for field in event_avro_schema("ShipmentCreated")["fields"]}
    assert fields["occurred_at"]["type"] == {"type": "long", "logicalType": "timestamp-millis"}
    assert fields["estimated_delivery"]["type"] == {"type": "int", "logicalType": "date"}
    assert fields["causation_id"]["type"] == ["null", "string"] and fields["causation_id"]["default"] is None
    assert fields["correlation_id"]["type"] == ["null", "string"]

    order = {field["name"]: field for field in event_avro_schema("OrderPlaced")["fields"]}
    assert order["amount"]["type"] == {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 2}
    item = order["items"]["type"]["items"]
    assert item["name"] == "OrderPlacedItem"
    assert [field["name"] for field in item["fields"]] == ["sku", "quantity", "unit_price"]


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_event_type_has_a_valid_json_schema_from_the_catalog_seed(event_type):
    document = event_json_schema_document(event_type)

    Draft7Validator.check_schema(document)
    assert document["$schema"] == JSON_SCHEMA_DIALECT
    # One JSON Schema in the project: the catalog seed's, with its dialect declared.
    assert {key: value for key, value in document.items() if key != "$schema"} == event_json_schema(event_type)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_the_simulators_example_events_validate_against_both_schemas(event_type):
    body = EXAMPLES[event_type]

    Draft7Validator(event_json_schema_document(event_type), format_checker=FormatChecker()).validate(body)
    datum = to_avro_record(body)
    assert avro_validate(datum, fastavro.parse_schema(event_avro_schema(event_type)), raise_errors=True)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_an_event_survives_an_avro_round_trip_unchanged(event_type):
    body = EXAMPLES[event_type]
    parsed = fastavro.parse_schema(event_avro_schema(event_type))
    buffer = io.BytesIO()

    fastavro.schemaless_writer(buffer, parsed, to_avro_record(body))
    buffer.seek(0)
    datum = fastavro.schemaless_reader(buffer, parsed, parsed)

    assert isinstance(datum["occurred_at"], dt.datetime)
    assert from_avro_record(datum) == body


def test_to_avro_record_converts_strings_to_logical_values():
    datum = to_avro_record(EXAMPLES["OrderPlaced"])

    assert datum["occurred_at"] == dt.datetime.fromisoformat(EXAMPLES["OrderPlaced"]["occurred_at"])
    assert datum["amount"] == Decimal(EXAMPLES["OrderPlaced"]["amount"])
    assert datum["causation_id"] is None  # absent from the body: null in Avro
    assert isinstance(datum["items"][0]["unit_price"], Decimal)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"surprise": 1}, "fields not in the schema"),
        ({"amount": "12.345"}, "more than 2 decimal places"),
        ({"amount": "lots"}, "is not a decimal"),
        ({"occurred_at": "2025-05-01T12:00:00"}, "needs a UTC offset"),
        ({"order_id": None}, "missing field order_id"),
        ({"event_type": "Nope"}, "not one of the shop's events"),
    ],
)
def test_a_body_that_does_not_fit_the_avro_schema_is_a_value_error(change, message):
    with pytest.raises(ValueError, match=message):
        to_avro_record({**EXAMPLES["OrderPlaced"], **change})


def test_every_topic_but_the_dead_letters_has_an_encoding_that_follows_its_producers_convention():
    assert set(TOPIC_ENCODING) == set(TOPICS) - {DEAD_LETTER} == set(EVENT_TOPIC.values())
    for topic, encoding in TOPIC_ENCODING.items():
        # Avro exactly where the correlation id travels in headers: a binary body hides nothing.
        header_based = SERVICE_CONVENTION[producer_of(topic)] in HEADER_CONVENTIONS
        assert (encoding is Encoding.AVRO) == header_based, topic
    assert {topic for topic, encoding in TOPIC_ENCODING.items() if encoding is Encoding.AVRO} == {
        "inventory.reserved",
        "inventory.rejected",
        "payments.completed",
        "payments.failed",
        "shipments.created",
    }


def test_topic_schemas_and_subjects():
    avro_topic = topic_schema("payments.completed")
    assert (avro_topic.event_type, avro_topic.schema_type) == ("PaymentCompleted", "AVRO")
    assert json.loads(avro_topic.schema_str) == event_avro_schema("PaymentCompleted")
    json_topic = topic_schema("orders.placed")
    assert (json_topic.event_type, json_topic.schema_type) == ("OrderPlaced", "JSON")
    assert json.loads(json_topic.registry_schema().schema_str) == event_json_schema_document("OrderPlaced")
    with pytest.raises(KeyError):
        topic_schema(DEAD_LETTER)
    assert value_subject("shop.orders.placed") == "shop.orders.placed-value"


def test_without_a_registry_the_codec_writes_plain_json_everywhere():
    codec = RecordCodec(None, "shop.")
    body = EXAMPLES["PaymentCompleted"]

    assert codec.encoding("shop.payments.completed") is Encoding.JSON
    value = codec.encode("shop.payments.completed", body)
    assert json.loads(value) == body
    assert codec.decode("shop.payments.completed", value) == body
    codec.close()


def test_the_registry_connection_keeps_the_password_out_of_its_repr():
    connection = RegistryConnection("http://127.0.0.1:8000/registry", "demo", "hunter2-secret")

    assert "hunter2-secret" not in repr(connection)
    with pytest.raises(ValueError, match="http:// or https://"):
        RegistryConnection("127.0.0.1:8000/registry")
    with pytest.raises(ValueError, match="user and password go together"):
        RegistryConnection("http://127.0.0.1:8000/registry", "demo")


def test_with_a_registry_the_codec_follows_the_topic_table_and_still_reads_unframed_json():
    # No request is made here: JSON topics and unframed values never touch the registry.
    codec = RecordCodec(RegistryConnection("http://127.0.0.1:1/registry", "demo", "pw"), "shop.")
    order, payment = EXAMPLES["OrderPlaced"], EXAMPLES["PaymentCompleted"]

    assert codec.encoding("shop.payments.completed") is Encoding.AVRO
    assert codec.encoding("shop.orders.placed") is Encoding.JSON
    assert codec.encoding("shop.deadletter") is Encoding.JSON
    assert json.loads(codec.encode("shop.orders.placed", order)) == order
    # A record on an Avro topic written before the shop used a registry is still plain JSON.
    assert codec.decode("shop.payments.completed", json.dumps(payment).encode()) == payment
    with pytest.raises(ValueError, match="no value"):
        codec.decode("shop.payments.completed", None)
    codec.close()
