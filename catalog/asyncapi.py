"""AsyncAPI 3.0.0 documents of the catalog as plain data: build one from a snapshot, parse and validate one back.

Pure: no Django ORM, no database. The services layer (``catalog.services.asyncapi``) turns catalog rows
into a `CatalogSnapshot` and back; everything about the document format lives here.

How the catalog maps onto AsyncAPI 3.0.0
========================================
=====================  ==================================================================================
catalog                AsyncAPI
=====================  ==================================================================================
cluster                ``servers.<cluster name>`` (host = bootstrap servers, protocol ``kafka``)
topic                  ``channels.<key>``: ``address`` is the topic name; Kafka channel bindings carry the
                       partitions, replicas and the configs users look at
event type             ``components.messages.<key>`` (``name``, ``summary``, ``description`` = business
                       meaning, ``payload``, ``examples``, ``tags``), listed in its topic's channel
service produces X     an operation ``action: send`` on X's channel (``messages`` lists the event types;
                       no ``messages`` means the whole topic)
service consumes X     an operation ``action: receive``; the service's consumer groups are its Kafka
                       operation binding ``groupId`` (``{"type": "string", "enum": [...]}``)
what a consumer reads  on a receive operation: ``x-eventscope-reader-version`` (the version of the
                       message's registry subject its reader schema is) and ``x-eventscope-reads`` (the field
                       paths it reads, e.g. ``["order_id", "items[].sku"]``); for every relation it declares
owner team             ``x-eventscope-owner`` (a team slug) on info, channels and messages
domain                 ``x-eventscope-domain`` (a domain slug)
data classification    ``x-eventscope-classification`` on messages
=====================  ==================================================================================

A service's own document describes that service in ``info`` (``x-eventscope-service`` holds its slug).
The whole catalog's document describes every service in the root extension ``x-eventscope-services`` and
names the service of each operation in the operation's ``x-eventscope-service``. Teams and domains that
the document refers to travel in ``x-eventscope-teams`` and ``x-eventscope-domains``, so a document can be
imported into an empty catalog. A document written elsewhere, without any of these extensions, describes
one application: its ``info.title`` names the service its operations belong to.

Parsing validates against the official AsyncAPI 3.0.0 JSON Schema (vendored in ``asyncapi_schema/``),
resolves every local ``$ref`` and checks what the catalog needs on top; every problem is reported with a
JSON pointer into the document and a message, all of them at once.

Absent means "not said": a parsed spec holds None for a field the document does not mention, and an import
leaves such fields of existing rows alone.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from django.utils.text import slugify
from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError as SchemaError
from jsonschema.exceptions import best_match

__all__ = [
    "ASYNCAPI_VERSION",
    "CLASSIFICATIONS",
    "AsyncAPIDocumentError",
    "CatalogSnapshot",
    "DomainSpec",
    "EventTypeSpec",
    "Problem",
    "RelationSpec",
    "ServerSpec",
    "ServiceSpec",
    "TeamSpec",
    "TopicSpec",
    "build_document",
    "dump_document",
    "infer_json_schema",
    "load_document",
    "parse_document",
    "validate_document",
]

ASYNCAPI_VERSION = "3.0.0"
SCHEMA_PATH = Path(__file__).with_name("asyncapi_schema") / "3.0.0.json"
KAFKA_BINDING_VERSION = "0.5.0"

# The values of EventType.Classification (a test keeps the two in step; this module may not import models).
CLASSIFICATIONS = ("public", "internal", "confidential", "pii")

# Column sizes of the catalog models (a test keeps them in step): checked here, so that a long value is a
# clear problem with a path instead of a database error (PostgreSQL) or a silently stored value (SQLite).
NAME_MAX = 100  # domain, team and service names and slugs
CONTACT_MAX = 255
REPOSITORY_URL_MAX = 200
TAG_MAX = 64
EVENT_TYPE_NAME_MAX = 200
SUMMARY_MAX = 300
SCHEMA_SUBJECT_MAX = 255
TOPIC_NAME_MAX = 249
GROUP_ID_MAX = 255

# A parsed document may hold at most this many values (every repeat of a YAML alias counts again), so a
# small "billion laughs" document cannot make validation run for ever.
MAX_DOCUMENT_NODES = 200_000

SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]+$")
TOPIC_NAME_RE = re.compile(r"^[a-zA-Z0-9._-]+$")

# Extension names, in one place.
X_OWNER = "x-eventscope-owner"
X_DOMAIN = "x-eventscope-domain"
X_CLASSIFICATION = "x-eventscope-classification"
X_VERSION = "x-eventscope-version"
X_SCHEMA_SUBJECT = "x-eventscope-schema-subject"
X_SERVICE = "x-eventscope-service"
X_SERVICES = "x-eventscope-services"
X_TEAMS = "x-eventscope-teams"
X_DOMAINS = "x-eventscope-domains"
X_REPOSITORY = "x-eventscope-repository"
X_CONSUMER_GROUPS = "x-eventscope-consumer-groups"
X_READER_VERSION = "x-eventscope-reader-version"
X_READS = "x-eventscope-reads"
READ_FIELD_MAX = 500  # DeclaredRelation.reads_fields entries (a test keeps them in step)

UNASSIGNED_CHANNEL = "unassigned-event-types"

PRODUCES = "produces"
CONSUMES = "consumes"
ACTION_OF_DIRECTION = {PRODUCES: "send", CONSUMES: "receive"}
DIRECTION_OF_ACTION = {action: direction for direction, action in ACTION_OF_DIRECTION.items()}


# ---------------------------------------------------------------------------------------------
# Problems
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document: where (a JSON pointer such as ``#/channels/orders``) and why."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class AsyncAPIDocumentError(ValueError):
    """The document cannot be imported; `problems` lists every reason with its place."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("; ".join(map(str, self.problems[:5])) + (" ..." if len(self.problems) > 5 else ""))


# ---------------------------------------------------------------------------------------------
# The snapshot: the catalog as plain data
# ---------------------------------------------------------------------------------------------
# `path` fields say where a parsed spec came from, so the import can point at the document when a
# reference does not resolve against the database; they take no part in equality.
def _path_field() -> Any:
    return field(default="", compare=False, repr=False)


@dataclass(frozen=True)
class DomainSpec:
    slug: str
    name: str
    description: str | None = None
    path: str = _path_field()


@dataclass(frozen=True)
class TeamSpec:
    slug: str
    name: str
    description: str | None = None
    contact_channel: str | None = None
    domain: str | None = None  # domain slug
    path: str = _path_field()


@dataclass(frozen=True)
class ServiceSpec:
    slug: str
    name: str
    description: str | None = None
    owner: str | None = None  # team slug
    domain: str | None = None
    repository_url: str | None = None
    tags: tuple[str, ...] | None = None
    consumer_groups: tuple[str, ...] = ()
    path: str = _path_field()


@dataclass(frozen=True)
class ServerSpec:
    """A Kafka cluster: its name and bootstrap servers."""

    name: str
    host: str
    description: str | None = None
    path: str = _path_field()


@dataclass(frozen=True)
class TopicSpec:
    """A channel: `key` identifies it in the snapshot (and is its channel key); `name` is the Kafka topic.

    `name` is None for a channel whose address is unknown or parameterised (not one concrete topic).
    """

    key: str
    name: str | None
    server: str | None = None  # ServerSpec.name
    description: str | None = None
    owner: str | None = None
    domain: str | None = None
    tags: tuple[str, ...] | None = None
    partitions: int | None = None
    replicas: int | None = None
    configs: Mapping[str, Any] = field(default_factory=dict)  # Kafka channel binding topicConfiguration
    path: str = _path_field()


EventTypeRef = tuple[str, int]  # (name, version)


@dataclass(frozen=True)
class EventTypeSpec:
    name: str
    version: int = 1
    summary: str | None = None
    description: str | None = None  # business meaning, Markdown
    owner: str | None = None
    domain: str | None = None
    classification: str | None = None
    tags: tuple[str, ...] | None = None
    topic: str | None = None  # TopicSpec.key of its home topic
    schema_subject: str | None = None
    content_type: str | None = None
    payload: Any = None  # the payload schema (JSON Schema unless payload_format says otherwise)
    payload_format: str | None = None  # an AsyncAPI schemaFormat, e.g. application/vnd.apache.avro;version=1.9.0
    examples: tuple[Any, ...] = ()  # example payloads (JSON values)
    correlation_location: str | None = None  # a runtime expression, e.g. $message.header#/correlation_id
    path: str = _path_field()

    @property
    def ref(self) -> EventTypeRef:
        return (self.name, self.version)


@dataclass(frozen=True)
class RelationSpec:
    """A service produces or consumes an event type, or a whole topic (exactly one of the two)."""

    service: str  # service slug
    direction: str  # PRODUCES or CONSUMES
    event_type: EventTypeRef | None = None
    topic: str | None = None  # TopicSpec.key
    # What a consumer declares it reads (consumes only); None: the document does not say.
    reader_version: int | None = None
    reads_fields: tuple[str, ...] | None = None
    path: str = _path_field()

    @property
    def reader(self) -> tuple[int | None, tuple[str, ...] | None]:
        return (self.reader_version, self.reads_fields)


@dataclass(frozen=True)
class CatalogSnapshot:
    """A catalog, or one service's part of it, as plain data."""

    title: str
    version: str | None = None  # None: build_document derives one from the content
    description: str | None = None
    application: str | None = None  # slug of the service a service's own document describes
    servers: tuple[ServerSpec, ...] = ()
    domains: tuple[DomainSpec, ...] = ()
    teams: tuple[TeamSpec, ...] = ()
    services: tuple[ServiceSpec, ...] = ()
    topics: tuple[TopicSpec, ...] = ()
    event_types: tuple[EventTypeSpec, ...] = ()
    relations: tuple[RelationSpec, ...] = ()


# ---------------------------------------------------------------------------------------------
# JSON pointers
# ---------------------------------------------------------------------------------------------
def pointer(*parts: str | int) -> str:
    """The JSON pointer (as a URI fragment) of a place in the document."""
    return "#" + "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def _pointer_parts(ref: str) -> list[str]:
    body = ref[1:]
    if not body:
        return []
    if not body.startswith("/"):
        raise KeyError(ref)
    return [part.replace("~1", "/").replace("~0", "~") for part in body[1:].split("/")]


def _resolve_pointer(document: Any, ref: str) -> Any:
    """The value a local ``#/...`` reference points at; KeyError when there is none."""
    value = document
    for part in _pointer_parts(ref):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise KeyError(ref)
    return value


# ---------------------------------------------------------------------------------------------
# Text: YAML or JSON in, YAML or JSON out
# ---------------------------------------------------------------------------------------------
class _DocumentLoader(yaml.SafeLoader):
    """SafeLoader that keeps unquoted dates and times as strings: JSON Schema and JSON have no date type."""


_DocumentLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_document(text: str | bytes, *, format: str | None = None) -> Any:
    """Parse a document's text: JSON when `format` is "json", else YAML (which reads JSON too).

    Raises AsyncAPIDocumentError when the text is not well-formed or holds values JSON cannot carry.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AsyncAPIDocumentError([Problem("#", f"the document is not UTF-8 text: {exc.reason}")]) from None
    if format == "json":
        try:
            value = json.loads(text, parse_constant=_reject_constant)
        except ValueError as exc:
            raise AsyncAPIDocumentError([Problem("#", f"not valid JSON: {exc}")]) from None
    else:
        try:
            value = yaml.load(text, Loader=_DocumentLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            raise AsyncAPIDocumentError([Problem("#", f"not valid YAML: {_yaml_error(exc)}")]) from None
    budget = [MAX_DOCUMENT_NODES]
    problems = list(_json_problems(value, (), budget))
    if problems:
        raise AsyncAPIDocumentError(problems[:50])
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _yaml_error(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return f"line {mark.line + 1} column {mark.column + 1}: {problem}" if mark else problem


def _json_problems(value: Any, path: tuple, budget: list[int]) -> Iterator[Problem]:
    """Values JSON cannot carry (YAML binary, non-string keys, NaN), and documents over the size budget."""
    budget[0] -= 1
    if budget[0] < 0:
        if budget[0] == -1:
            yield Problem("#", f"the document is too large (more than {MAX_DOCUMENT_NODES} values)")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                yield Problem(pointer(*path), f"key {key!r} is not a string")
                continue
            yield from _json_problems(item, (*path, key), budget)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_problems(item, (*path, index), budget)
    elif isinstance(value, float) and not math.isfinite(value):
        yield Problem(pointer(*path), "NaN and infinity are not JSON numbers")
    elif not (value is None or isinstance(value, str | int | float | bool)):
        yield Problem(pointer(*path), f"a {type(value).__name__} value is not JSON")


class _DocumentDumper(yaml.SafeDumper):
    """SafeDumper that writes multi-line text (Markdown descriptions) as literal blocks, as people write them."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_DocumentDumper.add_representer(str, _represent_text)
# str subclasses too (e.g. DRF's ErrorDetail in an error body rendered as YAML), which SafeDumper refuses.
_DocumentDumper.add_multi_representer(str, _represent_text)


def dump_document(document: Mapping[str, Any], *, format: str = "yaml") -> str:
    """The document as YAML (the AsyncAPI community's usual format) or JSON, keys in document order."""
    if format == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return yaml.dump(
        document, Dumper=_DocumentDumper, sort_keys=False, allow_unicode=True, width=120, default_flow_style=False
    )


# ---------------------------------------------------------------------------------------------
# Validation against the official JSON Schema and our extensions
# ---------------------------------------------------------------------------------------------
@functools.cache
def _asyncapi_validator() -> Draft7Validator:
    # The bundled schema declares draft-07 and carries every definition under its own $id.
    return Draft7Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


_SLUG = {"type": "string", "pattern": SLUG_RE.pattern, "maxLength": NAME_MAX}
_NAME = {"type": "string", "minLength": 1, "maxLength": NAME_MAX}
_TEXT = {"type": "string"}
_STRINGS = {"type": "array", "items": {"type": "string", "minLength": 1}}
_EXTENSION_SCHEMAS: dict[str, dict[str, Any]] = {
    X_DOMAINS: {
        "type": "object",
        "propertyNames": _SLUG,
        "additionalProperties": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {"name": _NAME, "description": _TEXT},
        },
    },
    X_TEAMS: {
        "type": "object",
        "propertyNames": _SLUG,
        "additionalProperties": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": _NAME,
                "description": _TEXT,
                "contact": {"type": "string", "maxLength": CONTACT_MAX},
                "domain": _SLUG,
            },
        },
    },
    X_SERVICES: {
        "type": "object",
        "propertyNames": _SLUG,
        "additionalProperties": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": _NAME,
                "description": _TEXT,
                "owner": _SLUG,
                "domain": _SLUG,
                "repository": {"type": "string", "maxLength": REPOSITORY_URL_MAX, "pattern": r"^https?://\S+$"},
                "tags": _STRINGS,
                "consumerGroups": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1, "maxLength": GROUP_ID_MAX},
                },
            },
        },
    },
}
_PLACED_EXTENSION_SCHEMAS: dict[str, dict[str, Any]] = {
    X_OWNER: _SLUG,
    X_DOMAIN: _SLUG,
    X_SERVICE: _SLUG,
    X_CLASSIFICATION: {"type": "string", "enum": [*CLASSIFICATIONS, *(c.upper() for c in CLASSIFICATIONS)]},
    X_VERSION: {"type": "integer", "minimum": 1, "maximum": 2_147_483_647},
    X_SCHEMA_SUBJECT: {"type": "string", "minLength": 1, "maxLength": SCHEMA_SUBJECT_MAX},
    X_REPOSITORY: _EXTENSION_SCHEMAS[X_SERVICES]["additionalProperties"]["properties"]["repository"],
    X_CONSUMER_GROUPS: _EXTENSION_SCHEMAS[X_SERVICES]["additionalProperties"]["properties"]["consumerGroups"],
    X_READER_VERSION: {"type": "integer", "minimum": 1, "maximum": 2_147_483_647},
    X_READS: {
        "type": "array",
        "uniqueItems": True,
        "items": {"type": "string", "minLength": 1, "maxLength": READ_FIELD_MAX},
    },
}


def validate_document(document: Any) -> list[Problem]:
    """Every problem of the document's structure: the AsyncAPI 3.0.0 schema, our extensions, local $refs."""
    if not isinstance(document, Mapping):
        return [Problem("#", f"an AsyncAPI document is an object (a mapping), not {_kind(document)}")]
    version = document.get("asyncapi")
    if version != ASYNCAPI_VERSION:
        found = f"got {version!r}" if version is not None else "the 'asyncapi' field is missing"
        return [Problem(pointer("asyncapi"), f"only AsyncAPI {ASYNCAPI_VERSION} documents are supported; {found}")]
    problems = _schema_problems(document)
    problems.extend(_extension_problems(document))
    problems.extend(_reference_problems(document))
    return _unique(problems)


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", type(None): "empty"}.get(type(value), f"a {type(value).__name__}")


def _unique(problems: Iterable[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


def _schema_problems(document: Mapping[str, Any]) -> list[Problem]:
    errors = sorted(_asyncapi_validator().iter_errors(document), key=lambda error: list(map(str, error.absolute_path)))
    return [Problem(pointer(*leaf.absolute_path), _short(leaf.message)) for error in errors for leaf in _leaves(error)]


def _short(message: str, limit: int = 300) -> str:
    return message if len(message) <= limit else message[: limit - 3] + "..."


def _is_reference_branch(errors: list[SchemaError]) -> bool:
    return all(error.validator == "required" and "$ref" in (error.validator_value or ()) for error in errors)


def _leaves(error: SchemaError) -> Iterator[SchemaError]:
    """The errors that say what is wrong, instead of "... is not valid under any of the given schemas".

    The schema writes most objects as ``oneOf: [Reference, the object]``. For an object without a $ref
    the Reference branch is noise, and for one with a $ref the object branch is, so we descend into the
    branch that applies; when several apply we fall back to jsonschema's best match.
    """
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        yield error
        return
    branches: dict[Any, list[SchemaError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    has_ref = isinstance(error.instance, Mapping) and "$ref" in error.instance
    relevant = [subs for subs in branches.values() if _is_reference_branch(subs) == has_ref] or list(branches.values())
    if len(relevant) == 1:
        for sub in relevant[0]:
            yield from _leaves(sub)
    else:
        yield best_match(error.context)


def _extension_problems(document: Mapping[str, Any]) -> Iterator[Problem]:
    for name, schema in _EXTENSION_SCHEMAS.items():
        if name in document:
            yield from _problems_against(schema, document[name], (name,))
    for path, value in _placed_extensions(document):
        yield from _problems_against(_PLACED_EXTENSION_SCHEMAS[path[-1]], value, path)


def _placed_extensions(document: Mapping[str, Any]) -> Iterator[tuple[tuple, Any]]:
    """Our extensions on info, channels, operations and messages, with their paths."""
    places: list[tuple[tuple, Any]] = [(("info",), document.get("info"))]
    for section in ("channels", "operations"):
        places.extend(((section, key), value) for key, value in _items(document.get(section)))
    places.extend(
        (("components", section, key), value)
        for section in ("channels", "operations", "messages")
        for key, value in _items((document.get("components") or {}).get(section))
    )
    for key, channel in _items(document.get("channels")):
        places.extend((("channels", key, "messages", m), value) for m, value in _items(_get(channel, "messages")))
    for path, value in places:
        if isinstance(value, Mapping):
            for name in _PLACED_EXTENSION_SCHEMAS:
                if name in value:
                    yield (*path, name), value[name]


def _items(value: Any) -> list[tuple[str, Any]]:
    return list(value.items()) if isinstance(value, Mapping) else []


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, Mapping) else None


def _problems_against(schema: dict[str, Any], value: Any, path: tuple) -> Iterator[Problem]:
    for error in Draft7Validator(schema).iter_errors(value):
        yield Problem(pointer(*path, *error.absolute_path), _short(error.message))


def _reference_problems(document: Mapping[str, Any]) -> Iterator[Problem]:
    """Every $ref must be local (``#/...``) and point at something; chains of $refs must end."""
    for path, ref in _references(document, ()):
        if not isinstance(ref, str):
            continue  # the schema check reports it
        if not ref.startswith("#"):
            yield Problem(
                pointer(*path),
                f"$ref {ref!r} points outside the document; only local references (#/...) are supported, "
                "so bundle the document first (e.g. `asyncapi bundle`)",
            )
            continue
        try:
            _follow(document, ref)
        except KeyError as exc:
            broken = exc.args[0]
            leads = f" (it leads to {broken!r})" if broken != ref else ""
            yield Problem(pointer(*path), f"$ref {ref!r} does not resolve{leads}")
        except RecursionError:
            yield Problem(pointer(*path), f"$ref {ref!r} is part of a cycle of references")


def _references(value: Any, path: tuple) -> Iterator[tuple[tuple, Any]]:
    if isinstance(value, Mapping):
        if "$ref" in value:
            yield path, value["$ref"]
        for key, item in value.items():
            if key != "$ref":
                yield from _references(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _references(item, (*path, index))


def _follow(document: Any, ref: str, *, limit: int = 32) -> tuple[str, Any]:
    """Follow a $ref (and the $refs it lands on) to a value; returns the final pointer and the value."""
    seen = []
    while True:
        value = _resolve_pointer(document, ref)
        seen.append(ref)
        target = value.get("$ref") if isinstance(value, Mapping) else None
        if not isinstance(target, str) or not target.startswith("#"):
            return ref, value
        if target in seen or len(seen) > limit:
            raise RecursionError(ref)
        ref = target


# ---------------------------------------------------------------------------------------------
# Building a document
# ---------------------------------------------------------------------------------------------
def message_key(name: str, version: int) -> str:
    """The components/messages key of an event type: its name (``OrderPlaced``, ``OrderPlaced.v2``)."""
    base = re.sub(r"[^\w.\-]", "_", name) or "message"
    return base if version == 1 else f"{base}.v{version}"


def build_document(snapshot: CatalogSnapshot) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of a snapshot: deterministic, so the same catalog gives the same text."""
    services = {service.slug: service for service in snapshot.services}
    application = services.get(snapshot.application) if snapshot.application else None

    document: dict[str, Any] = {"asyncapi": ASYNCAPI_VERSION}
    document["info"] = _info(snapshot, application)
    if snapshot.servers:
        document["servers"] = {
            server.name: _drop_empty({"host": server.host, "protocol": "kafka", "description": server.description})
            for server in snapshot.servers
        }

    message_keys = _message_keys(snapshot.event_types)
    channel_messages: dict[str, list[EventTypeSpec]] = {topic.key: [] for topic in snapshot.topics}
    unassigned: list[EventTypeSpec] = []
    related = {relation.event_type for relation in snapshot.relations if relation.event_type}
    for event_type in snapshot.event_types:
        if event_type.topic in channel_messages:
            channel_messages[event_type.topic].append(event_type)
        elif event_type.ref in related:
            unassigned.append(event_type)
    channel_of_event_type: dict[EventTypeRef, str] = {}

    channels: dict[str, Any] = {}
    for topic in snapshot.topics:
        channels[topic.key] = _channel(topic, channel_messages[topic.key], message_keys)
        channel_of_event_type.update((event_type.ref, topic.key) for event_type in channel_messages[topic.key])
    if unassigned:
        key = UNASSIGNED_CHANNEL
        while key in channels:
            key += "_"
        channels[key] = {
            "address": None,
            "description": "Event types whose topic is not documented yet.",
            "messages": {
                message_keys[e.ref]: {"$ref": pointer("components", "messages", message_keys[e.ref])}
                for e in unassigned
            },
        }
        channel_of_event_type.update((event_type.ref, key) for event_type in unassigned)
    if channels:
        document["channels"] = channels

    operations = _operations(snapshot, application, channel_of_event_type, message_keys)
    if operations:
        document["operations"] = operations
    if snapshot.event_types:
        document["components"] = {
            "messages": {message_keys[event_type.ref]: _message(event_type) for event_type in snapshot.event_types}
        }

    if snapshot.domains:
        document[X_DOMAINS] = {
            domain.slug: _drop_empty({"name": domain.name, "description": domain.description})
            for domain in snapshot.domains
        }
    if snapshot.teams:
        document[X_TEAMS] = {
            team.slug: _drop_empty(
                {
                    "name": team.name,
                    "description": team.description,
                    "contact": team.contact_channel,
                    "domain": team.domain,
                }
            )
            for team in snapshot.teams
        }
    others = [service for service in snapshot.services if service is not application]
    if others:
        document[X_SERVICES] = {service.slug: _service_entry(service) for service in others}

    if snapshot.version is None:
        # A digest of the content: the same catalog gives the same version, any change a new one.
        digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:12]
        document["info"]["version"] = f"1.0.0+{digest}"
    return document


def infer_json_schema(example: Any) -> dict[str, Any]:
    """A JSON Schema of the example's shape, for an event type whose registry schema is not known."""
    schema = _shape(example)
    schema["description"] = "Inferred from the example payload; the schema registry's schema is authoritative."
    return schema


def _shape(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return {"type": "object", "properties": {key: _shape(item) for key, item in value.items()}}
    if isinstance(value, list):
        return {"type": "array", "items": _shape(value[0])} if value else {"type": "array"}
    for python_type, json_type in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string")):
        if isinstance(value, python_type):
            return {"type": json_type}
    return {"type": "null"}


def _drop_empty(values: dict[str, Any], *, keep_falsy: tuple[str, ...] = ()) -> dict[str, Any]:
    """The values that say something; `keep_falsy` keys are dropped only when None (e.g. a payload of `{}`)."""
    return {
        key: value
        for key, value in values.items()
        if value is not None and (key in keep_falsy or value not in ("", (), [], {}))
    }


def _tags(names: Iterable[str] | None) -> list[dict[str, str]]:
    return [{"name": name} for name in dict.fromkeys(names or ())]


def _info(snapshot: CatalogSnapshot, application: ServiceSpec | None) -> dict[str, Any]:
    if application is None:
        return {
            "title": snapshot.title,
            "version": snapshot.version or "",
            **_drop_empty({"description": snapshot.description}),
        }
    info = {
        "title": application.name,
        "version": snapshot.version or "",
        "description": application.description,
        "tags": _tags(application.tags),
        X_SERVICE: application.slug,
        X_OWNER: application.owner,
        X_DOMAIN: application.domain,
        X_REPOSITORY: application.repository_url,
        X_CONSUMER_GROUPS: list(application.consumer_groups),
    }
    return {"title": info.pop("title"), "version": info.pop("version"), **_drop_empty(info)}


def _service_entry(service: ServiceSpec) -> dict[str, Any]:
    return _drop_empty(
        {
            "name": service.name,
            "description": service.description,
            "owner": service.owner,
            "domain": service.domain,
            "repository": service.repository_url,
            "tags": list(dict.fromkeys(service.tags or ())),
            "consumerGroups": list(service.consumer_groups),
        }
    )


def _message_keys(event_types: Iterable[EventTypeSpec]) -> dict[EventTypeRef, str]:
    keys: dict[EventTypeRef, str] = {}
    taken: set[str] = set()
    for event_type in event_types:
        key = candidate = message_key(event_type.name, event_type.version)
        number = 2
        while key in taken:  # two names that differ only in characters a key cannot hold
            key, number = f"{candidate}_{number}", number + 1
        keys[event_type.ref] = key
        taken.add(key)
    return keys


def _channel(topic: TopicSpec, messages: list[EventTypeSpec], message_keys: dict[EventTypeRef, str]) -> dict[str, Any]:
    channel: dict[str, Any] = {"address": topic.name}
    channel.update(
        _drop_empty(
            {
                "description": topic.description,
                "servers": [{"$ref": pointer("servers", topic.server)}] if topic.server else None,
                "tags": _tags(topic.tags),
                "messages": {
                    message_keys[e.ref]: {"$ref": pointer("components", "messages", message_keys[e.ref])}
                    for e in messages
                },
                "bindings": _channel_bindings(topic),
                X_OWNER: topic.owner,
                X_DOMAIN: topic.domain,
            }
        )
    )
    return channel


def _channel_bindings(topic: TopicSpec) -> dict[str, Any] | None:
    kafka = _drop_empty(
        {
            "partitions": topic.partitions if topic.partitions and topic.partitions > 0 else None,
            "replicas": topic.replicas if topic.replicas and topic.replicas > 0 else None,
            "topicConfiguration": dict(topic.configs),
        }
    )
    return {"kafka": {**kafka, "bindingVersion": KAFKA_BINDING_VERSION}} if kafka else None


def _message(event_type: EventTypeSpec) -> dict[str, Any]:
    payload = event_type.payload
    if payload is not None and event_type.payload_format:
        payload = {"schemaFormat": event_type.payload_format, "schema": payload}
    message = _drop_empty(
        {
            "name": event_type.name,
            "summary": event_type.summary,
            "description": event_type.description,
            "contentType": event_type.content_type,
            "tags": _tags(event_type.tags),
            "correlationId": {"location": event_type.correlation_location} if event_type.correlation_location else None,
            "payload": payload,  # None is "unknown"; `{}` or `false` is a real schema and stays
            "examples": [
                {"name": f"example{i + 1}" if i else "example", "payload": value}
                for i, value in enumerate(event_type.examples)
            ],
            X_VERSION: event_type.version,
            X_OWNER: event_type.owner,
            X_DOMAIN: event_type.domain,
            X_CLASSIFICATION: event_type.classification,
            X_SCHEMA_SUBJECT: event_type.schema_subject,
        },
        keep_falsy=("payload",),
    )
    return message


def _operations(
    snapshot: CatalogSnapshot,
    application: ServiceSpec | None,
    channel_of_event_type: dict[EventTypeRef, str],
    message_keys: dict[EventTypeRef, str],
) -> dict[str, Any]:
    # Group relations into one operation per (service, action, channel): whole-topic relations apart from
    # relations that list event types, because an operation without `messages` means the whole channel.
    # Relations that declare different readers (x-eventscope-reader-version / -reads) go to separate operations.
    whole: dict[tuple[str, str, str], tuple] = {}
    listed: dict[tuple[str, str, str], dict[tuple, list[EventTypeRef]]] = {}
    for relation in snapshot.relations:
        action = ACTION_OF_DIRECTION[relation.direction]
        if relation.event_type is not None:
            channel = channel_of_event_type.get(relation.event_type)
            if channel is not None:
                by_reader = listed.setdefault((relation.service, action, channel), {})
                by_reader.setdefault(relation.reader, []).append(relation.event_type)
        elif relation.topic is not None:
            whole[(relation.service, action, relation.topic)] = relation.reader
    groups = {service.slug: service.consumer_groups for service in snapshot.services}

    operations: dict[str, Any] = {}
    for group in sorted({*whole, *listed}):
        service, action, channel = group
        base = f"{service}.{action}.{channel}"
        if group in whole:
            operations[base] = _operation(service, action, channel, None, application, groups, whole[group])
        if group in listed:
            readers = listed[group]
            for index, (reader, refs) in enumerate(readers.items()):
                messages = [
                    {"$ref": pointer("channels", channel, "messages", message_keys[ref])} for ref in dict.fromkeys(refs)
                ]
                key = f"{base}.messages" if group in whole else base
                if index:
                    key = f"{key}.{index + 1}"
                operations[key] = _operation(service, action, channel, messages, application, groups, reader)
    return operations


def _operation(
    service: str,
    action: str,
    channel: str,
    messages: list[dict[str, str]] | None,
    application: ServiceSpec | None,
    groups: dict[str, tuple[str, ...]],
    reader: tuple[int | None, tuple[str, ...] | None] = (None, None),
) -> dict[str, Any]:
    operation: dict[str, Any] = {"action": action, "channel": {"$ref": pointer("channels", channel)}}
    if messages is not None:
        operation["messages"] = messages
    reader_version, reads_fields = reader
    if action == "receive" and reader_version is not None:
        operation[X_READER_VERSION] = reader_version
    if action == "receive" and reads_fields:
        operation[X_READS] = list(reads_fields)
    if action == "receive" and groups.get(service):
        # The standard place for a consumer's group: tools that read Kafka bindings understand it.
        operation["bindings"] = {
            "kafka": {
                "groupId": {"type": "string", "enum": list(groups[service])},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        }
    if application is None or service != application.slug:
        operation[X_SERVICE] = service
    return operation


# ---------------------------------------------------------------------------------------------
# Parsing a document
# ---------------------------------------------------------------------------------------------
def parse_document(document: Any) -> CatalogSnapshot:
    """The snapshot a document describes; raises AsyncAPIDocumentError with every problem found."""
    problems = validate_document(document)
    if problems:
        raise AsyncAPIDocumentError(problems)
    parser = _Parser(document)
    snapshot = parser.snapshot()
    if parser.problems:
        raise AsyncAPIDocumentError(_unique(parser.problems))
    return snapshot


class _Parser:
    """One pass over a structurally valid document; collects problems instead of stopping at the first."""

    def __init__(self, document: Mapping[str, Any]):
        self.document = document
        self.problems: list[Problem] = []
        self.event_types: dict[str, EventTypeSpec] = {}  # by the final pointer of the message object

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def resolve(self, value: Any, path: str) -> tuple[str, Any]:
        """A value that may be a Reference Object: the pointer it lives at and the object."""
        if isinstance(value, Mapping) and isinstance(value.get("$ref"), str):
            return _follow(self.document, value["$ref"])  # validate_document checked it resolves
        return path, value

    # -- the whole document -----------------------------------------------------------------
    def snapshot(self) -> CatalogSnapshot:
        info = self.document["info"]
        servers = self.servers()
        # Components first, so event types keep the order the document lists them in.
        for key, _message in _items(_get(self.document.get("components"), "messages")):
            self.message(pointer("components", "messages", key))
        topics, channel_messages = self.channels(servers)
        self.check_duplicate_event_types()
        services, application = self.services(info)
        relations = self.operations(topics, channel_messages, services, application)
        event_types = self.with_topics(topics, channel_messages)
        return CatalogSnapshot(
            title=info["title"],
            version=info.get("version"),
            description=info.get("description"),
            application=application,
            servers=tuple(servers.values()),
            domains=self.domains(),
            teams=self.teams(),
            services=tuple(services.values()),
            topics=tuple(topics.values()),
            event_types=event_types,
            relations=relations,
        )

    def servers(self) -> dict[str, ServerSpec]:
        servers = {}
        for key, value in _items(self.document.get("servers")):
            path, server = self.resolve(value, pointer("servers", key))
            if server.get("protocol") not in ("kafka", "kafka-secure"):
                self.problem(
                    f"{path}/protocol",
                    f"the catalog describes Kafka clusters; protocol {server.get('protocol')!r} is not kafka",
                )
            servers[key] = ServerSpec(name=key, host=server["host"], description=server.get("description"), path=path)
        return servers

    def domains(self) -> tuple[DomainSpec, ...]:
        return tuple(
            DomainSpec(
                slug=slug, name=entry["name"], description=entry.get("description"), path=pointer(X_DOMAINS, slug)
            )
            for slug, entry in _items(self.document.get(X_DOMAINS))
        )

    def teams(self) -> tuple[TeamSpec, ...]:
        return tuple(
            TeamSpec(
                slug=slug,
                name=entry["name"],
                description=entry.get("description"),
                contact_channel=entry.get("contact"),
                domain=entry.get("domain"),
                path=pointer(X_TEAMS, slug),
            )
            for slug, entry in _items(self.document.get(X_TEAMS))
        )

    # -- channels and messages ----------------------------------------------------------------
    def channels(self, servers: dict[str, ServerSpec]) -> tuple[dict[str, TopicSpec], dict[str, dict[str, str]]]:
        """Topics by channel key, and each channel's messages: message key -> final message pointer."""
        topics: dict[str, TopicSpec] = {}
        channel_messages: dict[str, dict[str, str]] = {}
        names: dict[tuple[str | None, str], str] = {}
        for key, value in _items(self.document.get("channels")):
            path, channel = self.resolve(value, pointer("channels", key))
            kafka = _get(_get(channel, "bindings"), "kafka") or {}
            name = kafka.get("topic") or channel.get("address")
            if name is not None and "{" in name:
                name = None  # a parameterised address names many topics, not one
            elif name is not None and not _valid_topic_name(name):
                where = f"{path}/bindings/kafka/topic" if kafka.get("topic") else f"{path}/address"
                self.problem(
                    where,
                    f"{name!r} is not a Kafka topic name (letters, digits, '.', '_' and '-', "
                    f"at most {TOPIC_NAME_MAX} characters)",
                )
                name = None
            server = self.channel_server(channel, path)
            if name is not None:
                if (server, name) in names:
                    self.problem(path, f"topic {name!r} is already the channel {names[server, name]!r}")
                names[server, name] = key
            configuration = kafka.get("topicConfiguration")
            topics[key] = TopicSpec(
                key=key,
                name=name,
                server=server,
                description=channel.get("description"),
                owner=channel.get(X_OWNER),
                domain=channel.get(X_DOMAIN),
                tags=self.tags(channel, path),
                partitions=kafka.get("partitions"),
                replicas=kafka.get("replicas"),
                configs=dict(configuration) if isinstance(configuration, Mapping) else {},
                path=path,
            )
            channel_messages[key] = {
                message_key: self.message(self.resolve(message, f"{path}/messages/{_escape(message_key)}")[0])
                for message_key, message in _items(channel.get("messages"))
            }
        return topics, channel_messages

    def channel_server(self, channel: Mapping[str, Any], path: str) -> str | None:
        for index, server in enumerate(channel.get("servers") or ()):
            ref = server.get("$ref", "")
            parts = _pointer_parts(ref) if ref.startswith("#") else []
            if len(parts) == 2 and parts[0] == "servers":
                return parts[1]
            self.problem(f"{path}/servers/{index}", f"$ref {ref!r} must point to a server in #/servers")
        return None

    def tags(self, value: Mapping[str, Any], path: str) -> tuple[str, ...] | None:
        if "tags" not in value:
            return None
        names = []
        for index, tag in enumerate(value["tags"]):
            _tag_path, tag = self.resolve(tag, f"{path}/tags/{index}")
            name = slugify(tag.get("name", ""))[:TAG_MAX].strip("-")
            if not name:
                self.problem(
                    f"{path}/tags/{index}/name", f"tag {tag.get('name')!r} has no letters or digits to name it by"
                )
            else:
                names.append(name)
        return tuple(dict.fromkeys(names))

    def message(self, path: str) -> str:
        """Parse the message object at `path` (once), returning the pointer that identifies it."""
        final, message = _follow(self.document, path)
        if final in self.event_types:
            return final
        message = self.with_traits(message, final)
        key = _pointer_parts(final)[-1]
        name = message.get("name") or key
        if len(name) > EVENT_TYPE_NAME_MAX:
            self.problem(f"{final}/name", f"an event type name has at most {EVENT_TYPE_NAME_MAX} characters")
        summary = message.get("summary") or message.get("title")
        if summary and len(summary) > SUMMARY_MAX:
            self.problem(f"{final}/summary", f"a summary has at most {SUMMARY_MAX} characters")
        payload, payload_format = message.get("payload"), None
        if isinstance(payload, Mapping) and "schemaFormat" in payload:
            payload, payload_format = payload.get("schema"), payload["schemaFormat"]
        correlation = message.get("correlationId")
        if correlation is not None:
            correlation = self.resolve(correlation, f"{final}/correlationId")[1].get("location")
        classification = message.get(X_CLASSIFICATION)
        self.event_types[final] = EventTypeSpec(
            name=name,
            version=message.get(X_VERSION, 1),
            summary=summary,
            description=message.get("description"),
            owner=message.get(X_OWNER),
            domain=message.get(X_DOMAIN),
            classification=classification.lower() if classification else None,
            tags=self.tags(message, final),
            schema_subject=message.get(X_SCHEMA_SUBJECT),
            content_type=message.get("contentType") or self.document.get("defaultContentType"),
            payload=payload,
            payload_format=payload_format,
            examples=tuple(example["payload"] for example in message.get("examples") or () if "payload" in example),
            correlation_location=correlation,
            path=final,
        )
        return final

    def with_traits(self, message: Mapping[str, Any], path: str) -> Mapping[str, Any]:
        # Traits are merged into the message; the message's own fields win (the spec's merge order).
        merged: dict[str, Any] = {}
        for index, trait in enumerate(message.get("traits") or ()):
            merged.update(self.resolve(trait, f"{path}/traits/{index}")[1])
        merged.update(message)
        return merged

    def check_duplicate_event_types(self) -> None:
        seen: dict[EventTypeRef, str] = {}
        for final, event_type in self.event_types.items():
            if event_type.ref in seen:
                self.problem(
                    final,
                    f"event type {event_type.name} version {event_type.version} is already described at "
                    f"{seen[event_type.ref]}; give one of them another name or {X_VERSION}",
                )
            else:
                seen[event_type.ref] = final

    def with_topics(
        self, topics: dict[str, TopicSpec], channel_messages: dict[str, dict[str, str]]
    ) -> tuple[EventTypeSpec, ...]:
        # An event type's home is the first channel that is a concrete topic and lists it, else the first
        # channel that lists it at all (one whose topic is unknown: the event type's topic stays unknown).
        home: dict[str, str] = {}
        for named in (True, False):
            for key, messages in channel_messages.items():
                if (topics[key].name is not None) == named:
                    for final in messages.values():
                        home.setdefault(final, key)
        return tuple(replace(event_type, topic=home.get(final)) for final, event_type in self.event_types.items())

    # -- services and operations --------------------------------------------------------------
    def services(self, info: Mapping[str, Any]) -> tuple[dict[str, ServiceSpec], str | None]:
        services: dict[str, ServiceSpec] = {}
        for slug, entry in _items(self.document.get(X_SERVICES)):
            services[slug] = ServiceSpec(
                slug=slug,
                name=entry["name"],
                description=entry.get("description"),
                owner=entry.get("owner"),
                domain=entry.get("domain"),
                repository_url=entry.get("repository"),
                tags=tuple(dict.fromkeys(_tag_name(t) for t in entry["tags"] if _tag_name(t)))
                if "tags" in entry
                else None,
                consumer_groups=tuple(entry.get("consumerGroups", ())),
                path=pointer(X_SERVICES, slug),
            )
        slug = info.get(X_SERVICE)
        if slug is None and X_SERVICES not in self.document and self.document.get("operations"):
            # A document written elsewhere: it describes one application, named by its title.
            slug = slugify(info["title"])[:NAME_MAX].strip("-")
            if not slug:
                self.problem(pointer("info", "title"), "the title has no letters or digits to name the service by")
                return services, None
        if slug is None:
            return services, None
        if len(info["title"]) > NAME_MAX:
            self.problem(pointer("info", "title"), f"a service name has at most {NAME_MAX} characters")
        if slug in services:
            self.problem(pointer("info", X_SERVICE), f"service {slug!r} is also described in {X_SERVICES}")
        services[slug] = ServiceSpec(
            slug=slug,
            name=info["title"],
            description=info.get("description"),
            owner=info.get(X_OWNER),
            domain=info.get(X_DOMAIN),
            repository_url=info.get(X_REPOSITORY),
            tags=self.tags(info, pointer("info")),
            consumer_groups=tuple(info.get(X_CONSUMER_GROUPS, ())),
            path=pointer("info"),
        )
        return services, slug

    def operations(
        self,
        topics: dict[str, TopicSpec],
        channel_messages: dict[str, dict[str, str]],
        services: dict[str, ServiceSpec],
        application: str | None,
    ) -> tuple[RelationSpec, ...]:
        relations: dict[tuple, RelationSpec] = {}
        groups: dict[str, list[str]] = {slug: list(service.consumer_groups) for slug, service in services.items()}
        for key, value in _items(self.document.get("operations")):
            path, operation = self.resolve(value, pointer("operations", key))
            service = operation.get(X_SERVICE, application)
            if service is None:
                self.problem(path, f"which service does this? name it in {X_SERVICE}")
                continue
            if service not in services:
                self.problem(
                    f"{path}/{X_SERVICE}" if X_SERVICE in operation else path,
                    f"service {service!r} is not described in {X_SERVICES} or info",
                )
                continue
            channel_ref = operation["channel"].get("$ref", "")
            parts = _pointer_parts(channel_ref)
            if len(parts) != 2 or parts[0] != "channels":
                self.problem(f"{path}/channel", f"$ref {channel_ref!r} must point to a channel in #/channels")
                continue
            channel = parts[1]
            direction = DIRECTION_OF_ACTION[operation["action"]]
            reader_version = operation.get(X_READER_VERSION)
            reads_fields = tuple(operation[X_READS]) if X_READS in operation else None
            if direction != CONSUMES and (reader_version is not None or reads_fields is not None):
                name = X_READER_VERSION if reader_version is not None else X_READS
                self.problem(f"{path}/{name}", "only a receive operation declares what its service reads")
            reader = {"reader_version": reader_version, "reads_fields": reads_fields}
            messages = operation.get("messages")
            if messages:
                on_channel = set(channel_messages.get(channel, {}).values())
                for index, message in enumerate(messages):
                    final = _follow(self.document, message["$ref"])[0]
                    if final not in on_channel:
                        self.problem(
                            f"{path}/messages/{index}",
                            f"$ref {message['$ref']!r} is not one of the messages of channel {channel!r}",
                        )
                        continue
                    event_type = self.event_types[final].ref
                    relations.setdefault(
                        (service, direction, event_type, None),
                        RelationSpec(service, direction, event_type, None, **reader, path=path),
                    )
            elif topics[channel].name is not None:
                relations.setdefault(
                    (service, direction, None, channel),
                    RelationSpec(service, direction, None, channel, **reader, path=path),
                )
            if direction == CONSUMES:
                groups[service].extend(self.group_ids(operation, path))
        for slug, group_ids in groups.items():
            if tuple(dict.fromkeys(group_ids)) != services[slug].consumer_groups:
                services[slug] = replace(services[slug], consumer_groups=tuple(dict.fromkeys(group_ids)))
        return tuple(relations.values())

    def group_ids(self, operation: Mapping[str, Any], path: str) -> list[str]:
        group_id = _get(_get(_get(operation, "bindings"), "kafka"), "groupId")
        if not isinstance(group_id, Mapping):
            return []
        values = group_id.get("enum") or ([group_id["const"]] if "const" in group_id else [])
        ids = []
        for value in values:
            if isinstance(value, str) and 0 < len(value) <= GROUP_ID_MAX:
                ids.append(value)
            else:
                self.problem(f"{path}/bindings/kafka/groupId", f"{value!r} is not a consumer group id")
        return ids


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _tag_name(name: str) -> str:
    return slugify(name)[:TAG_MAX].strip("-")


def _valid_topic_name(name: str) -> bool:
    return bool(TOPIC_NAME_RE.fullmatch(name)) and len(name) <= TOPIC_NAME_MAX and name not in (".", "..")
