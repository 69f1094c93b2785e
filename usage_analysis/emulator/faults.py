"""Fault injection: which request gets which fault, decided by the seed, and the ASGI layer.

Decisions are a hash of (seed, request key, how many times that key was seen), not
draws from one shared generator: the n-th poll of a given report gets the same
fault in every run with the same seed, however other clients' requests interleave.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any, Literal

from .options import DOWNLOAD_KINDS, REQUEST_KINDS, FaultRates
from .responses import error_for

if TYPE_CHECKING:
    from .state import EmulatorState

__all__ = [
    "DroppedConnection",
    "FaultInjector",
    "FaultMiddleware",
    "is_download",
    "provider_of",
]

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
Receive = Callable[[], Awaitable[Message]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]


def provider_of(path: str) -> str | None:
    """Which provider a path belongs to, from its first segment."""
    first = path.lstrip("/").split("/", 1)[0]
    return first if first in ("particle", "here", "informatica") else None


def is_download(path: str) -> bool:
    """Whether the path is a report file download (the only target of truncate/expire)."""
    return (
        path.startswith("/particle/downloads/")
        or (path.startswith("/here/") and path.endswith("/output"))
        or (path.startswith("/informatica/") and path.endswith("/download"))
    )


class DroppedConnection(Exception):
    """Raised inside the server to make uvicorn close a connection mid-body (a fault)."""


class _QuietDrops(logging.Filter):
    """Keeps uvicorn from logging deliberately dropped connections as application errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnection)


_uvicorn_error = logging.getLogger("uvicorn.error")
if not any(isinstance(f, _QuietDrops) for f in _uvicorn_error.filters):
    _uvicorn_error.addFilter(_QuietDrops())


class FaultInjector:
    """Decides, deterministically from the seed, which requests and jobs get faults."""

    def __init__(self, seed: int, rates: FaultRates) -> None:
        self.seed = seed
        self.rates = rates
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def set(self, rates: FaultRates) -> None:
        """Replace the fault rates (takes effect with the next request)."""
        self.rates = rates

    def uniform(self, *parts: object) -> float:
        """A number in [0, 1) that depends only on the seed and ``parts``."""
        text = "|".join(str(p) for p in (self.seed, *parts))
        digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    def request_fault(self, key: str, *, download: bool) -> tuple[str | None, int]:
        """The fault (or None) for this request, and the request's ordinal for its key."""
        with self._lock:
            n = self._seen.get(key, 0)
            self._seen[key] = n + 1
        rates = self.rates
        u = self.uniform("request", key, n)
        kinds = REQUEST_KINDS + (DOWNLOAD_KINDS if download else ())
        acc = 0.0
        for kind in kinds:
            acc += getattr(rates, kind)
            if u < acc:
                return kind, n
        return None, n

    def job_outcome(
        self, provider: str, job_id: str, *, partial_possible: bool
    ) -> Literal["success", "failed", "partial"]:
        """How a new job will end."""
        rates = self.rates
        u = self.uniform("job", provider, job_id)
        if u < rates.report_failure:
            return "failed"
        if partial_possible and u < rates.report_failure + rates.partial_report:
            return "partial"
        return "success"


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


class FaultMiddleware:
    """Outermost layer: logs every request, adds HERE's trace headers, injects faults."""

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        # The path only: pre-signed signatures live in the query string, never logged.
        masked: str = path
        provider = provider_of(path)
        status = [0]
        extra_headers: list[tuple[bytes, bytes]] = []
        if provider == "here":
            request_headers = list(scope.get("headers", []))
            request_id = _header(request_headers, b"x-request-id")
            correlation = (
                _header(request_headers, b"x-correlation-id")
                or request_id
                or str(uuid.uuid4()).encode()
            )
            scope.setdefault("state", {})["correlation_id"] = correlation.decode("latin-1")
            extra_headers.append((b"x-correlation-id", correlation))
            if request_id:
                extra_headers.append((b"x-request-id", request_id))

        logged = False

        def log_request() -> None:
            nonlocal logged
            if not logged:
                logged = True
                self.state.requests_log.append((method, masked, status[0]))

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                # Logged before the client can see the answer: a test that reads the
                # log right after a response finds it there (logging after the body
                # was sent raced with the client and lost the last entry).
                log_request()
                if extra_headers:
                    message = {**message, "headers": [*message.get("headers", []), *extra_headers]}
            await send(message)

        try:
            fault: str | None = None
            n = 0
            if provider is not None:
                fault, n = self.state.faults.request_fault(
                    f"{method} {masked}", download=is_download(path)
                )
            await self._answer(fault, n, provider, scope, receive, send_logged, masked)
        finally:
            log_request()  # a request that never got an answer is logged too

    async def _answer(
        self,
        fault: str | None,
        n: int,
        provider: str | None,
        scope: MutableMapping[str, Any],
        receive: Receive,
        send: Send,
        masked: str,
    ) -> None:
        options = self.state.options
        if fault is None or provider is None:
            await self.app(scope, receive, send)
        elif fault == "rate_limit":
            response = error_for(
                provider,
                429,
                "Too many requests; slow down and retry after the time in Retry-After",
                correlation_id=scope.get("state", {}).get("correlation_id"),
                retry_after=options.retry_after,
            )
            await response(scope, receive, send)
        elif fault == "server_error":
            code = 503 if self.state.faults.uniform("status", masked, n) < 0.5 else 500
            response = error_for(
                provider,
                code,
                "The service is temporarily unavailable"
                if code == 503
                else "An internal error occurred",
                correlation_id=scope.get("state", {}).get("correlation_id"),
                retry_after=options.retry_after if code == 503 else None,
            )
            await response(scope, receive, send)
        elif fault == "expire":
            code = 410 if provider == "particle" else 404
            response = error_for(
                provider,
                code,
                "The download has expired or was deleted; request the report again",
                correlation_id=scope.get("state", {}).get("correlation_id"),
            )
            await response(scope, receive, send)
        elif fault == "slow":
            await asyncio.sleep(options.slow_seconds)
            await self.app(scope, receive, send)
        elif fault == "drop":
            await self.app(scope, receive, _dropping(send))
        elif fault == "truncate":
            fraction = 0.2 + 0.6 * self.state.faults.uniform("truncate", masked, n)
            await self.app(scope, receive, _truncating(send, fraction))
        else:  # pragma: no cover - every kind is handled above
            raise AssertionError(fault)


def _dropping(send: Send) -> Send:
    """A send that passes the headers and half the first body chunk, then drops the line."""

    async def wrapper(message: Message) -> None:
        if message["type"] != "http.response.body":
            await send(message)
            return
        body: bytes = message.get("body", b"")
        await send(
            {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
        )
        raise DroppedConnection("fault injection: connection dropped mid-body")

    return wrapper


def _truncating(send: Send, fraction: float) -> Send:
    """A send that announces and delivers only ``fraction`` of the body, as if complete."""
    keep: int | None = None
    sent = 0
    done = False

    async def wrapper(message: Message) -> None:
        nonlocal keep, sent, done
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            length = _header(headers, b"content-length")
            if length is not None:
                keep = int(int(length) * fraction)
                headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
                headers.append((b"content-length", str(keep).encode()))
            await send({**message, "headers": headers})
            return
        if message["type"] != "http.response.body" or done:
            return
        body: bytes = message.get("body", b"")
        if keep is None:
            keep = len(body) // 2
        chunk = body[: max(0, keep - sent)]
        sent += len(chunk)
        if sent >= keep or not message.get("more_body", False):
            done = True
            await send({"type": "http.response.body", "body": chunk, "more_body": False})
        else:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

    return wrapper
