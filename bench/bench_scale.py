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
It is cached in bench/out/scale-N. Every measurement runs in a fresh process (its peak memory
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
bounded memory: the overview's cube and the monthly totals, both in DuckDB
(never all rows in pandas); it builds that archive first (hours on 2 cores).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

import usage_analysis as ua
from bench._common import OUT, Report, in_fresh_process
from bench.bench_widgets import changes
from usage_analysis import archive, read_report
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
BIG_DEVICES = 1_000_000
YEAR = 2025
SEED = 7
GB = 1024**3

OVERVIEW_SECONDS, OVERVIEW_RATIO = 5.0, 2.0
MONTHLY_SECONDS = 1.0
OPEN_SECONDS, OPEN_BYTES, CHANGE_SECONDS = 20.0, 4 * GB, 0.5

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
    params = {"devices": devices, "year": YEAR, "seed": SEED, "online": "all year"}
    if stamp.exists() and json.loads(stamp.read_text()).get("params") == params:
        return int(json.loads(stamp.read_text())["rows"])
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
        reports = {
            "here": here_csv(here_usage(world, first, last, detail_level="day")),
            "informatica": informatica_zip(informatica_usage(world, first, last)),
        }
        for provider, data in reports.items():
            df = read_report(data, provider=provider, unified=True)
            archive.archive_frame(df, report_id=f"{provider}-{month:%Y-%m}", archive=where)
            rows += len(df)
            del df
        print(
            f"  {month:%Y-%m}: {rows:,} rows so far, {time.perf_counter() - t0:.0f} s", flush=True
        )
    stamp.write_text(json.dumps({"params": params, "rows": rows}))
    return rows


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
    run_size(report, DEVICES, explorer=True)
    if os.environ.get("BENCH_SCALE_BIG"):
        run_size(report, BIG_DEVICES, explorer=False)


def run_size(report: Report, devices: int, *, explorer: bool) -> None:
    rows = build(devices)
    where = str(root(devices))
    label = f"{devices:,} devices, {rows / 1e6:.1f}M rows"
    tmp = OUT / "scale_tmp.out"
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
