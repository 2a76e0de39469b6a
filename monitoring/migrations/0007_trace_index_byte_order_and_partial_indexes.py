"""Cheaper inserts into the trace index: byte-order identifiers and a BRIN time index on PostgreSQL; key and
event ID indexes skip empty values.

COLLATE "C" and BRIN on PostgreSQL only: SQLite compares bytes already and has no BRIN, and re-making
its table to change nothing would copy the whole index. See monitoring.models.tracing's
ByteOrderCharField and TimeOrderIndex.
"""

from django.db import migrations, models

import monitoring.models.tracing

_COLUMNS = (("correlation_id", 255), ("topic", 249), ("key", 255), ("event_id", 255))


def _collate(collation: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for column, length in _COLUMNS:
            alter = f'ALTER COLUMN "{column}" TYPE varchar({length}) COLLATE "{collation}"'
            schema_editor.execute(f'ALTER TABLE "monitoring_traceevent" {alter}')

    return run


def _time_index(method: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute('DROP INDEX IF EXISTS "trace_ts"')
        schema_editor.execute(f'CREATE INDEX "trace_ts" ON "monitoring_traceevent" USING {method} ("timestamp")')

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0004_cluster_client_certificate"),
        ("monitoring", "0006_trace_event_drop_topic_index"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="traceevent", name="trace_key"),
        migrations.RemoveIndex(model_name="traceevent", name="trace_event_id"),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="traceevent",
                    name=name,
                    field=monitoring.models.tracing.ByteOrderCharField(
                        max_length=length, blank=name in ("key", "event_id")
                    ),
                )
                for name, length in _COLUMNS
            ],
            database_operations=[migrations.RunPython(_collate("C"), _collate("default"))],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="traceevent", name="trace_ts"),
                migrations.AddIndex(
                    model_name="traceevent",
                    index=monitoring.models.tracing.TimeOrderIndex(fields=["timestamp"], name="trace_ts"),
                ),
            ],
            database_operations=[migrations.RunPython(_time_index("brin"), _time_index("btree"))],
        ),
        migrations.AddIndex(
            model_name="traceevent",
            index=models.Index(condition=~models.Q(key=""), fields=["key"], name="trace_key_set"),
        ),
        migrations.AddIndex(
            model_name="traceevent",
            index=models.Index(condition=~models.Q(event_id=""), fields=["event_id"], name="trace_event_id_set"),
        ),
    ]
