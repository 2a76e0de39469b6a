"""One compatibility check of a mirrored subject asks the external registry once.

The registry sits behind a recording proxy (tests.schemas.external.helpers.RecordingProxy) that forwards to the
second registry process, so the tests count the requests the registry really received, not calls in our code.
"""

from __future__ import annotations

import pytest

from schemas.external.mirror import external_registry_sync
from tests.schemas.external.helpers import RecordingProxy, avro, connect

pytestmark = pytest.mark.django_db

COMPATIBILITY = "/registry/compatibility/subjects/"


@pytest.fixture
def proxied(second_registry, unique_name):
    """A subject in the existing registry (not in ours), mirrored through the recording proxy."""
    subject = f"{unique_name}.orders-value"
    second_registry.client().register_schema(subject, avro("Order", "id"))
    with RecordingProxy(second_registry.url) as proxy:
        registry = connect(second_registry, url=proxy.url)
        assert external_registry_sync(registry_id=registry.pk).ok
        assert proxy.requests  # the sync went through the proxy
        assert not proxy.received(COMPATIBILITY)
        yield {"proxy": proxy, "subject": subject, "registry": registry}


def check(client, subject: str, schema: str):
    url = f"/schemas/subjects/{subject}/check/?registry=confluent-prod"
    return client.post(url, {"schema_type": "AVRO", "schema": schema, "references": ""})


def test_try_a_new_version_asks_the_external_registry_once_per_check(proxied, client, make_user):
    proxy, subject = proxied["proxy"], proxied["subject"]
    client.force_login(make_user("vera", "viewer"))

    response = check(client, subject, avro("Order", "id", "note").schema_str)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Compatible under BACKWARD" in body and f"by {proxy.url}" in body
    asked = proxy.received(COMPATIBILITY)
    assert len(asked) == 1
    assert asked[0][0] == "POST" and asked[0][1].startswith(f"{COMPATIBILITY}{subject}/versions/latest")

    response = check(client, subject, avro("Order", "id", required=("must",)).schema_str)
    assert response.status_code == 200 and "Incompatible under BACKWARD" in response.content.decode()
    assert len(proxy.received(COMPATIBILITY)) == 2  # one more check, one more request


def test_a_refused_registration_asks_the_registry_nothing(proxied, client, make_user):
    proxy, subject = proxied["proxy"], proxied["subject"]
    client.force_login(make_user("root", "admin"))
    response = client.post(
        f"/schemas/subjects/{subject}/register/?registry=confluent-prod",
        {"schema_type": "AVRO", "schema": avro("Order", "id", "note").schema_str, "references": ""},
    )
    assert response.status_code == 400 and "is mirrored from" in response.content.decode()
    assert proxy.received(COMPATIBILITY) == []


def test_the_impact_api_asks_once_per_check(proxied, client, make_user):
    proxy, subject = proxied["proxy"], proxied["subject"]
    client.force_login(make_user("vera", "viewer"))
    response = client.post(
        "/api/v1/impact/",
        {"subject": subject, "schema": avro("Order", "id", "note").schema_str},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["compatibility"]["verdict"] == "compatible"
    assert len(proxy.received(COMPATIBILITY)) == 1


def test_a_registry_in_trouble_is_asked_once_per_check_and_the_verdict_is_unknown(proxied, client, make_user):
    proxy, subject = proxied["proxy"], proxied["subject"]
    client.force_login(make_user("vera", "viewer"))
    proxy.fail_status = 503

    response = check(client, subject, avro("Order", "id", "note").schema_str)

    assert response.status_code == 200
    body = response.content.decode()
    assert "answered HTTP 503" in body and "The registry is overloaded" in body
    assert len(proxy.received(COMPATIBILITY)) == 1
