"""Models of the schema registry: schemas (global ids), subjects, subject versions, config and mode.

Identity: a `Schema` row is one schema content (type + fingerprint of the normalized text and its
references) and is never deleted or changed, so a global id always means the same schema; the
subject versions that use it are what soft and permanent deletes act on. Ids come from the
one-row `SchemaIdAllocator`, locked while a new schema is stored, so an id is never handed out
twice on PostgreSQL or SQLite, also with the explicit ids of IMPORT mode.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from schemas.compatibility import CompatibilityLevel, SchemaType

__all__ = [
    "DEFAULT_COMPATIBILITY",
    "DEFAULT_MODE",
    "GlobalConfig",
    "Mode",
    "Schema",
    "SchemaIdAllocator",
    "SchemaReference",
    "Subject",
    "SubjectVersion",
]


class Mode(models.TextChoices):
    READWRITE = "READWRITE"
    READONLY = "READONLY"
    READONLY_OVERRIDE = "READONLY_OVERRIDE"
    IMPORT = "IMPORT"


DEFAULT_COMPATIBILITY = CompatibilityLevel.BACKWARD
DEFAULT_MODE = Mode.READWRITE

SCHEMA_TYPE_CHOICES = [(t.value, t.value) for t in SchemaType]
COMPATIBILITY_CHOICES = [(level.value, level.value) for level in CompatibilityLevel]
SUBJECT_MAX_LENGTH = 1000


class SchemaIdAllocator(models.Model):
    """One row (pk=1): the next global schema id.

    A counter row instead of the table's auto-increment because IMPORT mode inserts explicit ids,
    which a PostgreSQL sequence would not skip; the row is locked (select_for_update) while a new
    schema is stored, and raised past any imported id.
    """

    next_id = models.BigIntegerField(default=1)

    def __str__(self) -> str:
        return f"next schema id {self.next_id}"


class Schema(models.Model):
    """One schema content with its global id. Rows are immutable and never deleted."""

    id = models.BigIntegerField(primary_key=True)
    schema_type = models.CharField(max_length=16, choices=SCHEMA_TYPE_CHOICES)
    text = models.TextField(help_text="The text as first registered (normalized when registered with normalize).")
    normalized_text = models.TextField(help_text="Canonical text: layout and key order do not matter.")
    fingerprint = models.CharField(
        max_length=64,
        help_text="Hex SHA-256 of the normalized text, combined with the references when there are any.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["schema_type", "fingerprint"], name="schemas_schema_identity"),
        ]

    def __str__(self) -> str:
        return f"schema {self.id} ({self.schema_type})"


class SchemaReference(models.Model):
    """A named reference from a schema to a subject version (Avro named type, JSON $ref, proto import)."""

    schema = models.ForeignKey(Schema, on_delete=models.CASCADE, related_name="references")
    position = models.PositiveIntegerField(help_text="Order in the registration request.")
    name = models.CharField(max_length=SUBJECT_MAX_LENGTH)
    subject = models.CharField(max_length=SUBJECT_MAX_LENGTH)
    version = models.PositiveIntegerField()

    class Meta:
        ordering = ["schema_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["schema", "name"], name="schemas_reference_name_unique"),
        ]
        indexes = [models.Index(fields=["subject", "version"], name="schemas_reference_target")]

    def __str__(self) -> str:
        return f"{self.name} -> {self.subject} v{self.version}"


class Subject(models.Model):
    """A subject name (may contain "/") and its own config and mode; empty (None) means "use the global one"."""

    name = models.CharField(max_length=SUBJECT_MAX_LENGTH, unique=True)
    compatibility = models.CharField(max_length=32, choices=COMPATIBILITY_CHOICES, blank=True, default="")
    normalize = models.BooleanField(null=True, blank=True)
    mode = models.CharField(max_length=32, choices=Mode.choices, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SubjectVersion(models.Model):
    """Version N of a subject; soft delete sets deleted_at, permanent delete removes the row."""

    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    schema = models.ForeignKey(Schema, on_delete=models.PROTECT, related_name="subject_versions")
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["subject", "version"]
        constraints = [
            models.UniqueConstraint(fields=["subject", "version"], name="schemas_subject_version_unique"),
            # A schema is live at most once in a subject: concurrent registrations of one schema
            # cannot both add a version, whatever the isolation level.
            models.UniqueConstraint(
                fields=["subject", "schema"],
                condition=Q(deleted_at__isnull=True),
                name="schemas_subject_live_schema_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject_id} v{self.version}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class GlobalConfig(models.Model):
    """One row (pk=1): the registry-wide compatibility level, normalize flag and mode.

    A missing row means the defaults (BACKWARD, no normalize, READWRITE); reads never create it.
    """

    compatibility = models.CharField(max_length=32, choices=COMPATIBILITY_CHOICES, default=DEFAULT_COMPATIBILITY)
    normalize = models.BooleanField(default=False)
    mode = models.CharField(max_length=32, choices=Mode.choices, default=DEFAULT_MODE)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"global config {self.compatibility}, mode {self.mode}"


# ---------------------------------------------------------------------------------------------
# Existing (external) registries and their read-only mirror: separate tables, see models_external.
# ---------------------------------------------------------------------------------------------
from schemas.models_external import (  # noqa: E402 (the section above is our own registry)
    ExternalRegistry,
    MirroredSchema,
    MirroredSubject,
    MirroredVersion,
)

__all__ += ["ExternalRegistry", "MirroredSchema", "MirroredSubject", "MirroredVersion"]
