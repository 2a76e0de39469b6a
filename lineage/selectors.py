"""Lineage reads shared by the pages, the impact analysis and the API: node ids of catalog objects, and the
lineage graph built from the stored evidence rows (optionally filtered, optionally as of a past date)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from django.core.cache import cache
from django.db.models import Q
from django.urls import reverse
from django.urls.converters import SlugConverter

from catalog.models import Cluster, ConsumerGroup, Domain, Service, Team, Topic

from .graph import Edge, LineageGraph, Node, NodeId
from .models import EdgeEvidence

__all__ = [
    "DownstreamGraph",
    "LineageFilterError",
    "build_graph",
    "build_neighbourhood",
    "central_nodes_cached",
    "downstream_graph",
    "group_node_id",
    "node_urls",
    "parse_node_id",
    "service_node_id",
    "service_teams",
    "topic_node_id",
]


class LineageFilterError(ValueError):
    """A filter names something that does not exist (an unknown cluster, domain or team)."""


# --------------------------------------------------------------------------------------------------
# Node ids
# --------------------------------------------------------------------------------------------------


def service_node_id(service: Service) -> NodeId:
    return f"service:{service.name}"


def topic_node_id(topic: Topic) -> NodeId:
    """Needs the topic's cluster (select_related("cluster"))."""
    return f"topic:{topic.cluster.name}/{topic.name}"


def group_node_id(group: ConsumerGroup) -> NodeId:
    """Needs the group's cluster (select_related("cluster"))."""
    return f"group:{group.cluster.name}/{group.group_id}"


def topic_node_id_of(cluster_name: str, topic_name: str) -> NodeId:
    return f"topic:{cluster_name}/{topic_name}"


def group_node_id_of(cluster_name: str, group_id: str) -> NodeId:
    return f"group:{cluster_name}/{group_id}"


def service_node_id_of(service_name: str) -> NodeId:
    return f"service:{service_name}"


def parse_node_id(node_id: str) -> tuple[str, str | None, str]:
    """(kind, cluster name or None, name) of a node id; ValueError when it is not one."""
    kind, sep, rest = node_id.partition(":")
    if not sep or not rest:
        raise ValueError(f"not a lineage node id: {node_id!r}")
    if kind == "service":
        return kind, None, rest
    if kind in ("topic", "group"):
        cluster, sep, name = rest.partition("/")
        if sep and cluster and name:
            return kind, cluster, name
    raise ValueError(f"not a lineage node id: {node_id!r}")


# --------------------------------------------------------------------------------------------------
# The graph
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Owner:
    domain: str | None
    team: str | None


def _resolve(model, value, label: str):
    """A Cluster / Domain / Team from an instance, a name or a slug; LineageFilterError when unknown."""
    if value is None or value == "":
        return None
    if isinstance(value, model):
        return value
    lookup = Q(name=value) if model is Cluster else Q(name=value) | Q(slug=value)
    found = model.objects.filter(lookup).first()
    if found is None:
        raise LineageFilterError(f"Unknown {label}: {value}")
    return found


def build_graph(
    *,
    cluster: Cluster | str | None = None,
    domain: Domain | str | None = None,
    team: Team | str | None = None,
    as_of: datetime | None = None,
    include_stale: bool = True,
) -> LineageGraph:
    """The lineage graph from the stored evidence.

    - ``cluster``: only edges of that cluster (services are shared between clusters).
    - ``domain`` / ``team``: only edges with at least one end in that domain / owned by that team, so the
      graph shows the group and its direct connections.
    - ``as_of``: the graph as it was then: evidence first seen by then; evidence gone stale by then is stale.
    - ``include_stale``: keep stale edges (drawn grey) or drop them.
    Raises LineageFilterError for an unknown cluster, domain or team name.
    """
    cluster = _resolve(Cluster, cluster, "cluster")
    domain = _resolve(Domain, domain, "domain")
    team = _resolve(Team, team, "team")

    rows = EdgeEvidence.objects.all()
    if cluster is not None:
        rows = rows.filter(cluster=cluster)
    if as_of is not None:
        rows = rows.filter(first_seen__lte=as_of)
    per_edge: dict[tuple[str, str], list[tuple[str, int, datetime, datetime, bool]]] = {}
    for source, target, kind, count, first_seen, last_seen, stale_since in rows.values_list(
        "source", "target", "kind", "count", "first_seen", "last_seen", "stale_since"
    ):
        stale = stale_since is not None and (as_of is None or stale_since <= as_of)
        if stale and not include_stale:
            continue
        if as_of is not None and last_seen > as_of:
            last_seen = as_of
        per_edge.setdefault((source, target), []).append((kind, count, first_seen, last_seen, stale))

    edges = [_edge_from_evidence(source, target, evidence) for (source, target), evidence in per_edge.items()]
    nodes = _catalog_nodes(cluster=cluster, as_of=as_of, edge_node_ids={n for e in edges for n in (e.source, e.target)})

    if domain is not None or team is not None:
        all_nodes = nodes

        def in_scope(node: Node) -> bool:
            return (domain is None or node.domain == domain.name) and (team is None or node.team == team.name)

        scope = {node_id for node_id, node in nodes.items() if in_scope(node)}
        edges = [e for e in edges if e.source in scope or e.target in scope]
        neighbours = {n for e in edges for n in (e.source, e.target)} - scope
        nodes = {node_id: node for node_id, node in nodes.items() if node_id in scope}
        nodes.update({node_id: replace(all_nodes[node_id], context=True) for node_id in neighbours})

    return LineageGraph.build(nodes.values(), edges)


def build_neighbourhood(node_id: NodeId, *, up: int = 1, down: int = 1, include_stale: bool = True) -> LineageGraph:
    """The graph around one node: the nodes at most ``up`` hops upstream and ``down`` downstream and the edges
    between them, reading only those evidence rows (the catalog pages' small view)."""
    per_edge: dict[tuple[str, str], list[tuple[str, int, datetime, datetime, bool]]] = {}

    def collect(frontier: set[str], column: str) -> set[str]:
        rows = EdgeEvidence.objects.filter(**{f"{column}__in": frontier})
        if not include_stale:
            rows = rows.filter(stale_since__isnull=True)
        reached = set()
        for source, target, kind, count, first_seen, last_seen, stale_since in rows.values_list(
            "source", "target", "kind", "count", "first_seen", "last_seen", "stale_since"
        ):
            evidence = per_edge.setdefault((source, target), [])
            if all(row[0] != kind for row in evidence):
                evidence.append((kind, count, first_seen, last_seen, stale_since is not None))
            reached.add(target if column == "source" else source)
        return reached

    for column, hops in (("source", down), ("target", up)):
        frontier, seen = {node_id}, {node_id}
        for _ in range(hops):
            frontier = collect(frontier, column) - seen
            seen |= frontier
            if not frontier:
                break
    edges = [_edge_from_evidence(source, target, evidence) for (source, target), evidence in per_edge.items()]
    ids = {node_id} | {n for e in edges for n in (e.source, e.target)}
    nodes = _catalog_nodes(cluster=None, as_of=None, edge_node_ids=ids, only=True)
    graph = LineageGraph.build(nodes.values(), edges)
    # Edges among the reached nodes that were read from one side only are fine; keep exactly the focus.
    return graph.focus(node_id, up=up, down=down)


_SLUG_CHARS = re.compile(SlugConverter.regex)

# Ids per `IN (...)` query: under the 999 parameters Django assumes of SQLite.
IN_BATCH = 900


class DownstreamGraph:
    """The current lineage graph (stale evidence left out) restricted to what lies downstream of some topics:
    what the impact analysis walks, read without building the whole graph.

    It holds every current edge out of every node reachable from the start topics, so `successors` of any of
    those nodes is what `build_graph(include_stale=False)` gives, in the same order. Nodes carry kind and label
    only (no domain, team or url: `node_urls` gives the url of the few that need one). `has_node` answers as
    the whole graph does for the start topics and every node downstream of them.
    """

    def __init__(self, nodes: dict[NodeId, Node], successors: dict[NodeId, list[NodeId]]) -> None:
        self._nodes = nodes
        self._successors = successors

    @property
    def nodes(self) -> list[Node]:
        return list(self._nodes.values())

    def has_node(self, node_id: NodeId) -> bool:
        return node_id in self._nodes

    def successors(self, node_id: NodeId) -> list[NodeId]:
        return list(self._successors.get(node_id, ()))

    def __len__(self) -> int:
        return len(self._nodes)

    @property
    def edge_count(self) -> int:
        return sum(len(targets) for targets in self._successors.values())


def downstream_graph(topics: Sequence[Topic]) -> DownstreamGraph:
    """The part of the current lineage graph downstream of catalog topics (rows with their cluster selected).

    A breadth-first walk over the evidence rows: each step reads the current edges out of the nodes it reached
    (`source IN (...)` in batches of `IN_BATCH`, on the source index), ordered as `build_graph` reads them, so
    a walk meets successors in the same order. Same edges as `build_graph(include_stale=False)`: any cluster,
    any evidence kind, an edge is current when one of its evidence rows is not stale. Plain indexed lookups
    rather than one recursive query: PostgreSQL plans a recursive join by its statistics, and without them (a
    table just filled) it picked a nested loop over the whole table, tens of seconds on 30,000 edges.
    """
    starts = list(dict.fromkeys(topic_node_id(topic) for topic in topics))
    successors: dict[NodeId, list[NodeId]] = {}
    seen = set(starts)
    frontier = starts
    while frontier:
        reached: list[NodeId] = []
        for batch in _batches(frontier):
            rows = (
                EdgeEvidence.objects.filter(source__in=batch, stale_since__isnull=True)
                .order_by("source", "target")
                .values_list("source", "target")
            )
            previous = None
            for source, target in rows:
                if (source, target) == previous:
                    continue  # one row per evidence kind: the same edge, adjacent
                previous = (source, target)
                successors.setdefault(source, []).append(target)
                if target not in seen:
                    seen.add(target)
                    reached.append(target)
        frontier = reached

    nodes: dict[NodeId, Node] = {}
    for node_id in itertools.chain(successors, *successors.values()):
        if node_id not in nodes:
            kind, _, label = _safe_parse(node_id)
            nodes[node_id] = Node(id=node_id, kind=kind, label=label)
    # The whole graph also holds every topic of the catalog that is neither internal nor deleted, and the
    # ends of edges that lead into a start topic.
    missing = {topic_node_id(topic): topic for topic in topics}
    for node_id, topic in list(missing.items()):
        if node_id in nodes or (not topic.internal and topic.deleted_at is None):
            nodes.setdefault(node_id, Node(id=node_id, kind="topic", label=topic.name))
            del missing[node_id]
    for batch in _batches(list(missing)):
        ends = EdgeEvidence.objects.filter(target__in=batch, stale_since__isnull=True).order_by()
        for node_id in ends.values_list("target", flat=True).distinct():
            nodes[node_id] = Node(id=node_id, kind="topic", label=missing[node_id].name)
    return DownstreamGraph(nodes, successors)


def node_urls(node_ids: Iterable[NodeId]) -> dict[NodeId, str | None]:
    """The catalog page of each service and consumer group node (None when the catalog has no such object), as
    `build_graph` gives them; other nodes map to None."""
    urls: dict[NodeId, str | None] = {}
    services: dict[str, NodeId] = {}
    groups: dict[str, list[tuple[str, NodeId]]] = {}
    for node_id in dict.fromkeys(node_ids):
        urls[node_id] = None
        kind, cluster_name, name = _safe_parse(node_id)
        if kind == "service" and node_id == service_node_id_of(name):
            services[name] = node_id
        elif kind == "group":
            groups.setdefault(name, []).append((cluster_name, node_id))
    service_url = _service_url()
    for batch in _batches(list(services)):
        for name, slug in Service.objects.filter(name__in=batch).values_list("name", "slug"):
            if name in services:
                urls[services[name]] = service_url(slug)
    for batch in _batches(list(groups)):
        rows = ConsumerGroup.objects.filter(group_id__in=batch).values_list("cluster__name", "group_id")
        for cluster_name, group_id in rows:
            for wanted_cluster, node_id in groups.get(group_id, ()):
                if wanted_cluster == cluster_name:
                    urls[node_id] = reverse("catalog:consumer-group-detail", args=[cluster_name, group_id])
    return urls


def service_teams(names: Iterable[str]) -> dict[str, tuple[str | None, str | None]]:
    """(owner team name, contact channel or None) of each catalog service named; (None, None) without a team."""
    teams: dict[str, tuple[str | None, str | None]] = {}
    for batch in _batches(list(set(names))):
        rows = Service.objects.filter(name__in=batch).values_list(
            "name", "owner_team__name", "owner_team__contact_channel"
        )
        for name, team, contact in rows:
            teams[name] = (team, contact or None) if team is not None else (None, None)
    return teams


_SLUG_PLACEHOLDER = "eventscope-slug-placeholder"


def _service_url() -> Callable[[str], str]:
    """`reverse("catalog:service-detail", args=[slug])`, resolved once: a slug (the converter's characters, none
    of which is quoted) goes in place of a placeholder. Thousands of consumers would otherwise spend a
    noticeable part of the impact analysis in `reverse`. Anything else still goes through `reverse`."""
    head, _, tail = reverse("catalog:service-detail", args=[_SLUG_PLACEHOLDER]).rpartition(_SLUG_PLACEHOLDER)

    def url(slug: str) -> str:
        if _SLUG_CHARS.fullmatch(slug):
            return f"{head}{slug}{tail}"
        return reverse("catalog:service-detail", args=[slug])

    return url


def _batches(items: list) -> Iterable[list]:
    for start in range(0, len(items), IN_BATCH):
        yield items[start : start + IN_BATCH]


CENTRAL_NODES_CACHE_S = 600


def central_nodes_cached(graph: LineageGraph, k: int = 10) -> list[tuple[NodeId, float]]:
    """LineageGraph.central_nodes, cached under the graph's signature: betweenness is the costliest part of
    the lineage page, and the graph only changes when a refresh or an edit changes its structure."""
    key = f"lineage:central:{graph.signature()}:{k}"
    found = cache.get(key)
    if found is None:
        found = graph.central_nodes(k)
        cache.set(key, found, CENTRAL_NODES_CACHE_S)
    return [tuple(item) for item in found]


def _edge_from_evidence(source: str, target: str, evidence: list[tuple[str, int, datetime, datetime, bool]]) -> Edge:
    current = [row for row in evidence if not row[4]]
    shown = current or evidence  # a stale edge still tells which kinds of evidence it had
    return Edge(
        source=source,
        target=target,
        evidence=frozenset(row[0] for row in shown),
        counts={row[0]: row[1] for row in shown},
        first_seen=min(row[2] for row in evidence),
        last_seen=max(row[3] for row in evidence),
        stale=not current,
    )


def _catalog_nodes(
    *, cluster: Cluster | None, as_of: datetime | None, edge_node_ids: Iterable[str], only: bool = False
) -> dict[str, Node]:
    """Nodes for every edge end, plus (unless ``only``) every (non-internal) topic of the scope, so topics
    without producers or consumers show up. Domain and team: the object's own, else its owner team's domain
    (topics and services), a group's those of its service. Rows are read as tuples (values_list): a
    thousand-node graph would otherwise spend most of its time building model instances."""
    wanted = set(edge_node_ids)
    nodes: dict[str, Node] = {}

    services = Service.objects.all()
    topics = Topic.objects.all()
    groups = ConsumerGroup.objects.all()
    if only:
        parsed = [_safe_parse(node_id) for node_id in wanted]
        topics = topics.filter(_name_filter(parsed, "topic", "name"))
        groups = groups.filter(_name_filter(parsed, "group", "group_id"))
        group_services = groups.exclude(service=None).values_list("service__name", flat=True)
        services = services.filter(Q(name__in=[n for k, _, n in parsed if k == "service"]) | Q(name__in=group_services))
    if cluster is not None:
        topics = topics.filter(cluster=cluster)
        groups = groups.filter(cluster=cluster)
    if as_of is not None:
        topics = topics.filter(first_seen__lte=as_of)

    owner_of_service: dict[str, _Owner] = {}
    for name, slug, domain, team, team_domain in services.values_list(
        "name", "slug", "domain__name", "owner_team__name", "owner_team__domain__name"
    ):
        owner = owner_of_service[name] = _Owner(domain=domain or team_domain, team=team)
        node_id = service_node_id_of(name)
        if node_id in wanted:
            nodes[node_id] = Node(
                id=node_id,
                kind="service",
                label=name,
                domain=owner.domain,
                team=owner.team,
                url=reverse("catalog:service-detail", args=[slug]),
            )

    for cluster_name, name, internal, deleted_at, domain, team, team_domain in topics.values_list(
        "cluster__name",
        "name",
        "internal",
        "deleted_at",
        "domain__name",
        "owner_team__name",
        "owner_team__domain__name",
    ):
        node_id = topic_node_id_of(cluster_name, name)
        gone = deleted_at is not None and (as_of is None or deleted_at <= as_of)
        if node_id not in wanted and (only or internal or gone):
            continue
        nodes[node_id] = Node(
            id=node_id,
            kind="topic",
            label=name,
            domain=domain or team_domain,
            team=team,
            url=reverse("catalog:topic-detail", args=[cluster_name, name]),
            stale=gone,
        )

    if any(node_id.startswith("group:") for node_id in wanted):
        for cluster_name, group_id, service_name, deleted_at in groups.values_list(
            "cluster__name", "group_id", "service__name", "deleted_at"
        ):
            node_id = group_node_id_of(cluster_name, group_id)
            if node_id not in wanted:
                continue
            owner = owner_of_service.get(service_name) if service_name else None
            nodes[node_id] = Node(
                id=node_id,
                kind="group",
                label=group_id,
                domain=owner.domain if owner else None,
                team=owner.team if owner else None,
                url=reverse("catalog:consumer-group-detail", args=[cluster_name, group_id]),
                stale=deleted_at is not None and (as_of is None or deleted_at <= as_of),
            )

    # Ends whose catalog object is gone (a renamed service, an unknown producer seen in traffic).
    for node_id in wanted - nodes.keys():
        kind, _, name = _safe_parse(node_id)
        nodes[node_id] = Node(id=node_id, kind=kind, label=name, stale=kind != "service")
    return nodes


def _name_filter(parsed: list[tuple[str, str | None, str]], kind: str, field: str) -> Q:
    """Match (cluster name, name) pairs of one kind; matches nothing when there are none."""
    condition = Q(pk__in=[])
    for node_kind, cluster_name, name in parsed:
        if node_kind == kind:
            condition |= Q(cluster__name=cluster_name, **{field: name})
    return condition


def _safe_parse(node_id: str) -> tuple[str, str | None, str]:
    try:
        return parse_node_id(node_id)
    except ValueError:
        return "service", None, node_id
