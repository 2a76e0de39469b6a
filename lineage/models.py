"""Models of the lineage app: one row per edge and evidence kind, and how far the refresh has read.

An edge of the lineage graph (``lineage.graph.Edge``) is the union of its evidence rows: an edge that
is declared, discovered and observed has three rows with the same source and target. Rows are never
deleted by a refresh: evidence that disappears gets ``stale_since``, and comes back (stale_since
cleared) when it reappears, so the graph can be rebuilt as of a past date from first_seen / stale_since.
"""

from __future__ import annotations

from django.db import models

from catalog.models import Cluster
from monitoring.models.tracing import ByteOrderCharField

# Node ids: "service:<name>" (at most 100), "topic:<cluster>/<name>" (6 + 100 + 1 + 249),
# "group:<cluster>/<group id>" (6 + 100 + 1 + 255).
NODE_ID_MAX = 400


class EdgeEvidence(models.Model):
    """One kind of evidence for the edge source -> target (direction of the data flow)."""

    class Kind(models.TextChoices):
        DECLARED = "declared"  # the catalog's produces / consumes relations (incl. AsyncAPI imports)
        DISCOVERED = "discovered"  # consumer groups' assignments and committed offsets; group's service
        OBSERVED = "observed"  # the correlation index: consumed A then produced B in one chain

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="lineage_evidence")
    source = models.CharField(max_length=NODE_ID_MAX)
    target = models.CharField(max_length=NODE_ID_MAX)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    # declared: relations behind the edge; discovered: 1; observed: chains seen (summed over refreshes).
    count = models.PositiveBigIntegerField(default=0)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    stale_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["source", "target", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["source", "target", "kind"], name="unique_lineage_edge_evidence"),
        ]
        indexes = [
            models.Index(fields=["cluster", "kind"], name="lineage_ev_cluster_kind"),
            models.Index(fields=["first_seen"], name="lineage_ev_first_seen"),
        ]

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} ({self.kind})"

    @property
    def stale(self) -> bool:
        return self.stale_since is not None


class LineageRefresh(models.Model):
    """Per cluster: the last run's figures. Its row lock serializes the refreshes of one cluster."""

    cluster = models.OneToOneField(Cluster, on_delete=models.CASCADE, related_name="lineage_refresh")
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_stats = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"lineage refresh of {self.cluster}"


class ObservedPosition(models.Model):
    """Per indexed partition: how far the observed edges have read the correlation index.

    Rows of the index with ``offset < read_until`` have been turned into evidence. A refresh reads
    up to the indexer's own position (``IndexerOffset.next_offset``), which the indexer moves in the
    same transaction as the rows it wrote: every row below it is committed, whichever indexer copy
    wrote it and whatever id the row got (ids are not in insertion order across copies).
    ``reading_until`` holds that position during a refresh, so one query joins the ranges.
    """

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="lineage_positions")
    topic = ByteOrderCharField(max_length=249)  # compared with the index's topic column, same collation
    partition = models.PositiveIntegerField()
    read_until = models.BigIntegerField(default=0)
    reading_until = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["cluster", "topic", "partition"], name="unique_lineage_observed_position"),
        ]

    def __str__(self) -> str:
        return f"{self.topic}-{self.partition} read until {self.read_until}"
