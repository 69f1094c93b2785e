"""One report job, whatever the provider: request -> wait -> download -> DataFrame.

A :class:`ReportJob` is either one job on the provider's side (its ``id`` is the
provider's report or job id) or a group of such jobs (``parts``), when a date range
had to be split to fit a provider's limits; then ``download()`` joins the parts'
files into one file of the provider's own format, so readers see one report.

Every change of state is written to the journal at once, so a kernel restart
loses nothing: ``usage_analysis.resume(job_id)`` re-attaches.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._secrets import Secret, get_logger, redact
from ..defaults import REPORT_TIMEOUT
from ..errors import (
    AuthenticationError,
    DeadlineExceeded,
    InvalidParameter,
    NotFoundError,
    ReportFailed,
    ReportParseError,
    ReportTimeout,
)
from ._clock import PollSchedule

if TYPE_CHECKING:
    import pandas as pd

    from ._base import BaseClient

__all__ = [
    "DOWNLOADED",
    "EXPIRED",
    "FAILED",
    "PENDING",
    "READY",
    "IncompleteDownloadWarning",
    "PartialReportWarning",
    "Poll",
    "ReportJob",
]

log = get_logger(__name__)

# The states of a job, the same for every provider; the provider's own word for
# it is kept in ``provider_state``.
PENDING = "pending"  # asked for, not finished (Particle pending, HERE inProgress, IDMC CREATED...)
READY = "ready"  # finished, the file can be downloaded
DOWNLOADED = "downloaded"  # the file is on disk (``path``)
FAILED = "failed"  # the provider says the job failed (or answered a state nobody knows)
EXPIRED = "expired"  # the provider no longer has it (deleted, archived, link gone)
STATES = (PENDING, READY, DOWNLOADED, FAILED, EXPIRED)


class PartialReportWarning(UserWarning):
    """A report arrived incomplete (Informatica PARTIAL_SUCCESS): some data is missing."""


class IncompleteDownloadWarning(UserWarning):
    """A download could not be checked for completeness (the server closed to end it)."""


class Poll:
    """What one status check said, in provider-neutral words."""

    __slots__ = ("download_url", "message", "provider_state", "retry_after", "state", "warnings")

    def __init__(
        self,
        state: str,
        provider_state: str | None,
        *,
        download_url: Secret | None = None,
        message: str | None = None,
        warnings: Sequence[str] = (),
        retry_after: float | None = None,
    ) -> None:
        self.state = state
        self.provider_state = provider_state
        self.download_url = download_url
        self.message = redact(message) if message else None
        self.warnings = tuple(redact(w) for w in warnings)
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"Poll(state={self.state!r}, provider_state={self.provider_state!r})"


class _Progress:
    """A tqdm.auto bar (a widget in a notebook, text in a terminal), or nothing."""

    def __init__(self, enabled: bool, **kwargs: Any) -> None:
        self.bar: Any = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(**kwargs)

    def state(self, text: str, done: int | None = None) -> None:
        if self.bar is None:
            return
        self.bar.set_postfix_str(text, refresh=False)
        if done is not None and done != self.bar.n:
            self.bar.update(done - self.bar.n)  # refreshes, showing the new state too
        else:
            self.bar.refresh()

    def sleep(self, seconds: float, clock: Any, state: str) -> None:
        """``clock.sleep(seconds)``, the bar counting down to the next status check."""
        if self.bar is None or seconds <= 0:
            clock.sleep(seconds)
            return
        end = clock.monotonic() + seconds
        # Under a millisecond left is done: a float clock may not move for less.
        while (left := end - clock.monotonic()) > 1e-3:
            self.bar.set_postfix_str(f"{state}; next check in {math.ceil(left)} s", refresh=False)
            self.bar.refresh()
            # Whole seconds down to the check (the first step takes the fraction).
            clock.sleep(left - math.ceil(left) + 1.0 if left > 1.0 else left)
        self.bar.set_postfix_str(f"{state}; checking ...", refresh=True)

    def bytes(self, size: int, total: int | None) -> None:
        if self.bar is None:
            return
        if total is not None and self.bar.total != total:
            self.bar.total = total
        self.bar.update(size - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _Deadline:
    """One overall deadline (``timeout=``) for waiting and downloading, on the client's clock."""

    __slots__ = ("started", "until")

    def __init__(self, started: float, until: float | None) -> None:
        self.started = started
        self.until = until

    @classmethod
    def start(cls, job: ReportJob, timeout: float | None) -> _Deadline:
        """From now; ``None`` means ``REPORT_TIMEOUT``, ``math.inf`` no deadline at all."""
        if timeout is None:
            timeout = REPORT_TIMEOUT
        if not timeout >= 0:
            raise InvalidParameter("timeout", f"expected seconds >= 0 or None, got {timeout!r}")
        now = job.client.clock.monotonic()
        return cls(now, None if math.isinf(timeout) else now + float(timeout))

    def remaining(self, clock: Any) -> float | None:
        return None if self.until is None else self.until - clock.monotonic()

    def timeout(self, job: ReportJob, doing: str) -> ReportTimeout:
        waited = job.client.clock.monotonic() - self.started
        return ReportTimeout(
            f"the {job.provider} report {doing}; call wait() or download() again, or "
            f"resume('{job.id}') later",
            job_id=job.id,
            state=job.provider_state or job.state,
            waited=waited,
        )

    @contextlib.contextmanager
    def bound(self, job: ReportJob, doing: str) -> Iterator[None]:
        """Requests inside end by the deadline; passing it raises ReportTimeout."""
        try:
            with job.client.http.deadline(self.until):
                yield
        except DeadlineExceeded:
            raise self.timeout(job, doing) from None


class ReportJob:
    """A report requested from Particle, HERE or Informatica.

    ``state`` is one of ``pending``, ``ready``, ``downloaded``, ``failed``,
    ``expired``; ``provider_state`` is the provider's own word. Use
    :meth:`wait`, :meth:`download` and :meth:`to_dataframe`, each of which does
    the steps before it when needed.
    """

    def __init__(
        self,
        *,
        client: BaseClient,
        id: str,
        params: dict[str, Any],
        account: str | None = None,
        endpoint: str | None = None,
        state: str = PENDING,
        provider_state: str | None = None,
        requested_at: datetime | None = None,
        updated_at: datetime | None = None,
        path: Path | None = None,
        size: int | None = None,
        sha256: str | None = None,
        warnings: Sequence[str] = (),
        message: str | None = None,
        parts: Sequence[ReportJob] = (),
        parent: str | None = None,
    ) -> None:
        self._client = client
        self.provider: str = client.provider
        self.account: str = account if account is not None else client.account
        self.endpoint: str = endpoint if endpoint is not None else client.endpoint
        self.id = id
        self.params = dict(params)
        self.state = state
        self.provider_state = provider_state
        now = client.clock.now()
        self.requested_at = requested_at or now
        self.updated_at = updated_at or now
        self.path = path
        self.size = size
        self.sha256 = sha256
        self.warnings: list[str] = list(warnings)
        self.message = message
        self.parts: list[ReportJob] = list(parts)
        self.parent = parent
        self._download_url: Secret | None = None
        self._retry_after: float | None = None
        self._warned: set[str] = set(self.warnings)

    # -- description ------------------------------------------------------------

    def __repr__(self) -> str:
        parts = f", parts={len(self.parts)}" if self.parts else ""
        return (
            f"<ReportJob {self.provider} {self.id!r} state={self.state!r}{parts} "
            f"params={self.params!r}>"
        )

    @property
    def client(self) -> BaseClient:
        """The client this job talks through."""
        return self._client

    @property
    def done(self) -> bool:
        """Whether the file is ready to download or already downloaded."""
        return self.state in (READY, DOWNLOADED)

    def leaves(self) -> Iterator[ReportJob]:
        """The provider-side jobs under this one, in date order (itself when unsplit)."""
        if not self.parts:
            yield self
            return
        for part in self.parts:
            yield from part.leaves()

    def _save(self) -> None:
        self.updated_at = self._client.clock.now()
        self._client.journal.save(self)

    # -- state ----------------------------------------------------------------

    def _apply(self, poll: Poll) -> None:
        saved = self.state == DOWNLOADED and self.path is not None and self.path.exists()
        self.state = DOWNLOADED if saved and poll.state == READY else poll.state
        self.provider_state = poll.provider_state
        self._retry_after = poll.retry_after
        if poll.message:
            self.message = poll.message
        if poll.download_url is not None:
            self._download_url = poll.download_url
        for text in poll.warnings:
            if text not in self._warned:
                self._warned.add(text)
                self.warnings.append(text)
                # Visible in a notebook: partial data must not pass for complete data.
                warnings.warn(text, PartialReportWarning, stacklevel=4)

    def _derive(self) -> None:
        """A group's state from its parts'."""
        states = {p.state for p in self.parts}
        if self.path is not None and self.state == DOWNLOADED:
            return
        for state in (FAILED, EXPIRED, PENDING):
            if state in states:
                self.state = state
                break
        else:
            self.state = READY
        self.warnings = [w for p in self.parts for w in p.warnings]

    def refresh(self) -> ReportJob:
        """Ask the provider for the current state (of every unfinished part)."""
        if self.parts:
            for part in self.parts:
                if part.state == PENDING:
                    part.refresh()
            self._derive()
        else:
            try:
                poll = self._client._poll(self)
            except NotFoundError:
                self.state = EXPIRED
                self.message = f"{self.provider} no longer knows job {self.id}"
                self._save()
                raise
            self._apply(poll)
        self._save()
        return self

    def _raise_if_failed(self) -> None:
        for leaf in self.leaves():
            if leaf.state in (FAILED, EXPIRED):
                detail = f": {leaf.message}" if leaf.message else ""
                raise ReportFailed(
                    f"the {self.provider} report failed{detail}",
                    job_id=leaf.id,
                    state=leaf.provider_state or leaf.state,
                    provider=self.provider,
                )

    def wait(
        self,
        *,
        timeout: float | None = None,
        progress: bool = True,
        schedule: PollSchedule | Sequence[float] | str | float | None = None,
    ) -> ReportJob:
        """Poll until the report is ready (or failed), on the provider's schedule.

        The default schedule is the client's (Particle: 15 s, 30 s, 60 s, then every
        minute); a ``Retry-After`` from the provider lengthens a wait (up to
        ``MAX_RETRY_AFTER``). Raises :class:`ReportFailed` when the provider says the
        job failed and :class:`ReportTimeout` after ``timeout`` seconds: one overall
        deadline, which also cuts a status answer that arrives too slowly. ``None``:
        ``REPORT_TIMEOUT`` (6 hours); ``math.inf``: no deadline.
        """
        return self._wait_until(
            _Deadline.start(self, timeout), progress=progress, schedule=schedule
        )

    def _wait_until(
        self,
        deadline: _Deadline,
        *,
        progress: bool,
        schedule: PollSchedule | Sequence[float] | str | float | None = None,
    ) -> ReportJob:
        clock = self._client.clock
        plan = PollSchedule.coerce(schedule, default=self._client.schedule)
        total = sum(1 for _ in self.leaves())
        bar = _Progress(
            progress,
            total=total,
            desc=f"{self.provider} report {self.id}",
            unit="part",
            bar_format="{desc}: {n_fmt}/{total_fmt} ready [{elapsed}{postfix}]",
        )
        n = 0
        try:
            while True:
                if not self.done:
                    with deadline.bound(self, "is not ready yet"):
                        self.refresh()
                ready = sum(1 for leaf in self.leaves() if leaf.done)
                bar.state(self.state, ready)
                if self.done:
                    return self
                self._raise_if_failed()
                remaining = deadline.remaining(clock)
                if remaining is not None and remaining <= 0:
                    raise deadline.timeout(self, "is not ready yet")
                delay = max(plan.delay(n), self._retry_after or 0.0)
                if remaining is not None:
                    delay = min(delay, remaining)
                log.debug(
                    "%s report %s is %s; next status check in %.1f s",
                    self.provider,
                    self.id,
                    self.provider_state or self.state,
                    delay,
                )
                bar.sleep(delay, clock, self.provider_state or self.state)
                n += 1
        finally:
            bar.close()

    def resubmit(self) -> ReportJob:
        """Ask again for what failed, in place: this object then follows the new job(s).

        A failed leaf becomes the new provider job (new ``id``); a group asks again
        for its failed parts. The failed jobs stay in the journal, marked failed.
        """
        if not self.parts:
            fresh = self._client._submit_leaf(self.params, refresh=True, parent=self.parent)
            self.id = fresh.id
            self.state, self.provider_state = fresh.state, fresh.provider_state
            self.requested_at, self.updated_at = fresh.requested_at, fresh.updated_at
            self.path = self.size = self.sha256 = None
            self.message = fresh.message
            self.warnings, self._warned = list(fresh.warnings), set(fresh.warnings)
            self._download_url = fresh._download_url
            return self
        for part in self.parts:
            if any(leaf.state in (FAILED, EXPIRED) for leaf in part.leaves()):
                part.resubmit()
        self.state = PENDING
        self._derive()
        self._save()
        return self

    def fetch(
        self, *, unified: bool = False, timeout: float | None = None, progress: bool = True
    ) -> pd.DataFrame:
        """Wait, download and read; a report the provider says failed is asked for again.

        At most ``client.rerequests`` times (default 2); then :class:`ReportFailed`.
        ``timeout`` is one deadline over all of it: polling, downloads, re-requests.
        """
        deadline = _Deadline.start(self, timeout)
        for attempt in range(self._client.rerequests + 1):
            try:
                self._download(None, progress=progress, deadline=deadline)
                break
            except ReportFailed as exc:
                if attempt == self._client.rerequests:
                    raise
                log.debug("%s: %s; asking again", self.provider, exc)
                self.resubmit()
        return self.to_dataframe(unified=unified)

    # -- download -------------------------------------------------------------

    def download(
        self, dest: str | Path | None = None, *, progress: bool = True, timeout: float | None = None
    ) -> Path:
        """Save the report file (waiting for it first when needed) and return its path.

        The file is streamed to disk in constant memory and renamed into place only
        when whole; its size and sha256 are recorded in the journal. An expired
        download link is renewed by asking the status again. ``timeout`` bounds the
        waiting and the download together: at the deadline, :class:`ReportTimeout`,
        the partial file is removed and the job can be resumed.
        """
        target = Path(dest).expanduser() if dest is not None else None
        return self._download(target, progress=progress, deadline=_Deadline.start(self, timeout))

    def _download(self, target: Path | None, *, progress: bool, deadline: _Deadline) -> Path:
        saved = self.state == DOWNLOADED and self.path is not None and self.path.exists()
        if saved and (target is None or target.resolve() == self.path.resolve()):  # type: ignore[union-attr]
            return self.path  # type: ignore[return-value]
        if not self.done:
            self._wait_until(deadline, progress=progress)
        if self.parts:
            return self._download_group(target, progress=progress, deadline=deadline)
        return self._download_leaf(target, progress=progress, deadline=deadline)

    def _download_leaf(self, target: Path | None, *, progress: bool, deadline: _Deadline) -> Path:
        client = self._client
        path = target or client._default_path(self)
        bar = _Progress(
            progress,
            total=None,
            desc=f"{self.provider} report {self.id}",
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
        )
        attempts = 3
        try:
            for attempt in range(1, attempts + 1):
                try:
                    with deadline.bound(self, "was not downloaded in time"):
                        url, headers = client._download_request(self)
                        saved = client.http.download(
                            url,
                            path,
                            what=f"download of report {self.id}",
                            headers=headers,
                            validate=lambda p: client._validate_file(self, p),
                            progress=bar.bytes,
                        )
                    break
                except (NotFoundError, AuthenticationError) as exc:
                    if attempt == attempts:
                        raise
                    # An expired or refused link: the status answer gives a fresh one.
                    log.debug(
                        "%s download of %s refused (%s); asking the status again",
                        self.provider,
                        self.id,
                        type(exc).__name__,
                    )
                    self._download_url = None
                    self.state = PENDING
                    with deadline.bound(self, "is not ready yet"):
                        self.refresh()
                    if not self.done:
                        self._wait_until(deadline, progress=False)
        finally:
            bar.close()
        self.path, self.size, self.sha256 = saved.path, saved.size, saved.sha256
        self.state = DOWNLOADED
        self._note(saved.warnings)
        self._save()
        windows = client._recheck(self, saved.path)
        if windows:
            # Too big for one report (HERE's record cap): ask for smaller ones.
            self.parts = [client._submit_leaf(w, refresh=True, parent=self.id) for w in windows]
            self.path = self.size = self.sha256 = None
            self.state = PENDING
            self._save()
            return self._download(target, progress=progress, deadline=deadline)
        return saved.path

    def _note(self, notes: Sequence[str]) -> None:
        """Keep doubts about a downloaded file on the job (and so in the journal), and warn."""
        for text in notes:
            text = redact(text)
            if text not in self._warned:
                self._warned.add(text)
                self.warnings.append(text)
                warnings.warn(text, IncompleteDownloadWarning, stacklevel=4)

    def _download_group(self, target: Path | None, *, progress: bool, deadline: _Deadline) -> Path:
        client = self._client
        for part in self.parts:
            part._download(None, progress=progress, deadline=deadline)
        self._derive()
        files = [leaf.path for leaf in self.leaves()]
        assert all(f is not None for f in files)
        path = target or client._default_path(self)
        saved = client._combine([f for f in files if f is not None], path)
        self.path, self.size, self.sha256 = saved.path, saved.size, saved.sha256
        self.state = DOWNLOADED
        self._save()
        return saved.path

    # -- data -----------------------------------------------------------------

    def to_dataframe(self, *, unified: bool = False) -> pd.DataFrame:
        """The report as a DataFrame (``unified=True``: the unified usage schema).

        Downloads first when needed. Reads only: nothing is archived here (the
        caller archives, e.g. ``usage_analysis.refresh`` or
        ``usage_analysis.archive_report(job)``). A file that cannot be read stays
        on disk; the error says where it is.
        """
        path = self.download(progress=False) if self.state != DOWNLOADED else self.path
        if path is None or not path.exists():
            path = self.download(progress=False)
        # Imported here: readers are the next layer down the chain and clients must
        # work (request, wait, download) even where reading is not needed.
        from ..readers import read_report

        try:
            frame = read_report(
                path, provider=self.provider, unified=unified, **self._read_options()
            )
        except ReportParseError as exc:
            exc.add_note(f"The downloaded report is kept at {path}")
            raise
        if unified:
            frame = self._with_account(frame)
        return frame

    def _with_account(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Fill ``account_id`` from the request when the file does not say (Particle CSVs)."""
        if "account_id" in frame.columns and len(frame) and frame["account_id"].isna().all():
            frame["account_id"] = (
                frame["account_id"].cat.add_categories([self.account]).fillna(self.account)
            )
        return frame

    def _read_options(self) -> dict[str, Any]:
        """What the reader cannot see in the file but the request said (the client's
        ``_read_options``; HERE: the requested period and detail level)."""
        return self._client._read_options(self)

    # -- journal rows -----------------------------------------------------------

    def to_row(self) -> dict[str, Any]:
        """The journal row of this job (no secrets: links and tokens are never kept)."""
        return {
            "provider": self.provider,
            "endpoint": self.endpoint,
            "account": self.account,
            "id": self.id,
            "parent": self.parent,
            "params": self.params,
            "state": self.state,
            "provider_state": self.provider_state,
            "parts": [p.id for p in self.parts] or None,
            "endpoints": self._client.endpoints(),
            "requested_at": self.requested_at,
            "updated_at": self.updated_at,
            "path": str(self.path) if self.path is not None else None,
            "size": self.size,
            "sha256": self.sha256,
            "warnings": self.warnings or None,
            "message": self.message,
        }

    @classmethod
    def from_row(
        cls, row: dict[str, Any], client: BaseClient, *, load: Callable[[str], dict[str, Any]]
    ) -> ReportJob:
        """A job from its journal row; ``load(id)`` gives the rows of its parts."""
        parts = [cls.from_row(load(pid), client, load=load) for pid in row.get("parts") or ()]
        return cls(
            client=client,
            id=row["id"],
            params=row["params"],
            account=row["account"],
            endpoint=row["endpoint"],
            state=row["state"],
            provider_state=row.get("provider_state"),
            requested_at=row.get("requested_at"),
            updated_at=row.get("updated_at"),
            path=Path(row["path"]) if row.get("path") else None,
            size=row.get("size"),
            sha256=row.get("sha256"),
            warnings=row.get("warnings") or (),
            message=row.get("message"),
            parts=parts,
            parent=row.get("parent"),
        )
