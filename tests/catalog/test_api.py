"""The catalog REST API through the real URL conf: CRUD through the services, permissions by role, the
write-only cluster password, the pages' filters and pagination, pinned query counts, and bad input that
gets a 400 in the error format and changes nothing."""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from catalog import filtersets, selectors
from catalog.models import (
    Cluster,
    DeclaredRelation,
    Domain,
    EventType,
    Service,
    Tag,
    Team,
    Topic,
)
from catalog.services import clusters as cluster_services
from catalog.services import documentation
from eventscope.secrets import decrypt_secret
from tests.factories import make_cluster, make_group, make_team_editor, make_topic

pytestmark = pytest.mark.django_db

PASSWORD = "hunter2-Very-Secret-p4ss"


# ---------------------------------------------------------------------------------------------
# Test data: the documented catalog through its services; discovered rows as discovery writes them
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def catalog(db):
    cluster = make_cluster("local")
    sales = documentation.domain_create(name="Sales", description="Everything about orders.")
    orders_team = documentation.team_create(name="Orders Team", contact_channel="#orders", domain=sales)
    payments_team = documentation.team_create(name="Payments", domain=sales)
    orders = documentation.service_create(name="orders", owner_team=orders_team, domain=sales, tags=["core"])
    billing = documentation.service_create(name="billing", owner_team=payments_team, tags=["pii"])
    placed = make_topic(cluster, "shop.orders.placed", partitions=6)
    documentation.topic_update_documentation(
        topic=placed, description="Orders as placed.", owner_team=orders_team, domain=sales, tags=["core"]
    )
    failed = make_topic(cluster, "shop.payments.failed", partitions=2, under_replicated_partitions=1)
    gone = make_topic(cluster, "shop.legacy.events", deleted_at=timezone.now() - timedelta(minutes=5))
    internal = make_topic(cluster, "__consumer_offsets", partitions=50, internal=True)
    order_placed = documentation.event_type_create(
        name="OrderPlaced",
        summary="A customer placed an order.",
        business_meaning="The customer has committed to buy.",
        owner_team=orders_team,
        domain=sales,
        topic=placed,
        data_classification=EventType.Classification.PII,
        tags=["core"],
        example_payload='{"order_id": "o-1"}',
    )
    payment_failed = documentation.event_type_create(name="PaymentFailed", topic=failed)
    documentation.relation_create(service=orders, direction="produces", event_type=order_placed)
    documentation.relation_create(service=billing, direction="consumes", event_type=order_placed)
    documentation.relation_create(service=billing, direction="produces", topic=failed)
    group = make_group(cluster, "billing-consumer", topics=[placed], service=billing)
    stray = make_group(cluster, "adhoc-debug", topics=[placed], state="Empty")
    return {
        "cluster": cluster,
        "sales": sales,
        "orders_team": orders_team,
        "payments_team": payments_team,
        "orders": orders,
        "billing": billing,
        "placed": placed,
        "failed": failed,
        "gone": gone,
        "internal": internal,
        "order_placed": order_placed,
        "payment_failed": payment_failed,
        "group": group,
        "stray": stray,
    }


@pytest.fixture
def api(make_user):
    """api(role) -> an APIClient logged in as a fresh user of that role (None: anonymous).

    An "editor" is also an editor of every team that exists when the client is made, so these tests can
    change owned things; tests/governance/test_ownership.py covers who may change what.
    """
    counter = iter(range(1000))

    def client_for(role: str | None = "viewer") -> APIClient:
        client = APIClient()
        if role:
            user = make_user(f"{role}-{next(counter)}", role)
            if role == "editor":
                make_team_editor(user)
            client.force_authenticate(user)
        return client

    return client_for


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The project's error format: {"error": {"status", "code", "message"[, "detail"]}}."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["status"] == status
    assert body["error"]["message"]
    if code:
        assert body["error"]["code"] == code
    return body["error"]


LIST_URLS = [
    "/api/v1/clusters/",
    "/api/v1/topics/",
    "/api/v1/consumer-groups/",
    "/api/v1/domains/",
    "/api/v1/teams/",
    "/api/v1/services/",
    "/api/v1/event-types/",
    "/api/v1/relations/",
]


# ---------------------------------------------------------------------------------------------
# Permissions
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", LIST_URLS)
def test_reading_needs_a_login_and_a_viewer_may_read(catalog, api, url):
    assert_error(api(None).get(url), 401, "not_authenticated")
    response = api("viewer").get(url)
    assert response.status_code == 200
    assert response.json()["count"] >= 1


def test_a_viewer_cannot_write_and_nothing_changes(catalog, api):
    viewer = api("viewer")
    assert_error(viewer.post("/api/v1/domains/", {"name": "Marketing"}, format="json"), 403, "permission_denied")
    placed = catalog["placed"]
    assert_error(viewer.patch(f"/api/v1/topics/{placed.pk}/", {"description": "x"}, format="json"), 403)
    assert_error(viewer.post("/api/v1/clusters/local/sync/"), 403)
    assert not Domain.objects.filter(name="Marketing").exists()
    placed.refresh_from_db()
    assert placed.description == "Orders as placed."


def test_an_editor_writes_the_catalog_but_only_an_admin_changes_clusters(catalog, api):
    editor, admin = api("editor"), api("admin")
    assert editor.post("/api/v1/domains/", {"name": "Marketing"}, format="json").status_code == 201
    body = {"name": "prod", "bootstrap_servers": "kafka-1:9092"}
    error = assert_error(editor.post("/api/v1/clusters/", body, format="json"), 403)
    assert "admin" in error["message"]
    assert_error(editor.patch("/api/v1/clusters/local/", {"description": "x"}, format="json"), 403)
    assert_error(editor.delete("/api/v1/clusters/local/"), 403)
    assert not Cluster.objects.filter(name="prod").exists()
    assert admin.post("/api/v1/clusters/", body, format="json").status_code == 201


# ---------------------------------------------------------------------------------------------
# The documented catalog: create and change through the services
# ---------------------------------------------------------------------------------------------
def test_domains_create_read_and_change(catalog, api):
    editor = api("editor")
    created = editor.post("/api/v1/domains/", {"name": "Fulfilment", "description": "Ships."}, format="json")
    assert created.status_code == 201
    assert created.json()["slug"] == "fulfilment"
    assert created.json()["page_url"] == "/catalog/domains/fulfilment/"
    assert editor.get("/api/v1/domains/fulfilment/").json()["description"] == "Ships."
    changed = editor.patch("/api/v1/domains/fulfilment/", {"name": "Fulfillment"}, format="json")
    assert changed.status_code == 200
    assert changed.json() | {"name": "Fulfillment", "slug": "fulfilment", "description": "Ships."} == changed.json()
    assert_error(editor.get("/api/v1/domains/nope/"), 404, "not_found")


def test_a_duplicate_name_is_a_400_with_the_field_and_nothing_changes(catalog, api):
    error = assert_error(api("editor").post("/api/v1/domains/", {"name": "Sales"}, format="json"), 400, "invalid")
    assert "name" in error["detail"]
    assert Domain.objects.filter(name="Sales").count() == 1


def test_teams_with_members(catalog, api, make_user):
    editor = api("editor")
    make_user("alice", None)
    make_user("bob", None)
    body = {
        "name": "Platform",
        "domain": "sales",
        "contact_channel": "#platform",
        "members": [{"username": "bob", "role": "editor"}, {"username": "alice"}],
    }
    created = editor.post("/api/v1/teams/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["members"] == [
        {"username": "alice", "role": "member"},
        {"username": "bob", "role": "editor"},
    ]
    assert created.json()["member_count"] == 2
    # The team now belongs to itself: its editors (bob) or an admin change it, not the editor who made it.
    refused = assert_error(editor.patch("/api/v1/teams/platform/", {"members": []}, format="json"), 403)
    assert "team Platform" in refused["message"]
    changed = api("admin").patch("/api/v1/teams/platform/", {"members": [{"username": "alice"}]}, format="json")
    assert changed.json()["members"] == [{"username": "alice", "role": "member"}]

    error = assert_error(
        editor.post("/api/v1/teams/", {"name": "Ghosts", "members": [{"username": "nobody"}]}, format="json"), 400
    )
    assert "nobody" in str(error["detail"]["members"])
    assert not Team.objects.filter(name="Ghosts").exists()


def test_services_with_owner_and_tags(catalog, api):
    editor = api("editor")
    body = {"name": "shipping", "owner_team": "orders-team", "domain": "sales", "tags": ["Logistics", "core"]}
    created = editor.post("/api/v1/services/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json() | {"owner_team": "orders-team", "tags": ["core", "logistics"]} == created.json()
    changed = editor.patch("/api/v1/services/shipping/", {"owner_team": None, "tags": []}, format="json")
    assert changed.json()["owner_team"] is None and changed.json()["tags"] == []


def test_a_bad_tag_is_a_400_and_leaves_the_service_and_the_tags_as_they_were(catalog, api):
    editor = api("editor")
    tags_before = set(Tag.objects.values_list("name", flat=True))
    response = editor.patch(
        "/api/v1/services/orders/", {"description": "changed", "tags": ["ok", "Not a tag!"]}, format="json"
    )
    error = assert_error(response, 400)
    assert "tags" in error["detail"]
    orders = Service.objects.get(slug="orders")
    assert orders.description == "" and [tag.name for tag in orders.tags.all()] == ["core"]
    assert set(Tag.objects.values_list("name", flat=True)) == tags_before


@pytest.mark.parametrize(
    "body, field",
    [
        ({"owner_team": "no-such-team"}, "owner_team"),
        ({"data_classification": "secret"}, "data_classification"),
        ({"topic": 999_999}, "topic"),
        ({"version": 0}, "version"),
        ({"example_payload": "{not json"}, "example_payload"),
        ({"name": ""}, "name"),
    ],
)
def test_event_type_bad_input_is_a_400_naming_the_field(catalog, api, body, field):
    before = EventType.objects.get(slug=catalog["order_placed"].slug)
    error = assert_error(api("editor").patch(f"/api/v1/event-types/{before.slug}/", body, format="json"), 400)
    assert field in error["detail"]
    after = EventType.objects.get(pk=before.pk)
    assert (after.name, after.version, after.owner_team_id, after.example_payload) == (
        before.name,
        before.version,
        before.owner_team_id,
        before.example_payload,
    )


def test_event_types_create_and_show_their_payload_on_the_detail_only(catalog, api):
    editor = api("editor")
    body = {
        "name": "OrderShipped",
        "topic": catalog["placed"].pk,
        "owner_team": "orders-team",
        "tags": ["core"],
        "example_payload": '{"order_id": "o-1"}',
    }
    created = editor.post("/api/v1/event-types/", body, format="json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["slug"] == "order-shipped-v1" and data["version"] == 1
    assert data["topic"] == {"id": catalog["placed"].pk, "cluster": "local", "name": "shop.orders.placed"}
    assert data["example_payload"] == '{"order_id": "o-1"}'
    listed = editor.get("/api/v1/event-types/", {"q": "OrderShipped"}).json()["results"]
    assert [row["slug"] for row in listed] == ["order-shipped-v1"] and "example_payload" not in listed[0]


def test_relations_create_list_and_delete(catalog, api):
    editor = api("editor")
    body = {"service": "orders", "direction": "consumes", "topic": catalog["failed"].pk}
    created = editor.post("/api/v1/relations/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json() | {"service": "orders", "direction": "consumes", "event_type": None, "source": "api"} == (
        created.json()
    )
    listed = editor.get("/api/v1/relations/", {"service": "orders"}).json()
    assert listed["count"] == 2
    assert_error(editor.post("/api/v1/relations/", body, format="json"), 400)  # the same relation again
    both = {**body, "event_type": catalog["order_placed"].slug}
    assert_error(editor.post("/api/v1/relations/", both, format="json"), 400)
    assert DeclaredRelation.objects.filter(service=catalog["orders"]).count() == 2
    assert editor.delete(f"/api/v1/relations/{created.json()['id']}/").status_code == 204
    assert DeclaredRelation.objects.filter(service=catalog["orders"]).count() == 1
    assert_error(api("viewer").delete(f"/api/v1/relations/{listed['results'][0]['id']}/"), 403)


# ---------------------------------------------------------------------------------------------
# Topics and consumer groups: discovered; only their documentation changes
# ---------------------------------------------------------------------------------------------
def test_topics_list_present_ones_and_a_deleted_one_keeps_its_url(catalog, api):
    viewer = api("viewer")
    names = [row["name"] for row in viewer.get("/api/v1/topics/").json()["results"]]
    assert "shop.legacy.events" not in names and "shop.orders.placed" in names
    gone = viewer.get(f"/api/v1/topics/{catalog['gone'].pk}/")
    assert gone.status_code == 200 and gone.json()["deleted_at"]
    detail = viewer.get(f"/api/v1/topics/{catalog['placed'].pk}/").json()
    assert detail["configs"]["retention.ms"] == "604800000"
    assert [p["number"] for p in detail["partitions"]] == list(range(6))
    assert detail | {"cluster": "local", "owner_team": "orders-team", "tags": ["core"], "event_type_count": 1} == detail
    assert detail["page_url"] == "/catalog/topics/local/shop.orders.placed/"


def test_topic_documentation_changes_with_patch_and_nothing_else_does(catalog, api):
    editor = api("editor")
    url = f"/api/v1/topics/{catalog['failed'].pk}/"
    body = {"description": "Payments that failed.", "owner_team": "payments", "tags": ["pii"], "partition_count": 99}
    changed = editor.patch(url, body, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json() | {"owner_team": "payments", "tags": ["pii"], "partition_count": 2} == changed.json()
    assert editor.post("/api/v1/topics/", {"name": "x"}, format="json").status_code == 405
    assert editor.delete(url).status_code == 405
    error = assert_error(editor.patch(url, {"owner_team": "ghosts", "description": "y"}, format="json"), 400)
    assert "owner_team" in error["detail"]
    assert Topic.objects.get(pk=catalog["failed"].pk).description == "Payments that failed."


def test_consumer_groups_by_group_id_and_cluster_when_ambiguous(catalog, api):
    viewer, editor = api("viewer"), api("editor")
    detail = viewer.get("/api/v1/consumer-groups/billing-consumer/").json()
    assert detail | {"cluster": "local", "service": "billing", "committed_topics": ["shop.orders.placed"]} == detail
    assert detail["members"][0]["client_id"] == "c-1"
    other = make_cluster("other", bootstrap_servers="127.0.0.1:9093")
    make_group(other, "billing-consumer")
    error = assert_error(viewer.get("/api/v1/consumer-groups/billing-consumer/"), 400)
    assert "local, other" in str(error["detail"])
    assert viewer.get("/api/v1/consumer-groups/billing-consumer/", {"cluster": "other"}).json()["cluster"] == "other"
    changed = editor.patch(
        "/api/v1/consumer-groups/adhoc-debug/", {"service": "orders", "description": "Debugging."}, format="json"
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["service"] == "orders" and changed.json()["is_documented"] is True
    assert_error(viewer.get("/api/v1/consumer-groups/no-such-group/"), 404)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/consumer-groups/billing%00consumer/", {}),
        ("/api/v1/consumer-groups/billing-consumer/", {"cluster": "lo\x00cal"}),
        ("/api/v1/consumer-groups/billing%00consumer/lag", {}),
        ("/api/v1/topics/shop.orders%00placed/", {}),
    ],
)
def test_a_nul_in_a_lookup_is_an_unknown_object_not_a_server_error(catalog, api, path, params):
    # PostgreSQL text cannot hold NUL: the lookup must not reach the database with one (found by schemathesis).
    assert_error(api("viewer").get(path, params), 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"service": "ord\x00ers", "direction": "produces", "topic": "shop.orders.placed"}, "service"),
        (
            {"service": "orders", "direction": "produces", "event_type": "OrderPlaced", "reads_fields": ["a\x00"]},
            "reads_fields",
        ),
        ({"service": "orders", "direction": "produces", "topic": "shop.orders.placed", "n\x00te": 1}, "body"),
    ],
)
def test_a_nul_anywhere_in_a_body_is_refused_before_the_view_runs(catalog, api, body, field):
    """A view may look a name up before validating it (the relation's service, found by schemathesis): the
    parser refuses the body first, 400 in the error format, on every database; nothing is created."""
    from catalog.models import DeclaredRelation

    before = DeclaredRelation.objects.count()
    editor = api("editor")
    error = assert_error(editor.post("/api/v1/relations/", body, format="json"), 400)
    assert list(error["detail"]) == [field] and "NUL" in error["detail"][field][0]
    fields = {"service": "ord\x00ers", "direction": "produces"}
    form = editor.post("/api/v1/relations/", urlencode(fields), content_type="application/x-www-form-urlencoded")
    assert "NUL" in assert_error(form, 400)["detail"]["service"][0]
    multipart = editor.post("/api/v1/relations/", fields, format="multipart")
    assert "NUL" in assert_error(multipart, 400)["detail"]["service"][0]
    assert DeclaredRelation.objects.count() == before


def test_a_nul_in_a_query_filter_is_not_a_server_error(catalog, api):
    response = api("viewer").get("/api/v1/topics/", {"search": "orders\x00"})
    assert_error(response, 400)  # the filter's own validation refuses it


def test_a_nul_that_reaches_the_database_is_bad_input_not_a_server_error():
    """The last line of defence, for a lookup no validation saw: PostgreSQL's refusal is answered as a 400."""
    from django.db import DataError

    from eventscope.api.errors import api_exception_handler

    response = api_exception_handler(DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"), {})
    assert response.status_code == 400 and "NUL" in response.data["error"]["message"]


# ---------------------------------------------------------------------------------------------
# Clusters: the SASL password is write-only and encrypted at rest
# ---------------------------------------------------------------------------------------------
SASL_CLUSTER = {
    "name": "secure",
    "bootstrap_servers": "127.0.0.1:1",
    "security_protocol": "SASL_PLAINTEXT",
    "sasl_mechanism": "PLAIN",
    "sasl_username": "svc-eventscope",
    "sasl_password": PASSWORD,
}


def test_the_cluster_password_goes_in_encrypted_and_never_comes_out(db, api, caplog):
    admin = api("admin")
    caplog.set_level(logging.DEBUG)
    responses = [admin.post("/api/v1/clusters/", SASL_CLUSTER, format="json")]
    assert responses[0].status_code == 201, responses[0].content
    assert responses[0].json()["has_sasl_password"] is True
    assert "sasl_password" not in responses[0].json()

    stored = Cluster.objects.get(name="secure").sasl_password_encrypted
    assert stored and PASSWORD not in stored and decrypt_secret(stored) == PASSWORD
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM catalog_cluster WHERE name = %s", ["secure"])
        assert PASSWORD not in repr(cursor.fetchall())

    responses += [
        admin.get("/api/v1/clusters/"),
        admin.get("/api/v1/clusters/secure/"),
        admin.patch("/api/v1/clusters/secure/", {"description": "keeps the password"}, format="json"),
        admin.patch("/api/v1/clusters/secure/", {"sasl_password": None}, format="json"),
        admin.post("/api/v1/clusters/secure/test-connection/"),
        admin.patch("/api/v1/clusters/secure/", {"sasl_mechanism": "BOGUS"}, format="json"),
        admin.get("/api/v1/schema/"),
    ]
    for response in responses:
        assert PASSWORD not in response.content.decode()
    assert PASSWORD not in caplog.text
    assert decrypt_secret(Cluster.objects.get(name="secure").sasl_password_encrypted) == PASSWORD

    changed = admin.patch("/api/v1/clusters/secure/", {"sasl_password": "new-" + PASSWORD}, format="json")
    assert changed.status_code == 200
    assert decrypt_secret(Cluster.objects.get(name="secure").sasl_password_encrypted) == "new-" + PASSWORD


def test_an_empty_password_clears_it_and_a_bad_change_is_a_400_that_changes_nothing(db, api):
    admin = api("admin")
    admin.post("/api/v1/clusters/", SASL_CLUSTER, format="json")
    # SASL without a password cannot work: refused, and the stored password stays.
    error = assert_error(admin.patch("/api/v1/clusters/secure/", {"sasl_password": ""}, format="json"), 400)
    assert "sasl_password" in error["detail"]
    assert Cluster.objects.get(name="secure").has_sasl_password
    cleared = admin.patch(
        "/api/v1/clusters/secure/", {"security_protocol": "PLAINTEXT", "sasl_password": ""}, format="json"
    )
    assert cleared.status_code == 200, cleared.content
    assert cleared.json()["has_sasl_password"] is False
    assert Cluster.objects.get(name="secure").sasl_password_encrypted == ""


def test_a_cluster_name_that_is_taken_or_bad_is_a_400(db, api):
    admin = api("admin")
    make_cluster("local")
    before = set(Cluster.objects.values_list("name", flat=True))  # with the default cluster of the settings
    for body in (
        {"name": "local", "bootstrap_servers": "x:9092"},
        {"name": "bad name!", "bootstrap_servers": "x:9092"},
        {"name": "ok", "bootstrap_servers": "no-port"},
        {"name": "ok", "bootstrap_servers": "x:9092", "discovery_interval_s": 1},
    ):
        assert_error(admin.post("/api/v1/clusters/", body, format="json"), 400)
    assert set(Cluster.objects.values_list("name", flat=True)) == before


def test_the_default_cluster_cannot_be_deleted_but_another_can(db, api):
    admin = api("admin")
    default = cluster_services.cluster_ensure_default()
    make_cluster("spare")
    assert_error(admin.delete(f"/api/v1/clusters/{default.name}/"), 400)
    assert admin.delete("/api/v1/clusters/spare/").status_code == 204
    assert_error(admin.delete("/api/v1/clusters/spare/"), 404)
    assert list(Cluster.objects.values_list("name", flat=True)) == [default.name]


@pytest.mark.kafka
def test_test_connection_reaches_the_real_broker_and_explains_a_refusal(db, api, kafka_bootstrap):
    editor = api("editor")  # like the page's button: an editor may test
    make_cluster("real", bootstrap_servers=kafka_bootstrap)
    ok = editor.post("/api/v1/clusters/real/test-connection/")
    assert ok.status_code == 200
    assert ok.json() | {"ok": True, "error_kind": None} == ok.json() and ok.json()["broker_count"] >= 1
    make_cluster("closed", bootstrap_servers="127.0.0.1:1")
    refused = editor.post("/api/v1/clusters/closed/test-connection/").json()
    assert refused["ok"] is False and refused["error_kind"] == "refused" and "refused" in refused["message"]


@pytest.mark.redis
def test_sync_queues_a_discovery_or_says_the_queue_is_down(db, api, redis_url, monkeypatch):
    from eventscope.celery import app

    make_cluster("local")
    editor = api("editor")
    response = editor.post("/api/v1/clusters/local/sync/")
    assert response.status_code == 202
    assert response.json() == {"cluster": "local", "status": "queued"}
    assert_error(editor.post("/api/v1/clusters/nope/sync/"), 404)
    monkeypatch.setitem(app.conf, "broker_url", "redis://127.0.0.1:1/0")
    assert_error(editor.post("/api/v1/clusters/local/sync/"), 503, "queue_unavailable")


# ---------------------------------------------------------------------------------------------
# Filters, search, ordering and pagination: the pages' FilterSets, with the same answers
# ---------------------------------------------------------------------------------------------
FILTER_CASES = [
    ("/api/v1/topics/", "/catalog/topics/", filtersets.TopicFilterSet, selectors.topic_list, {}),
    ("/api/v1/topics/", "/catalog/topics/", filtersets.TopicFilterSet, selectors.topic_list, {"deleted": "all"}),
    (
        "/api/v1/topics/",
        "/catalog/topics/",
        filtersets.TopicFilterSet,
        selectors.topic_list,
        {"cluster": "local", "internal": "no", "ordering": "-partitions"},
    ),
    ("/api/v1/topics/", "/catalog/topics/", filtersets.TopicFilterSet, selectors.topic_list, {"documented": "no"}),
    ("/api/v1/topics/", "/catalog/topics/", filtersets.TopicFilterSet, selectors.topic_list, {"q": "orders"}),
    (
        "/api/v1/topics/",
        "/catalog/topics/",
        filtersets.TopicFilterSet,
        selectors.topic_list,
        {"tag": "core", "owner_team": "orders-team", "domain": "sales"},
    ),
    (
        "/api/v1/topics/",
        "/catalog/topics/",
        filtersets.TopicFilterSet,
        selectors.topic_list,
        {"under_replicated": "yes", "deleted": "all", "ordering": "name"},
    ),
    (
        "/api/v1/event-types/",
        "/catalog/event-types/",
        filtersets.EventTypeFilterSet,
        selectors.event_type_list,
        {"classification": "pii"},
    ),
    (
        "/api/v1/event-types/",
        "/catalog/event-types/",
        filtersets.EventTypeFilterSet,
        selectors.event_type_list,
        {"topic": "shop.payments.failed", "ordering": "-name"},
    ),
    (
        "/api/v1/event-types/",
        "/catalog/event-types/",
        filtersets.EventTypeFilterSet,
        selectors.event_type_list,
        {"documented": "no"},
    ),
    (
        "/api/v1/services/",
        "/catalog/services/",
        filtersets.ServiceFilterSet,
        selectors.service_list,
        {"tag": "pii", "ordering": "-name"},
    ),
    ("/api/v1/teams/", "/catalog/teams/", filtersets.TeamFilterSet, selectors.team_list, {"domain": "sales"}),
    ("/api/v1/teams/", "/catalog/teams/", filtersets.TeamFilterSet, selectors.team_list, {"q": "#orders"}),
    ("/api/v1/domains/", "/catalog/domains/", filtersets.DomainFilterSet, selectors.domain_list, {"q": "orders"}),
    (
        "/api/v1/consumer-groups/",
        "/catalog/consumer-groups/",
        filtersets.ConsumerGroupFilterSet,
        selectors.consumer_group_list,
        {"documented": "no"},
    ),
    (
        "/api/v1/consumer-groups/",
        "/catalog/consumer-groups/",
        filtersets.ConsumerGroupFilterSet,
        selectors.consumer_group_list,
        {"service": "billing", "state": "stable"},
    ),
    ("/api/v1/clusters/", "/catalog/clusters/", filtersets.ClusterFilterSet, selectors.cluster_list, {"q": "loc"}),
]


@pytest.mark.parametrize("api_url, page_url, filterset_class, selector, params", FILTER_CASES)
def test_filters_give_the_filterset_s_rows_on_the_api_and_the_page(
    catalog, api, client, make_user, api_url, page_url, filterset_class, selector, params
):
    filterset = filterset_class(QueryDict(urlencode(params)), queryset=selector())
    assert filterset.is_valid(), filterset.errors
    expected = [row.pk for row in filterset.qs]
    assert expected, "each case should find something"

    body = api("viewer").get(api_url, params).json()
    assert [row["id"] for row in body["results"]] == expected
    assert body["count"] == len(expected)

    client.force_login(make_user("page-viewer", "viewer"))
    page = client.get(page_url, params)
    assert page.status_code == 200
    assert [row.pk for row in page.context["page_obj"].object_list] == expected


def test_search_is_the_pages_q(catalog, api):
    viewer = api("viewer")
    by_q = viewer.get("/api/v1/topics/", {"q": "orders"}).json()["results"]
    by_search = viewer.get("/api/v1/topics/", {"search": "orders"}).json()["results"]
    assert [row["id"] for row in by_search] == [row["id"] for row in by_q] == [catalog["placed"].pk]
    assert viewer.get("/api/v1/event-types/", {"search": "committed to buy"}).json()["count"] == 1


def test_limit_offset_pagination_walks_the_filterset_order(catalog, api):
    cluster = catalog["cluster"]
    for i in range(7):
        make_topic(cluster, f"bulk.topic.{i:02d}")
    viewer = api("viewer")
    params = {"ordering": "-name", "deleted": "all"}
    expected = [
        row.pk for row in filtersets.TopicFilterSet(QueryDict(urlencode(params)), queryset=selectors.topic_list()).qs
    ]
    seen, url, query = [], "/api/v1/topics/", {**params, "limit": 3}
    while url:
        body = viewer.get(url, query).json()
        assert body["count"] == len(expected)
        seen += [row["id"] for row in body["results"]]
        url, query = body["next"], None
    assert seen == expected
    page = viewer.get("/api/v1/topics/", {**params, "limit": 2, "offset": 4}).json()
    assert [row["id"] for row in page["results"]] == expected[4:6]
    capped = viewer.get("/api/v1/topics/", {"limit": 10**9}).json()
    assert len(capped["results"]) == len(expected) - 1  # present ones: all fit under the cap
    assert viewer.get("/api/v1/topics/", {"limit": "lots"}).status_code == 200  # ignored, like the page


@pytest.mark.parametrize(
    "url, params",
    [
        ("/api/v1/topics/", {"cluster": "no-such-cluster"}),
        ("/api/v1/topics/", {"ordering": "password"}),
        ("/api/v1/event-types/", {"classification": "top-secret"}),
        ("/api/v1/services/", {"owner_team": "ghosts"}),
        ("/api/v1/topics/", {"q": "x" * 201}),
        ("/api/v1/relations/", {"topic": "not-a-number"}),
    ],
)
def test_a_bad_filter_is_a_400_in_the_error_format(catalog, api, url, params):
    error = assert_error(api("viewer").get(url, params), 400, "invalid")
    assert set(error["detail"]) == set(params)


# ---------------------------------------------------------------------------------------------
# Query counts: pinned, and independent of the page size
# ---------------------------------------------------------------------------------------------
# Per list: count + rows + one per prefetch (tags, team members) + the filter's own lookups.
QUERY_COUNTS = {
    "/api/v1/clusters/": 2,
    "/api/v1/topics/": 3,
    "/api/v1/consumer-groups/": 2,
    "/api/v1/domains/": 2,
    "/api/v1/teams/": 3,
    "/api/v1/services/": 3,
    "/api/v1/event-types/": 3,
    "/api/v1/relations/": 2,
}


@pytest.fixture
def big_catalog(catalog, make_user):
    """Enough rows of every kind (at least 12) for pages of 2 and of 12 to differ."""
    cluster = catalog["cluster"]
    member = make_user("member", None)  # one user: password hashing is slow on purpose
    for i in range(12):
        make_cluster(f"extra-{i:02d}", bootstrap_servers=f"127.0.0.1:{9100 + i}")
        team = documentation.team_create(name=f"Team {i:02d}", domain=catalog["sales"])
        documentation.team_set_members(team=team, members={member: "member"})
        documentation.domain_create(name=f"Domain {i:02d}")
        service = documentation.service_create(name=f"service-{i:02d}", owner_team=team, tags=["core", f"t{i}"])
        topic = make_topic(cluster, f"extra.topic.{i:02d}", owner_team=team, domain=catalog["sales"])
        topic.tags.set(Tag.objects.filter(name__in=["core", f"t{i}"]))
        event_type = documentation.event_type_create(name=f"Extra{i:02d}", topic=topic, owner_team=team, tags=["core"])
        documentation.relation_create(service=service, direction="produces", event_type=event_type)
        make_group(cluster, f"extra-group-{i:02d}", topics=[topic], service=service)
    return catalog


@pytest.mark.parametrize("url", LIST_URLS)
def test_list_query_counts_are_pinned_and_do_not_grow_with_the_page(big_catalog, api, url):
    viewer = api("viewer")
    counts = {}
    for limit in (2, 12):
        with CaptureQueriesContext(connection) as queries:
            response = viewer.get(url, {"limit": limit})
        assert response.status_code == 200
        assert len(response.json()["results"]) == limit
        counts[limit] = len(queries)
    assert counts[2] == counts[12] == QUERY_COUNTS[url], [q["sql"][:120] for q in queries.captured_queries]


def test_a_filter_adds_only_its_own_lookup_queries(big_catalog, api):
    viewer = api("viewer")
    with CaptureQueriesContext(connection) as queries:
        viewer.get("/api/v1/topics/", {"cluster": "local", "owner_team": "team-01", "tag": "core", "limit": 20})
    assert len(queries) == QUERY_COUNTS["/api/v1/topics/"] + 3  # one per ModelChoiceFilter value
