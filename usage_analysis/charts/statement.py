"""A team's chargeback statement: tables, an offline HTML page and a plain-text message.

The page is one self-contained file (inline CSS, no script, no font or CDN), so it
opens offline, prints, and survives being attached to a mail. Every number on it
comes from one :class:`~usage_analysis.analysis.allocation.Allocation`: the cost
per provider and meter this month against last month, the shares of shared costs
with the rule that gave each, the top resources, and when the data was taken.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..analysis._common import timestamp
from ..analysis.allocation import UNALLOCATED, Allocation

__all__ = ["Statement", "statement", "statement_html", "statement_text"]

TOP_RESOURCES = 10  # a statement names the few resources that explain most of the cost


@dataclass(frozen=True)
class Statement:
    """The tables of one team's statement for one month."""

    team: str
    month: pd.Timestamp
    rule: str
    summary: pd.DataFrame  # provider, currency, cost, last_month, change
    meters: pd.DataFrame  # provider, meter, unit, currency, quantity, cost, last_month
    shared: pd.DataFrame  # rule, provider, currency, share, cost, how
    resources: pd.DataFrame  # provider, resource, unit, quantity, currency, cost
    totals: pd.DataFrame  # currency, cost, last_month
    as_of: pd.Timestamp | None
    example_prices: bool

    def to_csv(self) -> str:
        """The statement's meter lines, for finance (one row per provider, meter and unit)."""
        out = self.meters.assign(team=self.team, month=f"{self.month:%Y-%m}")
        cols = [
            "team",
            "month",
            "provider",
            "meter",
            "unit",
            "currency",
            "quantity",
            "cost",
            "last_month",
        ]
        return out[cols].to_csv(index=False, float_format="%.10g")


def _month(value: Any) -> pd.Timestamp:
    return timestamp(value, "month").normalize().replace(day=1)


def statement(allocation: Allocation, team: str, *, month: Any = None) -> Statement:
    """The statement of ``team`` for ``month`` (default: the newest month allocated)."""
    table = allocation.table
    if month is None:
        month = table["month"].dropna().max()
    this = _month(month)
    last = this - pd.DateOffset(months=1)
    if team != UNALLOCATED:
        rule = allocation.rules.team(team).describe()
    else:
        rule = "rows no team and no shared rule matches"
    mine = table[table["team"] == team]
    now = mine[mine["month"] == this]
    before = mine[mine["month"] == last]
    keys = ["provider", "currency"]
    summary = (
        now.groupby(keys, dropna=False)["cost"]
        .sum()
        .rename("cost")
        .to_frame()
        .join(before.groupby(keys, dropna=False)["cost"].sum().rename("last_month"), how="outer")
        .fillna(0.0)
        .reset_index()
    )
    summary = summary[(summary["cost"] != 0) | (summary["last_month"] != 0)]
    summary["change"] = summary["cost"] - summary["last_month"]
    d = allocation.detail
    d = d[d["team"] == team]
    mkeys = ["provider", "meter", "unit", "currency"]
    d_now = d[d["month"] == this].groupby(mkeys, dropna=False)[["quantity", "cost"]].sum()
    d_last = d[d["month"] == last].groupby(mkeys, dropna=False)["cost"].sum().rename("last_month")
    meters = d_now.join(d_last, how="outer").fillna({"cost": 0.0, "last_month": 0.0}).reset_index()
    meters = meters.sort_values(["currency", "cost"], ascending=[True, False]).reset_index(
        drop=True
    )
    sh = allocation.shares
    sh = sh[(sh["team"] == team) & (sh["month"] == this)]
    shared_cost = d[(d["month"] == this) & (d["source"] != "own")].groupby("source")["cost"].sum()
    shared = pd.DataFrame(
        {
            "rule": sh["rule"].to_numpy(),
            "provider": sh["provider"].to_numpy(),
            "currency": sh["currency"].to_numpy(),
            "share": sh["share"].to_numpy(),
            "cost": [float(shared_cost.get(r, 0.0)) for r in sh["rule"]],
            "how": sh["description"].to_numpy(),
        }
    )
    res = allocation.resources
    res = res[(res["team"] == team) & (res["month"] == this)].head(TOP_RESOURCES)
    resources = pd.DataFrame(
        {
            "provider": res["provider"].to_numpy(),
            "resource": res["resource_name"]
            .where(res["resource_name"].notna(), res["resource_id"])
            .to_numpy(),
            "unit": res["unit"].to_numpy(),
            "quantity": res["quantity"].to_numpy(),
            "currency": res["currency"].to_numpy(),
            "cost": res["cost"].to_numpy(),
        }
    )
    totals = summary.groupby("currency")[["cost", "last_month"]].sum().reset_index()
    return Statement(
        team=team,
        month=this,
        rule=rule,
        summary=summary.reset_index(drop=True),
        meters=meters,
        shared=shared,
        resources=resources,
        totals=totals,
        as_of=allocation.as_of,
        example_prices=allocation.example_prices,
    )


def _money(x: float, currency: str) -> str:
    return f"{x:,.2f} {currency}"


def _qty(x: Any) -> str:
    if x is None or pd.isna(x):
        return ""
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.2f}"


def _change(now: float, before: float) -> str:
    if before == 0:
        return "new" if now else ""
    return f"{(now - before) / before * 100:+.0f} %"


def _as_of(s: Statement) -> str:
    return "unknown" if s.as_of is None else f"{s.as_of:%Y-%m-%d %H:%M} UTC"


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:60em;color:#222}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.1em;margin-top:1.6em}
.meta{color:#555} .warn{background:#fff3cd;border:1px solid #e0c060;padding:.5em}
table{border-collapse:collapse;width:100%} th,td{padding:.3em .6em;border-bottom:1px solid #ddd}
th{text-align:left;background:#f4f4f4} td.n{text-align:right;font-variant-numeric:tabular-nums}
.total{font-size:1.3em;font-weight:600}
"""


def _table(headers: list[str], rows: list[list[tuple[str, bool]]], empty: str) -> str:
    if not rows:
        return f"<p class='meta'>{html.escape(empty)}</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if num else ''}>{html.escape(v)}</td>" for v, num in r)
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def statement_html(s: Statement) -> str:
    """The statement as one offline HTML page (no script, nothing fetched)."""
    month = f"{s.month:%Y-%m}"
    last = f"{s.month - pd.DateOffset(months=1):%Y-%m}"
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Chargeback statement: {html.escape(s.team)}, {month}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Chargeback statement: {html.escape(s.team)}</h1>",
        f"<p class='meta'>Month {month} (against {last}). Data as of {_as_of(s)}. "
        f"Owns: {html.escape(s.rule)}.</p>",
    ]
    if s.example_prices:
        parts.append("<p class='warn'>Priced with EXAMPLE prices, not a contract.</p>")
    for r in s.totals.itertuples():
        parts.append(
            f"<p class='total' id='total-{html.escape(str(r.currency))}'>Total "
            f"{_money(r.cost, r.currency)}</p><p class='meta'>{last}: "
            f"{_money(r.last_month, r.currency)} ({_change(r.cost, r.last_month) or 'no change'})</p>"
        )
    if not len(s.totals):
        parts.append("<p class='total'>Total 0.00: no cost this month</p>")
    parts.append("<h2>Cost per provider</h2>")
    parts.append(
        _table(
            ["Provider", "Cost", last, "Change"],
            [
                [
                    (str(r.provider) or "-", False),
                    (_money(r.cost, r.currency), True),
                    (_money(r.last_month, r.currency), True),
                    (_change(r.cost, r.last_month), True),
                ]
                for r in s.summary.itertuples()
            ],
            "No cost this month or last.",
        )
    )
    parts.append("<h2>Cost per meter</h2>")
    parts.append(
        _table(
            ["Provider", "Meter", "Quantity", "Unit", "Cost", last],
            [
                [
                    (str(r.provider), False),
                    ("" if pd.isna(r.meter) else str(r.meter), False),
                    (_qty(r.quantity), True),
                    ("" if pd.isna(r.unit) else str(r.unit), False),
                    (_money(r.cost, r.currency), True),
                    (_money(r.last_month, r.currency), True),
                ]
                for r in s.meters.itertuples()
            ],
            "No metered usage.",
        )
    )
    parts.append("<h2>Shared costs</h2>")
    parts.append(
        _table(
            ["Rule", "Provider", "Share", "Cost", "How"],
            [
                [
                    (str(r.rule), False),
                    (str(r.provider), False),
                    (f"{r.share * 100:.1f} %", True),
                    (_money(r.cost, r.currency), True),
                    (str(r.how), False),
                ]
                for r in s.shared.itertuples()
            ],
            "No share of shared costs this month.",
        )
    )
    parts.append(f"<h2>Top resources (up to {TOP_RESOURCES})</h2>")
    parts.append(
        _table(
            ["Provider", "Resource", "Quantity", "Unit", "Cost"],
            [
                [
                    (str(r.provider), False),
                    (str(r.resource), False),
                    (_qty(r.quantity), True),
                    ("" if pd.isna(r.unit) else str(r.unit), False),
                    (_money(r.cost, r.currency), True),
                ]
                for r in s.resources.itertuples()
            ],
            "No resource-level usage.",
        )
    )
    parts.append(
        "<p class='meta'>Costs are rounded to the cent so that every team's amounts, "
        "unallocated included, add up to the month's bill.</p></body></html>"
    )
    return "".join(parts)


def statement_text(s: Statement) -> str:
    """A short plain-text version for a notification."""
    month = f"{s.month:%Y-%m}"
    lines = [f"Chargeback {s.team} {month} (data as of {_as_of(s)})"]
    for r in s.totals.itertuples():
        lines.append(
            f"Total {_money(r.cost, r.currency)} (last month {_money(r.last_month, r.currency)})"
        )
    for r in s.summary.itertuples():
        lines.append(f"- {r.provider or '-'}: {_money(r.cost, r.currency)}")
    for r in s.shared.itertuples():
        lines.append(f"- share of {r.rule}: {_money(r.cost, r.currency)} ({r.share * 100:.1f} %)")
    if s.example_prices:
        lines.append("Priced with EXAMPLE prices.")
    return "\n".join(lines)
