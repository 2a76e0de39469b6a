"""`{{ text|highlight:query }}`: the text, escaped, with the words of the search query marked (<mark>).

Every piece of the text goes through Django's escaping before the <mark> tags are put around the
matches, so user-written text can never bring its own markup into the results page.
"""

from __future__ import annotations

import re
from functools import lru_cache

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@lru_cache(maxsize=256)
def _pattern(query: str) -> re.Pattern[str] | None:
    from catalog.search import query_terms

    # The whole query first (a match on "orders.placed" marks the dot too), then its words, longest first.
    needles = sorted({query.strip(), *query_terms(query)} - {""}, key=len, reverse=True)
    if not needles:
        return None
    return re.compile("|".join(re.escape(needle) for needle in needles), re.IGNORECASE)


@register.filter(is_safe=True)
def highlight(text: str | None, query: str | None) -> SafeString:
    text = str(text or "")
    pattern = _pattern(str(query or "")[:200])
    if pattern is None:
        return escape(text)
    pieces: list[str] = []
    position = 0
    for match in pattern.finditer(text):
        pieces.append(escape(text[position : match.start()]))
        pieces.append(f"<mark>{escape(match.group())}</mark>")
        position = match.end()
    pieces.append(escape(text[position:]))
    # Safe: every piece of user text above went through escape(); only our own <mark> tags are raw.
    return mark_safe("".join(pieces))  # noqa: S308
