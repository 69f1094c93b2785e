"""The explorer's fast paths: headline numbers and the time chart from category codes.

A redraw on millions of rows cannot afford a dozen passes over a copy of the
selected rows. The frame is decoded once (``_decoded``: :class:`Decoded`, category
codes, day numbers, quantities); a selection is an array of row positions. Per-day sums are
then one ``np.bincount`` over those positions, *in row order* - the order the
analysis functions sum in - so every sum is bit for bit the one they compute.

Those sums are handed, as a small unified frame with one row per day (or per
group and period), to the same analysis and chart functions the slow path
calls on the rows: plan use, the forecast and the stacked time chart are still
computed by :func:`~usage_analysis.analysis.plan_status`,
:func:`~usage_analysis.analysis.forecast` and
:func:`~usage_analysis.charts.usage_over_time`, never re-implemented here.

Charts (time, top, heatmap, treemap) and the top table are drawn by the same
chart and analysis functions from *cells*: the rows summed per group, unit (and
period), one unified row each (:func:`_cells`), plus rows of ``-0.0`` that keep
what a chart reads from the rows besides the sums (first and last day, each
provider's newest day, the units' order by row count).

A fast path runs only when the small frame provably gives what the rows give;
it returns ``None`` otherwise and the caller takes the rows path. Checked once
per frame (whatever the selection, a subset of rows then passes too):

- every row is one whole UTC day (``period_start`` at midnight, ``period_end``
  a day later): then the first and last day, the newest data's end and
  "rows of a day or less" read the same on the day rows as on the rows;
- each provider's rows are of one grain (the grain rule drops no row), and each
  cell holds one provider's rows;
- an id grouped by (device, account) has one name on every row or none (the
  charts label it with its newest name);

and per selection: no rows without a unit beside rows with one; for the plan
and the forecast one provider, account and unit among the rows used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..analysis import ParticlePlan, forecast, period_numbers, period_starts, top_and_other
from ..analysis.events import Event
from ..charts._common import _fit_freq
from ..defaults import CHART_MAX_CELLS, CHART_MAX_POINTS, OTHER_LABEL
from ..errors import UsageAnalysisError
from ..schema import UNIFIED_DTYPES
from ._decoded import (
    _NAME_OF,
    MAX_BINS,
    NS_PER_DAY,
    Combos,
    Decoded,
    Selected,
    period_sums,
)
from ._views import View, breakdown_path, compare_freq, draw
from .headline import Headline, _plan_headline, _projection, unit_totals_from_codes

__all__ = [
    "Combos",
    "Decoded",
    "Selected",
    "fast_draw",
    "fast_headline",
    "fast_top_consumers",
    "fast_usage_over_time",
    "period_sums",
]

_NO_CATEGORIES = pd.CategoricalDtype(pd.Index([], dtype="str"))


def _frame(n: int, columns: dict[str, Any]) -> pd.DataFrame:
    """A unified frame of ``n`` rows: ``columns`` as given, every other one missing."""
    out: dict[str, Any] = {}
    for col, dtype in UNIFIED_DTYPES.items():
        if col in columns:
            out[col] = columns[col]
        elif dtype == "category":
            out[col] = pd.Categorical.from_codes(
                np.full(n, -1, dtype=np.int8), dtype=_NO_CATEGORIES
            )
        elif dtype == "float64":
            out[col] = np.full(n, np.nan)
        else:
            out[col] = pd.Series(pd.NaT, index=range(n), dtype=dtype)
    return pd.DataFrame(out)


def _const(code: int, cats: pd.Index, n: int) -> pd.Categorical:
    return pd.Categorical.from_codes(
        np.full(n, code, dtype=np.int64), dtype=pd.CategoricalDtype(cats)
    )


def _day_frame(
    sel: Selected,
    where: np.ndarray | None,
    *,
    quantity: str,
    ucol: str,
    constant: Sequence[str],
) -> pd.DataFrame | None:
    """The rows (of ``where``) summed per day, one unified row a day; ``None`` if that
    would differ from the rows.

    ``constant``: columns that must hold one value (or none) across the rows; the
    day rows carry it. The unit column may also have missing values beside its one
    unit (the analysis functions ignore them there and add their quantities). The
    quantity of a day whose rows are all NaN stays NaN.
    """
    carried: dict[str, Any] = {}
    for col in constant:
        code = sel.one_code(col, where)
        if code is None:
            return None
        carried[col] = code
    units = sel.distinct(ucol, where)
    if len(units) > 1:
        return None
    carried[ucol] = int(units[0]) if len(units) else -1
    index = sel.day_index
    clean, nan = sel.values(quantity)
    if where is not None:
        index, clean = index[where], clean[where]
        nan = None if nan is None else nan[where]
    if not len(index):
        return None
    sums, count, all_nan = period_sums(index, clean, nan, sel.dec.days)
    present = np.flatnonzero(count)
    n = len(present)
    out: dict[str, Any] = {
        col: _const(code, sel.dec.codes(col)[1], n) for col, code in carried.items()
    }
    q = sums[present]
    q[all_nan[present]] = np.nan
    starts = (present + sel.dec.first_day) * NS_PER_DAY
    out["period_start"] = pd.DatetimeIndex(starts.view("datetime64[ns]")).tz_localize("UTC")
    out["period_end"] = out["period_start"] + pd.Timedelta(days=1)
    out[quantity] = q
    return _frame(n, out)


def fast_headline(
    sel: Selected, *, quantity: str, plan: ParticlePlan | None, events: tuple[Event, ...] = ()
) -> Headline | None:
    """:func:`~.headline.compute_headline` of the selected rows, from per-day sums.

    ``None`` when that could differ (the caller computes from the rows).
    """
    dec = sel.dec
    if not dec.whole_days or not sel.n or dec.one_grain is None:
        return None
    if any(e.kind == "devices" for e in events):
        return None  # a device added is one like the average: that counts devices, days do not
    ucol = "unit" if quantity == "quantity" else "billable_unit"
    units, ucats = sel.codes(ucol), dec.codes(ucol)[1]
    # The values are NaN-free already (NaN as 0, how every sum counts it).
    totals, unit = unit_totals_from_codes(units, ucats, sel.values(quantity)[0], has_nan=False)
    first, last = sel.day_range()
    # Whole days: the first day is the earliest start, the last the day before the latest end.
    span = {
        "first_day": pd.Timestamp(first * NS_PER_DAY, tz="UTC"),
        "last_day": pd.Timestamp(last * NS_PER_DAY, tz="UTC"),
    }
    pcats = dec.codes("provider")[1]
    if plan is not None and "particle" in pcats:
        code = pcats.get_loc("particle")
        one = sel.one_code("provider")
        particle = None if one == code else sel.codes("provider") == code
        if particle is None or particle.any():
            days = _day_frame(
                sel, particle, quantity=quantity, ucol=ucol, constant=("provider", "account_id")
            )
            if days is None:
                return None  # several accounts or units: the rows path says so
            return _plan_headline(
                days,
                totals,
                span,
                quantity=quantity,
                plan=plan,
                rows=sel.report_rows,
                events=events,
            )
    projection: dict[str, object] = {}
    note = None
    if unit is not None:
        main = None if sel.one_code(ucol) is not None else units == ucats.get_loc(unit)
        days = _day_frame(sel, main, quantity=quantity, ucol=ucol, constant=("provider",))
        if days is None:
            return None  # several providers: HERE's data lag applies to some rows only
        try:
            projection = _projection(
                forecast(days, quantity=quantity, freq="MS", events=events or None)
            )
        except UsageAnalysisError as exc:
            note = f"no forecast: {exc}"
    return Headline(
        rows=sel.report_rows,
        totals=totals,
        unit=unit,
        total=totals.get(unit) if unit is not None else None,
        note=note,
        **span,  # type: ignore[arg-type]
        **projection,  # type: ignore[arg-type]
    )


def _cells(
    sel: Selected,
    keys: Sequence[str],
    *,
    quantity: str,
    freq: str | None,
    dated: bool = True,
    late: tuple[int, int] | None = None,
) -> pd.DataFrame | None:
    """The selected rows summed per combination of ``keys``, unit (and ``freq`` period)
    (:func:`_cell_frame`)."""
    found = _cell_frame(sel, keys, quantity=quantity, freq=freq, dated=dated, late=late)
    return None if found is None else found[0]


def _ranked_cells(
    sel: Selected, by: str, *, quantity: str, freq: str, top: int
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The time chart's bars, ``usage_by(rows, by=[by, unit], freq=freq, top=top)``,
    ranked and folded by :func:`~usage_analysis.analysis.top_and_other` from the cells'
    sums; and the cells of the groups shown (plus the ``-0.0`` rows), which give the
    chart what else it reads from the rows (:func:`_cell_frame`)."""
    found = _cell_frame(sel, [by], quantity=quantity, freq=freq, top=top)
    if found is None or found[1] is None:
        return None
    return found[0], found[1]


def _cell_frame(
    sel: Selected,
    keys: Sequence[str],
    *,
    quantity: str,
    freq: str | None,
    dated: bool = True,
    late: tuple[int, int] | None = None,
    top: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame | None] | None:
    """The selected rows summed per combination of ``keys``, unit (and ``freq`` period):
    one unified row per cell, summed in row order, what ``group_sum`` gives per cell.

    A chart grouping by exactly these keys (and period) finds one row per group, so
    its sums are the rows' to the bit. What else a chart reads from the rows is kept:

    - every cell carries its provider (each cell holds one provider's rows), its
      grain (the frame's, per provider) and the ids' one name;
    - ``dated``: the first and last day, and each provider's last day (the newest
      data, HERE's provisional days) as rows of ``-0.0`` in the cells holding
      them, which leave every sum as it is; cells stand at their period's start
      or the first day, whichever is later;
    - the units rank by row count as in the rows (a chart's panels, most rows
      first): rows of ``-0.0`` on a unit's first cell make up the difference.

    ``late``: (period, day), both counted from the frame's first: that period's
    rows from that day on go to cells of their own, standing on that day (the
    previous period cut where the current one's data ends, as ``compare_periods``
    compares "to date").

    ``top`` (one key, with ``freq``): the cells are also ranked into the time chart's
    table (:func:`~usage_analysis.analysis.top_and_other`, returned second), and only
    the cells of the groups it shows are kept in the frame, with the ``-0.0`` rows
    (the first and last day and each provider's newest, in the cells holding them).

    ``None`` when that cannot be kept (see the module's conditions).
    """
    dec = sel.dec
    if not sel.n or (dated and not dec.whole_days) or dec.one_grain is None:
        return None
    ucol = "unit" if quantity == "quantity" else "billable_unit"
    names: dict[str, np.ndarray] = {}
    for k in keys:
        if dated and k in _NAME_OF and _NAME_OF[k] in dec.df.columns:
            one = dec.one_name(k)
            if one is None:
                return None
            names[_NAME_OF[k]] = one
    combos = dec.combos((*keys, ucol) if ucol not in keys else tuple(keys))
    if combos is None or combos.provider is None:
        return None
    ids = sel.combo_ids(combos)
    if freq is None:
        lut, periods, first = None, 1, 0
    else:
        lut, periods, first = dec.periods(freq)
    bins = combos.n * periods
    if lut is not None and periods > 1:
        key = ids.astype(np.int64)
        key *= periods
        # days: each day is its own period (the lookup is the identity)
        key += sel.day_index if freq == "D" else lut[sel.day_index]
    else:
        key = ids
    if late is not None:
        assert lut is not None
        bins *= 2
        index = sel.day_index
        key = key.astype(np.int64) * 2 + ((lut[index] == late[0]) & (index >= late[1]))
    clean = sel.values(quantity)[0]
    if bins <= MAX_BINS:
        sums = np.bincount(key, weights=clean, minlength=bins)
        if sel.rows is None:  # every row: the rows per cell are the frame's, kept
            count = dec.row_counts((tuple(keys), ucol, freq, late), key, bins)
        else:
            count = np.bincount(key, minlength=bins)
        cells = np.flatnonzero(count)
        q, count = sums[cells], count[cells]
    else:  # sparse: hash the keys, then put the cells in key order
        dense, uniques = pd.factorize(key, sort=False)
        order = np.argsort(uniques, kind="stable")
        q = np.bincount(dense, weights=clean, minlength=len(uniques))[order]
        count = np.bincount(dense, minlength=len(uniques))[order]
        cells = np.asarray(uniques, dtype=np.int64)[order]
    cell_keys, is_late = cells, None
    if late is not None:
        cells, is_late = np.divmod(cells, 2)
    combo, period_of = np.divmod(cells, periods)
    unit = combos.codes[ucol][combo]
    if (unit < 0).any() and (unit >= 0).any():
        return None  # rows without a unit beside units: the rows path says where they go
    ucats = dec.codes(ucol)[1]
    table: pd.DataFrame | None = None
    if freq is not None:
        starts = period_starts(period_of + first, freq)
        if top is not None and keys[0] != ucol:
            # group_sum's table of the rows: keys, unit, period, sum, in key order.
            table = top_and_other(
                pd.DataFrame(
                    {
                        keys[0]: pd.Categorical.from_codes(
                            combos.codes[keys[0]][combo],
                            dtype=pd.CategoricalDtype(dec.codes(keys[0])[1]),
                        ),
                        ucol: pd.Categorical.from_codes(unit, dtype=pd.CategoricalDtype(ucats)),
                        "period_start": starts,
                        quantity: q,
                    }
                ),
                by=[keys[0], ucol],
                top=top,
                quantity=quantity,
            )
        start = starts.asi8
    else:
        start = np.zeros(len(cells), dtype=np.int64)
    extra: list[int] = []  # row positions (in the selection) whose cell gets a -0.0 row
    if dated:
        index = sel.day_index
        first_ns = (int(index.min()) + dec.first_day) * NS_PER_DAY
        start = np.maximum(start, first_ns) if freq is not None else start
        if is_late is not None and late is not None:
            start[is_late == 1] = (late[1] + dec.first_day) * NS_PER_DAY
        if freq != "D" or table is not None:
            # the first and last day, each provider's newest (every cell holds one
            # provider's rows: the providers of the rows are the cells')
            extra = sel.ends()
    where = np.searchsorted(cell_keys, key[extra]) if extra else np.zeros(0, dtype=np.int64)
    extra_start = (sel.day_index[extra].astype(np.int64) + dec.first_day) * NS_PER_DAY
    if freq is None and dated:
        # No periods: every cell stands on the first day, the -0.0 rows on theirs.
        start[:] = first_ns
    # Units ranked by rows, as the rows rank them: -0.0 rows make the cells' counts
    # rank alike (ties included).
    real = np.bincount(unit + 1, weights=count, minlength=len(ucats) + 1)[1:]
    if table is not None:
        # Only the shown groups' cells (every unit has its top groups among them), and
        # those holding a -0.0 row.
        key_codes = combos.codes[keys[0]][combo]
        shown = table[keys[0]]
        named = shown.cat.categories[shown.cat.categories != OTHER_LABEL]
        wanted = np.zeros(len(dec.codes(keys[0])[1]) + 1, dtype=bool)
        wanted[dec.codes(keys[0])[1].get_indexer(named) + 1] = True
        wanted[0] = bool(shown.isna().any())
        keep = wanted[key_codes + 1]
        keep[where] = True
        at_kept = np.cumsum(keep) - 1
        where = at_kept[where]
        cells, q, count, combo, unit, start = (
            a[keep] for a in (cells, q, count, combo, unit, start)
        )
    held = np.bincount(unit[unit >= 0], minlength=len(ucats)) + np.bincount(
        unit[where][unit[where] >= 0], minlength=len(ucats)
    )
    pad_cells: list[np.ndarray] = []
    target = 0
    for level in np.unique(real[real > 0]):
        same = np.flatnonzero(real == level)
        target = max(int(held[same].max()), target + 1)
        for u in same:
            if target > held[u]:
                firsts = np.flatnonzero(unit == u)[0]
                pad_cells.append(np.full(target - int(held[u]), firsts, dtype=np.int64))
    pads = np.concatenate(pad_cells) if pad_cells else np.zeros(0, dtype=np.int64)
    rows = np.r_[np.arange(len(cells)), where, pads]
    n = len(rows)
    ns = np.r_[start, extra_start, start[pads]]
    stamps = pd.DatetimeIndex(ns.view("datetime64[ns]"), dtype="datetime64[ns, UTC]")
    quantities = np.r_[q, np.full(len(where) + len(pads), -0.0)]
    at = combo[rows]
    out: dict[str, Any] = {
        "period_start": stamps,
        "period_end": stamps + pd.Timedelta(days=1),
        quantity: quantities,
    }
    for k, codes in combos.codes.items():
        out[k] = pd.Categorical.from_codes(codes[at], dtype=pd.CategoricalDtype(dec.codes(k)[1]))
    pcode = combos.provider[at]
    out["provider"] = pd.Categorical.from_codes(
        pcode, dtype=pd.CategoricalDtype(dec.codes("provider")[1])
    )
    for name_col, one in names.items():
        id_col = next(k for k, v in _NAME_OF.items() if v == name_col)
        # Code -1 (no id) has no name; -1 looks up the extra last slot (a frame whose
        # ids are all missing has no other).
        lookup = np.append(one, -1)
        out[name_col] = pd.Categorical.from_codes(
            lookup[out[id_col].codes], dtype=pd.CategoricalDtype(dec.codes(name_col)[1])
        )
    frame = _frame(n, out)
    # The rule's grain of each row, given: the rule reads it instead of guessing.
    grain_of = dec.one_grain
    labels = sorted(set(grain_of.values()))
    lookup = np.full(len(dec.codes("provider")[1]) + 1, -1, dtype=np.int64)
    for p, g in grain_of.items():
        lookup[p] = labels.index(g)
    frame["grain"] = pd.Categorical.from_codes(
        lookup[pcode], dtype=pd.CategoricalDtype(pd.Index(labels, dtype="str"))
    )
    return frame, table


def _span(sel: Selected) -> pd.DataFrame:
    """The selection's first and last day as a frame (what ``_fit_freq`` reads)."""
    days = np.array(sel.day_range(), dtype=np.int64) * NS_PER_DAY
    return pd.DataFrame({"period_start": pd.to_datetime(days, utc=True)})


def fast_draw(sel: Selected, view: View) -> go.Figure | None:
    """:func:`~._views.draw` of the selected rows, drawn from their cells (:func:`_cells`);
    ``None`` when that could differ (the caller draws from the rows)."""
    by, q = view.by, view.quantity
    if by not in sel.dec.df.columns or not sel.n:
        return None
    if view.chart == "time":
        used = _fit_freq(_span(sel), view.freq, view.top + 1, CHART_MAX_POINTS)
        ranked = _ranked_cells(sel, by, quantity=q, freq=used, top=view.top)
        if ranked is not None:
            return draw(ranked[0], view, table=ranked[1])
        cells = _cells(sel, [by], quantity=q, freq=used)
    elif view.chart == "heatmap":
        if len(sel.distinct("unit" if q == "quantity" else "billable_unit")) > 1:
            # Several units: the chart refuses them (one colour scale), which it tells
            # from the units alone: cells per group, not per group and period.
            cells = _cells(sel, [by], quantity=q, freq=None)
        else:
            used = _fit_freq(_span(sel), view.freq, max(view.top, 20), CHART_MAX_CELLS)
            cells = _cells(sel, [by], quantity=q, freq=used)
    elif view.chart == "top":
        cells = _cells(sel, [by], quantity=q, freq=None)
    elif view.chart == "breakdown":
        cells = _cells(sel, list(breakdown_path(by)), quantity=q, freq=None)
    elif view.chart == "compare":
        cells = _compare_cells(sel, by, quantity=q, freq=compare_freq(view.freq))
    elif view.chart == "plan":
        cells = _plan_days(sel) if view.plan is not None else None
    else:
        return None
    if cells is None:
        return None
    return draw(cells, view)


def _plan_days(sel: Selected) -> pd.DataFrame | None:
    """The selected Particle rows summed per day, for the plan chart
    (``charts.cumulative_vs_allowance``: :func:`~usage_analysis.analysis.plan_status`
    and the forecast on the Particle rows, in data operations, ``billable_quantity``).

    The chart reads per-day sums, the first and newest day and the rows' one account
    and unit; ``None`` when that could differ: several accounts or units, or rows
    without a unit beside rows with one (the chart then leaves those out of its
    forecast), or rows of other grains than whole days.
    """
    dec = sel.dec
    pcats = dec.codes("provider")[1]
    if not dec.whole_days or dec.one_grain is None or "particle" not in pcats:
        return None
    code = pcats.get_loc("particle")
    particle = None if sel.one_code("provider") == code else sel.codes("provider") == code
    if particle is not None and not particle.any():
        # No Particle rows, which the chart says: one of the rows tells it so.
        first = 0 if sel.rows is None else int(sel.rows[0])
        return dec.df.iloc[first : first + 1]
    if sel.one_code("billable_unit", particle) is None:
        return None
    return _day_frame(
        sel,
        particle,
        quantity="billable_quantity",
        ucol="billable_unit",
        constant=("provider", "account_id"),
    )


def _compare_cells(sel: Selected, by: str, *, quantity: str, freq: str) -> pd.DataFrame | None:
    """Cells for ``charts.period_over_period`` (this period against the last, newest
    data's period): per group, unit and period, the previous period cut in two where
    the current one's data ends when the chart compares to date."""
    dec = sel.dec
    if not dec.whole_days or not sel.n:
        return None
    last = sel.day_range()[1]  # UTC day number
    current, after = (int(b) for b in period_numbers(np.array([last, last + 1]), freq))
    # The chart compares to date when the data ends before the current period does
    # (period_over_period's to_date=None); compare_periods then keeps the previous
    # period's rows up to as many days in as the current one has.
    if after != current:
        return _cells(sel, [by], quantity=quantity, freq=freq)
    starts = period_starts(np.array([current - 1, current]), freq).asi8 // NS_PER_DAY
    cut = int(starts[0]) + (last + 1 - int(starts[1]))
    first = dec.periods(freq)[2]
    return _cells(
        sel, [by], quantity=quantity, freq=freq, late=(current - 1 - first, cut - dec.first_day)
    )


def fast_usage_over_time(
    sel: Selected, *, by: str, freq: str, top: int, quantity: str
) -> go.Figure | None:
    """``charts.usage_over_time`` of the selected rows, from their cells (:func:`fast_draw`)."""
    return fast_draw(sel, View(chart="time", by=by, freq=freq, top=top, quantity=quantity))


def fast_top_consumers(sel: Selected, *, quantity: str) -> pd.DataFrame | None:
    """The rows summed per device/app/asset (``resource_id``) and unit, one unified row
    each, for :func:`~usage_analysis.analysis.top_consumers`; ``None`` when that could differ."""
    return _cells(sel, ["resource_id"], quantity=quantity, freq=None, dated=False)
