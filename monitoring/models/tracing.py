"""The correlation index: one row per indexed record, the indexer's own offsets, its settings and status.

The indexer stores its consumer offsets here, in the same transaction as the rows it indexed, so
a crash neither loses nor duplicates a record (the unique constraint on the record's coordinates
is the second line of defence).
"""

from __future__ import annotations

from django.db import models

from catalog.models import Cluster


class ByteOrderCharField(models.CharField):
    """A CharField compared byte by byte on PostgreSQL (COLLATE "C"), as SQLite compares text anyway.

    For identifiers (correlation IDs, keys, event IDs, topic names), where only equality and a
    stable order matter: a B-tree over a locale collation (en_US, ICU) calls the locale's
    comparison on every step, which cost the server 1.4 µs more per trace-index row (of about 8)
    than byte order. On other databases it is a plain CharField.
    """

    def db_parameters(self, connection):
        parameters = super().db_parameters(connection)
        if connection.vendor == "postgresql":
            parameters["collation"] = "C"
        return parameters


class TimeOrderIndex(models.Index):
    """An index over a column that grows with insertion order (record timestamps): BRIN on PostgreSQL, B-tree elsewhere.

    A BRIN index keeps a min/max per range of table pages, so an insert costs almost nothing
    where a B-tree costs a descent and a leaf write per row; time-window queries and retention
    still find their rows by page range. SQLite has no BRIN.
    """

    def create_sql(self, model, schema_editor, using="", **kwargs):
        if schema_editor.connection.vendor == "postgresql":
            using = " USING brin"
        return super().create_sql(model, schema_editor, using=using, **kwargs)


class TracingSettings(models.Model):
    """Per cluster: which topics the indexer reads and how it finds correlation IDs in records."""

    cluster = models.OneToOneField(Cluster, on_delete=models.CASCADE, related_name="tracing_settings")
    enabled = models.BooleanField(default=True)
    # fnmatch-style patterns; empty include means every non-internal topic.
    include_patterns = models.JSONField(default=list, blank=True)
    exclude_patterns = models.JSONField(default=list, blank=True)
    # Extra headers tried after the built-in ones (correlation_id, x-correlation-id, ...).
    correlation_headers = models.JSONField(default=list, blank=True)
    # Dotted JSON paths tried in order: {"*": [...], "<topic pattern>": [...]}.
    payload_paths = models.JSONField(default=dict, blank=True)
    # Topic patterns whose record key is the correlation ID (tried last).
    key_topics = models.JSONField(default=list, blank=True)
    dead_letter_patterns = models.JSONField(default=list, blank=True)
    # Indexed event type -> the catalog's event type name, for types the catalog calls otherwise.
    # Not needed for CloudEvents types whose last dotted segment is a catalog event type's name
    # (io.eventscope.shop.ShipmentCreated -> ShipmentCreated): those map by themselves.
    event_type_aliases = models.JSONField(default=dict, blank=True)
    excerpt_bytes = models.PositiveIntegerField(default=2048)
    retention_days = models.PositiveIntegerField(default=7)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"tracing settings of {self.cluster}"


class TraceEvent(models.Model):
    """One indexed record of a chain. Coordinates (cluster, topic, partition, offset) are unique."""

    correlation_id = ByteOrderCharField(max_length=255)
    # No index and no database-level foreign key: the unique constraint on the coordinates starts
    # with the cluster and serves its lookups, and a per-row foreign-key check (a trigger and a
    # row lock per row on PostgreSQL) cost more than the insert itself. The indexer writes its own
    # cluster's id; deleting a cluster still deletes its events (Django's CASCADE).
    cluster = models.ForeignKey(
        Cluster, on_delete=models.CASCADE, related_name="trace_events", db_index=False, db_constraint=False
    )
    topic = ByteOrderCharField(max_length=249)
    partition = models.PositiveIntegerField()
    offset = models.BigIntegerField()
    timestamp = models.DateTimeField()
    timestamp_type = models.PositiveSmallIntegerField(default=1, help_text="1 CreateTime, 2 LogAppendTime")
    key = ByteOrderCharField(max_length=255, blank=True)
    event_id = ByteOrderCharField(max_length=255, blank=True)
    causation_id = models.CharField(max_length=255, blank=True)
    event_type = models.CharField(max_length=200, blank=True)
    producer = models.CharField(max_length=200, blank=True, help_text="Producing service, when a header says it.")
    correlation_source = models.CharField(max_length=40, blank=True, help_text="Which rule found the ID.")
    size = models.PositiveIntegerField(default=0)
    payload_excerpt = models.TextField(blank=True)
    payload_encoding = models.CharField(max_length=20, blank=True, help_text="json, avro, protobuf, text, binary")
    is_dead_letter = models.BooleanField(default=False)
    error_reason = models.CharField(max_length=500, blank=True)
    headers = models.JSONField(default=dict, blank=True, help_text="Header values as text (error headers etc.).")
    indexed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["timestamp", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "topic", "partition", "offset"], name="unique_trace_event_coordinates"
            ),
        ]
        indexes = [
            models.Index(fields=["correlation_id", "timestamp"], name="trace_corr_ts"),
            # Partial: many records have no key or event ID, the search never looks up "", and each
            # index entry costs every insert. Queries add the same condition so the index serves them.
            models.Index(fields=["key"], name="trace_key_set", condition=~models.Q(key="")),
            models.Index(fields=["event_id"], name="trace_event_id_set", condition=~models.Q(event_id="")),
            TimeOrderIndex(fields=["timestamp"], name="trace_ts"),
            # No (topic, timestamp) index: no query filters on a topic by equality (dead letters match
            # topic patterns), and every index costs each of the indexer's inserts.
        ]

    def __str__(self) -> str:
        return f"{self.correlation_id} {self.topic}-{self.partition}@{self.offset}"


class IndexerOffset(models.Model):
    """The next offset the indexer reads per partition (Kafka's committed offsets are not used)."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="indexer_offsets")
    topic = models.CharField(max_length=249)
    partition = models.PositiveIntegerField()
    next_offset = models.BigIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["cluster", "topic", "partition"], name="unique_indexer_offset"),
        ]

    def __str__(self) -> str:
        return f"{self.topic}-{self.partition} next {self.next_offset}"


class IndexerStatus(models.Model):
    """What each running indexer copy last reported: throughput, its own lag, the last error."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="indexer_statuses")
    instance = models.CharField(max_length=200, help_text="host:pid of the indexer copy")
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField()
    records_indexed = models.BigIntegerField(default=0)
    records_skipped = models.BigIntegerField(default=0)
    events_per_s = models.FloatField(default=0)
    lag_records = models.BigIntegerField(null=True, blank=True)
    assigned_partitions = models.JSONField(default=list, blank=True)
    skip_reasons = models.JSONField(default=dict, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["cluster", "instance"], name="unique_indexer_instance")]

    def __str__(self) -> str:
        return f"indexer {self.instance} on {self.cluster}"
