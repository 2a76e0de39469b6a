"""Lineage API routes under /api/v1/."""

from django.urls import path

from . import views

urlpatterns = [
    path("impact/", views.impact, name="api-impact"),
]
