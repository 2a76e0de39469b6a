"""Project-wide HTML views: the home page, global search, health and the Prometheus scrape."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .tasks import worker_heartbeat_age_s

SEARCH_MAX_LENGTH = 200


def home(request):
    return render(request, "home.html", {"worker_heartbeat_age_s": worker_heartbeat_age_s()})


def search(request):
    query = request.GET.get("q", "").strip()
    error = None
    if len(query) > SEARCH_MAX_LENGTH:
        error = f"A search is at most {SEARCH_MAX_LENGTH} characters."
        query = query[:SEARCH_MAX_LENGTH]
    return render(request, "search.html", {"query": query, "error": error, "results": []}, status=400 if error else 200)


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
