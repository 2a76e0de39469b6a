"""Request guards that apply to every URL before any view runs."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware as _DjangoLoginRequired
from django.http import HttpResponseNotFound, JsonResponse


class NulInPathMiddleware:
    """A path with a NUL character names nothing we store, and PostgreSQL refuses NUL even as a query
    parameter, so such a request is answered 404 here, in the format of the part of the site it aimed at."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" not in request.path_info:
            return self.get_response(request)
        message = "Not found: the path contains a NUL character."
        if request.path_info.startswith("/registry/"):
            return JsonResponse({"error_code": 404, "message": message}, status=404)
        if request.path_info.startswith("/api/"):
            return JsonResponse({"error": {"status": 404, "code": "not_found", "message": message}}, status=404)
        return HttpResponseNotFound(message, content_type="text/plain; charset=utf-8")


class LoginRequiredMiddleware(_DjangoLoginRequired):
    """Django's LoginRequiredMiddleware, except that with EVENTSCOPE_ANONYMOUS_READ on, reading (GET, HEAD)
    a page needs no login. Writing always does, and so do views that say so themselves."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if (
            settings.EVENTSCOPE_ANONYMOUS_READ
            and request.method in ("GET", "HEAD")
            and not getattr(view_func, "login_required_always", False)
        ):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


def anonymous_may_read(request) -> bool:
    """For API permission classes: a safe request without a login is fine when anonymous read is on."""
    return settings.EVENTSCOPE_ANONYMOUS_READ and request.method in ("GET", "HEAD", "OPTIONS")
