"""An explorer opened on the archive (issue 21): the daily cube, summed in DuckDB, and
device-level views from the archive on demand give the answers an explorer on every
row gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.bench_widgets import mixed_frame
from usage_analysis import archive
from usage_analysis.widgets import UsageExplorer

# Each explorer is built from the archive (DuckDB, history()): seconds, not milliseconds.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("explorer-archive") / "archive"
    df = mixed_frame(3_000)
    df["account_id"] = df["account_id"].cat.add_categories(["acme"]).fillna("acme")
    for provider, part in df.groupby("provider", observed=True):
        archive.archive_frame(
            part.reset_index(drop=True), grain="devices" if provider == "particle" else "day",
            report_id=str(provider), archive=root,
        )  # fmt: skip
    return root


def _pair(root: Path, tmp_path: Path) -> tuple[UsageExplorer, UsageExplorer]:
    rows = archive.history(archive=root, columns=None)
    every = UsageExplorer(rows, export_dir=tmp_path)
    cube = UsageExplorer.from_archive(archive=root, export_dir=tmp_path)
    return every, cube


def _totals(ex: UsageExplorer) -> dict[str, float]:
    return {u: round(v, 6) for u, v in ex.headline.totals.items()}


def _top(html: str) -> list[str]:
    """The table's cells, numbers rounded as shown."""
    return [c for c in pd.Series(html.split("<td")).str.extract(r">([^<]*)<")[0].dropna()]


def test_the_explorer_on_the_archive_holds_a_cube_not_the_device_rows(
    year: Path, tmp_path: Path
) -> None:
    every, cube = _pair(year, tmp_path)
    assert cube.devices is not None
    keys = ["provider", "account_id", "product", "meter", "category", "unit", "period_start"]
    assert len(cube.df) == every.df.groupby(keys, observed=True, dropna=False).ngroups
    assert cube.df["resource_id"].isna().all()
    # The device filter offers the archive's devices, though the cube names none.
    offered = {v for _, v in cube._all_options["resource_id"]}
    assert offered == {v for _, v in every._all_options["resource_id"]}


def test_every_selection_gives_the_same_headline_and_top_table_as_all_rows(
    year: Path, tmp_path: Path
) -> None:
    every, cube = _pair(year, tmp_path)
    assert cube.devices is not None
    products = [v for _, v in every.filter.options("product") if v is not None][:3]
    devices = [v for _, v in every.filter.options("resource_id") if v is not None][:5]
    last = every.filter.last_day
    assert last is not None
    selections = [
        {},
        {"provider": ["here"]},
        {"product": products},
        {"resource_id": devices},
        {"start": last - pd.Timedelta(days=20), "end": last},  # cuts a month
        {"start": last.replace(day=1), "end": last},  # whole months
    ]
    for chosen in selections:
        for ex in (every, cube):
            ex.clear_filters()
            ex.set_filters(**chosen)
        assert not every.messages.errors and not cube.messages.errors, chosen
        assert _totals(cube) == _totals(every), chosen
        # The whole headline as shown, the number of report rows included (the cube
        # carries the count each of its rows sums).
        assert cube.headline.rows == every.headline.rows, chosen
        assert cube.headline_html.value == every.headline_html.value, chosen
        assert len(_top(every.top_table.value)) > 5, chosen
        assert _top(cube.top_table.value) == _top(every.top_table.value), chosen


def test_grouping_by_device_draws_the_top_devices_rows_from_the_archive(
    year: Path, tmp_path: Path
) -> None:
    every, cube = _pair(year, tmp_path)
    for ex in (every, cube):
        ex.set_filters(provider=["particle"])
        ex.by.value = "resource_id"
        ex.top.value = 3
    drawn = {t.name: np.nansum(np.asarray(t.y, dtype=float)) for t in cube.figure.data}
    expected = {t.name: np.nansum(np.asarray(t.y, dtype=float)) for t in every.figure.data}
    # The same three devices, the same daily sums; the full frame adds an "other" trace.
    assert len(drawn) == 3
    for name, total in drawn.items():
        assert expected[name] == pytest.approx(total)
