"""Who uses most: the top-N bars and this period against the last."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..analysis import (
    compare_periods,
    usage_by,
)
from ..analysis._common import bucket_of, bucket_starts, timestamp
from ..defaults import (
    CHART_MAX_SERIES,
    OTHER_LABEL,
)
from ..errors import InvalidParameter
from ._common import (
    _FREQ_WORDS,
    _check,
    _check_count,
    _label_names,
    _labels,
    _missing,
    _noun,
    _num,
    _units,
)
from ._fresh import note as fresh_note
from ._style import (
    _AXIS_TITLE_PX,
    _TICK_LINE_PX,
    _WRAP_LINES,
    MISSING_LABEL,
    OTHER_COLOR,
    PALETTE,
    _Draft,
    _empty,
    _esc,
    _facets,
    _wrap,
)


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
    df, ucol = _check(df, quantity)
    n = _check_count(n, "n", cap=CHART_MAX_SERIES)
    if by not in df.columns:
        raise InvalidParameter("by", f"unknown column {by!r}")
    noun = _noun(df, by)
    text = title or f"Top {n} {noun}s by usage"
    units = _units(df, ucol)
    if not units:
        return _empty(text)
    by_cols = [by] if by == ucol else [by, ucol]
    note = fresh_note(df)
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
        note=note,
        below=_TICK_LINE_PX + _AXIS_TITLE_PX,
    )
    draft = _Draft(fig, units)
    for unit in units:
        part = parts[unit]
        q = _num(part[quantity])
        total = q.sum()
        share = q / total * 100 if total else np.zeros_like(q)
        names = [labels[v] for v in part[by]]
        ids = [MISSING_LABEL if _missing(v) else str(v) for v in part[by]]
        bar: dict[str, Any] = {
            "type": "bar",
            "x": q,
            "y": names,
            "orientation": "h",
            "marker": {
                "color": [OTHER_COLOR if v == OTHER_LABEL else PALETTE[0] for v in part[by]]
            },
            "text": [f"{s:.1f} %" for s in share],
            "textposition": "auto",
            "name": unit,
            "showlegend": False,
            "hovertemplate": (
                f"<b>%{{y}}</b><br>%{{customdata[1]}}<br>%{{x:,}} {_esc(unit)}"
                "<br>%{customdata[0]:.2f} % of the total<extra></extra>"
            ),
        }
        if len(q):
            bar["customdata"] = np.column_stack([share, ids])
        draft.add(bar, unit)
        draft.update_axes("x", {"title": {"text": f"{unit}"}}, unit)
        draft.update_axes(
            "y", {"autorange": "reversed", "automargin": True, "title": {"text": noun}}, unit
        )
    return draft.figure(title=text, note=note, **geometry)


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
    df, ucol = _check(df, quantity)
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
    if to_date is None:
        # A period in progress compared with a whole one would always look like a drop.
        # Decided before comparing: one pass over the frame, not two.
        newest = timestamp(period, "period") if period is not None else df["period_start"].max()
        ends = bucket_starts(np.array([bucket_of(pd.Timestamp(newest), freq) + 1]), freq)[0]
        to_date = bool(df["period_end"].max() < ends)
    table = compare_periods(
        df, by=by_cols, freq=freq, period=period, to_date=bool(to_date), quantity=quantity
    )
    prev_start: pd.Timestamp = table.attrs["previous_period"]
    cur_start: pd.Timestamp = table.attrs["current_period"]
    fmt = {"MS": "%b %Y", "W": "week of %Y-%m-%d", "D": "%Y-%m-%d"}[freq]
    prev_name, cur_name = prev_start.strftime(fmt), cur_start.strftime(fmt)
    if to_date:
        prev_name += " (same days)"
    text = title or f"{cur_name} against {prev_name}, by {noun}"
    note = fresh_note(df)
    shown = []
    for unit in units:
        part = table.loc[(table[ucol] == unit).to_numpy(dtype=bool, na_value=False)]
        shown.append((unit, _top_rows(part, by, n)))
    # The names of every panel's groups looked up once (each group's name is its own);
    # each panel then labels its groups as before.
    known = _label_names(df, by, [v for _, part in shown for v in part[by].tolist()])
    parts = []
    for unit, part in shown:
        labels = _labels(df, by, part[by].tolist(), names=known)
        parts.append((unit, part, [labels[v] for v in part[by]]))
    # Names in full ("Data Integration - Change Data Capture"), wrapped: room under
    # each panel for the longest one's lines.
    ticks = {name: _wrap(name, lines=None) for _, _, names in parts for name in names}
    lines = max([_WRAP_LINES, *(t.count("<br>") + 1 for t in ticks.values())])
    fig, geometry = _facets(
        units,
        shared_x=False,
        panels=[300 if len(units) == 1 else 220] * len(units),
        below=lines * _TICK_LINE_PX + _AXIS_TITLE_PX,
        note=note,
    )
    draft = _Draft(fig, units)
    for k, (unit, part, names) in enumerate(parts):
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
            bar: dict[str, Any] = {
                "type": "bar",
                "x": names,
                "y": y,
                "name": name,
                "marker": {"color": color},
                "legendgroup": name,
                "showlegend": k == 0,
                "hovertemplate": hover,
            }
            if custom is not None:
                bar["customdata"] = custom
            draft.add(bar, unit)
        draft.update_axes("y", {"title": {"text": unit}}, unit)
        draft.update_axes(
            "x",
            {
                "title": {"text": noun},
                "tickmode": "array",
                "tickvals": names,
                "ticktext": [ticks[name] for name in names],
                "tickangle": 0,
            },
            unit,
        )
    return draft.figure(title=text, note=note, **geometry, barmode="group", bargap=0.25)


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
