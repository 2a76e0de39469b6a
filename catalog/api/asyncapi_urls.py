"""AsyncAPI export and import routes under /api/v1/."""

from django.urls import path

from . import asyncapi

urlpatterns = [
    path("asyncapi/", asyncapi.AsyncAPICatalogView.as_view(), name="api-asyncapi-catalog"),
    path("asyncapi/services/<slug:slug>/", asyncapi.AsyncAPIServiceView.as_view(), name="api-asyncapi-service"),
    path("asyncapi/import/", asyncapi.AsyncAPIImportView.as_view(), name="api-asyncapi-import"),
]
