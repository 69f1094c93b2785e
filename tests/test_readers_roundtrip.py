"""Generated usage -> rendered file -> read_report: rows and totals survive; sample files read."""

from __future__ import annotations

import json
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usage_analysis import sample_data as sd
from usage_analysis.errors import ReportParseError
from usage_analysis.readers import detect, read_report, to_unified
from usage_analysis.schema import validate_unified

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"

ROUND_TRIP = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
starts = st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 11, 1))
spans = st.integers(min_value=0, max_value=20)
seeds = st.integers(min_value=0, max_value=5)


@cache
def _world(seed: int) -> sd.World:
    return sd.make_world(seed)


@pytest.mark.slow
@ROUND_TRIP
@given(seeds, starts, spans, st.sampled_from(["devices", "products"]), st.booleans())
def test_particle_reports_round_trip(
    seed: int, start: date, span: int, report_type: str, gzipped: bool
) -> None:
    truth = sd.particle_usage(
        _world(seed), start, start + timedelta(days=span), report_type=report_type
    )
    data = sd.particle_csv(truth)
    df = read_report(sd.gzip_bytes(data) if gzipped else data)
    assert df.attrs["kind"] == report_type
    assert len(df) == len(truth)
    assert df["total_data_operations"].sum() == truth["Total Data Operations"].sum()
    u = read_report(data, unified=True)
    validate_unified(u)
    assert u["quantity"].sum() == truth["Total Data Operations"].sum()
    if report_type == "devices":
        for col in sd.PARTICLE_KIND_COLUMNS:
            assert df[col.lower().replace(" ", "_")].sum() == truth[col].sum()
        assert set(u["resource_id"]) == set(truth["Device ID"])


@pytest.mark.slow
@ROUND_TRIP
@given(seeds, starts, spans)
def test_particle_wide_layout_round_trips(seed: int, start: date, span: int) -> None:
    truth = sd.particle_usage(_world(seed), start, start + timedelta(days=span))
    df = read_report(sd.particle_csv(truth, layout="wide"))
    assert df.attrs["layout"] == "wide"
    # One row per device and day of the range (days before a device came online are 0).
    assert len(df) == truth["Device ID"].nunique() * truth["Date"].nunique()
    assert df["total_data_operations"].sum() == truth["Total Data Operations"].sum()


@pytest.mark.slow
@ROUND_TRIP
@given(
    seeds,
    starts,
    spans,
    st.sampled_from(["hour", "day", "month", "summarized"]),
    st.sampled_from(["label", "camel", "legacy", "partner"]),
)
def test_here_reports_round_trip(
    seed: int, start: date, span: int, level: str, header: str
) -> None:
    end = start + timedelta(days=min(span, 2) if level == "hour" else span)
    world = _world(seed)
    subs = list(world.here.orgs["realm_id"]) if header == "partner" else None
    truth = sd.here_usage(world, start, end, detail_level=level, sub_accounts=subs)
    data = sd.here_csv(truth, header=header)
    df = read_report(sd.gzip_bytes(data))
    assert (df.attrs["provider"], df.attrs["kind"]) == ("here", "report")
    assert len(df) == len(truth)
    assert df["billable_value"].sum() == pytest.approx(truth["billableValue"].sum(), rel=1e-12)
    u = to_unified(df)
    validate_unified(u)
    quantity = truth["usageValue"] if header == "legacy" else truth["billableValue"]
    assert u["quantity"].sum() == pytest.approx(quantity.sum(), rel=1e-12)
    if level == "summarized":
        assert u["period_start"].isna().all()
    else:
        assert u.attrs["detail_level"] == level or (level == "day" and end == start)


@pytest.mark.slow
@ROUND_TRIP
@given(seeds, starts, st.integers(0, 3), st.integers(1, 100))
def test_here_json_pages_round_trip(seed: int, start: date, span: int, limit: int) -> None:
    truth = sd.here_usage(_world(seed), start, start + timedelta(days=span))
    pages = sd.here_json_pages(truth, limit=limit)
    for source in (pages, json.dumps(pages).encode()):
        df = read_report(source)
        assert df.attrs["kind"] == "search"
        assert len(df) == len(truth)
        assert df["billable_value"].sum() == pytest.approx(truth["billableValue"].sum())


@pytest.mark.slow
@ROUND_TRIP
@given(
    seeds,
    starts,
    spans,
    st.sampled_from(sd.INFORMATICA_JOB_TYPES),
    st.booleans(),
    st.booleans(),
)
def test_informatica_exports_round_trip(
    seed: int, start: date, span: int, job_type: str, linked: bool, combined: bool
) -> None:
    members = sd.informatica_usage(
        _world(seed),
        start,
        start + timedelta(days=span),
        job_type=job_type,
        all_linked_orgs=linked,
        combined=combined and job_type != "JOB_LEVEL",
    )
    rows = sum(len(m) for m in members.values())
    value = {
        "SUMMARY": ("IPU", "ipu"),
        "PROJECT_FOLDER": ("Consumption (IPUs)", "consumption_ipus"),
        "ASSET": ("Consumption (IPUs)", "consumption_ipus"),
    }
    u = read_report(sd.informatica_zip(members), unified=True)
    validate_unified(u)
    assert len(u) == rows
    if job_type in value:
        file_col, col = value[job_type]
        df = read_report(sd.informatica_zip(members))
        assert len(df) == rows
        total = sum(m[file_col].sum() for m in members.values())
        assert df[col].sum() == pytest.approx(total)
        assert u["billable_quantity"].sum() == pytest.approx(total)
    else:
        di = sum(m["Metered Value"].sum() for m in members.values() if "Metered Value" in m)
        ai = sum(
            m["Total Execution time (in hours)"].sum()
            for m in members.values()
            if "Executed asset" in m
        )
        assert u["quantity"].sum() == pytest.approx(di + ai)
        assert u["meter"].notna().all()  # filled from the catalog via the member name


SAMPLES = sorted(p for p in SAMPLE_DATA.iterdir() if p.is_file()) if SAMPLE_DATA.is_dir() else []


def test_the_sample_directory_is_not_empty() -> None:
    assert len(SAMPLES) >= 10


@pytest.mark.slow
@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_every_sample_file_reads_without_being_told_what_it_is(path: Path) -> None:
    provider, kind = detect(path)
    assert path.name.startswith(provider)
    if path.suffix == ".json":
        body = json.loads(path.read_text())
        pages = [body] if isinstance(body, dict) else body
        if sum(len(p["items"]) for p in pages) < int(pages[0].get("total") or 0):
            # One page of a longer search: read alone it would lose the other pages.
            with pytest.raises(ReportParseError, match="a page is missing"):
                read_report(path)
            return
    df = read_report(path)
    assert len(df) > 0
    assert (df.attrs["provider"], df.attrs["kind"]) == (provider, kind)
    u = read_report(path, unified=True)
    validate_unified(u)
    assert len(u) == len(df)
    assert u["quantity"].notna().any()
    assert (u["period_end"].dropna() > u.loc[u["period_end"].notna(), "period_start"]).all()
    assert pd.api.types.is_float_dtype(u["quantity"])
