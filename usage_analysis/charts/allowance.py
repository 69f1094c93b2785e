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
from ..analysis._common import data_end
from ..analysis.events import Event, coerce_events
from ..analysis.forecast import forecast_path
from ..analysis.freshness import Freshness, freshness, ran_out_text
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
    _TEMPLATE_JSON,
    PALETTE,
    _esc,
    _figure,
    _layout_keys,
    _merge,
)


def cumulative_vs_allowance(
    df: pd.DataFrame,
    *,
    plan: ParticlePlan | AllowanceStatus,
    month: Any = None,
    account: str | None = None,
    forecast: bool = True,
    title: str | None = None,
    events: Event | str | list[Event | str] | None = None,
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
        events: planned changes the forecast takes into account (as in
            :func:`usage_analysis.forecast`); each is marked on the chart.

    The threshold lines (70/90/100 % for Particle) are labelled with their
    quantity and the day each was crossed. The forecast is the overview's
    (:func:`usage_analysis.forecast` on the provider's rows, as of the end of
    their newest data); the subtitle says how fresh the data is, the rest of a
    partial period is shaded and HERE's provisional days are hatched.
    """
    planned = coerce_events(events)
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
    # Built from known keys, not validated again (as every chart: _style._figure).
    fig = _figure()
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
    provider_rows = _provider_rows(df, status)
    fresh = freshness(provider_rows, as_of=data_end(provider_rows) if len(provider_rows) else None)
    note = f"billing period {period} (UTC)"
    if forecast and len(daily):
        note += _add_forecast(fig, provider_rows, status, unit, fresh, planned)
    note += "<br>" + fresh.footnote
    x_end = _stamps([status.period_end])[0]
    marks = _freshness_marks(fresh, status) + _event_marks(planned, status)
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
    _spread_labels(fig, labels)
    lines += [m[0] for m in marks]
    labels += [m[1] for m in marks if m[1] is not None]
    # The layout as one dict, the figure made once from it and the traces (an update of
    # a plotly figure walks every key it is given: 40 ms here).
    layout: dict[str, Any] = {"template": _TEMPLATE_JSON}
    if lines:
        layout["shapes"] = lines
        layout["annotations"] = labels
    _merge(
        layout,
        _layout_keys(
            title=text,
            note=note,
            top=110,
            height=500,
            xaxis={"type": "date", "range": [x0[0], x_end], "title": {"text": "day (UTC)"}},
            yaxis={"title": {"text": f"{unit} (cumulative)"}, "rangemode": "tozero"},
            hovermode="x unified",
            legend={"orientation": "h", "y": -0.15},
        ),
    )
    return _figure(fig.data, layout)


# The plot area's height in pixels (the figure's 500 less title and legend), and a
# label line's: what keeps the threshold labels apart.
_PLOT_PX = 290
_LABEL_PX = 15


def _spread_labels(fig: go.Figure, labels: list[dict[str, Any]]) -> None:
    """Shift threshold labels up so that no two on one side overlap.

    Levels close to each other on the axis (70/90/100 % of a Free plan's 100,000
    under a month of 900,000) sat on one another: each label goes at least a
    line above the one below it on its side.
    """
    values = [float(lab["y"]) for lab in labels]
    for trace in fig.data:
        ys = np.asarray(trace.y if trace.y is not None else [], dtype=np.float64)
        if ys.size and np.isfinite(ys).any():
            values.append(float(np.nanmax(ys)))
    top = max(values, default=0.0) * 1.05  # plotly's autorange pads about this much
    if top <= 0:
        return
    per_px = top / _PLOT_PX
    levels = sorted(float(lab["y"]) / per_px for lab in labels)
    for side in (0, 1):
        floor = -np.inf
        for lab in sorted((lab for lab in labels if lab["x"] == side), key=lambda a: a["y"]):
            at = float(lab["y"]) / per_px
            pos = max(at, floor)
            for level in levels:  # no other level's line through the text
                if pos < level < pos + _LABEL_PX - 2:
                    pos = level + 1
            if pos > at:
                lab["yshift"] = round(pos - at)
            floor = pos + _LABEL_PX


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


def _provider_rows(df: pd.DataFrame, status: AllowanceStatus) -> pd.DataFrame:
    """The provider's rows, the status's account and unit kept, every other row counted 0.

    The forecast runs on the provider's whole frame (its first day, its newest data)
    as the overview's does, so both give the same number for the account.
    """
    rows = df.loc[(df["provider"] == status.provider).to_numpy(dtype=bool, na_value=False)]
    if not len(rows):
        return rows
    quantity = "billable_quantity" if rows["billable_quantity"].notna().any() else "quantity"
    ucol = "billable_unit" if quantity == "billable_quantity" else "unit"
    keep = np.ones(len(rows), dtype=bool)
    if status.account_id is not None:
        keep &= (rows["account_id"] == status.account_id).to_numpy(dtype=bool, na_value=False)
    if status.unit is not None and rows[ucol].notna().any():
        keep &= (rows[ucol].astype(object) == status.unit).to_numpy(dtype=bool, na_value=False)
    if keep.all():
        return rows
    values = np.where(keep, rows[quantity].to_numpy(dtype=np.float64), 0.0)
    return rows.assign(**{quantity: values, ucol: status.unit or "x"})


def _vline(
    x: Any, text: str, *, color: str, dash: str, y: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    shape = {
        "type": "line",
        "xref": "x",
        "yref": "paper",
        "x0": x,
        "x1": x,
        "y0": 0,
        "y1": 1,
        "line": {"color": color, "dash": dash, "width": 1},
    }
    label = {
        "text": text,
        "x": x,
        "xref": "x",
        "y": y,
        "yref": "paper",
        "xanchor": "left",
        "yanchor": "top",
        "showarrow": False,
        "font": {"size": 10, "color": color},
        "bgcolor": "rgba(255,255,255,0.7)",
    }
    return shape, label


def _freshness_marks(
    fresh: Freshness, status: AllowanceStatus
) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """The rest of a partial period shaded (not yet happened), provisional days hatched."""
    marks: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    if fresh.as_of is None:
        return marks
    as_of = max(fresh.as_of, status.period_start)
    if as_of < status.period_end:
        x0, x1 = _stamps([as_of, status.period_end])
        marks.append(
            (
                {
                    "type": "rect",
                    "xref": "x",
                    "yref": "paper",
                    "x0": x0,
                    "x1": x1,
                    "y0": 0,
                    "y1": 1,
                    "fillcolor": "rgba(0,0,0,0.04)",
                    "line": {"width": 0},
                    "layer": "below",
                },
                None,
            )
        )
        marks.append(
            _vline(x0, f"as of {fresh.as_of:%b %d %H:%M} UTC", color="#555", dash="dot", y=0.99)
        )
    if fresh.provisional and fresh.complete_until is not None:
        lo = max(fresh.complete_until, status.period_start)
        if lo < as_of:
            x0, x1 = _stamps([lo, as_of])
            marks.append(
                (
                    {
                        "type": "rect",
                        "xref": "x",
                        "yref": "paper",
                        "x0": x0,
                        "x1": x1,
                        "y0": 0,
                        "y1": 1,
                        "fillcolor": "rgba(245,133,24,0.12)",
                        "line": {"width": 0},
                        "layer": "below",
                    },
                    {
                        "text": "provisional",
                        "x": x0,
                        "xref": "x",
                        "y": 0.02,
                        "yref": "paper",
                        "xanchor": "left",
                        "yanchor": "bottom",
                        "showarrow": False,
                        "font": {"size": 10, "color": "#a85a00"},
                    },
                )
            )
    return marks


def _event_marks(
    events: tuple[Event, ...], status: AllowanceStatus
) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """A dashed vertical line and the event's label at each planned change in the period."""
    marks: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    for k, e in enumerate(events):
        if status.period_start <= e.start < status.period_end:
            (x,) = _stamps([e.start])
            marks.append(_vline(x, e.label, color="#7a3e9d", dash="dash", y=0.9 - 0.07 * k))
    return marks


def _add_forecast(
    fig: go.Figure,
    rows: pd.DataFrame,
    status: AllowanceStatus,
    unit: str,
    fresh: Freshness,
    events: tuple[Event, ...],
) -> str:
    """Draw the projection from the last complete day to the period end; return a note."""
    if not len(rows):
        return " · no forecast for this data"
    quantity = "billable_quantity" if rows["billable_quantity"].notna().any() else "quantity"
    options: dict[str, Any] = {
        "start": status.period_start,
        "end": status.period_end,
        "as_of": fresh.as_of,
        "allowance": status.allowance,
        "quantity": quantity,
        "events": events or None,
    }
    try:
        table = project(rows, **options)
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
    projected = float(row["projected"])
    lower, upper = float(row["lower"]), float(row["upper"])
    if events:
        # The course bends where a planned change starts: draw it day by day.
        course = forecast_path(rows, **options)
        later = pd.DatetimeIndex(course["day"]) + pd.Timedelta(days=1) > start_x
        ends = pd.DatetimeIndex(course["day"][later]) + pd.Timedelta(days=1)
        xs = np.concatenate([_stamps([start_x]), _stamps(ends)])
        ys = np.concatenate([[start_y], course["cumulative"].to_numpy()[later]])
    else:
        xs = _stamps([start_x, status.period_end])
        ys = np.array([start_y, projected])
    if np.isfinite(lower) and np.isfinite(upper):
        # The band widens from the last complete day to the interval at the period end.
        share = np.linspace(0.0, 1.0, len(ys))
        fig.add_trace(
            go.Scatter(
                x=np.concatenate([xs, xs[::-1]]),
                y=_num(
                    np.concatenate(
                        [ys + share * (upper - projected), (ys + share * (lower - projected))[::-1]]
                    )
                ),
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
            y=_num(ys),
            mode="lines",
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
    percent = row.get("projected_percent")
    if percent is not None and np.isfinite(percent):
        note += f" ({percent:.1f} %)"
    runs_out = row.get("runs_out_on")
    if runs_out is not None and not pd.isna(runs_out):
        note += ", " + ran_out_text(runs_out, fresh.as_of)
    if events:
        note += f" · {len(events)} planned change{'s' if len(events) > 1 else ''}"
    return note
