"""HTML views of monitoring and traces: no business logic here (reads in monitoring.selectors, rules in
monitoring.traces and monitoring.flows). The trace timeline figure is built in monitoring.charts; figures render
server-side to a <div> and plotly.js comes from our own static files."""

from __future__ import annotations

import os
from dataclasses import dataclass

import plotly.graph_objects as go
import plotly.io as pio
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from catalog.cluster_choice import cluster_choice

from . import charts, payloads, selectors
from .extraction import EXCERPT_CUT_MARKER
from .models import TraceEvent
from .traces import Hop, is_dead_letter_topic, pretty_payload

PLOTLY_JS = charts.PLOTLY_JS
WINDOWS = selectors.WINDOWS
STUCK_AFTER = selectors.STUCK_AFTER
LATENCY_WINDOWS = selectors.LATENCY_WINDOWS


def _figure_html(figure: go.Figure) -> str:
    return pio.to_html(
        figure, include_plotlyjs=False, full_html=False, config={"displaylogo": False, "responsive": True}
    )


def _choice(request, name: str, choices: dict, default: str) -> str:
    value = request.GET.get(name, default)
    return value if value in choices else default


# ---------------------------------------------------------------------------------------------
# The hub
# ---------------------------------------------------------------------------------------------
@require_GET
def index(request):
    return render(request, "monitoring/index.html")


# ---------------------------------------------------------------------------------------------
# One trace
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HopRow:
    hop: Hop
    topic_url: str
    event_type_url: str
    producer_url: str
    payload: str
    payload_is_json: bool
    payload_truncated: bool
    dead_letter: bool


@require_GET
def trace_detail(request, correlation_id: str):
    """The chain of one correlation ID. An unknown ID that is a key or an event ID goes to its chain."""
    trace = selectors.trace_for(correlation_id)
    if trace is None:
        matches = selectors.trace_matches(correlation_id)
        if len(matches) == 1:
            return redirect("trace-detail", correlation_id=matches[0].correlation_id)
        context = {"correlation_id": correlation_id, "matches": matches, "query": correlation_id}
        return render(request, "monitoring/trace_not_found.html", context, status=200 if matches else 404)
    patterns = selectors.dead_letter_patterns()
    links = selectors.catalog_links(trace.events, services=[step.service for step in trace.end.expected_next])
    rows = []
    for hop in trace.hops:
        event = hop.event
        payload, is_json = pretty_payload(event.payload_excerpt, event.payload_encoding)
        rows.append(
            HopRow(
                hop=hop,
                topic_url=links.topic(event.cluster, event.topic),
                event_type_url=links.event_types.get(event.event_type, ""),
                producer_url=links.services.get(event.producer, ""),
                payload=payload,
                payload_is_json=is_json,
                # The record's size counts its key and raw (maybe Avro) bytes; only the cut marker is exact.
                payload_truncated=event.payload_excerpt.endswith(EXCERPT_CUT_MARKER),
                dead_letter=event.is_dead_letter or is_dead_letter_topic(event.topic, patterns),
            )
        )
    context = {
        "correlation_id": correlation_id,
        "trace": trace,
        "rows": rows,
        "end": trace.end,
        "links": links,
        "expected": [
            (step, links.services.get(step.service, ""), links.topic(trace.end.last_event.cluster, step.topic))
            for step in trace.end.expected_next
        ],
        "timeline": charts.trace_timeline(trace, patterns),
        "plotly_js": PLOTLY_JS,
        "api_url": reverse("api-trace-detail", args=[correlation_id]),
        # A chain across clusters names each hop's cluster: the same topic name may be on each.
        "several_clusters": len({event.cluster for event in trace.events}) > 1,
    }
    return render(request, "monitoring/trace_detail.html", context)


# ---------------------------------------------------------------------------------------------
# Flows and dead letters
# ---------------------------------------------------------------------------------------------
@require_GET
def flows(request):
    window = _choice(request, "window", WINDOWS, "24h")
    stuck_after = _choice(request, "stuck_after", STUCK_AFTER, "5m")
    clusters = cluster_choice(request.GET)
    flow_stats = selectors.flows_overview(
        window=WINDOWS[window], stuck_after=STUCK_AFTER[stuck_after], cluster=clusters.selected
    )
    context = {
        "clusters": clusters,
        "flows": flow_stats,
        "window": window,
        "windows": list(WINDOWS),
        "stuck_after": stuck_after,
        "stuck_choices": list(STUCK_AFTER),
        "stuck_total": sum(flow.stuck for flow in flow_stats),
    }
    return render(request, "monitoring/flows.html", context)


def _dead_letter_chart(per_hour) -> str:
    figure = go.Figure()
    by_topic: dict[str, tuple[list, list]] = {}
    for hour, topic, count in per_hour:
        hours, counts = by_topic.setdefault(topic, ([], []))
        hours.append(hour)
        counts.append(count)
    reds = ("#c0392b", "#e07b67", "#8e2a1f", "#f0a595", "#5f1b14")
    for index, (topic, (hours, counts)) in enumerate(by_topic.items()):
        figure.add_trace(go.Bar(x=hours, y=counts, name=topic, marker_color=reds[index % len(reds)]))
    figure.update_layout(
        barmode="stack",
        height=280,
        margin={"l": 10, "r": 10, "t": 10, "b": 40},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="#fbfcfe",
        legend={"orientation": "h", "y": -0.2},
        yaxis={"title": "dead letters per hour", "rangemode": "tozero", "automargin": True},
        font={"family": "system-ui, sans-serif", "size": 12},
    )
    return _figure_html(figure)


# ---------------------------------------------------------------------------------------------
# Latency
# ---------------------------------------------------------------------------------------------
def _shared_prefix(names: list[str]) -> str:
    """The dotted prefix every name shares ("shop." of shop.orders and shop.payments), "" if none or one name."""
    if len(names) < 2:
        return ""
    prefix = os.path.commonprefix(names)  # noqa: RUF071 - character-wise is meant: topic names are not paths
    return prefix[: prefix.rfind(".") + 1]


def _latency_box_chart(groups, *, axis_title: str) -> str:
    """Hop latency per group as box plots (from the sampled values), p50/p95/p99 beside them in the table."""
    figure = go.Figure()
    blues = ("#2f6db5", "#5b8fd0", "#1f4e85", "#8fb3e3", "#3c7a89", "#6a5acd")
    prefix = _shared_prefix([group.name for group in groups])  # topics of one prefix: label by the rest
    for index, group in enumerate(groups):
        if group.samples:
            # Plotly reads a few HTML tags in labels; service names come from record headers.
            label = group.name.removeprefix(prefix).replace("<", "\u2039").replace(">", "\u203a")
            figure.add_trace(
                go.Box(
                    y=list(group.samples),
                    name=label,
                    boxpoints=False,
                    marker_color=blues[index % len(blues)],
                    hovertemplate="%{y:.1f} ms<extra>" + label.replace("%{", "% {") + "</extra>",
                )
            )
    figure.update_layout(
        height=300,
        margin={"l": 10, "r": 10, "t": 10, "b": 60},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="#fbfcfe",
        showlegend=False,
        yaxis={"title": axis_title, "rangemode": "tozero", "automargin": True},
        xaxis={"automargin": True, "title": f"{prefix}…" if prefix else None},
        font={"family": "system-ui, sans-serif", "size": 12},
    )
    return _figure_html(figure)


@require_GET
def latency(request):
    window = _choice(request, "window", LATENCY_WINDOWS, "1h")
    clusters = cluster_choice(request.GET)
    overview = selectors.latency_overview_for(window=LATENCY_WINDOWS[window], cluster=clusters.selected)
    with_samples = [group for group in overview.services if group.samples]
    topics_with_samples = [group for group in overview.topics if group.samples]
    context = {
        "clusters": clusters,
        "overview": overview,
        "window": window,
        "windows": list(LATENCY_WINDOWS),
        "service_chart": _latency_box_chart(with_samples, axis_title="hop latency (ms)") if with_samples else "",
        "topic_chart": _latency_box_chart(topics_with_samples, axis_title="hop latency (ms)")
        if topics_with_samples
        else "",
        "any_broker_time": any(group.broker for group in overview.topics),
        "plotly_js": PLOTLY_JS,
    }
    return render(request, "monitoring/latency.html", context)


@require_GET
def dead_letters(request):
    window = _choice(request, "window", WINDOWS, "24h")
    clusters = cluster_choice(request.GET)
    overview = selectors.dead_letters_overview(window=WINDOWS[window], cluster=clusters.selected)
    context = {
        "clusters": clusters,
        "overview": overview,
        "window": window,
        "windows": list(WINDOWS),
        "chart": _dead_letter_chart(overview.per_hour) if overview.per_hour else "",
        "plotly_js": PLOTLY_JS,
    }
    return render(request, "monitoring/dead_letters.html", context)


@require_GET
def trace_payload(request, correlation_id: str):
    """The whole payload of one event of the chain, fetched from Kafka (an HTMX partial)."""
    try:
        partition = int(request.GET.get("partition", ""))
        offset = int(request.GET.get("offset", ""))
    except ValueError:
        return HttpResponseBadRequest("partition and offset must be whole numbers", content_type="text/plain")
    # Only records of this indexed chain can be fetched: the page is no general-purpose topic reader.
    events = TraceEvent.objects.select_related("cluster").filter(
        correlation_id=correlation_id, topic=request.GET.get("topic", ""), partition=partition, offset=offset
    )
    if request.GET.get("cluster"):
        events = events.filter(cluster__name=request.GET["cluster"])
    found = list(events.order_by("id")[:2])
    if not found:
        raise Http404("No such event in this chain.")
    if len(found) > 1:  # the same topic, partition and offset on two clusters
        return HttpResponseBadRequest("This record is on several clusters: add cluster=NAME", content_type="text/plain")
    event = found[0]
    return render(request, "monitoring/_live_payload.html", {"payload": payloads.payload_fetch(event=event)})
