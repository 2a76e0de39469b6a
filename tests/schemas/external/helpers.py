"""Helpers of the external-registry tests: schemas to register, and an external registry row for the second registry."""

from __future__ import annotations

import json
import socket

from confluent_kafka.schema_registry import Schema

from schemas.external.services import external_registry_create


def avro(name: str, *fields: str, required: tuple[str, ...] = ()) -> Schema:
    """A record whose first field is a required string and whose others default to "" (adding one is compatible);
    `required` fields come without a default (adding one breaks BACKWARD)."""
    body = {"type": "record", "name": name, "fields": [{"name": fields[0], "type": "string"}]}
    body["fields"] += [{"name": f, "type": "string", "default": ""} for f in fields[1:]]
    body["fields"] += [{"name": f, "type": "string"} for f in required]
    return Schema(json.dumps(body), "AVRO")


def connect(second_registry, name: str = "confluent-prod", **fields):
    """An ExternalRegistry row (through the service) reading the second registry with HTTP Basic."""
    fields.setdefault("url", second_registry.url)
    fields.setdefault("auth_kind", "basic")
    fields.setdefault("username", second_registry.username)
    fields.setdefault("secret", second_registry.password)
    return external_registry_create(name=name, **fields)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/registry"
