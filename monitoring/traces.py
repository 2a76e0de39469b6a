"""Traces, pure: a chain of indexed events in time order, its hops and latencies, and where it ended.

No Django here: the selectors turn rows into `TraceEventData` and the catalog's declared relations into
`NextStep`s; everything below is plain functions over those dataclasses (unit-tested without a database).

Where a chain ended, in this order of precedence:

- ``dead_letter``: its last event is a dead letter (the reason comes from the error headers);
- ``stopped``: the lineage expects a next step after the last event (a service that consumes the last
  event's topic or event type and produces something itself) and it never came;
- ``complete``: nothing is expected after the last event.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase

CREATE_TIME = 1
LOG_APPEND_TIME = 2  # Kafka's timestamp types as the index stores them

__all__ = [
    "CREATE_TIME",
    "DEFAULT_DEAD_LETTER_PATTERNS",
    "END_COMPLETE",
    "END_DEAD_LETTER",
    "END_STOPPED",
    "ERROR_HEADER_PREFIXES",
    "LOG_APPEND_TIME",
    "Hop",
    "NextStep",
    "Trace",
    "TraceEnd",
    "TraceEventData",
    "build_trace",
    "catalog_event_type",
    "dead_letter_reason",
    "error_headers",
    "flow_signature",
    "glob_to_regex",
    "is_dead_letter_topic",
    "percentile",
    "pretty_payload",
    "reason_group",
    "step_label",
]

END_DEAD_LETTER = "dead_letter"
END_STOPPED = "stopped"
END_COMPLETE = "complete"

DEFAULT_DEAD_LETTER_PATTERNS: tuple[str, ...] = ("*.dlq", "*.DLQ", "*dead-letter*", "*deadletter*", "*.DLT")

# Header names (lowercase prefixes) that dead-letter writers use for what went wrong: our simulator
# (error.*), Spring Kafka (kafka_dlt-*), Kafka Connect (__connect.errors.*), and the common x-exception-*.
ERROR_HEADER_PREFIXES: tuple[str, ...] = (
    "error",
    "kafka_dlt-",
    "__connect.errors.",
    "x-exception",
    "x-error",
    "exception",
    "original.",
    "dlq",
)
# Headers holding the human-readable reason, best first.
_REASON_HEADERS: tuple[str, ...] = (
    "error.message",
    "error_message",
    "kafka_dlt-exception-message",
    "__connect.errors.exception.message",
    "x-exception-message",
    "x-error-message",
    "exception.message",
    "error",
    "error.reason",
    "dlq.reason",
)
_CLASS_HEADERS: tuple[str, ...] = (
    "error.class",
    "kafka_dlt-exception-fqcn",
    "__connect.errors.exception.class.name",
    "x-exception-class",
    "exception.class",
)


# ---------------------------------------------------------------------------------------------
# Input and output dataclasses
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TraceEventData:
    """One indexed record as the trace needs it (a TraceEvent row without the ORM)."""

    correlation_id: str
    cluster: str
    topic: str
    partition: int
    offset: int
    timestamp: datetime
    key: str = ""
    event_id: str = ""
    causation_id: str = ""
    event_type: str = ""
    producer: str = ""
    payload_excerpt: str = ""
    payload_encoding: str = ""
    size: int = 0
    is_dead_letter: bool = False
    error_reason: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    # The event type as the record carried it, when the catalog calls it otherwise (event_type is
    # the catalog's name then; see catalog_event_type).
    indexed_event_type: str = ""
    timestamp_type: int = 1  # CREATE_TIME, or LOG_APPEND_TIME when the broker set the timestamp
    indexed_at: datetime | None = None  # when the trace indexer consumed the record


@dataclass(frozen=True)
class NextStep:
    """A step the declared lineage expects: `service` consumes `topic` (or `event_type` on it)."""

    service: str
    topic: str = ""
    event_type: str = ""


@dataclass(frozen=True)
class Hop:
    """One event of a trace with the latency from the event before it (None for the first)."""

    index: int
    event: TraceEventData
    latency_ms: float | None
    since_start_ms: float


@dataclass(frozen=True)
class TraceEnd:
    kind: str  # END_DEAD_LETTER, END_STOPPED or END_COMPLETE
    last_event: TraceEventData
    reason: str = ""
    error_headers: Mapping[str, str] = field(default_factory=dict)
    expected_next: tuple[NextStep, ...] = ()

    @property
    def summary(self) -> str:
        label = step_label(self.last_event)
        if self.kind == END_DEAD_LETTER:
            return f"dead-lettered on {self.last_event.topic}: {self.reason or 'no reason given'}"
        if self.kind == END_STOPPED:
            expected = ", ".join(
                f"{step.service} consuming {step.topic or step.event_type}" for step in self.expected_next
            )
            return f"stopped after {label} — expected next: {expected}"
        return f"complete after {label}"


@dataclass(frozen=True)
class Trace:
    correlation_id: str
    hops: tuple[Hop, ...]
    end: TraceEnd
    # The flow this chain follows: its steps' event types, a dead letter named by its topic instead.
    signature: tuple[str, ...] = ()
    # True when the reader stopped at a cap and later events of the chain are not in `hops`.
    truncated: bool = False

    @property
    def events(self) -> tuple[TraceEventData, ...]:
        return tuple(hop.event for hop in self.hops)

    @property
    def started_at(self) -> datetime:
        return self.hops[0].event.timestamp

    @property
    def ended_at(self) -> datetime:
        return self.hops[-1].event.timestamp

    @property
    def end_to_end_ms(self) -> float:
        return _ms(self.ended_at - self.started_at)


# ---------------------------------------------------------------------------------------------
# Building a trace
# ---------------------------------------------------------------------------------------------
def _ms(delta) -> float:
    return round(delta.total_seconds() * 1000, 3)


def _order_key(event: TraceEventData):
    # Time first; equal timestamps (same millisecond) fall back to the record's coordinates so the
    # order is the same on every call, whatever order the database returned.
    return (event.timestamp, event.cluster, event.topic, event.partition, event.offset)


def step_label(event: TraceEventData) -> str:
    """What a step is called in a flow: its event type, or its topic when the type is unknown."""
    return event.event_type or event.topic


def flow_signature(events: Iterable[TraceEventData]) -> tuple[str, ...]:
    """The flow a chain follows: the sequence of its steps (event types), in time order."""
    return tuple(step_label(event) for event in sorted(events, key=_order_key))


def build_trace(
    correlation_id: str,
    events: Iterable[TraceEventData],
    *,
    next_steps: Mapping[str, Sequence[NextStep]] | None = None,
    dead_letter_patterns: Sequence[str] = DEFAULT_DEAD_LETTER_PATTERNS,
) -> Trace | None:
    """The trace of `events` (any order; sorted by timestamp here), or None when there are none.

    `next_steps` maps a topic name or an event type name to the steps the lineage expects after an
    event on it (see the module docstring); a missing key means nothing is expected.
    """
    ordered = sorted(events, key=_order_key)
    if not ordered:
        return None
    first = ordered[0].timestamp
    hops = []
    previous = None
    for index, event in enumerate(ordered):
        latency = None if previous is None else _ms(event.timestamp - previous.timestamp)
        hops.append(Hop(index=index, event=event, latency_ms=latency, since_start_ms=_ms(event.timestamp - first)))
        previous = event
    signature = tuple(
        event.topic
        if event.is_dead_letter or is_dead_letter_topic(event.topic, dead_letter_patterns)
        else step_label(event)
        for event in ordered
    )
    return Trace(
        correlation_id=correlation_id,
        hops=tuple(hops),
        end=_trace_end(ordered, next_steps or {}, dead_letter_patterns),
        signature=signature,
    )


def _trace_end(
    ordered: Sequence[TraceEventData], next_steps: Mapping[str, Sequence[NextStep]], patterns: Sequence[str]
) -> TraceEnd:
    last = ordered[-1]
    if last.is_dead_letter or is_dead_letter_topic(last.topic, patterns):
        return TraceEnd(
            kind=END_DEAD_LETTER,
            last_event=last,
            reason=dead_letter_reason(last.headers, last.error_reason),
            error_headers=error_headers(last.headers),
        )
    expected: dict[tuple[str, str], NextStep] = {}
    for name in (last.event_type, last.topic):
        for step in next_steps.get(name, ()) if name else ():
            expected.setdefault((step.service, step.topic or step.event_type), step)
    # A consumer that did act would show up as a later event; there is none after the last one.
    if expected:
        return TraceEnd(kind=END_STOPPED, last_event=last, expected_next=tuple(expected.values()))
    return TraceEnd(kind=END_COMPLETE, last_event=last)


# ---------------------------------------------------------------------------------------------
# Dead letters
# ---------------------------------------------------------------------------------------------
def is_dead_letter_topic(topic: str, patterns: Sequence[str] = DEFAULT_DEAD_LETTER_PATTERNS) -> bool:
    return any(fnmatchcase(topic, pattern) for pattern in patterns)


def glob_to_regex(pattern: str) -> str:
    """An fnmatch pattern (``*`` and ``?`` only) as a regex both PostgreSQL and Python's `re` read alike."""
    parts = ["^"]
    for char in pattern:
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        elif char.isalnum() or char == "_":
            parts.append(char)
        else:
            parts.append("\\" + char)  # a backslash before a non-alphanumeric is that character in both
    parts.append("$")
    return "".join(parts)


def error_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers of a dead letter that say what went wrong and where (in their original order)."""
    return {name: value for name, value in (headers or {}).items() if name.lower().startswith(ERROR_HEADER_PREFIXES)}


def dead_letter_reason(headers: Mapping[str, str], error_reason: str = "") -> str:
    """The reason a record was dead-lettered: the indexer's, else the error headers' class and message."""
    if error_reason:
        return error_reason
    lowered = {name.lower(): value for name, value in (headers or {}).items()}
    message = next((lowered[name] for name in _REASON_HEADERS if lowered.get(name)), "")
    error_class = next((lowered[name] for name in _CLASS_HEADERS if lowered.get(name)), "")
    short_class = error_class.rsplit(".", 1)[-1]
    if message and short_class:
        return f"{short_class}: {message}"
    return message or short_class


_VARIABLE_PARTS = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"  # UUIDs
    r"|\b[0-9a-fA-F]{16,}\b"  # trace ids, hashes
    r"|\d+(?:\.\d+)?"  # numbers: ids, amounts
)


def reason_group(reason: str) -> str:
    """A reason with its variable parts (ids, numbers) replaced, so "order 12 failed" and "order 13 failed" group."""
    return _VARIABLE_PARTS.sub("…", reason.strip()) or "no reason given"


# ---------------------------------------------------------------------------------------------
# Payloads and statistics
# ---------------------------------------------------------------------------------------------
def pretty_payload(excerpt: str, encoding: str = "") -> tuple[str, bool]:
    """The excerpt for reading, and whether it is JSON: JSON indented, anything else as it came.

    A truncated JSON excerpt does not parse and is shown as it came. The result is text; the template
    escapes it.
    """
    if not excerpt:
        return "", False
    if encoding in ("", "json", "text") and excerpt.lstrip()[:1] in ("{", "["):
        try:
            return json.dumps(json.loads(excerpt), indent=2, ensure_ascii=False, sort_keys=False), True
        except ValueError:
            pass
    return excerpt, False


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) of `values` by linear interpolation (NumPy's default), None if empty."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be between 0 and 100, not {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def catalog_event_type(event_type: str, *, catalog_names: Collection[str], aliases: Mapping[str, str]) -> str:
    """The catalog's name for an indexed event type.

    A configured alias first; then the type itself when the catalog has an event type of that
    name; then, for a dotted name such as a CloudEvents type (``io.eventscope.shop.ShipmentCreated``),
    its last segment when the catalog has that (``ShipmentCreated``). Otherwise the type unchanged.
    """
    if not event_type:
        return event_type
    alias = aliases.get(event_type)
    if isinstance(alias, str) and alias:
        return alias
    if event_type in catalog_names:
        return event_type
    last = event_type.rsplit(".", 1)[-1]
    return last if last and last in catalog_names else event_type
