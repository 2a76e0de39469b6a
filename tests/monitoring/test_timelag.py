"""Time lag, rates and time-to-clear (monitoring.timelag): pure unit tests and properties, no Django, no broker."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from monitoring.timelag import (
    MAX_POINTS,
    ClearState,
    TimeLag,
    TimeLagKind,
    rate_per_second,
    sum_rates,
    table_observe,
    table_thin,
    time_lag_exact,
    time_lag_from_table,
    time_lag_refine,
    time_to_clear,
)

T0 = 1_800_000_000.0


def observe_all(observations, **kwargs):
    table: list = []
    previous = None
    for offset, at in observations:
        table = table_observe(table, offset, at, previous_seen=previous, **kwargs)
        previous = (offset, at)
    return table


# ---------------------------------------------------------------------------------------------
# Idle partitions
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("committed", [100, 150])  # equal to the log end, or past it (a truncated topic)
def test_a_caught_up_partition_is_zero_seconds_whatever_the_table(committed):
    for table in ([], [(0, T0)], [(50, T0), (100, T0 + 10)]):
        lag = time_lag_from_table(table, committed, 100, T0 + 1000)
        assert lag.seconds == 0.0
        assert lag.kind is TimeLagKind.IDLE


def test_an_idle_partition_stays_zero_and_its_table_stays_two_points():
    table = observe_all([(500, T0 + 15 * i) for i in range(200)])
    assert table == [(500, T0), (500, T0 + 15 * 199)]
    lag = time_lag_from_table(table, 500, 500, T0 + 15 * 199)
    assert (lag.seconds, lag.kind) == (0.0, TimeLagKind.IDLE)


def test_no_committed_offset_has_no_time_lag():
    assert time_lag_from_table([(10, T0)], None, 10, T0) is None
    assert time_lag_exact(T0 * 1000, None, 10, T0) is None


# ---------------------------------------------------------------------------------------------
# Interpolation
# ---------------------------------------------------------------------------------------------
def test_steady_traffic_interpolates_between_bracketing_points():
    # 10 records per second for 100 s: offset o was appended at T0 + o/10.
    table = observe_all([(10 * s, T0 + s) for s in range(0, 101, 5)])
    lag = time_lag_from_table(table, 400, 1000, T0 + 100)
    assert lag.kind is TimeLagKind.INTERPOLATED
    # Record 400 was written during (T0+40, T0+40.1]: 59.9 .. 60 s ago.
    assert lag.seconds == pytest.approx(60.0, abs=0.2)


def test_a_burst_after_an_idle_stretch_is_placed_at_the_burst_not_spread_over_the_stretch():
    # Idle at offset 100 for an hour (polled every 15 s), then 1,000 records arrive within one cycle.
    observations = [(100, T0 + 15 * i) for i in range(241)]
    observations.append((1100, T0 + 3615))
    table = observe_all(observations)
    lag = time_lag_from_table(table, 100, 1100, T0 + 3615)
    # Record 100 was written after T0+3600 (the log end was still 100 then): at most 15 s ago, not an hour.
    assert 0 <= lag.seconds <= 15.0


def test_a_committed_offset_older_than_the_table_is_a_lower_bound():
    table = [(1000, T0), (2000, T0 + 10)]
    lag = time_lag_from_table(table, 10, 2000, T0 + 20)
    assert lag.kind is TimeLagKind.LOWER_BOUND
    assert lag.seconds == pytest.approx(20.0)


def test_a_table_without_the_current_observation_assumes_it():
    lag = time_lag_from_table([(0, T0)], 0, 100, T0 + 50)
    assert lag.kind is TimeLagKind.INTERPOLATED
    assert 0 < lag.seconds <= 50


# ---------------------------------------------------------------------------------------------
# Restarts and non-monotonic input
# ---------------------------------------------------------------------------------------------
def test_a_restart_keeps_the_table_it_reads_back():
    table = observe_all([(10 * s, T0 + s) for s in range(0, 61, 15)])
    restored = [tuple(p) for p in [list(p) for p in table]]  # as JSON hands it back: lists
    after_restart = table_observe([list(p) for p in restored], 700, T0 + 70, previous_seen=None)
    lag = time_lag_from_table(after_restart, 300, 700, T0 + 70)
    assert lag.kind is TimeLagKind.INTERPOLATED
    assert lag.seconds == pytest.approx(40.0, abs=1.0)


def test_a_log_end_that_goes_backwards_restarts_the_table():
    table = observe_all([(1000, T0), (2000, T0 + 10)])
    table = table_observe(table, 5, T0 + 20, previous_seen=(2000, T0 + 10))
    assert table == [(5, T0 + 20)]


def test_a_clock_that_steps_back_drops_the_points_from_the_future():
    table = observe_all([(10, T0), (20, T0 + 10), (30, T0 + 20)])
    table = table_observe(table, 40, T0 + 15)
    assert all(at <= T0 + 15 for _offset, at in table)
    assert table[-1] == (40, T0 + 15)
    assert [o for o, _ in table] == sorted(o for o, _ in table)


def test_nan_and_negative_offsets_are_ignored():
    table = table_observe([(10, T0)], 20, math.nan)
    assert table == [(10, T0)]
    assert table_observe([(10, T0)], -1, T0 + 1) == [(10, T0)]


def test_points_older_than_the_horizon_are_dropped():
    table = table_observe([(10, T0), (20, T0 + 100)], 30, T0 + 1000, horizon_s=500)
    assert table == [(30, T0 + 1000)]


# ---------------------------------------------------------------------------------------------
# Exact mode
# ---------------------------------------------------------------------------------------------
def test_exact_time_lag_is_now_minus_the_record_timestamp():
    lag = time_lag_exact(int((T0 - 42.5) * 1000), 10, 20, T0)
    assert lag.kind is TimeLagKind.EXACT
    assert lag.seconds == pytest.approx(42.5)
    assert time_lag_exact(int((T0 + 5) * 1000), 10, 20, T0).seconds == 0.0  # a producer clock ahead of ours
    assert time_lag_exact(None, 10, 20, T0) is None  # record gone (compacted, deleted)
    assert time_lag_exact(None, 20, 20, T0).seconds == 0.0


# ---------------------------------------------------------------------------------------------
# Lower bounds: when a time lag says "at least"
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("table", "committed", "log_end", "now", "seconds", "kind"),
    [
        # Older than the table's first point: at least as old as that point.
        ([(1000, T0), (2000, T0 + 10)], 10, 2000, T0 + 20, 20.0, TimeLagKind.LOWER_BOUND),
        ([(1000, T0), (2000, T0 + 10)], 999, 2000, T0 + 20, 20.0, TimeLagKind.LOWER_BOUND),
        # The first point itself brackets from below: record 1000 was written after T0 (interpolated).
        ([(1000, T0), (2000, T0 + 10)], 1000, 2000, T0 + 20, 19.99, TimeLagKind.INTERPOLATED),
        ([(1000, T0), (2000, T0 + 10)], 1500, 2000, T0 + 20, 14.99, TimeLagKind.INTERPOLATED),
        # A table of one point, the current observation: nothing to bracket with.
        ([(2000, T0 + 20)], 1500, 2000, T0 + 20, 0.0, TimeLagKind.LOWER_BOUND),
        # An empty table: (log_end, now) is assumed, so any lag is a lower bound of 0 s.
        ([], 5, 10, T0, 0.0, TimeLagKind.LOWER_BOUND),
        # Caught up is exactly 0, never a bound, whatever the table.
        ([(1000, T0)], 2000, 2000, T0 + 20, 0.0, TimeLagKind.IDLE),
        ([], 10, 10, T0, 0.0, TimeLagKind.IDLE),
    ],
)
def test_which_table_answers_are_lower_bounds(table, committed, log_end, now, seconds, kind):
    lag = time_lag_from_table(table, committed, log_end, now)
    assert lag.kind is kind
    assert lag.lower_bound is (kind is TimeLagKind.LOWER_BOUND)
    assert lag.seconds == pytest.approx(seconds, abs=0.01)


@pytest.mark.parametrize(
    ("committed", "log_start", "log_end", "kind"),
    [
        (10, 0, 20, TimeLagKind.EXACT),  # the record is there
        (10, 10, 20, TimeLagKind.EXACT),  # it is the oldest record kept: still its own timestamp
        (10, None, 20, TimeLagKind.EXACT),  # log start unknown (not read): taken as exact
        (10, 11, 20, TimeLagKind.LOWER_BOUND),  # deleted by retention: the oldest kept record stood in
        (0, 15, 20, TimeLagKind.LOWER_BOUND),
        (20, 25, 20, TimeLagKind.IDLE),  # caught up (a truncated, emptied log): 0 s, not a bound
    ],
)
def test_an_exact_time_lag_read_past_deleted_records_is_a_lower_bound(committed, log_start, log_end, kind):
    lag = time_lag_exact(int((T0 - 60) * 1000), committed, log_end, T0, log_start=log_start)
    assert lag.kind is kind
    assert lag.lower_bound is (kind is TimeLagKind.LOWER_BOUND)
    assert lag.seconds == (0.0 if kind is TimeLagKind.IDLE else pytest.approx(60.0))


BOUND = TimeLag(3600.0, TimeLagKind.LOWER_BOUND)


@pytest.mark.parametrize(
    ("bound", "estimate", "expected"),
    [
        # The table reaches back past retention and dates the record: an estimate, no longer "at least".
        (BOUND, TimeLag(5400.0, TimeLagKind.INTERPOLATED), TimeLag(5400.0, TimeLagKind.INTERPOLATED)),
        # A table bound further back is the tighter bound.
        (BOUND, TimeLag(7200.0, TimeLagKind.LOWER_BOUND), TimeLag(7200.0, TimeLagKind.LOWER_BOUND)),
        # Below the bound (a young table, or an interpolation contradicting the record read): the bound stands.
        (BOUND, TimeLag(0.0, TimeLagKind.LOWER_BOUND), BOUND),
        (BOUND, TimeLag(1800.0, TimeLagKind.INTERPOLATED), BOUND),
        (BOUND, None, BOUND),
        (BOUND, TimeLag(0.0, TimeLagKind.IDLE), BOUND),
        # An exact value is never replaced.
        (TimeLag(60.0, TimeLagKind.EXACT), TimeLag(600.0, TimeLagKind.INTERPOLATED), TimeLag(60.0, TimeLagKind.EXACT)),
    ],
)
def test_an_exact_mode_lower_bound_is_refined_by_the_table_when_it_knows_better(bound, estimate, expected):
    assert time_lag_refine(bound, estimate) == expected


# ---------------------------------------------------------------------------------------------
# Rates and time to clear
# ---------------------------------------------------------------------------------------------
def test_rates_are_none_rather_than_negative_or_infinite():
    assert rate_per_second((0, T0), (150, T0 + 15)) == pytest.approx(10.0)
    assert rate_per_second((150, T0), (100, T0 + 15)) is None  # reset
    assert rate_per_second((0, T0), (10, T0)) is None  # no elapsed time
    assert rate_per_second(None, (10, T0)) is None
    assert sum_rates([None, None]) is None
    assert sum_rates([1.5, None, 2.5]) == 4.0


@pytest.mark.parametrize(
    ("lag", "consume", "produce", "seconds", "state"),
    [
        (0, None, None, 0.0, ClearState.CLEAR),
        (0, 1.0, 5.0, 0.0, ClearState.CLEAR),
        (1000, 20.0, 10.0, 100.0, ClearState.CLEARING),
        (1000, 10.0, 10.0, None, ClearState.NEVER),
        (1000, 5.0, 10.0, None, ClearState.NEVER),
        (1000, 0.0, 0.0, None, ClearState.NEVER),  # stopped consumer, idle producer
        (10**9, 5e-324, 0.0, None, ClearState.NEVER),  # a drain too small to divide by: never, not infinity
        (1000, None, 10.0, None, ClearState.UNKNOWN),
        (1000, 10.0, None, None, ClearState.UNKNOWN),
    ],
)
def test_time_to_clear(lag, consume, produce, seconds, state):
    result = time_to_clear(lag, consume, produce)
    assert result.seconds == seconds
    assert result.state is state


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------
observation_steps = st.lists(
    st.tuples(st.integers(min_value=-50, max_value=500), st.floats(min_value=-5, max_value=120)),
    min_size=1,
    max_size=120,
)


def _walk(steps):
    """Observations from steps of (offset delta, time delta): deltas may be negative (non-monotonic input)."""
    offset, at, observations = 0, T0, []
    for d_offset, d_at in steps:
        offset = max(0, offset + d_offset)
        at += d_at
        observations.append((offset, at))
    return observations


@given(observation_steps, st.integers(min_value=0, max_value=100_000))
def test_time_lag_is_always_finite_and_non_negative(steps, committed):
    observations = _walk(steps)
    table = observe_all(observations)
    log_end, now = observations[-1]
    lag = time_lag_from_table(table, committed, log_end, now)
    assert lag is not None
    assert math.isfinite(lag.seconds)
    assert lag.seconds >= 0
    if committed >= log_end:
        assert lag.seconds == 0.0


@given(observation_steps)
def test_the_table_is_bounded_and_ordered(steps):
    table = observe_all(_walk(steps), max_points=16)
    assert 1 <= len(table) <= 16
    offsets = [o for o, _ in table]
    times = [t for _, t in table]
    assert offsets == sorted(offsets)
    assert times == sorted(times)


@given(
    st.lists(st.integers(min_value=0, max_value=1000), min_size=2, max_size=60),
    st.integers(min_value=0, max_value=10**6),
)
def test_time_lag_does_not_grow_as_the_consumer_advances(increments, seed):
    # Monotonic input: a further committed offset was written no earlier, so its time lag is no larger.
    observations, offset = [], 0
    for i, inc in enumerate(increments):
        offset += inc
        observations.append((offset, T0 + 15 * i))
    table = observe_all(observations)
    log_end, now = observations[-1]
    assume(log_end > 0)
    a = seed % (log_end + 1)
    b = min(log_end, a + 1 + seed % 97)
    assert time_lag_from_table(table, b, log_end, now).seconds <= time_lag_from_table(table, a, log_end, now).seconds


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=MAX_POINTS + 1, max_size=300, unique=True))
def test_thinning_keeps_the_first_and_the_newest_points(times):
    times.sort()
    points = [(i, t) for i, t in enumerate(times)]
    thinned = table_thin(points, now=times[-1])
    assert len(thinned) == MAX_POINTS
    assert thinned[0] == points[0]
    assert thinned[-2:] == points[-2:]


@given(
    st.integers(min_value=0, max_value=10**9),
    st.floats(min_value=0, max_value=1e6, allow_nan=False),
    st.floats(min_value=0, max_value=1e6, allow_nan=False),
)
def test_time_to_clear_is_lag_over_net_drain_or_explicitly_never(lag, consume, produce):
    result = time_to_clear(lag, consume, produce)
    if lag == 0:
        assert result.state is ClearState.CLEAR
    elif consume <= produce or not math.isfinite(lag / (consume - produce)):
        assert (result.seconds, result.state) == (None, ClearState.NEVER)
    else:
        assert result.state is ClearState.CLEARING
        assert math.isfinite(result.seconds)
        assert result.seconds * (consume - produce) == pytest.approx(lag)
