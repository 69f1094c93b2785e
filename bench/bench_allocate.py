"""Allocate: a year of 100,000 devices (36.5M device-day rows) split between teams.

The archive (a Delta table, cached in bench/out/) holds N Particle devices x 365
days of 2025 in 20 products; set ``BENCH_ALLOCATE_DEVICES`` for another size.
``usage-analysis allocate``'s path is timed: DuckDB sums each month's rows per
device inside the scan (``allocation_cli.month_rows``), then pandas prices the
1.2M device-months (``ua.costs``: Particle blocks need the device count) and
splits them between the teams of a rules file (``ua.allocate``, to the cent).
The baseline is the same grouped sum (the same SELECT: sums, names and the newest
``archived_at`` per device, meter and month) in DuckDB alone over the same files,
into pandas. Target: within 2x. Each side runs in a fresh process, the faster of two runs.
"""

from __future__ import annotations

import json
import os
import shutil

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from deltalake import WriterProperties, write_deltalake

from bench._common import OUT, Report, in_fresh_process
from usage_analysis import archive

DEVICES = int(os.environ.get("BENCH_ALLOCATE_DEVICES", "100000"))
PRODUCTS = 20
YEAR = 2025
SEED = 11
ACCOUNT = "bench-org"

ROOT = OUT / "allocate_bench"
ARCHIVE = ROOT / f"archive-{DEVICES}"
STAMP = ARCHIVE.with_suffix(".json")
PARAMS = {"devices": DEVICES, "products": PRODUCTS, "year": YEAR}
RULES = ROOT / "allocation.toml"
PRICES = ROOT / "prices.toml"

RULES_TEXT = """\
[[team]]
name = "trackers"
match = { provider = "particle", product = ["Product 0*"] }
[[team]]
name = "meters"
match = { provider = "particle", product = ["Product 1[0-4]"] }
[[team]]
name = "gateways"
match = { provider = "particle", product = "Product 15" }
[[shared]]
name = "lab"
match = { provider = "particle", product = ["Product 16", "Product 17"] }
split = "proportional"
"""
# Products 18 and 19 match nothing: the unallocated tail.

PRICES_TEXT = """\
[particle]
currency = "USD"
block_price = 299.0
blocks = 1
"""

KEYS = "provider, account_id, product, resource_id, meter_id, category, unit, billable_unit, month"


def _months() -> list[pd.Timestamp]:
    return list(pd.date_range(f"{YEAR}-01-01", f"{YEAR}-12-01", freq="MS", tz="UTC"))


def _generate() -> int:
    """Write the archive one month at a time, straight through delta-rs."""
    shutil.rmtree(ARCHIVE, ignore_errors=True)
    ARCHIVE.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    ids = pa.array([f"{i:024x}" for i in range(DEVICES)]).dictionary_encode()
    names = pa.array([f"device-{i}" for i in range(DEVICES)]).dictionary_encode()
    products = pa.array([f"Product {p:02d}" for p in range(PRODUCTS)]).dictionary_encode()
    total = 0
    for month_start in _months():
        days = pd.date_range(month_start, month_start + pd.offsets.MonthEnd(0), freq="D")
        n = len(days) * DEVICES
        device = np.tile(np.arange(DEVICES), len(days))
        starts = np.repeat(days.tz_localize(None).to_numpy().astype("datetime64[us]"), DEVICES)
        quantity = rng.poisson(80.0, n).astype("float64")

        def const(value: str, n: int = n) -> pa.Array:
            return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int8)), pa.array([value]))

        cols = {
            "provider": const("particle"),
            "account_id": const(ACCOUNT),
            "account_name": const("Bench Org"),
            "product": pa.DictionaryArray.from_arrays(
                pa.array((device % PRODUCTS).astype(np.int32)), products.dictionary
            ),
            "resource_id": pa.DictionaryArray.from_arrays(
                pa.array(device.astype(np.int32)), ids.dictionary
            ),
            "resource_name": pa.DictionaryArray.from_arrays(
                pa.array(device.astype(np.int32)), names.dictionary
            ),
            "meter_id": const("data_operations"),
            "meter": const("Data Operations"),
            "category": const("device"),
            "period_start": pa.array(starts, pa.timestamp("us", tz="UTC")),
            "period_end": pa.array(starts + np.timedelta64(1, "D"), pa.timestamp("us", tz="UTC")),
            "quantity": pa.array(quantity),
            "unit": const("data operations"),
            "billable_quantity": pa.array(quantity),
            "billable_unit": const("data operations"),
            "grain": const("devices"),
            "month": const(f"{month_start:%Y-%m}"),
            "report_id": const(f"particle-devices-{month_start:%Y-%m}.csv"),
            "source": pa.nulls(n, pa.string()),
            "archived_at": pa.array(
                np.full(n, pd.Timestamp.now(tz="UTC").to_datetime64().astype("datetime64[us]")),
                pa.timestamp("us", tz="UTC"),
            ),
        }
        table = pa.table(
            [cols[f.name].cast(f.type) for f in archive.TABLE_SCHEMA], schema=archive.TABLE_SCHEMA
        )
        write_deltalake(
            str(ARCHIVE),
            table,
            partition_by=list(archive.PARTITIONS),
            mode="append",
            writer_properties=WriterProperties(compression="ZSTD"),
        )
        total += n
        del table, cols
    STAMP.write_text(json.dumps({**PARAMS, "rows": total}))
    return total


def _cached_rows() -> int | None:
    if not STAMP.exists():
        return None
    stamp = json.loads(STAMP.read_text())
    rows = stamp.pop("rows", None)
    return int(rows) if stamp == PARAMS and rows else None


def _files() -> list[str]:
    return sorted(str(p) for p in ARCHIVE.rglob("*.parquet"))


def allocate_year(out: str) -> None:
    """What ``usage-analysis allocate`` does, for every month of the year at once."""
    import usage_analysis as ua
    from usage_analysis.allocation_cli import month_rows

    rows = month_rows(_months(), archive=ARCHIVE)
    result = ua.allocate(ua.costs(rows, PRICES, forecast=False), RULES)
    table = result.table.assign(month=result.table["month"].dt.strftime("%Y-%m"))
    table.to_parquet(out)


def duckdb_grouped_sum(out: str) -> None:
    """The same grouped sum (the SELECT of ``month_rows``), DuckDB alone over the same
    files (hive partitions from the paths), into pandas."""
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.sql(
        f"select {KEYS}, any_value(account_name) as account_name, "
        "any_value(resource_name) as resource_name, any_value(meter) as meter, "
        "sum(quantity) as quantity, sum(billable_quantity) as billable, "
        "max(archived_at) as archived_at "
        f"from read_parquet({_files()!r}, hive_partitioning = true) group by all"
    ).to_arrow_table().to_pandas().to_parquet(out)


def run(report: Report) -> None:
    ROOT.mkdir(parents=True, exist_ok=True)
    RULES.write_text(RULES_TEXT, encoding="utf-8")
    PRICES.write_text(PRICES_TEXT, encoding="utf-8")
    rows = _cached_rows()
    if rows is None:
        seconds, _, _ = in_fresh_process(_generate)
        rows = _cached_rows()
        assert rows is not None
        print(f"generated {rows:,} rows in {seconds:.1f} s (cached in {ARCHIVE})")
    else:
        print(f"using {rows:,} cached rows in {ARCHIVE}")
    a_out, d_out = str(ROOT / "allocation.parquet"), str(ROOT / "duckdb.parquet")
    a_time, a_floor, a_peak = min(in_fresh_process(allocate_year, a_out) for _ in range(2))
    d_time, _, _ = min(in_fresh_process(duckdb_grouped_sum, d_out) for _ in range(2))
    a, d = pd.read_parquet(a_out), pd.read_parquet(d_out)
    # The check that both sides did the work: every month's data operations are there.
    assert len(d) == 12 * DEVICES, len(d)
    ops = a.groupby("month")["quantity"].sum()
    want = d.groupby("month")["billable"].sum()
    assert np.allclose(ops.sort_index().to_numpy(), want.sort_index().to_numpy()), (ops, want)
    label = f"{rows / 1e6:.1f}M rows, {DEVICES:,} devices"
    report.ratio(
        f"allocate: a year ({label})",
        a_time,
        d_time,
        target=2.0,
        baseline_name="DuckDB grouped sum",
    )
    report.absolute("allocate: peak memory (fresh process)", (a_peak - a_floor) / 1e6, unit="MB")
