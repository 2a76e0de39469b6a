"""Trace and flow API routes under /api/v1/. The trace's URL is DESIGN.md's (no trailing slash); one with a
slash answers the same, like the rest of the API's URLs."""

from django.urls import path

from . import views

urlpatterns = [
    path("traces/", views.trace_search, name="api-trace-search"),
    path("traces/<str:correlation_id>", views.trace_detail, name="api-trace-detail"),
    path("traces/<str:correlation_id>/", views.trace_detail_with_slash, name="api-trace-detail-slash"),
    path("flows/", views.flow_list, name="api-flow-list"),
]
