"""One question, one answer (issue 19): every surface gives the same number, from the same rows.

Three worlds: two generator seeds, and one frame written here by hand (40 devices
ramping up through November after a quiet October, a day with no rows in
December, and a HERE realm whose last two days are still provisional). For every
account with an allowance, each surface is asked the same questions: the
month-end forecast as a percent of the allowance, the percent used, the day the
allowance runs out; and for money, the spend and the cost forecast. The answers
must agree: percents within 0.1 point (the surfaces show one decimal), the same
day, money to the cent.

Surfaces: ``ua.overview`` (notebook 04 and the Voila dashboard), ``ua.forecast``,
the burn-down chart's annotations, the explorer's headline, the monitors (their
state, notebook 05's table, the messages and what ``usage-analysis check``
prints), the HTML report page, ``ua.costs`` and the FOCUS export's totals.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pandas as pd
import pytest

import usage_analysis as ua
from usage_analysis import charts
from usage_analysis import sample_data as sd
from usage_analysis.demo import export_html
from usage_analysis.monitors import Monitor, evaluate, state_table
from usage_analysis.monitors.check import CheckResult, print_summary
from usage_analysis.monitors.evaluate import status_text
from usage_analysis.schema import coerce_unified
from usage_analysis.widgets.headline import Headline, compute_headline, headline_html

BOOK = {
    "particle": {"currency": "USD", "block_price": 299.0},
    "informatica": {"currency": "EUR", "ipu_price": 2.0},
}


@dataclass(frozen=True)
class Question:
    """One account and unit with an allowance: what every surface is asked about."""

    provider: str
    account: str | None
    unit: str
    allowance: float


@dataclass
class World:
    name: str
    df: pd.DataFrame
    now: pd.Timestamp
    questions: list[Question]
    allowances: dict[Any, Any]


# ----------------------------------------------------------------------------- worlds


def generated(seed: int) -> World:
    w = sd.make_world(seed)
    start, end = "2026-10-01", "2026-12-06"
    particle = ua.to_unified(ua.read_report(sd.particle_csv(sd.particle_usage(w, start, end))))
    here = ua.to_unified(ua.read_report(sd.here_csv(sd.here_usage(w, start, end))))
    members = sd.informatica_usage(w, start, end, all_linked_orgs=True)
    informatica = ua.to_unified(ua.read_report(sd.informatica_zip(members)))
    df = ua.concat([particle, here, informatica])
    nov = df[(df["period_start"] >= "2026-11-01") & (df["period_start"] < "2026-12-01")]
    questions = [Question("particle", None, "data operations", 720_000.0)]
    allowances: dict[Any, Any] = {"particle": ua.ParticlePlan.basic(blocks=1)}
    # Allowances near last month's use, so that forecasts cross 100 % in some worlds.
    for org, used in (
        nov[nov["provider"] == "informatica"]
        .groupby("account_id", observed=True)["billable_quantity"]
        .sum()
        .items()
    ):
        allowances[("informatica", org)] = round(float(used) * 0.95)
        questions.append(Question("informatica", str(org), "IPU", allowances[("informatica", org)]))
    here_nov = nov[(nov["provider"] == "here") & (nov["billable_unit"] == "Transactions")]
    realm = str(here_nov["account_id"].iloc[0])
    limit = round(float(here_nov["billable_quantity"].sum()) * 0.9)
    allowances[("here", realm, "Transactions")] = limit
    questions.append(Question("here", realm, "Transactions", limit))
    return World(f"seed {seed}", df, pd.Timestamp("2026-12-07T06:00Z"), questions, allowances)


def by_hand() -> World:
    """A ramp, a gap day and a provisional HERE tail, written out day by day."""
    rows: list[dict[str, Any]] = []

    def add(provider: str, account: str, resource: str, day: pd.Timestamp, q: float, unit: str):
        rows.append(
            {
                "provider": provider,
                "account_id": account,
                "account_name": account.upper(),
                "resource_id": resource,
                "resource_name": resource,
                "meter": "Data Operations" if provider == "particle" else "Routing - Car",
                "period_start": day,
                "period_end": day + pd.Timedelta(days=1),
                "quantity": q,
                "unit": unit,
                "billable_quantity": q,
                "billable_unit": unit,
            }
        )

    ops = "data operations"
    # October: a quiet month, 10 devices at 200 a day.
    for d in pd.date_range("2026-10-01", "2026-10-31", freq="D", tz="UTC"):
        for k in range(10):
            add("particle", "acme-iot", f"dev-{k:02d}", d, 200.0, ops)
    # November: 40 devices join one after the other, each at 900 a day once on.
    for d in pd.date_range("2026-11-01", "2026-11-30", freq="D", tz="UTC"):
        for k in range(40):
            if d.day >= 1 + (k * 3) // 4:
                add("particle", "acme-iot", f"dev-{k:02d}", d, 900.0, ops)
    # December 1-8: all 40 at 1,000 a day; Dec 4 has no rows at all (a gap day).
    for d in pd.date_range("2026-12-01", "2026-12-08", freq="D", tz="UTC"):
        if d.day == 4:
            continue
        for k in range(40):
            add("particle", "acme-iot", f"dev-{k:02d}", d, 1_000.0, ops)
    # HERE: a ramp of transactions; Dec 7 and 8 are only partly reported (48 h lag).
    for i, d in enumerate(pd.date_range("2026-10-01", "2026-12-08", freq="D", tz="UTC")):
        q = 5_000.0 + 100.0 * i
        if d.day in (7, 8) and d.month == 12:
            q *= 0.4
        add("here", "realm-1", "app-1", d, q, "Transactions")
    df = coerce_unified(pd.DataFrame(rows))
    questions = [
        Question("particle", "acme-iot", ops, 720_000.0),
        Question("here", "realm-1", "Transactions", 200_000.0),
    ]
    allowances = {"particle": ua.ParticlePlan.basic(blocks=1), ("here", "realm-1"): 200_000.0}
    return World("by hand", df, pd.Timestamp("2026-12-09T06:00Z"), questions, allowances)


@pytest.fixture(scope="module", params=["seed 11", "seed 23", "by hand"])
def world(request: pytest.FixtureRequest) -> World:
    name = request.param
    return by_hand() if name == "by hand" else generated(int(name.split()[1]))


# ----------------------------------------------------------------------------- answers


@dataclass
class Answer:
    forecast_percent: float
    percent: float | None = None
    runs_out_on: pd.Timestamp | None = None
    checks_day: bool = True


def same_account(series: pd.Series, account: str | None) -> np.ndarray:
    if account is None:
        return series.isna().to_numpy()
    return (series.astype(object) == account).to_numpy()


def day_of(text: str | None, year: int) -> pd.Timestamp | None:
    if text is None:
        return None
    return pd.Timestamp(f"{text} {year}", tz="UTC")


def provider_rows(df: pd.DataFrame, provider: str) -> pd.DataFrame:
    return df[(df["provider"] == provider).to_numpy()]


def account_rows(df: pd.DataFrame, q: Question) -> pd.DataFrame:
    rows = provider_rows(df, q.provider)
    keep = (
        same_account(rows["account_id"], q.account)
        & (rows["billable_unit"].astype(object) == q.unit).to_numpy()
    )
    return rows[keep]


def overview_answer(table: pd.DataFrame, q: Question) -> Answer:
    row = table[
        (table["provider"] == q.provider).to_numpy()
        & same_account(table["account_id"], q.account)
        & (table["unit"].astype(object) == q.unit).to_numpy()
    ]
    assert len(row) == 1, (q, table)
    r = row.iloc[0]
    assert r["allowance"] == pytest.approx(q.allowance)
    return Answer(
        float(r["forecast_percent"]),
        float(r["percent"]),
        None if pd.isna(r["runs_out_on"]) else pd.Timestamp(r["runs_out_on"]),
    )


def forecast_answer(df: pd.DataFrame, q: Question) -> Answer:
    """``ua.forecast`` per account and unit; the run-out day with the account's allowance."""
    rows = provider_rows(df, q.provider)
    fc = ua.forecast(rows, by=["account_id", "billable_unit"])
    fc = fc[same_account(fc["account_id"], q.account) & (fc["billable_unit"] == q.unit).to_numpy()]
    r = fc.iloc[0]
    mine = (
        same_account(rows["account_id"], q.account)
        & (rows["billable_unit"].astype(object) == q.unit).to_numpy()
    )
    alone = rows.assign(
        billable_quantity=np.where(mine, rows["billable_quantity"].to_numpy(), 0.0),
        billable_unit="x",
    )
    runs = ua.forecast(alone, allowance=q.allowance).iloc[0]
    assert float(runs["projected"]) == pytest.approx(float(r["projected"]))
    return Answer(
        float(r["projected"]) / q.allowance * 100,
        float(r["used"]) / q.allowance * 100,
        None if pd.isna(runs["runs_out_on"]) else pd.Timestamp(runs["runs_out_on"]),
    )


def burn_down_answer(df: pd.DataFrame, q: Question) -> Answer | None:
    if q.provider == "particle":
        fig = charts.cumulative_vs_allowance(df, plan=ua.ParticlePlan.basic(blocks=1))
    elif q.provider == "informatica":
        status = ua.ipu_status(
            df,
            entitlement=q.allowance,
            account=q.account,
            start="2026-12-01",
            end="2027-01-01",
        )
        fig = charts.cumulative_vs_allowance(df, plan=status)
    else:
        return None  # HERE bills by use: the package draws no HERE burn-down
    title = fig.layout.title.text
    note = fig.layout.title.subtitle.text
    assert "data as of " in note
    percent = float(re.search(r"\(([\d.]+) %\)$", title).group(1))  # type: ignore[union-attr]
    forecast = float(re.search(r"forecast [\d,]+ .*? \(([\d.]+) %\)", note).group(1))  # type: ignore[union-attr]
    runs = re.search(r"(?:runs|ran) out on (\w{3} \d+)", note)
    return Answer(forecast, percent, day_of(runs.group(1) if runs else None, 2026))


def headline_answer(df: pd.DataFrame, q: Question) -> Answer:
    if q.provider == "particle":
        h = compute_headline(
            account_rows(df, q), quantity="billable_quantity", plan=ua.ParticlePlan.basic(blocks=1)
        )
        assert h.percent is not None
        answer = Answer(
            (h.forecast or 0) / q.allowance * 100, h.percent, h.runs_out_on, checks_day=True
        )
    else:
        h = compute_headline(account_rows(df, q), quantity="billable_quantity", plan=None)
        # No plan: the headline has no allowance, hence no run-out day to compare.
        answer = Answer(
            (h.forecast or 0) / q.allowance * 100,
            (h.month_used or 0) / q.allowance * 100,
            checks_day=False,
        )
    assert "data as of " in headline_html(h)
    return answer


def monitor_for(q: Question) -> Monitor:
    if q.provider == "particle":
        return Monitor("fc", "forecast", "particle", plan="basic", account=q.account)
    return Monitor(
        "fc", "forecast", q.provider, account=q.account, allowance=q.allowance, unit=q.unit
    )


def monitor_answers(df: pd.DataFrame, q: Question, now: pd.Timestamp) -> list[Answer]:
    (state,) = evaluate([monitor_for(q)], df, now=now)
    assert state.error is None, state.error
    out = [Answer(state.forecast_percent, state.percent, state.forecast_crosses_on)]
    # Notebook 05's table.
    table = state_table([state]).iloc[0]
    runs = table["runs_out_on"]
    out.append(
        Answer(
            float(table["forecast_percent"]),
            float(table["percent"]),
            None if pd.isna(runs) else pd.Timestamp(runs),
        )
    )
    # What `usage-analysis check` prints.
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        print_summary(CheckResult([state]))
    printed = buffer.getvalue()
    assert status_text(state) in printed and "data as of " in printed
    out.append(text_answer(printed))
    # The status says what the forecast says.
    crosses = state.forecast_percent >= 100 and state.percent < 100
    assert (state.status == "forecast over") == crosses, (state.status, printed)
    # The message, when the forecast alerts.
    for alert in state.alerts:
        assert alert.message.count("forecast over") == 1 and "data as of " in alert.message
        out.append(text_answer(alert.message))
    return out


def text_answer(text: str) -> Answer:
    forecast = float(re.search(r"forecast ([\d.]+) %", text).group(1))  # type: ignore[union-attr]
    used = re.search(r"([\d.]+) % used", text)
    runs = re.search(r"(?:runs|ran) out on (\w{3} \d+)", text)
    return Answer(
        forecast,
        float(used.group(1)) if used else None,
        day_of(runs.group(1) if runs else None, 2026),
    )


def report_answers(table: pd.DataFrame, world: World, tmp: Path) -> str:
    """The HTML report (``export_html`` of the overview notebook): the page's text."""
    fresh = ua.freshness(world.df)
    nb = nbformat.v4.new_notebook()
    styler = charts.overview_table(table, caption=f"This month per account · {fresh.footnote}")
    cell = nbformat.v4.new_code_cell("table")
    cell.outputs = [
        nbformat.v4.new_output(
            "execute_result", data={"text/html": styler.to_html()}, execution_count=1
        )
    ]
    nb.cells.append(cell)
    page = export_html(nb, tmp / "report.html").read_text(encoding="utf-8")
    assert "data as of " in page
    return page


def close(a: Answer, b: Answer, where: str) -> None:
    assert a.forecast_percent == pytest.approx(b.forecast_percent, abs=0.1), where
    if a.percent is not None and b.percent is not None:
        assert a.percent == pytest.approx(b.percent, abs=0.1), where
    if a.checks_day and b.checks_day:
        assert a.runs_out_on == b.runs_out_on, where


# ----------------------------------------------------------------------------- the test


@pytest.mark.slow
def test_every_surface_gives_the_same_forecast_percent_and_run_out_day(
    world: World, tmp_path: Path
) -> None:
    table = ua.overview(world.df, allowances=world.allowances)
    page = report_answers(table, world, tmp_path)
    asked = 0
    for q in world.questions:
        truth = overview_answer(table, q)
        assert np.isfinite(truth.forecast_percent)
        answers = {
            "forecast": forecast_answer(world.df, q),
            "headline": headline_answer(world.df, q),
        }
        burn = burn_down_answer(world.df, q)
        if burn is not None:
            answers["burn-down"] = burn
        for k, a in enumerate(monitor_answers(world.df, q, world.now)):
            answers[f"monitor {k}"] = a
        for where, answer in answers.items():
            close(truth, answer, f"{world.name} {q} {where}")
        # The report shows the overview's numbers, with one decimal.
        assert f"{truth.forecast_percent:,.1f} %" in page
        asked += 1
    assert asked == len(world.questions) >= 2


@pytest.mark.slow
def test_some_world_runs_out_and_some_forecast_alerts() -> None:
    """The worlds are not trivial: an allowance runs out and a forecast monitor fires."""
    world = by_hand()
    table = ua.overview(world.df, allowances=world.allowances)
    assert table["runs_out_on"].notna().all()
    states = evaluate([monitor_for(q) for q in world.questions], world.df, now=world.now)
    assert [s.status for s in states] == ["forecast over", "forecast over"]
    assert all(len(s.alerts) == 1 for s in states)
    # HERE's provisional tail: the forecast counts the rate on those days, not the partial rows.
    here = states[1]
    assert here.fresh is not None and here.fresh.provisional
    assert "(days from Dec 7 provisional)" in here.alerts[0].message


@pytest.mark.slow
def test_spend_and_cost_forecast_agree_to_the_cent(world: World) -> None:
    df = world.df[(world.df["provider"] != "here").to_numpy()]
    priced = ua.costs(df, BOOK)
    # FOCUS totals per provider, account and month.
    focus = ua.to_focus(df, BOOK)
    focus_totals = focus.groupby(["BillingPeriodStart", "BillingCurrency"])["BilledCost"].sum()
    spend = priced.spend.groupby(["month", "currency"])["cost"].sum()
    assert len(spend) >= 2
    for (month, currency), cost in spend.items():
        assert round(focus_totals[(month, currency)], 2) == round(cost, 2)
    # A money monitor's spend and month-end forecast are ua.costs'.
    for provider in ("particle",):
        rows = priced.forecast[priced.forecast["provider"] == provider]
        expected_spent = float(rows["spent"].sum())
        expected_projected = float(rows["projected"].sum())
        (state,) = evaluate(
            [Monitor("money", "budget", provider, amount=10_000.0, currency="USD")],
            df,
            now=world.now,
            prices=ua.PriceBook.coerce(BOOK),
        )
        assert round(state.used, 2) == round(expected_spent, 2)
        assert round(state.forecast, 2) == round(max(expected_projected, expected_spent), 2)


@pytest.mark.slow
def test_the_overview_json_and_the_monitor_agree_after_a_round_trip(world: World) -> None:
    """What the dashboard serialises (JSON) reads back to the monitor's percent."""
    q = world.questions[0]
    table = ua.overview(world.df, allowances=world.allowances)
    payload = json.loads(table.to_json(orient="records", date_format="iso"))
    (state,) = evaluate([monitor_for(q)], world.df, now=world.now)
    (row,) = [r for r in payload if r["provider"] == q.provider and r["unit"] == q.unit]
    assert row["forecast_percent"] == pytest.approx(state.forecast_percent, abs=0.1)


# Planned changes, written as a user would: devices joining mid-month and a rate change.
EVENTS = ("+5 devices from 2026-12-15", "rate x1.3 from 2026-12-20")


def headline_as_answer(h: Headline, q: Question, where: str, *, checks_day: bool) -> Answer:
    assert h.forecast is not None, (where, h.note)
    used = h.percent if h.percent is not None else (h.month_used or 0) / q.allowance * 100
    return Answer(h.forecast / q.allowance * 100, used, h.runs_out_on, checks_day=checks_day)


@pytest.mark.slow
@pytest.mark.parametrize("events", [EVENTS, EVENTS[1:]], ids=["devices and rate", "rate"])
def test_the_explorer_headline_forecasts_planned_events_as_the_overview(
    events: tuple[str, ...],
) -> None:
    """``UsageExplorer(events=...)``: the headline's forecast is the overview's with the same events.

    The explorer's two headline paths both take them: the rows path, and the fast
    path from per-day sums (which steps aside for a change in devices: it counts devices).
    """
    from usage_analysis.widgets import UsageExplorer
    from usage_analysis.widgets._aggregate import Decoded, Selected, fast_headline
    from usage_analysis.widgets._filter import FrameFilter

    world = by_hand()
    table = ua.overview(world.df, allowances=world.allowances, events=list(events))
    plain = ua.overview(world.df, allowances=world.allowances)
    planned = tuple(ua.Event.parse(e) for e in events)
    for q in world.questions:
        truth = overview_answer(table, q)
        # The events move the forecast: the comparisons below can fail.
        assert truth.forecast_percent > overview_answer(plain, q).forecast_percent + 1
        rows = account_rows(world.df, q)
        plan = ua.ParticlePlan.basic(blocks=1) if q.provider == "particle" else None
        ff = FrameFilter(rows)
        fast = fast_headline(
            Selected(Decoded(rows, ff.day, known=ff.decoded()), None),
            quantity="billable_quantity",
            plan=plan,
            events=planned,
        )
        slow = compute_headline(rows, quantity="billable_quantity", plan=plan, events=planned)
        assert (fast is None) == (len(events) == 2)  # device events take the rows path
        assert fast is None or fast == slow
        checks_day = plan is not None  # without a plan the headline has no allowance
        close(truth, headline_as_answer(slow, q, "rows", checks_day=checks_day), f"{q} rows")
        if len(events) == 2:  # one explorer per question is enough: the paths agree above
            explorer = UsageExplorer(
                rows, plan=plan, quantity="billable_quantity", events=list(events)
            )
            try:
                got = headline_as_answer(explorer.headline, q, "explorer", checks_day=checks_day)
            finally:
                explorer.close()
            close(truth, got, f"{q} explorer")
