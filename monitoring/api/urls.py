"""Trace and flow API routes under /api/v1/. The trace's URL is DESIGN.md's (no trailing slash); one with a
slash answers the same, like the rest of the API's URLs."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import alert_views, latency_views, views

urlpatterns = [
    path("traces/", views.trace_search, name="api-trace-search"),
    path("traces/<str:correlation_id>", views.trace_detail, name="api-trace-detail"),
    path("traces/<str:correlation_id>/", views.trace_detail_with_slash, name="api-trace-detail-slash"),
    path("flows/", views.flow_list, name="api-flow-list"),
    path("latency/", latency_views.latency_overview, name="api-latency"),
]

# Alerts: rules (CRUD, editors write) and the alerts they raised (read).
alert_router = SimpleRouter()
alert_router.register("alert-rules", alert_views.AlertRuleViewSet, basename="api-alert-rule")
alert_router.register("alerts", alert_views.AlertViewSet, basename="api-alert")
urlpatterns += alert_router.urls
