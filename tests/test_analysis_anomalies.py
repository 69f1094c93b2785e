"""Robust per-resource anomalies on hand-computed daily series."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from usage_analysis.analysis import anomalies
from usage_analysis.errors import InvalidParameter, SchemaError, UnitMismatch
from usage_analysis.schema import coerce_unified

START = pd.Timestamp("2026-10-01", tz="UTC")


def unified(**columns: Any) -> pd.DataFrame:
    df = pd.DataFrame(columns)
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


def series(device: str, values: dict[int, float], name: str | None = None) -> pd.DataFrame:
    """Rows for ``device`` on the given day offsets from Oct 1."""
    days = sorted(values)
    return unified(
        resource_id=[device] * len(days),
        resource_name=[name or device] * len(days),
        period_start=[START + pd.Timedelta(days=d) for d in days],
        quantity=[values[d] for d in days],
    )


def combine(*frames: pd.DataFrame) -> pd.DataFrame:
    return coerce_unified(pd.concat(frames, ignore_index=True))


def wobbly_then_spike() -> pd.DataFrame:
    # 14 days alternating 90 / 110 (median 100, MAD 10), then 500 on Oct 15.
    values = {d: (90.0 if d % 2 == 0 else 110.0) for d in range(14)}
    values[14] = 500.0
    return series("d1", values, name="tracker-0001")


def test_a_spike_is_reported_with_its_usual_level_spread_score_and_factor() -> None:
    found = anomalies(wobbly_then_spike())
    assert len(found) == 1
    row = found.iloc[0]
    assert (row["resource_id"], row["resource_name"]) == ("d1", "tracker-0001")
    assert row["day"] == pd.Timestamp("2026-10-15", tz="UTC")
    assert row["value"] == 500.0
    assert row["usual"] == 100.0
    assert row["spread"] == pytest.approx(1.4826 * 10)
    assert row["score"] == pytest.approx(400 / (1.4826 * 10))
    assert row["factor"] == pytest.approx(5.0)
    assert row["history_days"] == 14
    assert row["unit"] == "data operations"
    assert row["explanation"] == (
        "tracker-0001 (d1) used 500 data operations on 2026-10-15, 5.0x its usual 100 "
        "(median of the previous 14 of 28 days); robust score 27.0"
    )
    # the default minimum volume is the median of all non-zero device-days
    assert found.attrs["min_volume"] == 110.0


def test_small_spikes_below_the_minimum_volume_are_ignored() -> None:
    quiet = {d: 5.0 for d in range(14)}
    quiet[14] = 50.0
    df = combine(wobbly_then_spike(), series("d2", quiet))
    assert set(anomalies(df, min_volume=100)["resource_id"].astype(str)) == {"d1"}
    both = anomalies(df, min_volume=10)
    assert set(both["resource_id"].astype(str)) == {"d1", "d2"}
    # a flat series (MAD 0) is scored against 5 % of its level: (50 - 5) / (0.05 x 10)
    d2 = both.loc[both["resource_id"] == "d2"].iloc[0]
    assert d2["score"] == pytest.approx(45 / (0.05 * 10))


def test_findings_are_ordered_by_score() -> None:
    other = {d: (90.0 if d % 2 == 0 else 110.0) for d in range(14)}
    other[14] = 2_000.0
    found = anomalies(combine(wobbly_then_spike(), series("d9", other)))
    assert found["resource_id"].astype(str).tolist() == ["d9", "d1"]
    assert found["score"].is_monotonic_decreasing


def test_days_before_a_device_first_appears_are_not_zeros() -> None:
    # d3 comes online on Oct 10: a jump on its third day has too little history.
    late = series("d3", {9: 100.0, 10: 100.0, 11: 1_000.0})
    assert len(anomalies(combine(wobbly_then_spike(), late), min_volume=1)) == 1
    assert len(anomalies(late, min_volume=1, min_periods=2)) == 1  # scored with 2 days


def test_two_weeks_of_history_are_needed_by_default() -> None:
    values = {d: (90.0 if d % 2 == 0 else 110.0) for d in range(13)}
    values[13] = 500.0  # only 13 days before it
    assert len(anomalies(series("d6", values))) == 0
    assert len(anomalies(series("d6", values), min_periods=13)) == 1


def test_a_significant_but_small_rise_is_not_reported() -> None:
    # A flat series: 130 against a steady 100 scores 6 (spread floor 5 %) but is only 1.3x.
    values = {d: 100.0 for d in range(14)}
    values[14] = 130.0
    assert len(anomalies(series("d7", values), min_volume=1)) == 0
    assert len(anomalies(series("d7", values), min_volume=1, min_factor=1.2)) == 1


def test_days_without_rows_after_the_first_count_as_silent() -> None:
    # Rows on Oct 1, then Oct 16: the fourteen days between are zeros.
    df = series("d4", {0: 0.0, 15: 400.0})
    found = anomalies(df, min_volume=1)
    assert len(found) == 1
    assert (found["usual"].iloc[0], found["history_days"].iloc[0]) == (0.0, 15)
    assert np.isinf(found["factor"].iloc[0])
    assert "from a usual level of 0" in found["explanation"].iloc[0]


def test_drops_are_found_when_asked() -> None:
    values = {d: (90.0 if d % 2 == 0 else 110.0) for d in range(14)}
    values[14] = 0.0
    df = series("d5", values)
    assert len(anomalies(df)) == 0
    down = anomalies(df, direction="down")
    assert down["day"].tolist() == [pd.Timestamp("2026-10-15", tz="UTC")]
    assert down["score"].iloc[0] == pytest.approx(-100 / (1.4826 * 10))


def test_since_limits_the_days_reported_but_not_the_history() -> None:
    df = wobbly_then_spike()
    assert len(anomalies(df, since="2026-10-15")) == 1
    assert len(anomalies(df, since="2026-10-16")) == 0


def test_anomalies_by_meter_use_the_meter_series() -> None:
    base = wobbly_then_spike()
    base["meter"] = pd.Categorical(["publishes"] * len(base))
    found = anomalies(base, by="meter")
    assert found["meter"].astype(str).tolist() == ["publishes"]
    assert "resource_name" not in found.columns


def test_mixed_units_are_refused() -> None:
    df = wobbly_then_spike()
    df["unit"] = pd.Categorical(["GB"] + ["Transactions"] * (len(df) - 1))
    with pytest.raises(UnitMismatch):
        anomalies(df)


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"window": 1}, "window"),
        ({"min_periods": 30}, "min_periods"),
        ({"min_factor": 0}, "min_factor"),
        ({"threshold": -1}, "threshold"),
        ({"direction": "sideways"}, "direction"),
        ({"by": []}, "by"),
    ],
)
def test_bad_options_name_the_parameter(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(InvalidParameter) as err:
        anomalies(wobbly_then_spike(), **kwargs)
    assert err.value.parameter == parameter


def test_monthly_rows_are_refused() -> None:
    df = wobbly_then_spike()
    df["period_end"] = df["period_start"] + pd.Timedelta(days=30)
    with pytest.raises(SchemaError, match="a day or less"):
        anomalies(df)
