"""The shop in registry mode: its schemas in our registry, its Avro topics in Confluent's wire format through it.

The registry runs in pytest-django's live server with an editor's HTTP Basic credentials; the shop
runs on the real broker through `manage.py simulate --registry-url`. Everything it wrote is read
back with a plain consumer and decoded with a plain `AvroDeserializer` pointed at our registry,
independently of the engine.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from io import StringIO
from typing import Any

import pytest
import requests
from confluent_kafka.schema_registry import SchemaRegistryClient, SchemaRegistryError
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from django.core.management import CommandError, call_command
from jsonschema import Draft7Validator, FormatChecker

from schemas import selectors
from schemas.registry import authentication
from simulator.behaviour import ShopOdds, react
from simulator.catalog_seed import example_events
from simulator.correlation import Correlation, find_correlations
from simulator.schemas import (
    MAGIC_BYTE,
    RecordCodec,
    RegistryConnection,
    RegistryUnavailable,
    event_avro_schema,
    event_json_schema_document,
    from_avro_record,
    register_shop_schemas,
)
from simulator.topology import DEAD_LETTER, EVENT_TOPIC, SERVICE_CONVENTION, TOPIC_ENCODING, Encoding
from tests.simulator.test_shop import (
    PRODUCER_OF_TOPIC,
    REACTING_SERVICE,
    ReadRecord,
    committed_and_end_offsets,
    follow_chains,
    read_topics,
)

pytestmark = [pytest.mark.kafka, pytest.mark.django_db(transaction=True)]

PASSWORD = "s3cret-pass!"
SEED = 42  # as in test_shop: its first 30 orders take every path, dead letters included
ORDERS = 30
FAILURE_RATE = 0.2
EVENT_TYPE_OF_TOPIC = {topic: event_type for event_type, topic in EVENT_TOPIC.items()}


@dataclass(frozen=True)
class DecodedRecord(ReadRecord):
    """A record read back with its value decoded the way its topic is written (Avro or JSON)."""

    decoded: Any = None

    @property
    def body(self) -> Any:  # type: ignore[override]
        return self.decoded


@pytest.fixture(autouse=True)
def _fresh_caches():
    # Each test starts on a flushed database: schema ids start again at 1, and users are new rows.
    selectors.schema_caches_clear()
    authentication.forget_remembered_credentials()
    yield
    selectors.schema_caches_clear()
    authentication.forget_remembered_credentials()


@pytest.fixture
def registry(live_server, make_user, settings, tmp_path) -> Iterator[dict[str, Any]]:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast test logins
    make_user("shop-editor", "editor", password=PASSWORD)
    make_user("shop-viewer", "viewer", password=PASSWORD)
    password_file = tmp_path / "registry-password"
    password_file.write_text(PASSWORD + "\n")
    url = f"{live_server.url}/registry"
    client = SchemaRegistryClient({"url": url, "basic.auth.user.info": f"shop-editor:{PASSWORD}"})
    yield {"url": url, "password_file": str(password_file), "client": client}
    # Closing the keep-alive connections ends the live server's request threads and their DB connections.
    client.close()


def run_registry_shop(kafka_bootstrap: str, prefix: str, registry: dict[str, Any], user: str = "shop-editor") -> str:
    output = StringIO()
    call_command(
        "simulate",
        *("--bootstrap", kafka_bootstrap, "--topic-prefix", prefix, "--seed", str(SEED)),
        *("--orders", str(ORDERS), "--rate", "200", "--failure-rate", str(FAILURE_RATE)),
        *("--processing-ms", "0", "--progress-interval", "0"),
        *("--registry-url", registry["url"], "--registry-user", user),
        *("--registry-password-file", registry["password_file"]),
        stdout=output,
    )
    return output.getvalue()


def decode(records: list[ReadRecord], deserializer: AvroDeserializer, prefix: str) -> list[DecodedRecord]:
    """Decode each value as a plain client would: Confluent-framed Avro through the registry, else JSON."""
    decoded = []
    for record in records:
        if record.value[:1] == bytes([MAGIC_BYTE]):
            # Dead letters hold the failed record's bytes, so they may be Avro too: decode under its topic.
            topic = record.header("original.topic") if record.is_dead_letter else prefix + record.topic
            datum = deserializer(record.value, SerializationContext(topic, MessageField.VALUE))
            body = from_avro_record(datum)
        else:
            datum, body = None, json.loads(record.value)
        fields = {name: getattr(record, name) for name in ReadRecord.__dataclass_fields__}
        decoded.append((DecodedRecord(**fields, decoded=body), datum))
    return decoded


def test_registry_mode_registers_the_schemas_and_writes_avro_through_them(registry, kafka_bootstrap, unique_name):
    prefix = unique_name + "."
    client: SchemaRegistryClient = registry["client"]

    output = run_registry_shop(kafka_bootstrap, prefix, registry)

    assert f"Schema registry {registry['url']} as shop-editor" in output
    assert PASSWORD not in output
    assert "Stopped (drained)" in output

    # Every topic's value subject is registered, with the right type; the dead-letter topic has none.
    subjects = {subject for subject in client.get_subjects() if subject.startswith(prefix)}
    assert subjects == {f"{prefix}{topic}-value" for topic in TOPIC_ENCODING}
    latest = {}
    for topic, encoding in TOPIC_ENCODING.items():
        registered = client.get_latest_version(f"{prefix}{topic}-value")
        assert registered.version == 1
        assert registered.schema.schema_type == ("AVRO" if encoding is Encoding.AVRO else "JSON")
        expected = (
            event_avro_schema(EVENT_TYPE_OF_TOPIC[topic])
            if encoding is Encoding.AVRO
            else event_json_schema_document(EVENT_TYPE_OF_TOPIC[topic])
        )
        assert json.loads(registered.schema.schema_str) == expected
        latest[topic] = registered
    assert f"{prefix}{DEAD_LETTER}-value" not in subjects

    raw = read_topics(kafka_bootstrap, prefix)
    deserializer = AvroDeserializer(client)  # a plain one: writer schema by id, no reader schema, no from_dict
    decoded = decode(raw, deserializer, prefix)
    records = [record for record, _ in decoded]
    auth = ("shop-editor", PASSWORD)
    ids_checked = set()
    odds = ShopOdds(seed=SEED, failure_rate=FAILURE_RATE)

    for record, datum in decoded:
        if record.is_dead_letter:
            continue
        encoding = TOPIC_ENCODING[record.topic]
        if encoding is Encoding.AVRO:
            # Confluent's wire format: magic byte, then the big-endian id of the registered schema.
            assert record.value[0] == MAGIC_BYTE
            schema_id = int.from_bytes(record.value[1:5], "big")
            assert schema_id == latest[record.topic].schema_id
            if schema_id not in ids_checked:
                answer = requests.get(f"{registry['url']}/schemas/ids/{schema_id}", auth=auth, timeout=30)
                assert answer.status_code == 200, answer.text
                assert json.loads(answer.json()["schema"]) == event_avro_schema(record.body["event_type"])
                ids_checked.add(schema_id)
            assert isinstance(datum["occurred_at"], dt.datetime)  # a logical type, not a string
            assert record.body["event_type"] == EVENT_TYPE_OF_TOPIC[record.topic]
        else:
            # Plain, un-framed JSON that anyone can read, and valid under its registered JSON Schema.
            assert record.value[:1] == b"{"
            schema = json.loads(latest[record.topic].schema.schema_str)
            Draft7Validator(schema, format_checker=FormatChecker()).validate(json.loads(record.value))
        expected = Correlation(
            find_correlations(None, records_by_order(records, record.key)[0].body)[0].correlation_id,
            SERVICE_CONVENTION[PRODUCER_OF_TOPIC[record.topic]],
        )
        assert find_correlations(record.headers, record.body) == [expected], (record.topic, record.headers)
    assert len(ids_checked) == sum(encoding is Encoding.AVRO for encoding in TOPIC_ENCODING.values())
    shipments = [record for record in records if record.topic == "shipments.created"]
    assert shipments and all(record.header("content-type") == "application/avro" for record in shipments)

    # The chains still complete, and each decoded event is exactly what its service makes of its input.
    chains = follow_chains(records, prefix)
    assert len(chains) == ORDERS
    endings = {"NotificationSent"} | {f"dead letter by {name}" for name in REACTING_SERVICE.values()}
    avro_dead_letters = 0
    for chain in chains.values():
        assert chain.outcome[-1] in endings, chain.outcome
        for earlier, later in zip(chain.records, chain.records[1:], strict=False):
            if later.is_dead_letter:
                # The failed record's original bytes, framed Avro or JSON as it was written.
                assert (later.key, later.value) == (earlier.key, earlier.value)
                avro_dead_letters += later.value[:1] == bytes([MAGIC_BYTE])
                continue
            occurred_at = dt.datetime.fromisoformat(later.body["occurred_at"])
            [made] = react(REACTING_SERVICE[earlier.topic], earlier.body, odds, occurred_at)
            made.pop("correlation_id", None)
            assert {name: value for name, value in later.body.items() if name != "correlation_id"} == made
    assert avro_dead_letters, "seed 42 dead-letters records read from Avro topics"
    assert {step for chain in chains.values() for step in chain.outcome} >= set(EVENT_TOPIC)

    # Every service committed everything it read: committed = log end after the drain.
    for service in {*REACTING_SERVICE.values(), "analytics"}:
        for position, (committed, end) in committed_and_end_offsets(kafka_bootstrap, prefix, service).items():
            assert committed == end or (committed is None and end == 0), (service, position)


def records_by_order(records: list[DecodedRecord], order_id: str) -> list[DecodedRecord]:
    """The order's records, its OrderPlaced (which carries the correlation id in the body) first."""
    return sorted(
        (record for record in records if record.key == order_id),
        key=lambda record: record.topic != EVENT_TOPIC["OrderPlaced"],
    )


def test_a_viewer_cannot_register_and_the_run_stops_with_a_clear_error(registry, kafka_bootstrap, unique_name):
    with pytest.raises(CommandError, match=r"could not register the shop's schemas at .*/registry") as error:
        run_registry_shop(kafka_bootstrap, unique_name + ".", registry, user="shop-viewer")

    assert PASSWORD not in str(error.value)
    assert not [subject for subject in registry["client"].get_subjects() if subject.startswith(unique_name)]


def test_register_shop_schemas_registers_every_subject_once(registry, unique_name):
    prefix = unique_name + "."
    options = ("--registry-url", registry["url"], "--registry-user", "shop-editor")
    options += ("--registry-password-file", registry["password_file"], "--topic-prefix", prefix)

    first, again = StringIO(), StringIO()
    call_command("register_shop_schemas", *options, stdout=first)
    call_command("register_shop_schemas", *options, stdout=again)

    assert first.getvalue() == again.getvalue()  # unchanged schemas: same ids, still version 1
    lines = first.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == [f"{prefix}{topic}-value" for topic in TOPIC_ENCODING]
    assert all(line.endswith("version 1") for line in lines)
    for topic, encoding in TOPIC_ENCODING.items():
        registered = registry["client"].get_latest_version(f"{prefix}{topic}-value")
        assert (registered.version, registered.schema.schema_type) == (1, encoding.name)


def test_register_shop_schemas_needs_a_registry(monkeypatch):
    monkeypatch.delenv("EVENTSCOPE_REGISTRY_URL", raising=False)

    with pytest.raises(CommandError, match="which registry"):
        call_command("register_shop_schemas", stdout=StringIO())


def test_the_codec_tells_an_unreadable_record_from_an_unavailable_registry(registry, unique_name):
    prefix = unique_name + "."
    register_shop_schemas(registry["client"], prefix)
    topic = prefix + "payments.completed"
    body = example_events()["PaymentCompleted"]
    codec = RecordCodec(RegistryConnection(registry["url"], "shop-editor", PASSWORD), prefix)
    wrong_password = RecordCodec(RegistryConnection(registry["url"], "shop-editor", "wrong"), prefix)
    try:
        value = codec.encode(topic, body)
        assert codec.decode(topic, value) == body
        # A schema id the registry never issued: the record's problem (dead letter), not the registry's.
        with pytest.raises(SchemaRegistryError) as error:
            codec.decode(topic, bytes([MAGIC_BYTE]) + (999_999).to_bytes(4, "big") + value[5:])
        assert error.value.http_status_code == 404
        # Credentials the registry refuses: the service stops instead of dead-lettering healthy records.
        with pytest.raises(RegistryUnavailable, match="could not get the schema"):
            wrong_password.encode(topic, body)
    finally:
        codec.close()
        wrong_password.close()
