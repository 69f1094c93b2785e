"""Real-world files (issue 10): documented forms, spreadsheet exports, hostile archives.

Every fixture is written by hand from the providers' docs or from what a
spreadsheet does to a CSV; none comes from our generator. Each case must give the
right total or a ReportParseError that says what is wrong.
"""

from __future__ import annotations

import gzip
import io
import struct
import time
import warnings
import zipfile
from pathlib import Path

import pandas as pd
import pytest

import usage_analysis as ua
from usage_analysis import defaults
from usage_analysis.errors import InvalidParameter, ReportParseError
from usage_analysis.readers import (
    MissingValuesWarning,
    SummaryRowWarning,
    _parse,
    read_report,
)
from usage_analysis.readers._source import load_source

DEV = "e00fce68a1b2c3d4e5f60718"
DEV2 = "e00fce68a1b2c3d4e5f60719"
DI = "a2nB20h1o0lc7k3P9xtWS8"


def _quiet(call):
    """Run ``call`` with the summary-row warning (expected in these tests) recorded."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = call()
    return out, caught


# --- 1. the documented forms -----------------------------------------------------

# PROVIDERS.md: Scalar is a name; MeterUsage is in its unit; IPU = MeterUsage x IPURate.
INFORMATICA_DOCUMENTED = (
    "OrgId,MeterId,MeterName,Date,BillingPeriodStartDate,BillingPeriodEndDate,MeterUsage,IPU,"
    "Scalar,MetricCategory,OrgName,OrgType,IPURate\n"
    f"0a1b2c,{DI},Data Integration,2026-10-01,2026-10-01,2026-10-31,12.5,2.0,Compute Units,"
    "null,Acme,Production,0.16\n"
    "0a1b2c,cPnPIT3XYAziLqIoXtd0KC,Data Quality,2026-10-01,2026-10-01,2026-10-31,3.5,3.15,"
    "Million Rows Processed,DQ,Acme,Production,0.9\n"
    "0a1b2c,null,null,2026-10-02,2026-10-01,2026-10-31,1,0.5,API Calls,null,null,null,0.5\n"
)


def test_informatica_scalar_is_read_as_a_name_and_gives_the_unit_of_meter_usage() -> None:
    df = read_report(INFORMATICA_DOCUMENTED.encode())
    assert df["scalar"].tolist() == ["Compute Units", "Million Rows Processed", "API Calls"]
    # The literal null is missing, in any column.
    assert df["metric_category"].isna().tolist() == [True, False, True]
    assert df["meter_id"].isna().tolist() == [False, False, True]
    assert df["org_name"].isna().tolist() == [False, False, True]
    u = read_report(INFORMATICA_DOCUMENTED.encode(), unified=True)
    assert u["unit"].tolist() == ["Compute Units", "Million Rows Processed", "API Calls"]
    assert u["quantity"].tolist() == [12.5, 3.5, 1.0]
    assert u["billable_quantity"].sum() == pytest.approx(5.65)
    # MetricCategory is text for the category column, never a unit.
    assert u["category"].tolist()[1] == "DQ"


def test_informatica_file_with_a_number_as_scalar_still_reads_with_a_per_meter_unit() -> None:
    old = INFORMATICA_DOCUMENTED.replace("Compute Units", "1").replace(
        "Million Rows Processed", "1000000"
    )
    u = read_report(old.encode(), unified=True)
    assert u["unit"].tolist()[:2] == ["Data Integration units", "Data Quality units"]
    assert u["unit"].iloc[2] == "API Calls"


HERE_HEADER = (
    '"Date and time (usageDateTime)","Org ID (realmId)","Item (featureId)",'
    '"Item description (name)","Unit (valueDriver)","Usage Amount (billableValue)"\n'
)


def _here(stamps: list[str], values: list[str]) -> bytes:
    rows = [
        f'"{t}","org123","hrn:here:service::org123:routing-8","Routing","Transactions","{v}"\n'
        for t, v in zip(stamps, values, strict=True)
    ]
    return (HERE_HEADER + "".join(rows)).encode()


@pytest.mark.parametrize(
    "stamps",
    [
        ["2026-10-01T00:00:00", "2026-10-02T00:00:00"],  # the spec's examples
        ["2026-10-01'T'00:00:00", "2026-10-02'T'00:00:00"],  # some written so
        ["2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z"],  # our old form
    ],
)
def test_here_timestamps_with_or_without_zone_read_as_utc_on_the_fast_path(
    stamps: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def slow(*args, **kwargs):
        raise AssertionError("the slow text path was taken")

    monkeypatch.setattr(_parse, "_convert_slowly", slow)
    df = read_report(_here(stamps, ["1.0000", "2.5000"]))
    assert df["usage_date_time"].tolist() == [
        pd.Timestamp("2026-10-01", tz="UTC"),
        pd.Timestamp("2026-10-02", tz="UTC"),
    ]


def test_one_day_here_report_is_a_day_not_a_month() -> None:
    u = read_report(_here(["2026-10-01T00:00:00"], ["5.0000"]), unified=True)
    assert u["period_end"].tolist() == [pd.Timestamp("2026-10-02", tz="UTC")]


def test_particle_stated_end_dates_are_honoured_inclusively() -> None:
    text = (
        "Start Date,End Date,Device ID,Total Data Operations\n"
        f"2026-10-01,2026-10-01,{DEV},10\n"
        f"2026-10-02,2026-10-08,{DEV},70\n"
    )
    u = read_report(text.encode(), unified=True)
    assert u["period_end"].tolist() == [
        pd.Timestamp("2026-10-02", tz="UTC"),
        pd.Timestamp("2026-10-09", tz="UTC"),
    ]


def test_particle_month_written_start_to_next_start_is_exclusive() -> None:
    text = (
        f"period_start,period_end,Device ID,Total Data Operations\n2026-10-01,2026-11-01,{DEV},10\n"
    )
    u = read_report(text.encode(), unified=True)
    assert u["period_end"].tolist() == [pd.Timestamp("2026-11-01", tz="UTC")]


# --- 2. summary rows -------------------------------------------------------------

PARTICLE = (
    "Date,Device ID,Device Name,Product ID,Product Name,Total Data Operations\n"
    f"2026-10-01,{DEV},t1,31021,Tracker,100\n"
    f"2026-10-02,{DEV2},t2,31021,Tracker,50.5\n"
)


@pytest.mark.parametrize(
    "row",
    [
        "Total,,,,,150.5",  # label in the date column
        ",Grand Total,,,,150.5",  # label in the device column
        ",,SUM:,,,150.5",
        ",,,,,150.5",  # no id at all, equal to the sum
    ],
)
def test_bottom_summary_row_is_left_out_and_reported(row: str) -> None:
    df, caught = _quiet(lambda: read_report((PARTICLE + row + "\n").encode(), unified=True))
    assert df["quantity"].sum() == 150.5
    assert len(df) == 2
    assert [s["line"] for s in df.attrs["summary_rows"]] == [4]
    assert any(issubclass(w.category, SummaryRowWarning) for w in caught)


def test_summary_row_above_empty_spreadsheet_rows_is_still_found() -> None:
    text = PARTICLE + "Total,,,,,150.5\n,,,,,\n,,,,,\n"
    df, _ = _quiet(lambda: read_report(text.encode(), unified=True))
    assert df["quantity"].sum() == 150.5
    assert len(df) == 2


def test_labelled_total_that_does_not_add_up_raises_naming_its_line() -> None:
    with pytest.raises(ReportParseError, match="line 4 looks like a total row") as err:
        read_report((PARTICLE + "Total,,,,,999\n").encode())
    assert err.value.line == 4


def test_idless_row_that_does_not_add_up_is_kept_as_data() -> None:
    df = read_report((PARTICLE + ",,,,,7\n").encode())
    assert df["total_data_operations"].sum() == 157.5
    assert not df.attrs["summary_rows"]


def test_here_total_row_with_label_in_the_time_column() -> None:
    data = _here(["2026-10-01T00:00:00", "2026-10-02T00:00:00"], ["1.5000", "2.0000"])
    data += b'"Total","","","","","3.5000"\n'
    df, _ = _quiet(lambda: read_report(data, unified=True))
    assert df["quantity"].sum() == 3.5


# --- 2. ZIP tricks -----------------------------------------------------------------


def _zip(members: list[tuple[str, bytes]], *, stored: bool = False) -> bytes:
    buf = io.BytesIO()
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buf, "w", method) as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def test_zip_with_two_members_of_one_name_raises() -> None:
    data = _zip([("a.csv", PARTICLE.encode()), ("a.csv", PARTICLE.encode())])
    with pytest.raises(ReportParseError, match="same name"):
        read_report(data)


def test_zip_whose_central_directory_points_twice_at_the_same_data_raises() -> None:
    one = _zip([("a.csv", PARTICLE.encode())], stored=True)
    # Rebuild by hand: one local member, two central entries (a.csv, b.csv) at offset 0.
    cd_at = one.index(b"PK\x01\x02")
    eocd_at = one.index(b"PK\x05\x06")
    entry = one[cd_at:eocd_at]
    twin = entry.replace(b"a.csv", b"b.csv")
    cd = entry + twin
    eocd = bytearray(one[eocd_at:])
    struct.pack_into("<HHLL", eocd, 8, 2, 2, len(cd), cd_at)
    hostile = one[:cd_at] + cd + bytes(eocd)
    assert len(zipfile.ZipFile(io.BytesIO(hostile)).infolist()) == 2
    with pytest.raises(ReportParseError, match="overlap"):
        read_report(hostile)


@pytest.mark.slow
def test_zip_of_1000_zips_of_1000_members_is_refused_within_seconds() -> None:
    inner = _zip([(f"m{i}.csv", b"x") for i in range(1000)], stored=True)
    outer = _zip([(f"z{i}.zip", inner) for i in range(1000)])
    t0 = time.perf_counter()
    with pytest.raises(ReportParseError, match="members"):
        read_report(outer)
    assert time.perf_counter() - t0 < 5


# --- 2. gzip -----------------------------------------------------------------------


def test_every_gzip_member_is_read() -> None:
    head, *rows = PARTICLE.splitlines(keepends=True)
    data = gzip.compress((head + rows[0]).encode()) + gzip.compress(rows[1].encode())
    assert read_report(data)["total_data_operations"].sum() == 150.5


def test_zero_padding_after_gzip_is_accepted_but_anything_else_raises() -> None:
    body = gzip.compress(PARTICLE.encode())
    assert len(read_report(body + bytes(4096))) == 2
    # Garbage hidden after more than a MiB of zeros is still found.
    with pytest.raises(ReportParseError, match="not gzip data"):
        read_report(body + bytes(2 * 1024**2) + b"garbage")


def test_gzip_ratio_counts_only_consumed_bytes_so_padding_cannot_dilute_it() -> None:
    bomb = gzip.compress(PARTICLE.encode() + b"\n" * (8 * 1024**2))
    with pytest.raises(ReportParseError, match="compression ratio"):
        read_report(bomb + bytes(len(bomb) * 400))


def test_gzip_is_streamed_through_a_capped_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    assert defaults.MAX_UNCOMPRESSED_BYTES == 2 * 1024**3  # the documented default
    rows = "".join(f"2026-10-01,{DEV},t1,31021,Tracker,{i}\n" for i in range(60_000))
    data = gzip.compress((PARTICLE.splitlines()[0] + "\n" + rows).encode())
    src = load_source(data)
    assert src.members[0].raw is None  # not inflated before parsing
    assert read_report(data)["total_data_operations"].sum() == sum(range(60_000))
    monkeypatch.setattr(defaults, "MAX_UNCOMPRESSED_BYTES", 1024**2)
    with pytest.raises(ReportParseError, match="MAX_UNCOMPRESSED_BYTES"):
        read_report(data)


# --- 2. European spreadsheets, missing markers, JSON booleans ----------------------

EUROPEAN = (
    "Date;Device ID;Publishes;Total Data Operations\n"
    f"2026-10-01;{DEV};1.000;1.234,50\n"
    f"2026-10-02;{DEV};0;0,16\n"
)


def test_european_csv_with_decimal_commas_reads_right() -> None:
    df = read_report(EUROPEAN.encode())
    assert df["total_data_operations"].tolist() == [1234.5, 0.16]
    assert df["publishes"].tolist() == [1000.0, 0.0]


def test_ambiguous_number_raises_asking_for_decimal_and_thousands() -> None:
    text = f"Date;Device ID;Total Data Operations\n2026-10-01;{DEV};1.234\n"
    with pytest.raises(ReportParseError, match="decimal=") as err:
        read_report(text.encode())
    assert "thousands=" in str(err.value)
    assert read_report(text.encode(), decimal=",")["total_data_operations"].tolist() == [1234.0]
    assert read_report(text.encode(), decimal=".")["total_data_operations"].tolist() == [1.234]
    with pytest.raises(InvalidParameter, match="decimal"):
        read_report(text.encode(), decimal=";")


def test_mixed_number_conventions_raise() -> None:
    text = f"Date;Device ID;Total Data Operations\n2026-10-01;{DEV};1.234,5\n2026-10-02;{DEV};2.5\n"
    with pytest.raises(ReportParseError, match="mix conventions"):
        read_report(text.encode())


@pytest.mark.parametrize("marker", ["NaN", "null", "N/A"])
def test_missing_markers_in_a_quantity_are_counted_and_warned(marker: str) -> None:
    text = PARTICLE + f"2026-10-03,{DEV},t1,31021,Tracker,{marker}\n"
    with pytest.warns(MissingValuesWarning, match="total_data_operations"):
        df = read_report(text.encode(), errors="raise")
    assert df.attrs["missing_markers"] == {"total_data_operations": 1}
    assert len(df) == 3


def test_missing_markers_in_json_pages_are_counted_and_warned() -> None:
    items = [
        {"usageDateTime": "2026-10-01T00:00:00", "featureId": "f", "billableValue": v}
        for v in ("2.5", "N/A", 1)
    ]
    with pytest.warns(MissingValuesWarning):
        df = read_report({"items": items})
    assert df.attrs["missing_markers"] == {"billable_value": 1}
    assert df["billable_value"].sum() == 3.5


def test_json_true_for_a_number_is_an_error() -> None:
    page = {"items": [{"featureId": "f", "billableValue": True, "valueDriver": "GB"}]}
    with pytest.raises(ReportParseError, match="do not convert"):
        read_report(page)


# --- 2. columns, line endings, Excel, HTML ----------------------------------------


def test_two_columns_with_one_meaning_raise_naming_both_unless_column_map_picks() -> None:
    text = f"Date,Device ID,Total Data Operations,Data Operations\n2026-10-01,{DEV},5,7\n"
    with pytest.raises(ReportParseError, match="'Total Data Operations' and 'Data Operations'"):
        read_report(text.encode())
    u = read_report(
        text.encode(), unified=True, column_map={"total_data_operations": "Data Operations"}
    )
    assert u["quantity"].tolist() == [7.0]


def test_wide_export_with_a_total_column_raises_naming_both() -> None:
    text = f"Device ID,2026-10-01,2026-10-02,Total\n{DEV},1,2,3\n"
    with pytest.raises(ReportParseError, match="'Total' and the day columns"):
        read_report(text.encode())


def test_cr_only_line_endings_read(tmp_path: Path) -> None:
    data = PARTICLE.replace("\n", "\r").encode()
    path = tmp_path / "old-mac.csv"
    path.write_bytes(data)
    for source in (data, path):
        df = read_report(source)
        assert df["total_data_operations"].tolist() == [100.0, 50.5]


def _xlsx(rows: list[list[object]], *, notes_first: bool = False) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    if notes_first:
        ws.title = "Read me"
        ws.append(["Exported from the console"])
        ws = wb.create_sheet("Usage")
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


EXCEL_ROWS: list[list[object]] = [
    ["Date", "Device ID", "Device Name", "Total Data Operations"],
    [pd.Timestamp("2026-10-01").to_pydatetime(), DEV, "t1", 100],
    [pd.Timestamp("2026-10-02").to_pydatetime(), DEV2, "t2", 0.16],
]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["report.xlsx", "report.csv"])
def test_excel_workbook_reads_like_its_csv_even_renamed(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes(_xlsx(EXCEL_ROWS, notes_first=True))
    df = read_report(path, unified=True)
    assert df["quantity"].tolist() == [100.0, 0.16]
    assert df["period_start"].iloc[1] == pd.Timestamp("2026-10-02", tz="UTC")


def test_excel_total_row_is_checked_like_a_csv_one() -> None:
    rows = [*EXCEL_ROWS, ["Total", None, None, 100.16]]
    df, _ = _quiet(lambda: read_report(_xlsx(rows)))
    assert df["total_data_operations"].sum() == pytest.approx(100.16)
    assert df.attrs["summary_rows"]


def test_html_page_raises_saying_so() -> None:
    page = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body></body></html>"
    with pytest.raises(ReportParseError, match="HTML page"):
        read_report(page)
    with pytest.raises(ReportParseError, match="HTML page"):
        read_report(gzip.compress(page))


@pytest.mark.parametrize(
    ("device", "ops"),
    [
        ("Device Identifier", "Data Operations Used"),
        ("Device ID", "Data Ops (total)"),
    ],
)
def test_columns_are_found_by_meaning(device: str, ops: str) -> None:
    text = f"Date,{device},{ops}\n2026-10-01,abc,5\n"
    u = read_report(text.encode(), unified=True)
    assert u["resource_id"].tolist() == ["abc"]
    assert u["quantity"].tolist() == [5.0]


def test_us_dates_read_when_the_order_is_clear_and_raise_when_not() -> None:
    head = "Date,Product ID,Product Name,Total Data Operations\n"
    clear = head + "10/01/2026,1,a,5\n10/13/2026,1,a,5\n"
    assert read_report(clear.encode())["date"].tolist() == [
        pd.Timestamp("2026-10-01", tz="UTC"),
        pd.Timestamp("2026-10-13", tz="UTC"),
    ]
    unclear = head + "10/01/2026,1,a,5\n11/02/2026,1,a,5\n"
    with pytest.raises(ReportParseError, match="dayfirst="):
        read_report(unclear.encode())
    df = read_report(unclear.encode(), dayfirst=True)
    assert df["date"].iloc[1] == pd.Timestamp("2026-02-11", tz="UTC")


def test_missing_column_message_has_no_stray_braces_or_repeated_words() -> None:
    with pytest.raises(ReportParseError) as err:
        read_report(HERE_HEADER.replace("Item (featureId)", "Thing").encode(), provider="here")
    message = str(err.value)
    assert "}}" not in message
    assert "report report" not in message
    assert "column_map={'feature_id': '<header in your file>'}" in message


def test_particle_complete_total_is_used_as_it_is() -> None:
    text = (
        "Date,Device ID,Publishes,Function Calls,Total Data Operations\n"
        f"2026-10-01,{DEV},3,4,10\n"
        f"2026-10-02,{DEV},3,4,\n"
    )
    u = read_report(text.encode(), unified=True)
    # Row 1: the file's total, not 3 + 4; row 2: no total, so the kinds are summed.
    assert u["quantity"].tolist() == [10.0, 7.0]


# --- ua.concat -------------------------------------------------------------------------


def test_concat_keeps_unified_dtypes_and_unions_categories() -> None:
    a = read_report(PARTICLE.encode(), unified=True)
    b = read_report(INFORMATICA_DOCUMENTED.encode(), unified=True)
    both = ua.concat([a, b])
    assert len(both) == len(a) + len(b)
    assert str(both["period_start"].dtype) == "datetime64[ns, UTC]"
    assert isinstance(both["unit"].dtype, pd.CategoricalDtype)
    assert set(both["provider"]) == {"particle", "informatica"}
    assert both["quantity"].sum() == pytest.approx(a["quantity"].sum() + b["quantity"].sum())
    assert list(both.index) == list(range(len(both)))
    assert len(ua.concat([])) == 0
