# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: -all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Billing overview: Particle, HERE and Informatica
#
# What the three providers cost, month by month and together; then this month's
# consumption of every account in its billing unit against its allowance, with
# the month-end forecast; then all usage in one explorer. `make dashboard`
# serves this notebook as a page with Voila.
#
# Each provider is real when its credentials are configured and emulated
# otherwise; the notes below say which.

# %%
from datetime import date, timedelta

import pandas as pd
import plotly.express as px

import usage_analysis as ua
from usage_analysis import charts
from usage_analysis.demo import connect
from usage_analysis.widgets import UsageExplorer

particle = connect("particle")
here = connect("here")
informatica = connect("informatica")

# %% [markdown]
# ## Fetch last month and this month
#
# One report per provider, requested, waited for and read in one call each
# (`fetch_report` / `fetch_export`). Reports already downloaded with the same
# parameters are reused from the data directory.

# %%
today = date.today()
month_start = today.replace(day=1)
start = (month_start - timedelta(days=1)).replace(day=1)
frames = {
    "particle": particle.fetch_report(start, today, unified=True),
    "here": here.fetch_report(start, today, detail_level="day", unified=True),
    "informatica": informatica.fetch_export(start, today, job_type="SUMMARY", all_linked_orgs=True, unified=True),
}
usage = ua.concat(frames.values())  # one unified frame, dtypes kept
names = dict(zip(usage["account_id"], usage["account_name"]))  # account id -> name, for the tables
fresh = {p: ua.freshness(usage[usage["provider"] == p]) for p in frames}  # how fresh each provider's numbers are
as_of = "; ".join(f"{charts.provider_name(p)}: {f.footnote}" for p, f in fresh.items())
print(as_of)

# %% [markdown]
# ## Planned changes
#
# The forecast extends the recent daily rate to the month end. If you know of a
# change to come, say it here and every forecast below, of spend and of use (and the monitors, with the
# same `events` in their file) takes it into account, for example
# `{"particle": ["+500 devices from 2027-01-15"], "informatica": ["rate x1.3 from 2027-01-01"]}`.

# %%
EVENTS: dict[str, list[str]] = {}  # provider (or (provider, account id)) -> planned changes

# %% [markdown]
# ## Spend
#
# Usage turned into money with a price book: Particle's blocks, Informatica's
# price per IPU, HERE's rate card. `prices=None` uses the **example** price book
# shipped with the package (`docs/prices.md`); pass your own file for your
# contract's prices. Costs are never added across currencies.

# %%
PRICES = None  # your price book, e.g. "my-prices.toml"; None: the example prices
spend = ua.costs(usage, prices=PRICES, events=EVENTS)
print(spend)
charts.spend_table(spend.spend, names=names, caption="Spend per provider, account and month", fresh=usage)

# %%
charts.spend_table(spend.combined, by=(), caption="All providers together, per month", fresh=usage)

# %%
charts.cost_forecast_table(spend.forecast, names=names, caption=f"This month: spent so far and the month-end forecast · {as_of}")

# %%
charts.cost_forecast_table(spend.combined_forecast, caption="All providers together: this month's spend forecast", fresh=usage)

# %% [markdown]
# ## Allowances
#
# Particle's allowance comes from the plan of its service agreement. For
# Informatica, put each org's monthly IPU entitlement in `ENTITLEMENTS`; an org
# without one is measured against its own absolute IPU alert threshold. HERE
# bills by use: it has no allowance.

# %%
agreement = particle.service_agreements()[0]
terms = agreement.get("pricing_terms") or {}
allowance = int((terms.get("messaging") or {}).get("max_messages") or 0)
blocks = allowance // 720_000  # Basic is sold in blocks of 720,000; Free gives 0
plan = ua.ParticlePlan.basic(blocks=blocks) if blocks else ua.ParticlePlan.free()

ENTITLEMENTS: dict[str, float] = {}  # Informatica org id -> IPUs per month, from your contract
allowances: dict[object, object] = {"particle": plan}
for alert in informatica.ipu_alerts():
    org = alert["orgId"]
    if org in ENTITLEMENTS:
        allowances[("informatica", org)] = ENTITLEMENTS[org]
    elif alert.get("ipuThresholdPrefType") == "ABSOLUTE":
        allowances[("informatica", org)] = float(alert["thresholdValue"])

# %% [markdown]
# ## This month, per account
#
# Last complete month beside this one so far; the forecast's likely range and the
# days of data it rests on (a forecast from the first days of a month is rough);
# shares of the allowance from 70 % on are coloured. The same numbers as the
# monitors (notebook 05) and `usage-analysis check`: one forecast, from the same rows.

# %%
table = ua.overview(usage, allowances=allowances, events=EVENTS)
charts.overview_table(table, caption=f"This month per account · {as_of}")

# %%
limited = table[table["allowance"].notna()].copy()
labels = limited["account_name"].astype(object).fillna(limited["account_id"].astype(object))
limited["account"] = [f"{charts.provider_name(p)} · {n}" if pd.notna(n) else charts.provider_name(p) for p, n in zip(limited["provider"], labels)]
shares = limited.melt(id_vars=["account"], value_vars=["percent", "forecast_percent"], var_name="measure", value_name="share")
shares["measure"] = shares["measure"].map({"percent": "used so far (partial month)", "forecast_percent": "forecast for the month"})
fig = px.bar(
    shares,
    x="share",
    y="account",
    color="measure",
    pattern_shape="measure",
    pattern_shape_map={"used so far (partial month)": "", "forecast for the month": "/"},
    barmode="group",
    orientation="h",
    title="Share of the monthly allowance: used so far and forecast for the month",
    subtitle=as_of,
    labels={"share": "share of the allowance (%)", "account": "account", "measure": ""},
)
fig.add_vline(x=100, line_dash="dash", line_color="#c0392b", annotation_text="100 %")
fig.update_layout(template="plotly_white")

# %% [markdown]
# ## Usage per day, one panel per billing unit

# %%
charts.usage_over_time(usage, by="provider", freq="D", quantity="billable_quantity", title="Billable usage per day, by provider")

# %% [markdown]
# ## This month against last month, per meter

# %%
charts.period_over_period(usage, by="meter", freq="MS", top=8, quantity="billable_quantity", title="This month so far against the same days of last month, by meter or feature")

# %% [markdown]
# ## Explore everything
#
# Filter by provider, account, product, resource, meter, HERE project and
# billing tag; the headline numbers and the chart follow.

# %%
UsageExplorer(usage, quantity="billable_quantity", plan=plan)
