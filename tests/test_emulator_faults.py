"""Fault injection: every kind, provider-shaped, deterministic with the seed, switchable at run time."""

from __future__ import annotations

import gzip
import io
import time
import zipfile
from collections.abc import Callable

import httpx
import pytest
from emulator_helpers import (
    METERING,
    check,
    here_headers,
    here_realm_url,
    http,
    informatica_login,
    particle_headers,
    start_emulator,
)

from usage_analysis.emulator import Emulator, FaultRates
from usage_analysis.errors import InvalidParameter

__all__ = ["http", "start_emulator"]

OCT = {"startDate": "2026-10-01T00:00:00", "endDate": "2026-10-31T00:00:00"}
P_OCT = {
    "report_type": "devices",
    "date_period_start": "2026-10-01",
    "date_period_end": "2026-10-31",
}


def _particle_download_url(emu: Emulator, http: httpx.Client) -> str:
    h = particle_headers(emu)
    sa = http.get(f"{emu.particle_api_url}/v1/user/service_agreements", headers=h).json()["data"][0]
    rid = http.post(
        f"{emu.particle_api_url}/v1/user/service_agreements/{sa['id']}/usage_reports",
        headers=h,
        json=P_OCT,
    ).json()["data"]["id"]
    r = http.get(f"{emu.particle_api_url}/v1/user/usage_reports/{rid}", headers=h)
    return str(r.json()["data"]["attributes"]["download_url"])


def _here_output_url(emu: Emulator, http: httpx.Client) -> str:
    rid = http.post(here_realm_url(emu) + "/reports", params=OCT, headers=here_headers(emu)).json()[
        "id"
    ]
    return f"{here_realm_url(emu)}/reports/{rid}/output"


def _informatica_download(emu: Emulator, http: httpx.Client) -> tuple[str, dict]:
    api, headers = informatica_login(emu, http)
    body = {"startDate": "2026-10-01T00:00:00Z", "endDate": "2026-10-31T00:00:00Z"}
    job_id = http.post(f"{api}{METERING}/ExportMeteringData", headers=headers, json=body).json()[
        "jobId"
    ]
    return f"{api}{METERING}/ExportMeteringData/{job_id}/download", headers


def test_rate_limit_fault_is_a_provider_shaped_429_with_retry_after(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    emu = start_emulator(retry_after=3.0)
    emu.set_faults(rate_limit=1.0)
    r = http.get(
        f"{emu.particle_api_url}/v1/user/service_agreements", headers=particle_headers(emu)
    )
    assert r.status_code == 429 and r.headers["Retry-After"] == "3"
    check("particle_error", r.json())
    r = http.get(
        here_realm_url(emu), params=OCT, headers=here_headers(emu, **{"X-Correlation-ID": "c-9"})
    )
    assert r.status_code == 429 and r.headers["Retry-After"] == "3"
    assert check("here_error", r.json())["correlationId"] == "c-9"
    assert r.headers["X-Correlation-ID"] == "c-9"
    r = http.post(emu.informatica_login_url, json=emu.credentials["informatica"])
    assert r.status_code == 429 and r.headers["Retry-After"] == "3"
    check("informatica_error", r.json())


@pytest.mark.slow
def test_server_error_fault_is_500_or_503_provider_shaped(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    emu = start_emulator(faults={"server_error": 1.0})
    statuses = set()
    for _ in range(12):
        r = http.get(here_realm_url(emu), params=OCT, headers=here_headers(emu))
        statuses.add(r.status_code)
        check("here_error", r.json())
        if r.status_code == 503:
            assert "Retry-After" in r.headers
    assert statuses == {500, 503}
    r = http.get(
        f"{emu.particle_api_url}/v1/user/service_agreements", headers=particle_headers(emu)
    )
    assert r.status_code in (500, 503)
    check("particle_error", r.json())


def test_dropped_connection_ends_the_body_early(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    emu = start_emulator()
    url = _here_output_url(emu, http)
    emu.set_faults(drop=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        http.get(url, headers=here_headers(emu))
    with pytest.raises(httpx.RemoteProtocolError):
        http.get(here_realm_url(emu), params=OCT, headers=here_headers(emu))
    emu.set_faults(None)
    assert http.get(url, headers=here_headers(emu)).status_code == 200  # the server is still fine


@pytest.mark.slow
def test_slow_fault_delays_the_answer(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    # Only the lower bound is timed: the sleep guarantees it, whatever the load on
    # the machine (an upper bound on the fast answer failed on a busy 2-core runner).
    emu = start_emulator(slow_seconds=1.5)
    url = f"{emu.particle_api_url}/v1/user/service_agreements"
    assert http.get(url, headers=particle_headers(emu)).status_code == 200
    emu.set_faults(slow=1.0)
    t0 = time.perf_counter()
    assert http.get(url, headers=particle_headers(emu)).status_code == 200
    assert time.perf_counter() - t0 >= 1.5
    with pytest.raises(httpx.ReadTimeout):
        http.get(url, headers=particle_headers(emu), timeout=0.1)


@pytest.mark.slow
def test_truncated_download_is_complete_http_but_an_incomplete_file(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    emu = start_emulator()
    p_url = _particle_download_url(emu, http)
    h_url = _here_output_url(emu, http)
    i_url, i_headers = _informatica_download(emu, http)
    full = {
        "particle": http.get(p_url).content,
        "here": http.get(h_url, headers=here_headers(emu)).content,
        "informatica": http.get(i_url, headers=i_headers).content,
    }
    emu.set_faults(truncate=1.0)
    # Not a download: untouched.
    assert (
        http.get(
            f"{emu.particle_api_url}/v1/user/service_agreements", headers=particle_headers(emu)
        ).status_code
        == 200
    )
    cut = {
        "particle": http.get(p_url),
        "here": http.get(h_url, headers=here_headers(emu)),
        "informatica": http.get(i_url, headers=i_headers),
    }
    for name, r in cut.items():
        assert r.status_code == 200
        assert int(r.headers["content-length"]) == len(r.content) < len(full[name])
        assert full[name].startswith(r.content)
    with pytest.raises((EOFError, OSError)):
        gzip.decompress(cut["here"].content)
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(cut["informatica"].content))


@pytest.mark.slow
def test_expired_download_fault_answers_gone_for_downloads_only(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    emu = start_emulator()
    p_url = _particle_download_url(emu, http)
    h_url = _here_output_url(emu, http)
    i_url, i_headers = _informatica_download(emu, http)
    emu.set_faults(expire=1.0)
    r = http.get(p_url)
    assert r.status_code == 410
    check("particle_error", r.json())
    r = http.get(h_url, headers=here_headers(emu))
    assert r.status_code == 404
    check("here_error", r.json())
    r = http.get(i_url, headers=i_headers)
    assert r.status_code == 404
    check("informatica_error", r.json())
    assert http.get(here_realm_url(emu), params=OCT, headers=here_headers(emu)).status_code == 200


def _statuses(emu: Emulator, http: httpx.Client, n: int = 40) -> list[int]:
    out = []
    for _ in range(n):
        try:
            out.append(
                http.get(
                    here_realm_url(emu), params={**OCT, "limit": 1}, headers=here_headers(emu)
                ).status_code
            )
        except httpx.RemoteProtocolError:
            out.append(-1)
    return out


@pytest.mark.slow
def test_faults_are_deterministic_with_the_seed(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    rates = {"rate_limit": 0.2, "server_error": 0.2, "drop": 0.1}
    first = _statuses(start_emulator(seed=7, faults=rates), http, 20)
    second = _statuses(start_emulator(seed=7, faults=rates), http, 20)
    other = _statuses(start_emulator(seed=8, faults=rates), http, 20)
    assert first == second
    assert first != other
    assert {429, 200} <= set(first)


@pytest.mark.slow
def test_faults_are_off_by_default_and_a_single_rate_spreads_across_kinds(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    emu = start_emulator(slow_seconds=0.01)
    assert set(_statuses(emu, http, 20)) == {200}
    spread = FaultRates.spread(0.1)
    request_kinds = spread.rate_limit + spread.server_error + spread.drop + spread.slow
    assert request_kinds == pytest.approx(0.1)
    assert spread.truncate > 0 and spread.expire > 0 and spread.report_failure > 0
    emu.set_faults(0.5)
    statuses = _statuses(emu, http, 20)
    assert 200 in statuses and set(statuses) - {200}


def test_bad_fault_rates_are_refused() -> None:
    with pytest.raises(InvalidParameter, match="rate_limit"):
        FaultRates(rate_limit=1.5)
    with pytest.raises(InvalidParameter, match="add up"):
        FaultRates(rate_limit=0.6, server_error=0.6)
    with pytest.raises(InvalidParameter, match="unknown fault"):
        FaultRates.coerce({"meteor": 0.1})
    with pytest.raises(InvalidParameter):
        FaultRates.spread(2)
