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
# # Chargeback: who pays
#
# Allocation rules say which team owns which usage: HERE billing tags and
# projects, Particle products, Informatica projects. Every month's bill is then
# split between the teams **to the cent**, shared costs (a lab, a Particle block
# nobody owns alone) are split by a rule, and what no rule matches stays visible
# as `unallocated`. The format is in `docs/allocation.md`; in production
# `usage-analysis allocate` mails each team its statement from cron.
#
# Each provider is real when its credentials are configured and emulated
# otherwise; the notes below say which.

# %%
import warnings
from datetime import date, timedelta

import ipywidgets as widgets
import pandas as pd
import plotly.express as px

import usage_analysis as ua
from usage_analysis.analysis.allocation import example_rules, team_frame
from usage_analysis.charts.statement import statement, statement_html
from usage_analysis.demo import connect
from usage_analysis.monitors import Monitor, evaluate, state_table
from usage_analysis.widgets import UsageExplorer

particle = connect("particle")
here = connect("here")
informatica = connect("informatica")

# %% [markdown]
# ## Last month's usage, with its keys
#
# HERE rows carry the project HRN and the billing tag; Informatica's project/folder
# export names the project and folder (at most 30 days per export job, so last
# month is asked in two halves); Particle rows name the product.

# %%
today = date.today()
month_end = today.replace(day=1)  # exclusive
month_start = (month_end - timedelta(days=1)).replace(day=1)
last_day = month_end - timedelta(days=1)
middle = month_start + timedelta(days=14)
usage = ua.concat(
    [
        particle.fetch_report(month_start, last_day, unified=True),
        here.fetch_report(month_start, last_day, detail_level="day", unified=True),
        informatica.fetch_export(month_start, middle, job_type="PROJECT_FOLDER", unified=True),
        informatica.fetch_export(middle + timedelta(days=1), last_day, job_type="PROJECT_FOLDER", unified=True),
    ]
)
f"{len(usage):,} rows from {month_start} to {last_day}"

# %% [markdown]
# ## The rules
#
# The package ships example rules written for the demo data. Teams are matched in
# order: the first team whose `match` fits a row owns it, and a later team matching
# the same rows is reported by name. A `[[shared]]` rule splits what it matches
# between teams: here the office's air-quality sensors, in proportion to each
# Particle team's own Particle cost.

# %%
rules = example_rules()
print(open(rules.source, encoding="utf-8").read().split("\n\n", 1)[1])

# %% [markdown]
# ## The month split between teams
#
# Costs come from the EXAMPLE price book (`docs/prices.md`): a Particle block's fee
# is spread over the month's data operations, so it is split too. Per currency, the
# teams' amounts, `unallocated` included, add up exactly to the bill.

# %%
costs = ua.costs(usage, forecast=False)
with warnings.catch_warnings(record=True) as said:
    warnings.simplefilter("always")
    allocation = ua.allocate(costs, rules, month=month_start)
for w in said:
    print("note:", w.message)
bill, currency = costs.total(month=month_start)
table = allocation.table
print(f"bill {bill:,.2f} {currency}; allocated {table['cost'].sum():,.2f} {currency}")
(
    table[["team", "provider", "cost", "own_cost", "shared_cost", "quantity", "unit"]]
    .style.hide(axis="index")
    .set_caption(f"Cost per team, {month_start:%B %Y} ({currency}, EXAMPLE prices)")
    .format({"cost": "{:,.2f}", "own_cost": "{:,.2f}", "shared_cost": "{:,.2f}", "quantity": "{:,.0f}"}, na_rep="—")
)

# %%
per_team = table.groupby("team", sort=False)["cost"].sum().reset_index()
fig = px.bar(
    per_team,
    x="team",
    y="cost",
    title=f"Who pays, {month_start:%B %Y}",
    labels={"team": "Team", "cost": f"Cost ({currency})"},
)
fig

# %% [markdown]
# ## A team's statement
#
# The page `usage-analysis allocate --format html` writes for each team (and sends
# with `--notify`): cost per provider and meter against the month before, its share
# of shared costs and the rule that gave it, the top resources, and when the data
# was taken. It is one offline HTML file, with no script.

# %%
fleet = statement(allocation, "fleet", month=month_start)
widgets.HTML(statement_html(fleet).split("<body>", 1)[1].rsplit("</body>", 1)[0])

# %% [markdown]
# ## The team in the explorer
#
# With `rules=`, the explorer has a **Team** filter and can group by team
# (a shared row shows as `shared: <rule>`).

# %%
explorer = UsageExplorer(usage, rules=rules, by="team", chart="top")
explorer

# %% [markdown]
# ## A team budget
#
# A monitor naming a team watches the team's allocated cost: the rows it owns and
# its share of shared rows. In a monitors file: `team = "fleet"` with
# `allocation = "allocation.toml"` at the top.

# %%
budget = Monitor("fleet budget", "budget", "particle", team="fleet", rules=rules, amount=100.0, currency="USD")
states = evaluate([budget], usage, prices=ua.example_prices(), now=pd.Timestamp(month_end, tz="UTC"))
fleet_rows = team_frame(usage, rules, "fleet", strict=False)
print(f"fleet's allocated Particle cost: {fleet_rows['allocated_cost'].sum():,.2f} USD")
(
    state_table(states)[["monitor", "status", "period", "used", "limit", "unit", "percent"]]
    .style.hide(axis="index")
    .set_caption("The fleet team's budget (EXAMPLE prices)")
    .format({"used": "{:,.2f}", "limit": "{:,.2f}", "percent": "{:.1f} %"}, na_rep="—")
)
