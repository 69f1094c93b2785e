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
from ..charts._common import _fit_freq
from ..analysis import ParticlePlan, forecast
from ..analysis._common import bucket_numbers as _bucket_numbers
from ..analysis._common import bucket_starts as _bucket_starts
from ..defaults import CHART_MAX_POINTS
from ..errors import UsageAnalysisError
from ..schema import UNIFIED_DTYPES
from .headline import Headline, _plan_headline, _projection, unit_totals_from_codes

__all__ = [
    "Decoded",
    "fast_headline",
    "fast_top_consumers",
    "fast_usage_over_time",
    "period_sums",
]

NS_PER_DAY = 86_400_000_000_000
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
        self._values: dict[str, np.ndarray] = {}
        self._whole_days: bool | None = None

    def codes(self, column: str) -> tuple[np.ndarray, pd.Index]:
        """The column's category codes (-1 = missing) and its categories."""
        if column not in self._codes:
            s = self.df[column]
            if not isinstance(s.dtype, pd.CategoricalDtype):
                s = s.astype("category")
            self._codes[column] = (s.cat.codes.to_numpy(), s.cat.categories)
        return self._codes[column]

    def values(self, column: str) -> np.ndarray:
        """The quantity column as float64 (NaN kept)."""
        if column not in self._values:
            self._values[column] = self.df[column].to_numpy(dtype=np.float64)
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
                and np.array_equal(end - start, np.full(len(start), NS_PER_DAY))
            )
        return self._whole_days


def _take(a: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    return a if rows is None else a[rows]


def _distinct(codes: np.ndarray) -> np.ndarray:
    """The distinct non-missing codes present."""
    if not len(codes):
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.bincount(codes + 1)[1:])


def period_sums(
    keys: np.ndarray, values: np.ndarray, n_keys: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per key (0..n_keys-1): the sum of the values (NaN as 0, summed in row order),
    the row count and whether every value was NaN."""
    clean = np.nan_to_num(values, nan=0.0)
    sums = np.bincount(keys, weights=clean, minlength=n_keys)
    rows = np.bincount(keys, minlength=n_keys)
    numbers = np.bincount(keys, weights=~np.isnan(values), minlength=n_keys)
    return sums, rows, (rows > 0) & (numbers == 0)


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
    dec: Decoded,
    rows: np.ndarray | None,
    *,
    quantity: str,
    ucol: str,
    constant: Sequence[str],
) -> pd.DataFrame | None:
    """The rows summed per day, one unified row a day; ``None`` if that would differ.

    ``constant``: columns that must hold one value (or none) across the rows; the
    day rows carry it. The quantity of a day whose rows are all NaN stays NaN.
    """
    carried: dict[str, Any] = {}
    day = _take(dec.day, rows)
    if not len(day):
        return None
    first = int(day.min())
    span = int(day.max()) - first + 1
    sums, count, all_nan = period_sums(day - first, _take(dec.values(quantity), rows), span)
    present = np.flatnonzero(count)
    n = len(present)
    for col in (*constant, ucol):
        codes, cats = dec.codes(col)
        found = _distinct(_take(codes, rows))
        if len(found) > 1:
            return None
        carried[col] = _const(int(found[0]) if len(found) else -1, cats, n)
    q = sums[present]
    q[all_nan[present]] = np.nan
    starts = (present + first) * NS_PER_DAY
    carried["period_start"] = pd.DatetimeIndex(starts.view("datetime64[ns]")).tz_localize("UTC")
    carried["period_end"] = carried["period_start"] + pd.Timedelta(days=1)
    carried[quantity] = q
    return _frame(n, carried)


def fast_headline(
    dec: Decoded, rows: np.ndarray | None, *, quantity: str, plan: ParticlePlan | None
) -> Headline | None:
    """:func:`~.headline.compute_headline` of the selected rows, from per-day sums.

    ``None`` when the rows are not whole days (the caller computes from the rows).
    """
    if not dec.whole_days:
        return None
    ucol = "unit" if quantity == "quantity" else "billable_unit"
    n = len(dec.df) if rows is None else len(rows)
    if not n:
        return None
    ucodes, ucats = dec.codes(ucol)
    sel_units = _take(ucodes, rows)
    values = _take(dec.values(quantity), rows)
    totals, unit = unit_totals_from_codes(sel_units, ucats, values)
    day = _take(dec.day, rows)
    # Whole days: the first day is the earliest start, the last the day before the latest end.
    span = {
        "first_day": pd.Timestamp(int(day.min()) * NS_PER_DAY, tz="UTC"),
        "last_day": pd.Timestamp(int(day.max()) * NS_PER_DAY, tz="UTC"),
    }
    pcodes, pcats = dec.codes("provider")
    sel_providers = _take(pcodes, rows)
    if plan is not None and "particle" in pcats:
        is_particle = sel_providers == pcats.get_loc("particle")
        if is_particle.any():
            prows = _subset(rows, is_particle)
            days = _day_frame(
                dec, prows, quantity=quantity, ucol=ucol, constant=("provider", "account_id")
            )
            if days is None:
                return None  # several accounts or units: the rows path says so
            return _plan_headline(days, totals, span, quantity=quantity, plan=plan, rows=n)
    projection: dict[str, object] = {}
    note = None
    if unit is not None:
        main = _subset(rows, sel_units == ucats.get_loc(unit))
        days = _day_frame(dec, main, quantity=quantity, ucol=ucol, constant=("provider",))
        if days is None:
            return None  # several providers: HERE's data lag applies to some rows only
        try:
            projection = _projection(forecast(days, quantity=quantity, freq="MS"))
        except UsageAnalysisError as exc:
            note = f"no forecast: {exc}"
    return Headline(
        rows=n,
        totals=totals,
        unit=unit,
        total=totals.get(unit) if unit is not None else None,
        note=note,
        **span,  # type: ignore[arg-type]
        **projection,  # type: ignore[arg-type]
    )


def _subset(rows: np.ndarray | None, keep: np.ndarray) -> np.ndarray | None:
    """The positions of ``rows`` where ``keep`` (``None`` = all rows, kept as ``None``)."""
    if keep.all():
        return rows
    picked = np.flatnonzero(keep)
    return picked if rows is None else rows[picked]


def _one_code(dec: Decoded, column: str, rows: np.ndarray | None) -> int | None:
    """The one code every row has in ``column`` (-1: missing); ``None`` if they differ
    (a missing value next to a unit is a group of its own in the charts)."""
    codes = _take(dec.codes(column)[0], rows)
    found = np.flatnonzero(np.bincount(codes.astype(np.int64) + 1))
    if len(found) != 1:
        return None
    return int(found[0]) - 1


def _grain_frame(
    dec: Decoded,
    rows: np.ndarray | None,
    *,
    by: str,
    quantity: str,
    freq: str | None,
    constant: dict[str, int],
) -> pd.DataFrame:
    """The rows summed per ``by`` value (and ``freq`` period), one unified row each.

    Sums are per cell in row order (what ``group_sum`` does on the rows). Each cell
    starts at its period's start; two rows of 0 keep the rows' first and last day
    (charts size their time axis from them) in the cells holding those days.
    """
    codes, cats = dec.codes(by)
    key = _take(codes, rows).astype(np.int64) + 1
    width = 1
    extra_days: list[int] = []
    if freq is not None:
        day = _take(dec.day, rows)
        d0, d1 = int(day.min()), int(day.max())
        lut = _bucket_numbers(np.arange(d0, d1 + 1, dtype=np.int64) * NS_PER_DAY, freq)
        b0 = int(lut[0])
        width = int(lut[-1]) - b0 + 1
        bucket = lut[day - d0] - b0
        key = key * width + bucket
        extra_days = [d0, d1]
    n_cells = (len(cats) + 1) * width
    sums, count, _ = period_sums(key, _take(dec.values(quantity), rows), n_cells)
    cells = np.flatnonzero(count)
    q = sums[cells]
    out: dict[str, Any] = {}
    if freq is not None:
        starts = _bucket_starts(cells % width + b0, freq)
        # The first and last day: a 0 in an existing cell (first row's and last row's).
        first_cell = int(key[np.argmin(day)])
        last_cell = int(key[np.argmax(day)])
        pos = np.searchsorted(cells, [first_cell, last_cell])
        cells = np.r_[cells, cells[pos]]
        q = np.r_[q, 0.0, 0.0]
        days = pd.DatetimeIndex(
            (np.array(extra_days, dtype=np.int64) * NS_PER_DAY).view("datetime64[ns]")
        ).tz_localize("UTC")
        out["period_start"] = starts.append(days)
        out["period_end"] = out["period_start"] + pd.Timedelta(days=1)
    n = len(cells)
    out[by] = pd.Categorical.from_codes(cells // width - 1, categories=cats)
    for col, code in constant.items():
        out[col] = _const(code, dec.codes(col)[1], n)
    out[quantity] = q
    return _frame(n, out)


def fast_usage_over_time(
    dec: Decoded, rows: np.ndarray | None, *, by: str, freq: str, top: int, quantity: str
) -> go.Figure | None:
    """``charts.usage_over_time`` of the selected rows, drawn from their sums per group
    and period; ``None`` when that could differ (see the module's conditions)."""
    if not dec.whole_days or by in _NAMED or by not in dec.df.columns:
        return None
    if rows is not None and not len(rows):
        return None
    ucol = "unit" if quantity == "quantity" else "billable_unit"
    constant: dict[str, int] = {}
    for col in dict.fromkeys(("provider", ucol)):
        if col == by:
            continue
        code = _one_code(dec, col, rows)
        if code is None:
            return None  # several providers or units: panels ordered by rows, labels per provider
        constant[col] = code
    day = _take(dec.day, rows)
    span = pd.DataFrame(
        {"period_start": pd.to_datetime(np.array([day.min(), day.max()]) * NS_PER_DAY, utc=True)}
    )
    used = _fit_freq(span, freq, top + 1, CHART_MAX_POINTS)
    grain = _grain_frame(dec, rows, by=by, quantity=quantity, freq=used, constant=constant)
    return charts.usage_over_time(grain, by=by, freq=freq, top=top, quantity=quantity)


def fast_top_consumers(
    dec: Decoded, rows: np.ndarray | None, *, quantity: str
) -> pd.DataFrame | None:
    """The rows summed per device/app/asset (``resource_id``), one unified row each, for
    :func:`~usage_analysis.analysis.top_consumers`; ``None`` with several units or providers."""
    ucol = "unit" if quantity == "quantity" else "billable_unit"
    constant: dict[str, int] = {}
    for col in ("provider", ucol):
        code = _one_code(dec, col, rows)
        if code is None:
            return None
        constant[col] = code
    return _grain_frame(
        dec, rows, by="resource_id", quantity=quantity, freq=None, constant=constant
    )
