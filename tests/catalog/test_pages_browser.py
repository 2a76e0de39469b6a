"""The catalog journey in a real browser: Playwright driving Debian's Chromium against a live server whose
catalog was filled by a real discovery run on the local Kafka broker.

Log in, open the catalog home, browse to a topic, read its partitions and configs, document it as an
editor, then search a schema field name and open the hit. Screenshots go to artifacts/screenshots/catalog-*.png.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tests.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.kafka, pytest.mark.django_db(transaction=True)]


ORDER_SCHEMA = {
    "type": "record",
    "name": "OrderPlaced",
    "namespace": "shop.orders",
    "fields": [
        {"name": "order_id", "type": "string"},
        {"name": "loyalty_tier", "type": ["null", "string"], "default": None},
        {"name": "total_cents", "type": "long"},
    ],
}


@pytest.fixture
def discovered_topic(kafka_bootstrap, unique_name):
    """A real topic on the broker, found by a real discovery run, documented through the catalog services."""
    from catalog.services.clusters import cluster_create
    from catalog.services.discovery import discovery_run
    from catalog.services.documentation import event_type_create, relation_create, service_create, team_create
    from eventscope.kafka import KafkaAdmin

    name = f"shop.{unique_name}.placed"
    cluster = cluster_create(name="local", bootstrap_servers=kafka_bootstrap)
    admin = KafkaAdmin(cluster.connection())
    admin.create_topic(name, partitions=3, config={"retention.ms": "86400000", "cleanup.policy": "delete"})
    try:
        run = discovery_run(cluster_id=cluster.pk, trigger="test")
        assert run.status == "succeeded", run.error

        team = team_create(name="Checkout", contact_channel="#checkout")
        orders = service_create(name="orders", owner_team=team)
        order_placed = event_type_create(
            name="OrderPlaced",
            summary="A customer placed an order.",
            owner_team=team,
            topic=cluster.topics.get(name=name),
            schema_subject=f"{name}-value",
        )
        relation_create(service=orders, direction="produces", event_type=order_placed)
        yield name
    finally:
        admin.delete_topics([name])


def register_order_schema(subject: str) -> None:
    from schemas.services import subject_register_version

    subject_register_version(subject=subject, schema_text=json.dumps(ORDER_SCHEMA), schema_type="AVRO")


def test_browse_to_a_topic_document_it_and_find_it_by_a_schema_field(live_server, make_user, page, discovered_topic):
    alice = make_user("alice", "editor")
    topic = discovered_topic
    # She hands the topic to team Checkout below: only its editors may (governance.ownership).
    from catalog.models import Team, TeamMembership

    TeamMembership.objects.create(team=Team.objects.get(name="Checkout"), user=alice, role="editor")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    # Log in, landing on the catalog home.
    page.goto(f"{live_server.url}/catalog/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "s3cret-pass!")
    page.click(".login-card button[type=submit]")
    page.wait_for_url(f"{live_server.url}/catalog/")
    assert page.locator("h1").inner_text() == "Catalog"
    assert page.locator(".stat", has_text="Topics").is_visible()
    page.screenshot(path=str(SCREENSHOTS / "catalog-home.png"), full_page=True)

    # Browse: the Topics card, then narrow the list by typing (HTMX swaps the table and updates the URL).
    page.click(".stat:has-text('Topics')")
    page.wait_for_url("**/catalog/topics/")
    page.fill("#filter-form input[name=q]", topic)
    page.wait_for_url(re.compile(r".*/catalog/topics/\?.*q=" + re.escape(topic)))
    rows = page.locator("#results tbody tr")
    rows.first.wait_for()
    expect(page.locator("#results tbody tr")).to_have_count(1)  # polled from outside: CSP forbids eval
    assert page.locator("#filter-form").count() == 1  # the form was not re-rendered, only the table
    page.screenshot(path=str(SCREENSHOTS / "catalog-topics.png"), full_page=True)
    page.click(f"#results a:has-text('{topic}')")
    page.wait_for_url(f"**/catalog/topics/local/{topic}/")

    # Read the topic: what discovery found on the broker.
    assert page.locator("h1").inner_text() == topic
    assert page.locator(".badge.undocumented").is_visible()
    assert page.locator("#partitions tbody tr").count() == 3
    retention = page.locator("#configs tr[data-config='retention.ms']")
    assert "86400000" in retention.inner_text() and "1 d" in retention.inner_text()
    assert "delete" in page.locator("#configs tr[data-config='cleanup.policy']").inner_text()
    assert page.locator("a", has_text="OrderPlaced").first.is_visible()
    assert page.locator("a", has_text=f"{topic}-value").is_visible()  # its schema subject
    page.screenshot(path=str(SCREENSHOTS / "catalog-topic.png"), full_page=True)

    # Document it as an editor: Markdown renders, a script does not.
    page.click("text=Edit documentation")
    page.wait_for_url(f"**/catalog/topics/local/{topic}/edit/")
    page.select_option("#id_owner_team", label="Checkout")
    page.fill("#id_tags", "orders, checkout")
    page.fill(
        "#id_description",
        "Every order **as placed** by a customer.\n\n<script>alert('xss')</script>\n\n[runbook](javascript:alert(1))",
    )
    page.screenshot(path=str(SCREENSHOTS / "catalog-topic-edit.png"), full_page=True)
    page.click(".edit-form button[type=submit]")
    page.wait_for_url(f"**/catalog/topics/local/{topic}/")
    assert page.locator(".message.success").inner_text() == "Topic documentation saved."
    assert page.locator(".markdown strong").inner_text() == "as placed"
    assert page.locator(".markdown script").count() == 0
    assert page.locator(".markdown a").count() == 0  # the javascript: link stayed text
    assert page.locator(".page-head .badge.undocumented").count() == 0
    assert page.locator(".facts a[href='/catalog/teams/checkout/']").inner_text() == "Checkout"
    page.screenshot(path=str(SCREENSHOTS / "catalog-topic-documented.png"), full_page=True)

    # Search a schema field name from the box on every page and open the hit.
    register_order_schema(f"{topic}-value")
    from catalog.search import search_index_rebuild

    search_index_rebuild()  # the index follows the catalog through signals; rebuild to not depend on timing
    page.fill("header .search input[name=q]", "loyalty_tier")
    page.press("header .search input[name=q]", "Enter")
    page.wait_for_url("**/search/?q=loyalty_tier")
    hit = page.locator(".search-hit", has_text="OrderPlaced").first
    hit.wait_for()
    page.screenshot(path=str(SCREENSHOTS / "catalog-search.png"), full_page=True)
    hit.locator("a.search-hit-title").click()
    page.wait_for_url("**/catalog/event-types/order-placed-v1/")
    assert "OrderPlaced" in page.locator("h1").inner_text()
    assert page.locator(f".facts a[href='/catalog/topics/local/{topic}/']").inner_text() == topic
    page.screenshot(path=str(SCREENSHOTS / "catalog-event-type.png"), full_page=True)

    assert dialogs == []  # no script ran on any page
