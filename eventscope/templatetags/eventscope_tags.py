"""Template tags and filters shared by every app's pages: Markdown, relative times, sizes, sortable headers.

Load with `{% load eventscope_tags %}`. Everything returns escaped text or format_html output; the only
HTML that passes through unescaped is Markdown after nh3 sanitizing (eventscope.markdown).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django import template
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

from eventscope.markdown import render_markdown

register = template.Library()

_UNITS = ((86400, "d"), (3600, "h"), (60, "min"), (1, "s"))


@register.filter(name="markdown", is_safe=True)
def markdown_filter(text: str | None) -> SafeString:
    """`{{ topic.description|markdown }}`: CommonMark + tables, sanitized."""
    return render_markdown(text)


@register.filter(is_safe=True)
def wbr(name: str | None) -> SafeString:
    """Allow line breaks after the separators of long technical names (shop.orders.placed, a-b_c/d).

    A table cell then wraps `shop.notifications.sent.v2` at a dot instead of in the middle of a word.
    The name is escaped first; only the <wbr> tags are markup.
    """
    escaped = str(conditional_escape(name or ""))
    return mark_safe(re.sub(r"([./_-])", r"\1<wbr>", escaped))  # noqa: S308 - escaped above


@register.filter
def age(seconds: float | int | None) -> str:
    """A duration in seconds as people say it: "45 s", "3 min", "5 h", "2 d"."""
    if seconds is None:
        return ""
    seconds = max(0, int(seconds))
    for size, unit in _UNITS:
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return "0 s"


@register.filter
def ago(value: datetime | None) -> str:
    """A past moment relative to now: "just now", "3 min ago", "5 d ago"; a date after a month."""
    if value is None:
        return ""
    seconds = (timezone.now() - value).total_seconds()
    if seconds < 5:
        # Includes small clock skew between the web and the worker writing the row.
        return "just now"
    if seconds >= 30 * 86400:
        return timezone.localtime(value).strftime("%Y-%m-%d")
    return f"{age(seconds)} ago"


@register.simple_tag
def timeago(value: datetime | None) -> str:
    """A <time> element showing "3 min ago" with the exact timestamp on hover."""
    if value is None:
        return format_html('<span class="muted">{}</span>', "never")
    exact = timezone.localtime(value)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        exact.isoformat(),
        exact.strftime("%Y-%m-%d %H:%M:%S %Z"),
        ago(value),
    )


@register.filter
def duration_ms(value: Any) -> str:
    """Kafka durations in milliseconds (retention.ms): "7 d", "12 h"; -1 is "forever"."""
    try:
        ms = int(value)
    except (TypeError, ValueError):
        return "" if value in (None, "") else str(value)
    if ms < 0:
        return "forever"
    if ms < 1000:
        return f"{ms} ms"
    seconds = ms // 1000
    for size, unit in _UNITS:
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    # Not a whole number of the largest unit: say it in the largest unit that fits, rounded.
    for size, unit in _UNITS:
        if seconds >= size:
            return f"≈{seconds / size:.1f} {unit}"
    return f"{ms} ms"


@register.filter
def bytesize(value: Any) -> str:
    """Kafka sizes in bytes (retention.bytes): "1.0 GB"; -1 is "unlimited"."""
    try:
        size = int(value)
    except (TypeError, ValueError):
        return "" if value in (None, "") else str(value)
    if size < 0:
        return "unlimited"
    return filesizeformat(size)


@register.simple_tag(takes_context=True)
def sort_header(context: template.Context, param: str, label: str, css_class: str = "") -> str:
    """A sortable column header: `{% sort_header "partitions" "Partitions" %}` inside <thead><tr>.

    Reads the current ordering from the context's `ordering` (a list of params, as the filterset
    validated it) and links to the same page sorted by this column, ascending first, then descending.
    The link works without JavaScript; hx-get swaps only the table when HTMX is there. A new sort goes
    back to page 1 because the old page number means nothing in the new order.
    """
    request = context["request"]
    current = (context.get("ordering") or [""])[0]
    if current == param:
        direction, next_param, aria = "asc", f"-{param}", "ascending"
    elif current == f"-{param}":
        direction, next_param, aria = "desc", param, "descending"
    else:
        direction, next_param, aria = "", param, "none"
    params = request.GET.copy()
    params["ordering"] = next_param
    params.pop("page", None)
    url = f"?{params.urlencode()}"
    indicator = {"asc": "▲", "desc": "▼"}.get(direction, "")
    return format_html(
        '<th class="sortable {}" aria-sort="{}"><a href="{}" hx-get="{}">{}'
        '<span class="sort-ind" aria-hidden="true">{}</span></a></th>',
        css_class,
        aria,
        url,
        url,
        label,
        indicator,
    )


@register.filter
def with_nonce(html: str, nonce: Any) -> SafeString:
    """Give the inline <script> tags of trusted, server-built HTML (a Plotly figure) the page's CSP nonce.

    Only for HTML we generate (Plotly escapes the data it embeds, "<" included); never for user text.
    """
    return mark_safe(re.sub(r"<script(?![^>]*\bsrc=)", f'<script nonce="{conditional_escape(nonce)}"', str(html)))  # noqa: S308
