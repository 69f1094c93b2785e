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
# # Particle data operations
#
# Which products and devices use the data operations of your Particle plan, will
# this month fit in it, and which devices ran away?
#
# The notebook talks to your Particle account when a token is configured
# (`PARTICLE_ACCESS_TOKEN`, or `particle login`; `PARTICLE_ORG` for an
# organization). Without one it uses the local emulator, and the note under the
# next cell says the data is emulated. Run it top to bottom: nothing waits for a click.

# %%
from datetime import date, timedelta

import ipywidgets as widgets
from IPython.display import display

import usage_analysis as ua
from usage_analysis import charts
from usage_analysis.demo import connect
from usage_analysis.widgets import ReportRequester, UsageExplorer

client = connect("particle")

# %% [markdown]
# ## The plan
#
# The first service agreement names the billing period and the allowance: the
# Free plan has 100,000 data operations a month, each Basic block 720,000.

# %%
agreement = client.service_agreements()[0]
terms = agreement.get("pricing_terms") or {}
allowance = int((terms.get("messaging") or {}).get("max_messages") or 0)
blocks = allowance // 720_000  # Basic is sold in blocks of 720,000; Free gives 0
plan = ua.ParticlePlan.basic(blocks=blocks) if blocks else ua.ParticlePlan.free()
period_start = date.fromisoformat(agreement["current_billing_period_start"])
period_end = date.fromisoformat(agreement["current_billing_period_end"])
print(f"{agreement.get('name')}: {plan.name}, {plan.data_ops:,.0f} data operations a month")
print(f"current billing period {period_start} to {period_end}")

# %% [markdown]
# ## Request a report
#
# The form asks Particle for a report and shows its progress; when it is in, the
# explorer below shows it. The cell after the form asks for the same kind of
# report in code: this billing period and the two months before it (history
# for the forecast and for spotting runaway devices).

# %%
explorer_box = widgets.VBox()


def explore(df):
    """Show a report that came in through the form in the explorer."""
    explorer_box.children = [UsageExplorer(df, plan=plan)]


requester = ReportRequester(client, on_complete=explore)
requester

# %%
start = (period_start - timedelta(days=45)).replace(day=1)
job = client.request_report(start, period_end, report_type="devices")
job.wait()
df = job.to_dataframe(unified=True)
print(f"{len(df):,} rows, {df['resource_id'].nunique()} devices, {df['period_start'].min():%Y-%m-%d} to {df['period_start'].max():%Y-%m-%d}")

# %% [markdown]
# ## Explore by product and device
#
# Filter by product, device and days; group, chart and export. The headline
# numbers follow the filters: total, share of the plan and the month-end forecast.

# %%
explore(df)
explorer_box

# %% [markdown]
# ## Usage per product

# %%
charts.usage_over_time(df, by="product", freq="D", title="Data operations per day, by product")

# %% [markdown]
# ## The devices that use the most

# %%
charts.top_bar(df, by="resource_id", n=10, title="Top 10 devices by data operations")

# %% [markdown]
# ## Plan burn-down
#
# The running total of this billing period against the plan, with the 70 %, 90 %
# and 100 % warning lines Particle sends e-mails for, and the forecast to the
# end of the period with its interval.

# %%
status = ua.plan_status(df, plan, period_start=period_start)
print(f"used {status.used:,.0f} of {status.allowance:,.0f} data operations ({status.percent:.1f} %); Basic blocks needed: {status.blocks_needed}")
charts.table(status.thresholds, columns={"level": "warning level", "quantity": "data operations", "crossed_on": "crossed on"}, caption="Particle's warning levels this billing period", fresh=df)

# %%
charts.cumulative_vs_allowance(df, plan=plan, month=period_start)

# %% [markdown]
# ## Runaway devices
#
# A device is flagged on a day it used far more than its usual level (the median
# of its previous four weeks), with the reason in words.

# %%
runaways = ua.anomalies(df, by="resource_id")
charts.table(
    runaways.head(10),
    columns={"resource_name": "device", "day": "day (UTC)", "value": "data operations", "usual": "usual per day", "factor": "times usual", "explanation": "why"},
    decimals={"usual": 0, "factor": 1},
    caption="Days a device used far more than usual (the 10 strongest)",
    fresh=df,
)

# %%
suspects = df[df["resource_id"].isin(runaways["resource_id"].unique()[:10])]
charts.heatmap(suspects, by="resource_id", top=10, title="Daily data operations of the flagged devices")
