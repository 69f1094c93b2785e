"""CSV for spreadsheets: plain dates, numbers stay numbers, no formula cells (hand-written answers)."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from usage_analysis.csv_export import escape_cell, to_csv_bytes, write_csv
from usage_analysis.schema import coerce_unified


def cells(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


def test_days_are_dates_and_times_have_no_nanoseconds_or_zone() -> None:
    df = pd.DataFrame(
        {
            "period_start": pd.to_datetime(["2026-11-01", "2026-11-02"], utc=True).as_unit("ns"),
            "started": pd.to_datetime(["2026-11-01 00:00:00", "2026-11-02 13:05:07"], utc=True),
            "local": pd.to_datetime(["2026-11-01 09:00"]).tz_localize("Europe/Berlin").repeat(2),
            "day": [date(2026, 11, 1), None],
        }
    )
    assert cells(to_csv_bytes(df)) == [
        ["period_start", "started", "local", "day"],
        ["2026-11-01", "2026-11-01 00:00:00", "2026-11-01 08:00:00", "2026-11-01"],
        ["2026-11-02", "2026-11-02 13:05:07", "2026-11-01 08:00:00", ""],
    ]


def test_fractions_of_a_second_are_truncated_to_whole_seconds() -> None:
    df = pd.DataFrame(
        {
            "at": pd.to_datetime(["2026-11-01 00:00:00.123456789", "2026-11-01 00:00:01.5", None]),
            "n": [1, 2, 3],
        }
    )
    text = to_csv_bytes(df).decode()
    assert cells(text.encode())[1:] == [
        ["2026-11-01 00:00:00", "1"],
        ["2026-11-01 00:00:01", "2"],
        ["", "3"],
    ]
    assert "Z" not in text and "T" not in text


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+SUM(A1:A2)", "'+SUM(A1:A2)"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-", "'-"),
        ("-12.5", "-12.5"),
        ("+44", "+44"),
        ("-1e3", "-1e3"),
        ("fleet-web", "fleet-web"),
        ("", ""),
    ],
)
def test_formula_cells_are_escaped_and_plain_numbers_are_not(cell: str, expected: str) -> None:
    assert escape_cell(cell) == expected


def test_text_columns_are_escaped_and_numeric_columns_stay_numbers() -> None:
    df = pd.DataFrame(
        {
            "resource_name": pd.Categorical(["=cmd|'/C calc'!A0", "tracker-0001", None]),
            "billing_tag": ["@team", None, "-cost"],
            "quantity": [-12.5, np.nan, 3.0],
            "devices": pd.array([-3, None, 7], dtype="Int64"),
        }
    )
    text = to_csv_bytes(df).decode()
    assert cells(text.encode()) == [
        ["resource_name", "billing_tag", "quantity", "devices"],
        ["'=cmd|'/C calc'!A0", "'@team", "-12.5", "-3"],
        ["tracker-0001", "", "", ""],
        ["", "'-cost", "3", "7"],
    ]
    # numbers are written unquoted, so a spreadsheet takes them as numbers
    assert text.splitlines()[1].endswith(",-12.5,-3")


def test_a_unified_frame_round_trips_through_pandas(tmp_path: Path) -> None:
    df = coerce_unified(
        pd.DataFrame(
            {
                "provider": ["here", "here"],
                "account_id": ["org1", "org1"],
                "resource_id": ["+app", "app2"],
                "period_start": pd.to_datetime(["2026-10-01", "2026-10-02"], utc=True),
                "period_end": pd.to_datetime(["2026-10-02", "2026-10-03"], utc=True),
                "quantity": [1234.5, -2.0],
                "unit": ["Transactions", "Transactions"],
                "billable_quantity": [1234.5, -2.0],
                "billable_unit": ["Transactions", "Transactions"],
            }
        )
    )
    path = write_csv(df, tmp_path / "usage.csv")
    assert not list(tmp_path.glob("*.part"))
    back = pd.read_csv(path)
    assert back["quantity"].tolist() == [1234.5, -2.0]
    assert back["period_start"].tolist() == ["2026-10-01", "2026-10-02"]
    assert back["resource_id"].tolist() == ["'+app", "app2"]


def test_a_bom_is_written_only_when_asked(tmp_path: Path) -> None:
    df = pd.DataFrame({"name": ["Zürich"]})
    assert not write_csv(df, tmp_path / "a.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert write_csv(df, tmp_path / "b.csv", bom=True).read_bytes() == (
        b'\xef\xbb\xbf"name"\n"Z\xc3\xbcrich"\n'
    )


@pytest.mark.slow
def test_the_explorer_saves_a_spreadsheet_safe_csv(tmp_path: Path) -> None:
    from usage_analysis.widgets import UsageExplorer

    days = pd.date_range("2026-11-01", periods=3, freq="D", tz="UTC")
    df = coerce_unified(
        pd.DataFrame(
            {
                "provider": "particle",
                "account_id": "acme",
                "resource_id": ["d1", "d2", "d1"],
                "resource_name": ["=1+1", "tracker-0002", "=1+1"],
                "product": "Cold-chain Tracker",
                "period_start": days,
                "period_end": days + pd.Timedelta(days=1),
                "quantity": [10.0, 20.0, 30.0],
                "unit": "data operations",
                "billable_quantity": [10.0, 20.0, 30.0],
                "billable_unit": "data operations",
            }
        )
    )
    path = UsageExplorer(df, export_dir=tmp_path).export_csv(tmp_path / "rows.csv")
    rows = cells(path.read_bytes())
    header = rows[0]
    first = dict(zip(header, rows[1], strict=True))
    assert first["period_start"] == "2026-11-01"
    assert first["resource_name"] == "'=1+1"
    assert first["quantity"] == "10"
    assert sorted(r[header.index("quantity")] for r in rows[1:]) == ["10", "20", "30"]


def test_headers_are_escaped_and_numbers_held_as_objects_stay_numbers() -> None:
    df = pd.DataFrame({"=cmd": [1], "n": pd.Series([-2.5], dtype=object), "n2": [3]})
    df.columns = ["=cmd", "n", "n"]
    text = to_csv_bytes(df).decode()
    assert text.splitlines() == ['"\'=cmd","n","n"', "1,-2.5,3"]


def test_to_csv_returns_text_or_writes_a_file(tmp_path: Path) -> None:
    from usage_analysis.csv_export import to_csv

    df = pd.DataFrame({"day": pd.to_datetime(["2026-11-01"]), "v": [-1]})
    assert to_csv(df) == '"day","v"\n"2026-11-01",-1\n'
    path = to_csv(df, tmp_path / "x.csv")
    assert isinstance(path, Path) and path.read_text() == to_csv(df)
