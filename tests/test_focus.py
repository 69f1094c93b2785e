"""FOCUS 1.2 export: the mapping, the costs it carries and the export command.

Conformance to the FOCUS rules is checked by tests/test_focus_conformance.py
with the FinOps Foundation's validator; these are the fast checks of the mapping.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import usage_analysis as ua
from usage_analysis.cli import main
from usage_analysis.errors import InvalidParameter
from usage_analysis.focus import FOCUS_COLUMNS, to_focus, write_focus

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"
BOOK = {
    "particle": {"currency": "USD", "block_price": 299.0},
    "informatica": {"currency": "EUR", "ipu_price": 2.0},
}


def unified(name: str) -> pd.DataFrame:
    return ua.to_unified(ua.read_report(SAMPLES / name))


@pytest.mark.slow
def test_one_focus_row_per_unified_row_with_the_costs_of_ua_costs() -> None:
    df = unified("informatica_summary_2026-10.zip")
    focus = to_focus(df, BOOK)
    assert len(focus) == len(df)
    assert list(focus.columns[: len(FOCUS_COLUMNS)]) == list(FOCUS_COLUMNS)
    assert all(c.startswith("x_") for c in focus.columns[len(FOCUS_COLUMNS) :])
    expected = ua.costs(df, BOOK).total()
    assert focus["BilledCost"].sum() == pytest.approx(expected[0])
    assert set(focus["BillingCurrency"]) == {"EUR"}
    for col in ("EffectiveCost", "ListCost", "ContractedCost"):
        assert focus[col].tolist() == focus["BilledCost"].tolist()
    assert set(focus["ChargeCategory"]) == {"Usage"}
    assert focus["ChargeClass"].isna().all()
    assert focus["PricingQuantity"].sum() == pytest.approx(df["billable_quantity"].sum())
    assert set(focus["PricingUnit"]) == {"IPU"}
    assert set(focus["ProviderName"]) == {"Informatica"}
    assert focus["BillingAccountId"].tolist() == df["account_id"].astype(str).tolist()


def test_periods_are_the_charge_day_and_its_calendar_month() -> None:
    focus = to_focus(unified("particle_devices_excel.csv"), BOOK)
    row = focus.iloc[0]
    assert row["ChargePeriodStart"] == pd.Timestamp("2026-10-01", tz="UTC")
    assert row["ChargePeriodEnd"] == pd.Timestamp("2026-10-02", tz="UTC")
    assert row["BillingPeriodStart"] == pd.Timestamp("2026-10-01", tz="UTC")
    assert row["BillingPeriodEnd"] == pd.Timestamp("2026-11-01", tz="UTC")
    assert row["ServiceCategory"] == "Internet of Things"
    assert row["ResourceType"] == "Device"
    assert row["PricingUnit"] == "data operations"


def test_unpriced_rows_cost_zero_with_a_note() -> None:
    focus = to_focus(unified("here_report_2026-10.csv"), BOOK)  # no [here] prices
    assert (focus["BilledCost"] == 0).all()
    assert focus["x_CostNote"].str.startswith("cost 0: no [here] prices").all()
    assert focus["BillingCurrency"].notna().all()


def test_units_follow_the_focus_unit_format_and_keep_the_report_spelling() -> None:
    focus = to_focus(unified("here_report_2026-10.csv"))
    storage = focus[focus["x_BillableUnit"] == "GB-months"]
    assert len(storage) and set(storage["PricingUnit"]) == {"GB-Months"}


@pytest.mark.slow
def test_rows_without_dates_need_the_report_period() -> None:
    df = unified("here_report_summarized_2026-10.csv")
    assert df["period_start"].isna().all()  # summarized: no dates in the file
    with pytest.raises(InvalidParameter, match="charge_period"):
        to_focus(df)
    focus = to_focus(df, charge_period=("2026-10-01", "2026-11-01"))
    assert (focus["ChargePeriodStart"] == pd.Timestamp("2026-10-01", tz="UTC")).all()
    assert (focus["ChargePeriodEnd"] == pd.Timestamp("2026-11-01", tz="UTC")).all()


def test_csv_dates_are_iso_utc_and_parquet_keeps_types(tmp_path: Path) -> None:
    focus = to_focus(unified("particle_devices_excel.csv"))
    csv = write_focus(focus, tmp_path / "f.csv")
    text = pd.read_csv(csv, dtype=str)
    assert text["ChargePeriodStart"].iloc[0] == "2026-10-01T00:00:00Z"
    back = pd.read_parquet(write_focus(focus, tmp_path / "f.parquet"))
    assert str(back["ChargePeriodStart"].dtype) == "datetime64[ns, UTC]"
    assert back["BilledCost"].sum() == pytest.approx(focus["BilledCost"].sum())
    with pytest.raises(InvalidParameter, match=r"\.csv or \.parquet"):
        write_focus(focus, tmp_path / "f.xlsx")


@pytest.mark.slow
def test_export_command_writes_the_file_and_refuses_a_report_given_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text('[particle]\ncurrency = "USD"\nblock_price = 100\n')
    out = tmp_path / "focus.csv"
    sample = str(SAMPLES / "particle_devices_excel.csv")
    assert (
        main(["export", "--format", "focus", "--out", str(out), "--prices", str(prices), sample])
        == 0
    )
    written = pd.read_csv(out)
    assert written["BilledCost"].sum() == pytest.approx(100.0)  # one block
    assert "billed 100.00 USD" in capsys.readouterr().out
    assert main(["export", "--out", str(tmp_path / "twice.csv"), sample, sample]) == 1
    assert "count that usage twice" in capsys.readouterr().err
    assert not (tmp_path / "twice.csv").exists()


@pytest.mark.slow
def test_export_reads_the_archive_over_a_date_range(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    ua.archive_file(SAMPLES / "particle_devices_2026-09-01_2026-11-20.csv", archive=archive)
    out = tmp_path / "oct.parquet"
    code = main(
        [
            "export",
            "--out",
            str(out),
            "--archive",
            str(archive),
            "--start",
            "2026-10-01",
            # --end is the last day included, in every command
            "--end",
            "2026-10-31",
        ]
    )
    assert code == 0
    focus = pd.read_parquet(out)
    assert focus["ChargePeriodStart"].min() == pd.Timestamp("2026-10-01", tz="UTC")
    assert focus["ChargePeriodStart"].max() < pd.Timestamp("2026-11-01", tz="UTC")
    oct_ops = ua.history(archive=archive, start="2026-10-01", end="2026-11-01")[
        "billable_quantity"
    ].sum()
    assert focus["PricingQuantity"].sum() == pytest.approx(oct_ops)
