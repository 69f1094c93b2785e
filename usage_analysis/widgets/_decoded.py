"""The explorer's frame as numbers: category codes, day numbers and quantities, decoded
once per frame (:class:`Decoded`), and a selection as row positions with each column
gathered once for them (:class:`Selected`).

:class:`Combos` numbers the combinations of some key columns in the whole frame, so a
selection's sums per group are one ``np.bincount`` over its rows, in row order (the
order the analysis functions sum in). What the fast paths build from these lives in
``_aggregate``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import grains
from ..analysis import period_numbers
from ..schema import REPORT_ROWS, report_rows

__all__ = ["Combos", "Decoded", "Selected", "period_sums"]

NS_PER_DAY = 86_400_000_000_000
# A group x period bincount larger than this (e.g. 10,000 devices x 5 years of days)
# is left to the rows path.
MAX_BINS = 20_000_000


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
        # Rows per cell of the whole frame, per cell layout (see row_counts).
        self._counts: dict[tuple[Any, ...], np.ndarray] = {}
        # Day index from the frame's first day: small ints, one bincount bin a day.
        self.first_day = int(day.min()) if len(day) else 0
        self.days = int(day.max()) - self.first_day + 1 if len(day) else 0
        self.day_index: np.ndarray = (day - self.first_day).astype(_index_type(self.days))

    def periods(self, freq: str) -> tuple[np.ndarray, int, int]:
        """Per day of the frame (``day_index``) its ``freq`` period counted from the first;
        the number of periods and the first period's number."""
        if freq not in self._periods:
            numbers = np.arange(self.first_day, self.first_day + self.days, dtype=np.int64)
            lut = period_numbers(numbers, freq)
            first = int(lut[0]) if len(lut) else 0
            periods = int(lut[-1]) - first + 1 if len(lut) else 1
            self._periods[freq] = ((lut - first).astype(np.int64), periods, first)
        return self._periods[freq]

    def row_counts(self, layout: tuple[Any, ...], key: np.ndarray, bins: int) -> np.ndarray:
        """``np.bincount(key, minlength=bins)`` of every row, kept per ``layout`` (what
        made the keys): the sums change with the quantity, the rows per cell do not.
        At most as many bins as rows are kept, the newest first."""
        if layout in self._counts:
            self._counts[layout] = self._counts.pop(layout)
            return self._counts[layout]
        count = np.bincount(key, minlength=bins)
        self._counts[layout] = count
        while (
            sum(len(c) for c in self._counts.values()) > max(len(self.df), 1)
            and len(self._counts) > 1
        ):
            del self._counts[next(iter(self._counts))]
        return count

    def combos(self, keys: tuple[str, ...]) -> Combos | None:
        """The combinations of ``keys`` in the whole frame (:class:`Combos`), kept."""
        if keys not in self._combos:
            tail = self._combos.get(keys[1:]) if len(keys) > 1 else None
            refined = _refine(self, keys[0], tail) if tail is not None else None
            self._combos[keys] = refined if refined is not None else _combos(self, keys)
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
        self._ends: list[int] | None = None

    def ends(self) -> list[int]:
        """Positions (among the rows) of the first row on the first day, the first on
        the last day and, when there are several providers, each provider's first row on
        its newest day (in provider code order): the rows a chart reads the days spanned
        and each provider's freshness from. Kept: every view of the selection asks."""
        if self._ends is None:
            index = self.day_index
            ends = [int(np.argmin(index)), int(np.argmax(index))]
            providers = self.codes("provider")
            held = self.distinct("provider")
            if (providers < 0).any():
                held = np.r_[-1, held]
            if len(held) > 1:
                for code in held:
                    at = np.flatnonzero(providers == code)
                    ends.append(int(at[np.argmax(index[at])]))
            self._ends = ends
        return list(self._ends)

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


def _refine(dec: Decoded, head: str, tail: Combos) -> Combos | None:
    """:func:`_combos` of ``(head, *tail's keys)`` from the tail's combinations, when each
    of them holds one value of ``head`` (a device's product, account or category):
    the same combinations, numbered in key-code order again, in a few passes over the
    rows instead of one fold per key. ``None`` otherwise."""
    if tail.provider is None:
        return None
    part, cats = dec.codes(head)
    size = len(cats) + 1
    space = tail.n * size
    n = len(dec.df)
    if space > max(4 * n, 2**16):
        return None
    pair = tail.ids.astype(np.int64)
    pair *= size
    pair += part
    pair += 1
    found = np.flatnonzero(np.bincount(pair, minlength=space))
    if len(found) != tail.n:
        return None  # a tail combination with several values of head
    # found is in tail order, one per tail combination: its head code (-1 missing)
    head_codes = found % size - 1
    # key-code order: head first, then the tail's own order (a stable sort keeps it)
    order = np.argsort(head_codes, kind="stable")
    rank: np.ndarray = np.empty(tail.n, dtype=_index_type(tail.n))
    rank[order] = np.arange(tail.n)
    codes = {head: head_codes[order], **{k: v[order] for k, v in tail.codes.items()}}
    return Combos(rank[tail.ids], codes, tail.provider[order])


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
