"""Usage records of a :class:`World`, as each provider's report file lays them out.

Every function returns frames whose column names are exactly the file's header
(see ARCHITECTURE.md), with typed values; ``render.py`` turns them into bytes.
Ranges are whole UTC days, ``end`` inclusive. Usage is a pure function of (seed,
entity, day), vectorised with numpy, so a 1,000,000-row report takes a second.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime

import numpy as np
import pandas as pd

from .world import RUNAWAY_DAYS, RUNAWAY_PERIOD, World, day_ordinal, noise

__all__ = [
    "HERE_GROUPS",
    "INFORMATICA_JOB_TYPES",
    "PARTICLE_KIND_COLUMNS",
    "here_usage",
    "informatica_usage",
    "particle_usage",
]

PARTICLE_KIND_COLUMNS = ("Publishes", "Subscribes", "Function Calls", "Variable Reads")
HERE_GROUPS = ("appId", "project", "billingTag")
INFORMATICA_JOB_TYPES = ("SUMMARY", "PROJECT_FOLDER", "ASSET", "JOB_LEVEL")

# Noise streams: one key per purpose so the draws are independent.
_K_LEVEL, _K_OUTAGE, _K_RUNS, _K_STATUS = 1, 2, 3, 4


def _as_date(d: date | datetime | str | pd.Timestamp) -> date:
    if isinstance(d, str):
        return pd.Timestamp(d).date()
    if isinstance(d, pd.Timestamp | datetime):
        return d.date()
    return d


def _days(start: date | str, end: date | str) -> np.ndarray:
    s, e = day_ordinal(_as_date(start)), day_ordinal(_as_date(end))
    if e < s:
        raise ValueError(f"end {end} is before start {start}")
    return np.arange(s, e + 1, dtype=np.int64)


def _weekday(days: np.ndarray) -> np.ndarray:
    """Monday = 0 (1970-01-01 was a Thursday)."""
    return (days + 3) % 7


def _to_timestamps(days: np.ndarray) -> pd.DatetimeIndex:
    return pd.to_datetime(days.astype("datetime64[D]")).as_unit("ns")


def _match(values: pd.Series, wanted: Iterable[object] | None) -> np.ndarray:
    if wanted is None:
        return np.ones(len(values), dtype=bool)
    wanted_s = {str(w) for w in wanted}
    return values.astype(str).isin(wanted_s).to_numpy()


# --------------------------------------------------------------------------- Particle


def particle_usage(
    world: World,
    start: date | str,
    end: date | str,
    *,
    report_type: str = "devices",
    devices: Sequence[str] | None = None,
    products: Sequence[int | str] | None = None,
) -> pd.DataFrame:
    """Data operations per device (or product) per day, in the report's columns."""
    if report_type not in ("devices", "products"):
        raise ValueError(f"report_type must be 'devices' or 'products', not {report_type!r}")
    dev = world.particle.devices
    keep = _match(dev["device_id"], devices) & _match(dev["product_id"], products)
    dev = dev[keep].reset_index(drop=True)
    days = _days(start, end)
    n_dev, n_day = len(dev), len(days)
    d_idx = np.repeat(np.arange(n_dev), n_day)
    t = np.tile(days, n_dev)
    uid = np.flatnonzero(keep)[d_idx]  # world-wide device index: same noise whatever the filter

    base = dev["base_rate"].to_numpy()[d_idx]
    weekend = dev["weekend"].to_numpy()[d_idx]
    level = 0.75 + 0.5 * noise(world.seed, _K_LEVEL, uid, t)
    outage = noise(world.seed, _K_OUTAGE, uid, t) < 0.02
    wf = np.where(_weekday(t) >= 5, weekend, 1.0)
    runaway = dev["runaway"].to_numpy()[d_idx] & (
        ((t + dev["runaway_offset"].to_numpy()[d_idx]) % RUNAWAY_PERIOD) < RUNAWAY_DAYS
    )
    factor = np.where(runaway, dev["runaway_factor"].to_numpy()[d_idx], 1.0)
    total = np.where(outage, 0, np.rint(base * wf * level * factor)).astype(np.int64)
    online = t >= dev["online_from"].to_numpy()[d_idx]

    shares = dev[
        ["share_publish", "share_subscribe", "share_function", "share_variable"]
    ].to_numpy()[d_idx]
    kinds = np.floor(total[:, None] * shares).astype(np.int64)
    kinds[:, 0] += total - kinds.sum(axis=1)  # remainder to publishes: kinds add up exactly

    m = online
    pid = dev["product_id"].to_numpy()[d_idx][m]
    frame = pd.DataFrame(
        {
            "Date": _to_timestamps(t[m]),
            "Device ID": dev["device_id"].to_numpy()[d_idx][m],
            "Device Name": dev["device_name"].to_numpy()[d_idx][m],
            "Product ID": pd.array(np.where(pid > 0, pid, 0), dtype="Int64"),
            "Product Name": dev["product_name"].to_numpy()[d_idx][m],
        }
    )
    frame.loc[pid <= 0, "Product ID"] = pd.NA
    for i, col in enumerate(PARTICLE_KIND_COLUMNS):
        frame[col] = kinds[m, i]
    frame["Total Data Operations"] = total[m]
    frame = frame.sort_values(["Date", "Product Name", "Device Name"], kind="stable").reset_index(
        drop=True
    )
    if report_type == "devices":
        return frame
    active = frame.assign(active=frame["Total Data Operations"] > 0)
    prod = (
        active.groupby(["Date", "Product ID", "Product Name"], dropna=False, sort=True)
        .agg(
            Devices=("active", "sum"), **{"Total Data Operations": ("Total Data Operations", "sum")}
        )
        .reset_index()
    )
    prod["Devices"] = prod["Devices"].astype(np.int64)
    return prod[["Date", "Product ID", "Product Name", "Devices", "Total Data Operations"]]


# --------------------------------------------------------------------------- HERE

_HOURLY = np.array(
    [1, 1, 1, 1, 1, 2, 4, 7, 8, 7, 6, 6, 6, 6, 6, 6, 7, 8, 7, 5, 4, 3, 2, 1], dtype=np.float64
)
_HOURLY /= _HOURLY.sum()


def here_usage(
    world: World,
    start: date | str,
    end: date | str,
    *,
    detail_level: str = "day",
    group_by: Sequence[str] | str | None = None,
    feature_id: str | None = None,
    app_id: str | None = None,
    project_hrn: str | None = None,
    billing_tag: str | None = None,
    category: str | None = None,
    charge_type: str = "all",
    sub_accounts: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Usage per feature (and app, project, billing tag) per period, in camelCase columns.

    ``group_by`` None keeps every grouping (app, project, billing tag), as the
    partner guide's default; a list keeps those named (the rest are blank).
    ``sub_accounts`` None reports the partner realm itself; a list reports those
    realms and adds ``orgName``.
    """
    if detail_level not in ("summarized", "hour", "day", "month"):
        raise ValueError(
            f"detail_level must be summarized, hour, day or month, not {detail_level!r}"
        )
    if charge_type not in ("all", "billable", "nonBillable"):
        raise ValueError(f"charge_type must be all, billable or nonBillable, not {charge_type!r}")
    if isinstance(group_by, str):
        group_by = [g.strip() for g in group_by.split(",") if g.strip()]
    groups = set(HERE_GROUPS if group_by is None else group_by)
    unknown = groups - set(HERE_GROUPS)
    if unknown:
        raise ValueError(f"group_by may hold {', '.join(HERE_GROUPS)}, not {sorted(unknown)}")

    h = world.here
    realms = [h.realm_id] if sub_accounts is None else list(sub_accounts)
    apps, feats, pairs = h.apps, h.features, h.usage_pairs
    pa = apps.iloc[pairs["app"].to_numpy()].reset_index(drop=True)
    pf = feats.iloc[pairs["feature"].to_numpy()].reset_index(drop=True)
    keep = pa["realmId"].isin(realms).to_numpy().copy()
    for col, frame, want in (
        ("featureId", pf, feature_id),
        ("appId", pa, app_id),
        ("projectHrn", pa, project_hrn),
        ("billingTag", pa, billing_tag),
        ("category", pf, category),
    ):
        if want is not None:
            keep &= (frame[col] == want).to_numpy()
    if charge_type != "all":
        keep &= (pf["billable"] == (charge_type == "billable")).to_numpy()
    pair_ids = np.flatnonzero(keep)

    days = _days(start, end)
    p = np.repeat(pair_ids, len(days))
    t = np.tile(days, len(pair_ids))
    unit = pf["valueDriver"].to_numpy()[p]
    weekend = np.where(pf["category"].to_numpy()[p] == "Location Services", 0.6, 1.0)
    wf = np.where(_weekday(t) >= 5, weekend, 1.0)
    level = 0.8 + 0.4 * noise(world.seed, 10 + _K_LEVEL, p, t)
    raw = (
        pf["base"].to_numpy()[p]
        * pa["scale"].to_numpy()[p]
        * pairs["scale"].to_numpy()[p]
        * wf
        * level
    )
    runaway = pairs["runaway"].to_numpy()[p] & (
        ((t + pairs["runaway_offset"].to_numpy()[p]) % RUNAWAY_PERIOD) < RUNAWAY_DAYS
    )
    raw = raw * np.where(runaway, pairs["runaway_factor"].to_numpy()[p], 1.0)
    value = np.where(unit == "Transactions", np.rint(raw), np.round(raw, 4))

    out = pd.DataFrame(
        {
            "realmId": pa["realmId"].to_numpy()[p],
            "category": pf["category"].to_numpy()[p],
            "appId": pa["appId"].to_numpy()[p],
            "appName": pa["appName"].to_numpy()[p],
            "appHrn": pa["appHrn"].to_numpy()[p],
            "featureId": pf["featureId"].to_numpy()[p],
            "billingSubscriptionId": pf["billingSubscriptionId"].to_numpy()[p],
            "name": pf["name"].to_numpy()[p],
            "valueDriver": unit,
            "projectHrn": pa["projectHrn"].to_numpy()[p],
            "billingTag": pa["billingTag"].to_numpy()[p],
            "usageValue": value,
            "billableValue": np.where(pf["billable"].to_numpy()[p], value, 0.0),
        }
    )
    if detail_level == "hour":
        n = len(out)
        out = out.loc[np.repeat(np.arange(n), 24)].reset_index(drop=True)
        share = np.tile(_HOURLY, n)
        out["usageValue"] = np.round(out["usageValue"].to_numpy() * share, 4)
        out["billableValue"] = np.round(out["billableValue"].to_numpy() * share, 4)
        stamps = (np.repeat(t, 24) * 24 + np.tile(np.arange(24), len(t))).astype("datetime64[h]")
        out.insert(0, "usageDateTime", pd.to_datetime(stamps).as_unit("ns").tz_localize("UTC"))
    elif detail_level in ("day", "month"):
        stamps_d = t.astype("datetime64[D]")
        if detail_level == "month":
            stamps_d = stamps_d.astype("datetime64[M]").astype("datetime64[D]")
        out.insert(0, "usageDateTime", pd.to_datetime(stamps_d).as_unit("ns").tz_localize("UTC"))

    blank = {
        "appId": ("appId", "appName", "appHrn"),
        "project": ("projectHrn",),
        "billingTag": ("billingTag",),
    }
    dropped = [c for g, cols in blank.items() if g not in groups for c in cols]
    for c in dropped:
        out[c] = ""
    if dropped or detail_level in ("month", "summarized"):
        keys = [c for c in out.columns if c not in ("usageValue", "billableValue")]
        out = out.groupby(keys, sort=False, observed=True).sum().reset_index()
        out["usageValue"] = out["usageValue"].round(4)
        out["billableValue"] = out["billableValue"].round(4)

    out["billingChargeNumber"] = "CHG-" + out["billingSubscriptionId"].astype(str).str[-6:]
    out["resourceHrn"] = out["appHrn"]
    if sub_accounts is not None:
        names = dict(zip(h.orgs["realm_id"], h.orgs["org_name"], strict=True))
        out["orgName"] = out["realmId"].map(names).fillna("")
    order = [c for c in ("usageDateTime", "realmId", "appName", "featureId") if c in out.columns]
    return out.sort_values(order, kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- Informatica


def _asset_days(
    world: World, start: date | str, end: date | str, assets: pd.DataFrame
) -> pd.DataFrame:
    """Usage of each asset on each day it ran (meter units and IPUs)."""
    inf = world.informatica
    days = _days(start, end)
    a = np.repeat(assets.index.to_numpy(), len(days))
    t = np.tile(days, len(assets))
    uid = a + 100_000  # keep these streams apart from Particle's device indices
    level = 0.6 + 0.8 * noise(world.seed, 20 + _K_LEVEL, uid, t)
    idle = noise(world.seed, 20 + _K_OUTAGE, uid, t) < 0.12
    wf = np.where(_weekday(t) >= 5, 0.5, 1.0)
    meters = inf.meters.set_index("meter_id")
    meter_id = assets.loc[a, "meter_id"].to_numpy()
    scalar = meters.loc[meter_id, "scalar"].to_numpy()
    rate = meters.loc[meter_id, "ipu_rate"].to_numpy()
    runaway = assets.loc[a, "runaway"].to_numpy(dtype=bool) & (
        ((t + assets.loc[a, "runaway_offset"].to_numpy()) % RUNAWAY_PERIOD) < RUNAWAY_DAYS
    )
    factor = np.where(runaway, assets.loc[a, "runaway_factor"].to_numpy(), 1.0)
    raw = assets.loc[a, "base"].to_numpy() * wf * level * factor
    usage = np.where(scalar > 1, np.rint(raw), np.round(raw, 4))
    m = ~idle & (usage > 0)
    frame = assets.loc[a[m]].reset_index().rename(columns={"index": "asset_index"})
    frame["day"] = t[m]
    frame["usage"] = usage[m]
    frame["ipu_per_unit"] = np.round(rate[m] / scalar[m], 12)
    frame["ipu"] = np.round(usage[m] * rate[m] / scalar[m], 6)
    orgs = inf.orgs.set_index("org_id")
    frame["org_name"] = orgs.loc[frame["org_id"], "org_name"].to_numpy()
    frame["org_type"] = orgs.loc[frame["org_id"], "org_type"].to_numpy()
    frame["meter_name"] = meters.loc[frame["meter_id"], "meter_name"].to_numpy()
    frame["metric_category"] = meters.loc[frame["meter_id"], "metric_category"].to_numpy()
    frame["scalar"] = meters.loc[frame["meter_id"], "scalar"].to_numpy()
    frame["ipu_rate"] = meters.loc[frame["meter_id"], "ipu_rate"].to_numpy()
    frame["job_columns"] = meters.loc[frame["meter_id"], "job_columns"].to_numpy()
    frame["Date"] = _to_timestamps(frame["day"].to_numpy())
    return frame.sort_values(
        ["day", "org_id", "meter_id", "asset_name"], kind="stable"
    ).reset_index(drop=True)


def _scalar_name(unit: str, scalar: float) -> str:
    """ "Compute Units", or "Million Rows Processed" for a meter counted per million."""
    return unit if scalar == 1 else f"{_MULTIPLES.get(scalar, f'{scalar:g} x')} {unit}"


_MULTIPLES = {1_000.0: "Thousand", 1_000_000.0: "Million"}


def _metric_category(meter_name: str) -> str:
    for family in ("Application Integration", "Data Quality", "Data Masking"):
        if meter_name.startswith(family):
            return family
    return "Data Integration"


def _summary(ad: pd.DataFrame) -> pd.DataFrame:
    g = (
        ad.groupby(["org_id", "meter_id", "Date"], sort=True, observed=True)
        .agg(
            MeterName=("meter_name", "first"),
            MeterUsage=("usage", "sum"),
            IPU=("ipu", "sum"),
            Scalar=("scalar", "first"),
            MetricCategory=("metric_category", "first"),
            OrgName=("org_name", "first"),
            OrgType=("org_type", "first"),
            IPURate=("ipu_rate", "first"),
        )
        .reset_index()
    )
    start = g["Date"].dt.to_period("M").dt.start_time.dt.as_unit("ns")
    # The documented form: Scalar names the unit MeterUsage is counted in, so
    # IPU = MeterUsage x IPURate (the world's usage is in raw units: rows, hours).
    scalar_name = [
        _scalar_name(c, s) for c, s in zip(g["MetricCategory"], g["Scalar"], strict=True)
    ]
    return pd.DataFrame(
        {
            "OrgId": g["org_id"],
            "MeterId": g["meter_id"],
            "MeterName": g["MeterName"],
            "Date": g["Date"],
            "BillingPeriodStartDate": start,
            "BillingPeriodEndDate": (start + pd.offsets.MonthEnd(0)).dt.as_unit("ns"),
            "MeterUsage": (g["MeterUsage"] / g["Scalar"]).round(6),
            "IPU": g["IPU"].round(6),
            "Scalar": scalar_name,
            # Undocumented content: the generated files say which family the meter is in.
            "MetricCategory": g["MeterName"].map(_metric_category),
            "OrgName": g["OrgName"],
            "OrgType": g["OrgType"],
            "IPURate": g["IPURate"],
        }
    )


def _project_folder(ad: pd.DataFrame) -> pd.DataFrame:
    g = (
        ad.groupby(["Date", "project", "folder", "org_id"], sort=True, observed=True)
        .agg(org_type=("org_type", "first"), ipu=("ipu", "sum"))
        .reset_index()
    )
    return pd.DataFrame(
        {
            "Date": g["Date"],
            "Project": g["project"],
            "Folder": g["folder"],
            "Org ID": g["org_id"],
            "Org Type": g["org_type"],
            "Consumption (IPUs)": g["ipu"].round(6),
        }
    )


def _asset(ad: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Meter ID": ad["meter_id"],
            "Meter Name": ad["meter_name"],
            "Date": ad["Date"],
            "Asset Name": ad["asset_name"],
            "Asset Type": ad["asset_type"],
            "Project": ad["project"],
            "Folder": ad["folder"],
            "Org ID": ad["org_id"],
            "Org Type": ad["org_type"],
            "Environment Name": ad["environment_name"],
            "Environment Type": ad["environment_type"],
            "Tier": ad["tier"],
            "IPU Per Unit": ad["ipu_per_unit"],
            "Usage": ad["usage"],
            "Consumption (IPUs)": ad["ipu"],
        }
    )


def _job_level_di(world: World, ad: pd.DataFrame) -> pd.DataFrame:
    """Each asset-day split into 1-3 task runs; metered values add up to the day's usage."""
    runs = 1 + np.floor(
        noise(world.seed, 20 + _K_RUNS, ad["asset_index"].to_numpy(), ad["day"].to_numpy()) * 3
    ).astype(np.int64)
    r = np.repeat(np.arange(len(ad)), runs)
    k = np.concatenate([np.arange(n) for n in runs]) if len(runs) else np.zeros(0, dtype=np.int64)
    rows = ad.iloc[r].reset_index(drop=True)
    n = runs[r]
    metered = np.round(rows["usage"].to_numpy() / n, 4)
    # Last run of a day takes the rounding remainder so the runs add up exactly.
    last = k == n - 1
    day_total = rows["usage"].to_numpy()
    metered = np.where(last, np.round(day_total - metered * (n - 1), 4), metered)
    start = rows["Date"] + pd.to_timedelta(
        1 + k * 7 + (rows["asset_index"].to_numpy() % 5), unit="h"
    )
    seconds = np.maximum(60, np.rint(rows["usage"].to_numpy() % 97 * 37 + 120)).astype(np.int64)
    end = start + pd.to_timedelta(seconds, unit="s")
    status_u = noise(
        world.seed, 20 + _K_STATUS, rows["asset_index"].to_numpy(), rows["day"].to_numpy(), k
    )
    return pd.DataFrame(
        {
            "Task ID": rows["asset_id"],
            "Task Name": rows["asset_name"],
            "Task Object Name": rows["asset_name"].str.replace(r"^m_", "mt_", regex=True),
            "Task Type": rows["asset_type"],
            "Task Run ID": (
                rows["day"].to_numpy() * 1000 + rows["asset_index"].to_numpy() * 10 + k
            ).astype(np.int64),
            "Project Name": rows["project"],
            "Folder Name": rows["folder"],
            "Org ID": rows["org_id"],
            "Environment ID": rows["environment_id"],
            "Environment": rows["environment_name"],
            "Cores Used": np.where(rows["environment_type"] == "Serverless", 8, 4),
            "Start Time": start,
            "End Time": end,
            "Status": np.where(status_u < 0.05, "WARNING", "SUCCESS"),
            "Metered Value": metered,
            "Audit Time": end + pd.Timedelta(minutes=5),
            "OBM Task Time(s)": seconds,
        }
    )


def _job_level_ai(ad: pd.DataFrame) -> pd.DataFrame:
    hours = ad["usage"].to_numpy()
    count = np.maximum(1, np.rint(hours * 40)).astype(np.int64)
    return pd.DataFrame(
        {
            "Org ID": ad["org_id"],
            "Executed asset": ad["asset_name"],
            "Date (in UTC)": ad["Date"],
            "Execution env": ad["environment_name"],
            "Execution type": "Process",
            "Invoked by": np.where(ad["asset_index"].to_numpy() % 2 == 0, "REST API", "Scheduler"),
            "status": "SUCCESS",
            "Execution count": count,
            "Total Execution time (in hours)": hours,
            "Average Execution time (in seconds)": np.round(hours * 3600 / count, 3),
        }
    )


def informatica_usage(
    world: World,
    start: date | str,
    end: date | str,
    *,
    job_type: str = "SUMMARY",
    meter_id: str | None = None,
    all_linked_orgs: bool = False,
    combined: bool = False,
    org_id: str | None = None,
) -> dict[str, pd.DataFrame]:
    """The CSV members of a metering export ZIP: member name -> frame in the file's columns.

    The requesting org is ``org_id`` (default the production org); linked orgs are
    included when ``all_linked_orgs``. ``combined`` puts all orgs in one member.
    """
    job_type = job_type.upper()
    if job_type not in INFORMATICA_JOB_TYPES:
        raise ValueError(
            f"job_type must be one of {', '.join(INFORMATICA_JOB_TYPES)}, not {job_type!r}"
        )
    inf = world.informatica
    requester = org_id or str(inf.orgs["org_id"].iloc[0])
    orgs = list(inf.orgs["org_id"]) if all_linked_orgs else [requester]
    assets = inf.assets[inf.assets["org_id"].isin(orgs)]
    if meter_id is not None and job_type in ("ASSET", "JOB_LEVEL"):
        assets = assets[assets["meter_id"] == meter_id]
    if job_type == "JOB_LEVEL":
        job_meters = set(inf.meters.loc[inf.meters["job_columns"] != "", "meter_id"])
        assets = assets[assets["meter_id"].isin(job_meters)]
    ad = _asset_days(world, start, end, assets)

    if job_type == "JOB_LEVEL":
        members: dict[str, pd.DataFrame] = {}
        for mid in sorted(ad["meter_id"].unique()):
            part = ad[ad["meter_id"] == mid].reset_index(drop=True)
            kind = part["job_columns"].iloc[0]
            members[f"MeteringJobLevel_{mid}.csv"] = (
                _job_level_ai(part) if kind == "ai" else _job_level_di(world, part)
            )
        return members

    build, prefix, org_col = {
        "SUMMARY": (_summary, "MeteringSummary", "OrgId"),
        "PROJECT_FOLDER": (_project_folder, "MeteringProjectFolder", "Org ID"),
        "ASSET": (_asset, "MeteringAsset", "Org ID"),
    }[job_type]
    frame = build(ad)
    if combined:
        return {f"{prefix}_AllOrgs.csv": frame.reset_index(drop=True)}
    return {
        f"{prefix}_{org}.csv": frame[frame[org_col] == org].reset_index(drop=True) for org in orgs
    }
