"""The search index: one document per searchable catalog object, kept in step by catalog.search.

The document holds the object's searchable text twice: as written (for snippets) and as search
terms (lowercase words, camelCase and snake_case split, see catalog.search.search_terms), because
feeding both databases the same pre-split words is what makes them match the same documents.
The full-text side lives next to the table and is database-specific (migration 0002_search):

- PostgreSQL: `vector`, a stored tsvector (name A, tags and schema fields B, description C) with a
  GIN index;
- SQLite: an FTS5 table `catalog_search_fts` whose rowid is the document id; `vector` stays NULL.
"""

from __future__ import annotations

from django.contrib.postgres.search import SearchVectorField
from django.db import models


class SearchVectorColumn(SearchVectorField):
    """A tsvector on PostgreSQL; elsewhere a text column that stays NULL (SQLite indexes with FTS5)."""

    def db_type(self, connection):
        return "tsvector" if connection.vendor == "postgresql" else "text"


class SearchDocument(models.Model):
    class Kind(models.TextChoices):
        TOPIC = "topic", "Topic"
        EVENT_TYPE = "event_type", "Event type"
        SERVICE = "service", "Service"
        TEAM = "team", "Team"
        DOMAIN = "domain", "Domain"
        CONSUMER_GROUP = "consumer_group", "Consumer group"
        SUBJECT = "subject", "Schema subject"
        # A subject mirrored from an external registry (schemas.models_external): its own id space.
        MIRRORED_SUBJECT = "mirrored_subject", "Mirrored schema subject"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    object_id = models.BigIntegerField()
    # Lowercased name: exact, prefix and substring matches rank above any full-text match.
    name_key = models.CharField(max_length=1000)
    # The search terms, space-separated; name_terms is also padded with spaces so that
    # `contains " word"` is a portable word-prefix test.
    name_terms = models.TextField()
    tags_terms = models.TextField(blank=True)
    fields_terms = models.TextField(blank=True)
    body_terms = models.TextField(blank=True)
    # As written, for snippets: tag names, schema field paths (one per line), description in plain text.
    tags = models.TextField(blank=True)
    fields = models.TextField(blank=True)
    body = models.TextField(blank=True)
    # SHA-256 of everything above: re-indexing an unchanged object writes nothing.
    digest = models.CharField(max_length=64)
    vector = SearchVectorColumn(null=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "object_id"], name="unique_search_document"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id}: {self.name_key}"
