"""Pages in a real browser: Playwright driving Debian's Chromium against a live server."""

from __future__ import annotations

import pytest

from tests.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_log_in_and_walk_the_four_journeys(live_server, make_user, page):
    make_user("alice", "editor")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    page.goto(f"{live_server.url}/catalog/")
    assert "/accounts/login/" in page.url
    page.fill("#id_username", "alice")
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")
    assert page.locator(".form-error").is_visible()
    page.screenshot(path=str(SCREENSHOTS / "login-error.png"))

    page.fill("#id_username", "alice")
    page.fill("#id_password", "s3cret-pass!")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/catalog/")
    assert page.locator("h1").inner_text() == "Catalog"

    page.click(".brand")
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator(".journey").count() == 4
    page.screenshot(path=str(SCREENSHOTS / "home.png"), full_page=True)

    for label in ("Schemas", "Lineage", "Monitoring", "Catalog"):
        page.click(f".mainnav >> text={label}")
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == label
        assert page.locator(".mainnav a.active").inner_text() == label

    page.fill("input[name=q]", "order-12345")
    page.press("input[name=q]", "Enter")
    page.wait_for_url("**/search/?q=order-12345")
    assert "order-12345" in page.locator("h1").inner_text()

    page.click("text=Log out")
    page.wait_for_url("**/accounts/login/")
