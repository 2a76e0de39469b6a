"""AsyncAPI API views: export the catalog or one service as AsyncAPI 3.0.0 (YAML or JSON), and import a document.

Thin: negotiate the format, call catalog.services.asyncapi, answer. An invalid document is a 400 in the
project's error format whose detail lists every problem as {"path", "message"}.
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, parsers, renderers, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.asyncapi import AsyncAPIDocumentError, dump_document, load_document
from catalog.models import Service
from catalog.services.asyncapi import IMPORT_KINDS, asyncapi_export, asyncapi_import
from eventscope.api.errors import error_response

__all__ = ["AsyncAPICatalogView", "AsyncAPIImportView", "AsyncAPIServiceView", "invalid_document_response"]


# ---------------------------------------------------------------------------------------------
# Renderers and parsers: YAML and JSON, both through the pure core's own loader and dumper
# ---------------------------------------------------------------------------------------------
class AsyncAPIYAMLRenderer(renderers.BaseRenderer):
    media_type = "application/yaml"
    format = "yaml"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return dump_document(data, format="yaml").encode() if data is not None else b""


class AsyncAPIJSONRenderer(renderers.BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return dump_document(data, format="json").encode() if data is not None else b""


class _TextYAMLRenderer(AsyncAPIYAMLRenderer):
    # Older names of the YAML media type, still sent in Accept headers by many clients.
    media_type = "text/yaml"
    format = "yaml-text"


class _XYAMLRenderer(AsyncAPIYAMLRenderer):
    media_type = "application/x-yaml"
    format = "x-yaml"


EXPORT_RENDERERS = [AsyncAPIJSONRenderer, AsyncAPIYAMLRenderer, _TextYAMLRenderer, _XYAMLRenderer]


class AsyncAPIYAMLParser(parsers.BaseParser):
    media_type = "application/yaml"

    def parse(self, stream, media_type=None, parser_context=None):
        return load_document(stream.read(), format="yaml")


class _TextYAMLParser(AsyncAPIYAMLParser):
    media_type = "text/yaml"


class _XYAMLParser(AsyncAPIYAMLParser):
    media_type = "application/x-yaml"


class AsyncAPIJSONParser(parsers.BaseParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        return load_document(stream.read(), format="json")


def invalid_document_response(exc: AsyncAPIDocumentError) -> Response:
    return error_response(
        400,
        "invalid_asyncapi",
        f"The AsyncAPI document is invalid ({len(exc.problems)} problem{'s' if len(exc.problems) != 1 else ''}).",
        detail=[problem.as_dict() for problem in exc.problems],
    )


# ---------------------------------------------------------------------------------------------
# Views
# ---------------------------------------------------------------------------------------------
_FORMAT_PARAMETER = OpenApiParameter(
    "format",
    str,
    enum=["yaml", "json"],
    description="yaml or json (default json; or send Accept: application/yaml)",
)
_DOCUMENT = OpenApiResponse(OpenApiTypes.OBJECT, description="An AsyncAPI 3.0.0 document.")


class _ExportView(APIView):
    renderer_classes = EXPORT_RENDERERS

    def perform_content_negotiation(self, request, force=False):
        try:
            return super().perform_content_negotiation(request, force=force)
        except Http404:
            # DRF answers an unknown ?format= with a bare 404; say what is wrong instead.
            raise exceptions.NotAcceptable("format must be yaml or json.") from None


class AsyncAPICatalogView(_ExportView):
    """The whole catalog as one AsyncAPI 3.0.0 document."""

    @extend_schema(operation_id="asyncapi_catalog", parameters=[_FORMAT_PARAMETER], responses={200: _DOCUMENT})
    def get(self, request: Request) -> Response:
        return Response(asyncapi_export())


class AsyncAPIServiceView(_ExportView):
    """One service's AsyncAPI 3.0.0 document: what it produces and consumes, on which topics."""

    @extend_schema(operation_id="asyncapi_service", parameters=[_FORMAT_PARAMETER], responses={200: _DOCUMENT})
    def get(self, request: Request, slug: str) -> Response:
        service = Service.objects.filter(slug=slug).first()
        if service is None:
            # NotFound rather than Http404: the project's error handler formats APIExceptions.
            raise exceptions.NotFound(f"No service {slug!r}.")
        return Response(asyncapi_export(service=service))


_COUNTS = inline_serializer("AsyncAPIImportCounts", {kind: serializers.IntegerField() for kind in IMPORT_KINDS})


class AsyncAPIImportView(APIView):
    """Create or update services, event types, topics and their relations from an AsyncAPI 3.0.0 document.

    The body is the document, as JSON (Content-Type: application/json) or YAML (application/yaml). All or
    nothing: an invalid document answers 400 with every problem and changes nothing. Needs the editor role.
    """

    parser_classes = [AsyncAPIJSONParser, AsyncAPIYAMLParser, _TextYAMLParser, _XYAMLParser]

    @extend_schema(
        operation_id="asyncapi_import",
        request={"application/json": OpenApiTypes.OBJECT, "application/yaml": OpenApiTypes.STR},
        responses={
            200: inline_serializer(
                "AsyncAPIImportResult",
                {outcome: _COUNTS for outcome in ("created", "updated", "unchanged", "deleted")},
            ),
            400: OpenApiResponse(description="The document is invalid: error.detail lists {path, message}."),
        },
    )
    def post(self, request: Request) -> Response:
        try:
            document = request.data  # parsing happens here, so a malformed body is a problem list too
            result = asyncapi_import(document=document, source="asyncapi", user=request.user)
        except AsyncAPIDocumentError as exc:
            return invalid_document_response(exc)
        return Response(result.as_dict())
