"""monitoring.traces, pure: ordering, per-hop and end-to-end latency, where a chain ended, payloads, percentiles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitoring.traces import (
    END_COMPLETE,
    END_DEAD_LETTER,
    END_STOPPED,
    NextStep,
    TraceEventData,
    build_trace,
    catalog_event_type,
    dead_letter_reason,
    error_headers,
    flow_signature,
    glob_to_regex,
    is_dead_letter_topic,
    percentile,
    pretty_payload,
    reason_group,
)

T0 = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


def event(topic: str, ms: float, *, event_type: str = "", offset: int = 0, partition: int = 0, **fields):
    return TraceEventData(
        correlation_id="c-1",
        cluster="local",
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=T0 + timedelta(milliseconds=ms),
        event_type=event_type,
        **fields,
    )


SHOP_STEPS = {
    "shop.orders.placed": [NextStep(service="inventory", topic="shop.orders.placed")],
    "StockReserved": [NextStep(service="payments", topic="shop.inventory.reserved", event_type="StockReserved")],
}


class TestBuildTrace:
    def test_no_events_is_no_trace(self):
        assert build_trace("c-1", []) is None

    def test_hops_are_in_time_order_with_latency_from_the_previous_hop(self):
        events = [
            event("shop.payments.completed", 130.5, event_type="PaymentCompleted"),
            event("shop.orders.placed", 0, event_type="OrderPlaced"),
            event("shop.inventory.reserved", 42, event_type="StockReserved"),
        ]
        trace = build_trace("c-1", events)
        assert [hop.event.event_type for hop in trace.hops] == ["OrderPlaced", "StockReserved", "PaymentCompleted"]
        assert [hop.latency_ms for hop in trace.hops] == [None, 42.0, 88.5]
        assert [hop.since_start_ms for hop in trace.hops] == [0.0, 42.0, 130.5]
        assert trace.end_to_end_ms == 130.5
        assert trace.started_at == T0
        assert trace.signature == ("OrderPlaced", "StockReserved", "PaymentCompleted")

    def test_out_of_order_timestamps_are_sorted_by_time_not_by_arrival_or_offset(self):
        # The record with the higher offset was written earlier (producer clocks differ): time wins.
        events = [event("b", 10, offset=1), event("a", 5, offset=9), event("c", 7, offset=0)]
        trace = build_trace("c-1", events)
        assert [hop.event.topic for hop in trace.hops] == ["a", "c", "b"]
        assert [hop.latency_ms for hop in trace.hops] == [None, 2.0, 3.0]
        assert all(hop.latency_ms >= 0 for hop in trace.hops[1:])

    def test_equal_timestamps_order_by_coordinates_the_same_way_every_time(self):
        events = [event("b", 0, offset=3), event("a", 0, offset=7), event("a", 0, offset=2)]
        first = build_trace("c-1", events)
        second = build_trace("c-1", list(reversed(events)))
        order = [(hop.event.topic, hop.event.offset) for hop in first.hops]
        assert order == [("a", 2), ("a", 7), ("b", 3)]
        assert order == [(hop.event.topic, hop.event.offset) for hop in second.hops]
        assert [hop.latency_ms for hop in first.hops] == [None, 0.0, 0.0]

    def test_sub_millisecond_latency_is_kept(self):
        trace = build_trace("c-1", [event("a", 0), event("b", 0.25)])
        assert trace.hops[1].latency_ms == 0.25

    def test_a_single_event_chain(self):
        trace = build_trace("c-1", [event("shop.notifications.sent", 0, event_type="NotificationSent")])
        assert len(trace.hops) == 1
        assert trace.hops[0].latency_ms is None
        assert trace.end_to_end_ms == 0.0
        assert trace.end.kind == END_COMPLETE
        assert trace.end.summary == "complete after NotificationSent"


class TestTraceEnd:
    def test_dead_letter_end_carries_the_reason_and_error_headers(self):
        headers = {
            "correlation_id": "c-1",
            "error.class": "simulator.behaviour.InjectedFailure",
            "error.message": "payment provider timed out",
            "error.service": "payments",
            "original.topic": "shop.inventory.reserved",
        }
        events = [
            event("shop.orders.placed", 0, event_type="OrderPlaced"),
            event("shop.deadletter", 80, event_type="StockReserved", headers=headers),
        ]
        trace = build_trace("c-1", events, next_steps=SHOP_STEPS)
        assert trace.end.kind == END_DEAD_LETTER
        assert trace.end.reason == "InjectedFailure: payment provider timed out"
        assert trace.end.error_headers == {
            "error.class": "simulator.behaviour.InjectedFailure",
            "error.message": "payment provider timed out",
            "error.service": "payments",
            "original.topic": "shop.inventory.reserved",
        }
        assert "correlation_id" not in trace.end.error_headers
        assert trace.end.summary.startswith("dead-lettered on shop.deadletter")
        assert trace.signature == ("OrderPlaced", "shop.deadletter")

    def test_the_indexer_flag_and_reason_win_over_the_topic_name(self):
        trace = build_trace("c-1", [event("failures", 0, is_dead_letter=True, error_reason="bad schema")])
        assert trace.end.kind == END_DEAD_LETTER
        assert trace.end.reason == "bad schema"

    def test_stopped_names_the_expected_next_step_from_the_declared_relations(self):
        trace = build_trace("c-1", [event("shop.orders.placed", 0, event_type="OrderPlaced")], next_steps=SHOP_STEPS)
        assert trace.end.kind == END_STOPPED
        assert trace.end.expected_next == (NextStep(service="inventory", topic="shop.orders.placed"),)
        assert trace.end.summary == "stopped after OrderPlaced — expected next: inventory consuming shop.orders.placed"

    def test_expected_next_by_event_type(self):
        events = [event("shop.orders.placed", 0), event("shop.inventory.reserved", 5, event_type="StockReserved")]
        trace = build_trace("c-1", events, next_steps=SHOP_STEPS)
        assert trace.end.kind == END_STOPPED
        assert [step.service for step in trace.end.expected_next] == ["payments"]

    def test_a_service_declared_on_both_topic_and_event_type_is_expected_once(self):
        steps = {
            "StockReserved": [
                NextStep(service="payments", topic="shop.inventory.reserved", event_type="StockReserved")
            ],
            "shop.inventory.reserved": [NextStep(service="payments", topic="shop.inventory.reserved")],
        }
        trace = build_trace("c-1", [event("shop.inventory.reserved", 0, event_type="StockReserved")], next_steps=steps)
        assert len(trace.end.expected_next) == 1

    def test_complete_when_nothing_consumes_the_last_event(self):
        events = [event("shop.orders.placed", 0), event("shop.notifications.sent", 9, event_type="NotificationSent")]
        trace = build_trace("c-1", events, next_steps=SHOP_STEPS)
        assert trace.end.kind == END_COMPLETE
        assert trace.end.last_event.topic == "shop.notifications.sent"


class TestDeadLetter:
    @pytest.mark.parametrize(
        ("topic", "expected"),
        [
            ("orders.dlq", True),
            ("orders.DLQ", True),
            ("orders-dead-letter", True),
            ("shop.deadletter", True),
            ("orders.DLT", True),
            ("orders", False),
            ("orders.dlqueue", False),
            ("orders.Dlq", False),
        ],
    )
    def test_default_patterns(self, topic, expected):
        assert is_dead_letter_topic(topic) is expected

    @pytest.mark.parametrize("pattern", ["*.dlq", "*dead-letter*", "a?c", "x[1].*", "weird+name\\*"])
    def test_glob_to_regex_agrees_with_fnmatch(self, pattern):
        import re
        from fnmatch import fnmatchcase

        regex = re.compile(glob_to_regex(pattern))
        for topic in ["o.dlq", "o.dlqx", "dead-letter", "abc", "ac", "x[1].y", "x1.y", "weird+name\\x", "weird+name\\"]:
            if "[" in pattern:  # fnmatch reads [..] as a class; we take it literally, like Kafka topic names
                continue
            assert bool(regex.match(topic)) == fnmatchcase(topic, pattern), topic

    def test_reason_from_spring_and_connect_headers(self):
        assert dead_letter_reason({"kafka_dlt-exception-message": "boom"}) == "boom"
        assert (
            dead_letter_reason(
                {"__connect.errors.exception.class.name": "org.apache.kafka.connect.errors.DataException"}
            )
            == "DataException"
        )
        assert dead_letter_reason({}) == ""
        assert dead_letter_reason({"ERROR.MESSAGE": "upper"}) == "upper"

    def test_error_headers_keep_only_error_like_headers(self):
        headers = {"traceparent": "00-abc-def-01", "error.message": "x", "kafka_dlt-original-topic": "t"}
        assert error_headers(headers) == {"error.message": "x", "kafka_dlt-original-topic": "t"}

    def test_reason_groups_ignore_ids_and_numbers(self):
        a = reason_group("order 12345 declined: amount 10.50 over limit")
        b = reason_group("order 777 declined: amount 99 over limit")
        assert a == b == "order … declined: amount … over limit"
        assert reason_group("id 3fa85f64-5717-4562-b3fc-2c963f66afa6 unknown") == "id … unknown"
        assert reason_group("") == "no reason given"


class TestPayload:
    def test_json_is_indented(self):
        text, is_json = pretty_payload('{"order_id":"o-1","lines":[1,2]}', "json")
        assert is_json
        assert text.startswith('{\n  "order_id": "o-1"')

    def test_truncated_json_stays_as_it_came(self):
        assert pretty_payload('{"order_id": "o-1", "li', "json") == ('{"order_id": "o-1", "li', False)

    def test_text_and_binary_stay_as_they_came(self):
        assert pretty_payload("<script>alert(1)</script>", "text") == ("<script>alert(1)</script>", False)
        assert pretty_payload("AAEC", "binary") == ("AAEC", False)
        assert pretty_payload("", "json") == ("", False)

    def test_unicode_is_kept_readable(self):
        text, _ = pretty_payload('{"city": "Zürich"}', "json")
        assert "Zürich" in text


class TestPercentile:
    def test_linear_interpolation_like_numpy(self):
        values = [10, 20, 30, 40]
        assert percentile(values, 50) == 25
        assert percentile(values, 0) == 10
        assert percentile(values, 100) == 40
        assert percentile(values, 95) == pytest.approx(38.5)
        assert percentile(list(range(1, 101)), 99) == pytest.approx(99.01)

    def test_empty_and_single(self):
        assert percentile([], 50) is None
        assert percentile([7.5], 99) == 7.5

    def test_order_of_input_does_not_matter(self):
        assert percentile([40, 10, 30, 20], 50) == 25

    def test_out_of_range(self):
        with pytest.raises(ValueError):
            percentile([1], 101)


def test_flow_signature_falls_back_to_the_topic():
    assert flow_signature([event("b", 5, event_type="B"), event("a", 0)]) == ("a", "B")


class TestCatalogEventType:
    CATALOG = frozenset({"OrderPlaced", "ShipmentCreated"})

    @pytest.mark.parametrize(
        ("indexed", "aliases", "expected"),
        [
            ("OrderPlaced", {}, "OrderPlaced"),  # the catalog's own name
            ("io.eventscope.shop.ShipmentCreated", {}, "ShipmentCreated"),  # CloudEvents type: last segment
            ("io.eventscope.shop.Unknown", {}, "io.eventscope.shop.Unknown"),  # not in the catalog: as indexed
            ("shipment.created.v1", {}, "shipment.created.v1"),
            ("legacy-shipped", {"legacy-shipped": "ShipmentCreated"}, "ShipmentCreated"),  # a configured alias
            ("OrderPlaced", {"OrderPlaced": "OrderSubmitted"}, "OrderSubmitted"),  # an alias wins over the name
            ("x.OrderPlaced", {"x.OrderPlaced": ""}, "OrderPlaced"),  # an empty alias is no alias
            ("", {}, ""),
            ("ShipmentCreated.", {}, "ShipmentCreated."),
        ],
    )
    def test_mapping(self, indexed, aliases, expected):
        assert catalog_event_type(indexed, catalog_names=self.CATALOG, aliases=aliases) == expected
