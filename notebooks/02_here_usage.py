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
# # HERE platform usage
#
# What your HERE realm used, by feature and by app, in billable units, and what
# it may cost under a rate card.
#
# The notebook talks to the HERE Usage API when a token is configured
# (`HERE_TOKEN`, or access keys in `~/.here/credentials.properties`, plus
# `HERE_REALM_ID`); without one it uses the local emulator and says so below.

# %%
from datetime import date, timedelta

import ipywidgets as widgets
import plotly.express as px

import usage_analysis as ua
from usage_analysis import charts
from usage_analysis.demo import connect
from usage_analysis.widgets import ReportRequester, UsageExplorer

client = connect("here")

# %% [markdown]
# ## Request a report
#
# The form asks HERE for a usage report (detail level, grouping and filters
# included) and shows its progress; the explorer below then shows it. The cell
# after the form asks in code for last month and this month, per day.
# HERE data lags by up to 48 hours, so the newest days are provisional.

# %%
explorer_box = widgets.VBox()


def explore(df):
    """Show a report that came in through the form in the explorer."""
    explorer_box.children = [UsageExplorer(df, quantity="billable_quantity")]


requester = ReportRequester(client, on_complete=explore)
requester

# %%
today = date.today()
start = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
job = client.request_report(start, today, detail_level="day")
job.wait()
df = job.to_dataframe(unified=True)
print(f"{len(df):,} rows, {df['meter'].nunique()} features, {df['resource_id'].nunique()} apps")

# %% [markdown]
# ## Explore by feature and app

# %%
explore(df)
explorer_box

# %% [markdown]
# ## Billable units per feature
#
# HERE bills each feature in its own unit (transactions, GB, GB-months): they
# are listed side by side, never added up.

# %%
charts.table(ua.here_usage(df, by="meter"), columns={"meter": "feature", "billable_unit": "unit", "billable_quantity": "billable usage"}, caption="Billable usage per feature, last month and this month so far", fresh=df)

# %%
charts.top_bar(df, by="meter", n=10, quantity="billable_quantity", title="Billable usage by feature")

# %% [markdown]
# ## Usage per app

# %%
transactions = df[df["billable_unit"] == "Transactions"]
charts.usage_over_time(transactions, by="resource_id", freq="D", quantity="billable_quantity", title="Billable transactions per day, by app")

# %% [markdown]
# ## Estimated cost from a rate card
#
# `here_rate_card.csv` holds **example prices, not HERE's price list**: put your
# contract's prices in it (columns `feature, price, per, free, unit, currency`).
# The free allowance applies per feature and month. Features the card does not
# list are named below rather than priced at zero.

# %%
costs = ua.here_costs(df, "here_rate_card.csv", freq="MS")
unpriced = sorted(costs.loc[~costs["priced"], "meter"].astype(str).unique())
print("not on the rate card:", ", ".join(unpriced) or "none")
charts.table(
    costs,
    columns={"period_start": "month", "meter": "feature", "billable_unit": "unit", "billable_quantity": "billable", "free_allowance": "free", "chargeable_quantity": "chargeable", "price_per_unit": "price (example)", "cost": "estimated cost", "currency": "currency"},
    months=("period_start",),
    prices={"price_per_unit": ("billable_unit", "currency")},
    decimals={"cost": 2},
    caption="Estimated cost per feature and month from the EXAMPLE rate card (not HERE's price list)",
    fresh=df,
)

# %%
by_month = costs[costs["priced"]].assign(month=lambda t: t["period_start"].dt.strftime("%b %Y"))
fig = px.bar(
    by_month,
    x="month",
    y="cost",
    color="meter",
    color_discrete_map=charts.color_map(by_month["meter"]),  # each feature's colour in every chart
    title="Estimated HERE cost per month, by feature (EXAMPLE rate card)",
    labels={"month": "month (UTC)", "cost": "estimated cost (USD, example prices)", "meter": "feature"},
    height=480,
)
fig.update_xaxes(type="category")
fig.update_layout(template=charts.TEMPLATE)
