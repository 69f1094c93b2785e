"""Error mapping: an HTTP error answer becomes an exception of :mod:`usage_analysis.errors`.

:func:`error_from_response` is the only place where an HTTP status becomes an
exception class, with the provider's error code and message, the request id and a
hint for the common cases; :func:`parse_retry_after` reads (and caps) the delay a
server asks for.
"""

from __future__ import annotations

import json
import math
import re
import time
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from .. import providers
from .._secrets import redact
from ..defaults import ERROR_BODY_CHARS, MAX_RETRY_AFTER
from ..errors import APIError, AuthenticationError, NotFoundError, RateLimitError, ServerError

__all__ = ["error_from_response", "parse_retry_after", "request_id_of", "retry_after_of"]


# Hints for the cases a user meets most (an expired token first of all) are the
# provider's own: usage_analysis.providers (http_hints, error_code_hints).
_STATUS_HINTS: dict[int, str] = {
    429: "the provider is throttling requests; wait a minute before asking again",
    404: (
        "it does not exist (any more): reports and download links expire "
        "(Particle after 7 days, Informatica after 3); request the report again"
    ),
    410: "the download has expired; request the report again",
}


def _code_hint(code: str) -> str | None:
    """The hint for a provider's error code (codes are the provider's own, e.g. HERE's E7...)."""
    for p in providers.registered():
        if code in p.error_code_hints:
            return p.error_code_hints[code]
    return None


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


def request_id_of(headers: httpx.Headers) -> str | None:
    """The request id a provider put in its answer's headers, if any."""
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
    request_id = request_id_of(response.headers) or body_request_id
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
    known = providers.get(provider) if provider in providers.names() else None
    hint = (
        (_code_hint(code) if code else None)
        or (known.http_hints.get(status) if known is not None else None)
        or _STATUS_HINTS.get(status)
    )
    label = providers.display_name(provider)
    return cls(
        redact(f"{label} {what} failed: {message}"),
        provider=provider,
        status=status,
        code=redact(code) if code else None,
        request_id=redact(request_id) if request_id else None,
        hint=hint,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )
