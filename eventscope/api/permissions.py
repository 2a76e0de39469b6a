"""API permission layer: any authenticated user reads; writes need the editor or admin role (an API token's
scope caps its user's role)."""

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission

from eventscope.middleware import anonymous_may_read
from eventscope.roles import request_can_write
from governance import ownership


class ReadAuthenticatedWriteEditor(BasePermission):
    message = "Writing needs the editor or admin role."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return anonymous_may_read(request)
        if request.method in SAFE_METHODS:
            return True
        return request_can_write(request)


class OwnedObjectWrites(BasePermission):
    """Writes follow governance.ownership: a first gate (could this request write anything at all?), then the
    object itself: its owning team's editors, or any editor when nobody owns it; deletes need admin."""

    message = "Writing needs the editor or admin role, or editor membership of the owning team."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return anonymous_may_read(request)
        if request.method in SAFE_METHODS:
            return True
        return ownership.may_write_somewhere(request)

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in SAFE_METHODS:
            return True
        deleting = request.method == "DELETE" and not getattr(view, "delete_is_change", False)
        try:
            ownership.check_change(request, obj, action=ownership.DELETE if deleting else ownership.CHANGE)
        except ownership.OwnershipDenied as denied:
            self.message = str(denied)
            return False
        return True


def require_change(request, obj, *, new_owner=None) -> None:
    """In a view: a 403 in the API's error format unless the request may change `obj` (and move it)."""
    try:
        ownership.check_change(request, obj, new_owner=new_owner)
    except ownership.OwnershipDenied as denied:
        raise PermissionDenied(str(denied)) from denied


def require_create(request, owner_team=None) -> None:
    try:
        ownership.check_create(request, owner_team)
    except ownership.OwnershipDenied as denied:
        raise PermissionDenied(str(denied)) from denied
