"""Records exactly as Confluent's KafkaStore writes them to `_schemas`: compact JSON keys and values (bytes).

Jackson writes the key fields in the order keytype, subject, version, magic, leaves out null and empty
fields (a global config key has no subject), and writes a schema value's type only when it is not Avro.
"""

from __future__ import annotations

import json
from typing import Any

Record = tuple[bytes, bytes | None]


def _dump(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def schema_key(subject: str, version: int) -> bytes:
    return _dump({"keytype": "SCHEMA", "subject": subject, "version": version, "magic": 1})


def schema(
    subject: str,
    version: int,
    schema_id: int,
    text: str,
    *,
    schema_type: str | None = None,
    references: list[dict[str, Any]] | None = None,
    deleted: bool = False,
) -> Record:
    value: dict[str, Any] = {"subject": subject, "version": version, "id": schema_id}
    if schema_type and schema_type != "AVRO":
        value["schemaType"] = schema_type
    if references:
        value["references"] = references
    value["schema"] = text
    value["deleted"] = deleted
    return schema_key(subject, version), _dump(value)


def tombstone(subject: str, version: int) -> Record:
    return schema_key(subject, version), None


def config(subject: str | None, level: str | None) -> Record:
    key: dict[str, Any] = {"keytype": "CONFIG"}
    if subject is not None:
        key["subject"] = subject
    key["magic"] = 0
    value = None if level is None else _dump({"compatibilityLevel": level} | ({"subject": subject} if subject else {}))
    return _dump(key), value


def mode(subject: str | None, value: str | None) -> Record:
    key: dict[str, Any] = {"keytype": "MODE"}
    if subject is not None:
        key["subject"] = subject
    key["magic"] = 0
    return _dump(key), None if value is None else _dump({"mode": value})


def delete_subject(subject: str, up_to_version: int) -> Record:
    return (
        _dump({"keytype": "DELETE_SUBJECT", "subject": subject, "magic": 0}),
        _dump({"subject": subject, "version": up_to_version}),
    )


def clear_subject(subject: str) -> Record:
    return _dump({"keytype": "CLEAR_SUBJECT", "subject": subject, "magic": 0}), _dump({"subject": subject})


def noop() -> Record:
    return _dump({"keytype": "NOOP", "magic": 0}), None


def avro_record(name: str, *fields: str) -> str:
    return json.dumps(
        {"type": "record", "name": name, "fields": [{"name": f, "type": "string"} for f in fields]},
        separators=(",", ":"),
    )
