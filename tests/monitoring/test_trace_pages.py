"""Trace, flows, dead-letter and hub pages through the real URL conf, with the correlation index built directly
(rows as the indexer writes them; the indexer's own tests cover the writer): rendering, catalog links, the end
of a chain, escaped payloads, lookups by key and event ID, the global search's trace hit, pinned query counts."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import Cluster, DeclaredRelation, Topic
from catalog.services import clusters as cluster_services
from catalog.services import documentation
from monitoring.models import TraceEvent

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert('x')</script>"


# ---------------------------------------------------------------------------------------------
# Test data: a small shop in the catalog, and chains in the correlation index
# ---------------------------------------------------------------------------------------------
def make_topic(cluster: Cluster, name: str) -> Topic:
    now = timezone.now()
    return Topic.objects.create(cluster=cluster, name=name, partition_count=3, first_seen=now, last_seen=now)


def make_chain(cluster: Cluster, correlation_id: str, steps, *, start=None, first_offset: int = 0) -> list[TraceEvent]:
    """Rows of one chain: steps are (topic, event_type, ms since start, extra fields)."""
    start = start or timezone.now() - timedelta(minutes=30)
    rows = []
    for index, (topic, event_type, ms, extra) in enumerate(steps):
        fields = {
            "key": "order-1",
            "event_id": f"{correlation_id}-e{index}",
            "payload_excerpt": json.dumps({"order_id": "order-1", "step": index}),
            "payload_encoding": "json",
            **extra,
        }
        rows.append(
            TraceEvent(
                correlation_id=correlation_id,
                cluster=cluster,
                topic=topic,
                partition=0,
                offset=first_offset + index,
                timestamp=start + timedelta(milliseconds=ms),
                event_type=event_type,
                size=len(fields["payload_excerpt"]),
                **fields,
            )
        )
    return TraceEvent.objects.bulk_create(rows)


@pytest.fixture
def shop(db):
    cluster = cluster_services.cluster_create(name="local", bootstrap_servers="127.0.0.1:9092")
    placed = make_topic(cluster, "shop.orders.placed")
    reserved = make_topic(cluster, "shop.inventory.reserved")
    make_topic(cluster, "shop.payments.completed")
    make_topic(cluster, "shop.deadletter")
    order_placed = documentation.event_type_create(name="OrderPlaced", topic=placed)
    stock_reserved = documentation.event_type_create(name="StockReserved", topic=reserved)
    orders = documentation.service_create(name="orders")
    inventory = documentation.service_create(name="inventory")
    payments = documentation.service_create(name="payments")
    analytics = documentation.service_create(name="analytics")  # a pure sink: never an expected next step
    documentation.relation_create(service=orders, direction="produces", event_type=order_placed)
    documentation.relation_create(service=inventory, direction="consumes", topic=placed)
    documentation.relation_create(service=inventory, direction="produces", event_type=stock_reserved)
    documentation.relation_create(service=payments, direction="consumes", event_type=stock_reserved)
    documentation.relation_create(service=payments, direction="produces", topic=make_topic(cluster, "shop.pay"))
    documentation.relation_create(service=analytics, direction="consumes", topic=reserved)
    assert DeclaredRelation.objects.count() == 6
    return cluster


@pytest.fixture
def chains(shop):
    """complete: placed -> reserved -> completed; failed: placed -> dead letter; stuck: placed -> reserved."""
    make_chain(
        shop,
        "corr-complete",
        [
            ("shop.orders.placed", "OrderPlaced", 0, {"producer": "orders"}),
            ("shop.inventory.reserved", "StockReserved", 42, {"producer": "inventory"}),
            ("shop.payments.completed", "PaymentCompleted", 130, {"payload_excerpt": json.dumps({"note": SCRIPT})}),
        ],
    )
    make_chain(
        shop,
        "corr-failed",
        [
            ("shop.orders.placed", "OrderPlaced", 0, {"key": "order-2"}),
            (
                "shop.deadletter",
                "OrderPlaced",
                15,
                {
                    "key": "order-2",
                    "headers": {"error.class": "shop.InjectedFailure", "error.message": f"stock 7 {SCRIPT}"},
                },
            ),
        ],
        first_offset=10,
    )
    make_chain(
        shop,
        "corr-stuck",
        [
            ("shop.orders.placed", "OrderPlaced", 0, {"key": "order-3"}),
            ("shop.inventory.reserved", "StockReserved", 20, {"key": "order-3"}),
        ],
        first_offset=20,
    )
    return shop


# ---------------------------------------------------------------------------------------------
# The trace page
# ---------------------------------------------------------------------------------------------
def test_trace_page_shows_hops_latency_links_and_timeline(viewer, chains):
    response = viewer.get("/traces/corr-complete/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Trace corr-complete" in html
    assert 'id="hops"' in html
    assert "+42.0 ms" in html and "+88.0 ms" in html
    assert "<strong>130.0 ms</strong>" in html  # end to end
    assert 'href="/catalog/topics/local/shop.orders.placed/"' in html
    assert 'href="/catalog/event-types/orderplaced-v1/"' in html or "/catalog/event-types/" in html
    assert 'href="/catalog/services/orders/"' in html
    assert "plotly-4.1.1.min.js" in html and "Plotly.newPlot" in html
    assert "cdn.plot.ly" not in html
    assert "trace-end-complete" in html
    assert "<details" in html


def test_payloads_are_pretty_printed_and_escaped(viewer, chains):
    html = viewer.get("/traces/corr-complete/").content.decode()
    assert "&quot;order_id&quot;: &quot;order-1&quot;" in html  # indented JSON, escaped
    assert SCRIPT not in html
    assert "&lt;script&gt;alert(" in html


def test_dead_letter_end_shows_the_reason_and_error_headers_escaped(viewer, chains):
    html = viewer.get("/traces/corr-failed/").content.decode()
    assert "trace-end-dead_letter" in html
    assert "InjectedFailure: stock 7 &lt;script&gt;" in html
    assert "error.class" in html and "shop.InjectedFailure" in html
    assert SCRIPT not in html
    assert "is-dead-letter" in html


def test_stopped_chain_names_the_expected_next_step_from_the_catalog(viewer, chains):
    html = viewer.get("/traces/corr-stuck/").content.decode()
    assert "trace-end-stopped" in html
    assert 'href="/catalog/services/payments/"' in html
    assert "expected next" in html
    assert "analytics" not in html.split('id="trace-end"')[1].split("</section>")[0]


def test_lookup_by_key_or_event_id_redirects_to_the_correlation_id(viewer, chains):
    response = viewer.get("/traces/order-3/")
    assert response.status_code == 302
    assert response["Location"] == "/traces/corr-stuck/"
    response = viewer.get("/traces/corr-failed-e1/")
    assert response["Location"] == "/traces/corr-failed/"


def test_a_key_on_several_chains_lists_them(viewer, chains):
    make_chain(chains, "corr-other", [("shop.orders.placed", "OrderPlaced", 0, {"key": "order-3"})], first_offset=50)
    response = viewer.get("/traces/order-3/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'href="/traces/corr-stuck/"' in html and 'href="/traces/corr-other/"' in html


def test_unknown_id_is_a_friendly_404_with_a_search_box(viewer, chains):
    response = viewer.get(f"/traces/{'nope'}/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "No events are indexed for" in html
    assert 'class="trace-search"' in html


def test_unknown_id_with_markup_is_escaped(viewer, shop):
    response = viewer.get("/traces/%3Cb%3Ebold%3C%2Fb%3E/")
    assert response.status_code == 404
    assert "<b>bold</b>" not in response.content.decode()


def test_trace_page_needs_a_login(client, chains):
    response = client.get("/traces/corr-complete/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_trace_page_query_count_does_not_grow_with_the_chain(viewer, chains):
    def count(path):
        with CaptureQueriesContext(connection) as queries:
            assert viewer.get(path).status_code == 200
        return len(queries)

    small = count("/traces/corr-complete/")
    make_chain(
        chains,
        "corr-long",
        [("shop.orders.placed", "OrderPlaced", n, {"producer": "orders"}) for n in range(40)],
        first_offset=100,
    )
    assert count("/traces/corr-long/") == small


def test_a_chain_longer_than_the_cap_says_so(viewer, chains, monkeypatch):
    from monitoring import selectors

    monkeypatch.setattr(selectors, "MAX_TRACE_EVENTS", 2)
    html = viewer.get("/traces/corr-complete/").content.decode()
    assert "only the first 2 are shown" in html
    assert 'id="hop-3"' not in html
    assert "only the first" not in viewer.get("/traces/corr-failed/").content.decode()


# ---------------------------------------------------------------------------------------------
# Global search
# ---------------------------------------------------------------------------------------------
def test_search_shows_the_trace_first_for_a_correlation_id(viewer, chains):
    html = viewer.get("/search/", {"q": "corr-complete"}).content.decode()
    assert 'data-kind="trace"' in html
    first_hit = html.split('class="search-hit"')[1]
    assert 'href="/traces/corr-complete/"' in first_hit


def test_search_finds_traces_by_key_and_event_id(viewer, chains):
    html = viewer.get("/search/", {"q": "order-2"}).content.decode()
    assert 'href="/traces/corr-failed/"' in html
    assert "matched by key" in html
    html = viewer.get("/search/", {"q": "corr-stuck-e0"}).content.decode()
    assert 'href="/traces/corr-stuck/"' in html
    assert "matched by event ID" in html


def test_search_suggestions_offer_the_trace(viewer, chains):
    html = viewer.get("/search/suggest/", {"q": "corr-failed"}).content.decode()
    assert 'href="/traces/corr-failed/"' in html


def test_search_without_a_trace_shows_no_trace_group(viewer, chains):
    html = viewer.get("/search/", {"q": "OrderPlaced"}).content.decode()
    assert 'data-kind="trace"' not in html
    assert 'data-kind="event_type"' in html


# ---------------------------------------------------------------------------------------------
# Hub, flows, dead letters
# ---------------------------------------------------------------------------------------------
def test_hub_links_flows_dead_letters_and_indexer_status(viewer, shop):
    html = viewer.get("/monitoring/").content.decode()
    assert "<h1>Monitoring</h1>" in html
    assert 'href="/monitoring/flows/"' in html
    assert 'href="/monitoring/dead-letters/"' in html
    assert 'href="/monitoring/indexer/"' in html
    assert viewer.get("/monitoring/indexer/").status_code == 200


def test_flows_page_shows_percentiles_and_stuck_chains(viewer, chains):
    response = viewer.get("/monitoring/flows/", {"stuck_after": "5m"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-flow="OrderPlaced>StockReserved>PaymentCompleted"' in html
    assert "42.0 ms" in html
    assert "1 stuck" in html
    assert 'href="/traces/corr-stuck/"' in html
    assert 'data-flow="OrderPlaced>shop.deadletter"' in html  # a dead letter is named by its topic
    assert "1 dead-lettered" in html


def test_flows_page_ignores_bad_choices(viewer, chains):
    assert viewer.get("/monitoring/flows/", {"window": "forever", "stuck_after": "x"}).status_code == 200


def test_flows_page_query_count_is_constant(viewer, chains):
    def count():
        with CaptureQueriesContext(connection) as queries:
            assert viewer.get("/monitoring/flows/").status_code == 200
        return len(queries)

    before = count()
    for n in range(10):
        make_chain(chains, f"more-{n}", [("shop.orders.placed", "OrderPlaced", 0, {})], first_offset=200 + n)
    assert count() == before


def test_dead_letters_page_groups_reasons_and_links_traces(viewer, chains):
    response = viewer.get("/monitoring/dead-letters/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "1 dead letter " in html
    assert 'href="/traces/corr-failed/"' in html
    assert "InjectedFailure: stock … &lt;script&gt;" in html
    assert SCRIPT not in html
    assert "Plotly.newPlot" in html
    assert "*.dlq" in html


def test_dead_letters_page_empty(viewer, shop):
    html = viewer.get("/monitoring/dead-letters/").content.decode()
    assert "No dead letters" in html


def test_only_a_cut_payload_is_badged_as_an_excerpt(client, make_user, db):
    from catalog.services.clusters import cluster_ensure_default
    from monitoring.extraction import EXCERPT_CUT_MARKER
    from monitoring.models import TraceEvent

    cluster = cluster_ensure_default()
    common = {"cluster": cluster, "correlation_id": "corr-excerpts", "partition": 0, "payload_encoding": "json"}
    TraceEvent.objects.bulk_create(
        [
            # A whole payload whose record also had a key (size counts key and value): not an excerpt.
            TraceEvent(
                topic="t.a",
                offset=1,
                timestamp="2026-01-01T00:00:00Z",
                size=500,
                payload_excerpt='{"whole": true}',
                **common,
            ),
            TraceEvent(
                topic="t.b",
                offset=2,
                timestamp="2026-01-01T00:00:01Z",
                size=9000,
                payload_excerpt='{"cut": "' + EXCERPT_CUT_MARKER,
                **common,
            ),
        ]
    )
    client.force_login(make_user("vera", "viewer"))
    html = client.get("/traces/corr-excerpts/").content.decode()
    assert html.count("excerpt of") == 1
