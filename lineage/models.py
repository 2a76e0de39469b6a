"""Models of the lineage app: one row per edge and evidence kind, and the refresh watermark per cluster.

An edge of the lineage graph (``lineage.graph.Edge``) is the union of its evidence rows: an edge that
is declared, discovered and observed has three rows with the same source and target. Rows are never
deleted by a refresh: evidence that disappears gets ``stale_since``, and comes back (stale_since
cleared) when it reappears, so the graph can be rebuilt as of a past date from first_seen / stale_since.
"""

from __future__ import annotations

from django.db import models

from catalog.models import Cluster

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
    """Per cluster: how far the observed edges have read the correlation index, and the last run's figures."""

    cluster = models.OneToOneField(Cluster, on_delete=models.CASCADE, related_name="lineage_refresh")
    # The id of the newest TraceEvent row already turned into observed evidence: the next refresh reads the
    # rows above it (a primary-key range, cheap on a large index).
    observed_until_id = models.PositiveBigIntegerField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_stats = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"lineage refresh of {self.cluster}"
