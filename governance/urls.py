from django.urls import path

from . import views

app_name = "governance"

urlpatterns = [
    path("accounts/tokens/", views.tokens, name="tokens"),
    path("accounts/tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
    path("governance/policies/", views.policies, name="policies"),
    path("governance/policies/<slug:slug>/", views.policies, name="domain-policies"),
    path("governance/audit-log/", views.audit_log, name="audit-log"),
    path("governance/audit-log/<int:pk>/", views.audit_entry, name="audit-entry"),
]
