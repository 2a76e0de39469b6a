"""Secured clusters in a real browser: the cluster form's TLS fields and errors (Django admin), and the
cluster page saying why a secured cluster cannot be reached. Screenshots: artifacts/screenshots/secure-*.png.
"""

from __future__ import annotations

import pytest

from catalog.models import Cluster
from catalog.services.clusters import cluster_create
from catalog.services.discovery import discovery_run
from tests.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.kafka, pytest.mark.django_db(transaction=True)]


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/catalog/")
    page.fill("#id_username", username)
    page.fill("#id_password", "s3cret-pass!")
    page.click(".login-card button[type=submit]")
    page.wait_for_url(f"{live_server.url}/catalog/")


def test_the_cluster_page_says_why_a_secured_cluster_fails(live_server, make_user, page, secure_kafka, settings):
    settings.KAFKA_REQUEST_TIMEOUT_S = 8
    wrong = "wrong-" + secure_kafka.password
    cluster = cluster_create(
        name="prod-secure",
        description="SCRAM-SHA-512 over TLS with the team's private CA.",
        discovery_enabled=False,
        **{**secure_kafka.cluster_settings("scram-sha-512"), "sasl_password": wrong},
    )
    run = discovery_run(cluster_id=cluster.pk, trigger="test")
    assert run.status == "failed"
    make_user("erin", "editor")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    log_in(page, live_server, "erin")
    page.goto(f"{live_server.url}/catalog/clusters/prod-secure/")
    notice = page.locator("#cluster-error")
    assert "SASL authentication failed: check the username and password" in notice.inner_text()
    page.click("button:has-text('Test connection')")
    page.wait_for_url(f"{live_server.url}/catalog/clusters/prod-secure/")
    message = page.locator(".message.error")
    assert "Could not connect to prod-secure" in message.inner_text()
    assert "SASL authentication failed" in message.inner_text()
    assert wrong not in page.content()
    page.screenshot(path=str(SCREENSHOTS / "secure-cluster-error.png"), full_page=True)


def test_the_cluster_form_takes_a_client_certificate_and_shows_tls_errors(live_server, page, secure_kafka):
    from django.contrib.auth.models import User

    User.objects.create_superuser("root", password="s3cret-pass!")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/catalog/cluster/add/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "s3cret-pass!")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/catalog/cluster/add/")

    page.fill("#id_name", "prod-mtls")
    page.fill("#id_bootstrap_servers", secure_kafka.mtls_bootstrap)
    page.select_option("#id_security_protocol", "SSL")
    page.fill("#id_ssl_ca_pem", secure_kafka.ca_pem)
    page.fill("#id_ssl_certificate_pem", secure_kafka.client_certificate_pem)
    page.fill("#id_ssl_key_pem", "-----BEGIN PRIVATE KEY-----\nnot really a key\n-----END PRIVATE KEY-----\n")
    page.click("input[name=_save]")
    errors = page.locator(".errorlist")
    assert "This is not a PEM private key" in errors.first.inner_text()
    assert page.locator("#id_ssl_key_pem").input_value() == ""  # never rendered back
    page.screenshot(path=str(SCREENSHOTS / "secure-cluster-form-errors.png"), full_page=True)

    page.fill("#id_ssl_key_pem", secure_kafka.client_key_pem)
    page.click("input[name=_save]")
    page.wait_for_url("**/admin/catalog/cluster/")
    cluster = Cluster.objects.get(name="prod-mtls")
    assert cluster.has_ssl_key
    page.goto(f"{live_server.url}/admin/catalog/cluster/{cluster.pk}/change/")
    assert page.locator("#id_ssl_key_pem").get_attribute("placeholder") == "A key is stored (not shown)."
    assert secure_kafka.client_key_pem.strip().splitlines()[1] not in page.content()
    page.screenshot(path=str(SCREENSHOTS / "secure-cluster-form.png"), full_page=True)
