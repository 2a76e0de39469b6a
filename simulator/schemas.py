"""The shop's schemas (Avro and JSON Schema, derived from `simulator.events`) and its record values through a registry.

Without a schema registry every record value is plain JSON. With one (`simulate --registry-url`),
each topic's value schema is registered under `<topic>-value` (topic naming) when the run starts,
and `simulator.topology.TOPIC_ENCODING` decides how a topic's values are written:

- **Avro** topics are written with Confluent's `AvroSerializer` (magic byte, 4-byte schema id, Avro
  binary) and read with `AvroDeserializer`, both through the registry. Their producers carry the
  correlation id in headers, so it stays readable without decoding the body.
- **JSON** topics stay plain, un-framed JSON that anyone can read; their JSON Schemas are registered
  for documentation and validation.

Field types map as follows (events.py's vocabulary; the JSON column is also the in-memory shape
the services work with, whatever the wire format):

==========  =======================================  ==========================================
field type  Avro                                     JSON body / JSON Schema
==========  =======================================  ==========================================
string      string                                   string
integer     long                                     integer
decimal     bytes, logical type decimal(18, 2)       decimal string, e.g. "19.90"
timestamp   long, logical type timestamp-millis      RFC 3339 string in UTC, milliseconds ("Z")
date        int, logical type date                   ISO 8601 date string
array       array of a record (<EventType><Field>)   array of objects
==========  =======================================  ==========================================

Optional fields are ``["null", T]`` with default null in Avro, and simply absent from JSON bodies.
`to_avro_record` and `from_avro_record` convert between the two shapes, so a body survives an
Avro round trip unchanged.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from confluent_kafka.schema_registry import (
    Schema,
    SchemaRegistryClient,
    SchemaRegistryError,
    topic_subject_name_strategy,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from simulator.behaviour import rfc3339
from simulator.catalog_seed import event_json_schema
from simulator.events import EVENT_TYPES, FieldSpec
from simulator.topology import EVENT_TOPIC, TOPIC_ENCODING, Encoding

try:  # whichever HTTP client confluent_kafka's registry client uses (it prefers httpx2 too)
    import httpx2 as httpx
except ImportError:  # pragma: no cover
    import httpx  # type: ignore[no-redef]

__all__ = [
    "AVRO_NAMESPACE",
    "DECIMAL_PRECISION",
    "DECIMAL_SCALE",
    "JSON_SCHEMA_DIALECT",
    "MAGIC_BYTE",
    "RecordCodec",
    "RegisteredSubject",
    "RegistryConnection",
    "RegistryUnavailable",
    "TopicSchema",
    "event_avro_schema",
    "event_json_schema_document",
    "from_avro_record",
    "register_shop_schemas",
    "to_avro_record",
    "topic_schema",
    "value_subject",
]

AVRO_NAMESPACE = "io.eventscope.shop"  # as the CloudEvents type names (simulator.correlation.CE_TYPE_PREFIX)
JSON_SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#"
DECIMAL_PRECISION = 18
DECIMAL_SCALE = 2  # every amount in the shop has cents
MAGIC_BYTE = 0  # first byte of Confluent's wire format

_TOPIC_EVENT_TYPE = {topic: event_type for event_type, topic in EVENT_TOPIC.items()}


# ---------------------------------------------------------------------------------------------
# Avro schemas
# ---------------------------------------------------------------------------------------------
def event_avro_schema(event_type: str) -> dict[str, Any]:
    """The Avro record schema of an event type's body, derived from its field definitions."""
    definition = EVENT_TYPES[event_type]
    return {
        "type": "record",
        "name": event_type,
        "namespace": AVRO_NAMESPACE,
        "doc": definition.doc,
        "fields": [_avro_field(spec, event_type) for spec in definition.all_fields],
    }


def _avro_field(spec: FieldSpec, owner: str) -> dict[str, Any]:
    avro_type = _avro_type(spec, owner)
    if spec.required:
        return {"name": spec.name, "type": avro_type, "doc": spec.doc}
    return {"name": spec.name, "type": ["null", avro_type], "default": None, "doc": spec.doc}


def _avro_type(spec: FieldSpec, owner: str) -> Any:
    match spec.type:
        case "string":
            return "string"
        case "integer":
            return "long"
        case "decimal":
            return {"type": "bytes", "logicalType": "decimal", "precision": DECIMAL_PRECISION, "scale": DECIMAL_SCALE}
        case "timestamp":
            return {"type": "long", "logicalType": "timestamp-millis"}
        case "date":
            return {"type": "int", "logicalType": "date"}
        case "array":
            # A named type is defined once per schema: "OrderPlacedItem" for OrderPlaced's "items".
            name = owner + spec.name[:1].upper() + spec.name[1:].removesuffix("s")
            return {
                "type": "array",
                "items": {
                    "type": "record",
                    "name": name,
                    "doc": spec.doc,
                    "fields": [_avro_field(item, name) for item in spec.items],
                },
            }
    raise ValueError(f"field {spec.name}: no Avro type for {spec.type!r}")


def event_json_schema_document(event_type: str) -> dict[str, Any]:
    """The JSON Schema as registered: catalog_seed's `event_json_schema` with its dialect declared."""
    return {"$schema": JSON_SCHEMA_DIALECT, **event_json_schema(event_type)}


# ---------------------------------------------------------------------------------------------
# Topics and subjects
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TopicSchema:
    """The value schema of one of the shop's topics (a topology suffix such as "orders.placed")."""

    topic: str
    event_type: str
    encoding: Encoding

    @property
    def schema_type(self) -> str:
        """The registry's schemaType: AVRO or JSON."""
        return "AVRO" if self.encoding is Encoding.AVRO else "JSON"

    @property
    def schema(self) -> dict[str, Any]:
        if self.encoding is Encoding.AVRO:
            return event_avro_schema(self.event_type)
        return event_json_schema_document(self.event_type)

    @property
    def schema_str(self) -> str:
        return json.dumps(self.schema, separators=(",", ":"))

    def registry_schema(self) -> Schema:
        return Schema(self.schema_str, self.schema_type)


def topic_schema(topic: str) -> TopicSchema:
    """The value schema of a topology topic; KeyError for the dead-letter topic, which has none."""
    return TopicSchema(topic=topic, event_type=_TOPIC_EVENT_TYPE[topic], encoding=TOPIC_ENCODING[topic])


def value_subject(topic_name: str) -> str:
    """The subject of a topic's values under Confluent's default TopicNameStrategy."""
    return f"{topic_name}-value"


# ---------------------------------------------------------------------------------------------
# Converting between the JSON body shape and Avro data
# ---------------------------------------------------------------------------------------------
def to_avro_record(body: Mapping[str, Any]) -> dict[str, Any]:
    """An event body (JSON shape) as the Avro datum of its event type's schema; ValueError if it does not fit."""
    definition = EVENT_TYPES.get(body.get("event_type"))  # type: ignore[arg-type]
    if definition is None:
        raise ValueError(f"not one of the shop's events: event_type {body.get('event_type')!r}")
    return _to_avro(definition.all_fields, body, definition.name)


def _to_avro(fields: tuple[FieldSpec, ...], body: Mapping[str, Any], where: str) -> dict[str, Any]:
    unknown = body.keys() - {spec.name for spec in fields}
    if unknown:
        raise ValueError(f"{where}: fields not in the schema: {sorted(unknown)}")
    datum: dict[str, Any] = {}
    for spec in fields:
        value = body.get(spec.name)
        if value is None:
            if spec.required:
                raise ValueError(f"{where}: missing field {spec.name}")
            datum[spec.name] = None
            continue
        try:
            datum[spec.name] = _to_avro_value(spec, value, where)
        except (TypeError, ValueError, InvalidOperation) as exc:
            raise ValueError(f"{where}.{spec.name}: {value!r} is not a {spec.type}: {exc}") from exc
    return datum


def _to_avro_value(spec: FieldSpec, value: Any, where: str) -> Any:
    match spec.type:
        case "timestamp":
            moment = dt.datetime.fromisoformat(value)
            if moment.tzinfo is None:
                raise ValueError("a timestamp needs a UTC offset")
            return moment
        case "date":
            return dt.date.fromisoformat(value)
        case "decimal":
            amount = Decimal(value)
            if amount.as_tuple().exponent < -DECIMAL_SCALE:  # type: ignore[operator]
                raise ValueError(f"more than {DECIMAL_SCALE} decimal places")
            return amount.quantize(Decimal(1).scaleb(-DECIMAL_SCALE))
        case "array":
            return [_to_avro(spec.items, item, f"{where}.{spec.name}[]") for item in value]
    return value


def from_avro_record(datum: Mapping[str, Any]) -> dict[str, Any]:
    """An Avro datum of one of the shop's events back in the JSON body shape (absent optional fields omitted)."""
    definition = EVENT_TYPES.get(datum.get("event_type"))  # type: ignore[arg-type]
    if definition is None:
        raise ValueError(f"not one of the shop's events: event_type {datum.get('event_type')!r}")
    return _from_avro(definition.all_fields, datum)


def _from_avro(fields: tuple[FieldSpec, ...], datum: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for spec in fields:
        value = datum.get(spec.name)
        if value is None:
            continue
        match spec.type:
            case "timestamp":
                body[spec.name] = rfc3339(value)
            case "date":
                body[spec.name] = value.isoformat()
            case "decimal":
                body[spec.name] = str(value)
            case "array":
                body[spec.name] = [_from_avro(spec.items, item) for item in value]
            case _:
                body[spec.name] = value
    return body


# ---------------------------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RegistryConnection:
    """Where the schema registry is and who we are there (HTTP Basic); the password never shows in a repr."""

    url: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"the registry URL must start with http:// or https://, got {self.url!r}")
        if (self.user is None) != (self.password is None):
            raise ValueError("the registry user and password go together")

    def client(self) -> SchemaRegistryClient:
        conf: dict[str, Any] = {"url": self.url.rstrip("/")}
        if self.user is not None:
            conf["basic.auth.user.info"] = f"{self.user}:{self.password}"
        return SchemaRegistryClient(conf)


@dataclass(frozen=True)
class RegisteredSubject:
    subject: str
    schema_type: str
    schema_id: int
    version: int


def register_shop_schemas(client: SchemaRegistryClient, topic_prefix: str) -> list[RegisteredSubject]:
    """Register every topic's value schema under `<prefix><topic>-value`; idempotent for unchanged schemas.

    Raises confluent_kafka's SchemaRegistryError when the registry refuses one (e.g. 409: the
    definitions in events.py changed incompatibly with what is registered).
    """
    registered = []
    for topic in TOPIC_ENCODING:
        spec = topic_schema(topic)
        subject = value_subject(topic_prefix + topic)
        response = client.register_schema_full_response(subject, spec.registry_schema())
        version = response.version
        if version is None:  # older registries answer the id only
            version = client.lookup_schema(subject, spec.registry_schema()).version
        registered.append(RegisteredSubject(subject, spec.schema_type, response.schema_id, version))
    return registered


class RegistryUnavailable(Exception):
    """The registry did not serve a schema: unreachable, refusing our credentials, or lacking our own schema.

    Not the record's fault, so a service must not dead-letter the record for it: it stops instead,
    and the uncommitted batch is processed again on the next run (at-least-once).
    """


class RecordCodec:
    """Encodes a service's outgoing event bodies and decodes its incoming record values, per topic.

    One per service thread (each has its own registry client and serializer caches). Without a
    registry everything is plain JSON, exactly as the shop always wrote it.
    """

    def __init__(self, registry: RegistryConnection | None, topic_prefix: str):
        self.topic_prefix = topic_prefix
        self._client = registry.client() if registry is not None else None
        self._serializers: dict[str, AvroSerializer] = {}
        self._deserializer = (
            AvroDeserializer(
                self._client,
                from_dict=lambda datum, ctx: from_avro_record(datum),
                conf={"subject.name.strategy": topic_subject_name_strategy},
            )
            if self._client is not None
            else None
        )

    def encoding(self, topic_name: str) -> Encoding:
        """How values of this (prefixed) topic are written in this run."""
        if self._client is None:
            return Encoding.JSON
        return TOPIC_ENCODING.get(topic_name.removeprefix(self.topic_prefix), Encoding.JSON)

    def encode(self, topic_name: str, body: Mapping[str, Any]) -> bytes:
        if self.encoding(topic_name) is Encoding.JSON:
            return json.dumps(body, separators=(",", ":")).encode()
        try:
            return self._serializer(topic_name)(body, SerializationContext(topic_name, MessageField.VALUE))
        except (SchemaRegistryError, httpx.TransportError) as exc:
            raise RegistryUnavailable(f"could not get the schema of {topic_name} from the registry: {exc}") from exc

    def _serializer(self, topic_name: str) -> AvroSerializer:
        serializer = self._serializers.get(topic_name)
        if serializer is None:
            # The schema is the one registered at start: the serializer looks its id up once
            # (auto.register.schemas off), and a registry that lacks it is an error, not a new version.
            spec = topic_schema(topic_name.removeprefix(self.topic_prefix))
            serializer = AvroSerializer(
                self._client,
                spec.schema_str,
                to_dict=lambda event, ctx: to_avro_record(event),
                # Topic naming, stated rather than discovered (no association lookup per topic).
                conf={"auto.register.schemas": False, "subject.name.strategy": topic_subject_name_strategy},
            )
            self._serializers[topic_name] = serializer
        return serializer

    def decode(self, topic_name: str, value: bytes | None) -> Any:
        """The event body of a record value.

        Raises ValueError, SerializationError, or SchemaRegistryError 404 (an unknown schema id) when
        the record is unreadable, and RegistryUnavailable when the registry is.
        """
        if value is None:
            raise ValueError("the record has no value")
        if self.encoding(topic_name) is Encoding.AVRO and value[:1] == bytes([MAGIC_BYTE]):
            assert self._deserializer is not None
            try:
                return self._deserializer(value, SerializationContext(topic_name, MessageField.VALUE))
            except SchemaRegistryError as exc:
                if exc.http_status_code == 404:
                    raise  # the record names a schema id the registry does not know: the record's problem
                raise RegistryUnavailable(f"could not read a schema for {topic_name} from the registry: {exc}") from exc
            except httpx.TransportError as exc:
                raise RegistryUnavailable(f"the registry is unreachable: {exc}") from exc
        # JSON topics, and records on an Avro topic written before the run used a registry.
        return json.loads(value)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
