"""The HTTP session of a client: requests with retries, downloads, one caller's deadline.

What lives where (issue 22: one concern per module):

- :mod:`._errormap`: an error answer becomes an exception (:func:`error_from_response`,
  the one place status codes are mapped) and ``Retry-After`` is read and capped;
- :mod:`._retry`: what is transient and how it is retried (tenacity, our clock);
- :mod:`._transport`: one request on the wire: redirects by our rules, every phase
  (connect, headers, body) bounded by a watchdog, bodies decoded and checked whole;
- here, :class:`HTTP` composes them: :meth:`HTTP.send` (a bounded JSON answer),
  :meth:`HTTP.download` (streamed to disk atomically, a cut download starts again)
  and :meth:`HTTP.deadline`, the caller's one overall bound.

Inside :meth:`HTTP.deadline` (what ``wait(timeout=)`` and ``fetch(timeout=)`` set)
every request, retry and download ends by the deadline with
:class:`~usage_analysis.errors.DeadlineExceeded`, whichever phase the server drips.
Without one, a JSON answer still arrives whole within ``JSON_ANSWER_TIMEOUT`` and a
download's headers within ``HTTP_TIMEOUT``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

import httpx

from .. import providers
from .._secrets import Secret, get_logger, redact
from ..defaults import (
    HTTP_TIMEOUT,
    JSON_ANSWER_TIMEOUT,
    MAX_DOWNLOAD_BYTES,
    MAX_JSON_BYTES,
    STALE_PART_AGE,
)
from ..errors import APIError, ConnectionFailed, DeadlineExceeded, UsageAnalysisError
from ._clock import Clock, SystemClock
from ._errormap import error_from_response, parse_retry_after, request_id_of, retry_after_of
from ._retry import RetryPolicy, is_transient, with_retries
from ._transport import (
    ACCEPT_ENCODING,
    BodyDecoder,
    BodyError,
    Guard,
    Transport,
    UnsupportedEncoding,
)

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

# Why a request's guard may cut it: the caller's deadline, or one of our own bounds.
_DEADLINE_REASON = "deadline"
_ANSWER_REASON = "answer"
_HEADERS_REASON = "headers"


@dataclass(frozen=True)
class Download:
    """A file saved whole: where, how many bytes, its sha256, and doubts about it."""

    path: Path
    size: int
    sha256: str
    #: Why the file may still be incomplete (a close-delimited answer cannot be checked).
    warnings: tuple[str, ...] = ()


def describe_url(url: str | Secret) -> str:
    """A loggable name for ``url``: its path, or 'a pre-signed link' for a secret one."""
    if isinstance(url, Secret):
        return "a pre-signed link"
    return urlsplit(url).path or "/"


# The deadline of the current call chain: (id of the clock it is measured on, monotonic time).
_DEADLINE: ContextVar[tuple[int, float] | None] = ContextVar(
    "usage_analysis_deadline", default=None
)


def _answered(response: httpx.Response, body: bytes) -> httpx.Response:
    """A closed answer holding ``body`` (already decoded): its headers say so."""
    headers = [
        (k, v)
        for k, v in response.headers.multi_items()
        if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    extensions = {k: v for k, v in response.extensions.items() if k != "network_stream"}
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=body,
        request=response.request,
        extensions=extensions,
    )


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
        # Redirects are never followed by httpx (every request says so): see _transport.
        self.client = client or httpx.Client(
            timeout=HTTP_TIMEOUT,
            follow_redirects=False,
            headers={"User-Agent": _user_agent(), "Accept-Encoding": ACCEPT_ENCODING},
        )
        self.transport = Transport(self.client, provider=provider)
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
        return providers.display_name(self.provider)

    # -- the caller's deadline --------------------------------------------------

    @contextlib.contextmanager
    def deadline(self, until: float | None) -> Iterator[None]:
        """Bound every request inside the block by ``until`` (on ``self.clock.monotonic()``).

        Nested deadlines keep the earlier one. ``None``: no deadline (the block is
        still bounded by the retry budget and the answer bounds).
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

    def _arm(self, guard: Guard, bound: float | None, reason: str) -> None:
        """Let the request take at most ``bound`` more seconds, and never past the deadline."""
        remaining = self.remaining()
        if remaining is not None and (bound is None or remaining <= bound):
            guard.arm(max(0.0, remaining), _DEADLINE_REASON)
        else:
            guard.arm(bound, reason)

    def _cut(self, guard: Guard, what: str, phase: str) -> UsageAnalysisError:
        """The error for a request its guard cut (or whose time ran out)."""
        reason = guard.expired or guard.reason
        if reason == _ANSWER_REASON:
            return ConnectionFailed(
                f"{self._label} {what}: the answer did not arrive whole within "
                f"{JSON_ANSWER_TIMEOUT:.0f} s (JSON_ANSWER_TIMEOUT; cut while {phase})",
                provider=self.provider,
            )
        if reason == _HEADERS_REASON:
            return ConnectionFailed(
                f"{self._label} {what}: the answer's headers did not arrive within "
                f"{HTTP_TIMEOUT:.0f} s (HTTP_TIMEOUT)",
                provider=self.provider,
            )
        return DeadlineExceeded(f"{self._label} {what}: the deadline passed while {phase}")

    # -- retrying -------------------------------------------------------------

    def call(self, fn: Callable[[], T], *, what: str) -> T:
        """Run ``fn`` and retry it while it raises a transient error (within the deadline)."""
        return with_retries(
            fn,
            what=what,
            label=self._label,
            policy=self.retry,
            clock=self.clock,
            remaining=self.remaining,
        )

    # -- requests -------------------------------------------------------------

    def _connection_failed(
        self, exc: httpx.HTTPError, what: str, guard: Guard | None = None
    ) -> NoReturn:
        if guard is not None and guard.out_of_time():
            raise self._cut(guard, what, _phase(exc)) from None
        remaining = self.remaining()
        if remaining is not None and remaining <= 0:
            raise DeadlineExceeded(f"{self._label} {what}: the deadline passed") from None
        detail = redact(str(exc)) or type(exc).__name__
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "got no answer"
        # ``from None``: httpx's exception holds the request, whose URL may be secret.
        raise ConnectionFailed(
            f"{self._label} {what} {kind}: {type(exc).__name__}: {detail}", provider=self.provider
        ) from None

    def _decoded(
        self, response: httpx.Response, guard: Guard, what: str, *, count: list[int] | None = None
    ) -> Iterator[bytes]:
        """The body, decoded, in pieces; between raw chunks the deadline is checked.

        A compressed body that does not reach its end is :class:`ConnectionFailed`
        (a cut answer, retried); an encoding we did not offer is an :class:`APIError`.
        ``count[0]`` receives the number of raw bytes read.
        """
        try:
            decoder = BodyDecoder(response.headers.get("Content-Encoding"))
        except UnsupportedEncoding as exc:
            raise APIError(
                f"{self._label} {what}: {exc}", provider=self.provider, status=response.status_code
            ) from None
        try:
            for raw in _raw(response):
                if count is not None:
                    count[0] += len(raw)
                yield from decoder.feed(raw)
                self._check_deadline(what)
            decoder.finish(empty_ok=response.status_code in (204, 304))
        except BodyError as exc:
            if guard.out_of_time():
                raise self._cut(guard, what, "reading the body") from None
            raise ConnectionFailed(
                f"{self._label} {what} was cut or garbled: {exc}", provider=self.provider
            ) from None
        if guard.expired:
            # A close-delimited body ends quietly when its socket is shut down.
            raise self._cut(guard, what, "reading the body")

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
        ``JSON_ANSWER_TIMEOUT`` and the deadline (every phase: connect, headers,
        body). ``secret_body``: the body holds a credential (also detected in JSON
        bodies) and never goes to another origin. The answer comes back closed, its
        body decoded (no ``Content-Encoding`` left).
        """
        target = url.get() if isinstance(url, Secret) else url
        label = f"{method} {describe_url(url)} ({what})"

        def attempt() -> httpx.Response:
            sent = headers() if callable(headers) else headers
            with self.transport.guard() as guard:
                self._arm(guard, JSON_ANSWER_TIMEOUT, _ANSWER_REASON)
                try:
                    response = self.transport.open(
                        method,
                        target,
                        what=what,
                        guard=guard,
                        headers=sent,
                        params=params,
                        json_body=json_body,
                        content=content,
                        secret_body=secret_body,
                        read_error=lambda r: self._read_error(r, guard, what),
                    )
                    try:
                        body = self._read_answer(response, guard, what=what)
                    finally:
                        response.close()
                except httpx.HTTPError as exc:
                    self._connection_failed(exc, what, guard)
            return _answered(response, body)

        return self.call(attempt, what=label)

    def _read_answer(self, response: httpx.Response, guard: Guard, *, what: str) -> bytes:
        """A (JSON) answer's body: at most MAX_JSON_BYTES, whole within the time bounds."""
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > MAX_JSON_BYTES:
            raise self._too_large(response, what, f"announces {int(length):,} bytes")
        started = self.clock.monotonic()
        buf = bytearray()
        for piece in self._decoded(response, guard, what):
            buf.extend(piece)
            if len(buf) > MAX_JSON_BYTES:
                raise self._too_large(response, what, f"went past {MAX_JSON_BYTES:,} bytes")
            if self.clock.monotonic() - started > JSON_ANSWER_TIMEOUT:
                raise ConnectionFailed(
                    f"{self._label} {what}: the answer did not arrive whole within "
                    f"{JSON_ANSWER_TIMEOUT:.0f} s ({len(buf):,} bytes so far)",
                    provider=self.provider,
                )
        return bytes(buf)

    def _read_error(
        self, response: httpx.Response, guard: Guard, what: str, limit: int = 64 * 1024
    ) -> bytes:
        """The first ``limit`` bytes of an error answer, within the same time bounds."""
        started = self.clock.monotonic()
        buf = bytearray()
        with contextlib.suppress(ConnectionFailed, APIError):
            for piece in self._decoded(response, guard, what):
                buf.extend(piece)
                if len(buf) >= limit or self.clock.monotonic() - started > JSON_ANSWER_TIMEOUT:
                    break
        return bytes(buf[:limit])

    def _too_large(self, response: httpx.Response, what: str, detail: str) -> APIError:
        return APIError(
            f"{self._label} {what}: the answer {detail}; at most {MAX_JSON_BYTES:,} bytes are "
            "read from a JSON answer (MAX_JSON_BYTES)",
            provider=self.provider,
            status=response.status_code,
            request_id=request_id_of(response.headers),
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
                request_id=request_id_of(response.headers),
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

        The file is whole or absent: its raw size must equal ``Content-Length`` and
        a compressed body must reach the end of its stream. ``validate(tmp_path)``
        may raise :class:`ConnectionFailed` when the file is incomplete (a truncated
        gzip or ZIP), which counts as a cut download. ``progress(bytes_so_far,
        total_or_None)`` is called after each chunk. The ``.part`` files of earlier
        downloads to ``dest`` whose process is gone are removed first. Inside
        :meth:`deadline`, the download ends by the deadline (:class:`DeadlineExceeded`)
        and its partial file is removed.
        """
        target = url.get() if isinstance(url, Secret) else url
        label = f"GET {describe_url(url)} ({what})"
        dest.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_parts(dest)

        def attempt() -> Download:
            tmp = dest.parent / f".{dest.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.part"
            sent = headers() if callable(headers) else headers
            try:
                with self.transport.guard() as guard:
                    try:
                        return self._download_once(
                            target, dest, tmp, guard, what, sent, validate, progress
                        )
                    except httpx.HTTPError as exc:
                        self._connection_failed(exc, what, guard)
            finally:
                tmp.unlink(missing_ok=True)

        return self.call(attempt, what=label)

    def _download_once(
        self,
        target: str,
        dest: Path,
        tmp: Path,
        guard: Guard,
        what: str,
        headers: Mapping[str, str] | None,
        validate: Callable[[Path], None] | None,
        progress: Callable[[int, int | None], None] | None,
    ) -> Download:
        # The headers must come within HTTP_TIMEOUT; the body may take until the deadline.
        self._arm(guard, HTTP_TIMEOUT, _HEADERS_REASON)
        response = self.transport.open(
            "GET",
            target,
            what=what,
            guard=guard,
            headers=headers,
            read_error=lambda r: self._read_error(r, guard, what),
        )
        try:
            self._arm(guard, None, _DEADLINE_REASON)
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            digest = hashlib.sha256()
            size = 0
            raw = [0]
            if progress:
                progress(0, expected)
            with open(tmp, "wb") as out:
                # As the network gives it (no re-chunking to a fixed size, which
                # would hold a dripping body back from the deadline check).
                for piece in self._decoded(response, guard, what, count=raw):
                    out.write(piece)
                    digest.update(piece)
                    size += len(piece)
                    if progress:
                        progress(raw[0], expected)
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
        if expected is not None and raw[0] != expected:
            raise ConnectionFailed(
                f"{self._label} {what} was cut: {raw[0]} of {expected} bytes arrived",
                provider=self.provider,
            )
        if validate is not None:
            validate(tmp)
        os.replace(tmp, dest)
        return Download(dest, size, digest.hexdigest(), notes)

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


def _raw(response: httpx.Response) -> Iterator[bytes]:
    """The body as it came on the wire (still encoded).

    An answer built with ``content=`` (a test's mock transport) is read already; its
    ``stream`` still holds the bytes as given.
    """
    if response.is_stream_consumed and isinstance(response.stream, httpx.SyncByteStream):
        yield from response.stream
    else:
        yield from response.iter_raw()


def _phase(exc: httpx.HTTPError) -> str:
    """Which phase of a request an httpx error came from, in words."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return "connecting"
    if isinstance(exc, httpx.WriteError | httpx.WriteTimeout):
        return "sending the request"
    return "waiting for the answer"


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
