"""Impact API: thin. Validates the body, calls `lineage.impact.analyze_impact`, answers in the project's formats."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import exceptions
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from catalog.api.serializers import ErrorSerializer
from lineage.impact import ImpactInputError, ImpactNotFoundError, analyze_impact

from .serializers import ImpactReportSerializer, ImpactRequestSerializer

__all__ = ["impact"]


@extend_schema(
    operation_id="impact_analyze",
    request=ImpactRequestSerializer,
    responses={200: ImpactReportSerializer, 400: ErrorSerializer, 401: ErrorSerializer, 404: ErrorSerializer},
    examples=[
        OpenApiExample(
            "Remove a field",
            request_only=True,
            value={
                "subject": "shop.payments.completed-value",
                "schemaType": "AVRO",
                "schema": '{"type": "record", "name": "PaymentCompleted", "fields": [...]}',
            },
        )
    ],
)
@api_view(["POST"])
@permission_classes([IsAuthenticated])  # any signed-in user: the analysis writes nothing
def impact(request):
    """Whether a proposed schema is compatible under its subject's level, what changes field by field, and
    every consumer (direct and transitive) with its team, contact, group, topic, depth and verdict
    (breaks / safe / unknown). `markdown` holds the report as a pull-request comment."""
    serializer = ImpactRequestSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    try:
        report = analyze_impact(
            subject=data.get("subject"),
            topic=data.get("topic"),
            schema_text=data["schema"],
            schema_type=data["schemaType"],
            references=[dict(reference) for reference in data["references"]] if "references" in data else None,
        )
    except ImpactNotFoundError as exc:
        raise exceptions.NotFound(exc.message) from None
    except ImpactInputError as exc:
        raise exceptions.ValidationError({exc.field: [exc.message]}, code=exc.code) from None
    return Response({**report.as_dict(), "markdown": report.to_markdown()})
