"""The emulator's shared machinery: its clock, report jobs, credentials and run state."""

from __future__ import annotations

import asyncio
import random
import string
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal, TypeVar

from ..errors import InvalidParameter
from .faults import FaultInjector
from .options import EmulatorOptions
from .truth import DataSource

__all__ = ["Clock", "Credentials", "EmulatorState", "Job", "Phase"]

T = TypeVar("T")
Phase = Literal["queued", "running", "done", "expired"]
Outcome = Literal["success", "failed", "partial"]

_ALNUM = string.ascii_letters + string.digits


class Clock:
    """Wall time that tests can move forward without sleeping.

    It runs at real speed from ``start`` (default: now) and ``advance()`` adds to it;
    job progress, session idle time and link expiry all read this clock.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._origin = (start or datetime.now(UTC)).timestamp()
        self._mono0 = time.monotonic()
        self._offset = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        """Seconds since the epoch, emulator time."""
        with self._lock:
            return self._origin + (time.monotonic() - self._mono0) + self._offset

    def now(self) -> datetime:
        """The emulator's current UTC datetime."""
        return datetime.fromtimestamp(self.time(), UTC)

    def today(self) -> date:
        """The emulator's current UTC date."""
        return self.now().date()

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        if seconds < 0:
            raise InvalidParameter("seconds", f"the clock only moves forward, got {seconds!r}")
        with self._lock:
            self._offset += float(seconds)


@dataclass
class Job:
    """One report job of any provider: when it was asked, how long it takes, how it ends."""

    provider: str
    id: str
    owner: str
    params: dict[str, Any]
    created_at: float
    duration: float
    outcome: Outcome = "success"
    missing_orgs: tuple[str, ...] = ()
    body: bytes | None = field(default=None, repr=False)  # the rendered file, cached
    _render_lock: asyncio.Lock | None = field(default=None, repr=False)

    @property
    def finished_at(self) -> float:
        return self.created_at + self.duration

    def phase(self, now: float, lifetime: float) -> Phase:
        """Where the job is at ``now``; a finished job expires ``lifetime`` seconds later."""
        if now < self.created_at + self.duration / 3:
            return "queued"
        if now < self.finished_at:
            return "running"
        if self.outcome != "failed" and now >= self.finished_at + lifetime:
            return "expired"
        return "done"

    @property
    def render_lock(self) -> asyncio.Lock:
        # Created on first use, inside the server's event loop.
        if self._render_lock is None:
            self._render_lock = asyncio.Lock()
        return self._render_lock


@dataclass(frozen=True)
class Credentials:
    """Working credentials for each provider, derived from the seed (local emulator only)."""

    particle_token: str
    particle_org: str
    here_token: str
    here_access_key_id: str
    here_access_key_secret: str
    informatica_username: str
    informatica_password: str

    @classmethod
    def from_seed(cls, seed: int) -> Credentials:
        rng = random.Random(f"{seed}:credentials")

        def word(n: int, alphabet: str = _ALNUM) -> str:
            return "".join(rng.choice(alphabet) for _ in range(n))

        return cls(
            particle_token=word(40, "0123456789abcdef"),
            particle_org="acme-iot",
            here_token="eyJ" + word(80),
            here_access_key_id=word(22),
            here_access_key_secret=word(86, _ALNUM + "-_"),
            informatica_username="analyst@example.com",
            informatica_password=word(20),
        )

    def __repr__(self) -> str:
        return "Credentials(<hidden>)"


class EmulatorState:
    """Everything one emulator run knows; shared by the routes of the three providers."""

    def __init__(self, options: EmulatorOptions) -> None:
        self.options = options
        self.clock = Clock(options.now)
        self.credentials = Credentials.from_seed(options.seed)
        self.faults = FaultInjector(options.seed, options.faults)
        self.data = DataSource(options, self.clock)
        self.requests_log: list[tuple[str, str, int]] = []
        self.lock = threading.RLock()
        self.jobs: dict[str, dict[str, Job]] = {"particle": {}, "here": {}, "informatica": {}}
        self._counters: dict[str, int] = {}
        self._rngs = {
            p: random.Random(f"{options.seed}:{p}:jobs")
            for p in ("particle", "here", "informatica")
        }
        # Per-provider bits of state owned by the provider modules (tokens, sessions, links).
        self.extra: dict[str, dict[str, Any]] = {"particle": {}, "here": {}, "informatica": {}}
        self.executor: ThreadPoolExecutor | None = None

    # --- jobs ----------------------------------------------------------------
    def next_number(self, name: str, start: int) -> int:
        """The next value of a named counter (deterministic ids)."""
        with self.lock:
            n = self._counters.get(name, start)
            self._counters[name] = n + 1
            return n

    def random_id(self, provider: str, length: int = 22) -> str:
        """A base62 id drawn from the provider's seeded generator."""
        with self.lock:
            rng = self._rngs[provider]
            return "".join(rng.choice(_ALNUM) for _ in range(length))

    def new_job(
        self,
        provider: str,
        job_id: str,
        *,
        owner: str,
        params: dict[str, Any],
        linked_orgs: tuple[str, ...] = (),
    ) -> Job:
        """Register a job: its duration comes from the speed, its outcome from the faults."""
        low, high = self.options.job_range(provider)
        with self.lock:
            duration = low if high <= low else self._rngs[provider].uniform(low, high)
        outcome = self.faults.job_outcome(provider, job_id, partial_possible=len(linked_orgs) > 1)
        missing: tuple[str, ...] = ()
        if outcome == "partial":
            # The last linked org is the one whose data "could not be collected".
            missing = (linked_orgs[-1],)
        job = Job(
            provider=provider,
            id=job_id,
            owner=owner,
            params=params,
            created_at=self.clock.time(),
            duration=duration,
            outcome=outcome,
            missing_orgs=missing,
        )
        with self.lock:
            self.jobs[provider][job_id] = job
        return job

    def get_job(self, provider: str, job_id: str) -> Job | None:
        with self.lock:
            return self.jobs[provider].get(job_id)

    def list_jobs(self, provider: str) -> list[Job]:
        with self.lock:
            return list(self.jobs[provider].values())

    # --- blocking work -------------------------------------------------------
    async def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run CPU-heavy work (rendering a large report) off the event loop."""
        if self.executor is None:
            return fn(*args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, fn, *args)

    def start_executor(self) -> None:
        if self.executor is None:
            self.executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="emulator-render")

    def stop_executor(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)
            self.executor = None
