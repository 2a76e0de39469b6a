"""Consumer-lag panels that catalog pages include ({% group_lag_panel group %}, {% topic_lag_panel topic %},
{% service_lag_panel service %}), and the filters that format lag for people."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html

from eventscope.templatetags.eventscope_tags import age

from .. import lag_views
from ..charts import PLOTLY_JS

register = template.Library()


@register.inclusion_tag("monitoring/_group_lag_panel.html", takes_context=True)
def group_lag_panel(context, group) -> dict[str, Any]:
    window = lag_views.DEFAULT_WINDOW
    return {
        **lag_views.group_live_context(group),
        **lag_views.group_charts_context(group, window),
        "plotly_js": PLOTLY_JS,
        "request": context.get("request"),  # the charts' inline scripts carry the page's CSP nonce
    }


@register.inclusion_tag("monitoring/_topic_lag.html")
def topic_lag_panel(topic) -> dict[str, Any]:
    return lag_views.topic_lag_context(topic)


@register.inclusion_tag("monitoring/_service_lag.html")
def service_lag_panel(service) -> dict[str, Any]:
    return lag_views.service_lag_context(service)


@register.filter
def lag_seconds(value: float | None) -> str:
    """A time lag or a time-to-clear: "0 s", "4.2 s", "3 min", "2 h"; "—" when unknown."""
    if not isinstance(value, (int, float)):  # None, or "" for a missing lookup such as row.state.x
        return "—"
    if value < 10:
        if not value:
            return "0 s"
        return f"{value:.1f} s" if value >= 0.05 else "< 0.1 s"  # never "0.0 s" beside a "0 s"
    return age(value)


LOWER_BOUND_TITLE = (
    "At least this far behind: the committed offset is older than the oldest point the poller can date "
    "(its offset-time table, or the records retention kept)."
)


@register.simple_tag
def time_lag(value: float | None, lower_bound: bool = False) -> str:
    """A time lag as lag_seconds says it, with "≥ " (and an explaining title) when it is only a lower bound."""
    text = lag_seconds(value)
    if lower_bound is True and isinstance(value, (int, float)):
        return format_html('<span class="lag-lower-bound" title="{}">≥ {}</span>', LOWER_BOUND_TITLE, text)
    return text


@register.filter
def per_second(value: float | None) -> str:
    """A rate in records per second: "12.5/s", "1,204/s"; "—" when unknown."""
    if not isinstance(value, (int, float)):
        return "—"
    return f"{value:,.1f}/s" if value < 100 else f"{value:,.0f}/s"


@register.filter
def lag_count(value: int | float | None) -> str:
    """A count of messages with thousands separators; "—" when unknown (None, or "" for a missing lookup)."""
    if not isinstance(value, (int, float)):
        return "—"
    return f"{int(value):,}"


@register.simple_tag
def time_to_clear(lag: dict[str, Any]) -> str:
    """The time-to-clear estimate of a group_lag() dict, as people read it."""
    state = lag.get("time_to_clear")
    if state == "clear":
        return "caught up"
    if state == "clearing" and lag.get("time_to_clear_s") is not None:
        return f"≈ {lag_seconds(lag['time_to_clear_s'])}"
    if state == "never":
        return _not_clearing(lag.get("status"))
    return "unknown"


def _not_clearing(status: str | None) -> str:
    """Consuming no faster than producing: with the status OK (lag not growing) the group keeps pace and its
    small lag is records in flight; otherwise the lag stays or grows."""
    return "keeping up" if status == "OK" else "not clearing"


@register.simple_tag
def state_time_to_clear(state) -> str:
    """time_to_clear for a GroupLagState row (lists read states, not group_lag() dicts)."""
    if state is None:
        return "—"
    if state.total_lag <= 0:
        return "caught up"
    if state.time_to_clear_s is not None:
        return f"≈ {lag_seconds(state.time_to_clear_s)}"
    if state.consume_rate is None or state.produce_rate is None:
        return "unknown"
    return _not_clearing(state.status)


@register.filter
def lag_is_stale(state) -> bool:
    """A GroupLagState whose poll failed (stale flag) or that no poll refreshed for three intervals."""
    if state is None:
        return False
    from django.utils import timezone

    return lag_views._is_stale(state.stale, state.sampled_at, timezone.now())
