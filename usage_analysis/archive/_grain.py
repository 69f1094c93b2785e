"""The grain of archived rows: which kind of report they came from.

The same usage reported at two grains (a HERE daily and a monthly report of
October, Informatica's SUMMARY and ASSET exports of one month) must never be
added up. So the grain is part of a row's identity in the archive: a report
replaces only rows of its own grain, and queries pick one grain per provider,
account and month.

============  ==================================================  ===========
provider      grains, in the order queries prefer them           from
============  ==================================================  ===========
particle      ``devices``, ``products``                          report kind
here          ``day``, ``hour``, ``month``, ``summarized``       detail level
informatica   ``SUMMARY``, ``PROJECT_FOLDER``, ``ASSET``,        export type
              ``JOB_LEVEL``
============  ==================================================  ===========
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidParameter, SchemaError

__all__ = ["GRAINS", "canonical_grain", "frame_grains", "grain_choice"]

# Per provider, every grain in the order the default view prefers it: the finest
# summary first (its totals are the provider's bill), the others on request.
GRAINS: dict[str, tuple[str, ...]] = {
    "particle": ("devices", "products"),
    "here": ("day", "hour", "month", "summarized"),
    "informatica": ("SUMMARY", "PROJECT_FOLDER", "ASSET", "JOB_LEVEL"),
}
_PROVIDER_OF = {g: p for p, grains in GRAINS.items() for g in grains}
_BY_LOWER = {g.lower(): g for g in _PROVIDER_OF}
# Report kinds of the readers (usage_analysis.readers.KINDS) -> grain.
_KIND_GRAIN = {
    ("particle", "devices"): "devices",
    ("particle", "products"): "products",
    ("informatica", "summary"): "SUMMARY",
    ("informatica", "project_folder"): "PROJECT_FOLDER",
    ("informatica", "asset"): "ASSET",
    ("informatica", "job_level"): "JOB_LEVEL",
    ("informatica", "job_level_ai"): "JOB_LEVEL",
}
# How long one row of a grain can last: a report replacing [start, end) also
# replaces earlier rows of its grain reaching into that range, and only months
# this far back can hold one. None: no bound (a summarized row spans the request).
MAX_ROW_SPAN: dict[str, pd.Timedelta | None] = {
    "devices": pd.Timedelta(days=31),
    "products": pd.Timedelta(days=31),
    "day": pd.Timedelta(days=1),
    "hour": pd.Timedelta(hours=1),
    "month": pd.Timedelta(days=31),
    "summarized": None,
    "SUMMARY": pd.Timedelta(days=1),
    "PROJECT_FOLDER": pd.Timedelta(days=1),
    "ASSET": pd.Timedelta(days=1),
    "JOB_LEVEL": None,
}
# Grains whose rows are events keyed by their start (an Informatica job that
# runs past midnight belongs to the report of the day it started): a report
# replaces the rows that start within it, not those that merely overlap it.
BY_START = frozenset({"JOB_LEVEL"})


def canonical_grain(value: object, parameter: str = "grain") -> str:
    """The archive's spelling of a grain name (case-insensitive), or InvalidParameter."""
    g = _BY_LOWER.get(str(value).strip().lower()) if isinstance(value, str) else None
    if g is None:
        known = "; ".join(f"{p}: {', '.join(gs)}" for p, gs in GRAINS.items())
        raise InvalidParameter(parameter, f"expected a grain ({known}), got {value!r}")
    return g


def provider_of(grain: str) -> str:
    return _PROVIDER_OF[grain]


def _from_attrs(attrs: Mapping[str, Any], provider: str) -> str | None:
    """The one grain the reader's attrs name, or None when they do not say."""
    if attrs.get("provider") not in (None, provider):
        return None
    if provider == "here":
        level = attrs.get("detail_level")
        return str(level) if level in GRAINS["here"] else None
    kinds = attrs.get("kinds") if attrs.get("kind") == "mixed" else [attrs.get("kind")]
    grains = {_KIND_GRAIN.get((provider, str(k))) for k in kinds or ()}
    if len(grains) == 1 and None not in grains:
        return grains.pop()
    return None


def _guess(provider: str, df: pd.DataFrame) -> np.ndarray:
    """Each row's grain from its values alone (frames that lost the reader's attrs).

    Particle: ``category`` says ``device`` or ``product``. HERE: the length of the
    period (an hour, a day, a calendar month, else summarized). Informatica: the
    columns each export fills (job-level rows have no IPU column, SUMMARY rows no
    resource, PROJECT_FOLDER rows no meter, ASSET rows both).
    """
    n = len(df)
    if provider == "particle":
        cat = df["category"].astype("string").str.lower()
        return np.where(cat.eq("product").fillna(False).to_numpy(bool), "products", "devices")
    if provider == "here":
        start, end = df["period_start"], df["period_end"]
        length = end - start
        month_end = start.dt.floor("D") + pd.offsets.MonthBegin(1)
        first = start.dt.day.eq(1) & start.eq(start.dt.floor("D"))
        out = np.full(n, "summarized", dtype=object)
        out[(first & end.eq(month_end)).fillna(False).to_numpy(bool)] = "month"
        out[length.eq(pd.Timedelta(days=1)).fillna(False).to_numpy(bool)] = "day"
        out[length.eq(pd.Timedelta(hours=1)).fillna(False).to_numpy(bool)] = "hour"
        return out
    if provider == "informatica":
        no_ipu = df["billable_unit"].isna().to_numpy(bool)
        no_resource = df["resource_id"].isna().to_numpy(bool)
        no_meter = (df["meter_id"].isna() & df["meter"].isna()).to_numpy(bool)
        out = np.full(n, "ASSET", dtype=object)
        out[no_meter] = "PROJECT_FOLDER"
        out[no_resource] = "SUMMARY"
        out[no_ipu] = "JOB_LEVEL"
        return out
    raise SchemaError(f"cannot archive rows of provider {provider!r}")


def frame_grains(df: pd.DataFrame, attrs: Mapping[str, Any], grain: str | None) -> pd.Series:
    """The grain of every row of a unified frame.

    In order: ``grain=`` (one grain for the whole report), a ``grain`` column
    (a frame from :func:`history` archived again), what the reader recorded in
    ``attrs`` (report kind, HERE detail level), else a guess from the rows.
    A grain that does not belong to a row's provider is refused.
    """
    providers = pd.Categorical(df["provider"])
    codes = providers.codes
    present = [(i, str(p)) for i, p in enumerate(providers.categories) if (codes == i).any()]
    values = np.full(len(df), None, dtype=object)
    if grain is not None:
        values[:] = canonical_grain(grain)
    elif "grain" in df.columns and df["grain"].notna().all():
        given = pd.Categorical(df["grain"])
        canon = np.array([canonical_grain(g) for g in given.categories], dtype=object)
        values = canon[given.codes]
    else:
        single: dict[int, str] = {}
        for i, provider in present:
            known = _from_attrs(attrs, provider)
            if known is not None and len(present) == 1:
                single[i] = known  # one provider, one grain: no per-row work
                continue
            rows = codes == i
            values[rows] = known if known is not None else _guess(provider, df[rows])
        if single:
            return _checked_constant(df, present[0][1], single[present[0][0]])
    wrong = [
        (p, g)
        for i, p in present
        for g in pd.unique(values[codes == i])
        if GRAINS.get(p) is not None and g not in GRAINS[p]
    ][:3]
    if wrong:
        raise InvalidParameter(
            "grain",
            "; ".join(f"{g!r} is not a {p} grain ({', '.join(GRAINS[p])})" for p, g in wrong),
        )
    out = pd.Series(pd.Categorical(values), index=df.index)
    return out


def _checked_constant(df: pd.DataFrame, provider: str, grain: str) -> pd.Series:
    """Every row of one provider at one grain (checked like the general case)."""
    if GRAINS.get(provider) is not None and grain not in GRAINS[provider]:
        raise InvalidParameter(
            "grain", f"{grain!r} is not a {provider} grain ({', '.join(GRAINS[provider])})"
        )
    codes = np.zeros(len(df), dtype=np.int8)
    return pd.Series(pd.Categorical.from_codes(codes, categories=[grain]), index=df.index)


def grain_choice(grain: str | Mapping[str, str] | None) -> dict[str, tuple[str, ...]]:
    """Per provider, the grains a query may show, most preferred first.

    ``None``: every grain, in the default order (the first present wins per month).
    A grain name: only that grain (of its provider; other providers show nothing).
    ``{provider: grain}``: that grain for those providers, the default for the rest.
    """
    if grain is None:
        return dict(GRAINS)
    if isinstance(grain, str):
        g = canonical_grain(grain)
        return {p: ((g,) if p == provider_of(g) else ()) for p in GRAINS}
    if not isinstance(grain, Mapping):
        raise InvalidParameter(
            "grain", f"expected a grain name or {{provider: grain}}, got {type(grain).__name__}"
        )
    choice = dict(GRAINS)
    for provider, value in grain.items():
        g = canonical_grain(value)
        if provider not in GRAINS or provider_of(g) != provider:
            raise InvalidParameter("grain", f"{value!r} is not a grain of provider {provider!r}")
        choice[provider] = (g,)
    return choice
