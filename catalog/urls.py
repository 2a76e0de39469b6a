"""Page URLs of the catalog app (the public contract: /catalog/ and its lists and detail pages)."""

from django.urls import path

from . import asyncapi_views, views

app_name = "catalog"

urlpatterns = [
    path("", views.index, name="index"),
    # Topics: Kafka names are [a-zA-Z0-9._-], so <str:> (anything but "/") takes names with dots.
    path("topics/", views.TopicListView.as_view(), name="topic-list"),
    path("topics/<slug:cluster>/<str:name>/", views.topic_detail, name="topic-detail"),
    path("topics/<slug:cluster>/<str:name>/edit/", views.topic_edit, name="topic-edit"),
    # Consumer group ids are free text and may hold "/": <path:>, with edit/ listed first so it wins.
    path("consumer-groups/", views.ConsumerGroupListView.as_view(), name="consumer-group-list"),
    path("consumer-groups/<slug:cluster>/<path:group_id>/edit/", views.consumer_group_edit, name="consumer-group-edit"),
    path("consumer-groups/<slug:cluster>/<path:group_id>/", views.consumer_group_detail, name="consumer-group-detail"),
    # The documented catalog; "new" is a reserved slug (catalog.services.documentation.RESERVED_SLUGS).
    path("event-types/", views.EventTypeListView.as_view(), name="event-type-list"),
    path("event-types/new/", views.event_type_create, name="event-type-create"),
    path("event-types/<slug:slug>/", views.event_type_detail, name="event-type-detail"),
    path("event-types/<slug:slug>/edit/", views.event_type_edit, name="event-type-edit"),
    path("services/", views.ServiceListView.as_view(), name="service-list"),
    path("services/new/", views.service_create, name="service-create"),
    path("services/<slug:slug>/", views.service_detail, name="service-detail"),
    path("services/<slug:slug>/edit/", views.service_edit, name="service-edit"),
    path("services/<slug:slug>/relations/new/", views.relation_create, name="service-relation-create"),
    path("relations/<int:pk>/delete/", views.relation_delete, name="relation-delete"),
    path("relations/<int:pk>/reader/", views.relation_edit_reader, name="relation-edit-reader"),
    path("teams/", views.TeamListView.as_view(), name="team-list"),
    path("teams/new/", views.team_create, name="team-create"),
    path("teams/<slug:slug>/", views.team_detail, name="team-detail"),
    path("teams/<slug:slug>/edit/", views.team_edit, name="team-edit"),
    path("domains/", views.DomainListView.as_view(), name="domain-list"),
    path("domains/new/", views.domain_create, name="domain-create"),
    path("domains/<slug:slug>/", views.domain_detail, name="domain-detail"),
    path("domains/<slug:slug>/edit/", views.domain_edit, name="domain-edit"),
    # AsyncAPI 3.0 export and import (catalog.asyncapi_views).
    path("asyncapi.yaml", asyncapi_views.catalog_asyncapi_download, name="asyncapi-catalog"),
    path("asyncapi.json", asyncapi_views.catalog_asyncapi_download, {"fmt": "json"}, name="asyncapi-catalog-json"),
    path("asyncapi/import/", asyncapi_views.asyncapi_import_page, name="asyncapi-import"),
    path("services/<slug:slug>/asyncapi.yaml", asyncapi_views.service_asyncapi_download, name="service-asyncapi"),
    path(
        "services/<slug:slug>/asyncapi.json",
        asyncapi_views.service_asyncapi_download,
        {"fmt": "json"},
        name="service-asyncapi-json",
    ),
    path("clusters/", views.ClusterListView.as_view(), name="cluster-list"),
    path("clusters/<slug:name>/", views.cluster_detail, name="cluster-detail"),
    path("clusters/<slug:name>/sync/", views.cluster_sync, name="cluster-sync"),
    path("clusters/<slug:name>/test-connection/", views.cluster_test_connection, name="cluster-test-connection"),
]
