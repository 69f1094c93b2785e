"""Who pays: every month's cost split between teams by allocation rules, to the cent.

How a month is allocated (docs/allocation.md):

1. Each row's cost comes from :func:`usage_analysis.costs` (so a plan's fixed
   costs, a Particle block's fee or minimum, are already spread over the rows
   that caused them; nothing is left over to split separately).
2. The first team whose ``match`` fits a row owns it; a later team fitting the
   same row is reported (:class:`AllocationWarning` naming both).
3. A row no team owns but a ``[[shared]]`` rule fits goes to that rule's pool
   (per month, provider and currency), split ``proportional`` (to each team's
   own cost of that provider in that month and currency; evenly when none of
   them has any), ``even``, or by fixed weights.
4. Everything else belongs to ``unallocated``, which is always listed.
5. Money is rounded once, to the cent, by largest remainder: per month and
   currency the teams' amounts (``unallocated`` included) add up exactly to the
   month's bill, ``round(Costs.combined cost, 2)``.

The rules look at a handful of columns, so the rows are first grouped by those
columns (plus month, provider, currency, meter, unit and resource): matching and
splitting work on that small table, whatever the number of rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._allocation_rules import (
    UNALLOCATED,
    AllocationRules,
    SharedRule,
    example_rules,
    key_frame,
    load_rules,
    match_mask,
    rule_columns,
)
from ._common import bucket_numbers, bucket_starts, group_ids, timestamp
from .costs import Costs
from .costs import costs as price

__all__ = [
    "UNALLOCATED",
    "Allocation",
    "AllocationRules",
    "AllocationWarning",
    "allocate",
    "example_rules",
    "load_rules",
    "row_teams",
    "split_cents",
    "team_frame",
    "with_team",
]

TABLE_COLUMNS = [
    "team",
    "provider",
    "currency",
    "cost",
    "quantity",
    "unit",
    "month",
    "own_cost",
    "shared_cost",
]
TOP_RESOURCES = 50  # per team and month: a statement shows the first few


class AllocationWarning(UserWarning):
    """Two teams match the same rows (the first one owns them), or a currency is left out."""


@dataclass(frozen=True, repr=False)
class Allocation:
    """What :func:`allocate` returns.

    Attributes:
        table: one row per month, team, provider and currency: ``cost`` (to the
            cent), ``own_cost`` (rows the team owns) and ``shared_cost`` (its
            shares of shared rules), ``quantity`` in ``unit`` (the billable unit;
            empty when a team's rows of a provider count several units).
        detail: the same per meter and unit, with ``source`` (``own`` or the
            shared rule) and its cost rounded within the team's cent amount.
        shares: per month, shared rule, provider, currency and team: the
            ``weight``, ``share`` (fraction) and ``cost`` it received, and ``rule``
            (the rule in words).
        resources: the cost of each resource (device, app, asset) a team owns.
        totals: the bill per month and currency the amounts add up to.
        warnings: the overlaps found (also issued as :class:`AllocationWarning`).
        as_of: when the data was taken (newest ``archived_at``, else data end).
    """

    table: pd.DataFrame
    detail: pd.DataFrame
    shares: pd.DataFrame
    resources: pd.DataFrame
    totals: pd.DataFrame
    rules: AllocationRules
    warnings: tuple[str, ...] = ()
    as_of: pd.Timestamp | None = None
    example_prices: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    def team(self, name: str, *, month: Any = None) -> pd.DataFrame:
        """The rows of ``table`` of one team (and month)."""
        if name != UNALLOCATED:
            self.rules.team(name)  # an unknown team is an error, not an empty table
        t = self.table[self.table["team"] == name]
        if month is not None:
            t = t[t["month"] == _month(month)]
        return t.reset_index(drop=True)

    def to_csv(self, path: str | Path | None = None) -> str:
        """The finance CSV (``table``, month as ``YYYY-MM``); written to ``path`` if given."""
        out = self.table.copy()
        out["month"] = [("" if pd.isna(m) else f"{m:%Y-%m}") for m in out["month"]]
        text = out.to_csv(index=False, float_format="%.10g")
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def __repr__(self) -> str:
        parts = [f"{c} {v:,.2f}" for c, v in self.totals.groupby("currency")["cost"].sum().items()]
        return (
            f"<Allocation {len(self.rules.teams)} team(s) + {UNALLOCATED}, "
            f"{len(self.totals)} month/currency total(s): {' + '.join(parts) or 'nothing'}>"
        )


def _month(value: Any) -> pd.Timestamp:
    return timestamp(value, "month").normalize().replace(day=1)


def allocate(
    costs: Costs | pd.DataFrame,
    rules: AllocationRules | Mapping[str, Any] | str | Path,
    *,
    month: Any = None,
    prices: Any = None,
    strict: bool = True,
) -> Allocation:
    """Split the cost of each month between the teams of ``rules``, to the cent.

    Args:
        costs: the result of :func:`usage_analysis.costs`, or a unified frame
            (priced here with ``prices``).
        rules: :class:`AllocationRules`, a mapping in the file's format, or the
            path of a rules TOML file.
        month: allocate this month only (``"2026-10"``); default every month.
        prices: the price book when ``costs`` is a frame (default: EXAMPLE prices).
        strict: a rule naming a column or value that occurs in no row is an error
            (``False``: it simply matches nothing).

    Raises:
        InvalidParameter: a rule names a column or value that occurs in no row,
            or the rules file is wrong.
    """
    rules = AllocationRules.coerce(rules)
    if not isinstance(costs, Costs):
        costs = price(costs, prices, forecast=False)
    rows = costs.rows
    as_of = _as_of(rows)
    table = group_costs(rows, rules)
    result = allocate_grouped(
        table, rules, totals=_totals(costs), month=month, as_of=as_of, strict=strict
    )
    return Allocation(**{**result.__dict__, "example_prices": costs.example})


def _as_of(rows: pd.DataFrame) -> pd.Timestamp | None:
    for col in ("archived_at", "period_end", "period_start"):
        if col in rows.columns and rows[col].notna().any():
            return pd.Timestamp(rows[col].max())
    return None


def _totals(costs: Costs) -> pd.DataFrame:
    t = costs.combined
    out = pd.DataFrame(
        {
            "month": pd.to_datetime(t["month"], utc=True),
            "currency": t["currency"].astype(object),
            "cost": t["cost"].astype(np.float64),
        }
    )
    return out[out["cost"].notna()].reset_index(drop=True)


def group_costs(rows: pd.DataFrame, rules: AllocationRules) -> pd.DataFrame:
    """Priced rows summed per month, provider, currency, meter, unit, resource and the
    columns the rules look in: the table :func:`allocate_grouped` works on."""
    keys = key_frame(rows, rule_columns(rules))
    ns = rows["period_start"].to_numpy(dtype="datetime64[ns]").view("i8")
    frame = pd.DataFrame(
        {
            "month": pd.Series(bucket_starts(bucket_numbers(ns, "MS"), "MS"), index=rows.index),
            "provider": rows["provider"],
            "currency": rows["currency"].astype("category"),
            "meter": rows["meter"]
            .astype(object)
            .where(rows["meter"].notna(), rows["meter_id"].astype(object))
            .astype("category"),
            "billable_unit": rows["billable_unit"],
            "resource_id": rows["resource_id"],
            "resource_name": rows["resource_name"],
        },
        index=rows.index,
    )
    for col in keys.columns:
        if col not in frame.columns:
            frame[col] = keys[col]
    cols = list(frame.columns)
    gid, table = group_ids(frame, cols)
    n = len(table)
    cost = rows["cost"].to_numpy(dtype=np.float64)
    q = rows["billable_quantity"].to_numpy(dtype=np.float64)
    table["cost"] = np.bincount(gid, weights=np.nan_to_num(cost), minlength=n)
    table["quantity"] = np.bincount(gid, weights=np.nan_to_num(q), minlength=n)
    table["priced"] = np.bincount(gid, weights=~np.isnan(cost), minlength=n) > 0
    return table


def allocate_grouped(
    table: pd.DataFrame,
    rules: AllocationRules,
    *,
    totals: pd.DataFrame,
    month: Any = None,
    as_of: pd.Timestamp | None = None,
    strict: bool = True,
) -> Allocation:
    """Allocate a grouped cost table (see :func:`group_costs`) against the month's bill.

    ``totals``: ``month``, ``currency``, ``cost`` (the bill, from ``Costs.combined``).
    """
    table = table.reset_index(drop=True)
    totals = totals.copy()
    if month is not None:
        m = _month(month)
        # Rule values are checked on every month given, so a team quiet this month is no error.
        owner, pool, notes = _assign(table, rules, strict)
        keep = (pd.to_datetime(table["month"], utc=True) == m).to_numpy()
        table, owner, pool = table[keep].reset_index(drop=True), owner[keep], pool[keep]
        totals = totals[pd.to_datetime(totals["month"], utc=True) == m]
    else:
        owner, pool, notes = _assign(table, rules, strict)
    if rules.currency is not None:
        other = totals[totals["currency"] != rules.currency]
        if len(other):
            text = ", ".join(f"{r.cost:,.2f} {r.currency}" for r in other.itertuples())
            msg = f"the rules allocate {rules.currency} only; left out: {text}"
            warnings.warn(msg, AllocationWarning, stacklevel=3)
            notes.append(msg)
        keep = (table["currency"].astype(object) == rules.currency).to_numpy()
        table, owner, pool = table[keep].reset_index(drop=True), owner[keep], pool[keep]
        totals = totals[totals["currency"] == rules.currency]
    names = rules.names
    codes = np.where(owner >= 0, owner, len(names) - 1)
    table = table.assign(
        team=pd.Categorical.from_codes(codes, categories=list(names)),
        pool=pool,
        month=pd.to_datetime(table["month"], utc=True),
    )
    # Everything below works on sums per meter (a few rows per team and month),
    # never on the (possibly million-row) resource table.
    small = _sum_by(
        table, ["month", "team", "pool", "provider", "currency", "meter", "billable_unit"]
    )
    owned = small[small["pool"] < 0]
    shares, shared_detail = _split_shared(owned, small[small["pool"] >= 0], rules)
    own_detail = owned.drop(columns="pool").assign(source="own")
    detail = pd.concat(
        [d for d in (own_detail, shared_detail) if len(d)] or [own_detail], ignore_index=True
    )
    detail = (
        detail.groupby(
            ["month", "team", "provider", "currency", "meter", "billable_unit", "source"],
            dropna=False,
            sort=True,
        )[["cost", "quantity"]]
        .sum()
        .reset_index()
    )
    out = _cells(detail, rules, totals)
    detail = _round_detail(detail, out)
    resources = _resources(table[table["pool"].to_numpy() < 0])
    totals = totals.assign(cost=totals["cost"].round(2)).reset_index(drop=True)
    return Allocation(
        table=out,
        detail=detail.rename(columns={"billable_unit": "unit"}),
        shares=shares,
        resources=resources,
        totals=totals,
        rules=rules,
        warnings=tuple(notes),
        as_of=as_of,
    )


def _assign(
    table: pd.DataFrame, rules: AllocationRules, strict: bool = True
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per row of the grouped table: the owning team (index, -1 none) and shared rule (-1 none)."""
    n = len(table)
    owner = np.full(n, -1, dtype=np.int64)
    keys = pd.DataFrame({c: _category(table[c]) for c in rule_columns(rules)}, index=table.index)
    notes: list[str] = []
    for t, team in enumerate(rules.teams):
        fits = (
            match_mask(keys, team.match, label=f"team {team.name!r}", check=strict)
            if n
            else np.zeros(0, bool)
        )
        clash = fits & (owner >= 0)
        for first in np.unique(owner[clash]):
            count = int((clash & (owner == first)).sum())
            msg = (
                f"teams {rules.teams[first].name!r} and {team.name!r} both match {count} "
                f"group(s) of rows; {rules.teams[first].name!r} (listed first) owns them"
            )
            warnings.warn(msg, AllocationWarning, stacklevel=4)
            notes.append(msg)
        owner[fits & (owner < 0)] = t
    pool = np.full(n, -1, dtype=np.int64)
    for s, rule in enumerate(rules.shared):
        fits = (
            match_mask(keys, rule.match, label=f"shared {rule.name!r}", check=strict)
            if n
            else np.zeros(0, bool)
        )
        pool[fits & (owner < 0) & (pool < 0)] = s
    return owner, pool, notes


def _category(s: pd.Series) -> pd.Series:
    return s if isinstance(s.dtype, pd.CategoricalDtype) else s.astype(object).astype("category")


def _split_shared(
    owned: pd.DataFrame, shared_rows: pd.DataFrame, rules: AllocationRules
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each shared pool split between its teams: the shares table and detail rows.

    Both inputs are the small per-meter sums; plain Python over their records.
    """
    share_cols = [
        "month",
        "rule",
        "provider",
        "currency",
        "team",
        "weight",
        "share",
        "cost",
        "description",
    ]
    if not len(shared_rows):
        return pd.DataFrame(columns=share_cols), pd.DataFrame()
    own: dict[tuple[Any, ...], float] = {}
    for r in owned[["month", "provider", "currency", "team", "cost"]].itertuples(index=False):
        key = (r.month, r.provider, r.currency, r.team)
        own[key] = own.get(key, 0.0) + float(r.cost)
    pools: dict[tuple[Any, ...], list[tuple[Any, Any, float, float]]] = {}
    cols = ["month", "pool", "provider", "currency", "meter", "billable_unit", "cost", "quantity"]
    for r in shared_rows[cols].itertuples(index=False):
        pools.setdefault((r.month, int(r.pool), r.provider, r.currency), []).append(
            (r.meter, r.billable_unit, float(r.cost), float(r.quantity))
        )
    records = []
    details = []
    for (month, p, provider, currency), meters in sorted(pools.items(), key=lambda kv: str(kv[0])):
        rule = rules.shared[p]
        weights = _weights(rule, rules.recipients(rule), own, (month, provider, currency))
        even = weights.pop("__even__", None) is not None
        how = rule.describe() + (" (no team had own cost: even)" if even else "")
        total_w = sum(weights.values())
        pool_cost = sum(m[2] for m in meters)
        for team, w in weights.items():
            frac = w / total_w
            records.append(
                (month, rule.name, provider, currency, team, w, frac, pool_cost * frac, how)
            )
            for meter, unit, cost, qty in meters:
                details.append(
                    (
                        month,
                        team,
                        provider,
                        currency,
                        meter,
                        unit,
                        rule.name,
                        cost * frac,
                        qty * frac,
                    )
                )
    detail_cols = [
        "month",
        "team",
        "provider",
        "currency",
        "meter",
        "billable_unit",
        "source",
        "cost",
        "quantity",
    ]
    return (
        pd.DataFrame.from_records(records, columns=share_cols),
        pd.DataFrame.from_records(details, columns=detail_cols),
    )


def _weights(
    rule: SharedRule,
    teams: tuple[str, ...],
    own: Mapping[tuple[Any, ...], float],
    key: tuple[Any, ...],
) -> dict[str, float]:
    if isinstance(rule.split, Mapping):
        return {t: float(w) for t, w in rule.split.items() if float(w) > 0}
    if rule.split == "even":
        return dict.fromkeys(teams, 1.0)
    month, provider, currency = key
    weights = {t: float(own.get((month, provider, currency, t), 0.0)) for t in teams}
    if not sum(weights.values()) > 0:
        return {**dict.fromkeys(teams, 1.0), "__even__": 1.0}
    return {t: w for t, w in weights.items() if w > 0}


def split_cents(amounts: np.ndarray, groups: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Round ``amounts`` to whole cents so each group's cents add up to ``targets[group]``.

    Largest remainder: every amount gets its floor, then the cents still missing
    go, one each, to the amounts with the largest fractions (ties: first listed).
    Returns integer cents.
    """
    cents = np.asarray(amounts, dtype=np.float64) * 100.0
    groups = np.asarray(groups, dtype=np.int64)
    # 1e-6: 0.29 * 100 is 28.999999999999996 in floating point; that is 29 cents.
    floors = np.floor(cents + 1e-6)
    frac = cents - floors
    missing = np.asarray(targets, dtype=np.int64) - np.bincount(
        groups, weights=floors, minlength=len(targets)
    ).round().astype(np.int64)
    order = np.lexsort((np.arange(len(cents)), -frac, groups))
    g_sorted = groups[order]
    starts = np.searchsorted(g_sorted, np.arange(len(targets)))
    rank = np.arange(len(order)) - starts[g_sorted]
    counts = np.bincount(groups, minlength=len(targets))
    need = missing[g_sorted]
    # Usually 0 <= need <= count; float noise beyond that goes round again.
    whole, part = np.divmod(np.abs(need), np.maximum(counts[g_sorted], 1))
    add = np.where(need >= 0, whole + (rank < part), 0)
    if (need < 0).any():
        rev = counts[g_sorted] - 1 - rank  # take from the smallest fractions first
        add = np.where(need < 0, -(whole + (rev < part)), add)
    out = np.empty(len(cents), dtype=np.int64)
    out[order] = floors[order].astype(np.int64) + add
    return out


def _cells(detail: pd.DataFrame, rules: AllocationRules, totals: pd.DataFrame) -> pd.DataFrame:
    """The team x provider x currency table, rounded to the bill per month and currency.

    ``detail`` is the small per-meter table: plain Python over its records.
    """
    cells: dict[tuple[Any, ...], dict[str, Any]] = {}
    cols = ["month", "team", "provider", "currency", "billable_unit", "source", "cost", "quantity"]
    for r in detail[cols].itertuples(index=False):
        key = (r.month, r.team, r.provider, r.currency)
        c = cells.setdefault(key, {"cost": 0.0, "own_cost": 0.0, "quantity": 0.0, "units": set()})
        c["cost"] += float(r.cost)
        c["quantity"] += float(r.quantity)
        if r.source == "own":
            c["own_cost"] += float(r.cost)
        if r.billable_unit is not None and not pd.isna(r.billable_unit):
            c["units"].add(str(r.billable_unit))
    # Every team shows each month (with 0 when it used nothing: in the month's first
    # currency), and unallocated in each month and currency of the bill.
    listed = {(k[0], k[1]) for k in cells}
    for r in totals.sort_values(["month", "currency"]).itertuples():
        for name in rules.names:
            if name == UNALLOCATED:
                if any(k[0] == r.month and k[1] == name and k[3] == r.currency for k in cells):
                    continue
            elif (r.month, name) in listed:
                continue
            listed.add((r.month, name))
            key = (r.month, name, _team_provider(rules, name), r.currency)
            cells[key] = {"cost": 0.0, "own_cost": 0.0, "quantity": 0.0, "units": set()}
    order = {n: i for i, n in enumerate(rules.names)}
    keys = sorted(cells, key=lambda k: (k[0], str(k[3]), order[k[1]], str(k[2])))
    bill = {(r.month, r.currency): round(r.cost * 100) for r in totals.itertuples()}
    groups: dict[tuple[Any, Any], int] = {}
    gid = np.array([groups.setdefault((k[0], k[3]), len(groups)) for k in keys], dtype=np.int64)
    exact = np.array([cells[k]["cost"] for k in keys], dtype=np.float64)
    sums = np.bincount(gid, weights=exact, minlength=len(groups))
    targets = np.array(
        [bill.get(g, round(float(sums[i]) * 100)) for g, i in groups.items()], dtype=np.int64
    )
    cents = split_cents(exact, gid, targets)
    # Own and shared parts split the cell's cents the same way (largest remainder).
    own = np.array([cells[k]["own_cost"] for k in keys], dtype=np.float64)
    n = len(keys)
    parts = split_cents(
        np.concatenate([own, np.maximum(exact - own, 0.0)]),
        np.concatenate([np.arange(n), np.arange(n)]),
        cents,
    )
    units = [cells[k]["units"] for k in keys]
    out = pd.DataFrame(
        {
            "team": [k[1] for k in keys],
            "provider": [k[2] for k in keys],
            "currency": [k[3] for k in keys],
            "cost": cents / 100.0,
            "quantity": [
                cells[k]["quantity"] if len(u) <= 1 else np.nan
                for k, u in zip(keys, units, strict=True)
            ],
            "unit": [next(iter(u)) if len(u) == 1 else ("mixed" if u else "") for u in units],
            "month": pd.to_datetime(pd.Series([k[0] for k in keys], dtype=object), utc=True),
            "own_cost": parts[:n] / 100.0,
            "shared_cost": parts[n:] / 100.0,
        }
    )
    return out[TABLE_COLUMNS]


def _team_provider(rules: AllocationRules, name: str) -> str:
    if name == UNALLOCATED:
        return ""
    providers = rules.team(name).match.get("provider", ())
    return providers[0] if len(providers) == 1 else ""


def _round_detail(detail: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """Meter rows rounded so they add up to their team cell's cents."""
    if not len(detail):
        return detail
    keys = ["month", "team", "provider", "currency"]
    cell_cents = {
        tuple(k[:4]): round(k[4] * 100)
        for k in cells[[*keys, "cost"]].itertuples(index=False, name=None)
    }
    index: dict[tuple[Any, ...], int] = {}
    gid = np.array(
        [index.setdefault(k, len(index)) for k in detail[keys].itertuples(index=False, name=None)],
        dtype=np.int64,
    )
    targets = np.array([cell_cents.get(k, 0) for k in index], dtype=np.int64)
    cents = split_cents(detail["cost"].to_numpy(dtype=np.float64), gid, targets)
    return detail.assign(cost=cents / 100.0)


def _resources(owned: pd.DataFrame) -> pd.DataFrame:
    """The costliest resources of each team and month (at most TOP_RESOURCES each)."""
    keys = ["month", "team", "provider", "currency", "resource_id", "resource_name"]
    keys.append("billable_unit")
    has = owned["resource_id"].notna().to_numpy() | owned["resource_name"].notna().to_numpy()
    out = _sum_by(owned[has], keys, objects=False)
    out = out.sort_values(["month", "team", "cost"], ascending=[True, True, False], kind="stable")
    out = out.groupby(["month", "team"], observed=True, sort=False).head(TOP_RESOURCES)
    for c in keys[1:]:
        out[c] = out[c].astype(object)
    return out.reset_index(drop=True).rename(columns={"billable_unit": "unit"})


def _sum_by(table: pd.DataFrame, keys: list[str], *, objects: bool = True) -> pd.DataFrame:
    """``cost`` and ``quantity`` summed per ``keys`` (strings as objects: a small table)."""
    gid, out = group_ids(table, keys)
    n = len(out)
    out = out.reset_index(drop=True)
    out["cost"] = np.bincount(gid, weights=table["cost"].to_numpy(np.float64), minlength=n)
    out["quantity"] = np.bincount(gid, weights=table["quantity"].to_numpy(np.float64), minlength=n)
    if objects:
        for c in keys:
            if isinstance(out[c].dtype, pd.CategoricalDtype) or out[c].dtype == object:
                out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out


def team_frame(
    costs: Costs | pd.DataFrame,
    rules: AllocationRules | Mapping[str, Any] | str | Path,
    team: str,
    *,
    prices: Any = None,
    strict: bool = True,
) -> pd.DataFrame:
    """The rows of one team: those it owns, and its share of shared rows.

    A shared row appears with ``quantity``, ``billable_quantity`` and
    ``allocated_cost`` multiplied by the team's share of that rule's pool (in
    that month, provider and currency); owned rows keep them whole. The frame
    keeps the unified columns, so every analysis (and a monitor) works on it.
    ``strict=False`` (monitors): rule values that occur nowhere match nothing,
    and overlaps are not warned about.
    """
    rules = AllocationRules.coerce(rules)
    if team != UNALLOCATED:
        rules.team(team)
    if not isinstance(costs, Costs):
        costs = price(costs, prices, forecast=False)
    rows = costs.rows
    with warnings.catch_warnings():
        if not strict:  # lenient (a monitor): overlaps are the allocation report's business
            warnings.simplefilter("ignore", AllocationWarning)
        result = allocate(costs, rules, strict=strict)
    owner, pool, _ = _assign_rows(key_frame(rows, rule_columns(rules)), rules)
    names = np.asarray(rules.names, dtype=object)
    mine = names[np.where(owner >= 0, owner, len(names) - 1)] == team
    weight = np.where(mine & (pool < 0), 1.0, 0.0)
    shares = result.shares[result.shares["team"] == team]
    if len(shares) and (pool >= 0).any():
        ns = rows["period_start"].to_numpy(dtype="datetime64[ns]").view("i8")
        month = pd.DatetimeIndex(bucket_starts(bucket_numbers(ns, "MS"), "MS"))
        lookup = {
            (pd.Timestamp(r.month), r.rule, r.provider, r.currency): r.share
            for r in shares.itertuples()
        }
        rule_names = [r.name for r in rules.shared]
        prov = rows["provider"].astype(object).to_numpy()
        cur = rows["currency"].astype(object).to_numpy()
        for i in np.flatnonzero(pool >= 0):
            weight[i] = lookup.get((month[i], rule_names[pool[i]], prov[i], cur[i]), 0.0)
    keep = weight > 0
    out = rows.loc[keep].copy()
    w = weight[keep]
    out["quantity"] = out["quantity"].to_numpy(dtype=np.float64) * w
    out["billable_quantity"] = out["billable_quantity"].to_numpy(dtype=np.float64) * w
    out["allocated_cost"] = out["cost"].to_numpy(dtype=np.float64) * w
    out["team"] = team
    return out


def row_teams(
    df: pd.DataFrame, rules: AllocationRules | Mapping[str, Any] | str | Path
) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a unified frame: the owning team (``unallocated`` when none, None
    for a shared row) and the shared rule's name (None for an owned row)."""
    rules = AllocationRules.coerce(rules)
    owner, pool, _ = _assign_rows(key_frame(df, rule_columns(rules)), rules)
    names = np.asarray(rules.names, dtype=object)
    team = names[np.where(owner >= 0, owner, len(names) - 1)]
    shared = np.full(len(df), None, dtype=object)
    in_pool = pool >= 0
    if rules.shared:
        labels = np.asarray([r.name for r in rules.shared], dtype=object)
        shared[in_pool] = labels[pool[in_pool]]
    team = team.astype(object)
    team[in_pool] = None
    return team, shared


def with_team(
    df: pd.DataFrame, rules: AllocationRules | Mapping[str, Any] | str | Path
) -> pd.DataFrame:
    """``df`` plus a categorical ``team`` column: the owning team, ``shared: <rule>``
    for a row a shared rule splits, or ``unallocated`` (rule values are not checked)."""
    rules = AllocationRules.coerce(rules)
    team, shared = row_teams(df, rules)
    label = np.where(pd.isna(team), np.char.add("shared: ", shared.astype(str)), team)
    order = [*rules.names[:-1], *(f"shared: {r.name}" for r in rules.shared), UNALLOCATED]
    out = df.copy(deep=False)
    out["team"] = pd.Categorical(label, categories=order)
    return out


def _assign_rows(
    keys: pd.DataFrame, rules: AllocationRules
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AllocationWarning)  # already said by allocate()
        return _assign(keys, rules, False)  # values were checked by allocate()
