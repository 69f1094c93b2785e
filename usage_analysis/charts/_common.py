"""What every chart family shares: checking the frame, units, labels and nouns, dates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..analysis.aggregate import latest_names
from ..defaults import (
    CHART_MAX_UNITS,
    OTHER_LABEL,
    PROVIDER_NAMES,
)
from ..errors import InvalidParameter, SchemaError, UnitMismatch
from ..schema import coerce_unified, validate_unified
from ._style import (
    MISSING_LABEL,
)

# The human name of a column, per provider (a Particle resource is a device...).
_NOUNS: dict[str, dict[str, str]] = {
    "particle": {"product": "product", "resource_id": "device", "meter": "operation kind"},
    "here": {"product": "app / project", "resource_id": "app", "meter": "feature"},
    "informatica": {"product": "project", "resource_id": "asset", "meter": "meter"},
}


_GENERIC_NOUNS = {
    "provider": "provider",
    "account_id": "account",
    "account_name": "account",
    "product": "product",
    "resource_id": "resource",
    "resource_name": "resource",
    "meter_id": "meter",
    "meter": "meter",
    "category": "category",
    "unit": "unit",
}


# An id column is labelled with its name column when the frame has one.
_NAME_OF = {"resource_id": "resource_name", "account_id": "account_name", "meter_id": "meter"}


_FREQ_WORDS = {"D": "day", "W": "week", "MS": "month"}


_FREQ_ADJ = {"D": "daily", "W": "weekly", "MS": "monthly"}


# The title of a time axis: a bar or cell stands at its period's start, in UTC.
_PERIOD_AXIS = {"D": "day (UTC)", "W": "week from Monday (UTC)", "MS": "month (UTC)"}


_COARSER = {"D": "W", "W": "MS"}


_OFFSETS = {"D": pd.Timedelta(days=1), "W": pd.Timedelta(days=7), "MS": pd.DateOffset(months=1)}


_UNITS = {"quantity": "unit", "billable_quantity": "billable_unit"}


# Joins a treemap node's path into its id; labels may hold "/" or spaces, not this.
_SEP = "\x1f"


def _check(df: pd.DataFrame, quantity: str) -> tuple[pd.DataFrame, str]:
    """The frame as a unified frame and the unit column matching ``quantity``.

    A plain ``pd.concat`` of unified frames turns categoricals whose categories
    differ into objects: such a frame is coerced (``coerce_unified``), not refused.
    """
    if not isinstance(df, pd.DataFrame):
        raise SchemaError(f"expected a unified usage DataFrame, got {type(df).__name__}")
    df = as_unified(df)
    if quantity not in _UNITS:
        raise InvalidParameter(
            "quantity", f"expected 'quantity' or 'billable_quantity', got {quantity!r}"
        )
    return df, _UNITS[quantity]


def as_unified(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` itself when it is a unified frame, else its coerced copy (SchemaError if neither)."""
    try:
        validate_unified(df)
    except SchemaError:
        df = coerce_unified(df)
        validate_unified(df)
    return df


def _present(series: pd.Series) -> dict[Any, int]:
    """The values that occur and their row counts; from category codes when categorical.

    A bincount of the codes: no hashing of a million strings to learn that a frame
    holds one provider and two units.
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        cats = series.cat.categories
        counts = np.bincount(series.cat.codes.to_numpy() + 1, minlength=len(cats) + 1)[1:]
        return {cats[k]: int(counts[k]) for k in np.flatnonzero(counts)}
    found = series.value_counts(dropna=True)
    return {k: int(v) for k, v in found.items() if v > 0}


def _units(df: pd.DataFrame, ucol: str) -> list[str]:
    """The units present, most rows first (so the main unit gets the top panel)."""
    counts = _present(df[ucol])
    units = [str(u) for u in sorted(counts, key=lambda u: -counts[u])]
    if len(units) > CHART_MAX_UNITS:
        raise UnitMismatch(
            units, f"too many units for one figure (at most {CHART_MAX_UNITS}); filter by unit"
        )
    return units


def provider_name(provider: Any) -> str:
    """A provider key as people write it: 'here' -> 'HERE' (unknown keys unchanged)."""
    key = str(provider)
    return PROVIDER_NAMES.get(key.strip().lower(), key)


def format_quantity(value: float | None, unit: str | None = None) -> str:
    """A quantity for people: 1,686,556 · 277 · 42.03 · 0.00123, then the unit if given.

    Thousands separators; whole numbers from 100 on (decimals of a big number are
    noise); two decimals between 1 and 100; three significant digits below 1.
    """
    if value is None or not np.isfinite(value):
        text = "n/a"
    else:
        a = abs(value)
        if a >= 100 or value == round(value):
            text = f"{value:,.0f}"
        elif a >= 1:
            text = f"{value:,.2f}"
        else:
            text = f"{value:.3g}"
    return f"{text} {unit}" if unit else text


def _noun(df: pd.DataFrame, column: str) -> str:
    """What a column's values are called for this frame's provider (device, app, asset...)."""
    providers = list(_present(df["provider"]))
    if len(providers) == 1:
        noun = _NOUNS.get(str(providers[0]), {}).get(column)
        if noun:
            return noun
    return _GENERIC_NOUNS.get(column, column.replace("_", " "))


def _check_count(value: int | None, parameter: str, *, cap: int) -> int:
    """A whole number of groups in 1..cap; ``None`` means the cap (figures stay small)."""
    if value is None:
        return cap
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidParameter(parameter, f"expected a whole number >= 1, got {value!r}")
    if value > cap:
        raise InvalidParameter(
            parameter, f"at most {cap} groups fit in a readable figure, got {value}"
        )
    return value


def project_name(value: Any) -> str:
    """A HERE project's name from its HRN (``hrn:here:authorization::org1:project/fleet-prod``
    -> ``fleet-prod``); any other value as it is. Reports carry only the HRN."""
    text = str(value)
    if text.startswith("hrn:") and "project/" in text:
        return text.rsplit("project/", 1)[1] or text
    return text


def _label_names(df: pd.DataFrame, column: str, values: Sequence[Any]) -> dict[Any, str]:
    """The name of each value of ``column`` (each value's alone: the name on its newest
    row, a provider's or a project's), before :func:`_labels` tells equal names apart."""
    raw = [v for v in values if not _missing(v) and v != OTHER_LABEL]
    names: dict[Any, str] = {}
    name_col = _NAME_OF.get(column)
    if name_col and name_col in df.columns and raw:
        # Only the rows of the shown ids are looked at: cheap on a big frame.
        found = latest_names(df.loc[_rows_of(df[column], raw)], column, name_col)
        names = {k: str(v) for k, v in found.items()}
    if column == "provider":
        names = {v: provider_name(v) for v in raw}
    if column in ("project", "product"):
        # A HERE project HRN (product, when a row names no app) shows as its name.
        names = {v: project_name(v) for v in raw}
    return names


def _labels(
    df: pd.DataFrame,
    column: str,
    values: Sequence[Any],
    *,
    names: Mapping[Any, str] | None = None,
) -> dict[Any, str]:
    """Display labels for the values of ``column``: names for ids, unique, '(none)' for missing.

    ``names``: :func:`_label_names` of these values or more (looked up once for the
    panels of one chart); the labels are the same, each value's name being its own.
    """
    raw = [v for v in values if not _missing(v) and v != OTHER_LABEL]
    none_label = _missing_label(df, column)
    if names is None:
        names = _label_names(df, column, raw)
    plain = {v: names.get(v, str(v)) for v in raw}
    seen: dict[str, int] = {}
    for label in plain.values():
        seen[label] = seen.get(label, 0) + 1
    # Two devices may share a name: a piece of the id tells them apart, the whole
    # id when the pieces are alike too.
    short = {v: f"{plain[v]} ({str(v)[:8]})" for v in raw if seen[plain[v]] > 1}
    clash: dict[str, int] = {}
    for label in short.values():
        clash[label] = clash.get(label, 0) + 1
    out: dict[Any, str] = {}
    for v in values:
        if _missing(v):
            out[v] = none_label
        elif v == OTHER_LABEL:
            out[v] = OTHER_LABEL
        elif v in short:
            out[v] = short[v] if clash[short[v]] == 1 else f"{plain[v]} ({v})"
        else:
            out[v] = plain[v]
    return out


def _rows_of(series: pd.Series, values: Sequence[Any]) -> np.ndarray:
    """Boolean mask of the rows holding one of ``values`` (a gather on categorical codes)."""
    if not isinstance(series.dtype, pd.CategoricalDtype):
        return series.isin(values).to_numpy(dtype=bool, na_value=False)
    cats = series.cat.categories
    positions = cats.get_indexer(pd.Index(list(values), dtype=cats.dtype))
    table = np.zeros(len(cats) + 1, dtype=bool)
    table[positions[positions >= 0] + 1] = True
    return table[series.cat.codes.to_numpy() + 1]


def _missing(value: Any) -> bool:
    """A missing key: None, NaN, NA or an empty string (Particle sandbox devices' product)."""
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float):
        return bool(np.isnan(value))
    return isinstance(value, str) and not value.strip()


def _missing_label(df: pd.DataFrame, column: str) -> str:
    """What a missing value of ``column`` means: a Particle device without product is a sandbox one."""
    providers = list(_present(df["provider"]))
    if column == "product" and len(providers) == 1 and str(providers[0]) == "particle":
        return "(sandbox)"
    return MISSING_LABEL


def _span_periods(df: pd.DataFrame, freq: str) -> int:
    """How many ``freq`` periods the frame spans (from its first to its last record)."""
    if not len(df):
        return 0
    first, last = df["period_start"].min(), df["period_start"].max()
    days = (last - first).days + 1
    return {"D": days, "W": days // 7 + 2, "MS": days // 28 + 2}[freq]


def _fit_freq(df: pd.DataFrame, freq: str, series: int, limit: int) -> str:
    """``freq``, or a coarser one when the chart would need more than ``limit`` points."""
    while freq in _COARSER and _span_periods(df, freq) * max(series, 1) > limit:
        freq = _COARSER[freq]
    return freq


def _dates(values: Any) -> np.ndarray:
    """Period starts as 'YYYY-MM-DD' strings: exact for day buckets and compact in JSON.

    A fixed-width string array, not one of Python objects: plotly and the chart widget
    copy a figure's arrays several times, and an object array is copied string by
    string (two thirds of a chart widget's making); the JSON is the same.
    """
    return pd.DatetimeIndex(values).strftime("%Y-%m-%d").to_numpy(dtype="U10")


def _num(values: Any) -> np.ndarray:
    # float64 arrays travel as base64 in plotly's JSON: 8 bytes a value, exact.
    return np.asarray(values, dtype=np.float64)


def _period_range(starts: Any, freq: str) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(starts)
    if not len(idx):
        return idx
    step = {"D": "D", "W": "W-MON", "MS": "MS"}[freq]
    return pd.date_range(idx.min(), idx.max(), freq=step)


def _stamps(values: Any) -> np.ndarray:
    """Timestamps as ISO strings without a zone (plotly draws them as given: UTC)."""
    return pd.DatetimeIndex(values).strftime("%Y-%m-%d %H:%M").to_numpy(dtype=object)
