"""HTML views of monitoring and traces: no business logic here."""

from django.shortcuts import render


def index(request):
    return render(request, "monitoring/index.html")


def trace_detail(request, correlation_id: str):
    return render(request, "monitoring/trace_detail.html", {"correlation_id": correlation_id, "events": []})
