"""Running the emulator: start/stop without leaks, concurrency, CLI, determinism, secrets."""

from __future__ import annotations

import asyncio
import gzip
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from emulator_helpers import (
    METERING,
    assert_stopped,
    check,
    emu,
    here_headers,
    here_realm_url,
    http,
    informatica_login,
    particle_headers,
    sign_here_token_request,
    start_emulator,
)

from usage_analysis.cli import build_parser
from usage_analysis.emulator import Emulator, create_app, running
from usage_analysis.emulator.cli import run
from usage_analysis.errors import ConfigurationError, InvalidParameter

__all__ = ["emu", "http", "start_emulator"]

OCT = {"startDate": "2026-10-01T00:00:00", "endDate": "2026-10-31T00:00:00"}
CONTRACT_ENV = {
    "PARTICLE_ACCESS_TOKEN",
    "PARTICLE_API_URL",
    "HERE_TOKEN",
    "HERE_REALM_ID",
    "HERE_API_URL",
    "HERE_TOKEN_URL",
    "INFORMATICA_USERNAME",
    "INFORMATICA_PASSWORD",
    "INFORMATICA_LOGIN_URL",
}


def test_running_gives_urls_credentials_and_env_then_stops_cleanly() -> None:
    before = {t.ident for t in threading.enumerate() if t.ident is not None}
    with running(seed=7, speed="fast", faults=0.0, port=0) as emu:
        port = emu.port
        assert emu.base_url == f"http://127.0.0.1:{port}"
        assert emu.particle_api_url == f"{emu.base_url}/particle"
        assert emu.here_api_url == f"{emu.base_url}/here/v2"
        assert emu.here_token_url == f"{emu.base_url}/here/oauth2/token"
        assert emu.informatica_login_url == f"{emu.base_url}/informatica/saas/public/core/v3/login"
        assert set(emu.credentials) == {"particle", "here", "informatica"}
        assert {"token", "org"} <= set(emu.credentials["particle"])
        assert {"token", "realm_id", "access_key_id", "access_key_secret"} <= set(
            emu.credentials["here"]
        )
        env = emu.env()
        assert set(env) >= CONTRACT_ENV
        assert env["PARTICLE_API_URL"] == emu.particle_api_url
        with httpx.Client() as client:
            assert client.get(emu.base_url + "/").status_code == 200
    assert port is not None
    assert_stopped([port], before)
    with pytest.raises(ConfigurationError):
        _ = emu.base_url


@pytest.mark.slow  # fifty threads polling to the end
def test_fifty_concurrent_pollers_finish_without_errors(
    start_emulator: Callable[..., Emulator],
) -> None:
    emu = start_emulator(speed="fast")
    headers = here_headers(emu)

    def poller(i: int) -> int:
        params = {**OCT, "detailLevel": "day", "appId": None} if i % 2 else OCT
        params = {k: v for k, v in params.items() if v is not None}
        with httpx.Client(timeout=30) as client:
            r = client.post(here_realm_url(emu) + "/reports", params=params, headers=headers)
            assert r.status_code == 201, r.text
            location = r.headers["Location"]
            deadline = time.monotonic() + 30
            while True:
                status = client.get(location, headers=headers)
                assert status.status_code == 200, status.text
                if status.json()["status"] == "completed":
                    break
                assert time.monotonic() < deadline
                time.sleep(0.05)
            out = client.get(status.json()["resultHref"], headers=headers)
            assert out.status_code == 200
            return gzip.decompress(out.content).count(b"\n") - 1

    with ThreadPoolExecutor(max_workers=50) as pool:
        rows = list(pool.map(poller, range(50)))
    assert len(rows) == 50
    day_rows = len(emu.ground_truth("here", **OCT, detailLevel="day"))
    assert set(rows[1::2]) == {day_rows}
    assert all(status < 400 for _m, _p, status in emu.requests_log)
    polls = [
        p for m, p, _s in emu.requests_log if m == "GET" and p.split("/")[-1].startswith("REPORT-")
    ]
    assert len(polls) >= 100  # every poller waited for its report at least once


def test_requests_log_and_reprs_never_show_secrets(emu: Emulator, http: httpx.Client) -> None:
    h = particle_headers(emu)
    sa = http.get(f"{emu.particle_api_url}/v1/user/service_agreements", headers=h).json()["data"][0]
    rid = http.post(
        f"{emu.particle_api_url}/v1/user/service_agreements/{sa['id']}/usage_reports",
        headers=h,
        json={
            "report_type": "devices",
            "date_period_start": "2026-10-01",
            "date_period_end": "2026-10-02",
        },
    ).json()["data"]["id"]
    url = http.get(f"{emu.particle_api_url}/v1/user/usage_reports/{rid}", headers=h).json()["data"][
        "attributes"
    ]["download_url"]
    assert http.get(url).status_code == 200
    signature = url.split("X-Amz-Signature=")[1]
    _api, infa = informatica_login(emu, http)
    token_url, token_headers, body = sign_here_token_request(emu)
    issued = http.post(token_url, headers=token_headers, content=body).json()["access_token"]
    secrets = [
        emu.credentials["particle"]["token"],
        emu.credentials["here"]["token"],
        emu.credentials["here"]["access_key_secret"],
        emu.credentials["informatica"]["password"],
        infa["INFA-SESSION-ID"],
        signature,
        issued,
    ]
    text = repr(emu.requests_log) + repr(emu) + repr(emu.state.credentials) + repr(emu.options)
    for secret in secrets:
        assert secret not in text


@pytest.mark.slow
def test_the_same_seed_gives_the_same_credentials_ids_and_files(
    start_emulator: Callable[..., Emulator], http: httpx.Client
) -> None:
    def informatica_run(emu: Emulator) -> tuple[str, bytes]:
        api, headers = informatica_login(emu, http)
        body = {"startDate": "2026-10-01T00:00:00Z", "endDate": "2026-10-05T00:00:00Z"}
        job_id = http.post(
            f"{api}{METERING}/ExportMeteringData", headers=headers, json=body
        ).json()["jobId"]
        data = http.get(
            f"{api}{METERING}/ExportMeteringData/{job_id}/download", headers=headers
        ).content
        return job_id, data

    a, b, c = start_emulator(seed=7), start_emulator(seed=7), start_emulator(seed=8)
    assert a.credentials == b.credentials != c.credentials
    assert informatica_run(a) == informatica_run(b)
    assert informatica_run(a)[0] != informatica_run(c)[0]


def test_bad_options_are_refused_naming_the_option() -> None:
    with pytest.raises(InvalidParameter, match="warp"):
        Emulator(warp=9)
    with pytest.raises(InvalidParameter, match="speed"):
        Emulator(speed="ludicrous")
    with pytest.raises(InvalidParameter, match="session_idle"):
        Emulator(session_idle=-1)
    emu = Emulator()
    with pytest.raises(InvalidParameter, match="seconds"):
        emu.advance(-5)


def test_a_busy_port_is_a_configuration_error(start_emulator: Callable[..., Emulator]) -> None:
    first = start_emulator()
    with pytest.raises(ConfigurationError, match=str(first.port)):
        Emulator(port=first.port).start()


def test_create_app_serves_under_any_asgi_server() -> None:
    app = create_app(seed=3, speed="instant")
    state = app.state.emulator
    token = state.credentials.particle_token

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as client:
            return await client.get(
                "/particle/v1/user/service_agreements", headers={"Authorization": f"Bearer {token}"}
            )

    r = asyncio.run(call())
    assert r.status_code == 200
    assert r.json()["data"][0]["id"] == str(41_000 + 3)
    assert state.requests_log == [("GET", "/particle/v1/user/service_agreements", 200)]


def test_emulator_command_is_registered_with_its_options() -> None:
    args = build_parser().parse_args(
        ["emulator", "--port", "8765", "--speed", "fast", "--faults", "0.1", "--seed", "7"]
    )
    assert args.func is run
    assert (args.port, args.speed, args.faults, args.seed) == (8765, "fast", 0.1, 7)


@pytest.mark.slow  # the CLI in a process of its own
def test_emulator_command_serves_until_interrupted(tmp_path: Path) -> None:
    env_file = tmp_path / "emulator.env"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "usage_analysis.cli",
            "emulator",
            "--port",
            "0",
            "--speed",
            "instant",
            "--env-file",
            str(env_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", first)
        assert match, first
        port = int(match.group(1))
        deadline = time.monotonic() + 20
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        values = dict(
            line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line
        )
        token = values["PARTICLE_ACCESS_TOKEN"].strip("'")
        r = httpx.get(
            f"http://127.0.0.1:{port}/particle/v1/user/service_agreements",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200
        assert os.stat(env_file).st_mode & 0o777 == 0o600
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    printed = first + out + err
    assert token not in printed
    assert values["INFORMATICA_PASSWORD"].strip("'") not in printed
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/")


def test_unknown_paths_and_methods_answer_in_the_providers_error_shape(
    emu: Emulator, http: httpx.Client
) -> None:
    r = http.get(f"{emu.particle_api_url}/v1/user/nothing")
    assert r.status_code == 404
    check("particle_error", r.json())
    r = http.delete(f"{emu.particle_api_url}/v1/user/service_agreements")
    assert r.status_code == 405
    check("particle_error", r.json())
    r = http.get(f"{emu.here_api_url}/nothing")
    assert r.status_code == 404
    check("here_error", r.json())
    r = http.get(f"{emu.base_url}/informatica/saas/public/core/v3/nothing")
    assert r.status_code == 404
    check("informatica_error", r.json())
