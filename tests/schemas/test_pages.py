"""Schema pages through the real URL conf: the subjects list (filters, sorting, pagination, pinned query counts),
the subject page, diffs, "try a new version" and its register button, sample message validation, escaping."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from catalog.services import documentation
from schemas import selectors, services
from schemas.models import SubjectVersion
from tests.factories import make_team_editor

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------------------------------------
# Test data: registered through the registry's own services
# ---------------------------------------------------------------------------------------------
def avro_record(*fields: dict, name: str = "Order", doc: str | None = None) -> str:
    schema: dict = {"type": "record", "name": name, "namespace": "shop", "fields": list(fields)}
    if doc:
        schema["doc"] = doc
    return json.dumps(schema)


ORDER_V1 = avro_record({"name": "id", "type": "string"}, {"name": "amount", "type": "int", "doc": "In cents"})
ORDER_V2 = avro_record(
    {"name": "id", "type": "string"},
    {"name": "amount", "type": "int", "doc": "In cents"},
    {"name": "note", "type": ["null", "string"], "default": None},
)
ORDER_V3 = avro_record(
    {"name": "id", "type": "string"},
    {"name": "amount", "type": "long", "doc": "In cents"},
    {"name": "note", "type": ["null", "string"], "default": None},
    {"name": "channel", "type": "string", "default": "web"},
)
# Adds a field without a default: new readers cannot read old data (BACKWARD breaks).
ORDER_BREAKING = avro_record(
    {"name": "id", "type": "string"},
    {"name": "amount", "type": "long", "doc": "In cents"},
    {"name": "note", "type": ["null", "string"], "default": None},
    {"name": "channel", "type": "string", "default": "web"},
    {"name": "warehouse", "type": "string"},
)

JSON_V1 = json.dumps(
    {
        "type": "object",
        "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 0}},
        "required": ["sku"],
        "additionalProperties": False,
    }
)
# Closed content model: a new required property breaks BACKWARD.
JSON_BREAKING = json.dumps(
    {
        "type": "object",
        "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 0}, "bin": {"type": "string"}},
        "required": ["sku", "bin"],
        "additionalProperties": False,
    }
)
JSON_COMPATIBLE = json.dumps(
    {
        "type": "object",
        "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 0}},
        "required": ["sku"],
        "additionalProperties": True,
    }
)
PROTO_V1 = 'syntax = "proto3";\npackage shop;\nmessage Shipment {\n  string id = 1;\n  int32 parcels = 2;\n}\n'


def register(subject: str, text: str, schema_type: str = "AVRO", **kwargs):
    return services.subject_register_version(subject=subject, schema_text=text, schema_type=schema_type, **kwargs)


def version_count(subject: str) -> int:
    return SubjectVersion.objects.filter(subject__name=subject).count()


def html(response) -> str:
    return response.content.decode().replace("<wbr>", "")


def rows_of(response) -> int:
    return len(re.findall(r"<tr[ >]", html(response).split("<tbody>", 1)[1].split("</tbody>", 1)[0]))


@pytest.fixture
def viewer_client(client, make_user):
    client.force_login(make_user("vera", "viewer"))
    return client


@pytest.fixture
def editor_client(client, make_user):
    # Also an editor of every team: the shop's subjects belong to teams (governance.ownership).
    eddie = make_user("eddie", "editor")
    make_team_editor(eddie)
    client.force_login(eddie)
    return client


@pytest.fixture
def orders():
    """shop.orders.placed-value: three Avro versions, the second soft deleted; an event type and team point at it."""
    subject = "shop.orders.placed-value"
    for text in (ORDER_V1, ORDER_V2, ORDER_V3):
        register(subject, text)
    services.subject_version_delete(subject=subject, version=2)
    team = documentation.team_create(name="Orders team")
    event_type = documentation.event_type_create(name="OrderPlaced", owner_team=team, schema_subject=subject)
    return {"subject": subject, "team": team, "event_type": event_type}


@pytest.fixture
def inventory():
    subject = "shop.inventory.reserved-value"
    register(subject, JSON_V1, "JSON")
    services.config_set(subject=subject, compatibility="FULL")
    return subject


def subject_url(subject: str, name: str = "subject") -> str:
    return reverse(f"schemas:{name}", args=[subject])


# ---------------------------------------------------------------------------------------------
# Subjects list
# ---------------------------------------------------------------------------------------------
def test_list_shows_subjects_with_latest_version_count_level_and_owner(viewer_client, orders, inventory):
    response = viewer_client.get("/schemas/")
    assert response.status_code == 200
    page = html(response)
    assert orders["subject"] in page and inventory in page
    assert subject_url(orders["subject"]) in page
    assert "v3" in page  # latest live version; v2 is soft deleted, so 2 versions
    assert "Orders team" in page
    assert "FULL" in page and "BACKWARD" in page
    assert rows_of(response) == 2


def test_list_filters(viewer_client, orders, inventory):
    def names(params) -> str:
        response = viewer_client.get("/schemas/", params)
        assert response.status_code == 200
        return html(response)

    assert inventory not in names({"q": "ORDERS"}) and orders["subject"] in names({"q": "orders"})
    assert orders["subject"] not in names({"type": "JSON"}) and inventory in names({"type": "JSON"})
    assert inventory in names({"compatibility": "FULL"}) and orders["subject"] not in names({"compatibility": "FULL"})
    assert orders["subject"] in names({"compatibility": "BACKWARD"})
    owned = names({"owner": orders["team"].slug})
    assert orders["subject"] in owned and inventory not in owned
    # Nonsense filters are ignored and said, never a 400 or 500.
    odd = viewer_client.get("/schemas/", {"type": "XML", "owner": "nobody", "ordering": "-drop table", "page": "x"})
    assert odd.status_code == 200 and "Some filters were ignored" in html(odd)


def test_list_hides_subjects_whose_versions_are_all_deleted(viewer_client, inventory):
    services.subject_delete(subject=inventory)
    assert inventory not in html(viewer_client.get("/schemas/"))
    # ... but the subject page still shows the history.
    assert viewer_client.get(subject_url(inventory)).status_code == 200


def test_list_sorting_and_pagination(viewer_client):
    for n in range(30):
        register(f"load.subject.{n:02d}-value", avro_record({"name": "id", "type": "string"}, name=f"R{n}"))
    register(
        "load.subject.05-value",
        avro_record(
            {"name": "id", "type": "string"}, {"name": "x", "type": ["null", "int"], "default": None}, name="R5"
        ),
    )
    response = viewer_client.get("/schemas/", {"per_page": 25})
    assert rows_of(response) == 25 and "1\u201325 of 30" in html(response)
    response = viewer_client.get("/schemas/", {"per_page": 25, "page": 2})
    assert rows_of(response) == 5
    first = re.search(
        r'href="/schemas/subjects/([^"]+)/"', html(viewer_client.get("/schemas/", {"ordering": "-versions"}))
    )
    assert first.group(1) == "load.subject.05-value"
    first = re.search(r'href="/schemas/subjects/([^"]+)/"', html(viewer_client.get("/schemas/", {"ordering": "-name"})))
    assert first.group(1) == "load.subject.29-value"


def test_list_answers_htmx_with_the_table_only(viewer_client, orders):
    response = viewer_client.get("/schemas/", {"q": "orders"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "<html" not in html(response) and orders["subject"] in html(response)
    assert "HX-Request" in response["Vary"]


@pytest.fixture
def many_subjects():
    team = documentation.team_create(name="Load team")
    for n in range(55):
        subject = f"load.q{n:02d}-value"
        register(subject, avro_record({"name": "id", "type": "string"}, name=f"Q{n}"))
        register(
            subject,
            avro_record({"name": "id", "type": "string"}, {"name": "n", "type": "int", "default": 0}, name=f"Q{n}"),
        )
        documentation.event_type_create(name=f"Load{n}", owner_team=team, schema_subject=subject)
    services.config_set(subject="load.q01-value", compatibility="NONE")


# Page: session, user, role groups, global config, count, rows, mirrored subjects (schemas.external), and the
# owner filter's teams (not in a fragment).
LIST_QUERIES = 8
FRAGMENT_QUERIES = 7


def test_list_has_a_pinned_query_count_independent_of_page_size(
    viewer_client, many_subjects, django_assert_num_queries
):
    for per_page in (25, 50):
        with django_assert_num_queries(LIST_QUERIES):
            response = viewer_client.get("/schemas/", {"per_page": per_page})
        assert rows_of(response) == per_page
        with django_assert_num_queries(FRAGMENT_QUERIES):
            response = viewer_client.get("/schemas/", {"per_page": per_page}, headers={"HX-Request": "true"})
        assert rows_of(response) == per_page


# ---------------------------------------------------------------------------------------------
# Subject page
# ---------------------------------------------------------------------------------------------
def test_subject_page_shows_versions_level_schema_fields_and_event_types(viewer_client, orders):
    response = viewer_client.get(subject_url(orders["subject"]))
    assert response.status_code == 200
    page = html(response)
    assert '<tr class="is-deleted">' in page  # v2, soft deleted, greyed
    assert "BACKWARD" in page and "global default" in page
    assert "Schema v3" in page
    assert "&quot;channel&quot;" in page  # the pretty-printed schema, escaped inside <pre>
    assert 'class="hl language-json"' in page
    assert "In cents" in page and "channel" in page and "&quot;web&quot;" in page  # field table: doc and default
    assert reverse("catalog:event-type-detail", args=[orders["event_type"].slug]) in page
    assert "/catalog/topics/?q=shop.orders.placed" in page  # topic name strategy
    assert "/registry/subjects/shop.orders.placed-value/versions" in page
    # An older version on request.
    page = html(viewer_client.get(subject_url(orders["subject"]), {"version": 1}))
    assert "Schema v1" in page and "channel" not in page.split("Schema v1", 1)[1].split("</section>", 1)[0]


def test_subject_level_of_its_own(viewer_client, inventory):
    page = html(viewer_client.get(subject_url(inventory)))
    assert "FULL" in page and "set on this subject" in page


@pytest.mark.parametrize("version", ["99", "abc", "-1", "1e3"])
def test_unknown_versions_and_subjects_are_404(viewer_client, orders, version):
    assert viewer_client.get(subject_url(orders["subject"]), {"version": version}).status_code == 404
    assert viewer_client.get(subject_url("no.such.subject-value")).status_code == 404


def test_subject_names_with_slashes_and_odd_characters(viewer_client):
    subject = "team/orders/placed value?#x"
    register(subject, ORDER_V1)
    url = subject_url(subject)
    assert url == "/schemas/subjects/team/orders/placed%20value%3F%23x/"
    assert viewer_client.get(url).status_code == 200
    # The catalog's links quote "/" as %2F: the same page.
    response = viewer_client.get("/schemas/subjects/team%2Forders%2Fplaced%20value%3F%23x/")
    assert response.status_code == 200
    assert "/registry/subjects/team%2Forders%2Fplaced%20value%3F%23x/versions" in html(response)
    assert viewer_client.get(subject_url(subject, "subject-diff")).status_code == 200
    assert viewer_client.get(subject_url(subject, "subject-check")).status_code == 200
    assert viewer_client.get(subject_url(subject, "subject-validate")).status_code == 200


def test_docs_are_escaped(viewer_client):
    attack = "<script>alert('doc')</script>"
    subject = "xss-value"
    register(subject, avro_record({"name": "id", "type": "string", "doc": attack}, doc=attack))
    page = html(viewer_client.get(subject_url(subject)))
    assert "<script>alert(" not in page
    assert "&lt;script&gt;alert(" in page


def test_protobuf_subject_page(viewer_client):
    register("shop.shipments-value", PROTO_V1, "PROTOBUF")
    page = html(viewer_client.get(subject_url("shop.shipments-value")))
    assert 'class="hl language-protobuf"' in page and "Shipment.parcels" in page


def test_pages_need_a_login(client, orders):
    response = client.get(subject_url(orders["subject"]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# ---------------------------------------------------------------------------------------------
# Diff
# ---------------------------------------------------------------------------------------------
def test_diff_of_two_versions(viewer_client, orders):
    response = viewer_client.get(subject_url(orders["subject"], "subject-diff"), {"from": 1, "to": 3})
    assert response.status_code == 200
    page = html(response)
    assert "v1 → v3" in page
    changes = page.split("field-changes", 1)[1].split("</table>", 1)[0]
    assert "added" in changes and "note" in changes and "channel" in changes
    assert "type changed" in changes and "int" in changes and "long" in changes
    assert 'class="diff-add"' in page and 'class="diff-del"' in page
    assert f"--- {orders['subject']} v1" in page


def test_diff_defaults_to_the_previous_version_and_refuses_unknown_ones(viewer_client, orders):
    page = html(viewer_client.get(subject_url(orders["subject"], "subject-diff")))
    assert "v2 → v3" in page  # the latest against the one before (a deleted one is still history)
    assert viewer_client.get(subject_url(orders["subject"], "subject-diff"), {"from": 7}).status_code == 404
    assert viewer_client.get(subject_url(orders["subject"], "subject-diff"), {"to": "x"}).status_code == 404


# ---------------------------------------------------------------------------------------------
# Try a new version
# ---------------------------------------------------------------------------------------------
def test_check_form_is_prefilled_with_the_latest_version(viewer_client, orders):
    response = viewer_client.get(subject_url(orders["subject"], "subject-check"))
    assert response.status_code == 200
    page = html(response)
    assert "&quot;channel&quot;" in page and 'value="AVRO" selected' in page
    assert "Register this version" not in page  # viewers only check


def check(client, subject: str, text: str, schema_type: str = "AVRO"):
    return client.post(subject_url(subject, "subject-check"), {"schema_type": schema_type, "schema": text})


def test_check_compatible_avro(viewer_client, orders):
    candidate = avro_record(
        {"name": "id", "type": "string"},
        {"name": "amount", "type": "long", "doc": "In cents"},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "channel", "type": "string", "default": "web"},
        {"name": "coupon", "type": ["null", "string"], "default": None},
    )
    response = check(viewer_client, orders["subject"], candidate)
    assert response.status_code == 200
    page = html(response)
    assert "Compatible under BACKWARD" in page and "Checked against v3" in page
    assert 'id="impact-consumers"' in page and "No consumers of this subject&#x27;s topics are known" in page
    assert "coupon" in page.split("field-changes", 1)[1]
    assert version_count(orders["subject"]) == 3  # nothing stored


def test_check_incompatible_avro_lists_each_problem(viewer_client, orders):
    response = check(viewer_client, orders["subject"], ORDER_BREAKING)
    page = html(response)
    assert "Incompatible under BACKWARD" in page
    problems = page.split('class="data compact problems"', 1)[1].split("</table>", 1)[0]
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in problems and "warehouse" in problems
    assert version_count(orders["subject"]) == 3


def test_check_json_schema_under_full(viewer_client, inventory):
    page = html(check(viewer_client, inventory, JSON_BREAKING, "JSON"))
    assert "Incompatible under FULL" in page
    page = html(
        check(viewer_client, inventory, JSON_V1.replace('"minimum": 0', '"minimum": 0, "description": "units"'), "JSON")
    )
    assert "Compatible under FULL" in page


def test_check_json_schema_compatible_under_backward(viewer_client):
    register("json.backward-value", JSON_V1, "JSON")
    page = html(check(viewer_client, "json.backward-value", JSON_COMPATIBLE, "JSON"))
    assert "Compatible under BACKWARD" in page


def test_check_an_already_registered_schema(viewer_client, orders):
    page = html(check(viewer_client, orders["subject"], json.dumps(json.loads(ORDER_V3), indent=4)))
    assert "Already registered as v3" in page


@pytest.mark.parametrize(
    ("text", "schema_type", "message"),
    [
        ("{not json", "AVRO", "not valid JSON"),
        ('{"type": "record", "name": "X"}', "AVRO", "Invalid schema"),
        ("", "AVRO", "This field is required"),
        ('{"type": 12}', "JSON", "Invalid schema"),
        ("message {", "PROTOBUF", "Invalid schema"),
        ("{}", "XML", "Select a valid choice"),
    ],
)
def test_check_a_bad_schema_is_a_form_error(viewer_client, orders, text, schema_type, message):
    response = check(viewer_client, orders["subject"], text, schema_type)
    assert response.status_code == 400
    assert message in html(response)
    assert version_count(orders["subject"]) == 3


@pytest.mark.parametrize(
    "text",
    [
        avro_record({"name": "id", "type": "string", "doc": "SURROGATE"}).replace("SURROGATE", "\\ud800"),
        '{"type": "record", "name": "\\ud800", "fields": []}',
        "[" * 3000 + "]" * 3000,
        '{"type": "record", "name": "Order", "namespace": "shop", "fields": ' + "[" * 3000 + "]" * 3000 + "}",
    ],
)
def test_check_never_fails_on_odd_schemas(viewer_client, orders, text):
    response = check(viewer_client, orders["subject"], text)
    assert response.status_code in (200, 400)
    assert version_count(orders["subject"]) == 3


def test_check_bad_references_are_a_form_error(viewer_client, orders):
    response = viewer_client.post(
        subject_url(orders["subject"], "subject-check"),
        {"schema_type": "AVRO", "schema": ORDER_V3, "references": '[{"name": "x", "subject": "nope", "version": 1}]'},
    )
    assert response.status_code == 400 and "not found" in html(response)
    response = viewer_client.post(
        subject_url(orders["subject"], "subject-check"), {"schema_type": "AVRO", "schema": ORDER_V3, "references": "{"}
    )
    assert response.status_code == 400 and "References are not valid JSON" in html(response)


# ---------------------------------------------------------------------------------------------
# Register this version
# ---------------------------------------------------------------------------------------------
COMPATIBLE_V4 = avro_record(
    {"name": "id", "type": "string"},
    {"name": "amount", "type": "long", "doc": "In cents"},
    {"name": "note", "type": ["null", "string"], "default": None},
    {"name": "channel", "type": "string", "default": "web"},
    {"name": "coupon", "type": ["null", "string"], "default": None},
)


def test_viewers_cannot_register(viewer_client, orders):
    response = viewer_client.post(
        subject_url(orders["subject"], "subject-register"), {"schema_type": "AVRO", "schema": COMPATIBLE_V4}
    )
    assert response.status_code == 403
    assert version_count(orders["subject"]) == 3


def test_register_needs_post(orders, editor_client):
    assert editor_client.get(subject_url(orders["subject"], "subject-register")).status_code == 405


def test_editors_register_a_compatible_version(orders, editor_client):
    assert "Register this version" in html(editor_client.get(subject_url(orders["subject"], "subject-check")))
    response = editor_client.post(
        subject_url(orders["subject"], "subject-register"), {"schema_type": "AVRO", "schema": COMPATIBLE_V4}
    )
    assert response.status_code == 302
    assert response["Location"] == f"{subject_url(orders['subject'])}?version=4"
    assert selectors.subject_version_get(orders["subject"], "latest").version == 4
    follow = editor_client.get(response["Location"])
    assert "Registered version 4" in html(follow)


def test_an_incompatible_registration_is_a_form_error_and_stores_nothing(orders, editor_client):
    response = editor_client.post(
        subject_url(orders["subject"], "subject-register"), {"schema_type": "AVRO", "schema": ORDER_BREAKING}
    )
    assert response.status_code == 400
    page = html(response)
    assert "Not registered: the schema breaks BACKWARD compatibility." in page
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in page
    assert version_count(orders["subject"]) == 3


def test_an_invalid_registration_is_a_form_error(orders, editor_client):
    response = editor_client.post(
        subject_url(orders["subject"], "subject-register"), {"schema_type": "AVRO", "schema": "{"}
    )
    assert response.status_code == 400 and "not valid JSON" in html(response)
    assert version_count(orders["subject"]) == 3


# ---------------------------------------------------------------------------------------------
# Validate a sample message
# ---------------------------------------------------------------------------------------------
def validate(client, subject: str, message: str, version: int | str = 1, **extra):
    return client.post(subject_url(subject, "subject-validate"), {"version": version, "message": message, **extra})


def test_validate_avro_messages(viewer_client, orders):
    assert viewer_client.get(subject_url(orders["subject"], "subject-validate")).status_code == 200
    page = html(
        validate(viewer_client, orders["subject"], '{"id": "o-1", "amount": 5, "note": null, "channel": "web"}', 3)
    )
    assert "Valid for v3" in page
    # Avro's JSON encoding of a union branch works too.
    page = html(
        validate(
            viewer_client, orders["subject"], '{"id": "o-1", "amount": 5, "note": {"string": "hi"}, "channel": "x"}', 3
        )
    )
    assert "Valid for v3" in page
    page = html(validate(viewer_client, orders["subject"], '{"id": 7, "amount": "five"}', 1))
    assert "Not a valid message for v1" in page and "shop.Order.id" in page


def test_validate_json_schema_messages(viewer_client, inventory):
    assert "Valid for v1" in html(validate(viewer_client, inventory, '{"sku": "A-1", "qty": 2}'))
    page = html(validate(viewer_client, inventory, '{"qty": -1, "extra": true}'))
    assert "3 errors" in page
    assert "&#x27;sku&#x27; is a required property" in page and "$.qty" in page


def test_validate_protobuf_messages(viewer_client):
    register("shop.shipments-value", PROTO_V1, "PROTOBUF")
    assert "Valid for v1" in html(validate(viewer_client, "shop.shipments-value", '{"id": "s-1", "parcels": 2}'))
    page = html(validate(viewer_client, "shop.shipments-value", '{"id": "s-1", "weight": 2}'))
    assert "Not a valid message" in page and "weight" in page
    page = html(validate(viewer_client, "shop.shipments-value", "{}", message_type="shop.Nope"))
    assert "has no message" in page


@pytest.mark.parametrize(
    "message",
    [
        "",
        "{",
        "null",
        "[]",
        "[" * 5000 + "]" * 5000,
        '"\\ud800"',
        "NaN",
        '{"id": "' + "x" * 10000 + '"}',
        "\x00",
        "1e999",
    ],
)
def test_validation_never_fails_on_bad_input(viewer_client, orders, inventory, message):
    register("shop.shipments-value", PROTO_V1, "PROTOBUF")
    for subject in (orders["subject"], inventory, "shop.shipments-value"):
        response = validate(viewer_client, subject, message)
        assert response.status_code in (200, 400), subject
    assert validate(viewer_client, orders["subject"], "{}", version=42).status_code == 400
    assert validate(viewer_client, orders["subject"], "{}", version="x").status_code == 400


def test_subject_page_queries_do_not_grow_with_versions_or_event_types(viewer_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def build(subject: str, versions: int) -> None:
        fields = [{"name": "id", "type": "string"}]
        for n in range(versions):
            register(subject, avro_record(*fields, name="Grow"))
            fields.append({"name": f"f{n}", "type": "int", "default": n})
            documentation.event_type_create(name=f"{subject}-{n}", schema_subject=subject)

    build("small-value", 2)
    build("large-value", 12)
    counts = []
    for subject in ("small-value", "large-value"):
        for name in ("subject", "subject-diff", "subject-check", "subject-validate"):
            viewer_client.get(subject_url(subject, name))  # warm the in-process schema caches
            with CaptureQueriesContext(connection) as queries:
                assert viewer_client.get(subject_url(subject, name)).status_code == 200
            counts.append((name, len(queries)))
    assert counts[:4] == counts[4:]
