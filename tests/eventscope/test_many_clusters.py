"""Many clusters in one instance: every list, graph and chart filters by cluster, and names that repeat across
clusters (the same topic, the same consumer group on `east` and on `west`) never mix.

The discovered rows are built as discovery writes them (tests/factories.py), the documented catalog through its
services, lineage through its refresh, trace rows as the indexer writes them.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from catalog.cluster_choice import UnknownClusterError, cluster_choice
from catalog.models import Service
from catalog.services import documentation
from lineage import selectors as lineage_selectors
from lineage.impact import analyze_impact
from lineage.services import refresh_edges
from monitoring import selectors as monitoring_selectors
from monitoring.alert_rules import alert_rule_create
from monitoring.models import Alert, AlertRule, TraceEvent
from schemas.services import subject_register_version
from tests.factories import make_cluster, make_group, make_topic
from tests.monitoring.lag_rows import make_lag_state, partition_row

pytestmark = pytest.mark.django_db

TOPIC = "shop.orders.placed"  # on both clusters
GROUP = "shop.shipping"  # on both clusters
ORDER_PLACED = json.dumps({"type": "record", "name": "OrderPlaced", "fields": [{"name": "order_id", "type": "string"}]})


@pytest.fixture
def two(make_user):
    """Two clusters holding a topic and a group of the same names, each with its own services and traffic."""
    east = make_cluster("east", discovery_enabled=False)
    west = make_cluster("west", discovery_enabled=False)
    orders = documentation.service_create(name="orders")
    shipping = documentation.service_create(name="shipping")
    returns = documentation.service_create(name="returns")  # only on west
    east_topic = make_topic(east, TOPIC)
    west_topic = make_topic(west, TOPIC)
    make_topic(east, "shop.east.only")
    east_group = make_group(east, GROUP, topics=[east_topic], service=shipping)
    west_group = make_group(west, GROUP, topics=[west_topic], service=shipping)
    make_group(west, "shop.returns", topics=[west_topic], service=returns)
    east_type = documentation.event_type_create(name="OrderPlaced", topic=east_topic, schema_subject=f"{TOPIC}-value")
    documentation.event_type_create(name="WestOrderPlaced", topic=west_topic)
    documentation.relation_create(service=orders, direction="produces", event_type=east_type)
    documentation.relation_create(service=returns, direction="consumes", topic=west_topic)
    refresh_edges(None)
    make_lag_state(east_group, status="OK", partitions=[partition_row(TOPIC, 0, committed=95, log_end=100)])
    make_lag_state(
        west_group,
        status="STOP",
        partitions=[partition_row(TOPIC, 0, committed=100, log_end=600, time_lag_s=900.0, status="STOP")],
    )
    _chain(east, "chain-east", [(TOPIC, "OrderPlaced", 0), ("shop.east.only", "Shipped", 40)])
    _chain(west, "chain-west", [(TOPIC, "OrderPlaced", 0), ("shop.deadletter", "OrderPlaced", 70)])
    make_user("viewer", role="viewer")
    return {"east": east, "west": west, "east_group": east_group, "west_group": west_group}


def _chain(cluster, correlation_id: str, steps, *, first_offset: int = 0) -> None:
    start = timezone.now() - timedelta(minutes=10)
    TraceEvent.objects.bulk_create(
        TraceEvent(
            correlation_id=correlation_id,
            cluster=cluster,
            topic=topic,
            partition=0,
            offset=first_offset + index,
            timestamp=start + timedelta(milliseconds=ms),
            event_type=event_type,
            key="order-1",  # the same key on both clusters
            event_id=f"{correlation_id}-{index}",
            payload_excerpt="{}",
            payload_encoding="json",
            size=2,
            is_dead_letter=topic == "shop.deadletter",
        )
        for index, (topic, event_type, ms) in enumerate(steps)
    )


@pytest.fixture
def api():
    from django.contrib.auth import get_user_model

    client = APIClient()
    client.force_authenticate(get_user_model().objects.get(username="viewer"))
    return client


@pytest.fixture
def browser_client(client):
    client.login(username="viewer", password="s3cret-pass!")
    return client


def _names(response, key: str = "name") -> list[tuple[str, str]]:
    assert response.status_code == 200, response.content
    return sorted((row.get("cluster") or "", row[key]) for row in response.json()["results"])


# ---------------------------------------------------------------------------------------------
# Catalog lists: API and pages share the filtersets
# ---------------------------------------------------------------------------------------------
def test_topics_and_groups_filter_by_cluster_and_same_names_stay_apart(two, api, browser_client):
    both = _names(api.get("/api/v1/topics/", {"name": TOPIC}))
    assert both == [("east", TOPIC), ("west", TOPIC)]
    assert _names(api.get("/api/v1/topics/", {"cluster": "west"})) == [("west", TOPIC)]
    assert _names(api.get("/api/v1/consumer-groups/", {"cluster": "east"}), "group_id") == [("east", GROUP)]
    assert len(_names(api.get("/api/v1/consumer-groups/", {"q": GROUP}), "group_id")) == 2

    page = browser_client.get("/catalog/topics/", {"cluster": "west"}).content.decode()
    assert '<select name="cluster"' in page and '<option value="west" selected>' in page
    assert "/catalog/topics/west/shop.orders.placed/" in page
    assert "/catalog/topics/east/" not in page
    # The selection travels in the table's sort links and pagination (the form's fields, and the query string).
    fragment = browser_client.get("/catalog/topics/", {"cluster": "west"}, headers={"HX-Request": "true"})
    assert "cluster=west" in fragment.content.decode()


def test_event_types_and_services_filter_by_cluster(two, api, browser_client):
    assert [row["name"] for row in api.get("/api/v1/event-types/", {"cluster": "east"}).json()["results"]] == [
        "OrderPlaced"
    ]
    assert [row["name"] for row in api.get("/api/v1/event-types/", {"cluster": "west"}).json()["results"]] == [
        "WestOrderPlaced"
    ]
    on_west = sorted(row["name"] for row in api.get("/api/v1/services/", {"cluster": "west"}).json()["results"])
    assert on_west == ["returns", "shipping"]  # orders only produces on east
    on_east = sorted(row["name"] for row in api.get("/api/v1/services/", {"cluster": "east"}).json()["results"])
    assert on_east == ["orders", "shipping"]

    unknown = api.get("/api/v1/services/", {"cluster": "nope"})
    assert unknown.status_code == 400 and "cluster" in json.dumps(unknown.json())

    page = browser_client.get("/catalog/services/", {"cluster": "west"}).content.decode()
    assert '<option value="west" selected>' in page
    assert "/catalog/services/returns/" in page and "/catalog/services/orders/" not in page
    page = browser_client.get("/catalog/event-types/", {"cluster": "east"}).content.decode()
    assert "OrderPlaced" in page and "WestOrderPlaced" not in page


def test_a_single_cluster_shows_no_cluster_select(db, make_user, client):
    from catalog.models import Cluster

    assert Cluster.objects.count() == 1  # the default cluster (KAFKA_BOOTSTRAP_SERVERS), made by a migration
    make_topic(Cluster.objects.get(), "t.one")
    make_user("viewer", role="viewer")
    client.login(username="viewer", password="s3cret-pass!")
    for url in ("/catalog/topics/", "/catalog/services/", "/monitoring/flows/", "/monitoring/latency/"):
        page = client.get(url).content.decode()
        assert '<select name="cluster"' not in page, url


# ---------------------------------------------------------------------------------------------
# Lag: a repeated group id needs its cluster
# ---------------------------------------------------------------------------------------------
def test_lag_of_a_repeated_group_needs_the_cluster(two, api):
    for url in (f"/api/v1/consumer-groups/{GROUP}/lag", f"/api/v1/consumer-groups/{GROUP}/lag/"):
        ambiguous = api.get(url)
        assert ambiguous.status_code == 400
        error = ambiguous.json()["error"]
        assert "several clusters (east, west)" in json.dumps(error) and "?cluster=NAME" in json.dumps(error)

    west = api.get(f"/api/v1/consumer-groups/{GROUP}/lag", {"cluster": "west"}).json()
    east = api.get(f"/api/v1/consumer-groups/{GROUP}/lag", {"cluster": "east"}).json()
    assert (west["status"], west["total_lag"]) == ("STOP", 500)
    assert (east["status"], east["total_lag"]) == ("OK", 5)

    missing = api.get(f"/api/v1/consumer-groups/{GROUP}/lag", {"cluster": "nope"})
    assert missing.status_code == 404 and "on cluster nope" in missing.json()["error"]["message"]
    # A group id on one cluster only needs nothing (the single-cluster URL keeps working).
    assert api.get("/api/v1/consumer-groups/shop.returns/lag").status_code == 200


def test_metrics_label_each_cluster(two, client):
    families = {f.name: f.samples for f in text_string_to_metric_families(client.get("/metrics").content.decode())}
    lag = {
        sample.labels["cluster"]: sample.value
        for sample in families["eventscope_consumer_group_total_lag_messages"]
        if sample.labels.get("group") == GROUP
    }
    assert lag == {"east": 5.0, "west": 500.0}


# ---------------------------------------------------------------------------------------------
# Lineage and impact
# ---------------------------------------------------------------------------------------------
def test_lineage_nodes_carry_their_cluster(two, browser_client):
    graph = lineage_selectors.build_graph()
    ids = set(graph.node_ids)
    for cluster in ("east", "west"):
        assert f"topic:{cluster}/{TOPIC}" in ids and f"group:{cluster}/{GROUP}" in ids
        assert graph.successors(f"group:{cluster}/{GROUP}") == ["service:shipping"]
    assert sorted(graph.successors(f"topic:west/{TOPIC}")) == ["group:west/shop.returns", f"group:west/{GROUP}"]
    assert graph.successors(f"topic:east/{TOPIC}") == [f"group:east/{GROUP}"]

    west = lineage_selectors.build_graph(cluster="west")
    assert not any(node_id.startswith(("topic:east/", "group:east/")) for node_id in west.node_ids)

    labelled = graph.with_cluster_labels()
    assert labelled.node(f"topic:east/{TOPIC}").label == f"east/{TOPIC}"
    assert labelled.node(f"group:west/{GROUP}").label == f"west/{GROUP}"
    assert labelled.node("service:shipping").label == "shipping"
    assert west.with_cluster_labels() is west  # one cluster in view: names alone

    page = browser_client.get("/lineage/").content.decode()
    assert f"east/{TOPIC}" in page and f"west/{TOPIC}" in page
    filtered = browser_client.get("/lineage/", {"cluster": "west"}).content.decode()
    assert f"east/{TOPIC}" not in filtered and f"topic:east/{TOPIC}" not in filtered
    focused = browser_client.get("/lineage/", {"focus": f"topic:west/{TOPIC}", "up": 1, "down": 1})
    assert focused.status_code == 200
    assert "shop.returns" in focused.content.decode() or "returns" in focused.content.decode()


def test_impact_lists_same_named_consumers_once_per_cluster(two):
    subject_register_version(subject=f"{TOPIC}-value", schema_text=ORDER_PLACED, schema_type="AVRO")
    report = analyze_impact(subject=f"{TOPIC}-value", topic=TOPIC, schema_text=ORDER_PLACED)
    shipping = sorted((c.cluster, c.group) for c in report.consumers if c.service == "shipping")
    assert shipping == [("east", GROUP), ("west", GROUP)]
    returns = [(c.cluster, c.topic) for c in report.consumers if c.service == "returns"]
    assert returns == [("west", TOPIC)]
    consumers = report.as_dict()["consumers"]
    assert {(c["cluster"], c["service"]) for c in consumers} >= {("east", "shipping"), ("west", "shipping")}
    markdown = report.to_markdown()
    assert f"`east/{TOPIC}`" in markdown and f"`west/{TOPIC}`" in markdown


# ---------------------------------------------------------------------------------------------
# Traces, flows, latency, dead letters, alerts
# ---------------------------------------------------------------------------------------------
def test_trace_search_flows_latency_and_dead_letters_filter_by_cluster(two, api, browser_client):
    both = monitoring_selectors.trace_matches("order-1")
    assert sorted(match.correlation_id for match in both) == ["chain-east", "chain-west"]
    assert [m.correlation_id for m in monitoring_selectors.trace_matches("order-1", cluster="west")] == ["chain-west"]
    found = api.get("/api/v1/traces/", {"q": "order-1", "cluster": "east"}).json()["results"]
    assert [row["correlation_id"] for row in found] == ["chain-east"]
    unknown = api.get("/api/v1/traces/", {"q": "order-1", "cluster": "nope"})
    assert unknown.status_code == 400
    assert "the clusters are default, east, west" in json.dumps(unknown.json())

    def signatures(**params):
        response = api.get("/api/v1/flows/", params)
        assert response.status_code == 200, response.content
        return sorted(tuple(flow["signature"]) for flow in response.json()["results"])

    assert len(signatures()) == 2
    assert signatures(cluster="east") == [("OrderPlaced", "Shipped")]
    assert api.get("/api/v1/flows/", {"cluster": "nope"}).status_code == 400

    flows_page = browser_client.get("/monitoring/flows/", {"cluster": "west"}).content.decode()
    assert '<option value="west" selected>' in flows_page and "chain-west" in flows_page
    assert "chain-east" not in flows_page
    wrong = browser_client.get("/monitoring/flows/", {"cluster": "nope"})
    assert wrong.status_code == 200 and "No cluster named" in wrong.content.decode()

    east_latency = monitoring_selectors.latency_overview_for(cluster="east")
    assert {group.name for group in east_latency.topics} <= {TOPIC, "shop.east.only"}
    latency_page = browser_client.get("/monitoring/latency/", {"cluster": "east"}).content.decode()
    assert '<option value="east" selected>' in latency_page and "cluster=east" in latency_page

    assert monitoring_selectors.dead_letters_overview(cluster="east").total == 0
    west_letters = monitoring_selectors.dead_letters_overview(cluster="west")
    assert west_letters.total == 1 and west_letters.recent[0].cluster == "west"
    assert [topic for _hour, topic, _count in west_letters.per_hour] == ["shop.deadletter"]
    _chain(two["east"], "chain-east-dead", [("shop.deadletter", "OrderPlaced", 0)], first_offset=50)
    both = monitoring_selectors.dead_letters_overview()
    assert sorted(topic for _hour, topic, _count in both.per_hour) == ["east/shop.deadletter", "west/shop.deadletter"]
    letters_page = browser_client.get("/monitoring/dead-letters/", {"cluster": "east"}).content.decode()
    assert "chain-west" not in letters_page


def test_alerts_filter_by_cluster(two, api, browser_client):
    rule = alert_rule_create(name="stopped groups", kind=AlertRule.Kind.GROUP_STATUS)
    now = timezone.now()
    for group in (two["east_group"], two["west_group"]):
        Alert.objects.create(
            rule=rule,
            subject_key=f"group:{group.pk}",
            subject=f"{group.cluster.name} / {group.group_id}",
            cluster=group.cluster,
            group=group,
            state=Alert.State.FIRING,
            since=now,
            fired_at=now,
            message=f"{group.cluster.name} stopped",
        )
    found = api.get("/api/v1/alerts/", {"cluster": "west"}).json()["results"]
    assert [row["message"] for row in found] == ["west stopped"]
    assert len(api.get("/api/v1/alerts/").json()["results"]) == 2
    assert api.get("/api/v1/alerts/", {"cluster": "nope"}).status_code == 400

    page = browser_client.get("/monitoring/alerts/", {"cluster": "east"}).content.decode()
    assert "east stopped" in page and "west stopped" not in page
    assert "stopped groups" in page  # a rule of every cluster stays listed


def test_search_names_the_cluster_of_each_hit(two, browser_client):
    page = browser_client.get("/search/", {"q": TOPIC}).content.decode()
    assert "Topic on east" in page and "Topic on west" in page
    assert "/catalog/topics/east/shop.orders.placed/" in page and "/catalog/topics/west/shop.orders.placed/" in page


def test_cluster_choice_validates_the_name(two):
    assert cluster_choice({}).selected is None and cluster_choice({}).shown
    assert cluster_choice({"cluster": "west"}).selected == "west"
    lenient = cluster_choice({"cluster": "nope"})
    assert lenient.selected is None and "the clusters are default, east, west" in lenient.error
    with pytest.raises(UnknownClusterError, match="No cluster named 'nope'"):
        cluster_choice({"cluster": "nope"}, strict=True)


def test_a_chain_across_clusters_names_each_hops_cluster(two, browser_client):
    _chain(two["east"], "chain-both", [(TOPIC, "OrderPlaced", 0)], first_offset=100)
    _chain(
        two["west"], "chain-both", [(TOPIC, "OrderPlaced", 30)], first_offset=100
    )  # same topic, partition and offset
    page = browser_client.get("/traces/chain-both/").content.decode()
    assert '<span class="muted" title="cluster">east/</span>' in page
    assert '<span class="muted" title="cluster">west/</span>' in page
    assert "/catalog/topics/east/shop.orders.placed/" in page and "/catalog/topics/west/shop.orders.placed/" in page

    ambiguous = browser_client.get("/traces/chain-both/payload/", {"topic": TOPIC, "partition": 0, "offset": 100})
    assert ambiguous.status_code == 400 and b"several clusters" in ambiguous.content
    missing = browser_client.get(
        "/traces/chain-both/payload/", {"topic": TOPIC, "partition": 0, "offset": 100, "cluster": "default"}
    )
    assert missing.status_code == 404

    single = browser_client.get("/traces/chain-east/").content.decode()
    assert 'title="cluster"' not in single  # one cluster: names alone


def test_a_services_mini_lineage_names_the_cluster_of_each_topic(two, browser_client):
    page = browser_client.get("/catalog/services/shipping/").content.decode()
    assert f"<title>east/{GROUP} (group)</title>" in page and f"<title>west/{GROUP} (group)</title>" in page
    single = browser_client.get("/catalog/services/returns/").content.decode()
    assert "<title>shop.returns (group)</title>" in single  # one cluster around it: names alone


def test_declared_relations_name_their_topics_cluster(two, browser_client):
    east_topic = two["east_group"].committed_topics.get()
    west_topic = two["west_group"].committed_topics.get()
    shipping = Service.objects.get(name="shipping")
    documentation.relation_create(service=shipping, direction="produces", topic=east_topic)
    documentation.relation_create(service=shipping, direction="produces", topic=west_topic)
    page = browser_client.get("/catalog/services/shipping/").content.decode()
    assert '/catalog/topics/east/shop.orders.placed/">shop.orders.placed</a> <span class="muted">east</span>' in page
    assert '/catalog/topics/west/shop.orders.placed/">shop.orders.placed</a> <span class="muted">west</span>' in page
