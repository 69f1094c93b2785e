"""The archive's device layout and what the explorer on the archive reads from it
(issue 21): rows in device order, snapshots kept per table version, and device-month
totals of a cut day range equal to the rows' own sums, whatever was appended or
replaced."""

from __future__ import annotations

import importlib
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usage_analysis import archive
from usage_analysis.schema import coerce_unified
from usage_analysis.widgets._filter import Selection
from usage_analysis.widgets._source import ArchiveSource, DeviceViews

_read = importlib.import_module("usage_analysis.archive._read")

# Each test archives several reports (delta-rs commits): seconds, not milliseconds.
pytestmark = pytest.mark.slow

FIRST = date(2026, 9, 1)
DAYS = 75  # September to mid-November: whole months and a cut one
KEYS = [
    "provider", "account_id", "account_name", "product", "resource_id", "resource_name",
    "meter_id", "meter", "category", "unit", "billable_unit",
]  # fmt: skip


def _rows(seed: int, devices: int, renamed: int | None, scale: float) -> pd.DataFrame:
    """Device-days of a few devices over ``DAYS`` days (one device renamed and moved to
    another product on day ``renamed``), and a few app-days without a device id."""
    rng = np.random.default_rng(seed)
    rows = []
    for day in range(DAYS):
        start = pd.Timestamp(FIRST + timedelta(days=day), tz="UTC")
        for d in range(devices):
            moved = renamed is not None and d == 0 and day >= renamed
            rows.append(
                {
                    "provider": "particle",
                    "product": "fleet-b" if moved else f"fleet-{'a' if d % 2 else 'b'}",
                    "resource_id": f"dev-{(d * 7919) % 1000:03d}",
                    "resource_name": f"renamed-{d}" if moved else f"device-{d}",
                    "meter_id": "data_operations",
                    "meter": "Data Operations",
                    "category": "device",
                    "period_start": start,
                    "period_end": start + pd.Timedelta(days=1),
                    "quantity": float(rng.integers(0, 500)) * scale + 0.25,
                    "unit": "data operations",
                    "billable_quantity": float(rng.integers(0, 500)) * scale,
                    "billable_unit": "data operations",
                }
            )
        rows.append(
            {
                "provider": "here",
                "account_id": "realm",
                "product": "Maps",
                "resource_id": None,
                "meter_id": "tx",
                "meter": "Transactions",
                "category": "api",
                "period_start": start,
                "period_end": start + pd.Timedelta(days=1),
                "quantity": float(rng.integers(1, 50)) / 3,
                "unit": "transactions",
                "billable_quantity": float(rng.integers(1, 50)) / 3,
                "billable_unit": "transactions",
            }
        )
    return coerce_unified(pd.DataFrame(rows))


def _archive(df: pd.DataFrame, root: Path, tag: str) -> None:
    for provider, part in df.groupby("provider", observed=True):
        archive.archive_frame(
            part.reset_index(drop=True),
            grain="devices" if provider == "particle" else "day",
            report_id=f"{provider}-{tag}",
            archive=root,
        )


def _expected(rows: pd.DataFrame, start: date, end: date) -> pd.DataFrame:
    """Per device, meter and month, the sums of the rows within the days (pandas)."""
    day = rows["period_start"].dt.date
    kept = rows[(day >= start) & (day <= end)].copy()
    kept["month"] = kept["period_start"].dt.strftime("%Y-%m")
    keys = [*KEYS, "month"]
    out = kept.groupby(keys, observed=True, dropna=False)[["quantity", "billable_quantity"]]
    return _canonical(out.sum(min_count=1).reset_index(), keys)


def _canonical(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    out = df[[*keys, "quantity", "billable_quantity"]].copy()
    for col in keys:
        out[col] = out[col].astype(object).where(out[col].notna(), "<missing>").astype(str)
    return out.sort_values(keys).reset_index(drop=True)


def _got(totals: pd.DataFrame) -> pd.DataFrame:
    totals = totals.copy()
    totals["month"] = totals["period_start"].dt.strftime("%Y-%m")
    return _canonical(totals, [*KEYS, "month"])


def test_archived_rows_lie_in_device_order_in_every_file(tmp_path: Path) -> None:
    df = _rows(1, devices=6, renamed=None, scale=1.0)
    _archive(df.sample(frac=1.0, random_state=3).reset_index(drop=True), tmp_path, "one")
    files = sorted(tmp_path.rglob("*.parquet"))
    assert files
    for file in files:
        data = pq.read_table(file, columns=["resource_id", "period_start"]).to_pandas()
        ids = data["resource_id"].astype(object)
        present = ids.dropna().astype(str)
        # Missing ids last; within a device, periods in order.
        assert ids.isna().to_numpy()[len(present) :].all()
        assert present.is_monotonic_increasing
        for _, days in data.loc[present.index].groupby("resource_id", observed=True):
            assert days["period_start"].is_monotonic_increasing
    # The order is the writer's: history() still gives every row.
    back = archive.history(archive=tmp_path)
    assert len(back) == len(df)
    assert back["quantity"].sum() == pytest.approx(df["quantity"].sum())


def test_a_snapshot_is_kept_per_table_version_and_read_again_after_a_commit(
    tmp_path: Path,
) -> None:
    df = _rows(2, devices=3, renamed=None, scale=1.0)
    _archive(df, tmp_path, "one")
    store = importlib.import_module("usage_analysis.archive._store").store(tmp_path, None)
    first = _read.snapshot(store, None, None)
    assert _read.snapshot(store, None, None) is first  # the same version: kept
    before = archive.sql("select sum(quantity) as q from usage", archive=tmp_path)["q"][0]
    assert before == pytest.approx(df["quantity"].sum())
    # A replace (the same report, doubled) is a new version: its numbers are read.
    doubled = df.assign(quantity=df["quantity"] * 2)
    _archive(doubled, tmp_path, "one")
    assert _read.snapshot(store, None, None) is not first
    # The older version's snapshot is let go (one kept per archive and grain choice).
    assert not any(snap is first for snap in _read._SNAPSHOTS.values())
    after = archive.sql("select sum(quantity) as q from usage", archive=tmp_path)["q"][0]
    assert after == pytest.approx(2 * df["quantity"].sum())
    # A table made again at the same place, at the same version number: read afresh.
    import shutil

    shutil.rmtree(tmp_path)
    _archive(df.assign(quantity=df["quantity"] * 3), tmp_path, "one")
    again = archive.sql("select sum(quantity) as q from usage", archive=tmp_path)["q"][0]
    assert again == pytest.approx(3 * df["quantity"].sum())


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 10_000),
    devices=st.integers(1, 5),
    renamed=st.one_of(st.none(), st.integers(1, DAYS - 1)),
    cuts=st.lists(
        st.tuples(st.integers(0, DAYS - 1), st.integers(0, DAYS - 1)), min_size=1, max_size=4
    ),
    replace_with=st.sampled_from([None, 2.0, 0.5]),
)
def test_cut_range_device_totals_equal_the_rows_sums_after_appends_and_replaces(
    tmp_path_factory: pytest.TempPathFactory,
    seed: int,
    devices: int,
    renamed: int | None,
    cuts: list[tuple[int, int]],
    replace_with: float | None,
) -> None:
    root = tmp_path_factory.mktemp("views") / "archive"
    df = _rows(seed, devices, renamed, 1.0)
    early = df[df["period_start"] < pd.Timestamp("2026-10-15", tz="UTC")]
    _archive(early, root, "early")  # then the rest appended
    _archive(df[~df.index.isin(early.index)], root, "late")
    rows = df
    if replace_with is not None:  # the late report sent again with other numbers
        late = _rows(seed + 1, devices, renamed, replace_with)
        late = late[late["period_start"] >= pd.Timestamp("2026-10-15", tz="UTC")]
        _archive(late, root, "late")
        rows = pd.concat([early, late], ignore_index=True)
    views = DeviceViews(ArchiveSource(archive=root))
    # The rows of some devices, their names from the device-month totals (or read
    # with the rows where a device was renamed within a month): the archived rows.
    chosen = frozenset(sorted(rows["resource_id"].dropna().astype(str).unique())[:2])
    got_rows = views.rows(chosen)
    keep = rows["resource_id"].astype(object).isin(chosen)
    order = ["resource_id", "period_start"]
    pd.testing.assert_frame_equal(
        _canonical(got_rows.sort_values(order), [*KEYS, "period_start"]),
        _canonical(rows[keep].sort_values(order), [*KEYS, "period_start"]),
        check_dtype=False,
    )
    for a, b in cuts:
        start, end = FIRST + timedelta(days=min(a, b)), FIRST + timedelta(days=max(a, b))
        got = _got(views.totals(Selection(start=start, end=end)))
        expected = _expected(rows, start, end)
        pd.testing.assert_frame_equal(got, expected, check_dtype=False, rtol=1e-12)
        # A device filter within the range: the same sums, of that device alone.
        one = sorted(rows["resource_id"].dropna().astype(str).unique())[0]
        sel = Selection(values={"resource_id": frozenset({one})}, start=start, end=end)
        got_one = _got(views.totals(sel))
        pd.testing.assert_frame_equal(
            got_one,
            expected[expected["resource_id"] == one].reset_index(drop=True),
            check_dtype=False,
            rtol=1e-12,
        )
