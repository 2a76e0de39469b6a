from django.urls import path
from rest_framework.routers import SimpleRouter

from .audit_views import AuditEntryViewSet
from .policy_views import PolicyCheckView, SchemaPolicyView
from .views import ApiTokenViewSet

router = SimpleRouter()
router.register("tokens", ApiTokenViewSet, basename="api-token")
router.register("audit-log", AuditEntryViewSet, basename="api-audit-log")

urlpatterns = [
    path("schema-policies/", SchemaPolicyView.as_view(), name="api-schema-policy"),
    path("schema-policies/check/", PolicyCheckView.as_view(), name="api-schema-policy-check"),
    path("schema-policies/domains/<slug:slug>/", SchemaPolicyView.as_view(), name="api-schema-policy-domain"),
    *router.urls,
]
