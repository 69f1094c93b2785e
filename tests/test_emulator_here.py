"""The emulator's HERE token endpoint and Usage API v2 over real HTTP."""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable
from datetime import UTC, date, datetime

import httpx
import pandas as pd
import pytest
from emulator_helpers import (
    check,
    emu,
    here_headers,
    here_realm_url,
    http,
    sign_here_token_request,
    start_emulator,
)

from usage_analysis.emulator import Emulator
from usage_analysis.emulator.truth import here_csv_fast
from usage_analysis.sample_data import here_csv, here_usage, make_world

__all__ = ["emu", "http", "start_emulator"]

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
OCT = {"startDate": "2026-10-01T00:00:00", "endDate": "2026-10-31T00:00:00"}


def _csv(content: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False)


# --- token ---------------------------------------------------------------------------


def test_signed_client_credentials_request_gets_a_working_token(
    emu: Emulator, http: httpx.Client
) -> None:
    url, headers, body = sign_here_token_request(emu)
    r = http.post(url, headers=headers, content=body)
    assert r.status_code == 200, r.text
    token = check("here_token", r.json())["access_token"]
    assert token != emu.credentials["here"]["token"]
    r = http.get(here_realm_url(emu), params=OCT, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200


def test_issued_token_expires(start_emulator: Callable[..., Emulator], http: httpx.Client) -> None:
    emu = start_emulator(here_token_lifetime=3600.0)
    url, headers, body = sign_here_token_request(emu)
    token = http.post(url, headers=headers, content=body).json()["access_token"]
    emu.advance(3601)
    r = http.get(here_realm_url(emu), params=OCT, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    check("here_auth_error", r.json())


def test_token_request_with_a_wrong_secret_unsigned_or_replayed_is_401(
    emu: Emulator, http: httpx.Client
) -> None:
    url, headers, body = sign_here_token_request(emu, secret="not-the-secret")
    r = http.post(url, headers=headers, content=body)
    assert r.status_code == 401
    assert check("here_token_error", r.json())["errorCode"] == 401300
    r = http.post(
        emu.here_token_url,
        content="grant_type=client_credentials",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 401
    url, headers, body = sign_here_token_request(emu)
    assert http.post(url, headers=headers, content=body).status_code == 200
    assert http.post(url, headers=headers, content=body).status_code == 401  # same nonce


# --- auth, realm, headers ------------------------------------------------------------------


def test_missing_or_wrong_bearer_token_is_401_unauthorized(
    emu: Emulator, http: httpx.Client
) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}):
        for path in ("", "/csv", "/reports", "/reports/REPORT-1001", "/reports/REPORT-1001/output"):
            r = http.get(here_realm_url(emu) + path, params=OCT, headers=headers)
            assert r.status_code == 401
            assert check("here_auth_error", r.json())["error"] == "Unauthorized"


def test_another_realm_is_E706001(emu: Emulator, http: httpx.Client) -> None:
    for realm in ("org0000000001", "bad!"):
        r = http.get(
            f"{emu.here_api_url}/usage/realms/{realm}", params=OCT, headers=here_headers(emu)
        )
        assert r.status_code == 400
        assert check("here_error", r.json())["code"] == "E706001"


def test_correlation_id_is_echoed_and_request_id_accepted(
    emu: Emulator, http: httpx.Client
) -> None:
    r = http.get(
        here_realm_url(emu),
        params=OCT,
        headers=here_headers(emu, **{"X-Correlation-ID": "corr-1", "X-Request-ID": "req-1"}),
    )
    assert r.headers["X-Correlation-ID"] == "corr-1"
    assert r.headers["X-Request-ID"] == "req-1"
    r = http.get(here_realm_url(emu), params=OCT, headers=here_headers(emu))
    generated = r.headers["X-Correlation-ID"]
    assert len(generated) >= 16
    r = http.get(here_realm_url(emu), params={**OCT, "limit": 101}, headers=here_headers(emu))
    assert r.json()["correlationId"] == r.headers["X-Correlation-ID"]


# --- search --------------------------------------------------------------------------------


@pytest.mark.slow
def test_json_search_pages_through_every_record(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    emu = start_emulator(now=NOW)
    params = {**OCT, "detailLevel": "day", "limit": 100}
    items: list[dict] = []
    offset = 0
    pages = 0
    while True:
        r = http.get(
            here_realm_url(emu), params={**params, "offset": offset}, headers=here_headers(emu)
        )
        assert r.status_code == 200
        page = check("here_usage_page", r.json())
        items += page["items"]
        pages += 1
        if "nextOffset" not in page:
            assert offset == page["lastOffset"]
            break
        offset = page["nextOffset"]
    truth = emu.ground_truth("here", kind="search", **{**OCT, "detailLevel": "day"})
    assert page["total"] == len(truth) == len(items)
    assert pages == -(-len(truth) // 100)
    got = sum(float(i["billableValue"]) for i in items)
    assert got == pytest.approx(truth["billableValue"].sum(), abs=1e-3)
    assert {i["usageDateTime"][:10] for i in items} == {f"2026-10-{d:02d}" for d in range(1, 32)}


def test_summarized_search_has_no_usage_date_time_and_usage_fields_filter(
    emu: Emulator, http: httpx.Client
) -> None:
    r = http.get(here_realm_url(emu), params={**OCT, "limit": 5}, headers=here_headers(emu))
    items = check("here_usage_page", r.json())["items"]
    assert items and all("usageDateTime" not in i for i in items)
    r = http.get(
        here_realm_url(emu),
        params={**OCT, "limit": 5, "usageFields": "featureId,billableValue"},
        headers=here_headers(emu),
    )
    assert all(set(i) == {"featureId", "billableValue"} for i in r.json()["items"])


@pytest.mark.parametrize(
    "params, code",
    [
        ({**OCT, "limit": 101}, "E706002"),
        ({**OCT, "limit": 0}, "E706002"),
        ({"startDate": "2026-10-01", "endDate": "yesterday"}, "E706003"),
        ({"startDate": "2026-10-01T00:00:00"}, "E706003"),
        ({"startDate": "2026-10-31T00:00:00", "endDate": "2026-10-01T00:00:00"}, "E706003"),
        ({"startDate": "2026-06-01T00:00:00", "endDate": "2026-09-05T00:00:00"}, "E706003"),
        ({**OCT, "groupBy": "appId,resource"}, "E706004"),
        ({**OCT, "detailLevel": "weekly"}, "E706000"),
        ({**OCT, "chargeType": "free"}, "E706000"),
        ({**OCT, "appId": "bad app!"}, "E706000"),
    ],
)
def test_invalid_search_parameters_get_HERE_error_codes(
    emu: Emulator, http: httpx.Client, params: dict, code: str
) -> None:
    r = http.get(here_realm_url(emu), params=params, headers=here_headers(emu))
    assert r.status_code == 400
    assert check("here_error", r.json())["code"] == code


def test_ninety_five_days_is_the_longest_span(emu: Emulator, http: httpx.Client) -> None:
    ok = {"startDate": "2026-06-01T00:00:00", "endDate": "2026-09-04T00:00:00", "limit": 1}
    assert http.get(here_realm_url(emu), params=ok, headers=here_headers(emu)).status_code == 200
    over = {**ok, "endDate": "2026-09-04T00:00:01"}
    assert http.get(here_realm_url(emu), params=over, headers=here_headers(emu)).status_code == 400


@pytest.mark.slow
def test_csv_search_is_the_labelled_csv_of_the_ground_truth(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    emu = start_emulator(now=NOW)
    params = {**OCT, "detailLevel": "day", "groupBy": "appId", "category": "Location Services"}
    r = http.get(here_realm_url(emu) + "/csv", params=params, headers=here_headers(emu))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.text.startswith('"Date and time (usageDateTime)","Org ID (realmId)"')
    truth = emu.ground_truth("here", kind="search", **params)
    assert r.content == here_csv(truth)
    got = _csv(r.content)
    assert set(got["Category (category)"]) == {"Location Services"}
    assert set(got["Project ID (projectHrn)"]) == {""}  # not grouped by project
    assert got["App ID (appId)"].ne("").all()


@pytest.mark.slow
def test_fast_csv_writer_matches_the_sample_data_renderer_byte_for_byte() -> None:
    world = make_world(11, here_apps=5)
    for detail in ("summarized", "hour", "day", "month"):
        for group_by in (None, ["project"], []):
            df = here_usage(
                world, date(2026, 3, 1), date(2026, 3, 3), detail_level=detail, group_by=group_by
            )
            assert here_csv_fast(df) == here_csv(df), (detail, group_by)
    subs = list(world.here.orgs["realm_id"])
    df = here_usage(world, date(2026, 3, 1), date(2026, 3, 2), sub_accounts=subs)
    assert here_csv_fast(df) == here_csv(df)


# --- reports -------------------------------------------------------------------------------


def _create(
    emu: Emulator, http: httpx.Client, params: dict, body: dict | None = None
) -> httpx.Response:
    return http.post(
        here_realm_url(emu) + "/reports", params=params, headers=here_headers(emu), json=body
    )


def _status(emu: Emulator, http: httpx.Client, report_id: str) -> dict:
    r = http.get(f"{here_realm_url(emu)}/reports/{report_id}", headers=here_headers(emu))
    assert r.status_code == 200
    return check("here_report_status", r.json())


@pytest.mark.slow
def test_report_is_created_in_progress_then_completed_with_gzip_output(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    emu = start_emulator(job_seconds=20.0, now=NOW)
    params = {**OCT, "detailLevel": "day"}
    r = _create(emu, http, params)
    assert r.status_code == 201
    created = check("here_report_created", r.json())
    assert created["status"] == "inProgress"
    assert r.headers["Location"] == f"{here_realm_url(emu)}/reports/{created['id']}"
    status = _status(emu, http, created["id"])
    assert status["status"] == "inProgress"
    assert status["parameters"]["startDate"] == OCT["startDate"]
    early = http.get(
        f"{here_realm_url(emu)}/reports/{created['id']}/output", headers=here_headers(emu)
    )
    assert early.status_code == 404
    check("here_error", early.json())

    emu.advance(21)
    status = _status(emu, http, created["id"])
    assert status["status"] == "completed"
    r = http.get(status["resultHref"], headers=here_headers(emu))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/x-gzip"
    assert f"{created['id']}.csv.gz" in r.headers["content-disposition"]
    csv_bytes = gzip.decompress(r.content)
    truth = emu.ground_truth("here", **params)
    assert csv_bytes == here_csv(truth)
    assert emu.ground_truth("here", report_id=created["id"]).equals(truth)


@pytest.mark.slow
def test_report_honours_filters_group_by_detail_level_and_sub_accounts(
    emu: Emulator, http: httpx.Client
) -> None:
    realm = emu.credentials["here"]["realm_id"]
    subs = [r for r in emu.state.data.world.here.orgs["realm_id"] if r != realm]

    def report(params: dict, body: dict | None = None) -> pd.DataFrame:
        rid = _create(emu, http, params, body).json()["id"]
        out = http.get(_status(emu, http, rid)["resultHref"], headers=here_headers(emu))
        return _csv(gzip.decompress(out.content))

    month = report({**OCT, "detailLevel": "month", "groupBy": "project"})
    # The documented form: no zone (UTC implied).
    assert set(month["Date and time (usageDateTime)"]) == {"2026-10-01T00:00:00"}
    assert set(month["App ID (appId)"]) == {""}
    summarized = report(OCT)
    assert "Date and time (usageDateTime)" not in summarized.columns
    billable = report({**OCT, "chargeType": "billable", "detailLevel": "day"})
    everything = report({**OCT, "detailLevel": "day"})
    assert len(billable) < len(everything)
    sub = report({**OCT, "detailLevel": "day"}, {"subAccounts": subs[:1]})
    assert set(sub["Org ID (realmId)"]) == {subs[0]}


def test_report_rejects_hour_detail_and_unknown_sub_accounts(
    emu: Emulator, http: httpx.Client
) -> None:
    r = _create(emu, http, {**OCT, "detailLevel": "hour"})
    assert r.status_code == 400
    check("here_error", r.json())
    r = _create(emu, http, OCT, {"subAccounts": ["org0000000000"]})
    assert r.status_code == 400
    assert check("here_error", r.json())["code"] == "E706001"


def test_failed_report_has_no_output(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    emu = start_emulator(faults={"report_failure": 1.0})
    rid = _create(emu, http, OCT).json()["id"]
    status = _status(emu, http, rid)
    assert status["status"] == "failed" and "resultHref" not in status
    r = http.get(f"{here_realm_url(emu)}/reports/{rid}/output", headers=here_headers(emu))
    assert r.status_code == 404


def test_report_is_archived_after_its_lifetime(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    emu = start_emulator(here_report_lifetime=86400.0)
    rid = _create(emu, http, OCT).json()["id"]
    assert _status(emu, http, rid)["status"] == "completed"
    emu.advance(86401)
    assert _status(emu, http, rid)["status"] == "archived"
    r = http.get(f"{here_realm_url(emu)}/reports/{rid}/output", headers=here_headers(emu))
    assert r.status_code == 404
    check("here_error", r.json())


def test_unknown_report_is_404(emu: Emulator, http: httpx.Client) -> None:
    r = http.get(f"{here_realm_url(emu)}/reports/REPORT-99999", headers=here_headers(emu))
    assert r.status_code == 404
    check("here_error", r.json())


@pytest.mark.slow
def test_report_list_is_paged_and_sorted(emu: Emulator, http: httpx.Client) -> None:
    ids = [_create(emu, http, OCT).json()["id"] for _ in range(3)]
    r = http.get(here_realm_url(emu) + "/reports", params={"limit": 2}, headers=here_headers(emu))
    page = check("here_report_list", r.json())
    # offset is a page number (the spec): the next page is 1, the last page 1.
    assert page["total"] == 3 and page["count"] == 2 and page["nextOffset"] == 1
    assert page["lastOffset"] == 1
    assert [i["id"] for i in page["items"]] == ids[::-1][:2]
    r = http.get(
        here_realm_url(emu) + "/reports",
        params={"limit": 2, "offset": 1},
        headers=here_headers(emu),
    )
    second = check("here_report_list", r.json())
    assert [i["id"] for i in second["items"]] == ids[::-1][2:]
    assert "nextOffset" not in second
    r = http.get(
        here_realm_url(emu) + "/reports",
        params={"sort": "asc", "limit": 100},
        headers=here_headers(emu),
    )
    assert [i["id"] for i in check("here_report_list", r.json())["items"]] == ids


@pytest.mark.slow
def test_a_report_of_more_than_a_million_records_is_capped_at_one_million(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    emu = start_emulator(here_apps=3900, now=NOW)
    params = {
        "startDate": "2026-06-01T00:00:00",
        "endDate": "2026-09-03T00:00:00",
        "detailLevel": "day",
    }
    rid = _create(emu, http, params).json()["id"]
    href = _status(emu, http, rid)["resultHref"]
    chunks = 0
    buf = io.BytesIO()
    with http.stream("GET", href, headers=here_headers(emu)) as r:
        assert r.status_code == 200
        for chunk in r.iter_raw():
            chunks += 1
            buf.write(chunk)
    assert chunks > 1  # streamed, not one write
    lines = gzip.decompress(buf.getvalue()).count(b"\n")
    assert lines == 1 + 1_000_000
    assert len(emu.ground_truth("here", report_id=rid)) == 1_000_000
