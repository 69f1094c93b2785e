"""Provider-shaped error answers, written once and used by routes and fault injection.

Shapes (see docs/emulator.md for which parts are confirmed):

- Particle 401: ``{"error": "invalid_token", "error_description": ...}``; every other
  error: a JSON:API error list ``{"errors": [{"status", "code", "title", "detail"}]}``
  (unconfirmed: Particle documents no error body for these endpoints).
- HERE 401: ``{"error": "Unauthorized", "error_description": ...}``; every other
  error: ``{title, errorId, status, code, cause, action, correlationId, details[]}``.
- Informatica: ``{"error": {"code", "message", "requestId"}}``.
"""

from __future__ import annotations

import uuid
from http import HTTPStatus

from starlette.requests import Request
from starlette.responses import JSONResponse

__all__ = [
    "HERE_GENERIC_CODE",
    "error_for",
    "here_error",
    "informatica_error",
    "particle_error",
]

# HERE documents E706001-E706004 only; other errors get this code of our choosing.
HERE_GENERIC_CODE = "E706000"


def _phrase(status: int) -> str:
    return HTTPStatus(status).phrase


def _retry_headers(status: int, retry_after: float | None) -> dict[str, str]:
    if status == 429 or retry_after is not None:
        seconds = max(1, round(retry_after if retry_after is not None else 1))
        return {"Retry-After": str(seconds)}
    return {}


def particle_error(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    retry_after: float | None = None,
) -> JSONResponse:
    """A Particle error answer (401: OAuth shape; otherwise JSON:API errors)."""
    headers = _retry_headers(status, retry_after)
    if status == 401:
        body: dict[str, object] = {"error": "invalid_token", "error_description": detail}
    else:
        error = {"status": str(status), "title": _phrase(status), "detail": detail}
        if code:
            error["code"] = code
        body = {"errors": [error]}
    return JSONResponse(body, status_code=status, headers=headers)


def here_error(
    status: int,
    cause: str,
    *,
    code: str = HERE_GENERIC_CODE,
    title: str | None = None,
    message: str | None = None,
    action: str = "Correct input data and retry request",
    correlation_id: str | None = None,
    retry_after: float | None = None,
    details_object: bool = False,
) -> JSONResponse:
    """A HERE Usage API error answer (401: OAuth shape; otherwise the documented body).

    ``details`` is a list of objects, or (``details_object``) one object: HERE's
    answers show both, and a client must read either.
    """
    headers = _retry_headers(status, retry_after)
    if status == 401:
        return JSONResponse(
            {"error": "Unauthorized", "error_description": cause}, status_code=401, headers=headers
        )
    detail = {"title": title or cause, "message": message or cause}
    body: dict[str, object] = {
        "title": title or ("Input data failed validation" if status == 400 else _phrase(status)),
        "errorId": f"ERROR-{uuid.uuid4()}",
        "status": status,
        "code": code,
        "cause": cause,
        "action": action,
        "correlationId": correlation_id or str(uuid.uuid4()),
        "details": detail if details_object else [detail],
    }
    return JSONResponse(body, status_code=status, headers=headers)


def informatica_error(
    status: int,
    message: str,
    *,
    code: str | None = None,
    retry_after: float | None = None,
) -> JSONResponse:
    """An Informatica IDMC v3 error answer."""
    headers = _retry_headers(status, retry_after)
    body = {
        "error": {
            "code": code or f"HTTP_{status}",
            "message": message,
            # IDMC request ids are 22 base62 characters; any unique id will do here.
            "requestId": uuid.uuid4().hex[:22],
        }
    }
    return JSONResponse(body, status_code=status, headers=headers)


def error_for(
    provider: str,
    status: int,
    message: str,
    *,
    request: Request | None = None,
    correlation_id: str | None = None,
    retry_after: float | None = None,
) -> JSONResponse:
    """A provider-shaped error with a generic code (used by fault injection)."""
    if provider == "particle":
        return particle_error(status, message, retry_after=retry_after)
    if provider == "here":
        if correlation_id is None and request is not None:
            correlation_id = request.scope.get("state", {}).get("correlation_id")
        return here_error(
            status,
            message,
            title=_phrase(status),
            action="Retry the request later" if status in (429, 500, 503) else "Check the request",
            correlation_id=correlation_id,
            retry_after=retry_after,
        )
    return informatica_error(status, message, retry_after=retry_after)
