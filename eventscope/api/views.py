"""Project-wide API views."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response

from eventscope.roles import user_role


@extend_schema(
    responses=inline_serializer(
        "Me",
        {
            "username": serializers.CharField(),
            "role": serializers.CharField(),
            "can_write": serializers.BooleanField(),
        },
    )
)
@api_view(["GET"])
def me(request):
    """The authenticated user and their role."""
    role = user_role(request.user)
    return Response({"username": request.user.get_username(), "role": role, "can_write": role in ("editor", "admin")})
