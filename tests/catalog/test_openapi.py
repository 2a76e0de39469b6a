"""The catalog's part of the OpenAPI document: it generates without warnings, validates, and lists every
catalog resource with its filters, pagination and the write-only cluster password."""

from __future__ import annotations

import pytest
from django.urls import include, path
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

CATALOG_PATHS = {
    "/api/v1/clusters/": {"get", "post"},
    "/api/v1/clusters/{name}/": {"get", "patch", "delete"},
    "/api/v1/clusters/{name}/test-connection/": {"post"},
    "/api/v1/clusters/{name}/sync/": {"post"},
    "/api/v1/topics/": {"get"},
    "/api/v1/topics/{id}/": {"get", "patch"},
    "/api/v1/consumer-groups/": {"get"},
    "/api/v1/consumer-groups/{group_id}/": {"get", "patch"},
    "/api/v1/consumer-groups/{group_id}/lag/": {"get"},
    "/api/v1/domains/": {"get", "post"},
    "/api/v1/domains/{slug}/": {"get", "patch"},
    "/api/v1/teams/": {"get", "post"},
    "/api/v1/teams/{slug}/": {"get", "patch"},
    "/api/v1/services/": {"get", "post"},
    "/api/v1/services/{slug}/": {"get", "patch"},
    "/api/v1/event-types/": {"get", "post"},
    "/api/v1/event-types/{slug}/": {"get", "patch"},
    "/api/v1/relations/": {"get", "post"},
    "/api/v1/relations/{id}/": {"get", "patch", "delete"},
}


@pytest.fixture(scope="module")
def catalog_schema() -> tuple[dict, dict, dict]:
    """The schema of the catalog's routes alone, with the warnings and errors drf-spectacular emitted."""
    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        schema = SchemaGenerator(patterns=[path("api/v1/", include("catalog.api.urls"))]).get_schema(public=True)
    return schema, dict(GENERATOR_STATS._warn_cache), dict(GENERATOR_STATS._error_cache)


def test_the_catalog_api_schema_generates_without_warnings_and_validates(catalog_schema):
    schema, warnings, errors = catalog_schema
    assert warnings == {} and errors == {}
    validate_schema(schema)
    methods = {url: set(operations) - {"parameters"} for url, operations in schema["paths"].items()}
    assert methods == CATALOG_PATHS


def test_lists_document_the_filters_search_and_pagination(catalog_schema):
    schema, _, _ = catalog_schema
    parameters = {p["name"] for p in schema["paths"]["/api/v1/topics/"]["get"]["parameters"]}
    assert {"q", "search", "cluster", "owner_team", "tag", "documented", "deleted", "ordering"} <= parameters
    assert {"limit", "offset"} <= parameters
    ordering = next(p for p in schema["paths"]["/api/v1/topics/"]["get"]["parameters"] if p["name"] == "ordering")
    assert "-partitions" in ordering["schema"]["items"]["enum"]


def test_the_cluster_password_is_write_only_in_the_schema(catalog_schema):
    schema, _, _ = catalog_schema
    components = schema["components"]["schemas"]
    assert "sasl_password" not in components["Cluster"]["properties"]
    assert components["Cluster"]["properties"]["has_sasl_password"]["type"] == "boolean"
    assert components["ClusterInput"]["properties"]["sasl_password"]["writeOnly"] is True


def test_writes_answer_with_the_resource_and_errors_in_the_error_format(catalog_schema):
    schema, _, _ = catalog_schema
    create = schema["paths"]["/api/v1/services/"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ServiceInput")
    assert create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/Service")
    assert create["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")


@pytest.mark.django_db
def test_the_served_document_includes_the_catalog_resources(client, make_user):
    client.force_login(make_user("reader", "viewer"))
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(CATALOG_PATHS) <= set(paths)
