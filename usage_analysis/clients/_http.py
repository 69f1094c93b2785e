"""The one HTTP layer of the clients: retries, error mapping, streamed downloads.

- :func:`error_from_response` is the only place where an HTTP status becomes an
  exception of :mod:`usage_analysis.errors`, with the provider's error code and
  message, the request id and a hint for the common cases.
- :class:`HTTP` sends requests through httpx and retries what is transient only
  (connection errors, timeouts, 408, 429, 5xx), bounded in attempts and in total
  time, with jittered exponential backoff or the server's ``Retry-After``. Each
  decision (retry, give up, not retried) is one ``logging.debug`` line.
- :meth:`HTTP.download` streams a body to disk in constant memory, writes it
  atomically (a temporary file renamed into place), records size and sha256, and
  starts again when the download is cut: a file is whole or absent.

Retries use tenacity directly rather than stamina (its friendly wrapper): stamina
sleeps with ``time.sleep`` and offers no way to inject a clock, and its test mode
turns every wait, ``Retry-After`` included, into zero, so neither the honoured
``Retry-After`` nor the total-time bound could be tested. Tenacity takes ``sleep=``,
``wait=`` and ``stop=`` callables, so all waiting goes through our :class:`Clock`.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

import httpx
import tenacity

from .._secrets import Secret, get_logger, redact
from ..defaults import (
    DOWNLOAD_CHUNK_SIZE,
    ERROR_BODY_CHARS,
    HTTP_TIMEOUT,
    PROVIDER_NAMES,
    RETRY_ATTEMPTS,
    RETRY_TIMEOUT,
    RETRY_WAIT_INITIAL,
    RETRY_WAIT_MAX,
)
from ..errors import (
    APIError,
    AuthenticationError,
    ConnectionFailed,
    NotFoundError,
    RateLimitError,
    ServerError,
)
from ._clock import Clock, SystemClock

__all__ = [
    "HTTP",
    "Download",
    "RetryPolicy",
    "error_from_response",
    "is_transient",
    "parse_retry_after",
    "retry_after_of",
]

log = get_logger(__name__)

T = TypeVar("T")
Headers = Mapping[str, str] | Callable[[], Mapping[str, str]] | None


# Hints for the cases a user meets most: an expired token first of all.
_HINTS: dict[tuple[str, int], str] = {
    ("particle", 401): (
        "the access token is missing, wrong or expired (tokens last 90 days by default): "
        "make a new one with `particle token create` and pass it as token= or set "
        "PARTICLE_ACCESS_TOKEN"
    ),
    ("particle", 403): (
        "the token's user must belong to the organization, as an administrator to request "
        "its reports; check org= (or leave it out for your sandbox)"
    ),
    ("here", 401): (
        "the bearer token is wrong or expired (HERE tokens last 24 hours): pass a new token= "
        "or HERE_TOKEN, or leave both unset so a token is fetched with the keys in "
        "~/.here/credentials.properties"
    ),
    ("here", 403): "the token's user needs access to the realm's usage (check realm_id=)",
    ("informatica", 401): (
        "the session expired or the user name or password is wrong: check "
        "INFORMATICA_USERNAME / INFORMATICA_PASSWORD and that the login URL names your pod"
    ),
    ("informatica", 403): "the user needs the privilege to read metering data in this org",
}
_CODE_HINTS: dict[str, str] = {
    "E706001": "realm_id must be your HERE org id, 5 to 30 characters (e.g. org123456789)",
    "E706002": "the search page limit must be between 1 and 100",
    "E706003": (
        "startDate and endDate must be yyyy-MM-ddTHH:mm:ss (UTC), start before end, "
        "at most 95 days apart"
    ),
    "E706004": "group_by accepts only project, billingTag and appId",
}
_STATUS_HINTS: dict[int, str] = {
    429: "the provider is throttling requests; wait a minute before asking again",
    404: (
        "it does not exist (any more): reports and download links expire "
        "(Particle after 7 days, Informatica after 3); request the report again"
    ),
    410: "the download has expired; request the report again",
}


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried: attempts, total time, backoff."""

    attempts: int = RETRY_ATTEMPTS
    timeout: float = RETRY_TIMEOUT
    wait_initial: float = RETRY_WAIT_INITIAL
    wait_max: float = RETRY_WAIT_MAX


@dataclass(frozen=True)
class Download:
    """A file saved whole: where, how many bytes, and its sha256."""

    path: Path
    size: int
    sha256: str


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is worth retrying: no answer, 408, 429 or 5xx."""
    if isinstance(exc, RateLimitError | ServerError | ConnectionFailed):
        return True
    return isinstance(exc, APIError) and exc.status == 408


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    reference = time.time() if now is None else now
    return max(0.0, when.timestamp() - reference)


def retry_after_of(response: httpx.Response) -> float | None:
    """The seconds a (successful) answer asks the caller to wait before asking again."""
    return parse_retry_after(response.headers.get("Retry-After"))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _error_details(body: bytes) -> tuple[str | None, str | None, str | None]:
    """(code, message, request id) from a provider's error body, whatever its shape."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        text = body.decode("utf-8", errors="replace").strip()
        # S3-style XML errors (pre-signed download links).
        xml_code = re.search(r"<Code>([^<]{1,80})</Code>", text)
        xml_message = re.search(r"<Message>([^<]{1,300})</Message>", text)
        if xml_code or xml_message:
            return (
                xml_code.group(1) if xml_code else None,
                xml_message.group(1) if xml_message else None,
                None,
            )
        return None, text or None, None
    if not isinstance(data, dict):
        return None, None, None
    code: str | None = None
    message: str | None = None
    request_id: str | None = None
    error = data.get("error")
    if isinstance(error, dict):  # Informatica: {"error": {"code", "message", "requestId"}}
        code = _text(error.get("code"))
        message = _text(error.get("message"))
        request_id = _text(error.get("requestId"))
    elif isinstance(error, str):  # OAuth shape (Particle, HERE 401)
        code = error
        message = _text(data.get("error_description")) or error
    errors = data.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):  # JSON:API
        first = errors[0]
        code = code or _text(first.get("code"))
        message = message or _text(first.get("detail")) or _text(first.get("title"))
    if "cause" in data or "correlationId" in data:  # HERE's documented error body
        code = code or _text(data.get("code"))
        parts = [_text(data.get(k)) for k in ("title", "cause", "action")]
        message = message or "; ".join(p for p in parts if p)
        request_id = request_id or _text(data.get("correlationId"))
    message = message or _text(data.get("message")) or _text(data.get("info"))
    code = code or _text(data.get("code"))
    return code, message, request_id


def _request_id(headers: httpx.Headers) -> str | None:
    for name in ("X-Request-ID", "X-Correlation-ID", "X-Amzn-RequestId", "X-Amz-Request-Id"):
        if headers.get(name):
            return headers[name]
    return None


def error_from_response(
    response: httpx.Response, *, provider: str, what: str, body: bytes | None = None
) -> APIError:
    """The exception for an error answer: the one place status codes are mapped.

    401/403 -> AuthenticationError, 404/410 -> NotFoundError, 429 -> RateLimitError,
    5xx -> ServerError, any other 4xx -> APIError; each carries the provider's
    error code and message, the request id, ``Retry-After`` and a hint. Every text
    goes through :func:`redact`, so a provider echoing a token cannot leak it.
    """
    status = response.status_code
    if body is None:
        body = response.content
    code, message, body_request_id = _error_details(body[: 64 * 1024])
    request_id = _request_id(response.headers) or body_request_id
    if not message:
        message = response.reason_phrase or f"HTTP {status}"
    if len(message) > ERROR_BODY_CHARS:
        message = message[:ERROR_BODY_CHARS] + "..."
    cls: type[APIError]
    if status in (401, 403):
        cls = AuthenticationError
    elif status in (404, 410):
        cls = NotFoundError
    elif status == 429:
        cls = RateLimitError
    elif status >= 500:
        cls = ServerError
    else:
        cls = APIError
    hint = (
        (_CODE_HINTS.get(code) if code else None)
        or _HINTS.get((provider, status))
        or _STATUS_HINTS.get(status)
    )
    label = PROVIDER_NAMES.get(provider, provider)
    return cls(
        redact(f"{label} {what} failed: {message}"),
        provider=provider,
        status=status,
        code=redact(code) if code else None,
        request_id=redact(request_id) if request_id else None,
        hint=hint,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, APIError) and exc.status is not None:
        return f"HTTP {exc.status} {type(exc).__name__}"
    return type(exc).__name__


def describe_url(url: str | Secret) -> str:
    """A loggable name for ``url``: its path, or 'a pre-signed link' for a secret one."""
    if isinstance(url, Secret):
        return "a pre-signed link"
    return urlsplit(url).path or "/"


class _StopAfter(tenacity.stop.stop_base):
    """Stop after ``attempts`` or when the next wait would pass the time budget."""

    def __init__(self, http: HTTP, what: str) -> None:
        self.http = http
        self.what = what
        self.start = http.clock.monotonic()

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        policy = self.http.retry
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        n = retry_state.attempt_number
        if n >= policy.attempts:
            log.debug(
                "%s: %s; giving up after %d attempts", self.what, _describe(exc or Exception()), n
            )
            return True
        elapsed = self.http.clock.monotonic() - self.start
        if elapsed + retry_state.upcoming_sleep > policy.timeout:
            log.debug(
                "%s: %s; giving up: waiting %.1f s more would pass the %.0f s retry budget",
                self.what,
                _describe(exc or Exception()),
                retry_state.upcoming_sleep,
                policy.timeout,
            )
            return True
        return False


class HTTP:
    """One provider's HTTP session: requests with retries, and streamed downloads."""

    def __init__(
        self,
        *,
        provider: str,
        client: httpx.Client | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.provider = provider
        self._owns_client = client is None
        self.client = client or httpx.Client(
            timeout=HTTP_TIMEOUT,
            follow_redirects=True,
            headers={"User-Agent": _user_agent()},
        )
        self.clock: Clock = clock or SystemClock()
        self.retry = retry or RetryPolicy()

    def close(self) -> None:
        """Close the httpx client if this object made it."""
        if self._owns_client:
            self.client.close()

    def __repr__(self) -> str:
        return f"HTTP(provider={self.provider!r}, retry={self.retry!r})"

    # -- retrying -------------------------------------------------------------

    def _wait(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return float(retry_after)
        # Exponential backoff with jitter (Google's retry strategy): initial * 2^(n-1) plus
        # up to ``initial`` at random, capped at wait_max.
        n = retry_state.attempt_number
        policy = self.retry
        return min(
            policy.wait_max,
            policy.wait_initial * 2 ** (n - 1) + random.uniform(0, policy.wait_initial),
        )

    def call(self, fn: Callable[[], T], *, what: str) -> T:
        """Run ``fn`` and retry it while it raises a transient error."""

        def should_retry(exc: BaseException) -> bool:
            if is_transient(exc):
                return True
            if isinstance(exc, APIError):
                log.debug("%s: %s; not retried (not transient)", what, _describe(exc))
            return False

        def before_sleep(retry_state: tenacity.RetryCallState) -> None:
            exc = retry_state.outcome.exception() if retry_state.outcome else None
            reason = "Retry-After" if getattr(exc, "retry_after", None) is not None else "backoff"
            log.debug(
                "%s: %s; retry %d of %d in %.2f s (%s)",
                what,
                _describe(exc or Exception()),
                retry_state.attempt_number,
                self.retry.attempts - 1,
                retry_state.upcoming_sleep,
                reason,
            )

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(should_retry),
            stop=_StopAfter(self, what),
            wait=self._wait,
            sleep=self.clock.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(fn)

    # -- requests -------------------------------------------------------------

    def _connection_failed(self, exc: httpx.HTTPError, what: str) -> NoReturn:
        label = PROVIDER_NAMES.get(self.provider, self.provider)
        detail = redact(str(exc)) or type(exc).__name__
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "got no answer"
        # ``from None``: httpx's exception holds the request, whose URL may be secret.
        raise ConnectionFailed(
            f"{label} {what} {kind}: {type(exc).__name__}: {detail}", provider=self.provider
        ) from None

    def send(
        self,
        method: str,
        url: str | Secret,
        *,
        what: str,
        headers: Headers = None,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """One request, retried while transient; an error answer raises (mapped)."""
        target = url.get() if isinstance(url, Secret) else url
        label = f"{method} {describe_url(url)} ({what})"

        def attempt() -> httpx.Response:
            sent = headers() if callable(headers) else headers
            try:
                response = self.client.request(
                    method,
                    target,
                    headers=dict(sent) if sent else None,
                    params=dict(params) if params else None,
                    json=json_body,
                    content=content,
                )
            except httpx.HTTPError as exc:
                self._connection_failed(exc, what)
            if response.status_code >= 400:
                raise error_from_response(response, provider=self.provider, what=what)
            return response

        return self.call(attempt, what=label)

    def send_json(self, method: str, url: str | Secret, *, what: str, **kwargs: Any) -> Any:
        """:meth:`send`, then the JSON body (an empty body gives ``{}``)."""
        return self.parse_json(self.send(method, url, what=what, **kwargs), what=what)

    def parse_json(self, response: httpx.Response, *, what: str) -> Any:
        """The JSON body of a successful answer; not JSON: an APIError saying what came."""
        if not response.content.strip():
            return {}
        try:
            return response.json()
        except ValueError:
            label = PROVIDER_NAMES.get(self.provider, self.provider)
            raise APIError(
                f"{label} {what}: expected a JSON answer, got "
                f"{response.headers.get('Content-Type', 'no content type')!r}",
                provider=self.provider,
                status=response.status_code,
                request_id=_request_id(response.headers),
            ) from None

    # -- downloads ------------------------------------------------------------

    def download(
        self,
        url: str | Secret,
        dest: Path,
        *,
        what: str,
        headers: Headers = None,
        validate: Callable[[Path], None] | None = None,
        progress: Callable[[int, int | None], None] | None = None,
        chunk_size: int = DOWNLOAD_CHUNK_SIZE,
    ) -> Download:
        """Stream ``url`` to ``dest`` atomically; a cut download starts again.

        ``validate(tmp_path)`` may raise :class:`ConnectionFailed` when the file is
        incomplete (a truncated gzip or ZIP), which counts as a cut download.
        ``progress(bytes_so_far, total_or_None)`` is called after each chunk.
        """
        target = url.get() if isinstance(url, Secret) else url
        label = f"GET {describe_url(url)} ({what})"
        dest.parent.mkdir(parents=True, exist_ok=True)

        def attempt() -> Download:
            tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex[:8]}.part"
            sent = headers() if callable(headers) else headers
            try:
                with self.client.stream(
                    "GET", target, headers=dict(sent) if sent else None
                ) as response:
                    if response.status_code >= 400:
                        raise error_from_response(
                            response, provider=self.provider, what=what, body=_read_some(response)
                        )
                    expected: int | None = None
                    length = response.headers.get("Content-Length")
                    if length and length.isdigit() and not response.headers.get("Content-Encoding"):
                        expected = int(length)
                    digest = hashlib.sha256()
                    size = 0
                    if progress:
                        progress(0, expected)
                    with open(tmp, "wb") as out:
                        for chunk in response.iter_bytes(chunk_size):
                            out.write(chunk)
                            digest.update(chunk)
                            size += len(chunk)
                            if progress:
                                progress(size, expected)
                        out.flush()
                        os.fsync(out.fileno())
                if expected is not None and size != expected:
                    raise ConnectionFailed(
                        f"{PROVIDER_NAMES.get(self.provider, self.provider)} {what} was cut: "
                        f"{size} of {expected} bytes arrived",
                        provider=self.provider,
                    )
                if validate is not None:
                    validate(tmp)
                os.replace(tmp, dest)
                return Download(dest, size, digest.hexdigest())
            except httpx.HTTPError as exc:
                self._connection_failed(exc, what)
            finally:
                tmp.unlink(missing_ok=True)

        return self.call(attempt, what=label)


def _user_agent() -> str:
    try:
        return f"usage-analysis/{metadata.version('usage-analysis')}"
    except metadata.PackageNotFoundError:
        return "usage-analysis"


def _read_some(response: httpx.Response, limit: int = 64 * 1024) -> bytes:
    """The first ``limit`` bytes of a streamed (error) body."""
    buf = bytearray()
    for chunk in response.iter_bytes():
        buf.extend(chunk)
        if len(buf) >= limit:
            break
    return bytes(buf[:limit])
