"""InformaticaClient against a fake IDMC API (httpx.MockTransport): sessions, spans, partial jobs."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from usage_analysis.clients import FakeClock, InformaticaClient, PartialReportWarning
from usage_analysis.errors import AuthenticationError, ConfigurationError, InvalidParameter

USER = "analyst@example.com"
PASSWORD = "pa55word-0123456789"
ORG = "ORG0123456789abcdefghij"
HEADER = "OrgId,MeterId,MeterName,Date,BillingPeriodStartDate,BillingPeriodEndDate,MeterUsage,IPU,Scalar,MetricCategory,OrgName,OrgType,IPURate\n"
METERING = "/saas/public/core/v3/license/metering"


def summary_zip(start: date, end: date, *, truncate: bool = False) -> bytes:
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    rows = "".join(
        f"{ORG},m1,Data Integration,{d},{start},{end},{d.day}.0,{d.day / 2},1,DI,Acme,Production,0.5\n"
        for d in days
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"MeteringSummary_{ORG}.csv", HEADER + rows)
    data = buf.getvalue()
    return data[: len(data) // 2] if truncate else data


class FakeInformatica:
    """Jobs go CREATED -> PROCESSING -> (outcome) over polls; at most ``limit`` active."""

    def __init__(
        self, *, outcomes: list[str] | None = None, limit: int = 5, truncate_first: bool = False
    ) -> None:
        self.outcomes = outcomes or []
        self.limit = limit
        self.truncate_first = truncate_first
        self.sessions: set[str] = set()
        self.logins = 0
        self.jobs: dict[str, dict[str, Any]] = {}
        self.requests: list[httpx.Request] = []
        self.max_active = 0
        self.refused = 0
        self.downloads = 0
        self.refuse_sessions = False

    def active(self) -> int:
        return sum(1 for j in self.jobs.values() if j["status"] in ("CREATED", "PROCESSING"))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path.endswith("/v3/login"):
            body = json.loads(request.content)
            if (body.get("username"), body.get("password")) != (USER, PASSWORD):
                return httpx.Response(
                    401,
                    json={
                        "error": {
                            "code": "AUTH_01",
                            "message": "Invalid user name or password.",
                            "requestId": "r1",
                        }
                    },
                )
            self.logins += 1
            session = f"session-{self.logins:03d}-abcdefghij"
            self.sessions.add(session)
            return httpx.Response(
                200,
                json={
                    "products": [
                        {"name": "Integration Cloud", "baseApiUrl": "https://pod.test/saas"}
                    ],
                    "userInfo": {"sessionId": session, "orgId": ORG},
                },
            )
        if self.refuse_sessions or request.headers.get("INFA-SESSION-ID") not in self.sessions:
            return httpx.Response(
                401,
                json={
                    "error": {
                        "code": "AUTH_01",
                        "message": "Invalid or expired session: log in again.",
                        "requestId": "r2",
                    }
                },
            )
        if request.method == "POST" and path.startswith(METERING):
            if self.active() >= self.limit:
                self.refused += 1
                return httpx.Response(
                    429,
                    json={"error": {"code": "METERING_429", "message": "at most 5 active jobs"}},
                    headers={"Retry-After": "3"},
                )
            job_id = f"job{len(self.jobs) + 1:03d}"
            body = json.loads(request.content)
            outcome = self.outcomes.pop(0) if self.outcomes else "SUCCESS"
            self.jobs[job_id] = {
                "status": "CREATED",
                "body": body,
                "path": path,
                "outcome": outcome,
            }
            self.max_active = max(self.max_active, self.active())
            return httpx.Response(200, json={"jobId": job_id, "status": "CREATED", "orgId": ORG})
        if path.startswith(f"{METERING}/ExportMeteringData/"):
            job_id = path.split("/")[8]
            job = self.jobs[job_id]
            if path.endswith("/download"):
                self.downloads += 1
                body = job["body"]
                truncate = self.truncate_first and self.downloads == 1
                data = summary_zip(
                    date.fromisoformat(body["startDate"][:10]),
                    date.fromisoformat(body["endDate"][:10]),
                    truncate=truncate,
                )
                return httpx.Response(
                    200, content=data, headers={"Content-Type": "application/zip"}
                )
            job["status"] = {"CREATED": "PROCESSING", "PROCESSING": job["outcome"]}.get(
                job["status"], job["status"]
            )
            answer = {"jobId": job_id, "status": job["status"]}
            if job["status"] == "PARTIAL_SUCCESS":
                answer["errorMessage"] = (
                    "Data couldn't be collected for the linked organization(s): ORG2 (Acme Sub)"
                )
            return httpx.Response(200, json=answer)
        if "ipuAlert" in path:
            return httpx.Response(
                200,
                json=[
                    {
                        "orgId": ORG,
                        "thresholdValue": 100,
                        "ipuConsumed": 40.0,
                        "ipuThresholdPrefType": "ABSOLUTE",
                    }
                ],
            )
        return httpx.Response(
            404, json={"error": {"code": "CORE_404", "message": f"no route {path}"}}
        )


def make_client(fake: FakeInformatica, **options: Any) -> InformaticaClient:
    options.setdefault("username", USER)
    options.setdefault("password", PASSWORD)
    options.setdefault("login_url", "https://login.test/saas/public/core/v3/login")
    return InformaticaClient(
        http_client=httpx.Client(transport=httpx.MockTransport(fake)),
        clock=FakeClock(),
        schedule=[1.0],
        **options,
    )


def members_of(path: Any) -> dict[str, list[str]]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n).decode().splitlines() for n in zf.namelist()}


def test_an_export_is_requested_after_login_and_downloaded_as_zip() -> None:
    fake = FakeInformatica()
    client = make_client(fake)
    job = client.request_export("2026-10-01", "2026-10-10")
    assert job.account == ORG
    assert fake.jobs[job.id]["body"] == {
        "startDate": "2026-10-01T00:00:00Z",
        "endDate": "2026-10-10T23:59:59Z",
        "jobType": "SUMMARY",
        "combinedMeterUsage": "FALSE",
        "allLinkedOrgs": "FALSE",
    }
    members = members_of(job.download(progress=False))
    assert len(members[f"MeteringSummary_{ORG}.csv"]) == 1 + 10
    assert fake.logins == 1
    assert client.clock.sleeps == [1.0]  # type: ignore[attr-defined]  # polls: PROCESSING, SUCCESS


def test_an_expired_session_is_renewed_once_by_logging_in_again() -> None:
    fake = FakeInformatica()
    client = make_client(fake)
    job = client.request_export("2026-10-01", "2026-10-02")
    fake.sessions.clear()  # 30 minutes idle
    job.download(progress=False)
    assert fake.logins == 2


def test_a_session_refused_after_a_fresh_login_is_an_error_not_a_loop() -> None:
    fake = FakeInformatica()
    client = make_client(fake)
    client.login()
    fake.refuse_sessions = True  # logins succeed, but no session is ever accepted
    with pytest.raises(AuthenticationError, match="expired session"):
        client.ipu_alerts()
    assert fake.logins == 2


def test_partial_success_gives_the_data_with_a_warning_naming_what_is_missing() -> None:
    fake = FakeInformatica(outcomes=["PARTIAL_SUCCESS"])
    client = make_client(fake)
    with pytest.warns(PartialReportWarning, match="ORG2 \\(Acme Sub\\)"):
        df = client.fetch_export("2026-10-01", "2026-10-03", progress=False)
    assert len(df) == 3
    journal = client.jobs()
    assert "ORG2" in journal.loc[0, "warnings"]


def test_failed_export_is_asked_for_again_by_fetch() -> None:
    fake = FakeInformatica(outcomes=["FAILED", "SUCCESS"])
    df = make_client(fake).fetch_export("2026-10-01", "2026-10-03", progress=False)
    assert len(df) == 3
    assert len(fake.jobs) == 2


@pytest.mark.parametrize(
    ("job_type", "days", "parts"),
    [("ASSET", 70, 3), ("PROJECT_FOLDER", 30, 1), ("SUMMARY", 200, 2)],
)
def test_spans_are_split_by_what_each_job_type_allows(job_type: str, days: int, parts: int) -> None:
    fake = FakeInformatica()
    start = date(2026, 1, 1)
    job = make_client(fake).request_export(
        start, start + timedelta(days=days - 1), job_type=job_type
    )
    assert max(1, len(job.parts)) == parts
    assert all(j["body"]["jobType"] == job_type for j in fake.jobs.values())


def test_split_exports_are_joined_into_one_zip_with_each_member_once() -> None:
    fake = FakeInformatica()
    job = make_client(fake).request_export("2026-01-01", "2026-03-10", job_type="ASSET")
    members = members_of(job.download(progress=False))
    lines = members[f"MeteringSummary_{ORG}.csv"]
    assert lines[0] + "\n" == HEADER
    assert len(lines) == 1 + 69
    assert len(set(lines)) == len(lines)


def test_job_level_without_a_meter_asks_for_all_meters() -> None:
    fake = FakeInformatica()
    job = make_client(fake).request_export("2026-10-01", "2026-10-02", job_type="JOB_LEVEL")
    assert fake.jobs[job.id]["path"].endswith("/ExportServiceJobLevelMeteringData")
    assert fake.jobs[job.id]["body"]["allMeters"] == "TRUE"


def test_no_more_than_five_jobs_are_active_at_once() -> None:
    fake = FakeInformatica()
    client = make_client(fake)
    jobs = [client.request_export(f"2026-10-{d:02d}", f"2026-10-{d:02d}") for d in range(1, 8)]
    assert len({j.id for j in jobs}) == 7
    assert fake.max_active == 5
    assert fake.refused == 0


def test_a_cut_zip_is_downloaded_again() -> None:
    fake = FakeInformatica(truncate_first=True)
    path = make_client(fake).request_export("2026-10-01", "2026-10-04").download(progress=False)
    assert fake.downloads == 2
    assert len(members_of(path)[f"MeteringSummary_{ORG}.csv"]) == 5


def test_ipu_alerts_of_the_logged_in_org() -> None:
    fake = FakeInformatica()
    alerts = make_client(fake).ipu_alerts()
    assert alerts[0]["ipuThresholdPrefType"] == "ABSOLUTE"
    assert fake.requests[-1].url.path.endswith(f"/metering/ipuAlert/org('{ORG}')")


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"job_type": "DAILY"}, "job_type"),
        ({"meter_id": "m1"}, "meter_id"),
        ({"all_linked_orgs": "yes"}, "all_linked_orgs"),
        ({"end": "2026-09-01"}, "end"),
    ],
)
def test_bad_parameters_fail_before_any_request(kwargs: dict[str, Any], parameter: str) -> None:
    fake = FakeInformatica()
    arguments = {"start": "2026-10-01", "end": "2026-10-05", **kwargs}
    with pytest.raises(InvalidParameter) as info:
        make_client(fake).request_export(**arguments)
    assert info.value.parameter == parameter
    assert fake.requests == []


def test_missing_credentials_name_arguments_and_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match=r"username=.*INFORMATICA_USERNAME"):
        InformaticaClient()
    monkeypatch.setenv("INFORMATICA_USERNAME", USER)
    with pytest.raises(ConfigurationError, match=r"password=.*INFORMATICA_PASSWORD"):
        InformaticaClient()
    with pytest.raises(ConfigurationError, match="base_api_url="):
        InformaticaClient(session_id="s" * 20)


def test_password_and_session_never_show(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeInformatica()
    client = make_client(fake)
    job = client.request_export("2026-10-01", "2026-10-02")
    job.download(progress=True)
    out = capsys.readouterr()
    for text in (repr(client), repr(job), out.err, out.out, repr(vars(client))):
        assert PASSWORD not in text
        assert "session-001" not in text
