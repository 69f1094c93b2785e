"""Every wait is bounded: capped Retry-After, one overall deadline, capped JSON answers,
bounded polls and paging, journal problems named. httpx.MockTransport + FakeClock: no sleeping."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from usage_analysis.clients import (
    FakeClock,
    HereClient,
    IncompleteDownloadWarning,
    ParticleClient,
    RetryPolicy,
    resume,
)
from usage_analysis.clients._http import HTTP, parse_retry_after, remove_stale_parts
from usage_analysis.clients.job import READY
from usage_analysis.clients.journal import Journal, JournalError
from usage_analysis.defaults import MAX_JSON_BYTES, MAX_RETRY_AFTER, PARTICLE_NO_LINK_POLLS
from usage_analysis.errors import (
    APIError,
    AuthenticationError,
    RateLimitError,
    ReportFailed,
    ReportTimeout,
)

TOKEN = "particle-token-0123456789abcdef"
CSV = b"Date,Device ID,Total Data Operations\n2026-10-01,0123456789abcdef01234567,10\n"
Handler = Callable[[httpx.Request], httpx.Response]


# -- Retry-After -----------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["1000000000", "inf", "1e400", "Infinity", "Fri, 31 Dec 2099 23:59:59 GMT", "9" * 400],
)
def test_a_huge_retry_after_is_capped_at_the_named_maximum(value: str) -> None:
    assert parse_retry_after(value, now=1.8e9) == MAX_RETRY_AFTER


@pytest.mark.parametrize(
    ("value", "expected"),
    [("-5", 0.0), ("nan", None), ("soon", None), ("Mon, 99 Foo 99999 99:99:99 GMT", None)],
)
def test_odd_retry_after_values_never_raise(value: str, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_a_429_asking_for_1e400_seconds_ends_with_the_package_error_without_sleeping() -> None:
    clock = FakeClock()
    http = HTTP(
        provider="particle",
        clock=clock,
        client=httpx.Client(
            transport=httpx.MockTransport(
                lambda r: httpx.Response(429, json={}, headers={"Retry-After": "1e400"})
            )
        ),
        retry=RetryPolicy(attempts=3, timeout=4 * MAX_RETRY_AFTER),
    )
    with pytest.raises(RateLimitError) as info:
        http.send("GET", "https://api.test/x", what="status")
    assert info.value.retry_after == MAX_RETRY_AFTER
    assert clock.sleeps == [MAX_RETRY_AFTER, MAX_RETRY_AFTER]


# -- a small Particle API for the job-level bounds ----------------------------------


class Particle:
    """Reports are ready at once; the status and download answers are pluggable."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.status: Handler = lambda r: _status("available", "https://dl.test/r.csv?sig=s")
        self.file: Handler = lambda r: httpx.Response(200, content=CSV)
        self.calls: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request.url.path)
        if request.url.host == "dl.test":
            return self.file(request)
        if request.url.path.endswith("/service_agreements"):
            return httpx.Response(200, json={"data": [{"id": "77", "attributes": {}}]})
        if request.method == "POST":
            return httpx.Response(
                202,
                json={"data": {"id": "1001", "attributes": {"state": "pending"}}},
            )
        return self.status(request)

    def client(self, tmp_path: Path, **options: Any) -> ParticleClient:
        return ParticleClient(
            token=TOKEN,
            http_client=httpx.Client(transport=httpx.MockTransport(self)),
            clock=self.clock,
            schedule=10,
            journal=tmp_path / "journal.sqlite",
            **options,
        )


def _status(state: str, url: str | None = None) -> httpx.Response:
    return httpx.Response(
        200, json={"data": {"id": "1001", "attributes": {"state": state, "download_url": url}}}
    )


def _drip(clock: FakeClock, seconds: float, data: bytes, *, forever: bool = False) -> Any:
    """A body that arrives one byte every ``seconds`` (on the fake clock)."""

    class Drip(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            while True:
                for byte in data:
                    clock.sleep(seconds)
                    yield bytes([byte])
                if not forever:
                    return

    return Drip()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_a_status_answer_that_drips_is_cut_at_the_wait_deadline(
    clock: FakeClock, tmp_path: Path
) -> None:
    api = Particle(clock)
    api.status = lambda r: httpx.Response(
        200, stream=_drip(clock, 5.0, b'{"data": {}}', forever=True)
    )
    job = api.client(tmp_path).request_report("2026-10-01", "2026-10-02")
    with pytest.raises(ReportTimeout) as info:
        job.wait(timeout=60, progress=False)
    assert 60 <= clock.monotonic() <= 60 + 5
    assert info.value.job_id == "1001"


def test_one_deadline_covers_polling_and_a_dripping_download(
    clock: FakeClock, tmp_path: Path
) -> None:
    api = Particle(clock)
    polls = iter([_status("pending"), _status("pending")])
    api.status = lambda r: next(polls, None) or _status("available", "https://dl.test/r.csv?s=1")
    api.file = lambda r: httpx.Response(200, stream=_drip(clock, 3.0, CSV * 100))
    client = api.client(tmp_path)
    job = client.request_report("2026-10-01", "2026-10-02")
    with pytest.raises(ReportTimeout) as info:
        job.download(progress=False, timeout=100)
    # Two polls of 10 s, then the download drips until the deadline: 100 s in all, not more.
    assert 100 <= clock.monotonic() <= 103
    assert info.value.waited == pytest.approx(clock.monotonic(), abs=0.01)
    folder = client._default_path(job).parent
    assert list(folder.glob("*")) == []  # the partial file is removed
    assert job.state == READY  # ... and the job resumable
    # Resumed later, from the journal, with a server that answers properly.
    api.file = lambda r: httpx.Response(200, content=CSV)
    again = resume("1001", client=client)
    assert again.download(progress=False).read_bytes() == CSV


def test_fetch_timeout_is_one_deadline_not_one_per_step(clock: FakeClock, tmp_path: Path) -> None:
    api = Particle(clock)
    api.status = lambda r: _status("pending")
    client = api.client(tmp_path)
    with pytest.raises(ReportTimeout):
        client.fetch_report("2026-10-01", "2026-10-02", timeout=45, progress=False)
    assert clock.monotonic() == pytest.approx(45)


def test_a_huge_retry_after_on_a_status_answer_does_not_stretch_the_wait(
    clock: FakeClock, tmp_path: Path
) -> None:
    api = Particle(clock)
    api.status = lambda r: httpx.Response(
        200,
        json={"data": {"id": "1001", "attributes": {"state": "pending"}}},
        headers={"Retry-After": "Fri, 31 Dec 2099 23:59:59 GMT"},
    )
    job = api.client(tmp_path).request_report("2026-10-01", "2026-10-02")
    with pytest.raises(ReportTimeout):
        job.wait(timeout=3 * MAX_RETRY_AFTER, progress=False)
    assert max(clock.sleeps) == MAX_RETRY_AFTER


def test_a_400_mb_status_answer_is_refused_with_a_clear_error(
    clock: FakeClock, tmp_path: Path
) -> None:
    api = Particle(clock)
    api.status = lambda r: httpx.Response(
        200, headers={"Content-Length": str(400 * 1024**2)}, stream=_drip(clock, 0, b"{")
    )
    job = api.client(tmp_path).request_report("2026-10-01", "2026-10-02")
    with pytest.raises(APIError, match="MAX_JSON_BYTES") as info:
        job.wait(progress=False)
    assert "419,430,400 bytes" in str(info.value)


def test_an_endless_json_answer_without_length_stops_at_the_cap(clock: FakeClock) -> None:
    chunk = b" " * (1024 * 1024)

    class Endless(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            while True:
                yield chunk

    http = HTTP(
        provider="here",
        clock=clock,
        client=httpx.Client(
            transport=httpx.MockTransport(lambda r: httpx.Response(200, stream=Endless()))
        ),
    )
    with pytest.raises(APIError, match=f"went past {MAX_JSON_BYTES:,} bytes"):
        http.send_json("GET", "https://api.test/x", what="status")


def test_available_without_a_download_url_gives_up_after_a_bounded_number_of_polls(
    clock: FakeClock, tmp_path: Path
) -> None:
    api = Particle(clock)
    api.status = lambda r: _status("available", None)
    job = api.client(tmp_path).request_report("2026-10-01", "2026-10-02")
    with pytest.raises(ReportFailed, match="never gave a download_url"):
        job.wait(progress=False)
    statuses = [c for c in api.calls if c.endswith("/usage_reports/1001")]
    assert len(statuses) == PARTICLE_NO_LINK_POLLS + 1


def test_a_close_delimited_download_is_kept_with_a_warning_on_the_job_and_in_the_journal(
    clock: FakeClock, tmp_path: Path
) -> None:
    class Body(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield CSV

    api = Particle(clock)
    api.file = lambda r: httpx.Response(200, stream=Body())  # no length, not chunked
    client = api.client(tmp_path)
    job = client.request_report("2026-10-01", "2026-10-02")
    with pytest.warns(IncompleteDownloadWarning, match="completeness could not be checked"):
        path = job.download(progress=False)
    assert path.read_bytes() == CSV
    assert any("Content-Length" in w for w in job.warnings)
    row = client.journal.get(client.owner, "1001")
    assert row is not None and any("chunked" in w for w in row["warnings"])


# -- HERE search paging ------------------------------------------------------------


def _here(handler: Handler, clock: FakeClock) -> HereClient:
    return HereClient(
        token="here-token-0123456789",
        realm_id="org123456",
        base_url="https://usage.test/v2",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        clock=clock,
    )


def _records(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"featureId": f"f{i}", "billableValue": "1.0000"} for i in range(start, start + n)]


def test_here_search_whose_next_offset_never_advances_raises(clock: FakeClock) -> None:
    """No total and a stuck nextOffset: an error, never the first page alone (issue 18)."""
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.params["offset"])
        return httpx.Response(200, json={"items": _records(2), "nextOffset": 0, "limit": 2})

    with pytest.raises(APIError, match="does not advance"):
        _here(handler, clock).search("2026-10-01", "2026-10-02", limit=2)
    assert calls == ["0"]


def test_here_search_whose_next_offset_repeats_with_a_total_raises(clock: FakeClock) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"total": 114, "items": _records(100), "nextOffset": 0, "limit": 100}
        )

    with pytest.raises(APIError, match="returned 100 records but says total=114"):
        _here(handler, clock).search("2026-10-01", "2026-10-02")


def _paged(total: int, limit: int, *, pages: bool, skip: int | None = None) -> Handler:
    """A server paging by page numbers (the spec) or by record counts."""

    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        n = int(request.url.params["limit"])
        first = offset * n if pages else offset
        step = 1 if pages else n
        last_page = (total - 1) // n
        body: dict[str, Any] = {
            "total": total,
            "limit": n,
            "items": _records(max(0, min(n, total - first)), first),
            "lastOffset": last_page * (1 if pages else n),
        }
        following = offset + step
        if skip is not None and following == skip:
            following += step  # a server that skips a page
        if following <= body["lastOffset"]:
            body["nextOffset"] = following
        return httpx.Response(200, json=body)

    return handler


def test_here_search_follows_the_spec_page_number_example(clock: FakeClock) -> None:
    seen: list[dict[str, Any]] = []
    inner = _paged(10, 2, pages=True)

    def handler(request: httpx.Request) -> httpx.Response:
        response = inner(request)
        seen.append(json.loads(response.content))
        return response

    items = _here(handler, clock).search("2026-10-01", "2026-10-02", limit=2)
    assert [i["featureId"] for i in items] == [f"f{i}" for i in range(10)]
    assert seen[0]["nextOffset"] == 1 and seen[0]["lastOffset"] == 4
    assert len(seen) == 5


@pytest.mark.parametrize("pages", [True, False])
def test_here_search_works_whether_offsets_count_pages_or_records(
    clock: FakeClock, pages: bool
) -> None:
    items = _here(_paged(114, 100, pages=pages), clock).search("2026-10-01", "2026-10-02")
    assert len(items) == 114
    assert len({i["featureId"] for i in items}) == 114


def test_here_search_with_a_missing_page_raises(clock: FakeClock) -> None:
    with pytest.raises(APIError, match="returned 64 records but says total=114"):
        _here(_paged(114, 50, pages=True, skip=1), clock).search(
            "2026-10-01", "2026-10-02", limit=50
        )


def test_here_search_with_a_repeated_page_raises(clock: FakeClock) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        # Page numbers on the server, but page 1 answers page 0's records again.
        first = 0 if offset == 1 else offset * 100
        return httpx.Response(
            200,
            json={
                "total": 214,
                "items": _records(min(100, 214 - first), first),
                "nextOffset": offset + 1,
                "lastOffset": 2,
            },
        )

    with pytest.raises(APIError, match="repeats an earlier page"):
        _here(handler, clock).search("2026-10-01", "2026-10-02")


def test_here_search_without_next_offset_uses_last_offset(clock: FakeClock) -> None:
    inner = _paged(10, 2, pages=True)

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(inner(request).content)
        body.pop("nextOffset", None)
        return httpx.Response(200, json=body)

    assert len(_here(handler, clock).search("2026-10-01", "2026-10-02", limit=2)) == 10


# -- journal problems and leftovers -------------------------------------------------


def test_a_corrupt_journal_names_its_path_and_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    path.write_bytes(b"this is not an SQLite database at all, just text" * 100)
    with pytest.raises(JournalError) as info:
        Journal(path)
    assert str(path) in str(info.value)
    assert "move it aside" in str(info.value)


def test_a_locked_journal_names_its_path_after_a_bounded_wait(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal = Journal(path, timeout=0.1)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(JournalError, match="locked") as info:
            journal.release("some-token")
        assert str(path) in str(info.value)
        assert "close the other notebooks" in str(info.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_leftover_part_files_of_dead_processes_are_cleaned_on_resume(
    clock: FakeClock, tmp_path: Path
) -> None:
    api = Particle(clock)
    client = api.client(tmp_path)
    job = client.request_report("2026-10-01", "2026-10-02")
    dest = client._default_path(job)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    leftover = dest.parent / f".{dest.name}.{dead.stdout.strip()}-deadbeef.part"
    leftover.write_bytes(b"half a file")
    mine = dest.parent / f".{dest.name}.{os.getpid()}-cafef00d.part"
    mine.write_bytes(b"a download of this process in progress")
    again = resume("1001", client=client)
    assert not leftover.exists()
    assert mine.exists()  # a live process's download is left alone
    assert again.download(progress=False).read_bytes() == CSV
    assert remove_stale_parts(dest) == []


def _cli_profile(expires_at: object, api_url: str = "https://api.staging.test/") -> None:
    """The Particle CLI's files as it writes them: profile "staging" chosen in profile.json."""
    folder = Path.home() / ".particle"
    folder.mkdir()
    (folder / "profile.json").write_text(json.dumps({"name": "staging"}))
    (folder / "particle.config.json").write_text(json.dumps({"access_token": "not-this-one"}))
    config = {
        "access_token": "cli-token-0123456789",
        "access_token_expires_at": expires_at,
        "username": "me@example.com",
        "apiUrl": api_url,
    }
    (folder / "staging.config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("expired", ["2020-01-01T00:00:00.000Z", 1577836800000, 1577836800])
def test_an_expired_particle_cli_token_raises_before_any_request(expired: object) -> None:
    _cli_profile(expired)
    calls: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda r: calls.append(r) or httpx.Response(200, json={}))
    with pytest.raises(AuthenticationError, match="particle token create") as info:
        ParticleClient(http_client=httpx.Client(transport=transport), clock=FakeClock())
    assert "staging.config.json" in str(info.value)
    assert "cli-token" not in str(info.value)
    assert calls == []


def test_the_particle_cli_profile_gives_the_token_and_api_url() -> None:
    _cli_profile("2099-01-01T00:00:00.000Z")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": []})

    client = ParticleClient(
        http_client=httpx.Client(transport=httpx.MockTransport(handler)), clock=FakeClock()
    )
    assert client.base_url == "https://api.staging.test"
    client.service_agreements()
    assert seen[0].url.host == "api.staging.test"
    assert seen[0].headers["Authorization"] == "Bearer cli-token-0123456789"


def test_a_here_token_lifetime_of_1e400_seconds_raises_no_overflow(clock: FakeClock) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/token":
            # 1e400 as the JSON text a server could send (Python's json refuses to write it).
            body = b'{"access_token": "tok-0123456789", "expires_in": 1e400}'
            return httpx.Response(200, content=body)
        return httpx.Response(200, json={"total": 1, "items": _records(1)})

    client = HereClient(
        credentials={"here.access.key.id": "KEYID", "here.access.key.secret": "KEYSECRET"},
        realm_id="org123456",
        base_url="https://usage.test/v2",
        token_url="https://account.test/oauth2/token",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        clock=clock,
    )
    assert len(client.search("2026-10-01", "2026-10-01")) == 1


@pytest.mark.parametrize("schedule", ["1,inf", "nan", float("inf")])
def test_an_infinite_poll_schedule_is_refused(schedule: object) -> None:
    from usage_analysis.clients import PollSchedule
    from usage_analysis.errors import InvalidParameter

    with pytest.raises(InvalidParameter, match="schedule"):
        PollSchedule.coerce(schedule)  # type: ignore[arg-type]


def test_here_search_stops_at_last_offset_even_when_next_offset_goes_on(clock: FakeClock) -> None:
    """No total, and a nextOffset on every page: records past lastOffset end it, as an error."""
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        calls.append(offset)
        body = {"items": _records(2, offset * 2), "nextOffset": offset + 1, "lastOffset": 2}
        return httpx.Response(200, json=body)

    with pytest.raises(APIError, match="past the last page"):
        _here(handler, clock).search("2026-10-01", "2026-10-02", limit=2)
    assert calls == [0, 1, 2, 3]


def test_without_a_timeout_a_report_pending_for_ever_ends_at_the_named_default(
    clock: FakeClock, tmp_path: Path
) -> None:
    from usage_analysis.defaults import REPORT_TIMEOUT

    api = Particle(clock)
    api.status = lambda r: _status("pending")
    job = api.client(tmp_path).request_report("2026-10-01", "2026-10-02")
    with pytest.raises(ReportTimeout):
        job.wait(progress=False, schedule=600)
    assert clock.monotonic() == pytest.approx(REPORT_TIMEOUT)


def test_a_download_that_never_ends_stops_at_the_size_cap(
    clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import usage_analysis.clients._http as http_module

    monkeypatch.setattr(http_module, "MAX_DOWNLOAD_BYTES", 5 * 1024**2)
    chunk = b"x" * (1024 * 1024)

    class Endless(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            while True:
                yield chunk

    api = Particle(clock)
    api.file = lambda r: httpx.Response(200, stream=Endless())
    client = api.client(tmp_path)
    job = client.request_report("2026-10-01", "2026-10-02")
    with pytest.raises(APIError, match="MAX_DOWNLOAD_BYTES"):
        job.download(progress=False)
    assert list(client._default_path(job).parent.iterdir()) == []
