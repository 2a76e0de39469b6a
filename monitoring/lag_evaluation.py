"""Lag status evaluation (pure): each partition's status from a window of recent samples, a group's from its
partitions.

Kafka does not say when a group last committed, only what it committed, so "still committing" is told
by whether a live member holds the partition (`active`): a live consumer whose offset does not move is
stuck on something (STALL); an offset that does not move with nobody consuming is a stopped consumer (STOP).

The rules, in order, for the samples of one partition (oldest first):
1. no samples, or no committed offset in the newest one: UNKNOWN;
2. the committed offset went backwards between two samples: REWIND (a reset, or a replay);
3. caught up now: OK;
4. behind for fewer than `min_samples` samples in a row: OK. A consumer that reaches the end of the log
   now and then is keeping up, however slowly records arrive (no false STOP on idle or low-traffic
   partitions: a record waiting for one cycle is not a stopped consumer);
5. behind, with the committed offset unmoved for the last `min_samples` samples (however it moved
   before): STALL if a live member holds the partition, STOP otherwise;
6. the offset moves but the lag grows (it ends higher than it started and its trend is upward): WARN;
7. otherwise OK.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import NamedTuple

__all__ = [
    "STATUS_ORDER",
    "EvaluationConfig",
    "PartitionSample",
    "group_status",
    "lag_of",
    "partition_status",
    "worst_status",
]

OK, WARN, STALL, STOP, REWIND, UNKNOWN = "OK", "WARN", "STALL", "STOP", "REWIND", "UNKNOWN"
# Best to worst; UNKNOWN says nothing about the group when other partitions are known.
STATUS_ORDER = (OK, WARN, STALL, STOP, REWIND)


class PartitionSample(NamedTuple):
    """One observation of a partition. A tuple (not a dataclass): a cycle builds 100,000 of them."""

    at: float  # unix seconds
    committed: int | None
    log_end: int
    active: bool = True  # a live member of the group holds the partition (or the group has live members)

    @property
    def lag(self) -> int:
        return lag_of(self.committed, self.log_end)


@dataclass(frozen=True, slots=True)
class EvaluationConfig:
    window: int = 10  # samples kept per partition
    min_samples: int = 5  # fewer than this: no verdict beyond OK


def lag_of(committed: int | None, log_end: int) -> int:
    """Records between the committed offset and the log end; 0 without a commit or past the end."""
    if committed is None or committed < 0:
        return 0
    return max(0, log_end - committed)


def _slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of y over x; 0 when x does not vary."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var_x = sum((x - mean_x) ** 2 for x, _ in points)
    if var_x == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / var_x


def partition_status(samples: Sequence[PartitionSample], config: EvaluationConfig | None = None) -> str:
    config = config or EvaluationConfig()
    window = list(samples)[-config.window :]
    if not window or window[-1].committed is None:
        return UNKNOWN
    committed = [s.committed for s in window if s.committed is not None]
    if any(later < earlier for earlier, later in pairwise(committed)):
        return REWIND
    lags = [lag_of(sample.committed, sample.log_end) for sample in window]
    if lags[-1] == 0:
        return OK
    # The stretch the partition has been behind without a break, up to now.
    start = len(window)
    while start > 0 and window[start - 1].committed is not None and lags[start - 1] > 0:
        start -= 1
    behind = window[start:]
    if len(behind) < config.min_samples:
        return OK
    # The newest samples in which the committed offset has not moved: long enough, it is stuck or stopped,
    # however well it moved before.
    still = 1
    while still < len(behind) and behind[-still - 1].committed == behind[-1].committed:
        still += 1
    if still >= config.min_samples:
        return STALL if behind[-1].active else STOP
    behind_lags = lags[start:]
    if (
        behind_lags[-1] > behind_lags[0]
        and _slope([(s.at, lag) for s, lag in zip(behind, behind_lags, strict=True)]) > 0
    ):
        return WARN
    return OK


def worst_status(statuses: Iterable[str]) -> str:
    """The worst known status; UNKNOWN only when none is known."""
    rank = {status: index for index, status in enumerate(STATUS_ORDER)}
    known = [status for status in statuses if status in rank]
    if not known:
        return UNKNOWN
    return max(known, key=rank.__getitem__)


def group_status(partition_windows: Iterable[Sequence[PartitionSample]], config: EvaluationConfig | None = None) -> str:
    return worst_status(partition_status(window, config) for window in partition_windows)
