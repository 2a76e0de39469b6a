"""Django admin for clusters: the password stays write-only and changes go through the cluster services."""

import pytest
from django_celery_beat.models import PeriodicTask

from catalog.models import Cluster
from eventscope.secrets import decrypt_secret

pytestmark = pytest.mark.django_db

FORM = {
    "name": "prod-eu",
    "description": "",
    "bootstrap_servers": "broker-1:9093",
    "security_protocol": "SASL_SSL",
    "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_username": "eventscope",
    "sasl_password": "s3cret-in-admin",
    "ssl_ca_pem": "",
    "discovery_enabled": "on",
    "discovery_interval_s": "120",
}


def test_admin_creates_a_cluster_with_an_encrypted_password_and_its_schedule(admin_client):
    response = admin_client.post("/admin/catalog/cluster/add/", FORM)
    assert response.status_code == 302, response.content.decode()[:2000]
    cluster = Cluster.objects.get(name="prod-eu")
    assert "s3cret" not in cluster.sasl_password_encrypted
    assert decrypt_secret(cluster.sasl_password_encrypted) == "s3cret-in-admin"
    assert PeriodicTask.objects.filter(args=f"[{cluster.pk}]").exists()

    page = admin_client.get(f"/admin/catalog/cluster/{cluster.pk}/change/").content.decode()
    assert "s3cret-in-admin" not in page
    assert cluster.sasl_password_encrypted not in page


def test_admin_shows_the_services_rules_as_form_errors_and_saves_nothing(admin_client):
    response = admin_client.post("/admin/catalog/cluster/add/", {**FORM, "sasl_password": ""})
    assert response.status_code == 200
    assert "SASL_SSL needs a password." in response.content.decode()
    assert not Cluster.objects.filter(name="prod-eu").exists()


def test_admin_cannot_delete_the_default_cluster(admin_client):
    from catalog.services.clusters import cluster_ensure_default

    default = cluster_ensure_default()
    response = admin_client.post(f"/admin/catalog/cluster/{default.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Cluster.objects.filter(pk=default.pk).exists()
