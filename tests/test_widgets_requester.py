"""ReportRequester headless: the form per provider, inline checks, background polling, results.

Fakes stand in for the clients where a test needs a job that never finishes or
fails on cue; the emulator tests go over real HTTP with the real clients.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from archive_helpers import usage

from usage_analysis import history
from usage_analysis.clients import HereClient, InformaticaClient, ParticleClient, PollSchedule
from usage_analysis.emulator import running
from usage_analysis.errors import InvalidParameter
from usage_analysis.schema import empty_unified
from usage_analysis.widgets import ReportRequester
from usage_analysis.widgets import requester as requester_module
from usage_analysis.widgets._forms import check_request

FAST = [0.05]  # seconds between status checks in these tests
TOKEN = "fake-token-0123456789abcdef"  # must never appear in a widget


# ----------------------------------------------------------------- fakes


class FakeJob:
    """A job that becomes ready after ``polls`` refreshes (or fails, or never finishes)."""

    def __init__(self, *, polls: int = 2, fail: bool = False, never: bool = False) -> None:
        self.id = "REPORT-1001"
        self.provider = "particle"
        self.account = "acme"
        self.path = None
        self.state = "pending"
        self.provider_state = "pending"
        self.message: str | None = None
        self.warnings: list[str] = []
        self.refreshes = 0
        self._polls, self._fail, self._never = polls, fail, never
        self.frame = empty_unified()

    @property
    def done(self) -> bool:
        return self.state in ("ready", "downloaded")

    def refresh(self) -> FakeJob:
        self.refreshes += 1
        if not self._never and self.refreshes >= self._polls:
            if self._fail:
                self.state, self.provider_state, self.message = "failed", "failed", "boom"
            else:
                self.state, self.provider_state = "ready", "available"
        return self

    def download(self, **kwargs: Any) -> None:
        self.state = "downloaded"

    def to_dataframe(self, *, unified: bool = False) -> pd.DataFrame:
        assert unified
        return self.frame


class FakeParticle:
    provider = "particle"
    max_outstanding = 3
    schedule = PollSchedule((15.0, 30.0, 60.0), 60.0)
    base_url = "https://api.particle.io"

    def __init__(self, job: FakeJob | None = None, *, org: str | None = "acme") -> None:
        self._token = TOKEN
        self.org = org
        self.job = job or FakeJob()
        self.requests: list[dict[str, Any]] = []

    @property
    def account(self) -> str:
        return self.org or "sandbox"

    def service_agreements(self) -> list[dict[str, Any]]:
        return [
            {
                "id": "52007",
                "name": "Basic",
                "state": "active",
                "current_billing_period_start": "2026-11-01",
                "current_billing_period_end": "2026-11-30",
            }
        ]

    def jobs(self) -> pd.DataFrame:
        rows = [
            {
                "id": self.job.id,
                "state": self.job.state,
                "requested_at": pd.Timestamp("2026-11-22 10:00", tz="UTC"),
                "params": {"start": "2026-11-01", "end": "2026-11-30"},
                "parent": None,
                "parts": None,
            }
        ]
        columns = ["id", "state", "requested_at", "params", "parent", "parts"]
        return pd.DataFrame(rows if self.requests else [], columns=columns)

    def request(self, **kwargs: Any) -> FakeJob:
        self.requests.append(kwargs)
        return self.job


def strings(widget: Any) -> Iterator[str]:
    """Every piece of text a widget tree shows (values, labels, options, outputs)."""
    for name in ("value", "description", "placeholder", "tooltip"):
        value = getattr(widget, name, None)
        if isinstance(value, str):
            yield value
    for option in getattr(widget, "options", ()) or ():
        yield str(option)
    for output in getattr(widget, "outputs", ()) or ():
        yield str(output)
    for child in getattr(widget, "children", ()) or ():
        yield from strings(child)


def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


# ----------------------------------------------------------------- the form


def test_particle_form_fills_in_the_agreement_and_its_billing_period() -> None:
    r = ReportRequester(FakeParticle(), poll_schedule=FAST)
    values = r.form_values()
    assert values["agreement"] == "52007"
    assert (values["start"], values["end"]) == (date(2026, 11, 1), date(2026, 11, 30))
    assert values["scope"] == "org" and values["org"] == "acme"
    assert "acme" in r.header.value
    assert "0 of 3 outstanding" in r.status_html.value
    assert r.jobs_select.label == "no earlier jobs" and r.resume_button.disabled


@pytest.mark.slow
def test_a_last_day_before_the_first_disables_the_request_and_says_why() -> None:
    r = ReportRequester(FakeParticle(), poll_schedule=FAST)
    r.end.value = date(2026, 10, 1)
    assert r.request_button.disabled
    assert "before the first" in r.validation.value
    with pytest.raises(InvalidParameter):
        r.request()
    r.end.value = date(2026, 11, 15)
    assert not r.request_button.disabled and r.validation.value == ""


def test_long_ranges_are_explained_as_split_reports() -> None:
    today = date(2026, 11, 22)
    here = check_request(
        "here",
        {"start": date(2026, 1, 1), "end": date(2026, 6, 30), "detail_level": "day"},
        today=today,
    )
    assert here.ok and any("2 reports" in n for n in here.notes)
    infa = check_request(
        "informatica",
        {"start": date(2026, 9, 1), "end": date(2026, 10, 31), "job_type": "ASSET"},
        today=today,
    )
    assert infa.ok and any("3 exports" in n for n in infa.notes)
    meter = check_request(
        "informatica",
        {
            "start": date(2026, 9, 1),
            "end": date(2026, 9, 2),
            "job_type": "SUMMARY",
            "meter_id": "x",
        },
        today=today,
    )
    assert "meter_id" in meter.errors
    future = check_request(
        "particle", {"start": date(2026, 12, 1), "end": date(2026, 12, 2)}, today=today
    )
    assert "start" in future.errors


def test_request_runs_in_the_background_and_hands_over_the_frame() -> None:
    client = FakeParticle(FakeJob(polls=3))
    got: list[pd.DataFrame] = []
    r = ReportRequester(client, on_complete=got.append, poll_schedule=FAST)
    r.fields["devices"].value = "aaa, bbb"
    t0 = time.monotonic()
    r.request_button.click()
    assert time.monotonic() - t0 < 0.5  # the click does not wait for the report
    df = r.wait(10)
    assert df is client.job.frame and r.dataframe is df
    assert got == [df]
    assert client.job.refreshes == 3
    assert client.requests == [
        {
            "start": date(2026, 11, 1),
            "end": date(2026, 11, 30),
            "report_type": "devices",
            "agreement": "52007",
            "devices": ["aaa", "bbb"],
        }
    ]
    assert r.status["state"] == "done"
    assert "done" in r.status_html.value
    assert not r.request_button.disabled


def test_status_shows_state_countdown_and_outstanding_while_waiting_and_can_stop() -> None:
    client = FakeParticle(FakeJob(never=True))
    r = ReportRequester(client, poll_schedule=[0.6])
    r.request()
    wait_for(lambda: r.status.get("next_check_in") is not None)
    assert r.busy and r.request_button.disabled
    assert r.status["state"] == "pending"
    assert r.status["outstanding"] == 1 and r.status["limit"] == 3
    assert "next check in" in r.status_html.value and "1 of 3 outstanding" in r.status_html.value
    r.cancel_button.click()
    r.wait(5)
    assert not r.busy
    assert r.status["state"] == "stopped"
    assert any("resume it from the list" in line for line in r.messages.lines)
    assert r.dataframe is None


def test_a_failed_report_is_reported_in_the_widget_and_no_callback_fires() -> None:
    got: list[Any] = []
    r = ReportRequester(
        FakeParticle(FakeJob(polls=1, fail=True)), on_complete=got.append, poll_schedule=FAST
    )
    r.request()
    r.wait(5)
    assert r.status["state"] == "failed"
    assert got == []
    assert any("ReportFailed" in line and "boom" in line for line in r.messages.lines)


def test_an_error_in_on_complete_is_shown_and_the_frame_kept() -> None:
    def broken(df: pd.DataFrame) -> None:
        raise RuntimeError("callback broke")

    r = ReportRequester(FakeParticle(FakeJob(polls=1)), on_complete=broken, poll_schedule=FAST)
    r.request()
    r.wait(5)
    assert r.dataframe is not None
    assert any("RuntimeError: callback broke" in line for line in r.messages.lines)


@pytest.mark.slow
def test_an_archive_that_cannot_be_written_is_a_warning_and_the_frame_kept(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the archive folder should be")
    job = FakeJob(polls=1)
    job.frame = usage("2026-11-01", "2026-11-02")
    r = ReportRequester(FakeParticle(job), poll_schedule=FAST, archive=blocker / "archive")
    r.request()
    r.wait(5)
    assert r.dataframe is not None and r.status["state"] == "done"
    assert any("REPORT-1001 was read but not archived" in line for line in r.messages.lines)
    assert not r.messages.errors
    # A writable one keeps the rows, as report provider:id.
    r = ReportRequester(FakeParticle(job), poll_schedule=FAST, archive=tmp_path / "arch")
    r.request()
    r.wait(5)
    kept = history(archive=tmp_path / "arch")
    assert len(kept) == len(job.frame) and set(kept["report_id"]) == {"particle:REPORT-1001"}


def test_the_token_never_appears_in_the_widget() -> None:
    client = FakeParticle(FakeJob(polls=1))
    r = ReportRequester(client, poll_schedule=FAST)
    r.request()
    r.wait(5)
    text = "\n".join(strings(r))
    assert "acme" in text  # the scan does see the widget's text
    assert TOKEN not in text


def test_switching_to_the_sandbox_builds_a_client_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str | None] = []

    def with_scope(client: Any, org: str | None) -> FakeParticle:
        built.append(org)
        return FakeParticle(org=org)

    monkeypatch.setattr(requester_module, "_particle_with_scope", with_scope)
    r = ReportRequester(FakeParticle(), poll_schedule=FAST)
    r.fields["scope"].value = "sandbox"
    r.scope_button.click()
    assert built == [None]
    assert r.client.account == "sandbox" and "sandbox" in r.header.value
    r.fields["scope"].value = "org"
    r.fields["org"].value = ""
    r.scope_button.click()
    assert any("org:" in line for line in r.messages.lines)


class FakeHere(FakeParticle):
    provider = "here"
    max_outstanding = None
    realm_id = "org123"

    @property
    def account(self) -> str:
        return self.realm_id


class FakeInformatica(FakeParticle):
    provider = "informatica"
    max_outstanding = 5

    @property
    def account(self) -> str:
        return "org-informatica"


@pytest.mark.parametrize(
    ("client", "name"),
    [(FakeParticle, "Particle"), (FakeHere, "HERE"), (FakeInformatica, "Informatica")],
)
def test_the_header_names_the_provider_as_it_writes_itself(client: Any, name: str) -> None:
    r = ReportRequester(client(), poll_schedule=FAST)
    assert r.header.value.startswith(f"<b>{name} usage report</b>")


def test_messages_and_status_name_here_in_capitals() -> None:
    client = FakeHere(FakeJob(polls=1))
    r = ReportRequester(client, poll_schedule=FAST)
    r.request()
    r.wait(5)
    assert r.status["state"] == "done", r.messages.lines
    assert "HERE job REPORT-1001 is pending" in r.messages.lines
    assert "HERE says available" in r.status_html.value
    shown = "\n".join(strings(r))
    assert "Here " not in shown and "here job" not in shown and "here says" not in shown


def test_a_client_of_another_kind_is_refused() -> None:
    with pytest.raises(InvalidParameter):
        ReportRequester(object())


# ----------------------------------------------------------------- against the emulator


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    with running(seed=7, speed="fast") as emu:
        yield emu


@pytest.mark.slow
def test_particle_report_arrives_through_the_widget_over_http(emulator: Any) -> None:
    creds = emulator.credentials["particle"]
    client = ParticleClient(
        token=creds["token"], org=creds["org"], base_url=emulator.particle_api_url
    )
    done = threading.Event()
    r = ReportRequester(client, on_complete=lambda df: done.set(), poll_schedule=[0.1])
    assert r.fields["agreement"].options  # loaded from the API
    r.start.value = date(2026, 10, 1)
    r.end.value = date(2026, 10, 31)
    r.request_button.click()
    df = r.wait(60)
    assert done.is_set() and df is not None and len(df)
    assert set(df["provider"].dropna()) == {"particle"}
    assert df["period_start"].min() >= pd.Timestamp("2026-10-01", tz="UTC")
    assert df["period_start"].max() < pd.Timestamp("2026-11-01", tz="UTC")
    assert r.status["state"] == "done" and r.status["outstanding"] == 0
    # The widget is the user's request surface: what arrives is kept in the archive.
    kept = history(provider="particle")
    assert len(kept) == len(df) and set(kept["report_id"]) == {f"particle:{r.job.id}"}
    # The job is now in the earlier-jobs list, and resuming it gives the same report.
    job_id = r.job.id
    assert r.jobs_select.value == job_id  # the newest job, preselected
    assert job_id in r.jobs_select.label
    r.resume_button.click()
    again = r.wait(60)
    assert again is not None and len(again) == len(df)
    assert creds["token"] not in "\n".join(strings(r))
    # The sandbox is the same token's user scope: a new client, agreements reloaded.
    r.fields["scope"].value = "sandbox"
    r.scope_button.click()
    assert not r.messages.errors, r.messages.lines
    assert r.client.account == "sandbox" and r.client is not client
    assert r.fields["agreement"].options


@pytest.mark.slow
def test_here_report_over_95_days_is_split_and_joined(emulator: Any) -> None:
    creds = emulator.credentials["here"]
    client = HereClient(
        token=creds["token"], realm_id=creds["realm_id"], base_url=emulator.here_api_url
    )
    r = ReportRequester(client, poll_schedule=[0.1])
    assert r.fields["realm"].value == creds["realm_id"]
    r.start.value = date(2026, 6, 1)
    r.end.value = date(2026, 9, 30)
    r.fields["group_by"].value = ("appId",)
    assert any("2 reports" in note for note in r.check.notes)
    r.request()
    df = r.wait(60)
    assert df is not None, r.messages.lines
    days = df["period_start"].dt.date
    assert days.min() == date(2026, 6, 1) and days.max() == date(2026, 9, 30)


@pytest.mark.slow
def test_informatica_export_by_meter_name_over_http(emulator: Any) -> None:
    creds = emulator.credentials["informatica"]
    client = InformaticaClient(
        username=creds["username"],
        password=creds["password"],
        login_url=emulator.informatica_login_url,
    )
    r = ReportRequester(client, poll_schedule=[0.1])
    meter = r.fields["meter_id"]
    assert meter.disabled and meter.value is None  # SUMMARY covers every meter
    r.fields["job_type"].value = "ASSET"
    assert not meter.disabled
    meter_id = next(v for label, v in meter.options if label == "Data Integration")
    meter.value = meter_id
    r.start.value = date(2026, 10, 1)
    r.end.value = date(2026, 10, 10)
    assert r.request_kwargs()["meter_id"] == meter_id
    r.request()
    df = r.wait(60)
    assert df is not None, r.messages.lines
    assert set(df["meter"].dropna()) == {"Data Integration"}
    assert creds["password"] not in "\n".join(strings(r))
