"""Secured clusters against a real broker with secured listeners (`dev/kafka.sh start --secure`, fixture
`secure_kafka`): SASL/SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN over TLS with a custom CA, plain TLS, and
mutual TLS. Each way in connects, tests its connection and discovers; each wrong setting (password,
CA, client certificate, a TLS client on a plaintext port) is a clear error on the cluster page, in
the connection test and in `manage.py discover`, and no secret reaches a page, a response or a log.
"""

from __future__ import annotations

import logging

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from catalog.models import Cluster, DiscoveryRun, Topic
from catalog.services.clusters import ConnectionErrorKind, cluster_create, cluster_test_connection, cluster_update
from catalog.services.discovery import discovery_run
from eventscope.kafka import ClusterConnection, KafkaAdmin
from eventscope.secrets import decrypt_secret
from tests.pki import encrypted_key_pem, make_ca, make_certificate

pytestmark = [pytest.mark.kafka, pytest.mark.django_db]

LISTENERS = ["scram-sha-256", "scram-sha-512", "plain", "tls", "mtls"]


@pytest.fixture
def secure_topic(secure_kafka, unique_name):
    """A topic of this test's own on the secured broker, made through its SCRAM listener; deleted after."""
    admin = KafkaAdmin(ClusterConnection(**secure_kafka.cluster_settings("scram-sha-512"), timeout_s=20))
    name = f"{unique_name}-secure"
    admin.create_topic(name, partitions=2)
    yield name
    admin.delete_topics([name])


def secured_cluster(secure_kafka, listener: str, name: str, **overrides) -> Cluster:
    values = {**secure_kafka.cluster_settings(listener), **overrides}
    cluster = cluster_create(name=name[:90], discovery_enabled=False, **values)
    return Cluster.objects.get(pk=cluster.pk)  # from the database: only ciphertext of the secrets is there


def assert_no_secret(secure_kafka, *texts: str) -> None:
    key_body = "".join(secure_kafka.client_key_pem.strip().splitlines()[1:-1])
    for text in texts:
        assert secure_kafka.password not in text
        assert key_body[:40] not in text.replace("\n", "")


# ---------------------------------------------------------------------------------------------
# Every way in works: connection test and discovery
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("listener", LISTENERS)
def test_each_secured_listener_connects_and_discovers(secure_kafka, secure_topic, unique_name, listener, caplog):
    caplog.set_level(logging.DEBUG)
    cluster = secured_cluster(secure_kafka, listener, f"{unique_name}-{listener}")

    result = cluster_test_connection(cluster=cluster)
    assert result.ok, result.message
    assert result.broker_count == 1

    run = discovery_run(cluster_id=cluster.pk, trigger="test")
    assert run.status == DiscoveryRun.Status.SUCCEEDED, run.error
    assert Topic.objects.get(cluster=cluster, name=secure_topic).partition_count == 2
    assert_no_secret(secure_kafka, caplog.text, result.message)


def test_secrets_are_stored_encrypted_and_decrypt_back(secure_kafka, unique_name):
    cluster = secured_cluster(secure_kafka, "mtls", f"{unique_name}-m")
    assert cluster.ssl_key_pem_encrypted and "PRIVATE KEY" not in cluster.ssl_key_pem_encrypted
    assert decrypt_secret(cluster.ssl_key_pem_encrypted).strip() == secure_kafka.client_key_pem.strip()
    connection = cluster.connection()
    assert connection.ssl_certificate_pem.startswith("-----BEGIN CERTIFICATE-----")
    assert "PRIVATE KEY" not in repr(connection) and "PRIVATE KEY" not in repr(cluster.__dict__)

    scram = secured_cluster(secure_kafka, "scram-sha-256", f"{unique_name}-s")
    assert decrypt_secret(scram.sasl_password_encrypted) == secure_kafka.password


def test_hostname_verification_can_be_turned_off_and_is_on_by_default(secure_kafka, unique_name):
    cluster = secured_cluster(secure_kafka, "tls", f"{unique_name}-h")
    assert cluster.ssl_verify_hostname is True
    assert cluster.connection().client_config()["ssl.endpoint.identification.algorithm"] == "https"
    cluster_update(cluster=cluster, ssl_verify_hostname=False)
    cluster.refresh_from_db()
    assert cluster.connection().client_config()["ssl.endpoint.identification.algorithm"] == "none"
    assert cluster_test_connection(cluster=cluster).ok


# ---------------------------------------------------------------------------------------------
# Wrong settings: a clear error everywhere, within the timeout, and never a secret
# ---------------------------------------------------------------------------------------------
def _wrong_password(secure_kafka):
    return "scram-sha-256", {"sasl_password": "wrong-" + secure_kafka.password}


def _wrong_ca(secure_kafka):
    return "scram-sha-512", {"ssl_ca_pem": make_ca("Someone else's CA").certificate_pem}


def _no_client_certificate(secure_kafka):
    return "mtls", {"ssl_certificate_pem": "", "ssl_key_pem": None}


def _untrusted_client_certificate(secure_kafka):
    stranger = make_certificate(make_ca("Stranger CA"), "stranger")
    return "mtls", {"ssl_certificate_pem": stranger.certificate_pem, "ssl_key_pem": stranger.key_pem}


def _tls_to_a_plaintext_port(secure_kafka):
    return "tls", {"bootstrap_servers": secure_kafka.plaintext_bootstrap}


WRONG = [
    pytest.param(_wrong_password, ConnectionErrorKind.BAD_CREDENTIALS, "SASL authentication failed", id="password"),
    pytest.param(_wrong_ca, ConnectionErrorKind.TLS, "not signed by a CA this connection trusts", id="ca"),
    pytest.param(
        _no_client_certificate, ConnectionErrorKind.TLS, "requires a client certificate (mutual TLS)", id="no-cert"
    ),
    pytest.param(_untrusted_client_certificate, ConnectionErrorKind.TLS, "refused the one sent", id="stranger-cert"),
    pytest.param(_tls_to_a_plaintext_port, ConnectionErrorKind.TLS, "is a PLAINTEXT listener", id="tls-to-plaintext"),
]


@pytest.mark.parametrize(("wrong", "kind", "message"), WRONG)
def test_a_wrong_setting_is_a_clear_error_on_the_page_in_the_test_and_in_discover(
    secure_kafka, unique_name, client, make_user, settings, caplog, wrong, kind, message
):
    settings.KAFKA_REQUEST_TIMEOUT_S = 8
    caplog.set_level(logging.DEBUG)
    listener, overrides = wrong(secure_kafka)
    cluster = secured_cluster(secure_kafka, listener, f"{unique_name}-bad", **overrides)

    result = cluster_test_connection(cluster=cluster)
    assert not result.ok
    assert result.error_kind is kind, result.message
    assert message in result.message

    # `manage.py discover`: exit status 1 and the cause in its message.
    with pytest.raises(CommandError) as failed:
        call_command("discover", "--cluster", cluster.name)
    assert failed.value.returncode == 1
    assert message in str(failed.value)
    run = DiscoveryRun.objects.filter(cluster=cluster).latest("started_at")
    assert run.status == DiscoveryRun.Status.FAILED and message in run.error

    # The cluster page (an HTML page, not a 500) says why at the top; "Test connection" says it too.
    client.force_login(make_user("erin", "editor"))
    page = client.get(f"/catalog/clusters/{cluster.name}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="cluster-error"' in html and message in html.replace("&#x27;", "'")
    tested = client.post(f"/catalog/clusters/{cluster.name}/test-connection/", follow=True)
    assert tested.status_code == 200
    assert f"Could not connect to {cluster.name}" in tested.content.decode()
    assert message in tested.content.decode().replace("&#x27;", "'")

    api = APIClient()
    api.force_authenticate(make_user("admin-ann", "admin"))
    answer = api.post(f"/api/v1/clusters/{cluster.name}/test-connection/")
    assert answer.status_code == 200 and answer.json()["ok"] is False
    assert answer.json()["error_kind"] == str(kind)
    assert_no_secret(secure_kafka, html, tested.content.decode(), answer.content.decode(), caplog.text, run.error)


def test_the_default_cluster_takes_its_client_certificate_from_files(secure_kafka, settings, tmp_path):
    """The default cluster (KAFKA_* settings) with files for the CA and the client identity."""
    from catalog.services.clusters import cluster_ensure_default

    (tmp_path / "ca.pem").write_text(secure_kafka.ca_pem)
    (tmp_path / "client.pem").write_text(secure_kafka.client_certificate_pem)
    (tmp_path / "client.key").write_text(secure_kafka.client_key_pem)
    settings.KAFKA_BOOTSTRAP_SERVERS = secure_kafka.mtls_bootstrap
    settings.KAFKA_SECURITY_PROTOCOL = "SSL"
    settings.KAFKA_SSL_CA_FILE = str(tmp_path / "ca.pem")
    settings.KAFKA_SSL_CERT_FILE = str(tmp_path / "client.pem")
    settings.KAFKA_SSL_KEY_FILE = str(tmp_path / "client.key")
    default = cluster_ensure_default()
    assert default.has_ssl_key and default.ssl_certificate_pem.startswith("-----BEGIN CERTIFICATE-----")
    assert cluster_test_connection(cluster=default).ok
    call_command("discover")  # the default cluster over mutual TLS; raises on failure

    settings.KAFKA_SSL_KEY_FILE = str(tmp_path / "missing.key")
    with pytest.raises(CommandError, match="KAFKA_SSL_KEY_FILE cannot be read") as failed:
        call_command("discover")
    assert failed.value.returncode == 2


# ---------------------------------------------------------------------------------------------
# The cluster form (Django admin): TLS settings validated, the key write-only
# ---------------------------------------------------------------------------------------------
def admin_form(secure_kafka, **changes) -> dict:
    form = {
        "name": "secured",
        "description": "",
        "bootstrap_servers": secure_kafka.mtls_bootstrap,
        "security_protocol": "SSL",
        "sasl_mechanism": "",
        "sasl_username": "",
        "sasl_password": "",
        "ssl_ca_pem": secure_kafka.ca_pem,
        "ssl_certificate_pem": secure_kafka.client_certificate_pem,
        "ssl_key_pem": secure_kafka.client_key_pem,
        "ssl_verify_hostname": "on",
        "discovery_enabled": "on",
        "discovery_interval_s": "60",
    }
    form.update(changes)
    return form


def test_the_admin_form_stores_the_key_encrypted_and_never_shows_it(secure_kafka, admin_client):
    response = admin_client.post("/admin/catalog/cluster/add/", admin_form(secure_kafka))
    assert response.status_code == 302, response.content.decode()[:3000]
    cluster = Cluster.objects.get(name="secured")
    assert cluster.has_ssl_key and cluster.ssl_verify_hostname
    assert cluster_test_connection(cluster=cluster).ok

    page = admin_client.get(f"/admin/catalog/cluster/{cluster.pk}/change/").content.decode()
    assert "A key is stored (not shown)." in page
    assert_no_secret(secure_kafka, page)
    assert cluster.ssl_key_pem_encrypted not in page

    # Saving again with the key field empty keeps the stored key; "clear" removes it (and then the
    # certificate alone is refused: the form says so and nothing changes).
    kept = admin_client.post(
        f"/admin/catalog/cluster/{cluster.pk}/change/", admin_form(secure_kafka, ssl_key_pem="", description="kept")
    )
    assert kept.status_code == 302
    cluster.refresh_from_db()
    assert cluster.description == "kept" and cluster.has_ssl_key
    cleared = admin_client.post(
        f"/admin/catalog/cluster/{cluster.pk}/change/",
        admin_form(secure_kafka, ssl_key_pem="", clear_ssl_key_pem="on"),
    )
    assert cleared.status_code == 200
    assert "A client certificate needs its private key (mutual TLS)." in cleared.content.decode()
    cluster.refresh_from_db()
    assert cluster.has_ssl_key


ANOTHER = make_certificate(make_ca("Another CA"), "another")


@pytest.mark.parametrize(
    ("changes", "field_message"),
    [
        pytest.param(
            {"ssl_ca_pem": "-----BEGIN CERTIFICATE-----\nnot base64\n"}, "This is not a PEM certificate", id="ca"
        ),
        pytest.param({"ssl_certificate_pem": "hello"}, "This is not a PEM certificate", id="cert"),
        pytest.param(
            {"ssl_key_pem": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"},
            "not a PEM private key",
            id="key",
        ),
        pytest.param({"ssl_key_pem": encrypted_key_pem(ANOTHER)}, "This private key is encrypted", id="encrypted-key"),
        pytest.param({"ssl_key_pem": ANOTHER.key_pem}, "does not belong to the client certificate", id="other-key"),
        pytest.param({"ssl_certificate_pem": ""}, "A client key needs its certificate", id="key-without-cert"),
        pytest.param({"ssl_key_pem": ""}, "A client certificate needs its private key", id="cert-without-key"),
        pytest.param({"security_protocol": "PLAINTEXT"}, "A client certificate is only used over TLS", id="no-tls"),
        pytest.param(
            {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-256", "sasl_username": "eventscope"},
            "SASL_SSL needs a password.",
            id="sasl-without-password",
        ),
    ],
)
def test_the_admin_form_refuses_unusable_tls_settings_with_a_clear_message(
    secure_kafka, admin_client, changes, field_message
):
    response = admin_client.post("/admin/catalog/cluster/add/", admin_form(secure_kafka, **changes))
    assert response.status_code == 200
    html = response.content.decode().replace("&#x27;", "'")
    assert field_message in html
    assert not Cluster.objects.filter(name="secured").exists()
    assert_no_secret(secure_kafka, html)  # the key typed in is not rendered back either
    typed_key = changes.get("ssl_key_pem") or ""
    for line in typed_key.strip().splitlines()[1:-1]:
        assert line not in html


def test_the_api_takes_the_key_write_only(secure_kafka, make_user):
    api = APIClient()
    api.force_authenticate(make_user("admin-ann", "admin"))
    settings_ = secure_kafka.cluster_settings("mtls")
    created = api.post("/api/v1/clusters/", {"name": "mtls-api", **settings_}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["has_ssl_key"] is True and body["ssl_verify_hostname"] is True
    assert body["ssl_certificate_pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert "ssl_key_pem" not in body
    assert_no_secret(secure_kafka, created.content.decode(), api.get("/api/v1/clusters/mtls-api/").content.decode())

    bad = api.patch("/api/v1/clusters/mtls-api/", {"ssl_key_pem": ANOTHER.key_pem}, format="json")
    assert bad.status_code == 400
    assert "does not belong to the client certificate" in bad.content.decode()
    assert decrypt_secret(Cluster.objects.get(name="mtls-api").ssl_key_pem_encrypted).strip() == (
        secure_kafka.client_key_pem.strip()
    )
