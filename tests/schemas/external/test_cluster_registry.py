"""The cluster page names the external registry its producers and consumers use (name, public URL, mode, source,
last sync and its result, a link to the registry's page), and the registry's page links back to the cluster."""

from __future__ import annotations

import pytest

from catalog.services.clusters import cluster_create
from schemas.external.mirror import external_registry_sync
from schemas.external.services import external_registry_create, external_registry_update
from tests.schemas.external.helpers import avro, closed_port_url, connect

pytestmark = pytest.mark.django_db


@pytest.fixture
def prod_cluster(db):
    return cluster_create(name="prod-eu", bootstrap_servers="127.0.0.1:9092", discovery_enabled=False)


def test_the_cluster_page_names_its_registry_and_the_registry_page_links_back(
    viewer, prod_cluster, second_registry, unique_name
):
    second_registry.client().register_schema(f"{unique_name}.orders-value", avro("Order", "id"))
    registry = connect(second_registry, cluster=prod_cluster, mode="instead")
    assert external_registry_sync(registry_id=registry.pk).ok

    response = viewer.get("/catalog/clusters/prod-eu/")
    assert response.status_code == 200
    html = response.content.decode()
    section = html[html.index('id="cluster-external-registries"') :]
    assert 'href="/schemas/external/confluent-prod/"' in section
    assert second_registry.url in section  # the URL people know it by
    assert "REST API" in section and "Instead of Eventscope&#x27;s registry" in section
    assert "subjects added" in section and "run-succeeded" in section  # the last sync and its result
    assert second_registry.password not in html and second_registry.username not in section
    assert "Eventscope's own" not in html

    page = viewer.get("/schemas/external/confluent-prod/").content.decode()
    assert 'href="/catalog/clusters/prod-eu/"' in page


def test_a_failing_sync_is_on_the_cluster_page_with_its_reason(viewer, prod_cluster, second_registry):
    registry = connect(second_registry, url=closed_port_url(), cluster=prod_cluster)
    assert not external_registry_sync(registry_id=registry.pk).ok

    html = viewer.get("/catalog/clusters/prod-eu/").content.decode()
    section = html[html.index('id="cluster-external-registries"') :]
    assert "run-failed" in section and "is unreachable" in section
    assert "Beside Eventscope&#x27;s registry" in section and "never" in section


def test_a_storage_topic_source_shows_its_topic(viewer, prod_cluster):
    external_registry_create(name="kafka-store", source_kind="storage_topic", cluster=prod_cluster, topic="_schemas")

    html = viewer.get("/catalog/clusters/prod-eu/").content.decode()
    section = html[html.index('id="cluster-external-registries"') :]
    assert "Storage topic (_schemas)" in section and "_schemas on prod-eu" in section
    assert "not synced yet" in section


def test_a_cluster_without_one_says_it_uses_our_registry(viewer, prod_cluster, second_registry):
    other = cluster_create(name="staging", bootstrap_servers="127.0.0.1:9092", discovery_enabled=False)
    registry = connect(second_registry, cluster=other)

    html = viewer.get("/catalog/clusters/prod-eu/").content.decode()
    assert 'id="cluster-external-registries"' not in html and "Eventscope's own" in html
    # Untying the registry takes it off its former cluster's page.
    assert 'id="cluster-external-registries"' in viewer.get("/catalog/clusters/staging/").content.decode()
    external_registry_update(registry=registry, cluster=None)
    assert 'id="cluster-external-registries"' not in viewer.get("/catalog/clusters/staging/").content.decode()


def test_registry_text_on_the_cluster_page_is_escaped(viewer, prod_cluster, second_registry):
    registry = connect(second_registry, url=closed_port_url(), cluster=prod_cluster)
    from schemas.models_external import ExternalRegistry

    # Errors quote what a registry answered: someone else's text.
    ExternalRegistry.objects.filter(pk=registry.pk).update(last_error='<script>alert("x")</script>')
    html = viewer.get("/catalog/clusters/prod-eu/").content.decode()
    assert '<script>alert("x")' not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
