"""One table across providers: this period's consumption, allowance, percent used and forecast."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from ..defaults import PROVIDERS
from ..errors import InvalidParameter
from ._common import (
    bucket_of,
    bucket_starts,
    check_frame,
    data_end,
    data_start,
    group_sum,
    longest_row,
    nanoseconds,
    timestamp,
)
from .aggregate import latest_names
from .events import Event, coerce_events
from .forecast import forecast
from .particle import ParticlePlan

__all__ = ["overview"]

Allowance = float | ParticlePlan

_COLUMNS = [
    "provider",
    "account_id",
    "account_name",
    "period_start",
    "period_end",
    "unit",
    "used",
    "allowance",
    "percent",
    "forecast",
    "forecast_lower",
    "forecast_upper",
    "forecast_percent",
    "runs_out_on",
    "history_days",
    "last_month_start",
    "last_month_used",
    "as_of",
    "complete_until",
    "note",
]


def overview(
    df: pd.DataFrame,
    *,
    allowances: Mapping[Any, Allowance] | None = None,
    as_of: Any = None,
    lag: timedelta | None = None,
    events: Any = None,
    rules: Any = None,
    team: str | None = None,
) -> pd.DataFrame:
    """One row per provider, account and billing unit for the current calendar month.

    Args:
        df: a unified usage frame with any mix of providers.
        allowances: the monthly allowance per account, keyed by ``account_id``,
            ``(provider, account_id)`` or the provider name alone (for every
            account of that provider): a number in the account's billing unit
            (IPUs for Informatica, data operations for Particle) or a
            :class:`ParticlePlan` (a plan over several months counts pro rata).
            HERE accounts bill several units; a number applies to each of them
            unless keyed ``(provider, account_id, unit)``.
        as_of: when the data was taken; default each provider's newest data.
        lag: how long data stays incomplete; default 48 h for HERE, none otherwise.
        events: planned changes for the forecast (see :class:`Event`): a list for
            every account, or a mapping keyed like ``allowances`` (``provider``,
            ``(provider, account_id)`` or ``account_id``) to a list.
        rules: allocation rules (docs/allocation.md): one table per team (a
            ``team`` column first), each on the team's rows and its share of
            shared rows; ``team`` keeps one team.

    Returns:
        ``provider``, ``account_id``, ``account_name``, ``period_start``,
        ``period_end``, ``unit`` (the billing unit), ``used``, ``allowance``,
        ``percent``, ``forecast`` (projected period total) with
        ``forecast_lower``/``forecast_upper``, ``forecast_percent``,
        ``runs_out_on``, ``history_days`` (the complete days the forecast's daily
        rate rests on: a forecast from 2 days says so), ``last_month_start`` and
        ``last_month_used`` (the last complete month, beside this one; 0 when the
        account used nothing then, NaN when the frame does not reach back to it),
        ``as_of``, ``complete_until`` and a ``note``.
    """
    df = check_frame(df)
    if rules is not None:
        from .allocation import AllocationRules, team_frame

        rules = AllocationRules.coerce(rules)
        teams = [team] if team is not None else list(rules.names)
        parts = [
            overview(
                team_frame(df, rules, t, strict=False),
                allowances=allowances,
                as_of=as_of,
                lag=lag,
                events=events,
            ).assign(team=t)
            for t in teams
        ]
        out = pd.concat(parts, ignore_index=True)
        return out[["team", *(c for c in out.columns if c != "team")]]
    if team is not None:
        raise InvalidParameter("team", "give the allocation rules too: rules=...")
    allowances = dict(allowances or {})
    present = [str(p) for p in df["provider"].dropna().unique()]
    order = [p for p in PROVIDERS if p in present] + sorted(
        p for p in present if p not in PROVIDERS
    )
    tables = []
    for provider in order:  # at most a few providers; each forecast is vectorised
        rows = df.loc[(df["provider"] == provider).to_numpy(dtype=bool, na_value=False)]
        quantity, note = "billable_quantity", ""
        if rows["billable_quantity"].isna().all():
            quantity, note = "quantity", "consumed quantity: the data has no billable quantity"
        ucol = "billable_unit" if quantity == "billable_quantity" else "unit"
        keys = rows[["account_id", ucol]].drop_duplicates()
        limits, notes = _limits(provider, keys, ucol, allowances)
        if longest_row(rows) > pd.Timedelta(days=1):
            # Monthly or summarized rows: the month's use is known, its course is not.
            fc = _month_totals(rows, quantity, ucol, as_of, limits)
            note = "; ".join(s for s in (note, "no forecast: the rows are not daily") if s)
        else:
            fc = _forecast(rows, provider, ucol, quantity, as_of, lag, limits, events)
        last_start, last_used = _last_month(rows, fc, quantity, ucol)
        names = latest_names(rows, "account_id", "account_name")
        table = pd.DataFrame(
            {
                "provider": provider,
                "account_id": fc["account_id"].astype(object),
                "account_name": fc["account_id"].astype(object).map(names),
                "period_start": fc["period_start"],
                "period_end": fc["period_end"],
                "unit": fc[ucol].astype(object),
                "used": fc["used"],
                "allowance": fc["allowance"],
                "percent": fc["percent"],
                "forecast": fc["projected"],
                "forecast_lower": fc["lower"],
                "forecast_upper": fc["upper"],
                "forecast_percent": fc["projected_percent"],
                "runs_out_on": fc["runs_out_on"],
                "history_days": (
                    fc["history_days"].astype("float64")
                    if "history_days" in fc.columns
                    else np.full(len(fc), np.nan)
                ),
                "last_month_start": last_start,
                "last_month_used": last_used,
                "as_of": fc["as_of"],
                "complete_until": fc["complete_until"],
            }
        )
        lagged = table["complete_until"] < table["as_of"]
        extra = [
            "; ".join(
                s
                for s in (
                    note,
                    notes.get((a, u), ""),
                    "days from complete_until on are provisional" if lg else "",
                )
                if s
            )
            for a, u, lg in zip(table["account_id"], table["unit"], lagged, strict=True)
        ]
        table["note"] = extra
        tables.append(table)
    if not tables:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in _COLUMNS})
    out = pd.concat(tables, ignore_index=True)
    for col in ("provider", "account_id", "account_name", "unit"):
        out[col] = out[col].astype("category")
    return out[_COLUMNS]


def _events_for(events: Any, provider: str, account: Any) -> tuple[Event, ...]:
    if not isinstance(events, Mapping):
        return coerce_events(events)
    for key in ((provider, account), account, provider):
        try:
            if key in events:
                return coerce_events(events[key])
        except TypeError:  # an unhashable account id
            continue
    return ()


def _forecast(
    rows: pd.DataFrame,
    provider: str,
    ucol: str,
    quantity: str,
    as_of: Any,
    lag: timedelta | None,
    limits: dict[tuple[Any, Any], float],
    events: Any,
) -> pd.DataFrame:
    """:func:`forecast` per account and unit; accounts with events of their own apart."""
    options: dict[str, Any] = {
        "by": ["account_id", ucol],
        "quantity": quantity,
        "freq": "MS",
        "as_of": as_of if as_of is not None else data_end(rows),
        "lag": lag,
        "allowance": limits or None,
    }
    if not events:
        return forecast(rows, **options)
    accounts = rows["account_id"].astype(object)
    plans = {a: _events_for(events, provider, a) for a in pd.unique(accounts)}
    distinct = {e for e in plans.values()}
    if len(distinct) == 1:
        return forecast(rows, events=next(iter(distinct)), **options)
    parts = []
    for planned in distinct:
        chosen = [a for a, e in plans.items() if e == planned]
        mask = accounts.isin([a for a in chosen if not pd.isna(a)]).to_numpy()
        if any(pd.isna(a) for a in chosen):
            mask |= accounts.isna().to_numpy()
        # The other accounts' rows stay, with nothing used: the same days, the same history.
        part = rows.assign(**{quantity: rows[quantity].where(mask, 0.0)})
        fc = forecast(part, events=planned, **options)
        fc_accounts = fc["account_id"].astype(object)
        keep = fc_accounts.isin([a for a in chosen if not pd.isna(a)]).to_numpy()
        if any(pd.isna(a) for a in chosen):
            keep |= fc_accounts.isna().to_numpy()
        parts.append(fc.loc[keep])
    return pd.concat(parts, ignore_index=True)


def _last_month(
    rows: pd.DataFrame, fc: pd.DataFrame, quantity: str, ucol: str
) -> tuple[pd.Series, np.ndarray]:
    """The month before each row's period, and what the account used in it."""
    start = pd.Timestamp(fc["period_start"].iloc[0]) if len(fc) else None
    if start is None:
        return pd.Series([], dtype="datetime64[ns, UTC]"), np.array([], dtype=np.float64)
    prev = bucket_starts(np.array([bucket_of(start, "MS") - 1]), "MS")[0]
    ns = nanoseconds(rows["period_start"], "period_start")
    inside = (ns >= prev.value) & (ns < start.value)
    first = data_start(rows)
    # NaN when the frame starts after the month began: its total would be partial.
    known = first is not None and first <= prev
    used = np.full(len(fc), np.nan if not known else 0.0)
    if known and inside.any():
        sums = group_sum(rows.loc[inside], ["account_id", ucol], rows[quantity].to_numpy()[inside])
        lookup = {
            _nan_key((a, u)): float(q)
            for a, u, q in zip(
                sums["account_id"].astype(object),
                sums[ucol].astype(object),
                sums["quantity"],
                strict=True,
            )
        }
        keys = zip(fc["account_id"].astype(object), fc[ucol].astype(object), strict=True)
        used = np.array([lookup.get(_nan_key(k), 0.0) for k in keys], dtype=np.float64)
    starts = pd.Series([prev] * len(fc), dtype="datetime64[ns, UTC]", index=fc.index)
    return starts, used


def _nan_key(key: tuple[Any, Any]) -> tuple[Any, Any]:
    # A missing account id is NaN on one side and NaN on the other: never equal.
    return tuple(None if (isinstance(v, float) and v != v) else v for v in key)  # type: ignore[return-value]


def _limits(
    provider: str, keys: pd.DataFrame, ucol: str, allowances: dict[Any, Allowance]
) -> tuple[dict[tuple[Any, Any], float], dict[tuple[Any, Any], str]]:
    """(account, unit) -> monthly allowance and a note on how it was derived."""
    limits: dict[tuple[Any, Any], float] = {}
    notes: dict[tuple[Any, Any], str] = {}
    for account, unit in keys.astype(object).itertuples(index=False, name=None):
        for key in ((provider, account, unit), (provider, account), account, provider):
            if key in allowances:
                value = allowances[key]
                break
        else:
            continue
        if key is account and isinstance(value, ParticlePlan) and provider != "particle":
            continue  # the same id may name accounts at several providers
        if isinstance(value, ParticlePlan):
            if provider != "particle":
                raise InvalidParameter(
                    "allowances", f"a ParticlePlan was given for {provider} account {account!r}"
                )
            limits[(account, unit)] = value.monthly_allowance
            notes[(account, unit)] = f"{value.name} plan" + (
                f", 1/{value.months} of its allowance" if value.months > 1 else ""
            )
        else:
            try:
                limits[(account, unit)] = float(value)
            except (TypeError, ValueError):
                raise InvalidParameter(
                    f"allowances[{account!r}]",
                    f"expected a number or a ParticlePlan, got {value!r}",
                ) from None
    return limits, notes


def _month_totals(
    rows: pd.DataFrame,
    quantity: str,
    ucol: str,
    as_of: Any,
    limits: dict[tuple[Any, Any], float],
) -> pd.DataFrame:
    """What :func:`forecast` returns, without a projection: the month's totals per account."""
    latest = timestamp(as_of, "as_of") if as_of is not None else data_end(rows)
    assert latest is not None  # rows is never empty here
    b = bucket_of(latest - pd.Timedelta(1, "ns"), "MS")
    start, end = bucket_starts(np.array([b, b + 1]), "MS")
    ns = nanoseconds(rows["period_start"], "period_start")
    inside = (ns >= start.value) & (ns < end.value)
    fc = group_sum(rows.loc[inside], ["account_id", ucol], rows[quantity].to_numpy()[inside])
    fc = fc.rename(columns={"quantity": "used"})
    keys = fc[["account_id", ucol]].astype(object).itertuples(index=False, name=None)
    fc["allowance"] = [limits.get(k, np.nan) for k in keys]
    for col in ("projected", "lower", "upper", "projected_percent"):
        fc[col] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        fc["percent"] = fc["used"] / fc["allowance"] * 100.0
    fc["period_start"], fc["period_end"] = start, end
    fc["as_of"] = fc["complete_until"] = latest
    fc["runs_out_on"] = pd.Series(pd.NaT, index=fc.index, dtype="datetime64[ns, UTC]")
    return fc
