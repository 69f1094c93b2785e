"""Freshness on every chart: the 'data as of' line, and which bars are partial or provisional.

All of it comes from :func:`usage_analysis.analysis.freshness.freshness`, the one
place the as-of time and HERE's provisional days are computed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..analysis._common import bucket_of, bucket_starts, data_end
from ..analysis.freshness import Freshness, freshness
from ..defaults import HERE_DATA_LAG

PARTIAL = "."  # the period still running (this month so far)
PROVISIONAL = "/"  # HERE's last 48 h


Fresh = tuple[Freshness, Freshness | None]


def chart_freshness(df: pd.DataFrame) -> Fresh:
    """The frame's freshness, and HERE's (whose newest days are provisional) when it has HERE rows."""
    times = df[["period_start", "period_end"]]
    fresh = freshness(times, as_of=data_end(times))
    here = (df["provider"] == "here").to_numpy(dtype=bool, na_value=False)
    if not here.any():
        return fresh, None
    mine = times.loc[here] if not here.all() else times
    return fresh, freshness(mine, as_of=data_end(mine), lag=HERE_DATA_LAG)


def note(
    df: pd.DataFrame, freq: str | None = None, *, marked: bool = False, fresh: Fresh | None = None
) -> str:
    """'data as of … UTC', with the partial period and HERE's provisional days when ``marked``."""
    overall, here = fresh if fresh is not None else chart_freshness(df)
    fresh_ = overall
    parts = [fresh_.text]
    if marked and freq is not None and fresh_.as_of is not None:
        b = bucket_of(fresh_.as_of - pd.Timedelta(1, "ns"), freq)
        end = bucket_starts(np.array([b + 1]), freq)[0]
        if fresh_.as_of < end:
            parts.append("dotted bars: period so far")
    if here is not None and here.provisional and here.complete_until is not None:
        c = here.complete_until
        parts.append(
            f"HERE days from {c:%b} {c.day} are provisional"
            + (" (hatched)" if marked else "")
            + " (HERE reports lag up to 48 h)"
        )
    return " · ".join(parts)


def caption(of: pd.DataFrame | Freshness) -> str:
    """The 'data as of … UTC' line a table carries, as its chart would.

    ``of``: the unified frame the table's rows come from (HERE's provisional days
    are named too), or a :class:`Freshness` already asked of it.
    """
    if isinstance(of, Freshness):
        return of.text
    if not isinstance(of, pd.DataFrame):
        from ..errors import InvalidParameter

        raise InvalidParameter(
            "fresh", f"expected a unified frame or a Freshness, got {type(of).__name__}"
        )
    if not {"period_start", "period_end", "provider"} <= set(of.columns):
        return freshness(of).text
    return note(of)


def patterns(df: pd.DataFrame, starts: Any, freq: str, *, fresh: Fresh | None = None) -> list[str]:
    """One bar pattern per period start: partial (dots), HERE-provisional (hatch) or none."""
    overall, here = fresh if fresh is not None else chart_freshness(df)
    fresh_ = overall
    idx = pd.DatetimeIndex(starts)
    if idx.tz is None:
        idx = idx.tz_localize("UTC")
    out = [""] * len(idx)
    if fresh_.as_of is None or not len(idx):
        return out
    uniq, inverse = np.unique(idx.asi8, return_inverse=True)
    buckets = np.array([bucket_of(pd.Timestamp(t, tz="UTC"), freq) for t in uniq])
    ends = bucket_starts(buckets + 1, freq)
    partial = np.asarray(ends > fresh_.as_of)
    provisional = np.zeros(len(uniq), dtype=bool)
    if here is not None and here.provisional and here.complete_until is not None:
        provisional = np.asarray(ends > here.complete_until)
    shape = np.where(provisional, PROVISIONAL, np.where(partial, PARTIAL, ""))
    return [str(v) for v in shape[inverse]]


def with_note(text: str | None, extra: str) -> str:
    return f"{text} · {extra}" if text else extra


def bar_marker(color: str, shapes: list[str] | np.ndarray) -> dict[str, Any]:
    """A bar's marker: its colour, and the pattern of partial or provisional periods
    (a string array is copied whole where a list is copied item by item)."""
    if not any(shapes):
        return {"color": color}
    return {"color": color, "pattern": {"shape": shapes, "fillmode": "overlay", "size": 6}}
