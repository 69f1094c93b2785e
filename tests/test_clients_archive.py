"""A report read through a client is kept in the archive: providers delete reports."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from usage_analysis import history
from usage_analysis.clients import ParticleClient
from usage_analysis.clients.job import ArchiveWarning
from usage_analysis.emulator import Emulator


def _client(emu: Emulator) -> ParticleClient:
    creds = emu.credentials["particle"]
    return ParticleClient(token=creds["token"], base_url=emu.particle_api_url, schedule="0.05")


def test_reading_a_report_archives_its_unified_rows(emu: Emulator, tmp_path: Path) -> None:
    job = _client(emu).request_report("2026-10-01", "2026-10-03")
    frame = job.to_dataframe(unified=True, archive=tmp_path / "arch")
    kept = history(provider="particle", archive=tmp_path / "arch")
    assert len(kept) == len(frame) > 0
    assert kept["quantity"].sum() == frame["quantity"].sum()
    assert set(kept["report_id"]) == {f"particle:{job.id}"}
    assert set(frame["account_id"]) == {"sandbox"}  # the file does not say; the request does


def test_reading_the_provider_frame_still_archives_the_unified_rows(
    emu: Emulator, tmp_path: Path
) -> None:
    job = _client(emu).request_report("2026-10-04", "2026-10-05")
    raw = job.to_dataframe(archive=tmp_path / "arch")
    kept = history(provider="particle", archive=tmp_path / "arch")
    assert len(kept) == len(raw) > 0


def test_archive_false_keeps_nothing_and_the_default_archive_gets_the_rows(
    emu: Emulator,
) -> None:
    client = _client(emu)
    client.request_report("2026-10-06", "2026-10-06").to_dataframe(unified=True, archive=False)
    assert history(provider="particle").empty
    client.request_report("2026-10-08", "2026-10-08").to_dataframe(unified=True)
    assert not history(provider="particle").empty


def test_an_archive_that_cannot_be_written_warns_and_returns_the_frame(
    emu: Emulator, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the archive folder should be")
    job = _client(emu).request_report("2026-10-07", "2026-10-07")
    with pytest.warns(ArchiveWarning, match="not archived"):
        frame = job.to_dataframe(unified=True, archive=blocker / "archive")
    assert len(frame) > 0


def test_a_summarized_here_report_takes_its_period_from_the_request(
    emu: Emulator, tmp_path: Path
) -> None:
    from usage_analysis.clients import HereClient

    creds = emu.credentials["here"]
    client = HereClient(
        token=creds["token"], realm_id=creds["realm_id"], base_url=emu.here_api_url, schedule="0.05"
    )
    job = client.request_report("2026-10-01", "2026-10-31", detail_level="summarized")
    frame = job.to_dataframe(unified=True, archive=tmp_path / "arch")
    assert (frame["period_start"] == pd.Timestamp("2026-10-01", tz="UTC")).all()
    assert (frame["period_end"] == pd.Timestamp("2026-11-01", tz="UTC")).all()
    assert len(history(provider="here", archive=tmp_path / "arch")) == len(frame)
