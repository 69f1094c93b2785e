"""What the explorer shows for the filtered rows: the chart of a :class:`View` and the
top-consumers table (the slow paths, from the rows; ``_aggregate`` has the fast ones)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .. import charts
from ..analysis import ParticlePlan, top_consumers
from ..errors import InvalidParameter
from ._common import esc, fmt_number

__all__ = ["CHART_KINDS", "View", "draw", "top_table_html"]

# chart kind -> label in the chart-type menu.
CHART_KINDS: dict[str, str] = {
    "time": "usage over time (stacked)",
    "top": "top consumers",
    "heatmap": "heatmap (per day)",
    "breakdown": "breakdown (treemap)",
    "compare": "this period against the last",
    "plan": "plan burn-down (Particle)",
}


@dataclass(frozen=True)
class View:
    """How the filtered rows are shown: chart kind, grouping, period, quantity, plan."""

    chart: str = "time"
    by: str = "product"
    freq: str = "D"
    quantity: str = "quantity"
    top: int = 10
    plan: ParticlePlan | None = None


def draw(df: pd.DataFrame, view: View, *, table: pd.DataFrame | None = None) -> go.Figure:
    """The figure of ``view`` for the filtered rows (an explanatory empty one if it cannot be).

    ``table``: the time chart's bars already summed (``usage_over_time(table=)``).
    """
    if not len(df):
        return charts._empty(CHART_KINDS[view.chart], "no rows match the filters")
    q = view.quantity
    if view.chart == "time":
        return charts.usage_over_time(
            df, by=view.by, freq=view.freq, top=view.top, quantity=q, table=table
        )
    if view.chart == "top":
        return charts.top_bar(df, by=view.by, n=view.top, quantity=q)
    if view.chart == "heatmap":
        return charts.heatmap(df, by=view.by, top=max(view.top, 20), freq=view.freq, quantity=q)
    if view.chart == "breakdown":
        path = breakdown_path(view.by)
        return charts.breakdown(df, path=path, top=max(view.top, 30), quantity=q)
    if view.chart == "compare":
        freq = compare_freq(view.freq)
        return charts.period_over_period(df, by=view.by, freq=freq, top=view.top, quantity=q)
    if view.chart == "plan":
        if view.plan is None:
            return charts._empty(CHART_KINDS["plan"], "choose a Particle plan to compare with")
        particle = (df["provider"] == "particle").to_numpy(bool, na_value=False)
        if not particle.any():
            return charts._empty(CHART_KINDS["plan"], "no Particle rows in the selection")
        # Only Particle rows (the usual case): no copy of them.
        prows = df if particle.all() else df.loc[particle]
        return charts.cumulative_vs_allowance(prows, plan=view.plan)
    raise InvalidParameter("chart", f"expected one of {', '.join(CHART_KINDS)}, got {view.chart!r}")


def compare_freq(freq: str) -> str:
    """The period the comparison chart compares: a day against the day before says
    little, so days compare months."""
    return freq if freq != "D" else "MS"


def breakdown_path(by: str) -> tuple[str, str]:
    """The treemap's levels for a grouping: the group, then the devices, apps or assets."""
    return ("product", "resource_id") if by == "resource_id" else (by, "resource_id")


def top_table_html(
    df: pd.DataFrame,
    *,
    by: str,
    quantity: str,
    n: int,
    sums: pd.DataFrame | None = None,
    label_rows: Callable[[str, list[Any]], pd.DataFrame] | None = None,
) -> str:
    """The top consumers of the filtered rows as an HTML table (per unit).

    ``sums``: the rows already summed per ``by`` value (the explorer's fast path),
    ranked instead of ``df``; ``label_rows(by, ids)`` then gives the rows of the ids
    shown, which their labels are read from.
    """
    if not len(df):
        return "<p>No rows match the filters.</p>"
    ucol = "unit" if quantity == "quantity" else "billable_unit"
    keys = [by] if by == ucol else [by, ucol]
    table = top_consumers(df if sums is None else sums, by=keys, n=n, quantity=quantity)
    # Labels and nouns read only the rows of the shown ids (and their provider), on
    # both paths, so the fast and the rows path name a column alike.
    ids = table[by].unique().tolist()
    if label_rows is not None:
        df = label_rows(by, ids)
    else:
        held = df[by].isin(ids)
        if any(pd.isna(v) for v in ids):
            held |= df[by].isna()
        df = df[held.to_numpy()]
    labels = charts._labels(df, by, table[by].unique().tolist())
    cell = "padding:2px 12px;border-bottom:1px solid #eee"
    num = f"{cell};text-align:right;font-variant-numeric:tabular-nums"
    rows = []
    for rec in table.itertuples(index=False):
        value = getattr(rec, by)
        rows.append(
            "<tr>"
            f"<td style='{num}'>{int(rec.rank)}</td>"
            f"<td style='{cell}' title='{esc(value)}'>{esc(labels.get(value, value))}</td>"
            f"<td style='{num}'>{fmt_number(float(getattr(rec, quantity)))}</td>"
            f"<td style='{cell}'>{esc(getattr(rec, ucol))}</td>"
            f"{_share_cell(rec.share_percent, num)}{_share_cell(rec.cumulative_percent, num)}"
            "</tr>"
        )
    noun = charts._noun(df, by)
    head = "".join(
        f"<th style='{num if i in (0, 2, 4, 5) else cell};border-bottom:1px solid #999'>"
        f"{esc(h)}</th>"
        for i, h in enumerate(("#", noun, "usage", "unit", "share", "cumulative"))
    )
    return (
        "<table class='ua-top-table-rows' style='border-collapse:collapse'>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


# A share of nothing: the unit's total is 0 (every quantity 0 or missing), so no
# row has a share of it. Said in words, never "nan %".
NO_USAGE = "no usage"


def _share_cell(percent: Any, style: str) -> str:
    """One share cell: "12.5 %", or "no usage" when the unit's total is 0 or missing."""
    value = float(percent)
    if np.isfinite(value):
        return f"<td style='{style}'>{value:.1f} %</td>"
    return (
        f"<td style='{style};color:#666' title='the total of this unit is 0 or missing: "
        f"there is no usage to share'>{NO_USAGE}</td>"
    )
