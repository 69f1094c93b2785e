"""The cross-provider overview on a hand-computed three-provider frame."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from usage_analysis.analysis import ParticlePlan, overview
from usage_analysis.errors import InvalidParameter
from usage_analysis.schema import coerce_unified

DAYS = pd.date_range("2026-10-01", periods=10, freq="D", tz="UTC")  # Oct 1-10


def provider_rows(
    provider: str, account: str, unit: str, billable_unit: str, per_day: float
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "provider": provider,
            "account_id": account,
            "account_name": account.upper(),
            "period_start": DAYS,
            "period_end": DAYS + pd.Timedelta(days=1),
            "quantity": per_day,
            "unit": unit,
            "billable_quantity": per_day,
            "billable_unit": billable_unit,
        }
    )


@pytest.fixture
def world() -> pd.DataFrame:
    return coerce_unified(
        pd.concat(
            [
                provider_rows("informatica", "org-prod", "compute units", "IPU", 5.0),
                provider_rows("here", "realm-1", "Transactions", "Transactions", 1_000.0),
                provider_rows("here", "realm-1", "GB", "GB", 2.0),
                provider_rows(
                    "particle", "acme-iot", "data operations", "data operations", 4_000.0
                ),
            ],
            ignore_index=True,
        )
    )


def table_rows(table: pd.DataFrame, *cols: str) -> list[list[Any]]:
    sub = table[list(cols)].astype(object)
    return sub.where(sub.notna(), None).values.tolist()


def test_one_row_per_provider_account_and_billing_unit(world: pd.DataFrame) -> None:
    table = overview(
        world,
        allowances={"acme-iot": ParticlePlan.free(), ("informatica", "org-prod"): 1_000},
    )
    assert table_rows(
        table, "provider", "account_id", "account_name", "unit", "used", "allowance"
    ) == [
        ["particle", "acme-iot", "ACME-IOT", "data operations", 40_000.0, 100_000.0],
        ["here", "realm-1", "REALM-1", "GB", 20.0, None],
        ["here", "realm-1", "REALM-1", "Transactions", 10_000.0, None],
        ["informatica", "org-prod", "ORG-PROD", "IPU", 50.0, 1_000.0],
    ]
    particle, _, _, informatica = table.to_dict("records")
    assert particle["percent"] == pytest.approx(40.0)
    assert particle["forecast"] == pytest.approx(124_000.0)  # 31 days x 4,000
    assert particle["forecast_percent"] == pytest.approx(124.0)
    assert particle["runs_out_on"] == pd.Timestamp("2026-10-25", tz="UTC")  # 25 x 4,000
    assert particle["note"] == "free plan"
    assert informatica["percent"] == pytest.approx(5.0)
    assert pd.isna(informatica["runs_out_on"])  # 155 IPU projected of 1,000
    assert (table["period_start"] == pd.Timestamp("2026-10-01", tz="UTC")).all()


def test_here_rows_say_their_newest_days_are_provisional(world: pd.DataFrame) -> None:
    table = overview(world)
    here = table.loc[table["provider"] == "here"]
    assert (here["complete_until"] == pd.Timestamp("2026-10-09", tz="UTC")).all()
    assert all("provisional" in n for n in here["note"])
    assert not any("provisional" in n for n in table.loc[table["provider"] != "here", "note"])
    assert np.isnan(table["percent"]).all()  # no allowances given


def test_a_plan_over_twelve_months_counts_one_twelfth_a_month(world: pd.DataFrame) -> None:
    plan = ParticlePlan.custom(data_ops=1_200_000, months=12)
    row = overview(world, allowances={("particle", "acme-iot"): plan}).iloc[0]
    assert row["allowance"] == 100_000.0
    assert "1/12" in row["note"]


def test_a_bad_allowance_names_the_account(world: pd.DataFrame) -> None:
    with pytest.raises(InvalidParameter) as err:
        overview(world, allowances={"org-prod": "plenty"})
    assert "org-prod" in err.value.parameter


def test_monthly_rows_give_the_month_used_but_no_forecast(world: pd.DataFrame) -> None:
    monthly = pd.DataFrame(
        {
            "provider": ["particle", "particle"],
            "account_id": ["acme-iot", "acme-iot"],
            "period_start": pd.to_datetime(["2026-09-01", "2026-10-01"], utc=True),
            "period_end": pd.to_datetime(["2026-10-01", "2026-11-01"], utc=True),
            "quantity": [90_000.0, 30_000.0],
            "unit": "data operations",
            "billable_quantity": [90_000.0, 30_000.0],
            "billable_unit": "data operations",
        }
    )
    table = overview(coerce_unified(monthly), allowances={"particle": ParticlePlan.free()})
    row = table.iloc[0]
    assert (row["period_start"], row["used"], row["percent"]) == (
        pd.Timestamp("2026-10-01", tz="UTC"),
        30_000.0,
        30.0,
    )
    assert np.isnan(row["forecast"]) and pd.isna(row["runs_out_on"])
    assert "no forecast" in row["note"] and "free plan" in row["note"]


def test_the_overview_says_how_many_days_a_forecast_rests_on_and_shows_last_month() -> None:
    from pathlib import Path

    from usage_analysis.readers import read_report

    samples = Path(__file__).resolve().parent.parent / "sample_data"
    particle = read_report(samples / "particle_devices_2026-09-01_2026-11-20.csv", unified=True)
    table = overview(particle)
    row = table.iloc[0]
    october = particle.loc[
        (particle["period_start"] >= "2026-10-01") & (particle["period_start"] < "2026-11-01"),
        "billable_quantity",
    ].sum()
    assert row["last_month_start"] == pd.Timestamp("2026-10-01", tz="UTC")
    assert row["last_month_used"] == pytest.approx(october)
    assert row["history_days"] == 28
    # Two days into a month with nothing before: two days of data, and no last month known.
    early = particle.loc[particle["period_start"] >= "2026-11-19"]
    short = overview(early).iloc[0]
    assert short["history_days"] == 2
    assert np.isnan(short["last_month_used"])
    assert short["forecast_lower"] <= short["forecast"] <= short["forecast_upper"]
