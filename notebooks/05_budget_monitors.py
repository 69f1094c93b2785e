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
# # Budget monitors
#
# Budgets, month-end forecasts and runaway devices, evaluated on finalized data
# (HERE's last 48 h are left out). In production `usage-analysis check` runs
# the same monitors from cron and sends each new alert once through apprise
# (Slack, Teams, e-mail, webhooks); see `docs/monitors.md`. This notebook only
# shows where each monitor stands and what it would send.
#
# Each provider is real when its credentials are configured and emulated
# otherwise; the notes below say which.

# %%
from datetime import date, timedelta

import ipywidgets as widgets
import pandas as pd
import plotly.graph_objects as go

import usage_analysis as ua
from usage_analysis.demo import connect
from usage_analysis.monitors import Monitor, evaluate, state_table
from usage_analysis.schema import coerce_unified

particle = connect("particle")
informatica = connect("informatica")

# %% [markdown]
# ## Usage since the start of last month

# %%
today = date.today()
start = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
usage = coerce_unified(
    pd.concat(
        [
            particle.fetch_report(start, today, unified=True),
            informatica.fetch_export(start, today, job_type="SUMMARY", all_linked_orgs=True, unified=True),
        ],
        ignore_index=True,
    )
)
f"{len(usage):,} rows from {start} to {today}"

# %% [markdown]
# ## The monitors
#
# The same monitors can live in a TOML file for `usage-analysis check`:
#
# ```toml
# notify = ["slack://TokenA/TokenB/TokenC/#billing"]
#
# [[monitor]]
# name = "Particle data operations"
# kind = "budget"
# provider = "particle"
# plan = "basic"          # 720,000 data operations a month per block
# levels = [70, 90, 100]
# ```

# %%
monitors = [
    Monitor("Particle data operations", "budget", "particle", plan="basic"),
    Monitor("Particle month-end forecast", "forecast", "particle", plan="basic"),
    Monitor("Particle spend", "budget", "particle", amount=500.0, currency="USD"),
    Monitor("Informatica IPUs", "budget", "informatica", allowance=6000),
    Monitor("Runaway devices", "anomaly", "particle"),
]
states = evaluate(monitors, usage, prices=ua.example_prices())

# %% [markdown]
# ## Where each monitor stands
#
# Status: **ok**, **warning** (a level crossed) or **over** (100 % reached);
# the dates are the UTC days each level was crossed. Spend uses the EXAMPLE
# price book (`docs/prices.md`).

# %%
table = state_table(states)
colours = {"ok": "#e8f5e9", "warning": "#fff3cd", "over": "#f8d7da", "anomaly": "#fff3cd"}
crossed = [c for c in table.columns if c.startswith("crossed ")]
(
    table[["monitor", "status", "period", "used", "limit", "unit", "percent", "forecast_percent", *crossed]]
    .style.hide(axis="index")
    .format(
        {
            "used": "{:,.0f}",
            "limit": "{:,.0f}",
            "percent": "{:.0f} %",
            "forecast_percent": "{:.0f} %",
            **{c: (lambda d: "—" if pd.isna(d) else f"{d:%b} {d.day}") for c in crossed},
        },
        na_rep="—",
    )
    .map(lambda s: f"background-color: {colours.get(s, '')}", subset=["status"])
)

# %% [markdown]
# ## The Particle budget, day by day

# %%
budget = states[0]
rows = usage[(usage["provider"] == "particle") & (usage["period_start"] >= budget.period_start)]
daily = rows.groupby(rows["period_start"].dt.floor("D"))["billable_quantity"].sum().cumsum()
fig = go.Figure(go.Scatter(x=daily.index, y=daily.to_numpy(), mode="lines+markers", name="used"))
for label, when in budget.crossed.items():
    level = float(label.split()[0])
    fig.add_hline(y=budget.limit * level / 100, line_dash="dot", annotation_text=label + (f" · {when:%b} {when.day}" if when is not None else ""))
fig.update_layout(
    title=f"{budget.monitor.name}: cumulative use this month against the plan's levels",
    xaxis_title="day (UTC)",
    yaxis_title=f"{budget.unit} (cumulative)",
    template="plotly_white",
)

# %% [markdown]
# ## What `usage-analysis check` would send
#
# One message per monitor, level and month; a second run sends nothing new.

# %%
messages = [a.message for s in states for a in s.alerts]
widgets.HTML("<ul>" + "".join(f"<li>{m}</li>" for m in messages) + "</ul>" if messages else "<p>No alert.</p>")
