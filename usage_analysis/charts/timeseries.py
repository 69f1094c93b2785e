"""Usage over time: stacked bars, areas or lines per period, and the heatmap per group and period."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..analysis import (
    usage_by,
)
from ..defaults import (
    CHART_MAX_CELLS,
    CHART_MAX_POINTS,
    CHART_MAX_SERIES,
)
from ..errors import InvalidParameter, UnitMismatch
from ._common import (
    _FREQ_ADJ,
    _FREQ_WORDS,
    _PERIOD_AXIS,
    _check,
    _check_count,
    _dates,
    _fit_freq,
    _labels,
    _noun,
    _num,
    _period_range,
    _units,
)
from ._fresh import bar_marker, chart_freshness, patterns, with_note
from ._fresh import note as fresh_note
from ._style import (
    _DATE_TICKS_PX,
    _colors,
    _Draft,
    _empty,
    _esc,
    _facets,
    _figure,
    _layout,
    _top_margin,
)


def usage_over_time(
    df: pd.DataFrame,
    *,
    by: str = "product",
    freq: str = "D",
    top: int | None = 10,
    kind: str = "bar",
    quantity: str = "quantity",
    title: str | None = None,
    table: pd.DataFrame | None = None,
) -> go.Figure:
    """Usage per day, week or month, stacked by ``by`` (product, device, app, meter...).

    The ``top`` groups by total get their own colour; the rest are summed into a
    grey "other". One panel per unit. When the frame spans more periods than fit
    in a readable figure (``CHART_MAX_POINTS`` points), a coarser ``freq`` is used
    and the subtitle says so.

    Args:
        by: the column to stack by.
        freq: ``"D"``, ``"W"`` or ``"MS"``.
        top: groups drawn on their own (at most ``CHART_MAX_SERIES``; None = that many).
        kind: ``"bar"`` (stacked bars), ``"area"`` (stacked areas) or ``"line"``.
        quantity: ``"quantity"`` or ``"billable_quantity"``.
        table: the bars already summed, ``usage_by(df, by=[by, unit], freq=<the
            period drawn>, top=top, quantity=quantity)`` (the explorer sums them from
            category codes); ``df`` then gives only what else the chart reads: the
            days spanned, the units, the providers, the freshness and the labels.
    """
    df, ucol = _check(df, quantity)
    if freq not in _FREQ_WORDS:
        raise InvalidParameter("freq", f"expected 'D', 'W' or 'MS', got {freq!r}")
    if kind not in ("bar", "area", "line"):
        raise InvalidParameter("kind", f"expected 'bar', 'area' or 'line', got {kind!r}")
    n = _check_count(top, "top", cap=CHART_MAX_SERIES)
    noun = _noun(df, by)
    if by not in df.columns:
        raise InvalidParameter("by", f"unknown column {by!r}")
    used = _fit_freq(df, freq, n + 1, CHART_MAX_POINTS)
    note = (
        f"{_FREQ_ADJ[used]}: too many {_FREQ_WORDS[freq]}s to draw one bar each"
        if used != freq
        else None
    )
    text = title or f"Usage per {_FREQ_WORDS[used]} by {noun}"
    units = _units(df, ucol)
    if not units:
        return _empty(text)
    fresh = chart_freshness(df)
    note = with_note(note, fresh_note(df, used, marked=kind == "bar", fresh=fresh))
    by_cols = [by] if by == ucol else [by, ucol]
    if table is None:
        table = usage_by(df, by=by_cols, freq=used, top=n, quantity=quantity)
    labels = _labels(df, by, table[by].unique().tolist())
    colors = _colors([labels[v] for v in table[by].unique().tolist()])
    # One panel: the height it always had; several: a bit shorter each.
    panel = 340 if len(units) == 1 else 240
    fig, geometry = _facets(
        units, shared_x=True, panels=[panel] * len(units), below=_DATE_TICKS_PX, note=note
    )
    per = _FREQ_WORDS[used]
    shown_in_legend: set[str] = set()
    # Dates formatted once for the whole table, not once per trace.
    all_x = _dates(table["period_start"])
    all_y = _num(table[quantity])
    # Bars of the period still running (dots) and of HERE's provisional days (hatched).
    all_shapes = np.array(patterns(df, table["period_start"], used, fresh=fresh), dtype="U1")
    draft = _Draft(fig, units)
    keys = table[by]
    for unit in units:
        # Each group's rows of this unit, groups in order of first appearance, missing
        # keys one group (as groupby(sort=False, dropna=False)): numbered, not grouped.
        pos = np.flatnonzero((table[ucol] == unit).to_numpy(dtype=bool, na_value=False))
        codes, values = pd.factorize(keys.iloc[pos], use_na_sentinel=False)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(values) + 1))
        for k, value in enumerate(values):
            label = labels[value]
            at = pos[order[bounds[k] : bounds[k + 1]]]
            x = all_x[at]
            y = all_y[at]
            hover = (
                f"<b>{_esc(label)}</b><br>%{{x|%Y-%m-%d}}<br>%{{y:,}} {_esc(unit)}<extra></extra>"
            )
            common: dict[str, Any] = {
                "name": label,
                "legendgroup": label,
                "showlegend": label not in shown_in_legend,
                "hovertemplate": hover,
            }
            shown_in_legend.add(label)
            # Plain dicts: plotly builds (and checks) each trace once, when it is added.
            if kind == "bar":
                trace: dict[str, Any] = {
                    "type": "bar",
                    "x": x,
                    "y": y,
                    "marker": bar_marker(colors[label], all_shapes[at]),
                    **common,
                }
            else:
                trace = {
                    "type": "scatter",
                    "x": x,
                    "y": y,
                    "mode": "lines",
                    "line": {"color": colors[label], "width": 1.5 if kind == "area" else 2},
                    **common,
                }
                if kind == "area":
                    trace["stackgroup"] = f"u{units.index(unit)}"
            draft.add(trace, unit)
        if len(units) > 1:
            draft.update_axes("y", {"title": {"text": f"{unit} per {per}"}}, unit)
    axes: dict[str, Any] = {}
    if len(units) == 1:
        axes["yaxis"] = {"title": {"text": f"{units[0]} per {per}"}}
        axes["xaxis"] = {"type": "date", "title": {"text": _PERIOD_AXIS[used]}}
    else:
        draft.update_axes("x", {"type": "date"})
        # The shared time axis is titled once, under the bottom panel, where its ticks are.
        draft.update_axes("x", {"title": {"text": _PERIOD_AXIS[used]}}, units[-1])
    if used == "MS":
        draft.update_axes("x", _month_ticks(_period_range(table["period_start"], used)))
    return draft.figure(
        title=text,
        note=note,
        **geometry,
        barmode="stack",
        bargap=0.15,
        hovermode="closest",
        **axes,
    )


def heatmap(
    df: pd.DataFrame,
    *,
    by: str = "resource_id",
    top: int | None = 30,
    freq: str = "D",
    quantity: str = "quantity",
    title: str | None = None,
) -> go.Figure:
    """The ``top`` groups (rows) by period (columns): runaway devices stand out as hot streaks.

    A blank cell means no record for that group and period. Refuses a frame that
    mixes units (:class:`UnitMismatch`): filter to one unit first. When the frame
    spans more periods than fit (``CHART_MAX_CELLS`` cells), a coarser ``freq`` is used.
    """
    df, ucol = _check(df, quantity)
    if freq not in _FREQ_WORDS:
        raise InvalidParameter("freq", f"expected 'D', 'W' or 'MS', got {freq!r}")
    n = _check_count(top, "top", cap=CHART_MAX_CELLS // 100)
    if by not in df.columns:
        raise InvalidParameter("by", f"unknown column {by!r}")
    units = _units(df, ucol)
    if len(units) > 1:
        raise UnitMismatch(units, "a heatmap has one colour scale: filter to one unit first")
    used = _fit_freq(df, freq, n, CHART_MAX_CELLS)
    noun = _noun(df, by)
    text = title or f"Usage per {noun} and {_FREQ_WORDS[used]} (top {n})"
    note = (
        f"{_FREQ_ADJ[used]}: too many {_FREQ_WORDS[freq]}s for one column each"
        if used != freq
        else None
    )
    if not units:
        return _empty(text)
    unit = units[0]
    table = usage_by(df, by=by, freq=used, top=n, other=False, quantity=quantity)
    order = table[by].unique().tolist()  # largest total first
    grid = table.pivot_table(
        index=by,
        columns="period_start",
        values=quantity,
        aggfunc="sum",
        observed=True,
        dropna=False,
    )
    grid = grid.reindex(index=pd.Index(order, dtype=grid.index.dtype))
    all_periods = _period_range(grid.columns, used)
    grid = grid.reindex(columns=all_periods)
    labels = _labels(df, by, order)
    z = grid.to_numpy(dtype=np.float64)
    # Usage is heavy-tailed (a runaway device uses 30x its usual level): on a linear
    # scale every ordinary cell would get the same dark colour. Colours follow
    # log10(1 + value); the colour bar is labelled and the hover shows exact values.
    with np.errstate(invalid="ignore"):
        shade = np.log10(1.0 + np.clip(z, 0.0, None))
    top_value = float(np.nanmax(z)) if np.isfinite(z).any() else 1.0
    ticks = [v for v in (0, 1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9) if v <= top_value]
    fig = _figure(
        [
            {
                "type": "heatmap",
                "z": shade,
                "customdata": z,
                "x": _dates(all_periods),
                "y": [labels[v] for v in order],
                "colorscale": _VIRIDIS,
                "colorbar": {
                    "title": {"text": f"{unit} per {_FREQ_WORDS[used]}", "side": "right"},
                    "tickvals": [float(np.log10(1 + t)) for t in ticks],
                    "ticktext": [f"{t:,.0f}" for t in ticks],
                },
                "hoverongaps": False,
                "hovertemplate": (
                    f"<b>%{{y}}</b><br>%{{x|%Y-%m-%d}}<br>%{{customdata:,}} {_esc(unit)}<extra></extra>"
                ),
                "xgap": 1,
                "ygap": 1,
            }
        ]
    )
    ticks_x, partial = (
        (_month_ticks(all_periods), []) if used == "MS" else _week_ticks(df, all_periods, used)
    )
    if partial:
        marks = "; ".join(partial)
        note = f"{note} · {marks}" if note else marks
    # 'data as of …' and HERE's provisional days, as on every time chart.
    note = with_note(note, fresh_note(df, used))
    bottom = _DATE_TICKS_PX + 10
    _layout(
        fig,
        title=text,
        note=note,
        height=max(360, _top_margin(note) + bottom + 22 * len(order)),
        bottom=bottom,
    )
    fig.update_yaxes(autorange="reversed", automargin=True, title_text=noun)
    fig.update_xaxes(type="date", title_text=_PERIOD_AXIS[used], **ticks_x)
    return fig


# The heatmap's colour scale as plotly spells "Viridis" out (the figure is not
# validated again, which would do this on every chart).
_VIRIDIS = [list(step) for step in go.Heatmap(colorscale="Viridis").colorscale]
# At most this many ticks on a heatmap's time axis (one per week, or every k-th week).
_MAX_WEEK_TICKS = 14
# At most this many month ticks ("Oct 2026" is wider than "Oct 4"): every k-th month past it.
_MAX_MONTH_TICKS = 12


def _month_ticks(periods: pd.DatetimeIndex) -> dict[str, Any]:
    """One tick per month bucket, on its start (where its bar or cell is), named "Oct 2026".

    Plotly's own date ticks on monthly buckets fell every 30 days from the first
    one and read as days ("Sep 1", "Oct 1", "Oct 31" under November's bar).
    """
    periods = pd.DatetimeIndex(periods)
    if not len(periods):
        return {}
    if periods.tz is not None:
        periods = periods.tz_convert(None)
    step = max(1, -(-len(periods) // _MAX_MONTH_TICKS))
    shown = periods[::step]
    return {
        "tickmode": "array",
        "tickvals": list(_dates(shown)),
        "ticktext": [f"{t:%b %Y}" for t in shown],
    }


def _week_ticks(
    df: pd.DataFrame, periods: pd.DatetimeIndex, freq: str
) -> tuple[dict[str, Any], list[str]]:
    """Ticks on the days weeks start (Monday, as the week buckets), and partial weeks named.

    Plotly's own date ticks fall on Sundays: on a weekly heatmap they sat between
    the cells. Returns the x-axis settings and, for weekly cells, a note for a
    first or last week the data covers only in part (its tick is starred).
    """
    if freq not in ("D", "W") or not len(periods):
        return {}, []
    periods = pd.DatetimeIndex(periods)
    if periods.tz is not None:
        periods = periods.tz_convert(None)
    first = pd.Timestamp(periods[0])
    monday = first - pd.Timedelta(days=first.weekday())
    if monday < first:
        monday += pd.Timedelta(days=7)
    weeks = pd.date_range(monday, pd.Timestamp(periods[-1]), freq="7D")
    step = max(1, -(-len(weeks) // _MAX_WEEK_TICKS))
    shown = weeks[::step]
    if freq == "D":
        return {"tickvals": list(_dates(shown)), "ticktext": [_tick(t) for t in shown]}, []
    starts = pd.DatetimeIndex(df["period_start"].dropna())
    if not len(starts):
        return {"tickvals": list(_dates(shown)), "ticktext": [_tick(t) for t in shown]}, []
    starts = starts.tz_convert(None) if starts.tz is not None else starts
    first_day, last_day = starts.min().normalize(), starts.max().normalize()
    notes: list[str] = []
    starred: set[pd.Timestamp] = set()
    head, tail = pd.Timestamp(periods[0]), pd.Timestamp(periods[-1])
    if first_day > head:
        starred.add(head)
        notes.append(f"* week of {_tick(head)} partial: data from {_tick(first_day)}")
    if last_day < tail + pd.Timedelta(days=6):
        starred.add(tail)
        notes.append(f"* week of {_tick(tail)} partial: data until {_tick(last_day)}")
    shown = shown.union(pd.DatetimeIndex(sorted(starred)))
    text = [_tick(t) + ("*" if t in starred else "") for t in shown]
    return {"tickvals": list(_dates(shown)), "ticktext": text}, notes


def _tick(day: pd.Timestamp) -> str:
    return f"{day:%b} {day.day}"
