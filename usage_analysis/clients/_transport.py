"""Transport: one request on the wire, every phase bounded, its body streamed and checked.

- **Every phase ends on time.** httpx's timeouts bound one socket operation each,
  not a phase: a server that sends one header byte every half second never trips a
  read timeout. So each request runs under a :class:`Guard`, which gives httpx
  connect/read/write/pool timeouts no longer than the time left *and* arms a
  watchdog that shuts the request's socket down when the time is up, whatever the
  request is doing (connecting, TLS, sending, waiting for headers, reading the
  body). The blocked call then fails at once and the caller sees why. The socket
  is found through httpx's public request extension ``trace`` (every connection
  our requests open) and the answer's ``network_stream`` extension; a request on a
  reused keep-alive connection whose answer has not begun is cut by shutting down
  the idle connections this session opened (one of them is the one in use).
- **Redirects** are followed here, never by httpx, so that credentials stay on
  their origin (rules in :mod:`._redirects`). A hop to another origin is a bare
  request: none of the httpx client's own headers, cookies, query parameters or
  ``auth=`` go with it.
- **Bodies** are read raw and ``Content-Encoding`` (gzip, deflate) is undone here,
  in pieces of at most ``_PIECE`` bytes (so size caps hold against bombs), with the
  decoder required to reach the end of every compressed stream: a truncated
  compressed body is always an error, even when its Content-Length matches.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import httpx

from .. import providers
from .._secrets import get_logger
from ..defaults import HTTP_TIMEOUT, MAX_REDIRECTS
from ..errors import APIError, ConfigurationError
from ._errormap import error_from_response
from ._redirects import SAFE_HEADERS, holds_secret, next_hop, origin

__all__ = [
    "ACCEPT_ENCODING",
    "BodyDecoder",
    "BodyError",
    "Guard",
    "Transport",
    "UnsupportedEncoding",
]

log = get_logger(__name__)

#: What we can decode ourselves (and check for completeness).
ACCEPT_ENCODING = "gzip, deflate"
# Decoded bytes are handed on in pieces of at most this size.
_PIECE = 1024 * 1024
# A timeout given to httpx is never below this (0 would mean "no wait at all" to some calls).
_MIN_TIMEOUT = 0.001


# -- the watchdog ----------------------------------------------------------------------


class _Alarm:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False


class _Watchdog:
    """One daemon thread that calls each scheduled callback at its time (real, monotonic)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Alarm]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._cancelled = 0

    def schedule(self, delay: float, callback: Callable[[], None]) -> _Alarm:
        alarm = _Alarm(time.monotonic() + max(0.0, delay), callback)
        with self._cond:
            heapq.heappush(self._heap, (alarm.when, next(self._seq), alarm))
            if self._thread is None or not self._thread.is_alive():  # also after a fork
                self._thread = threading.Thread(
                    target=self._run, name="usage-analysis-watchdog", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        return alarm

    def cancel(self, alarm: _Alarm) -> None:
        with self._cond:
            if alarm.cancelled:
                return
            alarm.cancelled = True
            self._cancelled += 1
            # Long alarms cancelled early would pile up: drop them now and then.
            if self._cancelled > 64 and self._cancelled * 2 > len(self._heap):
                self._heap = [e for e in self._heap if not e[2].cancelled]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][2].cancelled:
                    heapq.heappop(self._heap)
                    self._cancelled = max(0, self._cancelled - 1)
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                alarm = heapq.heappop(self._heap)[2]
                if alarm.cancelled:
                    self._cancelled = max(0, self._cancelled - 1)
                    continue
                alarm.cancelled = True
            try:
                alarm.callback()
            except Exception:  # a watchdog must not die; the request ends by itself anyway
                log.debug("watchdog callback failed", exc_info=True)


_WATCHDOG = _Watchdog()


def _shut(sock: socket.socket) -> None:
    """Shut ``sock`` down for both directions: a call blocked on it returns at once.

    The plain socket method is called even on an SSL socket: ``SSLSocket.shutdown``
    would also drop its SSL object under the feet of the thread reading from it.
    """
    with contextlib.suppress(OSError, ValueError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Sockets:
    """The sockets of the connections this session's requests opened, and who uses which."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._all: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._busy: dict[int, socket.socket] = {}

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            self._all.add(sock)

    def claim(self, guard: Guard, sock: socket.socket | None) -> None:
        with self._lock:
            if sock is None:
                self._busy.pop(id(guard), None)
            else:
                self._busy[id(guard)] = sock

    def idle(self) -> list[socket.socket]:
        with self._lock:
            busy = set(map(id, self._busy.values()))
            return [s for s in self._all if id(s) not in busy and s.fileno() != -1]


def _socket_of(stream: Any) -> socket.socket | None:
    getter = getattr(stream, "get_extra_info", None)
    if getter is None:
        return None
    try:
        sock = getter("socket")
    except Exception:
        return None
    return sock if isinstance(sock, socket.socket) else None


class Guard:
    """Bounds one request (all its redirect hops, headers and body) in real time.

    :meth:`arm` sets how long it may still take; when that passes, the watchdog
    shuts its socket down and :attr:`expired` says why (the ``reason`` given to arm).
    """

    def __init__(self, sockets: _Sockets) -> None:
        self._sockets = sockets
        self._lock = threading.Lock()
        self._alarm: _Alarm | None = None
        self._current: socket.socket | None = None
        self._done = False
        self.until: float | None = None
        self.reason = ""
        self.expired: str | None = None

    # -- time ---------------------------------------------------------------------------

    def arm(self, seconds: float | None, reason: str) -> None:
        """From now on the request may take at most ``seconds`` more (None: no bound)."""
        with self._lock:
            if self._alarm is not None:
                _WATCHDOG.cancel(self._alarm)
                self._alarm = None
            self.reason = reason
            if seconds is None:
                self.until = None
                return
            self.until = time.monotonic() + seconds
            self._alarm = _WATCHDOG.schedule(seconds, self._expire)

    def left(self) -> float | None:
        """Real seconds left (None: no bound)."""
        return None if self.until is None else self.until - time.monotonic()

    def out_of_time(self) -> bool:
        """Whether the bound has passed (or is a hair away), fired or not."""
        left = self.left()
        return self.expired is not None or (left is not None and left <= 0.01)

    def timeout(self) -> httpx.Timeout:
        """httpx's per-operation timeouts, each no longer than the time left."""
        left = self.left()
        seconds = HTTP_TIMEOUT if left is None else max(_MIN_TIMEOUT, min(HTTP_TIMEOUT, left))
        return httpx.Timeout(seconds)

    # -- sockets ------------------------------------------------------------------------

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        """httpx's ``trace`` extension: learn the socket of each connection opened."""
        if event not in (
            "connection.connect_tcp.complete",
            "connection.connect_unix_socket.complete",
            "connection.start_tls.complete",
        ):
            return
        sock = _socket_of(info.get("return_value"))
        if sock is None:
            return
        self._sockets.add(sock)
        self._use(sock)

    def attach(self, response: httpx.Response) -> None:
        """The answer's headers arrived: its connection is the one to cut from now on."""
        sock = _socket_of(response.extensions.get("network_stream"))
        if sock is not None:
            self._sockets.add(sock)
            self._use(sock)

    def begin_hop(self) -> None:
        """A new request (first or redirected) whose connection is not known yet."""
        with self._lock:
            self._current = None
        self._sockets.claim(self, None)

    def _use(self, sock: socket.socket) -> None:
        with self._lock:
            self._current = sock
            expired = self.expired is not None
        self._sockets.claim(self, sock)
        if expired:
            _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = self.reason or "time"
            current = self._current
        if current is not None:
            _shut(current)
        else:
            # Waiting for a connection's answer without knowing which connection:
            # one of this session's idle ones. Cutting the others costs a reconnect.
            for sock in self._sockets.idle():
                _shut(sock)

    def close(self) -> None:
        """The request is over: disarm, release the socket."""
        with self._lock:
            self._done = True
            if self._alarm is not None:
                _WATCHDOG.cancel(self._alarm)
                self._alarm = None
        self._sockets.claim(self, None)


# -- bodies ----------------------------------------------------------------------------


class BodyError(ValueError):
    """A body that cannot be decoded whole: truncated or corrupt."""


class UnsupportedEncoding(BodyError):
    """A Content-Encoding we did not offer and cannot check."""


class _Inflate:
    """One gzip or deflate stream; gzip may be several members, one after the other."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self.gzip = coding in ("gzip", "x-gzip")
        self._obj = self._new()
        self._first = True
        self._seen = False

    def _new(self, raw: bool = False) -> Any:
        if self.gzip:
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        return zlib.decompressobj(-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)

    def feed(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for data in chunks:
            if not data:
                continue
            self._seen = True
            while True:
                if self._obj.eof:
                    if not data:
                        break
                    if not self.gzip:
                        raise BodyError(f"bytes after the end of the {self.coding} stream")
                    self._obj = self._new()  # the next gzip member
                try:
                    out = self._obj.decompress(data, _PIECE)
                except zlib.error as exc:
                    if not self.gzip and self._first:
                        # "deflate" is zlib-wrapped by the RFC, raw by some servers.
                        self._first = False
                        self._obj = self._new(raw=True)
                        continue
                    raise BodyError(f"the {self.coding} stream is corrupt ({exc})") from None
                self._first = False
                if out:
                    yield out
                if self._obj.eof:
                    data = self._obj.unused_data
                elif len(out) >= _PIECE:
                    data = self._obj.unconsumed_tail  # more output may be waiting
                else:
                    break

    def finish(self, *, empty_ok: bool) -> None:
        if not self._seen and not empty_ok:
            raise BodyError(f"the {self.coding} stream is empty (the body was cut short)")
        if self._seen and not self._obj.eof:
            raise BodyError(
                f"the {self.coding} stream ends before its end (the body was cut short)"
            )


class BodyDecoder:
    """Undoes a ``Content-Encoding`` and insists that every compressed stream is whole.

    A body whose compressed stream does not reach its end, an empty one included
    (unless ``empty_ok``: a 204 or 304 has no body whatever its headers say), raises
    :class:`BodyError` at :meth:`finish`. Only what :data:`ACCEPT_ENCODING` offers
    is decoded.
    """

    def __init__(self, header: str | None) -> None:
        codings = [c.strip().lower() for c in (header or "").split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        for coding in codings:
            if coding not in ("gzip", "x-gzip", "deflate"):
                raise UnsupportedEncoding(
                    f"the answer is encoded as {coding!r}, which was not asked for "
                    f"(Accept-Encoding: {ACCEPT_ENCODING})"
                )
        # Applied in the order given, so undone in reverse.
        self._stages = [_Inflate(c) for c in reversed(codings)]

    @property
    def identity(self) -> bool:
        return not self._stages

    def feed(self, raw: bytes) -> Iterator[bytes]:
        """The decoded pieces of the next raw bytes."""
        chunks: Iterable[bytes] = (raw,)
        for stage in self._stages:
            chunks = stage.feed(chunks)
        yield from chunks

    def finish(self, *, empty_ok: bool = False) -> None:
        """Raise :class:`BodyError` unless every compressed stream reached its end."""
        for stage in self._stages:
            stage.finish(empty_ok=empty_ok)


# -- requests --------------------------------------------------------------------------


# Headers that describe one request's target or body: made afresh for the next hop.
_PER_REQUEST_HEADERS = frozenset({"host", "content-length", "transfer-encoding"})


def _has_userinfo(url: httpx.URL) -> bool:
    return bool(url.userinfo)


class Transport:
    """Sends requests for one session: redirects followed by our rules, every phase bounded."""

    def __init__(self, client: httpx.Client, *, provider: str) -> None:
        self.client = client
        self.provider = provider
        self._sockets = _Sockets()

    @property
    def _label(self) -> str:
        return providers.display_name(self.provider)

    @contextlib.contextmanager
    def guard(self) -> Iterator[Guard]:
        """A :class:`Guard` for one request; disarmed when the block ends."""
        guard = Guard(self._sockets)
        try:
            yield guard
        finally:
            guard.close()

    def open(
        self,
        method: str,
        url: str,
        *,
        what: str,
        guard: Guard,
        headers: Mapping[str, str] | None,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        secret_body: bool = False,
        read_error: Callable[[httpx.Response], bytes],
    ) -> httpx.Response:
        """Send one request, following redirects ourselves; the answer is open (streamed).

        The caller closes it. An error status raises its mapped error (the body read
        with ``read_error``, the answer closed); httpx errors are raised as they come.
        """
        secret_body = secret_body or holds_secret(json_body)
        has_body = json_body is not None or content is not None
        sent = dict(headers) if headers else {}
        if not any(k.lower() == "accept-encoding" for k in sent):
            sent["Accept-Encoding"] = ACCEPT_ENCODING
        request = self.client.build_request(
            method,
            url,
            headers=sent,
            params=dict(params) if params else None,
            json=json_body,
            content=content,
            timeout=guard.timeout(),
            extensions={"trace": guard.trace},
        )
        if _has_userinfo(request.url):
            raise ConfigurationError(
                f"{self._label} {what}: the URL holds a user name or password; credentials "
                "are never sent in a URL (give them as token=/password= or their variables)"
            )
        first = origin(request.url)
        left = False
        for _ in range(MAX_REDIRECTS + 1):
            guard.begin_hop()
            # Once the chain left the first origin, the client's own auth stays behind too.
            response = (
                self.client.send(request, stream=True, follow_redirects=False, auth=None)
                if left
                else self.client.send(request, stream=True, follow_redirects=False)
            )
            guard.attach(response)
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
                        body = read_error(response)
                    finally:
                        response.close()
                    raise error_from_response(
                        response, provider=self.provider, what=what, body=body
                    )
                return response
            response.close()
            left = hop.cross_origin
            has_body = hop.keep_body
            log.debug(
                "%s: redirected (HTTP %d) to %s%s",
                what,
                response.status_code,
                "another origin, credentials dropped" if left else "the same origin",
                "" if not has_body else ", body re-sent",
            )
            extensions = {"timeout": guard.timeout().as_dict(), "trace": guard.trace}
            if _has_userinfo(hop.url):
                raise APIError(
                    f"{self._label} {what}: the server redirected to a URL holding a user name "
                    "or password; not followed",
                    provider=self.provider,
                    status=response.status_code,
                )
            if left:
                # A bare request: only the safe headers of ours, none of the client's defaults
                # (headers, cookies, query parameters, auth=).
                safe = {
                    k: v
                    for k, v in request.headers.items()
                    if k.lower() in SAFE_HEADERS and k.lower() not in _PER_REQUEST_HEADERS
                }
                request = httpx.Request(
                    hop.method,
                    hop.url,
                    headers=safe,
                    json=json_body if hop.keep_body else None,
                    content=content if hop.keep_body else None,
                    extensions=extensions,
                )
            else:
                request = self.client.build_request(
                    hop.method,
                    hop.url,
                    headers=sent,
                    json=json_body if hop.keep_body else None,
                    content=content if hop.keep_body else None,
                    extensions=extensions,
                )
        raise APIError(
            f"{self._label} {what}: more than {MAX_REDIRECTS} redirects",
            provider=self.provider,
        )
