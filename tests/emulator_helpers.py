"""Helpers for the emulator tests: a leak-checked emulator fixture, schemas, provider logins."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import psutil
import pytest
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, Client
from referencing import Registry, Resource

from usage_analysis.emulator import Emulator

SCHEMAS = Path(__file__).resolve().parent / "schemas"


@cache
def _registry() -> Registry:
    resources = []
    for path in SCHEMAS.glob("*.json"):
        schema = json.loads(path.read_text())
        resources.append((path.name, Resource.from_contents(schema)))
    return Registry().with_resources(resources)


def check(schema_name: str, body: Any) -> Any:
    """Validate ``body`` against tests/schemas/<schema_name>.json; return it."""
    schema = json.loads((SCHEMAS / f"{schema_name}.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema, registry=_registry())
    validator.validate(body)
    return body


def _listening(port: int) -> bool:
    for conn in psutil.Process().net_connections(kind="tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
            return True
    return False


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def assert_stopped(ports: list[int], threads_before: set[int]) -> None:
    """No emulator thread left alive and none of ``ports`` listening or accepting."""
    leaked = [
        t.name
        for t in threading.enumerate()
        if t.ident not in threads_before and t.is_alive() and t is not threading.current_thread()
    ]
    assert leaked == [], f"threads left running: {leaked}"
    for port in ports:
        assert not _listening(port), f"port {port} still listening"
        assert not _accepts(port), f"port {port} still accepts connections"


@pytest.fixture
def start_emulator() -> Iterator[Callable[..., Emulator]]:
    """A factory of running emulators; each is stopped after the test and checked for leaks."""
    before = {t.ident for t in threading.enumerate() if t.ident is not None}
    started: list[Emulator] = []

    def start(**options: Any) -> Emulator:
        options.setdefault("speed", "instant")
        emu = Emulator(**options).start()
        started.append(emu)
        return emu

    yield start
    ports = [e.port for e in started if e.port is not None]
    for emu in started:
        emu.stop()
    assert_stopped(ports, before)


@pytest.fixture
def emu(start_emulator: Callable[..., Emulator]) -> Emulator:
    """One running emulator (speed instant, seed 7, no faults)."""
    return start_emulator()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


# --- provider helpers -------------------------------------------------------------------


def particle_headers(emu: Emulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {emu.credentials['particle']['token']}"}


def here_headers(emu: Emulator, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {emu.credentials['here']['token']}", **extra}


def here_realm_url(emu: Emulator) -> str:
    return f"{emu.here_api_url}/usage/realms/{emu.credentials['here']['realm_id']}"


def sign_here_token_request(
    emu: Emulator, *, secret: str | None = None, key: str | None = None
) -> tuple[str, dict[str, str], str]:
    """(url, headers, body) of a client-credentials request signed with OAuth 1.0a HMAC-SHA256."""
    creds = emu.credentials["here"]
    client = Client(
        key or creds["access_key_id"],
        client_secret=secret or creds["access_key_secret"],
        signature_method=SIGNATURE_HMAC_SHA256,
    )
    url, headers, body = client.sign(
        emu.here_token_url,
        http_method="POST",
        body="grant_type=client_credentials",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    return url, dict(headers), str(body)


def informatica_login(emu: Emulator, http: httpx.Client) -> tuple[str, dict[str, str]]:
    """(baseApiUrl, headers with INFA-SESSION-ID) after a successful login."""
    r = http.post(emu.informatica_login_url, json=emu.credentials["informatica"])
    assert r.status_code == 200, r.text
    body = check("informatica_login", r.json())
    return body["products"][0]["baseApiUrl"], {"INFA-SESSION-ID": body["userInfo"]["sessionId"]}


METERING = "/public/core/v3/license/metering"
