"""The one calendar rule: day numbers to day, week (from Monday) and month periods."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from usage_analysis.analysis import period_numbers, period_starts

# 1700-01-01 .. 2261-12-31 as day numbers since 1970-01-01 (pandas' nanosecond range).
DAYS = st.lists(st.integers(-98_000, 106_000), min_size=1, max_size=60)


def _pandas_starts(days: list[int] | range, freq: str) -> list[pd.Timestamp]:
    """Where pandas' own calendar starts each day's period (UTC)."""
    ts = pd.DatetimeIndex(pd.to_datetime(np.asarray(days, dtype=np.int64), unit="D"))
    if freq == "W":
        ts = ts - pd.to_timedelta(ts.day_of_week, unit="D")
    elif freq == "MS":
        ts = ts.to_period("M").start_time
    return list(ts.tz_localize("UTC"))


@settings(max_examples=60, deadline=None)
@given(days=DAYS, freq=st.sampled_from(["D", "W", "MS"]))
def test_each_day_falls_in_the_period_pandas_puts_it_in(days: list[int], freq: str) -> None:
    numbers = period_numbers(np.array(days), freq)
    starts = period_starts(numbers, freq)
    assert list(starts) == _pandas_starts(days, freq)
    assert str(starts.dtype) == "datetime64[ns, UTC]"


@settings(max_examples=40, deadline=None)
@given(first=st.integers(-98_000, 105_000), freq=st.sampled_from(["D", "W", "MS"]))
def test_period_numbers_are_consecutive_across_a_run_of_days(first: int, freq: str) -> None:
    numbers = period_numbers(np.arange(first, first + 800), freq)
    steps = np.diff(numbers)
    assert set(steps.tolist()) <= {0, 1}  # never a gap, never backwards
    # a new number exactly where pandas starts a new period
    starts = _pandas_starts(range(first, first + 800), freq)
    changed = [a != b for a, b in itertools.pairwise(starts)]
    assert (steps == 1).tolist() == changed
