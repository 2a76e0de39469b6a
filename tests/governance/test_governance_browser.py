"""Governance pages in a real browser: API tokens (create, copy once, use, revoke) and schema policies."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from governance.models import ApiToken
from tests.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_use_and_revoke_a_token_in_the_browser(live_server, make_user, page):
    make_user("erin", "editor")
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "erin")
    page.fill("#id_password", "s3cret-pass!")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    page.click("text=API tokens")
    page.wait_for_url(f"{live_server.url}/accounts/tokens/")
    assert "You have no tokens yet" in page.inner_text("main")
    page.fill("#id_name", "orders CI pipeline")
    page.select_option("#id_scope", "write")
    page.click("button:has-text('Create token')")
    clear = page.inner_text("#new-token").strip()
    assert clear.startswith("esk_")
    page.screenshot(path=str(SCREENSHOTS / "governance-token-created.png"), full_page=True)

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {clear}")
    assert client.get("/api/v1/me/").json()["token"]["name"] == "orders CI pipeline"

    page.reload()
    assert page.locator("#new-token").count() == 0  # shown once
    page.click("button:has-text('Revoke')")
    page.wait_for_selector("text=revoked: it no longer works")
    assert page.locator(".token-row.token-revoked").count() == 1
    page.screenshot(path=str(SCREENSHOTS / "governance-token-revoked.png"), full_page=True)
    assert ApiToken.objects.get().status() == "revoked"
    assert client.get("/api/v1/me/").status_code == 401


def test_an_admin_turns_a_policy_into_an_error_for_one_domain(live_server, make_user, page):
    from catalog.services import documentation
    from governance.models import SchemaPolicy

    make_user("root", "admin")
    documentation.domain_create(name="Payments")
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "s3cret-pass!")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/governance/policies/")
    page.click("nav[aria-label=Scope] >> text=Payments")
    page.wait_for_url(f"{live_server.url}/governance/policies/payments/")
    page.select_option("select[name='field-docs__severity']", "error")
    page.click("button:has-text('Save policies')")
    page.wait_for_selector("text=Schema policies of Payments saved")
    assert page.locator("tr.policy-field-docs .badge").inner_text() == "overridden here"
    page.screenshot(path=str(SCREENSHOTS / "governance-policies.png"), full_page=True)
    assert SchemaPolicy.objects.get(domain__slug="payments").rules == {"field-docs": {"severity": "error"}}
