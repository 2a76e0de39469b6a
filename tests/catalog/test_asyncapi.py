"""AsyncAPI 3.0.0: the pure document core, the export/import services, the API and the pages.

Exports are checked against the official AsyncAPI 3.0.0 JSON Schema (the vendored file, with a validator of
its own here, independent of the code under test). Imports are all or nothing: an invalid document answers
with every problem and its JSON pointer, and the row counts before and after are the same.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
import yaml
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import include, path
from jsonschema import Draft7Validator
from rest_framework.test import APIClient

import catalog.urls
from catalog import asyncapi
from catalog.asyncapi import (
    AsyncAPIDocumentError,
    CatalogSnapshot,
    EventTypeSpec,
    RelationSpec,
    ServiceSpec,
    TopicSpec,
    build_document,
    dump_document,
    load_document,
    parse_document,
)
from simulator.catalog_seed import shop_asyncapi_document, shop_catalog_snapshot

SCHEMA_FILE = Path(asyncapi.__file__).with_name("asyncapi_schema") / "3.0.0.json"


@cache
def official_validator() -> Draft7Validator:
    return Draft7Validator(json.loads(SCHEMA_FILE.read_text()))


def assert_valid_asyncapi(document: dict) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in official_validator().iter_errors(document)]
    assert errors == []
    assert document["asyncapi"] == "3.0.0"


def problems_of(document) -> list[tuple[str, str]]:
    with pytest.raises(AsyncAPIDocumentError) as caught:
        parse_document(document)
    return [(problem.path, problem.message) for problem in caught.value.problems]


def minimal_document(**extra) -> dict:
    """A small document as a team might write it by hand, without any Eventscope extension."""
    document = {
        "asyncapi": "3.0.0",
        "info": {"title": "Billing Service", "version": "2.1.0", "description": "Sends invoices."},
        "channels": {
            "orders": {
                "address": "billing.orders.placed",
                "messages": {"OrderPlaced": {"$ref": "#/components/messages/OrderPlaced"}},
            },
            "invoices": {
                "address": "billing.invoices",
                "messages": {"InvoiceSent": {"$ref": "#/components/messages/InvoiceSent"}},
            },
        },
        "operations": {
            "onOrder": {
                "action": "receive",
                "channel": {"$ref": "#/channels/orders"},
                "messages": [{"$ref": "#/channels/orders/messages/OrderPlaced"}],
                "bindings": {"kafka": {"groupId": {"type": "string", "enum": ["billing-orders"]}}},
            },
            "sendInvoice": {"action": "send", "channel": {"$ref": "#/channels/invoices"}},
        },
        "components": {
            "messages": {
                "OrderPlaced": {"payload": {"type": "object"}, "summary": "An order was placed."},
                "InvoiceSent": {
                    "name": "InvoiceSent",
                    "summary": "An invoice went out.",
                    "tags": [{"name": "Billing"}],
                    "x-eventscope-classification": "PII",
                    "examples": [{"payload": {"invoice_id": "inv-1", "total": "19.90"}}],
                },
            }
        },
    }
    document.update(extra)
    return document


# ---------------------------------------------------------------------------------------------
# Pure: building and parsing
# ---------------------------------------------------------------------------------------------
def test_the_shop_document_is_valid_asyncapi_3():
    assert_valid_asyncapi(shop_asyncapi_document())


def test_a_service_document_is_valid_asyncapi_3_and_describes_the_service_in_info():
    snapshot = shop_catalog_snapshot()
    document = build_document(CatalogSnapshot(**{**snapshot.__dict__, "application": "payments"}))
    assert_valid_asyncapi(document)
    assert document["info"]["title"] == "payments"
    assert document["info"]["x-eventscope-service"] == "payments"
    assert "payments" not in document["x-eventscope-services"]
    operation = document["operations"]["payments.receive.shop.inventory.reserved"]
    assert "x-eventscope-service" not in operation  # the document's own application
    assert operation["bindings"]["kafka"]["groupId"] == {"type": "string", "enum": ["shop.payments"]}


@pytest.mark.parametrize("application", [None, "inventory", "analytics"])
def test_build_parse_build_is_stable(application):
    snapshot = shop_catalog_snapshot()
    document = build_document(CatalogSnapshot(**{**snapshot.__dict__, "application": application}))
    assert build_document(parse_document(document)) == document
    # ...and through text, in both formats.
    for fmt in ("yaml", "json"):
        assert load_document(dump_document(document, format=fmt), format=fmt) == document


def test_parse_reads_what_the_catalog_needs():
    snapshot = parse_document(shop_asyncapi_document())
    assert {service.slug for service in snapshot.services} == {
        "orders",
        "inventory",
        "payments",
        "shipping",
        "notifications",
        "analytics",
    }
    placed = next(e for e in snapshot.event_types if e.name == "OrderPlaced")
    assert (placed.classification, placed.owner, placed.topic) == ("pii", "checkout", "shop.orders.placed")
    assert placed.schema_subject == "shop.orders.placed-value"
    assert placed.correlation_location == "$message.payload#/correlation_id"
    assert RelationSpec("notifications", "consumes", ("StockRejected", 1)) in snapshot.relations
    # What a consumer reads (x-eventscope-reader-version / x-eventscope-reads) travels with its relation.
    reader = ("order_id", "customer_id", "items[].sku", "items[].quantity")
    assert RelationSpec("inventory", "consumes", ("OrderPlaced", 1), None, 1, reader) in snapshot.relations
    assert RelationSpec("inventory", "produces", topic="shop.deadletter") in snapshot.relations


def test_a_document_written_elsewhere_describes_one_application_named_by_its_title():
    snapshot = parse_document(minimal_document())
    assert snapshot.application == "billing-service"
    (service,) = snapshot.services
    assert (service.slug, service.name, service.description) == (
        "billing-service",
        "Billing Service",
        "Sends invoices.",
    )
    assert service.consumer_groups == ("billing-orders",)
    assert set(snapshot.relations) == {
        RelationSpec("billing-service", "consumes", ("OrderPlaced", 1)),
        RelationSpec("billing-service", "produces", topic="invoices"),
    }
    invoice = next(e for e in snapshot.event_types if e.name == "InvoiceSent")
    assert (invoice.classification, invoice.tags, invoice.topic) == ("pii", ("billing",), "invoices")
    assert invoice.examples == ({"invoice_id": "inv-1", "total": "19.90"},)
    assert {topic.name for topic in snapshot.topics} == {"billing.orders.placed", "billing.invoices"}


def test_an_unresolved_ref_says_where_and_why():
    document = minimal_document()
    document["channels"]["orders"]["messages"]["OrderPlaced"]["$ref"] = "#/components/messages/Missing"
    assert (
        "#/channels/orders/messages/OrderPlaced",
        "$ref '#/components/messages/Missing' does not resolve",
    ) in problems_of(document)


def test_every_problem_is_reported_at_once_with_its_path():
    document = minimal_document()
    del document["info"]["version"]
    document["operations"]["onOrder"]["action"] = "push"
    del document["operations"]["sendInvoice"]["channel"]
    document["channels"]["invoices"]["address"] = "billing/invoices"  # schema-valid, not a topic name
    document["components"]["messages"]["InvoiceSent"]["x-eventscope-classification"] = "secret"
    document["channels"]["orders"]["messages"]["Other"] = {"$ref": "https://example.com/other.yaml"}
    problems = dict(problems_of(document))
    assert problems["#/info"] == "'version' is a required property"
    assert problems["#/operations/onOrder/action"] == "'push' is not one of ['send', 'receive']"
    assert problems["#/operations/sendInvoice"] == "'channel' is a required property"
    assert "is not one of" in problems["#/components/messages/InvoiceSent/x-eventscope-classification"]
    assert "only local references" in problems["#/channels/orders/messages/Other"]


def test_semantic_problems_after_the_schema_passes():
    document = minimal_document()
    document["channels"]["invoices"]["address"] = "billing/invoices"
    document["operations"]["sendInvoice"]["messages"] = [{"$ref": "#/channels/orders/messages/OrderPlaced"}]
    document["components"]["messages"]["Dup"] = {"name": "InvoiceSent"}
    problems = dict(problems_of(document))
    assert "is not a Kafka topic name" in problems["#/channels/invoices/address"]
    assert problems["#/operations/sendInvoice/messages/0"] == (
        "$ref '#/channels/orders/messages/OrderPlaced' is not one of the messages of channel 'invoices'"
    )
    assert "already described at #/components/messages/InvoiceSent" in problems["#/components/messages/Dup"]


@pytest.mark.parametrize(
    ("document", "path", "fragment"),
    [
        ({"asyncapi": "2.6.0", "info": {}}, "#/asyncapi", "only AsyncAPI 3.0.0"),
        ({"info": {}}, "#/asyncapi", "is missing"),
        (["a", "list"], "#", "not a list"),
        (None, "#", "not empty"),
    ],
)
def test_not_an_asyncapi_3_document(document, path, fragment):
    ((where, message),) = problems_of(document)
    assert where == path and fragment in message


def test_an_operation_of_a_catalog_document_must_name_its_service():
    document = shop_asyncapi_document()
    del document["operations"]["orders.send.shop.orders.placed"]["x-eventscope-service"]
    document["operations"]["inventory.send.shop.deadletter"]["x-eventscope-service"] = "billing"
    problems = dict(problems_of(document))
    assert "which service" in problems["#/operations/orders.send.shop.orders.placed"]
    assert "'billing' is not described" in problems["#/operations/inventory.send.shop.deadletter/x-eventscope-service"]


def test_text_that_is_not_a_document():
    with pytest.raises(AsyncAPIDocumentError, match=r"not valid YAML: line 3 column 1: expected"):
        load_document("asyncapi: 3.0.0\ninfo: [unclosed\n")
    with pytest.raises(AsyncAPIDocumentError, match="not valid JSON"):
        load_document('{"asyncapi": "3.0.0",}', format="json")
    with pytest.raises(AsyncAPIDocumentError, match="NaN is not a JSON value"):
        load_document('{"x": NaN}', format="json")
    with pytest.raises(AsyncAPIDocumentError, match="#/x: NaN and infinity are not JSON numbers"):
        load_document("x: .nan\n")
    with pytest.raises(AsyncAPIDocumentError, match="not UTF-8"):
        load_document(b"\xff\xfe\x00", format="yaml")
    with pytest.raises(AsyncAPIDocumentError, match="key 1 is not a string"):
        load_document("1: one\n")


def test_yaml_dates_stay_strings_and_aliases_cannot_blow_up():
    assert load_document("when: 2025-05-01\n") == {"when": "2025-05-01"}
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
    )
    with pytest.raises(AsyncAPIDocumentError, match="too large"):
        load_document(bomb)


def test_payload_of_unknown_shape_and_topicless_event_types_round_trip():
    snapshot = CatalogSnapshot(
        title="t",
        services=(ServiceSpec("svc", "svc"),),
        topics=(TopicSpec("t.one", "t.one"),),
        event_types=(
            EventTypeSpec("Known", topic="t.one", payload={}),
            EventTypeSpec("Homeless", version=3, payload=None),
        ),
        relations=(RelationSpec("svc", "produces", ("Known", 1)), RelationSpec("svc", "consumes", ("Homeless", 3))),
    )
    document = build_document(snapshot)
    assert_valid_asyncapi(document)
    assert document["components"]["messages"]["Known"]["payload"] == {}
    assert "payload" not in document["components"]["messages"]["Homeless.v3"]
    assert document["channels"]["unassigned-event-types"]["address"] is None
    assert build_document(parse_document(document)) == document


def test_the_pure_core_agrees_with_the_models():
    from catalog.models import ConsumerGroup, Domain, EventType, Service, Tag, Team, Topic

    assert set(asyncapi.CLASSIFICATIONS) == set(EventType.Classification.values)
    for model, field, limit in [
        (Service, "name", asyncapi.NAME_MAX),
        (Service, "slug", asyncapi.NAME_MAX),
        (Team, "name", asyncapi.NAME_MAX),
        (Domain, "name", asyncapi.NAME_MAX),
        (Team, "contact_channel", asyncapi.CONTACT_MAX),
        (Service, "repository_url", asyncapi.REPOSITORY_URL_MAX),
        (Tag, "name", asyncapi.TAG_MAX),
        (EventType, "name", asyncapi.EVENT_TYPE_NAME_MAX),
        (EventType, "summary", asyncapi.SUMMARY_MAX),
        (EventType, "schema_subject", asyncapi.SCHEMA_SUBJECT_MAX),
        (Topic, "name", asyncapi.TOPIC_NAME_MAX),
        (ConsumerGroup, "group_id", asyncapi.GROUP_ID_MAX),
    ]:
        assert model._meta.get_field(field).max_length == limit, (model, field)


# ---------------------------------------------------------------------------------------------
# Services: export and import against the database
# ---------------------------------------------------------------------------------------------
def catalog_counts() -> dict[str, int]:
    from catalog.models import ConsumerGroup, DeclaredRelation, Domain, EventType, Service, Tag, Team, Topic

    models = (Domain, Team, Service, Topic, EventType, DeclaredRelation, ConsumerGroup, Tag)
    counts = {model.__name__: model.objects.count() for model in models}
    counts["descriptions"] = hash(tuple(Service.objects.order_by("pk").values_list("description", flat=True)))
    return counts


@pytest.fixture
def shop(db):
    from simulator.catalog_seed import seed_shop_catalog

    return seed_shop_catalog()


@pytest.mark.django_db
def test_export_of_the_catalog_is_valid_and_export_import_export_is_stable(shop):
    from catalog.services.asyncapi import asyncapi_export, asyncapi_import

    document = asyncapi_export()
    assert_valid_asyncapi(document)
    before = catalog_counts()
    result = asyncapi_import(document=document)
    assert not result.changed
    assert catalog_counts() == before
    assert asyncapi_export() == document


@pytest.mark.django_db
def test_a_service_export_round_trips_and_holds_only_what_it_touches(shop):
    from catalog.models import Service
    from catalog.services.asyncapi import asyncapi_export, asyncapi_import

    service = Service.objects.get(slug="shipping")
    document = asyncapi_export(service=service)
    assert_valid_asyncapi(document)
    assert set(document["channels"]) == {"shop.payments.completed", "shop.shipments.created", "shop.deadletter"}
    assert set(document["components"]["messages"]) == {"PaymentCompleted", "ShipmentCreated"}
    assert set(document["x-eventscope-teams"]) == {"logistics", "payments", "platform"}
    assert document["info"]["x-eventscope-consumer-groups"] == ["shop.shipping"]
    assert not asyncapi_import(document=document).changed
    assert asyncapi_export(service=service) == document


@pytest.mark.django_db
def test_a_whole_catalog_export_rebuilds_an_empty_catalog(shop):
    from catalog.models import ConsumerGroup, DeclaredRelation, Domain, EventType, Service, Team, Topic
    from catalog.services.asyncapi import asyncapi_export, asyncapi_import

    document = asyncapi_export()
    for model in (DeclaredRelation, EventType, ConsumerGroup, Topic, Service, Team, Domain):
        model.objects.all().delete()
    result = asyncapi_import(document=document)
    assert result.created["services"] == 6 and result.created["event_types"] == 7
    assert result.created["topics"] == 8 and result.created["consumer_groups"] == 5
    assert asyncapi_export() == document


@pytest.mark.django_db
def test_import_creates_then_updates_then_changes_nothing(db):
    from catalog.models import ConsumerGroup, DeclaredRelation, EventType, Service, Topic
    from catalog.services.asyncapi import asyncapi_import

    first = asyncapi_import(document=minimal_document())
    assert first.as_dict()["created"] == {
        "domains": 0,
        "teams": 0,
        "services": 1,
        "topics": 2,
        "event_types": 2,
        "relations": 2,
        "consumer_groups": 1,
    }
    service = Service.objects.get(name="Billing Service")
    assert service.description == "Sends invoices."
    assert ConsumerGroup.objects.get(group_id="billing-orders").service == service
    topic = Topic.objects.get(name="billing.invoices")
    assert topic.cluster.is_default and topic.first_seen is not None
    invoice = EventType.objects.get(name="InvoiceSent")
    assert (invoice.topic, invoice.data_classification) == (topic, "pii")
    assert json.loads(invoice.example_payload) == {"invoice_id": "inv-1", "total": "19.90"}
    assert list(invoice.tags.values_list("name", flat=True)) == ["billing"]
    assert DeclaredRelation.objects.filter(service=service, source="asyncapi").count() == 2

    again = asyncapi_import(document=minimal_document())
    assert not again.changed
    assert sum(again.unchanged.values()) == 8

    changed = minimal_document()
    changed["info"]["description"] = "Sends invoices and reminders."
    del changed["operations"]["sendInvoice"]  # the service no longer produces invoices
    update = asyncapi_import(document=changed)
    assert update.updated["services"] == 1 and update.deleted["relations"] == 1
    service.refresh_from_db()
    assert service.description == "Sends invoices and reminders."
    assert not DeclaredRelation.objects.filter(service=service, direction="produces").exists()


@pytest.mark.django_db
def test_import_keeps_what_the_document_does_not_mention(db):
    from catalog.models import EventType
    from catalog.services.asyncapi import asyncapi_import
    from catalog.services.documentation import event_type_update

    asyncapi_import(document=minimal_document())
    placed = EventType.objects.get(name="OrderPlaced")
    event_type_update(event_type=placed, business_meaning="Written on the page.", tags=["orders"])
    assert not asyncapi_import(document=minimal_document()).changed
    placed.refresh_from_db()
    assert placed.business_meaning == "Written on the page."
    assert list(placed.tags.values_list("name", flat=True)) == ["orders"]


@pytest.mark.django_db
def test_an_invalid_import_changes_nothing_and_lists_every_problem(shop):
    from catalog.services.asyncapi import asyncapi_import

    document = minimal_document()
    document["info"]["x-eventscope-owner"] = "nobody"
    document["components"]["messages"]["InvoiceSent"]["x-eventscope-domain"] = "nowhere"
    document["x-eventscope-services"] = {"billing": {"name": "Billing", "repository": "https://bad_host/billing"}}
    document["operations"]["sendInvoice"]["x-eventscope-service"] = "billing"
    document["info"]["x-eventscope-service"] = "billing-service"
    before = catalog_counts()
    with pytest.raises(AsyncAPIDocumentError) as caught:
        asyncapi_import(document=document)
    problems = {problem.path: problem.message for problem in caught.value.problems}
    assert problems["#/info/x-eventscope-owner"] == "no team 'nobody' in this document or the catalog"
    assert problems["#/components/messages/InvoiceSent/x-eventscope-domain"] == (
        "no domain 'nowhere' in this document or the catalog"
    )
    assert catalog_counts() == before

    # A refusal by the catalog's own validation (here: the URL) is a problem at its place, and undoes it all.
    del document["info"]["x-eventscope-owner"]
    del document["components"]["messages"]["InvoiceSent"]["x-eventscope-domain"]
    with pytest.raises(AsyncAPIDocumentError) as caught:
        asyncapi_import(document=document)
    assert [p.path for p in caught.value.problems] == ["#/x-eventscope-services/billing/repository"]
    assert catalog_counts() == before


@pytest.mark.django_db
def test_export_query_count_does_not_grow_with_the_catalog(shop):
    from catalog.services.asyncapi import asyncapi_export, asyncapi_import

    with CaptureQueriesContext(connection) as small:
        asyncapi_export()
    bigger = minimal_document()
    bigger["info"]["title"] = "Billing Two"
    asyncapi_import(document=minimal_document())
    asyncapi_import(document=bigger)
    with CaptureQueriesContext(connection) as large:
        asyncapi_export()
    assert len(large) == len(small) <= 12


# ---------------------------------------------------------------------------------------------
# API
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def api(make_user):
    def client_for(role: str | None) -> APIClient:
        client = APIClient()
        if role:
            client.force_authenticate(make_user(f"user-{role}", role))
        return client

    return client_for


@pytest.mark.django_db
def test_api_export_in_json_and_yaml(shop, api):
    client = api("viewer")
    as_json = client.get("/api/v1/asyncapi/")
    assert as_json.status_code == 200 and as_json["Content-Type"].startswith("application/json")
    document = json.loads(as_json.content)
    assert_valid_asyncapi(document)

    for response in (
        client.get("/api/v1/asyncapi/", {"format": "yaml"}),
        client.get("/api/v1/asyncapi/", HTTP_ACCEPT="application/yaml"),
    ):
        assert response.status_code == 200 and response["Content-Type"].startswith("application/yaml")
        assert yaml.safe_load(response.content) == document

    service = client.get("/api/v1/asyncapi/services/orders/", {"format": "yaml"})
    assert service.status_code == 200
    assert yaml.safe_load(service.content)["info"]["x-eventscope-service"] == "orders"


@pytest.mark.django_db
def test_api_export_errors_are_in_the_project_format(shop, api):
    client = api("viewer")
    missing = client.get("/api/v1/asyncapi/services/no-such-service/")
    assert missing.status_code == 404 and json.loads(missing.content)["error"]["status"] == 404
    odd = client.get("/api/v1/asyncapi/", {"format": "xml"})
    assert odd.status_code == 406
    assert json.loads(odd.content)["error"]["message"] == "format must be yaml or json."
    assert api(None).get("/api/v1/asyncapi/").status_code == 401


@pytest.mark.django_db
def test_api_import_json_and_yaml(api):
    client = api("editor")
    response = client.post("/api/v1/asyncapi/import/", minimal_document(), format="json")
    assert response.status_code == 200, response.content
    assert response.json()["created"]["services"] == 1

    again = client.post("/api/v1/asyncapi/import/", dump_document(minimal_document()), content_type="application/yaml")
    assert again.status_code == 200
    assert again.json()["unchanged"]["event_types"] == 2 and again.json()["created"]["services"] == 0


@pytest.mark.django_db
def test_api_import_of_an_invalid_document_is_a_400_with_paths_and_changes_nothing(shop, api):
    client = api("editor")
    document = minimal_document()
    document["channels"]["orders"]["messages"]["OrderPlaced"]["$ref"] = "#/components/messages/Missing"
    before = catalog_counts()
    response = client.post("/api/v1/asyncapi/import/", document, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_asyncapi"
    assert {
        "path": "#/channels/orders/messages/OrderPlaced",
        "message": "$ref '#/components/messages/Missing' does not resolve",
    } in error["detail"]
    assert catalog_counts() == before

    for body, content_type in [
        ("asyncapi: [", "application/yaml"),
        ("{not json", "application/json"),
        ("", "application/json"),
        ("- just\n- a list\n", "text/yaml"),
    ]:
        response = client.post("/api/v1/asyncapi/import/", body, content_type=content_type)
        assert response.status_code == 400, (body, response.content)
        assert response.json()["error"]["detail"][0]["path"].startswith("#")
    assert client.post("/api/v1/asyncapi/import/", "x", content_type="text/csv").status_code == 415
    assert catalog_counts() == before


@pytest.mark.django_db
def test_api_import_needs_the_editor_role(api):
    assert api("viewer").post("/api/v1/asyncapi/import/", minimal_document(), format="json").status_code == 403
    assert api(None).post("/api/v1/asyncapi/import/", minimal_document(), format="json").status_code == 401
    assert api("admin").post("/api/v1/asyncapi/import/", minimal_document(), format="json").status_code == 200


# ---------------------------------------------------------------------------------------------
# Pages (their URL lines go into catalog/urls.py; until then this test module adds them itself)
# ---------------------------------------------------------------------------------------------
def _page_urls() -> list:
    from catalog import asyncapi_views

    return [
        path("asyncapi.yaml", asyncapi_views.catalog_asyncapi_download, name="asyncapi-catalog"),
        path("asyncapi.json", asyncapi_views.catalog_asyncapi_download, {"fmt": "json"}, name="asyncapi-catalog-json"),
        path("asyncapi/import/", asyncapi_views.asyncapi_import_page, name="asyncapi-import"),
        path("services/<slug:slug>/asyncapi.yaml", asyncapi_views.service_asyncapi_download, name="service-asyncapi"),
        path(
            "services/<slug:slug>/asyncapi.json",
            asyncapi_views.service_asyncapi_download,
            {"fmt": "json"},
            name="service-asyncapi-json",
        ),
    ]


def _urlconf():
    from eventscope import urls as root

    names = {getattr(pattern, "name", None) for pattern in catalog.urls.urlpatterns}
    page_urls = [pattern for pattern in _page_urls() if pattern.name not in names]
    return [
        path("catalog/", include((page_urls + list(catalog.urls.urlpatterns), "catalog"))),
        *[pattern for pattern in root.urlpatterns if str(pattern.pattern) != "catalog/"],
    ]


urlpatterns = _urlconf()
pages = pytest.mark.urls(__name__)


@pages
@pytest.mark.django_db
def test_page_downloads(shop, client, make_user):
    client.force_login(make_user("vera", "viewer"))
    response = client.get("/catalog/asyncapi.yaml")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="eventscope-catalog.asyncapi.yaml"'
    assert_valid_asyncapi(yaml.safe_load(response.content))
    service = client.get("/catalog/services/orders/asyncapi.json")
    assert service.status_code == 200 and json.loads(service.content)["info"]["title"] == "orders"
    assert client.get("/catalog/services/nope/asyncapi.yaml").status_code == 404


@pages
@pytest.mark.django_db
def test_import_page_shows_problems_with_paths_or_the_counts(shop, client, make_user):
    client.force_login(make_user("eddie", "editor"))
    page = client.get("/catalog/asyncapi/import/")
    assert page.status_code == 200 and b'enctype="multipart/form-data"' in page.content

    bad = minimal_document()
    bad["channels"]["orders"]["messages"]["OrderPlaced"]["$ref"] = "#/components/messages/Missing"
    before = catalog_counts()
    response = client.post("/catalog/asyncapi/import/", {"text": dump_document(bad)})
    assert response.status_code == 400
    html = response.content.decode()
    assert "<code>#/channels/orders/messages/OrderPlaced</code>" in html
    assert "does not resolve" in html and "Nothing was changed" in html
    assert catalog_counts() == before

    neither = client.post("/catalog/asyncapi/import/", {})
    assert neither.status_code == 400 and "Choose a file or paste a document" in neither.content.decode()

    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("billing.json", json.dumps(minimal_document()).encode(), "application/json")
    done = client.post("/catalog/asyncapi/import/", {"document": upload})
    assert done.status_code == 200
    assert "Imported." in done.content.decode()
    assert catalog_counts()["Service"] == before["Service"] + 1


@pages
@pytest.mark.django_db
def test_import_page_refuses_a_viewer(client, make_user):
    client.force_login(make_user("vera", "viewer"))
    assert client.get("/catalog/asyncapi/import/").status_code == 200
    before = catalog_counts()
    response = client.post("/catalog/asyncapi/import/", {"text": dump_document(minimal_document())})
    assert response.status_code == 403
    assert catalog_counts() == before
