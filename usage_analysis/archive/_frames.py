"""Arrow record batches -> a unified pandas frame, one batch at a time.

``history()`` hands each batch here as the scan produces it and lets it go:
strings become category codes against one growing set of categories per
column, timestamps nanoseconds, numbers float64, each written straight into
the column it ends up in. The rows are therefore never held twice (an Arrow
table and a pandas frame side by side, or pieces and their concatenation).
At the end the categories are sorted, so the result is the same whatever
order the files came in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ArchiveError
from ..schema import UNIFIED_DTYPES

__all__ = ["FrameBuilder", "check_ns_range"]

# pandas' nanosecond timestamps end here (1677-09-21 .. 2262-04-11): beyond, a
# conversion would wrap around silently (a row ending 9999-12-31 read as 1815).
_NS_LOW = pd.Timestamp.min.value // 1000 + 1
_NS_HIGH = pd.Timestamp.max.value // 1000


def check_ns_range(column: Any, name: str) -> None:
    """Raise :class:`ArchiveError` when timestamps do not fit pandas' nanoseconds."""
    micros = pc.cast(pc.cast(column, pa.timestamp("us", tz="UTC")), pa.int64())
    bounds = pc.min_max(micros)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    if low is None or (low >= _NS_LOW and high <= _NS_HIGH):
        return
    bad = low if low < _NS_LOW else high
    shown = (np.datetime64(bad, "us")).astype(str)
    raise ArchiveError(
        f"column {name!r} holds {shown} UTC, outside the dates pandas can hold "
        f"({pd.Timestamp.min.date()} to {pd.Timestamp.max.date()}); leave the column out "
        "(columns=), filter such rows out, or query them with sql() and cast to text"
    )


def _narrow(categories: _Categories | int) -> type[np.signedinteger[Any]]:
    """The smallest code type for this many categories (as pandas itself picks)."""
    n = len(categories.values) if isinstance(categories, _Categories) else categories
    if n < 2**7:
        return np.int8
    if n < 2**15:
        return np.int16
    return np.int32


class _Categories:
    """One column's categories, grown batch by batch; codes in a batch's terms."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._known = pa.array([], pa.string())
        self._last: tuple[pa.Array, np.ndarray] | None = None

    def _mapping(self, dictionary: pa.Array) -> np.ndarray:
        """Code of each dictionary entry (``-1`` for a null entry), plus a final -1."""
        if self._last is not None and self._last[0].equals(dictionary):
            return self._last[1]
        if not pa.types.is_string(dictionary.type):
            dictionary = dictionary.cast(pa.string())
        position = pc.index_in(dictionary, value_set=self._known)
        new = dictionary.filter(pc.and_(pc.is_null(position), pc.is_valid(dictionary)))
        if len(new):
            new = pc.unique(new)
            self.values.extend(new.to_pylist())
            self._known = pa.concat_arrays([self._known, new])
            position = pc.index_in(dictionary, value_set=self._known)
        codes = pc.fill_null(position, -1).to_numpy(zero_copy_only=False)
        mapping = np.concatenate([codes, [-1]]).astype(_narrow(self))
        self._last = (dictionary, mapping)
        return mapping

    def codes(self, array: pa.Array) -> np.ndarray:
        if not pa.types.is_dictionary(array.type):
            array = pc.dictionary_encode(array)
        mapping = self._mapping(array.dictionary)
        # A null index takes the mapping's final -1.
        indices = pc.fill_null(array.indices, -1).to_numpy(zero_copy_only=False)
        return mapping[indices]

    def constant(self, value: str | None, rows: int) -> np.ndarray:
        if value is None:
            return np.full(rows, -1, np.int8)
        mapping = self._mapping(pa.array([value], pa.string()))
        return np.full(rows, mapping[0], mapping.dtype)

    def categorical(self, codes: np.ndarray, *, drop_unused: bool) -> pd.Categorical:
        """The column: categories sorted (and, if asked, only those used)."""
        values = np.array(self.values, dtype=object)
        keep = np.arange(len(values))
        if drop_unused and len(values):
            used = np.bincount(codes[codes >= 0], minlength=len(values)) > 0
            keep = np.flatnonzero(used)
        order = keep[np.argsort(values[keep], kind="stable")] if len(keep) else keep
        # In place, in the codes' own type; mode="wrap" takes -1 to the last slot (-1).
        remap = np.full(len(values) + 1, -1, codes.dtype)
        remap[order] = np.arange(len(order))
        np.take(remap, codes, out=codes, mode="wrap")
        categories = pd.Index(list(values[order]), dtype="str")
        return pd.Categorical.from_codes(codes, categories=categories, validate=False)


class FrameBuilder:
    """Collects batches of some of the table's columns into one pandas frame.

    ``types`` maps each column to its Arrow type in the table: strings become
    categoricals, timestamps ``datetime64[ns, UTC]``, the rest float64. Columns
    whose values come from a file's partition (the same for every row of a
    batch) are given per batch in ``constants``.

    Each column is one array the batches are written into. ``capacity`` (the
    rows the files hold, from the table's log) sizes them at once: an upper
    bound costs nothing, since pages never written are never resident. More
    rows than that double the arrays. Codes start as int8 and widen only when a
    column gets more categories.
    """

    def __init__(self, types: Mapping[str, pa.DataType], capacity: int = 0) -> None:
        self.types = dict(types)
        self.rows = 0
        self._capacity = max(int(capacity), 0)
        self._categories = {
            c: _Categories()
            for c, t in self.types.items()
            if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t)
        }
        self._out: dict[str, np.ndarray] = {}
        for name, kind in self.types.items():
            if name in self._categories:
                dtype: Any = np.int8
            elif pa.types.is_timestamp(kind):
                dtype = "datetime64[ns]"
            else:
                dtype = np.float64
            self._out[name] = np.empty(self._capacity, dtype)

    def _grow(self, rows: int) -> None:
        need = self.rows + rows
        if need <= self._capacity:
            return
        self._capacity = max(need, 2 * self._capacity, 1 << 16)
        for name, old in self._out.items():
            new = np.empty(self._capacity, old.dtype)
            new[: self.rows] = old[: self.rows]
            self._out[name] = new

    def _put(self, name: str, values: np.ndarray) -> None:
        out = self._out[name]
        if values.dtype.kind == "i" and values.dtype.itemsize > out.dtype.itemsize:
            wider = np.empty(self._capacity, values.dtype)  # more categories than fit
            wider[: self.rows] = out[: self.rows]
            out = self._out[name] = wider
        # Written into place (a cast where needed): no view of the batch is kept.
        out[self.rows : self.rows + len(values)] = values

    def add(self, batch: pa.RecordBatch, constants: Mapping[str, str | None]) -> None:
        rows = batch.num_rows
        if rows == 0:
            return
        self._grow(rows)
        for name, kind in self.types.items():
            cats = self._categories.get(name)
            if name in constants:
                assert cats is not None, name
                part = cats.constant(constants[name], rows)
            else:
                column = batch.column(name)
                if cats is not None:
                    part = cats.codes(column)
                elif pa.types.is_timestamp(kind):
                    check_ns_range(column, name)
                    stamps = column.cast(pa.timestamp("us", tz="UTC"))
                    part = stamps.to_numpy(zero_copy_only=False)  # us -> ns as it is written
                else:
                    part = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
            self._put(name, part)
        self.rows += rows

    def add_all(
        self, batches: Iterable[tuple[pa.RecordBatch, Mapping[str, str | None]]]
    ) -> FrameBuilder:
        for batch, constants in batches:
            self.add(batch, constants)
        return self

    def frame(self, *, drop_unused: bool = False) -> pd.DataFrame:
        """The frame, built column by column from the filled arrays."""
        columns: dict[str, Any] = {}
        for name, kind in self.types.items():
            values = self._out.pop(name)[: self.rows]
            cats = self._categories.get(name)
            if cats is not None:
                columns[name] = pd.Series(cats.categorical(values, drop_unused=drop_unused))
            elif pa.types.is_timestamp(kind):
                # One copy (tz_localize), of one column, while the rest wait.
                columns[name] = pd.Series(values, copy=False).dt.tz_localize("UTC")
            else:
                columns[name] = pd.Series(values, copy=False)
            del values
        # copy=False: the columns stay as they are (no consolidation into 2-D blocks).
        df = pd.DataFrame(columns, copy=False)
        for name, dtype in UNIFIED_DTYPES.items():
            if name in df.columns and str(df[name].dtype) != dtype:
                df[name] = df[name].astype(dtype)
        return df


def sort_rows(df: pd.DataFrame, order: Sequence[str]) -> pd.DataFrame:
    """Rows ordered by ``order`` (categoricals by their sorted categories), stable."""
    keys = [c for c in order if c in df.columns]
    if not keys:
        return df
    return df.sort_values(keys, kind="stable", na_position="last", ignore_index=True)
