"""``check``: refresh the archive, evaluate every monitor, send each new alert once."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..analysis._common import timestamp
from ..analysis.prices import PriceBook
from ..errors import UsageAnalysisError
from .evaluate import MonitorState, evaluate, status_text
from .notify import AlertState, Notifier, plan_messages
from .spec import Monitor, MonitorSet

__all__ = ["CheckResult", "check", "print_summary", "state_table"]

# Days of history loaded before the month: the forecast averages the last 28
# complete days, the anomaly finder compares a day with the 28 before it.
HISTORY_DAYS = 62


@dataclass
class CheckResult:
    """What one ``check`` did: the monitors' states, what was sent, what failed."""

    states: list[MonitorState]
    sent: list[str] = field(default_factory=list)  # alert keys delivered (new and resolved)
    errors: list[str] = field(default_factory=list)
    # With dry_run: the messages a real check would send now (title, body), unsent.
    would_send: list[tuple[str, str]] = field(default_factory=list)

    @property
    def over(self) -> bool:
        """True when a budget is at or over 100 % of its allowance or amount."""
        return any(s.status == "over" and s.monitor.kind == "budget" for s in self.states)

    @property
    def exit_code(self) -> int:
        """2 when over budget, 1 when something failed, else 0 (for cron and CI)."""
        return 2 if self.over else (1 if self.errors else 0)

    def table(self) -> pd.DataFrame:
        return state_table(self.states)


def check(
    monitors: MonitorSet | Sequence[Monitor] | str | Path,
    *,
    refresh: bool = True,
    clients: Mapping[str, Any] | None = None,
    archive: str | Path | None = None,
    now: Any = None,
    prices: PriceBook | Mapping[str, Any] | str | Path | None = None,
    notify: Sequence[str] = (),
    state_path: str | Path | None = None,
    dry_run: bool = False,
) -> CheckResult:
    """Refresh, evaluate and notify; see docs/monitors.md.

    Args:
        monitors: a :class:`MonitorSet`, a list of :class:`Monitor` or a monitors file.
        refresh: fetch the days missing from the archive first (``ua.refresh``).
        clients: provider -> client to refresh with (default: from the environment).
        archive: the archive root (default: the data directory's archive).
        now: the time of the check (default: now, UTC); data after it is ignored.
        prices: the price book for money budgets (default: the monitors file's
            ``prices``, else the EXAMPLE prices).
        notify: extra apprise URLs (added to the file's).
        state_path: the alert state file (default ``<data dir>/monitors-state.json``).
        dry_run: evaluate and report, send nothing, record nothing.

    Raises:
        InvalidParameter: a monitor names a column the data lacks; the message
            names the monitors file, the monitor, the column and the columns
            available (:func:`~usage_analysis.monitors.spec.check_columns`).
    """
    from .. import archive as archive_module
    from .. import refresh as refresh_archive

    mset = MonitorSet.coerce(monitors)
    now_ts = timestamp(now, "now") if now is not None else pd.Timestamp.now(tz="UTC")
    errors: list[str] = []
    month = now_ts.normalize().replace(day=1)
    first = month - pd.Timedelta(days=HISTORY_DAYS)
    providers = sorted({m.provider for m in mset.monitors})
    if refresh:
        for provider in providers:
            client = (clients or {}).get(provider)
            try:
                refresh_archive(
                    provider,
                    start=first.date(),
                    until=now_ts.date(),
                    client=client,
                    archive=archive,
                )
            except UsageAnalysisError as exc:
                errors.append(f"refresh {provider}: {exc}")
    try:
        df = archive_module.history(provider=providers, start=first, archive=archive)
    except UsageAnalysisError as exc:
        return CheckResult([], errors=[*errors, f"reading the archive: {exc}"])
    # A monitor naming a column the data lacks fails here, naming the file, before
    # anything is evaluated or sent.
    mset.validate(df)
    book = PriceBook.coerce(prices if prices is not None else mset.prices)
    states = evaluate(mset.monitors, df, now=now_ts, prices=book, dashboard_url=mset.dashboard_url)
    errors += [f"{s.monitor.name}: {s.error}" for s in states if s.error]
    result = CheckResult(states, errors=errors)
    state = AlertState.load(state_path)
    if dry_run:
        result.would_send = [(m.title, m.body) for m in plan_messages(states, state) if m.body]
        return result
    by_name = {m.name: m for m in mset.monitors}
    base = Notifier([*mset.notify, *notify])
    for message in plan_messages(states, state):
        if message.body:
            monitor = by_name[message.monitor]
            notifier = Notifier(monitor.notify) if monitor.notify else base
            try:
                delivered = notifier.send(message.title, message.body)
            except UsageAnalysisError as exc:
                result.errors.append(f"{message.monitor}: {exc}")
                continue
            if not delivered:
                result.errors.append(f"{message.monitor}: a destination did not accept the alert")
                continue
            result.sent.append(message.key)
        state.entries[message.key] = message.record
        state.save()  # after each delivery: a crash never causes a repeat
    return result


def state_table(states: Sequence[MonitorState]) -> pd.DataFrame:
    """One row per monitor: status (ok / warning / over / forecast over ...), usage, the
    month-end forecast and its run-out day, the day each level was crossed and ``as_of``
    (the data's freshness, the same for every surface)."""
    rows = []
    for s in states:
        row: dict[str, Any] = {
            "monitor": s.monitor.name,
            "kind": s.monitor.kind,
            "provider": s.monitor.provider,
            "period": s.period,
            "status": s.status,
            "used": s.used,
            "limit": s.limit,
            "unit": s.unit,
            "percent": s.percent,
            "forecast": s.forecast,
            "forecast_percent": s.forecast_percent,
            "runs_out_on": s.forecast_crosses_on,
            "data_until": s.data_until,
            "as_of": s.as_of,
            "summary": status_text(s),
            "alerts": len(s.alerts),
        }
        for label, when in s.crossed.items():
            row[f"crossed {label}"] = when
        rows.append(row)
    table = pd.DataFrame(rows)
    for col in table.columns:
        if col.startswith("crossed ") or col in ("data_until", "as_of", "runs_out_on"):
            table[col] = pd.to_datetime(table[col], utc=True)
    return table


def print_summary(result: CheckResult) -> None:
    for s in result.states:
        print(f"{s.monitor.name} ({s.period}): {status_text(s)}")
    for key in result.sent:
        print(f"sent: {key}")
    for title, body in result.would_send:
        print(f"would send: {title}\n  {body}")
    for error in result.errors:
        print(f"usage-analysis: error: {error}", file=sys.stderr)
