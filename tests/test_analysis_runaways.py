"""Known answers: the anomaly finder finds exactly the runaways the generator planted.

The world marks a few HERE app-feature pairs and Informatica (org, meter) pairs as
runaways (usage x15-30 and x10-20 for three days every 29 days), as it marks Particle
devices. The expected findings are worked out from the world alone: each runaway day
on which the series already has the two weeks of history the finder asks for. The
files are rendered and read back, as a user's would be.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from usage_analysis import read_report
from usage_analysis.analysis import anomalies
from usage_analysis.defaults import ANOMALY_MIN_PERIODS
from usage_analysis.sample_data import (
    here_csv,
    here_usage,
    informatica_usage,
    informatica_zip,
    make_world,
)
from usage_analysis.sample_data.world import RUNAWAY_DAYS, RUNAWAY_PERIOD, day_ordinal

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
SEED = 7
START, END = date(2026, 9, 1), date(2026, 11, 30)

Finding = tuple[str, str, pd.Timestamp]


def runaway_days(offset: int, first: date, last: date) -> list[pd.Timestamp]:
    """The days of ``first..last`` in a runaway episode with two weeks of history before them."""
    days = pd.date_range(first, last, freq="D")
    out = []
    for i, day in enumerate(days):
        in_episode = (day_ordinal(day) + offset) % RUNAWAY_PERIOD < RUNAWAY_DAYS
        if in_episode and i >= ANOMALY_MIN_PERIODS:
            out.append(pd.Timestamp(day, tz="UTC"))
    return out


def planted_here(realm: str, first: date, last: date) -> set[Finding]:
    here = make_world(SEED).here
    pairs = here.usage_pairs
    planted: set[Finding] = set()
    for pair in pairs[pairs["runaway"]].itertuples():
        app = here.apps.iloc[pair.app]
        if app["realmId"] != realm:
            continue
        meter = str(here.features["name"].iloc[pair.feature])
        for day in runaway_days(int(pair.runaway_offset), first, last):
            planted.add((str(app["appId"]), meter, day))
    return planted


def planted_informatica(summary: pd.DataFrame, first: date, last: date) -> set[Finding]:
    inf = make_world(SEED).informatica
    runaway = inf.assets[inf.assets["runaway"]].drop_duplicates(["org_id", "meter_id"])
    meters = inf.meters.set_index("meter_id")["meter_name"]
    planted: set[Finding] = set()
    for row in runaway.itertuples():
        # A series starts on its first day with usage (the generator's own rows).
        rows = summary[(summary["OrgId"] == row.org_id) & (summary["MeterId"] == row.meter_id)]
        start = pd.Timestamp(rows["Date"].min()).date()
        # A runaway multiplies what runs: a day its assets sat idle has no row, no spike.
        ran = set(pd.to_datetime(rows["Date"]).dt.date)
        for day in runaway_days(int(row.runaway_offset), start, last):
            if day.date() in ran:
                planted.add((str(row.org_id), str(meters[row.meter_id]), day))
    return planted


def found(df: pd.DataFrame, by: list[str], **kwargs: object) -> set[Finding]:
    table = anomalies(df, by=by, **kwargs)  # type: ignore[arg-type]
    keys = zip(table[by[0]], table[by[1]], table["day"], strict=True)
    return {(str(a), str(b), d) for a, b, d in keys}


def test_the_world_plants_here_and_informatica_runaways() -> None:
    world = make_world(SEED)
    assert world.here.usage_pairs["runaway"].sum() >= 1
    runaway = world.informatica.assets[world.informatica.assets["runaway"]]
    assert runaway[["org_id", "meter_id"]].drop_duplicates().shape[0] >= 1
    # every asset of a runaway (org, meter) shares its factor and rhythm
    per_pair = runaway.groupby(["org_id", "meter_id"])[["runaway_factor", "runaway_offset"]]
    assert (per_pair.nunique() == 1).all().all()


@pytest.mark.slow
def test_runaway_here_apps_are_exactly_the_anomalies_of_a_three_month_report() -> None:
    world = make_world(SEED)
    body = here_csv(here_usage(world, START, END, detail_level="day"))
    df = read_report(body, unified=True)
    expected = planted_here(world.here.realm_id, START, END)
    assert len(expected) >= 3
    assert found(df, ["resource_id", "meter", "unit"]) == expected


@pytest.mark.slow
def test_runaway_informatica_meters_are_exactly_the_anomalies_of_a_summary_export() -> None:
    world = make_world(SEED)
    members = informatica_usage(world, START, END, job_type="SUMMARY", all_linked_orgs=True)
    summary = pd.concat(members.values(), ignore_index=True)
    df = read_report(informatica_zip(members), unified=True)
    expected = planted_informatica(summary, START, END)
    assert len(expected) >= 3
    got = found(df, ["account_id", "meter"], quantity="billable_quantity")
    assert got == expected


def test_the_runaway_days_multiply_the_meters_ipus() -> None:
    world = make_world(SEED)
    (summary,) = informatica_usage(
        world, START, END, job_type="SUMMARY", all_linked_orgs=True, combined=True
    ).values()
    runaway = world.informatica.assets[world.informatica.assets["runaway"]]
    for row in runaway.drop_duplicates(["org_id", "meter_id"]).itertuples():
        series = summary[(summary["OrgId"] == row.org_id) & (summary["MeterId"] == row.meter_id)]
        phase = (series["Date"].map(day_ordinal) + int(row.runaway_offset)) % RUNAWAY_PERIOD
        on = series.loc[phase < RUNAWAY_DAYS, "IPU"]
        off = series.loc[phase >= RUNAWAY_DAYS, "IPU"]
        assert on.median() > 5 * off.median()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "provider"),
    [
        ("here_report_2026-10.csv.gz", "here"),
        ("informatica_summary_2026-10.zip", "informatica"),
    ],
)
def test_the_sample_files_show_exactly_the_planted_runaways(name: str, provider: str) -> None:
    df = read_report(SAMPLE_DATA / name, unified=True)
    october = (date(2026, 10, 1), date(2026, 10, 31))
    world = make_world(SEED)
    if provider == "here":
        expected = planted_here(world.here.realm_id, *october)
        got = found(df, ["resource_id", "meter", "unit"])
    else:
        members = informatica_usage(world, *october, job_type="SUMMARY", all_linked_orgs=True)
        expected = planted_informatica(pd.concat(members.values()), *october)
        got = found(df, ["account_id", "meter"], quantity="billable_quantity")
    assert expected, "a runaway episode falls in the sample month"
    assert got == expected
