"""The alert rule form of the alerts page: it parses input; monitoring.alert_rules checks and writes.

A plain form (not a ModelForm), as in the catalog: `cleaned_data` goes to one service call, and the service's
ValidationError comes back onto the form. The webhook URL is never put back into the form: on edit an empty
field keeps the stored one, and "remove webhook" clears it.
"""

from __future__ import annotations

from typing import Any

from django import forms

from catalog.models import Cluster

from .alert_rules import KEEP, MAX_FOR_MINUTES
from .models import AlertRule

__all__ = ["AlertRuleForm"]


class AlertRuleForm(forms.Form):
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=AlertRule.Kind.choices, label="Condition")
    threshold = forms.FloatField(
        required=False,
        help_text="Seconds for a time-lag rule, messages for a lag rule; empty for the other kinds.",
    )
    for_minutes = forms.IntegerField(
        min_value=0,
        max_value=MAX_FOR_MINUTES,
        initial=5,
        label="For (minutes)",
        help_text="How long the condition must hold before the alert fires (no data: minutes without a good poll).",
    )
    cluster = forms.ModelChoiceField(
        queryset=Cluster.objects.order_by("name"), required=False, empty_label="All clusters"
    )
    group_pattern = forms.CharField(
        max_length=255,
        required=False,
        label="Consumer groups",
        help_text="A group id or a pattern such as orders-* (empty: every group).",
    )
    webhook_url = forms.CharField(
        required=False,
        max_length=2000,
        label="Webhook URL",
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "https://hooks.example.com/..."}),
        help_text="Notifications are POSTed here as JSON. Stored encrypted and never shown again.",
    )
    webhook_secret = forms.CharField(
        required=False,
        max_length=200,
        label="Signing secret",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Optional. Each POST then carries X-Eventscope-Signature: sha256=<HMAC-SHA256 of the body>. "
        "Stored encrypted.",
    )
    remove_webhook = forms.BooleanField(required=False, label="Remove the stored webhook (and its secret)")
    payload_format = forms.ChoiceField(choices=AlertRule.PayloadFormat.choices, initial=AlertRule.PayloadFormat.JSON)
    enabled = forms.BooleanField(required=False, initial=True)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args: Any, rule: AlertRule | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rule = rule
        if rule is None:
            del self.fields["remove_webhook"]
        elif rule.has_webhook:
            stored = f"Stored: {rule.webhook_url_masked} (encrypted). Leave empty to keep it, or enter a new URL."
            self.fields["webhook_url"].help_text = stored
        if rule is not None and rule.has_webhook_secret:
            self.fields["webhook_secret"].help_text = "A secret is stored (encrypted). Leave empty to keep it."

    def service_values(self) -> dict[str, Any]:
        """The cleaned values as alert_rule_create / alert_rule_update take them."""
        values = dict(self.cleaned_data)
        remove = values.pop("remove_webhook", False)
        url = (values.get("webhook_url") or "").strip()
        secret = values.get("webhook_secret") or ""
        if self.rule is not None:
            values["webhook_url"] = "" if remove else (url or KEEP)
            values["webhook_secret"] = "" if remove else (secret or KEEP)
        else:
            values["webhook_url"] = url
            values["webhook_secret"] = secret
        values["group_pattern"] = values.get("group_pattern") or ""
        return values

    @staticmethod
    def initial_for(rule: AlertRule) -> dict[str, Any]:
        return {
            "name": rule.name,
            "kind": rule.kind,
            "threshold": rule.threshold,
            "for_minutes": rule.for_minutes,
            "cluster": rule.cluster_id,
            "group_pattern": rule.group_pattern,
            "payload_format": rule.payload_format,
            "enabled": rule.enabled,
            "description": rule.description,
        }
