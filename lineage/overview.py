"""What the lineage page shows, from a built graph: the focus, the (automatic) collapse and the side lists.
Pure: no Django, only lineage.graph."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .graph import LineageGraph, Node, NodeId

__all__ = ["AUTO_COLLAPSE_ABOVE", "COLLAPSE_CHOICES", "CYCLE_SHOWN_NODES", "LineageOverview", "lineage_overview"]

# Above this many nodes the drawing collapses by domain unless the user asks for every node.
AUTO_COLLAPSE_ABOVE = 300
COLLAPSE_CHOICES = ("auto", "none", "domain", "team")
LIST_LIMIT = 10
# A listed cycle shows at most this many nodes (a big graph's cycles can be long).
CYCLE_SHOWN_NODES = 8


@dataclass(frozen=True)
class LineageOverview:
    graph: LineageGraph  # the graph the lists describe (filtered, focused)
    shown: LineageGraph  # the graph drawn (maybe collapsed)
    focus: Node | None
    collapsed_by: str | None
    auto_collapsed: bool
    cycles: list[list[Node]]
    without_producers: list[Node]
    without_consumers: list[Node]
    without_producers_total: int
    without_consumers_total: int
    central: list[tuple[Node, float]]


def lineage_overview(
    graph: LineageGraph,
    *,
    focus: NodeId | None = None,
    up: int = 2,
    down: int = 2,
    collapse: str = "auto",
    central_k: int = 10,
    central_nodes: Callable[[LineageGraph, int], list[tuple[NodeId, float]]] | None = None,
) -> LineageOverview:
    """Focus (KeyError for an unknown node), then collapse: "domain"/"team" always, "auto" by domain above
    AUTO_COLLAPSE_ABOVE nodes, "none" never. ``central_nodes`` replaces ``LineageGraph.central_nodes`` (the
    page passes a cached one)."""
    if collapse not in COLLAPSE_CHOICES:
        raise ValueError(f"collapse must be one of {', '.join(COLLAPSE_CHOICES)}")
    focus_node = None
    # Measured before the focus cuts edges off: a topic at the focus's edge still has its producers.
    no_producers, no_consumers = graph.topics_without_producers(), graph.topics_without_consumers()
    if focus:
        focus_node = graph.node(focus)
        graph = graph.focus(focus, up=up, down=down)
        no_producers = [n for n in no_producers if n in graph]
        no_consumers = [n for n in no_consumers if n in graph]
    collapsed_by = collapse if collapse in ("domain", "team") else None
    auto = collapse == "auto" and len(graph) > AUTO_COLLAPSE_ABOVE
    if auto:
        collapsed_by = "domain"
    shown = graph.collapse(collapsed_by) if collapsed_by else graph
    return LineageOverview(
        graph=graph,
        shown=shown,
        focus=focus_node,
        collapsed_by=collapsed_by,
        auto_collapsed=auto,
        cycles=[[graph.node(n) for n in cycle] for cycle in graph.cycles(limit=LIST_LIMIT)],
        without_producers=[graph.node(n) for n in no_producers[:LIST_LIMIT]],
        without_consumers=[graph.node(n) for n in no_consumers[:LIST_LIMIT]],
        without_producers_total=len(no_producers),
        without_consumers_total=len(no_consumers),
        central=[
            (graph.node(n), score)
            for n, score in (central_nodes(graph, central_k) if central_nodes else graph.central_nodes(central_k))
        ],
    )
