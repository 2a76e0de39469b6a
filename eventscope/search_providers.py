"""The global search's providers: each app contributes hits to `/search/` without the view knowing it.

A provider is a `SearchProvider`: the kinds of hit it returns (with the label of their group on the
results page) and a function `search(query, kinds, limit) -> list[SearchHit]`. Providers are named
by dotted path in `SEARCH_PROVIDERS` and imported on first use, so this module imports no app at load
time. To add results (the tracing issue: a correlation ID that is known shows its trace first), write
a provider in your app and add its path here; the view, the suggestions and the tests pick it up.

Scores are comparable across providers: the catalog's run from 10 (a mention in a description) to
60 (an exact name); a provider whose hit must come first (a known correlation ID) returns 100 or more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache

from django.utils.module_loading import import_string

__all__ = [
    "SEARCH_PROVIDERS",
    "SearchHit",
    "SearchProvider",
    "group_hits",
    "search_everything",
    "search_kinds",
    "search_providers",
]

# Dotted paths of SearchProvider instances, in priority order (ties in score keep this order).
SEARCH_PROVIDERS: tuple[str, ...] = (
    "monitoring.selectors.TRACE_SEARCH_PROVIDER",
    "catalog.search.CATALOG_SEARCH_PROVIDER",
)


@dataclass(frozen=True)
class SearchHit:
    """One search result. `snippet` is plain text (the page escapes it and highlights the query)."""

    kind: str
    object_id: int | str
    title: str
    subtitle: str
    url: str
    score: float
    snippet: str = ""


@dataclass(frozen=True)
class SearchProvider:
    """What an app offers the global search: its kinds (kind -> group label, in display order) and a search."""

    kinds: Mapping[str, str]
    search: Callable[[str, set[str] | None, int], list[SearchHit]]


@dataclass(frozen=True)
class HitGroup:
    kind: str
    label: str
    hits: list[SearchHit]


@cache
def _load(paths: tuple[str, ...]) -> tuple[SearchProvider, ...]:
    return tuple(import_string(path) for path in paths)


def search_providers() -> tuple[SearchProvider, ...]:
    return _load(SEARCH_PROVIDERS)


def search_kinds() -> dict[str, str]:
    """Every kind the providers return, kind -> group label, in display order."""
    kinds: dict[str, str] = {}
    for provider in search_providers():
        kinds.update(provider.kinds)
    return kinds


def search_everything(query: str, *, kinds: set[str] | None = None, limit: int = 20) -> list[SearchHit]:
    """The best `limit` hits of every provider for `query`, best first; `kinds` narrows to those kinds."""
    hits: list[SearchHit] = []
    for provider in search_providers():
        wanted = set(provider.kinds) if kinds is None else kinds & set(provider.kinds)
        if wanted:
            hits.extend(provider.search(query, wanted, limit))
    # sorted() is stable: equal scores keep provider order, and each provider's own order within it.
    return sorted(hits, key=lambda hit: -hit.score)[:limit]


def group_hits(hits: Iterable[SearchHit]) -> list[HitGroup]:
    """Hits grouped by kind; the group holding the best hit comes first, each group keeps hit order."""
    labels = search_kinds()
    groups: dict[str, list[SearchHit]] = {}
    for hit in hits:  # already best first, so groups come out in the order of their best hit
        groups.setdefault(hit.kind, []).append(hit)
    return [HitGroup(kind, labels.get(kind, kind), group) for kind, group in groups.items()]
