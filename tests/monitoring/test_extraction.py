"""Correlation-ID extraction: every convention, their precedence, payload encodings, dead letters (no Kafka, no ORM)."""

from __future__ import annotations

import io
import json
import struct
import uuid

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventscope.kafka.types import Record, TimestampType
from monitoring.extraction import (
    DEFAULT_CORRELATION_HEADERS,
    DEFAULT_DEAD_LETTER_PATTERNS,
    Extracted,
    ExtractionRules,
    SkipReason,
    extract,
)
from simulator.correlation import Convention, EventIdentity, encode_correlation

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
RULES = ExtractionRules()


def record(
    value: bytes | None = b"",
    headers: dict[str, bytes | None] | list[tuple[str, bytes | None]] = (),
    *,
    topic: str = "shop.orders.placed",
    key: bytes | None = b"ord-1",
) -> Record:
    pairs = tuple(headers.items()) if isinstance(headers, dict) else tuple(headers)
    return Record(topic, 0, 42, 1_700_000_000_000, TimestampType.CREATE_TIME, key, value, pairs)


def as_json(body: dict) -> bytes:
    return json.dumps(body).encode()


# ---------------------------------------------------------------------------------------------
# Headers
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", DEFAULT_CORRELATION_HEADERS)
def test_each_default_correlation_header(name):
    found = extract(record(b"", {name: b"corr-1"}), RULES)

    assert (found.correlation_id, found.source, found.skip_reason) == ("corr-1", f"header:{name.lower()}", "")


def test_header_names_match_case_insensitively_and_values_are_stripped():
    found = extract(record(b"", {"Correlation_ID": b"  corr-1 \n"}), RULES)

    assert found.correlation_id == "corr-1"
    assert found.headers == {"Correlation_ID": "  corr-1 \n"}


def test_configured_headers_come_after_the_built_in_ones():
    rules = ExtractionRules.from_settings(correlation_headers=["X-Request-Id"])

    assert extract(record(b"", {"x-request-id": b"req-1"}), rules).correlation_id == "req-1"
    both = extract(record(b"", {"x-request-id": b"req-1", "correlation_id": b"corr-1"}), rules)
    assert both.correlation_id == "corr-1"
    assert extract(record(b"", {"x-request-id": b"req-1"}), RULES).correlation_id is None


def test_empty_and_null_header_values_are_absent():
    found = extract(record(b"", [("correlation_id", b""), ("x-correlation-id", None)]), RULES)

    assert found.correlation_id is None
    assert found.skip_reason == SkipReason.NO_CORRELATION_ID
    assert found.headers == {"correlation_id": "", "x-correlation-id": ""}


def test_the_last_repeated_header_wins():
    found = extract(record(b"", [("correlation_id", b"first"), ("correlation_id", b"second")]), RULES)

    assert found.correlation_id == "second"


def test_header_values_are_printable_and_long_ones_cut():
    found = extract(record(b"", {"blob": b"\xff\x00abc", "long": b"x" * 5000}), RULES)

    assert found.headers["blob"] == "\ufffd\ufffdabc"
    assert len(found.headers["long"]) == 1024
    assert found.headers["long"].endswith("…")


def test_an_overlong_correlation_id_is_rejected_not_cut():
    found = extract(record(b"", {"correlation_id": b"x" * 300}), RULES)

    assert found.correlation_id is None
    assert found.skip_reason == SkipReason.ID_TOO_LONG


# ---------------------------------------------------------------------------------------------
# Trace headers
# ---------------------------------------------------------------------------------------------
def test_traceparent_trace_id_is_the_correlation_id():
    found = extract(record(b"", {"traceparent": f"00-{TRACE_ID}-{SPAN_ID}-01".encode()}), RULES)

    assert (found.correlation_id, found.source) == (TRACE_ID, "traceparent")


def test_traceparent_of_a_future_version_may_carry_more_fields():
    found = extract(record(b"", {"traceparent": f"cc-{TRACE_ID}-{SPAN_ID}-01-what-the-future-holds".encode()}), RULES)

    assert found.correlation_id == TRACE_ID


@pytest.mark.parametrize(
    "value",
    [
        f"00-{TRACE_ID.upper()}-{SPAN_ID}-01",  # uppercase is invalid in W3C
        f"00-{'0' * 32}-{SPAN_ID}-01",  # all-zero trace id
        f"00-{TRACE_ID}-{'0' * 16}-01",  # all-zero span id
        f"ff-{TRACE_ID}-{SPAN_ID}-01",  # forbidden version
        f"00-{TRACE_ID}-{SPAN_ID}-01-extra",  # version 00 has exactly four fields
        f"00-{TRACE_ID[:-1]}-{SPAN_ID}-01",
        "garbage",
        "",
    ],
)
def test_malformed_traceparent_is_counted_and_later_rules_still_run(value):
    alone = extract(record(b"", {"traceparent": value.encode()}), RULES)
    with_payload = extract(record(as_json({"correlation_id": "corr-1"}), {"traceparent": value.encode()}), RULES)

    assert alone.correlation_id is None
    assert alone.skip_reason == SkipReason.MALFORMED_TRACEPARENT
    assert (with_payload.correlation_id, with_payload.source, with_payload.skip_reason) == (
        "corr-1",
        "payload:correlation_id",
        "",
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"{TRACE_ID}-{SPAN_ID}", TRACE_ID),
        (f"{TRACE_ID}-{SPAN_ID}-1", TRACE_ID),
        (f"{TRACE_ID}-{SPAN_ID}-d-{SPAN_ID}", TRACE_ID),
        # 64-bit trace ids are left-padded to 32 digits, as OpenTelemetry does between propagators.
        (f"A3CE929D0E0E4736-{SPAN_ID}-0", "0000000000000000a3ce929d0e0e4736"),
    ],
)
def test_b3_single_header(value, expected):
    found = extract(record(b"", {"b3": value.encode()}), RULES)

    assert (found.correlation_id, found.source) == (expected, "b3")


@pytest.mark.parametrize("value", [f"{TRACE_ID[:20]}-{SPAN_ID}", f"{TRACE_ID}", f"{'0' * 32}-{SPAN_ID}", "xyz-abc"])
def test_malformed_b3(value):
    found = extract(record(b"", {"b3": value.encode()}), RULES)

    assert (found.correlation_id, found.skip_reason) == (None, SkipReason.MALFORMED_B3)


def test_b3_sampling_only_is_not_malformed():
    assert extract(record(b"", {"b3": b"1"}), RULES).skip_reason == SkipReason.NO_CORRELATION_ID


def test_multi_header_b3():
    found = extract(record(b"", {"X-B3-TraceId": TRACE_ID.encode(), "X-B3-SpanId": SPAN_ID.encode()}), RULES)
    bad = extract(record(b"", {"X-B3-TraceId": b"nothex"}), RULES)

    assert (found.correlation_id, found.source) == (TRACE_ID, "b3")
    assert (bad.correlation_id, bad.skip_reason) == (None, SkipReason.MALFORMED_B3)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"{TRACE_ID}:{SPAN_ID}:0:1", TRACE_ID),
        (f"{TRACE_ID}%3A{SPAN_ID}%3A0%3A1", TRACE_ID),
        ("1a2b3c:4d5e:0:1", "00000000000000000000000000" + "1a2b3c"),  # Jaeger drops leading zeros
    ],
)
def test_uber_trace_id(value, expected):
    found = extract(record(b"", {"uber-trace-id": value.encode()}), RULES)

    assert (found.correlation_id, found.source) == (expected, "uber-trace-id")


@pytest.mark.parametrize("value", ["nothex:1:0:1", f"{TRACE_ID}:{SPAN_ID}", "0:1:0:1", f"{TRACE_ID}0:{SPAN_ID}:0:1"])
def test_malformed_uber_trace_id(value):
    found = extract(record(b"", {"uber-trace-id": value.encode()}), RULES)

    assert (found.correlation_id, found.skip_reason) == (None, SkipReason.MALFORMED_UBER_TRACE_ID)


# ---------------------------------------------------------------------------------------------
# Precedence
# ---------------------------------------------------------------------------------------------
def test_rules_are_tried_in_order():
    other = "11111111111111111111111111111111"
    headers = {
        "correlation_id": b"from-header",
        "traceparent": f"00-{TRACE_ID}-{SPAN_ID}-01".encode(),
        "b3": f"{other}-{SPAN_ID}".encode(),
        "uber-trace-id": f"{other}:{SPAN_ID}:0:1".encode(),
    }
    body = as_json({"correlation_id": "from-payload"})
    rules = ExtractionRules(key_topics=("*",))

    def source(drop: tuple[str, ...], value: bytes | None = body) -> str:
        kept = {name: v for name, v in headers.items() if name not in drop}
        return extract(record(value, kept), rules).source

    assert source(()) == "header:correlation_id"
    assert source(("correlation_id",)) == "traceparent"
    assert source(("correlation_id", "traceparent")) == "b3"
    assert source(("correlation_id", "traceparent", "b3")) == "uber-trace-id"
    assert source(tuple(headers)) == "payload:correlation_id"
    assert source(tuple(headers), None) == "key"


def test_cloudevents_extension_comes_before_payload_paths():
    body = {
        "specversion": "1.0",
        "id": "e-1",
        "type": "T",
        "source": "/s",
        "correlationid": "ce",
        "correlation_id": "p",
    }

    found = extract(record(as_json(body)), RULES)

    assert (found.correlation_id, found.source) == ("ce", "cloudevents")


# ---------------------------------------------------------------------------------------------
# JSON payloads
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "source"),
    [
        ({"correlation_id": "c"}, "payload:correlation_id"),
        ({"correlationId": "c"}, "payload:correlationId"),
        ({"metadata": {"correlationId": "c"}}, "payload:metadata.correlationId"),
    ],
)
def test_default_payload_paths(body, source):
    found = extract(record(as_json(body)), RULES)

    assert (found.correlation_id, found.source, found.payload_encoding) == ("c", source, "json")


def test_per_topic_payload_paths_come_first_then_the_defaults():
    rules = ExtractionRules.from_settings(payload_paths={"billing.*": ["invoice.trace"], "*": ["extra"]})
    body = as_json({"invoice": {"trace": "t-1"}, "correlation_id": "c-1", "extra": "x-1"})

    assert extract(record(body, topic="billing.invoices"), rules).source == "payload:invoice.trace"
    assert extract(record(body, topic="shop.orders"), rules).source == "payload:correlation_id"
    assert extract(record(as_json({"extra": "x-1"}), topic="shop.orders"), rules).source == "payload:extra"


def test_numbers_count_but_objects_booleans_and_empty_strings_do_not():
    assert extract(record(as_json({"correlation_id": 1234})), RULES).correlation_id == "1234"
    for value in ({"a": 1}, True, "", None, [1]):
        found = extract(record(as_json({"correlation_id": value})), RULES)
        assert (found.correlation_id, found.skip_reason) == (None, SkipReason.NO_CORRELATION_ID)


def test_event_fields_come_from_the_payload():
    body = {"event_id": "e-2", "event_type": "StockReserved", "causation_id": "e-1", "correlation_id": "c"}

    found = extract(record(as_json(body), {"producer": b"inventory"}), RULES)

    assert (found.event_id, found.event_type, found.causation_id, found.producer) == (
        "e-2",
        "StockReserved",
        "e-1",
        "inventory",
    )


def test_header_event_fields_win_over_the_payload():
    body = as_json({"eventId": "body-id", "eventType": "BodyType", "causationId": "body-cause"})
    headers = {"ce_id": b"h-id", "ce_type": b"h.type", "causation_id": b"h-cause", "ce_source": b"/shop/payments"}

    found = extract(record(body, headers), RULES)

    assert (found.event_id, found.event_type, found.causation_id, found.producer) == (
        "h-id",
        "h.type",
        "h-cause",
        "payments",
    )
    assert found.headers["ce_source"] == "/shop/payments"


@pytest.mark.parametrize(
    ("value", "encoding"),
    [
        (b"plain text, not JSON", "text"),
        (b"{not json", "text"),
        (b"\xff\xfe\x00binary", "binary"),
        (b"\x01\x02\x03", "binary"),
    ],
)
def test_non_json_payloads_are_skipped_with_a_reason(value, encoding):
    found = extract(record(value), RULES)

    assert (found.correlation_id, found.payload_encoding, found.skip_reason) == (
        None,
        encoding,
        SkipReason.PAYLOAD_NOT_JSON,
    )


def test_empty_record():
    found = extract(record(None, key=None), RULES)

    assert (found.payload_encoding, found.payload_excerpt, found.skip_reason) == ("empty", "", SkipReason.EMPTY_RECORD)


def test_json_that_is_not_an_object_has_no_paths():
    found = extract(record(b"[1, 2, 3]"), RULES)

    assert (found.payload_encoding, found.skip_reason) == ("json", SkipReason.NO_CORRELATION_ID)


def test_deeply_nested_json_does_not_crash():
    found = extract(record(b"[" * 100_000), RULES)

    assert found.correlation_id is None
    assert not found.skip_reason.startswith(SkipReason.INTERNAL_ERROR)


# ---------------------------------------------------------------------------------------------
# CloudEvents structured mode
# ---------------------------------------------------------------------------------------------
STRUCTURED = {
    "specversion": "1.0",
    "id": "ce-1",
    "type": "io.example.OrderShipped",
    "source": "/shop/shipping",
    "correlationid": "corr-ce",
    "data": {"order_id": "ord-1", "causation_id": "e-0"},
}


def test_structured_cloudevent_detected_from_its_attributes():
    found = extract(record(as_json(STRUCTURED)), RULES)

    assert (found.correlation_id, found.source) == ("corr-ce", "cloudevents")
    assert (found.event_id, found.event_type, found.producer, found.causation_id) == (
        "ce-1",
        "io.example.OrderShipped",
        "shipping",
        "e-0",
    )


def test_structured_cloudevent_by_content_type_with_the_id_inside_data():
    body = {"id": "ce-2", "source": "urn:svc:billing", "data": {"correlationId": "corr-data"}}
    headers = {"content-type": b"application/cloudevents+json; charset=utf-8"}

    found = extract(record(as_json(body), headers), RULES)

    assert (found.correlation_id, found.source) == ("corr-data", "payload:data.correlationId")
    assert (found.event_id, found.producer) == ("ce-2", "billing")


def test_a_plain_json_body_with_an_id_is_not_a_cloudevent():
    found = extract(record(as_json({"id": "x", "data": {"correlation_id": "c"}})), RULES)

    assert (found.correlation_id, found.event_id) == (None, "")


# ---------------------------------------------------------------------------------------------
# Registry-framed payloads
# ---------------------------------------------------------------------------------------------
AVRO_SCHEMA = fastavro.parse_schema(
    {
        "type": "record",
        "name": "StockReserved",
        "fields": [
            {"name": "event_id", "type": "string"},
            {"name": "event_type", "type": "string"},
            {"name": "correlation_id", "type": ["null", "string"], "default": None},
        ],
    }
)


def framed_avro(body: dict, schema_id: int = 7) -> bytes:
    out = io.BytesIO()
    out.write(b"\x00" + struct.pack(">I", schema_id))
    fastavro.schemaless_writer(out, AVRO_SCHEMA, body)
    return out.getvalue()


def fake_registry_decoder(value: bytes) -> tuple[dict | None, str]:
    """What the indexer's decoder does, without a registry: one known schema id."""
    if struct.unpack(">I", value[1:5])[0] != 7:
        return None, "avro"
    return fastavro.schemaless_reader(io.BytesIO(value[5:]), AVRO_SCHEMA), "avro"


AVRO_BODY = {"event_id": "e-7", "event_type": "StockReserved", "correlation_id": "corr-avro"}


def test_framed_payload_decoded_through_the_decoder():
    found = extract(record(framed_avro(AVRO_BODY)), RULES, decode_framed=fake_registry_decoder)

    assert (found.correlation_id, found.source, found.payload_encoding) == ("corr-avro", "avro:correlation_id", "avro")
    assert (found.event_id, found.event_type) == ("e-7", "StockReserved")
    assert json.loads(found.payload_excerpt) == AVRO_BODY


def test_framed_payload_without_a_decoder_is_reported_undecoded():
    found = extract(record(framed_avro(AVRO_BODY)), RULES)
    with_header = extract(record(framed_avro(AVRO_BODY), {"correlation_id": b"h"}), RULES)

    assert (found.correlation_id, found.payload_encoding, found.skip_reason) == (
        None,
        "avro",
        SkipReason.PAYLOAD_NOT_DECODED,
    )
    assert found.payload_excerpt.startswith("00 00 00 00 07")
    assert (with_header.correlation_id, with_header.skip_reason) == ("h", "")


def test_framed_payload_the_decoder_cannot_read():
    def broken(value: bytes) -> tuple[dict | None, str]:
        raise RuntimeError("registry down")

    unknown = extract(record(framed_avro(AVRO_BODY, schema_id=8)), RULES, decode_framed=fake_registry_decoder)
    crashed = extract(record(framed_avro(AVRO_BODY)), RULES, decode_framed=broken)

    assert (unknown.payload_encoding, unknown.skip_reason) == ("avro", SkipReason.PAYLOAD_DECODE_FAILED)
    assert crashed.skip_reason == SkipReason.PAYLOAD_DECODE_FAILED


def test_framed_json_schema_payload_is_readable_without_the_registry():
    found = extract(record(b"\x00\x00\x00\x00\x03" + as_json({"correlation_id": "c-js"})), RULES)

    assert (found.correlation_id, found.payload_encoding) == ("c-js", "json")


def test_framed_protobuf_is_named_from_the_content_type():
    found = extract(record(b"\x00\x00\x00\x00\x03\x00\x0a\x01x", {"content-type": b"application/x-protobuf"}), RULES)

    assert found.payload_encoding == "protobuf"


# ---------------------------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------------------------
def test_key_is_the_correlation_id_only_on_key_topics_and_last():
    rules = ExtractionRules.from_settings(key_topics=["legacy.*"])

    on_key_topic = extract(record(b"opaque", topic="legacy.orders", key=b"ord-9"), rules)
    elsewhere = extract(record(b"opaque", topic="shop.orders", key=b"ord-9"), rules)
    payload_wins = extract(record(as_json({"correlation_id": "c"}), topic="legacy.orders", key=b"ord-9"), rules)
    binary_key = extract(record(b"", topic="legacy.orders", key=b"\xff\xfe"), rules)

    assert (on_key_topic.correlation_id, on_key_topic.source) == ("ord-9", "key")
    assert elsewhere.correlation_id is None
    assert payload_wins.source == "payload:correlation_id"
    assert binary_key.correlation_id is None


# ---------------------------------------------------------------------------------------------
# Dead letters
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("topic", "dead"),
    [
        ("shop.deadletter", True),
        ("orders.dlq", True),
        ("orders.DLQ", True),
        ("payments-dead-letter", True),
        ("orders.DLT", True),
        ("orders.placed", False),
        ("dlq-stats", False),
    ],
)
def test_dead_letter_topics(topic, dead):
    assert extract(record(b"{}", topic=topic), RULES).is_dead_letter is dead


def test_configured_dead_letter_patterns_add_to_the_defaults():
    rules = ExtractionRules.from_settings(dead_letter_patterns=["*.failed"])

    assert rules.dead_letter_patterns == (*DEFAULT_DEAD_LETTER_PATTERNS, "*.failed")
    assert extract(record(b"{}", topic="orders.failed"), rules).is_dead_letter


def test_dead_letter_reason_from_the_simulators_headers():
    # As simulator.shop._dead_letter_headers writes them: the failed record's own headers, then the error.
    headers = [
        ("traceparent", f"00-{TRACE_ID}-{SPAN_ID}-01".encode()),
        ("error.class", b"simulator.behaviour.PaymentDeclined"),
        ("error.message", b"card declined for order ord-1"),
        ("error.service", b"payments"),
        ("original.topic", b"shop.inventory.reserved"),
        ("original.partition", b"2"),
        ("original.offset", b"17"),
    ]

    found = extract(record(b"\x00\x00\x00\x00\x05binary", headers, topic="shop.deadletter"), RULES)

    assert found.is_dead_letter
    assert found.correlation_id == TRACE_ID
    assert found.error_reason == "card declined for order ord-1"
    assert found.headers["error.service"] == "payments"
    assert found.headers["original.topic"] == "shop.inventory.reserved"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"error.class": b"java.lang.IllegalStateException"}, "java.lang.IllegalStateException"),
        ({"kafka_dlt-exception-message": b"Listener failed", "kafka_dlt-exception-fqcn": b"X"}, "Listener failed"),
        ({"__connect.errors.exception.message": b"Converter failure"}, "Converter failure"),
        ({"x-exception-message": b"boom"}, "boom"),
        ({"error.message": b"  ", "error.class": b"Blank"}, "Blank"),
        ({"unrelated": b"x"}, ""),
    ],
)
def test_error_reason_header_conventions(headers, reason):
    assert extract(record(b"{}", headers, topic="orders.DLT"), RULES).error_reason == reason


# ---------------------------------------------------------------------------------------------
# Excerpts
# ---------------------------------------------------------------------------------------------
def test_excerpt_truncates_on_a_character_boundary():
    rules = ExtractionRules(excerpt_bytes=10)
    value = "€€€€€€".encode()  # 3 bytes each: 18 bytes

    excerpt = extract(record(value), rules).payload_excerpt

    assert excerpt == "€€…"  # 7 bytes of characters would cut the third euro; the marker takes 3 bytes
    assert len(excerpt.encode()) <= 10


@pytest.mark.parametrize("limit", range(12))
def test_excerpt_never_exceeds_its_byte_budget(limit):
    rules = ExtractionRules(excerpt_bytes=limit)
    for value in ("aé€😀" * 5).encode(), bytes(range(256)), as_json({"k": "ü" * 20}), b"short":
        excerpt = extract(record(value), rules).payload_excerpt
        assert len(excerpt.encode()) <= limit


def test_excerpt_of_a_small_json_payload_is_its_text():
    body = as_json({"correlation_id": "c", "amount": "19.90"})

    assert extract(record(body), RULES).payload_excerpt == body.decode()


def test_huge_payloads_are_indexed_with_a_short_excerpt():
    value = as_json({"correlation_id": "c", "blob": "x" * 2_000_000})

    found = extract(record(value), RULES)

    assert found.correlation_id == "c"
    assert len(found.payload_excerpt.encode()) <= 2048
    assert found.payload_excerpt.endswith("…")


# ---------------------------------------------------------------------------------------------
# The simulator's four conventions, written as the simulator writes them
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("convention", "service", "source"),
    [
        (Convention.HEADER, "inventory", "header:correlation_id"),
        (Convention.TRACEPARENT, "payments", "traceparent"),
        (Convention.CLOUDEVENTS, "shipping", "header:ce_correlationid"),
        (Convention.PAYLOAD, "orders", "payload:correlation_id"),
    ],
)
def test_reads_each_simulator_convention(convention, service, source):
    correlation_id = uuid.uuid4().hex
    event = {
        "event_id": str(uuid.uuid4()),
        "event_type": "ShipmentCreated",
        "occurred_at": "2025-05-01T12:00:00.123Z",
        "order_id": "ord-1",
        "causation_id": str(uuid.uuid4()),
    }
    identity = EventIdentity(event["event_id"], event["event_type"], service, event["occurred_at"])
    carrier = encode_correlation(convention, correlation_id, identity)
    body = {**event, **carrier.payload_fields}

    found = extract(record(as_json(body), list(carrier.headers), key=b"ord-1"), ExtractionRules.from_settings())

    assert (found.correlation_id, found.source, found.skip_reason) == (correlation_id, source, "")
    assert (found.event_id, found.causation_id) == (event["event_id"], event["causation_id"])
    if convention is Convention.CLOUDEVENTS:
        assert (found.event_type, found.producer) == ("io.eventscope.shop.ShipmentCreated", "shipping")
    else:
        assert found.event_type == "ShipmentCreated"


# ---------------------------------------------------------------------------------------------
# Rules and robustness
# ---------------------------------------------------------------------------------------------
def test_from_settings_merges_and_tolerates_hand_edited_json():
    rules = ExtractionRules.from_settings(
        correlation_headers=["x-req", 5, ""],
        payload_paths={"*": ["trace.id", None], "orders.*": "order.corr", 3: ["x"]},
        key_topics=["legacy"],
        excerpt_bytes=100,
    )

    assert rules.correlation_headers == (*DEFAULT_CORRELATION_HEADERS, "x-req")
    assert dict(rules.payload_paths) == {
        "orders.*": ("order.corr",),
        "*": ("correlation_id", "correlationId", "metadata.correlationId", "trace.id"),
    }
    assert (rules.key_topics, rules.excerpt_bytes) == (("legacy",), 100)
    assert hash(rules) == hash(ExtractionRules.from_settings(**_same_settings()))


def _same_settings() -> dict:
    return {
        "correlation_headers": ["x-req"],
        "payload_paths": {"*": ["trace.id"], "orders.*": ["order.corr"]},
        "key_topics": ["legacy"],
        "excerpt_bytes": 100,
    }


def test_no_text_output_contains_nul():
    # PostgreSQL refuses NUL in text and jsonb columns; the indexer must not trip over one record.
    found = extract(record(as_json({"correlation_id": "a\u0000b", "event_id": "e\u0000"}), {"h\x00": b"v\x00"}), RULES)

    assert "\x00" not in found.correlation_id + found.event_id + found.payload_excerpt
    assert all("\x00" not in name + value for name, value in found.headers.items())


header_values = st.one_of(st.none(), st.binary(max_size=64), st.sampled_from([b"", TRACE_ID.encode(), b"1"]))
header_names = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["correlation_id", "traceparent", "b3", "X-B3-TraceId", "uber-trace-id", "ce_id", "content-type"]),
)


@settings(max_examples=300, deadline=None)
@given(
    key=st.one_of(st.none(), st.binary(max_size=64)),
    value=st.one_of(
        st.none(),
        st.binary(max_size=512),
        st.builds(lambda b: b"\x00\x00\x00\x00\x01" + b, st.binary(max_size=64)),
        st.builds(lambda b: b"{" + b, st.binary(max_size=64)),
    ),
    headers=st.lists(st.tuples(header_names, header_values), max_size=6),
    excerpt_bytes=st.integers(min_value=0, max_value=64),
)
def test_random_records_never_raise(key, value, headers, excerpt_bytes):
    rules = ExtractionRules(key_topics=("*",), excerpt_bytes=excerpt_bytes)

    found = extract(record(value, headers, key=key), rules)

    assert isinstance(found, Extracted)
    assert not found.skip_reason.startswith(SkipReason.INTERNAL_ERROR)
    assert (found.correlation_id is None) == bool(found.skip_reason)
    assert len(found.payload_excerpt.encode()) <= excerpt_bytes


# Plain JSON objects without headers take a fast path in extract_fields; it must agree with the
# general path for every body, including the ones it hands over (CloudEvents, odd ids, no id).
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.integers(min_value=2**64, max_value=10**30),  # beyond 64 bits: orjson reads these as floats
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(["", "  ", " ord-1 ", "x" * 256, "a\x00b", "OrderPlaced", "1.0"]),
)
json_bodies = st.dictionaries(
    st.sampled_from(
        [
            "correlation_id",
            "correlationId",
            "metadata",
            "event_id",
            "eventId",
            "causation_id",
            "type",
            "event_type",
            "specversion",
            "id",
            "data",
            "other",
        ]
    ),
    st.one_of(json_scalars, st.dictionaries(st.sampled_from(["correlationId", "x"]), json_scalars, max_size=2)),
    max_size=8,
)


@settings(max_examples=400, deadline=None)
@given(body=json_bodies, excerpt_bytes=st.integers(min_value=0, max_value=120), pad=st.sampled_from(["", " "]))
def test_fast_path_for_plain_json_agrees_with_the_general_path(body, excerpt_bytes, pad):
    from monitoring.extraction import _extract, extract_fields

    rules = ExtractionRules.from_settings(
        payload_paths={"shop.*": ["metadata.correlationId"]}, key_topics=["none"], excerpt_bytes=excerpt_bytes
    )
    value = (json.dumps(body, separators=(", ", pad + ": ")) if body else "{}").encode()

    fast = extract_fields("shop.orders.placed", b"ord-1", value, None, rules)
    general = _extract("shop.orders.placed", b"ord-1", value, (), rules, None)

    assert fast == general


def test_an_integer_id_beyond_64_bits_keeps_every_digit():
    from monitoring.extraction import extract_fields

    value = b'{"correlation_id": 123456789012345678901234567890, "type": "OrderPlaced"}'

    found = extract_fields("shop.orders.placed", None, value, None, ExtractionRules.from_settings())

    assert found.correlation_id == "123456789012345678901234567890"
    assert found.event_type == "OrderPlaced"
