"""What a monitor is, and the monitors file (TOML) that lists them.

A monitors file (format in docs/monitors.md)::

    dashboard_url = "http://localhost:8866/"      # optional: a link in every alert
    notify = ["json://127.0.0.1:9000/alerts"]     # apprise URLs (Slack, Teams, mailto ...)
    prices = "prices.toml"                        # price book for money budgets

    [[monitor]]
    name = "acme-iot data operations"
    kind = "budget"            # budget | forecast | anomaly
    provider = "particle"
    account = "acme-iot"
    plan = "basic"             # or allowance = 720000, or amount = 500.0 (money)
    levels = [70, 90, 100]

Apprise URLs often hold a token (a Slack webhook, a mail password): they are kept
as :class:`~usage_analysis._secrets.Secret` and never printed.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .._secrets import Secret, secret_url
from ..analysis.events import Event, coerce_events
from ..analysis.particle import ParticlePlan
from ..defaults import (
    PARTICLE_THRESHOLDS,
    PROVIDERS,
)
from ..errors import InvalidParameter, ReportParseError

__all__ = ["KINDS", "Monitor", "MonitorSet", "check_columns", "load_monitors"]

KINDS = ("budget", "forecast", "anomaly")
DEFAULT_LEVELS = tuple(t * 100 for t in PARTICLE_THRESHOLDS)  # 70, 90, 100 %
_MONITOR_KEYS = {
    "name",
    "kind",
    "provider",
    "account",
    "product",
    "tag",
    "meter",
    "allowance",
    "unit",
    "plan",
    "blocks",
    "amount",
    "currency",
    "levels",
    "by",
    "threshold",
    "notify",
    "team",
    "rules",
    "events",
}
_FILE_KEYS = {"dashboard_url", "notify", "prices", "monitor", "allocation"}


@dataclass(frozen=True)
class Monitor:
    """One monitor. Build it in Python or read it from a monitors file.

    - ``kind="budget"``: alert when usage crosses each of ``levels`` (percent) of
      an allowance (``allowance`` in the billable unit, or ``plan="basic"``/
      ``"free"`` for Particle) or of a money ``amount`` (priced from the price book).
    - ``kind="forecast"``: alert when the month-end forecast will cross a level
      (default 100 %) before the month ends, while it is not crossed yet.
    - ``kind="anomaly"``: alert on each runaway ``by`` (``resource_id``: a device,
      app or asset; ``meter``; ``product``) found by :func:`usage_analysis.anomalies`.

    ``account``, ``product``, ``tag`` (HERE billing tag) and ``meter`` (name or
    id) narrow the rows the monitor watches. ``team`` (with ``rules``, an
    allocation rules file or :class:`~usage_analysis.AllocationRules`) watches
    the team's allocated rows: those it owns and its share of shared ones
    (docs/allocation.md). ``events`` are planned changes the
    forecast takes into account, as in :func:`usage_analysis.forecast`, e.g.
    ``events = ["+5000 devices from 2027-01-15", "rate x1.3 from 2027-03-01"]``.
    """

    name: str
    kind: str
    provider: str
    account: str | None = None
    product: str | None = None
    tag: str | None = None
    meter: str | None = None
    allowance: float | None = None
    unit: str | None = None
    plan: str | None = None
    blocks: int = 1
    amount: float | None = None
    currency: str | None = None
    levels: tuple[float, ...] | None = None
    by: str = "resource_id"
    threshold: float | None = None
    notify: tuple[Secret, ...] = ()
    team: str | None = None
    rules: Any = None  # AllocationRules, or the path of a rules file
    events: tuple[Event, ...] = ()

    def __post_init__(self) -> None:
        where = f"monitor {self.name!r}" if isinstance(self.name, str) else "monitor"
        if self.team is not None and self.rules is None:
            raise InvalidParameter(
                f"{where}.team",
                "a team monitor needs the allocation rules: rules = 'allocation.toml' "
                "(or allocation = ... at the top of the monitors file)",
            )
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidParameter("name", "every monitor needs a name")
        if self.kind not in KINDS:
            raise InvalidParameter(
                f"{where}.kind", f"expected one of {', '.join(KINDS)}, got {self.kind!r}"
            )
        if self.provider not in PROVIDERS:
            raise InvalidParameter(
                f"{where}.provider",
                f"expected one of {', '.join(PROVIDERS)}, got {self.provider!r}",
            )
        limits = [k for k in ("allowance", "plan", "amount") if getattr(self, k) not in (None, "")]
        if self.kind in ("budget", "forecast") and len(limits) != 1:
            raise InvalidParameter(
                where,
                f"a {self.kind} monitor needs exactly one of allowance, plan or amount"
                + (f" (got {', '.join(limits)})" if limits else ""),
            )
        if self.plan is not None:
            if self.provider != "particle" or self.plan not in ("basic", "free"):
                raise InvalidParameter(
                    f"{where}.plan", "plan is 'basic' or 'free', for Particle monitors"
                )
            if isinstance(self.blocks, bool) or not isinstance(self.blocks, int) or self.blocks < 1:
                raise InvalidParameter(f"{where}.blocks", "expected a whole number >= 1")
        for key in ("allowance", "amount", "threshold"):
            value = getattr(self, key)
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not value > 0
                or not math.isfinite(value)
            ):
                raise InvalidParameter(
                    f"{where}.{key}", f"expected a finite number > 0, got {value!r}"
                )
        levels = self.levels
        if levels is None:
            levels = (100.0,) if self.kind == "forecast" else DEFAULT_LEVELS
        try:
            shares = tuple(float(x) for x in levels)
        except (TypeError, ValueError):
            raise InvalidParameter(
                f"{where}.levels", f"expected percentages, got {levels!r}"
            ) from None
        if (
            not shares
            or any(not x > 0 or not math.isfinite(x) for x in shares)
            or list(shares) != sorted(set(shares))
        ):
            raise InvalidParameter(
                f"{where}.levels",
                f"expected increasing percentages such as [70, 90, 100], got {levels!r}",
            )
        object.__setattr__(self, "levels", shares)
        try:
            object.__setattr__(self, "events", coerce_events(self.events or None))
        except InvalidParameter as exc:
            raise InvalidParameter(f"{where}.events", str(exc).removeprefix("events: ")) from None
        object.__setattr__(
            self,
            "notify",
            tuple(secret_url(u if isinstance(u, Secret) else str(u)) for u in self.notify),
        )

    @property
    def limit(self) -> float | None:
        """The allowance (in the billable unit) or amount (money) the levels are shares of."""
        if self.plan == "free":
            return ParticlePlan.free().monthly_allowance
        if self.plan == "basic":
            return ParticlePlan.basic(blocks=self.blocks).monthly_allowance
        return self.amount if self.amount is not None else self.allowance

    @property
    def money(self) -> bool:
        return self.amount is not None

    @property
    def columns(self) -> dict[str, str]:
        """The data columns this monitor names, each with the key that names it.

        ``tag`` names HERE's ``billing_tag``; an anomaly monitor's ``by`` names its
        series column. (``account``, ``product`` and ``meter`` are values of columns
        every unified frame has.)
        """
        named: dict[str, str] = {}
        if self.tag is not None:
            named["billing_tag"] = f"tag = {self.tag!r}"
        if self.kind == "anomaly":
            named[self.by] = f"by = {self.by!r}"
        return named

    def __repr__(self) -> str:
        watch = ", ".join(
            f"{k}={getattr(self, k)!r}"
            for k in ("account", "product", "tag", "team", "meter", "plan", "allowance", "amount")
            if getattr(self, k) is not None
        )
        return f"<Monitor {self.name!r} {self.kind} {self.provider}{': ' + watch if watch else ''}>"


@dataclass(frozen=True)
class MonitorSet:
    """The monitors of a file, with where alerts go and the dashboard link."""

    monitors: tuple[Monitor, ...]
    notify: tuple[Secret, ...] = ()
    dashboard_url: str | None = None
    prices: Path | None = None
    source: str = "<python>"
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def coerce(cls, value: MonitorSet | Sequence[Monitor] | str | Path) -> MonitorSet:
        if isinstance(value, MonitorSet):
            return value
        if isinstance(value, str | Path):
            return load_monitors(value)
        monitors = tuple(value)
        if not all(isinstance(m, Monitor) for m in monitors):
            raise InvalidParameter("monitors", "expected Monitor objects or a monitors file")
        return cls(monitors)

    def validate(self, df: pd.DataFrame) -> None:
        """Refuse a monitor naming a column ``df`` lacks (see :func:`check_columns`)."""
        check_columns(self.monitors, df, source=self.source)

    def __repr__(self) -> str:
        return f"<MonitorSet {len(self.monitors)} monitor(s) from {self.source}>"


def check_columns(
    monitors: Sequence[Monitor], df: pd.DataFrame, *, source: str | None = None
) -> None:
    """Raise :class:`InvalidParameter` for the first monitor that names a column ``df`` lacks.

    A monitor whose spec names a column the data does not have (``tag`` on data
    without ``billing_tag``, an anomaly ``by`` no row has) is misconfigured: it
    could never be evaluated, whatever the provider answers. It fails here, loudly,
    before any monitor is evaluated or any alert sent, with a message naming the
    monitors file (``source``), the monitor, the column and the columns available
    (``usage-analysis check`` then prints it and exits 1). This is the one place
    that rule lives; :func:`~usage_analysis.monitors.evaluate` and
    :func:`~usage_analysis.monitors.check` both call it.

    What is not misconfiguration keeps its runtime state instead: a provider with
    no rows in ``df`` (its refresh failed, nothing fetched yet) is not judged by
    columns it could not have brought, so its monitors become "no data"; units
    that cannot be added, or a team the rules lack, are the "error" state of that
    one monitor, which never hides the others.
    """
    if "provider" not in df.columns:
        return
    present = set(df["provider"].dropna().astype(str).unique())
    for m in monitors:
        if m.provider not in present:
            continue
        for column, key in m.columns.items():
            if column not in df.columns:
                where = f"{source}: " if source and source != "<python>" else ""
                raise InvalidParameter(
                    f"{where}monitor {m.name!r}",
                    f"{key} names the column {column!r}, which the {m.provider} data lacks; "
                    f"columns available: {', '.join(map(str, df.columns))}",
                )


def load_monitors(path: str | Path) -> MonitorSet:
    """Read a monitors TOML file; errors name the file and the monitor."""
    p = Path(path).expanduser()
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidParameter("--monitors", f"no monitors file at {p}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ReportParseError(f"not valid TOML: {exc}", file=str(p)) from None
    unknown = set(data) - _FILE_KEYS
    if unknown:
        raise ReportParseError(
            f"unknown key {sorted(unknown)[0]!r}; expected {', '.join(sorted(_FILE_KEYS))}",
            file=str(p),
        )
    entries = data.get("monitor", [])
    if not isinstance(entries, list) or not entries:
        raise ReportParseError("no [[monitor]] tables", file=str(p))
    monitors = []
    for i, entry in enumerate(entries):
        label = entry.get("name", f"#{i + 1}") if isinstance(entry, Mapping) else f"#{i + 1}"
        if not isinstance(entry, Mapping):
            raise ReportParseError(f"monitor {label}: expected a table", file=str(p))
        bad = set(entry) - _MONITOR_KEYS
        if bad:
            raise ReportParseError(
                f"monitor {label!r}: unknown key {sorted(bad)[0]!r}; expected some of "
                f"{', '.join(sorted(_MONITOR_KEYS))}",
                file=str(p),
            )
        spec = dict(entry)
        if isinstance(spec.get("events"), list):
            spec["events"] = tuple(spec["events"])
        if "levels" in spec and isinstance(spec["levels"], list):
            spec["levels"] = tuple(spec["levels"])
        spec["notify"] = tuple(_urls(spec.get("notify", ()), p))
        rules = spec.get("rules", data.get("allocation"))
        if "team" in spec and rules is not None:
            spec["rules"] = p.parent / str(rules)  # relative to the monitors file
        try:
            monitors.append(Monitor(**spec))
        except (InvalidParameter, TypeError) as exc:
            raise ReportParseError(f"monitor {label!r}: {exc}", file=str(p)) from None
    names = [m.name for m in monitors]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ReportParseError(f"monitor name {dup[0]!r} is used twice", file=str(p))
    prices = data.get("prices")
    return MonitorSet(
        monitors=tuple(monitors),
        notify=tuple(_urls(data.get("notify", ()), p)),
        dashboard_url=data.get("dashboard_url"),
        prices=(p.parent / str(prices)) if prices else None,
        source=str(p),
    )


def _urls(value: Any, path: Path) -> list[Secret]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(u, str) for u in value):
        raise ReportParseError("notify: expected a list of apprise URLs", file=str(path))
    return [secret_url(u) for u in value]
