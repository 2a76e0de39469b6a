"""Page URLs of the monitoring app (traces live at the top level: /traces/<id>/)."""

from django.urls import path

from . import views

app_name = "monitoring"

urlpatterns = [
    path("", views.index, name="index"),
]
