"""What discovery finds on a cluster: topics with their partitions and configs, and consumer groups.

Rows are upserted with first-seen and last-seen; something that disappears from the cluster is
marked deleted (deleted_at), never erased, so history and documentation survive.
"""

from __future__ import annotations

from django.db import models

from .clusters import Cluster
from .entities import Domain, Service, Tag, Team


class DiscoveredQuerySet(models.QuerySet):
    def present(self):
        return self.filter(deleted_at__isnull=True)


class Topic(models.Model):
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="topics")
    name = models.CharField(max_length=249)  # Kafka's own limit
    internal = models.BooleanField(default=False)
    partition_count = models.PositiveIntegerField(default=0)
    replication_factor = models.PositiveIntegerField(default=0)
    under_replicated_partitions = models.PositiveIntegerField(default=0)
    # The configs users look at, as columns for filters and sorting; all fetched configs in `configs`.
    retention_ms = models.BigIntegerField(null=True, blank=True)
    retention_bytes = models.BigIntegerField(null=True, blank=True)
    cleanup_policy = models.CharField(max_length=50, blank=True)
    message_timestamp_type = models.CharField(max_length=20, blank=True)
    min_insync_replicas = models.PositiveIntegerField(null=True, blank=True)
    configs = models.JSONField(default=dict, blank=True)
    # Documentation and ownership (edited by people, kept across discovery runs).
    description = models.TextField(blank=True, help_text="Markdown.")
    owner_team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="topics")
    domain = models.ForeignKey(Domain, null=True, blank=True, on_delete=models.SET_NULL, related_name="topics")
    tags = models.ManyToManyField(Tag, blank=True, related_name="topics")
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    deleted_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DiscoveredQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["cluster", "name"], name="unique_topic_per_cluster")]
        indexes = [models.Index(fields=["name"]), models.Index(fields=["cluster", "deleted_at"])]

    def __str__(self) -> str:
        return self.name

    @property
    def is_documented(self) -> bool:
        return bool(self.description or self.owner_team_id)


class Partition(models.Model):
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="partitions")
    number = models.PositiveIntegerField()
    leader = models.IntegerField(help_text="Broker id of the leader; -1 when there is none.")
    replicas = models.JSONField(default=list)
    isr = models.JSONField(default=list, verbose_name="in-sync replicas")
    under_replicated = models.BooleanField(default=False)

    class Meta:
        ordering = ["topic", "number"]
        constraints = [models.UniqueConstraint(fields=["topic", "number"], name="unique_partition_per_topic")]

    def __str__(self) -> str:
        return f"{self.topic.name}-{self.number}"


class ConsumerGroup(models.Model):
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="consumer_groups")
    group_id = models.CharField(max_length=255)
    state = models.CharField(max_length=30, blank=True)
    protocol = models.CharField(max_length=30, blank=True, help_text="CLASSIC or CONSUMER (KIP-848).")
    partition_assignor = models.CharField(max_length=100, blank=True)
    is_simple = models.BooleanField(default=False)
    member_count = models.PositiveIntegerField(default=0)
    # [{"member_id", "client_id", "host", "assignment": [[topic, partition], ...]}]
    members = models.JSONField(default=list, blank=True)
    committed_topics = models.ManyToManyField(Topic, blank=True, related_name="consumer_groups")
    # Declared: the service this group belongs to (documentation, kept across discovery runs).
    service = models.ForeignKey(
        Service, null=True, blank=True, on_delete=models.SET_NULL, related_name="consumer_groups"
    )
    description = models.TextField(blank=True)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    deleted_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DiscoveredQuerySet.as_manager()

    class Meta:
        ordering = ["group_id"]
        constraints = [models.UniqueConstraint(fields=["cluster", "group_id"], name="unique_group_per_cluster")]
        indexes = [models.Index(fields=["group_id"]), models.Index(fields=["cluster", "deleted_at"])]

    def __str__(self) -> str:
        return self.group_id

    @property
    def is_documented(self) -> bool:
        return self.service_id is not None
