"""Schema policies over the API: read them, change them (admin), check a schema against them."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.models import Domain
from eventscope.roles import ADMIN, request_role
from schemas import selectors as schema_selectors
from schemas.errors import RegistryError

from .. import policies, services
from .serializers import (
    PolicyCheckResultSerializer,
    PolicyCheckSerializer,
    SchemaPolicySerializer,
    SchemaPolicyWriteSerializer,
)


def _policy_body(domain: Domain | None) -> dict:
    layers = services.schema_policy_layers(domain)
    return {
        "domain": domain.slug if domain else None,
        "rules": layers.own.rules if layers.own else {},
        "effective": layers.effective,
        "updated_at": layers.own.updated_at if layers.own else None,
    }


class SchemaPolicyView(APIView):
    """The global schema policy settings (no slug) or a domain's. Reading: anyone; changing: admin."""

    permission_classes = [IsAuthenticated]

    def _domain(self, slug: str | None) -> Domain | None:
        return get_object_or_404(Domain, slug=slug) if slug else None

    @extend_schema(responses=SchemaPolicySerializer)
    def get(self, request: Request, slug: str | None = None) -> Response:
        return Response(_policy_body(self._domain(slug)))

    @extend_schema(request=SchemaPolicyWriteSerializer, responses=SchemaPolicySerializer)
    def put(self, request: Request, slug: str | None = None) -> Response:
        if request_role(request) != ADMIN:
            raise PermissionDenied("Changing schema policies needs the admin role.")
        domain = self._domain(slug)
        body = SchemaPolicyWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            services.schema_policy_set(rules=body.validated_data["rules"], domain=domain, user=request.user)
        except ValidationError as exc:
            raise DRFValidationError(exc.message_dict) from exc
        return Response(_policy_body(domain))


class PolicyCheckView(APIView):
    """Check a proposed schema against the subject's policies (writes nothing)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=PolicyCheckSerializer, responses=PolicyCheckResultSerializer)
    def post(self, request: Request) -> Response:
        body = PolicyCheckSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        subject = body.validated_data["subject"]
        try:
            prepared = schema_selectors.prepare_schema(
                schema_text=body.validated_data["schema"], schema_type=body.validated_data["schemaType"]
            )
        except RegistryError as exc:
            raise DRFValidationError({"schema": [exc.message]}) from exc
        previous, _ = schema_selectors.live_parsed_versions(subject)
        violations = services.schema_policy_check(subject, prepared.parsed, previous[-1] if previous else None)
        return Response(
            {
                "subject": subject,
                "passes": not any(v.severity == policies.ERROR for v in violations),
                "violations": [v.as_dict() for v in violations],
            }
        )
