"""refresh(): only the days missing from the archive are asked for (against the emulator)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from usage_analysis import archive, refresh
from usage_analysis.clients import FakeClock, HereClient, ParticleClient
from usage_analysis.emulator import Emulator
from usage_analysis.errors import InvalidParameter


@pytest.fixture
def particle(emu: Emulator) -> Iterator[ParticleClient]:
    creds = emu.credentials["particle"]
    with ParticleClient(
        token=creds["token"], org=creds["org"], base_url=emu.particle_api_url, clock=FakeClock()
    ) as client:
        yield client


@pytest.fixture
def here(emu: Emulator) -> Iterator[HereClient]:
    creds = emu.credentials["here"]
    with HereClient(
        token=creds["token"],
        realm_id=creds["realm_id"],
        base_url=emu.here_api_url,
        clock=FakeClock(),
    ) as client:
        yield client


def particle_periods(emu: Emulator, since: int) -> list[tuple[str, str]]:
    """(first, last) day of every Particle report requested since job number ``since``."""
    return [
        (
            job.params["report_params"]["date_period_start"],
            job.params["report_params"]["date_period_end"],
        )
        for job in emu.state.list_jobs("particle")[since:]
    ]


@pytest.mark.slow
def test_refresh_asks_only_for_the_days_after_the_last_archived_one(
    emu: Emulator, particle: ParticleClient, tmp_path: Path
) -> None:
    root = tmp_path / "archive"
    before = len(emu.state.list_jobs("particle"))
    first = refresh(
        "particle", start="2026-10-01", until="2026-10-06", client=particle, archive=root
    )
    posts_before = sum(1 for m, p, _ in emu.requests_log if m == "POST")

    second = refresh("particle", until="2026-10-09", client=particle, archive=root)

    assert particle_periods(emu, before) == [
        ("2026-10-01", "2026-10-05"),
        ("2026-10-06", "2026-10-08"),
    ]
    assert sum(1 for m, p, _ in emu.requests_log if m == "POST") == posts_before + 1
    assert [w.replaced for w in first + second] == [0, 0]
    back = archive.history(archive=root)
    assert set(back["account_id"]) == {emu.credentials["particle"]["org"]}
    days = back.groupby("report_id", observed=True)["period_start"].agg(["min", "max"])
    assert days.loc[second[0].report_id, "min"] == pd.Timestamp("2026-10-06", tz="UTC")
    assert days.loc[second[0].report_id, "max"] == pd.Timestamp("2026-10-08", tz="UTC")
    assert back["period_start"].dt.date.nunique() == 8
    assert not back.duplicated(["resource_id", "period_start"]).any()


@pytest.mark.slow
def test_refresh_of_an_up_to_date_archive_requests_nothing(
    emu: Emulator, particle: ParticleClient, tmp_path: Path
) -> None:
    root = tmp_path / "archive"
    refresh("particle", start="2026-09-01", until="2026-09-03", client=particle, archive=root)
    log_length = len(emu.requests_log)

    assert refresh("particle", until="2026-09-03", client=particle, archive=root) == []
    assert len(emu.requests_log) == log_length


def test_refresh_of_an_empty_archive_needs_a_start(
    particle: ParticleClient, tmp_path: Path
) -> None:
    with pytest.raises(InvalidParameter, match="start"):
        refresh("particle", until="2026-10-01", client=particle, archive=tmp_path)
    with pytest.raises(InvalidParameter, match="provider"):
        refresh("fax", client=particle, archive=tmp_path)


@pytest.mark.slow
def test_refresh_splits_a_long_here_gap_into_95_day_reports(
    emu: Emulator, here: HereClient, tmp_path: Path
) -> None:
    root = tmp_path / "archive"
    before = len(emu.state.list_jobs("here"))
    refresh("here", start="2026-06-01", until="2026-06-03", client=here, archive=root)
    written = refresh("here", until="2026-10-01", client=here, archive=root)

    spans = [
        (job.params["query"].start, job.params["query"].end)
        for job in emu.state.list_jobs("here")[before:]
    ]
    assert spans[0] == (date(2026, 6, 1), date(2026, 6, 2))
    gap = spans[1:]
    assert gap[0][0] == date(2026, 6, 3) and gap[-1][1] == date(2026, 9, 30)
    assert all((end - start) < timedelta(days=95) for start, end in gap)
    assert all(b[0] - a[1] == timedelta(days=1) for a, b in itertools.pairwise(gap))
    assert len(written) == len(gap) >= 2
    back = archive.history(archive=root, provider="here")
    assert back["period_start"].min() == pd.Timestamp("2026-06-01", tz="UTC")
    assert back["period_end"].max() == pd.Timestamp("2026-10-01", tz="UTC")


@pytest.mark.slow
def test_refresh_builds_its_client_from_the_environment(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in emu.env().items():
        monkeypatch.setenv(name, value)
    # Poll at once: the emulator's reports are ready immediately.
    monkeypatch.setenv("USAGE_ANALYSIS_POLL_SCHEDULE", "0.01")
    monkeypatch.setenv("USAGE_ANALYSIS_ARCHIVE", str(tmp_path / "shared"))
    before = len(emu.state.list_jobs("particle"))

    written = refresh("particle", start="2026-10-10", until="2026-10-12")

    assert particle_periods(emu, before) == [("2026-10-10", "2026-10-11")]
    assert sum(w.rows for w in written) == len(archive.history(archive=tmp_path / "shared")) > 0


@pytest.mark.slow
def test_refresh_from_the_environment_uses_the_particle_org_it_names(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**emu.env(), "PARTICLE_ORG": emu.credentials["particle"]["org"]}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("USAGE_ANALYSIS_POLL_SCHEDULE", "0.01")
    monkeypatch.setenv("USAGE_ANALYSIS_ARCHIVE", str(tmp_path / "shared"))

    refresh("particle", start="2026-10-10", until="2026-10-12")

    accounts = archive.history(archive=tmp_path / "shared", columns=["account_id"])
    # The org's report, not the sandbox's (refresh ignored PARTICLE_ORG before).
    assert set(accounts["account_id"].astype(str)) == {env["PARTICLE_ORG"]}


@pytest.mark.slow
def test_refresh_asks_again_for_here_days_still_provisional_when_archived(
    emu: Emulator, here: HereClient, tmp_path: Path
) -> None:
    """HERE's latest 48 hours are provisional: they are fetched again until final."""
    creds = emu.credentials["here"]
    root = tmp_path / "archive"
    days = pd.date_range("2026-11-25", "2026-11-30", freq="D", tz="UTC")
    frame = pd.DataFrame(
        {
            "provider": "here",
            "account_id": creds["realm_id"],
            "resource_id": "app-1",
            "meter_id": "feature-1",
            "period_start": days,
            "period_end": days + pd.Timedelta(days=1),
            "quantity": 1.0,
            "unit": "transactions",
            # Archived six hours after the last day ended: Nov 29-30 were provisional.
            "archived_at": pd.Timestamp("2026-12-01 06:00", tz="UTC"),
        }
    )
    archive.archive_frame(frame, archive=root, grain="day")
    before = len(emu.state.list_jobs("here"))
    refresh("here", until="2026-12-02", client=here, archive=root)
    spans = [
        (job.params["query"].start, job.params["query"].end)
        for job in emu.state.list_jobs("here")[before:]
    ]
    assert spans == [(date(2026, 11, 29), date(2026, 12, 1))]
    # No app, feature and day twice after the re-fetch.
    back = archive.history(archive=root, provider="here", start="2026-11-29")
    assert not back.duplicated(["resource_id", "meter_id", "period_start"]).any()
    assert back["period_start"].min() == pd.Timestamp("2026-11-29", tz="UTC")


@pytest.mark.slow
def test_refresh_does_not_ask_again_for_particle_days(
    emu: Emulator, particle: ParticleClient, tmp_path: Path
) -> None:
    root = tmp_path / "archive"
    refresh("particle", start="2026-11-28", until="2026-12-01", client=particle, archive=root)
    before = len(emu.state.list_jobs("particle"))
    refresh("particle", until="2026-12-02", client=particle, archive=root)
    assert particle_periods(emu, before) == [("2026-12-01", "2026-12-01")]
