"""Time lag, rates and time-to-clear (pure): how far behind a consumer is in seconds, from a per-partition table
of (log-end offset, time) points that the poller records each cycle and persists (OffsetTimePoint).

The table answers "when was offset c written?": at time t_k the log end was o_k, at t_j it was o_j > o_k, so
the records o_k .. o_j-1 were appended during (t_k, t_j]; spreading them evenly over that interval gives the
append time of c, and the time lag is now minus that. Nothing here returns NaN or infinity: a caught-up
partition is 0 s, an answer that cannot be had is None, and a committed offset older than the whole table
gives a lower bound (flagged as such).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "DEFAULT_HORIZON_S",
    "MAX_POINTS",
    "ClearState",
    "Point",
    "TimeLag",
    "TimeLagKind",
    "TimeToClear",
    "rate_per_second",
    "sum_rates",
    "table_observe",
    "table_thin",
    "time_lag_exact",
    "time_lag_from_table",
    "time_lag_refine",
    "time_to_clear",
]

Point = tuple[int, float]  # (log-end offset, unix time in seconds)

# A table keeps at most this many points: recent ones dense (they decide small time lags, which people
# watch), old ones sparse (a consumer hours behind needs minutes of precision, not seconds).
MAX_POINTS = 64
# Points older than this are dropped; a committed offset older than the table gives a lower bound.
DEFAULT_HORIZON_S = 7 * 24 * 3600.0
# Observations this close are the same one (a time read back from the database loses sub-microseconds).
SAME_MOMENT_S = 0.001


class TimeLagKind(enum.StrEnum):
    IDLE = "idle"  # caught up: 0 s
    INTERPOLATED = "interpolated"  # between two points of the table
    LOWER_BOUND = "lower_bound"  # older than the table's first point: at least this much
    EXACT = "exact"  # the timestamp of the record at the committed offset


@dataclass(frozen=True, slots=True)
class TimeLag:
    seconds: float
    kind: TimeLagKind

    @property
    def lower_bound(self) -> bool:
        """True when the consumer is at least `seconds` behind, possibly more (shown as "≥ 5 min")."""
        return self.kind is TimeLagKind.LOWER_BOUND


class ClearState(enum.StrEnum):
    CLEAR = "clear"  # no lag: 0 s
    CLEARING = "clearing"  # consuming faster than producing: lag / (consume - produce)
    NEVER = "never"  # consuming no faster than producing: the lag will not clear at these rates
    UNKNOWN = "unknown"  # no rate yet (first cycle, or a reset)


@dataclass(frozen=True, slots=True)
class TimeToClear:
    seconds: float | None
    state: ClearState


def _finite(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))


# ---------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------
def table_observe(
    points: Sequence[Point],
    log_end: int,
    at: float,
    *,
    previous_seen: Point | None = None,
    max_points: int = MAX_POINTS,
    horizon_s: float = DEFAULT_HORIZON_S,
) -> list[Point]:
    """The table after observing `log_end` at time `at`; a new list (the input is not changed).

    `previous_seen` is the last observation before this one (the log end and when it was seen): when
    the log end moved, it says how late the old log end still held, which tells an idle stretch followed
    by a burst apart from a steady trickle. Non-monotonic input is repaired rather than trusted:
    - a log end lower than the table's last offset means the partition was re-created or truncated: the
      old points describe other records, so the table restarts;
    - a time earlier than the table's last point (a clock step back) drops the points from the future.
    """
    table = [(int(o), float(t)) for o, t in points if _finite(float(t))]
    if log_end < 0 or not _finite(at):
        return table
    if previous_seen is not None:
        _see(table, int(previous_seen[0]), float(previous_seen[1]))
    _see(table, log_end, at)
    table = [(o, t) for o, t in table if at - t <= horizon_s] or [(log_end, at)]
    return table_thin(table, now=at, max_points=max_points)


def _see(table: list[Point], offset: int, at: float) -> None:
    """Add one observation to the table in place (see table_observe for the repairs)."""
    if offset < 0 or not _finite(at):
        return
    if table and offset < table[-1][0]:
        table.clear()
    while table and table[-1][1] > at:
        table.pop()
    if table and table[-1][0] == offset:
        # Unchanged: keep the first sighting, and one more point saying "still this offset at `at`".
        if len(table) >= 2 and table[-2][0] == offset:
            table[-1] = (offset, at)
        elif at - table[-1][1] > SAME_MOMENT_S:
            table.append((offset, at))
    else:
        table.append((offset, at))


def table_thin(points: Sequence[Point], *, now: float, max_points: int = MAX_POINTS) -> list[Point]:
    """At most max_points points: repeatedly drop the interior point whose neighbours are closest in time
    relative to its age, so the newest points stay dense and old ones thin out. First and last two stay."""
    table = list(points)
    if max_points < 4:
        max_points = 4
    while len(table) > max_points:
        best_index, best_score = None, math.inf
        for i in range(1, len(table) - 2):
            gap = table[i + 1][1] - table[i - 1][1]
            age = max(now - table[i][1], 1.0)
            score = gap / age
            if score < best_score:
                best_index, best_score = i, score
        if best_index is None:
            break
        del table[best_index]
    return table


# ---------------------------------------------------------------------------------------------
# Time lag
# ---------------------------------------------------------------------------------------------
def time_lag_from_table(points: Sequence[Point], committed: int | None, log_end: int, now: float) -> TimeLag | None:
    """The time lag of a consumer at `committed` (the next offset it will read) on a partition at `log_end`.

    None when there is no committed offset or the table is empty while behind. The table should already
    hold the current observation (table_observe first); when it does not, (log_end, now) is assumed.
    """
    if committed is None:
        return None
    if committed >= log_end:
        return TimeLag(0.0, TimeLagKind.IDLE)
    table = [(o, t) for o, t in points if o <= log_end]
    if not table or table[-1][0] < log_end:
        table.append((log_end, now))
    # The bracket: the latest point at or below `committed` (the last time the log end was that low)
    # and the first point above it.
    below = None
    above = None
    for offset, at in table:
        if offset <= committed:
            if below is None or offset > below[0] or (offset == below[0] and at > below[1]):
                below = (offset, at)
        elif above is None or offset < above[0] or (offset == above[0] and at < above[1]):
            above = (offset, at)
    if above is None:  # cannot happen with (log_end, now) in the table; kept for safety
        return TimeLag(0.0, TimeLagKind.IDLE)
    if below is None:
        # Written before the first point we have: at least as old as that point.
        return TimeLag(max(0.0, now - table[0][1]), TimeLagKind.LOWER_BOUND)
    span = above[0] - below[0]
    fraction = (committed - below[0] + 1) / span
    written_at = below[1] + fraction * max(0.0, above[1] - below[1])
    seconds = max(0.0, now - written_at)
    return TimeLag(seconds if _finite(seconds) else 0.0, TimeLagKind.INTERPOLATED)


def time_lag_exact(
    record_timestamp_ms: int | None,
    committed: int | None,
    log_end: int,
    now: float,
    *,
    log_start: int | None = None,
) -> TimeLag | None:
    """The time lag from the timestamp of the record at the committed offset (exact mode).

    `log_start`: the partition's log-start offset, read after the record. A committed offset below it was
    deleted by retention (or delete-records): the record read in its place is the oldest one kept, written
    after the committed one, so its age is only a lower bound.
    """
    if committed is None:
        return None
    if committed >= log_end:
        return TimeLag(0.0, TimeLagKind.IDLE)
    if record_timestamp_ms is None or record_timestamp_ms < 0:
        return None
    seconds = max(0.0, now - record_timestamp_ms / 1000.0)
    if log_start is not None and committed < log_start:
        return TimeLag(seconds, TimeLagKind.LOWER_BOUND)
    return TimeLag(seconds, TimeLagKind.EXACT)


def time_lag_refine(bound: TimeLag, estimate: TimeLag | None) -> TimeLag:
    """The better of an exact-mode lower bound and the table's answer for the same committed offset.

    The table may reach back further than retention kept records: an interpolated value at least as large as
    the bound is the better answer (no longer "at least"); a larger lower bound is a tighter one. Otherwise the
    bound stands (an interpolation below it contradicts a record we read).
    """
    if not bound.lower_bound or estimate is None or estimate.seconds < bound.seconds:
        return bound
    if estimate.kind in (TimeLagKind.INTERPOLATED, TimeLagKind.LOWER_BOUND):
        return estimate
    return bound


# ---------------------------------------------------------------------------------------------
# Rates and time to clear
# ---------------------------------------------------------------------------------------------
def rate_per_second(before: Point | None, after: Point | None) -> float | None:
    """Records per second between two (offset, time) observations; None when it cannot be told.

    An offset that went backwards (a reset, a re-created topic) or no elapsed time gives None, not a
    negative or infinite rate.
    """
    if before is None or after is None:
        return None
    elapsed = after[1] - before[1]
    delta = after[0] - before[0]
    if not _finite(elapsed) or elapsed <= 0 or delta < 0:
        return None
    return delta / elapsed


def sum_rates(rates: Iterable[float | None]) -> float | None:
    """The sum of the known rates; None when none is known."""
    known = [rate for rate in rates if rate is not None]
    return sum(known) if known else None


def time_to_clear(lag: int, consume_rate: float | None, produce_rate: float | None) -> TimeToClear:
    """How long until the lag is 0 at the current rates.

    The lag drains at consume - produce records per second; when that is not positive it never clears
    (explicitly NEVER with no seconds, rather than an infinite or negative number).
    """
    if lag <= 0:
        return TimeToClear(0.0, ClearState.CLEAR)
    if consume_rate is None or produce_rate is None:
        return TimeToClear(None, ClearState.UNKNOWN)
    drain = consume_rate - produce_rate
    if drain <= 0 or not _finite(drain):
        return TimeToClear(None, ClearState.NEVER)
    seconds = lag / drain
    if not _finite(seconds):  # a drain so small that the division overflows: it will not clear either
        return TimeToClear(None, ClearState.NEVER)
    return TimeToClear(seconds, ClearState.CLEARING)
