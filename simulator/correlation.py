"""Correlation-ID conventions: how a record carries its chain's correlation ID, read and written as plain data.

Real fleets do not agree on one way to carry a correlation ID, and the demo shop deliberately mixes
four (which service uses which is the table `simulator.topology.SERVICE_CONVENTION`):

=============  ==========================================================================================
convention     where the ID travels
=============  ==========================================================================================
header         a plain ``correlation_id`` record header
traceparent    a W3C Trace Context ``traceparent`` header, ``00-<trace id>-<span id>-01``; the trace id
               (32 lowercase hex) *is* the correlation ID
cloudevents    CloudEvents binary-mode Kafka headers (``ce_specversion``, ``ce_id``, ``ce_type``,
               ``ce_source``, ``ce_time``) with the ID in the ``ce_correlationid`` extension attribute
payload        a ``correlation_id`` field of the JSON body
=============  ==========================================================================================

The functions here take and return plain data (headers as ``(name, bytes)`` pairs, bodies as
dicts), so they are unit-tested without Kafka and can serve any code that inspects records.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "CE_CORRELATION_HEADER",
    "CE_SPEC_VERSION",
    "CORRELATION_HEADER",
    "PAYLOAD_FIELD",
    "TRACEPARENT_HEADER",
    "Convention",
    "Correlation",
    "CorrelationCarrier",
    "EventIdentity",
    "Traceparent",
    "encode_correlation",
    "extract_correlation",
    "find_correlations",
    "format_traceparent",
    "parse_traceparent",
]

Headers = Sequence[tuple[str, bytes | str | None]]

CORRELATION_HEADER = "correlation_id"
TRACEPARENT_HEADER = "traceparent"
CE_CORRELATION_HEADER = "ce_correlationid"
CE_SPEC_VERSION = "1.0"
PAYLOAD_FIELD = "correlation_id"

# Where the CloudEvents `type` and `source` attributes point; reverse-DNS type names are what the
# CloudEvents spec recommends, so consumers can route on the type without parsing the body.
CE_TYPE_PREFIX = "io.eventscope.shop."
CE_SOURCE_PREFIX = "/shop/"


class Convention(StrEnum):
    """One way of carrying a correlation ID on a Kafka record."""

    HEADER = "header"
    TRACEPARENT = "traceparent"
    CLOUDEVENTS = "cloudevents"
    PAYLOAD = "payload"


@dataclass(frozen=True)
class Correlation:
    """A correlation ID found on a record, and the convention it was found in."""

    correlation_id: str
    convention: Convention


@dataclass(frozen=True)
class EventIdentity:
    """What a convention may need to know about the event it stamps (CloudEvents and traceparent do)."""

    event_id: str
    event_type: str
    service: str
    occurred_at: str  # RFC 3339


@dataclass(frozen=True)
class CorrelationCarrier:
    """What to add to an outgoing record: headers, and fields to merge into its JSON body."""

    headers: tuple[tuple[str, bytes], ...]
    payload_fields: Mapping[str, str]


# ---------------------------------------------------------------------------------------------
# W3C Trace Context
# ---------------------------------------------------------------------------------------------
_HEX = re.compile(r"[0-9a-f]+")


@dataclass(frozen=True)
class Traceparent:
    """A parsed W3C ``traceparent`` header."""

    version: str
    trace_id: str
    parent_id: str
    flags: str


def parse_traceparent(value: str) -> Traceparent:
    """Parse a ``traceparent`` header value; raise ValueError for anything the W3C spec calls invalid."""
    parts = value.strip().split("-")
    if len(parts) < 4:
        raise ValueError(f"traceparent needs 4 dash-separated fields, got {value!r}")
    version, trace_id, parent_id, flags = parts[:4]
    if not (len(version) == 2 and _HEX.fullmatch(version)) or version == "ff":
        raise ValueError(f"traceparent version must be 2 lowercase hex digits other than ff, got {version!r}")
    # Version 00 has exactly four fields; later versions may append fields, which a 00 parser skips.
    if version == "00" and len(parts) != 4:
        raise ValueError(f"traceparent version 00 has exactly 4 fields, got {value!r}")
    _check_ids(trace_id, parent_id)
    if not (len(flags) == 2 and _HEX.fullmatch(flags)):
        raise ValueError(f"traceparent flags must be 2 lowercase hex digits, got {flags!r}")
    return Traceparent(version=version, trace_id=trace_id, parent_id=parent_id, flags=flags)


def format_traceparent(trace_id: str, parent_id: str, *, sampled: bool = True) -> str:
    """A version-00 ``traceparent`` value; raise ValueError if the ids are not valid W3C ids."""
    _check_ids(trace_id, parent_id)
    return f"00-{trace_id}-{parent_id}-{'01' if sampled else '00'}"


def _check_ids(trace_id: str, parent_id: str) -> None:
    if not (len(trace_id) == 32 and _HEX.fullmatch(trace_id)) or trace_id == "0" * 32:
        raise ValueError(f"traceparent trace id must be 32 lowercase hex digits, not all zero, got {trace_id!r}")
    if not (len(parent_id) == 16 and _HEX.fullmatch(parent_id)) or parent_id == "0" * 16:
        raise ValueError(f"traceparent parent id must be 16 lowercase hex digits, not all zero, got {parent_id!r}")


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------
def find_correlations(headers: Headers | None, payload: Any) -> list[Correlation]:
    """Every correlation ID a record carries, one per convention found (a well-behaved record has one).

    `headers` are the record's headers as Kafka clients return them; `payload` is its decoded JSON
    body (anything that is not a dict carries no payload field). A malformed ``traceparent`` counts
    as absent.
    """
    found = []
    header_values = _last_header_values(headers or ())
    if value := header_values.get(CORRELATION_HEADER):
        found.append(Correlation(value, Convention.HEADER))
    if value := header_values.get(CE_CORRELATION_HEADER):
        found.append(Correlation(value, Convention.CLOUDEVENTS))
    if value := header_values.get(TRACEPARENT_HEADER):
        # An invalid traceparent is ignored, not fatal, as W3C Trace Context asks of a receiver.
        with suppress(ValueError):
            found.append(Correlation(parse_traceparent(value).trace_id, Convention.TRACEPARENT))
    if isinstance(payload, Mapping) and isinstance(value := payload.get(PAYLOAD_FIELD), str) and value:
        found.append(Correlation(value, Convention.PAYLOAD))
    return found


def extract_correlation(headers: Headers | None, payload: Any) -> Correlation | None:
    """The record's correlation ID, whichever convention its producer used; None if it carries none.

    If a record carries several (it should not), the first of header, CloudEvents, traceparent,
    payload wins: explicit correlation headers before tracing and before the body.
    """
    found = find_correlations(headers, payload)
    return found[0] if found else None


def _last_header_values(headers: Headers) -> dict[str, str]:
    # Kafka allows repeated header names; like Java's Headers.lastHeader, the last one wins.
    values = {}
    for name, raw in headers:
        if raw is None:
            continue
        values[name] = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
    return values


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------
def encode_correlation(
    convention: Convention, correlation_id: str, event: EventIdentity, *, content_type: str = "application/json"
) -> CorrelationCarrier:
    """How a record of `event` carries `correlation_id` under `convention`.

    `content_type` is the body's media type, which CloudEvents binary mode states in a header
    (the other conventions ignore it). Raises ValueError when the ID cannot be carried that way
    (traceparent needs 32 lowercase hex).
    """
    if not correlation_id:
        raise ValueError("the correlation id is empty")
    match convention:
        case Convention.HEADER:
            return CorrelationCarrier(headers=((CORRELATION_HEADER, correlation_id.encode()),), payload_fields={})
        case Convention.TRACEPARENT:
            # The span id only has to be unique per record: the event id's first 64 bits are (a
            # version-4 UUID has a fixed nibble in them, so they are never all zero).
            span_id = event.event_id.replace("-", "")[:16].lower()
            value = format_traceparent(correlation_id, span_id)
            return CorrelationCarrier(headers=((TRACEPARENT_HEADER, value.encode()),), payload_fields={})
        case Convention.CLOUDEVENTS:
            headers = (
                ("ce_specversion", CE_SPEC_VERSION),
                ("ce_id", event.event_id),
                ("ce_type", CE_TYPE_PREFIX + event.event_type),
                ("ce_source", CE_SOURCE_PREFIX + event.service),
                ("ce_time", event.occurred_at),
                (CE_CORRELATION_HEADER, correlation_id),
                # Binary mode maps the datacontenttype attribute to the plain content-type header.
                ("content-type", content_type),
            )
            encoded = tuple((name, value.encode()) for name, value in headers)
            return CorrelationCarrier(headers=encoded, payload_fields={})
        case Convention.PAYLOAD:
            return CorrelationCarrier(headers=(), payload_fields={PAYLOAD_FIELD: correlation_id})
    raise ValueError(f"unknown convention {convention!r}")
