"""Plotly figures from unified usage frames: returned, never shown.

Every function aggregates through :mod:`usage_analysis.analysis` and cuts to the
top groups before plotting, so a figure's size depends on how many groups and
periods it shows, never on how many rows the frame has. Quantities of different
units are never drawn on one axis: a figure gets one panel per unit (or, for
the heatmap, refuses with :class:`~usage_analysis.errors.UnitMismatch`).

Signatures follow plotly express: the frame first, options keyword-only::

    fig = usage_over_time(df, by="product", freq="D", top=10)
    fig.write_html("usage.html")
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any, TypedDict

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from .analysis import (
    AllowanceStatus,
    ParticlePlan,
    compare_periods,
    plan_status,
    usage_by,
)
from .analysis import forecast as project
from .analysis.aggregate import latest_names
from .defaults import (
    CHART_MAX_CELLS,
    CHART_MAX_POINTS,
    CHART_MAX_SERIES,
    CHART_MAX_UNITS,
    FORECAST_INTERVAL,
    OTHER_LABEL,
    PROVIDER_NAMES,
)
from .errors import InvalidParameter, SchemaError, UnitMismatch, UsageAnalysisError
from .schema import validate_unified

__all__ = [
    "breakdown",
    "cumulative_vs_allowance",
    "format_quantity",
    "heatmap",
    "period_over_period",
    "provider_name",
    "top_bar",
    "usage_over_time",
]

# Tableau 10 without its grey (kept for "other"), then Dark24: distinct, readable
# on white, and the first colours are colour-blind friendly.
PALETTE: tuple[str, ...] = (
    *[c for c in qualitative.T10 if c != "#BAB0AC"],
    *qualitative.Dark24,
)
OTHER_COLOR = "#BAB0AC"
UNIT_ROOT_COLOR = "#F4F4F4"
MISSING_LABEL = "(none)"
# plotly_white's layout only: its per-trace defaults are set explicitly here anyway,
# and the full template (7 KB) is copied on every figure, a third of a redraw.
TEMPLATE = go.layout.Template(layout=pio.templates["plotly_white"].layout)


# The human name of a column, per provider (a Particle resource is a device...).
_NOUNS: dict[str, dict[str, str]] = {
    "particle": {"product": "product", "resource_id": "device", "meter": "operation kind"},
    "here": {"product": "app / project", "resource_id": "app", "meter": "feature"},
    "informatica": {"product": "project", "resource_id": "asset", "meter": "meter"},
}
_GENERIC_NOUNS = {
    "provider": "provider",
    "account_id": "account",
    "account_name": "account",
    "product": "product",
    "resource_id": "resource",
    "resource_name": "resource",
    "meter_id": "meter",
    "meter": "meter",
    "category": "category",
    "unit": "unit",
}
# An id column is labelled with its name column when the frame has one.
_NAME_OF = {"resource_id": "resource_name", "account_id": "account_name", "meter_id": "meter"}
_FREQ_WORDS = {"D": "day", "W": "week", "MS": "month"}
_FREQ_ADJ = {"D": "daily", "W": "weekly", "MS": "monthly"}
# The title of a time axis: a bar or cell stands at its period's start, in UTC.
_PERIOD_AXIS = {"D": "day (UTC)", "W": "week from Monday (UTC)", "MS": "month (UTC)"}
_COARSER = {"D": "W", "W": "MS"}
_OFFSETS = {"D": pd.Timedelta(days=1), "W": pd.Timedelta(days=7), "MS": pd.DateOffset(months=1)}
_UNITS = {"quantity": "unit", "billable_quantity": "billable_unit"}
# Joins a treemap node's path into its id; labels may hold "/" or spaces, not this.
_SEP = "\x1f"
# Room, in pixels, for the text around stacked panels: a line of tick labels (12 px
# font), an axis title (14 px) with its standoff, a panel's "in <unit>" title (14 px).
# Pixels, not fractions of the figure: a fraction that fits on a tall figure makes the
# panel title of one panel overlap the axis title of the panel above on a short one.
_TICK_LINE_PX = 17
_AXIS_TITLE_PX = 28
# A date axis has two lines of ticks ("Sep 6" over "2026").
_DATE_TICKS_PX = 2 * _TICK_LINE_PX + _AXIS_TITLE_PX
_PANEL_TITLE_PX = 30
# Category tick labels (feature or project names) wrap at this many characters, on at
# most this many lines: a fixed height below the panel, instead of 45-degree labels
# reaching into the panel underneath.
_WRAP_CHARS = 14
_WRAP_LINES = 3
# Treemap and sunburst names wrap at this many characters (never cut: a box has room).
_TREE_WRAP_CHARS = 20


# --------------------------------------------------------------------------- helpers


def _check(df: pd.DataFrame, quantity: str) -> str:
    """Validate the frame and the quantity column; return the matching unit column."""
    if not isinstance(df, pd.DataFrame):
        raise SchemaError(f"expected a unified usage DataFrame, got {type(df).__name__}")
    validate_unified(df)
    if quantity not in _UNITS:
        raise InvalidParameter(
            "quantity", f"expected 'quantity' or 'billable_quantity', got {quantity!r}"
        )
    return _UNITS[quantity]


def _units(df: pd.DataFrame, ucol: str) -> list[str]:
    """The units present, most rows first (so the main unit gets the top panel)."""
    counts = df[ucol].value_counts(sort=True)
    units = [str(u) for u, n in counts.items() if n > 0]
    if len(units) > CHART_MAX_UNITS:
        raise UnitMismatch(
            units, f"too many units for one figure (at most {CHART_MAX_UNITS}); filter by unit"
        )
    return units


def provider_name(provider: Any) -> str:
    """A provider key as people write it: 'here' -> 'HERE' (unknown keys unchanged)."""
    key = str(provider)
    return PROVIDER_NAMES.get(key.strip().lower(), key)


def format_quantity(value: float | None, unit: str | None = None) -> str:
    """A quantity for people: 1,686,556 · 277 · 42.03 · 0.00123, then the unit if given.

    Thousands separators; whole numbers from 100 on (decimals of a big number are
    noise); two decimals between 1 and 100; three significant digits below 1.
    """
    if value is None or not np.isfinite(value):
        text = "n/a"
    else:
        a = abs(value)
        if a >= 100 or value == round(value):
            text = f"{value:,.0f}"
        elif a >= 1:
            text = f"{value:,.2f}"
        else:
            text = f"{value:.3g}"
    return f"{text} {unit}" if unit else text


def _noun(df: pd.DataFrame, column: str) -> str:
    """What a column's values are called for this frame's provider (device, app, asset...)."""
    providers = df["provider"].dropna().unique()
    if len(providers) == 1:
        noun = _NOUNS.get(str(providers[0]), {}).get(column)
        if noun:
            return noun
    return _GENERIC_NOUNS.get(column, column.replace("_", " "))


def _check_count(value: int | None, parameter: str, *, cap: int) -> int:
    """A whole number of groups in 1..cap; ``None`` means the cap (figures stay small)."""
    if value is None:
        return cap
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidParameter(parameter, f"expected a whole number >= 1, got {value!r}")
    if value > cap:
        raise InvalidParameter(
            parameter, f"at most {cap} groups fit in a readable figure, got {value}"
        )
    return value


def _labels(df: pd.DataFrame, column: str, values: Sequence[Any]) -> dict[Any, str]:
    """Display labels for the values of ``column``: names for ids, unique, '(none)' for missing."""
    raw = [v for v in values if not _missing(v) and v != OTHER_LABEL]
    none_label = _missing_label(df, column)
    names: dict[Any, str] = {}
    name_col = _NAME_OF.get(column)
    if name_col and name_col in df.columns and raw:
        # Only the rows of the shown ids are looked at: cheap on a big frame.
        found = latest_names(df.loc[_rows_of(df[column], raw)], column, name_col)
        names = {k: str(v) for k, v in found.items()}
    if column == "provider":
        names = {v: provider_name(v) for v in raw}
    plain = {v: names.get(v, str(v)) for v in raw}
    seen: dict[str, int] = {}
    for label in plain.values():
        seen[label] = seen.get(label, 0) + 1
    # Two devices may share a name: a piece of the id tells them apart, the whole
    # id when the pieces are alike too.
    short = {v: f"{plain[v]} ({str(v)[:8]})" for v in raw if seen[plain[v]] > 1}
    clash: dict[str, int] = {}
    for label in short.values():
        clash[label] = clash.get(label, 0) + 1
    out: dict[Any, str] = {}
    for v in values:
        if _missing(v):
            out[v] = none_label
        elif v == OTHER_LABEL:
            out[v] = OTHER_LABEL
        elif v in short:
            out[v] = short[v] if clash[short[v]] == 1 else f"{plain[v]} ({v})"
        else:
            out[v] = plain[v]
    return out


def _rows_of(series: pd.Series, values: Sequence[Any]) -> np.ndarray:
    """Boolean mask of the rows holding one of ``values`` (a gather on categorical codes)."""
    if not isinstance(series.dtype, pd.CategoricalDtype):
        return series.isin(values).to_numpy(dtype=bool, na_value=False)
    cats = series.cat.categories
    positions = cats.get_indexer(pd.Index(list(values), dtype=cats.dtype))
    table = np.zeros(len(cats) + 1, dtype=bool)
    table[positions[positions >= 0] + 1] = True
    return table[series.cat.codes.to_numpy() + 1]


def _missing(value: Any) -> bool:
    """A missing key: None, NaN, NA or an empty string (Particle sandbox devices' product)."""
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float):
        return bool(np.isnan(value))
    return isinstance(value, str) and not value.strip()


def _missing_label(df: pd.DataFrame, column: str) -> str:
    """What a missing value of ``column`` means: a Particle device without product is a sandbox one."""
    providers = df["provider"].dropna().unique()
    if column == "product" and len(providers) == 1 and str(providers[0]) == "particle":
        return "(sandbox)"
    return MISSING_LABEL


def _colors(labels: Sequence[str]) -> dict[str, str]:
    """A colour per label in order, grey for 'other'."""
    out: dict[str, str] = {}
    i = 0
    for label in labels:
        if label in out:
            continue
        if label == OTHER_LABEL:
            out[label] = OTHER_COLOR
        else:
            out[label] = PALETTE[i % len(PALETTE)]
            i += 1
    return out


def _span_periods(df: pd.DataFrame, freq: str) -> int:
    """How many ``freq`` periods the frame spans (from its first to its last record)."""
    if not len(df):
        return 0
    first, last = df["period_start"].min(), df["period_start"].max()
    days = (last - first).days + 1
    return {"D": days, "W": days // 7 + 2, "MS": days // 28 + 2}[freq]


def _fit_freq(df: pd.DataFrame, freq: str, series: int, limit: int) -> str:
    """``freq``, or a coarser one when the chart would need more than ``limit`` points."""
    while freq in _COARSER and _span_periods(df, freq) * max(series, 1) > limit:
        freq = _COARSER[freq]
    return freq


def _dates(values: Any) -> np.ndarray:
    """Period starts as 'YYYY-MM-DD' strings: exact for day buckets and compact in JSON."""
    return pd.DatetimeIndex(values).strftime("%Y-%m-%d").to_numpy(dtype=object)


def _num(values: Any) -> np.ndarray:
    # float64 arrays travel as base64 in plotly's JSON: 8 bytes a value, exact.
    return np.asarray(values, dtype=np.float64)


def _title(text: str, note: str | None = None) -> dict[str, Any]:
    return {
        "text": text,
        "subtitle": {"text": note} if note else None,
        "x": 0.01,
        "xanchor": "left",
    }


def _top_margin(note: str | None, *, panel_titles: bool = False) -> int:
    """Room above the plot for the title (and subtitle), and the first panel's title."""
    return (90 if note else 70) + (_PANEL_TITLE_PX if panel_titles else 0)


def _layout(
    fig: go.Figure,
    *,
    title: str,
    note: str | None = None,
    height: int = 460,
    top: int | None = None,
    bottom: int = 50,
) -> None:
    fig.update_layout(
        template=TEMPLATE,
        title=_title(title, note),
        height=height,
        # No width: the figure fills its container (a notebook cell, the explorer).
        autosize=True,
        margin={"l": 70, "r": 20, "t": _top_margin(note) if top is None else top, "b": bottom},
        legend={"title": {"text": ""}, "traceorder": "normal"},
        hoverlabel={"namelength": -1},
        separators=".,",
    )


def _empty(title: str, message: str = "no usage in the selection") -> go.Figure:
    fig = go.Figure()
    _layout(fig, title=title)
    fig.add_annotation(
        text=message,
        showarrow=False,
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        font={"size": 16, "color": "#666"},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


class _Geometry(TypedDict):
    """A figure's height and margins in pixels, as ``_layout`` takes them."""

    height: int
    top: int
    bottom: int


def _facets(
    units: list[str],
    *,
    shared_x: bool,
    panels: Sequence[int],
    below: int,
    note: str | None = None,
) -> tuple[go.Figure, _Geometry]:
    """A figure with one panel per unit (titled "in <unit>"), and its geometry for ``_layout``.

    ``panels`` are the plot heights in pixels, one per unit; ``below`` is the room
    each panel needs under it for its tick labels and x axis title (only the bottom
    one's when the x axis is shared). The gap between two panels holds that room
    plus the lower panel's title, so no text overlaps whatever the number of panels.
    """
    top = _top_margin(note, panel_titles=len(units) > 1)
    bottom = below + 10
    if len(units) == 1:
        fig = go.Figure()
        return fig, {"height": top + panels[0] + bottom, "top": top, "bottom": bottom}
    gap = _PANEL_TITLE_PX + (_TICK_LINE_PX if shared_x else below)
    plot = sum(panels) + gap * (len(units) - 1)
    fig = make_subplots(
        rows=len(units),
        cols=1,
        shared_xaxes=shared_x,
        vertical_spacing=gap / plot,
        row_heights=list(panels),
        subplot_titles=[f"in {u}" for u in units],
    )
    fig.update_annotations(font={"size": 14})
    return fig, {"height": top + plot + bottom, "top": top, "bottom": bottom}


def _wrap(label: str, width: int = _WRAP_CHARS, lines: int | None = _WRAP_LINES) -> str:
    """A long label on short lines (``<br>``-joined; beyond ``lines`` cut with '…')."""
    parts = textwrap.wrap(label, width, break_on_hyphens=False) or [label]
    if lines is not None and len(parts) > lines:
        parts = [*parts[: lines - 1], parts[lines - 1][: width - 1] + "…"]
    return "<br>".join(_esc(part) for part in parts)


def _cell(units: list[str], unit: str) -> dict[str, int]:
    return {"row": units.index(unit) + 1, "col": 1} if len(units) > 1 else {}


# --------------------------------------------------------------------------- charts


def usage_over_time(
    df: pd.DataFrame,
    *,
    by: str = "product",
    freq: str = "D",
    top: int | None = 10,
    kind: str = "bar",
    quantity: str = "quantity",
    title: str | None = None,
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
    """
    ucol = _check(df, quantity)
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
    by_cols = [by] if by == ucol else [by, ucol]
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
    for unit in units:
        part = table.loc[(table[ucol] == unit).to_numpy(dtype=bool, na_value=False)]
        for value, rows in part.groupby(by, observed=True, sort=False, dropna=False):
            label = labels[value]
            x = _dates(rows["period_start"])
            y = _num(rows[quantity])
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
            if kind == "bar":
                trace: Any = go.Bar(x=x, y=y, marker_color=colors[label], **common)
            else:
                trace = go.Scatter(
                    x=x,
                    y=y,
                    mode="lines",
                    line={"color": colors[label], "width": 1.5 if kind == "area" else 2},
                    stackgroup=(f"u{units.index(unit)}" if kind == "area" else None),
                    **common,
                )
            fig.add_trace(trace, **_cell(units, unit))
        fig.update_yaxes(title_text=f"{unit} per {per}", **_cell(units, unit))
    _layout(fig, title=text, note=note, **geometry)
    fig.update_layout(barmode="stack", bargap=0.15, hovermode="closest")
    fig.update_xaxes(type="date")
    # The shared time axis is titled once, under the bottom panel, where its ticks are.
    fig.update_xaxes(title_text=_PERIOD_AXIS[used], **_cell(units, units[-1]))
    return fig


def top_bar(
    df: pd.DataFrame,
    *,
    by: str = "resource_id",
    n: int = 10,
    other: bool = True,
    quantity: str = "quantity",
    title: str | None = None,
) -> go.Figure:
    """Horizontal bars of the ``n`` largest groups, largest on top, plus an "other" bar.

    Hover shows the exact total and the share of the total (per unit); one panel per unit.
    """
    ucol = _check(df, quantity)
    n = _check_count(n, "n", cap=CHART_MAX_SERIES)
    if by not in df.columns:
        raise InvalidParameter("by", f"unknown column {by!r}")
    noun = _noun(df, by)
    text = title or f"Top {n} {noun}s by usage"
    units = _units(df, ucol)
    if not units:
        return _empty(text)
    by_cols = [by] if by == ucol else [by, ucol]
    table = usage_by(df, by=by_cols, top=n, other=other, quantity=quantity)
    labels = _labels(df, by, table[by].unique().tolist())
    parts = {
        unit: table.loc[(table[ucol] == unit).to_numpy(dtype=bool, na_value=False)]
        for unit in units
    }
    # Bars keep one thickness across panels: each panel is as tall as its bar count.
    fig, geometry = _facets(
        units,
        shared_x=False,
        panels=[max(26 * len(parts[u]), 120 if len(units) == 1 else 60) for u in units],
        below=_TICK_LINE_PX + _AXIS_TITLE_PX,
    )
    for unit in units:
        part = parts[unit]
        q = _num(part[quantity])
        total = q.sum()
        share = q / total * 100 if total else np.zeros_like(q)
        names = [labels[v] for v in part[by]]
        ids = [MISSING_LABEL if _missing(v) else str(v) for v in part[by]]
        fig.add_trace(
            go.Bar(
                x=q,
                y=names,
                orientation="h",
                marker_color=[OTHER_COLOR if v == OTHER_LABEL else PALETTE[0] for v in part[by]],
                customdata=np.column_stack([share, ids]) if len(q) else None,
                text=[f"{s:.1f} %" for s in share],
                textposition="auto",
                name=unit,
                showlegend=False,
                hovertemplate=(
                    f"<b>%{{y}}</b><br>%{{customdata[1]}}<br>%{{x:,}} {_esc(unit)}"
                    "<br>%{customdata[0]:.2f} % of the total<extra></extra>"
                ),
            ),
            **_cell(units, unit),
        )
        fig.update_xaxes(title_text=f"{unit}", **_cell(units, unit))
        fig.update_yaxes(
            autorange="reversed", automargin=True, title_text=noun, **_cell(units, unit)
        )
    _layout(fig, title=text, **geometry)
    return fig


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
    ucol = _check(df, quantity)
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
    fig = go.Figure(
        go.Heatmap(
            z=shade,
            customdata=z,
            x=_dates(all_periods),
            y=[labels[v] for v in order],
            colorscale="Viridis",
            colorbar={
                "title": {"text": f"{unit} per {_FREQ_WORDS[used]}", "side": "right"},
                "tickvals": [float(np.log10(1 + t)) for t in ticks],
                "ticktext": [f"{t:,.0f}" for t in ticks],
            },
            hoverongaps=False,
            hovertemplate=(
                f"<b>%{{y}}</b><br>%{{x|%Y-%m-%d}}<br>%{{customdata:,}} {_esc(unit)}<extra></extra>"
            ),
            xgap=1,
            ygap=1,
        )
    )
    bottom = _DATE_TICKS_PX + 10
    _layout(
        fig,
        title=text,
        note=note,
        height=max(360, _top_margin(note) + bottom + 22 * len(order)),
        bottom=bottom,
    )
    fig.update_yaxes(autorange="reversed", automargin=True, title_text=noun)
    fig.update_xaxes(type="date", title_text=_PERIOD_AXIS[used])
    return fig


def _period_range(starts: Any, freq: str) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(starts)
    if not len(idx):
        return idx
    step = {"D": "D", "W": "W-MON", "MS": "MS"}[freq]
    return pd.date_range(idx.min(), idx.max(), freq=step)


def breakdown(
    df: pd.DataFrame,
    *,
    path: Sequence[str] = ("meter", "product"),
    kind: str = "treemap",
    top: int | None = 40,
    quantity: str = "quantity",
    title: str | None = None,
) -> go.Figure:
    """How usage splits along ``path`` (e.g. meter, then project), as a treemap or sunburst.

    The ``top`` leaves (combinations of the path's values, per unit) are drawn;
    the rest become one grey "other" leaf. With several units there is one
    treemap per unit side by side, so no box is ever sized against another unit.
    """
    ucol = _check(df, quantity)
    cols = [path] if isinstance(path, str) else list(path)
    if not cols or any(c not in df.columns for c in cols) or len(set(cols)) != len(cols):
        raise InvalidParameter(
            "path", f"expected distinct column names of the frame, got {list(cols)!r}"
        )
    keys = [c for c in cols if c != ucol]
    if not keys:
        raise InvalidParameter("path", f"needs a column besides {ucol!r} to break usage down by")
    if kind not in ("treemap", "sunburst"):
        raise InvalidParameter("kind", f"expected 'treemap' or 'sunburst', got {kind!r}")
    n = _check_count(top, "top", cap=CHART_MAX_CELLS // 100)
    text = title or "Usage by " + " and ".join(_noun(df, c) for c in keys)
    units = _units(df, ucol)
    if not units:
        return _empty(text)
    table = usage_by(df, by=[*keys, ucol], top=n, quantity=quantity)
    label_maps = {c: _labels(df, c, table[c].unique().tolist()) for c in keys}
    fig = go.Figure()
    per_row = min(len(units), 3)
    n_rows = -(-len(units) // per_row)
    for k, unit in enumerate(units):
        part = table.loc[(table[ucol] == unit).to_numpy(dtype=bool, na_value=False)]
        nodes = _tree_nodes(part, keys, label_maps, quantity)
        col, row = k % per_row, k // per_row
        gap = 0.02
        domain = {
            "x": [col / per_row + gap, (col + 1) / per_row - gap],
            "y": [1 - (row + 1) / n_rows + gap, 1 - row / n_rows - (0.07 if n_rows > 1 else 0)],
        }
        trace_type = go.Treemap if kind == "treemap" else go.Sunburst
        # Values as people read them ("277 GB", not "277.263506"), formatted here:
        # plotly's d3 formats give either fixed decimals or raw floats, never both
        # sensible for 0.004 GB and 1,686,556 transactions.
        amounts = [format_quantity(v, unit) for v in nodes["values"]]
        position = {node: i for i, node in enumerate(nodes["ids"])}
        # The parent's label, not its id (an id joins the whole path).
        parents = [nodes["labels"][position[p]] if p else "all" for p in nodes["parents"]]
        # Long names wrapped, so a box shows its name instead of hiding it as too wide.
        texts = [
            f"{_wrap(label, _TREE_WRAP_CHARS, None)}<br>{_esc(amount)}"
            for label, amount in zip(nodes["labels"], amounts, strict=True)
        ]
        fig.add_trace(
            trace_type(
                ids=nodes["ids"],
                labels=nodes["labels"],
                parents=nodes["parents"],
                values=_num(nodes["values"]),
                branchvalues="total",
                domain=domain,
                name=unit,
                text=texts,
                customdata=np.column_stack([amounts, parents]) if len(amounts) else None,
                hovertemplate=(
                    "<b>%{label}</b><br>%{customdata[0]}"
                    "<br>%{percentRoot:.1%} of all, %{percentParent:.1%} of %{customdata[1]}"
                    "<extra></extra>"
                ),
                texttemplate=("%{text}<br>%{percentRoot:.1%}" if kind == "treemap" else "%{text}"),
                marker={"colors": nodes["colors"]},
            )
        )
        if len(units) > 1:
            fig.add_annotation(
                text=f"<b>in {_esc(unit)}</b>",
                showarrow=False,
                xref="paper",
                yref="paper",
                x=(domain["x"][0] + domain["x"][1]) / 2,
                y=domain["y"][1],
                yanchor="bottom",
            )
    _layout(fig, title=text, height=560 if n_rows == 1 else 420 * n_rows)
    # A label that would need a font under 10 px is left to the hover: unreadable
    # slivers of text helped nobody.
    fig.update_layout(
        margin={"l": 10, "r": 10, "t": 70, "b": 10}, uniformtext={"minsize": 10, "mode": "hide"}
    )
    return fig


def _tree_nodes(
    part: pd.DataFrame, keys: list[str], label_maps: dict[str, dict[Any, str]], quantity: str
) -> dict[str, list[Any]]:
    """Treemap nodes (ids, labels, parents, values, colors) of one unit's rows."""
    out: dict[str, list[Any]] = {k: [] for k in ("ids", "labels", "parents", "values", "colors")}
    index: dict[str, int] = {}
    quantities = _num(part[quantity])
    rows = list(part[keys].itertuples(index=False))
    # Colour by the first level that has more than one value, so the boxes differ.
    level = 0
    while level < len(keys) - 1 and part[keys[level]].nunique(dropna=False) <= 1:
        level += 1
    branches: dict[str, str] = {}
    for i, row in enumerate(rows):
        parent = ""
        for depth, (col, value) in enumerate(zip(keys, row, strict=True)):
            label = label_maps[col][value]
            node = f"{parent}{_SEP}{label}" if parent else label
            if node not in index:
                index[node] = len(out["ids"])
                out["ids"].append(node)
                out["labels"].append(label)
                out["parents"].append(parent)
                out["values"].append(0.0)
                head = node.split(_SEP)[: level + 1]
                if depth < level:
                    out["colors"].append(UNIT_ROOT_COLOR)
                else:
                    # A branch keeps one colour, so the eye groups its boxes.
                    branch = _SEP.join(head)
                    if branch not in branches:
                        branches[branch] = (
                            OTHER_COLOR
                            if OTHER_LABEL in head
                            else PALETTE[len(branches) % len(PALETTE)]
                        )
                    out["colors"].append(branches[branch])
            out["values"][index[node]] += float(quantities[i])
            parent = node
            if label == OTHER_LABEL:
                break  # the "other" leaf has no further levels worth a box
    return out


def period_over_period(
    df: pd.DataFrame,
    *,
    by: str = "product",
    freq: str = "MS",
    period: Any = None,
    to_date: bool | None = None,
    top: int | None = 10,
    quantity: str = "quantity",
    title: str | None = None,
) -> go.Figure:
    """This period against the one before, per group: paired bars with the change in hover.

    Args:
        freq: ``"MS"`` (month against month), ``"W"`` or ``"D"``.
        period: any time inside the current period; default the newest data's.
        to_date: compare only as much of the previous period as the current one
            has data for (a month in progress against the same days last month).
            ``None``: do so when the data ends before the current period does.
        top: the groups with the largest current usage; the rest become "other".
    """
    ucol = _check(df, quantity)
    if freq not in _FREQ_WORDS:
        raise InvalidParameter("freq", f"expected 'D', 'W' or 'MS', got {freq!r}")
    n = _check_count(top, "top", cap=CHART_MAX_SERIES)
    if by not in df.columns:
        raise InvalidParameter("by", f"unknown column {by!r}")
    noun = _noun(df, by)
    units = _units(df, ucol)
    if not units:
        return _empty(title or f"This {_FREQ_WORDS[freq]} against the last, by {noun}")
    by_cols = [by] if by == ucol else [by, ucol]
    table = compare_periods(
        df, by=by_cols, freq=freq, period=period, to_date=bool(to_date), quantity=quantity
    )
    if to_date is None:
        # A period in progress compared with a whole one would always look like a drop.
        ends = table.attrs["current_period"] + _OFFSETS[freq]
        to_date = bool(df["period_end"].max() < ends)
        if to_date:
            table = compare_periods(
                df, by=by_cols, freq=freq, period=period, to_date=True, quantity=quantity
            )
    prev_start: pd.Timestamp = table.attrs["previous_period"]
    cur_start: pd.Timestamp = table.attrs["current_period"]
    fmt = {"MS": "%b %Y", "W": "week of %Y-%m-%d", "D": "%Y-%m-%d"}[freq]
    prev_name, cur_name = prev_start.strftime(fmt), cur_start.strftime(fmt)
    if to_date:
        prev_name += " (same days)"
    text = title or f"{cur_name} against {prev_name}, by {noun}"
    fig, geometry = _facets(
        units,
        shared_x=False,
        panels=[300 if len(units) == 1 else 220] * len(units),
        below=_WRAP_LINES * _TICK_LINE_PX + _AXIS_TITLE_PX,
    )
    for k, unit in enumerate(units):
        part = table.loc[(table[ucol] == unit).to_numpy(dtype=bool, na_value=False)]
        part = _top_rows(part, by, n)
        labels = _labels(df, by, part[by].tolist())
        names = [labels[v] for v in part[by]]
        prev = _num(part["previous"])
        cur = _num(part["current"])
        change = cur - prev
        with np.errstate(invalid="ignore", divide="ignore"):
            pct = np.where(prev != 0, change / prev * 100, np.nan)
        pct_text = [("new" if np.isnan(p) else f"{p:+.1f} %") for p in pct]
        custom = np.column_stack([change, pct_text]) if len(cur) else None
        hover = (
            "<b>%{x}</b><br>%{fullData.name}: %{y:,} "
            + _esc(unit)
            + "<br>change %{customdata[0]:+,} (%{customdata[1]})<extra></extra>"
        )
        for name, y, color in ((prev_name, prev, "#9ECAE9"), (cur_name, cur, PALETTE[0])):
            fig.add_trace(
                go.Bar(
                    x=names,
                    y=y,
                    name=name,
                    marker_color=color,
                    customdata=custom,
                    legendgroup=name,
                    showlegend=k == 0,
                    hovertemplate=hover,
                ),
                **_cell(units, unit),
            )
        fig.update_yaxes(title_text=unit, **_cell(units, unit))
        # Names wrapped on at most three level lines: a known height under each panel.
        fig.update_xaxes(
            title_text=noun,
            tickmode="array",
            tickvals=names,
            ticktext=[_wrap(name) for name in names],
            tickangle=0,
            **_cell(units, unit),
        )
    _layout(fig, title=text, **geometry)
    fig.update_layout(barmode="group", bargap=0.25)
    return fig


def _top_rows(part: pd.DataFrame, by: str, n: int) -> pd.DataFrame:
    """The first ``n`` rows (largest current first) and one "other" row summing the rest."""
    if len(part) <= n + 1:
        return part
    head = part.iloc[:n]
    rest = part.iloc[n:]
    other = {by: OTHER_LABEL, "previous": rest["previous"].sum(), "current": rest["current"].sum()}
    return pd.concat(
        [head[[by, "previous", "current"]].astype({by: object}), pd.DataFrame([other])],
        ignore_index=True,
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
    for k, row in enumerate(status.thresholds.itertuples(index=False)):
        crossed = f", crossed {pd.Timestamp(row.crossed_on):%b %d}" if bool(row.crossed) else ""
        color = (
            colors.get(float(row.percent), "#B279A2") if row.percent == row.percent else "#B279A2"
        )
        fig.add_hline(
            y=float(row.quantity),
            line={"color": color, "dash": "dash" if row.percent != 100 else "solid", "width": 1.5},
            annotation_text=f"{row.level}: {row.quantity:,.0f}{crossed}",
            # Alternate sides so the labels of close levels (95 %, 100 %) do not overlap.
            annotation_position="top left" if k % 2 == 0 else "top right",
            annotation_font={"color": "#333", "size": 11},
        )
    _layout(fig, title=text, note=note, height=480)
    fig.update_xaxes(type="date", range=[x0[0], x_end], title_text="day (UTC)")
    fig.update_yaxes(title_text=f"{unit} (cumulative)", rangemode="tozero")
    fig.update_layout(hovermode="x unified", legend={"orientation": "h", "y": -0.15})
    return fig


def _stamps(values: Any) -> np.ndarray:
    """Timestamps as ISO strings without a zone (plotly draws them as given: UTC)."""
    return pd.DatetimeIndex(values).strftime("%Y-%m-%d %H:%M").to_numpy(dtype=object)


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


def _esc(text: str) -> str:
    """Escape text put inside a hovertemplate (plotly reads HTML in it)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
