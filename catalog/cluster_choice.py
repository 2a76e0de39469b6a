"""The `?cluster=NAME` parameter of pages and API endpoints whose rows are not a filterset's (charts, flows,
latency, dead letters, trace search): the known names, the validated choice, and the error for an unknown one.

Catalog lists use their filtersets' `cluster` filter instead (catalog.filtersets); both take a cluster's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .models import Cluster

__all__ = ["ClusterChoice", "UnknownClusterError", "cluster_choice", "cluster_names"]

MAX_NAME_LENGTH = 100


class UnknownClusterError(ValueError):
    """A `cluster` parameter naming no cluster: the message lists the ones there are."""

    def __init__(self, name: str, names: list[str]) -> None:
        shown = name if len(name) <= MAX_NAME_LENGTH else name[:MAX_NAME_LENGTH] + "…"
        known = ", ".join(names) if names else "none yet"
        super().__init__(f"No cluster named {shown!r}: the clusters are {known}.")
        self.message = str(self)


@dataclass(frozen=True)
class ClusterChoice:
    """What a page needs for its cluster select: the names, the chosen one (None: all) and an error to show."""

    names: tuple[str, ...]
    selected: str | None = None
    error: str = ""

    @property
    def shown(self) -> bool:
        """The select is worth showing: several clusters, or a choice (even a wrong one) to undo."""
        return len(self.names) > 1 or bool(self.selected) or bool(self.error)


def cluster_names() -> list[str]:
    return list(Cluster.objects.order_by("name").values_list("name", flat=True))


def cluster_choice(params: Mapping[str, str], *, strict: bool = False) -> ClusterChoice:
    """The validated `cluster` of GET parameters. An unknown name raises UnknownClusterError when `strict`
    (the API: a 400) and otherwise filters nothing and carries the error (a page shows it above the results)."""
    names = cluster_names()
    wanted = (params.get("cluster") or "").strip()
    if not wanted:
        return ClusterChoice(names=tuple(names))
    if wanted not in names:
        error = UnknownClusterError(wanted, names)
        if strict:
            raise error
        return ClusterChoice(names=tuple(names), error=error.message)
    return ClusterChoice(names=tuple(names), selected=wanted)
