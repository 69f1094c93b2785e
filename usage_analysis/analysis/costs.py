"""Money: the cost of every unified row from a price book, spend tables and a month-end forecast.

How each provider's month is priced (the *pricing group* is one account and
calendar month, and for HERE also one feature):

- Particle: ``blocks_needed x block_price``, where a month needs
  ``max(contracted blocks, ceil(data ops / 720,000), ceil(devices / 100))``
  Basic blocks; blocks beyond the contracted ones are ``overage_blocks``.
- Informatica: IPUs x the contracted price per IPU.
- HERE: per feature, ``max(quantity - free allowance, 0) x price per unit``
  from the rate card (the free allowance counts per realm and month).

A group's cost is shared among its rows in proportion to their billable
quantity (evenly when the group used nothing but still costs, e.g. Particle's
minimum block), so the row costs add up to the group's cost exactly. Rows that
cannot be priced (a provider missing from the book, a HERE feature the card does
not know, Informatica job-level rows that carry no IPUs) have a missing cost and
are listed in ``Costs.unpriced``; they are never priced at 0.

Costs never mix currencies: every spend table groups by ``currency``, and
:meth:`Costs.total` refuses to add two currencies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidParameter, SchemaError, UnitMismatch
from ._common import NS_PER_DAY, bucket_numbers, bucket_starts, check_frame, fmt, timestamp
from .forecast import forecast as quantity_forecast
from .here import RateCard
from .prices import InformaticaPrices, ParticlePrices, PriceBook

__all__ = ["Costs", "costs"]

_GROUP_KEYS: dict[str, list[str]] = {
    "particle": ["account_id", "month"],
    "informatica": ["account_id", "month"],
    "here": ["account_id", "month", "meter_id", "meter", "billable_unit"],
}
_SPEND_KEYS = ["provider", "account_id", "month", "currency"]


@dataclass(frozen=True, repr=False)
class Costs:
    """What :func:`costs` returns.

    Attributes:
        rows: the input frame plus ``cost`` (float) and ``currency`` (category).
        detail: one row per pricing group (provider, account, month and, for
            HERE, feature) with the quantity, the price, Particle's blocks and
            overage blocks, the free allowance, ``cost`` and ``currency``.
        spend: spend per ``provider``, ``account_id``, ``month`` and ``currency``.
        combined: spend across providers per ``month`` and ``currency``.
        forecast: month-end cost forecast per provider, account and currency:
            ``spent`` so far, ``projected``, ``lower``..``upper`` (the quantity
            forecast's interval, priced) and ``history_days`` it rests on.
        combined_forecast: the same per month and currency across providers;
            its bounds add the groups' bounds (a conservative interval).
        unpriced: what could not be priced, with the reason.
        prices: the :class:`PriceBook` used; ``example`` says if its prices are examples.
    """

    rows: pd.DataFrame
    detail: pd.DataFrame
    spend: pd.DataFrame
    combined: pd.DataFrame
    forecast: pd.DataFrame
    combined_forecast: pd.DataFrame
    unpriced: pd.DataFrame
    prices: PriceBook

    @property
    def example(self) -> bool:
        """True when the prices are the shipped EXAMPLE prices (not a contract)."""
        return self.prices.example

    def total(self, *, month: Any = None) -> tuple[float, str]:
        """``(amount, currency)`` of everything priced (or of one ``month``).

        Raises:
            UnitMismatch: the costs are in more than one currency.
        """
        table = self.combined
        if month is not None:
            start = timestamp(month, "month").normalize()
            table = table[table["month"] == start.replace(day=1)]
        currencies = sorted(str(c) for c in table["currency"].dropna().unique())
        if len(currencies) > 1:
            raise UnitMismatch(currencies, hint="costs in different currencies are never added")
        if not currencies:
            raise InvalidParameter("month", "nothing was priced in that period")
        return float(table["cost"].sum()), currencies[0]

    def __repr__(self) -> str:
        label = "EXAMPLE prices" if self.example else "prices"
        parts = [f"{fmt(float(r.cost))} {r.currency}" for r in self.combined.itertuples()]
        return (
            f"<Costs from {label} ({self.prices.source}): {len(self.rows)} rows, "
            f"{len(self.spend)} spend rows, total {' + '.join(parts) or 'nothing'}; "
            f"{len(self.unpriced)} unpriced group(s)>"
        )


def costs(
    df: pd.DataFrame,
    prices: PriceBook | Mapping[str, Any] | str | Path | None = None,
    *,
    as_of: Any = None,
    forecast: bool = True,
    events: Any = None,
) -> Costs:
    """Price every row of a unified frame and sum spend per provider, account and month.

    Args:
        df: a unified usage frame (any mix of the three providers).
        prices: a :class:`PriceBook`, a mapping in the book's format, the path of
            a TOML price book, or ``None`` for the shipped EXAMPLE prices.
        as_of: when the data was taken, for the month-end forecast (default: the
            end of each provider's newest data).
        forecast: compute the month-end forecast (``False`` leaves its tables empty).
        events: planned changes the quantity forecast takes into account (see
            :func:`usage_analysis.forecast`), priced like the month: a list for
            every provider, or a mapping provider -> list.

    Returns:
        A :class:`Costs` (row costs, detail, spend, combined spend, forecasts).

    Overlapping report kinds (a Particle devices and products report, an
    Informatica summary and its asset breakdown) are counted once, by the grain
    rule every analysis function applies (:mod:`usage_analysis.grains`).

    Raises:
        UnitMismatch: the rate card prices a HERE feature in another unit.
    """
    df = check_frame(df)
    book = PriceBook.coerce(prices)
    n = len(df)
    row_cost = np.full(n, np.nan)
    row_currency = np.full(n, None, dtype=object)
    details: list[pd.DataFrame] = []
    unpriced: list[pd.DataFrame] = []
    forecasts: list[pd.DataFrame] = []
    providers = df["provider"].astype(object).to_numpy()
    for provider in ("particle", "informatica", "here"):
        where = np.flatnonzero(providers == provider)
        if not len(where):
            continue
        rows = df.iloc[where]
        detail, cost, currency, missing = _price_provider(rows, provider, book)
        row_cost[where] = cost
        row_currency[where] = currency
        details.append(detail)
        unpriced.append(missing)
        if forecast:
            planned = events.get(provider) if isinstance(events, Mapping) else events
            forecasts.append(_forecast_provider(rows, provider, book, detail, as_of, planned))
    found = pd.unique(df["provider"].dropna().astype(str))
    others = sorted(str(p) for p in found if p not in _GROUP_KEYS)
    if others:
        raise SchemaError(f"cannot price rows of unknown providers: {', '.join(others)}")

    out = df.copy()
    out["cost"] = row_cost
    out["currency"] = pd.Categorical(row_currency)
    detail = _concat(details, _DETAIL_COLUMNS)
    spend = _spend(detail)
    combined = _sum(spend, ["month", "currency"])
    fc = _concat(forecasts, _FORECAST_COLUMNS)
    fc_spend = _sum(
        fc, ["provider", "account_id", "month", "currency"], extra=("history_days", "min")
    )
    fc_combined = _sum(fc, ["month", "currency"], extra=("history_days", "min"))
    result = Costs(
        rows=out,
        detail=detail,
        spend=spend,
        combined=combined,
        forecast=fc_spend,
        combined_forecast=fc_combined,
        unpriced=_concat(unpriced, _UNPRICED_COLUMNS),
        prices=book,
    )
    for table in (out, detail, spend, combined, fc_spend, fc_combined):
        table.attrs["example_prices"] = book.example
        table.attrs["prices"] = book.source
    return result


_DETAIL_COLUMNS = [
    "provider",
    "account_id",
    "month",
    "meter_id",
    "meter",
    "billable_unit",
    "quantity",
    "rows",
    "devices",
    "blocks_included",
    "blocks_needed",
    "overage_blocks",
    "free_allowance",
    "chargeable_quantity",
    "unit_price",
    "cost",
    "currency",
]
_FORECAST_COLUMNS = [
    "provider",
    "account_id",
    "month",
    "currency",
    "as_of",
    "history_days",
    "spent",
    "projected",
    "lower",
    "upper",
]
_UNPRICED_COLUMNS = ["provider", "account_id", "meter_id", "meter", "rows", "reason"]


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    return pd.concat(frames, ignore_index=True)[columns]


def _price_provider(
    rows: pd.DataFrame, provider: str, book: PriceBook
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, pd.DataFrame]:
    keys = _GROUP_KEYS[provider]
    # Calendar month of each row; rows without a date (HERE summarized) share NaT.
    ns = rows["period_start"].to_numpy(dtype="datetime64[ns]").view("i8")
    month = pd.Series(bucket_starts(bucket_numbers(ns, "MS"), "MS"), index=rows.index)
    q = rows["billable_quantity"].to_numpy(dtype=np.float64)
    has_q = ~np.isnan(q)
    work = pd.DataFrame(
        {k: (month if k == "month" else rows[k].astype(object)) for k in keys}, index=rows.index
    )
    names = _account_names(rows)
    n = len(rows)
    cost = np.full(n, np.nan)
    currency = np.full(n, None, dtype=object)
    missing: list[dict[str, Any]] = []
    if not has_q.all():
        no_q = rows.loc[~has_q]
        for (acct, meter_id, meter), count in (
            no_q.groupby(["account_id", "meter_id", "meter"], observed=True, dropna=False)
            .size()
            .items()
        ):
            if count:
                missing.append(
                    _missing(provider, acct, meter_id, meter, int(count), "no billable quantity")
                )
    priced_rows = np.flatnonzero(has_q)
    sub = work.iloc[priced_rows]
    grouped = sub.groupby(keys, dropna=False, sort=True)
    gid = grouped.ngroup().to_numpy()
    qs = q[priced_rows]
    totals = np.bincount(gid, weights=qs, minlength=grouped.ngroups)
    counts = np.bincount(gid, minlength=grouped.ngroups)
    devices = _devices_per_group(rows.iloc[priced_rows], gid, qs, grouped.ngroups, provider)
    records = []
    for g, key in enumerate(_group_keys(grouped)):
        rec = dict(zip(keys, key, strict=True))
        acct = None if pd.isna(rec["account_id"]) else str(rec["account_id"])
        rec.update(provider=provider, quantity=float(totals[g]), rows=int(counts[g]))
        n_dev = int(devices[g]) if devices is not None else 0
        priced = _price_group(provider, book, acct, names.get(acct), rec, float(totals[g]), n_dev)
        if devices is not None:
            priced["devices"] = n_dev
        rec.update(priced)
        if rec.get("cost") is None or pd.isna(rec["cost"]):
            missing.append(
                _missing(
                    provider,
                    acct,
                    rec.get("meter_id"),
                    rec.get("meter"),
                    int(counts[g]),
                    rec.pop("reason"),
                )
            )
        rec.pop("reason", None)
        records.append(rec)
    detail = pd.DataFrame.from_records(records, columns=_DETAIL_COLUMNS)
    g_cost = detail["cost"].to_numpy(dtype=np.float64)
    g_currency = detail["currency"].to_numpy(dtype=object)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(totals[gid] != 0, qs / totals[gid], 1.0 / counts[gid])
    cost[priced_rows] = g_cost[gid] * share
    currency[priced_rows] = g_currency[gid]
    currency[np.isnan(cost)] = None
    for col in ("account_id", "meter_id", "meter", "billable_unit"):
        detail[col] = detail[col].astype(object)
    unpriced = pd.DataFrame.from_records(missing, columns=_UNPRICED_COLUMNS)
    return detail, cost, currency, unpriced


def _group_keys(grouped: Any) -> list[tuple[Any, ...]]:
    """The groups' key tuples in ``ngroup`` order."""
    index = grouped.size().index
    return [k if isinstance(k, tuple) else (k,) for k in index.tolist()]


def _account_names(rows: pd.DataFrame) -> dict[str | None, str]:
    named = rows.loc[rows["account_name"].notna(), ["account_id", "account_name"]]
    if not len(named):
        return {}
    firsts = named.astype(object).drop_duplicates("account_id")
    return {
        (None if pd.isna(a) else str(a)): str(b)
        for a, b in zip(firsts["account_id"], firsts["account_name"], strict=True)
    }


def _devices_per_group(
    rows: pd.DataFrame, gid: np.ndarray, q: np.ndarray, n_groups: int, provider: str
) -> np.ndarray | None:
    """Particle: devices with data operations per group (rows of a products report excluded)."""
    if provider != "particle" or not len(rows):
        return None
    device = (rows["category"] != "product").to_numpy(dtype=bool, na_value=True) & rows[
        "resource_id"
    ].notna().to_numpy()
    active = device & (q > 0)
    pairs = pd.DataFrame(
        {"g": gid[active], "d": rows["resource_id"].astype(object).to_numpy()[active]}
    ).drop_duplicates()
    return np.bincount(pairs["g"].to_numpy(dtype=np.int64), minlength=n_groups)


def _price_group(
    provider: str,
    book: PriceBook,
    account: str | None,
    name: str | None,
    rec: Mapping[str, Any],
    quantity: float,
    devices: int = 0,
) -> dict[str, Any]:
    prices = book.for_account(provider, account)
    if name is not None and account not in getattr(book, provider):
        prices = book.for_account(provider, name) if name in getattr(book, provider) else prices
    if prices is None:
        return {"cost": np.nan, "currency": None, "reason": f"no [{provider}] prices in the book"}
    if provider == "particle":
        assert isinstance(prices, ParticlePrices)
        needed = prices.blocks_needed(quantity, devices)
        included = prices.blocks if prices.plan == "basic" else 0
        return {
            "unit_price": prices.block_price,
            "blocks_included": included,
            "blocks_needed": needed,
            "overage_blocks": max(needed - included, 0),
            "chargeable_quantity": quantity,
            "cost": prices.month_cost(quantity, devices),
            "currency": prices.currency,
        }
    if provider == "informatica":
        assert isinstance(prices, InformaticaPrices)
        return {
            "unit_price": prices.ipu_price,
            "chargeable_quantity": quantity,
            "cost": prices.month_cost(quantity),
            "currency": prices.currency,
        }
    assert isinstance(prices, RateCard)
    return _here_month(prices, rec, quantity)


def _here_month(card: RateCard, rec: Mapping[str, Any], quantity: float) -> dict[str, Any]:
    rates = card.rates.set_index("feature")
    match = None
    for key in (rec.get("meter_id"), rec.get("meter")):
        if key is not None and not pd.isna(key) and str(key) in rates.index:
            match = str(key)
            break
    if match is None:
        label = rec.get("meter") if not pd.isna(rec.get("meter")) else rec.get("meter_id")
        return {"cost": np.nan, "currency": None, "reason": f"{label!r} is not on the rate card"}
    rate = rates.loc[match]
    unit = rec.get("billable_unit")
    if (
        not pd.isna(rate["unit"])
        and not pd.isna(unit)
        and str(rate["unit"]).casefold() != str(unit).casefold()
    ):
        raise UnitMismatch(
            [str(unit), str(rate["unit"])],
            hint=f"the rate card prices {match!r} per {rate['unit']!r} "
            f"but the report counts it in {unit!r}",
        )
    free = float(rate["free_allowance"])
    chargeable = max(quantity - free, 0.0)
    currency = None if pd.isna(rate["currency"]) else str(rate["currency"])
    if currency is None:
        return {"cost": np.nan, "currency": None, "reason": f"{match!r} has no currency"}
    return {
        "free_allowance": free,
        "chargeable_quantity": chargeable,
        "unit_price": float(rate["price_per_unit"]),
        "cost": chargeable * float(rate["price_per_unit"]),
        "currency": currency,
    }


def _missing(
    provider: str, account: Any, meter_id: Any, meter: Any, rows: int, reason: str
) -> dict[str, Any]:
    return {
        "provider": provider,
        "account_id": None if pd.isna(account) else str(account),
        "meter_id": None if pd.isna(meter_id) else str(meter_id),
        "meter": None if pd.isna(meter) else str(meter),
        "rows": rows,
        "reason": reason,
    }


def _spend(detail: pd.DataFrame) -> pd.DataFrame:
    priced = detail[detail["cost"].notna()]
    return _sum(priced, _SPEND_KEYS, extra=("rows", "sum"))


def _sum(
    table: pd.DataFrame, keys: list[str], *, extra: tuple[str, str] | None = None
) -> pd.DataFrame:
    values = [c for c in ("spent", "cost", "projected", "lower", "upper") if c in table.columns]
    if not len(table):
        cols = [*keys, *values, *([extra[0]] if extra else [])]
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    frame = table[[*keys, *values, *([extra[0]] if extra else [])]].copy()
    for k in keys:
        frame[k] = frame[k].astype(object)
    g = frame.groupby(keys, dropna=False, sort=True)
    # min_count: a missing bound stays missing instead of becoming 0.
    out = g[values].sum(min_count=1)
    if "lower" in values:
        out["lower"] = g["lower"].apply(lambda s: s.sum() if s.notna().all() else np.nan)
        out["upper"] = g["upper"].apply(lambda s: s.sum() if s.notna().all() else np.nan)
    if extra:
        out[extra[0]] = g[extra[0]].agg(extra[1])
    return out.reset_index()


def _forecast_provider(
    rows: pd.DataFrame,
    provider: str,
    book: PriceBook,
    detail: pd.DataFrame,
    as_of: Any,
    events: Any = None,
) -> pd.DataFrame:
    """Month-end cost per pricing group: the quantity forecast, priced like the month."""
    start = rows["period_start"].to_numpy(dtype="datetime64[ns]").view("i8")
    end = rows["period_end"].to_numpy(dtype="datetime64[ns]").view("i8")
    nat = np.iinfo(np.int64).min
    daily = (start != nat) & ((end == nat) | (end - start <= NS_PER_DAY))
    daily &= ~np.isnan(rows["billable_quantity"].to_numpy(dtype=np.float64))
    if not daily.any():
        return pd.DataFrame(columns=_FORECAST_COLUMNS)
    usable = rows.iloc[np.flatnonzero(daily)]
    by = [k for k in _GROUP_KEYS[provider] if k != "month"]
    if "billable_unit" not in by:
        by.append("billable_unit")
    try:
        fc = quantity_forecast(
            usable, by=by, quantity="billable_quantity", as_of=as_of, events=events
        )
    except (SchemaError, InvalidParameter):
        return pd.DataFrame(columns=_FORECAST_COLUMNS)
    if not len(fc):
        return pd.DataFrame(columns=_FORECAST_COLUMNS)
    names = _account_names(rows)
    records = []
    for r in fc.to_dict("records"):
        acct = None if pd.isna(r["account_id"]) else str(r["account_id"])
        month = pd.Timestamp(r["period_start"])
        rec = {k: r.get(k) for k in by}
        rec["month"] = month
        mask = (detail["month"] == month) & (
            detail["account_id"].isna() if acct is None else detail["account_id"] == acct
        )
        if provider == "here":
            mask &= detail["meter_id"].astype(object).eq(r["meter_id"]) | (
                detail["meter_id"].isna() & pd.isna(r["meter_id"])
            )
        devices = int(np.nansum(detail.loc[mask, "devices"])) if provider == "particle" else 0

        def price(
            qty: float, rec: dict[str, Any] = rec, acct: str | None = acct, devices: int = devices
        ) -> float:
            if pd.isna(qty):
                return np.nan
            p = _price_group(provider, book, acct, names.get(acct), rec, float(qty), devices)
            return float(p["cost"])

        probe = _price_group(provider, book, acct, names.get(acct), rec, 0.0)
        if probe.get("currency") is None:
            continue
        records.append(
            {
                "provider": provider,
                "account_id": acct,
                "month": month,
                "currency": probe["currency"],
                "as_of": r["as_of"],
                "history_days": int(r["history_days"]),
                "spent": price(r["used"]),
                "projected": price(r["projected"]),
                "lower": price(r["lower"]),
                "upper": price(r["upper"]),
            }
        )
    return pd.DataFrame.from_records(records, columns=_FORECAST_COLUMNS)
