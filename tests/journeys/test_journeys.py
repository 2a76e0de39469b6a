"""The four user journeys in a real browser (Playwright + Debian's Chromium) against the `make demo` stack.

As a new user meets the product: log in with the demo login and

1. browse the catalog to an event, read its schema and its owners;
2. check a breaking schema change and see which consumers (and their teams) it would break;
3. open the lineage graph and focus a service;
4. search a correlation ID from the demo and read its timeline: a complete chain, and one that ended in the
   dead-letter topic.

Everything on the pages is live: the simulator's traffic, discovery, the lag poller, the trace indexer and
the lineage refresh of the stack that tests/journeys/conftest.py starts with dev/demo.sh. Screenshots of each
step go to artifacts/screenshots/journey-*.png (1280x800 viewport); with EVENTSCOPE_DOCS_IMAGES=1 the ones the
README and docs/guide show are also written to docs/images/ (run it against a fresh Kafka for clean pictures).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import SCREENSHOTS
from tests.journeys.conftest import COMPLETE_PATH

pytestmark = [pytest.mark.browser, pytest.mark.kafka, pytest.mark.redis]

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
SUBJECT = "shop.payments.completed-value"
COMPLETE_TOPICS = [
    "orders.placed",
    "inventory.reserved",
    "payments.completed",
    "shipments.created",
    "notifications.sent",
]


def shot(page: Page, name: str, *, docs: bool = False, full_page: bool = True) -> None:
    """A screenshot in artifacts/screenshots; for docs, also the viewport (1280x800), optimised, in docs/images."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"journey-{name}.png"), full_page=full_page)
    if docs and os.environ.get("EVENTSCOPE_DOCS_IMAGES") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        target = DOCS_IMAGES / f"{name}.png"
        page.screenshot(path=str(target))
        pngquant = shutil.which("pngquant")
        if pngquant:  # 256 colours: a few dozen KB instead of a few hundred
            subprocess.run([pngquant, "--force", "--skip-if-larger", "--output", str(target), str(target)], check=False)


@pytest.fixture
def user_page(browser, demo_stack):
    """A fresh browser context logged in with the demo login, on the home page; fails on any page error."""
    # The stack shares a loaded CI machine with the suite: expect() waits up to 20 s for a page (a wait, not a
    # timing assertion); Playwright's default of 5 s again afterwards, for the other browser tests.
    expect.set_options(timeout=20_000)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: (errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.goto(demo_stack.base_url + "/")
    expect(page.locator(".login-card")).to_be_visible()
    page.fill("#id_username", demo_stack.username)
    page.fill("#id_password", demo_stack.password)
    page.click(".login-card button[type=submit]")
    expect(page.locator("h1")).to_have_text("What would you like to know?")
    yield page
    context.close()
    expect.set_options(timeout=5_000)
    assert errors == [], f"script errors or dialogs on the pages: {errors}"


def test_browse_the_catalog_to_an_event_and_read_its_schema_and_owners(user_page: Page, demo_stack):
    page = user_page
    page.click("header nav >> text=Catalog")
    expect(page.locator("h1")).to_have_text("Catalog")
    # Discovery ran: no "never discovered" warning, the cluster is listed as synced.
    expect(page.get_by_text("never discovered successfully")).to_have_count(0)
    shot(page, "catalog-overview", docs=True)

    page.click(".stat:has-text('Event types')")
    expect(page.locator("h1")).to_have_text("Event types")
    row = page.locator("tbody tr", has_text="PaymentCompleted")
    expect(row).to_contain_text("shop.payments.completed")
    expect(row).to_contain_text("Payments")
    shot(page, "catalog-event-types")

    row.get_by_role("link", name="PaymentCompleted").click()
    expect(page.locator("h1")).to_contain_text("PaymentCompleted")
    facts = page.locator(".facts, .panel").first
    expect(facts).to_contain_text("Payments")  # the owning team
    expect(facts).to_contain_text(SUBJECT)
    producers = page.locator("section", has=page.locator("h2", has_text="Producers"))
    consumers = page.locator("section", has=page.locator("h2", has_text="Consumers"))
    expect(producers).to_contain_text("payments")
    expect(consumers).to_contain_text("shipping")
    expect(consumers).to_contain_text("Logistics")  # the consumer's owning team
    expect(consumers).to_contain_text("analytics")
    expect(page.get_by_text("The payment provider captured the order total.")).to_be_visible()  # business meaning
    shot(page, "catalog-event-type", docs=True)

    # Its schema: the registry's subject, with the latest version and its fields.
    page.get_by_role("link", name=SUBJECT).first.click()
    expect(page.locator("h1")).to_have_text(SUBJECT)
    expect(page.locator("#main, main").first).to_contain_text("PaymentCompleted")
    fields = page.locator("section", has=page.locator("h2", has_text="Fields"))
    expect(fields).to_contain_text("warehouse")
    expect(fields).to_contain_text("Warehouse that holds the reserved stock.")
    fields.evaluate("element => element.scrollIntoView()")  # for the docs: the fields, not the page head
    shot(page, "schema-subject", docs=True)


def test_check_a_breaking_schema_change_and_see_the_affected_consumers(user_page: Page, demo_stack):
    page = user_page
    page.click("header nav >> text=Schemas")
    page.get_by_role("link", name=SUBJECT).first.click()
    expect(page.locator("h1")).to_have_text(SUBJECT)
    page.get_by_role("link", name="Try a new version").click()
    expect(page.locator("#id_schema")).not_to_be_empty()

    # The form starts from the latest version; the change: drop `warehouse` (shipping reads it) and add a
    # required field without a default (new readers cannot read the old records: not BACKWARD compatible).
    schema = json.loads(page.locator("#id_schema").input_value())
    assert any(f["name"] == "warehouse" for f in schema["fields"])
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "warehouse"]
    schema["fields"].append({"name": "loyalty_tier", "type": "string", "doc": "The customer's loyalty tier."})
    page.fill("#id_schema", json.dumps(schema, indent=2))
    page.click("button[value=check]")

    verdict = page.locator("#verdict")
    expect(verdict).to_contain_text("Incompatible under BACKWARD")
    expect(verdict.locator(".problems")).to_contain_text("loyalty_tier")
    consumers = page.locator(".impact-consumers tbody tr")
    shipping = consumers.filter(has=page.locator("a", has_text=re.compile(r"^shipping$")))
    expect(shipping).to_contain_text("breaks")
    expect(shipping).to_contain_text("Logistics")  # its owning team
    expect(consumers.filter(has_text="analytics")).to_have_count(1)
    expect(page.locator(".impact-summary")).to_contain_text("Breaking")
    shot(page, "schema-change-impact", docs=False)
    verdict.evaluate("element => element.scrollIntoView()")  # the verdict, then the consumers it breaks
    shot(page, "schema-change-consumers", docs=True, full_page=False)

    # Nothing was registered: the subject still has one version.
    page.get_by_role("link", name="Overview").click()
    expect(page.locator("table").first.locator("tbody tr")).to_have_count(1)


def test_open_the_lineage_graph_and_focus_a_service(user_page: Page, demo_stack):
    page = user_page
    page.click("header nav >> text=Lineage")
    expect(page.locator("h1")).to_have_text("Lineage")
    figure = page.locator("#lineage-figure")
    expect(figure.locator(".scatterlayer .trace path.point").first).to_be_attached()
    shot(page, "lineage-graph")

    # Focus the payments service by its name, one hop up, two down.
    page.fill("#id_focus", "payments")
    page.fill("#id_up", "1")
    page.fill("#id_down", "2")
    page.click("#lineage-filters button[type=submit]")
    notice = page.locator(".lineage-focus-notice")
    expect(notice).to_contain_text("payments")
    expect(notice).to_contain_text("service")
    expect(figure.locator(".scatterlayer .trace path.point").first).to_be_attached()
    labels = figure.inner_text()
    for node in ("payments", "shop.payments.completed", "shop.payments.failed", "shop.shipping", "shop.deadletter"):
        assert node in labels, f"{node} not in the focused graph: {labels!r}"
    assert "shop.orders.placed" not in labels  # two hops up: outside the focus
    assert re.search(r"\d+ nodes · [1-9]\d* edges", page.locator("h1 + *").first.inner_text())
    shot(page, "lineage-focus-service", docs=True)

    # The node opens the service's page.
    page.get_by_role("link", name="payments", exact=True).first.click()
    expect(page.locator("h1")).to_contain_text("payments")


def search(page: Page, query: str) -> None:
    page.fill("header .search input[name=q]", query)
    page.press("header .search input[name=q]", "Enter")
    expect(page.locator("h1")).to_contain_text("Search")


def open_trace(page: Page, base_url: str, correlation_id: str) -> None:
    hit = page.locator(".search-hit[data-kind=trace]", has_text=correlation_id).first
    expect(hit).to_contain_text("matched by correlation ID")
    hit.locator("a.search-hit-title").click()
    expect(page).to_have_url(f"{base_url}/traces/{correlation_id}/")
    expect(page.locator("h1")).to_have_text(f"Trace {correlation_id}")
    expect(page.locator(".trace-timeline .js-plotly-plot .main-svg").first).to_be_attached()


def test_search_a_correlation_id_and_read_its_timeline_including_a_dead_letter(user_page: Page, demo_stack):
    page = user_page
    # Where a user finds correlation IDs from the demo: the flows page lists the paths chains took, with
    # examples. Take one of the complete path and one that ended in the dead-letter topic.
    page.click("header nav >> text=Monitoring")
    page.get_by_role("link", name="Flows").first.click()
    expect(page.locator("h1")).to_have_text("Flows")
    page.select_option("select[name=window]", "1h")  # this run's chains (a reused broker holds older ones)
    page.click("form.filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"window=1h"))
    complete_flow = page.locator(f'section.flow[data-flow="{">".join(COMPLETE_PATH)}"]')
    expect(complete_flow.locator(".badge.fresh")).to_contain_text("complete")
    dead_flow = page.locator('section.flow[data-flow$=">shop.deadletter"]').first
    expect(dead_flow.locator(".badge.warn")).to_contain_text("dead-lettered")
    shot(page, "flows")
    complete_id = complete_flow.locator(".flow-examples a").first.inner_text()
    dead_id = dead_flow.locator(".flow-examples a").first.inner_text()

    # A complete chain: order placed, stock reserved, paid, shipped, customer told.
    search(page, complete_id)
    shot(page, "trace-search", docs=True, full_page=False)
    open_trace(page, demo_stack.base_url, complete_id)
    expect(page.locator(".trace-end-badge")).to_have_text("complete")
    hops = page.locator("#hops tbody tr")
    expect(hops).to_have_count(5)
    expect(hops.locator("td:nth-child(4)")).to_have_text([f"shop.{topic}" for topic in COMPLETE_TOPICS])
    expect(hops.first.locator("td:nth-child(3)")).to_have_text("start")
    expect(hops.nth(1).locator("td:nth-child(3)")).to_have_text(re.compile(r"^\+"))  # latency from the hop before
    expect(page.locator(".trace-timeline .js-plotly-plot .scatterlayer .point")).to_have_count(5)
    shot(page, "trace-complete", docs=True)

    # A chain that ended in the dead-letter topic: where it stopped and why.
    search(page, dead_id)
    open_trace(page, demo_stack.base_url, dead_id)
    expect(page.locator(".trace-end-badge")).to_have_text("dead-lettered")
    end = page.locator("#trace-end.trace-end-dead_letter")
    expect(end).to_contain_text("Dead-lettered on shop.deadletter")
    expect(end.locator(".trace-reason")).not_to_be_empty()
    expect(end.locator(".error-headers")).to_contain_text("error.service")
    expect(page.locator("#hops tbody tr").last).to_have_class(re.compile(r"\bis-dead-letter\b"))
    expect(page.locator("#hops tbody tr").first.locator("td:nth-child(6)")).to_have_text("OrderPlaced")
    shot(page, "trace-dead-letter", docs=True)
