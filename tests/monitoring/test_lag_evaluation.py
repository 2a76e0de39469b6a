"""Lag status rules (monitoring.lag_evaluation): table-driven, one block per rule, plus properties. No Django."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitoring.lag_evaluation import (
    STATUS_ORDER,
    EvaluationConfig,
    PartitionSample,
    group_status,
    lag_of,
    partition_status,
    worst_status,
)

CONFIG = EvaluationConfig(window=10, min_samples=5)
T0 = 1_800_000_000.0


def window(rows, *, active=True, step=15.0):
    """Samples from (committed, log_end) pairs, one cycle apart."""
    return [
        PartitionSample(at=T0 + i * step, committed=committed, log_end=log_end, active=active)
        for i, (committed, log_end) in enumerate(rows)
    ]


CASES = [
    # --- UNKNOWN ------------------------------------------------------------------------------
    ("no samples", [], True, "UNKNOWN"),
    ("never committed", [(None, 10)] * 6, True, "UNKNOWN"),
    # --- OK: idle and caught up -----------------------------------------------------------------
    ("idle partition, nothing ever written", [(0, 0)] * 10, True, "OK"),
    ("idle partition with history", [(500, 500)] * 10, False, "OK"),
    ("caught up now after a lag", [(0, 100), (50, 120), (120, 120)], True, "OK"),
    ("keeping up with steady traffic", [(i * 100 - 5, i * 100) for i in range(1, 11)], True, "OK"),
    # --- OK: no false STOP on low traffic --------------------------------------------------------
    ("one record waiting one cycle", [(10, 10)] * 9 + [(10, 11)], False, "OK"),
    (
        "a record now and then, consumed within a cycle",
        [(10 + i // 2, 10 + (i + 1) // 2) for i in range(10)],
        False,
        "OK",
    ),
    ("behind for fewer cycles than min_samples", [(10, 10)] * 6 + [(10, 14)] * 4, False, "OK"),
    ("fewer samples than min_samples, behind and still", [(10, 20)] * 4, False, "OK"),
    # --- WARN: lag growing while the consumer moves ---------------------------------------------
    ("slow consumer falls behind", [(i * 10, 20 + i * 30) for i in range(10)], True, "WARN"),
    ("growing with a dip", [(0, 10), (5, 30), (10, 50), (30, 55), (35, 80), (40, 100)], True, "WARN"),
    ("shrinking lag is OK", [(i * 30, 300 + i * 10) for i in range(10)], True, "OK"),
    ("flat lag while moving is OK", [(i * 10, 50 + i * 10) for i in range(10)], True, "OK"),
    # --- STALL: live member, offset stuck --------------------------------------------------------
    ("live consumer stuck on a record", [(40, 50 + i) for i in range(10)], True, "STALL"),
    ("live consumer stuck, no new records", [(40, 50)] * 6, True, "STALL"),
    # --- STOP: nobody consumes while behind ------------------------------------------------------
    ("stopped consumer, producer keeps writing", [(40, 50 + 10 * i) for i in range(10)], False, "STOP"),
    ("stopped consumer, nothing new", [(40, 50)] * 5, False, "STOP"),
    (
        "progressed, then stopped for min_samples cycles",
        [(i * 10, 100 + i * 20) for i in range(5)] + [(40, 200)] * 4,
        False,
        "STOP",
    ),
    (
        "progressed, then stuck with a live member",
        [(i * 10, 100 + i * 20) for i in range(5)] + [(40, 200)] * 4,
        True,
        "STALL",
    ),
    (
        "progressed, then still for fewer than min_samples",
        [(i * 10, 100 + i * 20) for i in range(6)] + [(50, 220)] * 3,
        False,
        "WARN",
    ),
    (
        "stopped after catching up, then records arrived",
        [(40, 40)] * 3 + [(40, 45 + i) for i in range(7)],
        False,
        "STOP",
    ),
    # --- REWIND: offset went backwards ------------------------------------------------------------
    ("reset to earliest", [(100, 120), (110, 120), (0, 120), (10, 120)], True, "REWIND"),
    ("rewind while caught up still counts", [(100, 100), (50, 100), (100, 100)], True, "REWIND"),
    ("rewind outside the window no longer counts", [(100, 100), (0, 100)] + [(100, 100)] * 10, True, "OK"),
]


@pytest.mark.parametrize(("rows", "active", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_partition_status(rows, active, expected):
    assert partition_status(window(rows, active=active), CONFIG) == expected


def test_the_window_is_the_newest_samples():
    # Twelve samples, the first two of a stopped consumer; only the last ten count (caught up since).
    rows = [(0, 10), (0, 10)] + [(10, 10)] * 10
    assert partition_status(window(rows, active=False), CONFIG) == "OK"


def test_min_samples_is_configurable():
    rows = [(40, 50)] * 3
    assert partition_status(window(rows, active=False), EvaluationConfig(window=10, min_samples=3)) == "STOP"
    assert partition_status(window(rows, active=False), EvaluationConfig(window=10, min_samples=4)) == "OK"


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], "UNKNOWN"),
        (["UNKNOWN"], "UNKNOWN"),
        (["OK", "UNKNOWN"], "OK"),
        (["OK", "WARN"], "WARN"),
        (["WARN", "STALL", "OK"], "STALL"),
        (["STALL", "STOP"], "STOP"),
        (["STOP", "REWIND", "OK"], "REWIND"),
    ],
)
def test_group_status_is_the_worst_partition(statuses, expected):
    assert worst_status(statuses) == expected


def test_group_status_over_partition_windows():
    windows = [
        window([(10, 10)] * 10),
        window([(i * 10, 20 + i * 30) for i in range(10)]),
        window([(None, 5)] * 10),
    ]
    assert group_status(windows, CONFIG) == "WARN"


@pytest.mark.parametrize(
    ("committed", "log_end", "lag"), [(None, 10, 0), (-1, 10, 0), (3, 10, 7), (10, 10, 0), (12, 10, 0)]
)
def test_lag_of(committed, log_end, lag):
    assert lag_of(committed, log_end) == lag


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------
status = st.sampled_from([*STATUS_ORDER, "UNKNOWN"])


@given(st.lists(status, max_size=20), st.lists(status, max_size=20))
def test_worst_status_is_associative_and_order_free(a, b):
    assert worst_status(a + b) == worst_status([worst_status(a), worst_status(b)])
    assert worst_status(a + b) == worst_status(list(reversed(b + a)))


@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=15), st.booleans())
def test_a_partition_caught_up_now_is_ok_unless_it_rewound(offsets, active):
    # The consumer is at the log end in every sample: never behind, so OK, or REWIND when offsets went back.
    rows = [(o, o) for o in offsets]
    result = partition_status(window(rows, active=active), CONFIG)
    went_back = any(b < a for a, b in zip(offsets[-CONFIG.window :], offsets[-CONFIG.window :][1:], strict=False))
    assert result == ("REWIND" if went_back else "OK")


@given(
    st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=30),
    st.booleans(),
)
def test_no_stop_or_stall_without_min_samples_behind_in_a_row(lags, active):
    # Committed offset never moves; lag follows the given values (the producer's writes come and go).
    rows = [(100, 100 + lag) for lag in lags]
    result = partition_status(window(rows, active=active), CONFIG)
    trailing_behind = 0
    for lag in reversed(lags[-CONFIG.window :]):
        if lag == 0:
            break
        trailing_behind += 1
    if trailing_behind < CONFIG.min_samples:
        assert result == "OK"
    else:
        assert result == ("STALL" if active else "STOP")
