"""Page URLs of the lineage app."""

from django.urls import path

from . import views

app_name = "lineage"

urlpatterns = [
    path("", views.index, name="index"),
]
