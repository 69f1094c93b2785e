"""UsageExplorer: the slowest redraw within 200 ms on 1,000,000 rows and 500 ms on 5,000,000.

The frame is the analysis bench's synthetic unified Particle frame (10,000 or
50,000 devices x 100 days, 20 products). One explorer is built per size; then
each change below is made the way a user makes it (assigning a widget's value,
which runs the callback synchronously): products, devices, date ranges,
clearing the filters (all rows again), then every chart kind and period on a
product selection. The explorer keeps each filter's row mask and its results
per selection (headline, table, figure per view): going back to all rows is a
cache hit, a new selection is the whole callback: filtering, headline numbers
(totals, plan use, forecast), the chart (aggregated and pushed into the
FigureWidget) and the top-consumers table; a chart switch is the chart alone.

The baseline, timed in the same run on the same selections, is plain pandas
doing less: the boolean mask with ``isin`` and date comparisons, then one
``groupby([product, day]).quantity.sum()`` for the chart, one
``groupby(resource_id).quantity.sum().nlargest(10)`` for the table and the
total, with no figure built. Target: the slowest redraw at most 200 ms.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import pandas as pd

from bench._common import OUT, Report
from bench.bench_analysis import synthetic_frame
from usage_analysis.widgets import UsageExplorer

# (devices, target seconds for the slowest redraw): 1,000,000 and 5,000,000 rows.
SIZES = ((10_000, 0.200), (50_000, 0.500))


def _changes(ex: UsageExplorer) -> list[tuple[str, Callable[[], None], dict[str, object]]]:
    """Filter changes as a user makes them, with what each selects (for the baseline)."""
    products = [v for _, v in ex.filter.options("product")]
    devices = [v for _, v in ex.filter.options("resource_id")]
    first, last = ex.filter.first_day, ex.filter.last_day
    assert first is not None and last is not None
    out: list[tuple[str, Callable[[], None], dict[str, object]]] = []

    def pick(column: str, values: list[object]) -> Callable[[], None]:
        def change() -> None:
            # What a click in the multi-select does: one value change, one redraw.
            ex.selects[column].value = tuple(values)

        return change

    def days(start: date, end: date) -> Callable[[], None]:
        def change() -> None:
            ex.start.value = start
            ex.end.value = end

        return change

    for i in range(4):
        sel = products[i * 3 : i * 3 + 3]
        out.append((f"products {i * 3}-{i * 3 + 2}", pick("product", sel), {"product": sel}))
    out.append(("clear product filter (1,000,000 rows)", pick("product", []), {}))
    for i in range(3):
        sel = devices[i * 50 : i * 50 + 50]
        out.append((f"50 devices ({i})", pick("resource_id", sel), {"resource_id": sel}))
    out.append(("clear device filter (1,000,000 rows)", pick("resource_id", []), {}))
    for k in (10, 30, 60):
        start = last - timedelta(days=k - 1)
        out.append((f"last {k} days", days(start, last), {"start": start, "end": last}))
    out.append(("all days again (1,000,000 rows)", days(first, last), {}))
    # Chart kinds and periods on a selection never drawn before (no cached result).
    sel = products[1:4]
    out.append(("products 1-3", pick("product", sel), {"product": sel}))

    def view(widget: str, value: object) -> Callable[[], None]:
        def change() -> None:
            getattr(ex, widget).value = value

        return change

    for kind in ("top", "heatmap", "breakdown", "compare", "plan", "time"):
        out.append((f"chart {kind} (products 1-3)", view("chart", kind), {"product": sel}))
    for freq in ("W", "MS", "D"):
        out.append((f"period {freq} (products 1-3)", view("freq", freq), {"product": sel}))
    return out


def _baseline(df: pd.DataFrame, sel: dict[str, object]) -> None:
    mask = np.ones(len(df), dtype=bool)
    for col in ("product", "resource_id"):
        if col in sel:
            mask &= df[col].isin(sel[col]).to_numpy()
    if "start" in sel:
        day = df["period_start"].dt.floor("D")
        mask &= (
            (day >= pd.Timestamp(sel["start"], tz="UTC"))
            & (day <= pd.Timestamp(sel["end"], tz="UTC"))
        ).to_numpy()
    sub = df.loc[mask]
    sub.groupby(["product", sub["period_start"].dt.floor("D")], observed=True)["quantity"].sum()
    sub.groupby("resource_id", observed=True)["quantity"].sum().nlargest(10)
    sub.groupby("unit", observed=True)["quantity"].sum()


def run(report: Report) -> None:
    """Time each change of the explorer and the pandas baseline on the same selection."""
    for devices, target in SIZES:
        _run_size(report, devices, target)


def _run_size(report: Report, devices: int, target: float) -> None:
    df = synthetic_frame(devices=devices)
    rows = f"{len(df) / 1e6:g}M rows"
    t0 = time.perf_counter()
    ex = UsageExplorer(df, export_dir=OUT / "widgets_bench")
    report.absolute(f"UsageExplorer({rows}) construction", time.perf_counter() - t0, unit="s")
    ours: list[float] = []
    base: list[float] = []
    cpu: list[float] = []
    for name, change, sel in _changes(ex):
        name = name.replace("1,000,000 rows", f"{len(df):,} rows")
        before = ex.redraws
        c = time.process_time()
        t = time.perf_counter()
        change()
        seconds = time.perf_counter() - t
        cpu.append(time.process_time() - c)
        assert ex.redraws > before, f"{name}: no redraw happened"
        assert not ex.messages.errors, ex.messages.lines
        t = time.perf_counter()
        _baseline(df, sel)
        b = time.perf_counter() - t
        ours.append(seconds)
        base.append(b)
        print(
            f"  {name:<44} redraw {seconds * 1000:7.1f} ms (CPU {cpu[-1] * 1000:6.1f} ms)"
            f"   pandas {b * 1000:7.1f} ms",
            flush=True,
        )
    report.ratio(
        f"explorer redraw, median of changes ({rows})",
        statistics.median(ours),
        statistics.median(base),
        baseline_name="pandas",
    )
    report.ratio(
        f"explorer redraw, slowest change ({rows})", max(ours), max(base), baseline_name="pandas"
    )
    report.absolute(f"explorer redraw, slowest change ({rows})", max(ours), unit="s", target=target)
    del ex, df
