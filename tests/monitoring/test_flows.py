"""monitoring.flows, pure: flows by signature, per-hop and end-to-end percentiles, stuck chains, reason groups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitoring.flows import (
    STATE_COMPLETE,
    STATE_DEAD_LETTER,
    STATE_IN_PROGRESS,
    STATE_STUCK,
    aggregate_flows,
    chain_state,
    group_reasons,
)
from monitoring.traces import NextStep, TraceEventData, build_trace

T0 = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
STEPS = {
    "OrderPlaced": [NextStep(service="inventory", topic="orders")],
    "StockReserved": [NextStep(service="payments", topic="reserved")],
}
TOPIC = {"OrderPlaced": "orders", "StockReserved": "reserved", "PaymentCompleted": "payments", "Failed": "x.dlq"}


def chain(correlation_id: str, *steps: tuple[str, float], start: datetime = T0):
    events = [
        TraceEventData(
            correlation_id=correlation_id,
            cluster="local",
            topic=TOPIC[event_type],
            partition=0,
            offset=index,
            timestamp=start + timedelta(milliseconds=ms),
            event_type=event_type,
        )
        for index, (event_type, ms) in enumerate(steps)
    ]
    return build_trace(correlation_id, events, next_steps=STEPS)


def test_chains_group_by_signature_with_per_hop_percentiles():
    traces = [
        chain(f"c-{n}", ("OrderPlaced", 0), ("StockReserved", 10 * n), ("PaymentCompleted", 10 * n + 100))
        for n in range(1, 5)
    ]
    flows = aggregate_flows(traces, now=NOW)
    assert len(flows) == 1
    flow = flows[0]
    assert flow.signature == ("OrderPlaced", "StockReserved", "PaymentCompleted")
    assert flow.chains == 4
    assert flow.complete == 4 and flow.stuck == 0
    first, second = flow.hops
    assert (first.source, first.target) == ("OrderPlaced", "StockReserved")
    assert first.latency.count == 4
    assert first.latency.p50 == 25.0  # 10, 20, 30, 40
    assert first.latency.p95 == pytest.approx(38.5)
    assert first.latency.p99 == pytest.approx(39.7)
    assert second.latency.p50 == second.latency.p99 == 100.0
    assert flow.end_to_end.p50 == 125.0
    assert flow.end_to_end.count == 4


def test_flows_come_most_chains_first_and_examples_are_the_most_recent():
    traces = [chain(f"a-{n}", ("OrderPlaced", 0), ("Failed", 5), start=T0 + timedelta(seconds=n)) for n in range(7)]
    traces.append(chain("b-0", ("PaymentCompleted", 0)))
    flows = aggregate_flows(traces, now=NOW, example_limit=3)
    assert [flow.signature for flow in flows] == [("OrderPlaced", "x.dlq"), ("PaymentCompleted",)]
    assert flows[0].dead_lettered == 7
    assert flows[0].examples == ("a-6", "a-5", "a-4")
    assert flows[1].hops == ()
    assert flows[1].end_to_end.p50 == 0.0


def test_stuck_only_after_the_configured_time():
    old = chain("old", ("OrderPlaced", 0), ("StockReserved", 5), start=NOW - timedelta(minutes=10))
    fresh = chain("fresh", ("OrderPlaced", 0), ("StockReserved", 5), start=NOW - timedelta(minutes=1))
    assert chain_state(old, now=NOW, stuck_after=timedelta(minutes=5)) == STATE_STUCK
    assert chain_state(fresh, now=NOW, stuck_after=timedelta(minutes=5)) == STATE_IN_PROGRESS
    assert chain_state(fresh, now=NOW, stuck_after=timedelta(seconds=30)) == STATE_STUCK
    flow = aggregate_flows([old, fresh], now=NOW, stuck_after=timedelta(minutes=5))[0]
    assert flow.stuck == 1 and flow.in_progress == 1
    assert flow.stuck_examples == ("old",)


def test_complete_and_dead_letter_chains_are_never_stuck_however_old():
    long_ago = NOW - timedelta(days=3)
    assert chain_state(chain("a", ("PaymentCompleted", 0), start=long_ago), now=NOW) == STATE_COMPLETE
    assert chain_state(chain("b", ("OrderPlaced", 0), ("Failed", 1), start=long_ago), now=NOW) == STATE_DEAD_LETTER


def test_no_traces_no_flows():
    assert aggregate_flows([], now=NOW) == []


def test_reasons_group_by_shape_most_frequent_first():
    reasons = ["order 1 declined", "order 2 declined", "timeout after 30s", "order 3 declined", ""]
    groups = group_reasons(reasons)
    assert [(group.reason, group.count) for group in groups] == [
        ("order … declined", 3),
        ("timeout after …s", 1),
        ("no reason given", 1),
    ]
    assert groups[0].example == "order 1 declined"
