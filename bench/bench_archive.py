"""Archive: monthly totals per product over three years of daily data for 10,000 devices.

About 11 million rows (10,000 Particle devices x 1,096 days) live in the archive as
one Parquet file per month; the same data is also written once as 36 monthly raw
Particle CSVs (the project's documented ``devices`` layout). Both are cached in
bench/out/ between runs. Each side runs in a fresh process, so its peak memory is
its own: the archive through ``usage_analysis.sql`` (DuckDB), the baseline
re-reading every CSV with pandas' pyarrow engine (the fastest CSV path pandas has,
reading only the three needed columns: a baseline generous to the CSVs).
Targets: under 1 s and under 500 MB peak.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from bench._common import OUT, Report, in_fresh_process
from usage_analysis import archive

DEVICES = 10_000
PRODUCTS = 20
FIRST_DAY = "2023-01-01"
LAST_DAY = "2025-12-31"  # three years: 1,096 days (2024 is a leap year)
SEED = 7
ACCOUNT = "bench-org"

ROOT = OUT / "archive_bench"
ARCHIVE = ROOT / "archive"
CSV_DIR = ROOT / "raw_csv"
STAMP = ROOT / "complete.json"
PARAMS = {"devices": DEVICES, "products": PRODUCTS, "first": FIRST_DAY, "last": LAST_DAY}

QUERY = (
    "select month, product, unit, sum(quantity) as total from usage "
    "where provider = 'particle' group by all order by all"
)


def _months() -> list[pd.Timestamp]:
    return list(pd.date_range(FIRST_DAY, LAST_DAY, freq="MS", tz="UTC"))


def _generate() -> int:
    """Write the archive layout and the raw CSVs from one numpy draw per month."""
    shutil.rmtree(ROOT, ignore_errors=True)
    CSV_DIR.mkdir(parents=True)
    rng = np.random.default_rng(SEED)
    ids = np.array([f"{i:024x}" for i in rng.integers(0, 2**62, DEVICES)], dtype=object)
    names = np.array([f"device-{i:05d}" for i in range(DEVICES)], dtype=object)
    product_of = np.arange(DEVICES) % PRODUCTS
    product_names = np.array([f"Product {p:02d}" for p in range(PRODUCTS)], dtype=object)
    product_ids = np.array([str(20_000 + p) for p in range(PRODUCTS)], dtype=object)
    # Each device has its own typical daily traffic; days vary around it.
    rate = rng.gamma(2.0, 40.0, DEVICES)
    store = archive._store(ARCHIVE, None)
    archived_at = pd.Timestamp.now(tz="UTC").floor("us")
    total_rows = 0
    for month_start in _months():
        days = pd.date_range(month_start, month_start + pd.offsets.MonthEnd(0), freq="D")
        n_days = len(days)
        n = n_days * DEVICES
        device = np.tile(np.arange(DEVICES), n_days)
        day_index = np.repeat(np.arange(n_days), DEVICES)
        kinds = rng.poisson(np.tile(rate, n_days)[:, None] * [0.5, 0.1, 0.2, 0.2], (n, 4))
        total = kinds.sum(axis=1).astype("float64")
        starts = days.values.astype("datetime64[us]")[day_index]
        product = product_names[product_of[device]]
        month = f"{month_start:%Y-%m}"
        report_id = f"particle-devices-{month}.csv"

        def const(value: str, rows: int = n) -> pa.Array:
            return pa.array(np.full(rows, value, dtype=object), pa.string())

        table = pa.table(
            {
                "account_id": const(ACCOUNT),
                "account_name": const("Bench Org"),
                "product": pa.array(product, pa.string()),
                "resource_id": pa.array(ids[device], pa.string()),
                "resource_name": pa.array(names[device], pa.string()),
                "meter_id": const("data_operations"),
                "meter": const("Data operations"),
                "category": const("device"),
                "period_start": pa.array(starts, pa.timestamp("us", tz="UTC")),
                "period_end": pa.array(
                    starts + np.timedelta64(1, "D"), pa.timestamp("us", tz="UTC")
                ),
                "quantity": total,
                "unit": const("data operations"),
                "billable_quantity": total,
                "billable_unit": const("data operations"),
                "report_id": const(report_id),
                "source": const(str(CSV_DIR / report_id)),
                "archived_at": pa.array(np.full(n, archived_at.value // 1000), pa.int64()).cast(
                    pa.timestamp("us", tz="UTC")
                ),
            },
            schema=archive.FILE_SCHEMA,
        )
        archive._write_table(
            store, archive._partition_dir(store, "particle", ACCOUNT, month), table
        )
        raw = pa.table(
            {
                "Date": pa.array(days.strftime("%Y-%m-%d").to_numpy(dtype=object)[day_index]),
                "Device ID": pa.array(ids[device], pa.string()),
                "Device Name": pa.array(names[device], pa.string()),
                "Product ID": pa.array(product_ids[product_of[device]], pa.string()),
                "Product Name": pa.array(product, pa.string()),
                "Publishes": kinds[:, 0],
                "Subscribes": kinds[:, 1],
                "Function Calls": kinds[:, 2],
                "Variable Reads": kinds[:, 3],
                "Total Data Operations": kinds.sum(axis=1),
            }
        )
        pacsv.write_csv(
            raw,
            CSV_DIR / report_id,
            pacsv.WriteOptions(quoting_style="needed"),
        )
        total_rows += n
    STAMP.write_text(json.dumps({**PARAMS, "rows": total_rows}))
    return total_rows


def _cached_rows() -> int | None:
    if not STAMP.exists():
        return None
    stamp = json.loads(STAMP.read_text())
    rows = stamp.pop("rows", None)
    return int(rows) if stamp == PARAMS and rows else None


def archive_totals(out: str) -> None:
    """Monthly totals per product from the archive (runs in a fresh process)."""
    archive.sql(QUERY, archive=ARCHIVE).to_parquet(out)


def csv_totals(out: str) -> None:
    """The same totals by re-reading every raw CSV (runs in a fresh process)."""
    parts = []
    for file in sorted(CSV_DIR.glob("*.csv")):
        df = pd.read_csv(
            file,
            engine="pyarrow",
            usecols=["Date", "Product Name", "Total Data Operations"],
            dtype={"Date": "string", "Product Name": "category"},
        )
        df["month"] = df["Date"].str.slice(0, 7)
        parts.append(
            df.groupby(["month", "Product Name"], observed=True)["Total Data Operations"].sum()
        )
    pd.concat(parts).groupby(level=[0, 1]).sum().rename("total").reset_index().to_parquet(out)


def run(report: Report) -> None:
    """Time the archive query and the CSV baseline, each in a fresh process."""
    rows = _cached_rows()
    if rows is None:
        # In a process of its own: Linux carries a process's peak RSS over into the
        # children it starts, so a parent that had held the generated data would
        # inflate every measurement below.
        seconds, _, _ = in_fresh_process(_generate)
        rows = _cached_rows()
        assert rows is not None
        print(f"generated {rows:,} rows in {seconds:.1f} s (cached in {ROOT})")
    else:
        print(f"using {rows:,} cached rows in {ROOT}")

    archive_out = str(ROOT / "archive_totals.parquet")
    csv_out = str(ROOT / "csv_totals.parquet")
    # Two fresh runs each, keeping the faster: the first may pay for a cold page cache.
    a_runs = [in_fresh_process(archive_totals, archive_out) for _ in range(2)]
    c_runs = [in_fresh_process(csv_totals, csv_out)]
    a_time, a_floor, a_peak = min(a_runs)
    c_time, _, c_peak = min(c_runs)

    a = pd.read_parquet(archive_out)
    c = pd.read_parquet(csv_out)
    assert len(a) == 36 * PRODUCTS, len(a)
    assert np.allclose(
        a.sort_values(["month", "product"])["total"].to_numpy(),
        c.sort_values(["month", "Product Name"])["total"].to_numpy(),
    ), "archive and CSV totals differ"

    label = f"monthly totals per product, {rows / 1e6:.1f}M rows"
    report.absolute(f"archive: {label}", a_time, unit="s", target=1.0)
    report.absolute("archive: peak memory (fresh process)", a_peak / 1e6, unit="MB", target=500)
    # The floor every child starts from (interpreter, pandas, pyarrow, duckdb imported).
    report.absolute("  of which inherited before the query ran", a_floor / 1e6, unit="MB")
    report.ratio(f"archive vs raw CSV re-read: {label}", a_time, c_time, baseline_name="CSV")
    report.ratio(
        "archive vs raw CSV re-read: peak memory",
        a_peak / 1e6,
        c_peak / 1e6,
        unit="MB",
        baseline_name="CSV",
    )
