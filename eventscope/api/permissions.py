"""API permission layer: any authenticated user reads; writes need the editor or admin role (an API token's
scope caps its user's role)."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from eventscope.roles import request_can_write


class ReadAuthenticatedWriteEditor(BasePermission):
    message = "Writing needs the editor or admin role."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if request.method in SAFE_METHODS:
            return True
        return request_can_write(request)
