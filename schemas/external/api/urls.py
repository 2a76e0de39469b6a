"""External registry API routes under /api/v1/."""

from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("external-registries", views.ExternalRegistryViewSet, basename="api-external-registry")

urlpatterns = router.urls
