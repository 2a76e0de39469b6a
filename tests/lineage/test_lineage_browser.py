"""The lineage journey in a real browser (Playwright + Debian's Chromium) against a live server.

Log in, open the lineage page (the whole graph), focus a topic from the focus box, then click the topic's
node in the Plotly figure and land on its catalog page, which shows the small lineage view.
Screenshots go to artifacts/screenshots/lineage-*.png.
"""

from __future__ import annotations

import pytest

from catalog.services import documentation
from lineage.services import refresh_edges
from tests.conftest import SCREENSHOTS
from tests.factories import make_cluster, make_group, make_topic

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop():
    cluster = make_cluster("demo")
    sales = documentation.domain_create(name="Sales")
    stock = documentation.domain_create(name="Stock")
    money = documentation.domain_create(name="Money")
    orders = documentation.service_create(name="orders", domain=sales)
    inventory = documentation.service_create(name="inventory", domain=stock)
    payments = documentation.service_create(name="payments", domain=money)
    analytics = documentation.service_create(name="analytics")
    placed = make_topic(cluster, "shop.orders.placed", domain=sales)
    reserved = make_topic(cluster, "shop.inventory.reserved", domain=stock)
    completed = make_topic(cluster, "shop.payments.completed", domain=money)
    make_topic(cluster, "shop.legacy.audit")
    make_group(cluster, "shop.inventory", topics=[placed], service=inventory)
    make_group(cluster, "shop.payments", topics=[reserved], service=payments)
    make_group(cluster, "shop.analytics", topics=[placed, completed], service=analytics)
    documentation.relation_create(service=orders, direction="produces", topic=placed)
    documentation.relation_create(service=inventory, direction="produces", topic=reserved)
    documentation.relation_create(service=payments, direction="produces", topic=completed)
    documentation.relation_create(service=inventory, direction="consumes", topic=placed)
    refresh_edges(cluster)
    return cluster


def wait_for_figure(page) -> None:
    page.wait_for_function(
        "() => { const gd = document.getElementById('lineage-figure');"
        " return !!(gd && gd._fullLayout && gd.querySelector('.scatterlayer .trace path.point')); }"
    )


def click_node(page, url: str) -> None:
    """Click the Plotly marker whose customdata is ``url`` (Plotly picks the point under the mouse)."""
    box = page.evaluate(
        """(url) => {
            const gd = document.getElementById('lineage-figure');
            const traces = gd.querySelectorAll('.scatterlayer .trace');
            for (let t = 0; t < gd.data.length; t++) {
                const custom = gd.data[t].customdata || [];
                const i = custom.indexOf(url);
                if (i < 0) continue;
                const point = traces[t].querySelectorAll('path.point')[i];
                const r = point.getBoundingClientRect();
                return {x: r.x + r.width / 2, y: r.y + r.height / 2};
            }
            return null;
        }""",
        url,
    )
    assert box, f"no node with url {url} in the figure"
    page.mouse.move(box["x"], box["y"])
    page.mouse.click(box["x"], box["y"])


def test_open_the_graph_focus_a_topic_and_click_through_to_its_page(live_server, make_user, page, shop):
    make_user("alice", "viewer")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(f"{live_server.url}/lineage/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "s3cret-pass!")
    page.click(".login-card button[type=submit]")
    page.wait_for_url(f"{live_server.url}/lineage/")
    wait_for_figure(page)
    assert page.locator("h1").inner_text() == "Lineage"
    assert "shop.legacy.audit" in page.locator("#lineage-no-producers").inner_text()
    # Labels are drawn next to the nodes.
    figure_text = page.locator("#lineage-figure").inner_text()
    assert "shop.orders.placed" in figure_text and "orders" in figure_text
    page.screenshot(path=str(SCREENSHOTS / "lineage-whole-graph.png"), full_page=True)

    # Focus on a topic, one hop each way.
    page.fill("#id_focus", "topic:demo/shop.inventory.reserved")
    page.fill("#id_up", "1")
    page.fill("#id_down", "1")
    page.click("#lineage-filters button[type=submit]")
    page.wait_for_selector(".lineage-focus-notice")
    wait_for_figure(page)
    shown = page.evaluate(
        "() => document.getElementById('lineage-figure').data.filter(t => t.meta === 'nodes').flatMap(t => t.text)"
    )
    assert sorted(shown) == ["inventory", "shop.inventory.reserved", "shop.payments"]
    page.screenshot(path=str(SCREENSHOTS / "lineage-focus-topic.png"), full_page=True)

    # Click the topic's node: its catalog page opens, with the small lineage view.
    click_node(page, "/catalog/topics/demo/shop.inventory.reserved/")
    page.wait_for_url(f"{live_server.url}/catalog/topics/demo/shop.inventory.reserved/")
    assert page.locator("h1").inner_text() == "shop.inventory.reserved"
    mini = page.locator("#lineage-mini")
    mini.scroll_into_view_if_needed()
    assert "inventory" in mini.inner_text() and "shop.payments" in mini.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "lineage-topic-page.png"), full_page=True)
    mini.screenshot(path=str(SCREENSHOTS / "lineage-mini-view.png"))
    assert errors == []
