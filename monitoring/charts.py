"""Plotly figures of consumer lag and throughput, rendered server-side to <div>s (plotly.js comes from our own
static files: PLOTLY_JS), and the trace page's timeline. Presentation only: lag points come from
monitoring.lag_selectors, traces from monitoring.traces."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from .traces import Hop, Trace, is_dead_letter_topic

__all__ = ["LAG_WINDOWS", "PLOTLY_JS", "figure_html", "group_lag_charts", "trace_timeline"]

PLOTLY_JS = "vendor/plotly-4.1.1.min.js"
# The window selector of the group page, in the order it shows them.
LAG_WINDOWS = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
LAG_COLOUR = "#2f5bd3"
TIME_LAG_COLOUR = "#b7791f"
PRODUCE_COLOUR = "#1f8a4c"
CONSUME_COLOUR = "#7b4fc9"
DEAD_LETTER_COLOUR = "#c0392b"
# Event types get colours in order of appearance; red stays reserved for dead letters.
PALETTE = ("#2f5bd3", "#1f8a4c", "#b7791f", "#7b4fc9", "#0f8b8d", "#d35f2f", "#5d6678", "#c2185b", "#3f8f29")


def figure_html(figure: go.Figure, *, div_id: str | None = None) -> str:
    return pio.to_html(
        figure,
        include_plotlyjs=False,
        full_html=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True},
    )


def _layout(figure: go.Figure, *, y_title: str, height: int = 210, legend: bool = False) -> None:
    figure.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 10, "b": 30},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="#fbfcfe",
        showlegend=legend,
        legend={"orientation": "h", "y": -0.25},
        yaxis={"title": y_title, "rangemode": "tozero", "automargin": True, "gridcolor": "#eef1f6"},
        xaxis={"title": None, "showgrid": True, "gridcolor": "#eef1f6"},
        font={"family": "system-ui, sans-serif", "size": 12},
        hovermode="x unified",
    )


def _line(x: list, y: list, *, name: str, colour: str, fill: bool = False) -> go.Scatter:
    return go.Scatter(
        x=x,
        y=y,
        name=name,
        mode="lines",
        line={"color": colour, "width": 2},
        fill="tozeroy" if fill else None,
        connectgaps=False,
    )


def group_lag_charts(points: Sequence[dict[str, Any]], *, prefix: str | None = None) -> dict[str, str]:
    """Three figures from a group's history points: lag in messages, time lag in seconds, produce vs consume rate.

    Empty dict when there are no points (the page says "no history yet" instead of drawing empty axes). The
    figures' element ids are new on every render: an HTMX swap runs the new figures' scripts while the old
    figures may still be in the document, and the same id would let Plotly draw into the old element.
    """
    if not points:
        return {}
    prefix = prefix or f"lag-{uuid.uuid4().hex[:10]}"
    times = [point["sampled_at"] for point in points]

    lag = go.Figure(_line(times, [p["total_lag"] for p in points], name="lag", colour=LAG_COLOUR, fill=True))
    _layout(lag, y_title="messages behind")

    time_lag = go.Figure(
        _line(times, [p["max_time_lag_s"] for p in points], name="time lag", colour=TIME_LAG_COLOUR, fill=True)
    )
    _layout(time_lag, y_title="seconds behind (max)")

    rates = go.Figure(
        [
            _line(times, [p["produce_rate"] for p in points], name="produced /s", colour=PRODUCE_COLOUR),
            _line(times, [p["consume_rate"] for p in points], name="consumed /s", colour=CONSUME_COLOUR),
        ]
    )
    _layout(rates, y_title="records per second", legend=True, height=250)
    return {
        "lag": figure_html(lag, div_id=f"{prefix}-lag"),
        "time_lag": figure_html(time_lag, div_id=f"{prefix}-time-lag"),
        "rates": figure_html(rates, div_id=f"{prefix}-rates"),
    }


# ---------------------------------------------------------------------------------------------
# Traces
# ---------------------------------------------------------------------------------------------
def trace_timeline(trace: Trace, patterns) -> str:
    """The trace page's timeline: one marker per event on its topic's row, coloured by event type (dead letters red)."""
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
    return figure_html(figure)
