"""Particle plans and plan_status on hand-computed frames; thresholds are monotone in time."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usage_analysis.analysis import ParticlePlan, plan_status
from usage_analysis.errors import InvalidParameter, SchemaError
from usage_analysis.schema import coerce_unified


def unified(**columns: Any) -> pd.DataFrame:
    df = pd.DataFrame(columns)
    df["period_start"] = pd.to_datetime(df["period_start"], utc=True)
    for col, value in {
        "provider": "particle",
        "account_id": "acme-iot",
        "unit": "data operations",
    }.items():
        if col not in df:
            df[col] = value
    df["period_end"] = df["period_start"] + pd.Timedelta(days=1)
    if "billable_quantity" not in df:
        df["billable_quantity"] = df["quantity"]
    df["billable_unit"] = df["unit"]
    return coerce_unified(df)


def day(d: str) -> pd.Timestamp:
    return pd.Timestamp(d, tz="UTC")


@pytest.fixture
def october() -> pd.DataFrame:
    # Three devices share 20,000 data operations a day from Oct 1 to Oct 6
    # (running total 20k, 40k, ... 120k); d4 is silent in October; d5 only used September.
    days = [f"2026-10-0{i}" for i in range(1, 7)]
    return unified(
        resource_id=["d1", "d2", "d3"] * 6 + ["d4", "d5"],
        period_start=[d for d in days for _ in range(3)] + ["2026-10-03", "2026-09-30"],
        quantity=[10_000.0, 6_000.0, 4_000.0] * 6 + [0.0, 500.0],
    )


def test_free_and_basic_plans_carry_the_published_allowances() -> None:
    free = ParticlePlan.free()
    assert (free.data_ops, free.devices, free.thresholds) == (100_000, 100, (0.7, 0.9, 1.0))
    basic = ParticlePlan.basic(blocks=3)
    assert (basic.data_ops, basic.devices, basic.blocks) == (3 * 720_000, 300, 3)
    enterprise = ParticlePlan.custom(data_ops=50_000_000, devices=5_000, months=12)
    assert (enterprise.name, enterprise.months) == ("enterprise", 12)


@pytest.mark.parametrize("blocks", [0, -1, 1.5, True])
def test_basic_plan_needs_a_whole_number_of_blocks(blocks: Any) -> None:
    with pytest.raises(InvalidParameter) as err:
        ParticlePlan.basic(blocks=blocks)
    assert err.value.parameter == "blocks"


def test_plan_status_reports_use_percent_and_the_day_each_threshold_was_crossed(
    october: pd.DataFrame,
) -> None:
    status = plan_status(october, ParticlePlan.free())
    assert (status.period_start, status.period_end) == (day("2026-10-01"), day("2026-11-01"))
    assert status.used == 120_000
    assert status.allowance == 100_000
    assert status.percent == pytest.approx(120.0)
    assert status.remaining == -20_000
    assert status.unit == "data operations"
    t = status.thresholds
    assert t["level"].tolist() == ["70 %", "90 %", "100 %"]
    assert t["quantity"].tolist() == [70_000, 90_000, 100_000]
    assert t["crossed"].tolist() == [True, True, True]
    # 80k on Oct 4 passes 70k; 100k on Oct 5 reaches both 90k and exactly 100k.
    assert t["crossed_on"].tolist() == [day("2026-10-04"), day("2026-10-05"), day("2026-10-05")]
    assert status.daily["cumulative"].tolist() == [20_000.0 * i for i in range(1, 7)]
    assert status.daily["percent"].tolist() == pytest.approx([20.0 * i for i in range(1, 7)])


def test_devices_seen_counts_devices_with_data_operations_in_the_month(
    october: pd.DataFrame,
) -> None:
    status = plan_status(october, ParticlePlan.free())
    assert status.devices_seen == 3  # d4 had no operations, d5 only in September
    assert status.device_allowance == 100
    assert status.blocks_needed == 1


def test_blocks_needed_covers_both_data_operations_and_devices() -> None:
    many_ops = unified(resource_id=["d1"], period_start=["2026-10-01"], quantity=[1_500_000.0])
    assert plan_status(many_ops, ParticlePlan.basic()).blocks_needed == 3  # 1.5M / 720k
    exactly = unified(resource_id=["d1"], period_start=["2026-10-01"], quantity=[1_440_000.0])
    assert plan_status(exactly, ParticlePlan.basic()).blocks_needed == 2
    devices = [f"d{i}" for i in range(150)]
    many_devices = unified(
        resource_id=devices, period_start=["2026-10-01"] * 150, quantity=[1.0] * 150
    )
    status = plan_status(many_devices, ParticlePlan.basic())
    assert (status.devices_seen, status.blocks_needed) == (150, 2)


def test_a_threshold_not_reached_is_not_crossed(october: pd.DataFrame) -> None:
    status = plan_status(october, ParticlePlan.basic(blocks=1))
    assert status.thresholds["crossed"].tolist() == [False, False, False]
    assert status.thresholds["crossed_on"].isna().all()
    assert status.to_frame()["last_crossed"].iloc[0] is None


def test_month_selects_the_billing_month(october: pd.DataFrame) -> None:
    status = plan_status(october, ParticlePlan.free(), month="2026-09-15")
    assert status.period_start == day("2026-09-01")
    assert status.used == 500.0
    assert status.devices_seen == 1


def test_period_start_sets_a_billing_period_not_on_the_first(october: pd.DataFrame) -> None:
    status = plan_status(october, ParticlePlan.free(), period_start="2026-09-30")
    assert (status.period_start, status.period_end) == (day("2026-09-30"), day("2026-10-30"))
    assert status.used == 120_500.0


def test_a_plan_over_several_months_needs_its_period_start(october: pd.DataFrame) -> None:
    plan = ParticlePlan.custom(data_ops=1_000_000, months=12)
    with pytest.raises(InvalidParameter) as err:
        plan_status(october, plan)
    assert err.value.parameter == "period_start"
    status = plan_status(october, plan, period_start="2026-01-01")
    assert status.period_end == day("2027-01-01")
    assert status.used == 120_500.0


def test_several_accounts_need_account_and_other_providers_are_ignored(
    october: pd.DataFrame,
) -> None:
    other = unified(
        account_id=["second-org"], resource_id=["x"], period_start=["2026-10-02"], quantity=[7.0]
    )
    here = unified(
        provider=["here"],
        resource_id=["app"],
        period_start=["2026-10-02"],
        quantity=[1e9],
        unit=["Transactions"],
    )
    df = coerce_unified(pd.concat([october, other, here], ignore_index=True))
    with pytest.raises(InvalidParameter) as err:
        plan_status(df, ParticlePlan.free())
    assert "acme-iot" in str(err.value) and "second-org" in str(err.value)
    assert plan_status(df, ParticlePlan.free(), account="second-org").used == 7.0
    assert plan_status(df, ParticlePlan.free(), account="acme-iot").used == 120_000.0


def test_a_frame_without_particle_rows_is_refused() -> None:
    here = unified(provider=["here"], period_start=["2026-10-02"], quantity=[1.0])
    with pytest.raises(SchemaError, match="particle"):
        plan_status(here, ParticlePlan.free())


def test_missing_billable_quantities_are_refused_not_counted_as_zero() -> None:
    df = unified(period_start=["2026-10-02"], quantity=[5.0], billable_quantity=[np.nan])
    with pytest.raises(SchemaError, match="quantity='quantity'"):
        plan_status(df, ParticlePlan.free())
    assert plan_status(df, ParticlePlan.free(), quantity="quantity").used == 5.0


def test_repr_is_one_readable_line(october: pd.DataFrame) -> None:
    text = repr(plan_status(october, ParticlePlan.free()))
    assert "120,000.00 data operations of 100,000 (120.0 %)" in text
    assert "\n" not in text


@pytest.mark.slow
@settings(max_examples=80, deadline=None)
@given(
    daily=st.lists(
        st.floats(min_value=-5_000, max_value=60_000, allow_nan=False), min_size=1, max_size=31
    ),
    cut=st.integers(min_value=1, max_value=31),
)
def test_thresholds_crossed_are_monotone_in_time(daily: list[float], cut: int) -> None:
    """Higher levels are never crossed before lower ones, and later data never moves a crossing."""
    days = [f"2026-10-{i + 1:02d}" for i in range(len(daily))]
    df = unified(resource_id=["d1"] * len(daily), period_start=days, quantity=daily)
    plan = ParticlePlan.custom(data_ops=100_000, thresholds=(0.25, 0.5, 0.7, 0.9, 1.0))
    full = plan_status(df, plan, month="2026-10").thresholds
    crossed_on = full["crossed_on"]
    dates = crossed_on.dropna().tolist()
    assert dates == sorted(dates)
    assert full["crossed"].tolist() == sorted(full["crossed"].tolist(), reverse=True)
    # The same data cut after `cut` days: what was crossed then keeps its date.
    early = plan_status(df.iloc[: min(cut, len(daily))], plan, month="2026-10").thresholds
    for was, now in zip(early.to_dict("records"), full.to_dict("records"), strict=True):
        if was["crossed"]:
            assert now["crossed"] and now["crossed_on"] == was["crossed_on"]
        elif now["crossed"]:
            assert now["crossed_on"] >= day(days[min(cut, len(daily)) - 1])


def test_rows_of_a_products_report_are_not_counted_as_devices() -> None:
    df = unified(
        resource_id=["31021", "31022"],
        category=["product", "product"],
        period_start=["2026-10-01", "2026-10-01"],
        quantity=[500.0, 700.0],
    )
    status = plan_status(df, ParticlePlan.free())
    assert (status.used, status.devices_seen) == (1_200.0, None)
