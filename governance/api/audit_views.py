"""The audit log over the API: read-only, filterable, for any authenticated user (secrets are masked)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.permissions import IsAuthenticated

from ..filtersets import AuditEntryFilterSet
from ..models import AuditEntry
from .serializers import AuditEntrySerializer


@extend_schema_view()
class AuditEntryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Every change: who, when, through what (page, api, registry, cli, task), the object, before and after."""

    permission_classes = [IsAuthenticated]
    serializer_class = AuditEntrySerializer
    queryset = AuditEntry.objects.all()
    filterset_class = AuditEntryFilterSet
    search_fields = ["object_repr", "actor_name"]
    ordering_fields = ["timestamp"]
    ordering = ["-timestamp", "-id"]
