"""Observed lineage reads the correlation index by partition offsets instead of by row id.

Since the index hands out ids in blocks per connection (monitoring 0008), ids no longer follow
insertion order across indexer copies, so "rows above the last id read" missed rows. The indexer's
own position per partition (IndexerOffset) is committed with its rows and only moves forward, so
"offsets between where the last refresh stopped and the indexer's position" reads each row once.

An installation that already refreshed keeps its place: each partition starts after the newest
offset among the rows the old watermark covered, so nothing is counted twice.
"""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Max

import monitoring.models.tracing


def positions_from_watermark(apps, schema_editor):
    LineageRefresh = apps.get_model("lineage", "LineageRefresh")
    ObservedPosition = apps.get_model("lineage", "ObservedPosition")
    TraceEvent = apps.get_model("monitoring", "TraceEvent")
    for state in LineageRefresh.objects.exclude(observed_until_id=None):
        read = (
            TraceEvent.objects.filter(cluster_id=state.cluster_id, id__lte=state.observed_until_id)
            .values("topic", "partition")
            .annotate(newest=Max("offset"))
        )
        ObservedPosition.objects.bulk_create(
            [
                ObservedPosition(
                    cluster_id=state.cluster_id,
                    topic=row["topic"],
                    partition=row["partition"],
                    read_until=row["newest"] + 1,
                    reading_until=row["newest"] + 1,
                )
                for row in read
            ],
            batch_size=500,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0004_cluster_client_certificate"),
        ("lineage", "0001_edge_evidence"),
        ("monitoring", "0008_trace_event_id_cache"),
    ]

    operations = [
        migrations.CreateModel(
            name="ObservedPosition",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("topic", monitoring.models.tracing.ByteOrderCharField(max_length=249)),
                ("partition", models.PositiveIntegerField()),
                ("read_until", models.BigIntegerField(default=0)),
                ("reading_until", models.BigIntegerField(default=0)),
                (
                    "cluster",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="lineage_positions",
                        to="catalog.cluster",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("cluster", "topic", "partition"), name="unique_lineage_observed_position"
                    )
                ],
            },
        ),
        migrations.RunPython(positions_from_watermark, migrations.RunPython.noop),
        migrations.RemoveField(model_name="lineagerefresh", name="observed_until_id"),
    ]
