"""The shop's wiring: its topics, which service consumes and produces what, and each service's correlation convention.

    orders ──► orders.placed ──► inventory ──► inventory.reserved ──► payments ──► payments.completed ──► shipping
                                     │                                    │                                  │
                                     ▼                                    ▼                                  ▼
                              inventory.rejected                   payments.failed                 shipments.created
                                     └──────────────────────────────┬─────┴──────────────────────────────────┘
                                                                    ▼
                                                  notifications ──► notifications.sent

    analytics (a pure sink) reads orders.placed, payments.completed, payments.failed, shipments.created.
    inventory, payments, shipping and notifications send records they fail to process to `deadletter`.

Topic names here are suffixes; the run's topic prefix (default ``shop.``) goes in front.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from simulator.correlation import Convention

__all__ = [
    "CONSUMER_SERVICES",
    "DEAD_LETTER",
    "EVENT_TOPIC",
    "SERVICES",
    "SERVICE_CONVENTION",
    "SOURCE_SERVICE",
    "TOPICS",
    "TOPIC_ENCODING",
    "Encoding",
    "ServiceSpec",
]

# ---------------------------------------------------------------------------------------------
# Topics
# ---------------------------------------------------------------------------------------------
ORDERS_PLACED = "orders.placed"
INVENTORY_RESERVED = "inventory.reserved"
INVENTORY_REJECTED = "inventory.rejected"
PAYMENTS_COMPLETED = "payments.completed"
PAYMENTS_FAILED = "payments.failed"
SHIPMENTS_CREATED = "shipments.created"
NOTIFICATIONS_SENT = "notifications.sent"
DEAD_LETTER = "deadletter"

TOPICS: tuple[str, ...] = (
    ORDERS_PLACED,
    INVENTORY_RESERVED,
    INVENTORY_REJECTED,
    PAYMENTS_COMPLETED,
    PAYMENTS_FAILED,
    SHIPMENTS_CREATED,
    NOTIFICATIONS_SENT,
    DEAD_LETTER,
)

# Each event type has exactly one home topic.
EVENT_TOPIC: dict[str, str] = {
    "OrderPlaced": ORDERS_PLACED,
    "StockReserved": INVENTORY_RESERVED,
    "StockRejected": INVENTORY_REJECTED,
    "PaymentCompleted": PAYMENTS_COMPLETED,
    "PaymentFailed": PAYMENTS_FAILED,
    "ShipmentCreated": SHIPMENTS_CREATED,
    "NotificationSent": NOTIFICATIONS_SENT,
}

# ---------------------------------------------------------------------------------------------
# Correlation conventions: who writes the correlation id how
# ---------------------------------------------------------------------------------------------
# Every service *reads* whichever convention its input carries (simulator.correlation.extract_correlation)
# and *writes* its own. analytics writes nothing. Dead-letter records keep the failed record's own
# headers and body, so they carry the correlation id in the convention of the record's producer.
SERVICE_CONVENTION: dict[str, Convention] = {
    "orders": Convention.PAYLOAD,  # the legacy order monolith puts it in the JSON body
    "inventory": Convention.HEADER,  # a plain `correlation_id` header
    "payments": Convention.TRACEPARENT,  # instrumented with OpenTelemetry: W3C traceparent
    "shipping": Convention.CLOUDEVENTS,  # emits CloudEvents in binary mode
    "notifications": Convention.PAYLOAD,  # a webhook-style service: the body again
}


# ---------------------------------------------------------------------------------------------
# Value encodings with a schema registry (`simulate --registry-url`)
# ---------------------------------------------------------------------------------------------
class Encoding(StrEnum):
    """How a topic's record values are written when the shop runs against a schema registry."""

    AVRO = "avro"  # Confluent wire format (magic byte, schema id, Avro binary) through the registry
    JSON = "json"  # plain UTF-8 JSON, un-framed; its JSON Schema is registered for documentation


# A topic is Avro when its producer carries the correlation id in headers: the body is then free to
# be binary, and the correlation id stays readable without the registry. The services that carry it
# in the JSON body (orders, notifications) keep plain JSON that anyone can read. Without a registry
# every topic is plain JSON. Dead letters keep the failed record's original bytes, whatever they
# are, so the dead-letter topic has no schema.
TOPIC_ENCODING: dict[str, Encoding] = {
    ORDERS_PLACED: Encoding.JSON,  # orders: payload convention
    INVENTORY_RESERVED: Encoding.AVRO,  # inventory: correlation_id header
    INVENTORY_REJECTED: Encoding.AVRO,
    PAYMENTS_COMPLETED: Encoding.AVRO,  # payments: traceparent
    PAYMENTS_FAILED: Encoding.AVRO,
    SHIPMENTS_CREATED: Encoding.AVRO,  # shipping: CloudEvents binary mode
    NOTIFICATIONS_SENT: Encoding.JSON,  # notifications: payload convention
}


# ---------------------------------------------------------------------------------------------
# Services
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServiceSpec:
    """One service: the topics it consumes and produces, and whether it dead-letters failures."""

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    dead_letters: bool

    @property
    def convention(self) -> Convention | None:
        """How the service writes the correlation id; None for a service that produces nothing."""
        return SERVICE_CONVENTION.get(self.name)


SOURCE_SERVICE = "orders"

# In causal order: every service comes after the services whose output it consumes. The drain
# check relies on that order.
SERVICES: dict[str, ServiceSpec] = {
    spec.name: spec
    for spec in (
        ServiceSpec("orders", inputs=(), outputs=(ORDERS_PLACED,), dead_letters=False),
        ServiceSpec(
            "inventory",
            inputs=(ORDERS_PLACED,),
            outputs=(INVENTORY_RESERVED, INVENTORY_REJECTED),
            dead_letters=True,
        ),
        ServiceSpec(
            "payments",
            inputs=(INVENTORY_RESERVED,),
            outputs=(PAYMENTS_COMPLETED, PAYMENTS_FAILED),
            dead_letters=True,
        ),
        ServiceSpec("shipping", inputs=(PAYMENTS_COMPLETED,), outputs=(SHIPMENTS_CREATED,), dead_letters=True),
        ServiceSpec(
            "notifications",
            inputs=(SHIPMENTS_CREATED, PAYMENTS_FAILED, INVENTORY_REJECTED),
            outputs=(NOTIFICATIONS_SENT,),
            dead_letters=True,
        ),
        # A pure sink: it never produces, not even to the dead-letter topic, so its only trace on
        # the cluster is its consumer group's offsets and lag.
        ServiceSpec(
            "analytics",
            inputs=(ORDERS_PLACED, PAYMENTS_COMPLETED, PAYMENTS_FAILED, SHIPMENTS_CREATED),
            outputs=(),
            dead_letters=False,
        ),
    )
}

CONSUMER_SERVICES: tuple[str, ...] = tuple(name for name, spec in SERVICES.items() if spec.inputs)
