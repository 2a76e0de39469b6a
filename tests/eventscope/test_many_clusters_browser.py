"""Two clusters in a real browser (Playwright + Debian's Chromium): the topic list filtered by cluster with the
filter bar's select, and the lineage graph where the same topic and group names exist on both clusters.
Screenshots: artifacts/screenshots/many-clusters-*.png.
"""

from __future__ import annotations

import pytest

from catalog.services import documentation
from lineage.services import refresh_edges
from tests.conftest import SCREENSHOTS
from tests.factories import make_cluster, make_group, make_topic

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two_clusters():
    orders = documentation.service_create(name="orders")
    shipping = documentation.service_create(name="shipping")
    returns = documentation.service_create(name="returns")
    for name in ("east", "west"):
        cluster = make_cluster(name, discovery_enabled=False)
        placed = make_topic(cluster, "shop.orders.placed")
        shipped = make_topic(cluster, "shop.shipments.created")
        make_group(cluster, "shop.shipping", topics=[placed], service=shipping)
        documentation.relation_create(service=orders, direction="produces", topic=placed)
        documentation.relation_create(service=shipping, direction="produces", topic=shipped)
        if name == "west":
            make_group(cluster, "shop.returns", topics=[shipped], service=returns)
    refresh_edges(None)


def _login(page, live_server, path: str) -> None:
    page.goto(f"{live_server.url}{path}")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "s3cret-pass!")
    page.click(".login-card button[type=submit]")
    page.wait_for_url(f"{live_server.url}{path}")


def test_filter_the_topic_list_by_cluster_and_see_both_in_the_lineage_graph(live_server, make_user, page, two_clusters):
    make_user("alice", "viewer")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    _login(page, live_server, "/catalog/topics/")
    assert page.locator("#results tbody tr").count() == 4  # the same two names on each cluster
    page.select_option("select[name=cluster]", "west")
    page.wait_for_url("**/catalog/topics/?*cluster=west*")
    page.wait_for_function("() => document.querySelectorAll('#results tbody tr').length === 2")
    rows = page.locator("#results tbody tr")
    assert all("west" in rows.nth(i).inner_text() for i in range(rows.count()))
    page.screenshot(path=str(SCREENSHOTS / "many-clusters-topics-filtered.png"), full_page=True)
    page.reload()  # the URL keeps the choice
    assert page.locator("select[name=cluster]").input_value() == "west"

    page.goto(f"{live_server.url}/lineage/")
    page.wait_for_function(
        "() => { const gd = document.getElementById('lineage-figure');"
        " return !!(gd && gd._fullLayout && gd.querySelector('.scatterlayer .trace path.point')); }"
    )
    labels = page.evaluate(
        "() => document.getElementById('lineage-figure').data.filter(t => t.meta === 'nodes').flatMap(t => t.text)"
    )
    for name in ("east/shop.orders.placed", "west/shop.orders.placed", "east/shop.shipping", "west/shop.shipping"):
        assert name in labels
    assert "shipping" in labels and "west/shop.returns" in labels
    page.screenshot(path=str(SCREENSHOTS / "many-clusters-lineage.png"), full_page=True)

    page.select_option("#id_cluster", "east")
    page.click("#lineage-filters button[type=submit]")
    page.wait_for_url("**/lineage/?*cluster=east*")
    labels = page.evaluate(
        "() => document.getElementById('lineage-figure').data.filter(t => t.meta === 'nodes').flatMap(t => t.text)"
    )
    assert "shop.orders.placed" in labels and not any("west" in label or "returns" in label for label in labels)
    assert errors == []
