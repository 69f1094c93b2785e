"""One truth per period: reports of several grains over the same months never add up twice.

The report files are written here by hand, in each provider's documented layout
(the same headers the reader tests use), not by the sample-data generator.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from usage_analysis import archive
from usage_analysis.errors import InvalidParameter

# --- HERE: daily, monthly and summarized reports of August to October 2026 -------

HERE_HEADER = (
    '"Date and time (usageDateTime)","Org ID (realmId)","Category (category)","App ID (appId)",'
    '"App Name (appName)","App Hrn (appHrn)","Item (featureId)",'
    '"Subscription ID (billingSubscriptionId)","Item description (name)","Unit (valueDriver)",'
    '"Project ID (projectHrn)","Billing tag (billingTag)","Usage Amount (billableValue)"'
)
FEATURE = "hrn:here:service::org123456789:search-geocoding-1"


def here_row(when: str, value: float) -> str:
    return (
        f'"{when}","org123456789","Location Services","app1","My app1",'
        f'"hrn:here:account::org123456789:app/app1","{FEATURE}","SUB-1","Geocode",'
        f'"Transactions","","","{value:.4f}"'
    )


# The truth: on day d of a month, the app made 10 * d geocoding transactions.
def here_daily_truth(month: str) -> dict[str, float]:
    days = pd.date_range(f"{month}-01", periods=pd.Period(month).days_in_month, freq="D")
    return {d.strftime("%Y-%m-%dT00:00:00Z"): 10.0 * d.day for d in days}


HERE_TRUTH = {m: sum(here_daily_truth(m).values()) for m in ("2026-08", "2026-09", "2026-10")}


def here_daily(months: list[str]) -> str:
    rows = [here_row(t, v) for m in months for t, v in here_daily_truth(m).items()]
    return "\n".join([HERE_HEADER, *rows]) + "\n"


def here_monthly(months: list[str]) -> str:
    rows = [here_row(f"{m}-01T00:00:00Z", HERE_TRUTH[m]) for m in months]
    return "\n".join([HERE_HEADER, *rows]) + "\n"


def here_summarized(months: list[str]) -> str:
    header = HERE_HEADER.split(",", 1)[1]  # a summarized report has no date column
    row = here_row("x", sum(HERE_TRUTH[m] for m in months)).split(",", 1)[1]
    return header + "\n" + row + "\n"


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def monthly_sql(root: Path, view: str = "usage", **kw: object) -> dict[str, float]:
    got = archive.sql(
        f"select month, sum(quantity) as q from {view} group by all order by all",
        archive=root,
        **kw,  # type: ignore[arg-type]
    )
    return dict(zip(got["month"], got["q"], strict=True))


def monthly_history(root: Path, **kw: object) -> dict[str, float]:
    rows = archive.history(archive=root, **kw)  # type: ignore[arg-type]
    month = rows["period_start"].dt.strftime("%Y-%m")
    return rows.groupby(month)["quantity"].sum().to_dict()


@pytest.mark.slow
@pytest.mark.parametrize(
    "order", [("daily", "monthly", "summary"), ("summary", "monthly", "daily")]
)
def test_here_daily_monthly_and_summarized_reports_count_each_month_once(
    tmp_path: Path, order: tuple[str, ...]
) -> None:
    root = tmp_path / "archive"
    files = {
        # The case: a daily report of October, a monthly one of Aug-Oct.
        "daily": (write(tmp_path, "daily.csv", here_daily(["2026-10"])), {}),
        "monthly": (
            write(tmp_path, "monthly.csv", here_monthly(["2026-08", "2026-09", "2026-10"])),
            {},
        ),
        "summary": (
            write(tmp_path, "summary.csv", here_summarized(["2026-08", "2026-09", "2026-10"])),
            {"period": ("2026-08-01", "2026-11-01"), "detail_level": "summarized"},
        ),
    }
    for name in order:
        path, options = files[name]
        archive.archive_file(path, archive=root, **options)

    assert monthly_history(root) == HERE_TRUTH
    assert monthly_sql(root) == HERE_TRUTH
    # Every grain is there, each one alone adds up to the truth.
    by_grain = archive.sql(
        "select grain, sum(quantity) as q from usage_all group by all order by all", archive=root
    )
    assert dict(zip(by_grain["grain"], by_grain["q"], strict=True)) == {
        "day": HERE_TRUTH["2026-10"],
        "month": sum(HERE_TRUTH.values()),
        "summarized": sum(HERE_TRUTH.values()),
    }
    assert monthly_history(root, grain="month") == HERE_TRUTH
    assert set(archive.history(archive=root, grain="summarized")["grain"]) == {"summarized"}
    assert archive.history(archive=root, grain="summarized")["quantity"].sum() == sum(
        HERE_TRUTH.values()
    )


@pytest.mark.slow
def test_here_reports_of_every_grain_over_the_same_months(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    months = ["2026-08", "2026-09", "2026-10"]
    archive.archive_file(write(tmp_path, "d.csv", here_daily(months)), archive=root)
    archive.archive_file(write(tmp_path, "m.csv", here_monthly(months)), archive=root)
    archive.archive_file(
        write(tmp_path, "s.csv", here_summarized(months)),
        archive=root,
        period=("2026-08-01", "2026-11-01"),
        detail_level="summarized",
    )
    assert monthly_history(root) == HERE_TRUTH
    assert monthly_sql(root) == HERE_TRUTH
    assert set(archive.history(archive=root)["grain"]) == {"day"}
    assert monthly_sql(root, grain={"here": "month"}) == HERE_TRUTH
    # The view without a grain adds everything: three times the truth.
    assert sum(monthly_sql(root, "usage_all").values()) == 3 * sum(HERE_TRUTH.values())


def test_a_shorter_summarized_report_replaces_the_longer_one_it_overlaps(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    archive.archive_file(
        write(tmp_path, "q.csv", here_summarized(["2026-08", "2026-09", "2026-10"])),
        archive=root,
        period=("2026-08-01", "2026-11-01"),
        detail_level="summarized",
    )
    done = archive.archive_file(
        write(tmp_path, "so.csv", here_summarized(["2026-09", "2026-10"])),
        archive=root,
        period=("2026-09-01", "2026-11-01"),
        detail_level="summarized",
    )
    assert done.replaced == 1
    back = archive.history(archive=root)
    assert back["quantity"].tolist() == [HERE_TRUTH["2026-09"] + HERE_TRUTH["2026-10"]]


# --- Informatica: SUMMARY, PROJECT_FOLDER, ASSET and JOB_LEVEL of October 2026 ------

DI = "a2nB20h1o0lc7k3P9xtWS8"  # Data Integration
# The truth: 4,708.9 IPU in October, spread over three days.
IPU = {"2026-10-01": 1600.0, "2026-10-02": 2000.5, "2026-10-03": 1108.4}
SUMMARY = (
    "OrgId,MeterId,MeterName,Date,BillingPeriodStartDate,BillingPeriodEndDate,MeterUsage,IPU,Scalar,MetricCategory,OrgName,OrgType,IPURate\n"
    + "".join(
        f"orgA,{DI},Data Integration,{d},2026-10-01,2026-10-31,{v / 0.16:.4f},{v},1,Compute Units,Acme,Production,0.16\n"
        for d, v in IPU.items()
    )
)
# Each day's IPUs split over two folders / two assets, as the exports do.
PROJECT_FOLDER = "Date,Project,Folder,Org ID,Org Type,Consumption (IPUs)\n" + "".join(
    f"{d},Sales,Ingest,orgA,Production,{v * 0.75}\n{d},Finance,Load,orgA,Production,{v * 0.25}\n"
    for d, v in IPU.items()
)
ASSET = (
    "Meter ID,Meter Name,Date,Asset Name,Asset Type,Project,Folder,Org ID,Org Type,"
    "Environment Name,Environment Type,Tier,IPU Per Unit,Usage,Consumption (IPUs)\n"
    + "".join(
        f"{DI},,{d},m_load,MTT,Sales,Ingest,orgA,Production,agent-1,Secure Agent,Production,"
        f"0.16,{v * 0.75 / 0.16:.4f},{v * 0.75}\n"
        f"{DI},,{d},m_fin,MTT,Finance,Load,orgA,Production,agent-1,Secure Agent,Production,"
        f"0.16,{v * 0.25 / 0.16:.4f},{v * 0.25}\n"
        for d, v in IPU.items()
    )
)
JOB_LEVEL = (
    "Task ID,Task Name,Task Object Name,Task Type,Task Run ID,Project Name,Folder Name,Org ID,"
    "Environment ID,Environment,Cores Used,Start Time,End Time,Status,Metered Value,Audit Time,"
    "OBM Task Time(s)\n"
    + "".join(
        f"t1,m_load,mt_load,MTT,{1000 + i},Sales,Ingest,orgA,env1,agent-1,4,{d} 01:00:00,"
        f"{d} 01:30:00,SUCCESS,{v / 0.16:.4f},{d} 01:35:00,1800\n"
        for i, (d, v) in enumerate(IPU.items())
    )
)


def ipu_total_sql(root: Path, view: str = "usage") -> float:
    got = archive.sql(
        f"select sum(billable_quantity) as ipu from {view} "
        "where provider = 'informatica' and billable_unit = 'IPU'",
        archive=root,
    )
    return float(got["ipu"].iloc[0])


@pytest.mark.slow
def test_informatica_four_exports_of_one_month_count_the_ipus_once(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    for name, text in (
        ("asset.csv", ASSET),
        ("pf.csv", PROJECT_FOLDER),
        ("jobs.csv", JOB_LEVEL),
        ("summary.csv", SUMMARY),
    ):
        archive.archive_file(write(tmp_path, name, text), archive=root)

    truth = sum(IPU.values())
    assert truth == pytest.approx(4708.9)
    back = archive.history(archive=root)
    assert set(back["grain"]) == {"SUMMARY"}
    assert back["billable_quantity"].sum() == pytest.approx(truth)
    assert ipu_total_sql(root) == pytest.approx(truth)
    # The 3x: SUMMARY, PROJECT_FOLDER and ASSET all in IPU.
    assert ipu_total_sql(root, "usage_all") == pytest.approx(3 * truth)
    for grain in ("PROJECT_FOLDER", "ASSET"):
        rows = archive.history(archive=root, grain=grain)
        assert rows["billable_quantity"].sum() == pytest.approx(truth), grain
    jobs = archive.history(archive=root, grain="job_level")
    assert len(jobs) == 3 and set(jobs["grain"]) == {"JOB_LEVEL"}


@pytest.mark.slow
def test_one_zip_of_several_exports_keeps_each_members_grain(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("summary.csv", SUMMARY)
        zf.writestr("asset.csv", ASSET)
    root = tmp_path / "archive"
    done = archive.archive_file(write(tmp_path, "exports.zip", buf.getvalue()), archive=root)
    assert done.rows == 3 + 6

    every = archive.history(archive=root, grain={"informatica": "ASSET"})
    assert len(every) == 6
    assert ipu_total_sql(root) == pytest.approx(sum(IPU.values()))


# --- Particle: devices and products reports of the same days ----------------------

D1, D2 = "e00fce68a1b2c3d4e5f60718", "0a1b2c3d4e5f60718293a4b5"
DEVICES = (
    "Date,Device ID,Device Name,Product ID,Product Name,Publishes,Subscribes,Function Calls,"
    "Variable Reads,Total Data Operations\n"
    f"2026-10-01,{D1},tracker-1,31021,Cold-chain Tracker,70,10,5,15,100\n"
    f"2026-10-01,{D2},tracker-2,31021,Cold-chain Tracker,3,1,1,0,5\n"
    f"2026-10-02,{D1},tracker-1,31021,Cold-chain Tracker,140,20,10,30,200\n"
    f"2026-11-01,{D2},tracker-2,31021,Cold-chain Tracker,7,0,0,0,7\n"
)
PRODUCTS = (
    "Date,Product ID,Product Name,Devices,Total Data Operations\n"
    "2026-10-01,31021,Cold-chain Tracker,2,105\n"
    "2026-10-02,31021,Cold-chain Tracker,1,200\n"
    "2026-11-01,31021,Cold-chain Tracker,1,7\n"
)
PARTICLE_TRUTH = {"2026-10": 305.0, "2026-11": 7.0}


@pytest.mark.slow
@pytest.mark.parametrize("products_first", [True, False])
def test_particle_devices_and_products_reports_count_once(
    tmp_path: Path, products_first: bool
) -> None:
    root = tmp_path / "archive"
    files = [
        write(tmp_path, "devices.csv", DEVICES),
        write(tmp_path, "products.csv", PRODUCTS),
    ]
    for f in reversed(files) if products_first else files:
        archive.archive_file(f, account="acme", archive=root)

    assert monthly_history(root) == PARTICLE_TRUTH
    assert monthly_sql(root) == PARTICLE_TRUTH
    assert set(archive.history(archive=root)["grain"]) == {"devices"}
    assert monthly_history(root, grain="products") == PARTICLE_TRUTH
    assert monthly_sql(root, grain="products") == PARTICLE_TRUTH
    assert sum(monthly_sql(root, "usage_all").values()) == 2 * sum(PARTICLE_TRUTH.values())


@pytest.mark.slow
def test_a_report_replaces_only_rows_of_its_own_grain(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    archive.archive_file(write(tmp_path, "p.csv", PRODUCTS), account="acme", archive=root)
    corrected = DEVICES.replace(",100\n", ",101\n")
    archive.archive_file(write(tmp_path, "d1.csv", DEVICES), account="acme", archive=root)
    again = archive.archive_file(write(tmp_path, "d2.csv", corrected), account="acme", archive=root)

    assert again.replaced == 4  # the devices rows only; products untouched
    assert monthly_history(root, grain="products") == PARTICLE_TRUTH
    assert monthly_history(root) == {"2026-10": 306.0, "2026-11": 7.0}


def test_grain_names_are_checked(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="grain"):
        archive.history(archive=tmp_path, grain="weekly")
    with pytest.raises(InvalidParameter, match="not a grain of provider 'here'"):
        archive.sql("select 1", archive=tmp_path, grain={"here": "SUMMARY"})
    frame = archive.history(archive=tmp_path)
    assert frame.empty
