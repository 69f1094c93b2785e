"""Cumulative usage in a billing period against the allowance, its thresholds and forecast."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..analysis import (
    AllowanceStatus,
    ParticlePlan,
    plan_status,
)
from ..analysis import forecast as project
from ..defaults import (
    FORECAST_INTERVAL,
)
from ..errors import InvalidParameter, UsageAnalysisError
from ._common import (
    _num,
    _stamps,
    as_unified,
    provider_name,
)
from ._style import (
    PALETTE,
    _esc,
    _layout,
)


def cumulative_vs_allowance(
    df: pd.DataFrame,
    *,
    plan: ParticlePlan | AllowanceStatus,
    month: Any = None,
    account: str | None = None,
    forecast: bool = True,
    title: str | None = None,
) -> go.Figure:
    """Cumulative usage in a billing period against the allowance, its thresholds and forecast.

    Args:
        plan: a :class:`~usage_analysis.analysis.ParticlePlan` (the status is
            computed with :func:`~usage_analysis.analysis.plan_status`), or a status
            already computed, e.g. ``ipu_status(df, entitlement=...)`` for Informatica.
        month: with a Particle plan, any date in the month to show (default: the
            newest data's month).
        account: with a Particle plan, the org or user when the frame holds several.
        forecast: draw the projection to the period end with its interval band.

    The threshold lines (70/90/100 % for Particle) are labelled with their
    quantity and the day each was crossed.
    """
    df = as_unified(df)
    if isinstance(plan, ParticlePlan):
        status: AllowanceStatus = plan_status(df, plan, month=month, account=account)
    elif isinstance(plan, AllowanceStatus):
        status = plan
    else:
        raise InvalidParameter(
            "plan",
            f"expected a ParticlePlan (e.g. ParticlePlan.basic(blocks=2)) or a status from "
            f"plan_status()/ipu_status(), got {type(plan).__name__}",
        )
    unit = status.unit or ""
    allowance = status.allowance
    period = (
        f"{status.period_start:%Y-%m-%d} to {status.period_end - pd.Timedelta(days=1):%Y-%m-%d}"
    )
    name = getattr(getattr(status, "plan", None), "name", None)
    who = provider_name(status.provider)
    head = f"{who} {name} plan" if name else who
    if allowance:
        summary = f"{status.used:,.0f} of {allowance:,.0f} {unit} ({status.percent:.1f} %)"
    else:
        summary = f"{status.used:,.0f} {unit}"
    text = title or f"{head}: {summary}"
    fig = go.Figure()
    daily = status.daily
    # The running total at the END of each day: a threshold is crossed during the day.
    ends = pd.DatetimeIndex(daily["day"]) + pd.Timedelta(days=1)
    x0 = _stamps([status.period_start])
    fig.add_trace(
        go.Scatter(
            x=np.concatenate([x0, _stamps(ends)]),
            y=np.concatenate([[0.0], _num(daily["cumulative"])]),
            mode="lines+markers",
            name="used",
            line={"color": PALETTE[0], "width": 3},
            marker={"size": 4},
            customdata=np.concatenate([[0.0], _num(daily["quantity"])]),
            hovertemplate=(
                "through %{x|%Y-%m-%d %H:%M} UTC<br>%{y:,} "
                + _esc(unit)
                + "<br>that day: %{customdata:,}<extra></extra>"
            ),
        )
    )
    note = f"billing period {period} (UTC)"
    if forecast and len(daily):
        note += _add_forecast(fig, df, status, unit)
    x_end = _stamps([status.period_end])[0]
    colors = {70.0: "#EECA3B", 90.0: "#F58518", 100.0: "#E45756"}
    lines: list[dict[str, Any]] = []
    labels: list[dict[str, Any]] = []
    for k, row in enumerate(status.thresholds.itertuples(index=False)):
        crossed = f", crossed {pd.Timestamp(row.crossed_on):%b %d}" if bool(row.crossed) else ""
        color = (
            colors.get(float(row.percent), "#B279A2") if row.percent == row.percent else "#B279A2"
        )
        line, label = _hline(
            float(row.quantity),
            line={"color": color, "dash": "dash" if row.percent != 100 else "solid", "width": 1.5},
            text=f"{row.level}: {row.quantity:,.0f}{crossed}",
            # Alternate sides so the labels of close levels (95 %, 100 %) do not overlap.
            left=k % 2 == 0,
            font={"color": "#333", "size": 11},
        )
        lines.append(line)
        labels.append(label)
    if lines:
        fig.layout.shapes = lines
        fig.layout.annotations = labels
    _layout(
        fig,
        title=text,
        note=note,
        height=480,
        xaxis={"type": "date", "range": [x0[0], x_end], "title": {"text": "day (UTC)"}},
        yaxis={"title": {"text": f"{unit} (cumulative)"}, "rangemode": "tozero"},
        hovermode="x unified",
        legend={"orientation": "h", "y": -0.15},
    )
    return fig


def _hline(
    y: float, *, line: dict[str, Any], text: str, left: bool, font: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The shape and the label ``fig.add_hline(y, line=..., annotation_text=text,
    annotation_position="top left"/"top right", annotation_font=font)`` adds to a
    figure without subplots; as plain dicts, set with the layout in one update
    (``add_hline`` re-validates every shape and label so far on each call: a third
    of the plan chart's time)."""
    shape = {
        "line": line,
        "type": "line",
        "x0": 0,
        "x1": 1,
        "xref": "x domain",
        "y0": y,
        "y1": y,
        "yref": "y",
    }
    label = {
        "font": font,
        "showarrow": False,
        "text": text,
        "x": 0 if left else 1,
        "xanchor": "left" if left else "right",
        "xref": "x domain",
        "y": y,
        "yanchor": "bottom",
        "yref": "y",
    }
    return shape, label


def _add_forecast(fig: go.Figure, df: pd.DataFrame, status: AllowanceStatus, unit: str) -> str:
    """Draw the projection from the last complete day to the period end; return a note."""
    rows = df.loc[
        (df["provider"] == status.provider).to_numpy(dtype=bool, na_value=False)
        & (
            (df["account_id"] == status.account_id).to_numpy(dtype=bool, na_value=False)
            if status.account_id is not None
            else np.ones(len(df), dtype=bool)
        )
    ]
    quantity = "billable_quantity" if rows["billable_quantity"].notna().any() else "quantity"
    try:
        table = project(
            rows,
            start=status.period_start,
            end=status.period_end,
            allowance=status.allowance,
            quantity=quantity,
        )
    except UsageAnalysisError:
        return " · no forecast for this data"
    if not len(table) or not np.isfinite(table["projected"].iloc[0]):
        return " · not enough history for a forecast"
    row = table.iloc[0]
    daily = status.daily
    # The projection starts where the complete days end: the newest days may lag (HERE).
    complete = pd.Timestamp(row["complete_until"])
    done = daily.loc[pd.DatetimeIndex(daily["day"]) < complete]
    start_y = float(done["cumulative"].iloc[-1]) if len(done) else 0.0
    start_x = max(complete, status.period_start)
    xs = _stamps([start_x, status.period_end])
    projected = float(row["projected"])
    lower, upper = float(row["lower"]), float(row["upper"])
    if np.isfinite(lower) and np.isfinite(upper):
        fig.add_trace(
            go.Scatter(
                x=np.concatenate([xs, xs[::-1]]),
                y=_num([start_y, upper, lower, start_y]),
                mode="lines",
                fill="toself",
                fillcolor="rgba(76,120,168,0.15)",
                line={"width": 0},
                name=f"forecast interval ({float(FORECAST_INTERVAL) * 100:.0f} %)",
                hoverinfo="skip",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=_num([start_y, projected]),
            mode="lines+markers",
            line={"color": PALETTE[0], "dash": "dot", "width": 2},
            name="forecast",
            hovertemplate=(
                "%{x|%Y-%m-%d} UTC<br>forecast %{y:,} "
                + _esc(unit)
                + f"<br>interval {lower:,.0f} to {upper:,.0f}<extra></extra>"
            ),
        )
    )
    note = f" · forecast {projected:,.0f} {unit}"
    runs_out = row.get("runs_out_on")
    if runs_out is not None and not pd.isna(runs_out):
        note += f", allowance runs out on {pd.Timestamp(runs_out):%b %d}"
    return note
