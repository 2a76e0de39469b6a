"""Schema pages in a real browser: Playwright driving Debian's Chromium against a live server.

The journey "can I ship this schema change?": log in, find a subject, read its schema, compare versions, try an
incompatible change and read why it breaks, validate a message. Screenshots go to artifacts/screenshots/schemas-*.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from catalog.services import documentation
from schemas import services
from tests.conftest import SCREENSHOTS
from tests.factories import make_team_editor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


SUBJECT = "shop.orders.placed-value"


def record(*fields: dict) -> str:
    return json.dumps(
        {
            "type": "record",
            "name": "OrderPlaced",
            "namespace": "shop.orders",
            "doc": "An order was placed.",
            "fields": list(fields),
        }
    )


V1 = [
    {"name": "order_id", "type": "string", "doc": "The order's id, as the shop shows it."},
    {"name": "customer_id", "type": "string"},
    {"name": "amount_cents", "type": "int", "doc": "Total in cents."},
]
V2 = [*V1, {"name": "currency", "type": "string", "default": "EUR", "doc": "ISO 4217 code."}]
V3 = [
    *V2[:2],
    {"name": "amount_cents", "type": "long", "doc": "Total in cents, <b>tax</b> included."},
    V2[3],
    {
        "name": "lines",
        "type": {
            "type": "array",
            "items": {
                "type": "record",
                "name": "Line",
                "fields": [{"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}],
            },
        },
        "default": [],
    },
    {"name": "coupon", "type": ["null", "string"], "default": None},
]


@pytest.fixture
def registry():
    for fields in (V1, V2, V3):
        services.subject_register_version(subject=SUBJECT, schema_text=record(*fields))
    team = documentation.team_create(name="Checkout")
    documentation.event_type_create(
        name="OrderPlaced", owner_team=team, schema_subject=SUBJECT, summary="A customer placed an order."
    )
    inventory = json.dumps(
        {
            "type": "object",
            "title": "StockReserved",
            "properties": {"sku": {"type": "string", "description": "Stock keeping unit"}, "qty": {"type": "integer"}},
            "required": ["sku"],
        }
    )
    services.subject_register_version(
        subject="shop.inventory.reserved-value", schema_text=inventory, schema_type="JSON"
    )
    services.config_set(subject="shop.inventory.reserved-value", compatibility="FULL")
    proto = (
        'syntax = "proto3";\npackage shop;\n// A parcel left the warehouse.\n'
        "message ShipmentCreated {\n  string shipment_id = 1;\n  int32 parcels = 2;\n}\n"
    )
    services.subject_register_version(subject="shop/shipments/created-value", schema_text=proto, schema_type="PROTOBUF")


def test_try_an_incompatible_change(live_server, make_user, registry, page):
    alice = make_user("alice", "editor")
    # The shop's subjects belong to teams: alice edits for all of them (governance.ownership).
    make_team_editor(alice)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    page.goto(f"{live_server.url}/schemas/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "s3cret-pass!")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/schemas/")
    assert page.locator("h1").inner_text() == "Schemas"
    assert page.locator(".subjects-table tbody tr").count() == 3
    page.screenshot(path=str(SCREENSHOTS / "schemas-list.png"), full_page=True)

    # Filtering swaps the table (HTMX) and pushes the URL.
    page.select_option("#id_type", "JSON")
    page.wait_for_url("**/schemas/?type=JSON*")
    expect(page.locator(".subjects-table tbody tr")).to_have_count(1)  # CSP forbids eval in the page
    page.select_option("#id_type", "")
    expect(page.locator(".subjects-table tbody tr")).to_have_count(3)

    page.click(f".subjects-table >> text={SUBJECT}")
    page.wait_for_url(f"**/schemas/subjects/{SUBJECT}/")
    assert page.locator("h1").inner_text() == SUBJECT
    page.wait_for_selector(".schema-text .hljs-attr")  # highlight.js coloured the schema
    assert page.locator(".fields-table tbody tr").count() == 8  # lines[].sku and lines[].qty included
    assert "<b>tax</b> included" in page.locator(".fields-table").inner_text()  # escaped text, not markup
    page.screenshot(path=str(SCREENSHOTS / "schemas-subject.png"), full_page=True)

    page.click(".subject-tabs >> text=Compare versions")
    page.wait_for_url("**/diff/")
    page.select_option("select[name=from]", "1")
    page.click(".diff-picker button")
    page.wait_for_url("**/diff/?from=1&to=3")
    changes = page.locator(".field-changes").inner_text()
    assert "currency" in changes and "type changed" in changes
    page.screenshot(path=str(SCREENSHOTS / "schemas-diff.png"), full_page=True)

    page.click(".subject-tabs >> text=Try a new version")
    page.wait_for_url("**/check/")
    breaking = record(*V3, {"name": "warehouse", "type": "string"})
    page.fill("#id_schema", json.dumps(json.loads(breaking), indent=2))
    page.click("button[value=check]")
    page.wait_for_selector(".verdict")
    assert "Incompatible under BACKWARD" in page.locator(".verdict h2").inner_text()
    problems = page.locator(".problems").inner_text()
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in problems and "warehouse" in problems
    assert "lineage" in page.locator("#impact-consumers").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "schemas-check-incompatible.png"), full_page=True)

    # Registering it anyway is refused, and says why.
    page.click("button[value=register]")
    page.wait_for_selector(".form-error")
    assert "Not registered" in page.locator(".try-form .form-error").inner_text()

    page.click(".subject-tabs >> text=Validate a message")
    page.wait_for_url("**/validate/")
    page.fill("#id_message", '{"order_id": 12345, "customer_id": "c-9"}')
    page.click(".validate-form button[type=submit]")
    page.wait_for_selector("#validation-result")
    assert "Not a valid message" in page.locator("#validation-result").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "schemas-validate.png"), full_page=True)


def test_json_and_protobuf_subjects(live_server, make_user, registry, page):
    make_user("vera", "viewer")
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "vera")
    page.fill("#id_password", "s3cret-pass!")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/schemas/subjects/shop/shipments/created-value/")
    page.wait_for_selector(".schema-text .hljs-keyword")
    page.screenshot(path=str(SCREENSHOTS / "schemas-subject-protobuf.png"), full_page=True)

    page.goto(f"{live_server.url}/schemas/subjects/shop.inventory.reserved-value/check/")
    assert page.locator("button[value=register]").count() == 0  # viewers check, editors register
    page.click("button[value=check]")
    page.wait_for_selector(".verdict")
    assert "Already registered as v1" in page.locator(".verdict").inner_text()
    page.fill("#id_schema", '{"type": "object", "properties": {"sku": {"type": "integer"}}}')
    page.click("button[value=check]")
    page.wait_for_selector(".verdict-bad")
    page.screenshot(path=str(SCREENSHOTS / "schemas-check-json.png"), full_page=True)
