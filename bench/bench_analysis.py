"""Analysis: ``usage_by`` per product and day over 1,000,000 rows; anomalies over 10,000 devices x 90 days.

The frame is a synthetic unified Particle frame built with numpy (10,000 devices
x 100 days, one row per device per day, 20 products, 1 % of the devices running
away for three days), so the bench needs neither the generator nor the readers.
Each measurement is printed beside a plain pandas baseline timed in the same run:

- ``usage_by(df, by="product", freq="D")`` against
  ``df.groupby(["product", df.period_start.dt.floor("D")], observed=True).quantity.sum()``
  (target: at most 100 ms);
- ``anomalies(df)`` over the last 90 days against a per-device rolling median in
  pandas (``groupby("resource_id").quantity.rolling(28).median()``, which computes
  less: no MAD, no scoring) (target: at most 2 s).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench._common import Report, best_time
from usage_analysis.analysis import anomalies, usage_by
from usage_analysis.schema import validate_unified

DEVICES = 10_000
DAYS = 100
PRODUCTS = 20
SEED = 7
USAGE_BY_TARGET = 0.100  # seconds
ANOMALIES_TARGET = 2.0  # seconds


def synthetic_frame(devices: int = DEVICES, days: int = DAYS, *, seed: int = SEED) -> pd.DataFrame:
    """A unified Particle frame: one row per device per day, a few runaway devices."""
    rng = np.random.default_rng(seed)
    n = devices * days
    dev = np.repeat(np.arange(devices), days)
    day = np.tile(np.arange(days), devices)
    base = np.exp(rng.normal(np.log(300.0), 0.5, devices))
    quantity = rng.poisson(base[dev]).astype(np.float64)
    runaway = rng.choice(devices, size=devices // 100, replace=False)
    start_day = rng.integers(40, days - 3, devices)
    hit = np.isin(dev, runaway) & (day >= start_day[dev]) & (day < start_day[dev] + 3)
    quantity[hit] *= 30.0
    start = np.datetime64("2026-07-01", "ns").astype("int64")
    ns = start + day.astype(np.int64) * 86_400_000_000_000
    ts = pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")
    one = np.zeros(n, dtype=np.int8)

    def cat(codes: np.ndarray, labels: list[str]) -> pd.Categorical:
        return pd.Categorical.from_codes(codes, categories=pd.Index(labels, dtype="str"))

    ids = [f"{i:024x}" for i in range(devices)]
    df = pd.DataFrame(
        {
            "provider": cat(one, ["particle"]),
            "account_id": cat(one, ["bench-org"]),
            "account_name": cat(one, ["Bench Org"]),
            "product": cat(dev % PRODUCTS, [f"Product {p:02d}" for p in range(PRODUCTS)]),
            "resource_id": cat(dev, ids),
            "resource_name": cat(dev, [f"device-{i:05d}" for i in range(devices)]),
            "meter_id": cat(one, ["total"]),
            "meter": cat(one, ["Data operations"]),
            "category": cat(one, ["device"]),
            "period_start": ts,
            "period_end": ts + pd.Timedelta(days=1),
            "quantity": quantity,
            "unit": cat(one, ["data operations"]),
            "billable_quantity": quantity,
            "billable_unit": cat(one, ["data operations"]),
        }
    )
    validate_unified(df)
    df.attrs["runaway"] = sorted(ids[i] for i in runaway)
    return df


def run(report: Report) -> None:
    """Time both analyses and their pandas baselines on the same frame."""
    df = synthetic_frame()
    print(f"frame: {len(df):,} rows, {DEVICES:,} devices x {DAYS} days", flush=True)

    mine = best_time(lambda: usage_by(df, by="product", freq="D"), repeat=5)
    base = best_time(
        lambda: df.groupby(["product", df["period_start"].dt.floor("D")], observed=True)[
            "quantity"
        ].sum(),
        repeat=5,
    )
    report.absolute(
        "usage_by(by='product', freq='D'), 1M rows", mine, unit="s", target=USAGE_BY_TARGET
    )
    report.ratio("usage_by vs pandas groupby+floor", mine, base, baseline_name="pandas")

    last90 = df.loc[df["period_start"] >= df["period_start"].max() - pd.Timedelta(days=89)]
    found = anomalies(last90)
    mine = best_time(lambda: anomalies(last90), repeat=3)
    base = best_time(
        lambda: (
            last90.groupby("resource_id", observed=True)["quantity"]
            .rolling(28, min_periods=7)
            .median()
        ),
        repeat=3,
    )
    report.absolute("anomalies, 10,000 devices x 90 days", mine, unit="s", target=ANOMALIES_TARGET)
    report.ratio("anomalies vs pandas groupby rolling median", mine, base, baseline_name="pandas")
    planted = set(df.attrs["runaway"])
    top = list(dict.fromkeys(found["resource_id"].astype(str)))[: len(planted)]
    print(
        f"anomalies: {len(found):,} findings; {len(planted & set(top))} of the "
        f"{len(planted)} planted runaway devices are the top {len(planted)} devices",
        flush=True,
    )
