"""Report tables a person would send: the overview and spend, as pandas Stylers.

pandas' own ``Styler`` (not a new dependency: it needs only jinja2, which
Jupyter brings) renders the same table in JupyterLab, Voila and a static HTML
report, keeps the numbers numeric for sorting and colouring, and formats per
column: thousands separators, units, "%", dates as dates, "—" where a value does
not apply, and a colour for a threshold crossed. The table is narrow enough not
to be cut in JupyterLab: ids are shortened, notes wrap.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

from ..analysis.freshness import Freshness
from ..errors import InvalidParameter
from ._common import format_quantity, provider_name
from ._fresh import caption as fresh_caption

__all__ = ["cost_forecast_table", "format_price", "overview_table", "spend_table", "table"]

NOT_APPLICABLE = "—"
# Share of an allowance from which a cell is coloured: the plan's warning levels.
THRESHOLDS: tuple[tuple[float, str], ...] = (
    (100.0, "background-color:#f8d7da;color:#842029;font-weight:600"),
    (90.0, "background-color:#ffe5cc;color:#8a4b00"),
    (70.0, "background-color:#fff3cd;color:#664d03"),
)
_TABLE_STYLES = [
    # JupyterLab lays its tables out "fixed" (columns as wide as the first row
    # wants, the rest overflows): this one is sized by its content, so it wraps.
    {"selector": "", "props": "border-collapse:collapse;font-size:0.9em;table-layout:auto"},
    {
        "selector": "th",
        "props": "text-align:left;vertical-align:bottom;padding:4px 8px;"
        "border-bottom:1px solid #999;font-weight:600;min-width:4em",
    },
    {"selector": "td", "props": "padding:3px 8px;border-bottom:1px solid #eee"},
    {"selector": "caption", "props": "caption-side:top;text-align:left;color:#444;padding:4px 0"},
]
# A date or a month is one word to a reader: "Oct 2026" over two lines reads as two values.
# Every column of dates or months in these tables keeps its cells on one line.
_NOWRAP = {"white-space": "nowrap"}


def _threshold_style(value: Any) -> str:
    if value is None or not isinstance(value, int | float) or not np.isfinite(value):
        return ""
    for level, css in THRESHOLDS:
        if value >= level:
            return css
    return ""


def _quantity(value: Any) -> str:
    return format_quantity(float(value)) if _known(value) else NOT_APPLICABLE


def _percent(value: Any) -> str:
    return f"{float(value):,.1f} %" if _known(value) else NOT_APPLICABLE


def _money(currency: str) -> Callable[[Any], str]:
    def fmt(value: Any) -> str:
        return f"{float(value):,.2f} {currency}" if _known(value) else NOT_APPLICABLE

    return fmt


def _day(value: Any, *, year: bool = True) -> str:
    if value is None or pd.isna(value):
        return NOT_APPLICABLE
    ts = pd.Timestamp(value)
    return f"{ts:%b} {ts.day}, {ts.year}" if year else f"{ts:%b} {ts.day}"


def _month(value: Any) -> str:
    if value is None or pd.isna(value):
        return NOT_APPLICABLE
    return f"{pd.Timestamp(value):%b %Y}"


def _known(value: Any) -> bool:
    try:
        return value is not None and bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return NOT_APPLICABLE
    text = str(value).strip()
    return text or NOT_APPLICABLE


def _account(name: Any, account_id: Any) -> str:
    """The account's name whole, its id on hover; else the id whole ("—" when neither is known).

    Returns safe HTML (the cells of these tables are HTML).
    """
    ident = _text(account_id)
    if _text(name) != NOT_APPLICABLE:
        if ident == NOT_APPLICABLE or ident == str(name):
            return _esc(str(name))
        return f"<span title='{html.escape(ident, quote=True)}'>{_esc(str(name))}</span>"
    return _esc(ident)


# What a table's ``fresh=`` takes: the unified frame its rows come from, or its Freshness.
FreshOf: TypeAlias = pd.DataFrame | Freshness | None


def _styler(frame: pd.DataFrame, caption: str | None, fresh: FreshOf = None) -> Styler:
    styler = frame.style.hide(axis="index").set_table_styles(_TABLE_STYLES)
    styler = styler.set_table_attributes('class="ua-report-table"')
    if fresh is not None:
        # "data as of … UTC": the same line, from the same function, as on the charts.
        line = fresh_caption(fresh)
        caption = f"{caption} · {line}" if caption else line
    if caption:
        styler = styler.set_caption(caption)
    return styler


def overview_table(
    table: pd.DataFrame, *, caption: str | None = None, fresh: FreshOf = None
) -> Styler:
    """The :func:`~usage_analysis.analysis.overview` table for people.

    One row per provider, account and billing unit: last complete month, this
    month so far, allowance, share used, the month-end forecast with its likely
    range, the day the allowance runs out, and what the forecast rests on ("2 of
    31 days; rate of 28 days of data"). Shares of an allowance at 70, 90 and
    100 % are coloured. Nine columns: it fits a JupyterLab notebook beside the
    file browser.
    """
    months = table["period_start"].dropna().unique() if "period_start" in table else []
    one_month = len(months) == 1
    rows = []
    for rec in table.to_dict("records"):
        start = rec.get("period_start")
        complete = rec.get("complete_until")
        month_days = (
            int((pd.Timestamp(complete) - pd.Timestamp(start)) / pd.Timedelta(days=1))
            if not (pd.isna(start) or pd.isna(complete))
            else None
        )
        lower, upper = rec.get("forecast_lower"), rec.get("forecast_upper")
        forecast = _quantity(rec.get("forecast"))
        if _known(lower) and _known(upper) and round(float(upper)) > round(float(lower)):
            # The likely range under the forecast, in the same cell: one column less.
            forecast += _small(f"{_quantity(lower)} to {_quantity(upper)}")
        history = rec.get("history_days")
        basis = []
        end = rec.get("period_end")
        if month_days is not None and not pd.isna(end):
            length = int((pd.Timestamp(end) - pd.Timestamp(start)) / pd.Timedelta(days=1))
            basis.append(f"{month_days} of {length} days")
        if _known(history) and _known(rec.get("forecast")):
            n = int(history)
            basis.append(f"rate of {n} day{'s' if n != 1 else ''} of data")
        note = _text(rec.get("note")).replace(
            "days from complete_until on are provisional",
            f"provisional from {_day(complete, year=False)}"
            if not pd.isna(complete)
            else "provisional",
        )
        details = "; ".join(basis) or NOT_APPLICABLE
        if note != NOT_APPLICABLE:
            details += f"; {note}"
        account = f"<b>{_esc(provider_name(rec.get('provider')))}</b><br>" + _account(
            rec.get("account_name"), rec.get("account_id")
        )
        if not one_month:
            account += _small(_month(start))
        rows.append(
            {
                "account": account,
                "unit": _esc(_text(rec.get("unit"))),
                "last month": rec.get("last_month_used", np.nan),
                "this month so far": rec.get("used"),
                "allowance": rec.get("allowance"),
                "used %": rec.get("percent"),
                "forecast (likely range)": forecast,
                "forecast %": rec.get("forecast_percent"),
                "runs out on": rec.get("runs_out_on"),
                "based on": _esc(details),
            }
        )
    frame = pd.DataFrame(rows, columns=_OVERVIEW_COLUMNS)
    last = table["last_month_start"].dropna() if "last_month_start" in table else pd.Series()
    renames = {}
    if len(last) and last.nunique() == 1:
        renames["last month"] = f"{_month(last.iloc[0])} (complete)"
    if one_month:
        renames["this month so far"] = f"{_month(months[0])} so far"
    styler = _styler(frame, caption, fresh)
    styler = styler.format(
        {
            "last month": _quantity,
            "this month so far": _quantity,
            "allowance": _quantity,
            "used %": _percent,
            "forecast %": _percent,
            "runs out on": lambda v: _day(v, year=False),
        },
        na_rep=NOT_APPLICABLE,
    )
    styler = styler.map(_threshold_style, subset=["used %", "forecast %"])
    numeric = [
        "last month",
        "this month so far",
        "allowance",
        "forecast (likely range)",
        "used %",
        "forecast %",
    ]
    styler = styler.set_properties(
        subset=numeric,
        **{"text-align": "right", "font-variant-numeric": "tabular-nums", "white-space": "nowrap"},
    )
    # JupyterLab's and Voila's table CSS right-aligns every cell: text reads from the left.
    styler = styler.set_properties(
        subset=["account", "unit", "runs out on", "based on"], **{"text-align": "left"}
    )
    styler = styler.set_properties(subset=["runs out on"], **_NOWRAP)
    styler = styler.set_properties(
        subset=["based on"], **{"min-width": "8em", "max-width": "12em", "font-size": "0.9em"}
    )
    return styler.relabel_index([renames.get(c, c) for c in _OVERVIEW_COLUMNS], axis="columns")


def _priced_caption(caption: str | None, table: pd.DataFrame) -> str | None:
    """The caption, saying so when the money comes from the EXAMPLE price book."""
    if not table.attrs.get("example_prices"):
        return caption
    note = "EXAMPLE prices, not your contract's (pass prices= your price book; docs/prices.md)"
    return f"{caption} · {note}" if caption else note


def _small(text: str) -> str:
    """A second, smaller line in a cell (``text`` is already safe HTML)."""
    return f"<br><span class='ua-small' style='color:#555;font-size:0.85em'>{text}</span>"


def _esc(text: str) -> str:
    return html.escape(str(text), quote=False)


_OVERVIEW_COLUMNS = [
    "account",
    "unit",
    "last month",
    "this month so far",
    "allowance",
    "used %",
    "forecast (likely range)",
    "forecast %",
    "runs out on",
    "based on",
]


def spend_table(
    spend: pd.DataFrame,
    *,
    by: tuple[str, ...] = ("provider", "account_id"),
    names: Mapping[Any, Any] | None = None,
    caption: str | None = None,
    fresh: FreshOf = None,
) -> Styler:
    """Spend per ``by`` and month, one column per month, in the spend's currency.

    ``spend`` is ``ua.costs(...).spend`` (or ``.combined`` with ``by=()``). Costs
    of different currencies are never added: one column per month and currency.
    ``names``: account id -> name, shown instead of the id.
    """
    keys = [c for c in by if c in spend.columns]
    caption = _priced_caption(caption, spend)
    frame = spend.copy()
    frame["month_label"] = [
        f"{_month(m)} ({c})" for m, c in zip(frame["month"], frame["currency"], strict=True)
    ]
    if "provider" in keys:
        frame["provider"] = [provider_name(p) for p in frame["provider"]]
    if "account_id" in keys:
        lookup = dict(names or {})
        frame["account_id"] = [_account(lookup.get(a), a) for a in frame["account_id"]]
    order = frame.sort_values(["month", "currency"])["month_label"].drop_duplicates().tolist()
    if keys:
        # Only the combinations that occur (a pivot would cross every provider with
        # every account).
        wide = (
            frame.groupby([*keys, "month_label"], sort=True, dropna=False)["cost"]
            .sum(min_count=1)
            .unstack("month_label")
            .reindex(columns=order)
            .reset_index()
            .rename(columns={"account_id": "account"})
        )
        wide.columns.name = None
    else:
        wide = frame.groupby("month_label")["cost"].sum(min_count=1).reindex(order).to_frame().T
        wide.columns.name = None
        wide.insert(0, "spend", "all providers")
    currencies = dict(zip(frame["month_label"], frame["currency"], strict=True))
    styler = _styler(wide, caption, fresh)
    labels = [c for c in wide.columns if c not in order]
    if labels:
        styler = styler.set_properties(subset=labels, **{"text-align": "left"})
    styler = styler.format(
        {label: _money(currencies[label]) for label in order}, na_rep=NOT_APPLICABLE
    )
    return styler.set_properties(
        subset=order,
        **{"text-align": "right", "font-variant-numeric": "tabular-nums", "white-space": "nowrap"},
    )


def cost_forecast_table(
    forecast: pd.DataFrame,
    *,
    names: Mapping[Any, Any] | None = None,
    caption: str | None = None,
    fresh: FreshOf = None,
) -> Styler:
    """``ua.costs(...).forecast`` for people: spent so far, month-end cost and its range.

    ``ua.costs(...).combined_forecast`` (no provider or account) gives one row per
    month and currency for all providers together.
    """
    lookup = dict(names or {})
    caption = _priced_caption(caption, forecast)
    combined = "provider" not in forecast.columns
    rows = []
    for rec in forecast.to_dict("records"):
        money = _money(str(rec.get("currency")))
        lower, upper = rec.get("lower"), rec.get("upper")
        n = rec.get("history_days")
        rows.append(
            {
                "provider": "all providers" if combined else provider_name(rec.get("provider")),
                "account": None
                if combined
                else _account(lookup.get(rec.get("account_id")), rec.get("account_id")),
                "month": _month(rec.get("month")),
                "spent so far": money(rec.get("spent")),
                "month-end forecast": money(rec.get("projected")),
                "likely range": (
                    f"{money(lower)} to {money(upper)}"
                    if _known(lower)
                    and _known(upper)
                    and round(float(upper), 2) > round(float(lower), 2)
                    else NOT_APPLICABLE
                ),
                "based on": (
                    f"{int(n)} day{'s' if int(n) != 1 else ''} of data"
                    if _known(n)
                    else NOT_APPLICABLE
                ),
            }
        )
    frame = pd.DataFrame(rows, columns=list(_COST_FORECAST_COLUMNS))
    if combined:
        frame = frame.drop(columns=["account"])
    styler = _styler(frame, caption, fresh)
    styler = styler.set_properties(
        subset=[
            c for c in ("provider", "account", "month", "likely range", "based on") if c in frame
        ],
        **{"text-align": "left"},
    )
    styler = styler.set_properties(subset=["month"], **_NOWRAP)
    return styler.set_properties(
        subset=["spent so far", "month-end forecast"],
        **{"text-align": "right", "font-variant-numeric": "tabular-nums", "white-space": "nowrap"},
    )


_COST_FORECAST_COLUMNS = (
    "provider",
    "account",
    "month",
    "spent so far",
    "month-end forecast",
    "likely range",
    "based on",
)


# --------------------------------------------------------------------------- any table

# A price this small per unit is shown per 1,000 (or per 1,000,000) units: HERE
# sells transactions at fractions of a cent, which "0.00" would hide.
_PRICE_SCALES = (1, 1_000, 1_000_000)
_PRICE_DIGITS = 3  # significant digits a price keeps at least


def format_price(price: Any, unit: Any = None, currency: Any = None) -> str:
    """A unit price with the digits it needs and its unit: ``0.83 USD per 1,000 Transactions``.

    A price under one cent per unit is given per 1,000 (or 1,000,000) units;
    at least two decimals and three significant digits, trailing zeros after
    the second decimal dropped. "—" when there is no price.
    """
    if not _known(price):
        return NOT_APPLICABLE
    value = float(price)
    scale = 1
    for scale in _PRICE_SCALES:
        if value == 0 or abs(value) * scale >= 0.01:
            break
    amount = value * scale
    magnitude = int(np.floor(np.log10(abs(amount)))) if amount else 0
    decimals = max(2, _PRICE_DIGITS - 1 - magnitude)
    text = f"{amount:,.{decimals}f}"
    if decimals > 2:
        head, _, tail = text.partition(".")
        text = f"{head}.{tail[:2]}{tail[2:].rstrip('0')}"
    money = f"{text} {_text(currency)}" if _text(currency) != NOT_APPLICABLE else text
    what = _text(unit)
    per = f"{scale:,} {what}" if scale > 1 else what
    if what == NOT_APPLICABLE:
        per = f"{scale:,} units" if scale > 1 else "unit"
    return f"{money} per {per}"


def _decimals(values: pd.Series, most: int = 2) -> int:
    """The decimals one numeric column keeps: 0 when every value is whole, else ``most``."""
    finite = values[np.isfinite(values)]
    if not len(finite) or np.allclose(finite, np.round(finite), rtol=0, atol=1e-9):
        return 0
    return most


def _is_percent(column: Any) -> bool:
    name = str(column).lower()
    return name.endswith("%") or "percent" in name or name.startswith("% ")


def _when(values: pd.Series) -> Callable[[Any], str]:
    """Days as "Dec 4, 2026"; times, when a column has any, as "Dec 4, 2026 14:05 UTC"."""
    stamps = pd.to_datetime(values, utc=True, errors="coerce").dropna()
    with_time = bool(len(stamps)) and bool((stamps != stamps.dt.normalize()).any())

    def fmt(value: Any) -> str:
        if value is None or pd.isna(value):
            return NOT_APPLICABLE
        ts = pd.Timestamp(value)
        if ts.tzinfo is not None:
            ts = ts.tz_convert("UTC")
        day = f"{ts:%b} {ts.day}, {ts.year}"
        return f"{day} {ts:%H:%M} UTC" if with_time else day

    return fmt


def _number(decimals: int, suffix: str = "") -> Callable[[Any], str]:
    def fmt(value: Any) -> str:
        return f"{float(value):,.{decimals}f}{suffix}" if _known(value) else NOT_APPLICABLE

    return fmt


def table(
    frame: pd.DataFrame,
    *,
    columns: Mapping[str, str] | None = None,
    percent: tuple[str, ...] = (),
    months: tuple[str, ...] = (),
    decimals: Mapping[str, int] | None = None,
    prices: Mapping[str, tuple[str | None, str | None]] | None = None,
    thresholds: tuple[str, ...] = (),
    caption: str | None = None,
    fresh: FreshOf = None,
) -> Styler:
    """Any table as a person would send it: the one formatter behind every shown table.

    Per column, by its dtype: thousands separators and one number of decimals
    per column (none when every value is whole); dates as "Dec 4, 2026" (with
    "14:05 UTC" when a column holds times; never "+00:00"); ``True``/``False``
    as "yes"/"no"; "—" for every missing value (never NaN, NaT or None);
    percent columns (named in ``percent``, or whose name ends in "%" or says
    "percent") as "70.0 %". Text is escaped. Dates and months never wrap.

    Args:
        columns: column -> header shown (the order of the mapping is the order
            of the columns; columns not named are left out). Default: every
            column under its own name.
        percent: more percent columns (by their name in ``frame``).
        months: date columns holding months (their first days), shown as
            "Oct 2026" rather than "Oct 1, 2026".
        decimals: column -> decimals, instead of the rule above.
        prices: price column -> (unit column, currency column), shown with
            :func:`format_price` ("0.83 USD per 1,000 Transactions").
        thresholds: percent columns coloured at 70, 90 and 100 % (the plan's levels).
        caption: a line above the table.
        fresh: the unified frame the rows come from (or its
            :class:`~usage_analysis.analysis.freshness.Freshness`): the caption
            then says "data as of <UTC time>", as the charts do.
    """
    chosen = dict(columns) if columns is not None else {str(c): str(c) for c in frame.columns}
    missing = [c for c in chosen if c not in frame.columns]
    if missing:
        raise InvalidParameter("columns", f"the table has no column {missing[0]!r}")
    unknown = [c for c in months if c not in chosen]
    if unknown:
        raise InvalidParameter("months", f"the table shows no column {unknown[0]!r}")
    prices = dict(prices or {})
    out = pd.DataFrame(index=range(len(frame)))
    formats: dict[str, Callable[[Any], str]] = {}
    numeric: list[str] = []
    dated: list[str] = []
    for col, header in chosen.items():
        values = frame[col].reset_index(drop=True)
        if col in prices:
            unit_col, currency_col = prices[col]
            units = frame[unit_col].reset_index(drop=True) if unit_col else None
            currencies = frame[currency_col].reset_index(drop=True) if currency_col else None
            out[header] = [
                format_price(
                    v,
                    None if units is None else units.iloc[i],
                    None if currencies is None else currencies.iloc[i],
                )
                for i, v in enumerate(values)
            ]
            numeric.append(header)
            continue
        dtype = values.dtype
        is_date = pd.api.types.is_datetime64_any_dtype(dtype) or bool(
            pd.api.types.is_object_dtype(dtype)
            and len(values.dropna())
            and values.dropna().map(_is_stamp).all()
        )
        if col in months and not is_date:
            raise InvalidParameter(
                "months", f"column {col!r} holds {dtype}, not dates: months are dates"
            )
        if pd.api.types.is_bool_dtype(dtype):
            out[header] = ["yes" if bool(v) else "no" for v in values]
        elif is_date:
            out[header] = values.astype(object)
            formats[header] = _month if col in months else _when(values)
            dated.append(header)
        elif pd.api.types.is_numeric_dtype(dtype):
            floats = pd.to_numeric(values, errors="coerce").astype(np.float64)
            out[header] = floats
            is_pct = col in percent or _is_percent(col) or _is_percent(header)
            d = (decimals or {}).get(col, 1 if is_pct else _decimals(floats))
            formats[header] = _number(d, " %" if is_pct else "")
            numeric.append(header)
        else:
            out[header] = [_esc(_text(v)) for v in values]
    styler = _styler(out, caption, fresh)
    styler = styler.format(formats, na_rep=NOT_APPLICABLE)
    coloured = [chosen[c] for c in thresholds if c in chosen]
    if coloured:
        styler = styler.map(_threshold_style, subset=coloured)
    text = [h for h in out.columns if h not in numeric]
    if numeric:
        styler = styler.set_properties(
            subset=numeric,
            **{
                "text-align": "right",
                "font-variant-numeric": "tabular-nums",
                "white-space": "nowrap",
            },
        )
    if text:
        styler = styler.set_properties(subset=text, **{"text-align": "left"})
    if dated:
        styler = styler.set_properties(subset=dated, **_NOWRAP)
    return styler


def _is_stamp(value: Any) -> bool:
    return isinstance(value, pd.Timestamp | np.datetime64) or type(value).__name__ in (
        "datetime",
        "date",
    )
