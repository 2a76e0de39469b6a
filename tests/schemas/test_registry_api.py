"""REST contract of the Confluent-compatible registry at /registry/: every endpoint and error code.

Requests go through the real URL conf and middleware with HTTP Basic credentials, as Confluent's
clients send them. A refused write is checked to have stored nothing (row counts).
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.test import Client
from google.protobuf.descriptor_pb2 import FileDescriptorProto

from schemas import selectors
from schemas.compatibility import ParsedSchema, SchemaType
from schemas.models import Schema, SchemaReference, Subject, SubjectVersion
from schemas.registry import authentication

pytestmark = pytest.mark.django_db

CT = "application/vnd.schemaregistry.v1+json"
PASSWORD = "s3cret-pass!"


def basic(username: str, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def record(fields: list[dict[str, Any]], name: str = "Order", doc: str | None = None, **extra: Any) -> str:
    schema: dict[str, Any] = {"type": "record", "name": name, "namespace": "shop", "fields": fields}
    if doc is not None:
        schema["doc"] = doc
    schema.update(extra)
    return json.dumps(schema)


V1 = record([{"name": "id", "type": "string"}])
V2 = record([{"name": "id", "type": "string"}, {"name": "amount", "type": "long", "default": 0}])
# A new required field without a default: the new schema cannot read data written with V1.
BREAKS_V1 = record([{"name": "id", "type": "string"}, {"name": "amount", "type": "long"}])
JSON_V1 = json.dumps({"type": "object", "properties": {"id": {"type": "string"}}})
PROTO = 'syntax = "proto3";\npackage shop;\nmessage Order {\n  string id = 1;\n  int64 amount = 2;\n}\n'


class Registry:
    """The registry as a client sees it: paths relative to /registry/, JSON in and out."""

    def __init__(self, client: Client, authorization: str | None) -> None:
        self.client = client
        self.headers = {"Authorization": authorization} if authorization else {}

    def url(self, path: str, params: dict[str, Any] | None = None) -> str:
        return "/registry/" + path + ("?" + urlencode(params) if params else "")

    def get(self, path: str, **params: Any):
        return self.client.get(self.url(path, params), headers={"Accept": CT, **self.headers})

    def post(self, path: str, body: Any = None, content_type: str = CT, **params: Any):
        data = body if isinstance(body, str | bytes) else json.dumps(body if body is not None else {})
        return self.client.post(self.url(path, params), data, content_type=content_type, headers=self.headers)

    def put(self, path: str, body: Any, **params: Any):
        return self.client.put(self.url(path, params), json.dumps(body), content_type=CT, headers=self.headers)

    def delete(self, path: str, **params: Any):
        return self.client.delete(self.url(path, params), headers=self.headers)

    def register(self, subject: str, schema: str, **extra: Any):
        return self.post(f"subjects/{quote(subject, safe='')}/versions", {"schema": schema, **extra})


def error(response) -> tuple[int, int]:
    return response.status_code, response.json()["error_code"]


def counts() -> tuple[int, int, int, int]:
    return (
        Schema.objects.count(),
        SchemaReference.objects.count(),
        Subject.objects.count(),
        SubjectVersion.objects.count(),
    )


@pytest.fixture(autouse=True)
def _fresh_caches():
    # Ids and users restart after each test's rollback; in-process caches must not outlive them.
    selectors.schema_caches_clear()
    authentication.forget_remembered_credentials()
    yield
    selectors.schema_caches_clear()
    authentication.forget_remembered_credentials()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Every test creates users and logs in once with Basic: PBKDF2 would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def registry(client, make_user) -> Registry:
    # Deletes and global config need admin (governance.ownership); editors' rights are tested on their own.
    make_user("erin", "admin")
    return Registry(client, basic("erin"))


@pytest.fixture
def viewer(client, make_user) -> Registry:
    make_user("vera", "viewer")
    return Registry(client, basic("vera"))


# ---------------------------------------------------------------------------------------------
# Authentication, roles, content types
# ---------------------------------------------------------------------------------------------
def test_anonymous_calls_get_401_with_a_basic_challenge(client):
    response = Registry(client, None).get("subjects")
    assert error(response) == (401, 40101)
    assert response["WWW-Authenticate"].startswith("Basic")


def test_a_wrong_password_is_401(client, make_user):
    make_user("erin", "editor")
    assert error(Registry(client, basic("erin", "wrong")).get("subjects")) == (401, 40101)


def test_a_viewer_reads_but_cannot_write(registry, viewer):
    schema_id = registry.register("orders-value", V1).json()["id"]
    assert viewer.get(f"schemas/ids/{schema_id}").status_code == 200
    # Lookup and compatibility are POSTs but reads.
    assert viewer.post("subjects/orders-value", {"schema": V1}).status_code == 200
    assert viewer.post("compatibility/subjects/orders-value/versions/latest", {"schema": V2}).status_code == 200
    before = counts()
    assert error(viewer.register("orders-value", V2)) == (403, 40301)
    assert error(viewer.delete("subjects/orders-value")) == (403, 40301)
    assert error(viewer.put("config", {"compatibility": "NONE"})) == (403, 40301)
    assert error(viewer.put("mode", {"mode": "READONLY"})) == (403, 40301)
    assert counts() == before


def test_remembered_credentials_are_rechecked_against_the_user_row(
    registry, monkeypatch, django_user_model, django_assert_num_queries
):
    monkeypatch.setattr(authentication, "REUSE_SECONDS", 0.0)  # every request past the reuse window
    assert registry.get("schemas/types").status_code == 200
    with django_assert_num_queries(1):
        assert registry.get("schemas/types").status_code == 200  # the user row, no password hashing
    user = django_user_model.objects.get(username="erin")
    user.set_password("a-new-pass-456")
    user.save()
    assert error(registry.get("schemas/types")) == (401, 40101)
    assert Registry(registry.client, basic("erin", "a-new-pass-456")).get("schemas/types").status_code == 200
    user.is_active = False
    user.save()
    assert error(Registry(registry.client, basic("erin", "a-new-pass-456")).get("schemas/types")) == (401, 40101)


def test_session_login_works_and_its_writes_need_the_csrf_token(make_user):
    user = make_user("erin", "editor")
    session = Client(enforce_csrf_checks=True)
    session.force_login(user)
    api = Registry(session, None)
    assert api.get("subjects").status_code == 200
    assert error(api.register("orders-value", V1)) == (403, 40301)  # no CSRF token
    assert Subject.objects.count() == 0


def test_basic_auth_writes_need_no_csrf_token(make_user):
    make_user("erin", "editor")
    api = Registry(Client(enforce_csrf_checks=True), basic("erin"))
    assert api.register("orders-value", V1).status_code == 200


def test_responses_use_the_registry_media_type(registry):
    response = registry.get("subjects")
    assert response["Content-Type"] == CT
    assert (
        registry.client.get("/registry/subjects", headers={**registry.headers, "Accept": "text/html"}).status_code
        == 200
    )


@pytest.mark.parametrize(
    "content_type", [CT, "application/vnd.schemaregistry+json", "application/json", "application/octet-stream"]
)
def test_bodies_are_accepted_in_every_content_type_clients_send(registry, content_type):
    response = registry.post("subjects/orders-value/versions", {"schema": V1}, content_type=content_type)
    assert response.status_code == 200, response.content


def test_an_unsupported_content_type_is_415_and_malformed_json_is_400(registry):
    assert error(registry.post("subjects/orders-value/versions", "schema=x", content_type="text/plain")) == (415, 415)
    assert error(registry.post("subjects/orders-value/versions", "{not json")) == (400, 400)
    assert error(registry.post("subjects/orders-value/versions", "[1, 2]")) == (400, 400)
    assert counts() == (0, 0, 0, 0)


def test_root_contexts_and_schema_types(registry):
    assert registry.get("").json() == {}
    assert registry.get("contexts").json() == ["."]
    assert sorted(registry.get("schemas/types").json()) == ["AVRO", "JSON", "PROTOBUF"]


def test_associations_and_unknown_paths_are_404_so_clients_fall_back(registry):
    assert registry.get("associations/resources/-/orders", resourceType="topic").status_code == 404
    assert error(registry.get("no/such/endpoint")) == (404, 404)


def test_a_method_the_endpoint_lacks_is_405(registry):
    assert error(registry.delete("schemas/types")) == (405, 405)


def test_an_unexpected_failure_is_a_logged_500_with_50001(registry, monkeypatch, caplog):
    def broken(schema_id):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(selectors, "schema_by_id", broken)
    assert error(registry.get("schemas/ids/1")) == (500, 50001)
    assert "disk on fire" in caplog.text


# ---------------------------------------------------------------------------------------------
# Registration and identity
# ---------------------------------------------------------------------------------------------
def test_register_then_read_it_back_every_way(registry):
    response = registry.register("orders-value", V1)
    assert response.status_code == 200
    schema_id = response.json()["id"]
    assert response.json()["version"] == 1

    assert registry.get("subjects").json() == ["orders-value"]
    assert registry.get("subjects/orders-value/versions").json() == [1]
    expected = {"subject": "orders-value", "version": 1, "id": schema_id, "schema": V1}
    for version in ("1", "latest", "-1"):
        assert registry.get(f"subjects/orders-value/versions/{version}").json() == expected
    raw = registry.get("subjects/orders-value/versions/1/schema")
    assert raw.status_code == 200 and json.loads(raw.content) == json.loads(V1)
    assert registry.get(f"schemas/ids/{schema_id}").json() == {"schema": V1}
    assert json.loads(registry.get(f"schemas/ids/{schema_id}/schema").content) == json.loads(V1)
    assert registry.get(f"schemas/ids/{schema_id}", subject="orders-value").json() == {"schema": V1}


def test_whitespace_and_key_order_give_the_same_id_and_no_new_version(registry):
    schema_id = registry.register("orders-value", V1).json()["id"]
    reordered = json.dumps(
        {"fields": [{"type": "string", "name": "id"}], "namespace": "shop", "name": "Order", "type": "record"}, indent=4
    )
    before = counts()
    response = registry.register("orders-value", reordered)
    assert response.json() == {"id": schema_id, "version": 1}
    assert counts() == before
    assert registry.post("subjects/orders-value", {"schema": reordered}).json()["id"] == schema_id


def test_the_same_schema_in_another_subject_keeps_its_id(registry):
    schema_id = registry.register("orders-value", V1).json()["id"]
    response = registry.register("archive-value", V1)
    assert response.json() == {"id": schema_id, "version": 1}
    assert Schema.objects.count() == 1
    assert sorted(registry.get(f"schemas/ids/{schema_id}/subjects").json()) == ["archive-value", "orders-value"]
    assert registry.get(f"schemas/ids/{schema_id}/versions").json() == [
        {"subject": "archive-value", "version": 1},
        {"subject": "orders-value", "version": 1},
    ]


def test_a_doc_change_is_a_new_schema_and_version(registry):
    first = registry.register("orders-value", V1).json()["id"]
    response = registry.register("orders-value", record([{"name": "id", "type": "string"}], doc="An order."))
    assert response.json()["version"] == 2
    assert response.json()["id"] > first


def test_an_incompatible_schema_is_409_with_the_reason_and_stores_nothing(registry):
    registry.register("orders-value", V1)
    before = counts()
    response = registry.register("orders-value", BREAKS_V1)
    assert error(response) == (409, 409)
    assert "amount" in response.json()["message"]
    assert "BACKWARD" in response.json()["message"]
    assert counts() == before
    assert registry.get("subjects/orders-value/versions").json() == [1]


def test_a_compatible_change_is_a_new_version(registry):
    registry.register("orders-value", V1)
    assert registry.register("orders-value", V2).json()["version"] == 2


def test_changing_the_schema_type_is_incompatible(registry):
    registry.register("orders-value", V1)
    before = counts()
    assert error(registry.register("orders-value", JSON_V1, schemaType="JSON")) == (409, 409)
    assert counts() == before


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"schema": '{"type": "record", "name": "X"}'}, "no fields"),
        ({"schema": "not json at all"}, "not JSON"),
        ({"schema": ""}, "empty"),
        ({}, "missing"),
        ({"schema": 42}, "not a string"),
        ({"schema": V1, "schemaType": "XML"}, "unknown type"),
        ({"schema": JSON_V1, "schemaType": "JSON", "references": "nope"}, "references not a list"),
        ({"schema": V1, "references": [{"name": "x", "subject": "missing", "version": 1}]}, "unknown reference"),
        ({"schema": "message {", "schemaType": "PROTOBUF"}, "bad proto"),
    ],
)
def test_an_invalid_schema_is_42201_and_stores_nothing(registry, body, why):
    response = registry.post("subjects/orders-value/versions", body)
    assert error(response) == (422, 42201), why
    assert counts() == (0, 0, 0, 0)


def test_a_schema_over_the_size_limit_is_42209(registry, settings):
    settings.EVENTSCOPE_MAX_SCHEMA_BYTES = 100
    big = record([{"name": f"field_{i}", "type": "string"} for i in range(10)])
    assert error(registry.register("orders-value", big)) == (422, 42209)
    assert counts() == (0, 0, 0, 0)


def test_a_body_over_the_request_limit_is_42209_not_a_500(registry, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    big = record([{"name": f"field_{i}", "type": "string"} for i in range(100)])
    assert error(registry.register("orders-value", big)) == (422, 42209)
    assert counts() == (0, 0, 0, 0)


@pytest.mark.parametrize("subject", [" ", "a\x01b", "x" * 1001])
def test_an_invalid_subject_name_is_42208(registry, subject):
    assert error(registry.register(subject, V1)) == (422, 42208)
    assert error(registry.put(f"config/{quote(subject, safe='')}", {"compatibility": "NONE"})) == (422, 42208)
    assert counts() == (0, 0, 0, 0)


@pytest.mark.parametrize("subject", ["orders/versions", "orders/versions/1", "orders/versions/1/schema"])
def test_names_the_routes_would_read_as_a_suffix_are_refused(registry, subject):
    # /subjects/orders%2Fversions/versions would route as version "versions" of subject "orders":
    # such a subject must never exist. /config/{s} takes the whole rest of the path, so it says why.
    assert error(registry.put(f"config/{quote(subject, safe='')}", {"compatibility": "NONE"})) == (422, 42208)
    assert counts() == (0, 0, 0, 0)


def test_subjects_with_a_slash_sent_as_2f_work_everywhere(registry):
    subject = "team/orders-value"
    encoded = quote(subject, safe="")
    schema_id = registry.register(subject, V1).json()["id"]
    assert registry.get("subjects").json() == [subject]
    assert registry.get(f"subjects/{encoded}/versions").json() == [1]
    assert registry.get(f"subjects/{encoded}/versions/latest").json()["subject"] == subject
    assert registry.post(f"subjects/{encoded}", {"schema": V1}).json()["id"] == schema_id
    assert registry.put(f"config/{encoded}", {"compatibility": "NONE"}).status_code == 200
    assert registry.get(f"config/{encoded}").json() == {"compatibilityLevel": "NONE"}
    assert registry.post(f"compatibility/subjects/{encoded}/versions/latest", {"schema": V2}).json() == {
        "is_compatible": True
    }
    assert registry.delete(f"subjects/{encoded}/versions/1").json() == 1
    assert registry.delete(f"subjects/{encoded}").status_code == 404  # nothing live left
    assert registry.get(f"subjects/{encoded}/versions", deleted="true").json() == [1]


def test_an_id_or_version_outside_import_mode_is_42205(registry):
    assert error(registry.register("orders-value", V1, id=500)) == (422, 42205)
    assert error(registry.register("orders-value", V1, version=3)) == (422, 42205)
    assert counts() == (0, 0, 0, 0)


def test_normalize_stores_the_canonical_text(registry):
    spaced = json.dumps(json.loads(V1), indent=8)
    schema_id = registry.post("subjects/orders-value/versions", {"schema": spaced}, normalize="TRUE").json()["id"]
    stored = registry.get(f"schemas/ids/{schema_id}").json()["schema"]
    assert stored == selectors.normalized_text(ParsedSchema(SchemaType.AVRO, spaced)) != spaced


# ---------------------------------------------------------------------------------------------
# Reads and their errors
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["0", "-2", "abc", "2147483648", "1.5"])
def test_an_invalid_version_is_42202(registry, version):
    registry.register("orders-value", V1)
    assert error(registry.get(f"subjects/orders-value/versions/{version}")) == (422, 42202)
    assert error(registry.delete(f"subjects/orders-value/versions/{version}")) == (422, 42202)
    assert error(registry.post(f"compatibility/subjects/orders-value/versions/{version}", {"schema": V2})) == (
        422,
        42202,
    )
    assert SubjectVersion.objects.filter(deleted_at__isnull=True).count() == 1


def test_unknown_subject_version_and_schema_are_40401_40402_40403(registry):
    assert error(registry.get("subjects/nope/versions")) == (404, 40401)
    assert error(registry.get("subjects/nope/versions/1")) == (404, 40401)
    registry.register("orders-value", V1)
    assert error(registry.get("subjects/orders-value/versions/7")) == (404, 40402)
    assert error(registry.get("subjects/orders-value/versions/7/schema")) == (404, 40402)
    assert error(registry.get("schemas/ids/999999")) == (404, 40403)
    assert error(registry.get("schemas/ids/99999999999999999999")) == (404, 40403)
    assert error(registry.get("schemas/ids/999999/versions")) == (404, 40403)
    assert error(registry.get("schemas/ids/999999/subjects")) == (404, 40403)


def test_lookup_finds_the_version_or_says_why_not(registry):
    schema_id = registry.register("orders-value", V1).json()["id"]
    found = registry.post("subjects/orders-value", {"schema": V1})
    assert found.json() == {"subject": "orders-value", "version": 1, "id": schema_id, "schema": V1}
    assert error(registry.post("subjects/orders-value", {"schema": V2})) == (404, 40403)
    assert error(registry.post("subjects/nope", {"schema": V1})) == (404, 40401)
    assert error(registry.post("subjects/orders-value", {"schema": "{"})) == (422, 42201)
    registry.delete("subjects/orders-value/versions/1")
    assert error(registry.post("subjects/orders-value", {"schema": V1})) == (404, 40401)
    assert registry.post("subjects/orders-value", {"schema": V1}, deleted="true").json()["version"] == 1
    # Registering it again adds a version (a soft-deleted one does not count); lookups prefer it.
    assert registry.register("orders-value", V1).json() == {"id": schema_id, "version": 2}
    assert registry.post("subjects/orders-value", {"schema": V1}, deleted="true").json()["version"] == 2


def test_subject_listings_with_prefix_and_deleted(registry):
    registry.register("orders-value", V1)
    registry.register("orders-key", V1)
    registry.register("payments-value", V1)
    assert registry.get("subjects", subjectPrefix="orders").json() == ["orders-key", "orders-value"]
    registry.delete("subjects/orders-key")
    assert registry.get("subjects").json() == ["orders-value", "payments-value"]
    assert registry.get("subjects", deleted="TRUE").json() == ["orders-key", "orders-value", "payments-value"]
    assert registry.get("subjects", deletedOnly="true").json() == ["orders-key"]
    assert registry.get("subjects", offset=1, limit=1).json() == ["payments-value"]


def test_booleans_are_case_insensitive_and_garbage_is_422(registry):
    registry.register("orders-value", V1)
    registry.delete("subjects/orders-value/versions/1")
    for value in ("true", "True", "TRUE"):
        assert registry.get("subjects/orders-value/versions", deleted=value).json() == [1]
    assert error(registry.get("subjects/orders-value/versions", deleted="maybe")) == (422, 422)
    assert error(registry.get("subjects", offset="x")) == (422, 422)


def test_the_schemas_listing(registry):
    registry.register("orders-value", V1)
    registry.register("orders-value", V2)
    registry.register("payments-value", V1)
    listing = registry.get("schemas").json()
    assert [(item["subject"], item["version"]) for item in listing] == [
        ("orders-value", 1),
        ("orders-value", 2),
        ("payments-value", 1),
    ]
    latest = registry.get("schemas", latestOnly="true").json()
    assert [(item["subject"], item["version"]) for item in latest] == [("orders-value", 2), ("payments-value", 1)]
    assert [item["subject"] for item in registry.get("schemas", subjectPrefix="pay").json()] == ["payments-value"]


# ---------------------------------------------------------------------------------------------
# Deletes
# ---------------------------------------------------------------------------------------------
def test_version_delete_soft_then_permanent(registry):
    registry.register("orders-value", V1)
    registry.register("orders-value", V2)
    assert error(registry.delete("subjects/orders-value/versions/2", permanent="true")) == (404, 40407)
    assert registry.delete("subjects/orders-value/versions/2").json() == 2
    assert error(registry.delete("subjects/orders-value/versions/2")) == (404, 40406)
    assert registry.get("subjects/orders-value/versions").json() == [1]
    assert registry.get("subjects/orders-value/versions", deleted="true").json() == [1, 2]
    assert registry.get("subjects/orders-value/versions", deletedOnly="true").json() == [2]
    assert error(registry.get("subjects/orders-value/versions/2")) == (404, 40402)
    assert registry.get("subjects/orders-value/versions/2", deleted="true").json()["version"] == 2
    assert registry.get("subjects/orders-value/versions/latest").json()["version"] == 1
    assert registry.delete("subjects/orders-value/versions/2", permanent="true").json() == 2
    assert error(registry.delete("subjects/orders-value/versions/2", permanent="true")) == (404, 40402)
    assert registry.get("subjects/orders-value/versions", deleted="true").json() == [1]


def test_soft_deleted_versions_are_read_with_deleted_true_as_from_confluents_registry(registry):
    """What a migration reads from a registry (Eventscope's import reads ours the same way)."""
    kept = registry.register("orders-value", V1).json()["id"]
    registry.register("orders-value", V2)
    gone = registry.register("gone-value", record([{"name": "sku", "type": "string"}], name="Gone")).json()["id"]
    registry.put("config/gone-value", {"compatibility": "NONE"})
    registry.delete("subjects/orders-value/versions/1")
    registry.delete("subjects/gone-value")

    # The listings show soft-deleted subjects and versions only when asked.
    assert registry.get("subjects").json() == ["orders-value"]
    assert registry.get("subjects", deleted="true").json() == ["gone-value", "orders-value"]
    assert registry.get("subjects/orders-value/versions", deleted="true").json() == [1, 2]
    assert registry.get("subjects/gone-value/versions", deleted="true").json() == [1]
    # A soft-deleted version answers with ?deleted=true only: 40402, or 40401 when its subject shows nothing.
    assert error(registry.get("subjects/orders-value/versions/1")) == (404, 40402)
    assert error(registry.get("subjects/gone-value/versions/1")) == (404, 40401)
    assert error(registry.get("subjects/gone-value/versions/1/schema")) == (404, 40401)
    assert registry.get("subjects/orders-value/versions/1", deleted="true").json() == {
        "subject": "orders-value",
        "version": 1,
        "id": kept,
        "schema": V1,
    }
    assert registry.get("subjects/gone-value/versions/1", deleted="true").json()["id"] == gone
    # Its id still resolves (old messages decode), and the soft-deleted subject keeps its config.
    assert (
        registry.get(f"schemas/ids/{gone}").json()["schema"]
        == registry.get("subjects/gone-value/versions/1/schema", deleted="true").content.decode()
    )
    assert registry.get(f"schemas/ids/{gone}/versions", deleted="true").json() == [
        {"subject": "gone-value", "version": 1}
    ]
    assert registry.get("config/gone-value").json() == {"compatibilityLevel": "NONE"}
    # Permanently deleted: gone from every listing, deleted=true or not.
    registry.delete("subjects/gone-value", permanent="true")
    assert registry.get("subjects", deleted="true").json() == ["orders-value"]
    assert error(registry.get("subjects/gone-value/versions/1", deleted="true")) == (404, 40401)


def test_subject_delete_soft_then_permanent_and_ids_are_never_reused(registry):
    first = registry.register("orders-value", V1).json()["id"]
    registry.register("orders-value", V2)
    assert error(registry.delete("subjects/orders-value", permanent="true")) == (404, 40405)
    assert registry.delete("subjects/orders-value").json() == [1, 2]
    assert error(registry.delete("subjects/orders-value")) == (404, 40404)
    assert registry.get("subjects").json() == []
    assert registry.delete("subjects/orders-value", permanent="true").json() == [1, 2]
    assert error(registry.get("subjects/orders-value/versions", deleted="true")) == (404, 40401)
    assert error(registry.delete("subjects/orders-value")) == (404, 40401)
    assert SubjectVersion.objects.count() == 0

    # The id still means the same schema, and a new schema gets a new id.
    assert registry.get(f"schemas/ids/{first}").json() == {"schema": V1}
    assert registry.get(f"schemas/ids/{first}/versions").json() == []
    assert registry.register("orders-value", V1).json() == {"id": first, "version": 1}
    other = registry.register("other-value", record([{"name": "sku", "type": "string"}], name="Item")).json()["id"]
    assert other > max(Schema.objects.exclude(pk=other).values_list("id", flat=True))


def test_deleting_latest(registry):
    registry.register("orders-value", V1)
    registry.register("orders-value", V2)
    assert registry.delete("subjects/orders-value/versions/latest").json() == 2
    assert registry.delete("subjects/orders-value/versions/-1").json() == 1


# ---------------------------------------------------------------------------------------------
# References
# ---------------------------------------------------------------------------------------------
def test_references_resolve_block_deletes_and_are_listed(registry):
    address = record([{"name": "city", "type": "string"}], name="Address")
    registry.register("address-value", address)
    customer = record([{"name": "address", "type": "shop.Address"}], name="Customer")
    refs = [{"name": "shop.Address", "subject": "address-value", "version": 1}]
    response = registry.register("customer-value", customer, references=refs)
    assert response.status_code == 200, response.content
    customer_id = response.json()["id"]
    assert registry.get(f"schemas/ids/{customer_id}").json() == {"references": refs, "schema": customer}
    assert registry.get("subjects/address-value/versions/1/referencedby").json() == [customer_id]
    assert (
        registry.post("subjects/customer-value", {"schema": customer, "references": refs}).json()["id"] == customer_id
    )

    before = counts()
    assert error(registry.delete("subjects/address-value/versions/1")) == (422, 42206)
    assert error(registry.delete("subjects/address-value")) == (422, 42206)
    assert counts() == before

    # With version -1 the reference is pinned to the latest version at registration.
    latest_refs = [{"name": "shop.Address", "subject": "address-value", "version": -1}]
    assert registry.register("customer-value", customer, references=latest_refs).json()["id"] == customer_id


# ---------------------------------------------------------------------------------------------
# Other formats
# ---------------------------------------------------------------------------------------------
def test_json_schema_registration_and_compatibility(registry):
    response = registry.register("events-value", JSON_V1, schemaType="JSON")
    assert response.status_code == 200, response.content
    schema_id = response.json()["id"]
    assert registry.get(f"schemas/ids/{schema_id}").json() == {"schemaType": "JSON", "schema": JSON_V1}
    reordered = json.dumps({"properties": {"id": {"type": "string"}}, "type": "object"})
    assert registry.register("events-value", reordered, schemaType="json").json() == {"id": schema_id, "version": 1}


def test_protobuf_registration_and_the_serialized_format(registry):
    response = registry.register("orders-proto-value", PROTO, schemaType="PROTOBUF")
    assert response.status_code == 200, response.content
    schema_id = response.json()["id"]
    assert registry.get(f"schemas/ids/{schema_id}").json() == {"schemaType": "PROTOBUF", "schema": PROTO}
    serialized = registry.get(f"schemas/ids/{schema_id}", format="serialized").json()["schema"]
    descriptor = FileDescriptorProto.FromString(base64.b64decode(serialized))
    assert [message.name for message in descriptor.message_type] == ["Order"]
    by_version = registry.get("subjects/orders-proto-value/versions/1", format="serialized").json()
    assert by_version["schema"] == serialized


# ---------------------------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------------------------
def test_global_config_get_put_delete(registry):
    assert registry.get("config").json() == {"compatibilityLevel": "BACKWARD"}
    assert registry.put("config", {"compatibility": "full"}).json() == {"compatibility": "FULL"}
    assert registry.get("config").json() == {"compatibilityLevel": "FULL"}
    assert error(registry.put("config", {"compatibility": "SIDEWAYS"})) == (422, 42203)
    assert error(registry.put("config", {})) == (422, 42203)
    assert registry.get("config").json() == {"compatibilityLevel": "FULL"}
    assert registry.delete("config").json() == {"compatibilityLevel": "FULL"}
    assert registry.get("config").json() == {"compatibilityLevel": "BACKWARD"}


def test_subject_config_and_default_to_global(registry):
    registry.register("orders-value", V1)
    assert error(registry.get("config/orders-value")) == (404, 40408)
    assert registry.get("config/orders-value", defaultToGlobal="true").json() == {"compatibilityLevel": "BACKWARD"}
    assert registry.put("config/orders-value", {"compatibility": "NONE"}).json() == {"compatibility": "NONE"}
    assert registry.get("config/orders-value").json() == {"compatibilityLevel": "NONE"}
    before = counts()
    assert error(registry.put("config/orders-value", {"compatibility": "nope"})) == (422, 42203)
    assert error(registry.put("config/brand-new-value", {"compatibility": "nope"})) == (422, 42203)
    assert error(registry.put("mode/brand-new-value", {"mode": "nope"})) == (422, 42204)
    assert counts() == before
    # The subject's NONE lets a breaking change through.
    assert registry.register("orders-value", BREAKS_V1).json()["version"] == 2
    assert registry.delete("config/orders-value").json() == {"compatibilityLevel": "NONE"}
    assert error(registry.delete("config/orders-value")) == (404, 40408)
    assert error(registry.delete("config/unknown-subject")) == (404, 40401)


def test_a_subject_level_can_be_set_before_the_first_version(registry):
    assert registry.put("config/new-value", {"compatibility": "FORWARD"}).status_code == 200
    assert registry.get("subjects").json() == []
    assert registry.get("config/new-value").json() == {"compatibilityLevel": "FORWARD"}


# ---------------------------------------------------------------------------------------------
# Compatibility endpoints
# ---------------------------------------------------------------------------------------------
def test_compatibility_against_latest_and_a_version_with_verbose_messages(registry):
    registry.register("orders-value", V1)
    url = "compatibility/subjects/orders-value/versions/latest"
    assert registry.post(url, {"schema": V2}).json() == {"is_compatible": True}
    assert registry.post(url, {"schema": V2}, verbose="true").json() == {"is_compatible": True, "messages": []}
    breaking = registry.post(url, {"schema": BREAKS_V1}, verbose="True").json()
    assert breaking["is_compatible"] is False
    assert breaking["messages"] and any("amount" in message for message in breaking["messages"])
    assert "messages" not in registry.post(url, {"schema": BREAKS_V1}).json()
    assert registry.post("compatibility/subjects/orders-value/versions/1", {"schema": V2}).json() == {
        "is_compatible": True
    }
    assert error(registry.post("compatibility/subjects/orders-value/versions/9", {"schema": V2})) == (404, 40402)
    assert error(registry.post("compatibility/subjects/nope/versions/1", {"schema": V2})) == (404, 40401)
    assert error(registry.post(url, {"schema": "{"})) == (422, 42201)
    assert registry.post("compatibility/subjects/nope/versions/latest", {"schema": V2}).json() == {
        "is_compatible": True
    }
    assert SubjectVersion.objects.count() == 1


def test_compatibility_against_all_versions_follows_the_transitive_level(registry):
    registry.put("config/orders-value", {"compatibility": "BACKWARD_TRANSITIVE"})
    registry.register("orders-value", V1)
    with_amount = record([{"name": "id", "type": "string"}, {"name": "amount", "type": "long", "default": 0}])
    registry.register("orders-value", with_amount)
    # Dropping the default is fine against version 2 alone (it has the field), not against version 1.
    amount_required = BREAKS_V1
    assert registry.post("compatibility/subjects/orders-value/versions/2", {"schema": amount_required}).json() == {
        "is_compatible": True
    }
    verdict = registry.post("compatibility/subjects/orders-value/versions", {"schema": amount_required}, verbose="true")
    assert verdict.json()["is_compatible"] is False
    assert any("version 1" in message for message in verdict.json()["messages"])


# ---------------------------------------------------------------------------------------------
# Mode
# ---------------------------------------------------------------------------------------------
def test_read_only_mode_refuses_writes_with_42205(registry):
    registry.register("orders-value", V1)
    assert registry.get("mode").json() == {"mode": "READWRITE"}
    assert registry.put("mode", {"mode": "readonly"}).json() == {"mode": "READONLY"}
    before = counts()
    assert error(registry.register("orders-value", V2)) == (422, 42205)
    assert error(registry.delete("subjects/orders-value")) == (422, 42205)
    assert error(registry.delete("subjects/orders-value/versions/1")) == (422, 42205)
    assert counts() == before
    assert registry.get("subjects/orders-value/versions/1").status_code == 200
    assert registry.put("mode", {"mode": "READWRITE"}).status_code == 200
    assert registry.register("orders-value", V2).status_code == 200


def test_subject_mode_get_put_delete_and_invalid_mode(registry):
    registry.register("orders-value", V1)
    assert error(registry.get("mode/orders-value")) == (404, 40409)
    assert registry.get("mode/orders-value", defaultToGlobal="true").json() == {"mode": "READWRITE"}
    assert registry.put("mode/orders-value", {"mode": "READONLY_OVERRIDE"}).json() == {"mode": "READONLY_OVERRIDE"}
    assert error(registry.register("orders-value", V2)) == (422, 42205)
    assert error(registry.put("mode/orders-value", {"mode": "SIDEWAYS"})) == (422, 42204)
    assert error(registry.put("mode", {"mode": 7})) == (422, 42204)
    assert registry.delete("mode/orders-value").json() == {"mode": "READONLY_OVERRIDE"}
    assert error(registry.delete("mode/orders-value")) == (404, 40409)
    assert registry.register("orders-value", V2).status_code == 200


def test_import_mode_keeps_given_ids_and_versions(registry):
    registry.register("orders-value", V1)
    assert error(registry.put("mode/orders-value", {"mode": "IMPORT"})) == (422, 42205)  # not empty
    assert error(registry.put("mode", {"mode": "IMPORT"})) == (422, 42205)
    assert registry.put("mode/imported-value", {"mode": "IMPORT"}).json() == {"mode": "IMPORT"}

    response = registry.register("imported-value", BREAKS_V1, id=1000, version=7)
    assert response.json() == {"id": 1000, "version": 7}  # no compatibility check on import
    assert registry.get("schemas/ids/1000").json() == {"schema": BREAKS_V1}
    assert registry.get("subjects/imported-value/versions").json() == [7]
    # The same again is idempotent; the id taken by another schema, or the version taken, is 42205.
    assert registry.register("imported-value", BREAKS_V1, id=1000, version=7).json() == {"id": 1000, "version": 7}
    assert error(registry.register("imported-value", V2, id=1000, version=8)) == (422, 42205)
    assert error(registry.register("imported-value", V2, id=1001, version=7)) == (422, 42205)
    assert error(registry.register("imported-value", V1, id=1002, version=8)) == (422, 42205)  # V1 has its id

    # Back in READWRITE, a new schema gets an id past every imported one.
    registry.delete("mode/imported-value")
    fresh = registry.register("fresh-value", record([{"name": "x", "type": "int"}], name="Fresh")).json()["id"]
    assert fresh > 1000
    assert registry.put("mode", {"mode": "IMPORT"}, force="true").json() == {"mode": "IMPORT"}


# ---------------------------------------------------------------------------------------------
# Query counts: the hot read path stays cheap
# ---------------------------------------------------------------------------------------------
def test_schema_by_id_is_served_from_memory_after_the_first_read(registry, django_assert_num_queries):
    schema_id = registry.register("orders-value", V1).json()["id"]
    registry.get(f"schemas/ids/{schema_id}")
    # The schema (ids never change meaning) and the just-checked credentials are remembered.
    with django_assert_num_queries(0):
        assert registry.get(f"schemas/ids/{schema_id}").status_code == 200


def test_registering_an_existing_schema_is_a_few_reads(registry, django_assert_num_queries):
    registry.register("orders-value", V1)
    registry.register("orders-value", V1)  # fills the schema cache
    # The user's role, the global and subject config, the version holding the schema: no write
    # transaction, no compatibility check.
    with django_assert_num_queries(4):
        assert registry.register("orders-value", V1).json() == {"id": 1, "version": 1}


def test_a_lone_surrogate_in_a_schema_is_an_invalid_schema_not_a_500(registry):
    schema = '{"type": "record", "name": "R", "doc": "\\ud800", "fields": []}'
    before = counts()
    response = registry.register("surrogate-value", schema)
    assert error(response) == (422, 42201)
    assert "not valid Unicode" in response.json()["message"]
    assert counts() == before


# ---------------------------------------------------------------------------------------------
# NUL characters (PostgreSQL text cannot hold them): the registry's errors, never a server error
# ---------------------------------------------------------------------------------------------
def test_a_nul_in_a_subject_or_a_parameter_is_an_error_not_a_server_error(registry):
    nul = quote("ord\x00ers", safe="")
    before = counts()
    for response in (
        registry.get(f"subjects/{nul}/versions"),
        registry.get(f"subjects/{nul}/versions/latest"),
        registry.get(f"config/{nul}"),
        registry.get(f"mode/{nul}"),
        registry.post(f"subjects/{nul}", {"schema": V1}),
        registry.post(f"compatibility/subjects/{nul}/versions/latest", {"schema": V1}),
        registry.delete(f"subjects/{nul}"),
        registry.put(f"config/{nul}", {"compatibility": "FULL"}),
        registry.register("ord\x00ers", V1),
    ):
        assert response.status_code in (400, 404, 422), (response.request["PATH_INFO"], response.content)
        assert response.json()["error_code"] and response.json()["message"]
    assert counts() == before
    listed = registry.get("subjects", subjectPrefix="a\x00")  # no subject starts so (or a 400, on PostgreSQL)
    assert (listed.status_code, listed.json()) == (200, []) or listed.status_code == 400, listed.content
    # A NUL inside the schema text is JSON-escaped there ("\\u0000"): stored as any other schema.
    stored = registry.register("orders", record([{"name": "id", "type": "string", "doc": "a\x00b"}]))
    assert stored.status_code == 200, stored.content
