"""HERE: billable quantities per feature, app, project and billing tag, and estimated costs.

HERE bills each feature (``featureId``, the unified ``meter_id``; its description
is ``meter``) in its own unit (``valueDriver``: Transactions, GB, GB-months ...),
so every HERE table keeps ``billable_unit`` as a group. Prices are not in the
reports: a user-supplied :class:`RateCard` (feature or description -> price per
unit and free allowance per period) turns quantities into an estimated cost.
Features the card does not know are listed with a missing cost, never priced at 0.

The price book (:mod:`usage_analysis.analysis.prices`) holds a :class:`RateCard`
as its ``[here]`` section, and :func:`usage_analysis.costs` prices all three
providers at once (per realm, feature and month); :func:`here_costs` remains the
HERE-only view per feature, app or project.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from ..errors import InvalidParameter, ReportParseError, UnitMismatch
from ._common import (
    as_columns,
    bucket_numbers,
    check_frame,
    check_freq,
    group_sum,
    nanoseconds,
    provider_rows,
)
from .aggregate import usage_by

__all__ = ["RateCard", "here_costs", "here_usage"]

# Header spellings accepted in a rate card CSV (compared lower-case, without
# spaces, dashes and underscores), for each field of the card.
_CARD_COLUMNS: dict[str, tuple[str, ...]] = {
    "feature": ("feature", "featureid", "item", "meterid", "name", "itemdescription", "meter"),
    "price": ("price", "priceperunit", "rate", "unitprice"),
    "per": ("per", "perunits", "priceper"),
    "free": ("free", "freeallowance", "allowance", "freeunits", "included"),
    "unit": ("unit", "valuedriver"),
    "currency": ("currency",),
}


@dataclass(frozen=True)
class RateCard:
    """Prices per feature: ``feature`` (featureId or description) -> price per unit and free allowance.

    ``rates`` has one row per feature with ``feature``, ``price_per_unit``,
    ``free_allowance`` (units free per period, 0 if none), ``unit`` (optional:
    checked against the report's unit) and ``currency``. Build it with
    :meth:`from_dict` or :meth:`from_csv`.
    """

    rates: pd.DataFrame

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any], *, currency: str | None = None) -> RateCard:
        """``{"Routing - Car": 0.0005, "vector-tiles-2": {"price": 0.83, "per": 1000, "free": 250000}}``.

        A number is the price per unit; a mapping may give ``price``, ``per``
        (units the price is for, default 1), ``free``, ``unit`` and ``currency``.
        """
        if not isinstance(mapping, Mapping):
            raise InvalidParameter(
                "rates", f"expected a mapping feature -> price, got {type(mapping).__name__}"
            )
        rows = []
        for feature, spec in mapping.items():

            def where(message: str, field: str, feature: Any = feature) -> Exception:
                return InvalidParameter(f"rates[{feature!r}].{field}", message)

            if isinstance(spec, Mapping):
                unknown = set(spec) - {"price", "per", "free", "unit", "currency"}
                if unknown or "price" not in spec:
                    raise InvalidParameter(
                        f"rates[{feature!r}]",
                        f"expected keys price (required), per, free, unit, currency; got {sorted(spec)}",
                    )
                rows.append(
                    _rate_row(
                        feature,
                        spec["price"],
                        spec.get("per"),
                        spec.get("free"),
                        spec.get("unit"),
                        spec.get("currency", currency),
                        where=where,
                    )
                )
            else:
                rows.append(_rate_row(feature, spec, None, None, None, currency, where=where))
        return cls(_rates_frame(rows))

    @classmethod
    def from_csv(
        cls, source: str | Path | IO[str] | IO[bytes], *, currency: str | None = None
    ) -> RateCard:
        """Read a CSV with columns feature, price (and optionally per, free, unit, currency).

        Header spellings such as ``featureId``, ``price_per_unit`` or
        ``free_allowance`` are accepted. Errors name the file, line and column.
        """
        name = (
            str(source)
            if isinstance(source, str | Path)
            else getattr(source, "name", "<rate card>")
        )
        try:
            raw = pd.read_csv(source, dtype=str, keep_default_na=False, skipinitialspace=True)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise ReportParseError(f"cannot read the rate card: {exc}", file=name) from None
        found: dict[str, str] = {}
        for col in raw.columns:
            norm = "".join(ch for ch in str(col).lower() if ch.isalnum())
            for field, spellings in _CARD_COLUMNS.items():
                if norm in spellings and field not in found:
                    found[field] = col
        for field in ("feature", "price"):
            if field not in found:
                raise ReportParseError(
                    f"the rate card has no {field} column",
                    file=name,
                    line=1,
                    expected=f"one of {', '.join(_CARD_COLUMNS[field])}",
                    candidates=[str(c) for c in raw.columns],
                )
        rows = []
        for i, rec in enumerate(raw.to_dict("records")):  # a card has tens of rows
            line = i + 2  # the header is line 1

            def where(message: str, field: str, line: int = line) -> Exception:
                return ReportParseError(
                    message, file=name, line=line, column=found.get(field, field)
                )

            def get(field: str, rec: dict[str, Any] = rec) -> str | None:
                value = rec.get(found[field], "") if field in found else ""
                return value.strip() or None

            rows.append(
                _rate_row(
                    get("feature") or "",
                    get("price"),
                    get("per"),
                    get("free"),
                    get("unit"),
                    get("currency") or currency,
                    where=where,
                )
            )
        return cls(_rates_frame(rows, file=name))

    @classmethod
    def coerce(cls, rates: RateCard | Mapping[str, Any] | str | Path) -> RateCard:
        """A :class:`RateCard` from a card, a mapping or a CSV path."""
        if isinstance(rates, RateCard):
            return rates
        if isinstance(rates, Mapping):
            return cls.from_dict(rates)
        if isinstance(rates, str | Path):
            return cls.from_csv(rates)
        raise InvalidParameter(
            "rates", f"expected a RateCard, a mapping or a CSV path, got {type(rates).__name__}"
        )

    def __repr__(self) -> str:
        return f"<RateCard {len(self.rates)} feature(s)>"


def here_usage(
    df: pd.DataFrame,
    *,
    by: str | Sequence[str] | None = "meter",
    freq: str | None = None,
    top: int | None = None,
    other: bool = True,
) -> pd.DataFrame:
    """HERE billable quantity per feature (``meter``/``meter_id``), app, project ... and unit.

    :func:`~usage_analysis.analysis.usage_by` over the HERE rows'
    ``billable_quantity``, always grouped by ``billable_unit`` as well (HERE mixes
    Transactions, GB, GB-months), so ``top`` keeps the top groups of each unit.
    """
    df = check_frame(df)
    rows = provider_rows(df, "here")
    cols = as_columns(rows, by)
    if "billable_unit" not in cols:
        cols.append("billable_unit")
    return usage_by(rows, by=cols, freq=freq, top=top, other=other, quantity="billable_quantity")


def here_costs(
    df: pd.DataFrame,
    rates: RateCard | Mapping[str, Any] | str | Path,
    *,
    by: str | Sequence[str] | None = None,
    freq: str | None = "MS",
) -> pd.DataFrame:
    """Estimated cost per feature (and group) and period from a rate card.

    The free allowance is applied per feature and period (``freq``: calendar
    months by default; ``None`` for the whole frame). With ``by`` (e.g.
    ``"product"``), each feature's cost and allowance are shared among the groups
    in proportion to their quantity.

    Returns:
        ``period_start`` (with ``freq``), ``*by``, ``meter_id``, ``meter``,
        ``billable_unit``, ``billable_quantity``, ``free_allowance``,
        ``chargeable_quantity``, ``price_per_unit``, ``cost``, ``currency`` and
        ``priced``. Features the card lacks have ``priced`` False and a missing
        cost; ``attrs["unpriced"]`` lists them. Ordered by period, then cost.

    Raises:
        UnitMismatch: the card states a unit other than the report's for a feature.
    """
    df = check_frame(df)
    card = RateCard.coerce(rates)
    rows = provider_rows(df, "here")
    cols = [c for c in as_columns(rows, by) if c not in ("meter_id", "meter", "billable_unit")]
    freq = check_freq(freq)
    period = (
        bucket_numbers(nanoseconds(rows["period_start"], "period_start"), freq) if freq else None
    )
    keys = [*cols, "meter_id", "meter", "billable_unit"]
    table = group_sum(
        rows,
        keys,
        rows["billable_quantity"].to_numpy(),
        period=period,
        freq=freq,
        value_name="billable_quantity",
    )
    # The small aggregated table from here on: a few features x periods x groups.
    rate_index = card.rates.set_index("feature")
    by_id = table["meter_id"].astype(object).map(rate_index["price_per_unit"])
    by_name = table["meter"].astype(object).map(rate_index["price_per_unit"])
    matched = np.where(
        by_id.notna().to_numpy(),
        table["meter_id"].astype(object).to_numpy(),
        np.where(by_name.notna().to_numpy(), table["meter"].astype(object).to_numpy(), None),
    )
    priced = pd.notna(matched)
    match = pd.Series(matched, index=table.index, dtype=object)
    price = match.map(rate_index["price_per_unit"]).to_numpy(dtype=np.float64)
    free = match.map(rate_index["free_allowance"]).to_numpy(dtype=np.float64)
    card_unit = match.map(rate_index["unit"])
    currency = match.map(rate_index["currency"])
    _check_card_units(table, card_unit, match)
    # Allowance and price apply to a feature's total per period; groups share it.
    feature_key = [*(["period_start"] if freq else []), "meter_id", "meter", "billable_unit"]
    qty = table["billable_quantity"].to_numpy()
    feature_total = (
        table.groupby(feature_key, observed=True, dropna=False, sort=False)["billable_quantity"]
        .transform("sum")
        .to_numpy()
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(feature_total != 0, qty / feature_total, 0.0)
    free = np.where(priced, free, np.nan)
    chargeable_total = np.maximum(feature_total - np.nan_to_num(free), 0.0)
    table["free_allowance"] = free * share
    table["chargeable_quantity"] = np.where(priced, chargeable_total * share, np.nan)
    table["price_per_unit"] = price
    table["cost"] = table["chargeable_quantity"] * price
    table["currency"] = (
        currency.astype("category")
        if currency.notna().any()
        else pd.Categorical([None] * len(table))
    )
    table["priced"] = priced
    order = (["period_start"] if freq else []) + ["cost", "billable_quantity"]
    ascending = ([True] if freq else []) + [False, False]
    table = table.sort_values(order, ascending=ascending, na_position="last", kind="stable")
    table = table[
        [*(["period_start"] if freq else []), *[c for c in table.columns if c != "period_start"]]
    ]
    for c in keys:
        if isinstance(table[c].dtype, pd.CategoricalDtype):
            table[c] = table[c].cat.remove_unused_categories()
    table = table.reset_index(drop=True)
    unpriced = sorted({str(x) for x in table.loc[~table["priced"], "meter_id"].dropna().unique()})
    unpriced_names = (
        table.loc[~table["priced"] & table["meter_id"].isna(), "meter"].dropna().unique()
    )
    table.attrs["unpriced"] = unpriced + sorted(str(x) for x in unpriced_names)
    return table


def _check_card_units(table: pd.DataFrame, card_unit: pd.Series, match: pd.Series) -> None:
    data_unit = table["billable_unit"].astype(object)
    stated = card_unit.notna() & data_unit.notna()
    differs = stated & (
        card_unit.astype(str).str.casefold() != data_unit.astype(str).str.casefold()
    )
    if differs.any():
        i = differs.to_numpy().nonzero()[0][0]
        raise UnitMismatch(
            [str(data_unit.iloc[i]), str(card_unit.iloc[i])],
            hint=f"the rate card prices {match.iloc[i]!r} per {card_unit.iloc[i]!r} "
            f"but the report counts it in {data_unit.iloc[i]!r}",
        )


def _number(
    value: Any,
    field: str,
    where: Callable[[str, str], Exception],
    *,
    default: float | None = None,
    positive: bool = False,
) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        if default is None:
            raise where(f"missing {field}; expected a number", field)
        return default
    try:
        number = float(str(value).replace(",", "")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise where(f"{field} {value!r} is not a number", field) from None
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise where(f"{field} {value!r} must be {'above' if positive else 'at least'} 0", field)
    return number


def _rate_row(
    feature: Any,
    price: Any,
    per: Any,
    free: Any,
    unit: Any,
    currency: Any,
    *,
    where: Callable[[str, str], Exception],
) -> dict[str, Any]:
    if not isinstance(feature, str) or not feature.strip():
        raise where("missing feature; expected a featureId or item description", "feature")
    p = _number(price, "price", where)
    n = _number(per, "per", where, default=1.0, positive=True)
    return {
        "feature": feature.strip(),
        "price_per_unit": p / n,
        "free_allowance": _number(free, "free", where, default=0.0),
        "unit": str(unit).strip() if unit not in (None, "") else None,
        "currency": str(currency).strip() if currency not in (None, "") else None,
    }


def _rates_frame(rows: list[dict[str, Any]], *, file: str | None = None) -> pd.DataFrame:
    frame = pd.DataFrame(
        rows, columns=["feature", "price_per_unit", "free_allowance", "unit", "currency"]
    )
    dup = frame["feature"].duplicated(keep=False)
    if dup.any():
        lines = [int(i) + 2 for i in np.flatnonzero(dup.to_numpy())]
        feature = frame.loc[dup, "feature"].iloc[0]
        message = f"feature {feature!r} is priced more than once"
        if file is not None:
            raise ReportParseError(
                message, file=file, line=lines[1], column="feature", expected="one row per feature"
            )
        raise InvalidParameter("rates", message)
    for col in ("unit", "currency"):
        frame[col] = frame[col].astype(object)
    return frame
