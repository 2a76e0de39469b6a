"""What consumers declare they read: the model's rules, the AsyncAPI extension, the API and the service page."""

from __future__ import annotations

import base64
import copy

import pytest
from django.core.exceptions import ValidationError

from catalog import asyncapi
from catalog.models import DeclaredRelation, TeamMembership
from catalog.models.entities import READ_FIELD_MAX
from catalog.services import documentation
from catalog.services.asyncapi import asyncapi_export, asyncapi_import
from simulator.catalog_seed import READER_DECLARATIONS, seed_shop_catalog, shop_asyncapi_document
from tests.factories import make_team_editor

pytestmark = pytest.mark.django_db


def _relation(service: str, event_type: str) -> DeclaredRelation:
    return DeclaredRelation.objects.get(service__name=service, direction="consumes", event_type__name=event_type)


def _operation(document: dict, key: str) -> dict:
    return document["operations"][key]


def test_the_seed_declares_readers_through_the_asyncapi_extension(db):
    document = shop_asyncapi_document()
    shipping = _operation(document, "shipping.receive.shop.payments.completed")
    assert shipping[asyncapi.X_READER_VERSION] == 1
    assert shipping[asyncapi.X_READS] == ["order_id", "customer_id", "warehouse", "ship_to_country"]
    analytics = _operation(document, "analytics.receive.shop.payments.completed")
    assert asyncapi.X_READER_VERSION not in analytics and "amount" in analytics[asyncapi.X_READS]
    assert asyncapi.X_READS not in _operation(document, "notifications.receive.shop.shipments.created")
    assert asyncapi.validate_document(document) == []

    seed_shop_catalog()
    for (service, event_type), (version, fields) in READER_DECLARATIONS.items():
        relation = _relation(service, event_type)
        assert (relation.reader_schema_version, relation.reads_fields) == (version, list(fields))
    assert not _relation("notifications", "ShipmentCreated").declares_reader
    # The export says the same, so export -> import changes nothing.
    exported = asyncapi_export()
    assert exported["operations"]["shipping.receive.shop.payments.completed"][asyncapi.X_READER_VERSION] == 1
    result = asyncapi_import(document=exported, source="seed")
    assert not result.changed, result.as_dict()


def test_an_import_updates_what_a_consumer_reads(db):
    seed_shop_catalog()
    document = copy.deepcopy(shop_asyncapi_document())
    operation = _operation(document, "shipping.receive.shop.payments.completed")
    operation[asyncapi.X_READER_VERSION] = 2
    operation[asyncapi.X_READS] = ["order_id"]
    result = asyncapi_import(document=document, source="seed")
    assert result.updated["relations"] == 1
    relation = _relation("shipping", "PaymentCompleted")
    assert (relation.reader_schema_version, relation.reads_fields) == (2, ["order_id"])


@pytest.mark.parametrize(
    ("key", "name", "value", "message"),
    [
        ("shipping.receive.shop.payments.completed", asyncapi.X_READER_VERSION, 0, "minimum"),
        ("shipping.receive.shop.payments.completed", asyncapi.X_READS, ["a", "a"], "non-unique"),
        ("shipping.receive.shop.payments.completed", asyncapi.X_READS, [""], "non-empty"),
        ("shipping.send.shop.shipments.created", asyncapi.X_READS, ["order_id"], "only a receive operation"),
    ],
)
def test_a_bad_reader_extension_is_a_problem_with_its_path(key, name, value, message):
    document = copy.deepcopy(shop_asyncapi_document())
    _operation(document, key)[name] = value
    with pytest.raises(asyncapi.AsyncAPIDocumentError) as caught:
        asyncapi.parse_document(document)
    problems = [(problem.path, problem.message) for problem in caught.value.problems]
    assert any(path.startswith(f"#/operations/{key}/{name}") and message in text for path, text in problems), problems


def test_the_model_refuses_what_a_reader_declaration_cannot_be(db):
    seed_shop_catalog()
    relation = _relation("analytics", "ShipmentCreated")
    for fields, message in [
        ("order_id", "A list of field paths"),
        (["x" * (READ_FIELD_MAX + 1)], "A list of field paths"),
        ([1], "A list of field paths"),
    ]:
        with pytest.raises(ValidationError, match=message):
            documentation.relation_update_reader(relation=relation, reads_fields=fields)
    produces = DeclaredRelation.objects.filter(direction="produces").first()
    with pytest.raises(ValidationError, match="Only a consumes relation"):
        documentation.relation_update_reader(relation=produces, reader_schema_version=1)
    relation.refresh_from_db()
    assert not relation.declares_reader  # nothing changed
    assert asyncapi.READ_FIELD_MAX == READ_FIELD_MAX


# ---------------------------------------------------------------------------------------------
# The API and the service page
# ---------------------------------------------------------------------------------------------
def _basic(username: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{username}:s3cret-pass!".encode()).decode()}


def test_the_api_declares_and_changes_a_reader(client, make_user):
    seed_shop_catalog()
    eddie = make_user("eddie", "editor")
    make_user("vera", "viewer")
    relation = _relation("notifications", "ShipmentCreated")
    # Declarations are the consuming service's documentation: its team's editors change them.
    TeamMembership.objects.create(team=relation.service.owner_team, user=eddie, role="editor")
    url = f"/api/v1/relations/{relation.pk}/"

    assert (
        client.patch(url, {"reads_fields": ["order_id"]}, content_type="application/json", **_basic("vera")).status_code
        == 403
    )
    response = client.patch(
        url,
        {"reader_schema_version": 1, "reads_fields": ["order_id", "carrier"]},
        content_type="application/json",
        **_basic("eddie"),
    )
    assert response.status_code == 200, response.content
    assert (response.json()["reader_schema_version"], response.json()["reads_fields"]) == (1, ["order_id", "carrier"])

    refused = client.patch(url, {"direction": "produces"}, content_type="application/json", **_basic("eddie"))
    assert refused.status_code == 400 and "direction" in refused.json()["error"]["detail"]
    refused = client.patch(url, {"reader_schema_version": 0}, content_type="application/json", **_basic("eddie"))
    assert refused.status_code == 400 and "reader_schema_version" in refused.json()["error"]["detail"]
    relation.refresh_from_db()
    assert relation.reads_fields == ["order_id", "carrier"]

    produces = DeclaredRelation.objects.filter(direction="produces", service__name="orders").first()
    TeamMembership.objects.create(team=produces.service.owner_team, user=eddie, role="editor")
    refused = client.patch(
        f"/api/v1/relations/{produces.pk}/", {"reads_fields": ["x"]}, content_type="application/json", **_basic("eddie")
    )
    assert refused.status_code == 400 and "reads_fields" in refused.json()["error"]["detail"]


def test_the_service_page_shows_and_edits_a_reader(client, make_user):
    seed_shop_catalog()
    eddie = make_user("eddie", "editor")
    # Declarations are the consuming service's documentation: its team's editors change them.
    make_team_editor(eddie)
    client.force_login(eddie)
    page = client.get("/catalog/services/shipping/").content.decode()
    assert "reads with schema v1" in page and "ship_to_country" in page

    relation = _relation("notifications", "ShipmentCreated")
    edit_url = f"/catalog/relations/{relation.pk}/reader/"
    assert edit_url in client.get("/catalog/services/notifications/").content.decode()
    assert client.get(edit_url).status_code == 200
    response = client.post(
        edit_url, {"reader_schema_version": "1", "reads_fields": "order_id\ncarrier, tracking_number"}
    )
    assert response.status_code == 302
    relation.refresh_from_db()
    assert (relation.reader_schema_version, relation.reads_fields) == (1, ["order_id", "carrier", "tracking_number"])

    bad = client.post(edit_url, {"reader_schema_version": "zero"})
    assert bad.status_code == 400
    relation.refresh_from_db()
    assert relation.reader_schema_version == 1

    produces = DeclaredRelation.objects.filter(direction="produces").first()
    assert client.get(f"/catalog/relations/{produces.pk}/reader/").status_code == 404


def test_a_viewer_cannot_edit_a_reader(client, make_user):
    seed_shop_catalog()
    client.force_login(make_user("vera", "viewer"))
    relation = _relation("notifications", "ShipmentCreated")
    response = client.post(f"/catalog/relations/{relation.pk}/reader/", {"reads_fields": "x"})
    assert response.status_code == 403
    relation.refresh_from_db()
    assert relation.reads_fields == []


def test_declaring_a_consumes_relation_with_its_reader_on_the_form(client, make_user):
    seed_shop_catalog()
    eddie = make_user("eddie", "editor")
    # Declarations are the consuming service's documentation: its team's editors change them.
    make_team_editor(eddie)
    client.force_login(eddie)
    url = "/catalog/services/analytics/relations/new/"
    response = client.post(
        url,
        {
            "direction": "consumes",
            "topic": "shop.inventory.rejected",
            "reader_schema_version": "2",
            "reads_fields": "sku\nreason",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    relation = DeclaredRelation.objects.get(service__name="analytics", topic__name="shop.inventory.rejected")
    assert (relation.reader_schema_version, relation.reads_fields, relation.source) == (2, ["sku", "reason"], "manual")

    # A producer reads nothing: the form says so and nothing is declared.
    response = client.post(url, {"direction": "produces", "topic": "shop.inventory.rejected", "reads_fields": "sku"})
    assert response.status_code == 400
    assert "Only a consumes relation" in response.content.decode()
    assert not DeclaredRelation.objects.filter(
        service__name="analytics", direction="produces", topic__name="shop.inventory.rejected"
    ).exists()
