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

A fast path runs only when the small frame provably gives what the rows give;
it returns ``None`` otherwise and the caller takes the rows path:

- every row is one whole UTC day (``period_start`` at midnight, ``period_end``
  a day later): then the first and last day, the newest data's end and
  "rows of a day or less" read the same on the day rows as on the rows;
- one provider, one account (for a plan) and one unit among the rows used
  (checked from category codes): mixed units are refused, or drawn in panels
  ordered by row count, exactly as the rows path does;
- the time chart groups by a column without a name column (names are looked up
  on the newest row of each id, which day rows do not keep).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .. import charts
from ..analysis import ParticlePlan, forecast
from ..analysis.events import Event
from ..charts._common import _fit_freq
from ..defaults import CHART_MAX_POINTS
from ..errors import UsageAnalysisError
from ..schema import UNIFIED_DTYPES
from .headline import Headline, _plan_headline, _projection, unit_totals_from_codes

__all__ = [
    "Decoded",
    "Selected",
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


# Group-by columns whose labels come from a name column (charts._labels): not fast.
_NAMED = frozenset({"resource_id", "account_id"})


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
        self._keys: dict[tuple[str, str | None], tuple[np.ndarray, int, int] | None] = {}
        # Day index from the frame's first day: small ints, one bincount bin a day.
        self.first_day = int(day.min()) if len(day) else 0
        self.days = int(day.max()) - self.first_day + 1 if len(day) else 0
        self.day_index: np.ndarray = (day - self.first_day).astype(_index_type(self.days))

    def key(self, by: str, freq: str | None) -> tuple[np.ndarray, int, int] | None:
        """Per row, ``by``'s code and (with ``freq``) its period as one int, computed
        once for the whole frame; with the number of periods and the first one.

        ``(code + 1) * periods + period``: a bincount over the selected rows' keys
        sums per group and period. ``None`` when that would need too many bins.
        """
        if (by, freq) not in self._keys:
            codes, cats = self.codes(by)
            periods, first = 1, 0
            if freq is not None:
                numbers = np.arange(self.first_day, self.first_day + self.days, dtype=np.int64)
                lut = _bucket_numbers(numbers, freq)
                first = int(lut[0])
                periods = int(lut[-1]) - first + 1
            bins = (len(cats) + 1) * periods
            if bins > MAX_BINS:
                self._keys[(by, freq)] = None
            else:
                key: np.ndarray = codes.astype(_index_type(bins)) + 1
                if freq is not None and periods > 1:
                    key *= periods
                    key += (lut - first).astype(key.dtype)[self.day_index]
                self._keys[(by, freq)] = (key, periods, first)
        return self._keys[(by, freq)]

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

    def key(self, by: str, freq: str | None) -> tuple[np.ndarray, int, int] | None:
        """``Decoded.key`` for these rows."""
        full = self.dec.key(by, freq)
        if full is None:
            return None
        got = self._get(f"key:{by}:{freq}", full[0])
        assert got is not None
        return got, full[1], full[2]

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
    if not dec.whole_days or not sel.n:
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
                days, totals, span, quantity=quantity, plan=plan, rows=sel.n, events=events
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
        rows=sel.n,
        totals=totals,
        unit=unit,
        total=totals.get(unit) if unit is not None else None,
        note=note,
        **span,  # type: ignore[arg-type]
        **projection,  # type: ignore[arg-type]
    )


def _grain_frame(
    sel: Selected,
    *,
    by: str,
    quantity: str,
    freq: str | None,
    constant: dict[str, int],
) -> pd.DataFrame | None:
    """The rows summed per ``by`` value (and ``freq`` period), one unified row each.

    Sums are per cell in row order (what ``group_sum`` does on the rows). Each cell
    starts at its period's start; for weeks and months two rows of 0 keep the rows'
    first and last day (charts size their time axis from them) in the cells
    holding those days. ``None`` when the cells would be too many to count.
    """
    cats = sel.dec.codes(by)[1]
    found = sel.key(by, freq)
    if found is None:
        return None
    key, periods, first = found
    sums, count, _ = period_sums(key, sel.values(quantity)[0], None, (len(cats) + 1) * periods)
    cells = np.flatnonzero(count)
    q = sums[cells]
    out: dict[str, Any] = {}
    if freq is not None:
        starts = _bucket_starts(cells % periods + first, freq)
        if freq != "D":
            index = sel.day_index
            at = [int(np.argmin(index)), int(np.argmax(index))]
            cells = np.r_[cells, key[at]]
            q = np.r_[q, 0.0, 0.0]
            days = (index[at].astype(np.int64) + sel.dec.first_day) * NS_PER_DAY
            stamps = pd.DatetimeIndex(days.view("datetime64[ns]")).tz_localize("UTC")
            starts = starts.append(stamps)
        out["period_start"] = starts
        out["period_end"] = starts + pd.Timedelta(days=1)
    n = len(cells)
    out[by] = pd.Categorical.from_codes(cells // periods - 1, dtype=pd.CategoricalDtype(cats))
    for col, code in constant.items():
        out[col] = _const(code, sel.dec.codes(col)[1], n)
    out[quantity] = q
    return _frame(n, out)


def _constants(sel: Selected, columns: Sequence[str]) -> dict[str, int] | None:
    """The one code of each column (missing included), or ``None`` if one varies."""
    out: dict[str, int] = {}
    for col in dict.fromkeys(columns):
        code = sel.one_code(col)
        if code is None:
            return None
        out[col] = code
    return out


def fast_usage_over_time(
    sel: Selected, *, by: str, freq: str, top: int, quantity: str
) -> go.Figure | None:
    """``charts.usage_over_time`` of the selected rows, drawn from their sums per group
    and period; ``None`` when that could differ (see the module's conditions)."""
    dec = sel.dec
    if not dec.whole_days or by in _NAMED or by not in dec.df.columns or not sel.n:
        return None
    ucol = "unit" if quantity == "quantity" else "billable_unit"
    # Several providers or units: panels ordered by rows, labels per provider.
    constant = _constants(sel, [c for c in ("provider", ucol) if c != by])
    if constant is None:
        return None
    days = np.array(sel.day_range(), dtype=np.int64) * NS_PER_DAY
    span = pd.DataFrame({"period_start": pd.to_datetime(days, utc=True)})
    used = _fit_freq(span, freq, top + 1, CHART_MAX_POINTS)
    grain = _grain_frame(sel, by=by, quantity=quantity, freq=used, constant=constant)
    if grain is None:
        return None
    return charts.usage_over_time(grain, by=by, freq=freq, top=top, quantity=quantity)


def fast_top_consumers(sel: Selected, *, quantity: str) -> pd.DataFrame | None:
    """The rows summed per device/app/asset (``resource_id``), one unified row each, for
    :func:`~usage_analysis.analysis.top_consumers`; ``None`` with several units or providers."""
    if not sel.n:
        return None
    ucol = "unit" if quantity == "quantity" else "billable_unit"
    constant = _constants(sel, ("provider", ucol))
    if constant is None:
        return None
    return _grain_frame(sel, by="resource_id", quantity=quantity, freq=None, constant=constant)
