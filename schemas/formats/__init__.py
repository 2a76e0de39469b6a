"""Per-format schema handling for the registry: validation, canonical text for identity, flattened fields.

Pure functions over `ParsedSchema` (no Django, no I/O). Each format has its own module exposing
`normalize(schema) -> str` and `field_paths(schema) -> list[FieldInfo]`; this package dispatches on
`schema.schema_type` and adds what is the same for every format (the fingerprint).

- `normalize` validates the schema (and its references) and returns its canonical text: two texts
  that differ only in whitespace or JSON key order normalize to the same text, while any change a
  person can see in the catalog (a `doc` or `description`, a default, a field) gives another text.
  It raises `SchemaParseError` for anything the registry must refuse (Confluent's 42201).
- `fingerprint` is the hex SHA-256 of the normalized text: the identity of a schema text. The
  references a schema uses are not part of it; the registry compares reference lists separately,
  as Confluent does.
- `field_paths` flattens a schema into dotted field paths ("customer.address.city") for field
  tables, search and diffs.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from schemas.compatibility import ParsedSchema, SchemaType

__all__ = ["FieldInfo", "SchemaParseError", "field_paths", "fingerprint", "load_json", "normalize"]


class SchemaParseError(ValueError):
    """A schema text the registry must refuse; the message says where and why (shown to the user)."""


@dataclass(frozen=True)
class FieldInfo:
    """One field of a schema, flattened.

    `path` joins nested names with dots; an array's items add "[]" and a map's values "{}"
    ("lines[].sku", "attributes{}.value"). `type` is for people ("string", "long (timestamp-millis)",
    "array<string>", "null | Address"). `required` means a writer must always give the field a
    value (Avro: not nullable; JSON Schema: listed in `required`; Protobuf: `required` or a
    non-optional proto2 field). `default` is meaningful only when `has_default` is true, because
    `None` (JSON null) is itself a valid default.
    """

    path: str
    type: str
    doc: str | None = None
    required: bool = False
    has_default: bool = False
    default: Any = None


# Imported on first use: the protobuf module is written separately and pulls in the protobuf
# compiler, which subjects of the other formats never need.
_FORMAT_MODULES: dict[SchemaType, str] = {
    SchemaType.AVRO: "schemas.formats.avro",
    SchemaType.JSON: "schemas.formats.json_schema",
    SchemaType.PROTOBUF: "schemas.formats.protobuf",
}


def normalize(schema: ParsedSchema) -> str:
    """The canonical text of `schema`; raises SchemaParseError when it or a reference is invalid."""
    normalized = _format_module(schema).normalize(schema)
    try:
        # A JSON escape such as "\ud800" decodes to a lone surrogate: valid JSON, invalid Unicode,
        # and it could be neither stored as UTF-8 nor sent to a client.
        normalized.encode("utf-8")
    except UnicodeEncodeError:
        raise SchemaParseError("the schema contains text that is not valid Unicode (a lone surrogate)") from None
    return normalized


def fingerprint(schema: ParsedSchema) -> str:
    """Hex SHA-256 of the normalized text: equal for texts that differ only in layout."""
    return hashlib.sha256(normalize(schema).encode("utf-8")).hexdigest()


def field_paths(schema: ParsedSchema) -> list[FieldInfo]:
    """Every field of `schema`, nested fields flattened to dotted paths, in declaration order."""
    return _format_module(schema).field_paths(schema)


def load_json(text: str, what: str) -> Any:
    """Parse JSON text for a schema module; `what` names the text in the error ("reference 'a.json'")."""
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise SchemaParseError(
            f"{what} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except ValueError as error:
        raise SchemaParseError(f"{what} is not valid JSON: {error}") from None


def _refuse_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity, which are not JSON and which other clients reject.
    raise ValueError(f"{name} is not a JSON value")


def _format_module(schema: ParsedSchema) -> ModuleType:
    try:
        schema_type = SchemaType(schema.schema_type)
    except ValueError:
        raise SchemaParseError(f"unknown schema type {schema.schema_type!r}") from None
    return importlib.import_module(_FORMAT_MODULES[schema_type])
