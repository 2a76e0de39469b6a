"""Unit tests of the pure lineage graph core (no database), with hypothesis property tests."""

from __future__ import annotations

from datetime import UTC, datetime

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lineage.graph import Edge, LineageGraph, Node

# --------------------------------------------------------------------------------------------------
# A small shop: orders -> orders.placed -> inventory's group -> inventory -> inventory.reserved -> ...
# --------------------------------------------------------------------------------------------------


def shop() -> LineageGraph:
    nodes = [
        Node("service:orders", "service", "orders", domain="sales", team="checkout", url="/s/orders/"),
        Node("service:inventory", "service", "inventory", domain="stock", team="warehouse"),
        Node("service:payments", "service", "payments", domain="money", team="payments"),
        Node("topic:c/orders.placed", "topic", "orders.placed", domain="sales", team="checkout"),
        Node("topic:c/inventory.reserved", "topic", "inventory.reserved", domain="stock", team="warehouse"),
        Node("topic:c/legacy", "topic", "legacy", domain="stock"),
        Node("topic:c/orphan", "topic", "orphan"),
        Node("group:c/inventory", "group", "inventory", domain="stock", team="warehouse"),
    ]
    t0, t1 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    edges = [
        Edge("service:orders", "topic:c/orders.placed", {"declared"}, {"declared": 1}, t0, t1),
        Edge("topic:c/orders.placed", "group:c/inventory", {"discovered", "observed"}, {"observed": 40}, t0, t1),
        Edge("group:c/inventory", "service:inventory", {"discovered"}),
        Edge("service:inventory", "topic:c/inventory.reserved", {"declared"}),
        Edge("topic:c/inventory.reserved", "service:payments", {"declared"}),
        Edge("service:payments", "topic:c/legacy", {"declared"}, stale=True),
    ]
    return LineageGraph.build(nodes, edges)


def test_downstream_and_upstream_with_depth():
    g = shop()
    assert g.downstream("service:orders") == {
        "topic:c/orders.placed": 1,
        "group:c/inventory": 2,
        "service:inventory": 3,
        "topic:c/inventory.reserved": 4,
        "service:payments": 5,
        "topic:c/legacy": 6,
    }
    assert g.downstream("service:orders", max_depth=2) == {"topic:c/orders.placed": 1, "group:c/inventory": 2}
    assert g.downstream("service:orders", max_depth=0) == {}
    assert g.upstream("service:inventory") == {
        "group:c/inventory": 1,
        "topic:c/orders.placed": 2,
        "service:orders": 3,
    }
    with pytest.raises(KeyError):
        g.downstream("service:nope")
    with pytest.raises(KeyError):
        g.node("topic:c/nope")
    with pytest.raises(ValueError):
        g.downstream("service:orders", max_depth=-1)


def test_paths_shortest_first_and_bounded():
    g = shop()
    assert g.paths("service:orders", "service:inventory") == [
        ["service:orders", "topic:c/orders.placed", "group:c/inventory", "service:inventory"]
    ]
    assert g.paths("service:orders", "service:inventory", max_length=2) == []
    assert g.paths("service:payments", "service:orders") == []


def test_topics_without_producers_or_consumers_ignore_stale_edges():
    g = shop()
    # legacy's only producer edge is stale; orphan has no edge at all.
    assert g.topics_without_producers() == ["topic:c/legacy", "topic:c/orphan"]
    assert g.topics_without_consumers() == ["topic:c/legacy", "topic:c/orphan"]


def test_cycles_are_found_and_rotated_to_their_smallest_id():
    g = LineageGraph.build(
        [],
        [
            Edge("service:b", "topic:c/x", {"declared"}),
            Edge("topic:c/x", "service:a", {"declared"}),
            Edge("service:a", "topic:c/y", {"declared"}),
            Edge("topic:c/y", "service:b", {"declared"}),
        ],
    )
    assert g.cycles() == [["service:a", "topic:c/y", "service:b", "topic:c/x"]]
    assert shop().cycles() == []
    # Implicit nodes get their kind and label from the id.
    assert g.node("topic:c/x") == Node("topic:c/x", "topic", "x")


def test_central_nodes_rank_the_pass_through_nodes():
    g = shop()
    # A chain of seven: orders, placed, group, inventory, reserved, payments, legacy. The middle node lies
    # on the paths of 3 x 3 pairs, its neighbours on 2 x 4.
    central = g.central_nodes(k=3)
    assert central[0] == ("service:inventory", 9.0)
    assert sorted(central[1:]) == [("group:c/inventory", 8.0), ("topic:c/inventory.reserved", 8.0)]
    assert "service:orders" not in dict(g.central_nodes(k=20))  # a pure source lies on no path between others


def test_focus_keeps_the_neighbourhood():
    g = shop()
    focused = g.focus("group:c/inventory", up=1, down=2)
    assert set(focused.node_ids) == {
        "group:c/inventory",
        "topic:c/orders.placed",
        "service:inventory",
        "topic:c/inventory.reserved",
    }
    assert focused.edge("topic:c/orders.placed", "group:c/inventory").counts == {"observed": 40}


def test_collapse_by_domain_merges_edges():
    g = shop().collapse("domain")
    assert {n.id for n in g.nodes} == {"domain:sales", "domain:stock", "domain:money", "domain:(none)"}
    assert g.node("domain:stock").label == "stock (4)"
    edge = g.edge("domain:sales", "domain:stock")
    assert edge.evidence == {"discovered", "observed"}
    assert edge.counts == {"observed": 40}
    assert edge.first_seen == datetime(2026, 1, 1, tzinfo=UTC)
    # payments -> legacy is the only money -> stock edge, and it is stale.
    assert g.edge("domain:money", "domain:stock").stale
    assert not g.edge("domain:stock", "domain:money").stale
    by_team = shop().collapse("team")
    assert "team:(none)" in by_team  # legacy and orphan have no team
    with pytest.raises(ValueError):
        shop().collapse("colour")


def test_layers_go_left_to_right_along_the_flow_even_through_a_cycle():
    layers = shop().layers()
    assert layers["service:orders"] < layers["topic:c/orders.placed"] < layers["group:c/inventory"]
    assert layers["group:c/inventory"] < layers["service:inventory"] < layers["topic:c/inventory.reserved"]
    cyclic = LineageGraph.build(
        [],
        [
            Edge("service:a", "topic:c/x", {"declared"}),
            Edge("topic:c/x", "service:b", {"declared"}),
            Edge("service:b", "topic:c/y", {"declared"}),
            Edge("topic:c/y", "service:a", {"declared"}),
        ],
    ).layers()
    assert sorted(cyclic.values()) == [0, 1, 2, 3]


def test_build_merges_repeated_edges_and_edges_are_immutable():
    g = LineageGraph.build(
        [],
        [
            Edge("service:a", "topic:c/x", {"declared"}, {"declared": 2}),
            Edge("service:a", "topic:c/x", {"observed"}, {"observed": 5}, stale=True),
        ],
    )
    edge = g.edge("service:a", "topic:c/x")
    assert edge.evidence == {"declared", "observed"}
    assert dict(edge.counts) == {"declared": 2, "observed": 5}
    assert not edge.stale
    with pytest.raises(TypeError):
        edge.counts["declared"] = 3  # type: ignore[index]
    assert hash(edge) == hash(Edge("service:a", "topic:c/x", frozenset({"declared", "observed"})))


# --------------------------------------------------------------------------------------------------
# Property tests on random graphs
# --------------------------------------------------------------------------------------------------

NODE_IDS = (
    [f"topic:c/t{i}" for i in range(6)] + [f"service:s{i}" for i in range(6)] + [f"group:c/g{i}" for i in range(4)]
)


@st.composite
def graphs(draw) -> LineageGraph:
    ids = draw(st.lists(st.sampled_from(NODE_IDS), min_size=1, max_size=len(NODE_IDS), unique=True))
    pairs = draw(st.lists(st.tuples(st.sampled_from(ids), st.sampled_from(ids)), max_size=40))
    edges = [Edge(a, b, {"declared"}) for a, b in pairs if a != b]
    nodes = [Node(i, i.split(":")[0], i) for i in ids]
    return LineageGraph.build(nodes, edges)


@settings(max_examples=200, deadline=None)
@given(graphs(), st.data())
def test_downstream_without_depth_is_the_transitive_closure(g, data):
    start = data.draw(st.sampled_from(g.node_ids))
    nxg = g.to_networkx()
    assert set(g.downstream(start)) == nx.descendants(nxg, start)
    assert set(g.upstream(start)) == nx.ancestors(nxg, start)
    # Depths are shortest path lengths.
    for node, depth in g.downstream(start).items():
        assert depth == nx.shortest_path_length(nxg, start, node) >= 1


@settings(max_examples=200, deadline=None)
@given(graphs(), st.data(), st.integers(min_value=0, max_value=6))
def test_depth_is_monotonic(g, data, depth):
    start = data.draw(st.sampled_from(g.node_ids))
    shallow = g.downstream(start, max_depth=depth)
    deeper = g.downstream(start, max_depth=depth + 1)
    assert set(shallow) <= set(deeper) <= set(g.downstream(start))
    assert all(d <= depth for d in shallow.values())
    # A node within the shallower bound keeps its depth.
    assert all(deeper[n] == d for n, d in shallow.items())
    # Exactly the nodes of the unbounded result within the bound.
    assert shallow == {n: d for n, d in g.downstream(start).items() if d <= depth}


@settings(max_examples=200, deadline=None)
@given(graphs(), st.data())
def test_upstream_and_downstream_mirror_each_other(g, data):
    x = data.draw(st.sampled_from(g.node_ids))
    y = data.draw(st.sampled_from(g.node_ids))
    assert (y in g.upstream(x)) == (x in g.downstream(y))
    if y in g.upstream(x):
        assert g.upstream(x)[y] == g.downstream(y)[x]


@settings(max_examples=200, deadline=None)
@given(graphs(), st.data(), st.integers(min_value=0, max_value=4), st.integers(min_value=0, max_value=4))
def test_focus_contains_exactly_the_nodes_within_n_hops(g, data, up, down):
    start = data.draw(st.sampled_from(g.node_ids))
    focused = g.focus(start, up=up, down=down)
    nxg = g.to_networkx()
    expected = (
        {start}
        | set(nx.single_source_shortest_path_length(nxg, start, cutoff=down))
        | set(nx.single_source_shortest_path_length(nxg.reverse(), start, cutoff=up))
    )
    assert set(focused.node_ids) == expected
    # Induced: every edge of g between kept nodes is kept, and no other.
    assert {(e.source, e.target) for e in focused.edges} == {
        (e.source, e.target) for e in g.edges if e.source in expected and e.target in expected
    }


@settings(max_examples=100, deadline=None)
@given(graphs())
def test_layers_respect_every_edge_outside_cycles_and_cycles_are_real(g):
    layers = g.layers()
    nxg = g.to_networkx()
    for edge in g.edges:
        if not nx.has_path(nxg, edge.target, edge.source):  # not on a cycle
            assert layers[edge.source] < layers[edge.target]
    for cycle in g.cycles():
        assert all(nxg.has_edge(a, b) for a, b in zip(cycle, cycle[1:] + cycle[:1], strict=True))


def test_signature_follows_the_structure():
    assert shop().signature() == shop().signature()
    changed = LineageGraph.build(
        shop().nodes, [*shop().edges, Edge("service:payments", "topic:c/orphan", {"observed"})]
    )
    assert changed.signature() != shop().signature()
    restaled = LineageGraph.build(
        shop().nodes, [Edge(e.source, e.target, e.evidence, stale=not e.stale) for e in shop().edges]
    )
    assert restaled.signature() != shop().signature()
