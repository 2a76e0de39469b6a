"""Drawings of a lineage graph: the page's Plotly figure (layered left to right) and the catalog pages'
small three-column view. Presentation only: positions, colours and line styles; no database."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import plotly.io as pio

from .graph import Edge, LineageGraph, Node, NodeId

__all__ = [
    "EDGE_STYLES",
    "MiniView",
    "edge_style",
    "lineage_figure",
    "lineage_figure_html",
    "mini_view",
]

PALETTE = (
    "#2f5bd3",
    "#1f8a4c",
    "#b7791f",
    "#7b4fc9",
    "#0f8b8d",
    "#d35f2f",
    "#c2185b",
    "#3f8f29",
    "#5a6fd8",
    "#8d6e63",
    "#00838f",
    "#ad1457",
)
NO_GROUP_COLOUR = "#8a94a6"
STALE_COLOUR = "#c3c8d1"
# Evidence kind -> (legend name, Plotly dash). The strongest kind an edge has decides its style.
EDGE_STYLES: dict[str, tuple[str, str]] = {
    "declared": ("declared", "solid"),
    "discovered": ("discovered", "dash"),
    "observed": ("observed", "dot"),
}
EDGE_COLOUR = "#55607a"
NODE_SYMBOLS = {
    "service": "square",
    "topic": "circle",
    "group": "diamond",
    "domain": "hexagon",
    "team": "hexagon",
}
# Labels are written next to nodes only up to this many nodes; beyond, they are in the hover text.
LABELS_MAX_NODES = 150
EDGE_HOVER_MAX_EDGES = 400
ROW_PX = 50  # vertical room per node with its label
ROW_PX_UNLABELLED = 16
# Longer labels are cut in the drawing (the hover text has them whole); small graphs have room for more.
LABEL_CHARS = 24
LABEL_CHARS_SMALL_GRAPH = 42
SMALL_GRAPH_NODES = 30
ZIGZAG = 0.35
# With labels, a column needs about this much width for its labels not to run into the next column's; a
# graph with more columns than the panel can hold that way gets that width and scrolls sideways.
COLUMN_PX = 135
AUTOSIZE_MAX_PX = 1100
COLUMN_MAX_ROWS = 60
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}


def edge_style(edge: Edge) -> str:
    """The legend entry an edge is drawn with: 'stale', else its strongest evidence kind."""
    if edge.stale:
        return "stale"
    for kind in EDGE_STYLES:
        if kind in edge.evidence:
            return kind
    return "declared"


# --------------------------------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------------------------------


def layered_positions(graph: LineageGraph) -> dict[NodeId, tuple[float, float]]:
    """x = column: the layers left to right along the data flow, a tall layer wrapped into several columns;
    y = rank within the layer, ordered by the mean rank of each node's predecessors (one barycentre sweep),
    so edges cross less."""
    layers = graph.layers()
    by_layer: dict[int, list[NodeId]] = {}
    for node_id, layer in layers.items():
        by_layer.setdefault(layer, []).append(node_id)
    rank: dict[NodeId, float] = {}
    for layer in sorted(by_layer):
        members = by_layer[layer]

        def barycentre(node_id: NodeId) -> tuple[float, str, str]:
            preds = [rank[p] for p in graph.predecessors(node_id) if p in rank]
            node = graph.node(node_id)
            return (sum(preds) / len(preds) if preds else float("inf"), node.kind, node.label)

        members.sort(key=barycentre)
        for i, node_id in enumerate(members):
            rank[node_id] = float(i)
    # A layer taller than COLUMN_MAX_ROWS wraps into several columns side by side (a thousand topics nobody
    # produces would otherwise make one unreadable column); x counts columns, so layers stay left to right.
    columns: list[list[NodeId]] = []
    for layer in sorted(by_layer):
        members = by_layer[layer]
        columns.extend(members[i : i + COLUMN_MAX_ROWS] for i in range(0, len(members), COLUMN_MAX_ROWS))
    tallest = max((len(c) for c in columns), default=1)
    positions = {}
    for x, members in enumerate(columns):
        # Centre short columns vertically; odd columns sit a little lower (a zigzag), so that their labels,
        # written below the node, do not run into the labels of the neighbouring columns, written above.
        offset = (tallest - len(members)) / 2 + (ZIGZAG if x % 2 else 0.0)
        for i, node_id in enumerate(members):
            positions[node_id] = (float(x), -(offset + i))
    return positions


# --------------------------------------------------------------------------------------------------
# The page's figure
# --------------------------------------------------------------------------------------------------


def colour_map(values: Iterable[str | None]) -> dict[str | None, str]:
    names = sorted({v for v in values if v})
    colours: dict[str | None, str] = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    colours[None] = NO_GROUP_COLOUR
    return colours


def lineage_figure(
    graph: LineageGraph,
    *,
    colour_by: str = "domain",
    highlight: NodeId | None = None,
    height: int | None = None,
    url_of: Callable[[Node], str | None] | None = None,
) -> dict:
    """The whole graph as a Plotly figure dict: one line trace per edge style (declared solid, discovered
    dashed, observed dotted, stale grey), arrowheads, and one marker trace per domain or team (the legend).
    Node URLs are in ``customdata`` for the click handler (static/lineage/lineage.js).

    A plain dict rather than plotly.graph_objects: validating a thousand-node figure trace by trace costs
    more than building it; a test validates the figure with plotly.graph_objects once."""
    positions = layered_positions(graph)
    data: list[dict] = []

    by_style: dict[str, list[Edge]] = {}
    for edge in graph.edges:
        by_style.setdefault(edge_style(edge), []).append(edge)
    edge_titled = False
    for style in (*EDGE_STYLES, "stale"):
        edges = by_style.get(style, [])
        if not edges:
            continue
        xs: list[float | None] = []
        ys: list[float | None] = []
        for edge in edges:
            (x0, y0), (x1, y1) = positions[edge.source], positions[edge.target]
            xs += [x0, x1, None]
            ys += [y0, y1, None]
        data.append(
            {
                "type": "scatter",
                "x": xs,
                "y": ys,
                "mode": "lines",
                "name": f"{style} edge",
                "meta": "edges",
                "legendgroup": f"edges-{style}",
                **({} if edge_titled else {"legendgrouptitle": {"text": "Edges"}}),
                "line": {
                    "color": STALE_COLOUR if style == "stale" else EDGE_COLOUR,
                    "width": 1.3,
                    "dash": EDGE_STYLES[style][1] if style in EDGE_STYLES else "solid",
                },
                "hoverinfo": "skip",
            }
        )
        edge_titled = True

    # Arrowheads: a marker 80% along each edge, turned along it (angleref "previous").
    ax: list[float | None] = []
    ay: list[float | None] = []
    sizes: list[int] = []
    for edge in graph.edges:
        (x0, y0), (x1, y1) = positions[edge.source], positions[edge.target]
        ax += [x0, round(x0 + 0.8 * (x1 - x0), 3), None]
        ay += [y0, round(y0 + 0.8 * (y1 - y0), 3), None]
        sizes += [0, 9, 0]
    if ax:
        data.append(
            {
                "type": "scatter",
                "x": ax,
                "y": ay,
                "mode": "markers",
                "showlegend": False,
                "hoverinfo": "skip",
                "marker": {"symbol": "arrow", "angleref": "previous", "size": sizes, "color": EDGE_COLOUR},
            }
        )

    # Edge details on hover (evidence kinds, counts, first/last seen): an invisible marker mid-edge. Only
    # for graphs small enough to read edge by edge; a thousand-node page would carry a lot of text for it.
    if graph.edge_count <= EDGE_HOVER_MAX_EDGES:
        mx: list[float] = []
        my: list[float] = []
        texts: list[str] = []
        for edge in graph.edges:
            (x0, y0), (x1, y1) = positions[edge.source], positions[edge.target]
            mx.append(round((x0 + x1) / 2, 3))
            my.append(round((y0 + y1) / 2, 3))
            texts.append(_edge_hover(graph, edge))
        data.append(
            {
                "type": "scatter",
                "x": mx,
                "y": my,
                "mode": "markers",
                "showlegend": False,
                "hovertext": texts,
                "hoverinfo": "text",
                "marker": {"size": 10, "opacity": 0, "color": EDGE_COLOUR},
            }
        )

    nodes = graph.nodes
    group_of = (lambda n: n.team) if colour_by == "team" else (lambda n: n.domain)
    colours = colour_map(group_of(n) for n in nodes)
    show_labels = len(nodes) <= LABELS_MAX_NODES
    by_group: dict[str | None, list[Node]] = {}
    for node in nodes:
        by_group.setdefault(group_of(node), []).append(node)
    for n_group, group in enumerate(sorted(by_group, key=lambda g: (g is None, g or ""))):
        members = by_group[group]
        trace = {
            "type": "scatter",
            "x": [positions[n.id][0] for n in members],
            "y": [positions[n.id][1] for n in members],
            "mode": "markers+text" if show_labels else "markers",
            "name": group or f"no {colour_by}",
            "legendgroup": f"nodes-{group}",
            "showlegend": False,
            "meta": "nodes",
            "textposition": ["bottom center" if positions[n.id][0] % 2 else "top center" for n in members],
            "textfont": {"size": 11},
            "hovertext": [_hover(n) for n in members],
            "hoverinfo": "text",
            "customdata": [(url_of(n) if url_of else n.url) or "" for n in members],
            "marker": {
                "symbol": [NODE_SYMBOLS.get(n.kind, "circle") for n in members],
                "size": [18 if n.id == highlight else 12 for n in members],
                "color": [STALE_COLOUR if n.stale else colours[group] for n in members],
                "line": {
                    "width": [3 if n.id == highlight else 1 for n in members],
                    "color": ["#111" if n.id == highlight else "#fff" for n in members],
                },
            },
        }
        if show_labels:
            limit = LABEL_CHARS_SMALL_GRAPH if len(nodes) <= SMALL_GRAPH_NODES else LABEL_CHARS
            trace["text"] = [_escape(_short(n.label, limit)) for n in members]
        data.append(trace)
        # The legend entry: a plain circle in the group's colour (a node trace mixes symbols), toggling the
        # group's nodes through the shared legendgroup.
        data.append(
            {
                "type": "scatter",
                "x": [None],
                "y": [None],
                "mode": "markers",
                "name": group or f"no {colour_by}",
                "legendgroup": f"nodes-{group}",
                **({} if n_group else {"legendgrouptitle": {"text": "Domain" if colour_by == "domain" else "Team"}}),
                "marker": {"symbol": "circle", "size": 11, "color": colours[group]},
                "hoverinfo": "skip",
            }
        )

    column_sizes: dict[float, int] = {}
    for x, _ in positions.values():
        column_sizes[x] = column_sizes.get(x, 0) + 1
    tallest = max(column_sizes.values(), default=1)
    layout = {
        "height": height or max(420, min(4000, 110 + tallest * (ROW_PX if show_labels else ROW_PX_UNLABELLED))),
        "margin": {"l": 10, "r": 10, "t": 10, "b": 40},
        "plot_bgcolor": "#fff",
        "paper_bgcolor": "#fff",
        "hovermode": "closest",
        "dragmode": "pan",
        # Below the plot, so the drawing gets the panel's whole width.
        "legend": {"orientation": "h", "groupclick": "togglegroup", "tracegroupgap": 2, "y": -0.02, "yanchor": "top"},
        # Room for the labels of the first and last layers.
        "xaxis": {"visible": False, "range": [-0.7, max(column_sizes, default=0) + 0.7], "fixedrange": False},
        "yaxis": {"visible": False, "range": [-(tallest - 1) - 0.9, 0.9]},
    }
    needed = 20 + len(column_sizes) * COLUMN_PX
    if show_labels and needed > AUTOSIZE_MAX_PX:
        layout.update(autosize=False, width=needed)
    return {"data": data, "layout": layout}


def _edge_hover(graph: LineageGraph, edge: Edge) -> str:
    kinds = []
    for kind in EDGE_STYLES:
        if kind in edge.evidence:
            count = edge.counts.get(kind)
            unit = " chains" if kind == "observed" else ""
            kinds.append(f"{kind} ({count}{unit})" if count else kind)
    lines = [
        f"{_escape(graph.node(edge.source).label)} → {_escape(graph.node(edge.target).label)}",
        ", ".join(kinds) + (" — stale" if edge.stale else ""),
    ]
    if edge.first_seen and edge.last_seen:
        lines.append(f"seen: first {edge.first_seen:%Y-%m-%d %H:%M}, last {edge.last_seen:%Y-%m-%d %H:%M} UTC")
    return "<br>".join(lines)


def _short(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _hover(node: Node) -> str:
    lines = [f"<b>{_escape(node.label)}</b> ({node.kind})"]
    if node.domain:
        lines.append(f"domain: {_escape(node.domain)}")
    if node.team:
        lines.append(f"team: {_escape(node.team)}")
    if node.stale:
        lines.append("stale")
    if node.url:
        lines.append("click to open its catalog page")
    return "<br>".join(lines)


def _escape(text: str) -> str:
    # Plotly renders a subset of HTML in hover text: names come from users and Kafka, so escape them.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def lineage_figure_html(figure: dict, *, div_id: str) -> str:
    """The figure as a <div> and its inline script (plotly.js comes from our static files)."""
    return pio.to_html(
        figure, include_plotlyjs=False, full_html=False, config=PLOTLY_CONFIG, div_id=div_id, validate=False
    )


# --------------------------------------------------------------------------------------------------
# The catalog pages' small view: upstream | node | downstream, as an SVG
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MiniNode:
    node: Node
    x: float
    y: float
    centre: bool

    @property
    def label_position(self) -> tuple[float, float, str]:
        """(x, y, text-anchor): above the centre node, left of upstream nodes, right of downstream ones."""
        if self.centre:
            return self.x, self.y - 12, "middle"
        if self.x < MINI_WIDTH / 2:
            return self.x - 12, self.y + 4, "end"
        return self.x + 12, self.y + 4, "start"

    @property
    def short_label(self) -> str:
        return _short(self.node.label, MINI_CENTRE_LABEL_CHARS if self.centre else MINI_LABEL_CHARS)


@dataclass(frozen=True)
class MiniEdge:
    x1: float
    y1: float
    x2: float
    y2: float
    style: str  # declared | discovered | observed | stale


@dataclass(frozen=True)
class MiniView:
    width: int
    height: int
    nodes: list[MiniNode]
    edges: list[MiniEdge]

    @property
    def empty(self) -> bool:
        return not self.edges


MINI_WIDTH = 720
MINI_ROW = 34
MINI_MAX_PER_SIDE = 12
MINI_LABEL_CHARS = 26
MINI_CENTRE_LABEL_CHARS = 44


def mini_view(graph: LineageGraph, centre: NodeId) -> MiniView:
    """Three columns: the nodes one hop upstream of ``centre``, the node, the nodes one hop downstream
    (at most MINI_MAX_PER_SIDE each side, by label)."""
    up = sorted(graph.predecessors(centre), key=lambda n: graph.node(n).label)[:MINI_MAX_PER_SIDE]
    down = sorted(graph.successors(centre), key=lambda n: graph.node(n).label)[:MINI_MAX_PER_SIDE]
    rows = max(len(up), len(down), 1)
    height = 30 + rows * MINI_ROW
    columns = {"up": MINI_WIDTH * 0.26, "centre": MINI_WIDTH * 0.5, "down": MINI_WIDTH * 0.74}

    def ys(count: int) -> list[float]:
        top = (height - count * MINI_ROW) / 2 + MINI_ROW / 2
        return [top + i * MINI_ROW for i in range(count)]

    cy = height / 2
    nodes = [MiniNode(graph.node(centre), columns["centre"], cy, True)]
    edges = []
    for node_id, y in zip(up, ys(len(up)), strict=True):
        nodes.append(MiniNode(graph.node(node_id), columns["up"], y, False))
        edges.append(MiniEdge(columns["up"] + 8, y, columns["centre"] - 8, cy, edge_style(graph.edge(node_id, centre))))
    for node_id, y in zip(down, ys(len(down)), strict=True):
        nodes.append(MiniNode(graph.node(node_id), columns["down"], y, False))
        edges.append(
            MiniEdge(columns["centre"] + 8, cy, columns["down"] - 8, y, edge_style(graph.edge(centre, node_id)))
        )
    return MiniView(width=MINI_WIDTH, height=int(height), nodes=nodes, edges=edges)
