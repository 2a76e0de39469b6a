"""The latency page in a real browser, over a seeded shop run on the real broker indexed by the real indexer.

Screenshot: artifacts/screenshots/latency-page.png.
"""

from __future__ import annotations

import pytest

from tests.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.kafka, pytest.mark.django_db(transaction=True)]
ORDERS = 25


@pytest.fixture
def indexed_shop(kafka_bootstrap, unique_name):
    from catalog.services.clusters import cluster_ensure_default
    from eventscope.kafka import KafkaAdmin
    from monitoring.indexer import TraceIndexer
    from monitoring.models import TracingSettings
    from simulator.catalog_seed import seed_shop_catalog
    from simulator.shop import Shop, ShopConfig
    from simulator.topology import TOPICS

    prefix = f"{unique_name}."
    cluster = cluster_ensure_default()
    try:
        report = Shop(
            ShopConfig(
                bootstrap_servers=kafka_bootstrap,
                topic_prefix=prefix,
                seed=11,
                order_limit=ORDERS,
                rate=100,
                failure_rate=0.1,
                processing_ms=5,
                progress_interval_s=0,
            )
        ).run()
        assert report.orders_placed == ORDERS
        seed_shop_catalog(topic_prefix=prefix)
        TracingSettings.objects.update_or_create(cluster=cluster, defaults={"include_patterns": [prefix + "*"]})
        with TraceIndexer(cluster, batch_size=200) as indexer:
            assert indexer.run_until_caught_up(max_s=60).records_indexed >= ORDERS * 2
        yield prefix
    finally:
        KafkaAdmin(cluster.connection()).delete_topics([prefix + suffix for suffix in TOPICS])


def test_latency_page_from_the_hub(live_server, make_user, page, indexed_shop):
    make_user("vera", "viewer")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{live_server.url}/monitoring/")
    page.fill("#id_username", "vera")
    page.fill("#id_password", "s3cret-pass!")
    page.click(".login-card button[type=submit]")
    page.wait_for_url(f"{live_server.url}/monitoring/")
    page.click("a.journey[href='/monitoring/latency/']")
    page.wait_for_url(f"{live_server.url}/monitoring/latency/")
    assert page.locator("h1").inner_text() == "Latency"

    services = page.locator("#latency-services tbody tr")
    names = set(services.evaluate_all("rows => rows.map(row => row.dataset.service)"))
    assert {"inventory", "payments", "shipping"} <= names  # from records (CloudEvents source) or the catalog
    topics = page.locator("#latency-topics tbody tr").evaluate_all("rows => rows.map(row => row.dataset.topic)")
    assert indexed_shop + "orders.placed" in topics
    flows = page.locator("#latency-flows tbody tr").evaluate_all("rows => rows.map(row => row.dataset.flow)")
    assert any(flow.startswith("OrderPlaced>") for flow in flows)
    # The CloudEvents type of the shipping service reads as the catalog's event type.
    assert any("ShipmentCreated" in flow and "io.eventscope" not in flow for flow in flows)
    chart = page.locator("#latency-services .js-plotly-plot")
    chart.wait_for()
    assert chart.locator(".boxlayer .trace").count() >= 3  # Plotly drew the boxes

    page.select_option("select[name=window]", "15m")
    page.click(".filters button[type=submit]")
    page.wait_for_url("**/monitoring/latency/?window=15m")
    page.locator("#latency-services .js-plotly-plot").wait_for()
    page.screenshot(path=str(SCREENSHOTS / "latency-page.png"), full_page=True)
    assert dialogs == []
