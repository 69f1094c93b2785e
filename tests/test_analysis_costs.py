"""Money for all three providers: known answers computed by hand from the price book."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import usage_analysis as ua
from usage_analysis.analysis import PriceBook, costs, example_prices, load_prices
from usage_analysis.errors import InvalidParameter, ReportParseError, UnitMismatch
from usage_analysis.schema import coerce_unified

BOOK: dict[str, Any] = {
    "particle": {"currency": "USD", "block_price": 299.0, "blocks": 1},
    "informatica": {
        "currency": "USD",
        "ipu_price": 2.0,
        "accounts": {"org-cheap": {"ipu_price": 0.5}},
    },
    "here": {
        "currency": "USD",
        "rates": [
            {"feature": "Routing - Car", "price": 0.83, "per": 1000, "free": 30000},
            {"feature": "Data Transfer Out", "price": 0.09, "free": 10, "unit": "GB"},
        ],
    },
}


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df["period_start"] = pd.to_datetime(df["period_start"], utc=True)
    df["period_end"] = df["period_start"] + pd.Timedelta(days=1)
    if "quantity" not in df:
        df["quantity"] = df["billable_quantity"]
    if "unit" not in df:
        df["unit"] = df["billable_unit"]
    return coerce_unified(df)


def particle(day: str, device: str, ops: float, account: str = "acme-iot") -> dict[str, Any]:
    return {
        "provider": "particle",
        "account_id": account,
        "resource_id": device,
        "category": "device",
        "meter_id": "data_operations",
        "period_start": day,
        "billable_quantity": ops,
        "billable_unit": "data operations",
    }


def informatica(day: str, account: str, ipu: float, meter: str = "m-di") -> dict[str, Any]:
    return {
        "provider": "informatica",
        "account_id": account,
        "meter_id": meter,
        "meter": "Data Integration",
        "period_start": day,
        "billable_quantity": ipu,
        "billable_unit": "IPU",
    }


def here(day: str, meter: str, qty: float, unit: str, app: str = "app-a") -> dict[str, Any]:
    return {
        "provider": "here",
        "account_id": "realm-1",
        "resource_id": app,
        "meter_id": f"hrn:{meter}",
        "meter": meter,
        "period_start": day,
        "billable_quantity": qty,
        "billable_unit": unit,
    }


def test_particle_blocks_times_price_and_the_overage_blocks() -> None:
    # October: 500,000 + 400,000 = 900,000 ops -> ceil(900,000 / 720,000) = 2 blocks,
    # 1 contracted + 1 overage, 2 x 299 = 598. November: 100,000 ops -> 1 block = 299.
    df = frame(
        [
            particle("2026-10-01", "dev-a", 500_000),
            particle("2026-10-02", "dev-b", 400_000),
            particle("2026-11-01", "dev-a", 100_000),
        ]
    )
    result = costs(df, BOOK)
    detail = result.detail.set_index(result.detail["month"].dt.strftime("%Y-%m"))
    assert detail.loc["2026-10", ["blocks_needed", "overage_blocks", "cost"]].tolist() == [
        2,
        1,
        598.0,
    ]
    assert detail.loc["2026-11", ["blocks_needed", "overage_blocks", "cost"]].tolist() == [
        1,
        0,
        299.0,
    ]
    # Each row carries its share of the month: 598 x 5/9 and 598 x 4/9.
    assert result.rows["cost"].tolist() == pytest.approx([598 * 5 / 9, 598 * 4 / 9, 299.0])
    assert result.rows["currency"].astype(str).tolist() == ["USD"] * 3
    assert result.total() == (pytest.approx(897.0), "USD")


def test_particle_devices_beyond_a_blocks_hundred_need_another_block() -> None:
    # 150 devices with 10 ops each: ops fit one block, devices need ceil(150/100) = 2.
    df = frame([particle("2026-10-01", f"dev-{i:03d}", 10) for i in range(150)])
    detail = costs(df, BOOK).detail
    assert detail[["devices", "blocks_needed", "cost"]].values.tolist() == [[150, 2, 598.0]]


def test_particle_contracted_blocks_are_the_minimum_and_free_costs_nothing() -> None:
    df = frame([particle("2026-10-01", "dev-a", 1_000)])
    book = {"particle": {"currency": "USD", "block_price": 299.0, "blocks": 3}}
    assert costs(df, book).detail[["blocks_needed", "overage_blocks", "cost"]].values.tolist() == [
        [3, 0, 897.0]
    ]
    free = {"particle": {"currency": "USD", "plan": "free"}}
    assert costs(df, free).detail["cost"].tolist() == [0.0]


def test_informatica_ipus_times_the_contracted_price_per_account() -> None:
    # org-a: 10 + 5.5 IPU x 2.00 = 31.00; org-cheap: 8 IPU x 0.50 (its override) = 4.00.
    df = frame(
        [
            informatica("2026-10-01", "org-a", 10.0),
            informatica("2026-10-02", "org-a", 5.5),
            informatica("2026-10-01", "org-cheap", 8.0),
        ]
    )
    result = costs(df, BOOK)
    spend = result.spend.set_index("account_id")["cost"]
    assert spend.to_dict() == {"org-a": pytest.approx(31.0), "org-cheap": pytest.approx(4.0)}
    assert result.rows["cost"].tolist() == pytest.approx([20.0, 11.0, 4.0])


def test_here_rate_card_with_free_allowance_per_realm_and_month() -> None:
    # Routing - Car: 20,000 + 40,000 = 60,000 Transactions in October; 30,000 free;
    # 30,000 x 0.83 / 1000 = 24.90. Data Transfer Out: 25 GB, 10 free: 15 x 0.09 = 1.35.
    df = frame(
        [
            here("2026-10-01", "Routing - Car", 20_000, "Transactions", "app-a"),
            here("2026-10-02", "Routing - Car", 40_000, "Transactions", "app-b"),
            here("2026-10-01", "Data Transfer Out", 25.0, "GB"),
        ]
    )
    result = costs(df, BOOK)
    by_meter = result.detail.set_index("meter")
    assert by_meter.loc["Routing - Car", "cost"] == pytest.approx(24.90)
    assert by_meter.loc["Data Transfer Out", "cost"] == pytest.approx(1.35)
    # The allowance is shared by quantity: app-a gets 1/3 of 24.90, app-b 2/3.
    assert result.rows["cost"].tolist() == pytest.approx([8.30, 16.60, 1.35])
    assert result.total() == (pytest.approx(26.25), "USD")


def test_combined_spend_across_the_three_providers() -> None:
    # October: Particle 299 (one block) + Informatica 10 x 2 = 20 + HERE
    # (40,000 - 30,000) x 0.00083 = 8.30 -> 327.30 USD.
    df = frame(
        [
            particle("2026-10-01", "dev-a", 1_000),
            informatica("2026-10-01", "org-a", 10.0),
            here("2026-10-01", "Routing - Car", 40_000, "Transactions"),
        ]
    )
    result = costs(df, BOOK)
    assert result.spend.set_index("provider")["cost"].to_dict() == {
        "here": pytest.approx(8.30),
        "informatica": pytest.approx(20.0),
        "particle": pytest.approx(299.0),
    }
    assert result.combined[["currency", "cost"]].values.tolist() == [["USD", pytest.approx(327.30)]]
    assert result.rows["cost"].sum() == pytest.approx(327.30)


def test_costs_never_mix_currencies() -> None:
    book = {**BOOK, "informatica": {"currency": "EUR", "ipu_price": 2.0}}
    df = frame([particle("2026-10-01", "dev-a", 1_000), informatica("2026-10-01", "org-a", 10.0)])
    result = costs(df, book)
    assert result.combined[["currency", "cost"]].values.tolist() == [
        ["EUR", pytest.approx(20.0)],
        ["USD", pytest.approx(299.0)],
    ]
    with pytest.raises(UnitMismatch, match="EUR, USD"):
        result.total()


def test_unpriced_rows_have_no_cost_and_are_listed_never_priced_at_zero() -> None:
    df = frame(
        [
            here("2026-10-01", "Vector Tiles", 5_000, "Transactions"),
            here("2026-10-01", "Routing - Car", 40_000, "Transactions"),
        ]
    )
    result = costs(df, {"here": BOOK["here"]})
    assert np.isnan(result.rows["cost"].iloc[0])
    assert pd.isna(result.rows["currency"].iloc[0])
    assert result.unpriced[["meter", "reason"]].values.tolist() == [
        ["Vector Tiles", "'Vector Tiles' is not on the rate card"]
    ]
    no_section = costs(frame([particle("2026-10-01", "d", 5)]), {"here": BOOK["here"]})
    assert no_section.rows["cost"].isna().all()
    assert no_section.unpriced["reason"].tolist() == ["no [particle] prices in the book"]


def test_a_rate_card_unit_other_than_the_reports_is_refused() -> None:
    df = frame([here("2026-10-01", "Data Transfer Out", 25.0, "MB")])
    with pytest.raises(UnitMismatch, match="Data Transfer Out"):
        costs(df, BOOK)


@pytest.mark.slow
def test_overlapping_report_kinds_are_counted_once_not_twice() -> None:
    """The one grain rule (usage_analysis.grains): the finer summary grain counts."""
    summary = informatica("2026-10-01", "org-a", 10.0)
    asset = {**summary, "resource_id": "m_load_orders"}
    both = costs(frame([summary, asset]), BOOK)
    alone = costs(frame([summary]), BOOK)
    assert both.spend["cost"].sum() == pytest.approx(alone.spend["cost"].sum())
    assert len(both.rows) == 1
    device = particle("2026-10-01", "dev-a", 10)
    product = {**device, "category": "product", "resource_id": "fleet"}
    both = costs(frame([device, product]), BOOK)
    assert both.spend["cost"].sum() == pytest.approx(
        costs(frame([device]), BOOK).spend["cost"].sum()
    )
    assert both.rows["category"].tolist() == ["device"]


def test_month_end_forecast_never_below_spent_and_says_its_days() -> None:
    # 10 days of 50,000 ops in November: 500,000 so far (1 block); at 50,000 a day
    # the month ends near 1,500,000 -> 3 blocks = 897.
    df = frame([particle(f"2026-11-{d:02d}", "dev-a", 50_000) for d in range(1, 11)])
    fc = costs(df, BOOK).forecast
    row = fc.iloc[0]
    assert row["spent"] == 299.0
    assert row["projected"] == 897.0
    assert row["lower"] <= row["projected"] <= row["upper"]
    assert row["lower"] >= row["spent"]
    assert row["history_days"] == 10


@pytest.mark.slow
def test_sample_reports_of_one_provider_agree_across_kinds() -> None:
    root = Path(__file__).parent.parent / "sample_data"
    totals = {}
    for name in (
        "informatica_summary_2026-10.zip",
        "informatica_asset_2026-10.zip",
        "informatica_project_folder_2026-10.zip",
    ):
        df = ua.to_unified(ua.read_report(root / name))
        totals[name] = costs(df).total()
    amounts = [t[0] for t in totals.values()]
    assert amounts == pytest.approx([amounts[0]] * 3, rel=1e-6)
    assert amounts[0] > 0


def test_the_example_book_is_marked_as_example() -> None:
    book = example_prices()
    assert book.example is True
    assert "EXAMPLE" in repr(book)
    df = frame([particle("2026-10-01", "dev-a", 10)])
    result = costs(df)
    assert result.example
    assert "EXAMPLE" in repr(result)
    assert result.spend.attrs["example_prices"] is True
    assert costs(df, BOOK).example is False


def test_price_book_file_round_trip_and_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(
        '[particle]\ncurrency = "USD"\nblock_price = 250\n'
        '[informatica]\ncurrency = "EUR"\nipu_price = 1.1\n'
        '[informatica.accounts."org-b"]\nipu_price = 0.9\n'
        '[here]\ncurrency = "USD"\nrates_csv = "card.csv"\n'
    )
    (tmp_path / "card.csv").write_text("feature,price,per\nRouting - Car,0.5,1000\n")
    book = load_prices(path)
    assert isinstance(book, PriceBook)
    assert book.for_account("particle", "any").block_price == 250
    assert book.for_account("informatica", "org-b").ipu_price == 0.9
    assert book.for_account("informatica", "org-a").ipu_price == 1.1
    assert book.currencies() == ["EUR", "USD"]

    path.write_text('[particle]\ncurrency = "dollars"\nblock_price = 250\n')
    with pytest.raises(ReportParseError, match=r"prices\.toml.*particle\.currency.*ISO 4217"):
        load_prices(path)
    path.write_text('[particle]\ncurrency = "USD"\nblok_price = 250\n')
    with pytest.raises(ReportParseError, match=r"particle\.blok_price: unknown key"):
        load_prices(path)
    path.write_text("[particle\n")
    with pytest.raises(ReportParseError, match="not valid TOML"):
        load_prices(path)
    with pytest.raises(InvalidParameter, match=r"prices\.informatica\.ipu_price"):
        PriceBook.from_dict({"informatica": {"currency": "USD", "ipu_price": -1}})


def test_cost_forecast_is_the_quantity_forecast_priced() -> None:
    # Informatica is linear (IPU x 2.00), so the month-end cost and both bounds
    # are exactly the quantity forecast's times the price.
    ipus = [10.0, 14.0, 9.0, 12.0, 15.0, 11.0, 13.0, 8.0, 16.0, 12.0]
    df = frame([informatica(f"2026-11-{d:02d}", "org-a", q) for d, q in enumerate(ipus, start=1)])
    fc = costs(df, BOOK).forecast.iloc[0]
    quantity = ua.forecast(df, by=["account_id", "billable_unit"]).iloc[0]
    assert fc["spent"] == pytest.approx(sum(ipus) * 2.0)
    for col in ("projected", "lower", "upper"):
        assert fc[col] == pytest.approx(quantity[col] * 2.0)
    assert fc["lower"] < fc["projected"] < fc["upper"]
    assert fc["history_days"] == 10
    combined = costs(df, BOOK).combined_forecast.iloc[0]
    assert combined["projected"] == pytest.approx(fc["projected"])


def test_an_empty_frame_costs_nothing_and_says_so() -> None:
    from usage_analysis.schema import empty_unified

    result = costs(empty_unified(), BOOK)
    assert len(result.rows) == 0 and len(result.spend) == 0 and len(result.combined) == 0
    with pytest.raises(InvalidParameter, match="nothing was priced"):
        result.total()
