"""What the shop's services do: pure functions from an event to the events a service emits.

Nothing here touches Kafka or the clock. Every choice (an order's items, whether stock runs out,
whether a payment is declined, whether a service fails on a record) is derived from a hash of the
run's seed, the order id and the service, never from shared RNG state: the same seed gives the same
orders and the same outcomes however the threads of a run interleave.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from simulator.events import is_event_body, make_event
from simulator.topology import SERVICES

__all__ = [
    "InvalidEvent",
    "PlacedOrder",
    "ShopOdds",
    "SimulatedFailure",
    "chance",
    "place_order",
    "react",
    "rfc3339",
]


class SimulatedFailure(Exception):
    """A processing failure the simulator injects (the failure rate); the record goes to the dead-letter topic."""


class InvalidEvent(ValueError):
    """The input record is not one of the shop's events (or not one this service consumes)."""


@dataclass(frozen=True)
class ShopOdds:
    """The run's seed and the probabilities that decide each order's fate."""

    seed: int
    failure_rate: float = 0.0
    stock_rejection_rate: float = 0.1
    payment_decline_rate: float = 0.1


@dataclass(frozen=True)
class PlacedOrder:
    """A new order: its chain's correlation id and its OrderPlaced event."""

    correlation_id: str
    event: dict[str, Any]


# ---------------------------------------------------------------------------------------------
# Deterministic choices
# ---------------------------------------------------------------------------------------------
def _digest(seed: int, *parts: object) -> bytes:
    return hashlib.sha256("|".join(map(str, (seed, *parts))).encode()).digest()


def chance(seed: int, order_id: str, purpose: str) -> float:
    """A number in [0, 1) fixed by seed, order and purpose (e.g. "payments.failure")."""
    return int.from_bytes(_digest(seed, order_id, purpose)[:8], "big") / 2**64


def _hex(seed: int, *parts: object, length: int) -> str:
    return _digest(seed, *parts).hex()[:length]


def _event_id(seed: int, order_id: str, event_type: str) -> str:
    # Deterministic, so a redelivered input yields the same event id and consumers can de-duplicate.
    return str(uuid.UUID(bytes=_digest(seed, order_id, event_type)[:16], version=4))


def _rng(seed: int, order_id: str, purpose: str) -> random.Random:
    # Seeding with a string hashes it (SHA-512), independent of PYTHONHASHSEED.
    return random.Random(f"{seed}|{order_id}|{purpose}")


def rfc3339(moment: dt.datetime) -> str:
    """`moment` as RFC 3339 in UTC with milliseconds, e.g. 2025-05-01T12:00:00.123Z."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------------
# The shop's world
# ---------------------------------------------------------------------------------------------
CATALOG: tuple[tuple[str, Decimal], ...] = (
    ("KB-MECH-87", Decimal("89.00")),
    ("MS-ERGO-02", Decimal("39.90")),
    ("HD-USB-C-7", Decimal("24.50")),
    ("MN-27-4K", Decimal("329.00")),
    ("CB-USB-C-2M", Decimal("9.99")),
    ("LP-STAND-AL", Decimal("45.00")),
    ("WC-1080P", Decimal("59.00")),
    ("HS-NC-700", Decimal("199.00")),
    ("SSD-1TB-NV", Decimal("79.90")),
    ("PAD-XL-DESK", Decimal("19.90")),
)
COUNTRIES = ("DE", "DE", "FR", "NL", "GB", "US", "US", "ES", "IT", "PL")
CURRENCY_BY_COUNTRY = {"GB": "GBP", "US": "USD"}  # everyone else pays in EUR
WAREHOUSE_BY_COUNTRY = {"GB": "wh-lhr-1", "US": "wh-ewr-1"}  # everyone else ships from Frankfurt
CARRIERS_BY_COUNTRY = {"GB": ("royal-mail", "dpd"), "US": ("ups", "fedex", "usps")}
EU_CARRIERS = ("dhl", "dpd", "gls")
PAYMENT_METHODS = ("card", "card", "card", "paypal", "bank_transfer")
DECLINE_REASONS = ("card_declined", "insufficient_funds", "fraud_suspected")
REJECTION_REASONS = ("out_of_stock", "out_of_stock", "discontinued")
CHANNELS = ("email", "email", "sms", "push")
FAILURE_MESSAGES = {
    "inventory": "stock service timed out after 3000 ms",
    "payments": "payment provider answered HTTP 503 Service Unavailable",
    "shipping": "carrier API rejected the delivery address",
    "notifications": "messaging provider rate limit exceeded",
}


def place_order(seed: int, sequence: int, now: dt.datetime) -> PlacedOrder:
    """The `sequence`-th order of the run with this seed (the same seed and number give the same order)."""
    order_id = "ord-" + _hex(seed, "order-id", sequence, length=16)
    correlation_id = _hex(seed, "correlation-id", sequence, length=32)
    rng = _rng(seed, order_id, "order")
    country = rng.choice(COUNTRIES)
    lines = rng.sample(CATALOG, k=rng.randint(1, 4))
    items = [{"sku": sku, "quantity": rng.randint(1, 3), "unit_price": str(price)} for sku, price in lines]
    amount = sum(Decimal(item["unit_price"]) * item["quantity"] for item in items)
    event = make_event(
        "OrderPlaced",
        event_id=_event_id(seed, order_id, "OrderPlaced"),
        occurred_at=rfc3339(now),
        order_id=order_id,
        customer_id=f"cus-{rng.randrange(1, 5000):05d}",
        items=items,
        amount=str(amount),
        currency=CURRENCY_BY_COUNTRY.get(country, "EUR"),
        ship_to_country=country,
    )
    return PlacedOrder(correlation_id=correlation_id, event=event)


# ---------------------------------------------------------------------------------------------
# Reactions, one per consuming service
# ---------------------------------------------------------------------------------------------
def _reserve_stock(order: Mapping[str, Any], odds: ShopOdds, now: dt.datetime) -> list[dict[str, Any]]:
    order_id = order["order_id"]
    rng = _rng(odds.seed, order_id, "inventory")
    common = {"occurred_at": rfc3339(now), "order_id": order_id, "causation_id": order["event_id"]}
    if chance(odds.seed, order_id, "inventory.stock") < odds.stock_rejection_rate:
        short = rng.choice(order["items"])
        return [
            make_event(
                "StockRejected",
                event_id=_event_id(odds.seed, order_id, "StockRejected"),
                **common,
                customer_id=order["customer_id"],
                sku=short["sku"],
                requested_quantity=short["quantity"],
                available_quantity=rng.randrange(short["quantity"]),
                reason=rng.choice(REJECTION_REASONS),
            )
        ]
    return [
        make_event(
            "StockReserved",
            event_id=_event_id(odds.seed, order_id, "StockReserved"),
            **common,
            customer_id=order["customer_id"],
            reservation_id="res-" + _hex(odds.seed, order_id, "reservation", length=12),
            warehouse=WAREHOUSE_BY_COUNTRY.get(order["ship_to_country"], "wh-fra-1"),
            items=order["items"],
            amount=order["amount"],
            currency=order["currency"],
            ship_to_country=order["ship_to_country"],
        )
    ]


def _take_payment(reservation: Mapping[str, Any], odds: ShopOdds, now: dt.datetime) -> list[dict[str, Any]]:
    order_id = reservation["order_id"]
    rng = _rng(odds.seed, order_id, "payments")
    common = {
        "occurred_at": rfc3339(now),
        "order_id": order_id,
        "causation_id": reservation["event_id"],
        "customer_id": reservation["customer_id"],
        "payment_id": "pay-" + _hex(odds.seed, order_id, "payment", length=12),
        "amount": reservation["amount"],
        "currency": reservation["currency"],
        "method": rng.choice(PAYMENT_METHODS),
    }
    if chance(odds.seed, order_id, "payments.decline") < odds.payment_decline_rate:
        return [
            make_event(
                "PaymentFailed",
                event_id=_event_id(odds.seed, order_id, "PaymentFailed"),
                **common,
                reason=rng.choice(DECLINE_REASONS),
            )
        ]
    return [
        make_event(
            "PaymentCompleted",
            event_id=_event_id(odds.seed, order_id, "PaymentCompleted"),
            **common,
            warehouse=reservation["warehouse"],
            ship_to_country=reservation["ship_to_country"],
        )
    ]


def _create_shipment(payment: Mapping[str, Any], odds: ShopOdds, now: dt.datetime) -> list[dict[str, Any]]:
    order_id = payment["order_id"]
    rng = _rng(odds.seed, order_id, "shipping")
    country = payment["ship_to_country"]
    return [
        make_event(
            "ShipmentCreated",
            event_id=_event_id(odds.seed, order_id, "ShipmentCreated"),
            occurred_at=rfc3339(now),
            order_id=order_id,
            causation_id=payment["event_id"],
            customer_id=payment["customer_id"],
            shipment_id="shp-" + _hex(odds.seed, order_id, "shipment", length=12),
            warehouse=payment["warehouse"],
            carrier=rng.choice(CARRIERS_BY_COUNTRY.get(country, EU_CARRIERS)),
            tracking_number=_hex(odds.seed, order_id, "tracking", length=18).upper(),
            ship_to_country=country,
            estimated_delivery=(now.astimezone(dt.UTC).date() + dt.timedelta(days=rng.randint(1, 5))).isoformat(),
        )
    ]


NOTIFICATION_TEMPLATES = {
    "ShipmentCreated": "order_shipped",
    "PaymentFailed": "payment_failed",
    "StockRejected": "out_of_stock",
}


def _notify_customer(outcome: Mapping[str, Any], odds: ShopOdds, now: dt.datetime) -> list[dict[str, Any]]:
    order_id = outcome["order_id"]
    return [
        make_event(
            "NotificationSent",
            event_id=_event_id(odds.seed, order_id, "NotificationSent"),
            occurred_at=rfc3339(now),
            order_id=order_id,
            causation_id=outcome["event_id"],
            customer_id=outcome["customer_id"],
            notification_id="ntf-" + _hex(odds.seed, order_id, "notification", length=12),
            channel=_rng(odds.seed, order_id, "notifications").choice(CHANNELS),
            template=NOTIFICATION_TEMPLATES[outcome["event_type"]],
            cause_event_type=outcome["event_type"],
        )
    ]


def _record_analytics(event: Mapping[str, Any], odds: ShopOdds, now: dt.datetime) -> list[dict[str, Any]]:
    # The dashboards it feeds are out of the demo's scope: consuming and committing is the point.
    return []


Reaction = Callable[[Mapping[str, Any], ShopOdds, dt.datetime], list[dict[str, Any]]]

# Which event types each service reacts to, and how.
REACTIONS: dict[str, dict[str, Reaction]] = {
    "inventory": {"OrderPlaced": _reserve_stock},
    "payments": {"StockReserved": _take_payment},
    "shipping": {"PaymentCompleted": _create_shipment},
    "notifications": {event_type: _notify_customer for event_type in NOTIFICATION_TEMPLATES},
    "analytics": {
        event_type: _record_analytics
        for event_type in ("OrderPlaced", "PaymentCompleted", "PaymentFailed", "ShipmentCreated")
    },
}


def react(service: str, event: Any, odds: ShopOdds, now: dt.datetime) -> list[dict[str, Any]]:
    """The events `service` emits for `event` (a decoded body); may be none.

    Raises InvalidEvent for a body that is not an event the service consumes, and SimulatedFailure
    when the odds say this service fails on this order; the caller dead-letters the record either way.
    """
    if not is_event_body(event):
        raise InvalidEvent("the record body is not a shop event with its required fields")
    reaction = REACTIONS[service].get(event["event_type"])
    if reaction is None:
        raise InvalidEvent(f"{service} does not consume {event['event_type']} events")
    fails = chance(odds.seed, event["order_id"], f"{service}.failure") < odds.failure_rate
    if SERVICES[service].dead_letters and fails:
        raise SimulatedFailure(FAILURE_MESSAGES[service])
    return reaction(event, odds, now)
