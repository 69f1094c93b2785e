"""The one HTTP layer of the clients: retries, redirects, deadlines, error mapping, downloads.

- :func:`error_from_response` is the only place where an HTTP status becomes an
  exception of :mod:`usage_analysis.errors`, with the provider's error code and
  message, the request id and a hint for the common cases.
- :class:`HTTP` sends requests through httpx and retries what is transient only
  (connection errors, timeouts, 408, 429, 5xx), bounded in attempts and in total
  time, with jittered exponential backoff or the server's ``Retry-After`` (capped at
  ``MAX_RETRY_AFTER``). Each decision (retry, give up, not retried) is one
  ``logging.debug`` line.
- Redirects are followed here, never by httpx, so that credentials stay on their
  origin (see :mod:`._redirects`).
- Every wait is bounded: a JSON answer is read up to ``MAX_JSON_BYTES`` within
  ``JSON_ANSWER_TIMEOUT``; inside :meth:`HTTP.deadline` (what ``wait(timeout=)`` and
  ``fetch(timeout=)`` set) every request, retry and download ends by the deadline
  with :class:`DeadlineExceeded`, however slowly the server drips its answer.
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

import contextlib
import hashlib
import json
import math
import os
import random
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

import httpx
import tenacity

from .._secrets import Secret, get_logger, redact
from ..defaults import (
    ERROR_BODY_CHARS,
    HTTP_TIMEOUT,
    JSON_ANSWER_TIMEOUT,
    MAX_DOWNLOAD_BYTES,
    MAX_JSON_BYTES,
    MAX_REDIRECTS,
    MAX_RETRY_AFTER,
    PROVIDER_NAMES,
    RETRY_ATTEMPTS,
    RETRY_TIMEOUT,
    RETRY_WAIT_INITIAL,
    RETRY_WAIT_MAX,
    STALE_PART_AGE,
)
from ..errors import (
    APIError,
    AuthenticationError,
    ConnectionFailed,
    NotFoundError,
    RateLimitError,
    ServerError,
    UsageAnalysisError,
)
from ._clock import Clock, SystemClock
from ._redirects import holds_secret, next_hop, origin, strip_credentials

__all__ = [
    "HTTP",
    "DeadlineExceeded",
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
    """A file saved whole: where, how many bytes, its sha256, and doubts about it."""

    path: Path
    size: int
    sha256: str
    #: Why the file may still be incomplete (a close-delimited answer cannot be checked).
    warnings: tuple[str, ...] = ()


class DeadlineExceeded(UsageAnalysisError):
    """The caller's deadline (``timeout=``) passed during a request; the job turns it
    into :class:`~usage_analysis.errors.ReportTimeout`."""


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is worth retrying: no answer, 408, 429 or 5xx."""
    if isinstance(exc, RateLimitError | ServerError | ConnectionFailed):
        return True
    return isinstance(exc, APIError) and exc.status == 408


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date).

    Never more than ``MAX_RETRY_AFTER``: ``1000000000``, a date in 2099, ``inf`` or
    ``1e400`` all give the cap, and nothing here raises ``OverflowError``.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if math.isnan(seconds):
            return None
        return min(MAX_RETRY_AFTER, max(0.0, seconds))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = time.time() if now is None else now
    try:
        delta = when.timestamp() - reference
    except (OverflowError, OSError, ValueError):
        return MAX_RETRY_AFTER
    return min(MAX_RETRY_AFTER, max(0.0, delta))


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
        # ``details``: a list of objects in the spec, one object in some answers.
        details = data.get("details")
        first_detail = details[0] if isinstance(details, list) and details else details
        if isinstance(first_detail, dict) and not data.get("cause"):
            parts.insert(1, _text(first_detail.get("message")) or _text(first_detail.get("title")))
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


# The deadline of the current call chain: (id of the clock it is measured on, monotonic time).
_DEADLINE: ContextVar[tuple[int, float] | None] = ContextVar(
    "usage_analysis_deadline", default=None
)
# A read may wait this long at least: a deadline a fraction of a second away still gets an answer.
_MIN_READ_TIMEOUT = 1.0


class _StopAfter(tenacity.stop.stop_base):
    """Stop after ``attempts``, or when the next wait would pass the time budget or deadline."""

    def __init__(self, http: HTTP, what: str) -> None:
        self.http = http
        self.what = what
        self.start = http.clock.monotonic()
        self.deadline_hit = False

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
        remaining = self.http.remaining()
        if remaining is not None and retry_state.upcoming_sleep >= remaining:
            log.debug(
                "%s: %s; giving up: the caller's deadline is %.1f s away",
                self.what,
                _describe(exc or Exception()),
                remaining,
            )
            self.deadline_hit = True
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
        # Redirects are never followed by httpx (every request says so): see _open().
        self.client = client or httpx.Client(
            timeout=HTTP_TIMEOUT,
            follow_redirects=False,
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

    @property
    def _label(self) -> str:
        return PROVIDER_NAMES.get(self.provider, self.provider)

    # -- the caller's deadline --------------------------------------------------

    @contextlib.contextmanager
    def deadline(self, until: float | None) -> Iterator[None]:
        """Bound every request inside the block by ``until`` (on ``self.clock.monotonic()``).

        Nested deadlines keep the earlier one. ``None``: no deadline (the block is
        still bounded by the retry budget and the read timeouts).
        """
        if until is None:
            yield
            return
        current = self._until()
        if current is not None:
            until = min(until, current)
        token = _DEADLINE.set((id(self.clock), until))
        try:
            yield
        finally:
            _DEADLINE.reset(token)

    def _until(self) -> float | None:
        value = _DEADLINE.get()
        if value is None or value[0] != id(self.clock):
            return None
        return value[1]

    def remaining(self) -> float | None:
        """Seconds left before the deadline (None: no deadline)."""
        until = self._until()
        return None if until is None else until - self.clock.monotonic()

    def _check_deadline(self, what: str) -> None:
        remaining = self.remaining()
        if remaining is not None and remaining <= 0:
            raise DeadlineExceeded(f"{self._label} {what}: the deadline passed")

    def _timeout(self) -> httpx.Timeout | httpx._client.UseClientDefault:
        remaining = self.remaining()
        if remaining is None:
            return httpx.USE_CLIENT_DEFAULT
        return httpx.Timeout(max(_MIN_READ_TIMEOUT, min(HTTP_TIMEOUT, remaining)))

    # -- retrying -------------------------------------------------------------

    def _wait(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(MAX_RETRY_AFTER, float(retry_after))
        # Exponential backoff with jitter (Google's retry strategy): initial * 2^(n-1) plus
        # up to ``initial`` at random, capped at wait_max.
        n = retry_state.attempt_number
        policy = self.retry
        return min(
            policy.wait_max,
            policy.wait_initial * 2 ** min(n - 1, 30) + random.uniform(0, policy.wait_initial),
        )

    def call(self, fn: Callable[[], T], *, what: str) -> T:
        """Run ``fn`` and retry it while it raises a transient error (within the deadline)."""

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

        def attempt() -> T:
            self._check_deadline(what)
            return fn()

        stop = _StopAfter(self, what)
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(should_retry),
            stop=stop,
            wait=self._wait,
            sleep=self.clock.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except APIError as exc:
            if stop.deadline_hit:
                raise DeadlineExceeded(
                    f"{self._label} {what}: the deadline passed while retrying ({_describe(exc)})"
                ) from None
            raise

    # -- requests -------------------------------------------------------------

    def _connection_failed(self, exc: httpx.HTTPError, what: str) -> NoReturn:
        remaining = self.remaining()
        if (
            remaining is not None
            and isinstance(exc, httpx.TimeoutException)
            and remaining <= _MIN_READ_TIMEOUT
        ):
            raise DeadlineExceeded(f"{self._label} {what}: the deadline passed") from None
        detail = redact(str(exc)) or type(exc).__name__
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "got no answer"
        # ``from None``: httpx's exception holds the request, whose URL may be secret.
        raise ConnectionFailed(
            f"{self._label} {what} {kind}: {type(exc).__name__}: {detail}", provider=self.provider
        ) from None

    def _open(
        self,
        method: str,
        url: str,
        *,
        what: str,
        headers: Mapping[str, str] | None,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        secret_body: bool = False,
    ) -> httpx.Response:
        """Send one request, following redirects ourselves; the answer is open (streamed).

        The caller closes it. An error status raises its mapped error (the answer
        closed); httpx errors are raised as they come (the caller maps them).
        """
        secret_body = secret_body or holds_secret(json_body)
        has_body = json_body is not None or content is not None
        sent = dict(headers) if headers else None
        request = self.client.build_request(
            method,
            url,
            headers=sent,
            params=dict(params) if params else None,
            json=json_body,
            content=content,
            timeout=self._timeout(),
        )
        first = origin(request.url)
        left = False
        for _ in range(MAX_REDIRECTS + 1):
            response = self.client.send(request, stream=True, follow_redirects=False)
            try:
                hop = next_hop(
                    response,
                    method=request.method,
                    first_origin=first,
                    left=left,
                    has_body=has_body,
                    secret_body=secret_body,
                    provider=self.provider,
                    what=what,
                )
            except BaseException:
                response.close()
                raise
            if hop is None:
                if response.status_code >= 400:
                    try:
                        body = self._read_error(response, what)
                    finally:
                        response.close()
                    raise error_from_response(
                        response, provider=self.provider, what=what, body=body
                    )
                return response
            response.close()
            self._check_deadline(what)
            left = hop.cross_origin
            has_body = hop.keep_body
            log.debug(
                "%s: redirected (HTTP %d) to %s%s",
                what,
                response.status_code,
                "another origin, credentials dropped" if left else "the same origin",
                "" if not has_body else ", body re-sent",
            )
            request = self.client.build_request(
                hop.method,
                hop.url,
                headers=sent,
                json=json_body if hop.keep_body else None,
                content=content if hop.keep_body else None,
                timeout=self._timeout(),
            )
            if left:
                strip_credentials(request)
        raise APIError(
            f"{self._label} {what}: more than {MAX_REDIRECTS} redirects",
            provider=self.provider,
        )

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
        secret_body: bool = False,
    ) -> httpx.Response:
        """One request, retried while transient; an error answer raises (mapped).

        The answer's body is read whole, at most ``MAX_JSON_BYTES``, within
        ``JSON_ANSWER_TIMEOUT`` and the deadline. ``secret_body``: the body holds a
        credential (also detected in JSON bodies) and never goes to another origin.
        """
        target = url.get() if isinstance(url, Secret) else url
        label = f"{method} {describe_url(url)} ({what})"

        def attempt() -> httpx.Response:
            sent = headers() if callable(headers) else headers
            try:
                response = self._open(
                    method,
                    target,
                    what=what,
                    headers=sent,
                    params=params,
                    json_body=json_body,
                    content=content,
                    secret_body=secret_body,
                )
                try:
                    body = self._read_answer(response, what=what)
                finally:
                    response.close()
            except httpx.HTTPError as exc:
                self._connection_failed(exc, what)
            # The body was read (and bounded) above; httpx keeps a read body in _content.
            response._content = body
            return response

        return self.call(attempt, what=label)

    def _read_answer(self, response: httpx.Response, *, what: str) -> bytes:
        """A (JSON) answer's body: at most MAX_JSON_BYTES, whole within the time bounds."""
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > MAX_JSON_BYTES:
            raise self._too_large(response, what, f"announces {int(length):,} bytes")
        started = self.clock.monotonic()
        buf = bytearray()
        for chunk in response.iter_bytes():
            buf.extend(chunk)
            if len(buf) > MAX_JSON_BYTES:
                raise self._too_large(response, what, f"went past {MAX_JSON_BYTES:,} bytes")
            self._check_deadline(what)
            if self.clock.monotonic() - started > JSON_ANSWER_TIMEOUT:
                raise ConnectionFailed(
                    f"{self._label} {what}: the answer did not arrive whole within "
                    f"{JSON_ANSWER_TIMEOUT:.0f} s ({len(buf):,} bytes so far)",
                    provider=self.provider,
                )
        return bytes(buf)

    def _read_error(self, response: httpx.Response, what: str, limit: int = 64 * 1024) -> bytes:
        """The first ``limit`` bytes of an error answer, within the same time bounds."""
        started = self.clock.monotonic()
        buf = bytearray()
        for chunk in response.iter_bytes():
            buf.extend(chunk)
            if len(buf) >= limit or self.clock.monotonic() - started > JSON_ANSWER_TIMEOUT:
                break
            self._check_deadline(what)
        return bytes(buf[:limit])

    def _too_large(self, response: httpx.Response, what: str, detail: str) -> APIError:
        return APIError(
            f"{self._label} {what}: the answer {detail}; at most {MAX_JSON_BYTES:,} bytes are "
            "read from a JSON answer (MAX_JSON_BYTES)",
            provider=self.provider,
            status=response.status_code,
            request_id=_request_id(response.headers),
        )

    def send_json(self, method: str, url: str | Secret, *, what: str, **kwargs: Any) -> Any:
        """:meth:`send`, then the JSON body (an empty body gives ``{}``)."""
        return self.parse_json(self.send(method, url, what=what, **kwargs), what=what)

    def parse_json(self, response: httpx.Response, *, what: str) -> Any:
        """The JSON body of a successful answer; not JSON: an APIError saying what came."""
        if not response.content.strip():
            return {}
        try:
            return json.loads(response.content)
        except (ValueError, RecursionError):
            raise APIError(
                f"{self._label} {what}: expected a JSON answer, got "
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
    ) -> Download:
        """Stream ``url`` to ``dest`` atomically; a cut download starts again.

        ``validate(tmp_path)`` may raise :class:`ConnectionFailed` when the file is
        incomplete (a truncated gzip or ZIP), which counts as a cut download.
        ``progress(bytes_so_far, total_or_None)`` is called after each chunk. The
        ``.part`` files of earlier downloads to ``dest`` whose process is gone are
        removed first. Inside :meth:`deadline`, the download ends by the deadline
        (:class:`DeadlineExceeded`) and its partial file is removed.
        """
        target = url.get() if isinstance(url, Secret) else url
        label = f"GET {describe_url(url)} ({what})"
        dest.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_parts(dest)

        def attempt() -> Download:
            tmp = dest.parent / f".{dest.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.part"
            sent = headers() if callable(headers) else headers
            try:
                response = self._open("GET", target, what=what, headers=sent)
                try:
                    expected: int | None = None
                    length = response.headers.get("Content-Length")
                    if length and length.isdigit() and not response.headers.get("Content-Encoding"):
                        expected = int(length)
                    digest = hashlib.sha256()
                    size = 0
                    if progress:
                        progress(0, expected)
                    with open(tmp, "wb") as out:
                        # As the network gives it (no re-chunking to a fixed size, which
                        # would hold a dripping body back from the deadline check).
                        for chunk in response.iter_bytes():
                            out.write(chunk)
                            digest.update(chunk)
                            size += len(chunk)
                            if progress:
                                progress(size, expected)
                            self._check_deadline(what)
                            if size > MAX_DOWNLOAD_BYTES:
                                raise APIError(
                                    f"{self._label} {what}: the file went past "
                                    f"{MAX_DOWNLOAD_BYTES:,} bytes, more than any report the "
                                    "readers accept (MAX_DOWNLOAD_BYTES); stopped",
                                    provider=self.provider,
                                    status=response.status_code,
                                )
                        out.flush()
                        os.fsync(out.fileno())
                    notes = self._framing_warnings(response, what)
                finally:
                    response.close()
                if expected is not None and size != expected:
                    raise ConnectionFailed(
                        f"{self._label} {what} was cut: {size} of {expected} bytes arrived",
                        provider=self.provider,
                    )
                if validate is not None:
                    validate(tmp)
                os.replace(tmp, dest)
                return Download(dest, size, digest.hexdigest(), notes)
            except httpx.HTTPError as exc:
                self._connection_failed(exc, what)
            finally:
                tmp.unlink(missing_ok=True)

        return self.call(attempt, what=label)

    def _framing_warnings(self, response: httpx.Response, what: str) -> tuple[str, ...]:
        """A warning when the answer's end was only the connection closing (not checkable)."""
        if response.http_version.upper().startswith(("HTTP/2", "HTTP/3")):
            return ()  # framed by the protocol itself
        if "Content-Length" in response.headers:
            return ()
        if "chunked" in response.headers.get("Transfer-Encoding", "").lower():
            return ()
        return (
            f"{self._label} {what}: the server sent neither Content-Length nor chunked "
            "framing, so the file's completeness could not be checked (kept as it arrived)",
        )


def remove_stale_parts(dest: Path) -> list[Path]:
    """Remove the ``.part`` files of earlier downloads to ``dest`` left by dead processes."""
    removed: list[Path] = []
    prefix = f".{dest.name}."
    now = time.time()
    try:
        candidates = [p for p in dest.parent.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return removed
    for part in candidates:
        if not part.name.endswith(".part"):
            continue
        pid_text = part.name[len(prefix) :].split("-", 1)[0]
        pid = int(pid_text) if pid_text.isdigit() else None
        try:
            age = now - part.stat().st_mtime
        except OSError:
            continue
        if pid is not None and _process_alive(pid) and age < STALE_PART_AGE.total_seconds():
            continue  # another download in progress right now
        with contextlib.suppress(OSError):
            part.unlink()
            removed.append(part)
            log.debug("removed a leftover partial download %s", part.name)
    return removed


def _process_alive(pid: int) -> bool:
    """Whether ``pid`` is running: psutil (already a dependency) answers on every OS."""
    import psutil

    return pid == os.getpid() or psutil.pid_exists(pid)


def _user_agent() -> str:
    try:
        return f"usage-analysis/{metadata.version('usage-analysis')}"
    except metadata.PackageNotFoundError:
        return "usage-analysis"
