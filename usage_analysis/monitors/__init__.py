"""Budget monitors that notify: budgets, month-end forecasts and runaways, sent through apprise.

- :class:`Monitor`, :class:`MonitorSet`, :func:`load_monitors`: what to watch (TOML file or Python);
- :func:`evaluate`, :class:`MonitorState`: where each monitor stands, with the
  overview's numbers (one forecast, :func:`usage_analysis.forecast`);
- :func:`check`: refresh the archive, evaluate, send each new alert once (state in
  the data directory); ``usage-analysis check`` on the command line;
- :func:`state_table`: the monitors' states as a table (ok / warning / over /
  forecast over, the forecast, its run-out day and the day each level was crossed).

See docs/monitors.md.
"""

from __future__ import annotations

from .check import CheckResult, check, state_table
from .evaluate import Alert, MonitorState, evaluate, finalized
from .spec import Monitor, MonitorSet, load_monitors

__all__ = [
    "Alert",
    "CheckResult",
    "Monitor",
    "MonitorSet",
    "MonitorState",
    "check",
    "evaluate",
    "finalized",
    "load_monitors",
    "state_table",
]
