"""Consumer lag: poll runs, samples per group/topic/partition (raw and rolled up), the latest state per group and
per topic, and the persisted (log-end offset, time) table that time lag interpolates in.

Written only by monitoring.lag (the poller) and its retention task; read through monitoring.lag_selectors.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from catalog.models import Cluster, ConsumerGroup, Topic


class LagStatus(models.TextChoices):
    """Ordered from best to worst (monitoring.lag_evaluation.STATUS_ORDER); a group takes its worst partition's."""

    OK = "OK"
    WARN = "WARN"
    STALL = "STALL"
    STOP = "STOP"
    REWIND = "REWIND"
    UNKNOWN = "UNKNOWN"


class Resolution(models.TextChoices):
    RAW = "raw"
    MINUTE = "1m"
    HOUR = "1h"


class LagPollRun(models.Model):
    """One poll cycle of one cluster (or a cycle that was skipped because the previous one still ran)."""

    class Status(models.TextChoices):
        RUNNING = "running"
        OK = "ok"
        FAILED = "failed"
        SKIPPED = "skipped"

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="lag_poll_runs")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    error = models.TextField(blank=True, help_text="The gateway's message, secrets redacted.")
    groups = models.PositiveIntegerField(default=0)
    partitions = models.PositiveIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["cluster", "-started_at"], name="lagrun_cluster_started")]

    def __str__(self) -> str:
        return f"{self.cluster} lag poll {self.started_at:%Y-%m-%d %H:%M:%S} {self.status}"


class PartitionLagSample(models.Model):
    """Lag of one group on one partition at one moment; rolled up (1m, 1h) as it ages (monitoring.lag)."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey(ConsumerGroup, on_delete=models.CASCADE, related_name="lag_samples")
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="lag_samples")
    partition = models.PositiveIntegerField()
    sampled_at = models.DateTimeField()
    committed = models.BigIntegerField(null=True, blank=True, help_text="None: assigned but never committed.")
    log_end = models.BigIntegerField()
    lag = models.BigIntegerField()
    time_lag_s = models.FloatField(null=True, blank=True)
    resolution = models.CharField(max_length=3, choices=Resolution.choices, default=Resolution.RAW)

    class Meta:
        indexes = [
            models.Index(fields=["group", "sampled_at"], name="lagsample_group_ts"),
            models.Index(fields=["topic", "sampled_at"], name="lagsample_topic_ts"),
            models.Index(fields=["resolution", "sampled_at"], name="lagsample_res_ts"),
        ]

    def __str__(self) -> str:
        return f"{self.group_id} {self.topic_id}-{self.partition} @{self.sampled_at}: {self.lag}"


class GroupLagSample(models.Model):
    """Per group and cycle, the totals charts and history need (one row instead of one per partition)."""

    group = models.ForeignKey(ConsumerGroup, on_delete=models.CASCADE, related_name="lag_totals")
    sampled_at = models.DateTimeField()
    total_lag = models.BigIntegerField()
    max_time_lag_s = models.FloatField(null=True, blank=True)
    consume_rate = models.FloatField(null=True, blank=True)
    produce_rate = models.FloatField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=LagStatus.choices, default=LagStatus.UNKNOWN)
    resolution = models.CharField(max_length=3, choices=Resolution.choices, default=Resolution.RAW)

    class Meta:
        indexes = [
            models.Index(fields=["group", "sampled_at"], name="grouplag_group_ts"),
            models.Index(fields=["resolution", "sampled_at"], name="grouplag_res_ts"),
        ]

    def __str__(self) -> str:
        return f"{self.group_id} @{self.sampled_at}: {self.total_lag}"


class TopicThroughputSample(models.Model):
    """Per topic and cycle: the produce rate (records/s) from log-end deltas, and the summed log-end offset."""

    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="throughput_samples")
    sampled_at = models.DateTimeField()
    produce_rate = models.FloatField(null=True, blank=True)
    log_end_total = models.BigIntegerField()
    resolution = models.CharField(max_length=3, choices=Resolution.choices, default=Resolution.RAW)

    class Meta:
        indexes = [
            models.Index(fields=["topic", "sampled_at"], name="throughput_topic_ts"),
            models.Index(fields=["resolution", "sampled_at"], name="throughput_res_ts"),
        ]

    def __str__(self) -> str:
        return f"{self.topic_id} @{self.sampled_at}: {self.produce_rate}"


class GroupLagState(models.Model):
    """The latest evaluation of one group: what pages, the API, /metrics and alerts read."""

    group = models.OneToOneField(ConsumerGroup, on_delete=models.CASCADE, related_name="lag_state")
    status = models.CharField(max_length=10, choices=LagStatus.choices, default=LagStatus.UNKNOWN)
    since = models.DateTimeField(help_text="When the current status began.")
    total_lag = models.BigIntegerField(default=0)
    max_time_lag_s = models.FloatField(null=True, blank=True)
    time_lag_lower_bound = models.BooleanField(
        default=False,
        help_text="max_time_lag_s is only a lower bound: some partition's committed offset is older than what the "
        "poller can date (its offset-time table, or the records retention kept).",
    )
    time_to_clear_s = models.FloatField(null=True, blank=True, help_text="0 when caught up; None: never or unknown.")
    consume_rate = models.FloatField(null=True, blank=True, help_text="Records per second.")
    produce_rate = models.FloatField(null=True, blank=True, help_text="Records per second into the group's partitions.")
    # [{topic, partition, committed, log_end, lag, time_lag_s, time_lag_lower_bound, status}]
    partitions = models.JSONField(default=list, blank=True)
    # The evaluation window per partition, oldest first: {"topic:partition": [[t, committed, log_end, active,
    # written_at, lower_bound], ...]}, written_at being when the record at the committed offset was appended
    # (time lag), lower_bound 1 when it was appended at the latest then (older windows have no 6th element).
    window = models.JSONField(default=dict, blank=True)
    sampled_at = models.DateTimeField()
    stale = models.BooleanField(default=False, help_text="The last poll of the cluster failed: this is older data.")

    class Meta:
        indexes = [models.Index(fields=["status"], name="grouplagstate_status")]

    def __str__(self) -> str:
        return f"{self.group_id}: {self.status}"


class TopicThroughput(models.Model):
    """The latest produce rate of one topic and its partitions ([{partition, log_end, rate}])."""

    topic = models.OneToOneField(Topic, on_delete=models.CASCADE, related_name="throughput")
    produce_rate = models.FloatField(null=True, blank=True)
    partitions = models.JSONField(default=list, blank=True)
    sampled_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.topic_id}: {self.produce_rate}"


class OffsetTimePoint(models.Model):
    """The (log-end offset, time) table of one topic partition: [[offset, unix seconds], ...] ascending.

    One row per partition, bounded in length by monitoring.timelag (dense recent points, sparse old
    ones), so that a poll cycle reads and writes one row per partition whatever the history.
    """

    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="offset_time_points")
    partition = models.PositiveIntegerField()
    points = models.JSONField(default=list)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["topic", "partition"], name="unique_offset_time_table"),
            models.CheckConstraint(condition=Q(partition__gte=0), name="offset_time_partition_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.topic_id}-{self.partition}: {len(self.points)} points"
