"""Project-wide API views."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response

from eventscope.roles import request_role


@extend_schema(
    responses=inline_serializer(
        "Me",
        {
            "username": serializers.CharField(),
            "role": serializers.CharField(),
            "can_write": serializers.BooleanField(),
            "token": serializers.DictField(allow_null=True, help_text="The API token of this request, if any."),
        },
    )
)
@api_view(["GET"])
def me(request):
    """The authenticated user and the role this request acts with (an API token's scope caps it)."""
    role = request_role(request)
    token = getattr(request.auth, "scope_role", None) and request.auth
    return Response(
        {
            "username": request.user.get_username(),
            "role": role,
            "can_write": role in ("editor", "admin"),
            "token": {"name": token.name, "prefix": token.prefix, "scope": token.scope} if token else None,
        }
    )
