"""Device-level views of an explorer opened on the archive's daily cube (issue 21).

A year of a 100,000-device fleet is 36.5M device-days: too many rows for an
explorer to hold. ``UsageExplorer.from_archive()`` opens on the archive's daily
cube instead (:func:`usage_analysis.archive.daily_cube`, summed in DuckDB: every
chart and headline that does not name devices), and :class:`DeviceViews` answers
what does, from the archive:

- the top consumers table: from the device-month totals (summed in DuckDB when
  the explorer opens, one row per device, meter and month), exact for any
  selection of whole months; a range cutting a month sums that range in DuckDB;
- a device filter, and grouping by device: the rows of those devices (the top
  ``top`` of the selection when none is chosen), selected from the archive on
  demand and kept for the next change.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from .. import archive
from ..schema import UNIFIED_COLUMNS, coerce_unified, concat
from ._filter import FrameFilter, Selection

__all__ = ["CUBE_BY", "ArchiveSource", "DeviceViews"]

# What the explorer's daily cube keeps beside the account and units: every grouping
# but the device (and the allocated team, which needs the rows).
CUBE_BY = ("product", "meter", "category")
# Device rows kept for recent device selections (each a few devices' year).
ROWS_CACHE_SIZE = 8
_KEYS = ("provider", "account_id", "product", "resource_id", "meter")
# What names one series of a device's rows: its other columns (names, product, units)
# are the same on every row of a month wherever the device-month totals hold one row
# for it that month, which is what lets a cut month be summed by these alone.
_IDENTITY = ("provider", "account_id", "resource_id", "meter_id")
_QUANTITIES = ("quantity", "billable_quantity")
_SUMMED = ("period_start", "period_end", *_QUANTITIES)


class ArchiveSource:
    """Where an explorer on the archive gets its frames: the daily cube, the
    device-month totals and the rows of chosen devices, each summed or selected in
    the engine (:mod:`usage_analysis.archive`)."""

    def __init__(
        self,
        *,
        grain: str | Mapping[str, str] | None = None,
        archive: str | os.PathLike[str] | None = None,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._where: dict[str, Any] = {
            "grain": grain,
            "archive": archive,
            "storage_options": storage_options,
        }

    def cube(self) -> pd.DataFrame:
        """The archive summed per day, account, unit, product, meter and category."""
        return archive.daily_cube(by=CUBE_BY, **self._where)

    def device_months(
        self, selection: Selection | None = None, *, days: Sequence[Days] | None = None
    ) -> pd.DataFrame:
        """Per device, meter and month, the rows summed (a unified frame whose rows
        span a month); with ``selection``, only the rows it keeps (and with ``days``,
        only those of these day ranges)."""
        where, params = _sql_where(selection, days)
        keys = (
            "provider, account_id, account_name, product, resource_id, resource_name, "
            "meter_id, meter, category, unit, billable_unit"
        )
        # Summed per month partition (a constant per file: no timestamp truncated per
        # row), the month's start read from its label (the month of the rows' starts,
        # UTC, as the archive writes it), else from the rows.
        month = "coalesce(try_strptime(month, '%Y-%m'), date_trunc('month', first_start))"
        query = (
            f"SELECT {keys}, {month} AS period_start, {month} + INTERVAL 1 MONTH AS period_end, "
            "quantity, billable_quantity FROM ("
            f"SELECT {keys}, month, min(period_start) AS first_start, "
            "sum(quantity) AS quantity, sum(billable_quantity) AS billable_quantity "
            f"FROM usage {where} GROUP BY ALL)"
        )
        df = archive.sql(query, params=params, **self._where)
        return _unified(df)

    def day_range(self) -> tuple[date | None, date | None]:
        """The first and the last day (UTC) a row starts on."""
        df = archive.sql_arrow(
            "SELECT min(period_start) AS first, max(period_start) AS last FROM usage",
            **self._where,
        ).to_pylist()[0]
        return tuple(  # type: ignore[return-value]
            None if df[k] is None else pd.Timestamp(df[k]).tz_convert("UTC").date()
            for k in ("first", "last")
        )

    def identity_sums(self, selection: Selection, days: Sequence[Days]) -> pd.DataFrame:
        """Per device identity (``_IDENTITY``) and month, the sums of the rows
        ``selection`` keeps within ``days``: grouped by four columns, not eleven (a
        third of the time: most of the device-month sum is hashing its strings), and
        handed over as plain strings (no categoricals made of 100,000 ids)."""
        where, params = _sql_where(selection, days)
        keys = ", ".join(f'"{c}"' for c in _IDENTITY)
        month = "coalesce(try_strptime(month, '%Y-%m'), date_trunc('month', first_start))"
        query = (
            f"SELECT {keys}, {month} AS period_start, quantity, billable_quantity FROM ("
            f"SELECT {keys}, month, min(period_start) AS first_start, "
            "sum(quantity) AS quantity, sum(billable_quantity) AS billable_quantity "
            f"FROM usage {where} GROUP BY ALL)"
        )
        df = archive.sql_arrow(query, params=params, **self._where).to_pandas()
        df["period_start"] = pd.to_datetime(df["period_start"], utc=True)
        return df

    def device_rows(self, resources: Sequence[Any], *, names: bool = True) -> pd.DataFrame:
        """Every archived row of these devices (apps, assets); without ``names``, their
        ``resource_name`` left missing (a caller that knows the names: reading them
        costs a third of the query, each file's dictionary of names decoded)."""
        # DuckDB's scan with the condition pushed into it: Arrow's dataset scan of
        # history(resource_id=...) took 15x longer over a 100,000-device year.
        cols = ", ".join(
            f'"{c}"' if names or c != "resource_name" else 'NULL::VARCHAR AS "resource_name"'
            for c in UNIFIED_COLUMNS
        )
        present = [str(r) for r in resources if not pd.isna(r)]
        missing = ' OR "resource_id" IS NULL' if len(present) < len(resources) else ""
        query = f'SELECT {cols} FROM usage WHERE list_contains(?, "resource_id"){missing}'
        # A few devices' rows: strings made categoricals by pandas, not the dictionary
        # unification sql() does for any size (a third of the time here).
        df = archive.sql_arrow(query, params=[present], **self._where).to_pandas()
        return _unified(df)


def _unified(df: pd.DataFrame) -> pd.DataFrame:
    for col in ("period_start", "period_end"):
        df[col] = pd.to_datetime(df[col], utc=True).astype("datetime64[ns, UTC]")
    return coerce_unified(df[[c for c in UNIFIED_COLUMNS if c in df.columns]])


Days = tuple[date, date]  # a first and a last day, both kept


def _day(d: date) -> str:
    return f"{d.isoformat()} 00:00:00+00"


def _sql_where(
    selection: Selection | None, days: Sequence[Days] | None = None
) -> tuple[str, list[Any]]:
    """A WHERE clause (and its parameters) keeping what ``selection`` keeps (and
    with ``days``, only the rows starting in one of these ranges)."""
    terms: list[str] = []
    params: list[Any] = []
    if days is not None:
        ranges = []
        for first, last in days:
            ranges.append("(period_start >= ?::TIMESTAMPTZ AND period_start < ?::TIMESTAMPTZ)")
            params += [_day(first), _day(last + timedelta(days=1))]
        terms.append("(" + (" OR ".join(ranges) or "false") + ")")
    if selection is None:
        return ("WHERE " + " AND ".join(terms) if terms else ""), params
    for col in _KEYS:
        values = selection.values.get(col, frozenset())
        if not values:
            continue
        present = sorted(str(v) for v in values if not pd.isna(v))
        parts = []
        if present:
            parts.append(f'list_contains(?, "{col}")')
            params.append(present)
        if len(present) < len(values):
            parts.append(f'"{col}" IS NULL')
        terms.append("(" + " OR ".join(parts) + ")")
    if selection.start is not None:
        terms.append("period_start >= ?::TIMESTAMPTZ")
        params.append(_day(selection.start))
    if selection.end is not None:
        terms.append("period_start < ?::TIMESTAMPTZ")
        params.append(_day(selection.end + timedelta(days=1)))
    return ("WHERE " + " AND ".join(terms) if terms else ""), params


def _over_every_month(months: pd.DataFrame) -> pd.DataFrame:
    """Device-month totals summed over the months: one row per device and meter,
    spanning the first month to the last.

    The eleven key columns are folded into one group number through their codes (a
    groupby on the eleven categoricals took 3 to 6 s for 1.2M device-months, this
    takes about 1 s); each sum is NaN where every row was missing.
    """
    if not len(months):
        return months
    keys = [c for c in months.columns if c not in _SUMMED]
    group = np.zeros(len(months), dtype=np.int64)
    size = 1  # the group numbers stay below this
    for col in keys:
        column = months[col]
        if isinstance(column.dtype, pd.CategoricalDtype):
            codes = column.cat.codes.to_numpy().astype(np.int64)
            width = len(column.cat.categories) + 1
        else:
            codes, uniques = pd.factorize(column, use_na_sentinel=True)
            width = len(uniques) + 1
        if size * width >= 2**62:  # renumber the groups seen so far before they overflow
            group, seen = pd.factorize(group)
            size = len(seen)
        group = group * width + (codes + 1)
        size *= width
    group, _ = pd.factorize(group)  # numbered in order of first appearance
    _, first = np.unique(group, return_index=True)
    summed = months[keys].iloc[first].reset_index(drop=True)
    # pandas' own sums over the one group number: the same sums as over the keys.
    sums = months[list(_QUANTITIES)].groupby(group, sort=True).sum(min_count=1)
    for col in _QUANTITIES:
        summed[col] = sums[col].to_numpy()
    summed["period_start"] = months["period_start"].min()
    summed["period_end"] = months["period_end"].max()
    return coerce_unified(summed[list(months.columns)])


def _codes(column: pd.Series, values: pd.Series) -> tuple[np.ndarray, np.ndarray, int] | None:
    """The codes (missing: -1) of ``column``'s rows and of ``values`` among its
    values, and how many values there are; None when one of ``values`` is absent."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        cats = column.cat.categories
        have = column.cat.codes.to_numpy().astype(np.int64)
    else:
        have, cats = pd.factorize(column, use_na_sentinel=True)
        have = have.astype(np.int64)
    # The few distinct values looked up, not every row's.
    index, uniques = pd.factorize(values, use_na_sentinel=True)
    found = cats.get_indexer(pd.Index(uniques, dtype=object))
    if (found < 0).any():
        return None
    want = np.where(index < 0, -1, found[index] if len(found) else -1).astype(np.int64)
    return have, want, len(cats)


def _positions(rows: pd.DataFrame, sums: pd.DataFrame) -> np.ndarray | None:
    """For each row of ``sums``, the position of the one row of ``rows`` with its
    identity (``_IDENTITY``) and month; None when one has several rows there or none.
    Matched on the categorical codes of ``rows`` (no string made per row)."""
    if not len(sums):
        return np.zeros(0, dtype=np.int64)
    have = np.zeros(len(rows), dtype=np.int64)
    want = np.zeros(len(sums), dtype=np.int64)
    size = 1
    starts = pd.Series(
        np.concatenate(
            [
                rows["period_start"].to_numpy(dtype="datetime64[ns]"),
                sums["period_start"].to_numpy(dtype="datetime64[ns]"),
            ]
        )
    )
    month, seen = pd.factorize(starts)
    parts = [(month[: len(rows)].astype(np.int64), month[len(rows) :].astype(np.int64), len(seen))]
    for col in _IDENTITY:
        found = _codes(rows[col], sums[col])
        if found is None:
            return None
        parts.append(found)
    for mine, theirs, width in parts:
        if size * (width + 1) >= 2**62:
            return None
        have = have * (width + 1) + (mine + 1)
        want = want * (width + 1) + (theirs + 1)
        size *= width + 1
    index = pd.Index(have)
    if not index.is_unique:
        doubled = index[index.duplicated(keep=False)]
        if pd.Index(want).isin(doubled).any():
            return None
        keep = ~index.duplicated(keep=False)
        at = pd.Index(have[keep]).get_indexer(want)
        if (at < 0).any():
            return None
        return np.flatnonzero(keep)[at]
    at = index.get_indexer(want)
    return None if (at < 0).any() else at


def _key(selection: Selection) -> tuple[Any, ...]:
    values = tuple(
        (c, tuple(sorted(map(str, v)))) for c, v in sorted(selection.values.items()) if v
    )
    return (values, selection.start, selection.end)


def _whole_months(start: date | None, end: date | None, first: date, last: date) -> bool:
    """Whether the day range keeps whole months of the data (its ends at month ends,
    or at the data's own first and last day)."""
    starts_ok = start is None or start <= first or start.day == 1
    ends_ok = end is None or end >= last or (end + timedelta(days=1)).day == 1
    return starts_ok and ends_ok


class DeviceViews:
    """The device-level answers of an explorer opened on a daily cube."""

    def __init__(self, source: ArchiveSource) -> None:
        self.source = source
        self.months = source.device_months()
        self.filter = FrameFilter(self.months)
        # The data's own first and last day: the device-month rows start on the first
        # of their months, so their own span would take a range ending on the 1st of
        # the last month for all the data.
        self.first_day, self.last_day = source.day_range()
        # The same summed over every month: what a selection of all days ranks, a
        # twelfth of the rows for a year.
        self.whole = _over_every_month(self.months)
        self.whole_filter = FrameFilter(self.whole)
        # Each device-month's first day (days since 1970), for month masks.
        self._starts = self.months["period_start"].to_numpy(dtype="datetime64[D]")
        self._rows: dict[frozenset[Any], pd.DataFrame] = {}
        self._cut: dict[tuple[Any, ...], pd.DataFrame] = {}

    def options(self, selection: Selection | None = None) -> list[tuple[str, Any]]:
        """The device filter's choices (within the chosen providers and accounts)."""
        within = None
        if selection is not None:
            within = self.filter.narrowing_mask(selection, exclude=("resource_id",))
        return self.filter.options("resource_id", within=within)

    def totals(self, selection: Selection) -> pd.DataFrame:
        """What ``selection`` keeps, summed per device, meter and month (exact)."""
        first, last = self.first_day, self.last_day
        if (selection.start is None or first is None or selection.start <= first) and (
            selection.end is None or last is None or selection.end >= last
        ):
            mask = self.whole_filter.mask(Selection(values=selection.values))
            return self.whole if mask is None else self.whole.loc[mask]
        if (
            first is None
            or last is None
            or _whole_months(selection.start, selection.end, first, last)
        ):
            months = Selection(values=selection.values)  # the days are whole months
            mask = self.filter.mask(months)
            if selection.start is not None or selection.end is not None:
                mask = self._month_mask(selection.start, selection.end, mask)
            return self.months if mask is None else self.months.loc[mask]
        key = _key(selection)
        if key not in self._cut:
            self._cut = {key: self._cut_totals(selection, first, last)}  # the latest only
        return self._cut[key]

    def _cut_totals(self, selection: Selection, first: date, last: date) -> pd.DataFrame:
        """Device-month totals of a day range cutting one or two months: the whole
        months from the totals summed when the explorer opened, the cut ones summed in
        DuckDB over their days alone, per device identity (``_IDENTITY``), each sum
        put on the one device-month row of its identity. Where an identity has more
        than one row in a cut month (a device renamed or moved mid-month), or a sum
        finds no row, the cut months are summed by every key instead: the same
        numbers either way."""
        start = selection.start if selection.start is not None and selection.start > first else None
        end = selection.end if selection.end is not None and selection.end < last else None
        cut: list[Days] = []
        if start is not None and start.day != 1:
            month_end = (pd.Timestamp(start) + pd.offsets.MonthEnd(0)).date()
            cut.append((start, month_end if end is None else min(month_end, end)))
        if end is not None and (end + timedelta(days=1)).day != 1:
            month_start = end.replace(day=1)
            if not cut or cut[0][0] < month_start:
                cut.append((month_start if start is None else max(month_start, start), end))
        cut_starts = {pd.Timestamp(a.replace(day=1), tz="UTC") for a, _ in cut}
        # The whole months: rows of the totals from the range's first month to its last.
        mask = self._month_mask(start, end, self.filter.mask(Selection(values=selection.values)))
        starts = self.months["period_start"]
        mask &= ~starts.isin(cut_starts).to_numpy()
        whole = self.months.loc[mask]
        if not cut:
            return whole
        sums = self.source.identity_sums(Selection(values=selection.values), cut)
        rows = self.months.loc[starts.isin(cut_starts).to_numpy()]
        at = _positions(rows, sums)
        if at is None:
            parts = self.source.device_months(Selection(values=selection.values), days=cut)
            return concat([whole, parts]) if len(whole) else parts
        summed = rows.iloc[at].copy()
        for col in _QUANTITIES:
            summed[col] = sums[col].to_numpy(dtype=np.float64)
        return pd.concat([whole, summed], ignore_index=True)

    def _month_mask(
        self, start: date | None, end: date | None, mask: np.ndarray | None
    ) -> np.ndarray:
        starts = self._starts
        keep = np.ones(len(self.months), dtype=bool) if mask is None else mask.copy()
        if start is not None:
            keep &= starts >= np.datetime64(start.replace(day=1), "D")
        if end is not None:
            keep &= starts <= np.datetime64(end, "D")
        return keep

    def rows(self, resources: frozenset[Any]) -> pd.DataFrame:
        """Every row of these devices, from the archive (kept for the next changes)."""
        if resources not in self._rows:
            self._rows[resources] = self._device_rows(sorted(resources, key=str))
            while len(self._rows) > ROWS_CACHE_SIZE:
                del self._rows[next(iter(self._rows))]
        return self._rows[resources]

    def _device_rows(self, resources: list[Any]) -> pd.DataFrame:
        """The devices' rows, their names from the device-month totals where each
        device has one name in each month (else read with the rows)."""
        if any(pd.isna(r) for r in resources):
            return self.source.device_rows(resources)
        rows = self.source.device_rows(resources, names=False)
        named = self._names(rows)
        return self.source.device_rows(resources) if named is None else named

    def _names(self, rows: pd.DataFrame) -> pd.DataFrame | None:
        """``rows`` with the ``resource_name`` the device-month totals give their
        device that month; None where a device has several names in a month or none."""
        if not len(rows):
            return rows
        ids = self.months["resource_id"]
        wanted = ids.cat.categories.get_indexer(rows["resource_id"].cat.categories)
        codes = rows["resource_id"].cat.codes.to_numpy()
        if (codes < 0).any() or (wanted[codes] < 0).any():
            return None
        mine = np.isin(ids.cat.codes.to_numpy(), wanted[np.unique(codes)])
        held = self.months.loc[mine, ["resource_id", "resource_name"]]
        month = self._starts[mine].astype(np.int64)
        key = held["resource_id"].cat.codes.to_numpy().astype(np.int64) * 2**32 + month
        table = pd.DataFrame({"key": key, "name": held["resource_name"].cat.codes.to_numpy()})
        table = table.drop_duplicates()
        if table["key"].duplicated().any():  # a device renamed within a month
            return None
        row_months = rows["period_start"].to_numpy(dtype="datetime64[ns]")
        row_months = row_months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        row_key = wanted[codes].astype(np.int64) * 2**32 + row_months
        at = pd.Index(table["key"].to_numpy()).get_indexer(row_key)
        if (at < 0).any():
            return None
        names = self.months["resource_name"].cat
        out = rows.copy()
        out["resource_name"] = pd.Categorical.from_codes(
            table["name"].to_numpy()[at], categories=names.categories
        ).remove_unused_categories()
        return coerce_unified(out)

    def selected_rows(self, selection: Selection, *, top: int, quantity: str) -> pd.DataFrame:
        """The rows ``selection`` keeps of its devices, or of its ``top`` devices by
        ``quantity`` (per unit) when it names none."""
        chosen = selection.values.get("resource_id", frozenset())
        if not chosen:
            totals = self.totals(selection)
            ucol = "unit" if quantity == "quantity" else "billable_unit"
            sums = totals.groupby(["resource_id", ucol], observed=True)[quantity].sum()
            ranked = sums.sort_values(ascending=False, kind="stable")
            chosen = frozenset(
                ranked.groupby(level=ucol, observed=True).head(top).index.get_level_values(0)
            )
        rows = self.rows(frozenset(chosen))
        mask = FrameFilter(rows).mask(
            Selection(
                values={c: v for c, v in selection.values.items() if c in _KEYS},
                start=selection.start,
                end=selection.end,
            )
        )
        return rows if mask is None else rows.loc[mask]
