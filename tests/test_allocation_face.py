"""Teams in the face: the explorer and the overview filter and group by team when rules are given."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import usage_analysis as ua
from usage_analysis.analysis.allocation import example_rules, team_frame
from usage_analysis.widgets import UsageExplorer

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"


@pytest.fixture(scope="module")
def usage() -> pd.DataFrame:
    return ua.concat(
        [
            ua.read_report(SAMPLES / "particle_devices_2026-09-01_2026-11-20.csv", unified=True),
            ua.read_report(SAMPLES / "informatica_project_folder_2026-10.zip", unified=True),
        ]
    )


def _plotted(ex: UsageExplorer) -> float:
    return float(sum(np.asarray(t.y, dtype=float).sum() for t in ex.figure.data))


@pytest.mark.slow
def test_explorer_filters_and_groups_by_team(usage: pd.DataFrame, tmp_path: Path) -> None:
    ex = UsageExplorer(usage, rules=example_rules(), export_dir=tmp_path)
    assert "team" in ex.selects
    ex.set_filters(team=["fleet"])
    fleet = usage["product"].isin(["Cold-chain Tracker", "Fleet Gateway"])
    assert len(ex.filtered) == int(fleet.sum())
    assert set(ex.filtered["team"].astype(str)) == {"fleet"}
    ex.set_filters(team=["fleet", "shared: office sensors", "facilities"], provider=["particle"])
    ex.by.value = "team"
    names = {t.name for t in ex.figure.data}
    assert names == {"fleet", "shared: office sensors", "facilities"}
    particle = usage[usage["provider"] == "particle"]
    in_range = particle["period_start"].dt.date.between(ex.start.value, ex.end.value)
    chosen = particle["product"].isin(
        ["Cold-chain Tracker", "Fleet Gateway", "Smart Water Meter", "Air Quality Monitor"]
    )
    assert _plotted(ex) == pytest.approx(particle.loc[in_range & chosen, "quantity"].sum())


@pytest.mark.slow
def test_explorer_without_rules_offers_no_team(usage: pd.DataFrame, tmp_path: Path) -> None:
    ex = UsageExplorer(usage, export_dir=tmp_path)
    assert "team" not in ex.selects
    assert "team" not in [v for _, v in ex.by.options]


@pytest.mark.slow
def test_overview_per_team_adds_up_to_the_account(usage: pd.DataFrame) -> None:
    particle = usage[usage["provider"] == "particle"]
    rules = example_rules()
    whole = ua.overview(particle, as_of="2026-10-31T00:00:00Z")
    per_team = ua.overview(particle, as_of="2026-10-31T00:00:00Z", rules=rules)
    assert "team" in per_team.columns
    assert per_team["used"].sum() == pytest.approx(whole["used"].sum())
    fleet = ua.overview(particle, as_of="2026-10-31T00:00:00Z", rules=rules, team="fleet")
    rows = team_frame(particle, rules, "fleet", strict=False)
    october = rows["period_start"].between(
        pd.Timestamp("2026-10-01", tz="UTC"), pd.Timestamp("2026-10-31", tz="UTC"), inclusive="left"
    )
    assert fleet["used"].sum() == pytest.approx(rows.loc[october, "billable_quantity"].sum())
