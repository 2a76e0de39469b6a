"""Models of existing (external) schema registries and the read-only mirror of their contents.

Kept apart from our own registry's tables on purpose: a mirrored schema id is the external registry's id,
which may well equal one of ours, so mirrored rows live in their own tables, keyed by registry. Nothing in
our Confluent-compatible API at /registry/ reads them. The mirror (`schemas.external.mirror`) is the only
writer of the Mirrored* tables; people edit an ExternalRegistry (its connection), never what it mirrors.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from eventscope.secrets import decrypt_secret

__all__ = [
    "ExternalRegistry",
    "MirroredSchema",
    "MirroredSubject",
    "MirroredVersion",
]

SUBJECT_MAX_LENGTH = 1000


class ExternalRegistry(models.Model):
    """A team's existing Confluent-compatible registry, mirrored read-only into Eventscope."""

    class SourceKind(models.TextChoices):
        REST = "rest", "REST API"
        STORAGE_TOPIC = "storage_topic", "Storage topic (_schemas)"

    class AuthKind(models.TextChoices):
        NONE = "none", "None"
        BASIC = "basic", "HTTP Basic"
        BEARER = "bearer", "Bearer token"

    class Mode(models.TextChoices):
        BESIDE = "beside", "Beside Eventscope's registry"
        INSTEAD = "instead", "Instead of Eventscope's registry"

    name = models.SlugField(max_length=100, unique=True, help_text="Short name, e.g. confluent-prod.")
    description = models.TextField(blank=True)
    source_kind = models.CharField(max_length=20, choices=SourceKind.choices, default=SourceKind.REST)
    url = models.CharField(max_length=1000, blank=True, help_text="The registry's REST URL (REST source).")
    auth_kind = models.CharField(max_length=10, choices=AuthKind.choices, default=AuthKind.NONE)
    username = models.CharField(max_length=255, blank=True)
    # Fernet ciphertext (eventscope.secrets) of the password or bearer token; never stored, shown or logged in clear.
    secret_encrypted = models.TextField(blank=True, editable=False)
    ca_pem = models.TextField(blank=True, verbose_name="TLS CA certificate (PEM)")
    # The Kafka cluster whose producers and consumers use this registry (tracing decodes that cluster's records
    # with it in mode "instead"); for a storage-topic source, also the cluster holding the topic.
    cluster = models.ForeignKey(
        "catalog.Cluster",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="external_registries",
    )
    topic = models.CharField(max_length=249, default="_schemas", help_text="Storage topic (storage-topic source).")
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.BESIDE)
    sync_enabled = models.BooleanField(default=True)
    sync_interval_s = models.PositiveIntegerField(default=300)
    # Sync bookkeeping: written by the sync with queryset updates (not audited: nobody changed the connection).
    global_compatibility = models.CharField(max_length=32, blank=True, editable=False)
    global_mode = models.CharField(max_length=32, blank=True, editable=False)
    last_synced_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_attempt_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    last_sync_summary = models.CharField(max_length=500, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "external registries"
        constraints = [
            # A cluster uses one registry: decoding and impact must know which one.
            models.UniqueConstraint(
                fields=["cluster"], condition=Q(cluster__isnull=False), name="schemas_one_external_registry_per_cluster"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_encrypted)

    @property
    def source_description(self) -> str:
        """Where the mirror comes from, for people: the URL, or the topic and its cluster."""
        if self.source_kind == self.SourceKind.STORAGE_TOPIC:
            return f"{self.topic} on {self.cluster.name if self.cluster_id else '?'}"
        from schemas.external.rest import public_url

        return public_url(self.url) if self.url else ""

    def secret(self) -> str | None:
        """The password or token, decrypted only here, in memory."""
        return decrypt_secret(self.secret_encrypted) if self.secret_encrypted else None


class MirroredSchema(models.Model):
    """A schema text under the external registry's own global id. Kept when its versions go: ids keep meaning."""

    registry = models.ForeignKey(ExternalRegistry, on_delete=models.CASCADE, related_name="schemas")
    schema_id = models.BigIntegerField(help_text="The id in the external registry.")
    schema_type = models.CharField(max_length=16)
    text = models.TextField()
    # [{"name", "subject", "version"}, ...] in the registry's order.
    references = models.JSONField(default=list, blank=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["registry", "schema_id"]
        constraints = [
            models.UniqueConstraint(fields=["registry", "schema_id"], name="schemas_mirrored_schema_id_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.registry_id}: schema {self.schema_id} ({self.schema_type})"


class MirroredSubject(models.Model):
    """A subject of the external registry with at least one live version, and its own config and mode."""

    registry = models.ForeignKey(ExternalRegistry, on_delete=models.CASCADE, related_name="subjects")
    name = models.CharField(max_length=SUBJECT_MAX_LENGTH)
    compatibility = models.CharField(max_length=32, blank=True, help_text="Its own level; empty: the global one.")
    mode = models.CharField(max_length=32, blank=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["registry", "name"]
        constraints = [
            models.UniqueConstraint(fields=["registry", "name"], name="schemas_mirrored_subject_unique"),
        ]
        indexes = [models.Index(fields=["name"], name="schemas_mirrored_subject_name")]

    def __str__(self) -> str:
        return self.name


class MirroredVersion(models.Model):
    """A live version of a mirrored subject; a version deleted in the registry (soft or permanently) is deleted here."""

    subject = models.ForeignKey(MirroredSubject, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    schema = models.ForeignKey(MirroredSchema, on_delete=models.PROTECT, related_name="versions")
    first_seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["subject", "version"]
        constraints = [
            models.UniqueConstraint(fields=["subject", "version"], name="schemas_mirrored_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.subject_id} v{self.version}"
