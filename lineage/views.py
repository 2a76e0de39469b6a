"""HTML views of lineage: no business logic here (reads in lineage.selectors, page rules in
lineage.overview, drawing in lineage.charts)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from catalog.models import Domain, Team

from . import charts, selectors
from .forms import LineageFilterForm
from .graph import Node
from .overview import AUTO_COLLAPSE_ABOVE, CYCLE_SHOWN_NODES, lineage_overview

PLOTLY_JS = "vendor/plotly-4.1.1.min.js"


@dataclass(frozen=True)
class NodeRow:
    node: Node
    focus_url: str
    score: float | None = None

    @property
    def score_text(self) -> str:
        if self.score is None:
            return ""
        paths = round(self.score)
        return f"{paths:,} path{'' if paths == 1 else 's'}" if paths >= 1 else f"{self.score:.2f} paths"


@require_GET
def index(request):
    form = LineageFilterForm(request.GET)  # every field is optional: an empty query is valid
    context = {"form": form, "plotly_js": PLOTLY_JS, "auto_collapse_above": AUTO_COLLAPSE_ABOVE}
    if not form.is_valid():
        return render(request, "lineage/index.html", context, status=400)
    options = form.options()
    try:
        graph = selectors.build_graph(
            cluster=options["cluster"],
            domain=options["domain"],
            team=options["team"],
            as_of=options["as_of"],
            include_stale=options["include_stale"],
        )
    except selectors.LineageFilterError as exc:  # deleted between the form's check and the query
        form.add_error(None, str(exc))
        return render(request, "lineage/index.html", context, status=400)
    focus = _resolve_focus(graph, options["focus"])  # a bare name matches before labels carry their cluster
    graph = graph.with_cluster_labels()  # several clusters: "<cluster>/<name>", as names repeat across them
    try:
        overview = lineage_overview(
            graph,
            focus=focus,
            up=options["up"],
            down=options["down"],
            collapse=options["collapse"],
            central_nodes=selectors.central_nodes_cached,
        )
    except KeyError:
        form.add_error(
            "focus",
            f"No node {options['focus']!r} in this graph (check the filters; a node id such as "
            "service:payments or topic:CLUSTER/NAME, or a name that only one node has).",
        )
        return render(request, "lineage/index.html", context, status=400)

    def focus_url(node_id: str) -> str:
        params = {key: value for key, value in request.GET.items() if value and key != "focus"}
        params["focus"] = node_id
        return "?" + urlencode(params)

    def rows(nodes: list[Node]) -> list[NodeRow]:
        return [NodeRow(node, focus_url(node.id)) for node in nodes]

    figure = charts.lineage_figure(
        overview.shown,
        colour_by=options["colour"],
        highlight=overview.focus.id if overview.focus else None,
        url_of=_collapsed_url(request, overview.collapsed_by) if overview.collapsed_by else None,
    )
    unfocus = {key: value for key, value in request.GET.items() if value and key not in ("focus", "up", "down")}
    expand = {key: value for key, value in request.GET.items() if value and key != "collapse"} | {"collapse": "none"}
    context.update(
        {
            "graph": overview.graph,
            "overview": overview,
            "figure_html": charts.lineage_figure_html(figure, div_id="lineage-figure") if len(graph) else "",
            "all_nodes": sorted(graph.nodes, key=lambda n: n.id),
            "cycles": [
                {
                    "shown": rows(cycle[:CYCLE_SHOWN_NODES]),
                    "length": len(cycle),
                    "closed": len(cycle) <= CYCLE_SHOWN_NODES,
                }
                for cycle in overview.cycles
            ],
            "without_producers": rows(overview.without_producers),
            "without_consumers": rows(overview.without_consumers),
            "central": [NodeRow(node, focus_url(node.id), score) for node, score in overview.central],
            "more_without_producers": overview.without_producers_total - len(overview.without_producers),
            "more_without_consumers": overview.without_consumers_total - len(overview.without_consumers),
            "unfocus_url": "?" + urlencode(unfocus),
            "expand_url": "?" + urlencode(expand),
            "options": options,
        }
    )
    return render(request, "lineage/index.html", context)


def _collapsed_url(request, by: str):
    """A collapsed node opens the page filtered to its domain (or team), every node shown."""
    model = Domain if by == "domain" else Team
    slugs = dict(model.objects.values_list("name", "slug"))
    base = reverse("lineage:index")

    def url_of(node: Node) -> str | None:
        name = node.domain if by == "domain" else node.team
        if name not in slugs:
            return None
        params = {key: value for key, value in request.GET.items() if value and key not in ("collapse", "focus")}
        params.update({by: slugs[name], "collapse": "none"})
        return f"{base}?{urlencode(params)}"

    return url_of


def _resolve_focus(graph, focus: str | None) -> str | None:
    """A node id as is; else a bare name ("payments", "shop.orders.placed") that is the label of exactly one
    node, a service first (a service and its group often share a name). Unknown names stay as typed, for the
    form error."""
    if not focus or focus in graph:
        return focus
    named = [node for node in graph if node.label == focus]
    services = [node for node in named if node.kind == "service"]
    if len(services) == 1:
        return services[0].id
    return named[0].id if len(named) == 1 else focus
