"""Team budgets: a monitor naming a team watches the team's allocated cost or usage."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from test_monitors import Receiver

import usage_analysis as ua
from usage_analysis.errors import InvalidParameter
from usage_analysis.monitors import Monitor, MonitorSet, check, evaluate, load_monitors
from usage_analysis.schema import coerce_unified

RULES = """\
[[team]]
name = "fleet"
match = { provider = "particle", product = "Trackers" }
[[team]]
name = "spare"
match = { provider = "particle", product = "Spare" }
[[shared]]
match = { provider = "particle", product = "Lab" }
split = { fleet = 3, spare = 1 }
"""


def _rows() -> pd.DataFrame:
    # 1 Nov 2026: Trackers 400 ops, Lab 200, Spare 400 -> the month's one block
    # (US$299 in the example book) is 119.60 + 59.80 + 119.60.
    rows = []
    for product, device, qty in (("Trackers", "t1", 400), ("Lab", "l1", 200), ("Spare", "s1", 400)):
        rows.append(
            {
                "provider": "particle",
                "account_id": "acme-iot",
                "product": product,
                "resource_id": device,
                "resource_name": device,
                "category": "device",
                "period_start": "2026-11-01",
                "billable_quantity": float(qty),
                "billable_unit": "data operations",
            }
        )
    df = pd.DataFrame(rows)
    df["period_start"] = pd.to_datetime(df["period_start"], utc=True)
    df["period_end"] = df["period_start"] + pd.Timedelta(days=1)
    df["quantity"] = df["billable_quantity"]
    df["unit"] = df["billable_unit"]
    return coerce_unified(df)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "allocation.toml"
    path.write_text(RULES, encoding="utf-8")
    return path


@pytest.mark.slow
def test_team_budget_covers_the_team_s_allocated_cost_and_usage(rules: Path) -> None:
    money = Monitor("fleet money", "budget", "particle", team="fleet", rules=rules, amount=200.0)
    usage = Monitor("fleet ops", "budget", "particle", team="fleet", rules=rules, allowance=1000)
    states = evaluate([money, usage], _rows(), now="2026-11-02T06:00:00Z")
    # Own 119.60 plus three quarters of the Lab's 59.80.
    assert states[0].used == pytest.approx(119.60 + 0.75 * 59.80)
    assert states[0].unit == "USD"
    assert states[1].used == pytest.approx(400 + 0.75 * 200)


@pytest.mark.slow
def test_team_budget_alerts_once_through_the_webhook(
    rules: Path, receiver: Receiver, tmp_path: Path
) -> None:
    monitors = tmp_path / "monitors.toml"
    monitors.write_text(
        f'notify = ["{receiver.url}"]\nallocation = "{rules.name}"\n'
        '[[monitor]]\nname = "fleet budget"\nkind = "budget"\nprovider = "particle"\n'
        'team = "fleet"\namount = 150.0\nlevels = [100]\n'
        '[[monitor]]\nname = "spare budget"\nkind = "budget"\nprovider = "particle"\n'
        'team = "spare"\namount = 150.0\nlevels = [100]\n',
        encoding="utf-8",
    )
    mset = load_monitors(monitors)
    archive = tmp_path / "archive"
    ua.archive_frame(_rows(), report_id="test:1", account="acme-iot", archive=archive)
    state = tmp_path / "state.json"

    def run() -> Any:
        return check(
            mset, refresh=False, archive=archive, now="2026-11-02T06:00:00Z", state_path=state
        )

    first = run()
    # fleet: 164.45 of 150 -> over; spare: 119.60 + 14.95 = 134.55 -> under.
    assert first.sent == ["fleet budget|100 %|2026-11"], first.errors
    assert len(receiver.messages) == 1
    assert "fleet budget" in receiver.messages[0]["title"] + receiver.messages[0]["message"]
    second = run()
    assert second.sent == [] and len(receiver.messages) == 1


def test_team_monitor_without_rules_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="needs the allocation rules"):
        Monitor("m", "budget", "particle", team="fleet", amount=1.0)


def test_team_monitor_names_an_unknown_team_as_an_error(rules: Path) -> None:
    m = Monitor("m", "budget", "particle", team="nobody", rules=rules, amount=1.0)
    (state,) = evaluate([m], _rows(), now="2026-11-02T06:00:00Z")
    assert state.status == "error" and "no team 'nobody'" in (state.error or "")
    assert MonitorSet((m,)).monitors[0].team == "nobody"
