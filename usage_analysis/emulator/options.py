"""What an emulator run can be told: seed, speed, lifetimes, world size, fault rates."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from ..defaults import (
    HERE_MAX_RECORDS,
    INFORMATICA_DOWNLOAD_LIFETIME,
    INFORMATICA_MAX_ACTIVE,
    INFORMATICA_SESSION_IDLE,
    PARTICLE_DOWNLOAD_LIFETIME,
    PARTICLE_MAX_OUTSTANDING,
)
from ..errors import InvalidParameter

__all__ = ["SPEEDS", "EmulatorOptions", "FaultRates", "Speed"]

Speed = Literal["instant", "fast", "realistic"]

# Seconds a report job takes to finish, per speed, as (shortest, longest); the
# exact duration of each job is drawn from the seeded generator. "realistic"
# follows the providers' own words: Particle "several seconds to several minutes".
SPEEDS: dict[str, dict[str, tuple[float, float]]] = {
    "instant": {"particle": (0.0, 0.0), "here": (0.0, 0.0), "informatica": (0.0, 0.0)},
    "fast": {"particle": (0.3, 1.0), "here": (0.3, 1.0), "informatica": (0.3, 1.0)},
    "realistic": {"particle": (5.0, 120.0), "here": (10.0, 180.0), "informatica": (20.0, 300.0)},
}

# Kinds that can hit any request, and kinds that only hit downloads or jobs.
REQUEST_KINDS = ("rate_limit", "server_error", "drop", "slow")
DOWNLOAD_KINDS = ("truncate", "expire")
JOB_KINDS = ("report_failure", "partial_report")


@dataclass(frozen=True)
class FaultRates:
    """Probabilities of each injected fault; all zero (off) by default.

    ``rate_limit``, ``server_error``, ``drop`` and ``slow`` apply to every request;
    ``truncate`` and ``expire`` to downloads only; ``report_failure`` and
    ``partial_report`` are drawn once per report job (partial: Informatica jobs
    spanning several orgs end PARTIAL_SUCCESS with one org missing).
    """

    rate_limit: float = 0.0
    server_error: float = 0.0
    drop: float = 0.0
    slow: float = 0.0
    truncate: float = 0.0
    expire: float = 0.0
    report_failure: float = 0.0
    partial_report: float = 0.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not 0.0 <= float(value) <= 1.0:
                raise InvalidParameter(
                    f"faults.{f.name}", f"expected a rate in [0, 1], got {value!r}"
                )
        for group, kinds in (("request", REQUEST_KINDS), ("download", DOWNLOAD_KINDS)):
            total = sum(getattr(self, k) for k in kinds)
            if total > 1.0:
                raise InvalidParameter(
                    "faults", f"the {group} fault rates {kinds} add up to {total:g}, more than 1"
                )

    @classmethod
    def spread(cls, total: float) -> FaultRates:
        """One number spread across kinds: each request is faulted with probability ``total``.

        429 gets 30 %, 5xx 30 %, dropped connections 20 %, slow answers 20 %; a
        download may in addition be truncated or expired (``total / 4`` each); a job
        fails with probability ``total / 2`` and ends partial with ``total / 2``.
        """
        t = float(total)
        if not 0.0 <= t <= 1.0:
            raise InvalidParameter("faults", f"expected a total rate in [0, 1], got {total!r}")
        return cls(
            rate_limit=0.3 * t,
            server_error=0.3 * t,
            drop=0.2 * t,
            slow=0.2 * t,
            truncate=t / 4,
            expire=t / 4,
            report_failure=t / 2,
            partial_report=t / 2,
        )

    @classmethod
    def coerce(cls, value: FaultRates | float | dict[str, float] | None) -> FaultRates:
        """A FaultRates from a FaultRates, a total rate, a dict of kinds, or None (off)."""
        if value is None:
            return cls()
        if isinstance(value, FaultRates):
            return value
        if isinstance(value, dict):
            unknown = set(value) - {f.name for f in dataclasses.fields(cls)}
            if unknown:
                raise InvalidParameter(
                    "faults",
                    f"unknown fault kind(s) {sorted(unknown)}; expected some of "
                    f"{[f.name for f in dataclasses.fields(cls)]}",
                )
            return cls(**{k: float(v) for k, v in value.items()})
        if isinstance(value, int | float):
            return cls.spread(float(value))
        raise InvalidParameter("faults", f"expected a number, a dict or FaultRates, got {value!r}")

    @property
    def any(self) -> bool:
        """Whether any fault can fire."""
        return any(getattr(self, f.name) for f in dataclasses.fields(self))


@dataclass(frozen=True)
class EmulatorOptions:
    """Everything an emulator run can be told. Keyword-only; every field has a default."""

    seed: int = 7
    speed: Speed = "fast"
    # Explicit job duration in seconds (a number, or a (min, max) range); overrides speed.
    job_seconds: float | tuple[float, float] | None = None
    # The emulator's clock starts here (UTC); default: the real time at start.
    now: datetime | None = None
    session_idle: float = INFORMATICA_SESSION_IDLE.total_seconds()
    particle_link_lifetime: float = PARTICLE_DOWNLOAD_LIFETIME.total_seconds()
    # A pre-signed Particle URL stays valid this long after the status call that issued it
    # (unconfirmed: Particle does not say; S3-style pre-signed links are short-lived).
    particle_url_lifetime: float = 600.0
    informatica_link_lifetime: float = INFORMATICA_DOWNLOAD_LIFETIME.total_seconds()
    # HERE does not say how long a report stays downloadable; after this it is "archived".
    here_report_lifetime: float = 30 * 86400.0
    here_token_lifetime: float = 86399.0
    faults: FaultRates = field(default_factory=FaultRates)
    retry_after: float = 1.0  # seconds, sent in Retry-After with injected 429s
    slow_seconds: float = 1.0  # delay of an injected slow answer (real time)
    particle_max_outstanding: int = PARTICLE_MAX_OUTSTANDING
    informatica_max_active: int = INFORMATICA_MAX_ACTIVE
    here_max_records: int = HERE_MAX_RECORDS
    # Which field names the Particle status uses: the reference says "state", the
    # tutorial "status"; clients must read either, so tests can switch.
    particle_state_field: Literal["state", "status", "both"] = "state"
    # Informatica's docs write the job id as "jobId" in examples and "jobID" in tables.
    informatica_job_id_key: Literal["jobId", "jobID"] = "jobId"
    # HERE's spec defines offset as a page number (total=10, limit=2: nextOffset 1,
    # lastOffset 4); "record" pages by record counts, as some servers may.
    here_paging: Literal["page", "record"] = "page"
    # HERE error "details": the spec shows a list of objects; some answers carry one object.
    here_error_details: Literal["array", "object"] = "array"
    # Size of the generated world (None: the generator's default).
    particle_devices: int | None = None
    here_apps: int | None = None
    informatica_orgs: int | None = None
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        if self.speed not in SPEEDS:
            raise InvalidParameter("speed", f"expected one of {sorted(SPEEDS)}, got {self.speed!r}")
        object.__setattr__(self, "faults", FaultRates.coerce(self.faults))
        for name in (
            "session_idle",
            "particle_link_lifetime",
            "particle_url_lifetime",
            "informatica_link_lifetime",
            "here_report_lifetime",
            "here_token_lifetime",
            "retry_after",
            "slow_seconds",
        ):
            if getattr(self, name) < 0:
                raise InvalidParameter(name, f"expected seconds >= 0, got {getattr(self, name)!r}")
        if self.here_max_records < 1:
            raise InvalidParameter("here_max_records", "expected at least 1")
        if self.now is not None and self.now.tzinfo is None:
            raise InvalidParameter("now", "expected a timezone-aware datetime (UTC)")

    def job_range(self, provider: str) -> tuple[float, float]:
        """(shortest, longest) job duration in seconds for ``provider``."""
        if self.job_seconds is None:
            return SPEEDS[self.speed][provider]
        if isinstance(self.job_seconds, tuple):
            low, high = self.job_seconds
            return float(low), float(high)
        return float(self.job_seconds), float(self.job_seconds)

    def world_sizes(self) -> dict[str, int]:
        """The make_world() size arguments that were set."""
        sizes = {
            "particle_devices": self.particle_devices,
            "here_apps": self.here_apps,
            "informatica_orgs": self.informatica_orgs,
        }
        return {k: v for k, v in sizes.items() if v is not None}

    @classmethod
    def build(cls, options: EmulatorOptions | None = None, **overrides: Any) -> EmulatorOptions:
        """Options from an optional base plus keyword overrides (unknown names raise)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise InvalidParameter(
                ", ".join(sorted(unknown)),
                f"unknown emulator option; expected some of {sorted(known)}",
            )
        if "faults" in overrides:
            overrides["faults"] = FaultRates.coerce(overrides["faults"])
        base = options if options is not None else cls()
        return dataclasses.replace(base, **overrides) if overrides else base
