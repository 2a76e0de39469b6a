"""EVENTSCOPE_ANONYMOUS_READ: off by default (every page and endpoint needs a login); on, anyone may read
pages, the API and the registry, while every write, the audit log and API tokens still need a login."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from catalog.models import Domain
from catalog.services import documentation
from schemas import services as registry
from tests.factories import make_cluster, make_topic

pytestmark = pytest.mark.django_db

READABLE = [
    "/",
    "/catalog/",
    "/catalog/topics/",
    "/catalog/domains/sales/",
    "/schemas/",
    "/schemas/subjects/orders-value/",
    "/lineage/",
    "/monitoring/",
    "/search/?q=orders",
    "/governance/policies/",
]
PRIVATE = ["/accounts/tokens/", "/governance/audit-log/"]
AVRO = json.dumps({"type": "record", "name": "Order", "fields": [{"name": "id", "type": "string"}]})


@pytest.fixture
def shop(db):
    make_topic(make_cluster(), "shop.orders")
    documentation.domain_create(name="Sales")
    registry.subject_register_version(subject="orders-value", schema_text=AVRO)


def test_off_by_default_everything_needs_a_login(client, shop):
    for path in READABLE:
        response = client.get(path)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], path
    assert APIClient().get("/api/v1/topics/").status_code == 401
    assert client.get("/registry/subjects").status_code == 401


def test_on_anyone_reads_and_nobody_writes_without_a_login(client, shop, settings):
    settings.EVENTSCOPE_ANONYMOUS_READ = True
    for path in READABLE:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
    assert "Log in" in client.get("/").content.decode()
    for path in PRIVATE:
        assert client.get(path).status_code == 302, path

    api = APIClient()
    assert api.get("/api/v1/topics/").json()["count"] == 1
    assert api.get("/api/v1/audit-log/").status_code == 401
    assert api.get("/api/v1/tokens/").status_code == 401
    assert api.post("/api/v1/domains/", {"name": "Nope"}, format="json").status_code == 401
    assert json.loads(client.get("/registry/subjects").content) == ["orders-value"]
    refused = client.post(
        "/registry/subjects/orders-value/versions", json.dumps({"schema": AVRO}), content_type="application/json"
    )
    assert refused.status_code == 401
    assert client.post("/catalog/domains/new/", {"name": "Nope"}).status_code == 302  # to the login page
    assert not Domain.objects.filter(name="Nope").exists()
