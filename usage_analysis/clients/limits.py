"""Provider limits kept for the user: at most N jobs outstanding per account.

Particle allows 3 outstanding report requests, Informatica 5 active export jobs
per org. Before each request a slot is reserved in the journal, counting in one
transaction the account's pending jobs and the reservations of requests in flight,
so the limit holds across threads, kernels and processes sharing the data
directory. When the account is full, the pending jobs' live state is asked from
the provider (a finished job frees its slot) and the request waits its turn on
the polling schedule. If the provider still refuses a request for a limit (jobs
started elsewhere, e.g. in the web console, count too), it waits and tries again
rather than fail, until ``limit_timeout``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from .._secrets import get_logger
from ..defaults import LIMIT_RESERVATION_TTL
from ..errors import APIError, DeadlineExceeded, LimitExceeded, NotFoundError
from ._http import is_transient

if TYPE_CHECKING:
    from ._base import BaseClient

__all__ = ["acquire_slot", "refresh_outstanding", "until_accepted"]

log = get_logger(__name__)

T = TypeVar("T")


def refresh_outstanding(client: BaseClient) -> bool:
    """Ask the provider about the account's pending jobs; True when one has finished."""
    from .job import PENDING, ReportJob

    freed = False
    for row in client.journal.outstanding(client.owner):
        job = ReportJob.from_row(row, client, load=lambda _id: {})
        try:
            job.refresh()
        except NotFoundError:
            freed = True  # refresh() marked it expired: it no longer holds a slot
            continue
        except APIError as exc:
            if not is_transient(exc):
                raise
            continue
        if job.state != PENDING:
            freed = True
    return freed


def acquire_slot(client: BaseClient, *, limit: int | None) -> str | None:
    """Reserve one of the account's ``limit`` slots, waiting for one to free up.

    Returns the reservation token (None when there is no limit), which the caller
    turns into a job row or releases. Raises :class:`LimitExceeded` after
    ``client.limit_timeout`` seconds.
    """
    if limit is None:
        return None
    clock = client.clock
    start = clock.monotonic()
    n = 0
    while True:
        token, count = client.journal.try_reserve(
            client.owner,
            limit=limit,
            now=clock.now().timestamp(),
            ttl=LIMIT_RESERVATION_TTL,
        )
        if token is not None:
            return token
        if refresh_outstanding(client):
            continue
        waited = clock.monotonic() - start
        if waited >= client.limit_timeout:
            raise LimitExceeded(
                f"{count} {client.provider} jobs of account {client.account} are still "
                f"outstanding after waiting {waited:.0f} s (the provider allows {limit}); "
                "usage_analysis.jobs() lists them",
                limit=f"{limit} outstanding",
                provider=client.provider,
            )
        delay = _within_deadline(
            client, min(client.schedule.delay(n), client.limit_timeout - waited)
        )
        log.debug(
            "%s account %s has %d of %d jobs outstanding; next slot check in %.1f s",
            client.provider,
            client.account,
            count,
            limit,
            delay,
        )
        clock.sleep(delay)
        n += 1


def _within_deadline(client: BaseClient, delay: float) -> float:
    """``delay``, unless the caller's deadline (``fetch(timeout=)``) comes first: then raise."""
    remaining = client.http.remaining()
    if remaining is not None and remaining <= delay:
        raise DeadlineExceeded(
            f"{client.provider}: the deadline passed while waiting for a free report slot"
        )
    return delay


def until_accepted(client: BaseClient, send: Callable[[], T], *, token: str | None = None) -> T:
    """Call ``send()``; while the provider refuses it for a limit, wait and call again."""
    clock = client.clock
    start = clock.monotonic()
    n = 0
    while True:
        try:
            return send()
        except APIError as exc:
            if not client._is_limit_refusal(exc):
                raise
            waited = clock.monotonic() - start
            if waited >= client.limit_timeout:
                raise LimitExceeded(
                    f"{client.provider} kept refusing a new request for a limit for "
                    f"{waited:.0f} s: {exc}",
                    limit="outstanding",
                    provider=client.provider,
                ) from exc
            refresh_outstanding(client)
            delay = _within_deadline(
                client,
                min(
                    max(client.schedule.delay(n), exc.retry_after or 0.0),
                    client.limit_timeout - waited,
                ),
            )
            log.debug(
                "%s refused a new request for a limit (%s); trying again in %.1f s",
                client.provider,
                exc.code or exc.status,
                delay,
            )
            if token is not None:
                client.journal.touch(token, now=clock.now().timestamp())
            clock.sleep(delay)
            n += 1
