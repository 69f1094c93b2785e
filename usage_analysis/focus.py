"""FOCUS 1.2 export: one FinOps FOCUS charge row per unified usage row.

``to_focus(df, prices=None)`` maps a unified frame (any mix of Particle, HERE and
Informatica) to the FOCUS 1.2 Cost and Usage columns, with costs from the price
book (:func:`usage_analysis.analysis.costs`). Provider-specific columns carry the
``x_`` prefix. The mapping, provider by provider, is in docs/focus.md; the
export is checked by the FinOps Foundation's ``focus-validator`` in the tests.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import providers
from .analysis._common import bucket_numbers, bucket_starts, check_frame, timestamp
from .analysis.costs import costs
from .analysis.prices import PriceBook
from .errors import InvalidParameter
from .schema import UNIFIED_DTYPES

__all__ = ["FOCUS_COLUMNS", "FOCUS_VERSION", "to_focus", "write_focus"]

FOCUS_VERSION = "1.2"

# The FOCUS columns written, in order (x_ columns follow).
FOCUS_COLUMNS: tuple[str, ...] = (
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingAccountType",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceId",
    "InvoiceIssuerName",
    "ListCost",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "ServiceSubcategory",
    "SkuId",
    "SkuMeter",
    "SubAccountId",
    "SubAccountName",
    "SubAccountType",
    "Tags",
    # FOCUS 1.3 names, asked for by FinOps tools already; the validator accepts them.
    "ServiceProviderName",
    "HostProviderName",
)
_DATES = ("BillingPeriodEnd", "BillingPeriodStart", "ChargePeriodEnd", "ChargePeriodStart")
_COSTS = ("BilledCost", "ContractedCost", "EffectiveCost", "ListCost")

# Each provider's FOCUS facts live in its registry record (usage_analysis.providers,
# ``Provider.focus``); the functions below look them up, with no if per provider.


def _facts(provider: Any) -> dict[str, Any]:
    """The provider's FOCUS facts; none for a name the registry does not know."""
    name = str(provider)
    return providers.get(name).focus if name in providers.names() else {}


def _rows_of(provider: np.ndarray) -> Iterator[tuple[str, dict[str, Any], np.ndarray]]:
    """(name, FOCUS facts, row mask) of every registered provider."""
    for name in providers.names():
        yield name, _facts(name), np.asarray(provider == name, dtype=bool)


# HERE category -> (ServiceCategory, ServiceSubcategory), FOCUS 1.2 allowed values.
_HERE_SERVICE = {
    "location services": ("Other", "Other (Other)"),
    "pipelines": ("Analytics", "Data Processing"),
    "storage": ("Storage", "Object Storage"),
}


def to_focus(
    df: pd.DataFrame,
    prices: PriceBook | Mapping[str, Any] | str | Path | None = None,
    *,
    charge_period: tuple[Any, Any] | None = None,
    rules: Any = None,
) -> pd.DataFrame:
    """Map each unified row to one FOCUS 1.2 charge row.

    Args:
        df: a unified usage frame.
        prices: the price book (see :func:`usage_analysis.costs`); ``None`` uses
            the EXAMPLE prices, which ``x_PriceSource`` then says.
        charge_period: ``(start, end)`` for rows without dates (HERE
            ``summarized`` reports); such rows are refused without it.
        rules: allocation rules (docs/allocation.md): ``Tags`` then also names
            the allocated ``team`` (or the ``sharedCost`` rule of a shared row).

    Returns:
        The FOCUS columns (``FOCUS_COLUMNS``) then the ``x_`` columns. Rows that
        cannot be priced have cost 0 and say why in ``x_CostNote``.
    """
    df = check_frame(df)
    book = PriceBook.coerce(prices)
    start = df["period_start"]
    end = df["period_end"]
    if start.isna().any() or end.isna().any():
        if charge_period is None:
            raise InvalidParameter(
                "charge_period",
                f"{int(start.isna().sum())} row(s) have no dates (a summarized report?); "
                "give charge_period=(start, end) of the report",
            )
        cp_start, cp_end = (timestamp(v, "charge_period") for v in charge_period)
        if cp_end <= cp_start:
            raise InvalidParameter("charge_period", "the end must be after the start")
        start = start.fillna(cp_start)
        end = end.where(df["period_end"].notna() & df["period_start"].notna(), cp_end)
    undated = df["period_end"].isna() & df["period_start"].notna()
    if undated.any():
        end = end.where(~undated, start + pd.Timedelta(days=1))
    dated = df.assign(period_start=start, period_end=end)
    priced = costs(dated, book, forecast=False)
    rows = priced.rows
    n = len(rows)
    provider = rows["provider"].astype(object).to_numpy()
    out: dict[str, Any] = {}

    cost = rows["cost"].to_numpy(dtype=np.float64)
    unpriced = np.isnan(cost)
    cost = np.where(unpriced, 0.0, cost)
    for col in _COSTS:
        out[col] = cost
    currency = rows["currency"].astype(object).to_numpy().copy()
    fallback = _fallback_currency(book)
    for p in providers.names():
        where = (provider == p) & pd.isna(currency)
        if where.any():
            currency[where] = fallback.get(p, fallback[None])
    out["BillingCurrency"] = currency

    s_ns = rows["period_start"].to_numpy(dtype="datetime64[ns]").view("i8")
    e_ns = rows["period_end"].to_numpy(dtype="datetime64[ns]").view("i8")
    out["ChargePeriodStart"] = pd.DatetimeIndex(rows["period_start"])
    out["ChargePeriodEnd"] = pd.DatetimeIndex(rows["period_end"])
    month = bucket_numbers(s_ns, "MS")
    last_month = bucket_numbers(e_ns - 1, "MS")
    out["BillingPeriodStart"] = bucket_starts(month, "MS")
    out["BillingPeriodEnd"] = bucket_starts(last_month + 1, "MS")

    account = _text(rows["account_id"])
    account = np.where(pd.isna(account), _sandbox_ids(provider), account)
    account_name = _text(rows["account_name"])
    out["BillingAccountId"] = account
    out["BillingAccountName"] = np.where(pd.isna(account_name), account, account_name)
    company, acct_type = (
        _per_combination(lambda p: _facts(p).get("company", (str(p), None)), provider)
        if n
        else (np.empty(0, dtype=object),) * 2
    )
    sandbox = np.zeros(n, dtype=bool)
    for _, facts, mask in _rows_of(provider):
        if facts.get("sandbox_account"):
            sandbox |= mask
    acct_type = np.where(sandbox & pd.isna(_text(rows["account_id"])), "User", acct_type)
    out["BillingAccountType"] = acct_type

    out["ChargeCategory"] = np.full(n, "Usage", dtype=object)
    out["ChargeClass"] = np.full(n, None, dtype=object)
    out["ChargeFrequency"] = np.full(n, "Usage-Based", dtype=object)
    out["InvoiceId"] = np.full(n, None, dtype=object)  # usage reports precede the invoice
    for col in (
        "ProviderName",
        "PublisherName",
        "InvoiceIssuerName",
        "ServiceProviderName",
        "HostProviderName",
    ):
        out[col] = company

    meter = _text(rows["meter"])
    meter_id = _text(rows["meter_id"])
    category = _text(rows["category"])
    service, service_cat, service_sub = _services(provider, meter, category)
    out["ServiceName"] = service
    out["ServiceCategory"] = service_cat
    out["ServiceSubcategory"] = service_sub
    out["SkuId"] = meter_id
    out["SkuMeter"] = np.where(pd.isna(meter), meter_id, meter)

    quantity = rows["quantity"].to_numpy(dtype=np.float64)
    unit = _text(rows["unit"])
    bq = rows["billable_quantity"].to_numpy(dtype=np.float64)
    bunit = _text(rows["billable_unit"])
    no_bq = np.isnan(bq)
    out["ConsumedQuantity"] = quantity
    out["ConsumedUnit"] = _focus_units(unit)
    out["PricingQuantity"] = np.where(no_bq, quantity, bq)
    out["PricingUnit"] = _focus_units(np.where(no_bq, unit, bunit))

    resource = _text(rows["resource_id"])
    resource_name = _text(rows["resource_name"])
    out["ResourceId"] = resource
    out["ResourceName"] = np.where(pd.isna(resource_name), resource, resource_name)
    out["ResourceType"] = _resource_types(provider, category, resource, meter_id)

    sub_id, sub_name, sub_type = _sub_accounts(rows, provider)
    out["SubAccountId"] = sub_id
    out["SubAccountName"] = sub_name
    out["SubAccountType"] = sub_type
    out["Tags"] = _tags(rows, provider, rules)
    out["ChargeDescription"] = _descriptions(provider, meter, meter_id, bunit, unit)

    # Object columns stay object: pandas would otherwise convert every string
    # column to its Arrow string type, the slowest step of the export.
    focus = pd.DataFrame(
        {
            c: pd.Series(v, dtype=object)
            if isinstance(v, np.ndarray) and v.dtype == object
            else pd.Series(v)
            for c, v in ((c, out[c]) for c in FOCUS_COLUMNS)
        }
    )
    # Provider-specific columns.
    focus["x_Provider"] = pd.Series(provider, dtype=object)
    focus["x_Product"] = pd.Series(_text(rows["product"]), dtype=object)
    focus["x_Category"] = pd.Series(category, dtype=object)
    focus["x_Unit"] = pd.Series(unit, dtype=object)
    focus["x_BillableUnit"] = pd.Series(bunit, dtype=object)
    focus["x_PriceSource"] = ("EXAMPLE prices: " if book.example else "") + book.source
    focus["x_CostNote"] = pd.Series(_cost_notes(priced.unpriced, rows, unpriced), dtype=object)
    for extra in rows.columns:
        if extra in UNIFIED_DTYPES or extra in ("cost", "currency"):
            continue
        name = "x_" + "".join(part[:1].upper() + part[1:] for part in str(extra).split("_"))
        focus[name] = pd.Series(rows[extra].astype(object).to_numpy(), dtype=object)
    focus.attrs["focus_version"] = FOCUS_VERSION
    focus.attrs["example_prices"] = book.example
    return focus


def write_focus(focus: pd.DataFrame, path: str | Path) -> Path:
    """Write a FOCUS frame to ``.csv`` (dates as ``2026-10-01T00:00:00Z``) or ``.parquet``."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        focus.to_parquet(p, index=False)
    elif suffix == ".csv":
        text = focus.copy()
        for col in _DATES:
            text[col] = text[col].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        text.to_csv(p, index=False)
    else:
        raise InvalidParameter("out", f"expected a .csv or .parquet file name, got {p.name!r}")
    return p


_TIME_UNITS = ("Year", "Month", "Day", "Hour", "Minute", "Second")


def _focus_unit(unit: str) -> str:
    """A unit in FOCUS Unit Format: ``GB-months`` -> ``GB-Months``, ``hours`` -> ``Hours``.

    Characters the format does not allow (``-`` inside a name, ``(``, ``,``) become
    spaces; the report's own spelling stays in ``x_Unit`` / ``x_BillableUnit``.
    """
    base, _, per = unit.rpartition("-") if "-" in unit else ("", "", unit)
    times = {t.lower() + "s": t + "s" for t in _TIME_UNITS} | {
        t.lower(): t + "s" for t in _TIME_UNITS
    }
    if base and per.strip().lower() in times:
        return f"{_focus_unit(base)}-{times[per.strip().lower()]}"
    if unit.strip().lower() in times:
        return times[unit.strip().lower()]
    words = "".join(ch if ch.isalnum() else " " for ch in unit).split()
    return " ".join(words) if words else unit


def _focus_units(values: np.ndarray) -> np.ndarray:
    if not len(values):
        return np.empty(0, dtype=object)
    return _per_combination(
        lambda v: (
            None if v is None or (isinstance(v, float) and np.isnan(v)) else _focus_unit(str(v)),
        ),
        values,
    )[0]


def _text(series: pd.Series) -> np.ndarray:
    values = series.astype(object).to_numpy().copy()
    values[pd.isna(values)] = None
    return values


def _sandbox_ids(provider: np.ndarray) -> np.ndarray:
    """An id for rows without an account: a Particle sandbox user, else 'unknown'."""
    out = np.full(len(provider), "unknown", dtype=object)
    for _, facts, mask in _rows_of(provider):
        if facts.get("sandbox_account"):
            out[mask] = facts["sandbox_account"]
    return out


def _fallback_currency(book: PriceBook) -> dict[str | None, str]:
    found: dict[str | None, str] = {}
    for p in providers.names():
        prices = book.for_account(p, None)
        if prices is None:
            continue
        if _facts(p).get("currency_from") == "rates":
            cur = prices.rates["currency"].dropna()
            if len(cur):
                found[p] = str(cur.iloc[0])
        else:
            found[p] = prices.currency
    currencies = book.currencies()
    found[None] = currencies[0] if len(currencies) == 1 else "USD"
    return found


def _per_combination(func: Any, *arrays: np.ndarray) -> list[np.ndarray]:
    """Apply ``func`` to each distinct combination of the arrays' values, not to each row.

    A million rows hold a few hundred combinations (provider x meter x unit ...),
    so the per-value Python stays cheap. ``func`` returns a tuple of outputs.
    """
    key = np.zeros(len(arrays[0]), dtype=np.int64)
    for a in arrays:
        codes, uniques = pd.factorize(pd.Series(a, dtype=object), use_na_sentinel=False)
        key = key * max(len(uniques), 1) + codes.astype(np.int64)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    results = [func(*(None if pd.isna(a[i]) else a[i] for a in arrays)) for i in first]
    width = len(results[0]) if results else 0
    return [np.array([r[k] for r in results], dtype=object)[inverse] for k in range(width)]


def service_particle(meter: Any, category: Any) -> tuple[Any, str, str]:
    return "Particle Device Cloud", "Internet of Things", "IoT Platforms"


def service_informatica(meter: Any, category: Any) -> tuple[Any, str, str]:
    return (meter or "Informatica IDMC"), "Integration", "Other (Integration)"


def service_here(meter: Any, category: Any) -> tuple[Any, str, str]:
    c, sub = _HERE_SERVICE.get(str(category).casefold(), ("Other", "Other (Other)"))
    return (f"HERE {category}" if category is not None else "HERE Platform"), c, sub


def _service(provider: Any, meter: Any, category: Any) -> tuple[Any, str, str]:
    path = _facts(provider).get("service")
    if path is None:
        return None, "Other", "Other (Other)"
    service: tuple[Any, str, str] = _load(path)(meter, category)
    return service


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _services(
    provider: np.ndarray, meter: np.ndarray, category: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not len(provider):
        empty = np.empty(0, dtype=object)
        return empty, empty, empty
    name, cat, sub = _per_combination(_service, provider, meter, category)
    return name, cat, sub


def _resource_types(
    provider: np.ndarray, category: np.ndarray, resource: np.ndarray, meter_id: np.ndarray
) -> np.ndarray:
    kind = np.full(len(provider), None, dtype=object)
    has = ~pd.isna(resource)
    for _, facts, mask in _rows_of(provider):
        rule = facts.get("resource_type")
        where = mask & has
        if rule is None or not where.any():
            continue
        if rule == "by_meter":  # Informatica: a meter says an asset, none a project folder
            kind[where] = np.where(pd.isna(meter_id[where]), "Project folder", "Asset")
            continue
        kind[where] = rule[None]
        for value, name in rule.items():
            if value is not None:
                kind[where & (category == value)] = name
    return kind


def _sub_accounts(rows: pd.DataFrame, provider: np.ndarray) -> tuple[Any, Any, Any]:
    """SubAccount: the Particle product, the HERE project, the Informatica project."""
    product = _text(rows["product"])
    sub = product.copy()
    kind = np.full(len(provider), "Project", dtype=object)
    for _, facts, mask in _rows_of(provider):
        column, name = facts.get("sub_account", (None, "Project"))
        if column is not None and column in rows.columns:
            sub[mask] = _text(rows[column])[mask]
        kind[mask] = name
    kind[pd.isna(sub)] = None
    return sub, sub.copy(), kind


def _tag(*values: Any) -> tuple[str | None]:
    pairs = {
        k: str(v)
        for k, v in zip(_TAG_KEYS, values, strict=True)
        if v is not None and str(v) and str(v).lower() != "nan"
    }
    return (json.dumps(pairs, sort_keys=True) if pairs else None,)


# FOCUS Tags keys: HERE's billing tag and project HRN, the Informatica project and
# folder, the Particle product, and the allocation (issue 20).
_TAG_KEYS = ("billingTag", "project", "folder", "product", "team", "sharedCost")


def _only(where: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.full(len(values), None, dtype=object)
    out[where] = values[where]
    return out


def _tags(rows: pd.DataFrame, provider: np.ndarray, rules: Any = None) -> np.ndarray:
    """Provider tags and keys as FOCUS Tags (a JSON object per row); null when none."""
    n = len(rows)
    if not n:
        return np.full(0, None, dtype=object)
    none = np.full(n, None, dtype=object)
    tag = _text(rows["billing_tag"]) if "billing_tag" in rows.columns else none
    product = _text(rows["product"])
    as_project = np.zeros(n, dtype=bool)  # the product column is a project (Informatica)
    as_product = np.zeros(n, dtype=bool)  # ... or a product (Particle)
    project_column = np.zeros(n, dtype=bool)  # a project column of its own (HERE)
    with_folder = np.zeros(n, dtype=bool)  # folders are resources without a meter
    for _, facts, mask in _rows_of(provider):
        as_project |= mask & (facts.get("product_tag") == "project")
        as_product |= mask & (facts.get("product_tag") == "product")
        project_column |= mask & bool(facts.get("project_column"))
        with_folder |= mask & bool(facts.get("folder_tag"))
    project = _only(as_project, product)
    if "project" in rows.columns:
        project[project_column] = _text(rows["project"])[project_column]
    folder = _only(with_folder & rows["meter_id"].isna().to_numpy(), _text(rows["resource_name"]))
    particle_product = _only(as_product, product)
    team, shared = none, none
    if rules is not None:
        from .analysis.allocation import row_teams

        team, shared = row_teams(rows, rules)
    return _per_combination(_tag, tag, project, folder, particle_product, team, shared)[0]


def _description(provider: Any, meter: Any, meter_id: Any, bunit: Any, unit: Any) -> tuple[str]:
    label = meter if meter is not None else meter_id
    what = bunit if bunit is not None else unit
    path = _facts(provider).get("description")
    if path is None:
        return (f"{providers.display_name(str(provider))} {label} usage in {what}",)
    return (str(_load(path)(label, what)),)


def description_particle(label: Any, what: Any) -> str:
    return "Particle data operations (Basic plan blocks)"


def description_informatica(label: Any, what: Any) -> str:
    return f"Informatica {label or 'project/folder'} usage in {what}"


def description_here(label: Any, what: Any) -> str:
    return f"HERE {label} usage in {what}"


def _descriptions(
    provider: np.ndarray, meter: np.ndarray, meter_id: np.ndarray, bunit: np.ndarray, unit: Any
) -> np.ndarray:
    if not len(provider):
        return np.empty(0, dtype=object)
    return _per_combination(_description, provider, meter, meter_id, bunit, unit)[0]


def _cost_notes(unpriced: pd.DataFrame, rows: pd.DataFrame, missing: np.ndarray) -> np.ndarray:
    notes = np.full(len(rows), None, dtype=object)
    if not missing.any():
        return notes
    reasons: dict[tuple[Any, ...], str] = {}
    for r in unpriced.itertuples():
        reasons[(r.provider, r.account_id, r.meter_id, r.meter)] = str(r.reason)
        reasons.setdefault((r.provider, r.account_id, None, None), str(r.reason))
    provider = rows["provider"].astype(object).to_numpy()
    account = _text(rows["account_id"])
    meter_id = _text(rows["meter_id"])
    meter = _text(rows["meter"])
    for k in np.flatnonzero(missing):
        reason = reasons.get((provider[k], account[k], meter_id[k], meter[k])) or reasons.get(
            (provider[k], account[k], None, None), "no price known"
        )
        notes[k] = f"cost 0: {reason}"
    return notes
