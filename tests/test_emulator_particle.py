"""The emulator's Particle API over real HTTP: agreements, reports, limits, links, notifications."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pandas as pd
import pytest
from emulator_helpers import check, emu, http, particle_headers, start_emulator

from usage_analysis.emulator import Emulator
from usage_analysis.sample_data import particle_csv

__all__ = ["emu", "http", "start_emulator"]

NOW = datetime(2026, 10, 30, 12, 0, tzinfo=UTC)
V1 = "/v1"


def _agreement(emu: Emulator, http: httpx.Client, scope: str = "user") -> dict:
    path = "/v1/user" if scope == "user" else f"/v1/orgs/{emu.credentials['particle']['org']}"
    r = http.get(f"{emu.particle_api_url}{path}/service_agreements", headers=particle_headers(emu))
    assert r.status_code == 200, r.text
    return check("particle_service_agreements", r.json())["data"][0]


def _request(
    emu: Emulator, http: httpx.Client, body: dict, *, scope: str = "user"
) -> httpx.Response:
    sa = _agreement(emu, http, scope)
    path = "/v1/user" if scope == "user" else f"/v1/orgs/{emu.credentials['particle']['org']}"
    return http.post(
        f"{emu.particle_api_url}{path}/service_agreements/{sa['id']}/usage_reports",
        headers=particle_headers(emu),
        json=body,
    )


def _status(emu: Emulator, http: httpx.Client, report_id: str, *, scope: str = "user") -> dict:
    path = "/v1/user" if scope == "user" else f"/v1/orgs/{emu.credentials['particle']['org']}"
    r = http.get(
        f"{emu.particle_api_url}{path}/usage_reports/{report_id}", headers=particle_headers(emu)
    )
    assert r.status_code == 200, r.text
    return check("particle_usage_report", r.json())["data"]


def _read(content: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(content), dtype={"Device ID": str})


OCTOBER = {
    "report_type": "devices",
    "date_period_start": "2026-10-01",
    "date_period_end": "2026-10-15",
}


def test_service_agreements_give_id_and_current_billing_period(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    emu = start_emulator(now=NOW)
    user = _agreement(emu, http, "user")
    org = _agreement(emu, http, "org")
    assert user["id"] != org["id"]
    for sa in (user, org):
        a = sa["attributes"]
        assert (a["current_billing_period_start"], a["current_billing_period_end"]) == (
            "2026-10-01",
            "2026-10-31",
        )
        assert a["next_billing_period_start"] == "2026-11-01"
    assert user["attributes"]["pricing_terms"]["messaging"]["max_messages"] == 100_000
    assert org["attributes"]["pricing_terms"]["messaging"]["max_messages"] % 720_000 == 0


@pytest.mark.parametrize(
    "headers, description",
    [({}, "not found"), ({"Authorization": "Bearer 0123456789abcdef"}, "invalid")],
)
def test_missing_or_wrong_token_is_a_particle_401(
    emu: Emulator, http: httpx.Client, headers: dict, description: str
) -> None:
    for method, path in (
        ("GET", "/v1/user/service_agreements"),
        ("POST", "/v1/user/service_agreements/1/usage_reports"),
        ("GET", "/v1/user/usage_reports/1001"),
        ("GET", "/v1/user/service_agreements/1/notifications"),
    ):
        r = http.request(method, emu.particle_api_url + path, headers=headers, json={})
        assert r.status_code == 401
        body = check("particle_auth_error", r.json())
        assert description in body["error_description"]


def test_deprecated_query_string_token_is_still_accepted(emu: Emulator, http: httpx.Client) -> None:
    token = emu.credentials["particle"]["token"]
    r = http.get(
        f"{emu.particle_api_url}/v1/user/service_agreements", params={"access_token": token}
    )
    assert r.status_code == 200


def test_unknown_org_and_unknown_agreement_are_404(emu: Emulator, http: httpx.Client) -> None:
    h = particle_headers(emu)
    r = http.get(f"{emu.particle_api_url}/v1/orgs/not-my-org/service_agreements", headers=h)
    assert r.status_code == 404
    check("particle_error", r.json())
    r = http.post(
        f"{emu.particle_api_url}/v1/user/service_agreements/999/usage_reports",
        headers=h,
        json=OCTOBER,
    )
    assert r.status_code == 404
    check("particle_error", r.json())
    r = http.get(f"{emu.particle_api_url}/v1/user/usage_reports/424242", headers=h)
    assert r.status_code == 404


@pytest.mark.slow
def test_report_is_pending_then_available_with_a_download_url(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    emu = start_emulator(job_seconds=30.0, now=NOW)
    r = _request(emu, http, OCTOBER)
    assert r.status_code == 202
    created = check("particle_usage_report", r.json())["data"]
    assert created["type"] == "usage_report"
    assert created["attributes"]["state"] == "pending"
    assert created["attributes"]["download_url"] is None
    assert created["attributes"]["expires_at"] is None
    # Documented: the dates at the top level, service_agreement_id an integer.
    assert created["attributes"]["date_period_start"] == "2026-10-01"
    assert isinstance(created["attributes"]["service_agreement_id"], int)
    assert set(created["attributes"]["report_params"]) == {"devices", "products", "recipient_list"}

    assert _status(emu, http, created["id"])["attributes"]["state"] == "pending"
    emu.advance(29)
    assert _status(emu, http, created["id"])["attributes"]["download_url"] is None
    emu.advance(2)
    ready = _status(emu, http, created["id"])["attributes"]
    assert ready["state"] == "available"
    assert ready["download_url"].startswith(emu.base_url + "/particle/downloads/")
    assert ready["expires_at"] is not None


def test_download_needs_no_authorization_and_holds_the_ground_truth_rows(
    emu: Emulator, http: httpx.Client
) -> None:
    report_id = _request(emu, http, OCTOBER).json()["data"]["id"]
    url = _status(emu, http, report_id)["attributes"]["download_url"]
    r = http.get(url, headers={"Accept": "text/csv"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    truth = emu.ground_truth("particle", **OCTOBER)
    assert r.content == particle_csv(truth)
    got = _read(r.content)
    assert len(got) == len(truth) > 0
    assert got["Total Data Operations"].sum() == truth["Total Data Operations"].sum()
    assert got["Date"].min() == "2026-10-01" and got["Date"].max() == "2026-10-15"
    assert emu.ground_truth("particle", report_id=report_id).equals(truth)


@pytest.mark.slow
def test_reports_honour_report_type_and_device_and_product_filters(
    emu: Emulator, http: httpx.Client
) -> None:
    def download(body: dict, scope: str) -> pd.DataFrame:
        rid = _request(emu, http, body, scope=scope).json()["data"]["id"]
        url = _status(emu, http, rid, scope=scope)["attributes"]["download_url"]
        return _read(http.get(url).content)

    org_devices = download(OCTOBER, "org")
    assert org_devices["Product ID"].notna().all()  # the org report covers product devices
    sandbox = download(OCTOBER, "user")
    assert sandbox["Product ID"].isna().all()  # the sandbox report, the user's own devices
    assert set(org_devices["Device ID"]).isdisjoint(sandbox["Device ID"])

    products = download({**OCTOBER, "report_type": "products"}, "org")
    assert list(products.columns) == [
        "Date",
        "Product ID",
        "Product Name",
        "Devices",
        "Total Data Operations",
    ]
    assert products["Total Data Operations"].sum() == org_devices["Total Data Operations"].sum()

    two = sorted(org_devices["Device ID"].unique())[:2]
    only = download({**OCTOBER, "devices": two}, "org")
    assert sorted(only["Device ID"].unique()) == two
    product = int(org_devices["Product ID"].iloc[0])
    one_product = download({**OCTOBER, "products": [product]}, "org")
    assert set(one_product["Product ID"]) == {product}
    expected = org_devices[org_devices["Product ID"] == product]["Total Data Operations"].sum()
    assert one_product["Total Data Operations"].sum() == expected


@pytest.mark.slow
def test_report_range_ends_at_the_emulators_today(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    emu = start_emulator(now=NOW)
    body = {
        "report_type": "devices",
        "date_period_start": "2026-10-25",
        "date_period_end": "2026-11-30",
    }
    rid = _request(emu, http, body).json()["data"]["id"]
    got = _read(http.get(_status(emu, http, rid)["attributes"]["download_url"]).content)
    assert got["Date"].max() == "2026-10-30"


@pytest.mark.parametrize(
    "body, field",
    [
        ({**OCTOBER, "report_type": "device"}, "report_type"),
        ({**OCTOBER, "date_period_start": "2026-10-1"}, "date_period_start"),
        ({**OCTOBER, "date_period_end": "2026-02-30"}, "date_period_end"),
        ({**OCTOBER, "date_period_end": "2026-09-30"}, "date_period_end"),
        ({**OCTOBER, "devices": "abc"}, "devices"),
        ({k: v for k, v in OCTOBER.items() if k != "date_period_start"}, "date_period_start"),
    ],
)
def test_bad_report_parameters_are_400_naming_the_field(
    emu: Emulator, http: httpx.Client, body: dict, field: str
) -> None:
    r = _request(emu, http, body)
    assert r.status_code == 400
    assert field in check("particle_error", r.json())["errors"][0]["detail"]


def test_a_body_that_is_not_json_is_400(emu: Emulator, http: httpx.Client) -> None:
    sa = _agreement(emu, http)
    r = http.post(
        f"{emu.particle_api_url}/v1/user/service_agreements/{sa['id']}/usage_reports",
        headers={**particle_headers(emu), "Content-Type": "application/json"},
        content=b"{not json",
    )
    assert r.status_code == 400
    check("particle_error", r.json())


@pytest.mark.slow
def test_a_fourth_outstanding_report_is_refused_with_429_until_one_finishes(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    emu = start_emulator(job_seconds=100.0)
    for _ in range(3):
        assert _request(emu, http, OCTOBER).status_code == 202
    r = _request(emu, http, OCTOBER)
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 100
    body = check("particle_error", r.json())
    assert body["errors"][0]["code"] == "too_many_outstanding_reports"
    assert "3 outstanding" in body["errors"][0]["detail"]
    emu.advance(101)
    assert _request(emu, http, OCTOBER).status_code == 202


@pytest.mark.slow
def test_presigned_link_expires_and_a_new_status_call_gives_a_fresh_one(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    emu = start_emulator(particle_url_lifetime=600.0)
    rid = _request(emu, http, OCTOBER).json()["data"]["id"]
    old = _status(emu, http, rid)["attributes"]["download_url"]
    emu.advance(601)
    r = http.get(old)
    assert r.status_code == 410
    check("particle_error", r.json())
    new = _status(emu, http, rid)["attributes"]["download_url"]
    assert new != old
    sig_old = parse_qs(urlsplit(old).query)["X-Amz-Signature"][0]
    sig_new = parse_qs(urlsplit(new).query)["X-Amz-Signature"][0]
    assert len(sig_new) >= 40 and sig_new != sig_old
    assert http.get(new).status_code == 200


def test_tampered_or_missing_signature_is_403(emu: Emulator, http: httpx.Client) -> None:
    rid = _request(emu, http, OCTOBER).json()["data"]["id"]
    url = _status(emu, http, rid)["attributes"]["download_url"]
    assert http.get(url[:-4] + "AAAA").status_code == 403
    assert http.get(url.split("?")[0]).status_code == 403


@pytest.mark.slow
def test_report_is_deleted_after_seven_days(emu: Emulator, http: httpx.Client) -> None:
    rid = _request(emu, http, OCTOBER).json()["data"]["id"]
    url = _status(emu, http, rid)["attributes"]["download_url"]
    emu.advance(6 * 86400)
    assert _status(emu, http, rid)["attributes"]["state"] == "available"
    emu.advance(86400 + 1)
    gone = _status(emu, http, rid)["attributes"]
    assert gone["state"] == "expired" and gone["download_url"] is None
    r = http.get(url)
    assert r.status_code == 404
    check("particle_error", r.json())


def test_failed_report_has_no_download_url(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    emu = start_emulator(faults={"report_failure": 1.0})
    rid = _request(emu, http, OCTOBER).json()["data"]["id"]
    attrs = _status(emu, http, rid)["attributes"]
    assert attrs["state"] == "failed" and attrs["download_url"] is None


def test_download_refuses_a_request_that_does_not_accept_csv(
    emu: Emulator, http: httpx.Client
) -> None:
    rid = _request(emu, http, OCTOBER).json()["data"]["id"]
    url = _status(emu, http, rid)["attributes"]["download_url"]
    assert http.get(url, headers={"Accept": "application/json"}).status_code == 406


@pytest.mark.parametrize("field", ["status", "both"])
def test_status_field_name_can_follow_the_tutorial(
    start_emulator: Callable[..., Emulator], http: httpx.Client, field: str
) -> None:
    emu = start_emulator(particle_state_field=field)
    rid = _request(emu, http, OCTOBER).json()["data"]["id"]
    attrs = _status(emu, http, rid)["attributes"]
    assert attrs["status"] == "available"
    assert ("state" in attrs) == (field == "both")


def test_user_reports_are_not_visible_on_the_org_path(emu: Emulator, http: httpx.Client) -> None:
    rid = _request(emu, http, OCTOBER).json()["data"]["id"]
    org = emu.credentials["particle"]["org"]
    r = http.get(
        f"{emu.particle_api_url}/v1/orgs/{org}/usage_reports/{rid}", headers=particle_headers(emu)
    )
    assert r.status_code == 404


@pytest.mark.slow
def test_notifications_list_the_thresholds_crossed_this_period(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    emu = start_emulator(now=NOW)
    org = emu.credentials["particle"]["org"]
    sa = _agreement(emu, http, "org")
    r = http.get(
        f"{emu.particle_api_url}/v1/orgs/{org}/service_agreements/{sa['id']}/notifications",
        headers=particle_headers(emu),
    )
    assert r.status_code == 200
    data = check("particle_notifications", r.json())["data"]
    allowance = sa["attributes"]["pricing_terms"]["messaging"]["max_messages"]
    truth = emu.ground_truth(
        "particle",
        scope="org",
        report_type="devices",
        date_period_start="2026-10-01",
        date_period_end="2026-10-30",
    )
    used = truth["Total Data Operations"].sum()
    expected = [p for p in (70, 90, 100) if used >= p / 100 * allowance]
    assert expected, "the seeded October should cross at least one threshold"
    percents = [n["attributes"]["details"]["hierarchy_info"]["priority"] for n in data]
    assert percents == expected
    assert [n["attributes"]["event_name"] for n in data] == [
        f"data_operations_{p}_percent" for p in expected
    ]
    summary = sa["attributes"]["current_usage_summary"]["connectivity"]["all"]
    assert summary["device_messages"] == used

    # The sandbox's few devices stay far below the free plan's 100,000 operations.
    user_sa = _agreement(emu, http, "user")
    r = http.get(
        f"{emu.particle_api_url}/v1/user/service_agreements/{user_sa['id']}/notifications",
        headers=particle_headers(emu),
    )
    assert r.status_code == 200
    assert check("particle_notifications", r.json())["data"] == []
