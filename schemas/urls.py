"""Page URLs of the schemas app."""

from django.urls import path

from . import views

app_name = "schemas"

urlpatterns = [
    path("", views.index, name="index"),
]
