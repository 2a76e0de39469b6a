"""Page URLs of the monitoring app (traces live at the top level: /traces/<id>/)."""

from django.urls import path

from . import status_views, views

app_name = "monitoring"

urlpatterns = [
    path("", views.index, name="index"),
    path("flows/", views.flows, name="flows"),
    path("dead-letters/", views.dead_letters, name="dead-letters"),
    path("indexer/", status_views.indexer_status, name="indexer-status"),
]
