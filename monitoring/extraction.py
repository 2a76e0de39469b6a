"""Correlation-ID extraction: what one Kafka record says about the chain it belongs to (pure, no ORM, no I/O).

The indexer calls `extract_fields()` for every record it consumes (`extract()` takes a
`eventscope.kafka.types.Record`), so this module is plain functions over plain data (a record's
fields in, an `Extracted` named tuple out), fast on the common paths, and it never raises: a record
it cannot read comes back with an empty correlation id and a `skip_reason` the indexer counts. The
commonest record, a bare JSON object without headers whose id sits at a payload path, takes a fast
path that gives exactly what the general one would (a property test holds them to it).

The correlation id is looked for by these rules, in this order; the first that yields one wins:

1. configured headers (`ExtractionRules.correlation_headers`, names compared case-insensitively);
2. the trace id of a W3C ``traceparent`` header;
3. Zipkin ``b3`` (single header) and ``X-B3-TraceId``;
4. Jaeger ``uber-trace-id``;
5. a CloudEvents structured-mode body (its ``correlationid`` extension attribute);
6. dotted JSON paths in the body (per topic pattern first, then ``"*"``), also inside a CloudEvents
   ``data`` object; registry-framed payloads (magic byte 0 + 4-byte schema id) are decoded through
   the caller's `PayloadDecoder` first and searched with the same paths;
7. the record key, on topics matching `ExtractionRules.key_topics`.

Decisions worth knowing:

- Trace ids from b3 and Jaeger are normalised to 32 lowercase hex digits, left-padded with zeros,
  exactly as OpenTelemetry's propagators do. A chain whose 64-bit Zipkin trace id crosses a service
  that speaks W3C (where the id is padded to 32 digits) therefore keeps one correlation id.
- ``skip_reason`` is "" exactly when a correlation id was found. Otherwise it names the first problem
  met (e.g. "malformed traceparent" even if the payload was also unreadable), else "no correlation id".
- ``producer`` is a short service name: for CloudEvents the last path segment of ``source``
  (``/shop/payments`` -> ``payments``, ``urn:svc:billing`` -> ``billing``); the full source stays in
  ``headers["ce_source"]`` (binary mode) or in the payload excerpt (structured mode).
- ``event_type`` from ``ce_type`` is kept as given (``io.eventscope.shop.OrderPlaced``): the header
  is the CloudEvents type, and it wins over a body field, as the header is readable without a registry.
- Text outputs never contain NUL (PostgreSQL rejects it in text and jsonb) and respect the index's
  column lengths; a correlation id longer than `MAX_ID_CHARS` is rejected rather than cut, since a
  cut id could merge two chains.
- The payload excerpt is the body's own text, not re-indented (the trace page pretty-prints; doing
  it for every indexed record would cost more than the rest of extraction), a compact JSON dump for
  payloads the decoder turned into a dict, and a hex dump for binary; at most ``excerpt_bytes``
  UTF-8 bytes including the "…" marker, never cut inside a character.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from types import MappingProxyType
from typing import Any, NamedTuple

import orjson

from eventscope.kafka.types import Record

__all__ = [
    "DEFAULT_CORRELATION_HEADERS",
    "DEFAULT_DEAD_LETTER_PATTERNS",
    "DEFAULT_PAYLOAD_PATHS",
    "ERROR_REASON_HEADERS",
    "MAX_HEADER_CHARS",
    "MAX_ID_CHARS",
    "Extracted",
    "ExtractionRules",
    "PayloadDecoder",
    "SkipReason",
    "extract",
    "extract_fields",
]

# ---------------------------------------------------------------------------------------------
# Defaults and limits
# ---------------------------------------------------------------------------------------------
DEFAULT_CORRELATION_HEADERS: tuple[str, ...] = (
    "correlation_id",
    "x-correlation-id",
    "kafka_correlationId",
    "ce_correlationid",
)
DEFAULT_PAYLOAD_PATHS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"*": ("correlation_id", "correlationId", "metadata.correlationId")}
)
DEFAULT_DEAD_LETTER_PATTERNS: tuple[str, ...] = ("*.dlq", "*.DLQ", "*dead-letter*", "*deadletter*", "*.DLT", "*-dlt")

# First non-empty one wins. Simulator, Spring Kafka (DLT), Kafka Connect, Spring Cloud Stream (RabbitMQ
# binder style), then class names when no message says more.
ERROR_REASON_HEADERS: tuple[str, ...] = (
    "error.message",
    "error.class",
    "kafka_dlt-exception-message",
    "__connect.errors.exception.message",
    "x-exception-message",
    "__dlq.errors.exception.message",
    "kafka_dlt-exception-fqcn",
    "__connect.errors.exception.class.name",
    "__dlq.errors.exception.class.name",
    "x-exception-fqcn",
)

_ERROR_HEADERS = frozenset(ERROR_REASON_HEADERS)
_PRODUCER_HEADERS = frozenset(("producer", "x-producer", "service"))

# Column lengths of monitoring.models.TraceEvent (kept here so this module needs no Django).
MAX_ID_CHARS = 255
_MAX_TYPE_CHARS = 200
_MAX_REASON_CHARS = 500
MAX_HEADER_CHARS = 1024
EXCERPT_CUT_MARKER = "…"  # ends every excerpt that was cut short
_ELLIPSIS = EXCERPT_CUT_MARKER
_ELLIPSIS_BYTES = len(_ELLIPSIS.encode())


class SkipReason:
    """Why no correlation id was found: stable strings, so the indexer can count them."""

    EMPTY_RECORD = "empty record"
    NO_CORRELATION_ID = "no correlation id"
    MALFORMED_TRACEPARENT = "malformed traceparent"
    MALFORMED_B3 = "malformed b3"
    MALFORMED_UBER_TRACE_ID = "malformed uber-trace-id"
    ID_TOO_LONG = "correlation id too long"
    PAYLOAD_NOT_JSON = "payload not JSON"
    PAYLOAD_NOT_DECODED = "framed payload not decoded"
    PAYLOAD_DECODE_FAILED = "framed payload decode failed"
    INTERNAL_ERROR = "internal error"


# (decoded dict or None, encoding name such as "avro" or "protobuf")
PayloadDecoder = Callable[[bytes], tuple[dict | None, str]]


# ---------------------------------------------------------------------------------------------
# Public data
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _TopicRules:
    paths: tuple[tuple[str, tuple[str, ...]], ...]  # (dotted path, its parts)
    is_dead_letter: bool
    key_is_correlation: bool


@dataclass(frozen=True)
class ExtractionRules:
    """How to find correlation ids; build it once per cluster (`from_settings`) and reuse it."""

    correlation_headers: tuple[str, ...] = DEFAULT_CORRELATION_HEADERS
    payload_paths: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: DEFAULT_PAYLOAD_PATHS)
    key_topics: tuple[str, ...] = ()
    dead_letter_patterns: tuple[str, ...] = DEFAULT_DEAD_LETTER_PATTERNS
    excerpt_bytes: int = 2048
    # Derived once: lowercased header names, and per-topic decisions (topics are few, records many).
    _header_names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _topics: dict[str, _TopicRules] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        names = tuple(dict.fromkeys(name.lower() for name in self.correlation_headers))
        object.__setattr__(self, "_header_names", names)

    def __hash__(self) -> int:  # payload_paths is a mapping, which the generated hash could not hash
        paths = tuple((pattern, tuple(p)) for pattern, p in self.payload_paths.items())
        return hash((self.correlation_headers, paths, self.key_topics, self.dead_letter_patterns, self.excerpt_bytes))

    @classmethod
    def from_settings(
        cls,
        *,
        correlation_headers: Iterable[str] = (),
        payload_paths: Mapping[str, Iterable[str] | str] | None = None,
        key_topics: Iterable[str] = (),
        dead_letter_patterns: Iterable[str] = (),
        excerpt_bytes: int = 2048,
    ) -> ExtractionRules:
        """Rules from `TracingSettings` fields: configured extras merged with the defaults.

        Extra headers and dead-letter patterns come after the built-in ones. Per-topic payload
        paths are tried before the ``"*"`` paths anyway; configured ``"*"`` paths come after the
        default ones, as extra headers do. Entries that are not strings (hand-edited JSON) are dropped.
        """
        merged_paths: dict[str, tuple[str, ...]] = {}
        for pattern, paths in (payload_paths or {}).items():
            if isinstance(pattern, str) and pattern:
                merged_paths[pattern] = _strings([paths] if isinstance(paths, str) else paths)
        merged_paths["*"] = _strings((*DEFAULT_PAYLOAD_PATHS["*"], *merged_paths.get("*", ())))
        return cls(
            correlation_headers=_strings((*DEFAULT_CORRELATION_HEADERS, *correlation_headers)),
            payload_paths=MappingProxyType(merged_paths),
            key_topics=_strings(key_topics),
            dead_letter_patterns=_strings((*DEFAULT_DEAD_LETTER_PATTERNS, *dead_letter_patterns)),
            excerpt_bytes=max(0, int(excerpt_bytes)),
        )

    def _for_topic(self, topic: str) -> _TopicRules:
        rules = self._topics.get(topic)
        if rules is None:
            rules = self._compute_topic_rules(topic)
            if len(self._topics) > 10_000:  # topics are few; a bound keeps a pathological stream cheap
                self._topics.clear()
            self._topics[topic] = rules
        return rules

    def _compute_topic_rules(self, topic: str) -> _TopicRules:
        ordered: list[str] = []
        for pattern, paths in self.payload_paths.items():
            if pattern != "*" and fnmatchcase(topic, pattern):
                ordered.extend([paths] if isinstance(paths, str) else paths)
        fallback = self.payload_paths.get("*", ())
        ordered.extend([fallback] if isinstance(fallback, str) else fallback)
        return _TopicRules(
            paths=tuple((path, tuple(path.split("."))) for path in dict.fromkeys(ordered) if path),
            is_dead_letter=any(fnmatchcase(topic, pattern) for pattern in self.dead_letter_patterns),
            key_is_correlation=any(fnmatchcase(topic, pattern) for pattern in self.key_topics),
        )


class Extracted(NamedTuple):
    """What the index keeps of one record. Strings are "" when unknown.

    A named tuple rather than a frozen dataclass: one is built per indexed record, and a frozen
    dataclass's __init__ costs about as much as the rest of the fast path.
    """

    correlation_id: str | None
    source: str  # which rule found it: "header:<name>", "traceparent", "b3", "uber-trace-id", "cloudevents",
    # "payload:<path>", "<encoding>:<path>" for decoded framed payloads, "key"; "" when none
    event_id: str
    causation_id: str
    event_type: str
    producer: str
    payload_encoding: str  # "json", "avro", "protobuf", "text", "binary", "empty" (or the decoder's name)
    payload_excerpt: str
    is_dead_letter: bool
    error_reason: str
    headers: dict[str, str]
    skip_reason: str


# ---------------------------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------------------------
def extract(record: Record, rules: ExtractionRules, *, decode_framed: PayloadDecoder | None = None) -> Extracted:
    """Everything the index keeps of `record`; never raises (an unreadable record gets a skip_reason)."""
    return extract_fields(record.topic, record.key, record.value, record.headers, rules, decode_framed)


def extract_fields(
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: Iterable[tuple[str, Any]] | None,
    rules: ExtractionRules,
    decode_framed: PayloadDecoder | None = None,
) -> Extracted:
    """`extract` over a record's fields (as `EventConsumer.poll_raw` gives them), without building a Record."""
    try:
        if not headers and value and value[:1] == b"{":
            # The common case of a bare JSON object: no header rules, no CloudEvents headers.
            found = _extract_plain_json(rules._for_topic(topic), value, rules.excerpt_bytes)
            if found is not None:
                return found
        return _extract(topic, key, value, headers or (), rules, decode_framed)
    except Exception as exc:  # a bug here must not stop the indexer; the reason is counted and visible
        return Extracted(
            correlation_id=None,
            source="",
            event_id="",
            causation_id="",
            event_type="",
            producer="",
            payload_encoding="",
            payload_excerpt="",
            is_dead_letter=False,
            error_reason="",
            headers={},
            skip_reason=f"{SkipReason.INTERNAL_ERROR}: {type(exc).__name__}",
        )


def _extract_plain_json(topic_rules: _TopicRules, value: bytes, limit: int) -> Extracted | None:
    """The general path's answer for a record without headers whose value is a JSON object, found
    by a payload path; None (take the general path) for anything else, e.g. a structured CloudEvent."""
    try:
        # orjson reads UTF-8 bytes directly, about 5x faster than json here. Where the two could
        # disagree (invalid UTF-8, lone surrogates, NaN, nesting past 1024) orjson refuses, and
        # the general path answers instead; an integer beyond 64 bits is the one input it reads
        # differently (as a float), so a float at a path also goes the general way.
        body = _loads_fast(value)
    except (ValueError, RecursionError):
        return None
    if type(body) is not dict or ("specversion" in body and "id" in body and "type" in body):
        return None
    for path, parts in topic_rules.paths:
        found = body.get(path) if len(parts) == 1 else _lookup(body, parts)
        if found is None or found.__class__ is bool:
            continue
        if not isinstance(found, str | int):
            if found.__class__ is float:
                return None
            continue
        correlation_id = str(found).strip()
        if correlation_id and len(correlation_id) <= MAX_ID_CHARS:
            break
    else:
        return None  # no id (or only a too long one): the general path finds the reason
    if "\x00" in correlation_id:
        correlation_id = correlation_id.replace("\x00", "\ufffd")
    if len(value) <= limit:
        text = value.decode("utf-8")
        excerpt = text.replace("\x00", "\ufffd") if "\x00" in text else text
    else:
        excerpt = _excerpt_bytes(value, limit)
    get = body.get
    event_id = causation_id = event_type = ""
    for name in _EVENT_ID_FIELDS:
        if (found := get(name)) and found.__class__ is str:
            event_id = found
            break
    for name in _CAUSATION_ID_FIELDS:
        if (found := get(name)) and found.__class__ is str:
            causation_id = found
            break
    for name in _EVENT_TYPE_FIELDS:
        if (found := get(name)) and found.__class__ is str:
            event_type = found
            break
    return Extracted(
        correlation_id,
        f"payload:{path}",
        _cut(event_id, MAX_ID_CHARS) if event_id else "",
        _cut(causation_id, MAX_ID_CHARS) if causation_id else "",
        _cut(event_type, _MAX_TYPE_CHARS) if event_type else "",
        "",
        "json",
        excerpt,
        topic_rules.is_dead_letter,
        "",
        {},
        "",
    )


def _extract(
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: Iterable[tuple[str, Any]],
    rules: ExtractionRules,
    decode_framed: PayloadDecoder | None,
) -> Extracted:
    topic_rules = rules._for_topic(topic)

    # Headers: printable values by their own name, and the same values by lowercased name for lookups.
    # Kafka allows repeated names; the last one wins, as in Record.header() and most clients.
    printable: dict[str, str] = {}
    by_name: dict[str, str] = {}
    for name, raw in headers:
        if raw is None:
            text = ""
        elif isinstance(raw, bytes):
            text = raw.decode("utf-8", "replace")
        else:
            text = str(raw)
        if "\x00" in text:
            text = text.replace("\x00", "\ufffd")
        name = str(name)
        if "\x00" in name:
            name = name.replace("\x00", "\ufffd")
        by_name[name.lower()] = text
        printable[name] = text if len(text) <= MAX_HEADER_CHARS else text[: MAX_HEADER_CHARS - 1] + _ELLIPSIS

    payload = _read_payload(value, by_name, rules.excerpt_bytes, decode_framed)
    body = payload.body
    cloudevent = body is not None and _is_structured_cloudevent(body, by_name)

    correlation_id, source, problem = _find_correlation_id(key, rules, topic_rules, by_name, payload, cloudevent)

    if correlation_id is None:
        if problem:
            skip_reason = problem
        elif not value and not by_name and not printable and not key:
            skip_reason = SkipReason.EMPTY_RECORD
        else:
            skip_reason = SkipReason.NO_CORRELATION_ID
    else:
        skip_reason = ""

    # What the record says about itself: headers first (readable without decoding), then the body.
    get = by_name.get
    data = body.get("data") if cloudevent else None
    if not isinstance(data, dict):
        data = None
    if cloudevent:
        event_id = get("ce_id") or _body_text(body, "id")
    else:
        event_id = get("ce_id") or _body_text(body, *_EVENT_ID_FIELDS)
    causation_id = get("causation_id") or get("ce_causationid") or _body_text(body, *_CAUSATION_ID_FIELDS)
    event_type = get("ce_type") or _body_text(body, *_EVENT_TYPE_FIELDS)
    if data is not None:
        causation_id = causation_id or _body_text(data, "causation_id", "causationId")
        event_type = event_type or _body_text(data, "event_type", "eventType")
    if not event_type:
        event_type = get("event_type")
    source_attr = get("ce_source") or (_body_text(body, "source") if cloudevent else "")
    if source_attr:
        producer = _service_name(source_attr)
    elif by_name and not _PRODUCER_HEADERS.isdisjoint(by_name):
        producer = get("producer") or get("x-producer") or get("service")
    else:
        producer = ""

    error_reason = ""
    if by_name and not _ERROR_HEADERS.isdisjoint(by_name):
        for name in ERROR_REASON_HEADERS:
            value = get(name)
            if value and value.strip():
                error_reason = _cut(value.strip(), _MAX_REASON_CHARS)
                break

    return Extracted(
        correlation_id=correlation_id,
        source=source,
        event_id=_cut(event_id, MAX_ID_CHARS) if event_id else "",
        causation_id=_cut(causation_id, MAX_ID_CHARS) if causation_id else "",
        event_type=_cut(event_type, _MAX_TYPE_CHARS) if event_type else "",
        producer=_cut(producer, _MAX_TYPE_CHARS) if producer else "",
        payload_encoding=payload.encoding,
        payload_excerpt=payload.excerpt,
        is_dead_letter=topic_rules.is_dead_letter,
        error_reason=error_reason,
        headers=printable,
        skip_reason=skip_reason,
    )


def _find_correlation_id(
    record_key: bytes | None,
    rules: ExtractionRules,
    topic_rules: _TopicRules,
    by_name: dict[str, str],
    payload: _Payload,
    cloudevent: bool,
) -> tuple[str | None, str, str]:
    """(correlation id, source, first problem met); the id is None when no rule found one."""
    problem = ""

    def candidate(value: Any) -> str | None:
        nonlocal problem
        if isinstance(value, bool) or not isinstance(value, str | int):
            return None
        text = str(value).strip()
        if not text:
            return None
        if len(text) > MAX_ID_CHARS:
            problem = problem or SkipReason.ID_TOO_LONG
            return None
        return text.replace("\x00", "\ufffd") if "\x00" in text else text

    if by_name:
        for name in rules._header_names:
            if (raw := by_name.get(name)) and (value := candidate(raw)) is not None:
                return value, f"header:{name}", ""
        if (raw := by_name.get("traceparent")) is not None:
            if trace_id := _traceparent_trace_id(raw):
                return trace_id, "traceparent", ""
            problem = problem or SkipReason.MALFORMED_TRACEPARENT
        if (raw := by_name.get("b3")) is not None:
            trace_id, malformed = _b3_trace_id(raw)
            if trace_id:
                return trace_id, "b3", ""
            if malformed:
                problem = problem or SkipReason.MALFORMED_B3
        if (raw := by_name.get("x-b3-traceid")) is not None:
            if trace_id := _hex_trace_id(raw.strip(), exact=True):
                return trace_id, "b3", ""
            problem = problem or SkipReason.MALFORMED_B3
        if (raw := by_name.get("uber-trace-id")) is not None:
            if trace_id := _jaeger_trace_id(raw):
                return trace_id, "uber-trace-id", ""
            problem = problem or SkipReason.MALFORMED_UBER_TRACE_ID

    body = payload.body
    if body is not None:
        if cloudevent and (value := candidate(body.get("correlationid"))) is not None:
            return value, "cloudevents", ""
        prefix = payload.source_prefix
        for path, parts in topic_rules.paths:
            if (value := candidate(_lookup(body, parts))) is not None:
                return value, f"{prefix}:{path}", ""
        if cloudevent and isinstance(data := body.get("data"), dict):
            for path, parts in topic_rules.paths:
                if (value := candidate(_lookup(data, parts))) is not None:
                    return value, f"{prefix}:data.{path}", ""
    elif payload.problem:
        problem = problem or payload.problem

    if topic_rules.key_is_correlation and record_key:
        try:
            key = record_key.decode("utf-8")
        except UnicodeDecodeError:
            key = ""
        if (value := candidate(key)) is not None:
            return value, "key", ""
    return None, "", problem


def _lookup(body: dict, parts: tuple[str, ...]) -> Any:
    value: Any = body
    for part in parts:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
        if value is None:
            return None
    return value


def _body_text(body: dict | None, *names: str) -> str:
    if body is None:
        return ""
    for name in names:
        value = body.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def _service_name(source: str) -> str:
    """The last non-empty segment of a CloudEvents source: "/shop/payments" and "urn:x:payments" give "payments"."""
    trimmed = source.strip().rstrip("/")
    short = re.split(r"[/:]", trimmed)[-1] if trimmed else ""
    return short or source.strip()


def _is_structured_cloudevent(body: dict, by_name: dict[str, str]) -> bool:
    content_type = by_name.get("content-type") or by_name.get("content_type") or ""
    if "cloudevents" in content_type.lower():
        return True
    return "specversion" in body and "id" in body and "type" in body


# ---------------------------------------------------------------------------------------------
# Trace headers
# ---------------------------------------------------------------------------------------------
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?", re.DOTALL)
_HEX = re.compile(r"[0-9a-fA-F]+")
_ZERO_TRACE_ID = "0" * 32


def _traceparent_trace_id(value: str) -> str | None:
    """The W3C trace id, or None when the header is invalid (version ff, zero ids, 00 with extra fields)."""
    match = _TRACEPARENT.fullmatch(value.strip())
    if match is None:
        return None
    version, trace_id, span_id, _flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    if trace_id == _ZERO_TRACE_ID or span_id == "0" * 16:
        return None
    return trace_id


def _hex_trace_id(value: str, *, exact: bool) -> str | None:
    """A trace id as 32 lowercase hex, left-padded; `exact` accepts only 16 or 32 digits (B3), else 1-32 (Jaeger)."""
    if not value or len(value) > 32 or not _HEX.fullmatch(value):
        return None
    if exact and len(value) not in (16, 32):
        return None
    trace_id = value.lower().rjust(32, "0")
    return None if trace_id == _ZERO_TRACE_ID else trace_id


def _b3_trace_id(value: str) -> tuple[str | None, bool]:
    """(trace id, malformed) of a single ``b3`` header; a sampling-only value ("0", "1", "d") is not malformed."""
    value = value.strip()
    if value in ("0", "1", "d", ""):
        return None, False
    parts = value.split("-")
    if len(parts) < 2 or len(parts) > 4:
        return None, True
    trace_id = _hex_trace_id(parts[0], exact=True)
    if trace_id is None or not (len(parts[1]) == 16 and _HEX.fullmatch(parts[1])):
        return None, True
    return trace_id, False


def _jaeger_trace_id(value: str) -> str | None:
    value = value.strip()
    if "%" in value:  # HTTP carriers URL-encode the colons, and some bridges copy that to Kafka
        value = value.replace("%3A", ":").replace("%3a", ":")
    parts = value.split(":")
    if len(parts) != 4:
        return None
    return _hex_trace_id(parts[0], exact=False)


# ---------------------------------------------------------------------------------------------
# Payloads
# ---------------------------------------------------------------------------------------------
class _Payload(NamedTuple):  # built per record: a named tuple is far cheaper than a frozen dataclass
    encoding: str
    excerpt: str
    body: dict | None  # a JSON object or a decoded framed payload; None when there is none
    source_prefix: str  # "payload", or the decoder's encoding name for framed payloads
    problem: str  # why a non-empty payload gave no body


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_EMPTY = _Payload("empty", "", None, "payload", "")


def _read_payload(
    value: bytes | None, by_name: dict[str, str], limit: int, decode_framed: PayloadDecoder | None
) -> _Payload:
    if not value:
        return _EMPTY
    if value[:16].lstrip()[:1] in (b"{", b"["):
        parsed = _json_or_none(value)  # None also for text that only looks like JSON: classified below
        if parsed is not None:
            return _Payload(
                "json", _excerpt_bytes(value, limit), parsed if isinstance(parsed, dict) else None, "payload", ""
            )
    if value[0] == 0 and len(value) >= 5:
        return _read_framed(value, by_name, limit, decode_framed)
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return _Payload("binary", _excerpt_hex(value, limit), None, "payload", SkipReason.PAYLOAD_NOT_JSON)
    if _CONTROL.search(text):
        return _Payload("binary", _excerpt_hex(value, limit), None, "payload", SkipReason.PAYLOAD_NOT_JSON)
    return _Payload("text", _excerpt_bytes(value, limit), None, "payload", SkipReason.PAYLOAD_NOT_JSON)


def _read_framed(value: bytes, by_name: dict[str, str], limit: int, decode_framed: PayloadDecoder | None) -> _Payload:
    """A Confluent wire-format payload: magic byte 0, a 4-byte schema id, then the serialised body."""
    if decode_framed is not None:
        try:
            decoded, encoding = decode_framed(value)
        except Exception:  # the decoder is the caller's code (registry I/O, schemas): contain its failures
            decoded, encoding = None, ""
        encoding = str(encoding or _framed_guess(by_name))
        if isinstance(decoded, dict):
            try:
                text = json.dumps(decoded, ensure_ascii=False, default=str, separators=(", ", ": "))
            except (ValueError, TypeError, RecursionError):
                text = repr(decoded)
            return _Payload(encoding, _excerpt_text(text, limit), decoded, encoding, "")
        return _Payload(encoding, _excerpt_hex(value, limit), None, encoding, SkipReason.PAYLOAD_DECODE_FAILED)
    # JSON Schema serialisers frame plain JSON text: readable without the registry.
    if value[5:6] == b"{" and isinstance(parsed := _json_or_none(value[5:]), dict):
        return _Payload("json", _excerpt_bytes(value[5:], limit), parsed, "payload", "")
    return _Payload(_framed_guess(by_name), _excerpt_hex(value, limit), None, "payload", SkipReason.PAYLOAD_NOT_DECODED)


# Body fields naming the event, its cause and its type, in order of preference.
_EVENT_ID_FIELDS = ("event_id", "eventId")
_CAUSATION_ID_FIELDS = ("causation_id", "causationId", "causationid")
_EVENT_TYPE_FIELDS = ("event_type", "eventType", "type")
_decode_json = json.JSONDecoder().decode
_loads_fast = orjson.loads


def _json_or_none(value: bytes) -> Any:
    # Only UTF-8: RFC 8259 requires it of JSON exchanged between systems, and it skips json.loads' sniffing.
    try:
        return _decode_json(value.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; deep nesting recurses
        return None


def _framed_guess(by_name: dict[str, str]) -> str:
    content_type = (by_name.get("content-type") or by_name.get("content_type") or "").lower()
    if "protobuf" in content_type:
        return "protobuf"
    if "avro" in content_type or not content_type:
        # Undeclared framed payloads are Avro far more often than anything else in Confluent fleets.
        return "avro"
    return "binary"


# ---------------------------------------------------------------------------------------------
# Excerpts and text limits
# ---------------------------------------------------------------------------------------------
def _excerpt_bytes(value: bytes, limit: int) -> str:
    """`value` as text within `limit` UTF-8 bytes, "…" included, never cut inside a character."""
    if len(value) <= limit:
        text = value.decode("utf-8", "replace")
        if len(text.encode()) <= limit:  # replacement characters can make invalid bytes longer
            return text.replace("\x00", "\ufffd") if "\x00" in text else text
    if limit < _ELLIPSIS_BYTES:
        return ""
    return _excerpt_text(value[: limit + 4].decode("utf-8", "replace"), limit)


def _excerpt_text(text: str, limit: int) -> str:
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    encoded = text.encode("utf-8", "replace")
    if len(encoded) <= limit:
        return text
    if limit < _ELLIPSIS_BYTES:
        return ""
    # Dropping an incomplete trailing sequence is all "ignore" can do here: the rest is valid UTF-8.
    return encoded[: limit - _ELLIPSIS_BYTES].decode("utf-8", "ignore") + _ELLIPSIS


def _excerpt_hex(value: bytes, limit: int) -> str:
    """A hex dump ("00 00 00 00 2a 02 ..."), within `limit` bytes like the text excerpts."""
    if len(value) * 3 - 1 <= limit:
        return value.hex(" ")
    if limit < _ELLIPSIS_BYTES + 2:
        return ""
    count = (limit - _ELLIPSIS_BYTES) // 3  # "xx " per byte, the last space holds the marker's place
    return value[:count].hex(" ") + " " + _ELLIPSIS if count else _ELLIPSIS


def _cut(text: str, max_chars: int) -> str:
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return text if len(text) <= max_chars else text[: max_chars - 1] + _ELLIPSIS


def _strings(values: Iterable[Any]) -> tuple[str, ...]:
    """Non-empty strings of `values`, first occurrence kept (case-sensitive dedupe is enough here)."""
    return tuple(dict.fromkeys(v for v in values if isinstance(v, str) and v))
