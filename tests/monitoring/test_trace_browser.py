"""The trace journey in a real browser: Playwright driving Debian's Chromium against a live server whose
correlation index was filled by the real indexer from a seeded shop run on the local Kafka broker.

Log in as a viewer, search a complete chain's correlation ID from the box on the home page and open the trace
hit: the hops in time order and the timeline chart. Then a dead-lettered chain: where it stopped and why. Then
an order ID (the record key): it finds the same trace, and /traces/<order id>/ redirects to it.
Screenshots go to artifacts/screenshots/trace-journey-*.png.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pytest

from tests.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.kafka, pytest.mark.django_db(transaction=True)]

ORDERS = 15
SEED = 11
FAILURE_RATE = 0.25  # per service and record: with this seed some chains dead-letter and some complete


@dataclass(frozen=True)
class Chain:
    correlation_id: str
    order_id: str  # the record key of every event of the chain
    topics: list[str]  # in time order
    event_types: list[str]  # in time order
    reason: str  # why it was dead-lettered ("" when it was not)


@dataclass(frozen=True)
class IndexedRun:
    prefix: str
    complete: Chain
    dead_lettered: Chain


def indexed_chains(cluster) -> list[Chain]:
    from monitoring.models import TraceEvent

    rows: dict[str, list[TraceEvent]] = {}
    for row in TraceEvent.objects.filter(cluster=cluster).order_by("timestamp", "id"):
        rows.setdefault(row.correlation_id, []).append(row)
    return [
        Chain(
            correlation_id=correlation_id,
            order_id=events[0].key,
            topics=[event.topic for event in events],
            event_types=[event.event_type for event in events],
            reason=events[-1].error_reason if events[-1].is_dead_letter else "",
        )
        for correlation_id, events in rows.items()
    ]


@pytest.fixture
def indexed_run(kafka_bootstrap, unique_name) -> IndexedRun:
    """A seeded shop run on the real broker under its own topic prefix, indexed by the real indexer."""
    from catalog.services.clusters import cluster_create
    from eventscope.kafka import KafkaAdmin
    from monitoring.indexer import TraceIndexer
    from monitoring.models import TracingSettings
    from simulator.shop import Shop, ShopConfig
    from simulator.topology import TOPICS

    prefix = f"{unique_name}."
    cluster = cluster_create(name=unique_name[:90], bootstrap_servers=kafka_bootstrap, discovery_enabled=False)
    try:
        report = Shop(
            ShopConfig(
                bootstrap_servers=kafka_bootstrap,
                topic_prefix=prefix,
                seed=SEED,
                order_limit=ORDERS,
                rate=200,
                failure_rate=FAILURE_RATE,
                processing_ms=0,
                progress_interval_s=0,
            )
        ).run()
        assert report.orders_placed == ORDERS
        TracingSettings.objects.create(cluster=cluster, include_patterns=[prefix + "*"])
        with TraceIndexer(cluster, batch_size=100) as indexer:
            progress = indexer.run_until_caught_up(max_s=60)
        assert progress.records_indexed >= ORDERS * 2

        chains = indexed_chains(cluster)
        assert len(chains) == ORDERS
        assert all(chain.event_types[0] == "OrderPlaced" for chain in chains)
        # Complete: shipped and the customer told, no dead letter on the way. (The shipping service writes
        # CloudEvents, so its event type is indexed as "io.eventscope.shop.ShipmentCreated".)
        complete = [
            chain
            for chain in chains
            if chain.topics[-2:] == [prefix + "shipments.created", prefix + "notifications.sent"]
            and prefix + "deadletter" not in chain.topics
        ]
        dead_lettered = [chain for chain in chains if chain.topics[-1] == prefix + "deadletter"]
        assert complete, "the seeded run has no complete chain: pick another seed"
        assert dead_lettered, "the seeded run has no dead-lettered chain: pick another seed or failure rate"
        # The longest complete chain and the dead letter that got furthest make the best pages to look at.
        yield IndexedRun(
            prefix=prefix,
            complete=max(complete, key=lambda chain: len(chain.topics)),
            dead_lettered=max(dead_lettered, key=lambda chain: len(chain.topics)),
        )
    finally:
        KafkaAdmin(cluster.connection()).delete_topics([prefix + suffix for suffix in TOPICS])


def search_from_header(page, query: str) -> None:
    page.fill("header .search input[name=q]", query)
    page.press("header .search input[name=q]", "Enter")
    page.wait_for_url(f"**/search/?q={query}")


def open_trace_hit(page, base_url: str, correlation_id: str) -> None:
    hit = page.locator(".search-hit[data-kind=trace]", has_text=correlation_id).first
    hit.wait_for()
    hit.locator("a.search-hit-title").click()
    page.wait_for_url(f"{base_url}/traces/{correlation_id}/")


def test_find_a_chain_by_correlation_id_read_its_hops_and_where_a_dead_letter_stopped(
    live_server, make_user, page, indexed_run
):
    make_user("vera", "viewer")
    complete, dead = indexed_run.complete, indexed_run.dead_lettered
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    # Log in, landing on the home page.
    page.goto(f"{live_server.url}/")
    page.fill("#id_username", "vera")
    page.fill("#id_password", "s3cret-pass!")
    page.click(".login-card button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator("h1").inner_text() == "What would you like to know?"

    # A complete chain: the correlation ID from the search box, the trace hit first, then its page.
    search_from_header(page, complete.correlation_id)
    assert page.locator(".search-hit").first.get_attribute("data-kind") == "trace"
    assert "matched by correlation ID" in page.locator(".search-hit[data-kind=trace]").first.inner_text()
    open_trace_hit(page, live_server.url, complete.correlation_id)
    assert page.locator("h1").inner_text() == f"Trace {complete.correlation_id}"
    assert page.locator(".trace-end-badge").inner_text() == "complete"
    assert page.locator("#trace-end").get_attribute("class").split()[-1] == "trace-end-complete"

    hops = page.locator("#hops tbody tr")
    assert hops.count() == len(complete.topics)
    assert hops.locator("td:nth-child(6)").all_inner_texts() == complete.event_types
    assert hops.locator("td:nth-child(4)").all_inner_texts() == complete.topics
    assert complete.event_types[0] == "OrderPlaced"
    times = [
        datetime.fromisoformat(title)
        for title in hops.locator("td:nth-child(2)").evaluate_all("cells => cells.map(cell => cell.title)")
    ]
    assert times == sorted(times)
    assert hops.first.locator("td:nth-child(3)").inner_text() == "start"
    assert all(text.startswith("+") for text in hops.locator("td:nth-child(3)").all_inner_texts()[1:])
    assert set(hops.locator("td:nth-child(8)").all_inner_texts()) == {complete.order_id}
    assert page.locator("#hops .is-dead-letter").count() == 0

    timeline = page.locator(".trace-timeline .js-plotly-plot")
    timeline.wait_for()
    assert timeline.locator(".main-svg").count() >= 1  # Plotly drew the figure, not just its container
    assert timeline.locator(".scatterlayer .point").count() == len(complete.topics)
    page.screenshot(path=str(SCREENSHOTS / "trace-journey-complete.png"), full_page=True)

    # A dead-lettered chain: the page says on which topic it stopped and why.
    search_from_header(page, dead.correlation_id)
    open_trace_hit(page, live_server.url, dead.correlation_id)
    assert page.locator(".trace-end-badge").inner_text() == "dead-lettered"
    end = page.locator("#trace-end.trace-end-dead_letter")
    assert dead.reason  # the simulator writes error.message, the indexer keeps it as the reason
    assert f"Dead-lettered on {indexed_run.prefix}deadletter" in end.inner_text()
    assert end.locator(".trace-reason").inner_text() == dead.reason
    assert "error.message" in end.locator(".error-headers").inner_text()
    assert "error.service" in end.locator(".error-headers").inner_text()
    last_hop = page.locator("#hops tbody tr").last
    assert "is-dead-letter" in last_hop.get_attribute("class")
    assert page.locator("#hops tbody tr").first.locator("td:nth-child(6)").inner_text() == "OrderPlaced"
    assert page.locator("details.payload[open]").count() == 1  # the dead letter's payload is open
    page.locator(".trace-timeline .js-plotly-plot").wait_for()
    page.screenshot(path=str(SCREENSHOTS / "trace-journey-dead-letter.png"), full_page=True)

    # An order ID, the record key of every event of the complete chain: the search finds the same trace ...
    search_from_header(page, complete.order_id)
    hit = page.locator(".search-hit[data-kind=trace]")
    assert hit.count() == 1
    assert "matched by key" in hit.inner_text()
    open_trace_hit(page, live_server.url, complete.correlation_id)
    # ... and the trace URL with the order ID redirects to it.
    response = page.goto(f"{live_server.url}/traces/{complete.order_id}/")
    assert response.ok
    assert response.request.redirected_from is not None
    assert response.request.redirected_from.url == f"{live_server.url}/traces/{complete.order_id}/"
    assert page.url == f"{live_server.url}/traces/{complete.correlation_id}/"
    assert page.locator("h1").inner_text() == f"Trace {complete.correlation_id}"

    assert dialogs == []  # no script ran on any page
