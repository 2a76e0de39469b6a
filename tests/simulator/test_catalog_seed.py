"""The shop's catalog seed: it matches the simulator's topology and event definitions, and is idempotent."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from jsonschema import Draft7Validator, FormatChecker

from simulator.behaviour import ShopOdds, place_order, react
from simulator.catalog_seed import (
    DEFAULT_TOPIC_PREFIX,
    event_json_schema,
    example_events,
    seed_shop_catalog,
    shop_catalog_snapshot,
)
from simulator.events import EVENT_TYPES, is_event_body
from simulator.shop import ShopConfig
from simulator.topology import DEAD_LETTER, EVENT_TOPIC, SERVICES, TOPICS


def declared_topology(topic_prefix: str = "shop.") -> set[tuple[str, str, str]]:
    """(service, direction, event type name or topic) as the simulator's topology says."""
    on_topic = {topic: name for name, topic in EVENT_TOPIC.items()}
    expected = set()
    for name, spec in SERVICES.items():
        expected |= {(name, "consumes", on_topic[topic]) for topic in spec.inputs}
        expected |= {(name, "produces", on_topic[topic]) for topic in spec.outputs}
        if spec.dead_letters:
            expected.add((name, "produces", topic_prefix + DEAD_LETTER))
    return expected


def test_the_seed_uses_the_simulators_default_prefixes():
    defaults = {field.name: field.default for field in dataclasses.fields(ShopConfig)}
    assert defaults["topic_prefix"] == DEFAULT_TOPIC_PREFIX
    assert defaults["group_prefix"] is None  # None: the topic prefix, which is what the seed assumes


def test_the_json_schemas_accept_what_the_simulator_really_emits():
    validators = {
        name: Draft7Validator(event_json_schema(name), format_checker=FormatChecker()) for name in EVENT_TYPES
    }
    now = dt.datetime(2025, 6, 1, 8, 30, tzinfo=dt.UTC)
    seen = set()
    for sequence in range(60):
        order = place_order(7, sequence, now)
        pending = [("inventory", order.event)]
        bodies = [order.event]
        odds = ShopOdds(seed=7, stock_rejection_rate=0.3, payment_decline_rate=0.3)
        while pending:
            service, event = pending.pop()
            for output in react(service, event, odds, now):
                bodies.append(output)
                for consumer, spec in SERVICES.items():
                    if EVENT_TOPIC[output["event_type"]] in spec.inputs and consumer != "analytics":
                        pending.append((consumer, output))
        for body in bodies:
            errors = list(validators[body["event_type"]].iter_errors(body))
            assert errors == [], (body["event_type"], errors[0].message)
            seen.add(body["event_type"])
    assert seen == set(EVENT_TYPES)


def test_examples_are_real_events_valid_under_their_schema():
    examples = example_events()
    assert set(examples) == set(EVENT_TYPES)
    for name, body in examples.items():
        assert is_event_body(body) and body["event_type"] == name
        assert list(Draft7Validator(event_json_schema(name)).iter_errors(body)) == []
    assert "correlation_id" in examples["OrderPlaced"]  # orders carries it in the body
    assert "correlation_id" not in examples["StockReserved"]  # inventory carries it in a header
    assert example_events() == examples  # fixed seed and clock: the same every time


def test_the_snapshot_matches_the_topology():
    snapshot = shop_catalog_snapshot()
    assert [topic.name for topic in snapshot.topics] == [f"shop.{suffix}" for suffix in TOPICS]
    relations = {(r.service, r.direction, r.event_type[0] if r.event_type else r.topic) for r in snapshot.relations}
    assert relations == declared_topology()


@pytest.mark.django_db
def test_seeding_builds_the_shop_catalog(make_user):
    from catalog.models import ConsumerGroup, DeclaredRelation, EventType, Service, Team

    demo = make_user("demo", "admin")
    seed = seed_shop_catalog(member=demo)
    assert seed.memberships_added == 7

    services = {service.slug: service for service in Service.objects.select_related("owner_team", "domain")}
    assert set(services) == set(SERVICES)
    assert services["orders"].owner_team.contact_channel == "#team-checkout"
    assert services["payments"].domain.name == "Payments"
    assert services["inventory"].repository_url == "https://git.example.com/shop/inventory"
    assert "traceparent" in services["payments"].description  # its correlation convention

    relations = {
        (r.service.slug, r.direction, r.event_type.name if r.event_type else r.topic.name)
        for r in DeclaredRelation.objects.select_related("service", "event_type", "topic")
    }
    assert relations == declared_topology()
    assert set(DeclaredRelation.objects.values_list("source", flat=True)) == {"seed"}

    event_types = {event_type.name: event_type for event_type in EventType.objects.select_related("topic")}
    assert set(event_types) == set(EVENT_TYPES)
    for name, event_type in event_types.items():
        topic = f"shop.{EVENT_TOPIC[name]}"
        assert event_type.topic.name == topic and event_type.topic.cluster.is_default
        assert event_type.schema_subject == f"{topic}-value"
        assert event_type.is_documented
        assert json.loads(event_type.example_payload)["event_type"] == name
    assert event_types["OrderPlaced"].data_classification == "pii"
    assert "customer_id" in event_types["OrderPlaced"].business_meaning  # the fields table, for search

    groups = dict(ConsumerGroup.objects.values_list("group_id", "service__slug"))
    assert groups == {f"shop.{name}": name for name, spec in SERVICES.items() if spec.inputs}
    assert all(demo in team.members.all() for team in Team.objects.prefetch_related("members"))


@pytest.mark.django_db
def test_seeding_again_changes_nothing(make_user):
    from catalog.models import ConsumerGroup, DeclaredRelation, EventType, Service, Team, TeamMembership, Topic

    demo = make_user("demo", "admin")
    seed_shop_catalog(member=demo)
    models = (Service, Team, TeamMembership, Topic, EventType, DeclaredRelation, ConsumerGroup)
    before = {model: list(model.objects.order_by("pk").values()) for model in models}
    again = seed_shop_catalog(member=demo)
    assert not again.result.changed and again.memberships_added == 0
    assert {model: list(model.objects.order_by("pk").values()) for model in models} == before


@pytest.mark.django_db
def test_seeding_keeps_what_discovery_found_and_attaches_its_groups():
    from django.utils import timezone

    from catalog.models import Cluster, ConsumerGroup, Topic

    cluster = Cluster.objects.get(is_default=True)
    now = timezone.now()
    topic = Topic.objects.create(
        cluster=cluster, name="shop.orders.placed", partition_count=3, first_seen=now, last_seen=now
    )
    group = ConsumerGroup.objects.create(
        cluster=cluster, group_id="shop.inventory", state="Stable", first_seen=now, last_seen=now
    )
    result = seed_shop_catalog().result
    assert result.updated["topics"] == 1 and result.updated["consumer_groups"] == 1
    topic.refresh_from_db()
    group.refresh_from_db()
    assert topic.partition_count == 3 and topic.owner_team.name == "Checkout"
    assert group.state == "Stable" and group.service.slug == "inventory"


@pytest.mark.django_db
def test_seeding_for_other_prefixes():
    from catalog.models import ConsumerGroup, Topic

    seed_shop_catalog(topic_prefix="t-demo.", group_prefix="g-")
    assert set(Topic.objects.values_list("name", flat=True)) == {f"t-demo.{suffix}" for suffix in TOPICS}
    assert "g-payments" in set(ConsumerGroup.objects.values_list("group_id", flat=True))
