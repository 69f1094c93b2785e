"""Grains: which kind of report a usage row came from, and the one rule that picks them.

The same usage reported at two grains (a HERE daily and a monthly report of
October, Informatica's SUMMARY and ASSET exports of one month) must never be
added up. So the grain is part of a row's identity in the archive (a report
replaces only rows of its own grain), and :func:`choose_grains` is **the** rule
that decides, per provider, account and month, which grains count: the archive's
``history()``/``sql()`` and every analysis function (through
:func:`one_grain_per_period`) apply it, and nothing else decides.

The rule, per provider and account. Rows are grouped in *pieces*: one grain, one
month of ``period_start``; a piece reaches to the month of its latest
``period_end``. Months joined by a piece reaching across them form one *block*
(a summarized HERE row of a quarter makes the quarter one block); a block with
one grain shows it. Otherwise, in the block, each grain *covers* the time its
rows' periods cover (the union of ``[period_start, period_end)``). The grain
covering most is shown (ties: the order below, finest first); then each other
grain, most covering first, is shown too if its time does not overlap anything
shown: grains are combined only where they cannot count the same usage twice,
and a partial grain never wins over one covering more of the period.

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

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from . import providers
from .errors import InvalidParameter, SchemaError

__all__ = [
    "GRAINS",
    "canonical_grain",
    "choose_grains",
    "frame_grains",
    "grain_choice",
    "grain_ids",
    "one_grain_per_period",
]

# Per provider, every grain in the order the default view prefers it: the finest
# summary first (its totals are the provider's bill), the others on request. The
# tables come from the provider registry (usage_analysis.providers) and are
# rebuilt, in place, whenever a provider registers.
GRAINS: dict[str, tuple[str, ...]] = {}
_PROVIDER_OF: dict[str, str] = {}
_BY_LOWER: dict[str, str] = {}
# Report kinds of the readers (usage_analysis.readers.KINDS) -> grain.
_KIND_GRAIN: dict[tuple[str, str], str] = {}
_ALL_GRAINS: tuple[str, ...] = ()
_GRAIN_ID: dict[str, int] = {}
_OFFSET: dict[str, int] = {}


def _load_tables() -> None:
    """(Re)build the grain tables from the registry."""
    global _ALL_GRAINS
    registered = providers.registered()
    GRAINS.clear()
    GRAINS.update({p.name: p.grains for p in registered})
    _PROVIDER_OF.clear()
    _PROVIDER_OF.update({g: p for p, grains in GRAINS.items() for g in grains})
    _BY_LOWER.clear()
    _BY_LOWER.update({g.lower(): g for g in _PROVIDER_OF})
    _KIND_GRAIN.clear()
    _KIND_GRAIN.update({(p.name, k): g for p in registered for k, g in p.kind_grains.items()})
    _ALL_GRAINS = tuple(g for gs in GRAINS.values() for g in gs)
    _GRAIN_ID.clear()
    _GRAIN_ID.update({g: i for i, g in enumerate(_ALL_GRAINS)})
    _OFFSET.clear()
    _OFFSET.update({p: _GRAIN_ID[gs[0]] for p, gs in GRAINS.items()})


_load_tables()
providers.on_register(_load_tables)


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
    named = providers.get(provider).grain_attr
    if named is not None:  # the reader names the grain itself (HERE: detail_level)
        level = attrs.get(named)
        return str(level) if level in GRAINS[provider] else None
    kinds = attrs.get("kinds") if attrs.get("kind") == "mixed" else [attrs.get("kind")]
    grains = {_KIND_GRAIN.get((provider, str(k))) for k in kinds or ()}
    if len(grains) == 1 and None not in grains:
        return grains.pop()
    return None


def _guess_codes(provider: str, df: Mapping[str, Any]) -> np.ndarray:
    """Each row's grain from its values alone (frames that lost the reader's attrs),
    as positions in ``GRAINS[provider]``: the provider's ``guess_grain`` function."""
    order = GRAINS.get(provider)
    if order is None:
        raise SchemaError(f"cannot archive rows of provider {provider!r}")
    at = {g: np.int8(i) for i, g in enumerate(order)}
    guess = providers.get(provider).load("guess_grain")
    codes: np.ndarray = guess(df, at)
    return codes


def guess_particle(df: Mapping[str, Any], at: Mapping[str, np.int8]) -> np.ndarray:
    """Particle: ``category`` says ``device`` or ``product``."""
    cat = df["category"]
    if isinstance(cat.dtype, pd.CategoricalDtype):  # once per category, not per row
        names = pd.Index(cat.cat.categories.astype(str)).str.lower() == "product"
        codes = cat.cat.codes.to_numpy()
        product = np.append(names, False)[codes]  # code -1 (missing) takes the last
    else:
        product = cat.astype("string").str.lower().eq("product").fillna(False).to_numpy(bool)
    return np.where(product, at["products"], at["devices"]).astype(np.int8)


def guess_here(df: Mapping[str, Any], at: Mapping[str, np.int8]) -> np.ndarray:
    """HERE: the length of the period (an hour, a day, a calendar month, else summarized)."""
    n = len(df["provider"])
    start = np.asarray(df["period_start"].to_numpy(dtype="datetime64[ns]"))
    end = np.asarray(df["period_end"].to_numpy(dtype="datetime64[ns]"))
    length = (end - start).astype(np.int64)
    known = ~(np.isnat(start) | np.isnat(end))
    month = start.astype("datetime64[M]")
    calendar = (month.astype("datetime64[ns]") == start) & (
        (month + 1).astype("datetime64[ns]") == end
    )
    out = np.full(n, at["summarized"], dtype=np.int8)
    out[known & calendar] = at["month"]
    out[known & (length == 86_400 * 10**9)] = at["day"]
    out[known & (length == 3_600 * 10**9)] = at["hour"]
    return out


def guess_informatica(df: Mapping[str, Any], at: Mapping[str, np.int8]) -> np.ndarray:
    """Informatica: the columns each export fills (job-level rows have no IPU column,
    SUMMARY rows no resource, PROJECT_FOLDER rows no meter, ASSET rows both)."""
    n = len(df["provider"])
    no_ipu = df["billable_unit"].isna().to_numpy(bool)
    no_resource = df["resource_id"].isna().to_numpy(bool)
    no_meter = (df["meter_id"].isna() & df["meter"].isna()).to_numpy(bool)
    out = np.full(n, at["ASSET"], dtype=np.int8)
    out[no_meter] = at["PROJECT_FOLDER"]
    out[no_resource] = at["SUMMARY"]
    out[no_ipu] = at["JOB_LEVEL"]
    return out


def _guess(provider: str, df: pd.DataFrame) -> np.ndarray:
    """Each row's grain name from its values alone (see :func:`_guess_codes`)."""
    if provider not in GRAINS:
        raise SchemaError(f"cannot archive rows of provider {provider!r}")
    return np.array(GRAINS[provider], dtype=object)[_guess_codes(provider, df)]


_GUESS_COLUMNS = (
    "provider", "category", "period_start", "period_end",
    "billable_unit", "resource_id", "meter_id", "meter",
)  # fmt: skip


def grain_ids(df: pd.DataFrame) -> np.ndarray:
    """Each row's grain as a position in ``_ALL_GRAINS`` (-1: a provider the rule does
    not know), the rule's fast path: integer work, no string per row."""
    n = len(df)
    ids = np.full(n, -1, dtype=np.int16)
    providers = df["provider"]
    cat = providers.cat if isinstance(providers.dtype, pd.CategoricalDtype) else None
    categories = list(cat.categories) if cat is not None else list(pd.unique(providers.dropna()))
    codes = cat.codes.to_numpy() if cat is not None else None
    given = df["grain"] if "grain" in df.columns else None
    if given is not None and given.notna().all():
        g = pd.Categorical(given)
        lookup = np.array([_GRAIN_ID.get(str(c), -1) for c in g.categories], dtype=np.int16)
        return lookup[g.codes] if len(lookup) else ids
    for i, provider in enumerate(categories):
        rows = (codes == i) if codes is not None else (providers == provider).to_numpy(bool)
        if provider not in GRAINS or not rows.any():
            continue
        known = _from_attrs(df.attrs, str(provider))
        if known is not None:
            ids[rows] = _GRAIN_ID[known]
            continue
        if rows.all():
            part: Mapping[str, Any] = df
        else:
            part = {c: df[c][rows] for c in _GUESS_COLUMNS if c in df.columns}
        ids[rows] = _OFFSET[str(provider)] + _guess_codes(str(provider), part)
    return ids


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


# --- the rule ------------------------------------------------------------------------

_US_PER_MONTH_BOUND = 2**62  # no period reaches this far: an upper bound that never wraps


def _month_start_us(month: np.ndarray) -> np.ndarray:
    """Microseconds since 1970 at the start of each month (months since 1970-01)."""
    return month.astype("datetime64[M]").astype("datetime64[us]").astype(np.int64)


def month_index(ts_us: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of timestamps in microseconds since 1970 (any year)."""
    return ts_us.astype("datetime64[us]").astype("datetime64[M]").astype(np.int64)


def _merged(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The union of intervals ``[start, end)`` as sorted disjoint intervals."""
    if not len(start):
        return start, end
    order = np.argsort(start, kind="stable")
    s, e = start[order], end[order]
    reach = np.maximum.accumulate(e)
    new = np.ones(len(s), bool)
    new[1:] = s[1:] > reach[:-1]  # a gap before this interval: a new run starts
    run = np.cumsum(new) - 1
    starts = s[new]
    ends = np.zeros(len(starts), np.int64)
    np.maximum.at(ends, run, e)
    return starts, ends


def _overlap(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> bool:
    """Whether two unions of disjoint sorted intervals share any time."""
    if not len(a[0]) or not len(b[0]):
        return False
    # For each interval of a: the intervals of b starting before it ends.
    upto = np.searchsorted(b[0], a[1], side="left")
    has = upto > 0
    if not has.any():
        return False
    last_end = np.maximum.accumulate(b[1])[np.maximum(upto - 1, 0)]
    return bool((has & (last_end > a[0])).any())


def choose_grains(
    pieces: pd.DataFrame,
    choice: Mapping[str, tuple[str, ...]],
    intervals: Callable[[pd.DataFrame], pd.DataFrame],
) -> set[tuple[Any, Any, str, int]]:
    """The one grain rule (see the module docstring): which pieces count.

    ``pieces``: one row per (``provider``, ``account_id``, ``grain``, ``month``)
    with ``month`` (months since 1970-01, of the rows' ``period_start``) and
    ``reach`` (the month of the latest ``period_end``). ``choice``: per provider,
    the grains allowed, in order of preference (:func:`grain_choice`).
    ``intervals(pieces)`` gives the distinct row periods of some pieces
    (``provider``, ``account_id``, ``grain``, ``start``, ``end`` in microseconds,
    ``end`` > ``start``); it is called once, and only for blocks holding more
    than one grain. Returns the chosen ``(provider, account_id, grain, month)``.
    Every loop runs over pieces, never over the months between them.
    """
    chosen: set[tuple[Any, Any, str, int]] = set()
    contested: list[tuple[tuple[Any, Any], list[str], int, int, pd.DataFrame]] = []
    if pieces.empty:
        return chosen
    rows = pieces.copy()
    rows["reach"] = np.maximum(rows["reach"].to_numpy(np.int64), rows["month"].to_numpy(np.int64))
    for key, group in rows.groupby(["provider", "account_id"], dropna=False, sort=False):
        provider, account = (None if pd.isna(v) else v for v in key)
        order = [g for g in choice.get(str(provider), ()) if g in set(group["grain"])]
        if str(provider) not in choice:  # a provider the rule does not know: as it is
            order = sorted(set(map(str, group["grain"])))
        group = group[group["grain"].isin(order)].sort_values("month", kind="stable")
        if group.empty:
            continue
        # Blocks: months joined by pieces reaching across them (one pass over pieces).
        months = group["month"].to_numpy(np.int64)
        reach = group["reach"].to_numpy(np.int64)
        ends = np.maximum.accumulate(reach)
        block = np.cumsum(np.r_[True, months[1:] > ends[:-1]])
        for _, part in group.groupby(block, sort=False):
            grains = [g for g in order if g in set(part["grain"])]
            if len(grains) == 1:
                chosen.update(
                    (provider, account, g, int(m))
                    for g, m in zip(part["grain"], part["month"], strict=True)
                )
            else:
                low, high = int(part["month"].min()), int(part["reach"].max())
                contested.append(((provider, account), grains, low, high, part))
    if not contested:
        return chosen
    spans = intervals(pd.concat([c[4] for c in contested], ignore_index=True))
    by_key = {
        tuple(None if pd.isna(v) else v for v in k): v
        for k, v in spans.groupby(["provider", "account_id", "grain"], dropna=False)
    }
    for (provider, account), grains, low, high, part in contested:
        lo = int(_month_start_us(np.array([low]))[0])
        hi = int(_month_start_us(np.array([high + 1]))[0])
        cover: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for g in grains:
            got = by_key.get((provider, account, g))
            if got is None:
                cover[g] = (np.array([], np.int64), np.array([], np.int64))
                continue
            s = np.clip(got["start"].to_numpy(np.int64), lo, hi)
            e = np.clip(got["end"].to_numpy(np.int64), lo, hi)
            keep = e > s
            cover[g] = _merged(s[keep], e[keep])
        length = {g: int((cover[g][1] - cover[g][0]).sum()) for g in grains}
        ranked = sorted(grains, key=lambda g: (-length[g], grains.index(g)))
        shown: list[str] = []
        for g in ranked:
            if not shown or not any(_overlap(cover[g], cover[o]) for o in shown):
                shown.append(g)
        for g, m in zip(part["grain"], part["month"], strict=True):
            if g in shown:
                chosen.add((provider, account, g, int(m)))
    return chosen


def _us(column: pd.Series) -> np.ndarray:
    values = column.to_numpy(dtype="datetime64[ns]")
    return np.where(np.isnat(values), np.iinfo(np.int64).min, values.astype(np.int64) // 1000)


def one_grain_per_period(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of a unified frame that the grain rule counts (``df`` itself, no copy,
    when every provider's rows are of one grain). Every analysis function applies
    it (``analysis._common.check_frame``), as ``history()`` and ``sql()`` do."""
    if df.empty:
        return df
    ids = grain_ids(df)
    provider = df["provider"]
    if isinstance(provider.dtype, pd.CategoricalDtype):
        pcodes = provider.cat.codes.to_numpy().astype(np.int64)
    else:
        pcodes = pd.factorize(provider)[0].astype(np.int64)
    pairs = np.unique(pcodes * 1024 + ids.astype(np.int64) + 1)
    if len(np.unique(pairs // 1024)) == len(pairs):
        return df  # one grain per provider: nothing to choose
    names = np.array([*_ALL_GRAINS, ""], dtype=object)
    grains = names[np.where(ids < 0, len(_ALL_GRAINS), ids)]
    start = _us(df["period_start"])
    end = _us(df["period_end"])
    nat = np.iinfo(np.int64).min
    end = np.where((end == nat) | (end <= start), start + 1, end)
    valid = start != nat
    frame = pd.DataFrame(
        {
            "provider": provider.astype(object).to_numpy(),
            "account_id": df["account_id"].astype(object).to_numpy(),
            "grain": grains,
            "month": np.where(valid, month_index(np.where(valid, start, 0)), -1),
            "start": start,
            "end": end,
        }
    )
    keys = ["provider", "account_id", "grain", "month"]
    pieces = (
        frame[valid]
        .groupby(keys, dropna=False, sort=False)
        .agg(reach_end=("end", "max"))
        .reset_index()
    )
    pieces["reach"] = month_index(pieces["reach_end"].to_numpy(np.int64) - 1)
    for k in ("provider", "account_id"):
        pieces[k] = pieces[k].astype(object).where(pieces[k].notna(), None)

    def spans(wanted: pd.DataFrame) -> pd.DataFrame:
        sel = frame.merge(wanted[keys], on=keys, how="inner")
        return sel[["provider", "account_id", "grain", "start", "end"]].drop_duplicates()

    chosen = choose_grains(pieces, grain_choice(None), spans)
    picked = pd.DataFrame(list(chosen), columns=keys).assign(_keep=True)
    mask = frame.merge(picked, on=keys, how="left")["_keep"].notna().to_numpy(bool).copy()
    mask |= ~valid  # a row without a start has no month: the rule cannot judge it
    if mask.all():
        return df
    return df[mask]
