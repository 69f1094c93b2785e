"""What the three clients share: credentials, parameters, the request flow.

A provider client subclasses :class:`BaseClient` and fills in the provider's
endpoints (``_create``, ``_poll``, ``_download_request``) and rules (``_windows``
for span limits, ``_recheck`` for record caps, ``_is_limit_refusal``); reuse of
saved reports, the journal, limits, waiting and downloading live here once.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from .._secrets import Secret, get_logger, redact
from ..defaults import LIMIT_WAIT_TIMEOUT, REPORT_REREQUESTS, REPORT_TIMEOUT
from ..errors import APIError, ConfigurationError, InvalidParameter, NotFoundError, RateLimitError
from ..paths import downloads_dir
from ._clock import Clock, PollSchedule, SystemClock
from ._combine import combine
from ._http import HTTP, Download, Headers, RetryPolicy
from .job import DOWNLOADED, PENDING, READY, Poll, ReportJob
from .journal import Journal, Owner
from .limits import acquire_slot, until_accepted

if TYPE_CHECKING:
    import httpx
    import pandas as pd

__all__ = [
    "BaseClient",
    "check_endpoint",
    "credential",
    "day_windows",
    "endpoint",
    "fetch_many",
    "to_day",
]

log = get_logger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def credential(
    value: str | Secret | None,
    *,
    argument: str,
    env: str | None,
    files: Iterable[tuple[str, Callable[[], str | None]]] = (),
    required: bool = True,
    what: str,
) -> Secret | None:
    """A secret from the argument, else the environment variable, else a config file.

    Missing and ``required``: :class:`ConfigurationError` naming the argument, the
    variable and the files looked at.
    """
    if value is not None and (value.get() if isinstance(value, Secret) else value):
        return Secret(value)
    if env and os.environ.get(env, "").strip():
        return Secret(os.environ[env].strip())
    looked = []
    for name, read in files:
        looked.append(name)
        found = read()
        if found:
            return Secret(found)
    if not required:
        return None
    where = f"pass {argument}=" + (f" or set {env}" if env else "")
    if looked:
        where += f" (also looked in {', '.join(looked)})"
    raise ConfigurationError(f"no {what}: {where}")


def setting(value: str | None, *, env: str, default: str | None) -> str | None:
    """A plain setting: the argument, else the environment variable, else the default."""
    if value:
        return value
    return os.environ.get(env, "").strip() or default


def endpoint(
    value: str | None, *, argument: str, env: str | None, default: str | None, fallback: str = ""
) -> str:
    """A URL setting (argument, else environment variable, else default) holding no credentials.

    ``fallback`` names where the default came from, when it is not the built-in one
    (a config file's key). The URL is checked by :func:`check_endpoint`.
    """
    if value:
        return check_endpoint(value, parameter=argument)
    if env and os.environ.get(env, "").strip():
        return check_endpoint(os.environ[env].strip(), parameter=env)
    return check_endpoint(default or "", parameter=fallback or argument)


def check_endpoint(url: str, *, parameter: str) -> str:
    """``url`` when it is an http(s) URL without a user name or password, else InvalidParameter.

    A password in a URL would show in every log line and repr that prints the URL,
    and httpx would send it as Basic auth in place of the bearer token: refused,
    without repeating it.
    """
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        raise InvalidParameter(
            parameter, "expected an http(s) URL such as https://host/path"
        ) from None
    if "@" in parts.netloc:
        shown = f"{parts.scheme}://***@{parts.netloc.rpartition('@')[2]}{parts.path}"
        raise InvalidParameter(
            parameter,
            f"the URL holds a user name or password ({shown}); credentials never go in a URL: "
            "pass them as token=/password= or their environment variables",
        )
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidParameter(
            parameter,
            f"expected an http(s) URL such as https://host/path, got {redact(url)!r}",
        )
    return url


def to_day(value: date | datetime | str, *, parameter: str) -> date:
    """A calendar day from a date, a midnight datetime or ``YYYY-MM-DD``."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        if (value.hour, value.minute, value.second, value.microsecond) != (0, 0, 0, 0):
            raise InvalidParameter(
                parameter, f"expected a day (reports cover whole days), got {value.isoformat()}"
            )
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
            return to_day(datetime.fromisoformat(text.replace("Z", "+00:00")), parameter=parameter)
        except ValueError:
            pass
        raise InvalidParameter(parameter, f"expected a date as YYYY-MM-DD, got {value!r}")
    raise InvalidParameter(
        parameter, f"expected a date (datetime.date or 'YYYY-MM-DD'), got {type(value).__name__}"
    )


def day_range(start: date | datetime | str, end: date | datetime | str) -> tuple[date, date]:
    """(start, end) as days, both included; end before start is an error naming ``end``."""
    first = to_day(start, parameter="start")
    last = to_day(end, parameter="end")
    if last < first:
        raise InvalidParameter(
            "end",
            f"expected a day on or after start ({first}), got {last} (both days are included)",
        )
    return first, last


def day_windows(first: date, last: date, max_days: int) -> list[tuple[date, date]]:
    """Consecutive windows of at most ``max_days`` days covering first..last (included)."""
    windows = []
    start = first
    while start <= last:
        end = min(last, start + timedelta(days=max_days - 1))
        windows.append((start, end))
        start = end + timedelta(days=1)
    return windows


def one_of(value: str, allowed: Sequence[str], *, parameter: str) -> str:
    """``value`` when it is one of ``allowed`` (case as given), else InvalidParameter."""
    if value not in allowed:
        raise InvalidParameter(parameter, f"expected one of {', '.join(allowed)}, got {value!r}")
    return value


class BaseClient:
    """The request flow shared by the three provider clients."""

    provider: ClassVar[str]
    #: How many jobs the provider lets one account have outstanding (None: no limit).
    max_outstanding: ClassVar[int | None] = None
    #: How long a finished report stays downloadable (None: not documented).
    download_lifetime: ClassVar[timedelta | None] = None
    default_schedule: ClassVar[PollSchedule] = PollSchedule()
    file_suffix: ClassVar[str] = ".csv"
    #: The provider's public API (downloads from elsewhere go to their own folder).
    default_endpoint: ClassVar[str] = ""

    def __init__(
        self,
        *,
        http_client: httpx.Client | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        schedule: PollSchedule | Sequence[float] | str | float | None = None,
        journal: Journal | str | Path | None = None,
        limit_timeout: float = LIMIT_WAIT_TIMEOUT,
        rerequests: int = REPORT_REREQUESTS,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.http = HTTP(provider=self.provider, client=http_client, clock=self.clock, retry=retry)
        self.schedule = PollSchedule.coerce(schedule, default=self.default_schedule)
        self._journal = Journal(journal) if isinstance(journal, str | Path) else journal
        self.limit_timeout = float(limit_timeout)
        if rerequests < 0:
            raise InvalidParameter("rerequests", f"expected 0 or more, got {rerequests!r}")
        self.rerequests = int(rerequests)

    @classmethod
    def from_journal(cls, account: str, endpoints: Mapping[str, str]) -> BaseClient:
        """A client for a journal row's account and endpoints (credentials from the
        environment and config files), so :func:`resume` can re-attach to its job."""
        raise NotImplementedError

    #: Whether ``usage-analysis fetch`` leaves an unset range to the client (Particle:
    #: the current billing period) instead of the month so far.
    cli_own_range: ClassVar[bool] = False

    @classmethod
    def from_cli(cls, args: Any, **common: Any) -> tuple[BaseClient, dict[str, Any]]:
        """The client and request options ``usage-analysis fetch <provider>`` asked for."""
        return cls(**common), {}

    @classmethod
    def from_environment(cls) -> BaseClient:
        """A client configured from the environment and config files (``refresh``'s default)."""
        return cls()

    # -- plumbing -------------------------------------------------------------

    @property
    def journal(self) -> Journal:
        """The journal jobs are written to (the data directory's, unless given)."""
        if self._journal is None:
            self._journal = Journal()
        return self._journal

    @property
    def account(self) -> str:
        """The account reports are requested for (org, realm...); never a secret."""
        raise NotImplementedError

    def endpoints(self) -> dict[str, str]:
        """The base URLs of this client, kept in the journal so a job can be resumed."""
        raise NotImplementedError

    @property
    def endpoint(self) -> str:
        """The API this client talks to (its first endpoint): part of a job's identity."""
        return next(iter(self.endpoints().values()))

    @property
    def owner(self) -> Owner:
        """Whose jobs this client makes: provider, endpoint and account."""
        return Owner(self.provider, self.endpoint, self.account)

    def close(self) -> None:
        """Close the HTTP connections this client opened."""
        self.http.close()

    def __del__(self) -> None:
        # A client dropped without close() (the notebook habit) still closes its connections.
        http = getattr(self, "http", None)
        if http is not None:
            # Nothing sensible to do about a failure while being garbage-collected.
            with contextlib.suppress(Exception):
                http.close()

    def __enter__(self) -> BaseClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, *args: Any, **kwargs: Any) -> ReportJob:
        """Ask for a report (``request_report`` / ``request_export`` of the provider)."""
        raise NotImplementedError

    # -- provider hooks ---------------------------------------------------------

    def _create(self, params: dict[str, Any]) -> tuple[str, Poll]:
        """Ask the provider for one report; return its id and first status."""
        raise NotImplementedError

    def _poll(self, job: ReportJob) -> Poll:
        """Ask the provider for one job's status."""
        raise NotImplementedError

    def _download_request(self, job: ReportJob) -> tuple[str | Secret, Headers]:
        """The URL and headers that download a ready job's file."""
        raise NotImplementedError

    def _read_options(self, job: ReportJob) -> dict[str, Any]:
        """Reader options the request said but the file does not (default: none)."""
        return {}

    def _validate_file(self, job: ReportJob, path: Path) -> None:
        """Raise ConnectionFailed when a downloaded file is incomplete (default: trust it)."""

    def _windows(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Split a request into requests the provider accepts (default: as is)."""
        return [params]

    def _recheck(self, job: ReportJob, path: Path) -> list[dict[str, Any]] | None:
        """Smaller requests to make instead, when a file hit a provider cap (default: none)."""
        return None

    def _is_limit_refusal(self, exc: APIError) -> bool:
        """Whether an error answer to a new request means 'too many outstanding'."""
        return isinstance(exc, RateLimitError)

    # -- shared flow -----------------------------------------------------------

    def _default_path(self, job: ReportJob) -> Path:
        # Another endpoint (the emulator, a proxy) gets its own folder: its report ids
        # would otherwise land on the real API's files.
        name = job.account
        if job.endpoint != self.default_endpoint:
            name += "@" + (urlsplit(job.endpoint).netloc or job.endpoint)
        folder = downloads_dir() / self.provider / _UNSAFE.sub("_", name)
        return folder / f"{_UNSAFE.sub('_', job.id)}{self.file_suffix}"

    def _combine(self, files: Sequence[Path], dest: Path) -> Download:
        return combine(files, dest, what=f"a {self.provider} report")

    def _load(self, row: dict[str, Any]) -> ReportJob:
        journal = self.journal
        owner = Owner(row["provider"], row["endpoint"], row["account"])

        def load(part_id: str) -> dict[str, Any]:
            part = journal.get(owner, part_id)
            if part is None:
                raise NotFoundError(
                    f"part {part_id!r} of job {row['id']!r} is missing from the journal"
                )
            return part

        return ReportJob.from_row(row, self, load=load)

    def _reuse(self, params: dict[str, Any]) -> ReportJob | None:
        """A job already asked for with these parameters that can still deliver, if any."""
        now = self.clock.now()
        for row in self.journal.reusable(self.owner, params):
            if row["state"] == DOWNLOADED:
                path = Path(row["path"]) if row.get("path") else None
                if path is not None and path.exists() and path.stat().st_size == row.get("size"):
                    log.debug("%s: reusing the saved file of job %s", self.provider, row["id"])
                    return self._load(row)
                continue
            if (
                row["state"] == READY
                and self.download_lifetime is not None
                and now - row["requested_at"] > self.download_lifetime
            ):
                continue  # its file is deleted by now
            job = self._load(row)
            try:
                job.refresh()
            except NotFoundError:
                continue
            if job.state in (PENDING, READY, DOWNLOADED):
                log.debug("%s: re-attaching to job %s (%s)", self.provider, job.id, job.state)
                return job
        return None

    def _submit_leaf(
        self, params: dict[str, Any], *, refresh: bool, parent: str | None = None
    ) -> ReportJob:
        """One provider-side job for ``params``: reused, or requested within the limits."""
        if not refresh:
            reused = self._reuse(params)
            if reused is not None:
                return reused
        token = acquire_slot(self, limit=self.max_outstanding)
        try:
            job_id, poll = until_accepted(self, lambda: self._create(params), token=token)
            job = ReportJob(client=self, id=job_id, params=params, parent=parent)
            job._apply(poll)
            self.journal.save(job, release=token)
        except BaseException:
            if token is not None:
                self.journal.release(token)
            raise
        log.debug("%s: requested job %s (%s)", self.provider, job.id, job.provider_state)
        return job

    def _submit(self, params: dict[str, Any], *, refresh: bool) -> ReportJob:
        """A job for ``params``: one provider job, or a group when split into windows."""
        windows = self._windows(params)
        if len(windows) == 1:
            return self._submit_leaf(windows[0], refresh=refresh)
        if not refresh:
            reused = self._reuse(params)
            if reused is not None:
                return reused
        group = ReportJob(client=self, id=f"ua-{os.urandom(6).hex()}", params=params)
        for window in windows:
            group.parts.append(self._submit_leaf(window, refresh=refresh, parent=group.id))
            # Saved after each part: a crash midway still leaves every part findable.
            group._derive()
            group._save()
        return group

    def fetch(
        self,
        *args: Any,
        unified: bool = False,
        timeout: float | None = None,
        progress: bool = True,
        **kwargs: Any,
    ) -> pd.DataFrame:
        """Request, wait, download and read: the ``fetch_*`` method shared by every client.

        ``timeout`` is one deadline over all of it, the request itself included
        (``None``: ``REPORT_TIMEOUT``; ``math.inf``: none); a request that passes it
        raises :class:`~usage_analysis.errors.DeadlineExceeded`, a job
        :class:`~usage_analysis.errors.ReportTimeout`.
        """
        limit = REPORT_TIMEOUT if timeout is None else timeout
        if not limit >= 0:
            raise InvalidParameter("timeout", f"expected seconds >= 0 or None, got {timeout!r}")
        until = None if math.isinf(limit) else self.clock.monotonic() + float(limit)
        with self.http.deadline(until):
            job = self.request(*args, **kwargs)
        left = math.inf if until is None else max(0.0, until - self.clock.monotonic())
        return job.fetch(unified=unified, timeout=left, progress=progress)

    def jobs(self) -> pd.DataFrame:
        """This account's jobs from the journal."""
        df = self.journal.frame(provider=self.provider)
        mine = (df["account"] == self.account) & (df["endpoint"] == self.endpoint)
        return df[mine].reset_index(drop=True)


def fetch_many(
    requests: Iterable[tuple[BaseClient, Mapping[str, Any]]],
    *,
    unified: bool = False,
    timeout: float | None = None,
    progress: bool = True,
) -> list[pd.DataFrame]:
    """Fetch several reports, each ``(client, {"start": ..., "end": ..., ...})``.

    Everything is requested first (requests beyond a provider's limit wait their
    turn), then each report is waited for, downloaded and read, in order.
    """
    pairs = [(client, dict(params)) for client, params in requests]
    jobs = [client.request(**params) for client, params in pairs]
    return [job.fetch(unified=unified, timeout=timeout, progress=progress) for job in jobs]
