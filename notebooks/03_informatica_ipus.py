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
# # Informatica IDMC: IPU consumption
#
# Where your Informatica Processing Units (IPUs) go, by meter, org and project,
# and how close each org and project is to its alert threshold.
#
# The notebook talks to IDMC when `INFORMATICA_USERNAME` and
# `INFORMATICA_PASSWORD` are set (and `INFORMATICA_LOGIN_URL` for a pod other
# than dm-us); without them it uses the local emulator and says so below.

# %%
from datetime import date, timedelta

import ipywidgets as widgets
import pandas as pd
from IPython.display import display

import usage_analysis as ua
from usage_analysis import charts
from usage_analysis.demo import connect
from usage_analysis.widgets import ReportRequester, UsageExplorer

client = connect("informatica")

# %% [markdown]
# ## Request an export
#
# The form starts a metering export job (summary, project/folder, asset or job
# level; a meter chosen by name) and shows its progress; the explorer below then
# shows it. The cells after it start two jobs in code: the IPU summary of every
# linked org for last month and this month, and this month per project and folder.

# %%
explorer_box = widgets.VBox()


def explore(df):
    """Show an export that came in through the form in the explorer."""
    explorer_box.children = [UsageExplorer(df, quantity="billable_quantity")]


requester = ReportRequester(client, on_complete=explore)
requester

# %%
today = date.today()
month_start = today.replace(day=1)
start = (month_start - timedelta(days=1)).replace(day=1)
summary_job = client.request_export(start, today, job_type="SUMMARY", all_linked_orgs=True)
summary = summary_job.wait().to_dataframe(unified=True)
print(f"summary: {len(summary):,} rows, {summary['account_id'].nunique()} orgs, {summary['meter'].nunique()} meters")

# %%
folders_job = client.request_export(month_start, today, job_type="PROJECT_FOLDER")
folders = folders_job.wait().to_dataframe(unified=True)
print(f"projects and folders: {len(folders):,} rows, {folders['product'].nunique()} projects")

# %% [markdown]
# ## Explore by meter, org and project

# %%
explore(summary)
explorer_box

# %% [markdown]
# ## IPUs by meter

# %%
charts.table(ua.ipu_usage(summary, by=["account_name", "meter"]), columns={"account_name": "org", "meter": "meter", "billable_quantity": "IPUs"}, caption="IPUs per org and meter, last month and this month so far", fresh=summary)

# %%
charts.usage_over_time(summary, by="meter", freq="D", quantity="billable_quantity", title="IPUs per day, by meter (all linked orgs)")

# %% [markdown]
# ## IPUs by project and folder, this month

# %%
charts.breakdown(folders, path=("product", "resource_name"), quantity="billable_quantity", title="IPUs this month by project and folder")

# %% [markdown]
# ## Alert thresholds
#
# Each org's IPU alert (`ipuAlert`) against what it consumed this month, with the
# day each level was crossed. A threshold in percent needs the org's monthly
# IPU entitlement from your contract: fill in `ENTITLEMENTS` to see those too.
# IDMC itself e-mails admins at 25, 50, 75, 95 and 100 % of the entitlement.

# %%
ENTITLEMENTS: dict[str, float] = {}  # org id -> IPUs per month, from your contract
next_month = (month_start + timedelta(days=32)).replace(day=1)


def alert_row(rows, alert, *, entitlement=None, **scope):
    """One alert against the IPUs of its scope this month, with the day it was crossed."""
    status = ua.ipu_status(rows, entitlement=entitlement, alert=alert, start=month_start, end=next_month, **scope)
    level = status.thresholds[status.thresholds["level"] == status.alert.label].iloc[0]
    return {
        "alert": status.alert.label,
        "threshold (IPU)": level["quantity"],
        "consumed (IPU)": status.used,
        "% of threshold": status.used / level["quantity"] * 100,
        "crossed on": level["crossed_on"],
    }


ORG_COLUMNS = ["org", "alert", "threshold (IPU)", "consumed (IPU)", "% of threshold", "crossed on"]
org_alerts = client.ipu_alerts()
rows = []
for alert in org_alerts:
    entitlement = ENTITLEMENTS.get(alert["orgId"])
    if entitlement is None and alert.get("ipuThresholdPrefType") != "ABSOLUTE":
        print(f"{alert.get('orgName')}: its alert is {alert['thresholdValue']} % of the entitlement; add the org to ENTITLEMENTS")
        continue
    rows.append({"org": alert.get("orgName"), **alert_row(summary, alert, entitlement=entitlement, account=alert["orgId"])})
charts.table(pd.DataFrame(rows, columns=ORG_COLUMNS), thresholds=("% of threshold",), caption="Each org's IPU alert this month", fresh=summary)

# %%
alert = next((a for a in org_alerts if a["orgId"] == client.account), None)
entitlement = ENTITLEMENTS.get(client.account)
if entitlement is None and (alert is None or alert.get("ipuThresholdPrefType") != "ABSOLUTE"):
    print("Add this org's entitlement to ENTITLEMENTS to see its burn-down.")
else:
    status = ua.ipu_status(summary, entitlement=entitlement, account=client.account, alert=alert, start=month_start, end=next_month)
    level = status.thresholds[status.thresholds["level"] == status.alert.label].iloc[0]
    # The day the alert level is (or is forecast to be) crossed, from the one forecast function.
    org_rows = summary[summary["account_id"] == client.account]
    ahead = ua.forecast(org_rows, start=month_start, end=next_month, allowance=float(level["quantity"]))
    if level["crossed"]:
        when = f"alert level crossed on {pd.Timestamp(level['crossed_on']):%b %-d}"
    elif len(ahead) and pd.notna(ahead["runs_out_on"].iloc[0]):
        when = f"alert level forecast to be crossed on {pd.Timestamp(ahead['runs_out_on'].iloc[0]):%b %-d}"
    else:
        when = "alert level not crossed this month on the forecast"
    name = alert.get("orgName") if alert else client.account
    print(f"{name}: {status.used:,.0f} IPUs so far; {when}")
    display(charts.cumulative_vs_allowance(summary, plan=status, title=f"IPUs this month of {name}: {when}"))

# %% [markdown]
# Alerts per project and folder (`viewTagsPreference`) against this month's
# project/folder export:

# %%
rows = []
for tag in client.ipu_alert_tags():
    scope = folders[folders["product"] == tag["projectName"]]
    if tag.get("folderName"):
        scope = scope[scope["resource_name"] == tag["folderName"]]
    if len(scope) and tag.get("ipuThresholdPrefType") == "ABSOLUTE":
        rows.append({"project": tag["projectName"], "folder": tag.get("folderName") or "(whole project)", **alert_row(scope, tag)})
charts.table(pd.DataFrame(rows, columns=["project", "folder", *ORG_COLUMNS[1:]]), thresholds=("% of threshold",), caption="IPU alerts per project and folder this month", fresh=folders)
