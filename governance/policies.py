"""Schema policies: the event standards a platform team enforces when a schema version is registered.

Pure (no Django, no I/O): `evaluate` takes a subject, the proposed schema, the latest live version
(or None) and the effective rules, and returns the violations. Each rule has a severity: an
*error* blocks registration, a *warning* is shown beside the compatibility verdict.

Rules (keys of the rules mapping):
- `subject-naming`: the subject name matches `pattern` (default: topic naming, `<topic>-key|value`,
  lower-case dotted topic names).
- `record-naming`: the top-level record name (Avro `name`, JSON Schema `title`, the first Protobuf
  message) matches `pattern` (default PascalCase).
- `envelope-fields`: the top-level fields include the envelope the event-design guidance asks for:
  event id, event type, version, timestamp, correlation id; each is satisfied by any of its names.
- `field-docs`: every field has documentation (Avro `doc`, JSON Schema `description`, a Protobuf
  comment is not visible to us, so Protobuf fields are not checked).
- `classification-kept`: a data-classification tag on a field or record of the latest version
  (Avro/JSON Schema `confluent:tags`, or a `classification` / `x-classification` string) is not
  dropped while the field stays.

Rules are layered: `DEFAULT_RULES`, then the global settings, then the subject's domain's; each
layer may change any key of a rule (`enabled`, `severity`, its parameters).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from schemas import formats
from schemas.compatibility import ParsedSchema, SchemaType

__all__ = [
    "DEFAULT_RULES",
    "ERROR",
    "RULE_DESCRIPTIONS",
    "WARNING",
    "Violation",
    "evaluate",
    "merge_rules",
    "validate_rules",
]

ERROR = "error"
WARNING = "warning"
SEVERITIES = (ERROR, WARNING)

DEFAULT_RULES: dict[str, dict[str, Any]] = {
    "subject-naming": {
        "enabled": True,
        "severity": WARNING,
        "pattern": r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*-(key|value)$",
    },
    "record-naming": {"enabled": True, "severity": WARNING, "pattern": r"^[A-Z][A-Za-z0-9]*$"},
    "envelope-fields": {
        "enabled": True,
        "severity": WARNING,
        "fields": {
            "event id": ["event_id", "eventId", "id"],
            "event type": ["event_type", "eventType", "type"],
            "version": ["schema_version", "event_version", "version", "schemaVersion", "eventVersion"],
            "timestamp": ["occurred_at", "timestamp", "event_time", "time", "occurredAt", "eventTime"],
            "correlation id": ["correlation_id", "correlationId", "metadata.correlationId"],
        },
    },
    "field-docs": {"enabled": True, "severity": WARNING},
    "classification-kept": {"enabled": True, "severity": ERROR},
}

RULE_DESCRIPTIONS = {
    "subject-naming": "Subject names follow the naming convention.",
    "record-naming": "Record (message) names follow the naming convention.",
    "envelope-fields": "Events carry the envelope: event id, event type, version, timestamp, correlation id.",
    "field-docs": "Every field is documented.",
    "classification-kept": "A new version keeps every data-classification tag of the latest one.",
}

_TAG_KEYS = ("confluent:tags", "classification", "x-classification")


@dataclass(frozen=True)
class Violation:
    rule: str
    severity: str
    message: str
    path: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return f"[{self.severity}] {self.rule}: {self.message}"


# ---------------------------------------------------------------------------------------------
# Rules as data
# ---------------------------------------------------------------------------------------------
def merge_rules(*layers: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """DEFAULT_RULES with each layer's per-rule keys laid over it (later layers win)."""
    merged = copy.deepcopy(DEFAULT_RULES)
    for layer in layers:
        for rule, settings in (layer or {}).items():
            if rule in merged and isinstance(settings, Mapping):
                merged[rule].update(copy.deepcopy(dict(settings)))
    return merged


def validate_rules(data: Any) -> dict[str, dict[str, Any]]:
    """Check settings given by a person (a layer, not necessarily complete); ValueError names each problem."""
    if not isinstance(data, Mapping):
        raise ValueError("Policy settings must be an object of rule name -> settings.")
    problems: list[str] = []
    for rule, settings in data.items():
        if rule not in DEFAULT_RULES:
            problems.append(f"unknown rule {rule!r} (rules: {', '.join(DEFAULT_RULES)})")
            continue
        if not isinstance(settings, Mapping):
            problems.append(f"{rule}: settings must be an object")
            continue
        for key, value in settings.items():
            if key not in DEFAULT_RULES[rule]:
                problems.append(f"{rule}: unknown setting {key!r} (settings: {', '.join(DEFAULT_RULES[rule])})")
            elif key == "enabled" and not isinstance(value, bool):
                problems.append(f"{rule}: enabled must be true or false")
            elif key == "severity" and value not in SEVERITIES:
                problems.append(f"{rule}: severity must be one of {', '.join(SEVERITIES)}")
            elif key == "pattern":
                if not isinstance(value, str):
                    problems.append(f"{rule}: pattern must be a regular expression string")
                else:
                    try:
                        re.compile(value)
                    except re.error as exc:
                        problems.append(f"{rule}: pattern is not a valid regular expression ({exc})")
            elif key == "fields" and not (
                isinstance(value, Mapping)
                and all(
                    isinstance(names, list) and names and all(isinstance(n, str) and n for n in names)
                    for names in value.values()
                )
            ):
                problems.append(f"{rule}: fields must map each envelope part to a non-empty list of field names")
    if problems:
        raise ValueError("; ".join(problems))
    return {rule: dict(settings) for rule, settings in data.items()}


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------
def evaluate(
    *,
    subject: str,
    schema: ParsedSchema,
    previous: ParsedSchema | None,
    rules: Mapping[str, Mapping[str, Any]],
) -> list[Violation]:
    """Every violation of the enabled rules, errors first."""
    found: list[Violation] = []
    fields = formats.field_paths(schema)
    for name, check in _CHECKS.items():
        settings = rules.get(name)
        if not settings or not settings.get("enabled", True):
            continue
        severity = settings.get("severity", WARNING)
        found.extend(
            Violation(name, severity, message, path)
            for message, path in check(settings, subject=subject, schema=schema, previous=previous, fields=fields)
        )
    return sorted(found, key=lambda v: (v.severity != ERROR, v.rule, v.path or ""))


def _subject_naming(settings, *, subject, **_) -> Iterator[tuple[str, str | None]]:
    if not re.search(settings["pattern"], subject):
        yield f"Subject {subject!r} does not match the naming convention {settings['pattern']}.", None


def _record_naming(settings, *, schema, **_) -> Iterator[tuple[str, str | None]]:
    name = record_name(schema)
    if name is None:
        return
    if not re.search(settings["pattern"], name):
        yield f"Record name {name!r} does not match the naming convention {settings['pattern']}.", None


def _envelope_fields(settings, *, fields, **_) -> Iterator[tuple[str, str | None]]:
    present = {field.path for field in fields}
    missing = [part for part, names in settings["fields"].items() if not present.intersection(names)]
    if missing:
        options = "; ".join(f"{part}: {' or '.join(settings['fields'][part])}" for part in missing)
        yield f"The envelope lacks {', '.join(missing)} (expected a top-level field named {options}).", None


def _field_docs(settings, *, schema, fields, **_) -> Iterator[tuple[str, str | None]]:
    if schema.schema_type == SchemaType.PROTOBUF:
        return
    for field in fields:
        if not (field.doc or "").strip() and not field.path.endswith(("[]", "{}")):
            yield f"Field {field.path!r} has no documentation.", field.path


def _classification_kept(settings, *, schema, previous, fields, **_) -> Iterator[tuple[str, str | None]]:
    if previous is None or previous.schema_type != schema.schema_type:
        return
    before, after = classification_tags(previous), classification_tags(schema)
    still_there = {field.path for field in fields} | {""}
    for path in sorted(before):
        if path not in still_there:
            continue  # the field is gone altogether: that is a compatibility matter, not a lost tag
        lost = sorted(before[path] - after.get(path, set()))
        if lost:
            where = f"field {path!r}" if path else "the record"
            yield f"The data-classification tag(s) {', '.join(lost)} of {where} would be lost.", path or None


_CHECKS = {
    "subject-naming": _subject_naming,
    "record-naming": _record_naming,
    "envelope-fields": _envelope_fields,
    "field-docs": _field_docs,
    "classification-kept": _classification_kept,
}


# ---------------------------------------------------------------------------------------------
# What the rules read from a schema
# ---------------------------------------------------------------------------------------------
def record_name(schema: ParsedSchema) -> str | None:
    """The top-level record's simple name: Avro `name`, JSON Schema `title`, the first Protobuf message."""
    if schema.schema_type == SchemaType.PROTOBUF:
        match = re.search(r"^\s*message\s+([A-Za-z_][A-Za-z0-9_]*)", schema.text, re.MULTILINE)
        return match.group(1) if match else None
    document = _json(schema.text)
    if not isinstance(document, dict):
        return None
    if schema.schema_type == SchemaType.AVRO:
        name = document.get("name")
        return name.rsplit(".", 1)[-1] if isinstance(name, str) and document.get("type") == "record" else None
    title = document.get("title")
    return title if isinstance(title, str) else None


def classification_tags(schema: ParsedSchema) -> dict[str, set[str]]:
    """Data-classification tags by field path ("" for the record itself); Avro and JSON Schema only."""
    document = _json(schema.text) if schema.schema_type != SchemaType.PROTOBUF else None
    tags: dict[str, set[str]] = {}
    if not isinstance(document, dict):
        return tags
    walk = _avro_tags if schema.schema_type == SchemaType.AVRO else _json_schema_tags
    for path, found in walk(document, ""):
        if found:
            tags.setdefault(path, set()).update(found)
    return tags


def _tags_of(node: Mapping[str, Any]) -> set[str]:
    found: set[str] = set()
    for key in _TAG_KEYS:
        value = node.get(key)
        if isinstance(value, str) and value.strip():
            found.add(value.strip())
        elif isinstance(value, list):
            found.update(v.strip() for v in value if isinstance(v, str) and v.strip())
    return found


def _avro_tags(node: Any, prefix: str) -> Iterator[tuple[str, set[str]]]:
    if isinstance(node, list):  # a union
        for branch in node:
            yield from _avro_tags(branch, prefix)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "record":
        if not prefix:
            yield "", _tags_of(node)
        for field in node.get("fields") or ():
            if isinstance(field, dict) and isinstance(field.get("name"), str):
                path = f"{prefix}.{field['name']}" if prefix else field["name"]
                yield path, _tags_of(field)
                yield from _avro_tags(field.get("type"), path)
    elif kind == "array":
        yield from _avro_tags(node.get("items"), f"{prefix}[]")
    elif kind == "map":
        yield from _avro_tags(node.get("values"), f"{prefix}{{}}")
    elif isinstance(kind, (dict, list)):
        yield from _avro_tags(kind, prefix)


def _json_schema_tags(node: Any, prefix: str) -> Iterator[tuple[str, set[str]]]:
    if not isinstance(node, dict):
        return
    if not prefix:
        yield "", _tags_of(node)
    for name, child in (node.get("properties") or {}).items():
        if isinstance(child, dict):
            path = f"{prefix}.{name}" if prefix else name
            yield path, _tags_of(child)
            yield from _json_schema_tags(child, path)
    items = node.get("items")
    if isinstance(items, dict):
        yield from _json_schema_tags(items, f"{prefix}[]")


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
