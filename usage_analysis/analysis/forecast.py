"""Period-end projection from daily history, with an interval and the day the allowance runs out.

The model is deliberately simple and explainable: each group's daily rate is the
mean of its last ``lookback`` complete days; days still to come are that rate;
the newest days, which may be incomplete (HERE reports lag up to 48 h), count as
the larger of what was reported and the rate. The interval treats days as
independent draws around the rate, widened for the rate's own uncertainty:
``sd = s * sqrt(m + m**2 / n)`` for ``m`` estimated days and ``n`` history days.

Planned ``events`` (:mod:`.events`: more devices, a rate factor, extra use a
day) change the rate of the estimated days they cover; the interval moves with
the projection. This is the one month-end forecast: the overview, the burn-down,
the explorer's headline, the monitors, the cost forecast and the reports all call it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from ..defaults import FORECAST_INTERVAL, FORECAST_LOOKBACK_DAYS
from ..errors import InvalidParameter
from ._common import (
    NS_PER_DAY,
    as_columns,
    bucket_of,
    bucket_starts,
    check_frame,
    check_freq,
    check_units,
    data_end,
    data_start,
    group_ids,
    nanoseconds,
    require_daily,
    timestamp,
)
from .events import Event, coerce_events
from .freshness import data_lag

__all__ = ["forecast", "forecast_path"]


def forecast(
    df: pd.DataFrame,
    *,
    by: str | Sequence[str] | None = None,
    quantity: str = "billable_quantity",
    freq: str = "MS",
    start: Any = None,
    end: Any = None,
    as_of: Any = None,
    lag: timedelta | None = None,
    lookback: int = FORECAST_LOOKBACK_DAYS,
    interval: float = FORECAST_INTERVAL,
    allowance: float | Mapping[Any, float] | None = None,
    events: Event | str | Sequence[Event | str] | None = None,
) -> pd.DataFrame:
    """Project each group's total at the end of the current period.

    Args:
        by: groups to project separately (e.g. ``"account_id"``); ``None`` for one.
        quantity: ``"billable_quantity"`` or ``"quantity"``.
        freq: the period: ``"MS"`` (calendar month), ``"W"`` or ``"D"``, holding
            the newest data; or give ``start`` and ``end`` (exclusive) instead.
        as_of: when the data was taken; default the end of the newest data.
        lag: how long data stays incomplete; default 48 h when the frame has HERE
            rows (HERE's documented latency), else none.
        lookback: complete days the daily rate is averaged over.
        interval: central probability of the ``lower``..``upper`` interval.
        allowance: a number, or a mapping group key -> number, for ``runs_out_on``.
        events: planned changes to the estimated days, e.g. ``"+5,000 devices from
            2027-01-15"`` or ``"rate x1.3 from 2027-01-01"`` (see :class:`Event`).

    Returns:
        One row per group: ``*by``, ``period_start``, ``period_end``, ``as_of``,
        ``complete_until`` (days before it are complete), ``used`` (reported so
        far), ``daily_rate``, ``history_days``, ``projected``, ``lower``, ``upper``,
        ``allowance``, ``percent`` (used, of the allowance), ``projected_percent``
        (projected, of the allowance), ``runs_out_on``
        (the UTC day the projected running total reaches the allowance within the
        period, NaT if it does not) and the unit.
    """
    return _forecast(**locals())[0]


def forecast_path(df: pd.DataFrame, **options: Any) -> pd.DataFrame:
    """The day-by-day course :func:`forecast` projects, for a frame of one group.

    Takes :func:`forecast`'s options (no ``by``); returns ``day`` and ``cumulative``
    (the projected running total at the end of that day), one row per day of the
    period, so a chart draws the forecast bending where a planned event starts.
    """
    if options.get("by") is not None:
        raise InvalidParameter("by", "forecast_path draws one group: select its rows first")
    out, path, first_day = _forecast(df, **options)
    if len(out) != 1:
        raise InvalidParameter("df", f"expected the rows of one group, got {len(out)} groups")
    days = bucket_starts(np.arange(first_day, first_day + path.shape[1]), "D")
    return pd.DataFrame({"day": days, "cumulative": np.cumsum(path[0])})


def _forecast(
    df: pd.DataFrame,
    *,
    by: str | Sequence[str] | None = None,
    quantity: str = "billable_quantity",
    freq: str = "MS",
    start: Any = None,
    end: Any = None,
    as_of: Any = None,
    lag: timedelta | None = None,
    lookback: int = FORECAST_LOOKBACK_DAYS,
    interval: float = FORECAST_INTERVAL,
    allowance: float | Mapping[Any, float] | None = None,
    events: Event | str | Sequence[Event | str] | None = None,
) -> tuple[pd.DataFrame, np.ndarray, int]:
    df = check_frame(df)
    cols = as_columns(df, by)
    freq_ = check_freq(freq)
    ucol, unit = check_units(df, quantity, cols)
    if not isinstance(lookback, int) or isinstance(lookback, bool) or lookback < 1:
        raise InvalidParameter(
            "lookback", f"expected a whole number of days >= 1, got {lookback!r}"
        )
    if not 0 < float(interval) < 1:
        raise InvalidParameter(
            "interval", f"expected a probability between 0 and 1, got {interval!r}"
        )
    lag = data_lag(df, lag)
    planned = coerce_events(events)

    require_daily(df, "forecast")
    latest = data_end(df)
    as_of_ts = timestamp(as_of, "as_of") if as_of is not None else latest
    if as_of_ts is None:
        raise InvalidParameter("as_of", "the frame is empty; give as_of and the period")
    p_start, p_end = _period(freq_, start, end, as_of_ts)

    # Day grid (day numbers since the epoch): history before the period, then the period.
    d_period = p_start.value // NS_PER_DAY
    d_end = -(-p_end.value // NS_PER_DAY)
    d_asof = min(-(-as_of_ts.value // NS_PER_DAY), d_end)  # days up to here have (some) data
    d_complete = min((as_of_ts.value - int(lag.total_seconds() * 1e9)) // NS_PER_DAY, d_asof)
    first = data_start(df)
    d_first = first.value // NS_PER_DAY if first is not None else d_period
    d_hist = max(d_first, min(d_period, d_complete - lookback))
    d_hist = min(d_hist, d_period)
    width = d_end - d_hist

    ns = nanoseconds(df["period_start"], "period_start")
    day = ns // NS_PER_DAY
    inside = (day >= d_hist) & (day < d_asof)
    rows = df.loc[inside] if not inside.all() else df
    ids, keys = group_ids(rows, cols)
    n_groups = len(keys)
    q = np.nan_to_num(rows[quantity].to_numpy(dtype=np.float64), nan=0.0)
    cell = ids * width + (day[inside] - d_hist)
    matrix = np.bincount(cell, weights=q, minlength=n_groups * width).reshape(n_groups, width)

    i_period, i_asof, i_complete = d_period - d_hist, d_asof - d_hist, d_complete - d_hist
    # History starts at the frame's first day: days before it are unknown, not zero
    # (a report asked from the 19th says nothing of the 1st to the 18th).
    h_lo = max(0, i_complete - lookback, min(d_first - d_hist, i_complete))
    history = matrix[:, h_lo : max(h_lo, i_complete)]
    n_hist = history.shape[1]
    if n_hist:
        rate = history.mean(axis=1)
    else:
        rate = np.full(n_groups, np.nan)
    spread = history.std(axis=1, ddof=1) if n_hist >= 2 else np.full(n_groups, np.nan)

    period = matrix[:, i_period:]
    actual_days = max(0, i_asof - i_period)
    complete_days = min(max(0, i_complete - i_period), actual_days)
    path = period.copy()
    inc = slice(complete_days, actual_days)
    path[:, inc] = np.fmax(period[:, inc], rate[:, None])
    path[:, actual_days:] = rate[:, None]
    if planned:
        resources = _resources(
            rows, ids, n_groups, day[inside], q, d_hist + h_lo, d_hist + i_complete
        )
        planned_rate = _planned_rates(planned, rate, resources, d_period, path.shape[1])
        path[:, inc] = np.fmax(period[:, inc], planned_rate[:, inc])
        path[:, actual_days:] = planned_rate[:, actual_days:]
    used = period[:, :actual_days].sum(axis=1)
    projected = path.sum(axis=1)
    m = path.shape[1] - complete_days  # estimated days
    z = NormalDist().inv_cdf(0.5 + float(interval) / 2)
    if m == 0:
        sd = np.zeros(n_groups)
    else:
        sd = spread * np.sqrt(m + m * m / max(n_hist, 1))
    lower = np.fmax(projected - z * sd, used)
    upper = projected + z * sd
    lower = np.where(np.isnan(sd), np.nan, lower)
    upper = np.where(np.isnan(sd), np.nan, upper)
    if m == 0:
        lower, upper = projected.copy(), projected.copy()

    limits = _allowances(allowance, keys, cols)
    runs_out = _runs_out(path, limits, p_start.value // NS_PER_DAY)
    with np.errstate(invalid="ignore", divide="ignore"):
        percent = np.where(limits > 0, used / limits * 100.0, np.nan)
        projected_percent = np.where(limits > 0, projected / limits * 100.0, np.nan)
    complete_until = bucket_starts(np.array([d_complete]), "D")[0]

    def moment(ts: pd.Timestamp) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(
            np.full(n_groups, ts.value, dtype=np.int64).view("datetime64[ns]")
        ).tz_localize("UTC")

    # The answer built in one go (each column set on a frame costs about a millisecond).
    columns: dict[str, Any] = {}
    for c in cols:
        key = keys[c]
        if isinstance(key.dtype, pd.CategoricalDtype):
            key = key.cat.remove_unused_categories()  # as finish() does
        columns[c] = key.array
    columns.update(
        period_start=moment(p_start),
        period_end=moment(p_end),
        as_of=moment(as_of_ts),
        complete_until=moment(complete_until),
        used=used,
        daily_rate=rate,
        history_days=np.full(n_groups, n_hist, dtype=np.int64),
        projected=projected,
        lower=lower,
        upper=upper,
        allowance=limits,
        percent=percent,
        projected_percent=projected_percent,
        runs_out_on=runs_out,
    )
    if ucol not in cols:
        columns[ucol] = (
            pd.Categorical([unit] * n_groups)
            if unit is not None
            else pd.Categorical([None] * n_groups, categories=pd.Index([], dtype="str"))
        )
    return pd.DataFrame(columns, index=pd.RangeIndex(n_groups)), path, d_period


def _period(
    freq: str | None, start: Any, end: Any, as_of: pd.Timestamp
) -> tuple[pd.Timestamp, pd.Timestamp]:
    if (start is None) != (end is None):
        raise InvalidParameter(
            "end" if end is None else "start", "give both start and end, or neither"
        )
    if start is not None:
        s, e = timestamp(start, "start"), timestamp(end, "end")
        if e <= s:
            raise InvalidParameter("end", f"must be after start ({s}), got {e}")
        return s, e
    if freq is None:
        raise InvalidParameter("freq", "expected 'D', 'W' or 'MS' (or give start and end)")
    # The period holding the newest data: the instant just before as_of.
    b = bucket_of(as_of - pd.Timedelta(1, "ns"), freq)
    edges = bucket_starts(np.array([b, b + 1]), freq)
    return edges[0], edges[1]


def _resources(
    rows: pd.DataFrame,
    ids: np.ndarray,
    n_groups: int,
    day: np.ndarray,
    q: np.ndarray,
    lo: int,
    hi: int,
) -> np.ndarray:
    """Distinct resources with use in each group's history days ``lo``..``hi`` (NaN if none)."""
    counts = np.full(n_groups, np.nan)
    if "resource_id" not in rows.columns:
        return counts
    res = rows["resource_id"]
    codes = (
        res.cat.codes
        if isinstance(res.dtype, pd.CategoricalDtype)
        else res.astype("category").cat.codes
    ).to_numpy()
    keep = (codes >= 0) & (day >= lo) & (day < hi) & (np.abs(q) > 0)
    if keep.any():
        pairs = np.unique(np.stack([ids[keep], codes[keep]]), axis=1)
        n = np.bincount(pairs[0], minlength=n_groups).astype(np.float64)
        counts = np.where(n > 0, n, np.nan)
    return counts


def _planned_rates(
    events: tuple[Event, ...], rate: np.ndarray, resources: np.ndarray, first_day: int, days: int
) -> np.ndarray:
    """The daily rate of each group on each day of the period, with the events in force."""
    out = np.repeat(rate[:, None], days, axis=1)
    scale = np.ones(days)
    add = np.zeros(days)
    devices = np.zeros(days)
    day_numbers = np.arange(first_day, first_day + days)
    for e in events:
        lo = e.start.value // NS_PER_DAY
        hi = e.end.value // NS_PER_DAY if e.end is not None else np.iinfo(np.int64).max
        on = (day_numbers >= lo) & (day_numbers < hi)
        if e.kind == "scale":
            scale[on] *= e.value
        elif e.kind == "add":
            add[on] += e.value
        else:
            devices[on] += e.value
    if devices.any() and np.isnan(resources).any():
        raise InvalidParameter(
            "events",
            "a change in devices needs rows with resource_id (devices, apps or assets) "
            "in the forecast's history; use 'rate x...' or '+... per day' instead",
        )
    per_resource = np.divide(rate, resources, out=np.zeros_like(rate), where=resources > 0)
    out = (out + add[None, :] + devices[None, :] * per_resource[:, None]) * scale[None, :]
    return out


def _allowances(allowance: Any, keys: pd.DataFrame, cols: list[str]) -> np.ndarray:
    n = len(keys)
    if allowance is None:
        return np.full(n, np.nan)
    if isinstance(allowance, Mapping):
        if not cols:
            raise InvalidParameter("allowance", "a mapping needs groups (by=...); give a number")
        labels = (
            keys[cols[0]].astype(object).tolist()
            if len(cols) == 1
            else list(keys[cols].astype(object).itertuples(index=False, name=None))
        )
        values = [allowance.get(k) for k in labels]
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    try:
        value = float(allowance)
    except (TypeError, ValueError):
        raise InvalidParameter(
            "allowance", f"expected a number or a mapping, got {allowance!r}"
        ) from None
    if not value > 0:
        raise InvalidParameter("allowance", f"expected a number > 0, got {allowance!r}")
    return np.full(n, value)


def _runs_out(path: np.ndarray, limits: np.ndarray, first_day: int) -> pd.DatetimeIndex:
    """The first day the running total of ``path`` reaches each group's limit (NaT if never)."""
    n = len(limits)
    days = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    if path.shape[1]:
        reached = np.maximum.accumulate(np.cumsum(path, axis=1), axis=1)
        hit = reached >= (limits * (1 - 1e-12))[:, None]
        any_hit = hit.any(axis=1) & ~np.isnan(limits)
        idx = hit.argmax(axis=1)
        days[any_hit] = (first_day + idx[any_hit]) * NS_PER_DAY
    return pd.DatetimeIndex(days.view("datetime64[ns]")).tz_localize("UTC")
