"""Memory is given back (issue 21): repeated gzipped reads do not grow the process,
and a closed explorer holds nothing beyond the frame it was given.

Each measurement runs in a fresh interpreter (other tests' allocations would blur
it); resident memory comes from psutil. Thresholds are generous against noise and
well below what a leak or a kept pool shows: without giving memory back a read of
the ~50 MB (inflated) report below keeps ~50 MB, and every read may add to it.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from usage_analysis.sample_data import generate_file

MB = 1024**2


def run_fresh(code: str) -> dict[str, list[float]]:
    """Run ``code`` in a new interpreter; it prints one JSON object last."""
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def gzipped_reports(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Ten gzipped HERE reports of 150,000 rows (a generated day repeated; fast to make)."""
    root = tmp_path_factory.mktemp("gz")
    small = root / "here.csv"
    generate_file("here", "report", rows=10_000, out=small, seed=5)
    header, *lines = small.read_bytes().splitlines(keepends=True)
    body = b"".join(lines) * 15
    paths = []
    for i in range(10):
        path = root / f"here-{i}.csv.gz"
        path.write_bytes(gzip.compress(header + body, compresslevel=1))
        paths.append(path)
    return paths


@pytest.mark.slow
def test_ten_gzipped_reads_in_a_row_do_not_grow_resident_memory(
    gzipped_reports: list[Path],
) -> None:
    got = run_fresh(
        f"""
        import gc, json, psutil
        from usage_analysis import read_report
        paths = {[str(p) for p in gzipped_reports]!r}
        proc = psutil.Process()
        read_report(paths[0], unified=True)  # imports and first-use caches
        gc.collect()
        base = proc.memory_info().rss
        held, frames, after = [], [], []
        for path in paths:
            df = read_report(path, unified=True)
            held.append(proc.memory_info().rss - base)
            frames.append(float(df.memory_usage(deep=True).sum()))
            del df
            gc.collect()
            after.append(proc.memory_info().rss - base)
        print(json.dumps({{"held": held, "frames": frames, "after": after}}))
        """
    )
    inflated = len(gzip.decompress(gzipped_reports[0].read_bytes()))
    assert inflated > 40 * MB  # big enough for a kept buffer to show
    # While the frame is held: the frame and at most 100 MB more.
    assert all(h <= f + 100 * MB for h, f in zip(got["held"], got["frames"], strict=True))
    # After the frame is dropped: less than half of what the inflated text takes,
    # and no growth from the second read to the tenth.
    assert max(got["after"]) < inflated / 2
    assert max(got["after"][1:]) - got["after"][1] < 16 * MB


@pytest.mark.slow
def test_a_closed_explorer_holds_no_more_than_its_frame(tmp_path: Path) -> None:
    got = run_fresh(
        f"""
        import gc, json, psutil
        from bench.bench_widgets import mixed_frame
        from usage_analysis.widgets import UsageExplorer
        proc = psutil.Process()
        df = mixed_frame(300_000)
        gc.collect()
        base = proc.memory_info().rss
        ex = UsageExplorer(df, export_dir={str(tmp_path)!r})
        for by in ("resource_id", "meter", "account_id"):
            ex.by.value = by
        ex.set_filters(provider=["particle"])
        ex.chart.value = "heatmap"
        ex.clear_filters()
        held = proc.memory_info().rss - base
        ex.close()
        del ex
        gc.collect()
        print(json.dumps({{"held": [held], "after": [proc.memory_info().rss - base]}}))
        """
    )
    assert got["after"][0] <= 100 * MB
    assert got["after"][0] < got["held"][0]  # closing gave something back


@pytest.mark.slow
def test_history_holds_no_more_than_its_frame_plus_100_mb(tmp_path: Path) -> None:
    """Arrow's pool kept the record batches history() read (1.4 GB beside a 670 MB
    frame of 12M rows): after the call only the frame stays, plus at most 100 MB."""
    import numpy as np
    import pandas as pd

    from usage_analysis import archive

    devices, days = 20_000, 100  # 2M rows: the pool kept ~230 MB of batches for them
    n = devices * days
    start = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(
        np.tile(np.arange(days), devices), unit="D"
    )

    def cat(codes: np.ndarray, labels: list[str]) -> pd.Categorical:
        return pd.Categorical.from_codes(codes, categories=pd.Index(labels, dtype="str"))

    ids = [f"{i:024x}" for i in range(devices)]
    df = pd.DataFrame(
        {
            "provider": cat(np.zeros(n, np.int8), ["particle"]),
            "account_id": cat(np.zeros(n, np.int8), ["acme"]),
            "product": cat(np.repeat(np.arange(devices) % 20, days), [f"p{i}" for i in range(20)]),
            "resource_id": cat(np.repeat(np.arange(devices), days), ids),
            "meter_id": cat(np.zeros(n, np.int8), ["data_operations"]),
            "period_start": start,
            "period_end": start + pd.Timedelta(days=1),
            "quantity": np.arange(n, dtype=np.float64),
            "unit": cat(np.zeros(n, np.int8), ["data operations"]),
        }
    )
    root = tmp_path / "archive"
    archive.archive_frame(df, grain="devices", report_id="big", archive=root)
    del df
    got = run_fresh(
        f"""
        import gc, json, psutil
        from usage_analysis import archive
        proc = psutil.Process()
        archive.history(archive={str(root)!r}, end="2026-01-02")  # warm up
        gc.collect()
        base = proc.memory_info().rss
        df = archive.history(archive={str(root)!r})
        gc.collect()
        held = proc.memory_info().rss - base
        frame = float(df.memory_usage(deep=True).sum())
        print(json.dumps({{"held": [held], "frames": [frame], "rows": [len(df)]}}))
        """
    )
    assert got["rows"][0] == n
    assert got["held"][0] <= got["frames"][0] + 100 * MB
