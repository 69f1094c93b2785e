"""The generator: deterministic, consistent across ranges, and shaped like the files."""

from __future__ import annotations

import gzip
import io
import zipfile
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from usage_analysis.sample_data import (
    PARTICLE_KIND_COLUMNS,
    generate_file,
    here_csv,
    here_json_pages,
    here_usage,
    informatica_usage,
    make_world,
    particle_usage,
    write_samples,
)
from usage_analysis.sample_data.render import HERE_LABELS

START, END = date(2026, 10, 1), date(2026, 10, 31)


@pytest.fixture(scope="module")
def world():
    return make_world(7)


@pytest.mark.slow
def test_same_seed_gives_the_same_world_and_usage() -> None:
    a, b = make_world(11), make_world(11)
    pd.testing.assert_frame_equal(a.particle.devices, b.particle.devices)
    pd.testing.assert_frame_equal(particle_usage(a, START, END), particle_usage(b, START, END))
    assert not make_world(12).particle.devices["device_id"].equals(a.particle.devices["device_id"])


def test_device_ids_are_24_hex_and_unique(world) -> None:
    ids = world.particle.devices["device_id"]
    assert ids.str.fullmatch(r"[0-9a-f]{24}").all()
    assert ids.is_unique


def test_a_day_has_the_same_usage_whatever_range_is_asked(world) -> None:
    whole = particle_usage(world, START, END)
    first = particle_usage(world, START, date(2026, 10, 15))
    second = particle_usage(world, date(2026, 10, 16), END)
    assert first["Total Data Operations"].sum() + second["Total Data Operations"].sum() == (
        whole["Total Data Operations"].sum()
    )
    one = world.particle.devices["device_id"].iloc[5]
    only = particle_usage(world, START, END, devices=[one])
    assert set(only["Device ID"]) == {one}
    pd.testing.assert_frame_equal(
        only.reset_index(drop=True), whole[whole["Device ID"] == one].reset_index(drop=True)
    )


def test_particle_kinds_add_up_to_the_total_and_products_to_devices(world) -> None:
    dev = particle_usage(world, START, END)
    assert (dev[list(PARTICLE_KIND_COLUMNS)].sum(axis=1) == dev["Total Data Operations"]).all()
    prod = particle_usage(world, START, END, report_type="products")
    assert prod["Total Data Operations"].sum() == dev["Total Data Operations"].sum()


def test_runaway_devices_multiply_their_usage_some_days(world) -> None:
    dev = particle_usage(world, date(2026, 9, 1), END)
    runaways = set(world.particle.devices.loc[world.particle.devices["runaway"], "device_id"])
    assert runaways
    for device in runaways:
        series = dev.loc[dev["Device ID"] == device, "Total Data Operations"]
        assert series.max() > 10 * series.median()


def test_here_grouping_and_detail_levels_preserve_totals(world) -> None:
    day = here_usage(world, START, END, detail_level="day")
    month = here_usage(world, START, END, detail_level="month")
    summ = here_usage(world, START, END, detail_level="summarized", group_by=[])
    by_unit = day.groupby("valueDriver")["usageValue"].sum()
    for other in (month, summ):
        got = other.groupby("valueDriver")["usageValue"].sum()
        pd.testing.assert_series_equal(got.sort_index(), by_unit.sort_index(), rtol=1e-6)
    assert "usageDateTime" not in summ.columns
    assert (summ["appId"] == "").all()
    assert month["usageDateTime"].dt.day.eq(1).all()


def test_here_filters_and_charge_type(world) -> None:
    day = here_usage(world, START, END)
    app = day["appId"].iloc[0]
    only = here_usage(world, START, END, app_id=app)
    assert set(only["appId"]) == {app}
    nonbill = here_usage(world, START, END, charge_type="nonBillable")
    assert len(nonbill) and (nonbill["billableValue"] == 0).all()


def test_here_csv_has_the_label_header_and_quoted_four_decimal_values(world) -> None:
    text = here_csv(here_usage(world, START, START)).decode()
    header, first = text.splitlines()[:2]
    assert header.split(",")[0] == '"Date and time (usageDateTime)"'
    assert header.count("(") == len(HERE_LABELS)
    assert first.endswith('.0000"') or first.rsplit(",", 1)[1].count(".") == 1
    assert all(field.startswith('"') for field in first.split('","')[0:1])


def test_here_timestamps_are_written_without_a_zone_as_the_spec_shows(world) -> None:
    first = here_csv(here_usage(world, START, START)).decode().splitlines()[1]
    assert first.startswith('"2026-10-01T00:00:00"')
    pages = here_json_pages(here_usage(world, START, START), limit=5)
    assert pages[0]["items"][0]["usageDateTime"] == "2026-10-01T00:00:00"


def test_informatica_summary_names_its_scalar_and_ipu_is_usage_times_rate(world) -> None:
    (s,) = informatica_usage(
        world, START, END, job_type="SUMMARY", all_linked_orgs=True, combined=True
    ).values()
    assert set(s["Scalar"]) <= {"Compute Units", "Million Rows Processed"}
    assert "Million Rows Processed" in set(s["Scalar"])
    # IPU = MeterUsage x IPURate, to the rounding of the two written values.
    assert (s["IPU"] - s["MeterUsage"] * s["IPURate"]).abs().max() < 1e-5


def test_here_json_pages_chain_offsets(world) -> None:
    pages = here_json_pages(here_usage(world, START, date(2026, 10, 3)), limit=100)
    total = pages[0]["total"]
    assert sum(len(p["items"]) for p in pages) == total
    assert all(p["nextOffset"] == p["offset"] + 100 for p in pages[:-1])
    assert "nextOffset" not in pages[-1]


@pytest.mark.slow
def test_informatica_levels_add_up(world) -> None:
    summary = informatica_usage(
        world, START, END, job_type="SUMMARY", all_linked_orgs=True, combined=True
    )
    project = informatica_usage(
        world, START, END, job_type="PROJECT_FOLDER", all_linked_orgs=True, combined=True
    )
    asset = informatica_usage(
        world, START, END, job_type="ASSET", all_linked_orgs=True, combined=True
    )
    (s,), (p,), (a,) = summary.values(), project.values(), asset.values()
    assert s["IPU"].sum() == pytest.approx(p["Consumption (IPUs)"].sum(), rel=1e-9)
    assert s["IPU"].sum() == pytest.approx(a["Consumption (IPUs)"].sum(), rel=1e-9)
    per_org = informatica_usage(world, START, END, job_type="SUMMARY", all_linked_orgs=True)
    assert len(per_org) == len(world.informatica.orgs)
    assert sum(f["IPU"].sum() for f in per_org.values()) == pytest.approx(s["IPU"].sum())


def test_informatica_job_level_runs_add_up_to_asset_usage(world) -> None:
    jobs = informatica_usage(world, START, END, job_type="JOB_LEVEL")
    asset = informatica_usage(world, START, END, job_type="ASSET")
    (a,) = asset.values()
    for name, frame in jobs.items():
        meter = name.removeprefix("MeteringJobLevel_").removesuffix(".csv")
        expected = a.loc[a["Meter ID"] == meter, "Usage"].sum()
        column = "Metered Value" if "Metered Value" in frame else "Total Execution time (in hours)"
        assert frame[column].sum() == pytest.approx(expected, rel=1e-6), name


@pytest.mark.slow
def test_write_samples_writes_every_kind(tmp_path: Path) -> None:
    paths = write_samples(tmp_path)
    names = {p.name for p in paths}
    assert any(n.endswith(".csv.gz") for n in names)
    assert any(n.endswith(".zip") for n in names)
    assert any(n.endswith(".json") for n in names)
    for p in paths:
        assert p.stat().st_size > 0
        if p.suffix == ".zip":
            assert zipfile.ZipFile(p).testzip() is None
        if p.suffix == ".gz":
            assert gzip.decompress(p.read_bytes()).startswith(b'"Date and time')


@pytest.mark.slow
def test_checked_in_samples_match_the_generator(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parent.parent / "sample_data"
    for p in write_samples(tmp_path):
        assert (repo / p.name).read_bytes() == p.read_bytes(), f"sample_data/{p.name} is stale"


@pytest.mark.slow
def test_generate_file_writes_the_requested_rows(tmp_path: Path) -> None:
    out = generate_file("here", "report", rows=5000, out=tmp_path / "h.csv.gz")
    frame = pd.read_csv(io.BytesIO(gzip.decompress(out.read_bytes())))
    assert len(frame) == 5000
    zipped = generate_file("informatica", "asset", rows=300, members=4, out=tmp_path / "i.zip")
    with zipfile.ZipFile(zipped) as zf:
        assert len(zf.namelist()) == 4
        assert all(len(pd.read_csv(zf.open(n))) == 300 for n in zf.namelist())
