"""The explorer's fast paths: headline numbers and the time chart from category codes.

A redraw on millions of rows cannot afford a dozen passes over a copy of the
selected rows. The frame is decoded once (:class:`Decoded`: category codes, day
numbers, quantities); a selection is an array of row positions. Per-day sums are
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

from .. import grains
from ..analysis import ParticlePlan, forecast, top_and_other
from ..analysis.events import Event
from ..charts._common import _fit_freq
from ..defaults import CHART_MAX_CELLS, CHART_MAX_POINTS, OTHER_LABEL
from ..errors import UsageAnalysisError
from ..schema import REPORT_ROWS, UNIFIED_DTYPES, report_rows
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

NS_PER_DAY = 86_400_000_000_000
# A group x period bincount larger than this (e.g. 10,000 devices x 5 years of days)
# is left to the rows path.
MAX_BINS = 20_000_000


# 1970-01-01 was a Thursday: day number + 3 counts weeks from Monday.
_MONDAY_SHIFT = 3


def _bucket_numbers(days: np.ndarray, freq: str) -> np.ndarray:
    """Consecutive period numbers of UTC day numbers: days, weeks from Monday, months
    since 1970-01 (how ``usage_by`` buckets, as calendar arithmetic on day numbers)."""
    days = np.asarray(days, dtype=np.int64)
    if freq == "D":
        return days
    if freq == "W":
        return (days + _MONDAY_SHIFT) // 7
    return days.astype("datetime64[D]").astype("datetime64[M]").view("i8")


def _bucket_starts(numbers: np.ndarray, freq: str) -> pd.DatetimeIndex:
    """The UTC start of each period number (inverse of :func:`_bucket_numbers`)."""
    numbers = np.asarray(numbers, dtype=np.int64)
    if freq == "D":
        days = numbers
    elif freq == "W":
        days = numbers * 7 - _MONDAY_SHIFT
    else:
        days = numbers.astype("datetime64[M]").astype("datetime64[D]").view("i8")
    ns = days * NS_PER_DAY
    return pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")


def _index_type(n: int) -> type:
    """The smallest of int32/int64 that holds 0..n."""
    return np.int32 if n < 2**31 - 1 else np.int64


class Decoded:
    """One frame's columns as numbers, decoded on first use and kept."""

    def __init__(
        self,
        df: pd.DataFrame,
        day: np.ndarray,
        *,
        known: dict[str, tuple[np.ndarray, pd.Index]] | None = None,
    ) -> None:
        self.df = df
        self.day = day  # UTC day number of each row's period_start
        self._codes: dict[str, tuple[np.ndarray, pd.Index]] = dict(known or {})
        self._used: dict[str, np.ndarray] = {}
        self._values: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
        self._whole_days: bool | None = None
        self._periods: dict[str, tuple[np.ndarray, int, int]] = {}
        self._combos: dict[tuple[str, ...], Combos | None] = {}
        self._names: dict[str, np.ndarray | None] = {}
        self._grain: tuple[dict[int, str] | None] | None = None
        # Day index from the frame's first day: small ints, one bincount bin a day.
        self.first_day = int(day.min()) if len(day) else 0
        self.days = int(day.max()) - self.first_day + 1 if len(day) else 0
        self.day_index: np.ndarray = (day - self.first_day).astype(_index_type(self.days))

    def periods(self, freq: str) -> tuple[np.ndarray, int, int]:
        """Per day of the frame (``day_index``) its ``freq`` period counted from the first;
        the number of periods and the first period's number."""
        if freq not in self._periods:
            numbers = np.arange(self.first_day, self.first_day + self.days, dtype=np.int64)
            lut = _bucket_numbers(numbers, freq)
            first = int(lut[0]) if len(lut) else 0
            periods = int(lut[-1]) - first + 1 if len(lut) else 1
            self._periods[freq] = ((lut - first).astype(np.int64), periods, first)
        return self._periods[freq]

    def combos(self, keys: tuple[str, ...]) -> Combos | None:
        """The combinations of ``keys`` in the whole frame (:class:`Combos`), kept."""
        if keys not in self._combos:
            self._combos[keys] = _combos(self, keys)
        return self._combos[keys]

    def one_name(self, column: str) -> np.ndarray | None:
        """Per id code of ``column``, its one name's code (:func:`_one_name`), kept."""
        if column not in self._names:
            self._names[column] = _one_name(self, column)
        return self._names[column]

    @property
    def one_grain(self) -> dict[int, str] | None:
        """Per provider code its one grain in the whole frame (:func:`_one_grain`), kept."""
        if self._grain is None:
            self._grain = (_one_grain(self),)
        return self._grain[0]

    def codes(self, column: str) -> tuple[np.ndarray, pd.Index]:
        """The column's category codes (-1 = missing) and its categories."""
        if column not in self._codes:
            s = self.df[column]
            if not isinstance(s.dtype, pd.CategoricalDtype):
                s = s.astype("category")
            self._codes[column] = (s.cat.codes.to_numpy(), s.cat.categories)
        return self._codes[column]

    def used(self, column: str) -> np.ndarray:
        """The codes occurring in the whole frame, -1 (missing) included."""
        if column not in self._used:
            codes = self.codes(column)[0]
            self._used[column] = np.flatnonzero(np.bincount(codes.astype(np.int64) + 1)) - 1
        return self._used[column]

    def values(self, column: str) -> tuple[np.ndarray, np.ndarray | None]:
        """The quantity column with NaN as 0 (how every sum counts it), and where it
        is NaN (``None``: nowhere)."""
        if column not in self._values:
            raw = self.df[column].to_numpy(dtype=np.float64)
            nan = np.isnan(raw)
            has_nan = bool(nan.any())
            self._values[column] = (
                np.where(nan, 0.0, raw) if has_nan else raw,
                nan if has_nan else None,
            )
        return self._values[column]

    @property
    def whole_days(self) -> bool:
        """Every row is one whole UTC day (starts at midnight, ends a day later)."""
        if self._whole_days is None:
            start = self.df["period_start"].to_numpy(dtype="datetime64[ns]").view("i8")
            end = self.df["period_end"].to_numpy(dtype="datetime64[ns]").view("i8")
            self._whole_days = bool(
                len(start)
                and np.array_equal(self.day * NS_PER_DAY, start)
                and bool(((end - start) == NS_PER_DAY).all())
            )
        return self._whole_days


class Selected:
    """The rows a selection keeps (positions in row order; ``None`` = every row), with
    each column gathered once for them."""

    def __init__(self, dec: Decoded, rows: np.ndarray | None) -> None:
        self.dec = dec
        self.rows = rows
        self.n = len(dec.df) if rows is None else len(rows)
        self._cache: dict[str, np.ndarray | None] = {}

    @property
    def report_rows(self) -> int:
        """The report rows the selected rows stand for (:func:`schema.report_rows`)."""
        if REPORT_ROWS not in self.dec.df.columns:
            return self.n
        if self.rows is None:
            return report_rows(self.dec.df)
        counts = self.dec.df[REPORT_ROWS].to_numpy()
        return int(counts[self.rows].sum())

    def _get(self, name: str, full: np.ndarray | None) -> np.ndarray | None:
        if name not in self._cache:
            self._cache[name] = full if full is None or self.rows is None else full[self.rows]
        return self._cache[name]

    def codes(self, column: str) -> np.ndarray:
        out = self._get(f"codes:{column}", self.dec.codes(column)[0])
        assert out is not None
        return out

    @property
    def day_index(self) -> np.ndarray:
        """Each row's day from the frame's first day (``Decoded.day_index``)."""
        out = self._get("day", self.dec.day_index)
        assert out is not None
        return out

    def day_range(self) -> tuple[int, int]:
        """The first and last day number of the rows."""
        index = self.day_index
        return self.dec.first_day + int(index.min()), self.dec.first_day + int(index.max())

    def combo_ids(self, combos: Combos) -> np.ndarray:
        """``Combos.ids`` of these rows."""
        out = self._get(f"combo:{id(combos)}", combos.ids)
        assert out is not None
        return out

    def values(self, column: str) -> tuple[np.ndarray, np.ndarray | None]:
        clean, nan = self.dec.values(column)
        got = self._get(f"values:{column}", clean)
        assert got is not None
        return got, self._get(f"nan:{column}", nan)

    def one_code(self, column: str, where: np.ndarray | None = None) -> int | None:
        """The one code every row (of ``where``) has in ``column`` (-1: missing);
        ``None`` if they differ."""
        used = self.dec.used(column)
        if len(used) == 1:
            return int(used[0])  # one value in the whole frame: no pass over the rows
        codes = self.codes(column)
        if where is not None:
            codes = codes[where]
        found = np.flatnonzero(np.bincount(codes.astype(np.int64) + 1))
        return int(found[0]) - 1 if len(found) == 1 else None

    def distinct(self, column: str, where: np.ndarray | None = None) -> np.ndarray:
        """The distinct non-missing codes of ``column`` among the rows (of ``where``)."""
        used = self.dec.used(column)
        if len(used) == 1:
            return used[used >= 0]
        codes = self.codes(column)
        if where is not None:
            codes = codes[where]
        return np.flatnonzero(np.bincount(codes.astype(np.int64) + 1)[1:])


def period_sums(
    keys: np.ndarray, clean: np.ndarray, nan: np.ndarray | None, n_keys: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per key (0..n_keys-1): the sum of ``clean`` (the values with NaN as 0), summed
    in row order like ``group_sum``; the row count; and whether every value was NaN."""
    sums = np.bincount(keys, weights=clean, minlength=n_keys)
    rows = np.bincount(keys, minlength=n_keys)
    if nan is None:
        return sums, rows, np.zeros(n_keys, dtype=bool)
    nans = np.bincount(keys, weights=nan, minlength=n_keys)
    return sums, rows, (rows > 0) & (nans == rows)


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


# Id columns whose chart labels are read from a name column (charts._labels).
_NAME_OF = {"resource_id": "resource_name", "account_id": "account_name"}


class Combos:
    """The combinations of some key columns' values occurring in the whole frame.

    ``ids``: per row, its combination's number (0..C-1, in key-code order);
    ``codes``: per combination, each key's code (-1 missing); ``provider``: per
    combination its one provider's code, or ``None`` when a combination holds
    rows of several providers (every subset of rows then could too).
    """

    def __init__(self, ids: np.ndarray, codes: dict[str, np.ndarray], provider: np.ndarray | None):
        self.ids = ids
        self.codes = codes
        self.provider = provider
        self.n = len(next(iter(codes.values())))


def _combos(dec: Decoded, keys: tuple[str, ...]) -> Combos | None:
    # The keys are folded in one at a time, the combinations so far renumbered
    # 0..C-1 after each: the key space stays C x (categories + 1) instead of the
    # product of every key's categories (product x device x unit: 20 million bins
    # for some 7,500 combinations). The numbering is the same: key-code order.
    n = len(dec.df)
    ids: np.ndarray = np.zeros(n, dtype=np.int64)
    codes: dict[str, np.ndarray] = {}
    combos = 1
    for k in keys:
        part, cats = dec.codes(k)
        size = len(cats) + 1
        key = ids.astype(np.int64) * size + (part.astype(np.int64) + 1)
        if combos * size <= max(4 * n, 2**16):
            present = np.bincount(key, minlength=combos * size) > 0
            group_keys = np.flatnonzero(present)
            remap: np.ndarray = (np.cumsum(present) - 1).astype(_index_type(len(group_keys)))
            ids = remap[key]
        else:  # a sparse key space: hashed once per frame
            dense, uniques = pd.factorize(key, sort=True)
            ids = dense.astype(_index_type(len(uniques)))
            group_keys = np.asarray(uniques, dtype=np.int64)
        before, code = np.divmod(group_keys, size)
        codes = {c: v[before] for c, v in codes.items()}
        codes[k] = code - 1
        combos = len(group_keys)
    provider: np.ndarray | None
    if "provider" in codes:
        provider = codes["provider"]
    else:
        pcodes = dec.codes("provider")[0].astype(np.int64) + 1
        width = len(dec.codes("provider")[1]) + 1
        pairs = np.flatnonzero(np.bincount(ids.astype(np.int64) * width + pcodes))
        combo, pcode = np.divmod(pairs, width)
        provider = pcode - 1 if len(combo) == len(group_keys) else None
    return Combos(ids, {k: codes[k] for k in keys}, provider)


def _one_name(dec: Decoded, column: str) -> np.ndarray | None:
    """Per code of an id column, the code of its one name (-1: none); ``None`` when an
    id has two names, or rows with and rows without a name.

    Then every subset of rows names an id as the whole frame does, and the latest
    name the charts look up is that one name.
    """
    ids, cats = dec.codes(column)
    names = dec.codes(_NAME_OF[column])[0]
    held = ids >= 0
    named = held & (names >= 0)
    one = np.full(len(cats), -1, dtype=np.int64)
    one[ids[named]] = names[named]
    if not np.array_equal(one[ids[named]], names[named]):
        return None  # an id with two names
    rows = np.bincount(ids[held], minlength=len(cats))
    with_name = np.bincount(ids[named], minlength=len(cats))
    if ((with_name > 0) & (with_name != rows)).any():
        return None  # an id named on some rows only
    return one


def _one_grain(dec: Decoded) -> dict[int, str] | None:
    """Per provider code, the one grain of its rows in the whole frame; ``None`` when a
    provider's rows are of several grains (the grain rule then chooses per month)."""
    ids = grains.grain_ids(dec.df).astype(np.int64)
    pcodes = dec.codes("provider")[0].astype(np.int64)
    width = len(grains._ALL_GRAINS) + 1
    pairs = np.flatnonzero(np.bincount((pcodes + 1) * width + ids + 1))
    provider, grain = np.divmod(pairs, width)
    if len(np.unique(provider)) != len(provider) or (grain == 0).any() or (provider == 0).any():
        return None
    return {
        int(p) - 1: grains._ALL_GRAINS[int(g) - 1] for p, g in zip(provider, grain, strict=True)
    }


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
        sums, count, _ = period_sums(key, clean, None, bins)
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
        starts = _bucket_starts(period_of + first, freq)
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
            extra = [int(np.argmin(index)), int(np.argmax(index))]
            # the providers among the cells: a bincount of their codes, not a sort
            held_providers = (
                np.flatnonzero(np.bincount(combos.provider[combo].astype(np.int64) + 1)) - 1
            )
            providers = combos.provider[ids] if len(held_providers) > 1 else None
            if providers is not None:
                for code in held_providers:
                    at = np.flatnonzero(providers == code)
                    extra.append(int(at[np.argmax(index[at])]))
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
    stamps = pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")
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
    current, after = (int(b) for b in _bucket_numbers(np.array([last, last + 1]), freq))
    # The chart compares to date when the data ends before the current period does
    # (period_over_period's to_date=None); compare_periods then keeps the previous
    # period's rows up to as many days in as the current one has.
    if after != current:
        return _cells(sel, [by], quantity=quantity, freq=freq)
    starts = _bucket_starts(np.array([current - 1, current]), freq).asi8 // NS_PER_DAY
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
