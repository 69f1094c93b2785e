"""Planned changes a forecast takes into account: more devices, a rate change, extra use a day.

An event starts on a UTC day (and may end on one, exclusive) and changes the
daily rate of the days the forecast estimates from that day on; days already
reported are never changed. Three kinds, written in Python or as text (the
monitors file, a notebook)::

    Event.devices(5000, start="2027-01-15")   "+5,000 devices from 2027-01-15"
    Event.scale(1.3, start="2027-01-01")      "rate x1.3 from 2027-01-01"
    Event.add(2000, start="2027-01-01")       "+2,000 per day from 2027-01-01 until 2027-02-01"

On a day, the estimated rate is ``(rate + sum(add) + sum(devices) * rate / n) *
prod(scale)`` over the events in force, where ``n`` is the number of resources
(devices, apps, assets) with use in the forecast's history: a device added is
one more device like the average one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..errors import InvalidParameter
from ._common import timestamp

__all__ = ["Event", "coerce_events"]

KINDS = ("devices", "scale", "add")

_NUMBER = r"([+-]?\d[\d,_]*(?:\.\d+)?)"
_DATE = r"(\d{4}-\d{2}-\d{2})"
_TAIL = rf"\s+from\s+{_DATE}(?:\s+(?:until|to)\s+{_DATE})?\s*$"
_PATTERNS = (
    ("devices", re.compile(rf"^\s*{_NUMBER}\s+(?:devices?|resources?){_TAIL}", re.I)),
    ("scale", re.compile(rf"^\s*(?:rate\s*)?[x×\*]\s*{_NUMBER}{_TAIL}", re.I)),
    ("add", re.compile(rf"^\s*{_NUMBER}\s+(?:a|per)\s+day{_TAIL}", re.I)),
)


@dataclass(frozen=True)
class Event:
    """One planned change: ``kind`` (devices, scale, add), ``value``, ``start`` and ``end`` (exclusive)."""

    kind: str
    value: float
    start: pd.Timestamp
    end: pd.Timestamp | None = None
    label: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidParameter(
                "events", f"kind is one of {', '.join(KINDS)}, got {self.kind!r}"
            )
        try:
            value = float(self.value)
        except (TypeError, ValueError):
            raise InvalidParameter("events", f"expected a number, got {self.value!r}") from None
        if value != value or (self.kind == "scale" and not value >= 0):
            raise InvalidParameter("events", f"a rate factor is a number >= 0, got {self.value!r}")
        object.__setattr__(self, "value", value)
        start = timestamp(self.start, "events").normalize()
        object.__setattr__(self, "start", start)
        if self.end is not None:
            end = timestamp(self.end, "events").normalize()
            if end <= start:
                raise InvalidParameter(
                    "events", f"an event ends after it starts ({start:%Y-%m-%d})"
                )
            object.__setattr__(self, "end", end)
        if not self.label:
            object.__setattr__(self, "label", self.describe())

    @classmethod
    def devices(cls, count: float, *, start: Any, end: Any = None) -> Event:
        """``count`` more devices (or resources) like the average one, from ``start``."""
        return cls("devices", count, start, end)

    @classmethod
    def scale(cls, factor: float, *, start: Any, end: Any = None) -> Event:
        """The daily rate times ``factor`` from ``start`` (a price of use: 1.3 = 30 % more)."""
        return cls("scale", factor, start, end)

    @classmethod
    def add(cls, per_day: float, *, start: Any, end: Any = None) -> Event:
        """``per_day`` more (billable units) each day from ``start``."""
        return cls("add", per_day, start, end)

    @classmethod
    def parse(cls, text: str) -> Event:
        """``"+5,000 devices from 2027-01-15"``, ``"rate x1.3 from 2027-01-01"``,
        ``"+2000 per day from 2027-01-01 until 2027-02-01"``."""
        if not isinstance(text, str):
            raise InvalidParameter(
                "events", f"expected text such as '+5000 devices from 2027-01-15', got {text!r}"
            )
        for kind, pattern in _PATTERNS:
            match = pattern.match(text)
            if match:
                number, start, end = match.groups()
                value = float(number.replace(",", "").replace("_", ""))
                return cls(kind, value, start, end, label=text.strip())
        raise InvalidParameter(
            "events",
            f"could not read {text!r}; write e.g. '+5000 devices from 2027-01-15', "
            "'rate x1.3 from 2027-01-01' or '+2000 per day from 2027-01-01 until 2027-02-01'",
        )

    def describe(self) -> str:
        until = f" until {self.end:%Y-%m-%d}" if self.end is not None else ""
        if self.kind == "devices":
            what = f"{self.value:+,g} devices"
        elif self.kind == "scale":
            what = f"rate x{self.value:g}"
        else:
            what = f"{self.value:+,g} per day"
        return f"{what} from {self.start:%Y-%m-%d}{until}"

    def active(self, day: pd.Timestamp) -> bool:
        return self.start <= day and (self.end is None or day < self.end)


def coerce_events(events: Any) -> tuple[Event, ...]:
    """``None``, one event or text, or a sequence of them (Event, text, or a mapping of its fields)."""
    if events is None:
        return ()
    if isinstance(events, Event | str | Mapping):
        events = [events]
    if not isinstance(events, Iterable):
        raise InvalidParameter("events", f"expected events or a list of them, got {events!r}")
    out = []
    for e in events:
        if isinstance(e, Event):
            out.append(e)
        elif isinstance(e, str):
            out.append(Event.parse(e))
        elif isinstance(e, Mapping):
            try:
                out.append(Event(**dict(e)))
            except TypeError as exc:
                raise InvalidParameter("events", str(exc)) from None
        else:
            raise InvalidParameter("events", f"expected an Event or text, got {e!r}")
    return tuple(out)
