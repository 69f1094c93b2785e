"""The unified usage schema shared by the three providers.

Modelled on the FinOps FOCUS specification: one row per usage record, with the
charge period (``period_start`` inclusive, ``period_end`` exclusive, UTC), the
account (FOCUS SubAccountId), the resource (ResourceId), the meter (SkuMeter) and
the consumed quantity with its unit (ConsumedQuantity / ConsumedUnit), plus the
quantity in the provider's billing unit.

Quantities of different units are never added by anything in this package: every
aggregation groups by ``unit`` (or ``billable_unit``) or refuses with
:class:`~usage_analysis.errors.UnitMismatch`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .errors import InvalidParameter, SchemaError, UnitMismatch

__all__ = [
    "REPORT_ROWS",
    "UNIFIED_COLUMNS",
    "UNIFIED_DTYPES",
    "coerce_unified",
    "concat",
    "concat_frames",
    "empty_unified",
    "require_columns",
    "single_unit",
    "validate_unified",
]

# Column -> dtype. Strings repeat a lot (a device id appears once a day), so they
# are categoricals: a 1,000,000-row frame then costs a fraction of object strings.
UNIFIED_DTYPES: dict[str, str] = {
    "provider": "category",  # "particle", "here" or "informatica"
    "account_id": "category",  # Particle org or user; HERE realm; Informatica org id
    "account_name": "category",
    "product": "category",  # Particle product; HERE app or project; Informatica project
    "resource_id": "category",  # Particle device; HERE app or resource; Informatica asset/task
    "resource_name": "category",
    "meter_id": "category",  # Particle op kind; HERE featureId HRN; Informatica meter id
    "meter": "category",  # human name of the meter
    "category": "category",  # HERE category; Informatica metric category; Particle device/product
    "period_start": "datetime64[ns, UTC]",
    "period_end": "datetime64[ns, UTC]",  # exclusive
    "quantity": "float64",
    "unit": "category",
    "billable_quantity": "float64",
    "billable_unit": "category",  # Particle: data operations; HERE: its unit; Informatica: IPU
}
UNIFIED_COLUMNS: tuple[str, ...] = tuple(UNIFIED_DTYPES)

_STRING_COLUMNS = tuple(c for c, t in UNIFIED_DTYPES.items() if t == "category")

# In a frame of sums (the archive's daily cube): how many report rows each row sums.
REPORT_ROWS = "report_rows"


def report_rows(df: pd.DataFrame) -> int:
    """How many report rows ``df`` stands for: the rows themselves, or for a frame of
    sums the counts it carries (``REPORT_ROWS``), so that an explorer on the archive's
    daily cube says the same number of rows as one on every row."""
    if REPORT_ROWS in df.columns:
        return int(df[REPORT_ROWS].sum())
    return len(df)


def empty_unified() -> pd.DataFrame:
    """An empty frame with the unified columns and dtypes."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in UNIFIED_DTYPES.items()})


def coerce_unified(df: pd.DataFrame) -> pd.DataFrame:
    """Order and type the unified columns (missing string columns become missing).

    Extra columns (for example ``report_id`` added by the archive) are kept after
    the unified ones.
    """
    if _is_unified(df):
        # Already in order and typed: a shallow copy (pandas copies on write), so
        # a caller that adds columns to the result never changes ``df``.
        return df.copy(deep=False)
    missing_required = [
        c for c in ("provider", "period_start", "quantity", "unit") if c not in df.columns
    ]
    if missing_required:
        raise SchemaError(f"not a unified usage frame: missing columns {missing_required}")
    out = {}
    n = len(df)
    for col, dtype in UNIFIED_DTYPES.items():
        if col in df.columns:
            s = df[col]
            if str(s.dtype) != dtype:
                if dtype.startswith("datetime64"):
                    s = pd.to_datetime(s, utc=True).astype(dtype)
                else:
                    s = s.astype(dtype)
        else:
            s = pd.Series(pd.NA if dtype == "category" else None, index=df.index, dtype=dtype)
        out[col] = s
    extra = [c for c in df.columns if c not in UNIFIED_DTYPES]
    for col in extra:
        out[col] = df[col]
    result = pd.DataFrame(out, index=df.index)
    assert len(result) == n
    return result


def _is_unified(df: pd.DataFrame, dtypes: dict[str, Any] | None = None) -> bool:
    """True when the unified columns come first, in order, each with its dtype."""
    if dtypes is None:
        dtypes = df.dtypes.to_dict()  # df.dtypes builds a Series: once
    names = list(dtypes)[: len(UNIFIED_COLUMNS)]
    return names == list(UNIFIED_COLUMNS) and all(
        str(dtypes[c]) == t for c, t in UNIFIED_DTYPES.items()
    )


def validate_unified(df: pd.DataFrame) -> None:
    """Raise :class:`SchemaError` unless ``df`` has every unified column with its dtype."""
    problems = []
    for col, dtype in UNIFIED_DTYPES.items():
        if col not in df.columns:
            problems.append(f"missing column {col!r}")
        elif str(df[col].dtype) != dtype:
            problems.append(f"column {col!r} is {df[col].dtype}, expected {dtype}")
    if problems:
        raise SchemaError("not a unified usage frame: " + "; ".join(problems))


def single_unit(
    df: pd.DataFrame, column: str = "unit", *, groups: Iterable[str] = ()
) -> str | None:
    """Return the one unit in ``df[column]``; raise :class:`UnitMismatch` if there are several.

    When ``column`` is among ``groups`` mixing is allowed (each group has one unit)
    and ``None`` is returned.
    """
    if column in set(groups):
        return None
    units = df[column].dropna().unique()
    if len(units) > 1:
        raise UnitMismatch([str(u) for u in units])
    return str(units[0]) if len(units) else None


def _missing_like(dtype: Any, index: pd.Index) -> pd.Series:
    """A column of missing values of ``dtype`` (NaN, NaT or pd.NA) on ``index``."""
    if isinstance(dtype, pd.CategoricalDtype):
        codes = np.full(len(index), -1, dtype=np.int8)
        return pd.Series(pd.Categorical.from_codes(codes, categories=dtype.categories), index=index)
    if pd.api.types.is_float_dtype(dtype):
        return pd.Series(np.full(len(index), np.nan), index=index, dtype=dtype)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return pd.Series(pd.NaT, index=index, dtype=dtype)
    return pd.Series(pd.NA, index=index, dtype=dtype)


def _union_dtype(dtypes: list[Any]) -> Any:
    """One dtype for a column across frames: categoricals get the union of categories."""
    if all(d is dtypes[0] or d == dtypes[0] for d in dtypes):
        return dtypes[0]
    cats = [d.categories for d in dtypes if isinstance(d, pd.CategoricalDtype)]
    if not cats:
        return None  # let pandas find the common dtype (float and int, say)
    union = pd.Index([], dtype="str")
    for c in cats:
        union = union.union(c.astype("str") if c.dtype != "str" else c, sort=False)
    return pd.CategoricalDtype(union)


def concat_frames(
    frames: Sequence[pd.DataFrame],
    *,
    ignore_index: bool = False,
    dtypes: Sequence[dict[str, Any]] | None = None,
) -> pd.DataFrame:
    """Concatenate frames (keeping their index) with every column's dtype kept.

    Categoricals are unioned (``pd.concat`` would turn categoricals with different
    categories into plain strings); datetimes keep their dtype, zone included;
    a column missing from some frames is missing on their rows. Each frame's
    columns are first given one dtype (recoding categoricals to the union of
    categories), then ``pd.concat`` joins whole blocks: 36 report frames take
    about what ``pd.concat`` takes.
    """
    if len(frames) == 1:
        return frames[0].reset_index(drop=True) if ignore_index else frames[0]
    per_frame = list(dtypes) if dtypes is not None else [f.dtypes.to_dict() for f in frames]
    columns = list(dict.fromkeys(c for d in per_frame for c in d))
    aligned = list(frames)
    for col in columns:
        dtypes_of = [d[col] for d in per_frame if col in d]
        target = _union_dtype(dtypes_of)
        for i, f in enumerate(aligned):
            have = per_frame[i].get(col)
            if have is None:
                fill = target if target is not None else dtypes_of[0]
                aligned[i] = f = f.assign(**{col: _missing_like(fill, f.index)})
            elif target is not None and have != target:
                if isinstance(target, pd.CategoricalDtype) and not isinstance(
                    have, pd.CategoricalDtype
                ):
                    values = f[col].astype("str").where(f[col].notna())
                else:
                    values = f[col]
                    if isinstance(have, pd.CategoricalDtype) and have.categories.dtype != "str":
                        values = values.cat.rename_categories(have.categories.astype("str"))
                aligned[i] = f.assign(**{col: values.astype(target)})
    parts = [
        f if list(per_frame[i]) == columns and f is frames[i] else f[columns]
        for i, f in enumerate(aligned)
    ]
    return pd.concat(parts, ignore_index=ignore_index)


def concat(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Combine unified frames (from several reads or providers) into one, keeping the dtypes.

    Each frame is first put in the unified order and types (:func:`coerce_unified`);
    string columns stay categoricals (their categories unioned), timestamps stay
    ``datetime64[ns, UTC]``, extra columns are kept (missing where a frame lacks
    them). The result has a fresh ``RangeIndex``; ``attrs["sources"]`` lists the
    frames' ``attrs["source"]`` where they have one.

    Raises:
        SchemaError: a frame is not a unified usage frame.
    """
    # Frames already unified go in as they are (concat_frames does not change them).
    frames = list(frames)
    dtypes = [f.dtypes.to_dict() for f in frames]
    for i, f in enumerate(frames):
        if not _is_unified(f, dtypes[i]):
            frames[i] = coerce_unified(f)
            dtypes[i] = frames[i].dtypes.to_dict()
    if not frames:
        return empty_unified()
    df = concat_frames(frames, ignore_index=True, dtypes=dtypes)
    if df is frames[0]:
        df = df.copy()
    sources = [f.attrs["source"] for f in frames if f.attrs.get("source")]
    df.attrs = {"sources": sources} if sources else {}
    validate_unified(df)
    return df


def require_columns(df: pd.DataFrame, columns: Iterable[object], parameter: str) -> None:
    """Raise :class:`InvalidParameter` naming each column ``df`` lacks.

    A filter, group-by or monitor naming a column the frame does not have is an
    error, never "no data": the one check every such entry point makes.
    """
    missing = [c for c in columns if not isinstance(c, str) or c not in df.columns]
    if missing:
        names = ", ".join(repr(c) for c in missing)
        raise InvalidParameter(
            parameter,
            f"the frame has no column {names}; it has {', '.join(map(str, df.columns))}",
        )
