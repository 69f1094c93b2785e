"""Alert state (what was sent, kept in the data directory) and delivery through apprise.

One alert per monitor, level and period: an alert whose key is in the state file
is not sent again. When a level that was alerted no longer holds in the same
period (usage revised down, a forecast that no longer crosses), one "resolved"
message is sent and the entry is marked resolved.

apprise was chosen because one URL scheme reaches Slack, Microsoft Teams, e-mail,
generic JSON/form webhooks and about a hundred more services, so users configure
a destination without code of ours per service.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._secrets import Secret, get_logger, redact, secret_url
from ..defaults import NOTIFY_TIMEOUT
from ..errors import ConfigurationError, DeadlineExceeded
from ..paths import data_dir
from .evaluate import Alert, MonitorState

__all__ = ["AlertState", "Notifier", "plan_messages"]

STATE_FILE = "monitors-state.json"

log = get_logger(__name__)


@dataclass
class AlertState:
    """The sent alerts, by key, in ``<data dir>/monitors-state.json``."""

    path: Path
    entries: dict[str, dict[str, Any]]

    @classmethod
    def load(cls, path: str | Path | None = None) -> AlertState:
        p = Path(path) if path is not None else data_dir() / STATE_FILE
        if not p.exists():
            return cls(p, {})
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"the monitor state file {p} cannot be read ({exc}); move it away to start afresh"
            ) from None
        alerts = data.get("alerts", {}) if isinstance(data, dict) else None
        if not isinstance(alerts, dict) or not all(
            isinstance(k, str) and isinstance(v, dict) for k, v in alerts.items()
        ):
            raise ConfigurationError(
                f"the monitor state file {p} is not what check writes (expected "
                '{"alerts": {key: {...}}}, got ' + f"{type(data).__name__}); "
                "move it away to start afresh"
            )
        return cls(p, dict(alerts))

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".monitors-", dir=self.path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"alerts": self.entries}, fh, indent=1, sort_keys=True)
        os.replace(tmp, self.path)


@dataclass(frozen=True)
class Message:
    """One message to send and what to record when it is delivered."""

    key: str
    title: str
    body: str
    record: dict[str, Any]
    monitor: str


def plan_messages(states: Sequence[MonitorState], state: AlertState) -> list[Message]:
    """The new alerts and the resolutions to send, given what was sent before."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    out: list[Message] = []
    current: dict[str, Alert] = {}
    for s in states:
        for alert in s.alerts:
            current[alert.key] = alert
    for key, alert in current.items():
        entry = state.entries.get(key)
        if entry is None or entry.get("status") == "resolved":
            record = {
                "monitor": alert.monitor,
                "level": alert.level,
                "period": alert.period,
                "kind": alert.kind,
                "status": "active",
                "sent_at": now,
                "message": alert.message,
            }
            out.append(
                Message(
                    key, f"usage-analysis: {alert.monitor}", alert.message, record, alert.monitor
                )
            )
    for s in states:
        name, period = s.monitor.name, s.period
        for key, entry in state.entries.items():
            if (
                entry.get("monitor") != name
                or entry.get("period") != period
                or entry.get("status") != "active"
                or key in current
                or entry.get("kind") == "anomaly"
            ):
                continue
            if entry.get("kind") == "forecast" and s.crossed.get(
                entry["level"].removeprefix("forecast ")
            ):
                # The forecast came true: the level alert says so; nothing to resolve.
                out.append(Message(key, "", "", {**entry, "status": "superseded"}, name))
                continue
            body = (
                f"Resolved: {entry['message'].split(':')[0]}: {entry['level']} no longer "
                f"{'forecast' if entry.get('kind') == 'forecast' else 'reached'} "
                f"({s.percent:.0f} % used)"
            )
            out.append(
                Message(
                    key,
                    f"usage-analysis: {name} resolved",
                    body,
                    {**entry, "status": "resolved", "resolved_at": now},
                    name,
                )
            )
    return out


@contextlib.contextmanager
def _quiet_apprise() -> Iterator[None]:
    """On Python 3.11/3.12 apprise's e-mail plugin (loaded lazily, when a URL is
    added) imports the standard ``imghdr`` module, which warns that it is
    deprecated; that warning is apprise's, not the user's business."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*'imghdr' is deprecated", category=DeprecationWarning
        )
        yield


class Notifier:
    """Sends messages to apprise URLs (kept secret: never printed, never in an error).

    Each message is delivered within ``timeout`` seconds (``NOTIFY_TIMEOUT``), all
    destinations together, whatever a destination does (a webhook that drips its
    answer included): apprise runs in a worker thread with its socket timeouts set
    to the time given, and the caller stops waiting at the bound with
    :class:`~usage_analysis.errors.DeadlineExceeded` saying so.
    """

    def __init__(self, urls: Iterable[Secret | str], *, timeout: float = NOTIFY_TIMEOUT) -> None:
        self._urls = [secret_url(u) for u in urls]
        if not timeout > 0 or timeout == float("inf"):
            raise ConfigurationError(f"timeout: expected seconds > 0, got {timeout!r}")
        self.timeout = float(timeout)
        # A delivery that ran out of time: later messages to the same destinations fail
        # at once, so that n alerts to a stalled webhook cost one timeout, not n.
        self._stalled: str | None = None

    def __repr__(self) -> str:
        return f"<Notifier {len(self._urls)} destination(s)>"

    def send(self, title: str, body: str, *, extra: Iterable[Secret] = ()) -> bool:
        """Deliver one message to every destination; True when all accepted it."""
        with _quiet_apprise():
            return self._send(title, body, [*self._urls, *(secret_url(u) for u in extra)])

    def _send(self, title: str, body: str, urls: list[Secret]) -> bool:
        import apprise  # here: the rest of the package does not need it

        if not urls:
            raise ConfigurationError(
                'no notification destination: set notify = ["<apprise URL>"] in the '
                "monitors file or pass --notify"
            )
        if self._stalled is not None:
            raise DeadlineExceeded(f"not sent: {self._stalled}")
        app = apprise.Apprise()
        for i, url in enumerate(urls):
            if not app.add(url.get()):
                scheme = url.get().split("://", 1)[0] if "://" in url.get() else "?"
                raise ConfigurationError(
                    f"notify URL #{i + 1} (scheme {scheme!r}) is not an apprise URL apprise accepts"
                )
        limit = self.timeout
        for server in app:
            # Each socket operation within the bound (a silent server ends the thread too).
            for name in ("socket_connect_timeout", "socket_read_timeout"):
                if hasattr(server, name):
                    setattr(server, name, min(float(getattr(server, name) or limit), limit))
        outcome: list[bool | BaseException] = []

        def deliver() -> None:
            # No warnings.catch_warnings() here: it swaps the process-wide filter list,
            # and a thread that outlives its caller would restore a stale list into
            # whatever the main thread is doing by then (apprise's lazy imports happen
            # in ``add`` above, in the caller's thread).
            try:
                outcome.append(bool(app.notify(title=redact(title), body=redact(body))))
            except BaseException as exc:  # reported by the caller, never raised in a thread
                outcome.append(exc)

        worker = threading.Thread(target=deliver, name="usage-analysis-notify", daemon=True)
        worker.start()
        worker.join(limit)
        if worker.is_alive() or not outcome:
            log.debug("notify: delivery still running after %.1f s; not waited for", limit)
            self._stalled = (
                f"delivering an alert did not finish within {limit:g} s (NOTIFY_TIMEOUT): a "
                f"destination among {len(urls)} is too slow or does not answer; it is tried "
                "again by the next check"
            )
            raise DeadlineExceeded(self._stalled)
        result = outcome[0]
        if isinstance(result, BaseException):
            raise ConfigurationError(
                f"delivering the alert failed: {type(result).__name__}: {redact(str(result))}"
            ) from None
        return result
