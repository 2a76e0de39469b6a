"""Page URLs of the monitoring app (traces live at the top level: /traces/<id>/)."""

from django.urls import path

from . import alert_views, lag_views, status_views, views

app_name = "monitoring"

urlpatterns = [
    path("", views.index, name="index"),
    path("flows/", views.flows, name="flows"),
    path("latency/", views.latency, name="latency"),
    path("dead-letters/", views.dead_letters, name="dead-letters"),
    path("indexer/", status_views.indexer_status, name="indexer-status"),
    # Consumer lag: cluster health and the group page's live partials; alerts and their rules.
    path("clusters/", lag_views.cluster_list, name="cluster-list"),
    path("clusters/<int:pk>/", lag_views.cluster_health, name="cluster-health"),
    path("groups/<int:pk>/lag/", lag_views.group_lag_live, name="group-lag-live"),
    path("groups/<int:pk>/charts/", lag_views.group_lag_charts, name="group-lag-charts"),
    path("alerts/", alert_views.alerts, name="alerts"),
    path("alerts/rules/new/", alert_views.rule_create, name="alert-rule-create"),
    path("alerts/rules/<int:pk>/", alert_views.rule_edit, name="alert-rule-edit"),
    path("alerts/rules/<int:pk>/delete/", alert_views.rule_delete, name="alert-rule-delete"),
]
