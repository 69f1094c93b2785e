"""Informatica metering exports: every kind, ZIP layouts, the catalog fill, unified rows."""

from __future__ import annotations

import io
import zipfile

import pandas as pd
import pytest

from usage_analysis.errors import ReportParseError
from usage_analysis.readers import MIXED_COLUMN, detect, read_report, to_unified
from usage_analysis.schema import validate_unified

DI = "a2nB20h1o0lc7k3P9xtWS8"  # Data Integration
AI = "3uIRkIV5Rt9lBbAPzeR5Kj"  # Application Integration, classic mode

SUMMARY = (
    "OrgId,MeterId,MeterName,Date,BillingPeriodStartDate,BillingPeriodEndDate,MeterUsage,IPU,"
    "Scalar,MetricCategory,OrgName,OrgType,IPURate\n"
    # The documented form: Scalar names the unit of MeterUsage; MetricCategory is
    # undocumented text, here the literal null a third-party loader treats as missing.
    f"orgA,{DI},Data Integration,2026-10-01,2026-10-01,2026-10-31,10,1.6,Compute Units,null,"
    "Acme,Production,0.16\n"
    f"orgA,{DI},,2026-10-02,2026-10-01,2026-10-31,20,3.2,Compute Units,null,Acme,Production,"
    "0.16\n"
)
PROJECT_FOLDER = (
    "Date,Project,Folder,Org ID,Org Type,Consumption (IPUs)\n"
    "2026-10-01,Sales,Ingest,orgA,Production,1.25\n"
    "2026-10-01,Finance,Ingest,orgA,Production,0.35\n"
)
ASSET = (
    "Meter ID,Meter Name,Date,Asset Name,Asset Type,Project,Folder,Org ID,Org Type,"
    "Environment Name,Environment Type,Tier,IPU Per Unit,Usage,Consumption (IPUs)\n"
    f"{DI},,2026-10-01,m_load,MTT,Sales,Ingest,orgA,Production,agent-1,Secure Agent,"
    "Production,0.16,10,1.6\n"
)
JOB_DI = (
    "Task ID,Task Name,Task Object Name,Task Type,Task Run ID,Project Name,Folder Name,Org ID,"
    "Environment ID,Environment,Cores Used,Start Time,End Time,Status,Metered Value,Audit Time,"
    "OBM Task Time(s)\n"
    "t1,m_load,mt_load,MTT,1001,Sales,Ingest,orgA,env1,agent-1,4,2026-10-01 01:00:00,"
    "2026-10-01 01:30:00,SUCCESS,2.5,2026-10-01 01:35:00,1800\n"
)
JOB_AI = (
    "Org ID,Executed asset,Date (in UTC),Execution env,Execution type,Invoked by,status,"
    "Execution count,Total Execution time (in hours),Average Execution time (in seconds)\n"
    "orgA,p_sync,2026-10-01,Cloud,Process,REST API,SUCCESS,40,1.5,135\n"
)


def _zip(members: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (SUMMARY, "summary"),
        (PROJECT_FOLDER, "project_folder"),
        (ASSET, "asset"),
        (JOB_DI, "job_level"),
        (JOB_AI, "job_level_ai"),
    ],
)
def test_each_kind_is_detected_bare_and_zipped(text: str, kind: str) -> None:
    assert tuple(detect(text.encode())) == ("informatica", kind)
    assert tuple(detect(_zip({"Metering_x.csv": text}))) == ("informatica", kind)


def test_summary_columns_are_snake_case_and_typed() -> None:
    df = read_report(SUMMARY.encode())
    assert list(df.columns) == [
        "org_id",
        "meter_id",
        "meter_name",
        "date",
        "billing_period_start_date",
        "billing_period_end_date",
        "meter_usage",
        "ipu",
        "scalar",
        "metric_category",
        "org_name",
        "org_type",
        "ipu_rate",
    ]
    assert str(df["date"].dtype) == "datetime64[ns, UTC]"
    assert df["ipu"].tolist() == [1.6, 3.2]
    assert isinstance(df["org_id"].dtype, pd.CategoricalDtype)


def test_summary_unified_uses_ipu_as_billable_and_fills_the_meter_name_from_the_catalog() -> None:
    u = read_report(SUMMARY.encode(), unified=True)
    validate_unified(u)
    assert u["meter"].tolist() == ["Data Integration", "Data Integration"]
    assert u["quantity"].tolist() == [10.0, 20.0]
    assert u["unit"].tolist() == ["Compute Units"] * 2
    assert u["billable_quantity"].tolist() == [1.6, 3.2]
    assert u["billable_unit"].tolist() == ["IPU"] * 2
    assert u["account_name"].tolist() == ["Acme"] * 2
    assert u["period_end"].iloc[0] == pd.Timestamp("2026-10-02", tz="UTC")


def test_one_member_per_org_and_combined_give_the_same_rows() -> None:
    header, r1, r2 = SUMMARY.strip().split("\n")
    r2b = r2.replace("orgA", "orgB")
    per_org = read_report(
        _zip(
            {
                "MeteringSummary_orgA.csv": f"{header}\n{r1}\n",
                "MeteringSummary_orgB.csv": f"{header}\n{r2b}\n",
            }
        )
    )
    combined = read_report(_zip({"MeteringSummary_AllOrgs.csv": f"{header}\n{r1}\n{r2b}\n"}))
    assert per_org["org_id"].tolist() == combined["org_id"].tolist() == ["orgA", "orgB"]
    assert per_org["ipu"].sum() == combined["ipu"].sum()


def test_project_folder_rows_are_ipus_per_project_and_folder() -> None:
    u = read_report(_zip({"MeteringProjectFolder_orgA.csv": PROJECT_FOLDER}), unified=True)
    assert u["product"].tolist() == ["Sales", "Finance"]
    # Folder names repeat across projects: the resource id keeps them apart.
    assert u["resource_id"].tolist() == ["Sales/Ingest", "Finance/Ingest"]
    assert u["unit"].tolist() == ["IPU", "IPU"]
    assert u["quantity"].sum() == pytest.approx(1.6)


def test_asset_rows_keep_usage_in_the_meter_unit_and_ipus_as_billable() -> None:
    u = read_report(ASSET.encode(), unified=True)
    row = u.iloc[0]
    assert row["meter"] == "Data Integration"  # filled from the catalog
    assert row["quantity"] == 10.0
    assert row["unit"] == "Data Integration units"
    assert row["billable_quantity"] == 1.6
    assert row["resource_id"] == "m_load"
    assert row["category"] == "MTT"


def test_job_level_meter_comes_from_the_member_name() -> None:
    df = read_report(_zip({f"MeteringJobLevel_{DI}.csv": JOB_DI}))
    assert df["meter_id"].tolist() == [DI]
    assert str(df["start_time"].dtype) == "datetime64[ns, UTC]"
    u = to_unified(df)
    row = u.iloc[0]
    assert row["meter"] == "Data Integration"
    assert row["period_start"] == pd.Timestamp("2026-10-01 01:00", tz="UTC")
    assert row["period_end"] == pd.Timestamp("2026-10-01 01:30", tz="UTC")
    assert row["quantity"] == 2.5
    assert pd.isna(row["billable_quantity"])


def test_an_archive_mixing_di_and_ai_job_files_reads_as_one_mixed_frame() -> None:
    data = _zip({f"MeteringJobLevel_{DI}.csv": JOB_DI, f"MeteringJobLevel_{AI}.csv": JOB_AI})
    assert detect(data).kind == "mixed"
    df = read_report(data)
    assert df.attrs["kind"] == "mixed"
    assert df[MIXED_COLUMN].tolist() == ["job_level", "job_level_ai"]
    assert df["meter_id"].tolist() == [DI, AI]
    u = to_unified(df)
    assert u["meter"].tolist() == ["Data Integration", "Application Integration"]
    assert u["unit"].tolist() == ["Data Integration units", "hours"]
    assert u["quantity"].tolist() == [2.5, 1.5]
    only_ai = read_report(data, kind="job_level_ai")
    assert only_ai["executed_asset"].tolist() == ["p_sync"]
    assert only_ai.attrs["skipped_members"] == [f"MeteringJobLevel_{DI}.csv"]


def test_a_bad_date_in_a_member_names_the_member_and_line() -> None:
    bad = SUMMARY.replace("2026-10-02,2026-10-01", "yesterday,2026-10-01")
    with pytest.raises(ReportParseError) as info:
        read_report(_zip({"MeteringSummary_orgA.csv": bad}))
    err = info.value
    assert (err.member, err.line, err.column) == ("MeteringSummary_orgA.csv", 3, "Date")
    assert "date" in (err.expected or "")


def test_a_row_with_too_many_fields_names_its_line() -> None:
    bad = SUMMARY + "orgA,x,y,2026-10-03,,,1,1,1,c,o,t,1,EXTRA\n"
    with pytest.raises(ReportParseError, match="number of fields") as info:
        read_report(bad.encode())
    assert info.value.line == 4
