"""The shop's event types and their fields: the one definition that payloads are built from and schemas derive from.

Every event is a flat JSON object: the envelope fields (`ENVELOPE_FIELDS`) followed by the fields
of its type (`EVENT_TYPES`). Field types are a small vocabulary that maps onto both JSON Schema and
Avro: ``string``, ``integer``, ``decimal`` (a decimal string such as "19.90", so money survives
JSON without float rounding), ``timestamp`` (an RFC 3339 string in UTC), ``date`` (ISO 8601) and
``array`` (of records whose fields are `FieldSpec.items`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ENVELOPE_FIELDS",
    "EVENT_TYPES",
    "EventType",
    "FieldSpec",
    "is_event_body",
    "make_event",
    "required_fields",
]

FIELD_TYPES = frozenset({"string", "integer", "decimal", "timestamp", "date", "array"})


@dataclass(frozen=True)
class FieldSpec:
    """One field of an event body."""

    name: str
    type: str
    doc: str
    required: bool = True
    items: tuple[FieldSpec, ...] = ()  # the element record's fields, for type "array"

    def __post_init__(self) -> None:
        if self.type not in FIELD_TYPES:
            raise ValueError(f"field {self.name}: unknown type {self.type!r}")
        if (self.type == "array") != bool(self.items):
            raise ValueError(f"field {self.name}: item fields go with type 'array', and only with it")


@dataclass(frozen=True)
class EventType:
    """An event type: its name (the `event_type` value), what it means, and its own fields."""

    name: str
    doc: str
    fields: tuple[FieldSpec, ...]

    @property
    def all_fields(self) -> tuple[FieldSpec, ...]:
        """Envelope and own fields, in the order they appear in a body."""
        return ENVELOPE_FIELDS + self.fields


# ---------------------------------------------------------------------------------------------
# Field definitions
# ---------------------------------------------------------------------------------------------
ENVELOPE_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("event_id", "string", "Unique id of this event (a UUID); consumers de-duplicate on it."),
    FieldSpec("event_type", "string", "The event type's name, e.g. OrderPlaced."),
    FieldSpec("occurred_at", "timestamp", "When the producing service emitted the event (UTC)."),
    FieldSpec("order_id", "string", "The order the event belongs to; also the record key."),
    FieldSpec(
        "causation_id", "string", "event_id of the event this one reacts to (absent on OrderPlaced).", required=False
    ),
    # Only services whose convention is `payload` set it; the others carry it in headers.
    FieldSpec("correlation_id", "string", "Correlation id of the order's chain (payload convention).", required=False),
)

_CUSTOMER = FieldSpec("customer_id", "string", "The ordering customer.")
_AMOUNT = FieldSpec("amount", "decimal", "Order total, items times unit prices.")
_CURRENCY = FieldSpec("currency", "string", "ISO 4217 currency code of every price in the event.")
_COUNTRY = FieldSpec("ship_to_country", "string", "ISO 3166-1 alpha-2 country of the delivery address.")
_WAREHOUSE = FieldSpec("warehouse", "string", "Warehouse that holds the reserved stock.")
_ORDER_ITEMS = FieldSpec(
    "items",
    "array",
    "The order lines.",
    items=(
        FieldSpec("sku", "string", "Stock-keeping unit."),
        FieldSpec("quantity", "integer", "Units ordered."),
        FieldSpec("unit_price", "decimal", "Price of one unit."),
    ),
)
_PAYMENT_ID = FieldSpec("payment_id", "string", "The payment attempt's id at the payment provider.")
_PAYMENT_METHOD = FieldSpec("method", "string", "card, paypal or bank_transfer.")

EVENT_TYPES: dict[str, EventType] = {
    event_type.name: event_type
    for event_type in (
        EventType(
            "OrderPlaced",
            "A customer placed an order.",
            (_CUSTOMER, _ORDER_ITEMS, _AMOUNT, _CURRENCY, _COUNTRY),
        ),
        EventType(
            "StockReserved",
            "Inventory reserved stock for every line of the order.",
            (
                _CUSTOMER,
                FieldSpec("reservation_id", "string", "The stock reservation's id."),
                _WAREHOUSE,
                _ORDER_ITEMS,
                _AMOUNT,
                _CURRENCY,
                _COUNTRY,
            ),
        ),
        EventType(
            "StockRejected",
            "Inventory could not reserve stock for the order; the order stops here.",
            (
                _CUSTOMER,
                FieldSpec("sku", "string", "The first SKU that was short."),
                FieldSpec("requested_quantity", "integer", "Units the order asked for."),
                FieldSpec("available_quantity", "integer", "Units in stock."),
                FieldSpec("reason", "string", "Why: out_of_stock or discontinued."),
            ),
        ),
        EventType(
            "PaymentCompleted",
            "The customer's payment was captured.",
            (_CUSTOMER, _PAYMENT_ID, _AMOUNT, _CURRENCY, _PAYMENT_METHOD, _WAREHOUSE, _COUNTRY),
        ),
        EventType(
            "PaymentFailed",
            "The payment was declined; the order stops here.",
            (
                _CUSTOMER,
                _PAYMENT_ID,
                _AMOUNT,
                _CURRENCY,
                _PAYMENT_METHOD,
                FieldSpec("reason", "string", "Why: card_declined, insufficient_funds or fraud_suspected."),
            ),
        ),
        EventType(
            "ShipmentCreated",
            "A carrier shipment was booked for the paid order.",
            (
                _CUSTOMER,
                FieldSpec("shipment_id", "string", "The shipment's id."),
                _WAREHOUSE,
                FieldSpec("carrier", "string", "The carrier that delivers."),
                FieldSpec("tracking_number", "string", "The carrier's tracking number."),
                _COUNTRY,
                FieldSpec("estimated_delivery", "date", "Expected delivery date."),
            ),
        ),
        EventType(
            "NotificationSent",
            "The customer was told how their order ended (shipped, out of stock, payment failed).",
            (
                _CUSTOMER,
                FieldSpec("notification_id", "string", "The message's id at the messaging provider."),
                FieldSpec("channel", "string", "email, sms or push."),
                FieldSpec("template", "string", "order_shipped, out_of_stock or payment_failed."),
                FieldSpec("cause_event_type", "string", "The event type the notification reports."),
            ),
        ),
    )
}


# ---------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------
def make_event(
    event_type: str,
    *,
    event_id: str,
    occurred_at: str,
    order_id: str,
    causation_id: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """An event body of `event_type`; raise ValueError if `fields` are not exactly the type's fields.

    Checking against the definitions here keeps payloads and the schemas derived from
    `EVENT_TYPES` from drifting apart.
    """
    definition = EVENT_TYPES.get(event_type)
    if definition is None:
        raise ValueError(f"unknown event type {event_type!r}")
    expected = {spec.name for spec in definition.fields}
    if fields.keys() != expected:
        missing, unknown = expected - fields.keys(), fields.keys() - expected
        raise ValueError(f"{event_type}: missing fields {sorted(missing)}, unknown fields {sorted(unknown)}")
    event: dict[str, Any] = {
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": occurred_at,
        "order_id": order_id,
    }
    if causation_id is not None:
        event["causation_id"] = causation_id
    event.update((spec.name, fields[spec.name]) for spec in definition.fields)
    return event


def required_fields(event_type: str) -> frozenset[str]:
    """Names of the fields every body of `event_type` has."""
    return frozenset(spec.name for spec in EVENT_TYPES[event_type].all_fields if spec.required)


def is_event_body(body: Any) -> bool:
    """Whether `body` looks like one of the shop's events (a known type with its required fields)."""
    return (
        isinstance(body, Mapping)
        and body.get("event_type") in EVENT_TYPES
        and required_fields(body["event_type"]) <= body.keys()
    )
