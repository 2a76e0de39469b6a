"""CloudEvents types and the catalog's event types: traces, flows, dead letters and links agree on one name."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from catalog.services import clusters as cluster_services
from catalog.services import documentation
from monitoring import selectors
from monitoring.models import TracingSettings
from tests.monitoring.test_trace_pages import make_chain, make_topic

pytestmark = pytest.mark.django_db

CE_TYPE = "io.eventscope.shop.ShipmentCreated"


@pytest.fixture
def shop(db):
    cluster = cluster_services.cluster_create(name="local", bootstrap_servers="127.0.0.1:9092")
    placed = make_topic(cluster, "shop.orders.placed")
    shipped = make_topic(cluster, "shop.shipments.created")
    make_topic(cluster, "shop.deadletter")
    documentation.event_type_create(name="OrderPlaced", topic=placed)
    documentation.event_type_create(name="ShipmentCreated", topic=shipped)
    start = timezone.now() - timedelta(minutes=30)
    # One chain as the shipping service writes it (CloudEvents), one with the catalog's name, one
    # from a legacy producer that needs an alias.
    for correlation_id, shipment_type, offset in (("c-ce", CE_TYPE, 0), ("c-plain", "ShipmentCreated", 10)):
        make_chain(
            cluster,
            correlation_id,
            [
                ("shop.orders.placed", "OrderPlaced", 0, {"key": correlation_id}),
                ("shop.shipments.created", shipment_type, 40, {"key": correlation_id}),
            ],
            start=start,
            first_offset=offset,
        )
    make_chain(
        cluster,
        "c-legacy",
        [
            ("shop.orders.placed", "OrderPlaced", 0, {"key": "c-legacy"}),
            ("shop.shipments.created", "legacy.shipped", 25, {"key": "c-legacy"}),
        ],
        start=start,
        first_offset=20,
    )
    return cluster


def test_a_cloudevents_type_takes_the_catalog_name_and_keeps_the_indexed_one(shop):
    trace = selectors.trace_for("c-ce")
    assert [event.event_type for event in trace.events] == ["OrderPlaced", "ShipmentCreated"]
    assert [event.indexed_event_type for event in trace.events] == ["", CE_TYPE]
    links = selectors.catalog_links(trace.events)
    assert set(links.event_types) == {"OrderPlaced", "ShipmentCreated"}


def test_flows_merge_the_cloudevents_chain_with_the_catalog_named_one(shop):
    flows = {flow.signature: flow.chains for flow in selectors.flows_overview()}
    assert flows[("OrderPlaced", "ShipmentCreated")] == 2
    assert flows[("OrderPlaced", "legacy.shipped")] == 1  # unknown to the catalog, no alias: kept as indexed


def test_a_configured_alias_maps_a_type_the_catalog_calls_otherwise(shop):
    TracingSettings.objects.create(cluster=shop, event_type_aliases={"legacy.shipped": "ShipmentCreated", "bad": 3})
    flows = {flow.signature: flow.chains for flow in selectors.flows_overview()}
    assert flows == {("OrderPlaced", "ShipmentCreated"): 3}
    assert selectors.trace_for("c-legacy").events[-1].indexed_event_type == "legacy.shipped"


def test_trace_page_links_the_catalog_type_and_shows_the_indexed_one(client, make_user, shop):
    client.force_login(make_user("vera", "viewer"))
    page = client.get("/traces/c-ce/").content.decode()
    slug_url = selectors.catalog_links(selectors.trace_for("c-ce").events).event_types["ShipmentCreated"]
    assert f'<a href="{slug_url}">ShipmentCreated</a>' in page
    assert CE_TYPE in page
    assert slug_url.startswith(reverse("catalog:event-type-list"))
