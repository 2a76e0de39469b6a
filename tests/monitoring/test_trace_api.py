"""The trace API's contract (DESIGN.md: GET /api/v1/traces/{correlation_id}), trace search, flows: fields, the
error format for unknown IDs and bad input, authentication, pinned query counts, and the OpenAPI document."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from tests.monitoring import test_trace_pages as pages

# The page tests' shop and chains, shared as fixtures of this module too.
shop = pages.shop
chains = pages.chains
make_chain = pages.make_chain

pytestmark = pytest.mark.django_db

PASSWORD = "s3cret-pass!"


@pytest.fixture
def api(make_user):
    make_user("api-vera", "viewer")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=_basic("api-vera", PASSWORD))
    return client


def _basic(username: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def test_trace_contract(api, chains):
    response = api.get("/api/v1/traces/corr-complete")
    assert response.status_code == 200
    body = response.json()
    assert body["correlation_id"] == "corr-complete"
    assert body["event_count"] == 3
    assert body["end_to_end_ms"] == 130.0
    events = body["events"]
    assert [event["topic"] for event in events] == [
        "shop.orders.placed",
        "shop.inventory.reserved",
        "shop.payments.completed",
    ]
    first = events[0]
    for field in ("topic", "partition", "offset", "timestamp", "event_type", "key", "producer", "latency_ms"):
        assert field in first, field
    assert first["latency_ms"] is None
    assert [event["latency_ms"] for event in events[1:]] == [42.0, 88.0]
    assert first["producer"] == "orders"
    assert events[2]["producer"] is None  # unknown, not ""
    assert first["partition"] == 0 and first["offset"] == 0
    assert first["key"] == "order-1"
    assert first["event_type"] == "OrderPlaced"
    assert body["end"]["kind"] == "complete"
    assert body["end"]["topic"] == "shop.payments.completed"
    assert body["started_at"] == first["timestamp"]
    assert body["truncated"] is False


def test_trailing_slash_works_too(api, chains):
    assert api.get("/api/v1/traces/corr-complete/").status_code == 200


def test_dead_letter_and_stopped_ends(api, chains):
    end = api.get("/api/v1/traces/corr-failed").json()["end"]
    assert end["kind"] == "dead_letter"
    assert end["reason"].startswith("InjectedFailure: stock 7")
    assert end["error_headers"]["error.class"] == "shop.InjectedFailure"
    end = api.get("/api/v1/traces/corr-stuck").json()["end"]
    assert end["kind"] == "stopped"
    assert end["expected_next"] == [
        {"service": "payments", "topic": "shop.inventory.reserved", "event_type": "StockReserved"}
    ]
    assert "expected next: payments consuming shop.inventory.reserved" in end["summary"]


def test_unknown_trace_is_a_404_in_the_error_format(api, chains):
    response = api.get("/api/v1/traces/nope")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["status"] == 404
    assert error["code"] == "not_found"
    assert "nope" in error["message"]


def test_anonymous_is_401(chains):
    response = APIClient().get("/api/v1/traces/corr-complete")
    assert response.status_code == 401
    assert response.json()["error"]["status"] == 401
    assert "WWW-Authenticate" in response
    assert APIClient().get("/api/v1/flows/").status_code == 401
    assert APIClient().get("/api/v1/traces/", {"q": "order-1"}).status_code == 401


def test_writes_are_not_allowed(api, chains):
    # Read-only: a viewer is refused before the method is even looked at; nobody can write either way.
    assert api.post("/api/v1/traces/corr-complete", {}).status_code in (403, 405)
    assert api.delete("/api/v1/traces/corr-complete").status_code in (403, 405)


def test_search_by_key_event_id_and_correlation_id(api, chains):
    results = api.get("/api/v1/traces/", {"q": "order-2"}).json()["results"]
    assert [(r["correlation_id"], r["matched_by"], r["events"]) for r in results] == [("corr-failed", "key", 2)]
    results = api.get("/api/v1/traces/", {"q": "corr-stuck-e1"}).json()["results"]
    assert [(r["correlation_id"], r["matched_by"]) for r in results] == [("corr-stuck", "event_id")]
    results = api.get("/api/v1/traces/", {"q": "corr-complete"}).json()["results"]
    assert results[0]["correlation_id"] == "corr-complete"
    assert results[0]["matched_by"] == "correlation_id"
    assert api.get("/api/v1/traces/", {"q": "nothing-like-it"}).json() == {"results": []}


@pytest.mark.parametrize("query", ["", "   ", "x" * 300])
def test_search_bad_query_is_a_400(api, chains, query):
    response = api.get("/api/v1/traces/", {"q": query})
    assert response.status_code == 400
    assert "q" in response.json()["error"]["detail"]


def test_flows(api, chains):
    body = api.get("/api/v1/flows/", {"stuck_after": "5m"}).json()
    assert body["window"] == "24h" and body["stuck_after"] == "5m"
    flows = {tuple(flow["signature"]): flow for flow in body["results"]}
    complete = flows[("OrderPlaced", "StockReserved", "PaymentCompleted")]
    assert complete["chains"] == 1 and complete["complete"] == 1
    assert complete["hops"][0] == {
        "index": 1,
        "source": "OrderPlaced",
        "target": "StockReserved",
        "latency_ms": {"count": 1, "p50": 42.0, "p95": 42.0, "p99": 42.0},
    }
    assert complete["end_to_end_ms"]["p99"] == 130.0
    stuck = flows[("OrderPlaced", "StockReserved")]
    assert stuck["stuck"] == 1 and stuck["stuck_examples"] == ["corr-stuck"]
    assert flows[("OrderPlaced", "shop.deadletter")]["dead_lettered"] == 1


def test_flows_bad_choices_are_a_400(api, chains):
    response = api.get("/api/v1/flows/", {"window": "forever", "stuck_after": "soon"})
    assert response.status_code == 400
    assert set(response.json()["error"]["detail"]) == {"window", "stuck_after"}


def test_query_counts_do_not_grow(api, chains):
    def count(path, **params):
        with CaptureQueriesContext(connection) as queries:
            assert api.get(path, params).status_code == 200
        return len(queries)

    trace_before = count("/api/v1/traces/corr-complete")
    flows_before = count("/api/v1/flows/")
    make_chain(
        chains,
        "corr-long",
        [("shop.orders.placed", "OrderPlaced", n, {"producer": "orders"}) for n in range(30)],
        first_offset=300,
    )
    assert count("/api/v1/traces/corr-long") == trace_before
    assert count("/api/v1/flows/") == flows_before


def test_openapi_documents_the_trace_endpoints(api):
    schema = api.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert "/api/v1/traces/{correlation_id}" in paths  # DESIGN.md's URL, exactly
    assert "/api/v1/traces/{correlation_id}/" not in paths
    assert "/api/v1/traces/" in paths
    assert "/api/v1/flows/" in paths


# ---------------------------------------------------------------------------------------------
# End to end: the simulator on the real broker, the real indexer, then the API and the pages
# ---------------------------------------------------------------------------------------------
@pytest.mark.kafka
def test_simulated_shop_traced_end_to_end(api, client, make_user, kafka_bootstrap, unique_name):
    from catalog.services.clusters import cluster_create
    from monitoring.indexer import TraceIndexer
    from monitoring.models import TraceEvent, TracingSettings
    from simulator.shop import Shop, ShopConfig

    prefix = f"{unique_name}."
    report = Shop(
        ShopConfig(
            bootstrap_servers=kafka_bootstrap,
            topic_prefix=prefix,
            seed=11,
            order_limit=20,
            rate=200,
            failure_rate=0.2,
            processing_ms=0,
            progress_interval_s=0,
        )
    ).run()
    assert report.orders_placed == 20
    cluster = cluster_create(name=unique_name[:90], bootstrap_servers=kafka_bootstrap, discovery_enabled=False)
    TracingSettings.objects.create(cluster=cluster, include_patterns=[prefix + "*"])
    with TraceIndexer(cluster, batch_size=100) as indexer:
        indexer.run_until_caught_up(max_s=60)

    correlation_ids = sorted(set(TraceEvent.objects.filter(cluster=cluster).values_list("correlation_id", flat=True)))
    assert len(correlation_ids) == 20
    dead_lettered = 0
    for correlation_id in correlation_ids:
        body = api.get(f"/api/v1/traces/{correlation_id}").json()
        events = body["events"]
        assert events[0]["topic"] == prefix + "orders.placed"
        timestamps = [event["timestamp"] for event in events]
        assert timestamps == sorted(timestamps)
        assert all(event["latency_ms"] >= 0 for event in events[1:])
        assert sum(event["latency_ms"] for event in events[1:]) == pytest.approx(body["end_to_end_ms"], abs=0.01)
        if body["end"]["kind"] == "dead_letter":
            dead_lettered += 1
            assert body["end"]["topic"] == prefix + "deadletter"
            assert body["end"]["reason"]
            assert "error.message" in body["end"]["error_headers"]
    chains_with_dead_letters = set(
        TraceEvent.objects.filter(cluster=cluster, topic=prefix + "deadletter").values_list("correlation_id", flat=True)
    )
    assert dead_lettered == len(chains_with_dead_letters) > 0  # seed 11 and a 20% failure rate make some

    client.force_login(make_user("e2e-page", "viewer"))
    html = client.get(f"/traces/{correlation_ids[0]}/").content.decode()
    assert "Plotly.newPlot" in html and prefix + "orders.placed" in html


def test_a_nul_character_in_a_trace_id_or_search_is_a_clean_miss(api, chains):
    # PostgreSQL refuses NUL even as a query parameter; it must be a miss, not a 500.
    response = api.get("/api/v1/traces/abc%00def")
    assert response.status_code == 404
    assert response.json()["error"]["status"] == 404
    assert api.get("/api/v1/traces/", {"q": "abc\x00"}).json() == {"results": []}


def test_latency_overview(api, chains):
    body = api.get("/api/v1/latency/").json()

    assert body["window"] == "1h" and body["cluster"] is None
    assert body["chains"] == 3
    services = {group["name"]: group for group in body["services"]}
    # Stock was reserved 42 ms (complete chain) and 20 ms (stuck chain) after the order: both hops land
    # on inventory, the service producing StockReserved (named by the record, or declared in the catalog).
    assert services["inventory"]["hop_ms"]["count"] == 2
    assert services["inventory"]["hop_ms"]["p50"] == 31.0
    topics = {group["name"]: group for group in body["topics"]}
    assert topics["shop.payments.completed"]["hop_ms"]["p50"] == 88.0
    assert topics["shop.payments.completed"]["broker_ms"] is None
    assert body["end_to_end_ms"]["count"] >= 1
    flows = {tuple(flow["signature"]): flow for flow in body["flows"]}
    assert flows[("OrderPlaced", "StockReserved", "PaymentCompleted")]["end_to_end_ms"]["p50"] == 130.0


def test_latency_window_excludes_older_chains(api, chains):
    assert api.get("/api/v1/latency/", {"window": "15m"}).json()["chains"] == 0  # the chains are 30 minutes old


def test_latency_bad_input_and_login(api, chains):
    response = api.get("/api/v1/latency/", {"window": "forever", "cluster": "no-such-cluster"})
    assert response.status_code == 400
    assert set(response.json()["error"]["detail"]) == {"window", "cluster"}
    assert APIClient().get("/api/v1/latency/").status_code == 401
