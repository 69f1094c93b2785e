"""bench scale's fast build writes what the reader would: the generator's Particle
device-days as the unified frame read_report makes of their CSV (issue 21)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import usage_analysis as ua
from bench.bench_scale import MONTHLY, build_direct, particle_unified
from usage_analysis import archive, read_report
from usage_analysis.sample_data import make_world, particle_csv, particle_usage
from usage_analysis.schema import UNIFIED_COLUMNS


def test_particle_unified_equals_the_reader_on_the_rendered_csv() -> None:
    world = make_world(7, particle_devices=120, particle_products=5)
    first, last = pd.Timestamp("2025-02-01").date(), pd.Timestamp("2025-02-28").date()
    fast = particle_unified(world, first, last)
    read = read_report(
        particle_csv(particle_usage(world, first, last)), provider="particle", unified=True
    )
    assert len(fast) == len(read) > 0
    assert fast["product"].isna().any() and fast["product"].notna().any()  # sandbox and products
    assert list(fast.columns) == list(read.columns)
    for col in fast.columns:
        assert str(fast[col].dtype) == str(read[col].dtype), col
        if isinstance(read[col].dtype, pd.CategoricalDtype):
            pd.testing.assert_series_equal(
                fast[col].astype(object), read[col].astype(object), check_names=True
            )
        else:
            pd.testing.assert_series_equal(fast[col], read[col])


def test_the_year_written_by_duckdb_reads_as_an_archive_written_by_archive_frame(
    tmp_path: Path,
) -> None:
    """bench scale's 1M-device year is written without the generator (DuckDB draws the
    rows, the archive's own commit streams them into delta-rs): the package reads it
    exactly as it reads the same rows archived by archive_frame, through history(),
    sql(), daily_cube() and the overview."""
    direct = tmp_path / "direct"
    rows, _ = build_direct(40, months=2, where=direct)
    got = archive.history(archive=direct, sort=True)
    assert len(got) == rows
    particle = got.loc[(got["provider"] == "particle").to_numpy()]
    assert len(particle) == 40 * (31 + 28)
    assert particle["product"].isna().any() and particle["product"].notna().any()
    assert set(got["provider"].astype(str)) == {"particle", "here", "informatica"}

    # The same rows archived the usual way, report by report.
    usual = tmp_path / "usual"
    for _, report in got.groupby("report_id", observed=True):
        archive.archive_frame(
            report[list(UNIFIED_COLUMNS)], report_id=str(report["report_id"].iloc[0]), archive=usual
        )
    again = archive.history(archive=usual, sort=True)
    unified = list(UNIFIED_COLUMNS)
    pd.testing.assert_frame_equal(
        got[[*unified, "grain", "report_id"]].reset_index(drop=True),
        again[[*unified, "grain", "report_id"]].reset_index(drop=True),
    )
    pd.testing.assert_frame_equal(
        archive.sql(MONTHLY, archive=direct), archive.sql(MONTHLY, archive=usual)
    )
    pd.testing.assert_frame_equal(
        archive.daily_cube(archive=direct), archive.daily_cube(archive=usual)
    )
    pd.testing.assert_frame_equal(
        ua.overview(archive.daily_cube(archive=direct)),
        ua.overview(archive.daily_cube(archive=usual)),
    )
