"""Informatica IPU consumption, entitlement status and ipuAlert thresholds on hand-computed frames."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from usage_analysis.analysis import IPUAlert, MissingOrgWarning, ipu_alerts, ipu_status, ipu_usage
from usage_analysis.errors import InvalidParameter, SchemaError
from usage_analysis.schema import coerce_unified


def unified(**columns: Any) -> pd.DataFrame:
    df = pd.DataFrame(columns)
    df["period_start"] = pd.to_datetime(df["period_start"], utc=True)
    for col, value in {
        "provider": "informatica",
        "account_id": "org-prod",
        "unit": "compute units",
        "billable_unit": "IPU",
    }.items():
        if col not in df:
            df[col] = value
    df["period_end"] = df["period_start"] + pd.Timedelta(days=1)
    if "quantity" not in df:
        df["quantity"] = df["billable_quantity"] * 10
    return coerce_unified(df)


def day(d: str) -> pd.Timestamp:
    return pd.Timestamp(d, tz="UTC")


@pytest.fixture
def ipus() -> pd.DataFrame:
    # 10 days x (6 IPU in "Sales" on Data Integration + 4 IPU in "Finance" on Data Quality):
    # 10 IPU a day, 100 IPU over Oct 1-10.
    days = [f"2026-10-{i:02d}" for i in range(1, 11)]
    return unified(
        product=["Sales", "Finance"] * 10,
        meter=["Data Integration", "Data Quality"] * 10,
        period_start=[d for d in days for _ in range(2)],
        billable_quantity=[6.0, 4.0] * 10,
    )


def test_ipu_usage_by_meter_and_by_project(ipus: pd.DataFrame) -> None:
    by_meter = ipu_usage(ipus)
    assert by_meter[["meter", "billable_quantity"]].astype(object).values.tolist() == [
        ["Data Integration", 60.0],
        ["Data Quality", 40.0],
    ]
    assert set(by_meter["billable_unit"]) == {"IPU"}
    weekly = ipu_usage(ipus, by="product", freq="W")
    sales = weekly.loc[weekly["product"] == "Sales"]
    # Oct 1-4 fall in the week of Monday Sep 28, Oct 5-10 in the next.
    assert sales["billable_quantity"].tolist() == [24.0, 36.0]


def test_entitlement_status_crosses_the_informatica_levels_on_the_right_days(
    ipus: pd.DataFrame,
) -> None:
    status = ipu_status(ipus, entitlement=160)
    assert status.used == 100.0
    assert status.percent == pytest.approx(62.5)
    assert (status.period_start, status.period_end) == (day("2026-10-01"), day("2026-10-11"))
    t = status.thresholds
    assert t["level"].tolist() == ["25 %", "50 %", "75 %", "95 %", "100 %"]
    assert t["quantity"].tolist() == [40.0, 80.0, 120.0, 152.0, 160.0]
    # Running total 10, 20, ... reaches 40 on Oct 4 and 80 on Oct 8.
    assert t["crossed_on"].iloc[:2].tolist() == [day("2026-10-04"), day("2026-10-08")]
    assert t["crossed"].tolist() == [True, True, False, False, False]


def test_an_absolute_alert_is_a_level_in_ipus(ipus: pd.DataFrame) -> None:
    alert = IPUAlert.from_api(
        {
            "orgName": "Acme",
            "orgId": "org-prod",
            "parentOrgId": None,
            "thresholdValue": 35,
            "ipuConsumed": 100,
            "ipuThresholdPrefType": "ABSOLUTE",
        }
    )
    status = ipu_status(ipus, entitlement=160, alert=alert)
    row = status.thresholds.loc[status.thresholds["level"] == "alert 35 IPU"].iloc[0]
    assert (row["quantity"], row["percent"]) == (35.0, pytest.approx(35 / 160 * 100))
    assert row["crossed_on"] == day("2026-10-04")
    # levels stay in increasing order of quantity
    assert status.thresholds["quantity"].is_monotonic_increasing


def test_a_percentage_alert_is_a_share_of_the_entitlement(ipus: pd.DataFrame) -> None:
    status = ipu_status(
        ipus, entitlement=200, alert={"thresholdValue": 30, "ipuThresholdPrefType": "PERCENTAGE"}
    )
    row = status.thresholds.loc[status.thresholds["level"] == "alert 30 %"].iloc[0]
    assert row["quantity"] == 60.0
    assert row["crossed_on"] == day("2026-10-06")


def test_without_entitlement_only_an_absolute_alert_can_be_checked(ipus: pd.DataFrame) -> None:
    status = ipu_status(ipus, entitlement=None, alert=IPUAlert(95, "ABSOLUTE"))
    assert status.thresholds["level"].tolist() == ["alert 95 IPU"]
    assert status.thresholds["crossed_on"].tolist() == [day("2026-10-10")]
    with pytest.raises(InvalidParameter) as err:
        ipu_status(ipus, entitlement=None, alert=IPUAlert(50, "PERCENTAGE"))
    assert err.value.parameter == "entitlement"


def test_start_and_end_set_the_entitlement_period(ipus: pd.DataFrame) -> None:
    status = ipu_status(ipus, entitlement=1000, start="2026-10-06", end="2026-11-01")
    assert status.used == 50.0
    assert status.daily["day"].iloc[0] == day("2026-10-06")


def test_several_orgs_need_account(ipus: pd.DataFrame) -> None:
    sandbox = unified(
        account_id=["org-sandbox"],
        product=["Sales"],
        period_start=["2026-10-01"],
        billable_quantity=[3.0],
    )
    df = coerce_unified(pd.concat([ipus, sandbox], ignore_index=True))
    with pytest.raises(InvalidParameter) as err:
        ipu_status(df, entitlement=100)
    assert err.value.parameter == "account" and "org-sandbox" in str(err.value)
    assert ipu_status(df, entitlement=100, account="org-sandbox").used == 3.0


def test_project_alerts_use_the_project_consumption(ipus: pd.DataFrame) -> None:
    prefs = [
        {
            "orgId": "org-prod",
            "projectName": "Sales",
            "folderName": "",
            "thresholdValue": 30,
            "currentConsumption": 60,
            "ipuThresholdPrefType": "ABSOLUTE",
        },
        {
            "orgId": "org-prod",
            "projectName": "Finance",
            "thresholdValue": 50,
            "ipuThresholdPrefType": "PERCENTAGE",
        },
    ]
    table = ipu_alerts(ipus, prefs, entitlement=100)
    assert table["project"].tolist() == ["Sales", "Finance"]
    assert table["consumed"].tolist() == [60.0, 40.0]
    assert table["threshold_ipus"].tolist() == [30.0, 50.0]
    assert table["percent"].tolist() == [200.0, 80.0]
    assert table["crossed"].tolist() == [True, False]
    assert table["crossed_on"].iloc[0] == day("2026-10-05")  # 6 IPU a day reaches 30 on day 5
    assert pd.isna(table["crossed_on"].iloc[1])


def test_a_folder_alert_without_a_folder_column_is_refused(ipus: pd.DataFrame) -> None:
    alert = IPUAlert(10, "ABSOLUTE", project="Sales", folder="Ingest")
    with pytest.raises(SchemaError, match="folder"):
        ipu_alerts(ipus, [alert])


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [({"threshold": 0}, "threshold"), ({"threshold": 5, "kind": "RELATIVE"}, "kind")],
)
def test_bad_alerts_name_the_parameter(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(InvalidParameter) as err:
        IPUAlert(**kwargs)
    assert err.value.parameter == parameter


def test_an_alert_object_without_threshold_value_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="thresholdValue"):
        IPUAlert.from_api({"orgId": "x"})


def test_a_folder_alert_matches_the_project_folder_rows() -> None:
    # A project/folder export: the readers name each row's resource "<project>/<folder>".
    df = unified(
        product=["Sales", "Sales", "Finance"],
        resource_id=["Sales/Ingest", "Sales/Publish", "Finance/Ingest"],
        resource_name=["Ingest", "Publish", "Ingest"],
        period_start=["2026-10-01", "2026-10-01", "2026-10-01"],
        billable_quantity=[3.0, 5.0, 7.0],
    )
    alert = {
        "projectName": "Sales",
        "folderName": "Ingest",
        "thresholdValue": 2,
        "ipuThresholdPrefType": "ABSOLUTE",
    }
    table = ipu_alerts(df, [alert])
    assert (table["folder"].iloc[0], table["consumed"].iloc[0]) == ("Ingest", 3.0)
    assert bool(table["crossed"].iloc[0])


def test_a_project_alert_on_summary_rows_is_refused_not_charged_with_the_org(
    ipus: pd.DataFrame,
) -> None:
    summary = ipus.assign(product=pd.Categorical([None] * len(ipus)))
    with pytest.raises(SchemaError, match="project"):
        ipu_alerts(summary, [IPUAlert(10, "ABSOLUTE", project="Sales")])


def test_ipu_alerts_with_nothing_crossed_have_no_crossing_date() -> None:
    from pathlib import Path

    from usage_analysis import IPUAlert, ipu_alerts, read_report

    samples = Path(__file__).resolve().parent.parent / "sample_data"
    df = read_report(samples / "informatica_summary_2026-10.zip", unified=True)
    org = str(df["account_id"].iloc[0])
    table = ipu_alerts(df, [IPUAlert(threshold=1e9, kind="ABSOLUTE", org_id=org)])
    assert not table["crossed"].any()
    assert table["crossed_on"].isna().all()
    assert str(table["crossed_on"].dtype) == "datetime64[ns, UTC]"


def test_an_alert_on_an_org_missing_from_the_frame_is_missing_not_zero(
    ipus: pd.DataFrame,
) -> None:
    # The ipuAlert answer for a linked org whose usage was not fetched: the API says
    # 33.66 IPUs; the frame (org-prod only) cannot tell, so nothing may read "0.0".
    answer = [
        {
            "orgName": "Acme Sandbox",
            "orgId": "org-sandbox",
            "parentOrgId": "org-prod",
            "thresholdValue": 30,
            "ipuConsumed": 33.66,
            "ipuThresholdPrefType": "ABSOLUTE",
        },
        {
            "orgName": "Acme",
            "orgId": "org-prod",
            "thresholdValue": 35,
            "ipuConsumed": 101.5,
            "ipuThresholdPrefType": "ABSOLUTE",
        },
    ]
    with pytest.warns(MissingOrgWarning, match="org-sandbox"):
        table = ipu_alerts(ipus, answer)
    sandbox, prod = table.iloc[0], table.iloc[1]
    assert sandbox["org_id"] == "org-sandbox"
    assert pd.isna(sandbox["consumed"]) and pd.isna(sandbox["percent"])
    assert sandbox["crossed"] is pd.NA and pd.isna(sandbox["crossed_on"])
    assert sandbox["api_consumed"] == 33.66
    # the org the frame does hold is computed from the frame, beside the API's figure
    assert (prod["consumed"], prod["api_consumed"]) == (100.0, 101.5)
    assert bool(prod["crossed"]) and prod["crossed_on"] == day("2026-10-04")
    assert str(table["crossed"].dtype) == "boolean"


def test_alerts_on_orgs_in_the_frame_do_not_warn(ipus: pd.DataFrame) -> None:
    # filterwarnings=error: any warning here fails the test
    table = ipu_alerts(ipus, [IPUAlert(35, "ABSOLUTE", org_id="org-prod")])
    assert table["consumed"].tolist() == [100.0]
    assert pd.isna(table["api_consumed"].iloc[0])


def test_a_consumption_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="consumption"):
        IPUAlert.from_api({"thresholdValue": 5, "ipuConsumed": "lots"})
