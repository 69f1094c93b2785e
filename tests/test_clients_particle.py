"""ParticleClient against a fake Particle API (httpx.MockTransport): no network, no sleeping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from usage_analysis.clients import FakeClock, ParticleClient, resume
from usage_analysis.clients.job import DOWNLOADED, READY
from usage_analysis.errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidParameter,
    ReportFailed,
    ReportTimeout,
)

TOKEN = "particle-token-0123456789abcdef"
DEVICE = "0123456789abcdef01234567"
CSV = (
    "Date,Device ID,Device Name,Product ID,Product Name,Publishes,Subscribes,Function Calls,"
    "Variable Reads,Total Data Operations\n"
    f"2026-10-01,{DEVICE},dev-1,101,Fleet,1,2,3,4,10\n"
    f"2026-10-02,{DEVICE},dev-1,101,Fleet,2,2,3,3,10\n"
)


class FakeParticle:
    """A small stateful Particle API: reports turn available after ``polls_to_ready`` polls."""

    def __init__(
        self,
        *,
        polls_to_ready: int = 2,
        limit: int = 3,
        state_field: str = "state",
        refuse_first: int = 0,
        outcomes: list[str] | None = None,
    ) -> None:
        self.polls_to_ready = polls_to_ready
        self.limit = limit
        self.state_field = state_field
        self.refuse_first = refuse_first
        self.outcomes = outcomes or []
        self.reports: dict[str, dict[str, Any]] = {}
        self.requests: list[httpx.Request] = []
        self.expired_links: set[str] = set()
        self.max_outstanding_seen = 0
        self.links_issued = 0
        self.refused = 0
        self.tokens = {TOKEN}
        self.status_retry_after: str | None = None

    def outstanding(self) -> int:
        return sum(1 for r in self.reports.values() if r["state"] == "pending")

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if request.url.host == "dl.test":
            assert "Authorization" not in request.headers
            assert request.headers["Accept"] == "text/csv"
            sig = request.url.params["sig"]
            if sig in self.expired_links:
                return httpx.Response(
                    410, json={"errors": [{"detail": "This download link has expired"}]}
                )
            return httpx.Response(200, content=CSV.encode(), headers={"Content-Type": "text/csv"})
        if request.headers.get("Authorization") not in {f"Bearer {t}" for t in self.tokens}:
            return httpx.Response(
                401,
                json={
                    "error": "invalid_token",
                    "error_description": "The access token provided is invalid.",
                },
            )
        scope = "/v1/orgs/acme" if path.startswith("/v1/orgs/acme") else "/v1/user"
        if path == f"{scope}/service_agreements":
            attributes = {
                "current_billing_period_start": "2026-10-01",
                "current_billing_period_end": "2026-10-31",
            }
            return httpx.Response(
                200,
                json={
                    "data": [{"id": "sa-1", "type": "service_agreement", "attributes": attributes}]
                },
            )
        if path == f"{scope}/service_agreements/sa-1/usage_reports" and request.method == "POST":
            if self.refuse_first > 0 or self.outstanding() >= self.limit:
                self.refuse_first -= 1
                self.refused += 1
                return httpx.Response(
                    429,
                    json={
                        "errors": [
                            {
                                "code": "too_many_outstanding_reports",
                                "detail": "There is a limit of 3 outstanding report requests at a time",
                            }
                        ]
                    },
                    headers={"Retry-After": "5"},
                )
            report_id = str(1000 + len(self.reports) + 1)
            outcome = self.outcomes.pop(0) if self.outcomes else "available"
            self.reports[report_id] = {
                "state": "pending",
                "polls": 0,
                "body": json.loads(request.content),
                "outcome": outcome,
            }
            self.max_outstanding_seen = max(self.max_outstanding_seen, self.outstanding())
            return httpx.Response(202, json={"data": self._report(report_id)})
        if path.startswith(f"{scope}/usage_reports/"):
            report_id = path.rsplit("/", 1)[1]
            report = self.reports.get(report_id)
            if report is None:
                return httpx.Response(404, json={"errors": [{"detail": "not found"}]})
            report["polls"] += 1
            if report["state"] == "pending" and report["polls"] >= self.polls_to_ready:
                report["state"] = report["outcome"]
            headers = {"Retry-After": self.status_retry_after} if self.status_retry_after else None
            return httpx.Response(200, json={"data": self._report(report_id)}, headers=headers)
        return httpx.Response(404, json={"errors": [{"detail": f"no route {path}"}]})

    def _report(self, report_id: str) -> dict[str, Any]:
        report = self.reports[report_id]
        url = None
        if report["state"] == "available":
            self.links_issued += 1
            url = (
                f"https://dl.test/usage_report_{report_id}.csv?sig=s{report_id}-{self.links_issued}"
            )
        return {
            "id": report_id,
            "type": "usage_report",
            "attributes": {self.state_field: report["state"], "download_url": url},
        }

    def posts(self) -> int:
        return sum(1 for r in self.requests if r.method == "POST")


@pytest.fixture(autouse=True)
def _no_client_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # A schedule a developer's shell (or `make demo`) may hold; conftest does not clear it.
    monkeypatch.delenv("USAGE_ANALYSIS_POLL_SCHEDULE", raising=False)


@pytest.fixture
def fake() -> FakeParticle:
    return FakeParticle()


def make_client(fake: FakeParticle, **options: Any) -> ParticleClient:
    options.setdefault("token", TOKEN)
    options.setdefault("base_url", "https://api.test")
    return ParticleClient(
        http_client=httpx.Client(transport=httpx.MockTransport(fake)), clock=FakeClock(), **options
    )


# -- the state machine -------------------------------------------------------------


def test_pending_report_is_polled_until_available_on_particles_schedule() -> None:
    fake = FakeParticle(polls_to_ready=5)
    client = make_client(fake)
    job = client.request_report("2026-10-01", "2026-10-02")
    assert job.state == "pending" and job.id == "1001"
    job.wait(progress=False)
    assert job.state == READY
    assert client.clock.sleeps == [15.0, 30.0, 60.0, 60.0]  # type: ignore[attr-defined]
    body = fake.reports["1001"]["body"]
    assert body == {
        "report_type": "devices",
        "date_period_start": "2026-10-01",
        "date_period_end": "2026-10-02",
    }


def test_retry_after_on_a_status_answer_lengthens_the_wait() -> None:
    fake = FakeParticle(polls_to_ready=3)
    fake.status_retry_after = "40"
    client = make_client(fake)
    client.request_report("2026-10-01", "2026-10-02").wait(progress=False)
    assert client.clock.sleeps == [40.0, 40.0]  # type: ignore[attr-defined]  # not 15 s, 30 s


def test_schedule_is_an_option_for_fast_runs() -> None:
    fake = FakeParticle(polls_to_ready=4)
    client = make_client(fake, schedule=[0.1, 0.5])
    client.request_report("2026-10-01", "2026-10-02").wait(progress=False)
    assert client.clock.sleeps == [0.1, 0.5, 0.5]  # type: ignore[attr-defined]


def test_schedule_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USAGE_ANALYSIS_POLL_SCHEDULE", "1,2")
    fake = FakeParticle(polls_to_ready=4)
    client = make_client(fake)
    client.request_report("2026-10-01", "2026-10-02").wait(progress=False)
    assert client.clock.sleeps == [1.0, 2.0, 2.0]  # type: ignore[attr-defined]


def test_status_field_named_status_is_read_too() -> None:
    fake = FakeParticle(state_field="status")
    client = make_client(fake)
    job = client.request_report("2026-10-01", "2026-10-02").wait(progress=False)
    assert job.provider_state == "available"


def test_unknown_state_fails_with_the_raw_value() -> None:
    fake = FakeParticle(outcomes=["mysterious"])
    client = make_client(fake)
    job = client.request_report("2026-10-01", "2026-10-02")
    with pytest.raises(ReportFailed, match="mysterious") as info:
        job.wait(progress=False)
    assert info.value.job_id == "1001"


def test_wait_gives_up_after_the_timeout() -> None:
    fake = FakeParticle(polls_to_ready=100)
    client = make_client(fake)
    job = client.request_report("2026-10-01", "2026-10-02")
    with pytest.raises(ReportTimeout, match="resume") as info:
        job.wait(timeout=100, progress=False)
    assert info.value.waited == pytest.approx(100)
    assert sum(client.clock.sleeps) == pytest.approx(100)  # type: ignore[attr-defined]


# -- download ---------------------------------------------------------------------


def test_download_uses_the_presigned_link_without_the_token(fake: FakeParticle) -> None:
    client = make_client(fake)
    job = client.request_report("2026-10-01", "2026-10-02")
    path = job.download(progress=False)
    assert path.read_text() == CSV
    assert job.state == DOWNLOADED and job.size == len(CSV)
    assert path.parent.parent.name == "particle"
    downloads = [r for r in fake.requests if r.url.host == "dl.test"]
    assert len(downloads) == 1


def test_expired_download_link_is_refreshed_by_asking_the_status_again(fake: FakeParticle) -> None:
    client = make_client(fake)
    job = client.request_report("2026-10-01", "2026-10-02").wait(progress=False)
    fake.expired_links.add(f"s{job.id}-1")
    path = job.download(progress=False)
    assert path.read_text() == CSV
    sigs = [r.url.params["sig"] for r in fake.requests if r.url.host == "dl.test"]
    assert sigs == [f"s{job.id}-1", f"s{job.id}-2"]


def test_download_to_a_chosen_path(fake: FakeParticle, tmp_path: Path) -> None:
    client = make_client(fake)
    path = client.request_report("2026-10-01", "2026-10-02").download(
        tmp_path / "mine.csv", progress=False
    )
    assert path == tmp_path / "mine.csv" and path.read_text() == CSV


def test_fetch_report_returns_the_dataframe(fake: FakeParticle) -> None:
    df = make_client(fake).fetch_report("2026-10-01", "2026-10-02", progress=False)
    assert len(df) == 2
    unified = make_client(fake).fetch_report(
        "2026-10-01", "2026-10-02", progress=False, unified=True
    )
    assert unified["quantity"].sum() == 20


def test_fetch_report_asks_again_when_a_report_fails() -> None:
    fake = FakeParticle(outcomes=["failed", "available"])
    df = make_client(fake).fetch_report("2026-10-01", "2026-10-02", progress=False)
    assert len(df) == 2
    assert fake.posts() == 2


# -- credentials and settings -----------------------------------------------------


def _sent_token(fake: FakeParticle) -> str:
    return fake.requests[-1].headers["Authorization"]


def test_token_argument_beats_env_beats_cli_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = Path.home() / ".particle" / "particle.config.json"
    config.parent.mkdir(parents=True)
    config.write_text(
        json.dumps({"username": "me@example.com", "access_token": "from-config-file-123"})
    )
    fake = FakeParticle()
    fake.tokens |= {"from-config-file-123", "from-env-4567890", "from-argument-12345"}
    make_client(fake, token=None).service_agreements()
    assert _sent_token(fake) == "Bearer from-config-file-123"
    monkeypatch.setenv("PARTICLE_ACCESS_TOKEN", "from-env-4567890")
    make_client(fake, token=None).service_agreements()
    assert _sent_token(fake) == "Bearer from-env-4567890"
    make_client(fake, token="from-argument-12345").service_agreements()
    assert _sent_token(fake) == "Bearer from-argument-12345"


def test_missing_token_fails_at_construction_naming_argument_and_variable() -> None:
    with pytest.raises(ConfigurationError) as info:
        ParticleClient()
    assert "token=" in str(info.value) and "PARTICLE_ACCESS_TOKEN" in str(info.value)
    assert "particle.config.json" in str(info.value)


def test_api_url_comes_from_argument_else_env_else_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ParticleClient(token=TOKEN).base_url == "https://api.particle.io"
    monkeypatch.setenv("PARTICLE_API_URL", "http://127.0.0.1:9/particle/")
    assert ParticleClient(token=TOKEN).base_url == "http://127.0.0.1:9/particle"
    assert ParticleClient(token=TOKEN, base_url="https://x.test").base_url == "https://x.test"


def test_organization_paths_are_used_for_an_org(fake: FakeParticle) -> None:
    client = make_client(fake, org="acme")
    job = client.request_report("2026-10-01", "2026-10-02")
    assert job.account == "acme"
    assert fake.requests[-1].url.path == "/v1/orgs/acme/service_agreements/sa-1/usage_reports"


def test_expired_token_error_explains_how_to_get_a_new_one(fake: FakeParticle) -> None:
    client = make_client(fake, token="stale-token-000000000")
    with pytest.raises(AuthenticationError) as info:
        client.service_agreements()
    assert "particle token create" in str(info.value)
    assert "stale-token-000000000" not in str(info.value)


# -- parameters -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"start": "2026-10-05", "end": "2026-10-01"}, "end"),
        ({"start": "2026/10/01", "end": "2026-10-05"}, "start"),
        ({"start": "2026-10-01"}, "end"),
        ({"start": "2026-10-01", "end": "2026-10-02", "report_type": "things"}, "report_type"),
        ({"start": "2026-10-01", "end": "2026-10-02", "devices": ["not-a-device"]}, "devices"),
    ],
)
def test_bad_parameters_fail_before_any_request(
    fake: FakeParticle, kwargs: dict[str, Any], parameter: str
) -> None:
    client = make_client(fake)
    with pytest.raises(InvalidParameter) as info:
        client.request_report(**kwargs)
    assert info.value.parameter == parameter
    assert fake.requests == []


def test_dates_default_to_the_current_billing_period_of_the_first_agreement(
    fake: FakeParticle,
) -> None:
    job = make_client(fake).request_report(devices=[DEVICE], products=[101])
    assert fake.reports[job.id]["body"] == {
        "report_type": "devices",
        "date_period_start": "2026-10-01",
        "date_period_end": "2026-10-31",
        "devices": [DEVICE],
        "products": ["101"],
    }


# -- limits, reuse, journal -------------------------------------------------------


def test_a_fourth_report_waits_for_a_free_slot() -> None:
    fake = FakeParticle(polls_to_ready=2)
    client = make_client(fake, schedule=[1.0])
    jobs = [client.request_report(f"2026-10-0{d}", f"2026-10-0{d}") for d in range(1, 5)]
    assert len({j.id for j in jobs}) == 4
    assert fake.max_outstanding_seen == 3
    assert fake.refused == 0  # the client waited instead of asking the server in vain
    assert fake.posts() == 4
    assert client.clock.sleeps  # type: ignore[attr-defined]


def test_a_limit_refusal_from_the_server_waits_and_tries_again() -> None:
    fake = FakeParticle(refuse_first=8)  # e.g. reports started in the web console
    client = make_client(fake)
    job = client.request_report("2026-10-01", "2026-10-02")
    assert job.id == "1001"
    assert fake.posts() == 9
    assert 5.0 in client.clock.sleeps  # type: ignore[attr-defined]  # Retry-After honoured


def test_asking_again_returns_the_saved_file_without_a_new_request(fake: FakeParticle) -> None:
    client = make_client(fake)
    first = client.request_report("2026-10-01", "2026-10-02")
    path = first.download(progress=False)
    before = len(fake.requests)
    again = client.request_report("2026-10-01", "2026-10-02")
    assert again.id == first.id and again.state == DOWNLOADED
    assert again.download(progress=False) == path
    assert len(fake.requests) == before
    fresh = client.request_report("2026-10-01", "2026-10-02", refresh=True)
    assert fresh.id != first.id


def test_asking_again_for_a_pending_report_reattaches_to_it(fake: FakeParticle) -> None:
    client = make_client(fake)
    first = client.request_report("2026-10-01", "2026-10-02")
    again = client.request_report("2026-10-01", "2026-10-02")
    assert again.id == first.id
    assert fake.posts() == 1


def test_resume_reattaches_to_a_journaled_job(fake: FakeParticle) -> None:
    job_id = make_client(fake).request_report("2026-10-01", "2026-10-02").id
    other = make_client(fake)  # a new kernel: nothing in memory
    job = resume(job_id, client=other)
    assert job.params["start"] == "2026-10-01" and job.state == "pending"
    assert job.download(progress=False).read_text() == CSV


def test_journal_lists_jobs_and_never_stores_secrets(fake: FakeParticle) -> None:
    client = make_client(fake)
    client.request_report("2026-10-01", "2026-10-02").download(progress=False)
    df = client.jobs()
    assert list(df["state"]) == ["downloaded"]
    assert df.loc[0, "size"] == len(CSV)
    raw = client.journal.path.read_bytes()
    assert TOKEN.encode() not in raw
    assert b"sig=" not in raw and b"dl.test" not in raw


def test_no_secret_in_reprs_progress_or_errors(
    fake: FakeParticle, capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_client(fake)
    job = client.request_report("2026-10-01", "2026-10-02")
    job.download(progress=True)
    out = capsys.readouterr()
    for text in (repr(client), repr(job), out.out, out.err, str(client.__dict__)):
        assert TOKEN not in text
        assert "sig=" not in text
