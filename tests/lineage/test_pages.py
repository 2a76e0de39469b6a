"""The lineage page and the catalog pages' small lineage view, through the Django test client."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.services import documentation
from lineage.models import EdgeEvidence
from lineage.overview import AUTO_COLLAPSE_ABOVE
from lineage.services import refresh_edges
from tests.factories import make_cluster, make_group, make_topic

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    cluster = make_cluster("c1")
    sales = documentation.domain_create(name="Sales")
    stock = documentation.domain_create(name="Stock")
    team = documentation.team_create(name="Warehouse", domain=stock)
    orders = documentation.service_create(name="orders", domain=sales)
    inventory = documentation.service_create(name="inventory", owner_team=team)
    placed = make_topic(cluster, "placed", domain=sales)
    reserved = make_topic(cluster, "reserved")
    make_topic(cluster, "lonely")
    make_group(cluster, "inv-g", topics=[placed], service=inventory)
    event_type = documentation.event_type_create(name="OrderPlaced", topic=placed)
    documentation.relation_create(service=orders, direction="produces", event_type=event_type)
    documentation.relation_create(service=inventory, direction="produces", topic=reserved)
    refresh_edges(cluster)
    return {"cluster": cluster, "orders": orders, "inventory": inventory, "placed": placed, "event_type": event_type}


def figure_data(html: str) -> list[dict]:
    """The traces of the page's Plotly figure (the JSON passed to Plotly.newPlot)."""
    match = re.search(r'Plotly\.newPlot\(\s*"lineage-figure",\s*(\[.*?\]),\s*\{', html, re.S)
    assert match, "no Plotly figure on the page"
    return json.loads(match.group(1))


def node_traces(html: str) -> list[dict]:
    return [t for t in figure_data(html) if t.get("meta") == "nodes"]


def test_login_is_required(client):
    response = client.get("/lineage/")
    assert response.status_code == 302 and "/login" in response["Location"]


def test_whole_graph_with_legend_styles_and_lists(viewer, shop):
    response = viewer.get("/lineage/")
    assert response.status_code == 200
    html = response.content.decode()
    traces = figure_data(html)
    edge_traces = {t["name"]: t for t in traces if t.get("meta") == "edges"}
    assert edge_traces["declared edge"]["line"]["dash"] == "solid"
    assert edge_traces["discovered edge"]["line"]["dash"] == "dash"
    nodes = node_traces(html)
    assert {t["name"] for t in nodes} == {"Sales", "Stock", "no domain"}  # coloured by domain by default
    urls = [url for t in nodes for url in t["customdata"]]
    assert "/catalog/topics/c1/placed/" in urls
    assert f"/catalog/services/{shop['orders'].slug}/" in urls
    assert "lineage/lineage.js" in html and "vendor/plotly" in html
    # Edge details on hover: evidence kinds with counts.
    edge_hover = next(t for t in traces if t.get("hovertext") and t.get("marker", {}).get("opacity") == 0)
    assert any("orders → placed" in text and "declared (1)" in text for text in edge_hover["hovertext"])
    # Side lists.
    assert 'id="lineage-no-producers"' in html and "lonely" in html
    assert "Most flows pass through" in html
    assert "5 nodes" in html or "6 nodes" in html


def test_colour_by_team_and_filters(viewer, shop):
    html = viewer.get("/lineage/", {"colour": "team"}).content.decode()
    assert {t["name"] for t in node_traces(html)} == {"Warehouse", "no team"}
    html = viewer.get("/lineage/", {"domain": "sales"}).content.decode()
    labels = {label for t in node_traces(html) for label in t["text"]}
    assert "orders" in labels and "reserved" not in labels
    html = viewer.get("/lineage/", {"cluster": "default"}).content.decode()
    assert "No lineage yet for these filters" in html


def test_focus_on_a_topic(viewer, shop):
    response = viewer.get("/lineage/", {"focus": "topic:c1/placed", "up": 1, "down": 1})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Focused on" in html
    labels = {label for t in node_traces(html) for label in t["text"]}
    assert labels == {"placed", "orders", "inv-g"}
    assert "Show the whole graph" in html
    # One hop down from orders: placed's consumer group is cut off by the focus, yet placed is no topic
    # without consumers.
    html = viewer.get("/lineage/", {"focus": "service:orders", "up": 0, "down": 1}).content.decode()
    assert {label for t in node_traces(html) for label in t["text"]} == {"orders", "placed"}
    no_consumers = html[html.index('id="lineage-no-consumers"') :].split("</section>")[0]
    assert "placed" not in no_consumers and "None." in no_consumers


def test_focus_by_a_bare_name(viewer, shop):
    # What a user types: the name, not the node id. A service wins over a group or topic of the same name.
    make_group(shop["cluster"], "inventory", topics=[shop["placed"]])
    refresh_edges(shop["cluster"])
    for typed, focused in [("inventory", "inventory</strong> (service)"), ("placed", "placed</strong> (topic)")]:
        response = viewer.get("/lineage/", {"focus": typed})
        assert response.status_code == 200
        assert focused in response.content.decode()
    response = viewer.get("/lineage/", {"focus": "nowhere"})
    assert response.status_code == 400
    assert "No node &#x27;nowhere&#x27; in this graph" in response.content.decode()


def test_as_of_a_date_before_the_edges_existed(viewer, shop):
    EdgeEvidence.objects.update(first_seen=timezone.now() - timedelta(days=3))
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    html = viewer.get("/lineage/", {"as_of": yesterday}).content.decode()
    assert "as of" in html and "orders" in html
    long_ago = (timezone.localdate() - timedelta(days=30)).isoformat()
    html = viewer.get("/lineage/", {"as_of": long_ago}).content.decode()
    assert "No lineage yet for these filters" in html  # neither edges nor topics existed then


@pytest.mark.parametrize(
    "params, field",
    [
        ({"focus": "topic:c1/nope"}, "focus"),
        ({"up": "-1"}, "up"),
        ({"down": "99"}, "down"),
        ({"as_of": "yesterday"}, "as_of"),
        ({"as_of": "2999-01-01"}, "as_of"),
        ({"cluster": "nope"}, "cluster"),
        ({"domain": "<script>"}, "domain"),
        ({"collapse": "sideways"}, "collapse"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_a_form_error(viewer, shop, params, field):
    response = viewer.get("/lineage/", params)
    assert response.status_code == 400
    html = response.content.decode()
    assert f"<strong>{field}</strong>" in html
    assert "<script>" not in html.split("</header>")[-1] or "&lt;script&gt;" in html
    assert "Plotly.newPlot" not in html


def test_collapse_by_domain_and_auto_collapse(viewer, shop):
    html = viewer.get("/lineage/", {"collapse": "domain"}).content.decode()
    names = {label for t in node_traces(html) for label in t["text"]}
    assert names == {"Sales (3)", "Stock (2)", "(none) (3)"} or all("(" in n for n in names)
    urls = [u for t in node_traces(html) for u in t["customdata"] if u]
    assert any("domain=sales" in u and "collapse=none" in u for u in urls)

    # Above the threshold the page collapses by itself and says so.
    cluster = shop["cluster"]
    now = timezone.now()
    EdgeEvidence.objects.bulk_create(
        EdgeEvidence(
            cluster=cluster,
            source=f"service:bulk-{n}",
            target=f"topic:c1/bulk-{n}",
            kind="declared",
            count=1,
            first_seen=now,
            last_seen=now,
        )
        for n in range(AUTO_COLLAPSE_ABOVE // 2 + 1)
    )
    html = viewer.get("/lineage/").content.decode()
    assert "the drawing shows one node per domain" in html
    assert len([x for t in node_traces(html) for x in t["x"]]) <= 4
    html = viewer.get("/lineage/", {"collapse": "none"}).content.decode()
    assert len([x for t in node_traces(html) for x in t["x"]]) > AUTO_COLLAPSE_ABOVE


def test_user_content_is_escaped(viewer, shop):
    documentation.service_create(name="<img src=x onerror=alert(1)>")
    from catalog.models import Service

    evil = Service.objects.get(name__startswith="<img")
    documentation.relation_create(service=evil, direction="produces", topic=shop["placed"])
    refresh_edges(shop["cluster"])
    html = viewer.get("/lineage/").content.decode()
    assert "<img src=x" not in html
    page = viewer.get(f"/catalog/services/{evil.slug}/").content.decode()
    assert "<img src=x" not in page


def test_small_view_on_catalog_pages(viewer, shop):
    html = viewer.get("/catalog/topics/c1/placed/").content.decode()
    assert 'id="lineage-mini"' in html
    mini = html[html.index('id="lineage-mini"') :]
    assert f'href="/catalog/services/{shop["orders"].slug}/"' in mini  # upstream producer
    assert 'href="/catalog/consumer-groups/c1/inv-g/"' in mini  # downstream group
    assert "focus=topic%3Ac1%2Fplaced" in mini

    html = viewer.get(f"/catalog/services/{shop['orders'].slug}/").content.decode()
    mini = html[html.index('id="lineage-mini"') :]
    assert 'href="/catalog/topics/c1/placed/"' in mini  # downstream: the topic it produces
    assert "focus=service%3Aorders" in mini

    html = viewer.get(f"/catalog/event-types/{shop['event_type'].slug}/").content.decode()
    mini = html[html.index('id="lineage-mini"') :]
    assert "from its topic" in mini
    assert f'href="/catalog/services/{shop["orders"].slug}/"' in mini  # the topic's producer

    lonely = viewer.get("/catalog/topics/c1/lonely/").content.decode()
    assert "No producer or consumer is known yet" in lonely
    bare = documentation.event_type_create(name="Orphaned")
    html = viewer.get(f"/catalog/event-types/{bare.slug}/").content.decode()
    assert "has no topic yet" in html


def test_the_figure_dict_is_a_valid_plotly_figure(shop):
    """The page builds the figure as a plain dict (fast); Plotly's own validation accepts every key."""
    import plotly.graph_objects as go

    from lineage import charts
    from lineage.selectors import build_graph

    graph = build_graph()
    figure = charts.lineage_figure(graph, colour_by="team", highlight="topic:c1/placed", url_of=lambda n: "/x/")
    go.Figure(figure)  # raises ValueError on an unknown property or a bad value
    collapsed = charts.lineage_figure(graph.collapse("domain"))
    go.Figure(collapsed)


def test_the_page_costs_a_fixed_number_of_queries(viewer, shop, django_assert_num_queries):
    """Session, user, navigation role (3); the form's clusters, domains, teams (3); evidence rows, services,
    topics, groups (4). Nothing grows with the graph."""
    with django_assert_num_queries(10):
        viewer.get("/lineage/", {"collapse": "none"})
    now = timezone.now()
    EdgeEvidence.objects.bulk_create(
        EdgeEvidence(
            cluster=shop["cluster"],
            source=f"service:more-{n}",
            target="topic:c1/placed",
            kind="declared",
            count=1,
            first_seen=now,
            last_seen=now,
        )
        for n in range(50)
    )
    with django_assert_num_queries(10):
        response = viewer.get("/lineage/", {"collapse": "none"})
    assert "more-49" in response.content.decode()


def test_a_long_chain_is_drawn_wide_enough_for_its_labels():
    """Each layer is a column; when the labelled columns need more than a panel's width, the figure takes
    the width they need (the panel scrolls) instead of squeezing labels into each other."""
    from lineage import charts
    from lineage.graph import Edge, LineageGraph, Node

    def chain(length: int) -> LineageGraph:
        nodes = [Node(f"topic:c/step-{n}", "topic", f"shop.step.{n}.events") for n in range(length)]
        edges = [Edge(f"topic:c/step-{n}", f"topic:c/step-{n + 1}", {"declared"}) for n in range(length - 1)]
        return LineageGraph.build(nodes, edges)

    short = charts.lineage_figure(chain(4))["layout"]
    assert "width" not in short  # fits: the panel's width
    long = charts.lineage_figure(chain(14))["layout"]
    assert long["width"] >= 14 * charts.COLUMN_PX and long["autosize"] is False
    huge = charts.lineage_figure(chain(charts.LABELS_MAX_NODES + 1))["layout"]
    assert "width" not in huge  # no labels drawn: nothing to make room for
