"""API views of external registries: read for anyone signed in; create, change and delete for admins;
"sync now" for editors. Thin: a serializer checks the shape, one service writes."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from eventscope.api.errors import error_response
from eventscope.api.permissions import ReadAuthenticatedWriteEditor
from eventscope.roles import ADMIN, request_role
from schemas.models_external import ExternalRegistry

from .. import selectors, services
from . import serializers as s


class ChangesNeedAdmin(BasePermission):
    message = "Creating, changing or deleting an external registry needs the admin role."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS or getattr(view, "action", None) == "sync":
            return True
        return request_role(request) == ADMIN


class Pagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 1000


class ExternalRegistryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Existing Confluent-compatible registries mirrored read-only. The secret is write-only."""

    queryset = ExternalRegistry.objects.none()  # for the schema generator; requests use the selector
    serializer_class = s.ExternalRegistrySerializer
    permission_classes = [ReadAuthenticatedWriteEditor, ChangesNeedAdmin]
    pagination_class = Pagination
    lookup_field = "name"
    lookup_value_regex = "[-a-zA-Z0-9_]+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return selectors.external_registry_list()

    def get_object(self) -> ExternalRegistry:
        found = self.get_queryset().filter(name=self.kwargs["name"]).first()
        if found is None:
            raise exceptions.NotFound("No external registry with this name.")
        self.check_object_permissions(self.request, found)
        return found

    def _input(self, *, partial: bool) -> dict[str, Any]:
        serializer = s.ExternalRegistryInputSerializer(data=self.request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def _written(self, registry: ExternalRegistry, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=registry.pk)
        return Response(s.ExternalRegistrySerializer(fresh).data, status=code)

    @extend_schema(request=s.ExternalRegistryInputSerializer, responses={201: s.ExternalRegistrySerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        values = self._input(partial=False)
        return self._written(services.external_registry_create(**values), status.HTTP_201_CREATED)

    @extend_schema(request=s.ExternalRegistryInputSerializer, responses={200: s.ExternalRegistrySerializer})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        registry = self.get_object()
        values = self._input(partial=True)
        return self._written(services.external_registry_update(registry=registry, **values))

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.external_registry_delete(registry=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={202: s.RegistrySyncRequestedSerializer})
    @action(detail=True, methods=["post"])
    def sync(self, request: Request, name: str) -> Response:
        """Queue a sync of the registry ("sync now"); 503 when the task queue is down."""
        registry = self.get_object()
        try:
            services.external_registry_sync_request(registry=registry)
        except services.SyncQueueUnavailableError as exc:
            return error_response(status.HTTP_503_SERVICE_UNAVAILABLE, "queue_unavailable", str(exc))
        return Response({"registry": registry.name, "status": "queued"}, status=status.HTTP_202_ACCEPTED)
