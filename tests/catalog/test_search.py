"""Catalog search: ranking, kinds, schema field names, the index kept in step with writes, the global search
page and its instant results, escaping, and the same answers from every full-text backend.

Runs on SQLite (FTS5) locally and on PostgreSQL (tsvector) in CI; the tests assert the semantics both
must share, never one database's rank numbers.
"""

from __future__ import annotations

import json
import sys

import pytest
from django.core.management import call_command
from django.utils import timezone

import catalog.signals  # noqa: F401 - CatalogConfig.ready() imports it too; the index must follow writes here
from catalog import search
from catalog.models import Cluster, EventType, SearchDocument, Service, Tag, Topic
from catalog.search import search_catalog, search_index_bulk_update, search_index_rebuild, search_terms
from catalog.services import documentation
from eventscope import search_providers
from schemas.services import subject_register_version

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Users are made per test; the production hasher is slow on purpose (Django's testing advice).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# ---------------------------------------------------------------------------------------------
# Test data through the services (discovered rows as discovery writes them: bulk, then the index call)
# ---------------------------------------------------------------------------------------------
def make_cluster(name: str = "local") -> Cluster:
    from catalog.services.clusters import cluster_create

    return cluster_create(name=name, bootstrap_servers="127.0.0.1:9092")


def make_topics(cluster: Cluster, *names: str, **fields) -> list[Topic]:
    """Topics as discovery writes them: bulk_create (no signals), then search_index_bulk_update."""
    now = timezone.now()
    topics = Topic.objects.bulk_create(
        Topic(cluster=cluster, name=name, first_seen=now, last_seen=now, **fields) for name in names
    )
    ids = list(Topic.objects.filter(cluster=cluster, name__in=names).values_list("pk", flat=True))
    search_index_bulk_update("topic", ids)
    return topics


def titles(hits) -> list[str]:
    return [hit.title for hit in hits]


def kinds_and_titles(hits) -> list[tuple[str, str]]:
    return [(hit.kind, hit.title) for hit in hits]


@pytest.fixture
def shop(db):
    cluster = make_cluster()
    make_topics(cluster, "shop.payments.completed", "shop.orders.placed")
    team = documentation.team_create(name="Checkout", description="Owns the checkout and the payments flow.")
    payments = documentation.service_create(name="payments", description="Takes the money.", owner_team=team)
    documentation.service_create(name="payments-gateway", description="Talks to the card processors.")
    documentation.service_create(name="legacy-payments-adapter", description="Old payment provider glue.")
    documentation.service_create(
        name="shipping", description="Ships parcels once **payments** are completed.", tags=["logistics"]
    )
    documentation.event_type_create(
        name="PaymentCompleted",
        summary="A payment went through.",
        business_meaning="The customer's money is ours.",
        tags=["money"],
    )
    return {"cluster": cluster, "team": team, "payments": payments}


# ---------------------------------------------------------------------------------------------
# Terms (pure)
# ---------------------------------------------------------------------------------------------
def test_search_terms_split_camel_case_snake_case_and_punctuation_and_keep_compounds_whole():
    assert search_terms("OrderPlaced") == ["order", "placed", "orderplaced"]
    assert search_terms("customer_email") == ["customer", "email", "customeremail"]
    assert search_terms("shop.orders.placed") == ["shop", "orders", "placed"]
    assert search_terms("HTTPServer v2") == ["http", "server", "httpserver", "v2"]
    assert search_terms("<script>alert(1)</script>") == ["script", "alert", "1", "script"]
    assert search.query_terms("Orders orders ORDERS placed") == ["orders", "placed"]


# ---------------------------------------------------------------------------------------------
# Ranking
# ---------------------------------------------------------------------------------------------
def test_an_exact_name_ranks_above_a_description_mention(shop):
    hits = search_catalog("payments")
    assert hits[0].kind == "service" and hits[0].title == "payments"
    mention = next(hit for hit in hits if hit.title == "shipping")  # "payments" only in its description
    assert hits.index(mention) > 0
    assert hits[0].score > mention.score


def test_ranking_tiers_exact_then_prefix_then_contains_then_name_words_then_text(shop):
    hits = search_catalog("payments")
    assert kinds_and_titles(hits)[:4] == [
        ("service", "payments"),  # the name
        ("service", "payments-gateway"),  # starts with it
        ("service", "legacy-payments-adapter"),  # contains it (equal lengths: by name)
        ("topic", "shop.payments.completed"),
    ]
    # Then the description mentions, in an order the two databases may rank differently.
    assert set(kinds_and_titles(hits)[4:]) == {("team", "Checkout"), ("service", "shipping")}
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    # Every query word starts a word of the name: above a description that has both words.
    assert kinds_and_titles(search_catalog("payments completed")) == [
        ("topic", "shop.payments.completed"),
        ("service", "shipping"),
    ]
    # A tag (weight B) above a description (weight C).
    documentation.service_create(name="refunds", tags=["payments"])
    ranked = titles(search_catalog("payments", kinds={"service", "team"}))
    assert ranked.index("refunds") < ranked.index("shipping")
    assert ranked.index("refunds") < ranked.index("Checkout")


def test_a_prefix_of_a_name_finds_it_while_typing(shop):
    # Equal lengths ("payments-gateway", "PaymentCompleted") are ordered by name.
    assert titles(search_catalog("paym"))[:3] == ["payments", "PaymentCompleted", "payments-gateway"]
    assert "PaymentCompleted" in titles(search_catalog("PaymentComp"))
    # Every query word must start a word; a word in the middle of another does not count.
    assert titles(search_catalog("ayments completed")) == []


def test_several_words_match_across_name_tags_and_description(shop):
    hits = search_catalog("shipping logistics")
    assert titles(hits) == ["shipping"]
    assert hits[0].snippet == "Tags: logistics"
    # Name + tag beats name + description.
    assert titles(search_catalog("payment money")) == ["PaymentCompleted", "payments"]
    assert search_catalog("payments nonexistentword") == []


def test_kinds_narrow_the_search_and_limit_caps_it(shop):
    assert {hit.kind for hit in search_catalog("payments", kinds={"topic"})} == {"topic"}
    assert {hit.kind for hit in search_catalog("payments", kinds={"service", "team"})} <= {"service", "team"}
    assert search_catalog("payments", kinds={"no-such-kind"}) == []
    assert len(search_catalog("payments", limit=2)) == 2
    assert search_catalog("", kinds=None) == []
    assert search_catalog("   ") == []


def test_hits_carry_what_the_page_shows(shop):
    hit = search_catalog("shop.orders.placed")[0]
    assert (hit.kind, hit.title) == ("topic", "shop.orders.placed")
    assert hit.url == "/catalog/topics/local/shop.orders.placed/"
    assert hit.subtitle == "Topic on local · undocumented"
    service = search_catalog("shipping")[0]
    assert service.url == "/catalog/services/shipping/"
    assert service.snippet == "Ships parcels once payments are completed."  # Markdown as plain text


def test_like_and_percent_signs_in_a_query_are_text_not_wildcards(shop):
    documentation.service_create(name="50%_off")
    assert titles(search_catalog("50%")) == ["50%_off"]
    assert titles(search_catalog("%")) == ["50%_off"]
    assert titles(search_catalog("_")) == ["50%_off"]
    assert search_catalog('zz" OR "payments') == []  # FTS syntax in a query is just words: "zz" matches nothing
    assert search_catalog("NEAR(payments zz)") == []


@pytest.mark.parametrize("query", ["payments", "paym", "shipping logistics", "payment money", "completed", "the"])
def test_every_full_text_backend_finds_the_same_hits(shop, monkeypatch, query):
    """The LIKE scorer (for an SQLite without FTS5) and the database's own full-text index agree on what
    matches and on every rule of the order; only ties in the column weights may come out differently."""
    native = search_catalog(query)
    monkeypatch.setattr(search, "_fulltext_backend", lambda: "like")
    fallback = search_catalog(query)
    assert sorted(kinds_and_titles(fallback)) == sorted(kinds_and_titles(native))
    by_name = [(hit.kind, hit.title) for hit in native if hit.score >= 20]
    assert [(hit.kind, hit.title) for hit in fallback if hit.score >= 20] == by_name


def test_search_costs_a_fixed_number_of_queries(shop, django_assert_max_num_queries):
    cluster = shop["cluster"]
    make_topics(cluster, *[f"bulk.payments.t{i}" for i in range(60)])
    with django_assert_max_num_queries(6):  # name tiers, text tier, then one per kind shown
        hits = search_catalog("payments", limit=50)
    assert len(hits) == 50


# ---------------------------------------------------------------------------------------------
# Schema subjects and field names
# ---------------------------------------------------------------------------------------------
ORDER_SCHEMA = {
    "type": "record",
    "name": "OrderPlaced",
    "namespace": "shop",
    "fields": [
        {"name": "order_id", "type": "string"},
        {
            "name": "customer",
            "type": {
                "type": "record",
                "name": "Customer",
                "fields": [{"name": "loyaltyTier", "type": "string"}, {"name": "email", "type": "string"}],
            },
        },
    ],
}


def test_schema_field_names_find_the_event_type_and_its_subject(db):
    subject = "shop.orders.placed-value"
    subject_register_version(subject=subject, schema_text=json.dumps(ORDER_SCHEMA))
    documentation.event_type_create(name="OrderPlaced", schema_subject=subject)

    hits = search_catalog("loyaltyTier")
    assert kinds_and_titles(hits) == [("event_type", "OrderPlaced"), ("subject", subject)]
    assert hits[0].snippet == "Fields: customer.loyaltyTier"
    assert hits[1].url == "/schemas/subjects/shop.orders.placed-value/"
    assert kinds_and_titles(search_catalog("loyalty tier")) == kinds_and_titles(hits)

    # A new version with another field: the event type is re-indexed with the subject.
    evolved = dict(
        ORDER_SCHEMA, fields=[*ORDER_SCHEMA["fields"], {"name": "coupon", "type": ["null", "string"], "default": None}]
    )
    subject_register_version(subject=subject, schema_text=json.dumps(evolved))
    assert kinds_and_titles(search_catalog("coupon")) == [("event_type", "OrderPlaced"), ("subject", subject)]


def test_an_event_type_that_points_at_a_subject_later_gets_its_fields(db):
    subject_register_version(subject="pay-value", schema_text=json.dumps(ORDER_SCHEMA))
    event_type = documentation.event_type_create(name="PaymentTaken")
    assert ("event_type", "PaymentTaken") not in kinds_and_titles(search_catalog("order_id"))
    documentation.event_type_update(event_type=event_type, schema_subject="pay-value")
    assert ("event_type", "PaymentTaken") in kinds_and_titles(search_catalog("order_id"))


# ---------------------------------------------------------------------------------------------
# The index follows the catalog
# ---------------------------------------------------------------------------------------------
def test_the_index_follows_renames_deletes_and_tags(shop):
    payments = shop["payments"]
    documentation.service_update(service=payments, name="billing")
    assert "payments" not in titles(search_catalog("payments", kinds={"service"}))
    assert titles(search_catalog("billing")) == ["billing"]

    documentation.service_update(service=payments, tags=["treasury"])
    assert search_catalog("treasury")[0].title == "billing"
    Tag.objects.get(name="treasury").delete()  # the m2m rows go without m2m_changed
    assert search_catalog("treasury") == []

    tag = Tag.objects.get(name="logistics")
    tag.name = "parcels"
    tag.save()
    assert titles(search_catalog("parcels")) == ["shipping"]

    Service.objects.get(name="shipping").delete()
    assert search_catalog("parcels") == []
    assert not SearchDocument.objects.filter(kind="service", name_key="shipping").exists()


def test_reverse_tag_writes_reindex_the_tagged_objects(shop):
    service = Service.objects.get(name="shipping")
    tag = Tag.objects.create(name="express")
    tag.services.add(service)
    assert titles(search_catalog("express")) == ["shipping"]
    tag.services.clear()
    assert search_catalog("express") == []


def test_deleted_topics_leave_the_index_and_come_back_when_seen_again(shop):
    topic = Topic.objects.get(name="shop.orders.placed")
    Topic.objects.filter(pk=topic.pk).update(deleted_at=timezone.now())  # as discovery marks them, in bulk
    search_index_bulk_update("topic", [topic.pk])
    assert search_catalog("shop.orders.placed") == []
    topic.deleted_at = None
    topic.save(update_fields=["deleted_at"])
    assert titles(search_catalog("shop.orders.placed")) == ["shop.orders.placed"]


def test_saves_that_touch_no_searchable_field_leave_the_index_alone(shop, django_assert_num_queries):
    topic = Topic.objects.get(name="shop.orders.placed")
    topic.last_seen = timezone.now()
    with django_assert_num_queries(1):  # the UPDATE itself, nothing for the index
        topic.save(update_fields=["last_seen"])
    before = SearchDocument.objects.get(kind="topic", object_id=topic.pk).updated_at
    topic.save()  # a full save re-reads it, finds the same text and writes nothing
    assert SearchDocument.objects.get(kind="topic", object_id=topic.pk).updated_at == before


def test_a_rolled_back_write_leaves_the_index_as_it_was(shop):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        documentation.service_create(name="invoices", tags=["Not A Valid Tag!"])
    assert search_catalog("invoices") == []


def test_deferred_indexing_writes_once_at_the_end(db):
    with search.search_index_deferred():
        for i in range(5):
            documentation.domain_create(name=f"Domain {i}")
        assert search_catalog("domain") == []  # nothing written yet
    assert len(search_catalog("domain")) == 5


def test_rebuild_and_the_management_command_restore_a_lost_index(shop, capsys):
    expected = kinds_and_titles(search_catalog("payments"))
    SearchDocument.objects.all().delete()
    assert search_catalog("payments") == []
    counts = search_index_rebuild()
    assert counts["service"] == 4 and counts["topic"] == 2
    assert kinds_and_titles(search_catalog("payments")) == expected

    SearchDocument.objects.filter(kind="service").delete()
    call_command("search_reindex")
    assert "Search index rebuilt" in capsys.readouterr().out
    assert kinds_and_titles(search_catalog("payments")) == expected


def test_stale_documents_of_vanished_rows_are_skipped_and_dropped_by_a_rebuild(shop):
    # A document whose row went behind the index's back (raw SQL, a restore): hits skip it, a rebuild drops it.
    ghost = search._document("event_type", 987_654, search.IndexedText("PaymentGhost"))
    ghost.save()
    search._fulltext_refresh([ghost.pk])
    assert "PaymentGhost" not in titles(search_catalog("payment"))
    search_index_rebuild()
    assert not SearchDocument.objects.filter(kind="event_type", object_id=987_654).exists()
    assert SearchDocument.objects.filter(kind="event_type").count() == EventType.objects.count()


# ---------------------------------------------------------------------------------------------
# The global search page and the instant results
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def viewer_client(client, make_user):
    client.force_login(make_user("vera", "viewer"))
    return client


def test_search_page_groups_hits_by_kind_with_links(shop, viewer_client):
    response = viewer_client.get("/search/", {"q": "payments"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="search-group-service"' in html and 'id="search-group-topic"' in html
    assert html.index('id="search-group-service"') < html.index('id="search-group-topic"')
    assert 'href="/catalog/services/payments/"' in html
    assert "<mark>payments</mark>" in html
    assert response.context["results"][0].title == "payments"


def test_search_page_narrows_to_one_kind(shop, viewer_client):
    response = viewer_client.get("/search/", {"q": "payments", "kind": "topic"})
    assert {hit.kind for hit in response.context["results"]} == {"topic"}
    bad = viewer_client.get("/search/", {"q": "payments", "kind": "nonsense"})
    assert bad.status_code == 400
    assert "no kind of result" in bad.content.decode()


def test_search_page_escapes_user_text_and_highlights_safely(db, viewer_client):
    documentation.service_create(
        name="evil", description='An evil <script>alert("x")</script> and <img src=x onerror=alert(1)>'
    )
    html = viewer_client.get("/search/", {"q": "evil <script>"}).content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html
    html = viewer_client.get("/search/", {"q": "evil"}).content.decode()
    assert "<mark>evil</mark>" in html
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html  # shown as the text it is
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_highlight_escapes_before_marking():
    from eventscope.templatetags.search_highlight import highlight

    assert highlight("<b>Orders</b> & more", "order") == "&lt;b&gt;<mark>Order</mark>s&lt;/b&gt; &amp; more"
    assert highlight("a<mark>b", "<mark>") == "a<mark>&lt;mark&gt;</mark>b"
    assert highlight("plain", "") == "plain"


def test_search_limits_and_errors_never_500(viewer_client, db):
    assert viewer_client.get("/search/", {"q": "x" * 201}).status_code == 400
    assert viewer_client.get("/search/suggest/", {"q": "x" * 201}).status_code == 400
    assert viewer_client.get("/search/", {"q": "\x00\ud7ff"}).status_code == 200
    assert viewer_client.post("/search/", {"q": "x"}).status_code == 405


def test_suggestions_are_a_small_partial_with_a_link_to_all_results(shop, viewer_client):
    response = viewer_client.get("/search/suggest/", {"q": "paym"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert html.count("<li>") <= 8
    assert 'href="/catalog/services/payments/"' in html
    assert 'href="/search/?q=paym"' in html
    assert viewer_client.get("/search/suggest/", {"q": ""}).content.decode().strip() == ""
    assert "Nothing matches" in viewer_client.get("/search/suggest/", {"q": "zzzz"}).content.decode()


def test_the_search_box_asks_for_instant_results(shop, viewer_client):
    html = viewer_client.get("/").content.decode()
    assert 'hx-get="/search/suggest/"' in html
    assert 'hx-trigger="input changed delay:200ms, search"' in html
    assert 'id="search-suggestions"' in html


def test_search_needs_a_login(client, db):
    assert client.get("/search/suggest/", {"q": "x"}).status_code == 302


def test_other_apps_add_results_through_a_search_provider(shop, viewer_client, monkeypatch):
    """The hook the tracing issue uses: a provider named in SEARCH_PROVIDERS, no change to the view."""
    trace = search_providers.SearchHit(
        kind="trace", object_id="c-123", title="Trace c-123", subtitle="5 events", url="/traces/c-123/", score=100.0
    )
    provider = search_providers.SearchProvider(
        kinds={"trace": "Traces"}, search=lambda query, kinds, limit: [trace] if query == "payments" else []
    )
    monkeypatch.setattr(sys.modules[__name__], "TEST_PROVIDER", provider, raising=False)
    monkeypatch.setattr(
        search_providers,
        "SEARCH_PROVIDERS",
        (*search_providers.SEARCH_PROVIDERS, f"{__name__}.TEST_PROVIDER"),
    )
    response = viewer_client.get("/search/", {"q": "payments"})
    html = response.content.decode()
    assert html.index('id="search-group-trace"') < html.index('id="search-group-service"')
    assert "Traces" in html and 'href="/traces/c-123/"' in html
    assert viewer_client.get("/search/", {"q": "payments", "kind": "trace"}).context["results"] == [trace]
