"""One error format for the REST API: {"error": {"status", "code", "message", "detail"}}.

DRF's own exceptions keep their status; anything else that escapes a view is logged and answered
as a 500 in the same format (never an HTML traceback).
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from .parsers import NUL_MESSAGE, is_nul_refusal

logger = logging.getLogger(__name__)


def error_response(status_code: int, code: str, message: str, detail=None, headers=None) -> Response:
    body = {"error": {"status": status_code, "code": code, "message": message}}
    if detail is not None:
        body["error"]["detail"] = detail
    return Response(body, status=status_code, headers=headers)


def api_exception_handler(exc, context):
    # Django's own exceptions become DRF's first, so every error below has one shape.
    if isinstance(exc, ValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif is_nul_refusal(exc):
        # A NUL reached a query (a filter or a lookup; bodies are refused by the parsers): PostgreSQL text
        # cannot hold one, so it is the input's fault. DRF's handler then rolls the request's changes back.
        exc = exceptions.ParseError(NUL_MESSAGE)
    response = exception_handler(exc, context)
    if response is None:
        logger.exception("unhandled API error in %s", context.get("view").__class__.__name__)
        return error_response(status.HTTP_500_INTERNAL_SERVER_ERROR, "server_error", "Internal server error.")
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "invalid"
        if isinstance(exc.detail, dict | list):
            message = "Invalid input." if isinstance(exc, exceptions.ValidationError) else str(exc.default_detail)
            detail = exc.detail
        else:
            message = str(exc.detail)
            detail = None
        headers = {k: v for k, v in response.items() if k in ("WWW-Authenticate", "Retry-After")}
        return error_response(response.status_code, code, message, detail, headers)
    return response
