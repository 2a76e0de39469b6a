"""External registry pages in a real browser: an admin connects an existing registry with the form, syncs it,
and reads a mirrored subject (read-only, its source named). Screenshots: artifacts/screenshots/external-*."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from schemas.external.mirror import external_registry_sync
from schemas.models_external import ExternalRegistry
from tests.conftest import SCREENSHOTS
from tests.schemas.external.helpers import avro

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_connect_an_existing_registry_and_read_a_mirrored_subject(
    live_server, make_user, page, second_registry, unique_name
):
    client = second_registry.client()
    subject = f"shop.{unique_name}.orders-value"
    client.register_schema(subject, avro("OrderPlaced", "order_id"))
    client.register_schema(subject, avro("OrderPlaced", "order_id", "currency", "coupon"))
    client.set_compatibility(subject, "FULL")
    make_user("root", "admin")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    page.goto(f"{live_server.url}/schemas/external/new/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "s3cret-pass!")
    page.click("button[type=submit]")
    page.wait_for_url("**/schemas/external/new/")
    page.fill("#id_name", "confluent-prod")
    page.fill("#id_description", "The platform team's Confluent Schema Registry.")
    page.fill("#id_url", second_registry.url)
    page.select_option("#id_auth_kind", "basic")
    page.locator("form.edit-form #id_username").fill(second_registry.username)
    page.fill("#id_secret", second_registry.password)
    page.screenshot(path=str(SCREENSHOTS / "external-registry-form.png"), full_page=True)
    page.click("form.edit-form button[type=submit]")
    page.wait_for_url("**/schemas/external/confluent-prod/")

    # "Sync now" queues the sync for a worker; here the sync runs as the worker would run it.
    external_registry_sync(registry_id=ExternalRegistry.objects.get(name="confluent-prod").pk)
    page.reload()
    expect(page.locator("#mirrored-subjects")).to_contain_text(subject)
    assert second_registry.password not in page.content()
    page.screenshot(path=str(SCREENSHOTS / "external-registry-detail.png"), full_page=True)

    page.click(f"#mirrored-subjects >> text={subject}")
    page.wait_for_url(f"**/schemas/subjects/{subject}/?registry=confluent-prod")
    expect(page.locator(".mirror-source")).to_contain_text(f"Mirrored from {second_registry.url}")
    expect(page.locator(".badge.mirrored")).to_have_text("read-only")
    assert page.locator(".fields-table tbody tr").count() == 3
    page.screenshot(path=str(SCREENSHOTS / "external-mirrored-subject.png"), full_page=True)

    page.click(".subject-tabs >> text=Compare versions")
    page.wait_for_url("**/diff/?registry=confluent-prod")
    expect(page.locator(".field-changes")).to_contain_text("currency")

    page.goto(f"{live_server.url}/schemas/")
    expect(page.locator("#mirrored-subjects")).to_contain_text(subject)
    page.screenshot(path=str(SCREENSHOTS / "external-schemas-list.png"), full_page=True)


def test_the_cluster_page_names_its_external_registry_and_the_registry_links_back(
    live_server, make_user, page, second_registry, unique_name
):
    from catalog.services.clusters import cluster_create
    from tests.schemas.external.helpers import connect

    client = second_registry.client()
    client.register_schema(f"shop.{unique_name}.payments-value", avro("PaymentCompleted", "payment_id", "amount"))
    cluster = cluster_create(
        name="prod-eu",
        bootstrap_servers="127.0.0.1:9092",
        description="Production, EU region.",
        discovery_enabled=False,
    )
    registry = connect(
        second_registry,
        cluster=cluster,
        mode="instead",
        description="The platform team's Confluent Schema Registry.",
    )
    assert external_registry_sync(registry_id=registry.pk).ok
    make_user("vera", "viewer")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    page.goto(f"{live_server.url}/catalog/clusters/prod-eu/")
    page.fill("#id_username", "vera")
    page.fill("#id_password", "s3cret-pass!")
    page.click("button[type=submit]")
    page.wait_for_url("**/catalog/clusters/prod-eu/")
    panel = page.locator("#cluster-external-registries")
    expect(panel).to_contain_text("confluent-prod")
    expect(panel).to_contain_text(second_registry.url)
    expect(panel).to_contain_text("Instead of Eventscope's registry")
    expect(panel.locator(".run-succeeded")).to_have_text("ok")
    assert second_registry.password not in page.content()
    page.screenshot(path=str(SCREENSHOTS / "external-registry-cluster.png"), full_page=True)

    panel.locator("a", has_text="confluent-prod").click()
    page.wait_for_url("**/schemas/external/confluent-prod/")
    page.screenshot(path=str(SCREENSHOTS / "external-registry-of-cluster.png"), full_page=True)
    page.locator(".facts a", has_text="prod-eu").click()
    page.wait_for_url("**/catalog/clusters/prod-eu/")

    # The global search finds the mirrored subject, says where it comes from, and opens the mirror's page.
    token = unique_name.rsplit("-", 1)[-1]
    page.goto(f"{live_server.url}/search/?q={token}")
    hit = page.locator(".search-group:has(#search-group-subject) .search-hit")
    expect(hit.first).to_contain_text("mirrored from registry confluent-prod")
    page.screenshot(path=str(SCREENSHOTS / "external-registry-search.png"), full_page=True)
    hit.first.locator("a.search-hit-title").click()
    page.wait_for_url("**/schemas/subjects/**?registry=confluent-prod")
    expect(page.locator(".mirror-source")).to_contain_text(f"Mirrored from {second_registry.url}")
