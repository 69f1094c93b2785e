"""The explorer's headline numbers: each line says the period it covers.

The totals cover the selected days; the plan's use and the month-end forecast
cover the billing month. A forecast is never below the month's usage so far
(what is used is used), and says how much data it rests on and its interval.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import pandas as pd

from ..analysis import ParticlePlan, forecast, plan_status
from ..analysis.events import Event
from ..analysis.freshness import Freshness, ran_out_text
from ..errors import UsageAnalysisError
from ..schema import report_rows
from ._common import esc, fmt_number

__all__ = ["Headline", "compute_headline", "headline_html", "unit_totals_from_codes"]


@dataclass(frozen=True)
class Headline:
    """The numbers above the chart, for the filtered rows.

    ``totals`` holds the total per unit (quantities of different units are never
    added) over ``first_day``..``last_day``; ``unit``/``total`` are the main unit
    (most rows) and its total. With a Particle plan, ``percent`` is the plan
    month's use of the allowance; ``forecast`` projects the main unit (or the
    plan's) to ``forecast_end`` (exclusive), from ``month_used`` so far in
    ``period``, with the interval ``forecast_lower``..``forecast_upper`` and the
    ``history_days`` the daily rate is averaged over. ``as_of`` and
    ``complete_until`` are the forecast's (:func:`usage_analysis.freshness`): the
    headline says "data as of" and which days are provisional.
    """

    rows: int
    totals: Mapping[str, float] = field(default_factory=dict)
    unit: str | None = None
    total: float | None = None
    first_day: pd.Timestamp | None = None
    last_day: pd.Timestamp | None = None
    allowance: float | None = None
    percent: float | None = None
    forecast: float | None = None
    forecast_lower: float | None = None
    forecast_upper: float | None = None
    forecast_start: pd.Timestamp | None = None
    forecast_end: pd.Timestamp | None = None
    month_used: float | None = None
    history_days: int | None = None
    runs_out_on: pd.Timestamp | None = None
    as_of: pd.Timestamp | None = None  # the forecast's "as of": the end of the newest data
    complete_until: pd.Timestamp | None = None  # days from here on are provisional (HERE)
    plan: str | None = None
    period: str | None = None
    note: str | None = None


def compute_headline(
    df: pd.DataFrame,
    *,
    quantity: str,
    plan: ParticlePlan | None,
    events: tuple[Event, ...] = (),
) -> Headline:
    """Totals per unit, use of the Particle plan and the forecast, for ``df``.

    ``events``: planned changes (:class:`~usage_analysis.Event`) the forecast takes
    into account, passed to :func:`usage_analysis.forecast` as the overview does.
    """
    ucol = "unit" if quantity == "quantity" else "billable_unit"
    if not len(df):
        return Headline(rows=0, note="no rows match the filters")
    totals, unit = unit_totals(df, ucol, quantity)
    starts = df["period_start"]
    span = {
        "first_day": pd.Timestamp(starts.min()).floor("D"),
        "last_day": (pd.Timestamp(df["period_end"].max()) - pd.Timedelta(1, "ns")).floor("D"),
    }
    particle = (df["provider"] == "particle").to_numpy(dtype=bool, na_value=False)
    if plan is not None and particle.any():
        prows = df.loc[particle] if not particle.all() else df
        return _plan_headline(
            prows, totals, span, quantity=quantity, plan=plan, rows=report_rows(df), events=events
        )
    projection: dict[str, object] = {}
    note = None
    if unit is not None:
        rows = df.loc[(df[ucol] == unit).to_numpy(dtype=bool, na_value=False)]
        try:
            projection = _projection(
                forecast(rows, quantity=quantity, freq="MS", events=events or None)
            )
        except UsageAnalysisError as exc:
            note = f"no forecast: {exc}"
    return Headline(
        rows=report_rows(df),
        totals=totals,
        unit=unit,
        total=totals.get(unit) if unit is not None else None,
        note=note,
        **span,  # type: ignore[arg-type]
        **projection,  # type: ignore[arg-type]
    )


def unit_totals(df: pd.DataFrame, ucol: str, quantity: str) -> tuple[dict[str, float], str | None]:
    """The total per unit (largest first) and the main unit (most rows), from category codes.

    One pass over the unit column's codes: no grouping by strings, no second pass
    to count rows per unit.
    """
    units = df[ucol]
    if not isinstance(units.dtype, pd.CategoricalDtype):
        units = units.astype("category")
    values = df[quantity].to_numpy(dtype=np.float64)
    return unit_totals_from_codes(units.cat.codes.to_numpy(), units.cat.categories, values)


def unit_totals_from_codes(
    codes: np.ndarray, cats: pd.Index, values: np.ndarray, *, has_nan: bool = True
) -> tuple[dict[str, float], str | None]:
    """:func:`unit_totals` of unit codes (-1 = missing) and their quantities (NaN adds 0;
    ``has_nan=False``: the values hold no NaN, nothing to replace)."""
    n = len(cats)
    clean = np.nan_to_num(values, nan=0.0) if has_nan else values
    rows = np.bincount(codes + 1, minlength=n + 1)[1:]
    sums = np.bincount(codes + 1, weights=clean, minlength=n + 1)[1:]
    by_rows = [int(k) for k in np.argsort(-rows, kind="stable") if rows[k] > 0]
    by_total = [int(k) for k in np.argsort(-sums, kind="stable") if rows[k] > 0]
    totals = {str(cats[k]): float(sums[k]) for k in by_total}
    return totals, (str(cats[by_rows[0]]) if by_rows else None)


def _projection(fc: pd.DataFrame) -> dict[str, object]:
    """The forecast's first row as Headline fields; never below what is used so far."""
    row = fc.iloc[0]
    used = float(row["used"])
    projected = float(row["projected"])
    fresh = {
        "as_of": pd.Timestamp(row["as_of"]),
        "complete_until": pd.Timestamp(row["complete_until"]),
    }
    if not np.isfinite(projected):
        return {"month_used": used, "forecast_start": pd.Timestamp(row["period_start"]), **fresh}

    def at_least_used(value: float) -> float | None:
        return max(value, used) if np.isfinite(value) else None

    runs_out = row.get("runs_out_on")
    return {
        "forecast": max(projected, used),
        "forecast_lower": at_least_used(float(row["lower"])),
        "forecast_upper": at_least_used(float(row["upper"])),
        "forecast_start": pd.Timestamp(row["period_start"]),
        "forecast_end": pd.Timestamp(row["period_end"]),
        "month_used": used,
        "history_days": int(row["history_days"]),
        "runs_out_on": None if runs_out is None or pd.isna(runs_out) else pd.Timestamp(runs_out),
        **fresh,
    }


def _plan_headline(
    prows: pd.DataFrame,
    totals: dict[str, float],
    span: dict[str, pd.Timestamp],
    *,
    quantity: str,
    plan: ParticlePlan,
    rows: int,
    events: tuple[Event, ...] = (),
) -> Headline:
    ucol = "unit" if quantity == "quantity" else "billable_unit"
    unit_values = prows[ucol].dropna().unique()
    unit = str(unit_values[0]) if len(unit_values) else None
    try:
        status = plan_status(prows, plan, quantity=quantity)
    except UsageAnalysisError as exc:
        # E.g. several Particle accounts: the plan is per account.
        return Headline(
            rows=rows,
            totals=totals,
            unit=unit,
            total=totals.get(unit or ""),
            plan=plan.name,
            note=str(exc),
            **span,  # type: ignore[arg-type]
        )
    mine = prows
    if status.account_id is not None:
        mine = prows.loc[(prows["account_id"] == status.account_id).to_numpy(bool, na_value=False)]
    projection: dict[str, object] = {}
    note = None
    try:
        fc = forecast(
            mine,
            quantity=quantity,
            start=status.period_start,
            end=status.period_end,
            allowance=status.allowance,
            events=events or None,
        )
        projection = _projection(fc)
        # The percent used is the forecast's (one computation for every surface).
        percent = float(fc["percent"].iloc[0])
    except UsageAnalysisError as exc:
        note = f"no forecast: {exc}"
        percent = status.percent
    projection.setdefault("forecast_end", status.period_end)
    projection.setdefault("forecast_start", status.period_start)
    last = status.period_end - pd.Timedelta(days=1)
    return Headline(
        rows=rows,
        totals=totals,
        unit=status.unit or unit,
        total=totals.get(status.unit or unit or ""),
        allowance=status.allowance,
        percent=percent,
        plan=plan.name,
        period=f"{status.period_start:%b %Y}"
        if plan.months == 1
        else f"{status.period_start:%b %d, %Y} to {last:%b %d, %Y}",
        note=note,
        **span,  # type: ignore[arg-type]
        **projection,  # type: ignore[arg-type]
    )


def _day(d: pd.Timestamp) -> str:
    return f"{d:%b} {d.day}"


def _days(first: pd.Timestamp, last: pd.Timestamp) -> str:
    """'Oct 1 to Dec 2, 2026' (UTC days, both included)."""
    if first == last:
        return f"{_day(first)}, {first.year}"
    head = _day(first) if first.year == last.year else f"{_day(first)}, {first.year}"
    return f"{head} to {_day(last)}, {last.year}"


def headline_html(h: Headline) -> str:
    """The headline numbers as HTML, each in an element with a stable CSS class."""
    if not h.rows:
        return "<div class='ua-headline-total'>No rows match the filters.</div>"
    totals = " · ".join(f"{fmt_number(v)} {esc(u)}" for u, v in h.totals.items())
    days = (
        f" <span class='ua-headline-days' style='font-size:0.6em;font-weight:400;color:#444'>"
        f"{esc(_days(h.first_day, h.last_day))} (UTC)</span>"
        if h.first_day is not None and h.last_day is not None
        else ""
    )
    parts = [
        f"<div class='ua-headline-total' style='font-size:1.5em;font-weight:600'>"
        f"{totals}{days}</div>",
        f"<div class='ua-headline-rows' style='color:#666'>{h.rows:,} rows</div>",
    ]
    month_end = h.forecast_end - pd.Timedelta(days=1) if h.forecast_end is not None else None
    if h.percent is not None and np.isfinite(h.percent):
        parts.append(
            f"<div class='ua-headline-percent'>{esc(h.period)}: {h.percent:.1f} % of the "
            f"{esc(h.plan)} plan's {fmt_number(h.allowance)} {esc(h.unit)} used so far</div>"
        )
    if h.month_used is not None and h.forecast_start is not None and month_end is not None:
        upto = min(h.last_day, month_end) if h.last_day is not None else month_end
        so_far = (
            f"{h.forecast_start:%b %Y} so far (to {_day(upto)}): "
            f"{fmt_number(h.month_used)} {esc(h.unit)}"
        )
        if h.forecast is None:
            line = f"{so_far}; not enough complete days for a forecast"
        else:
            detail = [f"from {h.history_days} day{'s' if h.history_days != 1 else ''} of data"]
            lower, upper = h.forecast_lower, h.forecast_upper
            if lower is not None and upper is not None and round(upper) > round(lower):
                detail.insert(
                    0, f"likely {fmt_number(h.forecast_lower)} to {fmt_number(h.forecast_upper)}"
                )
            line = (
                f"{so_far}; forecast by {_day(month_end)}: {fmt_number(h.forecast)} "
                f"{esc(h.unit)} ({'; '.join(detail)})"
            )
            if h.runs_out_on is not None:
                line += "; " + ran_out_text(h.runs_out_on, h.as_of)
        parts.append(f"<div class='ua-headline-forecast'>{line}</div>")
    if h.as_of is not None:
        fresh = Freshness(
            h.as_of,
            h.complete_until,
            h.forecast_start,
            h.forecast_end,
            lag=(h.as_of - h.complete_until) if h.complete_until is not None else timedelta(0),
        )
        text = fresh.text
        if fresh.provisional and h.complete_until is not None:
            text += f"; days from {_day(h.complete_until)} are provisional (HERE reports lag)"
        parts.append(
            f"<div class='ua-headline-asof' style='color:#666;font-size:0.85em'>{esc(text)}</div>"
        )
    if h.note:
        parts.append(f"<div class='ua-headline-note' style='color:#a33'>{esc(h.note)}</div>")
    return "".join(parts)
