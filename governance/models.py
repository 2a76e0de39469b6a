"""Governance: API tokens (more arrives with roles per team, the audit log and schema policies)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from eventscope.roles import ADMIN, EDITOR, VIEWER


class ApiToken(models.Model):
    """A named, scoped, expiring, revocable credential for the API and the registry.

    Only a SHA-256 digest of the token is stored: tokens carry 256 bits of randomness, so a fast
    hash is safe here (unlike passwords), and a lookup costs one indexed query. The short `prefix`
    is kept in clear so people can tell their tokens apart in lists and logs.
    """

    class Scope(models.TextChoices):
        READ = "read", "read: look at everything"
        WRITE = "write", "write: change the catalog, register schemas"
        ADMIN = "admin", "admin: everything, including clusters and deletes"

    # The role a token of each scope can act with at most (never more than its user's own role).
    SCOPE_ROLES = {Scope.READ: VIEWER, Scope.WRITE: EDITOR, Scope.ADMIN: ADMIN}

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'CI pipeline of orders'.")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.READ)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="unique_token_name_per_user")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def scope_role(self) -> str:
        return self.SCOPE_ROLES[self.scope]

    def status(self, now=None) -> str:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    @property
    def is_active(self) -> bool:
        return self.status() == "active"


class SchemaPolicy(models.Model):
    """Schema policy settings: one global row (no domain) and optionally one per domain.

    `rules` holds only what differs from the layer below (governance.policies.DEFAULT_RULES, then the
    global row), as {rule: {setting: value}}; see governance.policies for the rules.
    """

    domain = models.OneToOneField(
        "catalog.Domain", null=True, blank=True, on_delete=models.CASCADE, related_name="schema_policy"
    )
    rules = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["domain"], condition=models.Q(domain__isnull=True), name="one_global_schema_policy"
            )
        ]
        verbose_name_plural = "schema policies"

    def __str__(self) -> str:
        return f"schema policy of {self.domain or 'everything'}"


class AuditEntryQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("The audit log is append-only: entries cannot be changed.")

    def delete(self):
        raise PermissionError("The audit log is append-only: entries cannot be deleted.")


class AuditEntry(models.Model):
    """One change: who, when, through what, which object, before and after. Append-only.

    The model refuses updates and deletes, and database triggers (migration 0004) refuse them too, so
    neither the UI, the API nor a stray queryset can rewrite history.
    """

    class Channel(models.TextChoices):
        PAGE = "page"
        API = "api"
        REGISTRY = "registry"
        CLI = "cli"
        TASK = "task"
        SYSTEM = "system"

    timestamp = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        # No database constraint and no cascade: deleting a user must not touch (or be blocked by) history;
        # `actor_name` keeps the name.
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
    )
    actor_name = models.CharField(max_length=150, help_text="Kept when the user is deleted; a task or CLI name.")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    action = models.CharField(max_length=20, help_text="create, update, delete, or a named action such as revoke.")
    object_type = models.CharField(max_length=100, help_text="app_label.Model")
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    changed = models.JSONField(default=list, blank=True, help_text="Names of the fields that changed.")
    request_method = models.CharField(max_length=10, blank=True)
    request_path = models.CharField(max_length=300, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"]),
            models.Index(fields=["actor_name", "timestamp"]),
            models.Index(fields=["channel", "timestamp"]),
        ]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return (
            f"{self.timestamp:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.object_type} {self.object_repr}"
        )

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("The audit log is append-only: entries cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The audit log is append-only: entries cannot be deleted.")
