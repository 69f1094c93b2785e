"""Time for the clients: one injectable clock, and the polling schedule.

Every wait in the clients (retry backoff, polling, waiting for a free slot) goes
through a :class:`Clock`, so tests and the demo pass :class:`FakeClock` (or a
scaled one) and never really sleep.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from ..defaults import PARTICLE_POLL_EVERY, PARTICLE_POLL_SCHEDULE, POLL_SCHEDULE_ENV
from ..errors import InvalidParameter

__all__ = ["Clock", "FakeClock", "PollSchedule", "SystemClock"]


class Clock(Protocol):
    """What the clients need of time: a monotonic reading, wall time, and sleep."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    def now(self) -> datetime:
        """The wall time, timezone-aware UTC."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    def now(self) -> datetime:
        """``datetime.now(UTC)``."""
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        """``time.sleep(seconds)``."""
        if seconds > 0:
            time.sleep(seconds)

    def __repr__(self) -> str:
        return "SystemClock()"


class FakeClock:
    """A clock whose ``sleep`` only moves time forward; it records every sleep.

    ``real_fraction`` > 0 makes it also sleep that fraction of each wait for real,
    which lets a test against a live emulator run a slow schedule quickly.
    """

    def __init__(self, *, start: datetime | None = None, real_fraction: float = 0.0) -> None:
        self._offset = 0.0
        self._start = start or datetime(2026, 1, 1, tzinfo=UTC)
        self.real_fraction = real_fraction
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        """Seconds slept so far."""
        return self._offset

    def now(self) -> datetime:
        """The start time plus the seconds slept so far."""
        return self._start + timedelta(seconds=self._offset)

    def sleep(self, seconds: float) -> None:
        """Record ``seconds`` and advance; really sleep ``real_fraction`` of it."""
        seconds = max(0.0, float(seconds))
        self.sleeps.append(seconds)
        self._offset += seconds
        if self.real_fraction > 0 and seconds > 0:
            time.sleep(seconds * self.real_fraction)

    def __repr__(self) -> str:
        return f"FakeClock(slept={self._offset:.1f} s)"


@dataclass(frozen=True)
class PollSchedule:
    """How long to wait between status checks: ``first`` delays, then ``every``.

    The default is Particle's advice (15 s, 30 s, 60 s, then every minute). Set
    ``$USAGE_ANALYSIS_POLL_SCHEDULE`` (``"0.5,1,2"``: the last value repeats) or pass
    ``schedule=`` to run it faster against the emulator.
    """

    first: tuple[float, ...] = PARTICLE_POLL_SCHEDULE
    every: float = PARTICLE_POLL_EVERY

    def __post_init__(self) -> None:
        delays = (*self.first, self.every)
        if self.every <= 0 or any(d < 0 or not math.isfinite(d) for d in delays):
            raise InvalidParameter(
                "schedule", f"expected finite delays >= 0 and a repeat > 0, got {self!r}"
            )

    def delay(self, n: int) -> float:
        """The wait before status check number ``n + 1`` (``n`` counts from 0)."""
        return self.first[n] if n < len(self.first) else self.every

    @classmethod
    def coerce(
        cls,
        value: PollSchedule | Sequence[float] | str | float | None,
        *,
        default: PollSchedule | None = None,
    ) -> PollSchedule:
        """A schedule from a schedule, a list of delays, ``"1,2,5"``, one number, or None.

        None gives ``$USAGE_ANALYSIS_POLL_SCHEDULE`` when set, else ``default``.
        """
        if value is None:
            env = os.environ.get(POLL_SCHEDULE_ENV, "").strip()
            if env:
                return cls._parse(env, parameter=POLL_SCHEDULE_ENV)
            return default or cls()
        if isinstance(value, PollSchedule):
            return value
        if isinstance(value, str):
            return cls._parse(value, parameter="schedule")
        if isinstance(value, int | float):
            return cls(first=(), every=float(value))
        delays = [float(v) for v in value]
        if not delays:
            raise InvalidParameter("schedule", "expected at least one delay")
        return cls(first=tuple(delays[:-1]), every=delays[-1])

    @classmethod
    def _parse(cls, text: str, *, parameter: str) -> PollSchedule:
        try:
            delays = [float(part) for part in text.split(",") if part.strip()]
        except ValueError:
            raise InvalidParameter(
                parameter, f"expected seconds separated by commas like '1,2,5', got {text!r}"
            ) from None
        if not delays:
            raise InvalidParameter(parameter, f"expected at least one delay, got {text!r}")
        return cls(first=tuple(delays[:-1]), every=delays[-1])
