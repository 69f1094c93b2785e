"""The deterministic world behind the sample data and the emulator.

A world is a set of accounts and the things that use them: Particle devices in
products, HERE apps using features in a realm (and partner sub-accounts),
Informatica assets metered in orgs and projects. Everything is drawn from one
seed, so the same seed gives the same ids, names and usage on every machine.

Daily usage is a pure function of (seed, entity, day): a report over any range
agrees, day by day, with a report over any other range. That is what lets the
emulator answer any date range and tests check totals against ground truth.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import pandas as pd

__all__ = [
    "HereWorld",
    "InformaticaWorld",
    "ParticleWorld",
    "World",
    "make_world",
    "noise",
]

_HEX = np.array(list("0123456789abcdef"))
_ALNUM = np.array(list(string.ascii_letters + string.digits))
EPOCH = date(1970, 1, 1)

# Runaway devices repeat an episode of RUNAWAY_DAYS days every RUNAWAY_PERIOD
# days, so any month of data shows each of them running away at least once.
RUNAWAY_PERIOD = 29
RUNAWAY_DAYS = 3
# HERE apps and Informatica meters run away on the same rhythm: an app's retry loop
# on one feature multiplies its use of that feature, a looping schedule multiplies an
# org's use of one meter. Drawn from a stream of their own (seed, _RUNAWAY_STREAM), so
# planting them changes no other draw of the world.
HERE_RUNAWAY_FACTOR = (15.0, 30.0)
INFORMATICA_RUNAWAY_FACTOR = (10.0, 20.0)
_RUNAWAY_STREAM = 0x52554E

# (product id, name, id prefix, typical data operations per device per day,
#  weekend factor, share of publishes, subscribes, function calls, variable reads)
PARTICLE_PRODUCTS = (
    (31021, "Cold-chain Tracker", "tracker", 420.0, 0.55, (0.70, 0.10, 0.05, 0.15)),
    (31022, "Smart Water Meter", "meter", 96.0, 1.00, (0.85, 0.05, 0.05, 0.05)),
    (31023, "Air Quality Monitor", "airq", 288.0, 0.95, (0.60, 0.20, 0.05, 0.15)),
    (31024, "Fleet Gateway", "gateway", 1400.0, 0.45, (0.50, 0.30, 0.15, 0.05)),
    (31025, "Pump Controller", "pump", 210.0, 0.80, (0.55, 0.15, 0.20, 0.10)),
    (31026, "Asset Beacon", "beacon", 48.0, 1.00, (0.90, 0.04, 0.03, 0.03)),
)
PARTICLE_SANDBOX = ("", "", "devkit", 60.0, 0.40, (0.50, 0.20, 0.20, 0.10))

# (feature suffix, item description, category, unit, typical use per app per day,
#  billable: False for features the plan gives free)
HERE_FEATURES = (
    (
        "search-geocoding-1",
        "Geocoding & Search - Geocode",
        "Location Services",
        "Transactions",
        1800.0,
        True,
    ),
    (
        "search-autosuggest-1",
        "Geocoding & Search - Autosuggest",
        "Location Services",
        "Transactions",
        5200.0,
        True,
    ),
    ("routing-car-8", "Routing - Car", "Location Services", "Transactions", 2400.0, True),
    ("routing-matrix-8", "Routing - Matrix", "Location Services", "Transactions", 600.0, True),
    ("vector-tiles-2", "Vector Tiles", "Location Services", "Transactions", 15000.0, True),
    (
        "raster-tiles-3",
        "Map Image - Raster Tiles",
        "Location Services",
        "Transactions",
        4000.0,
        True,
    ),
    (
        "positioning-network-2",
        "Positioning - Network",
        "Location Services",
        "Transactions",
        900.0,
        False,
    ),
    ("data-transfer-out", "Data Transfer Out", "Pipelines", "GB", 3.2, True),
    ("object-store-storage", "Object Store Storage", "Storage", "GB-months", 1.8, True),
)
HERE_APP_NAMES = (
    "fleet-web",
    "driver-app",
    "dispatch-api",
    "geo-etl",
    "store-locator",
    "eta-service",
    "yard-map",
    "last-mile",
    "asset-finder",
    "route-optimizer",
    "kiosk",
    "analytics-batch",
)
HERE_PROJECTS = ("mobility", "logistics", "retail-maps")
HERE_BILLING_TAGS = ("", "team-mobility", "team-logistics", "cost-center-42")

# Meters used in the generated Informatica data: (meter id, name, metric category,
# scalar, IPU rate, typical usage per asset per day, job-level column set).
# IPU = usage / scalar * rate. Ids and names are from the metering seed table.
INFORMATICA_METERS = (
    ("a2nB20h1o0lc7k3P9xtWS8", "Data Integration", "Compute Units", 1.0, 0.16, 42.0, "di"),
    ("3TaYTMo6BFYeNIABfVmH0n", "Advanced Data Integration", "Compute Units", 1.0, 0.50, 18.0, "di"),
    (
        "cPnPIT3XYAziLqIoXtd0KC",
        "Data Quality",
        "Rows Processed",
        1_000_000.0,
        0.90,
        3_500_000.0,
        "",
    ),
    (
        "0sDTANKFZBSbqjzKaXKlmB",
        "Data Integration - Change Data Capture",
        "Rows Processed",
        1_000_000.0,
        0.30,
        9_000_000.0,
        "di",
    ),
    (
        "dMN0VeTW4cThHyPovp4GEX",
        "Advanced Pushdown Optimization",
        "Compute Units",
        1.0,
        0.60,
        12.0,
        "di",
    ),
    ("3uIRkIV5Rt9lBbAPzeR5Kj", "Application Integration", "Compute Units", 1.0, 0.40, 9.0, "ai"),
    (
        "1gUb7oRmAAXbpqeR8uRyye",
        "Data Masking",
        "Rows Processed",
        1_000_000.0,
        0.20,
        1_200_000.0,
        "",
    ),
)
INFORMATICA_ORG_KINDS = (
    ("Production", "Acme Data Production"),
    ("Sub-Organization", "Acme Analytics"),
    ("Sandbox", "Acme Sandbox"),
)
INFORMATICA_PROJECTS = ("Sales Pipeline", "Finance Mart", "Customer 360", "Supply Chain")
INFORMATICA_FOLDERS = ("Ingest", "Transform", "Publish")
INFORMATICA_ASSET_TYPES = {"di": "MTT", "ai": "PROCESS", "": "DQ_TASK"}


def day_ordinal(d: date | pd.Timestamp) -> int:
    """Days since 1970-01-01."""
    if isinstance(d, pd.Timestamp):
        d = d.date()
    return (d - EPOCH).days


def noise(seed: int, *keys: np.ndarray | int) -> np.ndarray:
    """Uniform [0, 1) numbers that depend only on (seed, keys): a vectorised splitmix64."""
    arrays = [np.asarray(k, dtype=np.uint64) for k in keys]
    shape = np.broadcast_shapes(*(a.shape for a in arrays)) if arrays else ()
    with np.errstate(over="ignore"):
        h = np.full(shape, seed, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        for a in arrays:
            h = h ^ (a + np.uint64(0x9E3779B97F4A7C15))
            h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            h = h ^ (h >> np.uint64(31))
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def _ids(rng: np.random.Generator, n: int, length: int, alphabet: np.ndarray) -> list[str]:
    """``n`` distinct random ids of ``length`` characters."""
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        for row in rng.integers(0, len(alphabet), size=(n, length)):
            s = "".join(alphabet[row])
            if s not in seen:
                seen.add(s)
                out.append(s)
                if len(out) == n:
                    break
    return out


@dataclass(frozen=True)
class ParticleWorld:
    """Devices in products, in one organization (plus the user's sandbox devices)."""

    org: str
    products: pd.DataFrame  # product_id, product_name, base_rate, weekend, shares...
    devices: (
        pd.DataFrame
    )  # device_id, device_name, product_id, product_name, base_rate, online_from, runaway, ...


@dataclass(frozen=True)
class HereWorld:
    """Apps in a partner realm and its sub-accounts, using priced features."""

    realm_id: str
    orgs: pd.DataFrame  # realm_id, org_name (row 0 is the partner itself)
    features: (
        pd.DataFrame
    )  # featureId, name, category, valueDriver, base, billable, billingSubscriptionId
    apps: pd.DataFrame  # realmId, appId, appName, appHrn, projectHrn, billingTag, scale
    # app index, feature index, scale: which app uses which feature; runaway,
    # runaway_factor, runaway_offset: the app-feature pairs that run away, and when
    usage_pairs: pd.DataFrame


@dataclass(frozen=True)
class InformaticaWorld:
    """Orgs, the meters they use, and the assets (tasks) that consume IPUs."""

    orgs: pd.DataFrame  # org_id, org_name, org_type, parent_org_id
    meters: (
        pd.DataFrame
    )  # meter_id, meter_name, metric_category, scalar, ipu_rate, base, job_columns
    # asset_id, asset_name, asset_type, org_id, project, folder, meter_id, environment...,
    # base; runaway, runaway_factor, runaway_offset: the same for every asset of a
    # runaway (org, meter)
    assets: pd.DataFrame


@dataclass(frozen=True)
class World:
    """All three providers' accounts, drawn from one seed."""

    seed: int
    particle: ParticleWorld
    here: HereWorld
    informatica: InformaticaWorld


def _particle_world(
    rng: np.random.Generator, seed: int, n_devices: int, n_products: int
) -> ParticleWorld:
    products = [*PARTICLE_PRODUCTS[: max(1, min(n_products, len(PARTICLE_PRODUCTS)))]]
    prod = pd.DataFrame(
        {
            "product_id": [p[0] for p in products],
            "product_name": [p[1] for p in products],
            "prefix": [p[2] for p in products],
            "base_rate": [p[3] for p in products],
            "weekend": [p[4] for p in products],
            "share_publish": [p[5][0] for p in products],
            "share_subscribe": [p[5][1] for p in products],
            "share_function": [p[5][2] for p in products],
            "share_variable": [p[5][3] for p in products],
        }
    )
    n_sandbox = max(1, n_devices // 20)
    n_product_devices = max(0, n_devices - n_sandbox)
    # Bigger fleets in the first products, as real accounts have.
    weights = np.linspace(2.0, 1.0, len(prod))
    weights /= weights.sum()
    which = rng.choice(len(prod), size=n_product_devices, p=weights)
    which.sort(kind="stable")
    ids = _ids(rng, n_devices, 24, _HEX)
    rows = []
    counters: dict[str, int] = {}
    # Plain tuples: pandas row access per device took minutes at 100,000 devices.
    prod_rows = list(prod.itertuples(index=False))
    for i in range(n_devices):
        if i < n_product_devices:
            p = prod_rows[int(which[i])]
            pid, pname, prefix = int(p.product_id), str(p.product_name), str(p.prefix)
            base, weekend = float(p.base_rate), float(p.weekend)
            shares = (p.share_publish, p.share_subscribe, p.share_function, p.share_variable)
        else:
            pid, pname, prefix = -1, PARTICLE_SANDBOX[1], PARTICLE_SANDBOX[2]
            base, weekend, shares = PARTICLE_SANDBOX[3], PARTICLE_SANDBOX[4], PARTICLE_SANDBOX[5]
        counters[prefix] = counters.get(prefix, 0) + 1
        rows.append(
            {
                "device_id": ids[i],
                "device_name": f"{prefix}-{counters[prefix]:04d}",
                "product_id": pid,
                "product_name": pname,
                "base_rate": base * float(np.exp(rng.normal(0.0, 0.35))),
                "weekend": weekend,
                "share_publish": shares[0],
                "share_subscribe": shares[1],
                "share_function": shares[2],
                "share_variable": shares[3],
            }
        )
    devices = pd.DataFrame(rows)
    # Most devices have been online for years; some come online during 2026
    # (billing starts on the first day a device is online).
    late = rng.random(n_devices) < 0.12
    first = np.where(
        late,
        day_ordinal(date(2026, 6, 1)) + rng.integers(0, 170, n_devices),
        day_ordinal(date(2024, 1, 1)),
    )
    devices["online_from"] = first.astype(np.int64)
    # A few runaway devices: firmware loops that multiply their traffic 20-40x
    # for a few days, again and again. Chosen among product devices online early.
    candidates = np.flatnonzero((~late) & (devices["product_id"].to_numpy() > 0))
    n_runaway = min(len(candidates), max(1, round(n_devices * 0.03)) if n_devices >= 10 else 0)
    runaway = np.zeros(n_devices, dtype=bool)
    if n_runaway:
        runaway[rng.choice(candidates, size=n_runaway, replace=False)] = True
    devices["runaway"] = runaway
    devices["runaway_factor"] = np.where(runaway, rng.uniform(20.0, 40.0, n_devices), 1.0)
    devices["runaway_offset"] = rng.integers(0, RUNAWAY_PERIOD, n_devices)
    org = "acme-iot-" + "".join(rng.choice(_HEX, 4))
    return ParticleWorld(org=org, products=prod.drop(columns=["prefix"]), devices=devices)


def _here_world(rng: np.random.Generator, n_apps: int, n_sub_accounts: int) -> HereWorld:
    realm = "org" + "".join(str(d) for d in rng.integers(0, 10, 10))
    subs = ["org" + "".join(str(d) for d in rng.integers(0, 10, 10)) for _ in range(n_sub_accounts)]
    orgs = pd.DataFrame(
        {
            "realm_id": [realm, *subs],
            "org_name": ["Acme Maps (partner)"]
            + [f"Customer {chr(65 + i)} GmbH" for i in range(len(subs))],
        }
    )
    feats = pd.DataFrame(
        {
            "featureId": [f"hrn:here:service::{realm}:{f[0]}" for f in HERE_FEATURES],
            "name": [f[1] for f in HERE_FEATURES],
            "category": [f[2] for f in HERE_FEATURES],
            "valueDriver": [f[3] for f in HERE_FEATURES],
            "base": [f[4] for f in HERE_FEATURES],
            "billable": [f[5] for f in HERE_FEATURES],
        }
    )
    sub_ids = {
        c: "".join(str(d) for d in rng.integers(0, 10, 10)) for c in feats["category"].unique()
    }
    feats["billingSubscriptionId"] = feats["category"].map(sub_ids)
    app_ids = _ids(rng, n_apps, 20, _ALNUM)
    names = [
        HERE_APP_NAMES[i % len(HERE_APP_NAMES)]
        + ("" if i < len(HERE_APP_NAMES) else f"-{i // len(HERE_APP_NAMES)}")
        for i in range(n_apps)
    ]
    # The partner's own apps first, then the sub-accounts' (a quarter each).
    owner = np.zeros(n_apps, dtype=np.int64)
    if subs:
        owner = np.where(rng.random(n_apps) < 0.5, 0, rng.integers(1, len(subs) + 1, n_apps))
    app_realm = orgs["realm_id"].to_numpy()[owner]
    project = rng.integers(-1, len(HERE_PROJECTS), n_apps)
    apps = pd.DataFrame(
        {
            "realmId": app_realm,
            "appId": app_ids,
            "appName": names,
            "appHrn": [
                f"hrn:here:account::{r}:app/{a}" for r, a in zip(app_realm, app_ids, strict=True)
            ],
            "projectHrn": [
                "" if p < 0 else f"hrn:here:authorization::{r}:project/{HERE_PROJECTS[p]}"
                for r, p in zip(app_realm, project, strict=True)
            ],
            "billingTag": [
                HERE_BILLING_TAGS[i] for i in rng.integers(0, len(HERE_BILLING_TAGS), n_apps)
            ],
            "scale": np.exp(rng.normal(0.0, 0.8, n_apps)),
        }
    )
    # Each app uses between 2 and all features; tiles and search are the most common.
    use = rng.random((n_apps, len(feats))) < np.linspace(0.75, 0.3, len(feats))
    use[np.arange(n_apps), rng.integers(0, len(feats), n_apps)] = True
    use[np.arange(n_apps), rng.integers(0, len(feats), n_apps)] = True
    app_idx, feat_idx = np.nonzero(use)
    pairs = pd.DataFrame(
        {"app": app_idx, "feature": feat_idx, "scale": np.exp(rng.normal(0.0, 0.3, len(app_idx)))}
    )
    return HereWorld(realm_id=realm, orgs=orgs, features=feats, apps=apps, usage_pairs=pairs)


def _informatica_world(rng: np.random.Generator, n_orgs: int, n_assets: int) -> InformaticaWorld:
    org_ids = _ids(rng, n_orgs, 22, _ALNUM)
    kinds = [INFORMATICA_ORG_KINDS[min(i, len(INFORMATICA_ORG_KINDS) - 1)] for i in range(n_orgs)]
    orgs = pd.DataFrame(
        {
            "org_id": org_ids,
            "org_name": [
                k[1] if i < len(INFORMATICA_ORG_KINDS) else f"Acme Region {i}"
                for i, k in enumerate(kinds)
            ],
            "org_type": [k[0] for k in kinds],
            "parent_org_id": [None] + [org_ids[0]] * (n_orgs - 1),
        }
    )
    meters = pd.DataFrame(
        INFORMATICA_METERS,
        columns=[
            "meter_id",
            "meter_name",
            "metric_category",
            "scalar",
            "ipu_rate",
            "base",
            "job_columns",
        ],
    )
    n_assets = max(n_assets, len(meters))
    # Every meter has at least one asset; the rest mostly Data Integration.
    meter_idx = np.concatenate(
        [
            np.arange(len(meters)),
            rng.choice(len(meters), n_assets - len(meters), p=_meter_weights(len(meters))),
        ]
    )
    org_idx = rng.choice(n_orgs, n_assets, p=_decreasing(n_orgs))
    verbs = ("load", "sync", "clean", "enrich", "publish", "match", "mask", "replicate")
    nouns = ("orders", "customers", "invoices", "stock", "shipments", "leads", "ledger", "events")
    assets = pd.DataFrame(
        {
            "asset_id": _ids(rng, n_assets, 22, _ALNUM),
            "asset_name": [
                f"{'m' if meters.job_columns[m] != 'ai' else 'p'}_{verbs[rng.integers(len(verbs))]}_{nouns[rng.integers(len(nouns))]}_{i:03d}"
                for i, m in enumerate(meter_idx)
            ],
            "asset_type": [INFORMATICA_ASSET_TYPES[meters.job_columns[m]] for m in meter_idx],
            "org_id": [org_ids[o] for o in org_idx],
            "project": [
                INFORMATICA_PROJECTS[i]
                for i in rng.integers(0, len(INFORMATICA_PROJECTS), n_assets)
            ],
            "folder": [
                INFORMATICA_FOLDERS[i] for i in rng.integers(0, len(INFORMATICA_FOLDERS), n_assets)
            ],
            "meter_id": meters["meter_id"].to_numpy()[meter_idx],
            "environment_id": [f"env-{o:02d}" for o in rng.integers(1, 4, n_assets)],
            "base": meters["base"].to_numpy()[meter_idx] * np.exp(rng.normal(0.0, 0.5, n_assets)),
        }
    )
    serverless = rng.random(n_assets) < 0.4
    assets["environment_name"] = np.where(
        serverless,
        "Serverless Runtime",
        assets["environment_id"].str.replace("env-", "secure-agent-"),
    )
    assets["environment_type"] = np.where(serverless, "Serverless", "Secure Agent")
    assets["tier"] = np.where(rng.random(n_assets) < 0.7, "Production", "Non-Production")
    return InformaticaWorld(orgs=orgs, meters=meters, assets=assets)


def _decreasing(n: int) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1)
    return w / w.sum()


def _meter_weights(n: int) -> np.ndarray:
    w = np.ones(n)
    w[0] = 4.0  # Data Integration is the workhorse
    return w / w.sum()


def make_world(
    seed: int = 7,
    *,
    particle_devices: int = 60,
    particle_products: int = 4,
    here_apps: int = 12,
    here_sub_accounts: int = 2,
    informatica_orgs: int = 3,
    informatica_assets: int = 40,
) -> World:
    """Draw a world from ``seed``: the same arguments give the same world everywhere."""
    rng = np.random.default_rng(seed)
    particle = _particle_world(rng, seed, particle_devices, particle_products)
    here = _here_world(rng, here_apps, here_sub_accounts)
    informatica = _informatica_world(rng, informatica_orgs, informatica_assets)
    planted = np.random.default_rng([seed, _RUNAWAY_STREAM])
    return World(
        seed=seed,
        particle=particle,
        here=replace(here, usage_pairs=_here_runaways(planted, here)),
        informatica=replace(informatica, assets=_informatica_runaways(planted, informatica)),
    )


def _pick_runaways(
    rng: np.random.Generator, typical: np.ndarray, eligible: np.ndarray, n: int
) -> np.ndarray:
    """``n`` of the eligible items among the busier half (by typical daily use).

    Busy enough that the runaway days stand out above the median volume the
    anomaly finder asks for by default; the rest are ordinary.
    """
    chosen = np.zeros(len(typical), dtype=bool)
    candidates = np.flatnonzero(eligible & (typical >= np.median(typical[eligible])))
    if n and len(candidates):
        chosen[rng.choice(candidates, size=min(n, len(candidates)), replace=False)] = True
    return chosen


def _here_runaways(rng: np.random.Generator, here: HereWorld) -> pd.DataFrame:
    """Mark a few app-feature pairs (Transactions features, distinct apps) as runaways."""
    pairs = here.usage_pairs.copy()
    feats, apps = here.features, here.apps
    feat = pairs["feature"].to_numpy()
    typical = (
        feats["base"].to_numpy()[feat]
        * apps["scale"].to_numpy()[pairs["app"].to_numpy()]
        * pairs["scale"].to_numpy()
    )
    eligible = (feats["valueDriver"].to_numpy()[feat] == "Transactions") & feats[
        "billable"
    ].to_numpy()[feat]
    n = max(1, len(apps) // 6) if len(apps) >= 4 else 0
    # One pair per app at most: each app's busiest eligible pair may be drawn.
    order = pairs.assign(typical=typical, ok=eligible).sort_values(
        ["app", "ok", "typical"], ascending=[True, False, False], kind="stable"
    )
    top_of_app = np.zeros(len(pairs), dtype=bool)
    top_of_app[order.drop_duplicates("app").index.to_numpy()] = True
    eligible &= top_of_app
    # One in the partner's own realm (the default report), the rest in any realm.
    own = (apps["realmId"].to_numpy() == here.realm_id)[pairs["app"].to_numpy()]
    runaway = _pick_runaways(rng, typical, eligible & own, min(n, 1))
    runaway |= _pick_runaways(rng, typical, eligible & ~runaway, n - int(runaway.sum()))
    pairs["runaway"] = runaway
    pairs["runaway_factor"] = np.where(runaway, rng.uniform(*HERE_RUNAWAY_FACTOR, len(pairs)), 1.0)
    pairs["runaway_offset"] = rng.integers(0, RUNAWAY_PERIOD, len(pairs))
    return pairs


def _informatica_runaways(rng: np.random.Generator, inf: InformaticaWorld) -> pd.DataFrame:
    """Mark a few (org, meter) pairs as runaways; every asset of a pair shares its rhythm."""
    assets = inf.assets.copy()
    meters = inf.meters.set_index("meter_id")
    ipu = (
        assets["base"].to_numpy()
        * meters.loc[assets["meter_id"], "ipu_rate"].to_numpy()
        / meters.loc[assets["meter_id"], "scalar"].to_numpy()
    )
    pairs = (
        assets.assign(ipu=ipu).groupby(["org_id", "meter_id"], sort=True)["ipu"].sum().reset_index()
    )
    n = 2 if len(pairs) >= 6 else 1 if len(pairs) >= 2 else 0
    runaway = _pick_runaways(rng, pairs["ipu"].to_numpy(), np.ones(len(pairs), dtype=bool), n)
    pairs["runaway"] = runaway
    pairs["runaway_factor"] = np.where(
        runaway, rng.uniform(*INFORMATICA_RUNAWAY_FACTOR, len(pairs)), 1.0
    )
    pairs["runaway_offset"] = rng.integers(0, RUNAWAY_PERIOD, len(pairs))
    marks = assets[["org_id", "meter_id"]].merge(
        pairs.drop(columns="ipu"), on=["org_id", "meter_id"], how="left"
    )
    for col in ("runaway", "runaway_factor", "runaway_offset"):
        assets[col] = marks[col].to_numpy()
    return assets
