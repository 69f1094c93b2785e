"""How fresh a frame's numbers are: one function every chart, table, headline and alert asks.

``as_of`` is the end of the newest data (what a forecast is made "as of");
``complete_until`` the instant before which every day is complete: HERE's reports
lag up to 48 h, so its newest two days are provisional. The period is the
calendar month holding the newest data, ``partial`` while it has not ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from ..defaults import HERE_DATA_LAG
from ..errors import InvalidParameter
from ._common import NS_PER_DAY, bucket_of, bucket_starts, data_end, timestamp

__all__ = ["Freshness", "data_lag", "freshness", "ran_out_text"]


@dataclass(frozen=True)
class Freshness:
    """When the data was taken and which of it may still change."""

    as_of: pd.Timestamp | None  # the end of the newest data (UTC)
    complete_until: pd.Timestamp | None  # days before it are complete
    period_start: pd.Timestamp | None  # the period holding the newest data
    period_end: pd.Timestamp | None  # exclusive
    lag: timedelta = timedelta(0)

    @property
    def partial(self) -> bool:
        """True while the period holding the newest data has not ended ("so far")."""
        return (
            self.as_of is not None and self.period_end is not None and self.as_of < self.period_end
        )

    @property
    def provisional(self) -> bool:
        """True when the newest days may still grow (HERE's last 48 h)."""
        return (
            self.as_of is not None
            and self.complete_until is not None
            and self.complete_until < self.as_of
        )

    @property
    def text(self) -> str:
        """'data as of 2026-12-07 00:00 UTC' (the line every figure carries)."""
        if self.as_of is None:
            return "no data"
        return f"data as of {self.as_of:%Y-%m-%d %H:%M} UTC"

    @property
    def footnote(self) -> str:
        """The 'as of' line with the partial period and the provisional days, if any."""
        parts = [self.text]
        if self.partial and self.period_start is not None:
            parts.append(f"{self.period_start:%b %Y} so far")
        if self.provisional and self.complete_until is not None:
            hours = self.lag.total_seconds() / 3600
            parts.append(
                f"days from {self.complete_until:%b} {self.complete_until.day} are provisional "
                f"(HERE reports lag up to {hours:.0f} h)"
            )
        return " · ".join(parts)


def data_lag(df: pd.DataFrame, lag: timedelta | None = None) -> timedelta:
    """How long the frame's newest data stays incomplete: ``lag``, else 48 h with HERE rows, else 0."""
    if lag is not None:
        if not isinstance(lag, timedelta) or lag < timedelta(0):
            raise InvalidParameter("lag", f"expected a timedelta >= 0, got {lag!r}")
        return lag
    if "provider" in df.columns and (df["provider"] == "here").to_numpy(bool, na_value=False).any():
        return HERE_DATA_LAG
    return timedelta(0)


def freshness(
    df: pd.DataFrame,
    *,
    as_of: Any = None,
    lag: timedelta | None = None,
    freq: str = "MS",
) -> Freshness:
    """The freshness of ``df``'s numbers (a unified frame; may be empty).

    Args:
        as_of: when the data was taken; default the end of the newest data.
        lag: how long data stays incomplete; default 48 h when the frame has HERE rows.
        freq: the period the "so far" refers to (``"MS"``: the calendar month).
    """
    lag_ = data_lag(df, lag)
    as_of_ts = timestamp(as_of, "as_of") if as_of is not None else data_end(df)
    if as_of_ts is None:
        return Freshness(None, None, None, None, lag_)
    b = bucket_of(as_of_ts - pd.Timedelta(1, "ns"), freq)
    start, end = bucket_starts(np.array([b, b + 1]), freq)
    complete_day = (as_of_ts.value - int(lag_.total_seconds() * 1e9)) // NS_PER_DAY
    complete = min(pd.Timestamp(complete_day * NS_PER_DAY, tz="UTC"), as_of_ts)
    return Freshness(as_of_ts, complete, start, end, lag_)


def ran_out_text(day: Any, as_of: Any, *, what: str = "the allowance") -> str:
    """'the allowance runs out on Dec 27' or, for a day already past, 'ran out on Dec 3'."""
    d = pd.Timestamp(day)
    verb = "ran out" if as_of is not None and d < pd.Timestamp(as_of) else "runs out"
    return f"{what} {verb} on {d:%b} {d.day}".strip()
