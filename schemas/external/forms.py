"""The form of an external registry (admins create and edit them); the services validate and write.

The password or token field is write-only: it is never filled in from the stored value, and leaving it empty
on an edit keeps the stored one (tick "clear" to remove it).
"""

from __future__ import annotations

from typing import Any

from django import forms

from catalog.models import Cluster
from schemas.models_external import ExternalRegistry

__all__ = ["ExternalRegistryForm"]


class ExternalRegistryForm(forms.Form):
    name = forms.SlugField(max_length=100, help_text="Short name, e.g. confluent-prod.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    source_kind = forms.ChoiceField(label="Source", choices=ExternalRegistry.SourceKind.choices)
    url = forms.CharField(
        label="URL",
        required=False,
        max_length=1000,
        help_text="The registry's REST URL, e.g. https://schema-registry.example.com:8081",
    )
    auth_kind = forms.ChoiceField(label="Authentication", choices=ExternalRegistry.AuthKind.choices)
    username = forms.CharField(required=False, max_length=255, help_text="HTTP Basic only.")
    secret = forms.CharField(
        label="Password or token",
        required=False,
        strip=False,
        max_length=4000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted, never shown again. On an edit, leave empty to keep the stored one.",
    )
    clear_secret = forms.BooleanField(label="Clear the stored password or token", required=False)
    ca_pem = forms.CharField(
        label="TLS CA certificate (PEM)",
        required=False,
        strip=False,
        max_length=100_000,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "class": "code-input"}),
        help_text="Only when the registry's certificate is not signed by a public CA.",
    )
    cluster = forms.ModelChoiceField(
        queryset=Cluster.objects.order_by("name"),
        to_field_name="name",
        required=False,
        empty_label="No cluster",
        help_text="The Kafka cluster whose producers use this registry (a storage-topic source reads its topic there).",
    )
    topic = forms.CharField(label="Storage topic", max_length=249, initial="_schemas", required=False)
    mode = forms.ChoiceField(
        choices=ExternalRegistry.Mode.choices,
        help_text="\"Instead\": the cluster's records are framed with this registry's ids, and tracing decodes them "
        "with its schemas.",
    )
    sync_enabled = forms.BooleanField(label="Mirror on a schedule", required=False, initial=True)
    sync_interval_s = forms.IntegerField(label="Every (seconds)", min_value=1, initial=300)

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not editing:
            del self.fields["clear_secret"]

    def values(self) -> dict[str, Any]:
        """The cleaned data as keyword arguments of the services (`secret`: None keeps, "" clears)."""
        data = dict(self.cleaned_data)
        clear = data.pop("clear_secret", False)
        secret = data.get("secret") or None
        data["secret"] = "" if clear else secret
        data["topic"] = data.get("topic") or "_schemas"
        return data
