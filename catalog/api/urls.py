"""Catalog API routes under /api/v1/ (resource names follow the pages: /catalog/topics/ -> /api/v1/topics/)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("clusters", views.ClusterViewSet, basename="api-cluster")
router.register("topics", views.TopicViewSet, basename="api-topic")
router.register("consumer-groups", views.ConsumerGroupViewSet, basename="api-consumer-group")
router.register("domains", views.DomainViewSet, basename="api-domain")
router.register("teams", views.TeamViewSet, basename="api-team")
router.register("services", views.ServiceViewSet, basename="api-service")
router.register("event-types", views.EventTypeViewSet, basename="api-event-type")
router.register("relations", views.RelationViewSet, basename="api-relation")

urlpatterns = [
    # DESIGN.md's URL has no trailing slash; the router's (with one) answers the same.
    path(
        "consumer-groups/<str:group_id>/lag",
        views.ConsumerGroupLagWithoutSlash.as_view({"get": "lag"}),
        name="api-consumer-group-lag-no-slash",
    ),
    *router.urls,
]
