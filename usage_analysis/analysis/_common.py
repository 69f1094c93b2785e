"""What every analysis function shares: argument checks, time buckets and a fast grouped sum.

The grouped sum is the hot path of the package (``usage_by`` over a million rows,
the device x day matrix of ``anomalies``). It works on integer codes: each key
column's categorical codes (or ``pd.factorize`` codes) and the period's bucket
number are folded into one int64 key, and ``np.bincount`` adds the quantities.
Missing keys form a group of their own, so any grouping keeps the total.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidParameter, SchemaError
from ..grains import one_grain_per_period
from ..schema import (
    UNIFIED_DTYPES,
    coerce_unified,
    require_columns,
    single_unit,
    validate_unified,
)

NS_PER_DAY = 86_400_000_000_000
# 1970-01-01 was a Thursday: adding 3 days makes whole weeks start on Monday.
_MONDAY_SHIFT = 3

FREQS = ("D", "W", "MS")
QUANTITY_UNITS = {"quantity": "unit", "billable_quantity": "billable_unit"}

# Dense bincount is used while the key space is at most this many times the row
# count (or 2**20); beyond that the keys are hashed with pd.factorize first.
_DENSE_FACTOR = 4
_DENSE_MIN = 2**20
# Beyond this key space the codes no longer fit one int64: pandas groups instead.
_MAX_KEY = 2**62


def check_frame(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` as a unified usage frame; raise :class:`SchemaError` if it is not one.

    A frame with every unified column but some of another dtype (``pd.concat`` of
    frames with different categories gives object columns) is coerced, not refused.
    Rows the grain rule does not count (:func:`usage_analysis.grains.one_grain_per_period`:
    per provider, account and month, the grain covering the period) are left out.
    """
    if not isinstance(df, pd.DataFrame):
        raise SchemaError(f"expected a unified usage DataFrame, got {type(df).__name__}")
    missing = [c for c in UNIFIED_DTYPES if c not in df.columns]
    if missing:
        raise SchemaError(f"not a unified usage frame: missing columns {missing}")
    # The dtypes read once (each ``df[c]`` builds a Series: a tenth of a millisecond);
    # a frame with every column and dtype is what validate_unified checks for.
    dtypes = df.dtypes
    if any(str(dtypes[c]) != t for c, t in UNIFIED_DTYPES.items()):
        df = coerce_unified(df)
        validate_unified(df)
    # Reports of two grains over the same days (a SUMMARY and an ASSET export) are
    # counted once: the one grain rule, as the archive's history() and sql() apply it.
    return one_grain_per_period(df)


def longest_row(df: pd.DataFrame) -> pd.Timedelta:
    """The longest ``period_end - period_start`` (rows without an end count as 0)."""
    if not len(df):
        return pd.Timedelta(0)
    start = df["period_start"].to_numpy(dtype="datetime64[ns]").view("i8")
    end = df["period_end"].to_numpy(dtype="datetime64[ns]").view("i8")
    nat = np.iinfo(np.int64).min
    span = np.where((end == nat) | (start == nat), 0, end - start)
    return pd.Timedelta(int(span.max()), "ns")


def require_daily(df: pd.DataFrame, what: str) -> None:
    """Raise :class:`SchemaError` when some rows span more than a day (monthly data)."""
    longest = longest_row(df)
    if longest > pd.Timedelta(days=1):
        raise SchemaError(
            f"{what} needs rows of a day or less; the longest row spans {longest} "
            "(monthly or summarized data cannot be spread over days)"
        )


def as_columns(
    df: pd.DataFrame, by: str | Sequence[str] | None, *, parameter: str = "by"
) -> list[str]:
    """``by`` as a list of existing column names (``None`` -> no grouping)."""
    if by is None:
        cols: list[str] = []
    elif isinstance(by, str):
        cols = [by]
    else:
        cols = list(by)
    require_columns(df, cols, parameter)
    if len(set(cols)) != len(cols):
        raise InvalidParameter(parameter, f"a column is named twice in {cols}")
    return cols


def unit_column(quantity: str) -> str:
    """The unit column that goes with a quantity column."""
    try:
        return QUANTITY_UNITS[quantity]
    except KeyError:
        raise InvalidParameter(
            "quantity", f"expected 'quantity' or 'billable_quantity', got {quantity!r}"
        ) from None


def check_units(df: pd.DataFrame, quantity: str, groups: Iterable[str]) -> tuple[str, str | None]:
    """Return (unit column, the one unit or None); raise UnitMismatch for mixed units."""
    ucol = unit_column(quantity)
    unit = single_unit(df, ucol, groups=groups)
    return ucol, unit


def check_freq(freq: str | None, *, parameter: str = "freq") -> str | None:
    """Accept ``None``, ``"D"``, ``"W"`` (weeks from Monday) or ``"MS"`` (calendar months)."""
    if freq is not None and freq not in FREQS:
        raise InvalidParameter(parameter, f"expected None, 'D', 'W' or 'MS', got {freq!r}")
    return freq


def check_positive(value: float, parameter: str, *, allow_zero: bool = False) -> float:
    """``value`` as a finite float above zero (or at least zero)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidParameter(parameter, f"expected a number, got {value!r}") from None
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise InvalidParameter(
            parameter, f"expected a number {'>= 0' if allow_zero else '> 0'}, got {value!r}"
        )
    return v


def timestamp(value: Any, parameter: str) -> pd.Timestamp:
    """A UTC timestamp from a date, string or Timestamp (naive values are taken as UTC)."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise InvalidParameter(parameter, f"expected a date or timestamp, got {value!r}") from None
    if ts is pd.NaT:
        raise InvalidParameter(parameter, f"expected a date or timestamp, got {value!r}")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def nanoseconds(series: pd.Series, column: str) -> np.ndarray:
    """int64 nanoseconds since the epoch (UTC); raise SchemaError on missing timestamps."""
    ns = series.to_numpy(dtype="datetime64[ns]").view("i8")
    if len(ns) and (ns == np.iinfo(np.int64).min).any():
        raise SchemaError(f"column {column!r} has missing timestamps")
    return ns


def period_numbers(days: np.ndarray, freq: str) -> np.ndarray:
    """Consecutive period numbers of UTC day numbers (days since 1970-01-01): the days
    themselves, weeks from Monday, or months since 1970-01. How every analysis
    function buckets, as calendar arithmetic on day numbers."""
    days = np.asarray(days, dtype=np.int64)
    if freq == "D":
        return days
    if freq == "W":
        return (days + _MONDAY_SHIFT) // 7
    return days.astype("datetime64[D]").astype("datetime64[M]").view("i8")


def period_starts(numbers: np.ndarray, freq: str) -> pd.DatetimeIndex:
    """The UTC start of each period number (inverse of :func:`period_numbers`)."""
    numbers = np.asarray(numbers, dtype=np.int64)
    if freq == "D":
        days = numbers
    elif freq == "W":
        days = numbers * 7 - _MONDAY_SHIFT
    else:
        days = numbers.astype("datetime64[M]").astype("datetime64[D]").view("i8")
    ns = days * NS_PER_DAY
    # UTC given as the dtype: no localizing pass over a million cells.
    return pd.DatetimeIndex(ns.view("datetime64[ns]"), dtype="datetime64[ns, UTC]")


def bucket_numbers(ns: np.ndarray, freq: str) -> np.ndarray:
    """:func:`period_numbers` of nanoseconds since the epoch."""
    return period_numbers(np.asarray(ns, dtype=np.int64) // NS_PER_DAY, freq)


# Period numbers are the same whether counted from days or from nanoseconds.
bucket_starts = period_starts


def bucket_of(ts: pd.Timestamp, freq: str) -> int:
    """The bucket number holding ``ts``."""
    return int(bucket_numbers(np.array([ts.value], dtype=np.int64), freq)[0])


@dataclass
class _Key:
    """One grouping column as codes 0..cardinality-1 (0 = missing) and how to decode them."""

    name: str
    codes: np.ndarray
    cardinality: int
    labels: Any  # categories / uniques Index, or None for a period bucket
    dtype: Any
    offset: int = 0  # period buckets: the first bucket number


def _key(df: pd.DataFrame, col: str) -> _Key:
    s = df[col]
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes = s.cat.codes.to_numpy().astype(np.int64) + 1
        labels = s.cat.categories
    else:
        raw, labels = pd.factorize(s, use_na_sentinel=True)
        codes = raw.astype(np.int64) + 1
    return _Key(col, codes, len(labels) + 1, labels, s.dtype)


def _period_key(numbers: np.ndarray, name: str) -> _Key:
    lo = int(numbers.min()) if len(numbers) else 0
    hi = int(numbers.max()) if len(numbers) else 0
    return _Key(name, numbers - lo, hi - lo + 1, None, None, offset=lo)


def _decode(key: _Key, codes: np.ndarray, freq: str | None) -> Any:
    if key.labels is None:
        assert freq is not None
        return bucket_starts(codes + key.offset, freq)
    if isinstance(key.dtype, pd.CategoricalDtype):
        return pd.Categorical.from_codes(codes - 1, dtype=key.dtype)
    return pd.Index(key.labels).take(codes - 1, allow_fill=True, fill_value=None)


def _key_space(parts: Sequence[_Key]) -> int:
    """How many combined key values the ``parts`` can make (a Python int: never overflows)."""
    space = 1
    for p in parts:
        space *= p.cardinality
    return space


def _combined_key(parts: Sequence[_Key], n: int) -> np.ndarray:
    """Per row, the ``parts`` codes as one mixed-radix int64 (the first part most significant)."""
    key = np.zeros(n, dtype=np.int64)
    for p in parts:
        key = key * p.cardinality + p.codes
    return key


def _decode_keys(parts: Sequence[_Key], group_keys: np.ndarray, freq: str | None) -> dict[str, Any]:
    """The key columns (in ``parts`` order) of combined keys made by :func:`_combined_key`."""
    rest = group_keys
    decoded: list[tuple[str, Any]] = []
    for p in reversed(parts):
        rest, codes = np.divmod(rest, p.cardinality)
        decoded.append((p.name, _decode(p, codes, freq)))
    return dict(reversed(decoded))


def group_sum(
    df: pd.DataFrame,
    keys: Sequence[str],
    values: np.ndarray | Mapping[str, np.ndarray],
    *,
    period: np.ndarray | None = None,
    freq: str | None = None,
    period_name: str = "period_start",
    value_name: str = "quantity",
    counts: bool = False,
) -> pd.DataFrame:
    """Sum ``values`` per combination of ``keys`` (and ``period`` bucket numbers).

    ``values`` is one array (output column ``value_name``) or a mapping of output
    column -> array. Missing values add nothing (like ``Series.sum``); missing
    keys form their own group, so the total is kept. Groups come out in key-code
    order (categories order, then period). Key columns keep their dtype.
    """
    parts = [_key(df, c) for c in keys]
    if period is not None:
        parts.append(_period_key(period, period_name))
    n = len(df)
    named = dict(values) if isinstance(values, Mapping) else {value_name: values}
    weights = {k: np.nan_to_num(np.asarray(v, dtype=np.float64), nan=0.0) for k, v in named.items()}
    space = _key_space(parts)
    if space > _MAX_KEY:
        return _group_sum_pandas(df, keys, weights, period, freq, period_name, counts)
    key = _combined_key(parts, n)
    if space <= max(_DENSE_FACTOR * n, _DENSE_MIN):
        count = np.bincount(key, minlength=space)
        group_keys = np.flatnonzero(count)
        sums = {
            k: np.bincount(key, weights=w, minlength=space)[group_keys] for k, w in weights.items()
        }
        count = count[group_keys]
    else:
        # Sparse key space: hash the keys first (O(n), no sort), then sort the few groups.
        dense, uniques = pd.factorize(key, sort=False)
        order = np.argsort(uniques, kind="stable")
        sums = {
            k: np.bincount(dense, weights=w, minlength=len(uniques))[order]
            for k, w in weights.items()
        }
        count = np.bincount(dense, minlength=len(uniques))[order]
        group_keys = np.asarray(uniques)[order]
    out = _decode_keys(parts, group_keys, freq)
    out.update(sums)
    if counts:
        out["rows"] = count
    return pd.DataFrame(out)


def _group_sum_pandas(
    df: pd.DataFrame,
    keys: Sequence[str],
    weights: dict[str, np.ndarray],
    period: np.ndarray | None,
    freq: str | None,
    period_name: str,
    counts: bool,
) -> pd.DataFrame:
    # Only for key spaces too large for one int64 (many high-cardinality columns).
    frame = pd.DataFrame({c: df[c].to_numpy() for c in keys})
    if period is not None:
        frame[period_name] = period
    for k, w in weights.items():
        frame[k] = w
    cols = [*keys] + ([period_name] if period is not None else [])
    g = frame.groupby(cols, dropna=False, sort=True)
    out = g[list(weights)].sum().reset_index()
    if counts:
        out["rows"] = g.size().to_numpy()
    for c in keys:
        out[c] = out[c].astype(df[c].dtype)
    if period is not None:
        assert freq is not None
        out[period_name] = bucket_starts(out[period_name].to_numpy(), freq)
    return out


def select_rows(df: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    """``df[mask]`` without copying when every row is kept."""
    if mask.all():
        return df
    return df.loc[mask]


def provider_rows(df: pd.DataFrame, provider: str) -> pd.DataFrame:
    """The rows of one provider; raise SchemaError naming the providers found if none."""
    mask = (df["provider"] == provider).to_numpy(dtype=bool, na_value=False)
    if not mask.any():
        found = sorted(str(p) for p in df["provider"].dropna().unique())
        raise SchemaError(
            f"no {provider!r} rows in the frame (providers found: {', '.join(found) or 'none'})"
        )
    return select_rows(df, mask)


def one_account(
    df: pd.DataFrame, account: str | None, *, provider: str
) -> tuple[pd.DataFrame, str | None]:
    """Restrict ``df`` to one account; without ``account`` the frame must hold only one."""
    accounts = sorted(str(a) for a in df["account_id"].dropna().unique())
    if account is None:
        if len(accounts) > 1:
            raise InvalidParameter(
                "account",
                f"the {provider} rows hold several accounts ({', '.join(accounts)}); pick one",
            )
        return df, (accounts[0] if accounts else None)
    if account not in accounts:
        raise InvalidParameter(
            "account",
            f"no {provider} rows for account {account!r}; accounts found: {', '.join(accounts) or 'none'}",
        )
    mask = (df["account_id"] == account).to_numpy(dtype=bool, na_value=False)
    return df.loc[mask], account


def fmt(x: float) -> str:
    """A number for a sentence: thousands separators, few decimals for small values."""
    if not np.isfinite(x):
        return str(x)
    a = abs(x)
    if a >= 100 or a == 0:
        return f"{x:,.0f}"
    if a >= 1:
        return f"{x:,.1f}"
    return f"{x:.3g}"


def group_ids(df: pd.DataFrame, keys: Sequence[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Per row, the number (0..G-1) of its ``keys`` combination; and the G key rows.

    Groups are numbered in key-code order; missing keys form their own group.
    Without keys every row is group 0 (the key table then has one row, no columns).
    """
    n = len(df)
    if not keys:
        return np.zeros(n, dtype=np.int64), pd.DataFrame(index=range(1 if n else 0))
    parts = [_key(df, c) for c in keys]
    space = _key_space(parts)
    if space > _MAX_KEY:
        frame = pd.DataFrame({c: df[c].to_numpy() for c in keys})
        g = frame.groupby(list(keys), dropna=False, sort=True)
        ids = g.ngroup().to_numpy().astype(np.int64)
        table = g.size().reset_index()[list(keys)]
        for c in keys:
            table[c] = table[c].astype(df[c].dtype)
        return ids, table
    key = _combined_key(parts, n)
    if space <= max(_DENSE_FACTOR * n, _DENSE_MIN):
        present = np.bincount(key, minlength=space) > 0
        group_keys = np.flatnonzero(present)
        remap = np.cumsum(present) - 1
        ids = remap[key]
    else:
        dense, uniques = pd.factorize(key, sort=True)
        ids = dense.astype(np.int64)
        group_keys = np.asarray(uniques)
    return ids, pd.DataFrame(_decode_keys(parts, group_keys, None))


def data_end(df: pd.DataFrame) -> pd.Timestamp | None:
    """The end of the newest data: max ``period_end`` (a day after ``period_start`` where missing)."""
    if not len(df):
        return None
    start = df["period_start"].to_numpy(dtype="datetime64[ns]").view("i8")
    end = df["period_end"].to_numpy(dtype="datetime64[ns]").view("i8")
    nat = np.iinfo(np.int64).min
    end = np.where(end == nat, np.where(start == nat, nat, start + NS_PER_DAY), end)
    latest = int(end.max())
    return None if latest == nat else pd.Timestamp(latest, tz="UTC")


def data_start(df: pd.DataFrame) -> pd.Timestamp | None:
    """The earliest ``period_start``."""
    if not len(df):
        return None
    return pd.Timestamp(int(nanoseconds(df["period_start"], "period_start").min()), tz="UTC")
