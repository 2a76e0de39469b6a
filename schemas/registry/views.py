"""Registry REST views (Confluent's API): parse the request, call one selector or service, render.

No business logic here: the rules live in `schemas.services` (writes) and `schemas.selectors`
(reads), which raise `schemas.errors` that `schemas.registry.errors` renders as Confluent's
`{"error_code", "message"}`. Lookups (POST /subjects/{s}) and compatibility checks are POSTs but
reads, so permissions go by what a view declares as writes, not by the HTTP method.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.http import HttpResponse
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from eventscope.middleware import anonymous_may_read
from governance import ownership
from governance.authentication import BearerTokenAuthentication
from schemas import selectors, services
from schemas.compatibility import SchemaType
from schemas.selectors import RegisteredVersion, SchemaRecord

from .authentication import RegistryBasicAuthentication
from .errors import InvalidParameterError, MalformedBodyError, registry_exception_handler

REGISTRY_MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"
# What Confluent's clients (and curl users) send as the Content-Type of a JSON body.
ACCEPTED_BODY_TYPES = frozenset(
    {"", REGISTRY_MEDIA_TYPE, "application/vnd.schemaregistry+json", "application/json", "application/octet-stream"}
)
SCHEMA_TYPES = [SchemaType.JSON.value, SchemaType.PROTOBUF.value, SchemaType.AVRO.value]  # Confluent's order


# ---------------------------------------------------------------------------------------------
# Plumbing: renderer, negotiation, permission, request parsing
# ---------------------------------------------------------------------------------------------
class RegistryJSONRenderer(JSONRenderer):
    media_type = REGISTRY_MEDIA_TYPE


class _NoFormatOverride:
    # Confluent's `format` query parameter ("serialized") is not DRF's renderer override.
    URL_FORMAT_OVERRIDE = None


class RegistryContentNegotiation(DefaultContentNegotiation):
    """Answer in the registry's media type when the Accept header names nothing we render."""

    settings = _NoFormatOverride()

    def select_renderer(self, request: Request, renderers: list, format_suffix: str | None = None) -> tuple:
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except exceptions.NotAcceptable:
            return renderers[0], renderers[0].media_type


class RegistryPermission(BasePermission):
    """Any authenticated user reads; the methods a view lists in `write_methods` go through the ownership
    rules (governance.ownership): a subject owned by a team (through its event type or topic) is written by
    that team's editors, an unowned one by any editor; global config and mode, and deletes, need admin."""

    message = "Writing to the schema registry needs the editor or admin role."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not (request.user and request.user.is_authenticated):
            return request.method not in getattr(view, "write_methods", ()) and anonymous_may_read(request)
        if request.method not in getattr(view, "write_methods", ()):
            return True
        subject = view.kwargs.get("subject")
        deleting = request.method == "DELETE" and subject is not None and not getattr(view, "config_view", False)
        try:
            ownership.check_change(request, subject, action=ownership.DELETE if deleting else ownership.CHANGE)
        except ownership.OwnershipDenied as denied:
            self.message = str(denied)
            return False
        return True


class RegistryView(APIView):
    authentication_classes = [RegistryBasicAuthentication, BearerTokenAuthentication, SessionAuthentication]
    permission_classes = [RegistryPermission]
    renderer_classes = [RegistryJSONRenderer, JSONRenderer]
    parser_classes: list = []  # bodies are read by json_body(), which accepts the clients' content types
    content_negotiation_class = RegistryContentNegotiation
    # Confluent's API has its own reference; it stays out of the /api/v1 OpenAPI document.
    schema = None
    write_methods: frozenset[str] = frozenset()

    def get_exception_handler(self) -> Callable[[Exception, dict[str, Any]], Response]:
        return registry_exception_handler


def json_body(request: Request) -> dict[str, Any]:
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    if content_type not in ACCEPTED_BODY_TYPES:
        raise exceptions.UnsupportedMediaType(content_type)
    raw = request.body  # RequestDataTooBig (over DATA_UPLOAD_MAX_MEMORY_SIZE) becomes 42209
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise MalformedBodyError("Request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise MalformedBodyError("Request body must be a JSON object")
    return data


def query_bool(request: Request, *names: str, default: bool = False) -> bool:
    """A boolean query parameter, case-insensitive ("True" from Python clients, "true" from Java)."""
    for name in names:
        value = request.query_params.get(name)
        if value is None:
            continue
        lowered = value.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0", ""):
            return False
        raise InvalidParameterError(f"Query parameter {name} must be true or false, got {value!r}")
    return default


def query_int(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InvalidParameterError(f"Query parameter {name} must be an integer, got {value!r}") from None


def paginate(request: Request, items: list) -> list:
    """Confluent's offset/limit (limit -1 or absent: everything)."""
    offset = max(query_int(request, "offset", 0), 0)
    limit = query_int(request, "limit", -1)
    return items[offset:] if limit < 0 else items[offset : offset + limit]


def schema_fields(record: SchemaRecord, text: str | None = None) -> dict[str, Any]:
    """Confluent omits schemaType for Avro and references when there are none."""
    body: dict[str, Any] = {}
    if record.schema_type != SchemaType.AVRO:
        body["schemaType"] = record.schema_type.value
    if record.references:
        body["references"] = [reference.as_dict() for reference in record.references]
    body["schema"] = record.text if text is None else text
    return body


def version_body(registered: RegisteredVersion, text: str | None = None) -> dict[str, Any]:
    return {
        "subject": registered.subject,
        "version": registered.version,
        "id": registered.schema.id,
        **schema_fields(registered.schema, text),
    }


def schema_text_for(request: Request, record: SchemaRecord) -> str:
    """The schema text in the requested `format` (Protobuf: "serialized" is a base64 descriptor)."""
    return selectors.schema_text_in_format(record.id, request.query_params.get("format") or "")


def raw_schema_response(request: Request, text: str) -> HttpResponse:
    """The bare schema text, as Confluent's /schema endpoints answer."""
    return HttpResponse(text, content_type=request.accepted_media_type or REGISTRY_MEDIA_TYPE)


def prepared_from_body(request: Request) -> selectors.PreparedSchema:
    """The schema of a lookup or compatibility request. The identity and the verdict do not
    depend on normalization (only the text a registration stores does), so `normalize` is moot."""
    body = json_body(request)
    query_bool(request, "normalize")  # still a boolean, like everywhere else
    return selectors.prepare_schema(
        schema_text=body.get("schema"), schema_type=body.get("schemaType"), references=body.get("references")
    )


# ---------------------------------------------------------------------------------------------
# Root and contexts
# ---------------------------------------------------------------------------------------------
class RootView(RegistryView):
    def get(self, request: Request) -> Response:
        return Response({})


class ContextsView(RegistryView):
    def get(self, request: Request) -> Response:
        return Response(["."])  # only the default context


# ---------------------------------------------------------------------------------------------
# Subjects
# ---------------------------------------------------------------------------------------------
class SubjectListView(RegistryView):
    def get(self, request: Request) -> Response:
        names = selectors.subject_names(
            prefix=request.query_params.get("subjectPrefix", ""),
            deleted=query_bool(request, "deleted"),
            deleted_only=query_bool(request, "deletedOnly", "deleted_only"),
        )
        return Response(paginate(request, names))


class SubjectView(RegistryView):
    write_methods = frozenset({"DELETE"})

    def post(self, request: Request, subject: str) -> Response:
        """Lookup: is this schema registered under the subject, and as which version?"""
        prepared = prepared_from_body(request)
        found = selectors.subject_lookup(subject, prepared, deleted=query_bool(request, "deleted"))
        return Response(version_body(found))

    def delete(self, request: Request, subject: str) -> Response:
        return Response(services.subject_delete(subject=subject, permanent=query_bool(request, "permanent")))


class SubjectVersionListView(RegistryView):
    write_methods = frozenset({"POST"})

    def get(self, request: Request, subject: str) -> Response:
        numbers = selectors.subject_version_numbers(
            subject,
            deleted=query_bool(request, "deleted"),
            deleted_only=query_bool(request, "deletedOnly", "deleted_only"),
        )
        return Response(paginate(request, numbers))

    def post(self, request: Request, subject: str) -> Response:
        body = json_body(request)
        registration = services.subject_register_version(
            subject=subject,
            schema_text=body.get("schema"),
            schema_type=body.get("schemaType"),
            references=body.get("references"),
            normalize=query_bool(request, "normalize") if "normalize" in request.query_params else None,
            id=body.get("id"),
            version=body.get("version"),
        )
        return Response({"id": registration.schema_id, "version": registration.version})


class SubjectVersionView(RegistryView):
    write_methods = frozenset({"DELETE"})

    def get(self, request: Request, subject: str, version: str) -> Response:
        registered = selectors.subject_version_get(
            subject, selectors.parse_version(version), deleted=query_bool(request, "deleted")
        )
        return Response(version_body(registered, schema_text_for(request, registered.schema)))

    def delete(self, request: Request, subject: str, version: str) -> Response:
        deleted = services.subject_version_delete(
            subject=subject, version=selectors.parse_version(version), permanent=query_bool(request, "permanent")
        )
        return Response(deleted)


class SubjectVersionSchemaView(RegistryView):
    def get(self, request: Request, subject: str, version: str) -> HttpResponse:
        registered = selectors.subject_version_get(
            subject, selectors.parse_version(version), deleted=query_bool(request, "deleted")
        )
        return raw_schema_response(request, schema_text_for(request, registered.schema))


class SubjectVersionReferencedByView(RegistryView):
    def get(self, request: Request, subject: str, version: str) -> Response:
        registered = selectors.subject_version_get(subject, selectors.parse_version(version), deleted=True)
        return Response(paginate(request, selectors.referenced_by(subject, registered.version)))


# ---------------------------------------------------------------------------------------------
# Schemas by id
# ---------------------------------------------------------------------------------------------
class SchemaByIdView(RegistryView):
    def get(self, request: Request, schema_id: int) -> Response:
        record = selectors.schema_by_id(schema_id)
        return Response(schema_fields(record, schema_text_for(request, record)))


class SchemaByIdSchemaView(RegistryView):
    def get(self, request: Request, schema_id: int) -> HttpResponse:
        record = selectors.schema_by_id(schema_id)
        return raw_schema_response(request, schema_text_for(request, record))


class SchemaIdVersionsView(RegistryView):
    def get(self, request: Request, schema_id: int) -> Response:
        pairs = selectors.schema_id_versions(schema_id, deleted=query_bool(request, "deleted"))
        subject = request.query_params.get("subject")
        items = [{"subject": s, "version": v} for s, v in pairs if subject is None or s == subject]
        return Response(paginate(request, items))


class SchemaIdSubjectsView(RegistryView):
    def get(self, request: Request, schema_id: int) -> Response:
        subjects = selectors.schema_id_subjects(schema_id, deleted=query_bool(request, "deleted"))
        subject = request.query_params.get("subject")
        return Response(paginate(request, [s for s in subjects if subject is None or s == subject]))


class SchemaTypesView(RegistryView):
    def get(self, request: Request) -> Response:
        return Response(SCHEMA_TYPES)


class SchemaListView(RegistryView):
    def get(self, request: Request) -> Response:
        limit = query_int(request, "limit", -1)
        versions = selectors.schema_list(
            prefix=request.query_params.get("subjectPrefix", ""),
            deleted=query_bool(request, "deleted"),
            latest_only=query_bool(request, "latestOnly", "latest_only"),
            offset=max(query_int(request, "offset", 0), 0),
            limit=limit,
        )
        return Response([version_body(item) for item in versions])


# ---------------------------------------------------------------------------------------------
# Config and mode
# ---------------------------------------------------------------------------------------------
def config_body(compatibility: str, normalize: bool | None) -> dict[str, Any]:
    body: dict[str, Any] = {"compatibilityLevel": compatibility}
    if normalize:
        body["normalize"] = normalize
    return body


def config_from_body(request: Request) -> dict[str, Any]:
    body = json_body(request)
    normalize = body.get("normalize")
    if normalize is not None and not isinstance(normalize, bool):
        raise InvalidParameterError("normalize must be true or false")
    return {"compatibility": body.get("compatibility", body.get("compatibilityLevel")), "normalize": normalize}


class ConfigView(RegistryView):
    write_methods = frozenset({"PUT", "DELETE"})

    def get(self, request: Request) -> Response:
        config = selectors.global_config()
        return Response(config_body(config.compatibility, config.normalize))

    def put(self, request: Request) -> Response:
        return Response(services.config_set(**config_from_body(request)))

    def delete(self, request: Request) -> Response:
        previous = services.config_delete()
        return Response(config_body(previous["compatibility"], previous["normalize"]))


class SubjectConfigView(RegistryView):
    write_methods = frozenset({"PUT", "DELETE"})
    config_view = True  # DELETE resets the subject's setting to the global one: a change, not a delete

    def get(self, request: Request, subject: str) -> Response:
        config = selectors.subject_config(subject, default_to_global=query_bool(request, "defaultToGlobal"))
        return Response(config_body(config["compatibility"], config["normalize"]))

    def put(self, request: Request, subject: str) -> Response:
        return Response(services.config_set(subject=subject, **config_from_body(request)))

    def delete(self, request: Request, subject: str) -> Response:
        previous = services.config_delete(subject=subject)
        return Response(config_body(previous["compatibility"], previous["normalize"]))


class ModeView(RegistryView):
    write_methods = frozenset({"PUT"})

    def get(self, request: Request) -> Response:
        return Response({"mode": selectors.global_config().mode})

    def put(self, request: Request) -> Response:
        mode = services.mode_set(mode=json_body(request).get("mode"), force=query_bool(request, "force"))
        return Response({"mode": mode.value})


class SubjectModeView(RegistryView):
    write_methods = frozenset({"PUT", "DELETE"})
    config_view = True  # DELETE resets the subject's setting to the global one: a change, not a delete

    def get(self, request: Request, subject: str) -> Response:
        mode = selectors.subject_mode(subject, default_to_global=query_bool(request, "defaultToGlobal"))
        return Response({"mode": mode.value})

    def put(self, request: Request, subject: str) -> Response:
        mode = services.mode_set(
            subject=subject, mode=json_body(request).get("mode"), force=query_bool(request, "force")
        )
        return Response({"mode": mode.value})

    def delete(self, request: Request, subject: str) -> Response:
        return Response({"mode": services.mode_delete(subject=subject).value})


# ---------------------------------------------------------------------------------------------
# Compatibility
# ---------------------------------------------------------------------------------------------
class CompatibilityView(RegistryView):
    """Test a schema against one version (or, without a version, the subject's live versions)."""

    def post(self, request: Request, subject: str, version: str | None = None) -> Response:
        spec = selectors.parse_version(version) if version is not None else None
        prepared = prepared_from_body(request)
        messages = selectors.compatibility_messages(subject, prepared, version=spec)
        body: dict[str, Any] = {"is_compatible": not messages}
        if query_bool(request, "verbose"):
            body["messages"] = messages
        return Response(body)


# ---------------------------------------------------------------------------------------------
# What we do not serve
# ---------------------------------------------------------------------------------------------
class NotFoundView(RegistryView):
    """Unknown registry paths (and associations, so clients fall back to topic naming): 404."""

    def _not_found(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response({"error_code": 404, "message": "HTTP 404 Not Found"}, status=404)

    get = post = put = delete = patch = _not_found
