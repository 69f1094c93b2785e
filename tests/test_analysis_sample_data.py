"""The analysis on the generated sample files and on a report downloaded from the emulator.

The generator plants runaway devices (usage x20-40 for three days every 29 days):
they must be the top anomalies, and every finding must fall on a runaway day.
Totals are checked against the generator's own rows (ground truth).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from usage_analysis import read_report
from usage_analysis.analysis import ParticlePlan, anomalies, ipu_usage, plan_status, usage_by
from usage_analysis.emulator import running
from usage_analysis.sample_data import make_world, particle_usage
from usage_analysis.sample_data.world import RUNAWAY_DAYS, RUNAWAY_PERIOD, day_ordinal

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
PARTICLE_SAMPLE = SAMPLE_DATA / "particle_devices_2026-09-01_2026-11-20.csv"
SEED = 7


def assert_runaways_on_top(found: pd.DataFrame, devices: pd.DataFrame) -> None:
    """The planted runaway devices are the top-ranked devices, found only on runaway days."""
    runaway = devices.loc[devices["runaway"]].set_index("device_id")
    ranked = list(dict.fromkeys(found["resource_id"].astype(str)))
    assert len(runaway) > 0
    assert set(ranked[: len(runaway)]) == set(runaway.index)
    for rec in found.to_dict("records"):
        assert str(rec["resource_id"]) in runaway.index, rec["explanation"]
        dev = runaway.loc[str(rec["resource_id"])]
        phase = (day_ordinal(rec["day"]) + int(dev["runaway_offset"])) % RUNAWAY_PERIOD
        assert phase < RUNAWAY_DAYS, rec["explanation"]
        assert rec["factor"] > 10


@pytest.fixture(scope="module")
def sample_particle() -> pd.DataFrame:
    return read_report(PARTICLE_SAMPLE, unified=True)


def test_runaway_devices_are_the_top_anomalies_in_the_sample_report(
    sample_particle: pd.DataFrame,
) -> None:
    assert_runaways_on_top(anomalies(sample_particle), make_world(SEED).particle.devices)


def test_sample_totals_per_product_and_month_match_the_generator(
    sample_particle: pd.DataFrame,
) -> None:
    truth = particle_usage(make_world(SEED), date(2026, 9, 1), date(2026, 11, 20))
    truth["month"] = pd.to_datetime(truth["Date"]).dt.to_period("M").dt.start_time
    expected = truth.groupby([truth["Product Name"].replace("", None), "month"], dropna=False)[
        "Total Data Operations"
    ].sum()
    table = usage_by(sample_particle, by="product", freq="MS")
    assert table["quantity"].sum() == truth["Total Data Operations"].sum()
    got = {
        (p if isinstance(p, str) else None, m.tz_localize(None)): q
        for p, m, q in zip(
            table["product"].astype(object), table["period_start"], table["quantity"], strict=True
        )
    }
    want = {(p if isinstance(p, str) else None, m): float(q) for (p, m), q in expected.items()}
    assert got == want


def test_plan_status_on_the_sample_report_counts_october(sample_particle: pd.DataFrame) -> None:
    truth = particle_usage(make_world(SEED), date(2026, 10, 1), date(2026, 10, 31))
    status = plan_status(sample_particle, ParticlePlan.basic(blocks=1), month="2026-10")
    assert status.used == truth["Total Data Operations"].sum()
    assert (
        status.devices_seen == truth.loc[truth["Total Data Operations"] > 0, "Device ID"].nunique()
    )
    assert status.blocks_needed == max(
        1, int(np.ceil(status.used / 720_000)), int(np.ceil(status.devices_seen / 100))
    )


def test_ipus_per_meter_add_up_to_the_summary_export() -> None:
    raw = read_report(SAMPLE_DATA / "informatica_summary_2026-10.zip")
    table = ipu_usage(read_report(SAMPLE_DATA / "informatica_summary_2026-10.zip", unified=True))
    expected = raw.groupby(raw["meter_name"].astype(str))["ipu"].sum()
    got = dict(zip(table["meter"].astype(str), table["billable_quantity"], strict=True))
    assert got.keys() == set(expected.index)
    for meter, ipu in expected.items():
        assert got[meter] == pytest.approx(ipu)


@pytest.mark.slow
def test_runaway_devices_are_the_top_anomalies_in_an_emulator_report() -> None:
    with running(seed=SEED, speed="instant", faults=0.0, particle_devices=300) as emu:
        creds = emu.credentials["particle"]
        org = f"{emu.particle_api_url}/v1/orgs/{creds['org']}"
        auth = {"Authorization": f"Bearer {creds['token']}"}
        with httpx.Client(headers=auth, timeout=30) as client:
            agreement = client.get(f"{org}/service_agreements").json()["data"][0]["id"]
            created = client.post(
                f"{org}/service_agreements/{agreement}/usage_reports",
                json={
                    "report_type": "devices",
                    "date_period_start": "2026-09-01",
                    "date_period_end": "2026-11-20",
                },
            )
            assert created.status_code == 202
            report = created.json()["data"]["id"]
            url = None
            for _ in range(20):  # "instant" jobs: ready at once or after a clock step
                url = client.get(f"{org}/usage_reports/{report}").json()["data"]["attributes"][
                    "download_url"
                ]
                if url:
                    break
                emu.advance(30)
            assert url, "the emulator never made the report available"
        # the pre-signed download goes without the Authorization header
        body = httpx.get(url, timeout=30).content
    df = read_report(body, unified=True)
    devices = make_world(SEED, particle_devices=300).particle.devices
    assert df["resource_id"].nunique() > 250
    assert_runaways_on_top(anomalies(df), devices)
