"""Template context shared by every page: the navigation of the four journeys and the user's role."""

from django.conf import settings

from .roles import ADMIN, EDITOR, user_role

NAVIGATION = (
    ("catalog", "Catalog", "catalog:index"),
    ("schemas", "Schemas", "schemas:index"),
    ("lineage", "Lineage", "lineage:index"),
    ("monitoring", "Monitoring", "monitoring:index"),
    ("governance", "Governance", "governance:audit-log"),
)


def navigation(request):
    section = request.resolver_match.namespace if request.resolver_match else ""
    role = user_role(request.user) if hasattr(request, "user") else None  # one groups query per page
    return {
        "nav_items": NAVIGATION,
        "nav_section": section,
        "user_role": role,
        "user_can_write": role in (EDITOR, ADMIN),
        "anonymous_read": settings.EVENTSCOPE_ANONYMOUS_READ,
    }
