"""HERE billable quantities per feature and unit, and estimated costs from a rate card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from usage_analysis.analysis import RateCard, here_costs, here_usage
from usage_analysis.errors import InvalidParameter, ReportParseError, UnitMismatch
from usage_analysis.schema import coerce_unified


def unified(**columns: Any) -> pd.DataFrame:
    df = pd.DataFrame(columns)
    df["period_start"] = pd.to_datetime(df["period_start"], utc=True)
    for col, value in {"provider": "here", "account_id": "realm-1"}.items():
        if col not in df:
            df[col] = value
    df["period_end"] = df["period_start"] + pd.Timedelta(days=1)
    df["billable_unit"] = df["unit"]
    if "quantity" not in df:
        df["quantity"] = df["billable_quantity"]
    return coerce_unified(df)


@pytest.fixture
def here() -> pd.DataFrame:
    # Oct 1-4, every day: geocoding 100 Transactions (app-a), routing 50 Transactions
    # (app-b), tiles 2 GB (app-a). October totals: 400, 200 and 8.
    days = [f"2026-10-0{i}" for i in range(1, 5)]
    return unified(
        meter_id=["f-geocode", "f-routing", "f-tiles"] * 4,
        meter=["Geocode", "Routing", "Tiles"] * 4,
        unit=["Transactions", "Transactions", "GB"] * 4,
        product=["app-a", "app-b", "app-a"] * 4,
        period_start=[d for d in days for _ in range(3)],
        billable_quantity=[100.0, 50.0, 2.0] * 4,
    )


def records(table: pd.DataFrame, *cols: str) -> list[list[Any]]:
    return table[list(cols)].astype(object).where(table[list(cols)].notna(), None).values.tolist()


def test_billable_quantity_per_feature_is_kept_per_unit(here: pd.DataFrame) -> None:
    table = here_usage(here)
    assert records(table, "meter", "billable_unit", "billable_quantity") == [
        ["Tiles", "GB", 8.0],
        ["Geocode", "Transactions", 400.0],
        ["Routing", "Transactions", 200.0],
    ]
    per_app = here_usage(here, by="product", top=1)
    assert records(per_app, "product", "billable_unit", "billable_quantity") == [
        ["app-a", "GB", 8.0],
        ["app-a", "Transactions", 400.0],
        ["other", "Transactions", 200.0],
    ]


def test_rate_card_prices_by_feature_id_or_description_and_lists_unknown_features(
    here: pd.DataFrame,
) -> None:
    card = RateCard.from_dict(
        {"f-geocode": {"price": 1.0, "per": 10, "free": 100}, "Tiles": 3.0}, currency="EUR"
    )
    costs = here_costs(here, card)
    assert records(
        costs,
        "meter_id",
        "billable_quantity",
        "free_allowance",
        "chargeable_quantity",
        "cost",
        "priced",
    ) == [
        ["f-geocode", 400.0, 100.0, 300.0, 30.0, True],  # (400 - 100) x 1/10
        ["f-tiles", 8.0, 0.0, 8.0, 24.0, True],  # matched by its description
        ["f-routing", 200.0, None, None, None, False],  # not on the card: not priced at 0
    ]
    assert costs.attrs["unpriced"] == ["f-routing"]
    assert costs["currency"].astype(object).tolist()[:2] == ["EUR", "EUR"]
    assert (costs["period_start"] == pd.Timestamp("2026-10-01", tz="UTC")).all()


def test_free_allowance_applies_per_month(here: pd.DataFrame) -> None:
    november = here.copy()
    november["period_start"] = november["period_start"] + pd.Timedelta(days=31)
    both = coerce_unified(pd.concat([here, november], ignore_index=True))
    card = {"f-geocode": {"price": 0.1, "free": 350}}
    monthly = here_costs(both, card)
    geo = monthly.loc[monthly["meter_id"] == "f-geocode"]
    assert geo["cost"].tolist() == pytest.approx([5.0, 5.0])  # (400 - 350) x 0.1 each month
    whole = here_costs(both, card, freq=None)
    assert whole.loc[whole["meter_id"] == "f-geocode", "cost"].tolist() == pytest.approx([45.0])


def test_costs_per_group_share_the_feature_cost_by_quantity() -> None:
    df = unified(
        meter_id=["f-geocode", "f-geocode"],
        meter=["Geocode", "Geocode"],
        unit=["Transactions", "Transactions"],
        product=["app-a", "app-b"],
        period_start=["2026-10-01", "2026-10-02"],
        billable_quantity=[300.0, 100.0],
    )
    costs = here_costs(df, {"f-geocode": {"price": 1.0, "free": 200}}, by="product")
    # 400 - 200 free = 200 chargeable, split 3:1.
    assert records(costs, "product", "free_allowance", "chargeable_quantity", "cost") == [
        ["app-a", 150.0, 150.0, 150.0],
        ["app-b", 50.0, 50.0, 50.0],
    ]
    assert costs["cost"].sum() == 200.0


def test_rate_card_reads_a_csv_with_other_header_spellings(
    tmp_path: Path, here: pd.DataFrame
) -> None:
    path = tmp_path / "rates.csv"
    path.write_text(
        "featureId,Price per unit,Per,Free allowance,Unit,Currency\n"
        "f-geocode,1.00,10,100,Transactions,USD\n"
        "Routing,0.5,,,,USD\n"
    )
    costs = here_costs(here, str(path))
    got = dict(zip(costs["meter_id"].astype(str), costs["cost"], strict=True))
    assert got["f-geocode"] == pytest.approx(30.0)
    assert got["f-routing"] == pytest.approx(100.0)
    assert np.isnan(got["f-tiles"])


def test_a_bad_price_in_the_csv_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text("feature,price_per_unit\nf-geocode,1.0\nf-routing,cheap\n")
    with pytest.raises(ReportParseError) as err:
        RateCard.from_csv(path)
    assert (err.value.file, err.value.line, err.value.column) == (str(path), 3, "price_per_unit")
    assert "cheap" in str(err.value)


def test_a_csv_without_a_price_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text("feature,cost\nf-geocode,1.0\n")
    with pytest.raises(ReportParseError) as err:
        RateCard.from_csv(path)
    assert err.value.line == 1 and "price" in str(err.value)


def test_a_feature_priced_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text("feature,price\nf-geocode,1.0\nf-geocode,2.0\n")
    with pytest.raises(ReportParseError) as err:
        RateCard.from_csv(path)
    assert err.value.line == 3


def test_a_negative_price_in_a_dict_names_the_feature() -> None:
    with pytest.raises(InvalidParameter) as err:
        RateCard.from_dict({"f-geocode": -1})
    assert "f-geocode" in err.value.parameter


def test_a_card_stating_another_unit_is_a_unit_mismatch(here: pd.DataFrame) -> None:
    with pytest.raises(UnitMismatch) as err:
        here_costs(here, {"f-geocode": {"price": 1.0, "unit": "GB"}})
    assert err.value.units == ["GB", "Transactions"]
    assert "f-geocode" in str(err.value)


def test_an_extra_billing_tag_column_can_be_a_group(here: pd.DataFrame) -> None:
    # The unified schema has no billing tag; a frame may carry it as an extra column.
    tagged = here.assign(billing_tag=["team-a", "team-b", ""] * 4)
    table = here_usage(tagged, by="billing_tag")
    assert records(table, "billing_tag", "billable_unit", "billable_quantity") == [
        ["", "GB", 8.0],
        ["team-a", "Transactions", 400.0],
        ["team-b", "Transactions", 200.0],
    ]
    costs = here_costs(
        tagged, {"f-geocode": 0.01, "f-routing": 0.02, "f-tiles": 1.0}, by="billing_tag"
    )
    assert dict(zip(costs["billing_tag"], costs["cost"], strict=True)) == pytest.approx(
        {"team-a": 4.0, "team-b": 4.0, "": 8.0}
    )
