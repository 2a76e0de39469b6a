"""Catalog pages through the real URL conf: rendering, filters, sorting, pagination, HTMX fragments, edit forms
and their permissions, sanitized Markdown, and pinned query counts for every list page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from catalog.models import ConsumerGroup, DeclaredRelation, Domain, EventType, Service, Team, Topic
from catalog.services import clusters as cluster_services
from catalog.services import documentation
from tests.factories import make_cluster, make_group, make_team_editor, make_topic

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------------------------------------
# Test data: the documented catalog through its services; discovered rows as discovery writes them
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def catalog(db):
    """A small shop: one cluster, documented and undocumented topics, a deleted one, groups, owners."""
    cluster = make_cluster("local")
    sales = documentation.domain_create(name="Sales", description="Everything about **orders**.")
    orders_team = documentation.team_create(name="Orders Team", contact_channel="#orders", domain=sales)
    payments_team = documentation.team_create(name="Payments", domain=sales)
    orders_service = documentation.service_create(
        name="orders",
        owner_team=orders_team,
        domain=sales,
        repository_url="https://git.example.com/orders",
        tags=["core"],
    )
    billing = documentation.service_create(name="billing", owner_team=payments_team, tags=["pii"])
    placed = make_topic(cluster, "shop.orders.placed", partitions=6)
    documentation.topic_update_documentation(
        topic=placed,
        description="Orders as **placed** by customers.",
        owner_team=orders_team,
        domain=sales,
        tags=["core"],
    )
    failed = make_topic(cluster, "shop.payments.failed", partitions=2, under_replicated_partitions=1)
    gone = make_topic(cluster, "shop.legacy.events")
    gone.deleted_at = timezone.now() - timedelta(minutes=5)
    gone.save()
    internal = make_topic(cluster, "__consumer_offsets", partitions=50, internal=True)
    order_placed = documentation.event_type_create(
        name="OrderPlaced",
        summary="A customer placed an order.",
        business_meaning="The customer has committed to buy.",
        owner_team=orders_team,
        domain=sales,
        topic=placed,
        schema_subject="shop.orders.placed-value",
        data_classification=EventType.Classification.PII,
        tags=["core"],
        example_payload='{"order_id": "o-1", "total": 12.5}',
    )
    payment_failed = documentation.event_type_create(name="PaymentFailed", topic=failed)
    documentation.relation_create(service=orders_service, direction="produces", event_type=order_placed)
    documentation.relation_create(service=billing, direction="consumes", event_type=order_placed)
    documentation.relation_create(service=billing, direction="produces", topic=failed)
    group = make_group(cluster, "billing-consumer", topics=[placed], service=billing)
    stray = make_group(cluster, "adhoc/debug session", topics=[placed], state="Empty", member_count=0, members=[])
    return {
        "cluster": cluster,
        "sales": sales,
        "orders_team": orders_team,
        "payments_team": payments_team,
        "orders_service": orders_service,
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
def viewer_client(client, make_user):
    client.force_login(make_user("vera", "viewer"))
    return client


@pytest.fixture
def editor_client(client, make_user, catalog):
    """An editor who is also an editor of every team in the catalog, so these tests can change owned things;
    tests/governance/test_ownership.py covers who may change what."""
    eddie = make_user("eddie", "editor")
    make_team_editor(eddie)
    client.force_login(eddie)
    return client


def html(response) -> str:
    # <wbr> (line-break hints inside long names) is presentation: drop it so assertions read names whole.
    return response.content.decode().replace("<wbr>", "")


# ---------------------------------------------------------------------------------------------
# Every page renders for a viewer
# ---------------------------------------------------------------------------------------------
def catalog_urls(data) -> list[str]:
    placed, group, stray = data["placed"], data["group"], data["stray"]
    return [
        "/catalog/",
        "/catalog/topics/",
        "/catalog/event-types/",
        "/catalog/services/",
        "/catalog/teams/",
        "/catalog/domains/",
        "/catalog/consumer-groups/",
        "/catalog/clusters/",
        f"/catalog/topics/local/{placed.name}/",
        f"/catalog/topics/local/{placed.name}/edit/",
        f"/catalog/topics/local/{data['gone'].name}/",
        "/catalog/topics/local/__consumer_offsets/",
        f"/catalog/event-types/{data['order_placed'].slug}/",
        f"/catalog/event-types/{data['order_placed'].slug}/edit/",
        f"/catalog/event-types/{data['payment_failed'].slug}/",
        "/catalog/event-types/new/",
        f"/catalog/services/{data['orders_service'].slug}/",
        f"/catalog/services/{data['billing'].slug}/edit/",
        f"/catalog/services/{data['billing'].slug}/relations/new/",
        "/catalog/services/new/",
        f"/catalog/teams/{data['orders_team'].slug}/",
        f"/catalog/teams/{data['orders_team'].slug}/edit/",
        "/catalog/teams/new/",
        f"/catalog/domains/{data['sales'].slug}/",
        f"/catalog/domains/{data['sales'].slug}/edit/",
        "/catalog/domains/new/",
        f"/catalog/consumer-groups/local/{group.group_id}/",
        f"/catalog/consumer-groups/local/{group.group_id}/edit/",
        f"/catalog/consumer-groups/local/{stray.group_id}/",
        "/catalog/clusters/local/",
    ]


def test_every_catalog_page_renders_for_a_viewer(viewer_client, catalog):
    for url in catalog_urls(catalog):
        response = viewer_client.get(url)
        assert response.status_code == 200, url
        assert 'class="catalog-tabs"' in html(response), url


def test_catalog_pages_need_a_login(client, catalog):
    for url in catalog_urls(catalog):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url


def test_unknown_objects_are_404(viewer_client, catalog):
    for url in (
        "/catalog/topics/local/no.such.topic/",
        "/catalog/topics/elsewhere/shop.orders.placed/",
        "/catalog/event-types/nope/",
        "/catalog/services/nope/",
        "/catalog/teams/nope/",
        "/catalog/domains/nope/",
        "/catalog/consumer-groups/local/nope/",
        "/catalog/clusters/nope/",
    ):
        assert viewer_client.get(url).status_code == 404, url


def test_catalog_home_shows_counts_undocumented_recent_changes_and_clusters(viewer_client, catalog):
    page = html(viewer_client.get("/catalog/"))
    assert "<h1>Catalog</h1>" in page
    # Present, non-internal, without description or owner: the payments topic only.
    assert "/catalog/topics/local/shop.payments.failed/" in page
    assert "documented=no&amp;internal=no" in page
    assert "adhoc/debug session" in page  # the group without a service
    assert "PaymentFailed v1" in page  # the event type without an owner or meaning
    assert "Recently changed" in page and "what-discovered" in page and "what-created" in page
    assert "/catalog/clusters/local/" in page
    assert "never synced" in page  # no discovery run yet: badged on the home page


def test_topic_page_shows_partitions_configs_event_types_parties_schema_and_live_slots(viewer_client, catalog):
    page = html(viewer_client.get("/catalog/topics/local/shop.orders.placed/"))
    assert page.count('<tr>\n        <td class="num">') == 6  # six partitions
    assert "segment.bytes" in page and "7 d" in page  # every fetched config; retention humanized
    assert "/catalog/event-types/orderplaced-v1/" in page or "/catalog/event-types/order-placed-v1/" in page
    assert "/catalog/services/orders/" in page  # producer, declared on the event type
    assert "/catalog/services/billing/" in page  # consumer, declared and through its group
    assert "adhoc/debug session" in page  # a group with committed offsets but no service
    assert "/schemas/subjects/shop.orders.placed-value/" in page
    assert 'id="topic-throughput"' in page and 'id="topic-lag"' in page
    assert "<strong>placed</strong>" in page  # Markdown rendered


def test_deleted_topic_is_greyed_with_its_age(viewer_client, catalog):
    page = html(viewer_client.get("/catalog/topics/local/shop.legacy.events/"))
    assert "is-deleted" in page and "deleted 5 min ago" in page
    listing = html(viewer_client.get("/catalog/topics/", {"deleted": "all"}))
    assert 'class="is-deleted"' in listing and "deleted 5 min ago" in listing


def test_cluster_page_never_shows_the_password(viewer_client, catalog):
    cluster = catalog["cluster"]
    cluster.sasl_mechanism = "PLAIN"
    cluster.sasl_username = "svc-eventscope"
    cluster_services.cluster_set_password(cluster=cluster, password="hunter2-very-secret")
    cluster.save()
    page = html(viewer_client.get("/catalog/clusters/local/"))
    assert "password set" in page
    assert "hunter2-very-secret" not in page and cluster.sasl_password_encrypted not in page
    assert "Sync now" not in page  # buttons for editors and admins only


def test_edit_buttons_show_for_editors_only(client, make_user, catalog):
    client.force_login(make_user("vera", "viewer"))
    assert "Edit documentation" not in html(client.get("/catalog/topics/local/shop.orders.placed/"))
    assert "New service" not in html(client.get("/catalog/services/"))
    client.force_login(make_user("eddie", "editor"))
    assert "Edit documentation" in html(client.get("/catalog/topics/local/shop.orders.placed/"))
    assert "New service" in html(client.get("/catalog/services/"))
    cluster_page = html(client.get("/catalog/clusters/local/"))
    assert "Sync now" in cluster_page and "Test connection" in cluster_page


@pytest.mark.kafka
def test_editor_tests_the_connection_and_requests_a_sync(editor_client, catalog, kafka_bootstrap):
    cluster = catalog["cluster"]
    cluster_services.cluster_update(cluster=cluster, bootstrap_servers=kafka_bootstrap)
    response = editor_client.post("/catalog/clusters/local/test-connection/", follow=True)
    assert response.status_code == 200
    assert "Connected to local" in html(response)
    # Queued after the transaction commits, or refused with a message when the task queue is down: never a 500.
    response = editor_client.post("/catalog/clusters/local/sync/", follow=True)
    assert response.status_code == 200
    assert "Discovery of local requested" in html(response) or "task queue is unavailable" in html(response)


def test_a_failing_connection_test_says_why(editor_client, catalog):
    cluster_services.cluster_update(cluster=catalog["cluster"], bootstrap_servers="no-such-host.invalid:9092")
    response = editor_client.post("/catalog/clusters/local/test-connection/", follow=True)
    assert response.status_code == 200
    assert "Could not connect to local" in html(response)


def test_consumer_group_ids_with_slashes_route_to_their_page(viewer_client, catalog):
    response = viewer_client.get("/catalog/consumer-groups/local/adhoc/debug%20session/")
    assert response.status_code == 200
    assert "adhoc/debug session" in html(response)


# ---------------------------------------------------------------------------------------------
# Filters, sorting, pagination, HTMX
# ---------------------------------------------------------------------------------------------
def rows_of(response, marker: str = 'class="name-cell"') -> int:
    return html(response).count(marker)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"shop.orders.placed", "shop.payments.failed", "__consumer_offsets"}),
        ({"deleted": "yes"}, {"shop.legacy.events"}),
        ({"deleted": "all", "internal": "no"}, {"shop.orders.placed", "shop.payments.failed", "shop.legacy.events"}),
        ({"q": "payments"}, {"shop.payments.failed"}),
        ({"q": "CUSTOMERS"}, {"shop.orders.placed"}),  # the description counts, case-insensitive
        ({"documented": "no", "internal": "no"}, {"shop.payments.failed"}),
        ({"documented": "true"}, {"shop.orders.placed"}),  # API spelling
        ({"owner_team": "orders-team"}, {"shop.orders.placed"}),
        ({"domain": "sales"}, {"shop.orders.placed"}),
        ({"tag": "core"}, {"shop.orders.placed"}),
        ({"under_replicated": "yes"}, {"shop.payments.failed"}),
        ({"internal": "yes"}, {"__consumer_offsets"}),
        (
            {"cluster": "local", "cleanup_policy": "delete", "internal": "no"},
            {"shop.orders.placed", "shop.payments.failed"},
        ),
    ],
)
def test_topic_filters(viewer_client, catalog, params, expected):
    page = html(viewer_client.get("/catalog/topics/", params))
    everything = {"shop.orders.placed", "shop.payments.failed", "shop.legacy.events", "__consumer_offsets"}
    shown = {name for name in everything if f">{name}</a>" in page}
    assert shown == expected


@pytest.mark.parametrize(
    ("url", "params", "shown", "hidden"),
    [
        ("/catalog/consumer-groups/", {"documented": "no"}, ["adhoc/debug session"], ["billing-consumer"]),
        ("/catalog/consumer-groups/", {"service": "billing"}, ["billing-consumer"], ["adhoc/debug session"]),
        ("/catalog/consumer-groups/", {"state": "empty"}, ["adhoc/debug session"], ["billing-consumer"]),
        ("/catalog/event-types/", {"classification": "pii"}, ["OrderPlaced"], ["PaymentFailed"]),
        ("/catalog/event-types/", {"documented": "no"}, ["PaymentFailed"], ["OrderPlaced"]),
        ("/catalog/event-types/", {"topic": "shop.payments.failed"}, ["PaymentFailed"], ["OrderPlaced"]),
        ("/catalog/event-types/", {"q": "committed to buy"}, ["OrderPlaced"], ["PaymentFailed"]),
        ("/catalog/services/", {"owner_team": "payments"}, [">billing<"], [">orders<"]),
        ("/catalog/services/", {"tag": "core"}, [">orders<"], [">billing<"]),
        ("/catalog/teams/", {"q": "#orders"}, ["Orders Team"], [">Payments<"]),
        ("/catalog/domains/", {"q": "nothing like it"}, ["No domain matches"], [">Sales<"]),
    ],
)
def test_list_filters(viewer_client, catalog, url, params, shown, hidden):
    page = html(viewer_client.get(url, params))
    for text in shown:
        assert text in page
    for text in hidden:
        assert text not in page.split('id="results"')[1]


def test_invalid_filter_values_are_reported_and_ignored_not_a_500(viewer_client, catalog):
    response = viewer_client.get("/catalog/topics/", {"owner_team": "no-such-team", "ordering": "password"})
    assert response.status_code == 200
    page = html(response)
    assert "Some filters were ignored" in page
    assert ">shop.orders.placed</a>" in page and ">shop.payments.failed</a>" in page


@pytest.mark.parametrize(
    "url", ["/catalog/topics/", "/catalog/event-types/", "/catalog/consumer-groups/", "/catalog/clusters/"]
)
def test_odd_query_parameters_never_fail_a_list_page(viewer_client, catalog, url):
    odd = ["-", "<script>x</script>", "\x00", "ä" * 300, "-name,,partitions"]
    for key in ("q", "ordering", "page", "per_page", "cluster", "documented", "deleted", "tag"):
        for value in odd:
            for headers in ({}, {"HX-Request": "true"}):
                response = viewer_client.get(url, {key: value}, headers=headers)
                assert response.status_code == 200, (key, value)
                assert "<script>x" not in html(response), (key, value)


def test_sorting_by_a_column_both_ways(viewer_client, catalog):
    ascending = html(viewer_client.get("/catalog/topics/", {"ordering": "partitions", "internal": "no"}))
    assert ascending.index(">shop.payments.failed</a>") < ascending.index(">shop.orders.placed</a>")
    descending = html(viewer_client.get("/catalog/topics/", {"ordering": "-partitions", "internal": "no"}))
    assert descending.index(">shop.orders.placed</a>") < descending.index(">shop.payments.failed</a>")
    # The header links to the other direction and says which way the table is sorted now.
    assert 'aria-sort="descending"' in descending
    assert "ordering=partitions" in descending


@pytest.fixture
def many_topics(catalog):
    cluster = catalog["cluster"]
    team = catalog["orders_team"]
    for n in range(60):
        topic = make_topic(cluster, f"bulk.topic.{n:03d}", partitions=1)
        documentation.topic_update_documentation(topic=topic, owner_team=team, tags=[f"t{n % 3}", "bulk"])
    return catalog


def test_pagination_50_per_page_and_a_page_size_option(viewer_client, many_topics):
    first = viewer_client.get("/catalog/topics/", {"q": "bulk."})
    assert rows_of(first) == 50
    assert "1\u201350 of 60" in html(first)
    second = viewer_client.get("/catalog/topics/", {"q": "bulk.", "page": 2})
    assert rows_of(second) == 10 and ">bulk.topic.059</a>" in html(second)
    small = viewer_client.get("/catalog/topics/", {"q": "bulk.", "per_page": 25, "page": 3})
    assert rows_of(small) == 10 and "51\u201360 of 60" in html(small)
    # Nonsense page numbers and sizes fall back instead of failing.
    assert rows_of(viewer_client.get("/catalog/topics/", {"q": "bulk.", "page": "999"})) == 10
    assert rows_of(viewer_client.get("/catalog/topics/", {"q": "bulk.", "per_page": "7", "page": "x"})) == 50


def test_htmx_gets_only_the_table(viewer_client, catalog):
    response = viewer_client.get("/catalog/topics/", {"q": "orders"}, headers={"HX-Request": "true"})
    page = html(response)
    assert response.status_code == 200
    assert "<html" not in page and "<table" in page and ">shop.orders.placed</a>" in page
    assert 'id="filter-form"' not in page  # the form stays; only the results are swapped
    assert 'name="ordering"' in page  # the sort order travels with the table
    assert "HX-Request" in response["Vary"]
    # A history restore (back button after the cache is gone) needs the whole page.
    restore = viewer_client.get(
        "/catalog/topics/", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in html(restore)


def test_full_list_page_has_the_htmx_wiring(viewer_client, catalog):
    page = html(viewer_client.get("/catalog/topics/"))
    assert 'id="filter-form"' in page and 'hx-target="#results"' in page and 'hx-push-url="true"' in page
    assert 'id="results"' in page and "hx-get=" in page


# ---------------------------------------------------------------------------------------------
# Edit and create forms
# ---------------------------------------------------------------------------------------------
def test_viewer_can_open_a_form_but_saving_is_403_and_changes_nothing(viewer_client, catalog):
    url = "/catalog/topics/local/shop.orders.placed/edit/"
    assert viewer_client.get(url).status_code == 200
    response = viewer_client.post(url, {"description": "hacked"})
    assert response.status_code == 403
    assert "editor or admin role" in html(response)
    catalog["placed"].refresh_from_db()
    assert catalog["placed"].description == "Orders as **placed** by customers."
    for url, data in (
        ("/catalog/domains/new/", {"name": "Sneaky"}),
        (f"/catalog/relations/{DeclaredRelation.objects.first().pk}/delete/", {}),
        ("/catalog/clusters/local/sync/", {}),
        ("/catalog/clusters/local/test-connection/", {}),
    ):
        assert viewer_client.post(url, data).status_code == 403, url
    assert not Domain.objects.filter(name="Sneaky").exists()
    assert DeclaredRelation.objects.count() == 3


def test_editor_documents_a_topic(editor_client, catalog):
    url = "/catalog/topics/local/shop.payments.failed/edit/"
    response = editor_client.post(
        url,
        {
            "description": "Payments that **failed**.",
            "owner_team": catalog["payments_team"].pk,
            "tags": "Payments, alerts",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/catalog/topics/local/shop.payments.failed/"
    topic = Topic.objects.get(pk=catalog["failed"].pk)
    assert topic.owner_team == catalog["payments_team"]
    assert sorted(tag.name for tag in topic.tags.all()) == ["alerts", "payments"]
    page = html(editor_client.get(response["Location"]))
    assert "<strong>failed</strong>" in page and "Topic documentation saved." in page
    assert "undocumented" not in page.split("<h1")[1].split("</div>")[0]


def test_editor_documents_a_consumer_group(editor_client, catalog):
    response = editor_client.post(
        "/catalog/consumer-groups/local/adhoc/debug%20session/edit/",
        {"service": catalog["orders_service"].pk, "description": "Someone's debugging."},
    )
    assert response.status_code == 302
    assert ConsumerGroup.objects.get(pk=catalog["stray"].pk).service == catalog["orders_service"]


def test_editor_creates_domain_team_service_event_type_and_relation(editor_client, make_user, catalog):
    carol = make_user("carol", "viewer")
    assert (
        editor_client.post("/catalog/domains/new/", {"name": "Logistics", "description": "Shipping."}).status_code
        == 302
    )
    logistics = Domain.objects.get(name="Logistics")
    assert logistics.slug == "logistics"

    # Only a team's editors add things it owns: eddie makes himself one of them.
    eddie = User.objects.get(username="eddie")
    response = editor_client.post(
        "/catalog/teams/new/",
        {"name": "Shipping Crew", "domain": logistics.pk, "contact_channel": "#ship", "editors": [carol.pk, eddie.pk]},
    )
    assert response.status_code == 302 and response["Location"] == "/catalog/teams/shipping-crew/"
    team = Team.objects.get(slug="shipping-crew")
    assert sorted((m.user.username, m.role) for m in team.memberships.all()) == [
        ("carol", "editor"),
        ("eddie", "editor"),
    ]

    response = editor_client.post(
        "/catalog/services/new/",
        {
            "name": "shipping",
            "owner_team": team.pk,
            "domain": logistics.pk,
            "repository_url": "git.example.com/shipping",
        },
    )
    assert response.status_code == 302
    shipping = Service.objects.get(name="shipping")
    assert shipping.repository_url == "https://git.example.com/shipping"

    response = editor_client.post(
        "/catalog/event-types/new/",
        {
            "name": "ShipmentCreated",
            "version": 1,
            "owner_team": team.pk,
            "topic": "local/shop.orders.placed",
            "data_classification": "internal",
            "business_meaning": "A parcel is on its way.",
            "example_payload": '{"shipment_id": "s-1"}',
        },
    )
    assert response.status_code == 302 and response["Location"] == "/catalog/event-types/shipment-created-v1/"
    created = EventType.objects.get(name="ShipmentCreated")
    assert created.topic == catalog["placed"]

    response = editor_client.post(
        "/catalog/services/shipping/relations/new/", {"direction": "consumes", "event_type": catalog["order_placed"].pk}
    )
    assert response.status_code == 302
    response = editor_client.post(
        "/catalog/services/shipping/relations/new/", {"direction": "produces", "topic": "shop.payments.failed"}
    )
    assert response.status_code == 302
    assert shipping.relations.count() == 2
    page = html(editor_client.get("/catalog/services/shipping/"))
    assert "OrderPlaced" in page and "shop.payments.failed" in page

    relation = shipping.relations.get(direction="produces")
    assert editor_client.post(f"/catalog/relations/{relation.pk}/delete/").status_code == 302
    assert shipping.relations.count() == 1


def test_new_is_never_a_slug(editor_client, catalog):
    editor_client.post("/catalog/domains/new/", {"name": "New"})
    domain = Domain.objects.get(name="New")
    assert domain.slug == "new-2"
    assert editor_client.get("/catalog/domains/new-2/").status_code == 200


@pytest.mark.parametrize(
    ("url", "data", "message"),
    [
        ("/catalog/domains/new/", {"name": ""}, "This field is required."),
        ("/catalog/domains/new/", {"name": "Sales"}, "already exists"),
        ("/catalog/services/new/", {"name": "x", "repository_url": "not a url at all"}, "Enter a valid URL."),
        ("/catalog/services/new/", {"name": "x", "tags": "fine, not ok!"}, "Tag names are lowercase"),
        (
            "/catalog/event-types/new/",
            {"name": "E", "version": 1, "data_classification": "internal", "example_payload": "{oops"},
            "Not valid JSON",
        ),
        (
            "/catalog/event-types/new/",
            {"name": "OrderPlaced", "version": 1, "data_classification": "internal"},
            "already exists",
        ),
        (
            "/catalog/event-types/new/",
            {"name": "E", "version": 0, "data_classification": "internal"},
            "greater than or equal to 1",
        ),
        (
            "/catalog/event-types/new/",
            {"name": "E", "version": 1, "data_classification": "secret"},
            "Select a valid choice",
        ),
        (
            "/catalog/event-types/new/",
            {"name": "E", "version": 1, "data_classification": "internal", "topic": "no.such"},
            "No topic of this name",
        ),
        ("/catalog/services/billing/relations/new/", {"direction": "consumes"}, "Pick an event type or name a topic"),
        (
            "/catalog/services/billing/relations/new/",
            {"direction": "produces", "topic": "shop.payments.failed"},
            "already declares",
        ),
        ("/catalog/topics/local/shop.orders.placed/edit/", {"owner_team": "999999"}, "Select a valid choice"),
    ],
)
def test_invalid_input_shows_form_errors_and_changes_nothing(editor_client, catalog, url, data, message):
    before = (
        Domain.objects.count(),
        Service.objects.count(),
        EventType.objects.count(),
        DeclaredRelation.objects.count(),
    )
    response = editor_client.post(url, data)
    assert response.status_code == 400
    page = html(response)
    assert message in page.replace("&#x27;", "'")
    assert 'class="field-errors"' in page or 'class="form-error"' in page
    after = (
        Domain.objects.count(),
        Service.objects.count(),
        EventType.objects.count(),
        DeclaredRelation.objects.count(),
    )
    assert after == before
    catalog["placed"].refresh_from_db()
    assert catalog["placed"].owner_team == catalog["orders_team"]


def test_edit_form_keeps_slug_on_rename_and_prefills(editor_client, catalog):
    form = html(editor_client.get("/catalog/teams/orders-team/edit/"))
    assert 'value="Orders Team"' in form and 'value="#orders"' in form
    response = editor_client.post(
        "/catalog/teams/orders-team/edit/", {"name": "Order Management", "domain": catalog["sales"].pk}
    )
    assert response["Location"] == "/catalog/teams/orders-team/"
    assert Team.objects.get(slug="orders-team").name == "Order Management"


def test_get_is_not_allowed_to_change_anything(editor_client, catalog):
    assert editor_client.get("/catalog/clusters/local/sync/").status_code == 405
    relation = DeclaredRelation.objects.first()
    assert editor_client.get(f"/catalog/relations/{relation.pk}/delete/").status_code == 405
    assert editor_client.put("/catalog/domains/new/").status_code == 405


def test_forms_need_the_csrf_token(make_user, catalog):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("eddie", "editor"))
    response = client.post("/catalog/domains/new/", {"name": "Forged"})
    assert response.status_code == 403
    assert not Domain.objects.filter(name="Forged").exists()


# ---------------------------------------------------------------------------------------------
# Escaping and Markdown sanitizing
# ---------------------------------------------------------------------------------------------
def test_markdown_on_pages_is_sanitized(editor_client, catalog):
    evil = (
        "<script>alert('x')</script>\n\n"
        '[click](javascript:alert(1)) <a href="javascript:alert(2)">raw</a>\n\n'
        "<img src=x onerror=alert(3)>\n\n[fine](https://example.com)"
    )
    editor_client.post("/catalog/topics/local/shop.orders.placed/edit/", {"description": evil})
    page = html(editor_client.get("/catalog/topics/local/shop.orders.placed/"))
    markdown = page.split('class="markdown">')[1].split("</div>")[0]
    # Raw HTML comes out as text, and no javascript: URL becomes a link.
    assert "<script" not in markdown and "<img" not in markdown and '<a href="javascript' not in markdown
    assert "&lt;script&gt;" in markdown
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">fine</a>' in markdown


def test_names_are_escaped_everywhere(editor_client, catalog):
    editor_client.post("/catalog/services/new/", {"name": "<b>bold</b> & co"})
    for url in ("/catalog/services/", "/catalog/"):
        page = html(editor_client.get(url))
        assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt; &amp; co" in page


# ---------------------------------------------------------------------------------------------
# Pinned query counts: a list page costs the same number of queries whatever the page size
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def big_catalog(catalog):
    """Enough rows of every kind for two full pages at 25 and 50, each row with tags and relations."""
    cluster, team, domain = catalog["cluster"], catalog["orders_team"], catalog["sales"]
    for n in range(55):
        topic = make_topic(cluster, f"load.topic.{n:03d}", partitions=2)
        documentation.topic_update_documentation(
            topic=topic, owner_team=team, domain=domain, tags=["load", f"t{n % 4}"]
        )
        service = documentation.service_create(name=f"svc-{n:03d}", owner_team=team, domain=domain, tags=["load"])
        event_type = documentation.event_type_create(
            name=f"LoadEvent{n:03d}", owner_team=team, domain=domain, topic=topic, tags=["load"]
        )
        documentation.relation_create(service=service, direction="produces", event_type=event_type)
        make_group(cluster, f"load-group-{n:03d}", topics=[topic], service=service)
        documentation.team_create(name=f"Team {n:03d}", domain=domain)
        documentation.domain_create(name=f"Domain {n:03d}")
        make_cluster(f"cluster-{n:03d}")
    return catalog


# Queries per list page for a logged-in viewer, as (full page, HTMX fragment). Every page pays the
# session, the user and the navigation's role lookup (3). Then the page: the count, the rows (related
# rows joined, counts as subqueries), one prefetch per many-to-many column (tags), and on the full page
# one query per model-choice filter (clusters, teams, domains, tags, services) to fill the filter form.
# Clusters add one query for all their staleness badges. Nothing here grows with the number of rows:
# a change is a change in cost, so look for an N+1 before updating a number.
LIST_QUERY_COUNTS = {
    "/catalog/topics/": (10, 6),
    "/catalog/event-types/": (10, 6),
    "/catalog/services/": (10, 6),
    "/catalog/consumer-groups/": (8, 6),  # + one query for all the rows' lag states (monitoring)
    "/catalog/teams/": (6, 5),
    "/catalog/domains/": (5, 5),
    "/catalog/clusters/": (6, 6),
}


@pytest.mark.parametrize("url", list(LIST_QUERY_COUNTS))
def test_list_pages_have_a_pinned_query_count_independent_of_page_size(
    viewer_client, big_catalog, django_assert_num_queries, url
):
    page_queries, fragment_queries = LIST_QUERY_COUNTS[url]
    for per_page in (25, 50):
        with django_assert_num_queries(page_queries):
            response = viewer_client.get(url, {"per_page": per_page})
        assert rows_of(response) == per_page
        with django_assert_num_queries(fragment_queries):
            response = viewer_client.get(url, {"per_page": per_page}, headers={"HX-Request": "true"})
        assert rows_of(response) == per_page
