"""bench scale's fast build writes what the reader would: the generator's Particle
device-days as the unified frame read_report makes of their CSV (issue 21)."""

from __future__ import annotations

import pandas as pd

from bench.bench_scale import particle_unified
from usage_analysis import read_report
from usage_analysis.sample_data import make_world, particle_csv, particle_usage


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
