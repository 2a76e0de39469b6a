"""The services' business behaviour and the event definitions, without Kafka: determinism, odds, chains."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from simulator.behaviour import (
    InvalidEvent,
    ShopOdds,
    SimulatedFailure,
    chance,
    place_order,
    react,
    rfc3339,
)
from simulator.events import ENVELOPE_FIELDS, EVENT_TYPES, FieldSpec, is_event_body, make_event
from simulator.topology import EVENT_TOPIC, SERVICE_CONVENTION, SERVICES, TOPICS

NOW = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.UTC)

# Which service receives each event type on the way to the end of its chain (analytics aside).
NEXT_SERVICE = {
    "OrderPlaced": "inventory",
    "StockReserved": "payments",
    "PaymentCompleted": "shipping",
    "StockRejected": "notifications",
    "PaymentFailed": "notifications",
    "ShipmentCreated": "notifications",
}


def chain(odds: ShopOdds, sequence: int) -> list[str]:
    """The event types of one order's chain, ending in "dead letter by <service>" if a service fails."""
    event = place_order(odds.seed, sequence, NOW).event
    steps = [event["event_type"]]
    while (service := NEXT_SERVICE.get(event["event_type"])) is not None:
        try:
            (event,) = react(service, event, odds, NOW)
        except SimulatedFailure:
            steps.append(f"dead letter by {service}")
            break
        steps.append(event["event_type"])
    return steps


# ---------------------------------------------------------------------------------------------
# Orders
# ---------------------------------------------------------------------------------------------
def test_the_same_seed_and_sequence_give_the_same_order():
    first, again = place_order(42, 7, NOW), place_order(42, 7, NOW + dt.timedelta(hours=1))

    assert first.correlation_id == again.correlation_id
    assert {**first.event, "occurred_at": None} == {**again.event, "occurred_at": None}


def test_orders_differ_by_sequence_and_by_seed():
    orders = [place_order(42, sequence, NOW) for sequence in range(200)] + [place_order(43, 0, NOW)]

    assert len({order.event["order_id"] for order in orders}) == len(orders)
    assert len({order.correlation_id for order in orders}) == len(orders)


def test_correlation_ids_are_w3c_trace_ids():
    assert all(re.fullmatch(r"[0-9a-f]{32}", place_order(1, n, NOW).correlation_id) for n in range(50))


def test_an_order_is_a_valid_order_placed_event_whose_amount_adds_up():
    event = place_order(42, 0, NOW).event

    assert is_event_body(event)
    assert event["event_type"] == "OrderPlaced"
    assert event["occurred_at"] == "2025-05-01T12:00:00.000Z"
    assert "causation_id" not in event and "correlation_id" not in event
    assert 1 <= len(event["items"]) <= 4
    assert Decimal(event["amount"]) == sum(Decimal(item["unit_price"]) * item["quantity"] for item in event["items"])


def test_rfc3339_is_utc_with_milliseconds():
    moment = dt.datetime(2025, 5, 1, 14, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))

    assert rfc3339(moment) == "2025-05-01T12:00:00.123Z"


# ---------------------------------------------------------------------------------------------
# Reactions and odds
# ---------------------------------------------------------------------------------------------
def test_chance_is_a_pure_function_of_seed_order_and_purpose():
    assert chance(1, "ord-1", "payments.failure") == chance(1, "ord-1", "payments.failure")
    assert len({chance(1, "ord-1", "payments.failure"), chance(2, "ord-1", "payments.failure")}) == 2
    assert len({chance(1, "ord-1", "payments.failure"), chance(1, "ord-1", "inventory.failure")}) == 2
    assert all(0 <= chance(1, f"ord-{n}", "x") < 1 for n in range(100))


def test_the_same_seed_gives_the_same_chains_and_event_ids():
    odds = ShopOdds(seed=42, failure_rate=0.2)

    assert [chain(odds, n) for n in range(100)] == [chain(odds, n) for n in range(100)]
    order, no_failures = place_order(42, 3, NOW).event, ShopOdds(seed=42)
    assert react("inventory", order, no_failures, NOW) == react("inventory", order, no_failures, NOW)


def test_every_chain_follows_the_topology():
    odds = ShopOdds(seed=42, failure_rate=0.2)
    endings = {"NotificationSent"} | {f"dead letter by {service}" for service in NEXT_SERVICE.values()}

    chains = [chain(odds, n) for n in range(300)]

    assert all(steps[0] == "OrderPlaced" and steps[-1] in endings for steps in chains)
    # Over 300 orders every path shows up: rejected stock, declined payments, each service failing.
    assert {step for steps in chains for step in steps} == set(NEXT_SERVICE) | endings


def test_the_odds_are_respected():
    orders = [place_order(7, n, NOW).event for n in range(2000)]
    odds = ShopOdds(seed=7, failure_rate=0.2, stock_rejection_rate=0.1)
    failures = rejections = 0
    for order in orders:
        try:
            (outcome,) = react("inventory", order, odds, NOW)
        except SimulatedFailure:
            failures += 1
            continue
        rejections += outcome["event_type"] == "StockRejected"

    assert 0.17 < failures / len(orders) < 0.23
    # Rejection is decided among the orders that did not fail: 10% of the remaining 80%.
    assert 0.06 < rejections / len(orders) < 0.10


def test_failure_rate_zero_never_fails_and_one_always_fails():
    order = place_order(1, 0, NOW).event

    assert react("inventory", order, ShopOdds(seed=1, failure_rate=0.0), NOW)
    with pytest.raises(SimulatedFailure, match="timed out"):
        react("inventory", order, ShopOdds(seed=1, failure_rate=1.0), NOW)


def test_analytics_is_a_sink_that_never_fails():
    order = place_order(1, 0, NOW).event

    assert react("analytics", order, ShopOdds(seed=1, failure_rate=1.0), NOW) == []


def test_causation_links_each_event_to_its_input():
    odds = ShopOdds(seed=42, stock_rejection_rate=0.0, payment_decline_rate=0.0)
    order = place_order(42, 0, NOW).event
    (reserved,) = react("inventory", order, odds, NOW)
    (paid,) = react("payments", reserved, odds, NOW)
    (shipped,) = react("shipping", paid, odds, NOW)
    (notified,) = react("notifications", shipped, odds, NOW)

    assert [event["event_type"] for event in (reserved, paid, shipped, notified)] == [
        "StockReserved",
        "PaymentCompleted",
        "ShipmentCreated",
        "NotificationSent",
    ]
    assert reserved["causation_id"] == order["event_id"]
    assert paid["causation_id"] == reserved["event_id"]
    assert shipped["causation_id"] == paid["event_id"]
    assert notified["causation_id"] == shipped["event_id"]
    assert notified["template"] == "order_shipped"
    assert {event["order_id"] for event in (order, reserved, paid, shipped, notified)} == {order["order_id"]}
    assert paid["amount"] == order["amount"]


def test_a_service_refuses_events_it_does_not_consume():
    order = place_order(1, 0, NOW).event

    with pytest.raises(InvalidEvent, match="payments does not consume OrderPlaced"):
        react("payments", order, ShopOdds(seed=1), NOW)
    with pytest.raises(InvalidEvent, match="not a shop event"):
        react("inventory", {"event_type": "OrderPlaced"}, ShopOdds(seed=1), NOW)
    with pytest.raises(InvalidEvent):
        react("inventory", ["not", "an", "object"], ShopOdds(seed=1), NOW)


# ---------------------------------------------------------------------------------------------
# Event definitions and topology
# ---------------------------------------------------------------------------------------------
def test_make_event_holds_payloads_to_the_definitions():
    fields = {
        "customer_id": "cus-1",
        "items": [],
        "amount": "0",
        "currency": "EUR",
        "ship_to_country": "DE",
    }
    envelope = {"event_id": "e", "occurred_at": "t", "order_id": "o"}

    assert list(make_event("OrderPlaced", **envelope, **fields)) == [
        "event_id",
        "event_type",
        "occurred_at",
        "order_id",
        *fields,
    ]
    with pytest.raises(ValueError, match=r"missing fields \['currency'\]"):
        make_event("OrderPlaced", **envelope, **{k: v for k, v in fields.items() if k != "currency"})
    with pytest.raises(ValueError, match=r"unknown fields \['colour'\]"):
        make_event("OrderPlaced", **envelope, **fields, colour="red")
    with pytest.raises(ValueError, match="unknown event type"):
        make_event("OrderShipped", **envelope)


def test_field_specs_check_their_type():
    with pytest.raises(ValueError, match="unknown type"):
        FieldSpec("x", "float", "no floats: money would lose cents")
    with pytest.raises(ValueError, match="array"):
        FieldSpec("x", "array", "an array needs item fields")


def test_every_event_type_has_one_topic_and_every_producer_a_convention():
    assert set(EVENT_TOPIC) == set(EVENT_TYPES)
    assert set(EVENT_TOPIC.values()) <= set(TOPICS)
    assert {field.name for field in ENVELOPE_FIELDS}.isdisjoint(
        field.name for event_type in EVENT_TYPES.values() for field in event_type.fields
    )
    producers = {name for name, spec in SERVICES.items() if spec.outputs}
    assert set(SERVICE_CONVENTION) == producers
    # The demo shows all four conventions.
    assert len(set(SERVICE_CONVENTION.values())) == 4
