"""HereClient against a fake HERE Usage API (httpx.MockTransport): tokens, windows, caps."""

from __future__ import annotations

import gzip
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from usage_analysis.clients import FakeClock, HereClient
from usage_analysis.clients.here import _month_windows, read_properties
from usage_analysis.errors import ConfigurationError, InvalidParameter, LimitExceeded

REALM = "org123456789"
KEY_ID = "key-id-ABCDEFGHIJ"
KEY_SECRET = "key-secret-0123456789-abcdef"
HEADER = (
    '"Date and time (usageDateTime)","Org ID (realmId)","Category (category)","App ID (appId)",'
    '"App Name (appName)","App Hrn (appHrn)","Item (featureId)","Subscription ID (billingSubscriptionId)",'
    '"Item description (name)","Unit (valueDriver)","Project ID (projectHrn)","Billing tag (billingTag)",'
    '"Usage Amount (billableValue)"\n'
)


def row(day: date) -> str:
    return (
        f'"{day.isoformat()}T00:00:00Z","{REALM}","Location Services","app1","App","hrn:app",'
        f'"hrn:here:service::{REALM}:routing-1","SUB-1","Routing","Transactions","","",'
        f'"{day.timetuple().tm_yday}.0000"\n'
    )


class FakeHere:
    """Reports of one row per day; files are cut at ``cap`` rows, as HERE does."""

    def __init__(self, *, cap: int = 1_000_000, polls_to_ready: int = 1) -> None:
        self.cap = cap
        self.polls_to_ready = polls_to_ready
        self.reports: dict[str, dict[str, Any]] = {}
        self.requests: list[httpx.Request] = []
        self.tokens = {"static-token-abcdef123456"}
        self.issued = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if request.url.host == "token.test":
            auth = request.headers.get("Authorization", "")
            assert auth.startswith("OAuth ")
            assert 'oauth_signature_method="HMAC-SHA256"' in auth
            assert f'oauth_consumer_key="{KEY_ID}"' in auth
            assert request.content == b"grant_type=client_credentials"
            self.issued += 1
            token = f"fetched-token-{self.issued:04d}-xyz"
            self.tokens.add(token)
            return httpx.Response(
                200, json={"access_token": token, "token_type": "bearer", "expires_in": 86399}
            )
        if request.headers.get("Authorization", "").removeprefix("Bearer ") not in self.tokens:
            return httpx.Response(
                401,
                json={"error": "Unauthorized", "error_description": "Invalid or expired token."},
            )
        base = f"/v2/usage/realms/{REALM}"
        if path == f"{base}/reports" and request.method == "POST":
            report_id = f"REPORT-{1001 + len(self.reports)}"
            start = date.fromisoformat(request.url.params["startDate"][:10])
            end = date.fromisoformat(request.url.params["endDate"][:10])
            assert request.url.params["endDate"].endswith("T23:59:59")
            assert (end - start).days < 95
            self.reports[report_id] = {
                "start": start,
                "end": end,
                "polls": 0,
                "query": dict(request.url.params),
            }
            return httpx.Response(201, json={"id": report_id, "status": "inProgress"})
        if path.startswith(f"{base}/reports/"):
            parts = path.split("/")
            report = self.reports[parts[6]]
            if path.endswith("/output"):
                days = [
                    report["start"] + timedelta(days=i)
                    for i in range((report["end"] - report["start"]).days + 1)
                ]
                body = HEADER + "".join(row(d) for d in days[: self.cap])
                return httpx.Response(
                    200,
                    content=gzip.compress(body.encode()),
                    headers={"Content-Type": "application/x-gzip"},
                )
            report["polls"] += 1
            done = report["polls"] >= self.polls_to_ready
            answer: dict[str, Any] = {
                "id": parts[6],
                "status": "completed" if done else "inProgress",
            }
            if done:
                answer["resultHref"] = f"https://api.test{base}/reports/{parts[6]}/output"
            return httpx.Response(200, json=answer)
        if path == base:
            offset = int(request.url.params.get("offset", "0"))
            limit = int(request.url.params["limit"])
            total = 250
            items = [{"n": i} for i in range(offset, min(total, offset + limit))]
            page: dict[str, Any] = {"total": total, "limit": limit, "items": items}
            if offset + limit < total:
                page["nextOffset"] = offset + limit
            return httpx.Response(200, json=page)
        return httpx.Response(404, json={"title": "Not Found", "cause": path, "correlationId": "c"})

    def posts(self) -> list[dict[str, Any]]:
        return [r for r in self.reports.values()]


def make_client(fake: FakeHere, **options: Any) -> HereClient:
    options.setdefault("realm_id", REALM)
    options.setdefault("base_url", "https://api.test/v2")
    options.setdefault("token_url", "https://token.test/oauth2/token")
    if "credentials" not in options:
        options.setdefault("token", "static-token-abcdef123456")
    return HereClient(
        http_client=httpx.Client(transport=httpx.MockTransport(fake)), clock=FakeClock(), **options
    )


def rows_of(path: Path) -> list[str]:
    return gzip.decompress(path.read_bytes()).decode().splitlines()


def write_credentials(path: Path, token_url: str = "https://token.test/oauth2/token") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# HERE credentials\n"
        "here.user.id = HERE-user\n"
        "here.client.id = client\n"
        f"here.access.key.id = {KEY_ID}\n"
        f"here.access.key.secret = {KEY_SECRET}\n"
        f"here.token.endpoint.url = {token_url.replace(':', chr(92) + ':')}\n"
    )
    return path


# -- credentials ------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_client_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # Settings a developer's shell (or `make demo`) may hold that conftest does not clear.
    for name in (
        "HERE_TOKEN_URL",
        "HERE_ACCESS_KEY_ID",
        "HERE_ACCESS_KEY_SECRET",
        "USAGE_ANALYSIS_POLL_SCHEDULE",
    ):
        monkeypatch.delenv(name, raising=False)


def test_access_keys_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    other = Path.home() / ".here" / "credentials.properties"
    other.parent.mkdir(parents=True)
    other.write_text("here.access.key.id = file-key-id\nhere.access.key.secret = file-key-secret\n")
    monkeypatch.setenv("HERE_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("HERE_ACCESS_KEY_SECRET", KEY_SECRET)
    fake = FakeHere()
    make_client(fake, token=None).search("2026-10-01", "2026-10-01")
    assert fake.issued == 1  # signed with the keys from the environment, not the file's


def test_token_is_fetched_with_oauth1_hmac_sha256_from_the_default_credentials_file() -> None:
    write_credentials(Path.home() / ".here" / "credentials.properties")
    fake = FakeHere()
    client = HereClient(
        realm_id=REALM,
        base_url="https://api.test/v2",
        http_client=httpx.Client(transport=httpx.MockTransport(fake)),
        clock=FakeClock(),
    )
    assert client.token_url == "https://token.test/oauth2/token"
    client.search("2026-10-01", "2026-10-01")
    assert fake.issued == 1
    assert fake.requests[-1].headers["Authorization"] == "Bearer fetched-token-0001-xyz"


def test_properties_file_is_read_with_escapes_and_comments(tmp_path: Path) -> None:
    settings = read_properties(write_credentials(tmp_path / "c.properties"))
    assert settings["here.access.key.id"] == KEY_ID
    assert settings["here.token.endpoint.url"] == "https://token.test/oauth2/token"
    assert "# HERE credentials" not in settings


def test_a_refused_fetched_token_is_fetched_again_once(tmp_path: Path) -> None:
    fake = FakeHere()
    client = make_client(fake, credentials=write_credentials(tmp_path / "c.properties"))
    client.search("2026-10-01", "2026-10-01")
    fake.tokens.clear()  # every token issued so far is now expired
    client.search("2026-10-01", "2026-10-01")
    assert fake.issued == 2


def test_token_argument_beats_env_beats_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    creds = write_credentials(tmp_path / "c.properties")
    monkeypatch.setenv("HERE_CREDENTIALS", str(creds))
    fake = FakeHere()
    fake.tokens |= {"env-token-1234567890", "arg-token-1234567890"}
    make_client(fake, token=None).search("2026-10-01", "2026-10-01")
    assert fake.requests[-1].headers["Authorization"] == "Bearer fetched-token-0001-xyz"
    monkeypatch.setenv("HERE_TOKEN", "env-token-1234567890")
    make_client(fake, token=None).search("2026-10-01", "2026-10-01")
    assert fake.requests[-1].headers["Authorization"] == "Bearer env-token-1234567890"
    make_client(fake, token="arg-token-1234567890").search("2026-10-01", "2026-10-01")
    assert fake.requests[-1].headers["Authorization"] == "Bearer arg-token-1234567890"


def test_missing_token_and_keys_fail_at_construction_naming_the_ways_to_give_them() -> None:
    with pytest.raises(ConfigurationError) as info:
        HereClient(realm_id=REALM)
    for name in (
        "token=",
        "HERE_TOKEN",
        "credentials=",
        "HERE_CREDENTIALS",
        "credentials.properties",
    ):
        assert name in str(info.value)


def test_missing_or_bad_realm_is_named() -> None:
    with pytest.raises(ConfigurationError, match=r"realm_id=.*HERE_REALM_ID"):
        HereClient(token="t" * 20)
    with pytest.raises(InvalidParameter) as info:
        HereClient(token="t" * 20, realm_id="org1")
    assert info.value.parameter == "realm_id"


def test_urls_come_from_arguments_else_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERE_API_URL", "http://127.0.0.1:9/here/v2")
    monkeypatch.setenv("HERE_TOKEN_URL", "http://127.0.0.1:9/here/oauth2/token")
    client = HereClient(token="t" * 20, realm_id=REALM)
    assert client.base_url == "http://127.0.0.1:9/here/v2"
    assert client.token_url == "http://127.0.0.1:9/here/oauth2/token"
    assert (
        HereClient(token="t" * 20, realm_id=REALM, base_url="https://b.test").base_url
        == "https://b.test"
    )


# -- reports ----------------------------------------------------------------------


def test_a_report_is_requested_polled_and_downloaded_gzipped() -> None:
    fake = FakeHere(polls_to_ready=3)
    client = make_client(fake, schedule=[1.0])
    job = client.request_report(
        "2026-10-01", "2026-10-10", group_by=["appId", "project"], feature_id="hrn:x"
    )
    path = job.download(progress=False)
    assert path.name.endswith(".csv.gz")
    assert len(rows_of(path)) == 1 + 10
    query = fake.reports[job.id]["query"]
    assert query["startDate"] == "2026-10-01T00:00:00"
    assert query["groupBy"] == "appId,project" and query["featureId"] == "hrn:x"
    assert query["detailLevel"] == "day"


def test_ranges_longer_than_95_days_are_split_and_joined_into_one_file() -> None:
    fake = FakeHere()
    client = make_client(fake)
    job = client.request_report("2026-01-01", "2026-12-31")
    windows = [(p.params["start"], p.params["end"]) for p in job.parts]
    assert windows[0] == ("2026-01-01", "2026-04-05")
    assert windows[-1][1] == "2026-12-31"
    assert len(windows) == 4
    lines = rows_of(job.download(progress=False))
    assert lines[0] + "\n" == HEADER
    assert len(lines) == 1 + 365
    assert len(set(lines[1:])) == 365  # every day once


def test_a_part_at_the_record_cap_is_split_again_never_truncated() -> None:
    fake = FakeHere(cap=10)
    client = make_client(fake, max_records=10)
    job = client.request_report("2026-10-01", "2026-10-25")
    lines = rows_of(job.download(progress=False))
    assert len(lines) == 1 + 25
    days = sorted(line[1:11] for line in lines[1:])
    assert days[0] == "2026-10-01" and days[-1] == "2026-10-25" and len(set(days)) == 25
    assert all(len(rows_of(leaf.path)) - 1 < 10 for leaf in job.leaves() if leaf.path)  # type: ignore[arg-type]


def test_a_single_day_at_the_cap_is_a_limit_error() -> None:
    fake = FakeHere(cap=1)
    client = make_client(fake, max_records=1)
    with pytest.raises(LimitExceeded, match="single day"):
        client.request_report("2026-10-01", "2026-10-01").download(progress=False)


def test_fetch_report_reads_the_joined_file_into_one_frame() -> None:
    fake = FakeHere()
    df = make_client(fake).fetch_report("2026-01-01", "2026-06-30", progress=False)
    assert len(df) == 181


def test_month_detail_windows_are_whole_months() -> None:
    windows = _month_windows(date(2026, 1, 15), date(2026, 12, 31), 95)
    assert windows[0] == (date(2026, 1, 15), date(2026, 3, 31))
    assert windows[1] == (date(2026, 4, 1), date(2026, 6, 30))
    assert windows[-1][1] == date(2026, 12, 31)
    assert all((b - a).days < 95 for a, b in windows)


def test_search_pages_through_every_result() -> None:
    fake = FakeHere()
    items = make_client(fake).search("2026-10-01", "2026-10-02", limit=100)
    assert [i["n"] for i in items] == list(range(250))
    offsets = [r.url.params["offset"] for r in fake.requests if r.url.path.endswith(REALM)]
    assert offsets == ["0", "100", "200"]


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"detail_level": "hour"}, "detail_level"),
        ({"group_by": "featureId"}, "group_by"),
        ({"charge_type": "free"}, "charge_type"),
        ({"app_id": "bad id!"}, "app_id"),
        ({"feature_id": "x" * 257}, "feature_id"),
        ({"billing_subscription_id": [f"s{i}" for i in range(21)]}, "billing_subscription_id"),
        ({"end": "2026-09-01"}, "end"),
    ],
)
def test_bad_parameters_fail_before_any_request(kwargs: dict[str, Any], parameter: str) -> None:
    fake = FakeHere()
    arguments = {"start": "2026-10-01", "end": "2026-10-05", **kwargs}
    with pytest.raises(InvalidParameter) as info:
        make_client(fake).request_report(**arguments)
    assert info.value.parameter == parameter
    assert fake.requests == []
