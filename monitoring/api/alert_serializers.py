"""Alert API serializers: rules in (the webhook URL write-only) and out (only its masked form), alerts out."""

from __future__ import annotations

from rest_framework import serializers

from catalog.models import Cluster

from ..alert_rules import MAX_FOR_MINUTES, MAX_WEBHOOK_URL_LENGTH
from ..models import Alert, AlertNotification, AlertRule

__all__ = ["AlertRuleInputSerializer", "AlertRuleSerializer", "AlertSerializer"]


class AlertRuleSerializer(serializers.ModelSerializer):
    cluster = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    condition = serializers.CharField(source="condition_text", read_only=True)
    scope = serializers.CharField(source="scope_text", read_only=True)
    has_webhook = serializers.BooleanField(read_only=True)
    has_webhook_secret = serializers.BooleanField(read_only=True)
    webhook_url_masked = serializers.CharField(
        read_only=True, help_text="Scheme and host of the webhook; the full URL is never shown."
    )
    open_alerts = serializers.IntegerField(read_only=True)

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "name",
            "description",
            "kind",
            "condition",
            "threshold",
            "for_minutes",
            "cluster",
            "group_pattern",
            "scope",
            "enabled",
            "has_webhook",
            "webhook_url_masked",
            "has_webhook_secret",
            "payload_format",
            "open_alerts",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class AlertRuleInputSerializer(serializers.Serializer):
    """The shape of a write; the service (monitoring.alert_rules) checks the rest."""

    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True)
    kind = serializers.ChoiceField(choices=AlertRule.Kind.choices)
    threshold = serializers.FloatField(required=False, allow_null=True)
    for_minutes = serializers.IntegerField(required=False, min_value=0, max_value=MAX_FOR_MINUTES)
    cluster = serializers.SlugRelatedField(
        slug_field="name", queryset=Cluster.objects.all(), required=False, allow_null=True, help_text="Cluster name."
    )
    group_pattern = serializers.CharField(required=False, allow_blank=True, max_length=255)
    enabled = serializers.BooleanField(required=False)
    webhook_url = serializers.CharField(
        required=False,
        allow_blank=True,
        write_only=True,
        max_length=MAX_WEBHOOK_URL_LENGTH,
        help_text='Stored encrypted, never returned. On PATCH: omit to keep, "" to remove.',
    )
    webhook_secret = serializers.CharField(
        required=False,
        allow_blank=True,
        write_only=True,
        max_length=200,
        help_text='Signs each POST (X-Eventscope-Signature: sha256=<HMAC>). Write-only; omit to keep, "" to remove.',
    )
    payload_format = serializers.ChoiceField(choices=AlertRule.PayloadFormat.choices, required=False)


class AlertNotificationSerializer(serializers.ModelSerializer):
    # Declared, not derived: a derived field's bounds follow the database (smallint on PostgreSQL), and the
    # OpenAPI document must not change with it.
    attempts = serializers.IntegerField(read_only=True)
    response_status = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = AlertNotification
        fields = ["event", "status", "created_at", "attempts", "last_attempt_at", "response_status", "error"]


class AlertSerializer(serializers.ModelSerializer):
    rule = serializers.SerializerMethodField()
    cluster = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    group = serializers.SlugRelatedField(slug_field="group_id", read_only=True, allow_null=True)
    notifications = AlertNotificationSerializer(many=True, read_only=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "rule",
            "state",
            "subject",
            "subject_key",
            "cluster",
            "group",
            "since",
            "fired_at",
            "resolved_at",
            "value",
            "message",
            "resolution",
            "notifications",
        ]

    def get_rule(self, alert: Alert) -> dict:
        return {"id": alert.rule_id, "name": alert.rule.name, "kind": alert.rule.kind}
