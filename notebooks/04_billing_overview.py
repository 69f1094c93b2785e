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
# This month's consumption of every account in its billing unit, against its
# allowance where one is known, with the month-end forecast; then all usage in
# one explorer. `make dashboard` serves this notebook as a page with Voila.
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
from usage_analysis.schema import coerce_unified
from usage_analysis.widgets import UsageExplorer

pd.set_option("display.float_format", "{:,.2f}".format)  # tables: 1,234.56, not 1.23456e+03

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
usage = coerce_unified(pd.concat(frames.values(), ignore_index=True))
pd.DataFrame({"rows": {p: len(f) for p, f in frames.items()}})

# %% [markdown]
# ## Allowances
#
# Particle's allowance comes from the plan of its service agreement. For
# Informatica, put each org's monthly IPU entitlement in `ENTITLEMENTS`; an org
# without one is measured against its own absolute IPU alert threshold. HERE
# bills by use, so its cost is estimated from the example rate card below.

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

# %%
table = ua.overview(usage, allowances=allowances)
table[["provider", "account_id", "account_name", "unit", "used", "allowance", "percent", "forecast", "forecast_percent", "runs_out_on"]]

# %%
limited = table[table["allowance"].notna()].copy()
names = limited["account_name"].astype(object).fillna(limited["account_id"].astype(object))
limited["account"] = [f"{p} · {n}" if pd.notna(n) else str(p) for p, n in zip(limited["provider"], names)]
shares = limited.melt(id_vars=["account"], value_vars=["percent", "forecast_percent"], var_name="measure", value_name="share")
shares["measure"] = shares["measure"].map({"percent": "used so far", "forecast_percent": "forecast for the month"})
fig = px.bar(
    shares,
    x="share",
    y="account",
    color="measure",
    barmode="group",
    orientation="h",
    title="Share of the monthly allowance: used so far and forecast for the month",
    labels={"share": "share of the allowance (%)", "account": "account", "measure": ""},
)
fig.add_vline(x=100, line_dash="dash", line_color="#c0392b", annotation_text="100 %")
fig.update_layout(template="plotly_white")

# %% [markdown]
# ## HERE: estimated cost this month

# %%
costs = ua.here_costs(usage, "here_rate_card.csv", freq="MS")
this_month = costs[costs["period_start"].dt.date == month_start]
print(f"estimated HERE cost so far this month: {this_month['cost'].sum():,.2f} USD (example prices)")
this_month[["meter", "billable_unit", "billable_quantity", "chargeable_quantity", "cost"]]

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
# Filter by provider, product, resource and meter; the headline numbers and the
# chart follow.

# %%
UsageExplorer(usage, quantity="billable_quantity", plan=plan)
