"""Running the emulator: a uvicorn server in a background thread, and what tests ask of it."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
import uvicorn

from ..errors import ConfigurationError, InvalidParameter
from ._http import BadParams
from .app import create_app
from .here import here_query
from .informatica import informatica_query
from .options import EmulatorOptions, FaultRates
from .particle import particle_query
from .state import EmulatorState
from .truth import InformaticaQuery

__all__ = ["Emulator", "bind_socket", "running", "uvicorn_config"]


def bind_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket (port 0: a free port chosen by the system)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this: without it, a response written as headers then
    # body waits ~40 ms for the client's delayed ACK (Nagle), on every keep-alive request.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def uvicorn_config(app: Any, *, host: str, port: int) -> uvicorn.Config:
    """The server settings: no access log (URLs may carry pre-signed signatures)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        loop="asyncio",
        http="h11",
        ws="none",
        timeout_keep_alive=5,
        # Open downloads must not hold a test's shutdown for long.
        timeout_graceful_shutdown=2,
        backlog=1024,
    )


class _Server(uvicorn.Server):
    """uvicorn's server, noticing a stop request within 10 ms instead of 100 ms.

    A test suite starts and stops an emulator per test: the shorter wait adds up.
    """

    async def main_loop(self) -> None:
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            for _ in range(10):
                await asyncio.sleep(0.01)
                if self.should_exit:
                    break
            counter = (counter + 1) % 864000
            should_exit = await self.on_tick(counter)


class Emulator:
    """One emulator run: its server, base URLs, credentials, clock, faults and ground truth."""

    def __init__(self, options: EmulatorOptions | None = None, **overrides: Any) -> None:
        self.options = EmulatorOptions.build(options, **overrides)
        self.state = EmulatorState(self.options)
        self.app = create_app(state=self.state)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.port: int | None = None

    def __repr__(self) -> str:
        where = self.base_url if self.port is not None else "not running"
        return f"<Emulator seed={self.options.seed} speed={self.options.speed!r} {where}>"

    # --- lifecycle -----------------------------------------------------------------
    def start(self, *, timeout: float = 15.0) -> Emulator:
        """Start serving in a background thread; returns once the port accepts connections."""
        if self._thread is not None:
            raise ConfigurationError("this emulator is already running")
        sock = bind_socket(self.options.host, self.options.port)
        self._sock = sock
        self.port = int(sock.getsockname()[1])
        server = _Server(uvicorn_config(self.app, host=self.options.host, port=self.port))
        self._server = server
        thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock]},
            name=f"usage-analysis-emulator:{self.port}",
            daemon=True,
        )
        self._thread = thread
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ConfigurationError(f"the emulator did not start on port {self.port}")
            time.sleep(0.01)
        return self

    def stop(self, *, timeout: float = 15.0) -> None:
        """Stop the server and wait for its thread; the port is closed afterwards."""
        server, thread, sock = self._server, self._thread, self._sock
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(timeout)
        if sock is not None:
            sock.close()
        self._server = self._thread = self._sock = None
        if thread is not None:
            self.port = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- where and who -------------------------------------------------------------
    @property
    def base_url(self) -> str:
        if self.port is None:
            raise ConfigurationError("the emulator is not running: call start() first")
        return f"http://{self.options.host}:{self.port}"

    @property
    def particle_api_url(self) -> str:
        return f"{self.base_url}/particle"

    @property
    def here_api_url(self) -> str:
        return f"{self.base_url}/here/v2"

    @property
    def here_token_url(self) -> str:
        return f"{self.base_url}/here/oauth2/token"

    @property
    def informatica_login_url(self) -> str:
        return f"{self.base_url}/informatica/saas/public/core/v3/login"

    @property
    def credentials(self) -> dict[str, dict[str, str]]:
        """Working credentials per provider (fixed by the seed; good for this emulator only)."""
        c = self.state.credentials
        return {
            "particle": {"token": c.particle_token, "org": self.state.data.world.particle.org},
            "here": {
                "token": c.here_token,
                "realm_id": str(self.state.data.world.here.realm_id),
                "access_key_id": c.here_access_key_id,
                "access_key_secret": c.here_access_key_secret,
            },
            "informatica": {"username": c.informatica_username, "password": c.informatica_password},
        }

    def env(self) -> dict[str, str]:
        """Environment variables that point the clients at this emulator."""
        creds = self.credentials
        return {
            "PARTICLE_ACCESS_TOKEN": creds["particle"]["token"],
            "PARTICLE_API_URL": self.particle_api_url,
            "HERE_TOKEN": creds["here"]["token"],
            "HERE_REALM_ID": creds["here"]["realm_id"],
            "HERE_API_URL": self.here_api_url,
            "HERE_TOKEN_URL": self.here_token_url,
            "HERE_ACCESS_KEY_ID": creds["here"]["access_key_id"],
            "HERE_ACCESS_KEY_SECRET": creds["here"]["access_key_secret"],
            "INFORMATICA_USERNAME": creds["informatica"]["username"],
            "INFORMATICA_PASSWORD": creds["informatica"]["password"],
            "INFORMATICA_LOGIN_URL": self.informatica_login_url,
        }

    # --- what tests ask --------------------------------------------------------------
    @property
    def requests_log(self) -> list[tuple[str, str, int]]:
        """(method, path, status) of every request served; paths carry no secrets."""
        return self.state.requests_log

    def set_faults(
        self, faults: FaultRates | float | dict[str, float] | None = None, **kinds: float
    ) -> None:
        """Change fault injection now: a total rate, a FaultRates, or rates per kind."""
        if kinds:
            if faults is not None:
                raise InvalidParameter(
                    "faults", "pass either a total/FaultRates or kinds, not both"
                )
            faults = dict(kinds)
        self.state.faults.set(FaultRates.coerce(faults))

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock forward (jobs, sessions and links age without sleeping)."""
        self.state.clock.advance(seconds)

    def now(self) -> Any:
        """The emulator's current time (UTC datetime)."""
        return self.state.clock.now()

    def ground_truth(self, provider: str, **report_params: Any) -> pd.DataFrame:
        """The rows the report file for these parameters contains, in its columns.

        Parameters use the API's own names (Particle ``report_type``,
        ``date_period_start``...; HERE ``startDate``, ``detailLevel``, ``groupBy``...;
        Informatica ``startDate``, ``jobType``, ``meterId``...), or name an existing
        job (``report_id=`` for Particle and HERE, ``job_id=`` for Informatica, which
        also accounts for the orgs a partial job left out). Informatica frames of
        several members are concatenated; see :meth:`ground_truth_members`.
        """
        if provider == "informatica":
            members = self.ground_truth_members(**report_params)
            frames = [f for f in members.values()]
            return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        try:
            # Copies: the emulator keeps serving from its cached frames.
            if provider == "particle":
                return self.state.data.particle_frame(self._particle_query(report_params)).copy()
            if provider == "here":
                return self.state.data.here_frame(self._here_query(report_params)).copy()
        except BadParams as exc:
            raise InvalidParameter(exc.field, exc.message) from None
        raise InvalidParameter(
            "provider", f"expected particle, here or informatica, got {provider!r}"
        )

    def ground_truth_members(self, **report_params: Any) -> dict[str, pd.DataFrame]:
        """Informatica: the ZIP's members (name -> frame) for these parameters or ``job_id``."""
        missing: tuple[str, ...] = ()
        if "job_id" in report_params:
            job = self.state.get_job("informatica", str(report_params.pop("job_id")))
            if job is None:
                raise InvalidParameter("job_id", "no such Informatica job in this emulator")
            query: InformaticaQuery = job.params["query"]
            missing = job.missing_orgs
        else:
            endpoint = report_params.pop("endpoint", "export")
            org_id = report_params.pop(
                "org_id", str(self.state.data.world.informatica.orgs["org_id"].iloc[0])
            )
            try:
                query = informatica_query(endpoint, report_params, org_id)
            except BadParams as exc:
                raise InvalidParameter(exc.field, exc.message) from None
        return self.state.data.informatica_members(query, missing)

    def _particle_query(self, params: dict[str, Any]) -> Any:
        if "report_id" in params:
            job = self.state.get_job("particle", str(params["report_id"]))
            if job is None:
                raise InvalidParameter("report_id", "no such Particle report in this emulator")
            return job.params["query"]
        params = dict(params)
        scope = params.pop("scope", "user")
        if scope not in ("user", "org"):
            raise InvalidParameter("scope", f"expected 'user' or 'org', got {scope!r}")
        return particle_query(scope, params)

    def _here_query(self, params: dict[str, Any]) -> Any:
        if "report_id" in params:
            job = self.state.get_job("here", str(params["report_id"]))
            if job is None:
                raise InvalidParameter("report_id", "no such HERE report in this emulator")
            return job.params["query"]
        params = dict(params)
        subs = params.pop("subAccounts", None)
        kind = params.pop("kind", "report")
        text = {
            k: ",".join(map(str, v)) if isinstance(v, list | tuple) else str(v)
            for k, v in params.items()
        }
        return here_query(
            text, report=kind == "report", sub_accounts=tuple(subs) if subs is not None else None
        )


@contextmanager
def running(options: EmulatorOptions | None = None, **overrides: Any) -> Iterator[Emulator]:
    """Run an emulator on 127.0.0.1 in the background for the duration of a ``with`` block.

    ``port=0`` (the default) picks a free port. Every option of
    :class:`EmulatorOptions` can be given as a keyword.
    """
    emulator = Emulator(options, **overrides)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()
