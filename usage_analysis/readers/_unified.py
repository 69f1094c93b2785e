"""Building blocks for the unified frame: cheap categorical columns and the final check.

A million-row report must convert in a few tens of milliseconds, so columns are
built from categorical codes (a constant is one category and a code array of
zeros) rather than from Python objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..schema import UNIFIED_DTYPES, concat_frames, validate_unified

__all__ = [
    "coalesce",
    "concat_frames",
    "concat_unified",
    "const",
    "finish",
    "missing",
    "parse_period",
    "text",
]

UTC_NS = "datetime64[ns, UTC]"


def const(value: str, index: pd.Index) -> pd.Series:
    """A categorical column holding ``value`` on every row."""
    codes = np.zeros(len(index), dtype=np.int8)
    return pd.Series(pd.Categorical.from_codes(codes, categories=[value]), index=index)


def missing(index: pd.Index, dtype: str = "category") -> pd.Series:
    """A column of missing values of the unified ``dtype``."""
    if dtype == "category":
        codes = np.full(len(index), -1, dtype=np.int8)
        cats = pd.Index([], dtype="str")
        return pd.Series(pd.Categorical.from_codes(codes, categories=cats), index=index)
    if dtype == "float64":
        return pd.Series(np.full(len(index), np.nan), index=index)
    return pd.Series(pd.NaT, index=index, dtype=dtype)


def text(series: pd.Series) -> pd.Series:
    """Any string-ish column as a categorical (already-categorical columns as they are)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series
    return series.astype("category")


def coalesce(*columns: pd.Series | None) -> pd.Series:
    """Per row, the first non-missing value of the categorical ``columns`` (None skipped)."""
    present = [text(c) for c in columns if c is not None]
    if not present:
        raise ValueError("coalesce needs at least one column")
    out = present[0]
    for nxt in present[1:]:
        if not out.isna().any():
            break
        cats = out.cat.categories.union(nxt.cat.categories)
        a = out.cat.set_categories(cats)
        b = nxt.cat.set_categories(cats)
        codes = np.where(
            a.cat.codes.to_numpy() >= 0, a.cat.codes.to_numpy(), b.cat.codes.to_numpy()
        )
        out = pd.Series(pd.Categorical.from_codes(codes, categories=cats), index=out.index)
    return out


def parse_period(period: Sequence[Any] | None) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """``period=(start, end)`` as UTC timestamps (naive means UTC); end is exclusive."""
    from ..errors import InvalidParameter

    if period is None:
        return None
    try:
        start, end = period
        s = pd.Timestamp(start)
        e = pd.Timestamp(end)
    except (TypeError, ValueError) as exc:
        raise InvalidParameter(
            "period", f"expected (start, end) dates or timestamps, got {period!r} ({exc})"
        ) from None
    s = s.tz_localize("UTC") if s.tzinfo is None else s.tz_convert("UTC")
    e = e.tz_localize("UTC") if e.tzinfo is None else e.tz_convert("UTC")
    if not e > s:
        raise InvalidParameter("period", f"end {e} must be after start {s}")
    return s, e


def finish(
    columns: Mapping[str, pd.Series], index: pd.Index, attrs: Mapping[str, Any]
) -> pd.DataFrame:
    """Assemble the unified frame in schema order, fill absent columns, and validate it.

    Columns that are not in the schema (a provider's extra groupings, such as
    HERE's billing tag) follow the unified ones, as categoricals.
    """
    out: dict[str, pd.Series] = {}
    for col, dtype in UNIFIED_DTYPES.items():
        s = columns.get(col)
        if s is None:
            s = missing(index, dtype)
        elif dtype == "category":
            s = text(s)
        elif dtype == "float64":
            s = s.astype("float64")
        elif str(s.dtype) != dtype:
            s = pd.to_datetime(s, utc=True).astype(dtype)
        out[col] = s
    for col, s in columns.items():
        if col not in UNIFIED_DTYPES:
            out[col] = text(s)
    # copy=False: the columns are new (or the provider frame's, copied on write).
    df = pd.DataFrame(out, index=index, copy=False)
    validate_unified(df)
    df.attrs.update(attrs)
    return df


def concat_unified(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate unified frames keeping every string column categorical."""
    if len(frames) == 1:
        return frames[0]
    df = concat_frames(frames)
    attrs = dict(frames[0].attrs)
    kinds = [f.attrs.get("kind") for f in frames]
    attrs["kind"] = kinds[0] if len(set(kinds)) == 1 else "mixed"
    attrs["kinds"] = list(dict.fromkeys(str(k) for k in kinds))
    df.attrs.update(attrs)
    validate_unified(df)
    return df
