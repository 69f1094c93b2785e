"""Scale: a year of a 100,000-device fleet from the archive (issue 21).

The archive is built with the generator (``usage_analysis.sample_data``): N
Particle devices x 365 days (``BENCH_SCALE_DEVICES``, default 100,000: 36.5M
rows), plus HERE apps (N / 1,000) and Informatica assets (N / 2,500) for the same
year, one report a month, each archived with ``archive_frame`` into the
package's own table layout, so the reads measured are real. HERE and Informatica
months are rendered as the provider's report and read with ``read_report`` (the
path a real year takes); the Particle device-days go from the generator straight
to the unified frame that ``read_report`` makes of their CSV
(:func:`particle_unified`; ``tests/test_bench_scale.py`` checks the two are
equal), as rendering and parsing 36.5M CSV rows would take most of an hour here.
It is cached in bench/out/scale-N (built again when its stamp predates the archive's
device order, ``archive._write.device_order``). Every measurement runs in a fresh process (its peak memory
is its own) beside DuckDB doing the same aggregation over the same Parquet files
in the same run:

- the overview (notebook 04's table): ``archive.daily_cube()`` (summed per day in
  DuckDB) then ``ua.overview`` - target at most 5 s and 2x DuckDB's cube alone;
- monthly totals through ``archive.sql()`` - target at most 1 s;
- opening the explorer on the year: ``UsageExplorer.from_archive`` (the daily cube
  per product, meter and category, and the device-month totals, both summed in
  DuckDB) against DuckDB doing both sums - at most 20 s and 4 GB peak; then every
  change of ``bench widgets`` on it (device filters pick among the archive's
  devices) - each at most 500 ms.

``BENCH_SCALE_BIG=1`` adds what holds for a 1M-device year (365M rows) with
bounded memory: the overview and the monthly totals through the package's own
functions (their sums run in DuckDB, never all rows in pandas), with their peak
memory (target at most 8 GB). The generator would take about two hours for that
year, so :func:`build_direct` writes its Particle device-days without it: DuckDB
draws them (``range`` over devices, deterministic hashes for the values), one
day per Arrow record batch, streamed into the table by the archive's own commit
(delta-rs ``write_deltalake``: the table's schema, partitions and writer
properties), one commit a month as a monthly report makes; HERE and Informatica
go through the generator and ``archive_frame`` as above. ``BENCH_SCALE_BIG_DEVICES``
sets its size (default 1,000,000); ``BENCH_SCALE_KEEP=1`` keeps it afterwards
(otherwise its files are deleted once measured: about 6 GB).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

import usage_analysis as ua
from bench._common import OUT, Report, in_fresh_process
from bench.bench_widgets import changes
from usage_analysis import archive, read_report
from usage_analysis.archive._store import store
from usage_analysis.archive._table import PARTITIONS, TABLE_SCHEMA
from usage_analysis.archive._write import commit
from usage_analysis.errors import UnitMismatch
from usage_analysis.sample_data import (
    World,
    here_csv,
    here_usage,
    informatica_usage,
    informatica_zip,
    make_world,
    particle_usage,
)
from usage_analysis.widgets import UsageExplorer

DEVICES = int(os.environ.get("BENCH_SCALE_DEVICES", "100000"))
BIG_DEVICES = int(os.environ.get("BENCH_SCALE_BIG_DEVICES", "1000000"))
YEAR = 2025
SEED = 7
GB = 1024**3

OVERVIEW_SECONDS, OVERVIEW_RATIO = 5.0, 2.0
MONTHLY_SECONDS = 1.0
OPEN_SECONDS, OPEN_BYTES, CHANGE_SECONDS = 20.0, 4 * GB, 0.5
BIG_PEAK_BYTES = 8 * GB

MONTHLY = (
    "select month, provider, unit, sum(quantity) as quantity from usage group by all order by all"
)
CUBE_KEYS = "provider, account_id, account_name, unit, billable_unit"
EXPLORER_BY = ("product", "meter", "category")


def root(devices: int) -> Path:
    return OUT / f"scale-{devices}"


def build(devices: int) -> int:
    """Write the year into the archive (once; a stamp says it is complete)."""
    where = root(devices)
    stamp = where.with_suffix(".json")
    # "layout": the archive's rows in device order (archive._write.device_order); an
    # archive built before it is built again.
    params = {
        "devices": devices,
        "year": YEAR,
        "seed": SEED,
        "online": "all year",
        "layout": "device order",
    }
    if stamp.exists() and json.loads(stamp.read_text()).get("params") == params:
        return int(json.loads(stamp.read_text())["rows"])
    shutil.rmtree(where, ignore_errors=True)
    print(f"building the archive of {devices:,} devices x 365 days (once) ...", flush=True)
    world = make_world(
        SEED,
        particle_devices=devices,
        particle_products=20,
        here_apps=max(4, devices // 1000),
        informatica_assets=max(10, devices // 2500),
    )
    # The world brings some devices online in 2026; a fleet of N devices all year
    # makes N x 365 device-days (36.5M for 100,000), as issue 21 counts them.
    online = world.particle.devices["online_from"]
    world.particle.devices["online_from"] = online.min()
    rows = 0
    t0 = time.perf_counter()
    for month in pd.date_range(f"{YEAR}-01-01", f"{YEAR}-12-01", freq="MS"):
        first, last = month.date(), (month + pd.offsets.MonthEnd(0)).date()
        particle = particle_unified(world, first, last)
        archive.archive_frame(
            particle, report_id=f"particle-{month:%Y-%m}", grain="devices", archive=where
        )
        rows += len(particle)
        del particle
        rows += archive_others(world, month, where)
        print(
            f"  {month:%Y-%m}: {rows:,} rows so far, {time.perf_counter() - t0:.0f} s", flush=True
        )
    stamp.write_text(json.dumps({"params": params, "rows": rows}))
    return rows


def archive_others(world: World, month: pd.Timestamp, where: Path) -> int:
    """The month's HERE and Informatica reports, rendered, read and archived as a real
    year's are; how many rows they added."""
    first, last = month.date(), (month + pd.offsets.MonthEnd(0)).date()
    reports = {
        "here": here_csv(here_usage(world, first, last, detail_level="day")),
        "informatica": informatica_zip(informatica_usage(world, first, last)),
    }
    rows = 0
    for provider, data in reports.items():
        df = read_report(data, provider=provider, unified=True)
        archive.archive_frame(df, report_id=f"{provider}-{month:%Y-%m}", archive=where)
        rows += len(df)
        del df
    return rows


# --- the 1M-device year, without the generator -----------------------------------

DIRECT_PRODUCTS = 20
PARTICLE = {  # the columns every Particle device-day row has alike
    "meter_id": "data_operations",
    "meter": "Data Operations",
    "category": "device",
    "unit": "data operations",
    "billable_unit": "data operations",
}


def direct_root(devices: int) -> Path:
    return OUT / f"scale-direct-{devices}"


def _fleet(con: duckdb.DuckDBPyConnection, devices: int) -> dict[str, pa.Array]:
    """The fleet drawn in DuckDB (table ``fleet``: device number, product, rates), in
    the report's order (product, then device name), and the strings the rows share
    as Arrow dictionaries: device ids, names, products."""
    con.execute(
        f"""
        CREATE OR REPLACE TABLE fleet AS
        WITH drawn AS (
            SELECT
                i,
                -- one device in 20 is a sandbox device: no product
                CASE WHEN hash(i, {SEED}, 1) % 20 = 0 THEN NULL
                     ELSE (hash(i, {SEED}, 2) % {DIRECT_PRODUCTS})::INTEGER END AS product_ix,
                printf('%016x%08x', hash(i, {SEED}, 3), hash(i, {SEED}, 4) % 4294967296)
                    AS device_id,
                printf('device-%07d', i) AS device_name,
                -- data operations a day: 5 to ~4,000, most near 100
                5 + exp(4.5 + 1.2 * ((hash(i, {SEED}, 5) % 1000000) / 1e6 - 0.5) * 2.5)
                    AS base,
                0.2 + 0.8 * (hash(i, {SEED}, 6) % 1000) / 1000.0 AS weekend,
                hash(i, {SEED}, 7) % 1000 = 0 AS runaway,
                (hash(i, {SEED}, 8) % 30)::INTEGER AS phase
            FROM range({devices}) t(i)
        )
        SELECT (row_number() OVER (ORDER BY product_ix NULLS FIRST, device_name) - 1)::INTEGER
            AS dev, * EXCLUDE (i)
        FROM drawn ORDER BY dev
        """
    )
    names = con.sql("SELECT device_id, device_name FROM fleet ORDER BY dev").to_arrow_table()
    return {
        "resource_id": names["device_id"].combine_chunks(),
        "resource_name": names["device_name"].combine_chunks(),
        "product": pa.array([f"fleet-{k:02d}" for k in range(DIRECT_PRODUCTS)]),
    }


def _particle_day(
    con: duckdb.DuckDBPyConnection,
    strings: dict[str, pa.Array],
    day: pd.Timestamp,
    labels: dict[str, str],
    archived_at: pd.Timestamp,
) -> pa.RecordBatch:
    """One day of the fleet as the archive's rows (``TABLE_SCHEMA``, strings that are
    not partition values as dictionaries, as ``archive_frame`` writes them): the
    values drawn in DuckDB, the strings as indices into the fleet's dictionaries."""
    number = (day - pd.Timestamp("1970-01-01", tz="UTC")).days
    drawn = con.sql(
        f"""
        SELECT dev, product_ix, round(
            CASE WHEN hash(dev, {number}, {SEED}, 9) % 50 = 0 THEN 0  -- an outage
            ELSE base
                * CASE WHEN {day.day_of_week} >= 5 THEN weekend ELSE 1 END
                * (0.75 + 0.5 * (hash(dev, {number}, {SEED}, 10) % 1000000) / 1e6)
                * CASE WHEN runaway AND ({number} + phase) % 30 < 3 THEN 12 ELSE 1 END
            END) AS quantity
        FROM fleet ORDER BY dev
        """
    ).to_arrow_table()
    n = drawn.num_rows
    dev = drawn["dev"].combine_chunks()
    dictionary = pa.dictionary(pa.int32(), pa.string())
    zeros = pa.array(np.zeros(n, np.int32))

    def constant(value: str | None, *, plain: bool = False) -> pa.Array:
        if value is None:
            return pa.nulls(n, pa.string() if plain else dictionary)
        arr = pa.DictionaryArray.from_arrays(zeros, pa.array([value]))
        return arr.dictionary_decode() if plain else arr

    def stamp(ts: pd.Timestamp) -> pa.Array:
        return pa.array(np.full(n, ts.value // 1000, np.int64)).view(pa.timestamp("us", tz="UTC"))

    quantity = drawn["quantity"].combine_chunks()
    columns = {
        "provider": constant("particle", plain=True),
        "account_id": constant(None, plain=True),
        "account_name": constant(None),
        "product": pa.DictionaryArray.from_arrays(
            drawn["product_ix"].combine_chunks(), strings["product"]
        ),
        "resource_id": pa.DictionaryArray.from_arrays(dev, strings["resource_id"]),
        "resource_name": pa.DictionaryArray.from_arrays(dev, strings["resource_name"]),
        "period_start": stamp(day),
        "period_end": stamp(day + pd.Timedelta(days=1)),
        "quantity": quantity,
        "billable_quantity": quantity,
        "grain": constant("devices", plain=True),
        "month": constant(labels["month"], plain=True),
        "report_id": constant(labels["report_id"]),
        "source": constant(None),
        "archived_at": stamp(archived_at),
        **{name: constant(value) for name, value in PARTICLE.items()},
    }
    return pa.RecordBatch.from_arrays(
        [columns[name] for name in TABLE_SCHEMA.names], schema=_direct_schema()
    )


def _direct_schema() -> pa.Schema:
    dictionary = pa.dictionary(pa.int32(), pa.string())
    return pa.schema(
        [
            pa.field(f.name, dictionary)
            if pa.types.is_string(f.type) and f.name not in PARTITIONS
            else f
            for f in TABLE_SCHEMA
        ]
    )


def archive_particle_month(
    con: duckdb.DuckDBPyConnection,
    strings: dict[str, pa.Array],
    month: pd.Timestamp,
    where: Path,
) -> int:
    """The fleet's device-days of one month, one record batch a day, committed into the
    archive by its own commit (replacing the month's Particle device rows, as a
    fleet's monthly report does); how many rows."""
    labels = {"month": f"{month:%Y-%m}", "report_id": f"particle-{month:%Y-%m}"}
    archived_at = pd.Timestamp.now(tz="UTC").floor("us")
    days = pd.date_range(month, month + pd.offsets.MonthEnd(0), freq="D")
    rows = 0

    def batches() -> Iterator[pa.RecordBatch]:
        nonlocal rows
        for day in days:
            batch = _particle_day(con, strings, day, labels, archived_at)
            rows += batch.num_rows
            yield batch

    reader = pa.RecordBatchReader.from_batches(_direct_schema(), batches())
    predicate = (
        f"provider = 'particle' AND grain = 'devices' AND month = '{labels['month']}' "
        "AND account_id IS NULL"
    )
    metadata = {
        "usage_analysis.report_id": labels["report_id"],
        "usage_analysis.write_id": os.urandom(8).hex(),
    }
    commit(store(where, None), reader, predicate, metadata)  # type: ignore[arg-type]
    return rows


def build_direct(devices: int, *, months: int = 12, where: Path | None = None) -> tuple[int, float]:
    """The year of ``devices`` Particle devices written without the generator (once; a
    stamp says it is complete), with HERE and Informatica at proportional size through
    the generator; its rows and the seconds its build took."""
    where = direct_root(devices) if where is None else where
    stamp = where.with_suffix(".json")
    params = {"devices": devices, "year": YEAR, "seed": SEED, "months": months, "how": "duckdb"}
    if stamp.exists() and json.loads(stamp.read_text()).get("params") == params:
        done = json.loads(stamp.read_text())
        return int(done["rows"]), float(done["seconds"])
    shutil.rmtree(where, ignore_errors=True)
    print(f"writing the year of {devices:,} devices (DuckDB -> delta-rs) ...", flush=True)
    world = make_world(
        SEED,
        particle_devices=1,  # the fleet is drawn in DuckDB
        here_apps=max(4, devices // 1000),
        informatica_assets=max(10, devices // 2500),
    )
    con = _duckdb()
    t0 = time.perf_counter()
    strings = _fleet(con, devices)
    rows = 0
    for month in pd.date_range(f"{YEAR}-01-01", periods=months, freq="MS", tz="UTC"):
        rows += archive_particle_month(con, strings, month, where)
        rows += archive_others(world, month.tz_localize(None), where)
        print(
            f"  {month:%Y-%m}: {rows:,} rows so far, {time.perf_counter() - t0:.0f} s", flush=True
        )
    seconds = time.perf_counter() - t0
    stamp.write_text(json.dumps({"params": params, "rows": rows, "seconds": seconds}))
    return rows, seconds


def _categorical(values: np.ndarray | pd.Series) -> pd.Categorical:
    codes, labels = pd.factorize(values, sort=True, use_na_sentinel=True)
    return pd.Categorical.from_codes(codes, categories=pd.Index(labels, dtype="str"))


def _constant(value: str | None, n: int) -> pd.Categorical:
    if value is None:
        return pd.Categorical.from_codes(
            np.full(n, -1, np.int8), categories=pd.Index([], dtype="str")
        )
    return pd.Categorical.from_codes(
        np.zeros(n, np.int8), categories=pd.Index([value], dtype="str")
    )


def particle_unified(world: World, first: date, last: date) -> pd.DataFrame:
    """The generator's Particle device-days from ``first`` to ``last`` as the unified frame
    ``read_report`` makes of their CSV, without writing or parsing the CSV."""
    raw = particle_usage(world, first, last)
    n = len(raw)
    day = pd.DatetimeIndex(raw["Date"]).tz_localize("UTC")
    total = raw["Total Data Operations"].to_numpy(np.float64)
    product = raw["Product Name"].where(raw["Product Name"] != "")
    return pd.DataFrame(
        {
            "provider": _constant("particle", n),
            "account_id": _constant(None, n),
            "account_name": _constant(None, n),
            "product": _categorical(product),
            "resource_id": _categorical(raw["Device ID"]),
            "resource_name": _categorical(raw["Device Name"]),
            "meter_id": _constant("data_operations", n),
            "meter": _constant("Data Operations", n),
            "category": _constant("device", n),
            "period_start": day,
            "period_end": day + pd.Timedelta(days=1),
            "quantity": total,
            "unit": _constant("data operations", n),
            "billable_quantity": total.copy(),
            "billable_unit": _constant("data operations", n),
        }
    )


def _duckdb() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    return con


def _files(where: str) -> str:
    return f"'{where}/**/*.parquet'"


def _cube_sql(keys: str, where: str) -> str:
    """The daily cube as DuckDB alone writes it at its best: summed per period start,
    then per day (truncating every row's timestamp costs three times the scan)."""
    return (
        f"select {keys}, date_trunc('day', period_start) as day, sum(q), sum(b) from ("
        f"select {keys}, period_start, sum(quantity) as q, sum(billable_quantity) as b "
        f"from read_parquet({_files(where)}, hive_partitioning = true) group by all"
        ") group by all"
    )


def duckdb_cube(where: str, out: str) -> None:
    """DuckDB alone: the overview's daily cube over the same files."""
    _duckdb().sql(_cube_sql(CUBE_KEYS, where)).to_arrow_table().to_pandas().to_pickle(out)


def duckdb_explorer_cube(where: str, out: str) -> None:
    """DuckDB alone: what the explorer opens on (the daily cube per product, meter and
    category; the totals per device, meter and month)."""
    keys = ", ".join([CUBE_KEYS, *EXPLORER_BY])
    con = _duckdb()
    cube = con.sql(_cube_sql(keys, where)).to_arrow_table().to_pandas()
    devices = (
        con.sql(
            "select provider, account_id, account_name, product, resource_id, resource_name, "
            "meter_id, meter, category, unit, billable_unit, month, "
            "sum(quantity), sum(billable_quantity) "
            f"from read_parquet({_files(where)}, hive_partitioning = true) group by all"
        )
        .to_arrow_table()
        .to_pandas()
    )
    pd.to_pickle((cube, devices), out)


def duckdb_monthly(where: str, out: str) -> None:
    con = _duckdb()
    con.sql(
        MONTHLY.replace(
            "from usage", f"from read_parquet({_files(where)}, hive_partitioning = true)"
        )
    ).to_arrow_table().to_pandas().to_pickle(out)


def our_overview(where: str, out: str) -> None:
    cube = archive.daily_cube(archive=where)
    ua.overview(cube).to_pickle(out)


def our_monthly(where: str, out: str) -> None:
    archive.sql(MONTHLY, archive=where).to_pickle(out)


def scale_changes(ex: UsageExplorer) -> list[tuple[str, Any]]:
    """bench widgets' changes, its device filters picking among the archive's devices
    (the explorer's frame is the daily cube: it names none)."""
    assert ex.devices is not None
    devices = [v for _, v in ex.devices.options() if v is not None]
    out = []
    for name, change in changes(ex):
        if name.startswith("50 devices ("):
            i = int(name[len("50 devices (")])
            chosen = tuple(devices[i * 50 : i * 50 + 50])

            def change(chosen: tuple[Any, ...] = chosen) -> None:
                ex.selects["resource_id"].value = chosen

        out.append((name, change))
    return out


def our_explorer(where: str, out: str) -> None:
    """Open the explorer on the year (``UsageExplorer.from_archive``: the daily cube and
    the device-month totals, summed in DuckDB), then make every change of bench widgets.

    The modules are imported before the clock starts (a notebook has them already),
    plotly's FigureWidget too: its first import (nbformat, jsonschema) took 80 s at
    load 9 here, once per process, whatever the frame.
    """
    import plotly.graph_objects as go

    go.FigureWidget  # noqa: B018 - imported now, not on the clock
    t0 = time.perf_counter()
    ex = UsageExplorer.from_archive(archive=where, export_dir=OUT / "scale_exports")
    opened = time.perf_counter() - t0
    assert ex.devices is not None
    times = {}
    for name, change in scale_changes(ex):
        before = ex.redraws
        t = time.perf_counter()
        change()
        times[name.strip()] = time.perf_counter() - t
        assert ex.redraws > before, f"{name}: no redraw happened"
        unexpected = [e for e in ex.messages.errors if not isinstance(e, UnitMismatch)]
        assert not unexpected, (name, ex.messages.lines)
    Path(out).write_text(
        json.dumps(
            {
                "open": opened,
                "rows": len(ex.df),
                "device_months": len(ex.devices.months),
                "changes": times,
            }
        )
    )


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def run(report: Report) -> None:
    """Build (or reuse) the year, then time each measurement against DuckDB."""
    if DEVICES:  # BENCH_SCALE_DEVICES=0: the big year alone
        rows = build(DEVICES)
        run_size(report, str(root(DEVICES)), f"{DEVICES:,} devices, {rows / 1e6:.1f}M rows")
    if os.environ.get("BENCH_SCALE_BIG"):
        run_big(report, BIG_DEVICES)


def run_big(report: Report, devices: int) -> None:
    """The year of ``devices`` (1M: 365M rows) written by :func:`build_direct`: the
    overview and the monthly totals in bounded memory; its files deleted afterwards
    unless ``BENCH_SCALE_KEEP`` is set."""
    print(f"before the build; load: {load()}", flush=True)
    rows, seconds = build_direct(devices)
    where = direct_root(devices)
    size = sum(f.stat().st_size for f in where.rglob("*") if f.is_file())
    label = f"{devices:,} devices, {rows / 1e6:.1f}M rows"
    report.absolute(f"year written by DuckDB -> delta-rs ({label})", seconds / 60, unit="min")
    report.absolute(f"its files ({label})", size / GB, unit="GB")
    try:
        run_size(report, str(where), label, explorer=False, peak_target=BIG_PEAK_BYTES)
    finally:
        if not os.environ.get("BENCH_SCALE_KEEP"):
            shutil.rmtree(where, ignore_errors=True)
            where.with_suffix(".json").unlink(missing_ok=True)


def run_size(
    report: Report,
    where: str,
    label: str,
    *,
    explorer: bool = True,
    peak_target: float | None = None,
) -> None:
    tmp = OUT / "scale_tmp.out"
    target_gb = None if peak_target is None else peak_target / GB
    print(f"{label}; load: {load()}", flush=True)

    ours, _, our_peak = in_fresh_process(our_overview, where, str(tmp))
    table = pd.read_pickle(tmp)
    theirs, _, their_peak = in_fresh_process(duckdb_cube, where, str(tmp))
    print(f"  overview: {len(table)} rows; load: {load()}", flush=True)
    report.ratio(
        f"overview from the archive ({label})",
        ours,
        theirs,
        target=OVERVIEW_RATIO,
        baseline_name="duckdb",
    )
    report.absolute(f"overview ({label})", ours, unit="s", target=OVERVIEW_SECONDS)
    report.ratio(
        f"overview peak memory ({label})",
        our_peak / GB,
        their_peak / GB,
        unit="GB",
        baseline_name="duckdb",
    )
    if target_gb is not None:
        report.absolute(
            f"overview peak memory ({label})", our_peak / GB, unit="GB", target=target_gb
        )

    ours, _, our_peak = in_fresh_process(our_monthly, where, str(tmp))
    theirs, _, their_peak = in_fresh_process(duckdb_monthly, where, str(tmp))
    print(f"  monthly totals; load: {load()}", flush=True)
    report.ratio(f"monthly totals via sql() ({label})", ours, theirs, baseline_name="duckdb")
    report.absolute(f"monthly totals via sql() ({label})", ours, unit="s", target=MONTHLY_SECONDS)
    report.ratio(
        f"monthly totals peak memory ({label})",
        our_peak / GB,
        their_peak / GB,
        unit="GB",
        baseline_name="duckdb",
    )
    if target_gb is not None:
        report.absolute(
            f"monthly totals peak memory ({label})", our_peak / GB, unit="GB", target=target_gb
        )
    if not explorer:
        return

    _, _, peak = in_fresh_process(our_explorer, where, str(tmp))
    got = json.loads(tmp.read_text())
    theirs, _, _ = in_fresh_process(duckdb_explorer_cube, where, str(tmp))
    print(
        f"  explorer on a cube of {got['rows']:,} rows and {got['device_months']:,} "
        f"device-months; load: {load()}",
        flush=True,
    )
    for name, seconds in got["changes"].items():
        print(f"    {name:<40} {seconds * 1000:8.1f} ms", flush=True)
    report.ratio(
        f"explorer opened on the year ({label})", got["open"], theirs, baseline_name="duckdb cubes"
    )
    report.absolute(
        f"explorer opened on the year ({label})", got["open"], unit="s", target=OPEN_SECONDS
    )
    report.absolute(f"explorer peak memory ({label})", peak / GB, unit="GB", target=OPEN_BYTES / GB)
    slowest = max(got["changes"], key=got["changes"].get)
    print(f"  slowest change: {slowest}", flush=True)
    report.absolute(
        f"explorer change on the year, slowest ({label})",
        got["changes"][slowest],
        unit="s",
        target=CHANGE_SECONDS,
    )
