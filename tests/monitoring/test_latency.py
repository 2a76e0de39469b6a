"""Latency views: per topic, per service and per flow from correlation chains (pure core, selector, page)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from catalog.services import clusters as cluster_services
from catalog.services import documentation
from monitoring import selectors
from monitoring.flows import MAX_SAMPLES, latency_overview
from monitoring.traces import LOG_APPEND_TIME, TraceEventData, build_trace
from tests.monitoring.test_trace_pages import make_chain, make_topic

T0 = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
SCRIPT = "<script>alert('x')</script>"


# ---------------------------------------------------------------------------------------------
# Pure: monitoring.flows.latency_overview
# ---------------------------------------------------------------------------------------------
def chain(correlation_id: str, steps, *, start_ms: float = 0, indexed_after_ms: float = 5, cluster: str = "local"):
    """steps: (topic, event_type, producer, ms since start, timestamp_type)."""
    events = [
        TraceEventData(
            correlation_id=correlation_id,
            cluster=cluster,
            topic=topic,
            partition=0,
            offset=index,
            timestamp=T0 + timedelta(milliseconds=start_ms + ms),
            event_type=event_type,
            producer=producer,
            timestamp_type=timestamp_type,
            indexed_at=T0 + timedelta(milliseconds=start_ms + ms + indexed_after_ms),
        )
        for index, (topic, event_type, producer, ms, timestamp_type) in enumerate(steps)
    ]
    return build_trace(correlation_id, events)


def orders_chain(correlation_id: str, *, start_ms: float, reserve_ms: float, pay_ms: float):
    return chain(
        correlation_id,
        [
            ("orders", "OrderPlaced", "orders", 0, 1),
            ("reserved", "StockReserved", "inventory", reserve_ms, 1),
            ("paid", "PaymentCompleted", "", reserve_ms + pay_ms, LOG_APPEND_TIME),
        ],
        start_ms=start_ms,
    )


def by_name(groups):
    return {group.name: group for group in groups}


def test_hops_count_for_the_topic_and_service_they_land_on():
    traces = [orders_chain(f"c{i}", start_ms=i * 1000, reserve_ms=10 * (i + 1), pay_ms=100) for i in range(4)]
    overview = latency_overview(traces, since=T0, now=T0 + timedelta(hours=1), service_of=lambda e: e.producer)

    assert (overview.chains, overview.events) == (4, 12)
    topics = by_name(overview.topics)
    assert topics["orders"].hop.count == 0  # a chain's first event has no hop
    assert topics["orders"].events == 4
    assert (topics["reserved"].hop.p50, topics["reserved"].hop.count) == (25.0, 4)  # 10, 20, 30, 40
    assert topics["paid"].hop.p99 == 100.0
    services = by_name(overview.services)
    assert set(services) == {"orders", "inventory"}  # "" (unknown producer) is not a group
    assert services["inventory"].hop.p50 == 25.0
    assert services["inventory"].queue.p50 == 5.0
    # End to end per flow and overall.
    assert overview.end_to_end.p50 == 125.0
    assert [flow.signature for flow in overview.flows] == [("OrderPlaced", "StockReserved", "PaymentCompleted")]
    assert overview.flows[0].slowest_hop.target == "PaymentCompleted"


def test_same_named_topics_on_two_clusters_stay_apart():
    steps = [("orders", "OrderPlaced", "orders", 0, 1), ("reserved", "StockReserved", "inventory", 10, 1)]
    east = chain("east-1", steps, cluster="east")
    west = chain("west-1", [*steps[:1], ("reserved", "StockReserved", "inventory", 70, 1)], cluster="west")

    overview = latency_overview([east, west], since=T0, now=T0 + timedelta(hours=1), service_of=lambda e: e.producer)

    topics = by_name(overview.topics)
    assert set(topics) == {"east/orders", "west/orders", "east/reserved", "west/reserved"}
    assert topics["east/reserved"].hop.p50 == 10.0
    assert topics["west/reserved"].hop.p50 == 70.0
    # One cluster in view: plain topic names, as before.
    assert set(by_name(latency_overview([east], since=T0, now=T0, service_of=lambda e: "").topics)) == {
        "orders",
        "reserved",
    }


def test_time_in_broker_only_for_log_append_time_topics():
    traces = [orders_chain("c1", start_ms=0, reserve_ms=10, pay_ms=10)]
    overview = latency_overview(traces, since=T0, now=T0, service_of=lambda e: e.producer)
    topics = by_name(overview.topics)
    assert topics["paid"].broker.p50 == 5.0
    assert topics["orders"].broker is None and topics["reserved"].broker is None


def test_only_events_in_the_window_count():
    early = orders_chain("early", start_ms=0, reserve_ms=10, pay_ms=500)  # only its last event is in the window
    late = orders_chain("late", start_ms=60_000, reserve_ms=20, pay_ms=30)
    since = T0 + timedelta(milliseconds=400)
    overview = latency_overview([early, late], since=since, now=T0 + timedelta(hours=1), service_of=lambda e: "")

    assert overview.events == 4
    assert overview.chains == 1  # the early chain started before the window: no end-to-end, no flow
    assert overview.end_to_end.count == 1 and overview.end_to_end.p50 == 50.0
    assert by_name(overview.topics)["paid"].hop.count == 2  # 500 (early chain's last hop) and 30
    assert by_name(overview.topics)["orders"].events == 1
    assert overview.services == []


def test_events_without_index_time_have_no_queue_time_and_samples_are_capped():
    events = [
        TraceEventData(
            correlation_id="long",
            cluster="local",
            topic="t",
            partition=0,
            offset=i,
            timestamp=T0 + timedelta(seconds=i),
        )
        for i in range(MAX_SAMPLES * 2 + 10)
    ]
    overview = latency_overview([build_trace("long", events)], since=T0, now=T0, service_of=lambda e: "")
    group = overview.topics[0]
    assert group.queue.count == 0 and group.queue.p50 is None
    assert group.hop.count == MAX_SAMPLES * 2 + 9
    assert 0 < len(group.samples) <= MAX_SAMPLES
    assert group.hop.p50 == 1000.0


# ---------------------------------------------------------------------------------------------
# Selector and page
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def shop(db):
    cluster = cluster_services.cluster_create(name="local", bootstrap_servers="127.0.0.1:9092")
    placed = make_topic(cluster, "shop.orders.placed")
    reserved = make_topic(cluster, "shop.inventory.reserved")
    make_topic(cluster, "shop.payments.completed")
    order_placed = documentation.event_type_create(name="OrderPlaced", topic=placed)
    orders = documentation.service_create(name="orders")
    inventory = documentation.service_create(name="inventory")
    documentation.relation_create(service=orders, direction="produces", event_type=order_placed)
    documentation.relation_create(service=inventory, direction="produces", topic=reserved)
    start = timezone.now() - timedelta(minutes=10)
    for i in range(6):
        make_chain(
            cluster,
            f"lat-{i}",
            [
                ("shop.orders.placed", "OrderPlaced", 0, {}),
                ("shop.inventory.reserved", "StockReserved", 20 + i, {}),
                (
                    "shop.payments.completed",
                    "PaymentCompleted",
                    100 + 10 * i,
                    {"producer": SCRIPT if i == 0 else "payments", "timestamp_type": LOG_APPEND_TIME},
                ),
            ],
            start=start + timedelta(seconds=i),
            first_offset=10 * i,
        )
    make_chain(  # a day ago: outside the 1h window, inside 24h
        cluster,
        "lat-old",
        [("shop.orders.placed", "OrderPlaced", 0, {}), ("shop.inventory.reserved", "StockReserved", 900, {})],
        start=timezone.now() - timedelta(hours=20),
        first_offset=100,
    )
    return cluster


def test_selector_names_services_from_records_or_the_catalog(shop):
    overview = selectors.latency_overview_for(window=timedelta(hours=1))
    services = by_name(overview.services)
    assert set(services) == {"orders", "inventory", "payments", SCRIPT}  # orders, inventory: declared producers
    assert services["inventory"].hop.p50 == pytest.approx(22.5)
    assert services["payments"].hop.count == 5
    assert overview.chains == 6
    assert by_name(overview.topics)["shop.payments.completed"].broker is not None
    assert by_name(overview.topics)["shop.inventory.reserved"].broker is None

    day = selectors.latency_overview_for(window=timedelta(hours=24))
    assert day.chains == 7
    assert by_name(day.topics)["shop.inventory.reserved"].hop.p99 > 800


def test_latency_page_shows_services_topics_flows_and_escapes(viewer, shop):
    response = viewer.get("/monitoring/latency/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-service="inventory"' in page and 'data-topic="shop.payments.completed"' in page
    assert 'data-flow="OrderPlaced>StockReserved>PaymentCompleted"' in page
    assert "end to end p50" in page
    assert SCRIPT not in page and "&lt;script&gt;" in page
    assert "js-plotly-plot" in page or "plotly-graph-div" in page
    assert 'value="1h" selected' in page
    assert "lat-old" not in page


def test_latency_window_choice_and_bad_input(viewer, shop):
    day = viewer.get("/monitoring/latency/?window=24h").content.decode()
    assert 'value="24h" selected' in day
    bad = viewer.get("/monitoring/latency/?window=<b>forever</b>")
    assert bad.status_code == 200
    assert 'value="1h" selected' in bad.content.decode()


def test_latency_page_empty_and_login(client, make_user, db):
    assert client.get("/monitoring/latency/").status_code == 302
    client.force_login(make_user("vera", "viewer"))
    assert "No chains were indexed in the last 1h" in client.get("/monitoring/latency/").content.decode()


def test_latency_page_query_count_is_constant(viewer, shop, django_assert_max_num_queries):
    viewer.get("/monitoring/latency/")  # warm caches (sessions, content types)
    with django_assert_max_num_queries(14):
        viewer.get("/monitoring/latency/")
    make_chain(
        shop,
        "lat-more",
        [(f"shop.step{i}", f"Step{i}", i * 5, {"payload_excerpt": json.dumps({"i": i})}) for i in range(30)],
        first_offset=500,
    )
    with django_assert_max_num_queries(14):
        viewer.get("/monitoring/latency/")


def test_hub_links_the_latency_page(viewer, shop):
    assert 'href="/monitoring/latency/"' in viewer.get("/monitoring/").content.decode()
