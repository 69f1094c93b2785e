"""The Informatica meter catalog shipped as package data."""

from __future__ import annotations

from usage_analysis.catalog import CATALOG_COLUMNS, meter_catalog, meter_ids, meter_name


def test_catalog_has_one_row_per_meter_id_with_the_documented_columns() -> None:
    df = meter_catalog()
    assert tuple(df.columns) == CATALOG_COLUMNS
    assert df["meter_id"].is_unique
    assert len(df) == 24
    assert set(df["request_types"]) == {"asset", "job", "asset;job"}


def test_meter_name_looks_up_ids_and_returns_none_for_unknown_ones() -> None:
    assert meter_name("a2nB20h1o0lc7k3P9xtWS8") == "Data Integration"
    assert meter_name(" cPnPIT3XYAziLqIoXtd0KC ") == "Data Quality"
    assert meter_name("not-a-meter") is None


def test_application_integration_has_a_classic_and_a_turbo_id() -> None:
    ids = meter_ids("application integration")
    assert ids == ["3uIRkIV5Rt9lBbAPzeR5Kj", "4610adb7f5e945e98da246"]
    df = meter_catalog().set_index("meter_id")
    assert df.loc[ids, "mode"].tolist() == ["classic", "turbo"]
    serverless = meter_ids("Application Integration with Advanced Serverless")
    assert df.loc[serverless, "mode"].tolist() == ["classic", "turbo"]
    assert df["mode"].isna().sum() == len(df) - 4


def test_the_catalog_is_a_fresh_copy_each_time() -> None:
    df = meter_catalog()
    df.loc[0, "meter"] = "changed"
    assert meter_catalog().loc[0, "meter"] != "changed"
