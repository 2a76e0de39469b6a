"""The correlation-ID conventions, as plain functions over headers and bodies (no Kafka)."""

from __future__ import annotations

import pytest

from simulator.correlation import (
    CE_CORRELATION_HEADER,
    CORRELATION_HEADER,
    PAYLOAD_FIELD,
    TRACEPARENT_HEADER,
    Convention,
    Correlation,
    EventIdentity,
    encode_correlation,
    extract_correlation,
    find_correlations,
    format_traceparent,
    parse_traceparent,
)

CORRELATION_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
EVENT = EventIdentity(
    event_id="0af76519-16cd-43dd-8448-eb211c80319c",
    event_type="ShipmentCreated",
    service="shipping",
    occurred_at="2025-05-01T12:00:00.123Z",
)


def carried(convention: Convention) -> tuple[list[tuple[str, bytes]], dict]:
    """A record (headers, body) stamped with CORRELATION_ID the way `convention` says."""
    carrier = encode_correlation(convention, CORRELATION_ID, EVENT)
    return list(carrier.headers), {"order_id": "ord-1", **carrier.payload_fields}


@pytest.mark.parametrize("convention", list(Convention))
def test_every_convention_round_trips(convention):
    headers, body = carried(convention)

    assert find_correlations(headers, body) == [Correlation(CORRELATION_ID, convention)]
    assert extract_correlation(headers, body) == Correlation(CORRELATION_ID, convention)


def test_header_convention_is_one_plain_header():
    headers, body = carried(Convention.HEADER)

    assert headers == [(CORRELATION_HEADER, CORRELATION_ID.encode())]
    assert PAYLOAD_FIELD not in body


def test_traceparent_carries_the_correlation_id_as_trace_id_and_the_event_as_span():
    headers, _ = carried(Convention.TRACEPARENT)

    assert headers == [(TRACEPARENT_HEADER, f"00-{CORRELATION_ID}-0af7651916cd43dd-01".encode())]


def test_cloudevents_binary_mode_headers():
    headers, body = carried(Convention.CLOUDEVENTS)

    assert dict(headers) == {
        "ce_specversion": b"1.0",
        "ce_id": EVENT.event_id.encode(),
        "ce_type": b"io.eventscope.shop.ShipmentCreated",
        "ce_source": b"/shop/shipping",
        "ce_time": b"2025-05-01T12:00:00.123Z",
        CE_CORRELATION_HEADER: CORRELATION_ID.encode(),
        "content-type": b"application/json",
    }
    assert PAYLOAD_FIELD not in body


def test_payload_convention_adds_a_body_field_and_no_headers():
    headers, body = carried(Convention.PAYLOAD)

    assert headers == []
    assert body[PAYLOAD_FIELD] == CORRELATION_ID


def test_reads_one_convention_and_writes_another():
    # What every service does: whatever its upstream used in, its own convention out.
    upstream_headers, upstream_body = carried(Convention.CLOUDEVENTS)
    correlation = extract_correlation(upstream_headers, upstream_body)
    assert correlation is not None

    carrier = encode_correlation(Convention.TRACEPARENT, correlation.correlation_id, EVENT)

    assert find_correlations(carrier.headers, {}) == [Correlation(CORRELATION_ID, Convention.TRACEPARENT)]


def test_nothing_to_find():
    assert find_correlations(None, None) == []
    assert find_correlations([("other", b"x")], {"order_id": "ord-1"}) == []
    assert extract_correlation([], {}) is None


def test_header_values_may_be_str_or_none_and_the_last_repeated_header_wins():
    headers = [(CORRELATION_HEADER, b"first"), ("ignored", None), (CORRELATION_HEADER, "second")]

    assert extract_correlation(headers, None) == Correlation("second", Convention.HEADER)


def test_empty_values_count_as_absent():
    assert find_correlations([(CORRELATION_HEADER, b"")], {PAYLOAD_FIELD: ""}) == []


def test_payload_field_must_be_a_string_in_a_json_object():
    assert find_correlations([], {PAYLOAD_FIELD: 123}) == []
    assert find_correlations([], [PAYLOAD_FIELD]) == []
    assert find_correlations([], b"not json") == []


def test_a_record_with_several_conventions_reports_all_and_the_header_wins():
    headers = [
        (TRACEPARENT_HEADER, f"00-{CORRELATION_ID}-00f067aa0ba902b7-01".encode()),
        (CORRELATION_HEADER, b"from-header"),
    ]
    body = {PAYLOAD_FIELD: "from-body"}

    assert [found.convention for found in find_correlations(headers, body)] == [
        Convention.HEADER,
        Convention.TRACEPARENT,
        Convention.PAYLOAD,
    ]
    assert extract_correlation(headers, body) == Correlation("from-header", Convention.HEADER)


def test_parse_traceparent():
    parsed = parse_traceparent(f"00-{CORRELATION_ID}-00f067aa0ba902b7-01")

    assert (parsed.version, parsed.trace_id, parsed.parent_id, parsed.flags) == (
        "00",
        CORRELATION_ID,
        "00f067aa0ba902b7",
        "01",
    )


def test_a_future_traceparent_version_may_append_fields():
    assert parse_traceparent(f"cc-{CORRELATION_ID}-00f067aa0ba902b7-01-what-ever").trace_id == CORRELATION_ID


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        f"00-{CORRELATION_ID}-00f067aa0ba902b7",  # three fields
        f"00-{CORRELATION_ID}-00f067aa0ba902b7-01-extra",  # version 00 has exactly four
        f"ff-{CORRELATION_ID}-00f067aa0ba902b7-01",  # version ff is forbidden
        f"0-{CORRELATION_ID}-00f067aa0ba902b7-01",
        f"00-{CORRELATION_ID.upper()}-00f067aa0ba902b7-01",  # uppercase hex
        f"00-{CORRELATION_ID[:-1]}-00f067aa0ba902b7-01",  # 31 hex digits
        f"00-{'0' * 32}-00f067aa0ba902b7-01",  # all-zero trace id
        f"00-{CORRELATION_ID}-{'0' * 16}-01",  # all-zero parent id
        f"00-{CORRELATION_ID}-00f067aa0ba902bz-01",  # not hex
        f"00-{CORRELATION_ID}-00f067aa0ba902b7-1",  # one-digit flags
    ],
)
def test_malformed_traceparent_is_rejected_and_ignored_by_extraction(value):
    with pytest.raises(ValueError, match="traceparent"):
        parse_traceparent(value)
    assert find_correlations([(TRACEPARENT_HEADER, value.encode())], {}) == []


def test_format_traceparent_validates_what_it_writes():
    assert format_traceparent(CORRELATION_ID, "00f067aa0ba902b7", sampled=False).endswith("-00")
    with pytest.raises(ValueError, match="trace id"):
        format_traceparent("not-a-trace-id", "00f067aa0ba902b7")


def test_a_correlation_id_that_is_no_trace_id_cannot_travel_as_traceparent():
    with pytest.raises(ValueError, match="trace id"):
        encode_correlation(Convention.TRACEPARENT, "order-42", EVENT)


def test_an_empty_correlation_id_cannot_be_encoded():
    with pytest.raises(ValueError, match="empty"):
        encode_correlation(Convention.HEADER, "", EVENT)
