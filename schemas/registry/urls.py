"""Routes of the Confluent-compatible registry under /registry/.

Django decodes %2F in the path before routing, so a subject such as "team/orders-value" arrives
with its slash: `<path:subject>` takes it, and the more specific routes (a /versions suffix) come
first. Subject names that end like one of those suffixes are refused at registration, so the
order resolves every real subject unambiguously.
"""

from django.urls import path, re_path

from . import views

app_name = "registry"

urlpatterns = [
    path("", views.RootView.as_view(), name="root"),
    path("contexts", views.ContextsView.as_view(), name="contexts"),
    path("subjects", views.SubjectListView.as_view(), name="subjects"),
    path(
        "subjects/<path:subject>/versions/<str:version>/schema",
        views.SubjectVersionSchemaView.as_view(),
        name="subject-version-schema",
    ),
    path(
        "subjects/<path:subject>/versions/<str:version>/referencedby",
        views.SubjectVersionReferencedByView.as_view(),
        name="subject-version-referencedby",
    ),
    path("subjects/<path:subject>/versions/<str:version>", views.SubjectVersionView.as_view(), name="subject-version"),
    path("subjects/<path:subject>/versions", views.SubjectVersionListView.as_view(), name="subject-versions"),
    path("subjects/<path:subject>", views.SubjectView.as_view(), name="subject"),
    path("schemas", views.SchemaListView.as_view(), name="schemas"),
    path("schemas/types", views.SchemaTypesView.as_view(), name="schema-types"),
    path("schemas/ids/<int:schema_id>", views.SchemaByIdView.as_view(), name="schema"),
    path("schemas/ids/<int:schema_id>/schema", views.SchemaByIdSchemaView.as_view(), name="schema-text"),
    path("schemas/ids/<int:schema_id>/versions", views.SchemaIdVersionsView.as_view(), name="schema-versions"),
    path("schemas/ids/<int:schema_id>/subjects", views.SchemaIdSubjectsView.as_view(), name="schema-subjects"),
    path("config", views.ConfigView.as_view(), name="config"),
    path("config/<path:subject>", views.SubjectConfigView.as_view(), name="subject-config"),
    path("mode", views.ModeView.as_view(), name="mode"),
    path("mode/<path:subject>", views.SubjectModeView.as_view(), name="subject-mode"),
    path(
        "compatibility/subjects/<path:subject>/versions/<str:version>",
        views.CompatibilityView.as_view(),
        name="compatibility-version",
    ),
    path(
        "compatibility/subjects/<path:subject>/versions",
        views.CompatibilityView.as_view(),
        name="compatibility",
    ),
    # Everything else, associations included (clients then fall back to topic naming): 404.
    re_path(r"^.*$", views.NotFoundView.as_view(), name="not-found"),
]
