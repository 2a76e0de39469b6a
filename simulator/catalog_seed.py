"""The demo shop's catalog: its domains, teams, services, event types and topics, seeded through the AsyncAPI import.

Why here and not in the catalog app: everything below is knowledge of the shop (its topology, its event
definitions, who runs which service), so it changes when the simulator changes; and the dependency points
the right way, from the demo to the catalog's public import service, never from the catalog to the demo.

The seed dogfoods the importer: `shop_catalog_snapshot` describes the shop as plain data (pure: derived
from `simulator.topology` and `simulator.events`, with example payloads made by the simulator's own
`simulator.behaviour`), `shop_asyncapi_document` turns it into an AsyncAPI 3.0.0 document, and
`seed_shop_catalog` imports that document with source "seed", then makes a user a member of every team.
Running it again changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from catalog.asyncapi import (
    CONSUMES,
    PRODUCES,
    CatalogSnapshot,
    DomainSpec,
    EventTypeSpec,
    RelationSpec,
    ServiceSpec,
    TeamSpec,
    TopicSpec,
    build_document,
)
from simulator.behaviour import ShopOdds, place_order, react
from simulator.correlation import Convention, EventIdentity, encode_correlation
from simulator.events import EVENT_TYPES, FieldSpec
from simulator.topology import DEAD_LETTER, EVENT_TOPIC, SERVICE_CONVENTION, SERVICES, TOPICS

__all__ = [
    "DEFAULT_TOPIC_PREFIX",
    "ShopCatalogSeed",
    "event_json_schema",
    "seed_shop_catalog",
    "shop_asyncapi_document",
    "shop_catalog_snapshot",
]

# The simulator's own defaults (ShopConfig.topic_prefix; group_prefix None means the topic prefix);
# a test keeps them in step.
DEFAULT_TOPIC_PREFIX = "shop."
SEED_SOURCE = "seed"
REPOSITORY_BASE = "https://git.example.com/shop"


# ---------------------------------------------------------------------------------------------
# Who runs what: the organisation around the simulator's services
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Team:
    slug: str
    name: str
    domain: str | None
    description: str


DOMAINS: tuple[DomainSpec, ...] = (
    DomainSpec("sales", "Sales", "Taking orders: the storefront's checkout and everything up to an accepted order."),
    DomainSpec("fulfilment", "Fulfilment", "Getting paid orders to customers: stock, warehouses and carriers."),
    DomainSpec("payments", "Payments", "Taking the customer's money through the payment provider."),
    DomainSpec("customer", "Customer", "Talking to customers: order updates by email, SMS and push."),
    DomainSpec("data", "Data", "Reporting and analytics on the shop's events."),
)

TEAMS: tuple[_Team, ...] = (
    _Team("checkout", "Checkout", "sales", "Runs the order service and the storefront's checkout."),
    _Team("warehouse", "Warehouse", "fulfilment", "Runs inventory: stock levels and reservations in every warehouse."),
    _Team("payments", "Payments", "payments", "Runs the payment service and the payment provider integration."),
    _Team("logistics", "Logistics", "fulfilment", "Runs shipping: carrier bookings and tracking."),
    _Team("customer-messaging", "Customer Messaging", "customer", "Runs notifications: every message to a customer."),
    _Team("data-platform", "Data Platform", "data", "Runs analytics and the shop's reporting."),
    _Team("platform", "Platform", None, "Runs Kafka and the shared topics, such as the dead-letter topic."),
)

# service -> (owner team, domain, what it does)
SERVICE_OWNERS: dict[str, tuple[str, str, str]] = {
    "orders": ("checkout", "sales", "Accepts orders from the storefront and announces each one as **OrderPlaced**."),
    "inventory": (
        "warehouse",
        "fulfilment",
        "Reserves stock for every placed order, or rejects the order when an item is short.",
    ),
    "payments": ("payments", "payments", "Captures the payment for an order whose stock is reserved."),
    "shipping": ("logistics", "fulfilment", "Books a carrier shipment for every paid order."),
    "notifications": (
        "customer-messaging",
        "customer",
        "Tells the customer how their order ended: shipped, out of stock or payment failed.",
    ),
    "analytics": (
        "data-platform",
        "data",
        "Feeds the shop's dashboards. A pure sink: it consumes and commits, and produces nothing.",
    ),
}

# event type -> (classification, tags, what it means for the business)
EVENT_MEANING: dict[str, tuple[str, tuple[str, ...], str]] = {
    "OrderPlaced": (
        "pii",
        ("orders", "checkout", "customer-data"),
        "The start of every order's chain: a customer checked out a basket. It carries the customer, the order "
        "lines with prices, the total and the delivery country, so it is **personal data** (PII): keep it out "
        "of logs, and consumers must honour deletion requests.",
    ),
    "StockReserved": (
        "internal",
        ("inventory", "fulfilment"),
        "Every line of the order is reserved in one warehouse; the order moves on to payment. A reservation "
        "that is not paid for is released by inventory after a timeout.",
    ),
    "StockRejected": (
        "internal",
        ("inventory", "fulfilment"),
        "The order cannot be fulfilled: an item is out of stock or discontinued. **The order stops here**; "
        "notifications tells the customer.",
    ),
    "PaymentCompleted": (
        "confidential",
        ("payments",),
        "The payment provider captured the order total. This is the point of no return: from here on, a "
        "problem means a refund, not a cancellation.",
    ),
    "PaymentFailed": (
        "confidential",
        ("payments",),
        "The payment was declined (card declined, insufficient funds or suspected fraud). **The order stops "
        "here**; notifications tells the customer, and the stock reservation is released.",
    ),
    "ShipmentCreated": (
        "pii",
        ("shipping", "fulfilment", "customer-data"),
        "A carrier will deliver the order: carrier, tracking number and expected delivery date. It identifies "
        "the customer's delivery, so it is personal data (PII).",
    ),
    "NotificationSent": (
        "pii",
        ("notifications", "customer-data"),
        "The customer was told how their order ended, on which channel and with which template. The end of "
        "every order's chain.",
    ),
}

# How each correlation convention shows up to a consumer, as an AsyncAPI runtime expression and in words.
CORRELATION: dict[Convention, tuple[str, str]] = {
    Convention.PAYLOAD: ("$message.payload#/correlation_id", "the `correlation_id` field of the JSON body"),
    Convention.HEADER: ("$message.header#/correlation_id", "a plain `correlation_id` record header"),
    Convention.TRACEPARENT: (
        "$message.header#/traceparent",
        "the trace id of a W3C `traceparent` header (OpenTelemetry)",
    ),
    Convention.CLOUDEVENTS: (
        "$message.header#/ce_correlationid",
        "the `ce_correlationid` CloudEvents extension header (binary mode)",
    ),
}

# What some consumers declare they read, for impact analysis (lineage.impact): (service, event type) ->
# (the version of the event type's subject its reader schema is, or None when it reads with the writer's
# schema as Confluent's deserializers do without a reader schema; the field paths it reads). The rest declare
# nothing, so the demo shows every verdict: removing `warehouse` from PaymentCompleted breaks shipping (its
# reader schema v1 needs the field, and it reads it), leaves analytics safe (it reads only the money with the
# writer's schema), and leaves notifications (downstream of shipping) unknown.
READER_DECLARATIONS: dict[tuple[str, str], tuple[int | None, tuple[str, ...]]] = {
    ("inventory", "OrderPlaced"): (1, ("order_id", "customer_id", "items[].sku", "items[].quantity")),
    ("payments", "StockReserved"): (1, ("order_id", "customer_id", "amount", "currency", "reservation_id")),
    ("shipping", "PaymentCompleted"): (1, ("order_id", "customer_id", "warehouse", "ship_to_country")),
    ("analytics", "PaymentCompleted"): (None, ("order_id", "amount", "currency", "method", "occurred_at")),
}

EXAMPLE_SEED = 42
EXAMPLE_MOMENT = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.UTC)


# ---------------------------------------------------------------------------------------------
# JSON Schema of the simulator's events
# ---------------------------------------------------------------------------------------------
def event_json_schema(event_type: str) -> dict[str, Any]:
    """The JSON Schema (draft-07) of an event type's body, derived from its field definitions."""
    definition = EVENT_TYPES[event_type]
    return {"title": event_type, "description": definition.doc, **_record_schema(definition.all_fields)}


def _record_schema(fields: tuple[FieldSpec, ...]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {spec.name: _field_schema(spec) for spec in fields},
        "required": [spec.name for spec in fields if spec.required],
        "additionalProperties": False,
    }


def _field_schema(spec: FieldSpec) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "string": {"type": "string"},
        "integer": {"type": "integer"},
        # Money as a decimal string, so it survives JSON without float rounding.
        "decimal": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"},
        "timestamp": {"type": "string", "format": "date-time"},
        "date": {"type": "string", "format": "date"},
        "array": {"type": "array", "items": _record_schema(spec.items) if spec.items else {}},
    }[spec.type]
    return {**schema, "description": spec.doc}


# ---------------------------------------------------------------------------------------------
# Example payloads, made by the simulator itself
# ---------------------------------------------------------------------------------------------
def _producer_of(event_type: str) -> str:
    topic = EVENT_TOPIC[event_type]
    return next(name for name, spec in SERVICES.items() if topic in spec.outputs)


def example_events() -> dict[str, dict[str, Any]]:
    """One body of every event type, as the services would emit it for one order (fixed seed and clock)."""
    happy = ShopOdds(seed=EXAMPLE_SEED, stock_rejection_rate=0.0, payment_decline_rate=0.0)
    order = place_order(EXAMPLE_SEED, 1, EXAMPLE_MOMENT)

    def at(seconds: float) -> dt.datetime:
        return EXAMPLE_MOMENT + dt.timedelta(seconds=seconds)

    reserved = react("inventory", order.event, happy, at(0.2))[0]
    paid = react("payments", reserved, happy, at(0.9))[0]
    shipped = react("shipping", paid, happy, at(1.4))[0]
    events = {
        "OrderPlaced": order.event,
        "StockReserved": reserved,
        "StockRejected": react("inventory", order.event, ShopOdds(EXAMPLE_SEED, stock_rejection_rate=1.0), at(0.2))[0],
        "PaymentCompleted": paid,
        "PaymentFailed": react("payments", reserved, ShopOdds(EXAMPLE_SEED, payment_decline_rate=1.0), at(0.9))[0],
        "ShipmentCreated": shipped,
        "NotificationSent": react("notifications", shipped, happy, at(2.0))[0],
    }
    # Services that carry the correlation id in the body add it when they encode the record (simulator.shop).
    for event_type, body in events.items():
        service = _producer_of(event_type)
        identity = EventIdentity(body["event_id"], event_type, service, body["occurred_at"])
        carrier = encode_correlation(SERVICE_CONVENTION[service], order.correlation_id, identity)
        body.update(carrier.payload_fields)
    return events


# ---------------------------------------------------------------------------------------------
# The shop as a catalog snapshot and as an AsyncAPI document
# ---------------------------------------------------------------------------------------------
def shop_catalog_snapshot(
    *, topic_prefix: str = DEFAULT_TOPIC_PREFIX, group_prefix: str | None = None
) -> CatalogSnapshot:
    """The shop's catalog as plain data, for a simulator run with these prefixes (its defaults by default)."""
    group_prefix = topic_prefix if group_prefix is None else group_prefix
    examples = example_events()
    topic_owner = {EVENT_TOPIC[name]: SERVICE_OWNERS[_producer_of(name)] for name in EVENT_TYPES}

    topics = tuple(
        TopicSpec(
            key=topic_prefix + suffix,
            name=topic_prefix + suffix,
            description=_topic_description(suffix),
            owner=topic_owner[suffix][0] if suffix in topic_owner else "platform",
            domain=topic_owner[suffix][1] if suffix in topic_owner else None,
            tags=("dead-letter",) if suffix == DEAD_LETTER else None,
        )
        for suffix in TOPICS
    )
    event_types = tuple(_event_type_spec(name, examples[name], topic_prefix) for name in EVENT_TYPES)
    services = tuple(
        ServiceSpec(
            slug=name,
            name=name,
            description=_service_description(name, topic_prefix),
            owner=SERVICE_OWNERS[name][0],
            domain=SERVICE_OWNERS[name][1],
            repository_url=f"{REPOSITORY_BASE}/{name}",
            tags=("shop", "demo"),
            consumer_groups=(group_prefix + name,) if spec.inputs else (),
        )
        for name, spec in SERVICES.items()
    )
    return CatalogSnapshot(
        title="Demo shop",
        description="The demo shop that `manage.py simulate` runs on Kafka: six services, one order's chain of events.",
        domains=DOMAINS,
        teams=tuple(
            TeamSpec(
                slug=team.slug,
                name=team.name,
                description=team.description,
                contact_channel=f"#team-{team.slug}",
                domain=team.domain,
            )
            for team in TEAMS
        ),
        services=services,
        topics=topics,
        event_types=event_types,
        relations=_relations(topic_prefix),
    )


def shop_asyncapi_document(*, topic_prefix: str = DEFAULT_TOPIC_PREFIX, group_prefix: str | None = None) -> dict:
    """The shop as an AsyncAPI 3.0.0 document (the whole shop: every service's operations)."""
    return build_document(shop_catalog_snapshot(topic_prefix=topic_prefix, group_prefix=group_prefix))


def _event_types_on(suffix: str) -> list[str]:
    return [name for name, topic in EVENT_TOPIC.items() if topic == suffix]


def _relations(topic_prefix: str) -> tuple[RelationSpec, ...]:
    relations = []
    for name, spec in SERVICES.items():
        for direction, suffixes in ((CONSUMES, spec.inputs), (PRODUCES, spec.outputs)):
            relations.extend(
                RelationSpec(service=name, direction=direction, event_type=(event_type, 1), **_reader(name, event_type))
                if direction == CONSUMES
                else RelationSpec(service=name, direction=direction, event_type=(event_type, 1))
                for suffix in suffixes
                for event_type in _event_types_on(suffix)
            )
        if spec.dead_letters:
            # Dead letters are whatever failed, of any type: the relation is to the topic, not to an event type.
            relations.append(RelationSpec(service=name, direction=PRODUCES, topic=topic_prefix + DEAD_LETTER))
    return tuple(relations)


def _reader(service: str, event_type: str) -> dict[str, Any]:
    declared = READER_DECLARATIONS.get((service, event_type))
    if declared is None:
        return {}
    version, fields = declared
    return {"reader_version": version, "reads_fields": fields} if version is not None else {"reads_fields": fields}


def _event_type_spec(name: str, example: Mapping[str, Any], topic_prefix: str) -> EventTypeSpec:
    classification, tags, meaning = EVENT_MEANING[name]
    producer = _producer_of(name)
    owner, domain, _ = SERVICE_OWNERS[producer]
    location, in_words = CORRELATION[SERVICE_CONVENTION[producer]]
    consumers = sorted(service for service, spec in SERVICES.items() if EVENT_TOPIC[name] in spec.inputs)
    topic = topic_prefix + EVENT_TOPIC[name]
    description = "\n\n".join(
        [
            meaning,
            f"Produced by **{producer}**; consumed by {_names(consumers) or 'nobody yet'}. "
            f"Keyed by `order_id`. The chain's correlation id travels in {in_words}.",
            _fields_table(EVENT_TYPES[name].all_fields),
        ]
    )
    return EventTypeSpec(
        name=name,
        summary=EVENT_TYPES[name].doc,
        description=description,
        owner=owner,
        domain=domain,
        classification=classification,
        tags=tags,
        topic=topic,
        schema_subject=f"{topic}-value",  # TopicNameStrategy, as the Confluent serializers name it
        content_type="application/json",
        payload=event_json_schema(name),
        examples=(dict(example),),
        correlation_location=location,
    )


def _names(services: list[str]) -> str:
    bold = [f"**{service}**" for service in services]
    return ", ".join(bold[:-1]) + f" and {bold[-1]}" if len(bold) > 1 else "".join(bold)


def _fields_table(fields: tuple[FieldSpec, ...]) -> str:
    rows = ["| Field | Type | Required | Meaning |", "| --- | --- | --- | --- |"]
    for spec in fields:
        kind = "array of " + ", ".join(f"`{item.name}`" for item in spec.items) if spec.items else spec.type
        rows.append(f"| `{spec.name}` | {kind} | {'yes' if spec.required else 'no'} | {spec.doc} |")
    return "\n".join(rows)


def _topic_description(suffix: str) -> str:
    if suffix == DEAD_LETTER:
        writers = sorted(name for name, spec in SERVICES.items() if spec.dead_letters)
        return (
            f"Records that {_names(writers)} failed to process, unchanged (body, key and headers, so the "
            "correlation id survives) plus `error.class`, `error.message` and `error.service` headers. "
            "Nobody consumes it automatically: replay by hand after fixing the cause."
        )
    event_types = _event_types_on(suffix)
    return f"Home topic of {', '.join(f'**{name}**' for name in event_types)}, keyed by `order_id`."


def _service_description(name: str, topic_prefix: str) -> str:
    spec = SERVICES[name]
    lines = [SERVICE_OWNERS[name][2], ""]
    if spec.inputs:
        lines.append("- Consumes: " + ", ".join(f"`{topic_prefix}{suffix}`" for suffix in spec.inputs))
    if spec.outputs:
        lines.append("- Produces: " + ", ".join(f"`{topic_prefix}{suffix}`" for suffix in spec.outputs))
    if spec.dead_letters:
        lines.append(f"- Sends records it cannot process to `{topic_prefix}{DEAD_LETTER}`.")
    if spec.convention is not None:
        lines.append(f"- Writes the correlation id as {CORRELATION[spec.convention][1]}.")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Seeding
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShopCatalogSeed:
    """What a seed did: the import's counts, and how many team memberships it added."""

    result: Any  # catalog.services.asyncapi.ImportResult
    memberships_added: int

    def summary(self) -> str:
        return f"{self.result.summary()}; {self.memberships_added} team membership(s) added"


def seed_shop_catalog(
    *, member: Any = None, topic_prefix: str = DEFAULT_TOPIC_PREFIX, group_prefix: str | None = None
) -> ShopCatalogSeed:
    """Import the shop's catalog (source "seed") and make `member` an editor of every team; idempotent."""
    # Imported here: this module's pure half is used without Django's app registry (tests, the document).
    from django.db import transaction

    from catalog.models import Team
    from catalog.services.asyncapi import asyncapi_import
    from catalog.services.documentation import team_set_members

    document = shop_asyncapi_document(topic_prefix=topic_prefix, group_prefix=group_prefix)
    added = 0
    with transaction.atomic():
        result = asyncapi_import(document=document, source=SEED_SOURCE, user=member)
        if member is not None:
            teams = Team.objects.filter(name__in=[team.name for team in TEAMS]).prefetch_related("memberships__user")
            for team in teams:
                members = {membership.user: membership.role for membership in team.memberships.all()}
                if member not in members:
                    team_set_members(team=team, members={**members, member: "editor"})
                    added += 1
    return ShopCatalogSeed(result=result, memberships_added=added)
