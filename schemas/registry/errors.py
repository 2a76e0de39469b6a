"""Confluent's error format for the registry API: {"error_code": int, "message": str}.

Domain errors carry their code; DRF's own exceptions (authentication, permission, method) get the
codes Confluent uses for them; a body too large is 42209; anything unexpected is logged and
answered 500 with 50001. A bad request is never a 5xx, because Confluent's clients retry those.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from eventscope.api.parsers import NUL_MESSAGE, is_nul_refusal
from schemas.errors import RegistryError, SchemaTooLargeError

__all__ = ["InvalidParameterError", "MalformedBodyError", "error_response", "registry_exception_handler"]

logger = logging.getLogger(__name__)


class MalformedBodyError(exceptions.APIException):
    """A body that is not a JSON object."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Malformed request body"


class InvalidParameterError(exceptions.APIException):
    """A query parameter of the wrong kind (a boolean that is not true/false, a non-numeric offset)."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "Invalid query parameter"


def error_response(http_status: int, error_code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response({"error_code": error_code, "message": message}, status=http_status, headers=headers)


def registry_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, RegistryError):
        return error_response(exc.http_status, exc.error_code, exc.message)
    if isinstance(exc, RequestDataTooBig):
        return error_response(422, SchemaTooLargeError.error_code, f"{SchemaTooLargeError.default_message}: {exc}")
    if isinstance(exc, Http404):
        return error_response(404, 404, "HTTP 404 Not Found")
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        request = context.get("request")
        view = context.get("view")
        header = view.get_authenticate_header(request) if view is not None and request is not None else None
        return error_response(
            status.HTTP_401_UNAUTHORIZED, 40101, str(exc.detail), {"WWW-Authenticate": header} if header else None
        )
    if isinstance(exc, exceptions.PermissionDenied):
        return error_response(status.HTTP_403_FORBIDDEN, 40301, str(exc.detail))
    if is_nul_refusal(exc):
        # A NUL reached a query (PostgreSQL text cannot hold one): the request's fault, never a retryable 5xx.
        return error_response(status.HTTP_400_BAD_REQUEST, 400, NUL_MESSAGE)
    if isinstance(exc, exceptions.APIException):
        # Method not allowed, unsupported media type, malformed JSON: the status is the code.
        return error_response(exc.status_code, exc.status_code, str(exc.detail))
    view = context.get("view")
    logger.exception("unhandled registry error in %s", type(view).__name__ if view is not None else "registry")
    return error_response(status.HTTP_500_INTERNAL_SERVER_ERROR, 50001, "Error in the backend data store")
