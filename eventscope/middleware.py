"""Request guards that apply to every URL before any view runs."""

from __future__ import annotations

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
