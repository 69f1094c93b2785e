"""The command line as a user meets it: file names, empty reports, help, errors, jobs, env file."""

from __future__ import annotations

import argparse
import io
import os
import stat
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from usage_analysis import read_report
from usage_analysis.cli import build_parser, in_flags
from usage_analysis.cli import main as cli_main
from usage_analysis.clients import ParticleClient
from usage_analysis.clients._clock import FakeClock
from usage_analysis.clients.cli import _range
from usage_analysis.clients.job import _Progress
from usage_analysis.defaults import DEMO_POLL_SCHEDULE, POLL_SCHEDULE_ENV
from usage_analysis.emulator import Emulator
from usage_analysis.emulator.cli import client_env, write_env_file
from usage_analysis.errors import InvalidParameter
from usage_analysis.widgets import ReportRequester

FAST = "0.2"


@pytest.fixture
def env(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = client_env(emu, "instant")
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def fetch(*args: str) -> int:
    return cli_main(["fetch", *args, "--schedule", FAST, "--no-progress"])


# --------------------------------------------------------------------------- --out names


@pytest.mark.slow
def test_a_gzipped_here_report_is_decompressed_into_a_csv_name(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain, packed = tmp_path / "here.csv", tmp_path / "here.csv.gz"
    dates = ["--start", "2026-10-01", "--end", "2026-10-03"]
    assert fetch("here", *dates, "--out", str(plain)) == 0
    assert fetch("here", *dates, "--out", str(packed)) == 0
    assert plain.read_bytes()[:2] != b"\x1f\x8b"
    assert packed.read_bytes()[:2] == b"\x1f\x8b"  # the file as sent
    assert "decompressed from gzip" in capsys.readouterr().out
    # the same rows either way
    assert len(pd.read_csv(plain)) == len(read_report(packed)) > 0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("provider", "name"),
    [("here", "here.json"), ("informatica", "export.csv")],
)
def test_a_name_that_would_misdescribe_the_bytes_is_refused(
    env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    provider: str,
    name: str,
) -> None:
    out = tmp_path / name
    code = fetch(provider, "--start", "2026-10-01", "--end", "2026-10-02", "--out", str(out))
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("usage-analysis: --out:")
    assert (".zip" if provider == "informatica" else ".csv.gz") in err
    assert not out.exists()
    assert not list(tmp_path.glob(".*.part"))


# --------------------------------------------------------------------------- empty report


def test_an_empty_report_warns(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "nothing.csv"
    code = fetch(
        "here",
        "--start",
        "2026-10-01",
        "--end",
        "2026-10-02",
        "--app-id",
        "no-such-app-0000000000",
        "--out",
        str(out),
    )
    assert code == 0
    err = capsys.readouterr().err
    assert "has no usage rows" in err and "2026-10-01 to 2026-10-02" in err


def test_a_report_with_rows_does_not_warn(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "some.csv"
    assert fetch("here", "--start", "2026-10-01", "--end", "2026-10-01", "--out", str(out)) == 0
    assert "no usage rows" not in capsys.readouterr().err


# --------------------------------------------------------------------------- help and ranges


@pytest.mark.parametrize(
    ("provider", "words"),
    [
        ("particle", "current billing period"),
        ("here", "1st of this month (UTC)"),
        ("informatica", "today (UTC)"),
    ],
)
def test_help_states_the_default_date_range(
    provider: str, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["fetch", provider, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert words in text


def test_here_and_informatica_default_to_this_month_so_far() -> None:
    args = build_parser().parse_args(["fetch", "here", "--out", "x.csv"])
    assert _range(args, today=date(2026, 11, 17)) == ("2026-11-01", "2026-11-17")
    args = build_parser().parse_args(["fetch", "informatica", "--end", "2026-10-20", "--out", "x"])
    assert _range(args, today=date(2026, 11, 17)) == ("2026-10-01", "2026-10-20")
    args = build_parser().parse_args(["fetch", "particle", "--out", "x.csv"])
    assert _range(args) == (None, None)  # the client asks the agreement for its period


# --------------------------------------------------------------------------- errors in flags


def test_errors_name_flags_and_variables_not_python_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HERE_TOKEN", "a-token-0123456789")
    assert fetch("here", "--out", str(tmp_path / "x.csv")) == 1
    err = capsys.readouterr().err
    assert "--realm-id" in err and "HERE_REALM_ID" in err and "realm_id=" not in err
    assert fetch("particle", "--out", str(tmp_path / "x.csv")) == 1
    err = capsys.readouterr().err
    assert "PARTICLE_ACCESS_TOKEN" in err and "token=" not in err
    monkeypatch.setenv("PARTICLE_ACCESS_TOKEN", "a-token-0123456789")
    assert fetch("particle", "--start", "2026-10-01", "--out", str(tmp_path / "x.csv")) == 1
    err = capsys.readouterr().err
    assert err.startswith("usage-analysis: --end:"), err


def test_in_flags_rewrites_arguments_the_cli_has_and_drops_secret_ones() -> None:
    flags = {"realm_id": "--realm-id", "start": "--start"}
    start_error = InvalidParameter("start", "give both")
    assert in_flags(str(start_error), flags, start_error) == "--start: give both"
    assert (
        in_flags("no HERE realm id: pass realm_id= or set HERE_REALM_ID", flags)
        == "no HERE realm id: pass --realm-id or set HERE_REALM_ID"
    )
    assert (
        in_flags(
            "no HERE token: pass token= or set HERE_TOKEN, or give keys with credentials= "
            "or HERE_CREDENTIALS",
            flags,
        )
        == "no HERE token: set HERE_TOKEN, or give keys with HERE_CREDENTIALS"
    )


# --------------------------------------------------------------------------- jobs


def test_jobs_show_kind_range_readable_times_and_paths(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "p.csv"
    dates = ["--start", "2026-07-01", "--end", "2026-07-02"]
    assert fetch("particle", *dates, "--report-type", "products", "--out", str(out)) == 0
    capsys.readouterr()
    assert cli_main(["jobs", "--csv", str(tmp_path / "jobs.csv")]) == 0
    text = capsys.readouterr().out
    lines = [line for line in text.splitlines() if "particle" in line and "products" in line]
    assert lines, text
    row = lines[-1]
    assert "2026-07-01 to 2026-07-02" in row
    assert " UTC" in row and "+00:00" not in row and "T" not in row.split("UTC")[0][-20:]
    assert "kB" in row or " B " in row
    home = str(Path.home())
    assert home not in row  # paths are shortened (relative or ~/)
    table = pd.read_csv(tmp_path / "jobs.csv")
    requested = str(table["requested_at"].iloc[-1])
    assert len(requested) == len("2026-07-01 00:00:00") and "Z" not in requested


# --------------------------------------------------------------------------- progress


def test_the_progress_bar_counts_down_to_the_next_status_check() -> None:
    clock = FakeClock()
    sink = io.StringIO()
    bar = _Progress(True, total=1, desc="report", file=sink, mininterval=0, ascii=True)
    bar.sleep(3.5, clock, "pending")
    bar.close()
    assert clock.sleeps == [0.5, 1.0, 1.0, 1.0]
    text = sink.getvalue()
    for left in (4, 3, 2, 1):
        assert f"pending; next check in {left} s" in text
    silent = _Progress(False)
    silent.sleep(3.5, clock, "pending")
    assert clock.sleeps[-1] == 3.5  # no bar: one sleep


# --------------------------------------------------------------------------- emulator env file


def test_the_env_file_carries_the_org_and_a_fast_poll_schedule(emu: Emulator) -> None:
    values = client_env(emu, "fast")
    assert values["PARTICLE_ORG"] == emu.credentials["particle"]["org"]
    assert values[POLL_SCHEDULE_ENV] == DEMO_POLL_SCHEDULE
    assert client_env(emu, "realistic")[POLL_SCHEDULE_ENV] != DEMO_POLL_SCHEDULE


def test_the_env_file_is_owner_only_even_when_it_existed(tmp_path: Path) -> None:
    path = tmp_path / "emulator.env"
    path.write_text("OLD=1\n")
    os.chmod(path, 0o644)
    write_env_file(path, {"PARTICLE_ORG": "acme", "QUOTE": "it's"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "PARTICLE_ORG='acme'\nQUOTE='it'\\''s'\n"
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob(".*.part"))


# --------------------------------------------------------------------------- requester hint


def test_a_404_for_a_wrong_org_speaks_of_the_org_not_of_expired_reports(emu: Emulator) -> None:
    creds = emu.credentials["particle"]
    client = ParticleClient(token=creds["token"], org=creds["org"], base_url=emu.particle_api_url)
    r = ReportRequester(client, poll_schedule=[0.1])
    r.fields["scope"].value = "org"
    r.fields["org"].value = "no-such-org"
    r.scope_button.click()
    text = "\n".join(r.messages.lines)
    assert "no-such-org" in text and "organization" in text
    assert "expire" not in text


def test_the_countdown_ends_on_a_clock_far_from_zero() -> None:
    # A float clock at 1e9 s cannot move by 1e-13: the loop must not wait for that.
    clock = FakeClock()
    clock.sleep(1e9)
    bar = _Progress(True, total=1, file=io.StringIO())
    bar.sleep(2.3, clock, "pending")
    bar.close()
    assert sum(clock.sleeps[1:]) == pytest.approx(2.3, abs=1e-3)


# --------------------------------------------------------------------------- options and dates


def _parsers(parser: argparse.ArgumentParser, path: str = "usage-analysis") -> Iterator[Any]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_option_of_every_command_has_help() -> None:
    seen = 0
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
                continue
            seen += 1
            name = "/".join(action.option_strings) or action.dest
            assert action.help and action.help.strip(), f"{path} {name} has no help"
    assert seen > 60  # the whole tree was walked


def test_start_and_end_mean_the_same_in_every_command_and_the_help_says_which() -> None:
    found = []
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if "--end" in action.option_strings:
                found.append(path)
                assert "included" in (action.help or ""), path
            if "--start" in action.option_strings:
                assert "included" in (action.help or ""), path
    assert {"usage-analysis export", "usage-analysis fetch here"} <= set(found)


@pytest.mark.parametrize(
    "command", [["export", "--out", "x.csv"], ["fetch", "here", "--out", "x.csv"]]
)
@pytest.mark.parametrize("flag", ["--start", "--end"])
def test_a_bad_day_is_named_by_its_flag(
    command: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        cli_main([*command, flag, "2026-13-01"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: expected a day as YYYY-MM-DD" in err and "2026-13-01" in err
    assert "Traceback" not in err


SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
PARTICLE_SAMPLE = SAMPLE / "particle_devices_2026-09-01_2026-11-20.csv"


def test_export_of_a_missing_file_or_a_folder_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "focus.csv")
    assert cli_main(["export", str(tmp_path / "nope.csv"), "--out", out]) == 1
    assert f"INPUTS: no such file: {tmp_path / 'nope.csv'}" in capsys.readouterr().err
    assert cli_main(["export", str(tmp_path), "--out", out]) == 1
    assert "is a folder" in capsys.readouterr().err
    assert cli_main(["export", str(PARTICLE_SAMPLE), "--out", str(tmp_path)]) == 1
    assert "--out" in capsys.readouterr().err
    assert cli_main(["export", str(PARTICLE_SAMPLE), "--out", str(tmp_path / "a" / "b")]) == 1
    assert "--out: expected FILE.csv or FILE.parquet" in capsys.readouterr().err
    assert not (tmp_path / "focus.csv").exists()


@pytest.mark.slow
def test_export_to_a_missing_folder_makes_it_and_end_is_the_last_day_included(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "new" / "folder" / "focus.csv"
    args = ["export", str(PARTICLE_SAMPLE), "--out", str(out)]
    assert cli_main([*args, "--start", "2026-10-01", "--end", "2026-10-02"]) == 0
    assert "warning" not in capsys.readouterr().err
    focus = pd.read_csv(out)
    days = sorted(
        pd.to_datetime(focus["ChargePeriodStart"], utc=True).dt.strftime("%Y-%m-%d").unique()
    )
    assert days == ["2026-10-01", "2026-10-02"]  # --end's day is in


@pytest.mark.slow
def test_an_end_in_the_future_is_warned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "focus.csv"
    future = (date.today().replace(day=1) + pd.DateOffset(months=14)).date().isoformat()
    assert cli_main(["export", str(PARTICLE_SAMPLE), "--out", str(out), "--end", future]) == 0
    err = capsys.readouterr().err
    assert f"--end {future} is in the future" in err
    assert (
        cli_main(
            [
                "export",
                str(PARTICLE_SAMPLE),
                "--out",
                str(out),
                "--start",
                future,
                "--end",
                "2026-10-01",
            ]
        )
        == 1
    )
    assert "--start" in capsys.readouterr().err


def test_the_size_printed_for_a_decompressed_download_is_the_files(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "here.csv"
    assert fetch("here", "--start", "2026-10-01", "--end", "2026-10-03", "--out", str(plain)) == 0
    out = capsys.readouterr().out
    assert "decompressed from gzip" in out
    assert f"; {plain.stat().st_size:,} bytes (" in out
    assert "bytes as sent" in out


def test_fetch_to_a_folder_is_a_clear_error_before_anything_is_requested(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No credentials at all: the folder is refused first, naming --out.
    assert fetch("here", "--out", str(tmp_path)) == 1
    err = capsys.readouterr().err
    assert f"--out: {tmp_path} is a folder" in err and "Traceback" not in err
