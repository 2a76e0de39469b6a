"""REST API under /api/v1/: each app's api/urls.py is included here as it lands."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import views

urlpatterns = [
    path("me/", views.me, name="api-me"),
    path("", include("catalog.api.urls")),
    path("", include("catalog.api.asyncapi_urls")),
    path("", include("monitoring.api.urls")),
    path("", include("lineage.api.urls")),
    path("", include("governance.api.urls")),
    path("", include("schemas.external.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
