"""Page URLs of the schemas app: /schemas/ and the subject pages.

Subject names may contain "/" (and catalog links send it as %2F, which Django decodes before matching), so
the subject is a <path:> and the fixed suffixes (diff/, check/, register/, validate/) are listed before the
plain subject page: "/schemas/subjects/a/b/diff/" is the diff of subject "a/b".
"""

from django.urls import path

from . import views
from .external import views as external_views

app_name = "schemas"

urlpatterns = [
    path("", views.index, name="index"),
    # Existing (external) registries and their read-only mirrors.
    path("external/", external_views.registry_list, name="external-registries"),
    path("external/new/", external_views.registry_create, name="external-registry-create"),
    path("external/<slug:name>/", external_views.registry_detail, name="external-registry"),
    path("external/<slug:name>/edit/", external_views.registry_edit, name="external-registry-edit"),
    path("external/<slug:name>/sync/", external_views.registry_sync, name="external-registry-sync"),
    path("external/<slug:name>/delete/", external_views.registry_delete, name="external-registry-delete"),
    path("subjects/<path:subject>/diff/", views.subject_diff, name="subject-diff"),
    path("subjects/<path:subject>/check/", views.subject_check, name="subject-check"),
    path("subjects/<path:subject>/register/", views.subject_register, name="subject-register"),
    path("subjects/<path:subject>/validate/", views.subject_validate, name="subject-validate"),
    path("subjects/<path:subject>/", views.subject_detail, name="subject"),
]
