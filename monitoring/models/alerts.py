"""Alerts: rules people write, the alerts they raise (one open alert per rule and subject), and the record of
every notification sent to a rule's webhook.

An alert goes pending (its condition holds, not yet for long enough) -> firing (a notification goes out) ->
resolved (a second one goes out). A database constraint keeps at most one open alert per (rule, subject), so
two evaluations racing each other cannot fire twice.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from catalog.models import Cluster, ConsumerGroup

__all__ = ["Alert", "AlertNotification", "AlertRule"]


class AlertRule(models.Model):
    class Kind(models.TextChoices):
        GROUP_STATUS = "group_status", "Group status not OK"
        TIME_LAG = "time_lag", "Time lag over a threshold (seconds)"
        LAG_MESSAGES = "lag_messages", "Lag over a threshold (messages)"
        NO_DATA = "no_data", "No data from a cluster"

    class PayloadFormat(models.TextChoices):
        JSON = "json", "Eventscope JSON"
        SLACK = "slack", "Slack-compatible (text and blocks)"

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # Messages for lag_messages, seconds for time_lag; unused by group_status and no_data.
    threshold = models.FloatField(null=True, blank=True)
    # How long the condition must hold before the alert fires (no_data: minutes without a successful poll).
    for_minutes = models.PositiveIntegerField(default=0)
    # Scope: every cluster, or one; every group, or those whose id matches a glob (fnmatch: "orders-*").
    cluster = models.ForeignKey(Cluster, null=True, blank=True, on_delete=models.CASCADE, related_name="alert_rules")
    group_pattern = models.CharField(max_length=255, blank=True)
    enabled = models.BooleanField(default=True)
    # The webhook URL may carry a token: Fernet ciphertext (eventscope.secrets) here, and a masked form for
    # pages and the API (the plaintext is never shown again once saved).
    webhook_url_encrypted = models.TextField(blank=True, editable=False)
    webhook_url_masked = models.CharField(max_length=300, blank=True, editable=False)
    # Optional signing secret (encrypted too): each POST then carries X-Eventscope-Signature: sha256=<HMAC of the body>.
    webhook_secret_encrypted = models.TextField(blank=True, editable=False)
    payload_format = models.CharField(max_length=10, choices=PayloadFormat.choices, default=PayloadFormat.JSON)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_webhook(self) -> bool:
        return bool(self.webhook_url_encrypted)

    @property
    def has_webhook_secret(self) -> bool:
        return bool(self.webhook_secret_encrypted)

    @property
    def is_group_rule(self) -> bool:
        return self.kind != self.Kind.NO_DATA

    @property
    def condition_text(self) -> str:
        """The rule's condition for people: "time lag > 60 s for 5 min"."""
        duration = f" for {self.for_minutes} min" if self.for_minutes else ""
        if self.kind == self.Kind.GROUP_STATUS:
            return f"status not OK{duration}"
        if self.kind == self.Kind.TIME_LAG:
            return f"time lag > {self.threshold:g} s{duration}"
        if self.kind == self.Kind.LAG_MESSAGES:
            return f"lag > {self.threshold:g} messages{duration}"
        return f"no successful lag poll for {self.for_minutes} min"

    @property
    def scope_text(self) -> str:
        cluster = f"cluster {self.cluster.name}" if self.cluster_id else "all clusters"
        if not self.is_group_rule:
            return cluster
        return f"{cluster}, groups {self.group_pattern}" if self.group_pattern else f"{cluster}, all groups"


class Alert(models.Model):
    """One episode of a rule's condition on one subject (a consumer group, or a cluster for no_data)."""

    class State(models.TextChoices):
        PENDING = "pending"
        FIRING = "firing"
        RESOLVED = "resolved"

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    # "group:<pk>" or "cluster:<pk>": what the alert is about, stable across renames.
    subject_key = models.CharField(max_length=100)
    subject = models.CharField(max_length=400, help_text="The subject for people: cluster / group.")
    cluster = models.ForeignKey(Cluster, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts")
    group = models.ForeignKey(ConsumerGroup, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    # An open alert is pending or firing (the constraint keys on this flag); a resolved one is closed for good.
    is_open = models.BooleanField(default=True)
    since = models.DateTimeField(help_text="When the condition started to hold.")
    fired_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    value = models.FloatField(null=True, blank=True, help_text="The measured value at the last evaluation.")
    message = models.CharField(max_length=500, blank=True)
    resolution = models.CharField(max_length=200, blank=True, help_text="Why it resolved.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-since", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "subject_key"], condition=Q(is_open=True), name="one_open_alert_per_rule_subject"
            ),
        ]
        indexes = [models.Index(fields=["state", "-fired_at"]), models.Index(fields=["rule", "is_open"])]

    def __str__(self) -> str:
        return f"{self.rule} on {self.subject}: {self.state}"


class AlertNotification(models.Model):
    """One notification (firing or resolved) of an alert to its rule's webhook, and how its delivery went."""

    class Event(models.TextChoices):
        FIRING = "firing"
        RESOLVED = "resolved"

    class Status(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed"
        SKIPPED = "skipped"  # the rule has no webhook: recorded for the history, nothing sent

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="notifications")
    event = models.CharField(max_length=10, choices=Event.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # De-duplication at the source: one "firing" and one "resolved" per alert episode.
            models.UniqueConstraint(fields=["alert", "event"], name="one_notification_per_alert_event"),
        ]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.alert} {self.event}: {self.status}"
