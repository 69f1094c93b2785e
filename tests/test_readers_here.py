"""HERE usage reports: every CSV header variant, gzip, JSON search pages, unified rows."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from usage_analysis.errors import InvalidParameter, ReportParseError
from usage_analysis.readers import CoercedValuesWarning, detect, read_report, to_unified
from usage_analysis.schema import UNIFIED_COLUMNS, validate_unified

FEATURE = "hrn:here:service::org123456789:search-geocoding-1"
LABEL_HEADER = (
    '"Date and time (usageDateTime)","Org ID (realmId)","Category (category)","App ID (appId)",'
    '"App Name (appName)","App Hrn (appHrn)","Item (featureId)",'
    '"Subscription ID (billingSubscriptionId)","Item description (name)","Unit (valueDriver)",'
    '"Project ID (projectHrn)","Billing tag (billingTag)","Usage Amount (billableValue)"'
)


def _row(day: str, value: str, *, app: str = "app1", unit: str = "Transactions") -> str:
    return (
        f'"{day}","org123456789","Location Services","{app}","My {app}",'
        f'"hrn:here:account::org123456789:app/{app}","{FEATURE}","SUB-1","Geocode",'
        f'"{unit}","","","{value}"'
    )


LABEL_CSV = (
    "\n".join(
        [
            LABEL_HEADER,
            _row("2026-10-01T00:00:00Z", "144940.0000"),
            _row("2026-10-02T00:00:00Z", "10.5000"),
            _row("2026-10-02T00:00:00Z", "", app="app2"),
        ]
    )
    + "\n"
)


def test_label_header_reads_typed_snake_case_columns() -> None:
    df = read_report(LABEL_CSV.encode())
    assert df.attrs["provider"] == "here"
    assert df.attrs["kind"] == "report"
    assert list(df.columns[:3]) == ["usage_date_time", "realm_id", "category"]
    assert str(df["usage_date_time"].dtype) == "datetime64[ns, UTC]"
    assert df["usage_date_time"].iloc[0] == pd.Timestamp("2026-10-01", tz="UTC")
    assert str(df["billable_value"].dtype) == "float64"
    assert df["billable_value"].iloc[:2].tolist() == [144940.0, 10.5]
    # Empty quoted string = missing, for numbers and strings alike.
    assert pd.isna(df["billable_value"].iloc[2])
    assert df["project_hrn"].isna().all()
    assert isinstance(df["feature_id"].dtype, pd.CategoricalDtype)


def test_gzipped_report_reads_like_the_plain_one(tmp_path: Path) -> None:
    path = tmp_path / "REPORT-1583.csv.gz"
    path.write_bytes(gzip.compress(LABEL_CSV.encode()))
    plain = read_report(LABEL_CSV.encode())
    zipped = read_report(path)
    pd.testing.assert_frame_equal(plain, zipped, check_like=False)


def test_camel_case_header_reads_the_same_columns() -> None:
    camel = (
        "usageDateTime,realmId,featureId,name,valueDriver,billableValue\n"
        f"2026-10-01T00:00:00Z,org1,{FEATURE},Geocode,Transactions,3.0000\n"
    )
    df = read_report(camel.encode())
    assert list(df.columns) == [
        "usage_date_time",
        "realm_id",
        "feature_id",
        "name",
        "value_driver",
        "billable_value",
    ]


def test_legacy_header_uses_usage_value_as_quantity_and_billable_value_as_billable() -> None:
    legacy = (
        '"Date and time (usageDateTime)","Org ID (realmId)","Item (featureId)",'
        '"Unit (valueDriver)","Resource ID (resourceHrn)","Charge Number (billingChargeNumber)",'
        '"Usage Amount (usageValue)","Billable Amount (billableValue)"\n'
        f'"2026-10-01T00:00:00Z","org1","{FEATURE}","GB","hrn:res:1","CHG-1","5.0000","0.0000"\n'
    )
    df = read_report(legacy.encode())
    assert {"resource_hrn", "billing_charge_number", "usage_value", "billable_value"} <= set(
        df.columns
    )
    u = to_unified(df)
    assert u["quantity"].tolist() == [5.0]
    assert u["billable_quantity"].tolist() == [0.0]
    assert u["resource_id"].tolist() == ["hrn:res:1"]
    assert u["resource_name"].isna().all()  # the resource is not the app


def test_partner_report_fills_account_name_from_org_name() -> None:
    partner = (
        '"Org Name (orgName)",'
        + LABEL_HEADER
        + "\n"
        + '"Acme Maps",'
        + _row("2026-10-01T00:00:00Z", "1.0000")
        + "\n"
    )
    u = read_report(partner.encode(), unified=True)
    assert u["account_name"].tolist() == ["Acme Maps"]
    assert u["account_id"].tolist() == ["org123456789"]


def test_unified_here_rows_follow_the_documented_mapping() -> None:
    u = read_report(LABEL_CSV.encode(), unified=True)
    validate_unified(u)
    assert tuple(u.columns) == (*UNIFIED_COLUMNS, "project", "billing_tag")
    first = u.iloc[0]
    assert first["provider"] == "here"
    assert first["meter_id"] == FEATURE
    assert first["meter"] == "Geocode"
    assert first["product"] == "My app1"
    assert first["resource_id"] == "app1"
    assert first["unit"] == first["billable_unit"] == "Transactions"
    assert first["period_end"] - first["period_start"] == pd.Timedelta(days=1)
    assert u.attrs["detail_level"] == "day"


@pytest.mark.parametrize(
    ("stamps", "level", "length"),
    [
        (["2026-10-01T00:00:00Z", "2026-10-01T01:00:00Z"], "hour", pd.Timedelta(hours=1)),
        (["2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z"], "day", pd.Timedelta(days=1)),
        (["2026-09-01T00:00:00Z", "2026-10-01T00:00:00Z"], "month", None),
    ],
)
def test_detail_level_is_inferred_from_the_timestamps(
    stamps: list[str], level: str, length: pd.Timedelta | None
) -> None:
    text = "\n".join([LABEL_HEADER, *(_row(s, "1.0000") for s in stamps)])
    u = read_report(text.encode(), unified=True)
    assert u.attrs["detail_level"] == level
    if length is not None:
        assert ((u["period_end"] - u["period_start"]) == length).all()
    else:
        assert u["period_end"].tolist() == [
            pd.Timestamp("2026-10-01", tz="UTC"),
            pd.Timestamp("2026-11-01", tz="UTC"),
        ]


def test_detail_level_override_wins_over_inference() -> None:
    text = "\n".join([LABEL_HEADER, _row("2026-10-01T00:00:00Z", "1.0000")])
    # One date on the 1st is a day, never widened to a month (issue 10) ...
    assert read_report(text.encode(), unified=True).attrs["detail_level"] == "day"
    # ... unless the caller says the report is monthly.
    u = read_report(text.encode(), unified=True, detail_level="month")
    assert u["period_end"].tolist() == [pd.Timestamp("2026-11-01", tz="UTC")]
    with pytest.raises(InvalidParameter, match="detail_level"):
        read_report(text.encode(), unified=True, detail_level="week")


def test_summarized_rows_have_no_period_unless_the_requested_range_is_given() -> None:
    header = LABEL_HEADER.split(",", 1)[1]
    text = header + "\n" + _row("x", "7.0000").split(",", 1)[1] + "\n"
    u = read_report(text.encode(), unified=True)
    assert u.attrs["detail_level"] == "summarized"
    assert u["period_start"].isna().all() and u["period_end"].isna().all()
    u = read_report(text.encode(), unified=True, period=("2026-10-01", "2026-11-01"))
    assert u["period_start"].tolist() == [pd.Timestamp("2026-10-01", tz="UTC")]
    assert u["period_end"].tolist() == [pd.Timestamp("2026-11-01", tz="UTC")]


def test_a_bad_number_names_file_line_column_and_expectation() -> None:
    text = LABEL_CSV.replace('"10.5000"', '"ten"')
    with pytest.raises(ReportParseError) as info:
        read_report(text.encode())
    err = info.value
    assert err.line == 3
    assert err.column == "Usage Amount (billableValue)"
    assert err.expected == "a finite number"
    assert err.bad_rows == [(3, "ten")]
    assert "line 3" in str(err) and "'ten'" in str(err)


def test_coerce_turns_bad_values_into_missing_and_reports_how_many() -> None:
    text = LABEL_CSV.replace('"10.5000"', '"ten"').replace('"2026-10-01T00:00:00Z"', '"soon"')
    with pytest.warns(CoercedValuesWarning, match="1 value") as record:
        df = read_report(text.encode(), errors="coerce")
    assert {w.filename for w in record} == {__file__}  # points at the caller's line
    assert df.attrs["coerced"] == {"usage_date_time": 1, "billable_value": 1}
    assert len(df) == 3  # no row dropped
    assert pd.isna(df["billable_value"].iloc[1]) and pd.isna(df["usage_date_time"].iloc[0])


def test_errors_must_be_raise_or_coerce() -> None:
    with pytest.raises(InvalidParameter, match="errors"):
        read_report(LABEL_CSV.encode(), errors="ignore")


def test_a_missing_value_column_lists_the_closest_header_names() -> None:
    text = LABEL_CSV.replace("Usage Amount (billableValue)", "Usage Amnt")
    with pytest.raises(ReportParseError) as info:
        read_report(text.encode(), provider="here")
    assert info.value.line == 1
    assert "Usage Amnt" in info.value.candidates
    assert "column_map" in str(info.value)


def test_column_map_names_a_column_the_reader_cannot_find() -> None:
    text = LABEL_CSV.replace("Usage Amount (billableValue)", "Betrag")
    df = read_report(text.encode(), provider="here", column_map={"billable_value": "Betrag"})
    assert df["billable_value"].iloc[0] == 144940.0
    with pytest.raises(InvalidParameter, match="column_map"):
        read_report(text.encode(), provider="here", column_map={"bogus": "Betrag"})
    with pytest.raises(ReportParseError, match="column_map") as info:
        read_report(text.encode(), provider="here", column_map={"billable_value": "Betrg"})
    assert info.value.candidates == ["Betrag"]


def _pages() -> list[dict[str, object]]:
    item = {
        "usageDateTime": "2026-11-01T00:00:00Z",
        "realmId": "org1",
        "featureId": FEATURE,
        "name": "Geocode",
        "valueDriver": "Transactions",
        "billableValue": 12,
        "usageValueHot": "1.5000",
    }
    second = dict(item, billableValue="30.0000", usageDateTime="2026-11-02T00:00:00Z")
    return [
        {"total": 2, "limit": 1, "items": [item], "nextOffset": 1, "lastOffset": 1},
        {"total": 2, "limit": 1, "items": [second], "lastOffset": 1},
    ]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda p: p, id="list-of-pages"),
        pytest.param(lambda p: json.dumps(p), id="json-text"),
        pytest.param(lambda p: json.dumps(p).encode(), id="json-bytes"),
    ],
)
def test_json_search_pages_read_as_one_frame(make) -> None:
    df = read_report(make(_pages()))
    assert (df.attrs["provider"], df.attrs["kind"]) == ("here", "search")
    assert df["billable_value"].tolist() == [12.0, 30.0]
    assert df["usage_value_hot"].tolist() == [1.5, 1.5]
    assert df.attrs["total"] == 2
    u = to_unified(df)
    assert u["quantity"].sum() == 42.0


def test_one_json_page_from_a_file_reads(tmp_path: Path) -> None:
    page = {**_pages()[0], "total": 1}  # the whole search on one page
    path = tmp_path / "page.json"
    path.write_text(json.dumps(page))
    assert tuple(detect(path)) == ("here", "search")
    assert len(read_report(path)) == 1


def test_one_page_of_a_longer_search_is_refused_not_read_short(tmp_path: Path) -> None:
    path = tmp_path / "page.json"
    path.write_text(json.dumps(_pages()[0]))  # total=2, one item: page 2 is missing
    with pytest.raises(ReportParseError, match="total=2: a page is missing") as err:
        read_report(path)
    assert err.value.file == str(path)


def test_a_here_error_body_is_not_mistaken_for_usage() -> None:
    body = {"title": "Invalid date", "status": 400, "code": "E706003", "errorId": "x"}
    with pytest.raises(ReportParseError, match="E706003"):
        read_report(json.dumps(body).encode())


def test_a_bad_json_value_names_the_item() -> None:
    pages = _pages()
    pages[1]["items"][0]["billableValue"] = "lots"  # type: ignore[index]
    with pytest.raises(ReportParseError, match="item 2") as info:
        read_report(pages)
    assert info.value.column == "billableValue"


def test_to_unified_accepts_a_frame_without_attrs_when_provider_is_given() -> None:
    df = read_report(LABEL_CSV.encode())
    bare = pd.DataFrame(df.to_dict(orient="list"))
    with pytest.raises(InvalidParameter, match="provider"):
        to_unified(bare)
    u = to_unified(bare, provider="here")
    validate_unified(u)
    assert u["quantity"].sum() == pytest.approx(144950.5)


def test_unified_here_rows_keep_project_and_billing_tag_as_extra_columns() -> None:
    samples = Path(__file__).resolve().parent.parent / "sample_data"
    df = read_report(samples / "here_report_2026-10.csv.gz", unified=True)
    assert list(df.columns[: len(UNIFIED_COLUMNS)]) == list(UNIFIED_COLUMNS)
    assert list(df.columns[len(UNIFIED_COLUMNS) :]) == ["project", "billing_tag"]
    assert "team-logistics" in set(df["billing_tag"].dropna())
    assert df["project"].dropna().str.startswith("hrn:here:authorization::").all()


ONE_DAY_MONTH_LEVEL = (
    "usageDateTime,realmId,category,appId,appName,featureId,billingSubscriptionId,"
    "name,valueDriver,billableValue\n"
    "2026-12-01T00:00:00,org1,Location,app-1,Fleet,hrn:f:1,sub-1,Routing,Transactions,42.0000\n"
)


def test_a_month_level_row_of_a_one_day_request_covers_that_day_not_the_month() -> None:
    # HERE labels the row with its month; the request said Dec 1 only.
    df = read_report(
        ONE_DAY_MONTH_LEVEL.encode(),
        provider="here",
        unified=True,
        detail_level="month",
        period=("2026-12-01", "2026-12-02"),
    )
    assert df["period_start"].tolist() == [pd.Timestamp("2026-12-01", tz="UTC")]
    assert df["period_end"].tolist() == [pd.Timestamp("2026-12-02", tz="UTC")]
    assert df["quantity"].sum() == 42.0
    # Without the request's range, the file's own month stands.
    whole = read_report(
        ONE_DAY_MONTH_LEVEL.encode(), provider="here", unified=True, detail_level="month"
    )
    assert whole["period_end"].tolist() == [pd.Timestamp("2027-01-01", tz="UTC")]
