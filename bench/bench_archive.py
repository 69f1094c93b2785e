"""Archive: totals, history() and writes over three years of daily data for N devices.

The archive (a Delta table) holds N Particle devices x 1,096 days: 10,000 devices
by default, about 11 million rows; set ``BENCH_ARCHIVE_DEVICES`` for another size.
It is cached in bench/out/ between runs. Every side runs in a fresh process (its
peak memory is its own) and every figure is a ratio against a baseline timed in
the same run:

- monthly totals per product through ``usage_analysis.sql`` vs DuckDB's own
  ``read_parquet`` of the same files (targets: under 1 s and 500 MB);
- ``history()`` of every row vs DuckDB reading the same rows into Arrow (target:
  within 3x; peak memory under 3x the returned frame);
- archiving a 1M-row report vs writing it as one Parquet file (target: within
  3x; the archive writes through delta-rs's own predicate overwrite), into an
  empty archive and replacing the same report in it; each side the fastest of
  three runs. The write figures do not depend on ``BENCH_ARCHIVE_DEVICES``.
"""

from __future__ import annotations

import json
import os
import shutil

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import WriterProperties, write_deltalake

from bench._common import OUT, Report, in_fresh_process
from usage_analysis import archive

DEVICES = int(os.environ.get("BENCH_ARCHIVE_DEVICES", "10000"))
PRODUCTS = 20
FIRST_DAY = "2023-01-01"
LAST_DAY = "2025-12-31"  # three years: 1,096 days (2024 is a leap year)
SEED = 7
ACCOUNT = "bench-org"
REPORT_DEVICES, REPORT_DAYS = 10_000, 100  # the 1M-row report

ROOT = OUT / "archive_bench"
ARCHIVE = ROOT / f"archive-{DEVICES}"
STAMP = ARCHIVE.with_suffix(".json")
PARAMS = {"devices": DEVICES, "products": PRODUCTS, "first": FIRST_DAY, "last": LAST_DAY}

QUERY = (
    "select month, product, unit, sum(quantity) as total from usage "
    "where provider = 'particle' group by all order by all"
)


def _months() -> list[pd.Timestamp]:
    return list(pd.date_range(FIRST_DAY, LAST_DAY, freq="MS", tz="UTC"))


def _frame(days: pd.DatetimeIndex, devices: int, rng: np.random.Generator) -> pd.DataFrame:
    """Unified Particle device rows: ``devices`` devices on each of ``days``."""
    ids = np.array([f"{i:024x}" for i in range(devices)], dtype=object)
    product = np.array([f"Product {p:02d}" for p in range(PRODUCTS)], dtype=object)
    n = len(days) * devices
    device = np.tile(np.arange(devices), len(days))
    starts = pd.DatetimeIndex(np.repeat(days.to_numpy(), devices), tz="UTC")
    quantity = rng.poisson(80.0, n).astype("float64")
    frame = pd.DataFrame(
        {
            "provider": pd.Categorical(["particle"] * 1).repeat(n),
            "account_id": pd.Categorical([ACCOUNT]).repeat(n),
            "account_name": pd.Categorical(["Bench Org"]).repeat(n),
            "product": pd.Categorical(product[device % PRODUCTS]),
            "resource_id": pd.Categorical(ids[device]),
            "resource_name": pd.Categorical(np.char.add("device-", (device % 100000).astype(str))),
            "meter_id": pd.Categorical(["data_operations"]).repeat(n),
            "meter": pd.Categorical(["Data operations"]).repeat(n),
            "category": pd.Categorical(["device"]).repeat(n),
            "period_start": starts,
            "period_end": starts + pd.Timedelta(days=1),
            "quantity": quantity,
            "unit": pd.Categorical(["data operations"]).repeat(n),
            "billable_quantity": quantity,
            "billable_unit": pd.Categorical(["data operations"]).repeat(n),
        }
    )
    frame.attrs = {"provider": "particle", "kind": "devices"}
    return frame


def _generate() -> int:
    """Write the archive one month (one report) at a time, straight through delta-rs."""
    shutil.rmtree(ARCHIVE, ignore_errors=True)
    ARCHIVE.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    total = 0
    for month_start in _months():
        days = pd.date_range(month_start, month_start + pd.offsets.MonthEnd(0), freq="D")
        frame = _frame(days, DEVICES, rng)
        frame["grain"] = "devices"
        frame["month"] = f"{month_start:%Y-%m}"
        frame["report_id"] = f"particle-devices-{month_start:%Y-%m}.csv"
        frame["source"] = None
        frame["archived_at"] = pd.Timestamp.now(tz="UTC")
        table = pa.Table.from_pandas(frame, preserve_index=False)
        table = pa.table(
            [table.column(f.name).cast(f.type) for f in archive.TABLE_SCHEMA],
            schema=archive.TABLE_SCHEMA,
        )
        write_deltalake(
            str(ARCHIVE),
            table,
            partition_by=list(archive.PARTITIONS),
            mode="append",
            writer_properties=WriterProperties(compression="ZSTD"),
        )
        total += len(frame)
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


def archive_totals(out: str) -> None:
    archive.sql(QUERY, archive=ARCHIVE).to_parquet(out)


def duckdb_totals(out: str) -> None:
    """DuckDB alone over the same files (hive partitions from the paths)."""
    con = duckdb.connect()
    con.sql(
        "select month, product, unit, sum(quantity) as total "
        f"from read_parquet({_files()!r}, hive_partitioning = true) "
        "where provider = 'particle' group by all order by all"
    ).to_arrow_table().to_pandas().to_parquet(out)


def archive_history(out: str) -> None:
    frame = archive.history(archive=ARCHIVE)
    size = int(frame.memory_usage(deep=True).sum())
    with open(out, "w") as f:
        json.dump({"rows": len(frame), "bytes": size}, f)


def duckdb_rows(out: str) -> None:
    """DuckDB reading every row of the same files straight into Arrow."""
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    table = con.sql(
        f"select * from read_parquet({_files()!r}, hive_partitioning = true)"
    ).to_arrow_table()
    with open(out, "w") as f:
        json.dump({"rows": table.num_rows, "bytes": table.nbytes}, f)


def _report_frame() -> pd.DataFrame:
    days = pd.date_range("2026-01-01", periods=REPORT_DAYS, freq="D")
    return _frame(days, REPORT_DEVICES, np.random.default_rng(1))


REPEAT = 3  # each side timed this many times in its process, keeping the fastest


def write_report(target: str, replace: bool) -> None:
    """Archive the 1M-row report: into an empty archive, or replacing itself (after
    archiving it once untimed). The fastest of ``REPEAT`` runs."""
    import time

    frame = _report_frame()
    times = []
    for _ in range(REPEAT):
        if not replace:
            shutil.rmtree(target, ignore_errors=True)
        elif not os.path.exists(target):
            archive.archive_frame(frame, report_id="r", archive=target)
        t0 = time.perf_counter()
        done = archive.archive_frame(frame, report_id="r", archive=target)
        times.append(time.perf_counter() - t0)
        assert done.rows == len(frame) and done.replaced == (len(frame) if replace else 0)
    shutil.rmtree(target, ignore_errors=True)
    with open(target + ".json", "w") as f:
        json.dump({"seconds": min(times)}, f)


def write_parquet(target: str) -> None:
    """The same frame as one Parquet file (pandas -> Arrow -> zstd Parquet); the
    fastest of ``REPEAT`` runs."""
    import time

    frame = _report_frame()
    times = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        pq.write_table(
            pa.Table.from_pandas(frame, preserve_index=False), target, compression="zstd"
        )
        times.append(time.perf_counter() - t0)
    with open(target + ".json", "w") as f:
        json.dump({"seconds": min(times)}, f)


def _read(path: str) -> dict[str, float]:
    with open(path) as f:
        return dict(json.load(f))


def run(report: Report) -> None:
    rows = _cached_rows()
    if rows is None:
        # In a process of its own: Linux carries a process's peak RSS over into the
        # children it starts.
        seconds, _, _ = in_fresh_process(_generate)
        rows = _cached_rows()
        assert rows is not None
        print(f"generated {rows:,} rows in {seconds:.1f} s (cached in {ARCHIVE})")
    else:
        print(f"using {rows:,} cached rows in {ARCHIVE}")
    label = f"{rows / 1e6:.1f}M rows"

    # 1. Monthly totals. Two fresh runs each, keeping the faster (cold page cache).
    a_out, d_out = str(ROOT / "archive_totals.parquet"), str(ROOT / "duckdb_totals.parquet")
    a_time, a_floor, a_peak = min(in_fresh_process(archive_totals, a_out) for _ in range(2))
    d_time, _, _ = min(in_fresh_process(duckdb_totals, d_out) for _ in range(2))
    a, d = pd.read_parquet(a_out), pd.read_parquet(d_out)
    assert len(a) == 36 * PRODUCTS, len(a)
    assert np.allclose(a["total"].to_numpy(), d["total"].to_numpy()), "totals differ"
    report.absolute(f"archive: monthly totals per product, {label}", a_time, unit="s", target=1.0)
    report.absolute(
        "archive: totals peak memory (fresh process)", a_peak / 1e6, unit="MB", target=500
    )
    report.absolute("  of which inherited before the query ran", a_floor / 1e6, unit="MB")
    report.ratio("archive totals vs DuckDB read_parquet", a_time, d_time, baseline_name="DuckDB")

    # 2. history() of every row.
    h_out, r_out = str(ROOT / "history.json"), str(ROOT / "duckdb_rows.json")
    h_time, h_floor, h_peak = in_fresh_process(archive_history, h_out)
    r_time, _, _ = in_fresh_process(duckdb_rows, r_out)
    h, r = _read(h_out), _read(r_out)
    assert h["rows"] == r["rows"] == rows, (h, r)
    report.ratio(
        f"archive: history() of {label}", h_time, r_time, target=3.0, baseline_name="DuckDB->Arrow"
    )
    report.ratio(
        "archive: history() peak memory vs the frame",
        (h_peak - h_floor) / 1e6,
        h["bytes"] / 1e6,
        unit="MB",
        target=3.0,
        baseline_name="frame",
    )

    # 3. Archiving a 1M-row report.
    target = str(ROOT / "write_bench")
    in_fresh_process(write_parquet, target + ".parquet")
    p_time = _read(target + ".parquet.json")["seconds"]
    for replace in (False, True):
        in_fresh_process(write_report, target, replace)
        w_time = _read(target + ".json")["seconds"]
        what = "replacing itself" if replace else "into an empty archive"
        report.ratio(
            f"archive: a 1M-row report, {what}",
            w_time,
            p_time,
            target=3.0,
            baseline_name="one Parquet file",
        )
