"""The search index: the document table, and its full-text side, which depends on the database.

PostgreSQL gets a GIN index on the stored tsvector. SQLite gets an FTS5 table whose rowid is the
document id (catalog.search keeps it in step from Python rather than with triggers, because Django
rebuilds a SQLite table on most later AlterField operations and would drop triggers silently). An
SQLite without FTS5 gets nothing here and catalog.search falls back to its LIKE scorer.
"""

from django.db import migrations, models
from django.db.utils import OperationalError

import catalog.models.search

FTS_TABLE = "catalog_search_fts"


def create_fulltext(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX catalog_searchdocument_vector_gin ON catalog_searchdocument USING gin (vector)"
        )
    elif vendor == "sqlite":
        try:
            # unicode61 without diacritic folding splits words as PostgreSQL's "simple" configuration
            # does on the pre-split terms; the prefix indexes make type-ahead prefix queries cheap.
            schema_editor.execute(
                f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5("
                "name_terms, tags_terms, fields_terms, body_terms, "
                "tokenize = 'unicode61 remove_diacritics 0', prefix = '2 3')"
            )
        except OperationalError as exc:
            if "fts5" not in str(exc):
                raise


def drop_fulltext(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS catalog_searchdocument_vector_gin")
    elif vendor == "sqlite":
        schema_editor.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="SearchDocument",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("topic", "Topic"),
                            ("event_type", "Event type"),
                            ("service", "Service"),
                            ("team", "Team"),
                            ("domain", "Domain"),
                            ("consumer_group", "Consumer group"),
                            ("subject", "Schema subject"),
                        ],
                        max_length=20,
                    ),
                ),
                ("object_id", models.BigIntegerField()),
                ("name_key", models.CharField(max_length=1000)),
                ("name_terms", models.TextField()),
                ("tags_terms", models.TextField(blank=True)),
                ("fields_terms", models.TextField(blank=True)),
                ("body_terms", models.TextField(blank=True)),
                ("tags", models.TextField(blank=True)),
                ("fields", models.TextField(blank=True)),
                ("body", models.TextField(blank=True)),
                ("digest", models.CharField(max_length=64)),
                ("vector", catalog.models.search.SearchVectorColumn(editable=False, null=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("kind", "object_id"), name="unique_search_document")],
            },
        ),
        migrations.RunPython(create_fulltext, drop_fulltext),
    ]
