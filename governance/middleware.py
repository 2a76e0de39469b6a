"""Every web request runs in an audit context: its channel (page, api, registry) and the request,
whose user is read when a change is written (see governance.audit)."""

from __future__ import annotations

from .audit import API, PAGE, REGISTRY, audit_context


class AuditContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path
        channel = API if path.startswith("/api/") else REGISTRY if path.startswith("/registry/") else PAGE
        with audit_context(channel, request=request):
            return self.get_response(request)
