"""Small HTTP helpers shared by the three provider modules."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse

__all__ = [
    "CHUNK",
    "BadParams",
    "base_url",
    "iso_z",
    "parse_day",
    "parse_timestamp",
    "read_json",
    "stream_bytes",
]

# Large files go out in 1 MiB pieces, so a 30 MB report never sits in one write.
CHUNK = 1 << 20

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_STAMP = re.compile(
    r"^(\d{4}-\d{2}-\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?(Z|[+-]00:?00)?$"
)


class BadParams(Exception):
    """A request parameter is wrong; ``code`` is the provider's error code, if any."""

    def __init__(self, field: str, message: str, *, code: str | None = None) -> None:
        self.field = field
        self.message = message
        self.code = code
        super().__init__(f"{field}: {message}")


def base_url(request: Request) -> str:
    """Scheme, host and port the client used, without a trailing slash."""
    return str(request.base_url).rstrip("/")


async def read_json(request: Request, *, required: bool = True) -> dict[str, Any]:
    """The JSON object in the request body (an empty body gives {} when not required)."""
    raw = await request.body()
    if not raw.strip():
        if required:
            raise BadParams("body", "expected a JSON object, got an empty body")
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadParams("body", f"expected a JSON object, got invalid JSON ({exc.msg})") from None
    except UnicodeDecodeError:
        raise BadParams("body", "expected a JSON object in UTF-8") from None
    if not isinstance(value, dict):
        raise BadParams("body", f"expected a JSON object, got {type(value).__name__}")
    return value


def parse_day(field: str, value: object) -> date:
    """A ``YYYY-MM-DD`` date with leading zeros (Particle's documented format)."""
    if not isinstance(value, str) or not _DAY.match(value):
        raise BadParams(field, f"expected a date as YYYY-MM-DD with leading zeros, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadParams(field, f"{value!r} is not a calendar date") from None


def parse_timestamp(field: str, value: object) -> datetime:
    """A UTC timestamp ``yyyy-MM-ddTHH:mm:ss`` (optional fraction, ``Z``), or a bare date."""
    if not isinstance(value, str) or not (m := _STAMP.match(value.strip())):
        raise BadParams(
            field,
            f"expected a UTC timestamp like 2026-10-01T00:00:00 or 2026-10-01T00:00:00Z, got {value!r}",
        )
    day, hh, mm, ss = m.group(1), m.group(2) or "00", m.group(3) or "00", m.group(4) or "00"
    try:
        return datetime.fromisoformat(f"{day}T{hh}:{mm}:{ss}").replace(tzinfo=UTC)
    except ValueError:
        raise BadParams(field, f"{value!r} is not a valid date and time") from None


def iso_z(t: float | datetime) -> str:
    """``2026-10-01T12:00:00Z`` from epoch seconds or a datetime."""
    dt = datetime.fromtimestamp(t, UTC) if isinstance(t, int | float) else t.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def stream_bytes(
    data: bytes,
    *,
    media_type: str,
    filename: str | None = None,
    headers: dict[str, str] | None = None,
) -> StreamingResponse:
    """A streamed answer of ``data`` in CHUNK pieces, with Content-Length."""

    async def pieces() -> AsyncIterator[bytes]:
        view = memoryview(data)
        for i in range(0, len(data), CHUNK):
            yield bytes(view[i : i + CHUNK])

    h = {"Content-Length": str(len(data))}
    if filename:
        h["Content-Disposition"] = f'attachment; filename="{filename}"'
    h.update(headers or {})
    return StreamingResponse(pieces(), media_type=media_type, headers=h)
