"""A client reads; archiving a fetched report is the caller's call (``archive_report``).

Providers delete reports after a few days, so ``refresh`` and the request widget
keep what they fetch; ``ReportJob.to_dataframe`` itself never writes anywhere.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from usage_analysis import ArchiveWarning, archive_report, history
from usage_analysis.clients import ParticleClient
from usage_analysis.emulator import Emulator
from usage_analysis.errors import UsageAnalysisError


def _client(emu: Emulator) -> ParticleClient:
    creds = emu.credentials["particle"]
    return ParticleClient(token=creds["token"], base_url=emu.particle_api_url, schedule="0.05")


@pytest.mark.slow
def test_archiving_a_report_keeps_its_unified_rows(emu: Emulator, tmp_path: Path) -> None:
    job = _client(emu).request_report("2026-10-01", "2026-10-03")
    frame = job.to_dataframe(unified=True)
    written = archive_report(job, frame, archive=tmp_path / "arch")
    kept = history(provider="particle", archive=tmp_path / "arch")
    assert written.rows == len(kept) == len(frame) > 0
    assert kept["quantity"].sum() == frame["quantity"].sum()
    assert set(kept["report_id"]) == {f"particle:{job.id}"}
    assert set(frame["account_id"]) == {"sandbox"}  # the file does not say; the request does


@pytest.mark.slow
def test_archiving_without_a_frame_reads_the_unified_rows_itself(
    emu: Emulator, tmp_path: Path
) -> None:
    job = _client(emu).request_report("2026-10-04", "2026-10-05")
    raw = job.to_dataframe()  # the provider's own frame
    archive_report(job, archive=tmp_path / "arch")
    kept = history(provider="particle", archive=tmp_path / "arch")
    assert len(kept) == len(raw) > 0


@pytest.mark.slow
def test_reading_a_report_archives_nothing(emu: Emulator) -> None:
    client = _client(emu)
    frame = client.request_report("2026-10-06", "2026-10-06").to_dataframe(unified=True)
    assert len(frame) > 0
    assert history(provider="particle").empty
    fetched = client.fetch_report("2026-10-08", "2026-10-08", unified=True, progress=False)
    assert len(fetched) > 0
    assert history(provider="particle").empty


def test_to_dataframe_takes_no_archive_option(emu: Emulator, tmp_path: Path) -> None:
    job = _client(emu).request_report("2026-10-07", "2026-10-07")
    with pytest.raises(TypeError):
        job.to_dataframe(unified=True, archive=tmp_path / "arch")  # type: ignore[call-arg]
    assert not (tmp_path / "arch").exists()


@pytest.mark.slow
def test_an_archive_that_cannot_be_written_raises_from_archive_report(
    emu: Emulator, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the archive folder should be")
    job = _client(emu).request_report("2026-10-07", "2026-10-07")
    frame = job.to_dataframe(unified=True)
    with pytest.raises((UsageAnalysisError, OSError)):
        archive_report(job, frame, archive=blocker / "archive")
    assert len(frame) > 0
    assert issubclass(ArchiveWarning, UserWarning)


@pytest.mark.slow
def test_a_summarized_here_report_takes_its_period_from_the_request(
    emu: Emulator, tmp_path: Path
) -> None:
    from usage_analysis.clients import HereClient

    creds = emu.credentials["here"]
    client = HereClient(
        token=creds["token"], realm_id=creds["realm_id"], base_url=emu.here_api_url, schedule="0.05"
    )
    job = client.request_report("2026-10-01", "2026-10-31", detail_level="summarized")
    frame = job.to_dataframe(unified=True)
    archive_report(job, frame, archive=tmp_path / "arch")
    assert (frame["period_start"] == pd.Timestamp("2026-10-01", tz="UTC")).all()
    assert (frame["period_end"] == pd.Timestamp("2026-11-01", tz="UTC")).all()
    assert len(history(provider="here", archive=tmp_path / "arch")) == len(frame)
