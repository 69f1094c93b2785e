"""A fourth provider is one module (tests/fake_provider.py): client, reader and grain.

Registered once, it goes through the same doors as the three built in: the
client's ``fetch``, ``read_report``, the archive (``archive_report``) and
``history``, and a resumed job finds its client through the journal.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import fake_provider as acme
import httpx
import pytest

from usage_analysis import archive_report, history, providers, read_report, refresh, resume
from usage_analysis.clients import FakeClock
from usage_analysis.grains import GRAINS


@pytest.fixture
def api() -> Iterator[acme.AcmeAPI]:
    with acme.registered():
        yield acme.AcmeAPI()
    assert acme.NAME not in providers.names() and acme.NAME not in GRAINS


def _client(api: acme.AcmeAPI) -> acme.AcmeClient:
    return acme.AcmeClient(
        http_client=httpx.Client(transport=httpx.MockTransport(api)),
        clock=FakeClock(),
        schedule="0.01",
    )


def test_fetch_reads_a_fourth_providers_report_into_the_unified_schema(
    api: acme.AcmeAPI,
) -> None:
    with _client(api) as client:
        frame = client.fetch("2026-10-01", "2026-10-03", unified=True, progress=False)
    assert len(frame) == 6 and set(frame["provider"]) == {"acme"}
    assert set(frame["account_id"]) == {"acme-1"}  # from the request: the file does not say
    assert frame["quantity"].sum() == (1 + 2 + 3) * 11
    assert str(frame["period_start"].dtype) == "datetime64[ns, UTC]"


def test_read_report_detects_the_fourth_provider_from_its_header(tmp_path: Path) -> None:
    path = tmp_path / "acme.csv"
    path.write_bytes(
        acme.report_csv(
            __import__("datetime").date(2026, 10, 1), __import__("datetime").date(2026, 10, 2)
        )
    )
    with acme.registered():
        raw = read_report(path)
        unified = read_report(path, unified=True)
    assert raw.attrs["provider"] == "acme" and raw.attrs["kind"] == "calls"
    assert list(raw.columns) == ["day", "widget", "calls"]
    assert len(unified) == 4 and unified["quantity"].sum() == (1 + 2) * 11


@pytest.mark.slow
def test_archive_and_history_keep_the_fourth_providers_rows_at_its_grain(
    api: acme.AcmeAPI, tmp_path: Path
) -> None:
    root = tmp_path / "archive"
    with _client(api) as client:
        job = client.request("2026-10-01", "2026-10-04")
        job.wait(progress=False)
        frame = job.to_dataframe(unified=True)
        written = archive_report(job, frame, archive=root)
        assert written.rows == 8
        kept = history(provider="acme", archive=root)
        assert len(kept) == 8 and set(kept["grain"]) == {"calls"}
        assert set(kept["report_id"]) == {f"acme:{job.id}"}
        assert kept["quantity"].sum() == frame["quantity"].sum()
        # A later report of two of those days replaces them (same grain), nothing doubles.
        again = client.request("2026-10-03", "2026-10-04", refresh=True)
        again.wait(progress=False)
        archive_report(again, archive=root)
    kept = history(provider="acme", archive=root)
    assert len(kept) == 8
    assert set(kept["report_id"]) == {f"acme:{job.id}", f"acme:{again.id}"}


def test_a_resumed_fourth_provider_job_finds_its_client_through_the_registry(
    api: acme.AcmeAPI,
) -> None:
    with _client(api) as client:
        job = client.request("2026-10-01", "2026-10-01")
    resumed = resume(job.id, provider="acme")
    assert isinstance(resumed.client, acme.AcmeClient) and resumed.account == "acme-1"


@pytest.mark.slow
def test_refresh_fetches_and_archives_a_fourth_provider_too(
    api: acme.AcmeAPI, tmp_path: Path
) -> None:
    root = tmp_path / "archive"
    with _client(api) as client:
        first = refresh("acme", client=client, start="2026-10-01", until="2026-10-04", archive=root)
        assert [w.rows for w in first] == [6]
        # Only the days after the last archived one are asked for next time.
        later = refresh("acme", client=client, until="2026-10-06", archive=root)
    assert sum(w.rows for w in later) == 2 * 2  # 10-04 and 10-05, two widgets each
    assert len(history(provider="acme", archive=root)) == 2 * 5
