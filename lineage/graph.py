"""The lineage graph and its algorithms: pure (no Django), plain dataclasses in, networkx inside.

Nodes are services, topics and consumer groups; an edge points the way data flows:

- ``service -> topic``: the service produces the topic;
- ``topic -> group``: the consumer group consumes the topic;
- ``group -> service``: the group belongs to the service;
- ``topic -> service``: the service declares it consumes the topic and no group of it is known.

Node ids are strings: ``service:<service name>``, ``topic:<cluster name>/<topic name>``,
``group:<cluster name>/<group id>``. A collapsed graph (:meth:`LineageGraph.collapse`) has one node per
domain or team, with ids ``domain:<name>`` / ``team:<name>``.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

import networkx as nx

__all__ = [
    "EVIDENCE_KINDS",
    "NODE_KINDS",
    "NO_GROUP",
    "Edge",
    "LineageGraph",
    "Node",
    "NodeId",
]

NodeId = str

NODE_KINDS = ("service", "topic", "group")
EVIDENCE_KINDS = ("declared", "discovered", "observed")
# Label of the collapsed node that gathers nodes without a domain (or team).
NO_GROUP = "(none)"

# Above this many nodes, betweenness is estimated from a fixed sample of sources (deterministic seed):
# the exact computation is O(V*E) in pure Python and would dominate the lineage page's time.
_EXACT_BETWEENNESS_MAX_NODES = 400
_BETWEENNESS_SAMPLE = 100


# --------------------------------------------------------------------------------------------------
# Plain data
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    id: NodeId
    kind: str  # "service" | "topic" | "group" (or "domain" / "team" in a collapsed graph)
    label: str
    domain: str | None = None
    team: str | None = None
    url: str | None = None
    stale: bool = False
    # Shown only for its connection to a filtered scope (another domain's topic next to this one's service):
    # its edges outside the scope are not in the graph, so structure reports leave it out.
    context: bool = False


class FrozenCounts(Mapping[str, int]):
    """A read-only evidence kind -> count mapping (copyable and picklable, unlike a mappingproxy)."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, int] | None = None) -> None:
        self._data = dict(data or {})

    def __getitem__(self, key: str) -> int:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        return dict(self._data) == dict(other) if isinstance(other, Mapping) else NotImplemented

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __repr__(self) -> str:
        return repr(self._data)

    def __reduce__(self):
        return (FrozenCounts, (self._data,))


@dataclass(frozen=True)
class Edge:
    source: NodeId
    target: NodeId
    evidence: frozenset[str]  # subset of EVIDENCE_KINDS
    counts: Mapping[str, int] = field(default_factory=dict, hash=False)  # evidence kind -> count
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    stale: bool = False

    def __post_init__(self) -> None:
        # Accept any iterable for evidence and freeze counts, so an Edge is really immutable.
        object.__setattr__(self, "evidence", frozenset(self.evidence))
        object.__setattr__(self, "counts", FrozenCounts(self.counts))

    @property
    def key(self) -> tuple[NodeId, NodeId]:
        return (self.source, self.target)


# --------------------------------------------------------------------------------------------------
# The graph
# --------------------------------------------------------------------------------------------------


class LineageGraph:
    """An immutable directed lineage graph. Build it with :meth:`build`."""

    def __init__(self, digraph: nx.DiGraph) -> None:
        self._g = digraph

    @classmethod
    def build(cls, nodes: Iterable[Node], edges: Iterable[Edge]) -> LineageGraph:
        """Build from nodes and edges. An edge whose endpoint is not among ``nodes`` gets a minimal node
        (kind from the id prefix) so that no edge is lost; a repeated edge is merged (evidence union)."""
        g = nx.DiGraph()
        for node in nodes:
            g.add_node(node.id, node=node)
        for edge in edges:
            for endpoint in (edge.source, edge.target):
                if endpoint not in g:
                    g.add_node(endpoint, node=_implicit_node(endpoint))
            if g.has_edge(edge.source, edge.target):
                edge = _merge_edges([g.edges[edge.source, edge.target]["edge"], edge], edge.source, edge.target)
            g.add_edge(edge.source, edge.target, edge=edge)
        return cls(g)

    # -- access ------------------------------------------------------------------------------------

    @property
    def nodes(self) -> list[Node]:
        return [data["node"] for _, data in self._g.nodes(data=True)]

    @property
    def edges(self) -> list[Edge]:
        return [data["edge"] for _, _, data in self._g.edges(data=True)]

    @property
    def node_ids(self) -> list[NodeId]:
        return list(self._g.nodes)

    def node(self, node_id: NodeId) -> Node:
        """The node with this id; KeyError if absent."""
        try:
            return self._g.nodes[node_id]["node"]
        except KeyError:
            raise KeyError(node_id) from None

    def edge(self, source: NodeId, target: NodeId) -> Edge:
        """The edge source -> target; KeyError if absent."""
        try:
            return self._g.edges[source, target]["edge"]
        except KeyError:
            raise KeyError((source, target)) from None

    def has_node(self, node_id: NodeId) -> bool:
        return node_id in self._g

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._g

    def __len__(self) -> int:
        return self._g.number_of_nodes()

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    @property
    def edge_count(self) -> int:
        return self._g.number_of_edges()

    def successors(self, node_id: NodeId) -> list[NodeId]:
        self._require(node_id)
        return list(self._g.successors(node_id))

    def predecessors(self, node_id: NodeId) -> list[NodeId]:
        self._require(node_id)
        return list(self._g.predecessors(node_id))

    def signature(self) -> str:
        """A digest of the graph's structure (node ids, edges and their stale flags): equal graphs have equal
        signatures, so results of the costlier algorithms can be cached under it."""
        digest = hashlib.blake2b(digest_size=16)
        for node_id in sorted(self._g.nodes):
            digest.update(node_id.encode() + b"\0")
        digest.update(b"\1")
        for source, target, data in sorted(self._g.edges(data=True), key=lambda e: (e[0], e[1])):
            digest.update(f"{source}\0{target}\0{int(data['edge'].stale)}\0".encode())
        return digest.hexdigest()

    def to_networkx(self) -> nx.DiGraph:
        """A copy of the underlying networkx graph (node attr ``node``, edge attr ``edge``)."""
        return self._g.copy()

    # -- traversal ---------------------------------------------------------------------------------

    def downstream(self, node_id: NodeId, max_depth: int | None = None) -> dict[NodeId, int]:
        """Every node reachable from ``node_id`` following the data flow, with its shortest depth (>= 1).
        The start node itself is excluded, even when it lies on a cycle."""
        return self._reach(self._g, node_id, max_depth)

    def upstream(self, node_id: NodeId, max_depth: int | None = None) -> dict[NodeId, int]:
        """Every node from which ``node_id`` is reachable, with its shortest depth (>= 1)."""
        return self._reach(self._g.reverse(copy=False), node_id, max_depth)

    def _reach(self, g: nx.DiGraph, node_id: NodeId, max_depth: int | None) -> dict[NodeId, int]:
        self._require(node_id)
        if max_depth is not None and max_depth < 0:
            raise ValueError("max_depth must be >= 0")
        depths = nx.single_source_shortest_path_length(g, node_id, cutoff=max_depth)
        depths.pop(node_id, None)
        return dict(depths)

    def paths(
        self, source: NodeId, target: NodeId, max_length: int | None = None, *, limit: int = 1000
    ) -> list[list[NodeId]]:
        """Simple paths from source to target (at most ``max_length`` edges, at most ``limit`` paths),
        shortest first."""
        self._require(source)
        self._require(target)
        if source == target:
            return [[source]]
        found = itertools.islice(nx.all_simple_paths(self._g, source, target, cutoff=max_length), limit)
        return sorted(found, key=lambda p: (len(p), p))

    def cycles(self, *, limit: int = 100, max_length: int | None = None) -> list[list[NodeId]]:
        """Elementary cycles (at most ``limit``, of at most ``max_length`` nodes), shortest first, each rotated
        to start at its smallest node id. A length bound keeps this fast on large, loopy graphs."""
        found = []
        for cycle in itertools.islice(nx.simple_cycles(self._g, length_bound=max_length), limit):
            i = cycle.index(min(cycle))
            found.append(cycle[i:] + cycle[:i])
        return sorted(found, key=lambda c: (len(c), c))

    # -- structure reports -------------------------------------------------------------------------

    def topics_without_producers(self) -> list[NodeId]:
        """Topics with no current (non-stale) incoming edge (context nodes aside)."""
        return sorted(
            n for n in self._nodes_of_kind("topic") if not any(not self._edge(p, n).stale for p in self._g.pred[n])
        )

    def topics_without_consumers(self) -> list[NodeId]:
        """Topics with no current (non-stale) outgoing edge (context nodes aside)."""
        return sorted(
            n for n in self._nodes_of_kind("topic") if not any(not self._edge(n, s).stale for s in self._g.succ[n])
        )

    def central_nodes(self, k: int = 10) -> list[tuple[NodeId, float]]:
        """The ``k`` nodes most flows pass through, highest first: betweenness centrality, as the number of
        (source, target) pairs of other nodes whose shortest paths run through the node (shared between
        equally short paths). Only nodes with a score > 0.

        Components of fewer than three nodes are left out (nothing can lie between two others there); on
        what remains, above a few hundred nodes the count is estimated from a fixed sample of sources
        (deterministic seed) and scaled up, as the exact computation is O(V*E) in pure Python."""
        if k <= 0:
            return []
        keep = [n for component in nx.weakly_connected_components(self._g) if len(component) >= 3 for n in component]
        if not keep:
            return []
        # A real graph, not a subgraph view: views filter on every access, which betweenness does a lot.
        g = self._g if len(keep) == len(self._g) else self._g.subgraph(keep).copy()
        if len(keep) <= _EXACT_BETWEENNESS_MAX_NODES:
            scores = nx.betweenness_centrality(g, normalized=False)
        else:
            scores = nx.betweenness_centrality(g, k=_BETWEENNESS_SAMPLE, normalized=False, seed=0)
        ranked = sorted(((node, s) for node, s in scores.items() if s > 0), key=lambda item: (-item[1], item[0]))
        return ranked[:k]

    def layers(self) -> dict[NodeId, int]:
        """A left-to-right layer per node for a layered drawing: the longest path to it once the edges that
        close cycles are set aside (depth-first from the sources, in id order), so producers sit left of
        their topics and topics left of their consumers, and a cycle still reads left to right."""
        back_edges = self._back_edges()
        dag = nx.DiGraph()
        dag.add_nodes_from(self._g)
        dag.add_edges_from((u, v) for u, v in self._g.edges if (u, v) not in back_edges)
        layer: dict[NodeId, int] = {}
        for node in nx.topological_sort(dag):
            preds = list(dag.predecessors(node))
            layer[node] = 1 + max(layer[p] for p in preds) if preds else 0
        return layer

    def _back_edges(self) -> set[tuple[NodeId, NodeId]]:
        g = self._g
        starts = sorted(n for n in g if g.in_degree(n) == 0) + sorted(g)
        state: dict[NodeId, int] = {}  # 1 on the DFS stack, 2 done
        back: set[tuple[NodeId, NodeId]] = set()
        for start in starts:
            if start in state:
                continue
            state[start] = 1
            stack = [(start, iter(sorted(g.successors(start))))]
            while stack:
                node, children = stack[-1]
                child = next(children, None)
                if child is None:
                    state[node] = 2
                    stack.pop()
                elif state.get(child) == 1:
                    back.add((node, child))
                elif child not in state:
                    state[child] = 1
                    stack.append((child, iter(sorted(g.successors(child)))))
        return back

    # -- derived graphs ----------------------------------------------------------------------------

    def subgraph(self, node_ids: Iterable[NodeId]) -> LineageGraph:
        """The induced subgraph on these node ids (unknown ids are ignored)."""
        keep = [n for n in node_ids if n in self._g]
        return LineageGraph(self._g.subgraph(keep).copy())

    def focus(self, node_id: NodeId, up: int, down: int) -> LineageGraph:
        """The induced subgraph on ``node_id``, the nodes at most ``up`` hops upstream and at most
        ``down`` hops downstream of it."""
        keep = {node_id}
        keep.update(self.upstream(node_id, max_depth=up))
        keep.update(self.downstream(node_id, max_depth=down))
        return self.subgraph(keep)

    def clusters(self) -> set[str]:
        """The clusters of the graph's topic and group nodes (from their ids, "topic:<cluster>/<name>")."""
        return {cluster for node_id in self._g if (cluster := _cluster_of(node_id))}

    def with_cluster_labels(self) -> LineageGraph:
        """The same graph with topics and groups labelled "<cluster>/<name>" when it spans several clusters
        (the same topic or group name may exist on each); unchanged (the same object) otherwise."""
        if len(self.clusters()) < 2:
            return self
        g = self._g.copy()
        for node_id, data in g.nodes(data=True):
            node = data["node"]
            cluster = _cluster_of(node_id)
            if cluster and node.kind in ("topic", "group") and not node.label.startswith(f"{cluster}/"):
                data["node"] = replace(node, label=f"{cluster}/{node.label}")
        return LineageGraph(g)

    def collapse(self, by: str) -> LineageGraph:
        """One node per domain (``by="domain"``) or team (``by="team"``); nodes without one go to a
        ``<by>:(none)`` node. Edges between groups are merged (evidence union, counts summed, seen times
        widened, stale only if all merged edges are stale); edges inside a group disappear."""
        if by not in ("domain", "team"):
            raise ValueError(f"cannot collapse by {by!r}: use 'domain' or 'team'")

        def group_of(node: Node) -> str:
            return getattr(node, by) or NO_GROUP

        members: dict[str, list[Node]] = {}
        for node in self.nodes:
            members.setdefault(group_of(node), []).append(node)
        nodes = [
            Node(
                id=f"{by}:{name}",
                kind=by,
                label=f"{name} ({len(group)})",
                domain=name if by == "domain" and name != NO_GROUP else None,
                team=name if by == "team" and name != NO_GROUP else None,
                stale=all(n.stale for n in group),
            )
            for name, group in sorted(members.items())
        ]
        grouped: dict[tuple[str, str], list[Edge]] = {}
        for edge in self.edges:
            source = f"{by}:{group_of(self.node(edge.source))}"
            target = f"{by}:{group_of(self.node(edge.target))}"
            if source != target:
                grouped.setdefault((source, target), []).append(edge)
        edges = [_merge_edges(group, source, target) for (source, target), group in grouped.items()]
        return LineageGraph.build(nodes, edges)

    # -- helpers -----------------------------------------------------------------------------------

    def _require(self, node_id: NodeId) -> None:
        if node_id not in self._g:
            raise KeyError(node_id)

    def _edge(self, source: NodeId, target: NodeId) -> Edge:
        return self._g.edges[source, target]["edge"]

    def _nodes_of_kind(self, kind: str) -> Iterator[NodeId]:
        return (n for n, data in self._g.nodes(data=True) if data["node"].kind == kind and not data["node"].context)


def _cluster_of(node_id: NodeId) -> str | None:
    kind, _, rest = node_id.partition(":")
    if kind not in ("topic", "group") or "/" not in rest:
        return None
    return rest.split("/", 1)[0] or None


def _implicit_node(node_id: NodeId) -> Node:
    kind, _, rest = node_id.partition(":")
    label = rest.split("/", 1)[1] if kind in ("topic", "group") and "/" in rest else rest
    return Node(id=node_id, kind=kind if kind in NODE_KINDS else "service", label=label or node_id)


def _merge_edges(edges: list[Edge], source: NodeId, target: NodeId) -> Edge:
    evidence: set[str] = set()
    counts: dict[str, int] = {}
    for edge in edges:
        evidence |= edge.evidence
        for kind, count in edge.counts.items():
            counts[kind] = counts.get(kind, 0) + count
    firsts = [e.first_seen for e in edges if e.first_seen is not None]
    lasts = [e.last_seen for e in edges if e.last_seen is not None]
    return Edge(
        source=source,
        target=target,
        evidence=frozenset(evidence),
        counts=counts,
        first_seen=min(firsts) if firsts else None,
        last_seen=max(lasts) if lasts else None,
        stale=all(e.stale for e in edges),
    )
