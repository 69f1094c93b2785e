"""The clients' HTTP layer: status mapping, retries of transient failures, downloads."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from usage_analysis._secrets import Secret
from usage_analysis.clients import FakeClock, RetryPolicy
from usage_analysis.clients._http import HTTP, error_from_response, parse_retry_after
from usage_analysis.errors import (
    APIError,
    AuthenticationError,
    ConnectionFailed,
    NotFoundError,
    RateLimitError,
    ServerError,
)

Handler = Callable[[httpx.Request], httpx.Response]


def make_http(
    handler: Handler, *, provider: str = "particle", retry: RetryPolicy | None = None
) -> tuple[HTTP, FakeClock]:
    clock = FakeClock()
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return HTTP(provider=provider, client=client, clock=clock, retry=retry), clock


def answers(*responses: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A handler giving these answers in turn (an exception is raised), and the requests seen."""
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item

    return handler, seen


# -- error mapping ----------------------------------------------------------------


def _response(
    status: int, body: object = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    if isinstance(body, bytes | str):
        return httpx.Response(status, content=body, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, APIError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, NotFoundError),
        (410, NotFoundError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
    ],
)
def test_status_codes_map_to_the_error_tree(status: int, cls: type[APIError]) -> None:
    error = error_from_response(_response(status, {}), provider="here", what="report request")
    assert type(error) is cls
    assert error.status == status
    assert error.provider == "here"


def test_expired_particle_token_error_says_how_to_make_a_new_one() -> None:
    body = {"error": "invalid_token", "error_description": "The access token provided has expired."}
    error = error_from_response(_response(401, body), provider="particle", what="report request")
    assert isinstance(error, AuthenticationError)
    assert error.code == "invalid_token"
    assert "The access token provided has expired." in str(error)
    assert error.hint is not None and "particle token create" in error.hint
    assert "particle token create" in str(error)


def test_here_error_body_gives_code_message_request_id_and_hint() -> None:
    body = {
        "title": "Input data failed validation",
        "errorId": "ERROR-1",
        "status": 400,
        "code": "E706003",
        "cause": "endDate is before startDate",
        "action": "Correct input data and retry request",
        "correlationId": "corr-123",
    }
    error = error_from_response(_response(400, body), provider="here", what="report request")
    assert error.code == "E706003"
    assert error.request_id == "corr-123"
    assert "endDate is before startDate" in str(error)
    assert error.hint is not None and "yyyy-MM-ddTHH:mm:ss" in error.hint


def test_informatica_error_body_gives_code_message_and_request_id() -> None:
    body = {
        "error": {"code": "AUTH_01", "message": "Invalid or expired session.", "requestId": "r-9"}
    }
    error = error_from_response(_response(401, body), provider="informatica", what="export request")
    assert isinstance(error, AuthenticationError)
    assert (error.code, error.request_id) == ("AUTH_01", "r-9")
    assert "Invalid or expired session." in str(error)
    assert error.hint is not None and "INFORMATICA_USERNAME" in error.hint


def test_particle_jsonapi_error_and_request_id_header_are_read() -> None:
    body = {"errors": [{"status": "429", "code": "too_many", "detail": "limit of 3 outstanding"}]}
    response = _response(429, body, {"X-Request-ID": "req-7", "Retry-After": "12"})
    error = error_from_response(response, provider="particle", what="report request")
    assert isinstance(error, RateLimitError)
    assert (error.code, error.request_id, error.retry_after) == ("too_many", "req-7", 12.0)
    assert "limit of 3 outstanding" in str(error)


def test_s3_style_xml_error_is_read() -> None:
    xml = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
    error = error_from_response(_response(403, xml), provider="particle", what="download")
    assert error.code == "AccessDenied"
    assert "Request has expired" in str(error)


def test_a_token_echoed_in_an_error_body_is_masked() -> None:
    token = Secret("echoed-token-abcdef123")
    body = {"error": "invalid_token", "error_description": f"token {token.get()} is unknown"}
    error = error_from_response(_response(401, body), provider="particle", what="status")
    assert "echoed-token-abcdef123" not in str(error)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


# -- retries ----------------------------------------------------------------------


def test_server_errors_are_retried_until_success() -> None:
    handler, seen = answers(_response(503, {}), _response(500, {}), _response(200, {"ok": True}))
    http, clock = make_http(handler)
    assert http.send_json("GET", "https://api.test/x", what="thing") == {"ok": True}
    assert len(seen) == 3
    assert len(clock.sleeps) == 2
    assert all(0 < s <= RetryPolicy().wait_max for s in clock.sleeps)


def test_retry_after_is_honoured() -> None:
    handler, _ = answers(_response(429, {}, {"Retry-After": "7"}), _response(200, {}))
    http, clock = make_http(handler)
    http.send("GET", "https://api.test/x", what="thing")
    assert clock.sleeps == [7.0]


def test_client_errors_are_not_retried() -> None:
    handler, seen = answers(_response(400, {"code": "E706003", "cause": "bad date"}))
    http, clock = make_http(handler, provider="here")
    with pytest.raises(APIError, match="bad date"):
        http.send("GET", "https://api.test/x", what="thing")
    assert len(seen) == 1
    assert clock.sleeps == []


def test_attempts_are_bounded() -> None:
    handler, seen = answers(_response(503, {}))
    http, _ = make_http(handler, retry=RetryPolicy(attempts=4))
    with pytest.raises(ServerError):
        http.send("GET", "https://api.test/x", what="thing")
    assert len(seen) == 4


def test_total_retry_time_is_bounded() -> None:
    handler, seen = answers(_response(429, {}, {"Retry-After": "50"}))
    http, clock = make_http(handler, retry=RetryPolicy(attempts=100, timeout=120.0))
    with pytest.raises(RateLimitError):
        http.send("GET", "https://api.test/x", what="thing")
    assert clock.sleeps == [50.0, 50.0]  # a third wait would pass 120 s
    assert len(seen) == 3


def test_connection_errors_and_timeouts_are_retried_then_reported() -> None:
    handler, seen = answers(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"))
    http, _ = make_http(handler, retry=RetryPolicy(attempts=3))
    with pytest.raises(ConnectionFailed, match="timed out"):
        http.send("GET", "https://api.test/x", what="thing")
    assert len(seen) == 3


def test_each_retry_decision_is_one_debug_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="usage_analysis")
    handler, _ = answers(_response(503, {}), _response(404, {}))
    http, _ = make_http(handler)
    with pytest.raises(NotFoundError):
        http.send("GET", "https://api.test/reports/9?sig=abc", what="status")
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("usage_analysis")]
    assert len(lines) == 2
    assert "retry 1 of 5" in lines[0] and "HTTP 503" in lines[0]
    assert "not retried" in lines[1] and "HTTP 404" in lines[1]
    assert all(
        r.levelno == logging.DEBUG for r in caplog.records if r.name.startswith("usage_analysis")
    )
    assert "sig=abc" not in caplog.text


def test_headers_given_as_a_callable_are_built_for_every_attempt() -> None:
    handler, seen = answers(_response(503, {}), _response(200, {}))
    http, _ = make_http(handler)
    counter = iter(range(10))
    http.send(
        "POST", "https://api.test/x", what="thing", headers=lambda: {"X-N": str(next(counter))}
    )
    assert [r.headers["X-N"] for r in seen] == ["0", "1"]


# -- downloads --------------------------------------------------------------------


class _CutStream(httpx.SyncByteStream):
    """A body that sends ``head`` and then fails like a dropped connection."""

    def __init__(self, head: bytes) -> None:
        self.head = head

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


def test_download_streams_to_disk_with_size_and_checksum(tmp_path: Path) -> None:
    body = b"Date,Device ID\n" + b"2026-10-01,abc\n" * 10_000
    handler, _ = answers(httpx.Response(200, content=body))
    http, _ = make_http(handler)
    seen: list[int] = []
    saved = http.download(
        "https://dl.test/r.csv",
        tmp_path / "out" / "r.csv",
        what="download",
        progress=lambda n, _t: seen.append(n),
    )
    assert saved.path.read_bytes() == body
    assert saved.size == len(body)
    assert saved.sha256 == hashlib.sha256(body).hexdigest()
    assert seen[-1] == len(body)


def test_a_cut_download_is_retried_and_never_half_saved(tmp_path: Path) -> None:
    body = b"x" * 5000 + b"\n"
    cut = httpx.Response(
        200, stream=_CutStream(body[:1000]), headers={"Content-Length": str(len(body))}
    )
    handler, seen = answers(cut, httpx.Response(200, content=body))
    http, _ = make_http(handler)
    saved = http.download("https://dl.test/r.csv", tmp_path / "dl" / "r.csv", what="download")
    assert len(seen) == 2
    assert saved.path.read_bytes() == body
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == ["r.csv"]


def test_a_download_that_keeps_failing_leaves_no_file(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=_CutStream(b"partial"), headers={"Content-Length": "100"})

    http, _ = make_http(handler, retry=RetryPolicy(attempts=2))
    with pytest.raises(ConnectionFailed):
        http.download("https://dl.test/r.csv", tmp_path / "dl" / "r.csv", what="download")
    assert list((tmp_path / "dl").iterdir()) == []


def test_a_short_body_is_detected_by_its_length(tmp_path: Path) -> None:
    body = b"a,b\n1,2\n"
    short = httpx.Response(200, content=body)
    short.headers["Content-Length"] = "100"
    handler, seen = answers(short, httpx.Response(200, content=body))
    http, _ = make_http(handler)
    http.download("https://dl.test/r.csv", tmp_path / "r.csv", what="download")
    assert len(seen) == 2


def test_a_failed_validation_counts_as_a_cut_download(tmp_path: Path) -> None:
    handler, seen = answers(
        httpx.Response(200, content=b"bad"), httpx.Response(200, content=b"good")
    )
    http, _ = make_http(handler)

    def validate(path: Path) -> None:
        if path.read_bytes() == b"bad":
            raise ConnectionFailed("incomplete")

    saved = http.download("https://dl.test/r", tmp_path / "r", what="download", validate=validate)
    assert saved.path.read_bytes() == b"good"
    assert len(seen) == 2


def test_download_error_answers_are_mapped_not_saved(tmp_path: Path) -> None:
    handler, _ = answers(_response(410, {"errors": [{"detail": "This download link has expired"}]}))
    http, _ = make_http(handler)
    with pytest.raises(NotFoundError, match="expired"):
        http.download(
            Secret("https://dl.test/r.csv?sig=zzz"), tmp_path / "dl" / "r.csv", what="download"
        )
    assert list((tmp_path / "dl").iterdir()) == []
