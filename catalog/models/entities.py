"""The documented catalog: domains, teams, services, event types, tags, and declared relations."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

# Limits of a consumer's declared read fields (DeclaredRelation.reads_fields).
READ_FIELD_MAX = 500
READ_FIELDS_MAX = 500


class Tag(models.Model):
    name = models.SlugField(max_length=64, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Domain(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True, help_text="Markdown.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True, help_text="Markdown.")
    contact_channel = models.CharField(
        max_length=255, blank=True, help_text="Where to reach the team: a chat channel, a mailing list."
    )
    domain = models.ForeignKey(Domain, null=True, blank=True, on_delete=models.SET_NULL, related_name="teams")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="TeamMembership", related_name="teams")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TeamMembership(models.Model):
    class Role(models.TextChoices):
        MEMBER = "member"
        EDITOR = "editor"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="unique_team_member")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"


class Service(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True, help_text="Markdown.")
    owner_team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="services")
    domain = models.ForeignKey(Domain, null=True, blank=True, on_delete=models.SET_NULL, related_name="services")
    repository_url = models.URLField(blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="services")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EventType(models.Model):
    class Classification(models.TextChoices):
        PUBLIC = "public"
        INTERNAL = "internal"
        CONFIDENTIAL = "confidential"
        PII = "pii", "PII"

    name = models.CharField(max_length=200, help_text="e.g. OrderPlaced")
    version = models.PositiveIntegerField(default=1)
    slug = models.SlugField(max_length=220, unique=True)
    summary = models.CharField(max_length=300, blank=True, help_text="One line: what happened.")
    business_meaning = models.TextField(blank=True, help_text="Markdown: what the event means for the business.")
    domain = models.ForeignKey(Domain, null=True, blank=True, on_delete=models.SET_NULL, related_name="event_types")
    owner_team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="event_types")
    topic = models.ForeignKey(
        "catalog.Topic", null=True, blank=True, on_delete=models.SET_NULL, related_name="event_types"
    )
    schema_subject = models.CharField(
        max_length=255, blank=True, help_text="Registry subject of the payload schema, e.g. shop.orders.placed-value."
    )
    data_classification = models.CharField(
        max_length=20, choices=Classification.choices, default=Classification.INTERNAL
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="event_types")
    example_payload = models.TextField(blank=True, help_text="A representative payload (JSON).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "version"]
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="unique_event_type_version")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def is_documented(self) -> bool:
        return bool(self.business_meaning and self.owner_team_id)


class DeclaredRelation(models.Model):
    """A service produces or consumes an event type or a topic, as its team declares it."""

    class Direction(models.TextChoices):
        PRODUCES = "produces"
        CONSUMES = "consumes"

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="relations")
    direction = models.CharField(max_length=10, choices=Direction.choices)
    event_type = models.ForeignKey(EventType, null=True, blank=True, on_delete=models.CASCADE, related_name="relations")
    topic = models.ForeignKey(
        "catalog.Topic", null=True, blank=True, on_delete=models.CASCADE, related_name="relations"
    )
    source = models.CharField(max_length=20, default="manual", help_text="manual, asyncapi, seed or api")
    # What a consumer declares it reads, for impact analysis (lineage.impact): the version of the target's
    # registry subject its reader schema is (the event type's schema_subject, else "<topic>-value"), and the
    # field paths it uses ("amount", "items[].sku"). Both only mean something on a consumes relation.
    reader_schema_version = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Consumes only: the version of the subject whose schema this consumer reads with.",
    )
    reads_fields = models.JSONField(
        default=list,
        blank=True,
        help_text='Consumes only: the field paths this consumer reads, e.g. ["order_id", "amount", "items[].sku"].',
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["service", "direction"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(event_type__isnull=False) & Q(topic__isnull=True))
                | (Q(event_type__isnull=True) & Q(topic__isnull=False)),
                name="relation_targets_event_type_xor_topic",
            ),
            models.UniqueConstraint(
                fields=["service", "direction", "event_type"],
                condition=Q(event_type__isnull=False),
                name="unique_service_event_type_relation",
            ),
            models.UniqueConstraint(
                fields=["service", "direction", "topic"],
                condition=Q(topic__isnull=False),
                name="unique_service_topic_relation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service} {self.direction} {self.event_type or self.topic}"

    def clean(self) -> None:
        super().clean()
        errors: dict[str, str] = {}
        fields = self.reads_fields
        if fields is None:
            self.reads_fields = fields = []
        if not isinstance(fields, list) or not all(
            isinstance(path, str) and path.strip() and len(path) <= READ_FIELD_MAX for path in fields
        ):
            errors["reads_fields"] = (
                f"A list of field paths (non-empty strings of at most {READ_FIELD_MAX} characters)."
            )
        elif len(fields) > READ_FIELDS_MAX:
            errors["reads_fields"] = f"At most {READ_FIELDS_MAX} field paths."
        elif len(set(fields)) != len(fields):
            errors["reads_fields"] = "Each field path once."
        if self.direction == self.Direction.PRODUCES and (self.reader_schema_version is not None or fields):
            errors.setdefault(
                "reader_schema_version" if self.reader_schema_version is not None else "reads_fields",
                "Only a consumes relation declares a reader schema version and the fields it reads.",
            )
        if errors:
            raise ValidationError(errors)

    @property
    def declares_reader(self) -> bool:
        return self.reader_schema_version is not None or bool(self.reads_fields)
