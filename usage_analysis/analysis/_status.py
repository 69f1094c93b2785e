"""Consumption against an allowance: the status object and the threshold crossings.

Shared by the Particle plan status and the Informatica IPU entitlement status.
A threshold is crossed on the first day the running total reaches it; the running
total is taken as its running maximum, so credits (negative rows) never "uncross"
a threshold and later levels are never crossed before earlier ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from ..errors import SchemaError
from ._common import NS_PER_DAY, bucket_starts, nanoseconds

__all__ = ["AllowanceStatus", "Level", "crossings", "daily_totals", "pick_quantity"]

# Relative tolerance when comparing a running total with a level, so 0.7 * 100000
# computed in floating point still counts as reached by a total of exactly 70000.
_TOLERANCE = 1e-12


@dataclass(frozen=True)
class Level:
    """A threshold: its label, its share of the allowance in percent (if any) and its quantity."""

    label: str
    percent: float | None
    quantity: float


@dataclass(frozen=True, repr=False)
class AllowanceStatus:
    """Consumption of one account in one billing period against its allowance.

    ``thresholds`` has one row per level: ``level``, ``percent`` (of the
    allowance), ``quantity``, ``crossed`` and ``crossed_on`` (the UTC day the
    running total first reached it, NaT if not yet). ``daily`` has ``day``,
    ``quantity``, ``cumulative`` and ``percent`` (of the allowance) for each day
    from the period start to the newest data: the line a chart draws under the
    threshold lines.
    """

    provider: str
    account_id: str | None
    period_start: pd.Timestamp
    period_end: pd.Timestamp  # exclusive
    unit: str | None
    used: float
    allowance: float | None
    thresholds: pd.DataFrame
    daily: pd.DataFrame

    @property
    def percent(self) -> float:
        """Used as a percentage of the allowance (NaN without an allowance)."""
        if not self.allowance:
            return float("nan")
        return self.used / self.allowance * 100.0

    @property
    def remaining(self) -> float:
        """Allowance minus used (negative once over; NaN without an allowance)."""
        if self.allowance is None:
            return float("nan")
        return self.allowance - self.used

    def to_frame(self) -> pd.DataFrame:
        """One row with every scalar field, plus percent, remaining and the last crossed level."""
        row: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, pd.DataFrame):
                row[f.name] = value
        row["percent"] = self.percent
        row["remaining"] = self.remaining
        crossed = self.thresholds.loc[self.thresholds["crossed"]]
        row["last_crossed"] = crossed["level"].iloc[-1] if len(crossed) else None
        out = pd.DataFrame([row])
        for col in ("period_start", "period_end"):
            out[col] = out[col].astype("datetime64[ns, UTC]")
        return out

    def __repr__(self) -> str:
        allowance = "no allowance" if self.allowance is None else f"of {self.allowance:,.0f}"
        crossed = self.thresholds.loc[self.thresholds["crossed"], "level"].tolist()
        return (
            f"<{type(self).__name__} {self.provider} {self.account_id} "
            f"{self.period_start:%Y-%m-%d}..{self.period_end:%Y-%m-%d}: "
            f"{self.used:,.2f} {self.unit or ''} {allowance} ({self.percent:.1f} %), "
            f"crossed {crossed or 'none'}>"
        )


def pick_quantity(df: pd.DataFrame, quantity: str) -> np.ndarray:
    """The quantity values; refuse an all-missing billable column rather than report 0."""
    values = df[quantity].to_numpy(dtype=np.float64)
    if len(values) and np.isnan(values).all():
        raise SchemaError(
            f"column {quantity!r} is empty for these rows; pass quantity='quantity' "
            "to use the consumed quantity instead"
        )
    return values


def daily_totals(
    df: pd.DataFrame, values: np.ndarray, start: pd.Timestamp, end: pd.Timestamp
) -> pd.DataFrame:
    """Per UTC day from ``start`` to the newest day with data before ``end`` (zeros kept)."""
    ns = nanoseconds(df["period_start"], "period_start")
    first = start.value // NS_PER_DAY
    last = -(-end.value // NS_PER_DAY)  # exclusive, rounded up
    inside = (ns >= start.value) & (ns < end.value)
    days = ns[inside] // NS_PER_DAY - first
    if not len(days):
        return pd.DataFrame(
            {
                "day": pd.DatetimeIndex([], tz="UTC").astype("datetime64[ns, UTC]"),
                "quantity": np.zeros(0),
                "cumulative": np.zeros(0),
            }
        )
    span = min(int(days.max()) + 1, last - first)
    q = np.nan_to_num(values[inside], nan=0.0)
    sums = np.bincount(days, weights=q, minlength=span)
    return pd.DataFrame(
        {
            "day": bucket_starts(np.arange(first, first + span), "D"),
            "quantity": sums,
            "cumulative": np.cumsum(sums),
        }
    )


def crossings(daily: pd.DataFrame, levels: Sequence[Level]) -> pd.DataFrame:
    """One row per level with whether and on which day the running total reached it."""
    reached = np.maximum.accumulate(daily["cumulative"].to_numpy()) if len(daily) else np.zeros(0)
    qty = np.array([lv.quantity for lv in levels], dtype=np.float64)
    idx = np.searchsorted(reached, qty * (1 - _TOLERANCE), side="left")
    crossed = idx < len(reached)
    days = daily["day"].to_numpy(dtype="datetime64[ns]")
    crossed_on = np.full(len(levels), np.datetime64("NaT"), dtype="datetime64[ns]")
    crossed_on[crossed] = days[idx[crossed]]
    return pd.DataFrame(
        {
            "level": [lv.label for lv in levels],
            "percent": np.array([np.nan if lv.percent is None else lv.percent for lv in levels]),
            "quantity": qty,
            "crossed": crossed,
            "crossed_on": pd.DatetimeIndex(crossed_on).tz_localize("UTC"),
        }
    )


def with_percent(daily: pd.DataFrame, allowance: float | None) -> pd.DataFrame:
    """Add the running total as a percentage of the allowance."""
    daily = daily.copy()
    daily["percent"] = daily["cumulative"] / allowance * 100.0 if allowance else np.nan
    return daily


def percent_label(share: float) -> str:
    """0.7 -> '70 %'."""
    return f"{share * 100:g} %"
