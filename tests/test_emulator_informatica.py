"""The emulator's Informatica IDMC v3 API over real HTTP: login, sessions, exports, IPU alerts."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from emulator_helpers import METERING, check, emu, http, informatica_login, start_emulator

from usage_analysis.emulator import Emulator
from usage_analysis.sample_data import informatica_csv

__all__ = ["emu", "http", "start_emulator"]

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
OCT = {"startDate": "2026-10-01T00:00:00Z", "endDate": "2026-10-31T00:00:00Z"}


def _export(
    http: httpx.Client, api: str, headers: dict, body: dict, path: str = "ExportMeteringData"
) -> httpx.Response:
    return http.post(f"{api}{METERING}/{path}", headers=headers, json=body)


def _job(http: httpx.Client, api: str, headers: dict, job_id: str) -> dict:
    r = http.get(f"{api}{METERING}/ExportMeteringData/{job_id}", headers=headers)
    assert r.status_code == 200, r.text
    return check("informatica_job", r.json())


def _zip(http: httpx.Client, api: str, headers: dict, job_id: str) -> zipfile.ZipFile:
    r = http.get(f"{api}{METERING}/ExportMeteringData/{job_id}/download", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(r.content))


# --- login and sessions --------------------------------------------------------------------


def test_login_gives_a_session_and_the_base_api_url(emu: Emulator, http: httpx.Client) -> None:
    api, headers = informatica_login(emu, http)
    assert api == f"{emu.base_url}/informatica/saas"
    assert emu.informatica_login_url.startswith(api)
    assert _export(http, api, headers, OCT).status_code == 200


def test_wrong_password_is_401_with_the_idmc_error_body(emu: Emulator, http: httpx.Client) -> None:
    creds = {**emu.credentials["informatica"], "password": "wrong"}
    r = http.post(emu.informatica_login_url, json=creds)
    assert r.status_code == 401
    body = check("informatica_error", r.json())
    assert "password" in body["error"]["message"]


def test_missing_or_unknown_session_is_401(emu: Emulator, http: httpx.Client) -> None:
    api = f"{emu.base_url}/informatica/saas"
    for headers in ({}, {"INFA-SESSION-ID": "not-a-session"}):
        r = _export(http, api, headers, OCT)
        assert r.status_code == 401
        check("informatica_error", r.json())


@pytest.mark.slow
def test_session_expires_after_the_idle_time_but_not_while_used(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    emu = start_emulator(session_idle=1800.0)
    api, headers = informatica_login(emu, http)
    job_id = _export(http, api, headers, OCT).json()["jobId"]
    for _ in range(3):
        emu.advance(1500)
        _job(http, api, headers, job_id)  # each use restarts the idle time
    emu.advance(1801)
    r = http.get(f"{api}{METERING}/ExportMeteringData/{job_id}", headers=headers)
    assert r.status_code == 401
    assert "expired" in check("informatica_error", r.json())["error"]["message"]
    api, headers = informatica_login(emu, http)  # log in again and retry: it works
    assert _job(http, api, headers, job_id)["status"] == "SUCCESS"


def test_logout_ends_the_session(emu: Emulator, http: httpx.Client) -> None:
    api, headers = informatica_login(emu, http)
    assert http.post(f"{api}/public/core/v3/logout", headers=headers).status_code == 200
    assert _export(http, api, headers, OCT).status_code == 401


# --- exports -------------------------------------------------------------------------------


@pytest.mark.slow
def test_export_job_goes_created_processing_success_and_downloads_a_zip(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    emu = start_emulator(job_seconds=30.0, now=NOW)
    api, headers = informatica_login(emu, http)
    r = _export(
        http, api, headers, {**OCT, "jobType": "SUMMARY", "callbackUrl": "https://example.com/cb"}
    )
    assert r.status_code == 200
    job = check("informatica_job", r.json())
    assert job["status"] == "CREATED" and job["callbackUrl"] == "https://example.com/cb"
    assert job["startDate"] == OCT["startDate"]
    assert _job(http, api, headers, job["jobId"])["status"] == "CREATED"
    early = http.get(f"{api}{METERING}/ExportMeteringData/{job['jobId']}/download", headers=headers)
    assert early.status_code == 400
    check("informatica_error", early.json())
    emu.advance(11)
    assert _job(http, api, headers, job["jobId"])["status"] == "PROCESSING"
    emu.advance(20)
    done = _job(http, api, headers, job["jobId"])
    assert done["status"] == "SUCCESS" and "errorMessage" not in done

    archive = _zip(http, api, headers, job["jobId"])
    truth = emu.ground_truth_members(**OCT, jobType="SUMMARY")
    assert sorted(archive.namelist()) == sorted(truth)
    orgs = list(emu.state.data.world.informatica.orgs["org_id"])
    assert sorted(archive.namelist()) == sorted(f"MeteringSummary_{o}.csv" for o in orgs)
    for name, frame in truth.items():
        assert archive.read(name) == informatica_csv(frame)
    total = emu.ground_truth("informatica", job_id=job["jobId"])["IPU"].sum()
    assert total == pytest.approx(sum(f["IPU"].sum() for f in truth.values()))


@pytest.mark.slow
def test_combined_usage_is_one_member_for_all_orgs(emu: Emulator, http: httpx.Client) -> None:
    api, headers = informatica_login(emu, http)
    body = {**OCT, "jobType": "SUMMARY", "combinedMeterUsage": "TRUE"}
    job_id = _export(http, api, headers, body).json()["jobId"]
    assert _zip(http, api, headers, job_id).namelist() == ["MeteringSummary_AllOrgs.csv"]


@pytest.mark.slow
def test_project_folder_export_covers_the_requesting_org_unless_linked_orgs_asked(
    emu: Emulator, http: httpx.Client
) -> None:
    api, headers = informatica_login(emu, http)
    home = emu.state.data.world.informatica.orgs["org_id"].iloc[0]
    body = {"startDate": "2026-10-01T00:00:00Z", "endDate": "2026-10-30T00:00:00Z"}
    job_id = _export(http, api, headers, {**body, "jobType": "PROJECT_FOLDER"}).json()["jobId"]
    assert _zip(http, api, headers, job_id).namelist() == [f"MeteringProjectFolder_{home}.csv"]
    job_id = _export(
        http, api, headers, {**body, "jobType": "PROJECT_FOLDER", "allLinkedOrgs": "TRUE"}
    ).json()["jobId"]
    assert len(_zip(http, api, headers, job_id).namelist()) == 3


@pytest.mark.slow
def test_asset_export_for_ten_orgs_is_a_zip_of_ten_csvs(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    emu = start_emulator(informatica_orgs=10, now=NOW)
    api, headers = informatica_login(emu, http)
    body = {**OCT, "endDate": "2026-10-30T00:00:00Z", "jobType": "ASSET", "allLinkedOrgs": True}
    job_id = _export(http, api, headers, body).json()["jobId"]
    archive = _zip(http, api, headers, job_id)
    assert len(archive.namelist()) == 10
    assert all(n.startswith("MeteringAsset_") for n in archive.namelist())
    truth = emu.ground_truth_members(job_id=job_id)
    for name, frame in truth.items():
        assert archive.read(name) == informatica_csv(frame)


def test_asset_export_filters_by_meter(emu: Emulator, http: httpx.Client) -> None:
    api, headers = informatica_login(emu, http)
    meter = "a2nB20h1o0lc7k3P9xtWS8"  # Data Integration
    body = {
        "startDate": "2026-10-01T00:00:00Z",
        "endDate": "2026-10-10T00:00:00Z",
        "jobType": "ASSET",
        "meterId": meter,
    }
    job_id = _export(http, api, headers, body).json()["jobId"]
    truth = emu.ground_truth("informatica", job_id=job_id)
    assert len(truth) > 0 and set(truth["Meter ID"]) == {meter}


@pytest.mark.parametrize(
    "job_type, days, ok",
    [
        ("SUMMARY", 180, True),
        ("SUMMARY", 181, False),
        ("ASSET", 30, True),
        ("PROJECT_FOLDER", 31, False),
    ],
)
def test_span_limits_per_job_type(
    emu: Emulator, http: httpx.Client, job_type: str, days: int, ok: bool
) -> None:
    api, headers = informatica_login(emu, http)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    end = datetime.fromtimestamp(start.timestamp() + days * 86400, UTC)
    body = {
        "startDate": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "endDate": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "jobType": job_type,
    }
    r = _export(http, api, headers, body)
    if ok:
        assert r.status_code == 200
    else:
        assert r.status_code == 400
        assert "maximum" in check("informatica_error", r.json())["error"]["message"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({**OCT, "jobType": "DAILY"}, "jobType"),
        ({"endDate": OCT["endDate"]}, "startDate"),
        ({**OCT, "startDate": "01/10/2026"}, "startDate"),
        ({**OCT, "combinedMeterUsage": "YES"}, "combinedMeterUsage"),
        (
            {**OCT, "jobType": "ASSET", "endDate": "2026-10-20T00:00:00Z", "meterId": "nope"},
            "meterId",
        ),
    ],
)
def test_bad_export_requests_are_400_naming_the_field(
    emu: Emulator, http: httpx.Client, body: dict, field: str
) -> None:
    api, headers = informatica_login(emu, http)
    r = _export(http, api, headers, body)
    assert r.status_code == 400
    assert field in check("informatica_error", r.json())["error"]["message"]


def test_a_sixth_active_job_is_refused_until_one_finishes(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    emu = start_emulator(job_seconds=60.0)
    api, headers = informatica_login(emu, http)
    for _ in range(5):
        assert _export(http, api, headers, OCT).status_code == 200
    r = _export(http, api, headers, OCT)
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert "5" in check("informatica_error", r.json())["error"]["message"]
    emu.advance(61)
    assert _export(http, api, headers, OCT).status_code == 200


@pytest.mark.slow
def test_job_level_export_needs_a_meter_or_all_meters(emu: Emulator, http: httpx.Client) -> None:
    api, headers = informatica_login(emu, http)
    path = "ExportServiceJobLevelMeteringData"
    r = _export(http, api, headers, OCT, path)
    assert r.status_code == 400
    assert "meterId" in check("informatica_error", r.json())["error"]["message"]
    assert (
        _export(http, api, headers, {**OCT, "meterId": "1gUb7oRmAAXbpqeR8uRyye"}, path).status_code
        == 400
    )
    r = _export(http, api, headers, {**OCT, "allMeters": "TRUE"}, path)
    assert r.status_code == 200
    job = check("informatica_job", r.json())
    names = _zip(http, api, headers, job["jobId"]).namelist()
    assert names and all(n.startswith("MeteringJobLevel_") for n in names)
    meter = "3uIRkIV5Rt9lBbAPzeR5Kj"  # Application Integration: its own column set
    job_id = _export(http, api, headers, {**OCT, "meterId": meter}, path).json()["jobId"]
    archive = _zip(http, api, headers, job_id)
    assert archive.namelist() == [f"MeteringJobLevel_{meter}.csv"]
    assert archive.read(archive.namelist()[0]).startswith(b"Org ID,Executed asset,Date (in UTC)")


@pytest.mark.slow
def test_older_all_linked_orgs_endpoint_exports_every_org(
    emu: Emulator, http: httpx.Client
) -> None:
    api, headers = informatica_login(emu, http)
    r = _export(http, api, headers, OCT, "ExportMeteringDataAllLinkedOrgsAcrossRegion")
    assert r.status_code == 200
    assert len(_zip(http, api, headers, r.json()["jobId"]).namelist()) == 3


@pytest.mark.slow
def test_partial_success_names_the_missing_org_and_leaves_it_out(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    emu = start_emulator(faults={"partial_report": 1.0})
    api, headers = informatica_login(emu, http)
    job_id = _export(http, api, headers, {**OCT, "jobType": "SUMMARY"}).json()["jobId"]
    job = _job(http, api, headers, job_id)
    assert job["status"] == "PARTIAL_SUCCESS"
    orgs = list(emu.state.data.world.informatica.orgs["org_id"])
    missing = [o for o in orgs if o in job["errorMessage"]]
    assert len(missing) == 1
    names = _zip(http, api, headers, job_id).namelist()
    assert f"MeteringSummary_{missing[0]}.csv" not in names and len(names) == 2
    assert missing[0] not in set(emu.ground_truth("informatica", job_id=job_id)["OrgId"])
    # One org only: nothing can be partial.
    single = _export(
        http, api, headers, {**OCT, "jobType": "ASSET", "endDate": "2026-10-20T00:00:00Z"}
    )
    assert _job(http, api, headers, single.json()["jobId"])["status"] == "SUCCESS"


def test_failed_job_has_an_error_message_and_no_download(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    emu = start_emulator(faults={"report_failure": 1.0})
    api, headers = informatica_login(emu, http)
    job_id = _export(http, api, headers, OCT).json()["jobId"]
    job = _job(http, api, headers, job_id)
    assert job["status"] == "FAILED" and job["errorMessage"]
    r = http.get(f"{api}{METERING}/ExportMeteringData/{job_id}/download", headers=headers)
    assert r.status_code == 400


@pytest.mark.slow
def test_download_is_gone_after_three_days(emu: Emulator, http: httpx.Client) -> None:
    api, headers = informatica_login(emu, http)
    job_id = _export(http, api, headers, OCT).json()["jobId"]
    _zip(http, api, headers, job_id)
    emu.advance(3 * 86400 + 1)
    api, headers = informatica_login(emu, http)
    r = http.get(f"{api}{METERING}/ExportMeteringData/{job_id}/download", headers=headers)
    assert r.status_code == 404
    check("informatica_error", r.json())


def test_unknown_job_is_404(emu: Emulator, http: httpx.Client) -> None:
    api, headers = informatica_login(emu, http)
    r = http.get(f"{api}{METERING}/ExportMeteringData/doesNotExist0000000000", headers=headers)
    assert r.status_code == 404
    check("informatica_error", r.json())


def test_job_id_key_can_be_spelled_as_in_the_docs_tables(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    emu = start_emulator(informatica_job_id_key="jobID")
    api, headers = informatica_login(emu, http)
    job = check("informatica_job", _export(http, api, headers, OCT).json())
    assert "jobID" in job and "jobId" not in job


# --- IPU alerts ------------------------------------------------------------------------------


@pytest.mark.slow
def test_ipu_alerts_report_this_months_consumption_per_org(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    emu = start_emulator(now=NOW)
    api, headers = informatica_login(emu, http)
    orgs = emu.state.data.world.informatica.orgs
    home = orgs["org_id"].iloc[0]
    r = http.get(f"{api}/public/core/v3/metering/ipuAlert/org('{home}')", headers=headers)
    assert r.status_code == 200
    alerts = check("informatica_ipu_alert", r.json())
    assert [a["orgId"] for a in alerts] == list(orgs["org_id"])
    assert alerts[0]["parentOrgId"] is None and alerts[1]["parentOrgId"] == home
    truth = emu.ground_truth(
        "informatica",
        startDate="2026-11-01T00:00:00Z",
        endDate="2026-11-20T00:00:00Z",
        jobType="SUMMARY",
    )
    absolute = alerts[0]
    assert absolute["ipuThresholdPrefType"] == "ABSOLUTE"
    expected = truth.loc[truth["OrgId"] == home, "IPU"].sum()
    assert absolute["ipuConsumed"] == pytest.approx(expected, abs=1e-3)

    r = http.get(
        f"{api}/public/core/v3/metering/ipuAlert/org('{home}')/viewTagsPreference", headers=headers
    )
    tags = check("informatica_ipu_tags", r.json())
    projects = [t for t in tags if t["folderName"] is None]
    folders = [t for t in tags if t["folderName"] is not None]
    assert projects and folders
    assert sum(t["currentConsumption"] for t in projects) == pytest.approx(
        sum(t["currentConsumption"] for t in folders), abs=1e-2
    )


def test_ipu_alert_for_an_unknown_org_is_404(emu: Emulator, http: httpx.Client) -> None:
    api, headers = informatica_login(emu, http)
    r = http.get(f"{api}/public/core/v3/metering/ipuAlert/org('nope')", headers=headers)
    assert r.status_code == 404
    check("informatica_error", r.json())
    r = http.get(f"{api}/public/core/v3/metering/ipuAlert/nope", headers=headers)
    assert r.status_code == 400
