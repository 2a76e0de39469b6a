"""The impact of a schema change on the subject page's "Try a new version", in a real browser."""

from __future__ import annotations

import json

from tests.conftest import SCREENSHOTS

from .impact_shop import PAYMENTS_SUBJECT, payment_completed_schema, seed_shop


def test_try_a_version_that_breaks_shipping(live_server, make_user, page):
    seed_shop()
    make_user("alice", "viewer")

    page.goto(f"{live_server.url}/schemas/subjects/{PAYMENTS_SUBJECT}/check/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "s3cret-pass!")
    page.click("button[type=submit]")
    page.wait_for_url(f"**/schemas/subjects/{PAYMENTS_SUBJECT}/check/")

    candidate = json.loads(payment_completed_schema(drop=("warehouse",), add_optional=("voucher_code",)))
    page.fill("#id_schema", json.dumps(candidate, indent=2))
    page.click("button[value=check]")
    page.wait_for_selector(".impact-consumers")

    rows = page.locator(".impact-consumers tbody tr")
    assert rows.count() == 3
    shipping = rows.nth(0).inner_text()
    assert "breaks" in shipping and "shipping" in shipping and "Logistics" in shipping and "#team-logistics" in shipping
    assert "safe" in rows.nth(1).inner_text() and "analytics" in rows.nth(1).inner_text()
    assert "unknown" in rows.nth(2).inner_text() and "via shipping" in rows.nth(2).inner_text()
    assert "Breaking" in page.locator(".impact-summary").inner_text()

    page.click(".impact-markdown summary")
    markdown = page.locator("#impact-markdown").input_value()
    assert markdown.startswith("### ❌ Schema impact: `shop.payments.completed-value`")
    page.screenshot(path=str(SCREENSHOTS / "impact-try-a-new-version.png"), full_page=True)

    # The consumer links to its catalog page.
    page.click(".impact-consumers >> text=shipping")
    page.wait_for_url("**/catalog/services/shipping/")
