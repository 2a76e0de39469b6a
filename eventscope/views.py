"""Project-wide HTML views: the home page, global search, health and the Prometheus scrape."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .search_providers import group_hits, search_everything, search_kinds
from .tasks import worker_heartbeat_age_s

SEARCH_MAX_LENGTH = 200
SEARCH_PAGE_LIMIT = 60  # every kind on one page: enough to see each group's best hits
SEARCH_KIND_LIMIT = 200  # one kind ("show only topics"): a longer list
SEARCH_SUGGEST_LIMIT = 8  # the dropdown under the search box


def home(request):
    return render(request, "home.html", {"worker_heartbeat_age_s": worker_heartbeat_age_s()})


def _search_params(request) -> tuple[str, str, str | None]:
    """The query and kind of a search request, and what is wrong with them (None when fine)."""
    # NUL can be in no stored text (PostgreSQL refuses it even as a query parameter): drop it here.
    query = request.GET.get("q", "").replace("\x00", "").strip()
    kind = request.GET.get("kind", "").strip()
    if len(query) > SEARCH_MAX_LENGTH:
        return query[:SEARCH_MAX_LENGTH], "", f"A search is at most {SEARCH_MAX_LENGTH} characters."
    if kind and kind not in search_kinds():
        return query, "", f"There is no kind of result called “{kind[:50]}”; choose one of the tabs."
    return query, kind, None


@require_GET
def search(request):
    """The global search page: hits of every provider (catalog, registry, traces), grouped by kind."""
    query, kind, error = _search_params(request)
    hits = []
    if query and not error:
        limit = SEARCH_KIND_LIMIT if kind else SEARCH_PAGE_LIMIT
        hits = search_everything(query, kinds={kind} if kind else None, limit=limit)
    context = {
        "query": query,
        "kind": kind,
        "kinds": search_kinds(),
        "error": error,
        "results": hits,
        "groups": group_hits(hits),
    }
    return render(request, "search.html", context, status=400 if error else 200)


@require_GET
def search_suggest(request):
    """Instant results under the search box (an HTMX partial): the best few hits, or nothing."""
    query, _kind, error = _search_params(request)
    if error:
        # HTMX leaves the dropdown as it is on an error status; the message is for other clients.
        return HttpResponse(error, status=400, content_type="text/plain; charset=utf-8")
    hits = search_everything(query, limit=SEARCH_SUGGEST_LIMIT) if query else []
    # A short kind name in front of each suggestion: "topic", "event type", "consumer group".
    suggestions = [(hit, hit.kind.replace("_", " ")) for hit in hits]
    return render(request, "search_suggestions.html", {"query": query, "suggestions": suggestions})


@login_not_required
@never_cache
@require_GET
def healthz(request):
    """Liveness and readiness in one: the process answers and the database is reachable."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return JsonResponse({"status": "error", "database": type(exc).__name__}, status=503)
    return JsonResponse({"status": "ok"})


@login_not_required
@require_GET
def metrics(request):
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
