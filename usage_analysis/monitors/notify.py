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
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._secrets import Secret, redact
from ..errors import ConfigurationError
from ..paths import data_dir
from .evaluate import Alert, MonitorState

__all__ = ["AlertState", "Notifier", "plan_messages"]

STATE_FILE = "monitors-state.json"


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
        return cls(p, dict(data.get("alerts", {})))

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
    """Sends messages to apprise URLs (kept secret: never printed, never in an error)."""

    def __init__(self, urls: Iterable[Secret | str]) -> None:
        self._urls = [u if isinstance(u, Secret) else Secret(str(u)) for u in urls]

    def __repr__(self) -> str:
        return f"<Notifier {len(self._urls)} destination(s)>"

    def send(self, title: str, body: str, *, extra: Iterable[Secret] = ()) -> bool:
        """Deliver one message to every destination; True when all accepted it."""
        with _quiet_apprise():
            return self._send(title, body, [*self._urls, *extra])

    def _send(self, title: str, body: str, urls: list[Secret]) -> bool:
        import apprise  # here: the rest of the package does not need it

        if not urls:
            raise ConfigurationError(
                'no notification destination: set notify = ["<apprise URL>"] in the '
                "monitors file or pass --notify"
            )
        app = apprise.Apprise()
        for i, url in enumerate(urls):
            if not app.add(url.get()):
                scheme = url.get().split("://", 1)[0] if "://" in url.get() else "?"
                raise ConfigurationError(
                    f"notify URL #{i + 1} (scheme {scheme!r}) is not an apprise URL apprise accepts"
                )
        return bool(app.notify(title=redact(title), body=redact(body)))
