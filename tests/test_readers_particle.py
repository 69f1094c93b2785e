"""Particle data operations reports: columns by meaning, long and wide layouts, unified rows."""

from __future__ import annotations

import pandas as pd
import pytest

from usage_analysis.errors import ReportParseError
from usage_analysis.readers import detect, read_report, to_unified
from usage_analysis.schema import validate_unified

D1 = "e00fce68a1b2c3d4e5f60718"
D2 = "0a1b2c3d4e5f60718293a4b5"
LONG = (
    "Date,Device ID,Device Name,Product ID,Product Name,Publishes,Subscribes,Function Calls,"
    "Variable Reads,Total Data Operations\n"
    f"2026-10-01,{D1},tracker-1,31021,Cold-chain Tracker,70,10,5,15,100\n"
    f"2026-10-01,{D2},devkit-1,,,3,1,1,0,5\n"
    f"2026-10-02,{D1},tracker-1,31021,Cold-chain Tracker,140,20,10,30,200\n"
)
PRODUCTS = (
    "Date,Product ID,Product Name,Devices,Total Data Operations\n"
    "2026-10-01,31021,Cold-chain Tracker,20,8416\n"
    "2026-10-01,31022,Smart Water Meter,12,1135\n"
)
WIDE = (
    "Device ID,Device Name,Product Name,2026-10-01,2026-10-02,2026-10-03\n"
    f"{D1},tracker-1,Cold-chain Tracker,100,200,\n"
    f"{D2},devkit-1,,5,0,7\n"
)


def test_long_devices_report_reads_typed_columns() -> None:
    df = read_report(LONG.encode())
    assert (df.attrs["provider"], df.attrs["kind"], df.attrs["layout"]) == (
        "particle",
        "devices",
        "long",
    )
    assert list(df.columns) == [
        "date",
        "device_id",
        "device_name",
        "product_id",
        "product_name",
        "publishes",
        "subscribes",
        "function_calls",
        "variable_reads",
        "total_data_operations",
    ]
    assert str(df["date"].dtype) == "datetime64[ns, UTC]"
    assert isinstance(df["device_id"].dtype, pd.CategoricalDtype)
    assert df["product_id"].iloc[0] == "31021"
    assert pd.isna(df["product_id"].iloc[1])
    assert df["total_data_operations"].tolist() == [100.0, 5.0, 200.0]


def test_unified_particle_rows_are_one_data_operations_row_per_device_and_day() -> None:
    u = read_report(LONG.encode(), unified=True)
    validate_unified(u)
    assert len(u) == 3
    assert set(u["meter"]) == {"Data Operations"}
    assert set(u["unit"]) == set(u["billable_unit"]) == {"data operations"}
    assert u["resource_id"].tolist() == [D1, D2, D1]
    assert u["resource_name"].tolist() == ["tracker-1", "devkit-1", "tracker-1"]
    assert u["product"].iloc[0] == "Cold-chain Tracker"
    assert pd.isna(u["product"].iloc[1])  # a sandbox device has no product
    assert u["quantity"].tolist() == u["billable_quantity"].tolist() == [100.0, 5.0, 200.0]
    assert (u["period_end"] - u["period_start"] == pd.Timedelta(days=1)).all()


def test_without_a_total_column_the_kinds_are_added_up() -> None:
    text = "\n".join(",".join(line.split(",")[:-1]) for line in LONG.strip().split("\n"))
    df = read_report(text.encode())
    assert "total_data_operations" not in df.columns
    u = to_unified(df)
    assert u["quantity"].tolist() == [100.0, 5.0, 200.0]


def test_odd_spellings_are_found_by_meaning() -> None:
    text = f"day,deviceId,name,product,Data Ops\n2026-10-01,{D1},tracker-1,Cold-chain Tracker,42\n"
    df = read_report(text.encode())
    assert list(df.columns) == [
        "date",
        "device_id",
        "device_name",
        "product_name",
        "total_data_operations",
    ]
    assert df["total_data_operations"].tolist() == [42.0]


def test_the_device_id_column_is_found_by_its_hex_values_whatever_its_header() -> None:
    text = f"Date,Thing,Data Operations\n2026-10-01,{D1},4\n2026-10-02,{D2.upper()},6\n"
    assert tuple(detect(text.encode())) == ("particle", "devices")
    df = read_report(text.encode())
    assert df["device_id"].tolist() == [D1, D2.upper()]


def test_column_map_overrides_the_reader() -> None:
    text = f"When,Unit,Ops\n2026-10-01,{D1},4\n"
    with pytest.raises(ReportParseError):
        read_report(text.encode(), provider="particle", kind="devices")
    df = read_report(
        text.encode(),
        provider="particle",
        kind="devices",
        column_map={"date": "When", "device_id": "Unit", "total_data_operations": "Ops"},
    )
    assert df[["device_id", "total_data_operations"]].values.tolist() == [[D1, 4.0]]


def test_products_report_reads_and_unifies_per_product() -> None:
    assert tuple(detect(PRODUCTS.encode())) == ("particle", "products")
    df = read_report(PRODUCTS.encode())
    assert df["devices"].tolist() == [20.0, 12.0]
    u = to_unified(df)
    assert u["resource_id"].tolist() == ["31021", "31022"]
    assert u["resource_name"].tolist() == ["Cold-chain Tracker", "Smart Water Meter"]
    assert set(u["category"]) == {"product"}
    assert u["quantity"].sum() == 8416 + 1135


def test_wide_layout_melts_to_one_row_per_device_and_day() -> None:
    df = read_report(WIDE.encode())
    assert df.attrs["layout"] == "wide"
    assert len(df) == 6
    assert df["device_id"].tolist() == [D1] * 3 + [D2] * 3
    assert df["date"].dt.day.tolist() == [1, 2, 3, 1, 2, 3]
    assert df["total_data_operations"].iloc[[0, 1, 3, 4, 5]].tolist() == [100, 200, 5, 0, 7]
    assert pd.isna(df["total_data_operations"].iloc[2])  # an empty cell stays missing
    u = to_unified(df)
    assert u["quantity"].sum() == 312


def test_monthly_periods_last_a_month() -> None:
    text = f"Month,Device ID,Total Data Operations\n2026-09,{D1},10\n2026-10,{D1},20\n"
    df = read_report(text.encode())
    assert df.attrs["period"] == "month"
    u = to_unified(df)
    assert u["period_end"].tolist() == [
        pd.Timestamp("2026-10-01", tz="UTC"),
        pd.Timestamp("2026-11-01", tz="UTC"),
    ]


def test_a_bad_count_names_line_and_column() -> None:
    text = LONG.replace(",200\n", ",2OO\n")
    with pytest.raises(ReportParseError) as info:
        read_report(text.encode())
    assert (info.value.line, info.value.column) == (4, "Total Data Operations")


def test_a_frame_without_attrs_unifies_when_the_provider_is_given() -> None:
    df = read_report(PRODUCTS.encode())
    df.attrs = {}
    u = to_unified(df, provider="particle")
    assert set(u["category"]) == {"product"}
