"""Redirects between two real origins: credentials never leave the origin they were sent to.

Server A listens on 127.0.0.1, server B is addressed as ``localhost``: each on its
own free port, so they are different origins (host and port).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from scripted_server import Scripted, reply, scripted_server

from usage_analysis.clients import FakeClock, HereClient, InformaticaClient, ParticleClient
from usage_analysis.clients._http import HTTP
from usage_analysis.errors import APIError, AuthenticationError

CREDENTIAL_HEADERS = ("authorization", "infa-session-id", "cookie", "x-api-key")


@pytest.fixture
def a() -> Iterator[Scripted]:
    with scripted_server("127.0.0.1") as server:
        yield server


@pytest.fixture
def b() -> Iterator[Scripted]:
    with scripted_server("localhost") as server:
        yield server


def _json(data: object, **headers: str) -> object:
    return reply(200, json.dumps(data).encode(), {"Content-Type": "application/json", **headers})


def _no_credentials(server: Scripted) -> None:
    assert server.seen, "the redirect target was never asked"
    for seen in server.seen:
        leaked = [h for h in CREDENTIAL_HEADERS if h in seen.headers]
        assert not leaked, f"{leaked} reached {server.url}{seen.path}"


def _informatica(a: Scripted) -> InformaticaClient:
    a.routes["/saas/public/core/v3/login"] = _json(
        {
            "userInfo": {"sessionId": "SESSION-SECRET-1", "orgId": "org1"},
            "products": [{"name": "Integration Cloud", "baseApiUrl": f"{a.url}/saas"}],
        },
        **{"Set-Cookie": "JSESSIONID=cookie-secret; Path=/"},
    )
    return InformaticaClient(
        username="u",
        password="PASSWORD-SECRET",
        login_url=f"{a.url}/saas/public/core/v3/login",
        clock=FakeClock(),
        schedule=0.01,
        journal=None,
    )


STATUS = "/saas/public/core/v3/license/metering/ExportMeteringData/JOB1"


@pytest.mark.slow
def test_informatica_status_redirected_to_another_host_gets_no_session_id(
    a: Scripted, b: Scripted
) -> None:
    client = _informatica(a)
    a.routes[STATUS] = reply(302, headers={"Location": f"{b.url}/elsewhere/JOB1"})
    b.routes["/elsewhere/JOB1"] = _json({"jobId": "JOB1", "status": "PROCESSING"})
    data = client._send("GET", "/public/core/v3/license/metering/ExportMeteringData/JOB1", what="s")
    assert data["status"] == "PROCESSING"
    # A got the session id (its own origin) ...
    assert a.headers_of(STATUS)[0]["infa-session-id"] == "SESSION-SECRET-1"
    # ... B got neither the session header nor the cookie A set.
    _no_credentials(b)


def test_same_origin_redirect_keeps_the_session_header(a: Scripted) -> None:
    client = _informatica(a)
    a.routes[STATUS] = reply(307, headers={"Location": "/saas/moved/JOB1"})
    a.routes["/saas/moved/JOB1"] = _json({"jobId": "JOB1", "status": "SUCCESS"})
    data = client._send("GET", "/public/core/v3/license/metering/ExportMeteringData/JOB1", what="s")
    assert data["status"] == "SUCCESS"
    assert a.headers_of("/saas/moved/JOB1")[0]["infa-session-id"] == "SESSION-SECRET-1"


@pytest.mark.slow
def test_informatica_download_redirected_to_another_host_gets_no_session_id(
    a: Scripted, b: Scripted, tmp_path: object
) -> None:
    from pathlib import Path

    client = _informatica(a)
    a.routes[STATUS + "/download"] = reply(302, headers={"Location": f"{b.url}/bucket/x.zip"})
    b.routes["/bucket/x.zip"] = reply(200, b"PK-not-really", {"Content-Type": "application/zip"})
    url, headers = client._download_request(_FakeJob("JOB1"))  # type: ignore[arg-type]
    saved = client.http.download(url, Path(str(tmp_path)) / "x.zip", what="d", headers=headers)
    assert saved.path.read_bytes() == b"PK-not-really"
    _no_credentials(b)


class _FakeJob:
    def __init__(self, id: str) -> None:
        self.id = id


def test_login_redirected_with_307_to_another_host_is_refused_naming_the_host(
    a: Scripted, b: Scripted
) -> None:
    a.routes["/saas/public/core/v3/login"] = reply(
        307, headers={"Location": f"{b.url}/steal/login"}
    )
    client = InformaticaClient(
        username="u",
        password="PASSWORD-SECRET",
        login_url=f"{a.url}/saas/public/core/v3/login",
        clock=FakeClock(),
    )
    with pytest.raises(AuthenticationError, match="localhost") as info:
        client.login()
    assert "PASSWORD-SECRET" not in str(info.value)
    assert b.seen == []  # the password never went there
    # Same on 308.
    a.routes["/saas/public/core/v3/login"] = reply(
        308, headers={"Location": f"{b.url}/steal/login"}
    )
    with pytest.raises(AuthenticationError, match="localhost"):
        client.login()
    assert b.seen == []


@pytest.mark.slow
def test_login_redirected_with_302_is_not_re_posted(a: Scripted, b: Scripted) -> None:
    """302 turns a POST into a GET: the password body is not sent on, nor any credential."""
    a.routes["/saas/public/core/v3/login"] = reply(302, headers={"Location": f"{b.url}/x"})
    b.routes["/x"] = reply(401, b'{"error": {"code": "AUTH_01", "message": "no"}}')
    client = InformaticaClient(
        username="u", password="PASSWORD-SECRET", login_url=f"{a.url}/saas/public/core/v3/login"
    )
    with pytest.raises(AuthenticationError):
        client.login()
    assert [s.method for s in b.seen] == ["GET"]
    assert b.seen[0].body == b""
    _no_credentials(b)


def test_here_token_request_redirected_to_another_host_is_refused(a: Scripted, b: Scripted) -> None:
    a.routes["/oauth2/token"] = reply(307, headers={"Location": f"{b.url}/oauth2/token"})
    client = HereClient(
        credentials={"here.access.key.id": "KEYID", "here.access.key.secret": "KEYSECRET"},
        realm_id="org123456",
        base_url=f"{a.url}/v2",
        token_url=f"{a.url}/oauth2/token",
        clock=FakeClock(),
    )
    with pytest.raises(AuthenticationError, match="localhost"):
        client._bearer()
    assert b.seen == []
    # The OAuth signature went to the token host only.
    assert a.headers_of("/oauth2/token")[0]["authorization"].startswith("OAuth ")


@pytest.mark.slow
def test_here_download_redirected_to_another_host_gets_no_bearer_token(
    a: Scripted, b: Scripted, tmp_path: object
) -> None:
    from pathlib import Path

    output = "/v2/usage/realms/org123456/reports/REPORT-1001/output"
    a.routes[output] = reply(302, headers={"Location": f"{b.url}/bucket/REPORT-1001.csv.gz"})
    b.routes["/bucket/REPORT-1001.csv.gz"] = reply(200, b"a,b\n1,2\n")
    client = HereClient(token="BEARER-SECRET", realm_id="org123456", base_url=f"{a.url}/v2")
    url, headers = client._download_request(_FakeJob("REPORT-1001"))  # type: ignore[arg-type]
    client.http.download(url, Path(str(tmp_path)) / "r.csv.gz", what="d", headers=headers)
    assert a.headers_of(output)[0]["authorization"] == "Bearer BEARER-SECRET"
    _no_credentials(b)


@pytest.mark.slow
def test_particle_status_redirects_keep_the_token_on_its_origin_only(
    a: Scripted, b: Scripted
) -> None:
    client = ParticleClient(token="PARTICLE-SECRET", base_url=a.url, clock=FakeClock())
    a.routes["/v1/user/usage_reports/1001"] = reply(301, headers={"Location": "/v1/moved/1001"})
    a.routes["/v1/moved/1001"] = reply(302, headers={"Location": f"{b.url}/v1/moved/1001"})
    b.routes["/v1/moved/1001"] = _json(
        {"data": {"id": "1001", "attributes": {"state": "pending", "download_url": None}}}
    )
    poll = client._poll(_FakeJob("1001"))  # type: ignore[arg-type]
    assert poll.state == "pending"
    assert a.headers_of("/v1/moved/1001")[0]["authorization"] == "Bearer PARTICLE-SECRET"
    _no_credentials(b)


def test_credentials_stay_dropped_when_a_chain_comes_back(a: Scripted, b: Scripted) -> None:
    """A -> B -> A: the last hop is A again, but the chain passed through another origin."""
    a.routes["/start"] = reply(302, headers={"Location": f"{b.url}/bounce"})
    b.routes["/bounce"] = reply(302, headers={"Location": f"{a.url}/end"})
    a.routes["/end"] = _json({"ok": True})
    http = HTTP(provider="particle", clock=FakeClock())
    http.send_json("GET", f"{a.url}/start", what="t", headers={"Authorization": "Bearer T"})
    http.close()
    assert "authorization" not in a.headers_of("/end")[0]
    _no_credentials(b)


@pytest.mark.slow
def test_a_callers_client_with_default_credentials_and_cookies_is_stripped_too(
    a: Scripted, b: Scripted
) -> None:
    """follow_redirects=True and default headers on the caller's client change nothing."""
    a.routes["/start"] = reply(303, headers={"Location": f"{b.url}/next"})
    b.routes["/next"] = _json({"ok": True})
    own = httpx.Client(
        follow_redirects=True,
        headers={"X-Api-Key": "KEY-SECRET", "Authorization": "Bearer T"},
        cookies={"sid": "COOKIE-SECRET"},
    )
    http = HTTP(provider="here", client=own, clock=FakeClock())
    http.send_json("POST", f"{a.url}/start", what="t", json_body={"subAccounts": ["x"]})
    assert a.seen[0].headers["x-api-key"] == "KEY-SECRET"
    assert [s.method for s in b.seen] == ["GET"]
    _no_credentials(b)
    own.close()


def test_a_redirect_loop_ends_with_an_error(a: Scripted) -> None:
    a.routes["/loop"] = reply(302, headers={"Location": "/loop"})
    http = HTTP(provider="here", clock=FakeClock())
    with pytest.raises(APIError, match="redirects"):
        http.send("GET", f"{a.url}/loop", what="loop")
    http.close()
    assert 5 < len(a.seen) <= 12


# -- a real dripping download, cut at its deadline (real time) ---------------------------


@pytest.mark.slow
def test_a_real_dripping_download_is_cut_at_its_deadline(a: Scripted, tmp_path: object) -> None:
    """One byte every 0.3 s, forever, over a real socket: download(timeout=2) ends near 2 s."""
    import time
    from pathlib import Path

    from usage_analysis.clients.job import READY
    from usage_analysis.errors import ReportTimeout

    def drip(h: Any) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/csv")
        h.send_header("Content-Length", "100000")
        h.end_headers()
        for _ in range(100):  # 30 s at most: far past the deadline
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(0.3)

    a.routes["/v1/user/service_agreements"] = _json({"data": [{"id": "7", "attributes": {}}]})
    a.routes["/v1/user/service_agreements/7/usage_reports"] = reply(
        202,
        json.dumps({"data": {"id": "1001", "attributes": {"state": "pending"}}}).encode(),
    )
    a.routes["/v1/user/usage_reports/1001"] = _json(
        {
            "data": {
                "id": "1001",
                "attributes": {"state": "available", "download_url": f"{a.url}/dl/r.csv?sig=1"},
            }
        }
    )
    a.routes["/dl/r.csv"] = drip
    client = ParticleClient(
        token="PARTICLE-SECRET", base_url=a.url, journal=Path(str(tmp_path)) / "j.sqlite"
    )
    job = client.request_report("2026-10-01", "2026-10-02")
    started = time.monotonic()
    with pytest.raises(ReportTimeout):
        job.download(progress=False, timeout=2.0)
    took = time.monotonic() - started
    assert 1.9 <= took < 4.0
    assert job.state == READY
    assert list(client._default_path(job).parent.iterdir()) == []
    client.close()
