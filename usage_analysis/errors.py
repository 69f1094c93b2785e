"""The one exception tree of usage-analysis.

    UsageAnalysisError
    ├── ConfigurationError          missing credentials, bad option or parameter
    │   └── InvalidParameter        a request parameter failed validation (names it)
    ├── APIError                    the provider answered with an error status
    │   ├── AuthenticationError     401 / 403: bad, expired or missing token or session
    │   ├── NotFoundError           404 (also: an expired or deleted download)
    │   ├── RateLimitError          429 (carries retry_after)
    │   ├── ServerError             5xx
    │   └── ConnectionFailed        no answer at all (connect error, reset, timeout)
    ├── ReportFailed                the provider says the job failed (job id, state)
    ├── ReportTimeout               waiting for a report took longer than allowed
    ├── DeadlineExceeded            the caller's deadline (timeout=) passed during a request
    ├── ReportParseError            a file could not be read (file, line, column, expected)
    ├── SchemaError                 a frame lacks the columns or types an operation needs
    ├── UnitMismatch                an operation would add quantities of different units
    ├── LimitExceeded               a provider limit (outstanding reports, span, records)
    └── ArchiveError                the archive cannot be read or written (also an OSError)

Every message is written for the person at the notebook, and never contains a
token, session id, password or pre-signed URL (see ``usage_analysis._secrets``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "APIError",
    "ArchiveError",
    "AuthenticationError",
    "ConfigurationError",
    "ConnectionFailed",
    "DeadlineExceeded",
    "InvalidParameter",
    "LimitExceeded",
    "NotFoundError",
    "RateLimitError",
    "ReportFailed",
    "ReportParseError",
    "ReportTimeout",
    "SchemaError",
    "ServerError",
    "UnitMismatch",
    "UsageAnalysisError",
]


class UsageAnalysisError(Exception):
    """Base class of every error raised by usage-analysis."""


class ConfigurationError(UsageAnalysisError):
    """Missing credentials or an option that cannot work."""


class InvalidParameter(ConfigurationError, ValueError):
    """A parameter failed validation before any request was sent."""

    def __init__(self, parameter: str, message: str) -> None:
        self.parameter = parameter
        super().__init__(f"{parameter}: {message}")


class APIError(UsageAnalysisError):
    """The provider answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        hint: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.provider = provider
        self.status = status
        self.code = code
        self.request_id = request_id
        self.hint = hint
        self.retry_after = retry_after
        parts = [message]
        if code:
            parts.append(f"[code {code}]")
        if status is not None:
            parts.append(f"(HTTP {status})")
        if request_id:
            parts.append(f"request id {request_id}")
        text = " ".join(parts)
        if hint:
            text += f". Hint: {hint}"
        super().__init__(text)


class AuthenticationError(APIError):
    """401/403: the token or session is missing, wrong or expired."""


class NotFoundError(APIError):
    """404: the report, job or download does not exist (any more)."""


class RateLimitError(APIError):
    """429: too many requests; ``retry_after`` says how long to wait, when known."""


class ServerError(APIError):
    """5xx: the provider failed; usually worth retrying."""


class ConnectionFailed(APIError):
    """No HTTP answer: connection refused or reset, or a timeout."""


class ReportFailed(UsageAnalysisError):
    """The provider says the report job failed."""

    def __init__(
        self, message: str, *, job_id: str, state: str, provider: str | None = None
    ) -> None:
        self.job_id = job_id
        self.state = state
        self.provider = provider
        super().__init__(f"{message} (job {job_id}, state {state!r})")


class ReportTimeout(UsageAnalysisError):
    """Waiting for a report took longer than the caller allowed."""

    def __init__(self, message: str, *, job_id: str, state: str, waited: float) -> None:
        self.job_id = job_id
        self.state = state
        self.waited = waited
        super().__init__(f"{message} (job {job_id}, last state {state!r}, waited {waited:.0f} s)")


class DeadlineExceeded(UsageAnalysisError):
    """The caller's deadline (``timeout=``) passed during a request, in any phase of it.

    A report job turns it into :class:`ReportTimeout` (which names the job).
    """


class ReportParseError(UsageAnalysisError, ValueError):
    """A report file could not be read.

    Carries where (``file``, ``member`` of an archive, 1-based ``line`` counting the
    header as line 1, ``column``) and ``expected``: what the reader looked for.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        member: str | None = None,
        line: int | None = None,
        column: str | None = None,
        expected: str | None = None,
        candidates: Sequence[str] = (),
        bad_rows: Sequence[Any] = (),
    ) -> None:
        self.file = str(file) if file is not None else None
        self.member = member
        self.line = line
        self.column = column
        self.expected = expected
        self.candidates = list(candidates)
        self.bad_rows = list(bad_rows)
        where = []
        if self.file:
            where.append(f"file {self.file}")
        if member:
            where.append(f"member {member}")
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        text = message
        if where:
            text = f"{', '.join(where)}: {message}"
        if expected:
            text += f"; expected {expected}"
        if self.candidates:
            text += f"; closest known names: {', '.join(self.candidates)}"
        super().__init__(text)


class SchemaError(UsageAnalysisError, ValueError):
    """A frame lacks the columns or types an operation needs."""


class UnitMismatch(UsageAnalysisError, ValueError):
    """An operation would add quantities measured in different units."""

    def __init__(self, units: Sequence[str], hint: str = "group or filter by 'unit' first") -> None:
        self.units = sorted(str(u) for u in units)
        super().__init__(
            f"refusing to add quantities of different units: {', '.join(self.units)}; {hint}"
        )


class LimitExceeded(UsageAnalysisError):
    """A provider limit would be or was exceeded."""

    def __init__(
        self, message: str, *, limit: str | None = None, provider: str | None = None
    ) -> None:
        self.limit = limit
        self.provider = provider
        super().__init__(message)


class ArchiveError(UsageAnalysisError, OSError):
    """The archive cannot be read or written: the store refused, a commit kept
    conflicting or was refused, the table uses a Delta feature this package does
    not handle, or a value does not fit pandas. The library's own error, when
    there is one, is chained as ``__cause__``."""
