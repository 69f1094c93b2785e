"""Period-end forecasts on hand-computed daily series, including HERE's incomplete newest days."""

from __future__ import annotations

import math
from datetime import timedelta
from statistics import NormalDist
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usage_analysis.analysis import forecast
from usage_analysis.errors import InvalidParameter, SchemaError
from usage_analysis.schema import coerce_unified


def unified(**columns: Any) -> pd.DataFrame:
    df = pd.DataFrame(columns)
    df["period_start"] = pd.to_datetime(df["period_start"], utc=True)
    for col, value in {
        "provider": "particle",
        "account_id": "acme",
        "unit": "data operations",
    }.items():
        if col not in df:
            df[col] = value
    df["period_end"] = df["period_start"] + pd.Timedelta(days=1)
    df["billable_quantity"] = df["quantity"]
    df["billable_unit"] = df["unit"]
    return coerce_unified(df)


def day(d: str) -> pd.Timestamp:
    return pd.Timestamp(d, tz="UTC")


def october(values: list[float], **extra: Any) -> pd.DataFrame:
    """One value a day from Oct 1."""
    days = pd.date_range("2026-10-01", periods=len(values), freq="D", tz="UTC")
    return unified(period_start=days, quantity=values, **extra)


def test_a_steady_series_projects_the_rate_over_the_rest_of_the_month() -> None:
    fc = forecast(october([100.0] * 10), allowance=2_000)
    row = fc.iloc[0]
    assert (row["period_start"], row["period_end"]) == (day("2026-10-01"), day("2026-11-01"))
    assert row["as_of"] == day("2026-10-11")
    assert row["used"] == 1_000.0
    assert row["daily_rate"] == 100.0
    assert row["projected"] == 3_100.0  # 1,000 + 21 days x 100
    assert (row["lower"], row["upper"]) == (3_100.0, 3_100.0)  # no spread at all
    assert row["projected_percent"] == pytest.approx(155.0)
    assert row["runs_out_on"] == day("2026-10-20")  # 20 days x 100 = 2,000
    assert row["billable_unit"] == "data operations"


def test_the_interval_widens_with_the_daily_spread_and_the_days_left() -> None:
    fc = forecast(october([90.0, 110.0] * 5), interval=0.8).iloc[0]
    s = math.sqrt(10 * 10**2 / 9)  # sample standard deviation of the ten days
    m, n = 21, 10
    half = NormalDist().inv_cdf(0.9) * s * math.sqrt(m + m * m / n)
    assert fc["projected"] == pytest.approx(3_100.0)
    assert fc["lower"] == pytest.approx(3_100.0 - half)
    assert fc["upper"] == pytest.approx(3_100.0 + half)


def test_here_newest_two_days_are_treated_as_incomplete() -> None:
    values = [100.0] * 8 + [30.0, 10.0]  # Oct 9 and 10 not fully reported yet
    df = october(values, provider="here", unit="Transactions")
    fc = forecast(df).iloc[0]
    assert fc["complete_until"] == day("2026-10-09")  # as_of Oct 11 minus 48 h
    assert fc["used"] == 840.0
    assert fc["daily_rate"] == 100.0  # from the eight complete days only
    assert fc["projected"] == 3_100.0  # 800 + 2 x 100 (incomplete) + 21 x 100
    naive = forecast(df, lag=timedelta(0)).iloc[0]
    assert naive["daily_rate"] == 84.0
    assert naive["projected"] == pytest.approx(840.0 + 21 * 84.0)


def test_history_before_the_period_feeds_the_rate() -> None:
    days = pd.date_range("2026-09-20", "2026-10-03", freq="D", tz="UTC")
    values = [50.0] * 11 + [200.0, 200.0, 200.0]  # September at 50, October at 200
    fc = forecast(unified(period_start=days, quantity=values), lookback=7).iloc[0]
    assert fc["history_days"] == 7
    assert fc["daily_rate"] == pytest.approx((4 * 50 + 3 * 200) / 7)
    assert fc["used"] == 600.0
    assert fc["projected"] == pytest.approx(600.0 + 28 * (800 / 7))


def test_an_allowance_already_used_up_runs_out_on_the_day_it_was_reached() -> None:
    fc = forecast(october([100.0] * 10), allowance=250).iloc[0]
    assert fc["runs_out_on"] == day("2026-10-03")


def test_an_allowance_not_reached_this_period_has_no_run_out_day() -> None:
    fc = forecast(october([100.0] * 10), allowance=10_000).iloc[0]
    assert pd.isna(fc["runs_out_on"])


def test_groups_are_projected_separately_with_their_own_allowance() -> None:
    days = pd.date_range("2026-10-01", periods=10, freq="D", tz="UTC")
    df = unified(
        account_id=["a"] * 10 + ["b"] * 10,
        period_start=list(days) * 2,
        quantity=[10.0] * 10 + [1.0] * 10,
    )
    fc = forecast(df, by="account_id", allowance={"a": 100, "b": 1_000})
    assert fc["account_id"].astype(str).tolist() == ["a", "b"]
    assert fc["projected"].tolist() == [310.0, 31.0]
    assert fc["runs_out_on"].iloc[0] == day("2026-10-10")
    assert pd.isna(fc["runs_out_on"].iloc[1])


def test_a_finished_period_projects_what_was_used() -> None:
    fc = forecast(october([100.0] * 10), start="2026-10-01", end="2026-10-08").iloc[0]
    assert fc["used"] == 700.0
    assert (fc["projected"], fc["lower"], fc["upper"]) == (700.0, 700.0, 700.0)


def test_as_of_later_than_the_data_counts_silent_days_as_zero() -> None:
    fc = forecast(october([100.0] * 10), as_of="2026-10-21").iloc[0]
    assert fc["daily_rate"] == pytest.approx(1_000 / 20)
    assert fc["projected"] == pytest.approx(1_000 + 11 * 50)


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"interval": 1.5}, "interval"),
        ({"lookback": 0}, "lookback"),
        ({"start": "2026-10-01"}, "end"),
        ({"lag": 5}, "lag"),
        ({"allowance": "lots"}, "allowance"),
    ],
)
def test_bad_options_name_the_parameter(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(InvalidParameter) as err:
        forecast(october([1.0, 2.0]), **kwargs)
    assert err.value.parameter == parameter


def test_monthly_rows_cannot_be_forecast_by_day() -> None:
    df = october([100.0])
    df["period_end"] = df["period_start"] + pd.DateOffset(months=1)
    with pytest.raises(SchemaError, match="a day or less"):
        forecast(df)


@settings(max_examples=25, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.integers(min_value=0, max_value=30),
            st.one_of(st.floats(min_value=-50, max_value=1e4), st.just(math.nan)),
        ),
        min_size=1,
        max_size=60,
    ),
    allowance=st.one_of(st.none(), st.floats(min_value=1, max_value=1e5)),
)
def test_grouped_forecast_columns_and_usage_match_plain_pandas(
    rows: list[tuple[str, int, float]], allowance: float | None
) -> None:
    """The answer, built in one frame, against plain pandas: one row per group with
    rows (all in October here), the documented columns and dtypes, ``used`` pandas'
    sum of the group's days (NaN counts 0) and ``percent`` its share of the allowance."""
    account, offset, quantity = zip(*rows, strict=True)
    starts = pd.Timestamp("2026-10-01", tz="UTC") + pd.to_timedelta(list(offset), unit="D")
    df = unified(account_id=list(account), period_start=starts, quantity=list(quantity))
    fc = forecast(df, by="account_id", quantity="quantity", allowance=allowance)
    assert list(fc.columns) == [
        "account_id",
        "period_start",
        "period_end",
        "as_of",
        "complete_until",
        "used",
        "daily_rate",
        "history_days",
        "projected",
        "lower",
        "upper",
        "allowance",
        "percent",
        "projected_percent",
        "runs_out_on",
        "unit",
    ]
    assert fc.index.equals(pd.RangeIndex(len(fc)))
    for col in ("period_start", "period_end", "as_of", "complete_until", "runs_out_on"):
        assert str(fc[col].dtype) == "datetime64[ns, UTC]"
    assert fc["history_days"].dtype == "int64"
    assert list(fc["account_id"].cat.categories) == sorted(set(account))
    assert fc["account_id"].astype(str).tolist() == sorted(set(account))
    assert fc["unit"].astype(str).tolist() == ["data operations"] * len(fc)
    assert (fc["period_start"] == day("2026-10-01")).all()
    assert (fc["period_end"] == day("2026-11-01")).all()
    sums = df.groupby("account_id", observed=True)["quantity"].sum()
    for i, acc in enumerate(fc["account_id"].astype(str)):
        used = fc["used"].iloc[i]
        assert used == pytest.approx(sums[acc], rel=1e-9, abs=1e-9)
        if allowance is None:
            assert math.isnan(fc["percent"].iloc[i]) and pd.isna(fc["runs_out_on"].iloc[i])
        else:
            assert fc["percent"].iloc[i] == pytest.approx(used / allowance * 100, abs=1e-9)
