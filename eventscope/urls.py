"""Top-level URLs: pages per app, the REST API, the registry, health and metrics."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from governance.forms import ThrottledAuthenticationForm
from monitoring import views as monitoring_views

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    path("search/suggest/", views.search_suggest, name="search-suggest"),
    path("catalog/", include("catalog.urls")),
    path("schemas/", include("schemas.urls")),
    path("lineage/", include("lineage.urls")),
    path("monitoring/", include("monitoring.urls")),
    path("traces/<str:correlation_id>/", monitoring_views.trace_detail, name="trace-detail"),
    path("traces/<str:correlation_id>/payload/", monitoring_views.trace_payload, name="trace-payload"),
    path("api/v1/", include("eventscope.api.urls")),
    path("registry/", include("schemas.registry.urls")),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True, authentication_form=ThrottledAuthenticationForm),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("governance.urls")),
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics, name="metrics"),
]
