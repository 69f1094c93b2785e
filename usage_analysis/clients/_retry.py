"""Retry: what is transient, how long to wait, when to give up.

Only what is transient is retried (no answer, 408, 429, 5xx), bounded in attempts
and in total time, with jittered exponential backoff or the server's
``Retry-After`` (capped at ``MAX_RETRY_AFTER``), and never past the caller's
deadline. Each decision (retry, give up, not retried) is one ``logging.debug`` line.

Retries use tenacity directly rather than stamina (its friendly wrapper): stamina
sleeps with ``time.sleep`` and offers no way to inject a clock, and its test mode
turns every wait, ``Retry-After`` included, into zero, so neither the honoured
``Retry-After`` nor the total-time bound could be tested. Tenacity takes ``sleep=``,
``wait=`` and ``stop=`` callables, so all waiting goes through our :class:`Clock`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import tenacity

from .._secrets import get_logger
from ..defaults import (
    MAX_RETRY_AFTER,
    RETRY_ATTEMPTS,
    RETRY_TIMEOUT,
    RETRY_WAIT_INITIAL,
    RETRY_WAIT_MAX,
)
from ..errors import APIError, ConnectionFailed, DeadlineExceeded, RateLimitError, ServerError
from ._clock import Clock

__all__ = ["RetryPolicy", "describe_error", "is_transient", "with_retries"]

log = get_logger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried: attempts, total time, backoff."""

    attempts: int = RETRY_ATTEMPTS
    timeout: float = RETRY_TIMEOUT
    wait_initial: float = RETRY_WAIT_INITIAL
    wait_max: float = RETRY_WAIT_MAX


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is worth retrying: no answer, 408, 429 or 5xx."""
    if isinstance(exc, RateLimitError | ServerError | ConnectionFailed):
        return True
    return isinstance(exc, APIError) and exc.status == 408


def describe_error(exc: BaseException) -> str:
    """A short loggable name for ``exc`` (status and class, never its message)."""
    if isinstance(exc, APIError) and exc.status is not None:
        return f"HTTP {exc.status} {type(exc).__name__}"
    return type(exc).__name__


class _StopAfter(tenacity.stop.stop_base):
    """Stop after ``attempts``, or when the next wait would pass the time budget or deadline."""

    def __init__(
        self,
        policy: RetryPolicy,
        clock: Clock,
        remaining: Callable[[], float | None],
        what: str,
    ) -> None:
        self.policy = policy
        self.clock = clock
        self.remaining = remaining
        self.what = what
        self.start = clock.monotonic()
        self.deadline_hit = False

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        policy = self.policy
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        name = describe_error(exc or Exception())
        n = retry_state.attempt_number
        if n >= policy.attempts:
            log.debug("%s: %s; giving up after %d attempts", self.what, name, n)
            return True
        elapsed = self.clock.monotonic() - self.start
        if elapsed + retry_state.upcoming_sleep > policy.timeout:
            log.debug(
                "%s: %s; giving up: waiting %.1f s more would pass the %.0f s retry budget",
                self.what,
                name,
                retry_state.upcoming_sleep,
                policy.timeout,
            )
            return True
        remaining = self.remaining()
        if remaining is not None and retry_state.upcoming_sleep >= remaining:
            log.debug(
                "%s: %s; giving up: the caller's deadline is %.1f s away",
                self.what,
                name,
                remaining,
            )
            self.deadline_hit = True
            return True
        return False


def with_retries(
    fn: Callable[[], T],
    *,
    what: str,
    label: str,
    policy: RetryPolicy,
    clock: Clock,
    remaining: Callable[[], float | None],
) -> T:
    """Run ``fn``, retrying it while it raises a transient error, within the deadline.

    ``remaining()`` gives the seconds left before the caller's deadline (None: none);
    when the deadline stops the retries, :class:`DeadlineExceeded` is raised.
    """

    def should_retry(exc: BaseException) -> bool:
        if is_transient(exc):
            return True
        if isinstance(exc, APIError):
            log.debug("%s: %s; not retried (not transient)", what, describe_error(exc))
        return False

    def wait(retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(MAX_RETRY_AFTER, float(retry_after))
        # Exponential backoff with jitter (Google's retry strategy): initial * 2^(n-1) plus
        # up to ``initial`` at random, capped at wait_max.
        n = retry_state.attempt_number
        return min(
            policy.wait_max,
            policy.wait_initial * 2 ** min(n - 1, 30) + random.uniform(0, policy.wait_initial),
        )

    def before_sleep(retry_state: tenacity.RetryCallState) -> None:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        reason = "Retry-After" if getattr(exc, "retry_after", None) is not None else "backoff"
        log.debug(
            "%s: %s; retry %d of %d in %.2f s (%s)",
            what,
            describe_error(exc or Exception()),
            retry_state.attempt_number,
            policy.attempts - 1,
            retry_state.upcoming_sleep,
            reason,
        )

    def attempt() -> T:
        left = remaining()
        if left is not None and left <= 0:
            raise DeadlineExceeded(f"{label} {what}: the deadline passed")
        return fn()

    stop = _StopAfter(policy, clock, remaining, what)
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(should_retry),
        stop=stop,
        wait=wait,
        sleep=clock.sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retrying(attempt)
    except APIError as exc:
        if stop.deadline_hit:
            raise DeadlineExceeded(
                f"{label} {what}: the deadline passed while retrying ({describe_error(exc)})"
            ) from None
        raise
