"""Markdown for user-written documentation: CommonMark plus tables, rendered by markdown-it-py, sanitized by nh3.

Two layers on purpose. markdown-it-py runs with raw HTML off, so `<script>` in a description comes out
as text, and it already refuses `javascript:` links. nh3 (ammonia) then re-parses the HTML and keeps
only a whitelist of tags, attributes and URL schemes: if a future option or plugin lets something
through the first layer, the second still holds.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

__all__ = ["ALLOWED_ATTRIBUTES", "ALLOWED_TAGS", "ALLOWED_URL_SCHEMES", "render_markdown"]

ALLOWED_TAGS = frozenset(
    {
        "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6",
        "strong", "em", "del", "s", "code", "pre", "blockquote",
        "ul", "ol", "li", "a", "img",
        "table", "thead", "tbody", "tr", "th", "td",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    # markdown-it writes column alignment as style="text-align:..."; every other property is dropped.
    "th": {"style"},
    "td": {"style"},
}
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})
# Documentation links lead out of Eventscope: no window.opener, no referrer, no search-engine credit.
LINK_REL = "noopener noreferrer nofollow"


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table")


@lru_cache(maxsize=1)
def _cleaner() -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(ALLOWED_URL_SCHEMES),
        link_rel=LINK_REL,
        filter_style_properties={"text-align"},
        strip_comments=True,
    )


def render_markdown(text: str | None) -> SafeString:
    """Render Markdown to sanitized HTML that is safe to put into a page as is."""
    if not text:
        return mark_safe("")
    html = _parser().render(str(text))
    # Safe: the HTML has just been through the nh3 whitelist.
    return mark_safe(_cleaner().clean(html))  # noqa: S308
