"""Budget monitors against the emulator: one message per crossed level, none repeated, no secret.

A webhook receiver on 127.0.0.1 stands in for Slack/Teams: apprise's ``json://``
URL posts each alert to it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from server_helpers import free_port

import usage_analysis as ua
from usage_analysis.cli import main
from usage_analysis.clients import FakeClock, ParticleClient
from usage_analysis.emulator import Emulator
from usage_analysis.errors import InvalidParameter, ReportParseError
from usage_analysis.monitors import (
    Monitor,
    MonitorSet,
    check,
    evaluate,
    load_monitors,
    state_table,
)
from usage_analysis.monitors.notify import AlertState, plan_messages
from usage_analysis.schema import coerce_unified

HOOK_SECRET = "hk-7f3c9a1e5b2d4c60"  # a token in the webhook path, like a Slack URL's
NOV_20 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
DEC_1 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


class Receiver:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        received = self.messages

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                received.append({"path": self.path, **json.loads(self.rfile.read(length))})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hooks/{HOOK_SECRET}"

    def bodies(self) -> list[str]:
        return [m["message"] for m in self.messages]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


@pytest.fixture(scope="module")
def emulator_options() -> dict[str, Any]:
    """This module's ``emu`` (tests/conftest.py) with its clock at NOV_20."""
    return {"now": NOV_20}


@pytest.fixture
def particle(emu: Emulator) -> Iterator[ParticleClient]:
    creds = emu.credentials["particle"]
    with ParticleClient(
        token=creds["token"], org=creds["org"], base_url=emu.particle_api_url, clock=FakeClock()
    ) as client:
        yield client


def secrets_of(emu: Emulator) -> list[str]:
    c = emu.credentials
    return [
        c["particle"]["token"],
        c["here"]["token"],
        c["here"]["access_key_secret"],
        c["informatica"]["password"],
        HOOK_SECRET,
    ]


@pytest.mark.slow
def test_one_message_per_crossed_level_none_repeated_and_forecast_first(
    emu: Emulator, particle: ParticleClient, receiver: Receiver, tmp_path: Path
) -> None:
    root = tmp_path / "archive"
    org = emu.credentials["particle"]["org"]
    # What the archive will hold on Nov 20: Nov 1..19. The allowance is set so that
    # 70 % and 90 % are crossed and 100 % is not (yet).
    ua.refresh("particle", start="2026-09-20", until="2026-11-20", client=particle, archive=root)
    nov = ua.history(archive=root, start="2026-11-01", end="2026-11-20")
    used = float(nov["billable_quantity"].sum())
    allowance = round(used / 0.95)
    monitors = MonitorSet(
        (
            Monitor("ops", "budget", "particle", account=org, allowance=allowance),
            Monitor("ops forecast", "forecast", "particle", account=org, allowance=allowance),
        ),
        notify=(receiver.url,),
        dashboard_url="http://localhost:8866/dashboard",
    )
    state = tmp_path / "state.json"
    clients = {"particle": particle}

    first = check(monitors, clients=clients, archive=root, now=NOV_20, state_path=state)

    assert first.errors == []
    bodies = receiver.bodies()
    assert len(bodies) == 3, bodies
    level_70 = [b for b in bodies if ": 70 % of the" in b]
    level_90 = [b for b in bodies if ": 90 % of the" in b]
    forecast = [b for b in bodies if "(alert level 100 %)" in b]
    assert len(level_70) == len(level_90) == len(forecast) == 1
    budget = next(s for s in first.states if s.monitor.name == "ops")
    assert budget.status == "warning"
    assert budget.crossed["100 %"] is None  # the forecast fires before the level is crossed
    crossed_90 = budget.crossed["90 %"]
    assert crossed_90 is not None
    assert f"used on {crossed_90:%b} {crossed_90.day}" in level_90[0]
    assert "forecast " in level_90[0] and "top device " in level_90[0]
    assert level_90[0].endswith("— http://localhost:8866/dashboard")
    assert first.exit_code == 0
    assert all(m["path"] == f"/hooks/{HOOK_SECRET}" for m in receiver.messages)

    # A second run in the same state sends nothing.
    second = check(monitors, clients=clients, archive=root, now=NOV_20, state_path=state)
    assert second.sent == [] and second.errors == []
    assert len(receiver.messages) == 3

    # Dec 1: November is complete and over budget. Only the 100 % level is new;
    # the forecast that came true is not "resolved".
    emu.advance((DEC_1 - emu.now()).total_seconds())
    later = check(monitors, clients=clients, archive=root, now=DEC_1, state_path=state)
    assert later.errors == []
    new = receiver.bodies()[3:]
    assert len(new) == 1 and ": 100 % of the" in new[0], new
    assert later.over and later.exit_code == 2
    table = later.table()
    row = table.set_index("monitor").loc["ops"]
    assert row["status"] == "over"
    assert row["crossed 70 %"] <= row["crossed 90 %"] <= row["crossed 100 %"]

    everything = json.dumps(receiver.messages) + state.read_text()
    for secret in secrets_of(emu):
        assert secret not in everything.replace(f"/hooks/{HOOK_SECRET}", "")


@pytest.mark.slow
def test_check_command_exits_non_zero_over_budget_and_prints_no_secret(
    emu: Emulator,
    receiver: Receiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in emu.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PARTICLE_ORG", emu.credentials["particle"]["org"])
    monkeypatch.setenv("USAGE_ANALYSIS_HOME", str(tmp_path / "home"))
    monitors = tmp_path / "monitors.toml"
    monitors.write_text(
        f'notify = ["{receiver.url}"]\n'
        "[[monitor]]\n"
        'name = "acme data operations"\n'
        'kind = "budget"\n'
        'provider = "particle"\n'
        "allowance = 1000\n"
        "levels = [50, 100]\n"
    )
    archive = tmp_path / "archive"
    args = [
        "check",
        "--monitors",
        str(monitors),
        "--archive",
        str(archive),
        "--now",
        "2026-11-20T06:00:00Z",
    ]
    code = main(args)
    out = capsys.readouterr()
    used = ua.history(archive=archive, start="2026-11-01")["billable_quantity"].sum()
    assert used >= 1000  # the emulator's account used more than the allowance
    assert code == 2, out
    assert len(receiver.messages) == 2  # 50 % and 100 %
    assert all("of the 1,000 data operations allowance" in b for b in receiver.bodies())
    assert main(args) == 2  # still over, nothing new sent
    assert len(receiver.messages) == 2
    out2 = capsys.readouterr()
    text = out.out + out.err + out2.out + out2.err + json.dumps(receiver.messages)
    for secret in secrets_of(emu):
        assert secret not in text.replace(f"/hooks/{HOOK_SECRET}", "")
    assert (tmp_path / "home" / "monitors-state.json").exists()


def unified(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df["period_start"] = pd.to_datetime(df["period_start"], utc=True)
    df["period_end"] = df["period_start"] + pd.Timedelta(days=1)
    df["quantity"] = df["billable_quantity"]
    df["unit"] = df["billable_unit"]
    return coerce_unified(df)


def ops(day: str, qty: float, device: str = "gw-1") -> dict[str, Any]:
    return {
        "provider": "particle",
        "account_id": "acme-iot",
        "resource_id": device,
        "resource_name": device,
        "category": "device",
        "period_start": day,
        "billable_quantity": qty,
        "billable_unit": "data operations",
    }


def test_a_level_that_no_longer_holds_is_resolved_once(tmp_path: Path) -> None:
    monitor = Monitor("m", "budget", "particle", allowance=1000)
    state = AlertState.load(tmp_path / "state.json")
    high = evaluate(
        [monitor], unified([ops("2026-11-01", 500), ops("2026-11-02", 450)]), now="2026-11-03"
    )
    messages = plan_messages(high, state)
    assert sorted(m.record["level"] for m in messages) == ["70 %", "90 %"]
    for m in messages:
        state.entries[m.key] = m.record
    # The provider revised Nov 2 down: 800 in all, 90 % no longer reached.
    low = evaluate(
        [monitor], unified([ops("2026-11-01", 500), ops("2026-11-02", 300)]), now="2026-11-03"
    )
    resolved = plan_messages(low, state)
    assert len(resolved) == 1 and resolved[0].body.startswith("Resolved: ")
    assert "90 % no longer reached (80 % used)" in resolved[0].body
    state.entries[resolved[0].key] = resolved[0].record
    assert plan_messages(low, state) == []


def test_a_monitor_that_cannot_work_is_reported_without_hiding_the_others() -> None:
    rows = [
        {
            "provider": "here",
            "account_id": "realm",
            "meter": meter,
            "period_start": "2026-11-01",
            "billable_quantity": 5.0,
            "billable_unit": unit,
        }
        for meter, unit in (("Routing - Car", "Transactions"), ("Data Transfer Out", "GB"))
    ]
    mixed = Monitor("all of HERE", "budget", "here", allowance=100)  # Transactions + GB
    routing = Monitor("routing", "budget", "here", allowance=100, meter="Routing - Car")
    bad, good = evaluate([mixed, routing], unified(rows), now="2026-11-05")
    assert bad.status == "error" and "GB, Transactions" in (bad.error or "")
    assert good.status == "ok" and good.used == 5.0


def test_a_monitor_naming_a_column_the_data_lacks_fails_validation_naming_it() -> None:
    df = unified([ops("2026-11-01", 800)])
    good = Monitor("fleet", "budget", "particle", allowance=1000)
    cases = [
        (Monitor("tagged", "budget", "particle", allowance=10, tag="team-a"), "billing_tag"),
        (Monitor("by project", "anomaly", "particle", by="project"), "project"),
    ]
    for monitor, column in cases:
        with pytest.raises(InvalidParameter) as raised:
            evaluate([good, monitor], df, now="2026-11-05")
        text = str(raised.value)
        assert f"monitor {monitor.name!r}" in text and repr(column) in text
        assert "columns available: provider, account_id" in text
    # A provider with no rows is "no data", not a column to blame (its refresh may have failed).
    here = Monitor("here tag", "budget", "here", allowance=10, tag="team-a")
    (state,) = evaluate([here], df, now="2026-11-05")
    assert state.status == "no data"


def test_check_refuses_a_misconfigured_monitor_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from archive_helpers import usage as archived_usage

    from usage_analysis.archive import archive_frame

    archive = tmp_path / "archive"
    archive_frame(archived_usage("2026-11-01", "2026-11-03"), archive=archive)
    path = tmp_path / "monitors.toml"
    path.write_text(
        '[[monitor]]\nname = "fleet"\nkind = "budget"\nprovider = "particle"\nallowance = 10\n'
        '[[monitor]]\nname = "team a"\nkind = "budget"\nprovider = "particle"\n'
        'allowance = 10\ntag = "team-a"\n'
    )
    with pytest.raises(InvalidParameter, match=r"monitors\.toml: monitor 'team a'"):
        check(path, refresh=False, archive=archive, now="2026-11-04", dry_run=True)
    code = main(
        [
            "check",
            "--monitors",
            str(path),
            "--archive",
            str(archive),
            "--no-refresh",
            "--now",
            "2026-11-04T00:00:00Z",
            "--dry-run",
        ]
    )
    out = capsys.readouterr()
    assert code == 1
    assert str(path) in out.err and "'billing_tag'" in out.err and "columns available" in out.err
    assert "fleet (" not in out.out  # nothing evaluated: the file is fixed first


def test_here_rows_of_the_last_48_hours_count_as_provisional_and_rows_after_now_are_left_out() -> (
    None
):
    # Issue 19: a monitor gives the overview's numbers. HERE's newest 48 h are
    # reported use (late rows only add to them): they count, and every message says
    # they are provisional. Rows that start after ``now`` are left out.
    monitor = Monitor("h", "budget", "here", allowance=100, meter="Routing - Car")
    rows = [
        {
            "provider": "here",
            "account_id": "realm",
            "meter": "Routing - Car",
            "period_start": day,
            "billable_quantity": 60.0,
            "billable_unit": "Transactions",
        }
        for day in ("2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20")
    ]
    frame = unified(rows)
    (state,) = evaluate([monitor], frame, now="2026-11-19T18:00:00Z")
    assert state.used == 180.0  # Nov 20 starts after now; Nov 19 is still running
    assert state.fresh is not None
    assert state.fresh.as_of == pd.Timestamp("2026-11-20", tz="UTC")
    assert state.fresh.complete_until == pd.Timestamp("2026-11-18", tz="UTC")
    assert state.crossed["100 %"] == pd.Timestamp("2026-11-18", tz="UTC")
    assert state.status == "over"
    (alert,) = [a for a in state.alerts if a.level == "100 %"]
    assert "data as of 2026-11-20 00:00 UTC (days from Nov 18 provisional)" in alert.message
    table = ua.overview(frame[frame["period_start"] < "2026-11-20"])
    assert table.loc[0, "used"] == state.used
    assert table.loc[0, "forecast"] == pytest.approx(state.forecast)


def test_anomaly_monitor_names_the_runaway_device() -> None:
    days = pd.date_range("2026-10-01", "2026-11-10", freq="D").strftime("%Y-%m-%d")
    rows = [ops(d, 100.0 + (i % 3), "steady") for i, d in enumerate(days)]
    rows += [ops(d, 50.0 if d != "2026-11-08" else 5000.0, "gateway-0003") for d in days]
    (state,) = evaluate(
        [Monitor("runaways", "anomaly", "particle", account="acme-iot")],
        unified(rows),
        now="2026-11-11",
    )
    assert state.status == "anomaly"
    assert [a.level for a in state.alerts] == ["gateway-0003"]
    assert "acme-iot: runaway device: gateway-0003 used 5,000" in state.alerts[0].message


def test_monitors_file_is_checked_and_state_shows_as_a_table(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        'notify = ["json://127.0.0.1:1/x"]\n'
        '[[monitor]]\nname = "a"\nkind = "budget"\nprovider = "particle"\nallowance = 1000\n'
        '[[monitor]]\nname = "b"\nkind = "forecast"\nprovider = "informatica"\namount = 50.0\n'
    )
    mset = load_monitors(path)
    assert [m.name for m in mset.monitors] == ["a", "b"]
    assert "json://" not in repr(mset) and "127.0.0.1" not in repr(mset.notify)
    assert mset.monitors[1].levels == (100.0,)
    states = evaluate(list(mset.monitors), unified([ops("2026-11-01", 800)]), now="2026-11-02")
    table = state_table(states)
    assert table.loc[0, "status"] == "warning"
    assert table.loc[0, "crossed 70 %"] == pd.Timestamp("2026-11-01", tz="UTC")
    assert pd.isna(table.loc[0, "crossed 90 %"])
    assert table.loc[1, "status"] == "no data"

    path.write_text('[[monitor]]\nname = "a"\nkind = "budget"\nprovider = "particle"\n')
    with pytest.raises(ReportParseError, match="exactly one of allowance, plan or amount"):
        load_monitors(path)
    path.write_text('[[monitor]]\nname = "a"\nkind = "budgit"\nprovider = "particle"\n')
    with pytest.raises(ReportParseError, match="kind"):
        load_monitors(path)
    with pytest.raises(InvalidParameter, match="levels"):
        Monitor("x", "budget", "particle", allowance=5, levels=(90, 70))


@pytest.mark.slow
def test_a_bad_notify_url_is_refused_without_showing_it() -> None:
    from usage_analysis.errors import ConfigurationError
    from usage_analysis.monitors.notify import Notifier

    notifier = Notifier([f"nosuchscheme://user:{HOOK_SECRET}@host/path"])
    assert HOOK_SECRET not in repr(notifier)
    with pytest.raises(ConfigurationError) as info:
        notifier.send("title", "body")
    assert HOOK_SECRET not in str(info.value)
    assert "nosuchscheme" in str(info.value)
    with pytest.raises(ConfigurationError, match="no notification destination"):
        Notifier([]).send("title", "body")


@pytest.mark.slow
def test_a_failed_delivery_is_not_recorded_and_is_tried_again(tmp_path: Path) -> None:
    monitor = Monitor("m", "budget", "particle", allowance=1000, levels=(50,))
    frame = unified([ops("2026-11-01", 600)])
    port = free_port()  # nothing listens there: the delivery fails
    mset = MonitorSet((monitor,), notify=(f"json://127.0.0.1:{port}/hook",))
    state = tmp_path / "state.json"
    first = _check_frame(mset, frame, state)
    assert first.sent == [] and len(first.errors) == 1
    assert not state.exists() or "m|50 %" not in state.read_text()
    r = Receiver()
    try:
        mset = MonitorSet((monitor,), notify=(r.url,))
        second = _check_frame(mset, frame, state)
        assert second.sent == ["m|50 %|2026-11"] and len(r.messages) == 1
    finally:
        r.close()


def _check_frame(mset: MonitorSet, frame: pd.DataFrame, state: Path) -> Any:
    """check() on a frame put in a fresh archive, without refreshing."""
    root = state.parent / "archive"
    if not root.exists():
        ua.archive_frame(frame, report_id="test:1", account="acme-iot", archive=root)
    return check(mset, refresh=False, archive=root, now="2026-11-02T06:00:00Z", state_path=state)


@pytest.mark.slow
def test_check_dry_run_prints_the_messages_it_would_send_and_sends_none(
    emu: Emulator,
    receiver: Receiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in emu.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PARTICLE_ORG", emu.credentials["particle"]["org"])
    monkeypatch.setenv("USAGE_ANALYSIS_HOME", str(tmp_path / "home"))
    monitors = tmp_path / "monitors.toml"
    monitors.write_text(
        f'notify = ["{receiver.url}"]\n'
        "[[monitor]]\n"
        'name = "acme data operations"\n'
        'kind = "budget"\n'
        'provider = "particle"\n'
        "allowance = 1000\n"
        "levels = [50, 100]\n"
    )
    args = ["check", "--monitors", str(monitors), "--archive", str(tmp_path / "archive")]
    args += ["--now", "2026-11-20T06:00:00Z"]
    assert main([*args, "--dry-run"]) == 2
    out = capsys.readouterr().out
    dry = [line for line in out.splitlines() if line.startswith("would send: ")]
    assert len(dry) == 2, out  # 50 % and 100 %
    assert out.count("of the 1,000 data operations allowance") == 2
    assert receiver.messages == []  # nothing sent
    assert main(args) == 2  # the real run sends what the dry run printed
    assert len(receiver.messages) == 2
    for body in receiver.bodies():
        assert body.splitlines()[0] in out
