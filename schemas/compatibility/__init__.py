"""Schema compatibility: pure functions, one module per format, no Django and no I/O.

Every format module (`avro`, `json_schema`, `protobuf`) exposes the same entry point::

    def reader_incompatibilities(reader: ParsedSchema, writer: ParsedSchema) -> list[Incompatibility]

answering "can a consumer using `reader` read data written with `writer`?" (an empty list means
yes). `levels.check_compatibility` turns a compatibility level (BACKWARD, FORWARD_TRANSITIVE, ...)
into the reader/writer pairs to check, with Confluent's semantics:

- BACKWARD: the new schema reads data written with the latest version (reader=new, writer=latest);
- FORWARD: the latest version reads data written with the new one (reader=latest, writer=new);
- FULL: both; the *_TRANSITIVE levels check against every (not soft-deleted) version, not only
  the latest; NONE checks nothing; a schema of another type than the previous version is
  incompatible.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = ["CompatibilityLevel", "Incompatibility", "ParsedSchema", "SchemaType"]


class SchemaType(enum.StrEnum):
    AVRO = "AVRO"
    JSON = "JSON"
    PROTOBUF = "PROTOBUF"


class CompatibilityLevel(enum.StrEnum):
    NONE = "NONE"
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"


@dataclass(frozen=True)
class ParsedSchema:
    """A schema's text with its type and the texts of the schemas it references (name -> text)."""

    schema_type: SchemaType
    text: str
    references: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Incompatibility:
    """One reason a reader cannot read a writer's data.

    `kind` is a stable machine-readable name (e.g. "READER_FIELD_MISSING_DEFAULT_VALUE",
    "TYPE_MISMATCH", "REQUIRED_PROPERTY_ADDED"), `path` a JSON-pointer-like location in the
    schema ("/fields/2/type", "#/properties/amount", "Order.amount"), `message` a sentence a
    person understands.
    """

    kind: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind} at {self.path}: {self.message}"
