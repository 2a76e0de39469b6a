"""Decoding of Confluent-framed payloads through our own registry, in-process (a PayloadDecoder for extraction).

A framed payload is magic byte 0, a 4-byte big-endian schema id, then the encoded body. The schema
is looked up by id with `schemas.selectors` (cached there) and, for Avro, parsed once per id for
fastavro and read with `schemaless_reader`. JSON Schema bodies are plain JSON text. Protobuf bodies
need compiled descriptors and are reported as undecoded. Nothing here raises on a bad payload or an
unknown id: the answer is then (None, encoding).

A cluster tied to an external registry (schemas.external) decodes with that registry's mirrored schemas:
in mode "instead" only with them (its producers frame that registry's ids), in mode "beside" with ours first
and the mirror for ids ours does not know.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import io
import json
import logging
import struct
import threading
import time
import uuid
from typing import Any

import fastavro

from schemas.compatibility import SchemaType
from schemas.errors import SchemaNotFoundError
from schemas.selectors import parsed_schema_by_id

__all__ = ["RegistryPayloadDecoder", "registry_decoder"]

logger = logging.getLogger(__name__)

MAGIC_BYTE = 0
HEADER = struct.Struct(">bI")
UNKNOWN_ID_RETRY_S = 60.0  # an id unknown now may be registered soon; do not ask the database per record
_ENCODING = {SchemaType.AVRO: "avro", SchemaType.JSON: "json", SchemaType.PROTOBUF: "protobuf"}


def _plain(value: Any) -> Any:
    """Avro values as JSON-friendly data (bytes, decimals, dates and UUIDs from logical types)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(value).decode("ascii")
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return value


class RegistryPayloadDecoder:
    """Callable PayloadDecoder: bytes of a framed payload -> (decoded dict or None, encoding)."""

    def __init__(self, cluster_id: int | None = None) -> None:
        self._cluster_id = cluster_id
        self._external: tuple[int, str] | None = None  # (registry id, mode) of the cluster's external registry
        self._external_checked_at = -1e9
        self._avro: dict[int, Any] = {}  # schema id -> fastavro parsed schema
        self._types: dict[int, SchemaType] = {}
        self._unknown: dict[int, float] = {}  # schema id -> when it was found missing
        self._lock = threading.Lock()

    def _schema(self, schema_id: int) -> tuple[SchemaType | None, Any]:
        schema_type = self._types.get(schema_id)
        if schema_type is not None:
            return schema_type, self._avro.get(schema_id)
        missing_since = self._unknown.get(schema_id)
        if missing_since is not None and time.monotonic() - missing_since < UNKNOWN_ID_RETRY_S:
            return None, None
        try:
            parsed = self._parsed(schema_id)
        except SchemaNotFoundError:
            self._unknown[schema_id] = time.monotonic()
            return None, None
        avro_schema = None
        if parsed.schema_type == SchemaType.AVRO:
            avro_schema = _fastavro_schema(parsed.text, parsed.references)
        with self._lock:
            self._avro[schema_id] = avro_schema
            self._types[schema_id] = parsed.schema_type
            self._unknown.pop(schema_id, None)
        return parsed.schema_type, avro_schema

    def _external_registry(self) -> tuple[int, str] | None:
        """The cluster's external registry, looked up again now and then (it may be tied or untied meanwhile)."""
        if self._cluster_id is None:
            return None
        now = time.monotonic()
        if now - self._external_checked_at >= UNKNOWN_ID_RETRY_S:
            from schemas.models_external import ExternalRegistry

            found = ExternalRegistry.objects.filter(cluster_id=self._cluster_id).values_list("pk", "mode").first()
            if found != self._external:
                with self._lock:  # another registry's ids mean other schemas
                    self._avro.clear()
                    self._types.clear()
                    self._unknown.clear()
            self._external, self._external_checked_at = found, now
        return self._external

    def _parsed(self, schema_id: int):
        external = self._external_registry()
        if external is None:
            return parsed_schema_by_id(schema_id)
        from schemas.external.selectors import mirrored_parsed_schema
        from schemas.models_external import ExternalRegistry

        registry_id, mode = external
        if mode == ExternalRegistry.Mode.INSTEAD:
            return mirrored_parsed_schema(registry_id, schema_id)
        try:
            return parsed_schema_by_id(schema_id)
        except SchemaNotFoundError:
            return mirrored_parsed_schema(registry_id, schema_id)

    def __call__(self, payload: bytes) -> tuple[dict | None, str]:
        if len(payload) < HEADER.size or payload[0] != MAGIC_BYTE:
            return None, "binary"
        _magic, schema_id = HEADER.unpack_from(payload)
        self._external_registry()  # a change of the cluster's registry empties the caches before they are read
        try:
            schema_type, avro_schema = self._schema(schema_id)
        except Exception:  # a schema that cannot be parsed leaves the payload undecoded
            logger.warning("schema %s cannot be parsed for decoding", schema_id, exc_info=True)
            self._unknown[schema_id] = time.monotonic()
            return None, "avro"
        if schema_type is None:
            return None, "avro"
        encoding = _ENCODING.get(schema_type, "binary")
        body = payload[HEADER.size :]
        try:
            if schema_type == SchemaType.AVRO and avro_schema is not None:
                value = fastavro.schemaless_reader(io.BytesIO(body), avro_schema, None)
                return (_plain(value) if isinstance(value, dict) else None), encoding
            if schema_type == SchemaType.JSON:
                value = json.loads(body)
                return (value if isinstance(value, dict) else None), encoding
        except Exception:  # a body that does not match its schema is a skipped payload
            return None, encoding
        return None, encoding


def _fastavro_schema(text: str, references: dict[str, str]) -> Any:
    """Parse a schema for fastavro with the named types of its references (which may use each other)."""
    named: dict[str, Any] = {}
    pending = dict(references)
    while pending:
        progressed = False
        for name, ref_text in list(pending.items()):
            try:
                fastavro.parse_schema(json.loads(ref_text), named)
            except fastavro.schema.UnknownType:
                continue
            del pending[name]
            progressed = True
        if not progressed:
            break
    return fastavro.parse_schema(json.loads(text), named)


def registry_decoder(cluster_id: int | None = None) -> RegistryPayloadDecoder:
    """A decoder with its own parsed-schema cache (one per indexer process), for records of this cluster."""
    return RegistryPayloadDecoder(cluster_id)
