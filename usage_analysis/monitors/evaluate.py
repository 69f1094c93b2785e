"""Evaluate monitors: level crossings, month-end forecasts, runaways.

Pure: a unified frame in, :class:`MonitorState` objects out (no HTTP, no state
file, no notification). Rows starting after ``now`` are left out. The numbers are
those of every other surface: the month, the use so far, the percent and the
month-end forecast (with its interval and run-out day) come from
:func:`usage_analysis.forecast` on the provider's rows, as of the end of its
newest data, with HERE's last 48 h counted as provisional (the forecast takes
the larger of what was reported and the rate; messages say so). Freshness comes
from :func:`usage_analysis.analysis.freshness.freshness`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..analysis._common import timestamp
from ..analysis.allocation import team_frame
from ..analysis.anomalies import anomalies as find_anomalies
from ..analysis.costs import costs as price_rows
from ..analysis.forecast import forecast as forecast_quantity
from ..analysis.freshness import Freshness, freshness, ran_out_text
from ..analysis.prices import PriceBook
from ..defaults import HERE_DATA_LAG
from ..errors import UnitMismatch, UsageAnalysisError
from ..schema import require_columns
from .spec import Monitor, check_columns

__all__ = ["Alert", "MonitorState", "evaluate", "finalized", "reported", "status_text"]

_PROVIDER_NAMES = {"particle": "Particle", "here": "HERE", "informatica": "Informatica"}
_RESOURCE_NOUN = {"particle": "device", "here": "app", "informatica": "asset"}
_SYMBOLS = {"USD": "US$", "EUR": "€", "GBP": "£"}


@dataclass(frozen=True)
class Alert:
    """One notification: ``key`` is what deduplicates it (monitor, level, period)."""

    monitor: str
    level: str  # "90 %", "forecast 100 %", "<resource> <day>" (anomaly)
    period: str  # "2026-11"
    kind: str  # "level", "forecast" or "anomaly"
    message: str

    @property
    def key(self) -> str:
        return f"{self.monitor}|{self.level}|{self.period}"


@dataclass(frozen=True)
class MonitorState:
    """Where a monitor stands.

    ``status`` is ok, warning (a level crossed), over (100 % used), "forecast
    warning" / "forecast over" (a forecast monitor whose month-end forecast
    crosses one of its levels / 100 %), anomaly, no data or error.
    """

    monitor: Monitor
    period_start: pd.Timestamp
    period_end: pd.Timestamp
    status: str
    used: float = float("nan")
    limit: float | None = None
    unit: str | None = None
    crossed: dict[str, pd.Timestamp | None] = field(default_factory=dict)
    forecast_percent: float = float("nan")
    forecast_crosses_on: pd.Timestamp | None = None  # the day the forecast reaches 100 %
    data_until: pd.Timestamp | None = None
    forecast: float = float("nan")  # the projected month total
    forecast_lower: float = float("nan")
    forecast_upper: float = float("nan")
    fresh: Freshness | None = None
    top: str | None = None
    account: str | None = None  # the account label used in messages
    example_prices: bool = False  # a money budget priced from the EXAMPLE book
    error: str | None = None  # why the monitor could not be evaluated (status "error")
    alerts: tuple[Alert, ...] = ()

    @property
    def percent(self) -> float:
        return self.used / self.limit * 100.0 if self.limit else float("nan")

    @property
    def as_of(self) -> pd.Timestamp | None:
        return self.fresh.as_of if self.fresh is not None else self.data_until

    @property
    def period(self) -> str:
        return f"{self.period_start:%Y-%m}"


def reported(df: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
    """The rows reported by ``now``: those starting after it left out.

    A row that started before ``now`` is reported use, even when its day is still
    running (it then counts as the newest data, as in the overview).
    """
    keep = (df["period_start"] < now) & df["period_start"].notna()
    return df.loc[keep.to_numpy(dtype=bool)]


def finalized(df: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
    """The rows that will not change: HERE's last 48 h and anything after ``now`` left out."""
    end = df["period_end"].fillna(df["period_start"] + pd.Timedelta(days=1))
    keep = end <= now
    here = (df["provider"] == "here").to_numpy(dtype=bool, na_value=False)
    keep &= ~here | (end <= now - HERE_DATA_LAG)
    keep &= df["period_start"].notna()
    return df.loc[keep.to_numpy(dtype=bool)]


def evaluate(
    monitors: tuple[Monitor, ...] | list[Monitor],
    df: pd.DataFrame,
    *,
    now: Any = None,
    prices: PriceBook | None = None,
    dashboard_url: str | None = None,
) -> list[MonitorState]:
    """The state of each monitor on the rows of ``df`` (a unified frame) reported by ``now``.

    Raises:
        InvalidParameter: a monitor names a column ``df`` lacks (misconfigured:
            :func:`~usage_analysis.monitors.spec.check_columns`). A monitor that
            cannot be evaluated on this data (units mixed, a team the rules lack)
            is instead an "error" state that never hides the others.
    """
    check_columns(monitors, df)
    now_ts = timestamp(now, "now") if now is not None else pd.Timestamp.now(tz="UTC")
    final = reported(df, now_ts)
    states = []
    for m in monitors:
        try:
            states.append(_evaluate_one(m, final, now_ts, prices, dashboard_url))
        except UsageAnalysisError as exc:
            # One monitor that cannot work (units mixed, a bad filter) never hides the others.
            start = now_ts.normalize().replace(day=1)
            states.append(
                MonitorState(m, start, start + pd.DateOffset(months=1), "error", error=str(exc))
            )
    return states


def _select(df: pd.DataFrame, m: Monitor) -> pd.DataFrame:
    return df.loc[_mask(df, m)]


def _mask(df: pd.DataFrame, m: Monitor) -> np.ndarray:
    """The monitor's rows of ``df``."""
    mask = (df["provider"] == m.provider).to_numpy(dtype=bool, na_value=False).copy()
    if m.account is not None:
        account = df["account_id"].astype(object).eq(m.account) | df["account_name"].astype(
            object
        ).eq(m.account)
        mask &= account.to_numpy(dtype=bool, na_value=False)
    if m.product is not None:
        mask &= df["product"].astype(object).eq(m.product).to_numpy(dtype=bool, na_value=False)
    if m.meter is not None:
        meter = df["meter"].astype(object).eq(m.meter) | df["meter_id"].astype(object).eq(m.meter)
        mask &= meter.to_numpy(dtype=bool, na_value=False)
    if m.tag is not None and len(df):
        # No rows: "no data". With rows, check_columns has refused a frame without
        # the column; a team's frame is checked again here.
        require_columns(df, ["billing_tag"], "tag")
        tag = df["billing_tag"].astype(object).eq(m.tag)
        mask &= tag.to_numpy(dtype=bool, na_value=False)
    return mask


def _freshness(provider_rows: pd.DataFrame, now: pd.Timestamp) -> Freshness:
    """The provider's freshness: as of the end of its newest data (else ``now``)."""
    if len(provider_rows):
        return freshness(provider_rows)
    return freshness(provider_rows, as_of=now)


def _evaluate_one(
    m: Monitor,
    df: pd.DataFrame,
    now: pd.Timestamp,
    prices: PriceBook | None,
    dashboard_url: str | None,
) -> MonitorState:
    if m.team is not None:  # a team budget: its own rows and its share of shared ones (issue 20)
        df = team_frame(df, m.rules, m.team, prices=prices, strict=False)
    provider_rows = df.loc[(df["provider"] == m.provider).to_numpy(dtype=bool, na_value=False)]
    fresh = _freshness(provider_rows, now)
    assert fresh.period_start is not None and fresh.period_end is not None
    start, end = fresh.period_start, fresh.period_end
    mask = _mask(provider_rows, m)
    rows = provider_rows.loc[mask]
    until = fresh.as_of if len(provider_rows) else None
    in_period = ((rows["period_start"] >= start) & (rows["period_start"] < end)).to_numpy()
    inside = rows.loc[in_period]
    if m.kind == "anomaly":
        return _anomaly_state(m, rows, start, end, until, dashboard_url, fresh)
    projected_cost: float | None = None
    if m.money:
        values, unit, projected_cost = _money(m, provider_rows, inside, prices, start)
        all_values = None
    else:
        all_values, unit = _quantity(m, provider_rows, mask)
        values = all_values[mask][in_period]
    if not len(inside):
        return MonitorState(
            m,
            start,
            end,
            "no data",
            used=0.0,
            limit=m.limit,
            unit=unit,
            data_until=until,
            crossed={_label(lv): None for lv in m.levels or ()},
            fresh=fresh,
        )
    day = pd.DatetimeIndex(inside["period_start"].dt.floor("D"))
    daily = pd.Series(values, index=day).groupby(level=0).sum().sort_index()
    cumulative = daily.cumsum().cummax()
    limit = float(m.limit) if m.limit else None
    assert limit is not None
    crossed: dict[str, pd.Timestamp | None] = {}
    for level in m.levels or ():
        hit = cumulative[cumulative >= limit * level / 100.0 * (1 - 1e-12)]
        crossed[_label(level)] = pd.Timestamp(hit.index[0]) if len(hit) else None
    numbers: dict[str, Any] = {}
    if all_values is not None:
        numbers = _forecast(m, provider_rows, all_values, fresh, limit)
        used = numbers.pop("used")
    else:
        used = float(daily.sum())
        if projected_cost is not None:
            projected = max(projected_cost, used)
            numbers = {
                "forecast": projected,
                "forecast_percent": projected / limit * 100.0,
            }
    account = _account_label(m, inside)
    top = _top(m, inside, values)
    state = MonitorState(
        m,
        start,
        end,
        "ok",
        used=used,
        limit=limit,
        unit=unit,
        crossed=crossed,
        data_until=until,
        top=top,
        account=account,
        example_prices=bool(m.money and (prices is None or prices.example)),
        fresh=fresh,
        **numbers,
    )
    state = MonitorState(**{**state.__dict__, "status": _status(state)})
    alerts = (
        _level_alerts(state, dashboard_url)
        if m.kind == "budget"
        else _forecast_alerts(state, dashboard_url)
    )
    return MonitorState(**{**state.__dict__, "alerts": tuple(alerts)})


def _status(state: MonitorState) -> str:
    """ok, warning, over; a forecast monitor says when its forecast crosses a level."""
    percent = state.percent
    if percent >= 100.0 * (1 - 1e-12):
        return "over"
    if state.monitor.kind == "forecast" and _forecast_levels(state):
        return "forecast over" if _forecast_levels(state)[-1] >= 100 else "forecast warning"
    return "warning" if any(v is not None for v in state.crossed.values()) else "ok"


def _forecast_levels(state: MonitorState) -> list[float]:
    """The levels not crossed yet that the month-end forecast reaches."""
    out = []
    for label, when in state.crossed.items():
        level = float(label.split()[0])
        if when is None and state.forecast_percent >= level * (1 - 1e-12):
            out.append(level)
    return out


def status_text(state: MonitorState) -> str:
    """'forecast over · 20.1 % used · forecast 117.3 % by Dec 31, runs out on Dec 27 · data as of ...'.

    What ``check`` prints and the notebook's table shows: the status and the numbers it rests on.
    """
    parts = [state.status]
    if state.percent == state.percent:
        parts.append(f"{state.percent:.1f} % used")
    if state.forecast_percent == state.forecast_percent:
        text = f"forecast {state.forecast_percent:.1f} % by {_day(state.period_end - pd.Timedelta(days=1))}"
        if state.forecast_crosses_on is not None:
            text += ", " + ran_out_text(state.forecast_crosses_on, state.as_of, what="").strip()
        parts.append(text)
    if state.fresh is not None:
        parts.append(state.fresh.text)
    return " · ".join(parts)


def _account_label(m: Monitor, rows: pd.DataFrame) -> str:
    """The monitor's account, else the one account of its rows (by name), else 'all accounts'."""
    if m.account is not None:
        return m.account
    ids = rows["account_id"].astype(object)
    if ids.nunique(dropna=False) == 1:
        names = rows["account_name"].dropna()
        if len(names):
            return str(names.iloc[0])
        return "sandbox" if pd.isna(ids.iloc[0]) else str(ids.iloc[0])
    return "all accounts"


def _quantity(m: Monitor, rows: pd.DataFrame, mask: np.ndarray) -> tuple[np.ndarray, str | None]:
    """The billable quantity of the monitor's rows (0 on the others) and its unit."""
    mine = rows.loc[mask]
    units = sorted({str(u) for u in mine["billable_unit"].dropna().unique()})
    q = rows["billable_quantity"].to_numpy(dtype=np.float64)
    if m.unit is not None:
        rows_unit = (
            rows["billable_unit"].astype(object).eq(m.unit).to_numpy(dtype=bool, na_value=False)
        )
        return np.nan_to_num(np.where(mask & rows_unit, q, 0.0)), m.unit
    if len(units) > 1:
        raise UnitMismatch(units, hint=f"monitor {m.name!r}: add meter= or unit= to watch one unit")
    return np.nan_to_num(np.where(mask, q, 0.0)), (units[0] if units else None)


def _money(
    m: Monitor,
    provider_rows: pd.DataFrame,
    inside: pd.DataFrame,
    prices: PriceBook | None,
    start: pd.Timestamp,
) -> tuple[np.ndarray, str | None, float | None]:
    """Row costs (priced on the whole provider frame, so Particle blocks count the account).

    Also the month-end cost forecast of ``ua.costs`` (which prices the projected
    quantity, so Particle's blocks step as they will) when the monitor watches
    whole accounts; ``None`` when it narrows to a product, tag or meter.
    """
    if not len(inside):
        return np.zeros(0), m.currency, None
    result = (
        None
        if "allocated_cost" in inside.columns
        else price_rows(provider_rows, prices, events=m.events or None)
    )
    # A team's rows come with their allocated cost (priced on the whole account).
    priced = inside.assign(cost=inside["allocated_cost"]) if result is None else result.rows
    cost = priced.loc[inside.index, "cost"].to_numpy(dtype=np.float64)
    projected: float | None = None
    if result is not None and m.product is None and m.tag is None and m.meter is None:
        fc = result.forecast
        fc = fc[fc["month"] == start]
        if m.account is not None:
            fc = fc[fc["account_id"].astype(object) == m.account]
        if len(fc) and fc["projected"].notna().all():
            projected = float(fc["projected"].sum())
    currencies = sorted({str(c) for c in priced.loc[inside.index, "currency"].dropna().unique()})
    if len(currencies) > 1:
        raise UnitMismatch(currencies, hint=f"monitor {m.name!r}: costs in several currencies")
    currency = currencies[0] if currencies else m.currency
    if m.currency is not None and currency is not None and currency != m.currency:
        raise UnitMismatch(
            [currency, m.currency], hint=f"monitor {m.name!r} budgets in {m.currency}"
        )
    return np.nan_to_num(cost), currency, projected


def _forecast(
    m: Monitor, provider_rows: pd.DataFrame, values: np.ndarray, fresh: Freshness, limit: float
) -> dict[str, Any]:
    """Use so far and the month-end forecast: :func:`usage_analysis.forecast` on the
    provider's rows (the monitor's quantity, 0 elsewhere), as of the provider's data."""
    frame = provider_rows.assign(billable_quantity=values, billable_unit="x")
    fc = forecast_quantity(
        frame, freq="MS", as_of=fresh.as_of, allowance=limit, events=m.events or None
    )
    row = fc.iloc[0]
    when = row["runs_out_on"]
    projected = float(row["projected"])
    return {
        "used": float(row["used"]),
        "forecast": projected,
        "forecast_lower": float(row["lower"]),
        "forecast_upper": float(row["upper"]),
        "forecast_percent": float(row["projected_percent"]),
        "forecast_crosses_on": None if pd.isna(when) else pd.Timestamp(when),
    }


def _top(m: Monitor, rows: pd.DataFrame, values: np.ndarray) -> str | None:
    if not len(rows) or not np.nansum(values) > 0:
        return None
    if rows["resource_id"].notna().any():
        names = (
            rows["resource_name"]
            .astype(object)
            .where(rows["resource_name"].notna(), rows["resource_id"].astype(object))
        )
        noun = _RESOURCE_NOUN[m.provider]
    else:
        names = (
            rows["meter"]
            .astype(object)
            .where(rows["meter"].notna(), rows["meter_id"].astype(object))
        )
        noun = "meter"
    totals = pd.Series(values, index=names.to_numpy()).groupby(level=0).sum()
    if not len(totals):
        return None
    name = totals.idxmax()
    share = totals.max() / np.nansum(values) * 100.0
    return f"top {noun} {name} ({share:.0f} %)"


def _label(level: float) -> str:
    return f"{level:g} %"


def _day(ts: pd.Timestamp | None) -> str:
    return f"{ts:%b} {ts.day}" if ts is not None else "?"


def _subject(state: MonitorState) -> str:
    m = state.monitor
    who = state.account or m.account or "all accounts"
    scope = [x for x in (m.product, m.tag, m.meter) if x]
    return f"{_PROVIDER_NAMES[m.provider]} {who}" + (f" ({', '.join(scope)})" if scope else "")


def _limit_text(state: MonitorState) -> str:
    m = state.monitor
    if m.money:
        currency = state.unit or m.currency or ""
        symbol = _SYMBOLS.get(currency)
        amount = f"{symbol}{state.limit:,.2f}" if symbol else f"{state.limit:,.2f} {currency}"
        return f"the {amount} budget" + (" (EXAMPLE prices)" if state.example_prices else "")
    unit = state.unit or ""
    if m.plan == "basic":
        blocks = f"{m.blocks} blocks of the " if m.blocks > 1 else ""
        return f"{blocks}the Basic plan's {state.limit:,.0f} {unit}".replace("the the", "the")
    if m.plan == "free":
        return f"the Free plan's {state.limit:,.0f} {unit}"
    return f"the {state.limit:,.0f} {unit} allowance"


def _fresh_text(state: MonitorState) -> str:
    """'; data as of 2026-12-07 00:00 UTC' and the provisional days, if any."""
    fresh = state.fresh
    if fresh is None or fresh.as_of is None:
        return ""
    text = f"; {fresh.text}"
    if fresh.provisional and fresh.complete_until is not None:
        text += f" (days from {_day(fresh.complete_until)} provisional)"
    return text


def _forecast_text(state: MonitorState) -> str:
    """'forecast 117.3 % by Dec 31' (the same figure the overview shows, one decimal)."""
    return (
        f"forecast {state.forecast_percent:.1f} % by "
        f"{_day(state.period_end - pd.Timedelta(days=1))}"
    )


def _tail(state: MonitorState, dashboard_url: str | None) -> str:
    parts = []
    if state.forecast_percent == state.forecast_percent:  # not NaN
        parts.append(_forecast_text(state))
    if state.top:
        parts.append(state.top)
    text = "; " + "; ".join(parts) if parts else ""
    text += _fresh_text(state)
    if dashboard_url:
        text += f" — {dashboard_url}"
    return text


def _level_alerts(state: MonitorState, dashboard_url: str | None) -> list[Alert]:
    alerts = []
    for label, when in state.crossed.items():
        if when is None:
            continue
        message = (
            f"{_subject(state)}: {label} of {_limit_text(state)} used on {_day(when)}"
            f"{_tail(state, dashboard_url)}"
        )
        alerts.append(Alert(state.monitor.name, label, state.period, "level", message))
    return alerts


def _forecast_alerts(state: MonitorState, dashboard_url: str | None) -> list[Alert]:
    alerts = []
    so_far = _day(state.data_until - pd.Timedelta(days=1)) if state.data_until else "?"
    for level in _forecast_levels(state):
        label = _label(level)
        around = (
            ", " + ran_out_text(state.forecast_crosses_on, state.as_of, what="").strip()
            if level == 100 and state.forecast_crosses_on is not None
            else ""
        )
        message = (
            f"{_subject(state)}: {state.status}: {_forecast_text(state)} of "
            f"{_limit_text(state)}{around} (alert level {label}); "
            f"{state.percent:.1f} % used by {so_far}"
            + (f"; {state.top}" if state.top else "")
            + _fresh_text(state)
            + (f" — {dashboard_url}" if dashboard_url else "")
        )
        alerts.append(
            Alert(state.monitor.name, f"forecast {label}", state.period, "forecast", message)
        )
    return alerts


def _anomaly_state(
    m: Monitor,
    rows: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    until: pd.Timestamp | None,
    dashboard_url: str | None,
    fresh: Freshness,
) -> MonitorState:
    if not len(rows):
        return MonitorState(m, start, end, "no data", data_until=until, fresh=fresh)
    quantity = "billable_quantity" if rows["billable_quantity"].notna().any() else "quantity"
    unit_col = "billable_unit" if quantity == "billable_quantity" else "unit"
    by = [m.by, unit_col] if m.by != unit_col else [m.by]
    options: dict[str, Any] = {"since": start}
    if m.threshold is not None:
        options["threshold"] = m.threshold
    found = find_anomalies(rows, by=by, quantity=quantity, **options)
    found = found[(found["day"] >= start) & (found["day"] < end)]
    # One alert per runaway series and month: its most striking day (found is by score).
    found = found.drop_duplicates(subset=[m.by], keep="first")
    noun = _RESOURCE_NOUN[m.provider] if m.by == "resource_id" else m.by.replace("_", " ")
    account = _account_label(m, rows)
    names: dict[Any, Any] = {}
    if m.by == "resource_id":
        named = rows.loc[rows["resource_name"].notna(), ["resource_id", "resource_name"]]
        names = dict(named.astype(object).drop_duplicates("resource_id").itertuples(index=False))
    alerts = []
    for r in found.to_dict("records"):
        explanation = str(r["explanation"])
        name = names.get(r[m.by])
        if isinstance(name, str) and name and name != r[m.by]:
            explanation = explanation.replace(str(r[m.by]), name, 1)
        message = f"{_PROVIDER_NAMES[m.provider]} {account}: runaway {noun}: {explanation}"
        if fresh.as_of is not None:
            message += f"; {fresh.text}"
        if dashboard_url:
            message += f" — {dashboard_url}"
        alerts.append(Alert(m.name, str(r[m.by]), f"{start:%Y-%m}", "anomaly", message))
    return MonitorState(
        m,
        start,
        end,
        "anomaly" if alerts else "ok",
        data_until=until,
        fresh=fresh,
        alerts=tuple(alerts),
    )
