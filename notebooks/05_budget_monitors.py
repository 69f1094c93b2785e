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
# Budgets, month-end forecasts and runaway devices, with the same numbers as the
# billing overview (notebook 04): one forecast, from the same rows, as of the same
# data (HERE's last 48 h count as provisional). In production `usage-analysis check` runs
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

import usage_analysis as ua
from usage_analysis import charts
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
fresh = ua.freshness(usage)
f"{len(usage):,} rows from {start} to {today}; {fresh.footnote}"

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
# blocks = 1
# levels = [70, 90, 100]
#
# [[monitor]]
# name = "Particle month-end forecast"
# kind = "forecast"
# provider = "particle"
# plan = "basic"
# events = ["+500 devices from 2027-01-15"]   # planned changes, as in notebook 04
# ```
#
# The Particle plan comes from the service agreement, as in notebook 04.

# %%
EVENTS: list[str] = []  # planned Particle changes, e.g. ["+500 devices from 2027-01-15"]
agreement = particle.service_agreements()[0]
terms = agreement.get("pricing_terms") or {}
blocks = int((terms.get("messaging") or {}).get("max_messages") or 0) // 720_000
plan = {"plan": "basic", "blocks": blocks} if blocks else {"plan": "free"}
monitors = [
    Monitor("Particle data operations", "budget", "particle", **plan),
    Monitor("Particle month-end forecast", "forecast", "particle", events=tuple(EVENTS), **plan),
    Monitor("Particle spend", "budget", "particle", amount=500.0, currency="USD"),
    Monitor("Informatica IPUs", "budget", "informatica", allowance=6000),
    Monitor("Runaway devices", "anomaly", "particle"),
]
states = evaluate(monitors, usage, prices=ua.example_prices())

# %% [markdown]
# ## Where each monitor stands
#
# Status: **ok**, **warning** (a level crossed), **over** (100 % reached), or for
# a forecast monitor **forecast over** (the month-end forecast crosses 100 %) and
# **forecast warning** (it crosses a lower level); the dates are the UTC days each
# level was crossed. Spend uses the EXAMPLE price book (`docs/prices.md`).
# `usage-analysis check` prints the same status and numbers, and its messages say them.

# %%
table = state_table(states)
colours = {"ok": "#e8f5e9", "warning": "#fff3cd", "forecast warning": "#fff3cd", "over": "#f8d7da", "forecast over": "#f8d7da", "anomaly": "#fff3cd"}
crossed = [c for c in table.columns if c.startswith("crossed ")]
day = lambda d: "—" if pd.isna(d) else f"{d:%b} {d.day}"  # noqa: E731
(
    table[["monitor", "status", "period", "used", "limit", "unit", "percent", "forecast_percent", "runs_out_on", *crossed]]
    .rename(columns={"percent": "used %", "forecast_percent": "forecast %", "runs_out_on": "runs out on"})
    .style.hide(axis="index")
    .set_caption(f"Where each monitor stands · {fresh.footnote}")
    .format(
        {
            "used": "{:,.0f}",
            "limit": "{:,.0f}",
            "used %": "{:.1f} %",
            "forecast %": "{:.1f} %",
            "runs out on": day,
            **{c: day for c in crossed},
        },
        na_rep="—",
    )
    .map(lambda s: f"background-color: {colours.get(s, '')}", subset=["status"])
)

# %% [markdown]
# ## The Particle budget, day by day
#
# The burn-down with the same forecast as the monitors and the overview, and the
# planned changes marked.

# %%
particle_plan = ua.ParticlePlan.basic(blocks=blocks) if blocks else ua.ParticlePlan.free()
charts.cumulative_vs_allowance(usage, plan=particle_plan, events=EVENTS)

# %% [markdown]
# ## What `usage-analysis check` would send
#
# One message per monitor, level and month; a second run sends nothing new.

# %%
messages = [a.message for s in states for a in s.alerts]
widgets.HTML(("<ul>" + "".join(f"<li>{m}</li>" for m in messages) + "</ul>" if messages else "<p>No alert.</p>") + f"<p style='color:#666'>{fresh.footnote}</p>")
