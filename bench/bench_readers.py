"""Readers: a 1,000,000-row HERE report and an Informatica ZIP of ten 100,000-row CSVs.

Baselines are timed in the same run on the same files:

- HERE report CSV -> unified frame, vs ``pyarrow.csv.read_csv`` of the file alone
  (target <= 1.5x) and vs plain ``pandas.read_csv`` (target <= 1.3x);
- the unified frame's memory vs plain ``pandas.read_csv``'s frame (target <= 40 %),
  plus the peak RSS of each, measured in a fresh process;
- Informatica asset ZIP (10 members x 100,000 rows) -> unified frame, vs unzipping
  every member and parsing it with ``pyarrow.csv.read_csv`` (target <= 2x).

The files come from the sample-data generator (``generate_file``) and are cached
in bench/out/readers/ between runs.
"""

from __future__ import annotations

import io
import json
import multiprocessing as mp
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from bench._common import OUT, Report, best_time
from usage_analysis import read_report
from usage_analysis.sample_data import generate_file

ROOT = OUT / "readers"
HERE_ROWS = 1_000_000
INFORMATICA_MEMBERS, INFORMATICA_ROWS = 10, 100_000
SEED = 7
HERE_FILE = ROOT / "here_report_1m.csv"
INFORMATICA_FILE = ROOT / "informatica_asset_10x100k.zip"
STAMP = ROOT / "params.json"
PARAMS = {
    "here_rows": HERE_ROWS,
    "informatica": [INFORMATICA_MEMBERS, INFORMATICA_ROWS],
    "seed": SEED,
}


def _files() -> None:
    """Generate the two input files unless a previous run left them in place."""
    if (
        STAMP.exists()
        and json.loads(STAMP.read_text()) == PARAMS
        and HERE_FILE.exists()
        and INFORMATICA_FILE.exists()
    ):
        return
    ROOT.mkdir(parents=True, exist_ok=True)
    print("generating the benchmark files (once; cached in bench/out/readers) ...", flush=True)
    generate_file("here", "report", rows=HERE_ROWS, out=HERE_FILE, seed=SEED)
    generate_file(
        "informatica",
        "asset",
        rows=INFORMATICA_ROWS,
        members=INFORMATICA_MEMBERS,
        out=INFORMATICA_FILE,
        seed=SEED,
    )
    STAMP.write_text(json.dumps(PARAMS))


def interleaved_best(fns: dict[str, Callable[[], Any]], *, rounds: int = 5) -> dict[str, float]:
    """Best wall time of each function over ``rounds`` rounds that run them in turn.

    On a shared two-core machine the load changes from second to second; running
    the contenders in turn gives each the same chances (best_time runs one
    function's repeats back to back).
    """
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            times[name].append(best_time(fn, repeat=1))
    return {name: min(t) for name, t in times.items()}


def _unzip_and_parse(path: Path) -> pa.Table:
    with zipfile.ZipFile(path) as zf:
        return pa.concat_tables(
            [pacsv.read_csv(io.BytesIO(zf.read(name))) for name in zf.namelist()]
        )


# Module-level so a spawned interpreter can run them.
def peak_pandas(path: str) -> None:
    """Plain pandas.read_csv of the file."""
    pd.read_csv(path)


def peak_unified(path: str) -> None:
    """read_report(path, unified=True)."""
    read_report(path, unified=True)


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _peak_child(name: str, path: str, conn: Any) -> None:
    before = _status_bytes("VmRSS")
    globals()[name](path)
    conn.send(_status_bytes("VmHWM") - before)
    conn.close()


def peak_growth_mb(name: str, path: str) -> float:
    """Peak RSS growth (MB) of ``name(path)`` in a fresh interpreter.

    VmHWM belongs to the new process image, unlike ru_maxrss, which Linux carries
    over from the (large) benchmark parent through fork and exec.
    """
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_peak_child, args=(name, path, child))
    proc.start()
    grown = parent.recv()
    proc.join()
    return grown / 1e6


def run(report: Report) -> None:
    """Time and size the readers against their baselines."""
    _files()
    here = str(HERE_FILE)
    size_mb = HERE_FILE.stat().st_size / 1e6
    print(f"HERE report: {HERE_ROWS:,} rows, {size_mb:.0f} MB", flush=True)

    best = interleaved_best(
        {
            "arrow": lambda: pacsv.read_csv(here),
            "pandas": lambda: pd.read_csv(here),
            "unified": lambda: read_report(here, unified=True),
        }
    )
    arrow_s, pandas_s, unified_s = best["arrow"], best["pandas"], best["unified"]
    report.ratio(
        "HERE 1M rows -> unified vs pyarrow.csv.read_csv",
        unified_s,
        arrow_s,
        target=1.5,
        baseline_name="pyarrow",
    )
    report.ratio(
        "HERE 1M rows -> unified vs pandas.read_csv",
        unified_s,
        pandas_s,
        target=1.3,
        baseline_name="pandas",
    )

    unified_mb = read_report(here, unified=True).memory_usage(deep=True).sum() / 1e6
    pandas_mb = pd.read_csv(here).memory_usage(deep=True).sum() / 1e6
    report.ratio(
        "HERE 1M rows: unified frame memory vs pandas.read_csv frame",
        unified_mb,
        pandas_mb,
        target=0.4,
        unit="MB",
        baseline_name="pandas",
    )
    report.ratio(
        "HERE 1M rows: peak RSS growth, read_report vs pandas",
        peak_growth_mb("peak_unified", here),
        peak_growth_mb("peak_pandas", here),
        unit="MB",
        baseline_name="pandas",
    )

    zipped = str(INFORMATICA_FILE)
    rows = f"{INFORMATICA_MEMBERS} x {INFORMATICA_ROWS:,}"
    best = interleaved_best(
        {
            "base": lambda: _unzip_and_parse(INFORMATICA_FILE),
            "provider": lambda: read_report(zipped),
            "unified": lambda: read_report(zipped, unified=True),
        }
    )
    base_s, provider_s, unified_zip_s = best["base"], best["provider"], best["unified"]
    report.ratio(
        f"Informatica ZIP {rows} rows -> provider frame vs unzip+pyarrow",
        provider_s,
        base_s,
        baseline_name="unzip+arrow",
    )
    report.ratio(
        f"Informatica ZIP {rows} rows -> unified vs unzip+pyarrow",
        unified_zip_s,
        base_s,
        target=2.0,
        baseline_name="unzip+arrow",
    )
