"""The SQLite journal: rows, the jobs() table, slots under limits, resume()."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pandas as pd
import pytest

import usage_analysis
from usage_analysis.clients import FakeClock, Journal, ParticleClient, ReportJob, jobs, resume
from usage_analysis.clients.journal import Owner
from usage_analysis.errors import InvalidParameter, NotFoundError

TOKEN = "journal-test-token-123456"


def offline_client(**options: object) -> ParticleClient:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no request expected, got {request.method} {request.url}")

    options.setdefault("base_url", "https://particle.test")
    return ParticleClient(
        token=TOKEN,
        http_client=httpx.Client(transport=httpx.MockTransport(refuse)),
        clock=FakeClock(),
        **options,  # type: ignore[arg-type]
    )


def saved_job(client: ParticleClient, job_id: str, **fields: object) -> ReportJob:
    job = ReportJob(
        client=client, id=job_id, params={"start": "2026-10-01", "end": "2026-10-02"}, **fields
    )  # type: ignore[arg-type]
    client.journal.save(job)
    return job


def test_journal_lives_in_the_data_directory() -> None:
    assert Journal().path == Path(usage_analysis.paths.data_dir()) / "journal.sqlite"


def test_jobs_lists_the_journal_as_a_dataframe() -> None:
    client = offline_client()
    saved_job(client, "1001")
    saved_job(client, "1002", state="downloaded", size=123)
    df = jobs()
    assert list(df["id"]) == ["1001", "1002"]
    assert list(df["state"]) == ["pending", "downloaded"]
    assert str(df["requested_at"].dtype) == "datetime64[ns, UTC]" or isinstance(
        df["requested_at"].dtype, pd.DatetimeTZDtype
    )
    assert df.loc[1, "size"] == 123
    assert '"start":"2026-10-01"' in df.loc[0, "params"]
    assert jobs(provider="here").empty


def test_journal_rows_round_trip() -> None:
    client = offline_client(org="acme")
    job = saved_job(client, "77", warnings=["careful"], message="hello")
    row = client.journal.get(client.owner, "77")
    assert row is not None
    assert row["params"] == job.params
    assert row["warnings"] == ["careful"]
    assert row["endpoints"] == {"base_url": "https://particle.test"}
    assert row["requested_at"] == job.requested_at


def test_slots_count_pending_jobs_and_reservations() -> None:
    journal = Journal()
    client = offline_client()
    saved_job(client, "1")
    owner = client.owner
    first, count = journal.try_reserve(owner, limit=3, now=0.0, ttl=300)
    assert first is not None and count == 1
    second, _ = journal.try_reserve(owner, limit=3, now=0.0, ttl=300)
    assert second is not None
    third, count = journal.try_reserve(owner, limit=3, now=0.0, ttl=300)
    assert third is None and count == 3
    journal.release(first)
    again, _ = journal.try_reserve(owner, limit=3, now=0.0, ttl=300)
    assert again is not None
    other, _ = journal.try_reserve(owner._replace(account="another-org"), limit=3, now=0.0, ttl=300)
    assert other is not None  # limits are per account...
    elsewhere, _ = journal.try_reserve(
        owner._replace(endpoint="http://127.0.0.1:9"), limit=3, now=0.0, ttl=300
    )
    assert elsewhere is not None  # ...and per endpoint (the emulator is not the real API)


def test_a_reservation_left_by_a_dead_process_expires() -> None:
    journal = Journal()
    owner = Owner("particle", "https://api.particle.io", "sandbox")
    for _ in range(3):
        journal.try_reserve(owner, limit=3, now=0.0, ttl=300)
    assert journal.try_reserve(owner, limit=3, now=299.0, ttl=300)[0] is None
    assert journal.try_reserve(owner, limit=3, now=301.0, ttl=300)[0] is not None


def test_concurrent_reservations_never_exceed_the_limit() -> None:
    path = Journal().path
    won: list[str] = []
    barrier = threading.Barrier(8)

    def grab() -> None:
        journal = Journal(path)  # each thread its own connection, like separate processes
        barrier.wait()
        token, _ = journal.try_reserve(
            Owner("informatica", "https://x", "org"), limit=5, now=0.0, ttl=300
        )
        if token:
            won.append(token)

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 5


def test_resume_of_an_unknown_job_says_where_to_look() -> None:
    with pytest.raises(NotFoundError, match=r"jobs\(\)"):
        resume("nope")


def test_resume_of_an_ambiguous_id_asks_which_one() -> None:
    saved_job(offline_client(), "42")
    saved_job(offline_client(org="acme"), "42")
    with pytest.raises(InvalidParameter) as info:
        resume("42")
    assert info.value.parameter == "client"
    assert "sandbox" in str(info.value) and "acme" in str(info.value)
    assert resume("42", client=offline_client(org="acme")).account == "acme"


def test_the_same_id_at_another_endpoint_is_another_job() -> None:
    real = offline_client(base_url="https://api.particle.io")
    emulated = offline_client(base_url="http://127.0.0.1:9/particle")
    saved_job(real, "1001", state="downloaded")
    saved_job(emulated, "1001")
    assert len(jobs()) == 2
    assert resume("1001", client=emulated).state == "pending"
    assert resume("1001", client=real).state == "downloaded"
    assert real._default_path(saved_job(real, "7")).parent.name == "sandbox"
    assert emulated._default_path(saved_job(emulated, "7")).parent.name == "sandbox_127.0.0.1_9"


def test_resume_builds_a_client_from_the_environment_and_the_journaled_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    saved_job(offline_client(org="acme"), "5005")
    monkeypatch.setenv("PARTICLE_ACCESS_TOKEN", "env-token-for-resume-1")
    job = resume("5005")
    assert isinstance(job.client, ParticleClient)
    assert job.client.base_url == "https://particle.test"
    assert job.client.org == "acme"
    assert (job.id, job.state, job.params["start"]) == ("5005", "pending", "2026-10-01")


def test_a_group_job_is_resumed_with_its_parts() -> None:
    client = offline_client()
    parts = [saved_job(client, "p1", parent="g1"), saved_job(client, "p2", parent="g1")]
    group = ReportJob(
        client=client, id="g1", params={"start": "2026-01-01", "end": "2026-12-31"}, parts=parts
    )
    client.journal.save(group)
    again = resume("g1", client=offline_client())
    assert [p.id for p in again.parts] == ["p1", "p2"]
    assert again.parts[0].parent == "g1"
