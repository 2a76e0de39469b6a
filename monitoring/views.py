"""HTML views of monitoring and traces: no business logic here (reads in monitoring.selectors, rules in
monitoring.traces and monitoring.flows). The Plotly figures are built here because they are presentation
only; they render server-side to a <div> and plotly.js comes from our own static files."""

from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go
import plotly.io as pio
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from . import payloads, selectors
from .extraction import EXCERPT_CUT_MARKER
from .models import TraceEvent
from .traces import Hop, Trace, is_dead_letter_topic, pretty_payload

PLOTLY_JS = "vendor/plotly-4.1.1.min.js"
DEAD_LETTER_COLOUR = "#c0392b"
# Event types get colours in order of appearance; red stays reserved for dead letters.
PALETTE = ("#2f5bd3", "#1f8a4c", "#b7791f", "#7b4fc9", "#0f8b8d", "#d35f2f", "#5d6678", "#c2185b", "#3f8f29")
WINDOWS = selectors.WINDOWS
STUCK_AFTER = selectors.STUCK_AFTER


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


def _timeline(trace: Trace, patterns) -> str:
    colours: dict[str, str] = {}
    figure = go.Figure()
    events = trace.events
    topics = list(dict.fromkeys(event.topic for event in events))
    figure.add_trace(
        go.Scatter(
            x=[event.timestamp for event in events],
            y=[event.topic for event in events],
            mode="lines",
            line={"color": "#c9d0dc", "width": 1.5},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    groups: dict[str, list[Hop]] = {}
    for hop in trace.hops:
        dead = hop.event.is_dead_letter or is_dead_letter_topic(hop.event.topic, patterns)
        groups.setdefault("dead letter" if dead else hop.event.event_type or "unknown type", []).append(hop)
    for label, hops in groups.items():
        colour = (
            DEAD_LETTER_COLOUR
            if label == "dead letter"
            else colours.setdefault(label, PALETTE[len(colours) % len(PALETTE)])
        )
        figure.add_trace(
            go.Scatter(
                x=[hop.event.timestamp for hop in hops],
                y=[hop.event.topic for hop in hops],
                mode="markers",
                name=label,
                marker={"size": 13, "color": colour, "symbol": "x" if label == "dead letter" else "circle"},
                customdata=[
                    [
                        hop.event.event_type or "—",
                        hop.event.partition,
                        hop.event.offset,
                        hop.latency_ms or 0,
                        hop.index + 1,
                    ]
                    for hop in hops
                ],
                hovertemplate=(
                    "#%{customdata[4]} %{customdata[0]}<br>%{y} [%{customdata[1]}] @%{customdata[2]}"
                    "<br>%{x}<br>+%{customdata[3]:.1f} ms<extra></extra>"
                ),
            )
        )
    figure.update_layout(
        height=max(220, 90 + 42 * len(topics)),
        margin={"l": 10, "r": 10, "t": 10, "b": 40},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="#fbfcfe",
        legend={"orientation": "h", "y": -0.25},
        yaxis={"categoryorder": "array", "categoryarray": list(reversed(topics)), "automargin": True},
        xaxis={"title": None, "showgrid": True, "gridcolor": "#eef1f6"},
        font={"family": "system-ui, sans-serif", "size": 12},
    )
    return _figure_html(figure)


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
        "timeline": _timeline(trace, patterns),
        "plotly_js": PLOTLY_JS,
        "api_url": reverse("api-trace-detail", args=[correlation_id]),
    }
    return render(request, "monitoring/trace_detail.html", context)


# ---------------------------------------------------------------------------------------------
# Flows and dead letters
# ---------------------------------------------------------------------------------------------
@require_GET
def flows(request):
    window = _choice(request, "window", WINDOWS, "24h")
    stuck_after = _choice(request, "stuck_after", STUCK_AFTER, "5m")
    flow_stats = selectors.flows_overview(window=WINDOWS[window], stuck_after=STUCK_AFTER[stuck_after])
    context = {
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


@require_GET
def dead_letters(request):
    window = _choice(request, "window", WINDOWS, "24h")
    overview = selectors.dead_letters_overview(window=WINDOWS[window])
    context = {
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
    event = get_object_or_404(
        TraceEvent.objects.select_related("cluster"),
        correlation_id=correlation_id,
        topic=request.GET.get("topic", ""),
        partition=partition,
        offset=offset,
    )
    return render(request, "monitoring/_live_payload.html", {"payload": payloads.payload_fetch(event=event)})
