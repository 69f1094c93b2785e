"""Days on which a resource used far more (or less) than usual, explained in words and numbers.

Per group (device, app, meter ...) the daily totals form one row of a group x day
matrix. Each day is compared with the *previous* ``window`` days of its group:
the usual level is their median, the spread 1.4826 x their median absolute
deviation (MAD; the factor makes it match a standard deviation for normal data),
and the robust score is ``(value - usual) / spread``. Medians are not moved by
the spikes they are meant to find, unlike a mean and standard deviation. Days
before a group's first row do not count as zeros (the device did not exist yet);
days after it without rows do (the device was silent).

The windows are gathered for candidate days only (enough volume, enough
history), in chunks, and sorted with numpy: no per-group Python loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..defaults import (
    ANOMALY_MIN_FACTOR,
    ANOMALY_MIN_PERIODS,
    ANOMALY_MIN_SPREAD,
    ANOMALY_THRESHOLD,
    ANOMALY_WINDOW,
)
from ..errors import InvalidParameter
from ._common import (
    NS_PER_DAY,
    as_columns,
    bucket_starts,
    check_frame,
    check_positive,
    check_units,
    fmt,
    group_ids,
    nanoseconds,
    require_daily,
    timestamp,
)
from .aggregate import latest_names

__all__ = ["anomalies", "daily_matrix"]

# 1.4826 x MAD estimates the standard deviation of normally distributed data.
MAD_TO_SD = 1.4826
# Candidate windows are gathered this many at a time (x window x 8 bytes of memory).
_CHUNK = 65_536

Direction = Literal["up", "down", "both"]


def daily_matrix(
    df: pd.DataFrame, cols: Sequence[str], quantity: str
) -> tuple[np.ndarray, pd.DataFrame, int]:
    """Group x day totals (NaN before a group's first row); the group keys; the first day number."""
    day = nanoseconds(df["period_start"], "period_start") // NS_PER_DAY
    ids, keys = group_ids(df, cols)
    if not len(day):
        return np.zeros((0, 0)), keys, 0
    d0 = int(day.min())
    width = int(day.max()) - d0 + 1
    cell = ids * width + (day - d0)
    size = len(keys) * width
    q = np.nan_to_num(df[quantity].to_numpy(dtype=np.float64), nan=0.0)
    matrix = np.bincount(cell, weights=q, minlength=size).reshape(len(keys), width)
    seen = np.bincount(cell, minlength=size).reshape(len(keys), width) > 0
    first_seen = seen.argmax(axis=1)
    matrix[np.arange(width)[None, :] < first_seen[:, None]] = np.nan
    return matrix, keys, d0


def anomalies(
    df: pd.DataFrame,
    *,
    by: str | Sequence[str] = "resource_id",
    quantity: str = "quantity",
    window: int = ANOMALY_WINDOW,
    min_periods: int = ANOMALY_MIN_PERIODS,
    threshold: float = ANOMALY_THRESHOLD,
    min_volume: float | None = None,
    min_factor: float = ANOMALY_MIN_FACTOR,
    direction: Direction = "up",
    since: Any = None,
) -> pd.DataFrame:
    """Find days far from each group's usual level, most striking first.

    Args:
        by: what a series is: ``"resource_id"`` (device, app, asset), ``"meter"``,
            ``"product"`` ...
        window: days of history a day is compared with (the previous ``window``).
        min_periods: days of history needed before a day is scored.
        threshold: robust score (in spreads) from which a day is reported.
        min_volume: a spike must reach this daily quantity (a drop must come from a
            usual level of at least this); default the median of all non-zero
            group-days, so tiny series cannot dominate. The value used is in
            ``attrs["min_volume"]``.
        min_factor: a spike must also be at least this many times the usual
            level (a drop at most 1/``min_factor`` of it).
        direction: ``"up"`` (spikes, the default: what costs money), ``"down"``
            (drops, e.g. a device gone silent) or ``"both"``.
        since: only report days from this date on (history before it is used).

    Returns:
        One row per finding: ``*by``, ``resource_name`` (when ``by`` is
        ``"resource_id"``), ``day``, ``value``, ``usual`` (median of the window),
        ``spread``, ``score``, ``factor`` (value / usual), ``history_days``, the
        unit and ``explanation`` (a sentence), ordered by score (largest first).
    """
    df = check_frame(df)
    cols = as_columns(df, by)
    if not cols:
        raise InvalidParameter("by", "expected at least one column naming the series")
    ucol, unit = check_units(df, quantity, cols)
    window = _whole(window, "window", 2)
    min_periods = _whole(min_periods, "min_periods", 1)
    if min_periods > window:
        raise InvalidParameter(
            "min_periods", f"must be at most window ({window}), got {min_periods}"
        )
    threshold = check_positive(threshold, "threshold")
    min_factor = check_positive(min_factor, "min_factor")
    if direction not in ("up", "down", "both"):
        raise InvalidParameter("direction", f"expected 'up', 'down' or 'both', got {direction!r}")

    require_daily(df, "anomalies")
    matrix, keys, d0 = daily_matrix(df, cols, quantity)
    if min_volume is None:
        positive = matrix[matrix > 0]
        volume = float(np.median(positive)) if len(positive) else 0.0
    else:
        volume = check_positive(min_volume, "min_volume", allow_zero=True)
    n_groups, width = matrix.shape

    # History available before each day: valid cells among the previous `window`.
    valid = ~np.isnan(matrix)
    csum = np.zeros((n_groups, width + 1), dtype=np.int64)
    np.cumsum(valid, axis=1, out=csum[:, 1:])
    t = np.arange(width)
    history = csum[:, t] - csum[:, np.maximum(t - window, 0)]
    candidate = valid & (history >= min_periods)
    if direction == "up":
        candidate &= matrix >= volume
    if since is not None:
        first = timestamp(since, "since").value // NS_PER_DAY - d0
        candidate[:, : max(0, min(first, width))] = False
    rows, days = np.nonzero(candidate)

    usual, spread = _window_stats(matrix, rows, days, window)
    value = matrix[rows, days]
    floor = ANOMALY_MIN_SPREAD * np.maximum(np.abs(usual), volume)
    spread = np.maximum(spread, np.where(floor > 0, floor, np.finfo(float).tiny))
    score = (value - usual) / spread
    keep = np.zeros(len(score), dtype=bool)
    if direction in ("up", "both"):
        keep |= (score >= threshold) & (value >= volume) & (value >= min_factor * usual)
    if direction in ("down", "both"):
        keep |= (score <= -threshold) & (usual >= volume) & (value * min_factor <= usual)
    rows, days, value, usual, spread, score = (
        a[keep] for a in (rows, days, value, usual, spread, score)
    )
    order = np.lexsort((days, rows, -np.abs(score)))
    rows, days, value, usual, spread, score = (
        a[order] for a in (rows, days, value, usual, spread, score)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(usual > 0, value / usual, np.where(value > 0, np.inf, np.nan))

    out = keys.iloc[rows].reset_index(drop=True)
    if cols == ["resource_id"] and "resource_name" in df.columns:
        names = latest_names(df, "resource_id", "resource_name", ids=out["resource_id"])
        out["resource_name"] = out["resource_id"].map(names).astype("category")
    out["day"] = bucket_starts(days + d0, "D")
    out["value"] = value
    out["usual"] = usual
    out["spread"] = spread
    out["score"] = score
    out["factor"] = factor
    out["history_days"] = history[rows, days]
    if ucol not in cols:
        out[ucol] = (
            pd.Categorical([unit] * len(out))
            if unit is not None
            else pd.Categorical([None] * len(out))
        )
    out["explanation"] = _explain(out, cols, ucol, window)
    for c in cols:
        if isinstance(out[c].dtype, pd.CategoricalDtype):
            out[c] = out[c].cat.remove_unused_categories()
    out.attrs["min_volume"] = volume
    return out


def _whole(value: Any, parameter: str, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InvalidParameter(parameter, f"expected a whole number >= {minimum}, got {value!r}")
    return value


def _window_stats(
    matrix: np.ndarray, rows: np.ndarray, days: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Median and 1.4826 x MAD of the ``window`` days before each (row, day), NaNs skipped."""
    n_groups = matrix.shape[0]
    padded = np.concatenate([np.full((n_groups, window), np.nan), matrix], axis=1)
    offsets = np.arange(window)
    usual = np.empty(len(rows))
    spread = np.empty(len(rows))
    for lo in range(0, len(rows), _CHUNK):  # chunks bound memory, each chunk is vectorised
        r = rows[lo : lo + _CHUNK]
        d = days[lo : lo + _CHUNK]
        # Window of day d: matrix days d-window .. d-1, i.e. padded columns d .. d+window-1.
        w = padded[r[:, None], d[:, None] + offsets]
        med = _nanmedian_rows(w)
        usual[lo : lo + len(r)] = med
        spread[lo : lo + len(r)] = MAD_TO_SD * _nanmedian_rows(np.abs(w - med[:, None]))
    return usual, spread


def _nanmedian_rows(w: np.ndarray) -> np.ndarray:
    """Row medians ignoring NaN (np.sort puts NaN last; rows need one valid value)."""
    s = np.sort(w, axis=1)
    k = np.count_nonzero(~np.isnan(w), axis=1)
    k = np.maximum(k, 1)
    lo = np.take_along_axis(s, ((k - 1) // 2)[:, None], axis=1)[:, 0]
    hi = np.take_along_axis(s, (k // 2)[:, None], axis=1)[:, 0]
    return (lo + hi) / 2


def _explain(out: pd.DataFrame, cols: list[str], ucol: str, window: int) -> list[str]:
    """One sentence per finding (findings are few: this loop is over results, not data)."""
    if not len(out):
        return []
    label_cols = ["resource_name"] if "resource_name" in out.columns else []
    sentences = []
    for r in out.to_dict("records"):
        ident = ", ".join(str(r[c]) for c in cols if c != ucol and pd.notna(r[c])) or "(none)"
        name = next((str(r[c]) for c in label_cols if pd.notna(r[c])), None)
        who = f"{name} ({ident})" if name and name != ident else ident
        u = f" {r[ucol]}" if pd.notna(r[ucol]) else ""
        f = r["factor"]
        how = (
            "from a usual level of 0"
            if not np.isfinite(f)
            else f"{f:.1f}x its usual {fmt(r['usual'])}"
        )
        sentences.append(
            f"{who} used {fmt(r['value'])}{u} on {r['day']:%Y-%m-%d}, {how} "
            f"(median of the previous {int(r['history_days'])} of {window} days); "
            f"robust score {r['score']:.1f}"
        )
    return sentences
