"""Usage per group and period, the top consumers, and this period against the last.

Every function takes a unified usage frame and returns a tidy table a chart can
plot directly. Quantities of different units are never added: unless the unit
column is among the groups, a frame mixing units raises
:class:`~usage_analysis.errors.UnitMismatch` naming them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..defaults import OTHER_LABEL
from ..errors import InvalidParameter
from ._common import (
    NS_PER_DAY,
    as_columns,
    bucket_numbers,
    bucket_of,
    bucket_starts,
    check_frame,
    check_freq,
    check_units,
    data_end,
    group_ids,
    group_sum,
    nanoseconds,
    period_numbers,
    period_starts,
    select_rows,
    timestamp,
)

__all__ = [
    "compare_periods",
    "period_numbers",
    "period_starts",
    "top_and_other",
    "top_consumers",
    "usage_by",
]


def usage_by(
    df: pd.DataFrame,
    *,
    by: str | Sequence[str] | None = "product",
    freq: str | None = None,
    top: int | None = None,
    other: bool = True,
    quantity: str = "quantity",
) -> pd.DataFrame:
    """Sum ``quantity`` per group (and per day, week or month), largest groups first.

    Args:
        df: a unified usage frame.
        by: column(s) to group by; ``None`` for the total only. Rows with a missing
            key form their own group, so the table always adds up to the frame.
        freq: ``None`` (whole frame), ``"D"`` (UTC days), ``"W"`` (weeks from
            Monday) or ``"MS"`` (calendar months); adds a ``period_start`` column.
        top: keep the ``top`` groups with the largest total (per unit when ``unit``
            is among ``by``); the rest are summed into an ``"other"`` group ...
        other: ... or dropped when ``other=False``.
        quantity: ``"quantity"`` or ``"billable_quantity"``.

    Returns:
        Columns ``*by``, ``period_start`` (with ``freq``), the quantity column and
        its unit column (``unit`` or ``billable_unit``). Groups are ordered by their
        total, largest first, ``"other"`` last; periods ascending within a group.

    Raises:
        UnitMismatch: the frame mixes units and the unit column is not in ``by``.
    """
    df = check_frame(df)
    cols = as_columns(df, by)
    freq = check_freq(freq)
    ucol, unit = check_units(df, quantity, cols)
    if top is not None and (not isinstance(top, int) or isinstance(top, bool) or top < 1):
        raise InvalidParameter("top", f"expected a whole number >= 1 or None, got {top!r}")
    rank_cols = [c for c in cols if c != ucol]
    if top is not None and not rank_cols:
        raise InvalidParameter("top", "needs a grouping column in 'by' to rank")
    period = bucket_numbers(nanoseconds(df["period_start"], "period_start"), freq) if freq else None
    table = group_sum(
        df, cols, df[quantity].to_numpy(), period=period, freq=freq, value_name=quantity
    )
    table = top_and_other(table, by=cols, top=top, other=other, quantity=quantity)
    return finish(table, cols, ucol, unit)


def top_and_other(
    table: pd.DataFrame,
    *,
    by: str | Sequence[str],
    top: int | None,
    other: bool = True,
    quantity: str = "quantity",
) -> pd.DataFrame:
    """Rank the groups of a per-group table, keep the ``top`` and fold the rest into "other".

    ``table`` holds one row per group of ``by`` (and per ``period_start``, when it has
    that column) with its ``quantity``, as :func:`usage_by` sums them before ranking
    (key order, periods ascending within a group). Groups rank by their total
    (the sum of their rows in table order), per unit when the unit column is in
    ``by``; ties keep table order. The rest is summed into an ``"other"`` group per
    unit and period (``other=False``: dropped), in table order, as pandas'
    ``groupby().sum()`` adds (compensated, NaN skipped).

    Returns:
        :func:`usage_by`'s rows and order: unit, then groups by total (largest
        first, ``"other"`` last), then periods; key columns keep only the
        categories they use. ``top=None`` keeps every group and only orders them.

    Categorical keys (and a datetime ``period_start``) are ranked and folded on
    their codes with numpy, never relabelling or copying the rest's rows: the
    explorer hands it a million per-device-day sums.
    """
    cols = as_columns(table, by)
    if quantity not in _UNIT_OF:
        raise InvalidParameter(
            "quantity", f"expected 'quantity' or 'billable_quantity', got {quantity!r}"
        )
    ucol = _UNIT_OF[quantity]
    rank_cols = [c for c in cols if c != ucol]
    within = [ucol] if ucol in cols else []
    if top is not None and (not isinstance(top, int) or isinstance(top, bool) or top < 1):
        raise InvalidParameter("top", f"expected a whole number >= 1 or None, got {top!r}")
    if top is not None and not rank_cols:
        raise InvalidParameter("top", "needs a grouping column in 'by' to rank")
    freq = "period" if "period_start" in table.columns else None
    coded = all(_plain_categories(table[c], c in rank_cols) for c in cols) and (
        freq is None or pd.api.types.is_datetime64_any_dtype(table["period_start"].dtype)
    )
    if not coded:  # other key dtypes: pandas on the table's rows
        is_other = np.zeros(len(table), dtype=bool)
        if top is not None:
            table, is_other = _top_and_other(table, rank_cols, within, quantity, top, other, freq)
        table = _order_by_total(table, rank_cols, ucol if within else None, quantity, is_other)
    else:
        table = _top_and_other_codes(table, rank_cols, within, quantity, top, other, freq)
    for c in cols:
        if isinstance(table[c].dtype, pd.CategoricalDtype):
            table[c] = table[c].cat.remove_unused_categories()
    return table.reset_index(drop=True)


_UNIT_OF = {"quantity": "unit", "billable_quantity": "billable_unit"}


def _plain_categories(s: pd.Series, ranked: bool) -> bool:
    """A categorical column :func:`_top_and_other_codes` takes: string categories, and
    for a ranked one no category already called "other" (pandas merges the two)."""
    if not isinstance(s.dtype, pd.CategoricalDtype):
        return False
    cats = s.cat.categories
    return pd.api.types.is_string_dtype(cats.dtype) and not (ranked and OTHER_LABEL in cats)


def _with_other(s: pd.Series) -> pd.CategoricalDtype:
    """The categorical dtype of ``s`` with ``OTHER_LABEL`` among its categories (last)."""
    cats = s.cat.categories
    if OTHER_LABEL in cats:
        return s.dtype
    if pd.api.types.is_string_dtype(cats.dtype):
        # As add_categories, which walks 50,000 device ids one by one in Python.
        return pd.CategoricalDtype(
            cats.append(pd.Index([OTHER_LABEL], dtype=cats.dtype)), ordered=s.cat.ordered
        )
    return s.cat.add_categories([OTHER_LABEL]).dtype


def _top_and_other_codes(
    table: pd.DataFrame,
    rank_cols: list[str],
    within: list[str],
    quantity: str,
    top: int | None,
    other: bool,
    freq: str | None,
) -> pd.DataFrame:
    """:func:`_top_and_other` then :func:`_order_by_total`, on category codes.

    The same ranks, sums and order: group numbers as a sorted groupby gives them
    (:func:`ngroup`, missing last), totals as ``np.bincount`` adds them (in table
    order), the "other" buckets summed by :func:`_pandas_group_sum` or pandas'
    own groupby over the rest's values in table order. Only the rows kept and one
    row per bucket are ever built.
    """
    n = len(table)
    if not n or not rank_cols:
        return table
    q = table[quantity].to_numpy(dtype=np.float64)
    gid = ngroup(table, rank_cols + within)
    n_groups = int(gid.max()) + 1
    totals = np.bincount(gid, weights=q, minlength=n_groups)
    ucodes = table[within[0]].cat.codes.to_numpy() if within else None
    wid = np.zeros(n_groups, dtype=np.int64)
    if ucodes is not None:
        # Each group's unit, ordered as ngroup orders it (missing last): the ranks
        # only compare units, so its codes serve as they are.
        wid[gid] = np.where(ucodes < 0, len(table[within[0]].cat.categories), ucodes)
    order = np.lexsort((np.arange(n_groups), -totals, wid))
    if top is None:
        keep = np.ones(n, dtype=bool)
    else:
        ws = wid[order]
        rank = np.empty(n_groups, dtype=np.int64)
        rank[order] = np.arange(n_groups) - np.searchsorted(ws, ws, side="left")
        keep = rank[gid] < top
    # Kept rows in _order_by_total's order: unit code (missing first), total descending,
    # group number, table position (kept rows' totals are their groups', unchanged).
    position = np.empty(n_groups, dtype=np.int64)
    position[order] = np.arange(n_groups)  # groups ranked within their unit
    kept_rows = np.flatnonzero(keep)
    if ucodes is not None:
        # the unit of a group is one value, so ranking by unit code then by position
        # is ranking by (unit code, total, group); missing units (-1) come first.
        kept_order = np.lexsort((kept_rows, position[gid[kept_rows]], ucodes[kept_rows]))
    else:
        kept_order = np.lexsort((kept_rows, position[gid[kept_rows]]))
    kept_rows = kept_rows[kept_order]
    if keep.all() or not other:
        return table.iloc[kept_rows]
    rest = np.flatnonzero(~keep)
    # Buckets: the rest's (unit, period) groups, numbered as a sorted groupby does.
    bucket_cols = within + (["period_start"] if freq else [])
    if bucket_cols:
        full = ngroup(table, bucket_cols)
        present = np.zeros(int(full.max()) + 1, dtype=bool)
        present[full[rest]] = True
        bid = (np.cumsum(present) - 1)[full[rest]]
    else:
        bid = np.zeros(len(rest), dtype=np.int64)
    # Each bucket's first rest row carries its unit, period (and any other column).
    first = np.full(int(bid.max()) + 1, len(rest), dtype=np.int64)
    np.minimum.at(first, bid, np.arange(len(rest)))
    carriers = rest[first]
    values = q[rest]
    # More rows than buckets can hold at _MAX_KAHAN_ROWS each: pandas, without counting.
    small = len(values) <= _MAX_KAHAN_ROWS * len(carriers)
    sums = _pandas_group_sum(bid, values) if small else None
    if sums is None:
        # pandas' own sum; the bucket numbers as a categorical's codes are not hashed again.
        buckets = pd.Categorical.from_codes(bid, categories=pd.RangeIndex(int(bid.max()) + 1))
        sums = pd.Series(values).groupby(buckets, observed=True, sort=True).sum().to_numpy()
    n_buckets = len(carriers)
    # "other" of a unit: ranked after every kept group of its unit; its buckets in order.
    if ucodes is not None:
        bucket_unit = ucodes[carriers]
        kept_unit = ucodes[kept_rows]
    else:
        bucket_unit = np.zeros(n_buckets, dtype=np.int64)
        kept_unit = np.zeros(len(kept_rows), dtype=np.int64)
    # Merge: kept rows then buckets, stable by unit code (kept before other within one).
    unit_all = np.r_[kept_unit, bucket_unit]
    flag = np.r_[np.zeros(len(kept_rows), dtype=np.int8), np.ones(n_buckets, dtype=np.int8)]
    merged = np.lexsort((np.arange(len(unit_all)), flag, unit_all))
    out: dict[str, Any] = {}
    for c in table.columns:
        s = table[c]
        if c in rank_cols:
            dtype = _with_other(s)
            other_code = dtype.categories.get_loc(OTHER_LABEL)
            codes = np.r_[s.cat.codes.to_numpy()[kept_rows], np.full(n_buckets, other_code)]
            out[c] = pd.Categorical.from_codes(codes[merged], dtype=dtype)
        elif c == quantity:
            out[c] = np.r_[q[kept_rows], sums][merged]
        else:
            # unit, period and any other column: the kept rows' own, the buckets' carriers'
            out[c] = s.iloc[np.r_[kept_rows, carriers][merged]].array
    return pd.DataFrame(out, columns=table.columns)


def top_consumers(
    df: pd.DataFrame,
    *,
    by: str | Sequence[str] = "resource_id",
    n: int = 10,
    quantity: str = "quantity",
) -> pd.DataFrame:
    """The ``n`` largest groups with their share of the total and the cumulative share.

    Returns:
        Columns ``rank`` (1 = largest), ``*by``, ``resource_name`` when ``by`` is
        ``"resource_id"``, the quantity, ``share_percent`` (of the frame's total,
        per unit when ``unit`` is in ``by``), ``cumulative_percent`` and the unit.
    """
    df = check_frame(df)
    cols = as_columns(df, by)
    if not cols:
        raise InvalidParameter("by", "expected at least one column to rank")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise InvalidParameter("n", f"expected a whole number >= 1, got {n!r}")
    ucol, unit = check_units(df, quantity, cols)
    table = group_sum(df, cols, df[quantity].to_numpy(), value_name=quantity)
    within = table[ucol].cat.codes.to_numpy() if ucol in cols else np.zeros(len(table), int)
    q = table[quantity].to_numpy()
    # Sort by unit, then quantity descending; ties keep key order (stable).
    order = np.lexsort((np.arange(len(table)), -q, within))
    table = table.iloc[order].reset_index(drop=True)
    w = within[order]
    q = q[order]
    block_start = np.searchsorted(w, w, side="left")
    rank = np.arange(len(table)) - block_start + 1
    totals = np.bincount(w - w.min() if len(w) else w, weights=q)
    total = totals[w - w.min()] if len(w) else q
    running = np.cumsum(q)
    before_block = (running - q)[block_start]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total != 0, q / total * 100.0, np.nan)
        cumulative = np.where(total != 0, (running - before_block) / total * 100.0, np.nan)
    table.insert(0, "rank", rank)
    table["share_percent"] = share
    table["cumulative_percent"] = cumulative
    table = table.loc[rank <= n].reset_index(drop=True)
    if cols == ["resource_id"] and "resource_name" in df.columns:
        names = latest_names(df, "resource_id", "resource_name", ids=table["resource_id"])
        table.insert(2, "resource_name", table["resource_id"].map(names).astype("category"))
    return finish(table, cols, ucol, unit)


def compare_periods(
    df: pd.DataFrame,
    *,
    by: str | Sequence[str] | None = "product",
    freq: str = "MS",
    period: Any = None,
    to_date: bool = False,
    quantity: str = "quantity",
) -> pd.DataFrame:
    """This period against the one before, per group, with the change and the percent change.

    Args:
        freq: the period length: ``"MS"`` (months), ``"W"`` (weeks) or ``"D"``.
        period: any time inside the current period; default the newest data's period.
        to_date: compare only as much of the previous period as the current one
            has data for (days 1-20 of last month against days 1-20 of this month),
            so a month in progress is not compared with a whole month.

    Returns:
        Columns ``*by``, ``previous``, ``current``, ``change`` (current - previous),
        ``change_percent`` (NaN where previous is 0) and the unit; largest current
        first. ``attrs`` hold ``previous_period`` and ``current_period`` (starts).
    """
    df = check_frame(df)
    cols = as_columns(df, by)
    if freq is None or check_freq(freq) is None:
        raise InvalidParameter("freq", "expected 'D', 'W' or 'MS'")
    ucol, unit = check_units(df, quantity, cols)
    ns = nanoseconds(df["period_start"], "period_start")
    buckets = bucket_numbers(ns, freq)
    if period is not None:
        current = bucket_of(timestamp(period, "period"), freq)
    elif len(buckets):
        current = int(buckets.max())
    else:
        raise InvalidParameter("period", "the frame is empty; give the period to compare")
    previous = current - 1
    starts = bucket_starts(np.array([previous, current]), freq)
    in_current = buckets == current
    in_previous = buckets == previous
    if to_date and in_current.any():
        latest = data_end(df.loc[in_current])
        assert latest is not None
        elapsed = latest.value - starts[1].value
        in_previous &= ns < starts[0].value + elapsed
    mask = in_current | in_previous
    sub = select_rows(df, mask)
    q = np.nan_to_num(df[quantity].to_numpy(dtype=np.float64)[mask], nan=0.0)
    table = group_sum(
        sub,
        cols,
        {"previous": q * in_previous[mask], "current": q * in_current[mask]},
    )
    prev = table["previous"].to_numpy()
    table["change"] = table["current"] - prev
    with np.errstate(invalid="ignore", divide="ignore"):
        table["change_percent"] = np.where(
            prev != 0, table["change"].to_numpy() / prev * 100, np.nan
        )
    table = table.sort_values(["current", "previous"], ascending=False, kind="stable")
    table = finish(table.reset_index(drop=True), cols, ucol, unit)
    table.attrs.update(previous_period=starts[0], current_period=starts[1], to_date=to_date)
    return table


def finish(table: pd.DataFrame, cols: Sequence[str], ucol: str, unit: str | None) -> pd.DataFrame:
    """Drop unused categories of the key columns and add the unit column."""
    for c in cols:
        if isinstance(table[c].dtype, pd.CategoricalDtype):
            table[c] = table[c].cat.remove_unused_categories()
    if ucol not in cols:
        table[ucol] = (
            pd.Categorical([unit] * len(table))
            if unit is not None
            else pd.Categorical([None] * len(table), categories=pd.Index([], dtype="str"))
        )
    return table.reset_index(drop=True)


def latest_names(
    df: pd.DataFrame, id_col: str, name_col: str, *, ids: pd.Series | None = None
) -> pd.Series:
    """id -> name, the name on the id's newest row that has one (only for ``ids`` if given).

    Works on (id, name) pairs: the rows collapse to the few distinct pairs with
    their newest time, so a million rows are never sorted or turned into objects.
    """
    has = df[name_col].notna().to_numpy() & df[id_col].notna().to_numpy()
    if ids is not None:
        has &= df[id_col].isin(pd.unique(ids.dropna().astype(object))).to_numpy()
    sub = select_rows(df, has)
    pair, keys = group_ids(sub, [id_col, name_col])
    if not len(keys):
        return pd.Series([], dtype=object)
    t = nanoseconds(sub["period_start"], "period_start")
    newest = pd.Series(t).groupby(pair).max()  # one value per pair, in pair order
    keys = keys.assign(t=newest.to_numpy())
    keys = keys.sort_values("t", kind="stable").drop_duplicates(id_col, keep="last")
    return pd.Series(
        keys[name_col].astype(object).to_numpy(), index=keys[id_col].astype(object).to_numpy()
    )


def _top_and_other(
    table: pd.DataFrame,
    rank_cols: list[str],
    within: list[str],
    quantity: str,
    top: int,
    other: bool,
    freq: str | None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Keep the ``top`` groups by total (per unit); sum the rest into ``OTHER_LABEL``."""
    gid = ngroup(table, rank_cols + within)
    if not len(gid):
        return table, np.zeros(0, dtype=bool)
    n_groups = int(gid.max()) + 1
    totals = np.bincount(gid, weights=table[quantity].to_numpy(), minlength=n_groups)
    ucodes = table[within[0]].cat.codes.to_numpy() if within else None
    wid = np.zeros(n_groups, dtype=np.int64)
    if ucodes is not None:
        # Each group's unit, ordered as ngroup orders it (missing last): the ranks
        # only compare units, so its codes serve as they are.
        wid[gid] = np.where(ucodes < 0, len(table[within[0]].cat.categories), ucodes)
    order = np.lexsort((np.arange(n_groups), -totals, wid))
    ws = wid[order]
    rank = np.empty(n_groups, dtype=np.int64)
    rank[order] = np.arange(n_groups) - np.searchsorted(ws, ws, side="left")
    keep = rank[gid] < top
    if keep.all():
        return table, np.zeros(len(table), dtype=bool)
    table = table.copy()
    for c in rank_cols:
        s = table[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            cats = s.cat.categories
            if OTHER_LABEL not in cats and not pd.api.types.is_string_dtype(cats.dtype):
                table[c] = s.cat.add_categories([OTHER_LABEL])
            elif OTHER_LABEL not in cats:
                # As add_categories, which walks 50,000 device ids one by one in Python
                # (0.2 s); appending the Index is one vectorised copy.
                wider = pd.CategoricalDtype(
                    cats.append(pd.Index([OTHER_LABEL], dtype=cats.dtype)), ordered=s.cat.ordered
                )
                codes = s.cat.codes.to_numpy()
                table[c] = pd.Series(
                    pd.Categorical.from_codes(codes, dtype=wider), index=s.index, name=s.name
                )
        elif not pd.api.types.is_string_dtype(s.dtype):
            table[c] = s.astype(object)
    kept = table.loc[keep]
    if not other:
        return kept, np.zeros(len(kept), dtype=bool)
    rest = table.loc[~keep]
    # Every rest row's rank columns become "other": the buckets are the rest's
    # (unit, period) groups, in the order a sorted groupby gives them.
    bid = ngroup(rest, within + (["period_start"] if freq else []))
    values = rest[quantity].to_numpy(dtype=np.float64)
    sums = _pandas_group_sum(bid, values)
    if sums is None:
        # Large buckets: pandas' own groupby sum over the same rows, in the same order
        # (relabelling every rest row "other" first cost 0.5 s on 7,500 devices).
        sums = pd.Series(values).groupby(bid, sort=True).sum().to_numpy()
    # One row of each bucket carries its keys; the sums are pandas' own.
    first = np.full(len(sums), len(bid), dtype=np.int64)
    np.minimum.at(first, bid, np.arange(len(bid)))
    bucket = rest.iloc[first].reset_index(drop=True)
    for c in rank_cols:
        bucket[c] = OTHER_LABEL
        if isinstance(table[c].dtype, pd.CategoricalDtype):
            bucket[c] = bucket[c].astype(table[c].dtype)
    bucket[quantity] = sums
    combined = pd.concat([kept, bucket[table.columns]], ignore_index=True)
    flags = np.r_[np.zeros(len(kept), dtype=bool), np.ones(len(bucket), dtype=bool)]
    return combined, flags


# Numpy's per-group Kahan sum below loops once per row of the largest group: beyond
# this many rows a group, pandas' own loop (in C) is faster.
_MAX_KAHAN_ROWS = 64


def _pandas_group_sum(ids: np.ndarray, values: np.ndarray) -> np.ndarray | None:
    """What ``groupby(...).sum()`` gives per group ``ids`` (0..G-1, every one present).

    pandas adds a group's values in row order with Kahan's compensated sum,
    skipping NaN (an all-NaN group sums to 0): the same steps here, one step per
    row position within the groups, for every group at once. Bit for bit what
    pandas gives, without its fixed cost on a table of a few hundred rows.
    ``None`` when a group has more than ``_MAX_KAHAN_ROWS`` rows.
    """
    n = int(ids.max()) + 1 if len(ids) else 0
    counts = np.bincount(ids, minlength=n)
    if len(counts) and counts.max() > _MAX_KAHAN_ROWS:
        return None
    order = np.argsort(ids, kind="stable")  # row order within each group
    sorted_ids = ids[order]
    starts = np.searchsorted(sorted_ids, np.arange(n))
    step = np.arange(len(ids)) - starts[sorted_ids]
    total = np.zeros(n)
    comp = np.zeros(n)
    vals = values[order]
    for k in range(int(counts.max()) if n else 0):
        at = step == k
        g, v = sorted_ids[at], vals[at]
        ok = ~np.isnan(v)
        g, v = g[ok], v[ok]
        with np.errstate(invalid="ignore"):  # inf - inf: NaN, reset below as pandas does
            y = v - comp[g]
            t = total[g] + y
            c = t - total[g] - y
        c[np.isnan(c)] = 0.0  # an infinite value: pandas resets the compensation
        comp[g] = c
        total[g] = t
    return total


def ngroup(table: pd.DataFrame, cols: list[str]) -> np.ndarray:
    """``table.groupby(cols, dropna=False, observed=True, sort=True).ngroup()`` as an array.

    From category codes (categories order, missing last) and sorted factorized
    datetimes (NaT last): pandas' grouping machinery costs milliseconds even on
    the few hundred rows of an aggregated table. Other dtypes go to pandas.
    """
    n = len(table)
    combined = np.zeros(n, dtype=np.int64)
    space = 1
    for c in cols:
        s = table[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes = s.cat.codes.to_numpy()
            k = len(s.cat.categories)
        elif pd.api.types.is_datetime64_any_dtype(s.dtype):
            codes, k = _time_codes(s)
        else:
            space = 0
            break
        space *= k + 1
        if space > 2**62:
            break
        if len(codes) and codes.min() < 0:
            codes = np.where(codes < 0, k, codes)  # missing last
        if c == cols[0]:
            combined = codes.astype(np.int64, copy=True)
        else:
            combined *= k + 1
            combined += codes
    else:
        if not cols:
            return np.zeros(n, dtype=np.int64)
        if space <= max(4 * n, 2**16):
            # Few possible keys: number the ones present in key order, no sort.
            present = np.zeros(space, dtype=bool)
            present[combined] = True
            return (np.cumsum(present) - 1)[combined].astype(np.int64)
        return np.unique(combined, return_inverse=True)[1].reshape(-1).astype(np.int64)
    grouped = table.groupby(cols, dropna=False, observed=True, sort=True)
    return grouped.ngroup().to_numpy().astype(np.int64)


def _time_codes(s: pd.Series) -> tuple[np.ndarray, int]:
    """Codes of a datetime column in time order (-1: NaT) and how many there can be.

    Period starts at midnight (every table ``usage_by`` makes) are numbered by their
    day, without hashing: codes then count days from the first, with gaps, which
    sort as the times do. Other times are factorized (sorted).
    """
    ns = s.to_numpy(dtype="datetime64[ns]").view("i8")
    if len(ns):
        lo, hi = int(ns.min()), int(ns.max())  # NaT is the smallest int64
        span = (hi - lo) // NS_PER_DAY + 1
        if lo != np.iinfo(np.int64).min and span <= max(len(ns), 2**16):
            days = ns // NS_PER_DAY
            if not (ns - days * NS_PER_DAY).any():
                days -= lo // NS_PER_DAY
                return days, span
    raw, uniques = pd.factorize(s, sort=True, use_na_sentinel=True)
    return raw.astype(np.int64), len(uniques)


def _order_by_total(
    table: pd.DataFrame,
    rank_cols: list[str],
    ucol: str | None,
    quantity: str,
    is_other: np.ndarray,
) -> pd.DataFrame:
    """Order rows: unit, then groups by total (largest first, "other" last), then period."""
    if not len(table) or not rank_cols:
        return table
    keys = rank_cols + ([ucol] if ucol else [])
    gid = ngroup(table, keys)
    totals = np.bincount(gid, weights=table[quantity].to_numpy())[gid]
    # table is already in key order (then period), so a stable sort keeps ties in key order.
    sort_keys = [gid, -totals, is_other]
    if ucol:
        sort_keys.append(table[ucol].cat.codes.to_numpy())
    order = np.lexsort(tuple(sort_keys))
    return table.iloc[order]
