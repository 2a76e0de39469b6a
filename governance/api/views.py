"""API tokens over the API: every user manages their own; admins see and revoke everyone's."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from eventscope.roles import ADMIN, request_role, user_role

from .. import services
from ..models import ApiToken
from .serializers import ApiTokenCreatedSerializer, ApiTokenCreateSerializer, ApiTokenSerializer


class ApiTokenViewSet(viewsets.GenericViewSet):
    """Your API tokens. The token text appears once, in the response that creates it.

    Creating a token needs a password or session login (a token cannot mint tokens); revoking needs
    the token's owner or an admin.
    """

    permission_classes = [IsAuthenticated]
    serializer_class = ApiTokenSerializer
    queryset = ApiToken.objects.none()  # for the schema generator

    def get_queryset(self):
        tokens = ApiToken.objects.select_related("user")
        if user_role(self.request.user) == ADMIN and request_role(self.request) == ADMIN:
            return tokens.all()
        return tokens.filter(user=self.request.user)

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ApiTokenSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk=None) -> Response:
        return Response(ApiTokenSerializer(get_object_or_404(self.get_queryset(), pk=pk)).data)

    @extend_schema(request=ApiTokenCreateSerializer, responses={201: ApiTokenCreatedSerializer})
    def create(self, request: Request) -> Response:
        if isinstance(request.auth, ApiToken):
            raise PermissionDenied("An API token cannot create tokens: log in with your password.")
        data = ApiTokenCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        days = data.validated_data.get("expires_in_days")
        expires_at = timezone.now() + dt.timedelta(days=days) if days else None
        try:
            token, clear = services.token_create(
                user=request.user,
                name=data.validated_data["name"],
                scope=data.validated_data["scope"],
                expires_at=expires_at,
            )
        except ValidationError as exc:
            raise DRFValidationError(exc.message_dict) from exc
        body = ApiTokenSerializer(token).data | {"token": clear}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: ApiTokenSerializer})
    def destroy(self, request: Request, pk=None) -> Response:
        """Revoke a token (it stays listed as revoked)."""
        token = get_object_or_404(self.get_queryset(), pk=pk)
        return Response(ApiTokenSerializer(services.token_revoke(token)).data)
