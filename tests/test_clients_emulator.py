"""The three clients against the emulator over real HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import zipfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from usage_analysis.cli import main as cli_main
from usage_analysis.clients import (
    HereClient,
    InformaticaClient,
    ParticleClient,
    fetch_many,
    jobs,
    resume,
)
from usage_analysis.emulator import Emulator, running

FAST = "0.2"  # seconds between status checks: the emulator's "fast" jobs take 0.3-1 s


@pytest.fixture(scope="module")
def emulator_options() -> dict[str, Any]:
    """This module's ``emu`` (tests/conftest.py) with speed fast."""
    return {"speed": "fast"}


@pytest.fixture
def env(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = emu.env()
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def here_truth(
    emu: Emulator, start: date, end: date, *, step: int = 90, **params: Any
) -> pd.DataFrame:
    """Ground truth over any range, asked ``step`` days at a time (at most 95 per answer)."""
    frames = []
    day = start
    while day <= end:
        last = min(end, day + timedelta(days=step - 1))
        frames.append(
            emu.ground_truth(
                "here", startDate=f"{day}T00:00:00", endDate=f"{last}T23:59:59", **params
            )
        )
        day = last + timedelta(days=1)
    return pd.concat(frames, ignore_index=True)


def test_particle_report_equals_the_ground_truth(emu: Emulator) -> None:
    creds = emu.credentials["particle"]
    client = ParticleClient(token=creds["token"], base_url=emu.particle_api_url, schedule=FAST)
    job = client.request_report("2026-10-01", "2026-10-07")
    path = job.download(progress=False)
    got = pd.read_csv(path)
    truth = emu.ground_truth(
        "particle",
        report_type="devices",
        date_period_start="2026-10-01",
        date_period_end="2026-10-07",
    )
    assert len(got) == len(truth) > 0
    assert got["Total Data Operations"].sum() == truth["Total Data Operations"].sum()
    assert len(job.to_dataframe()) == len(truth)


@pytest.mark.slow
def test_particle_org_report_through_the_environment(emu: Emulator, env: dict[str, str]) -> None:
    org = emu.credentials["particle"]["org"]
    df = ParticleClient(org=org, schedule=FAST).fetch_report(
        "2026-10-01", "2026-10-03", report_type="products", progress=False
    )
    truth = emu.ground_truth(
        "particle",
        scope="org",
        report_type="products",
        date_period_start="2026-10-01",
        date_period_end="2026-10-03",
    )
    assert len(df) == len(truth) > 0


def test_an_expired_particle_link_is_renewed(emu: Emulator) -> None:
    creds = emu.credentials["particle"]
    client = ParticleClient(token=creds["token"], base_url=emu.particle_api_url, schedule=FAST)
    job = client.request_report("2026-09-01", "2026-09-02").wait(progress=False)
    emu.advance(601)  # pre-signed links live 600 s
    seen = len(emu.requests_log)
    assert job.download(progress=False).stat().st_size == job.size
    statuses = [s for m, p, s in emu.requests_log[seen:] if "/downloads/" in p]
    assert statuses == [410, 200]


@pytest.mark.slow
def test_here_report_over_95_days_with_oauth_keys_equals_the_ground_truth(emu: Emulator) -> None:
    creds = emu.credentials["here"]
    client = HereClient(
        credentials={
            "access_key_id": creds["access_key_id"],
            "access_key_secret": creds["access_key_secret"],
        },
        realm_id=creds["realm_id"],
        base_url=emu.here_api_url,
        token_url=emu.here_token_url,
        schedule=FAST,
    )
    job = client.request_report("2026-05-01", "2026-09-30", detail_level="day")
    assert len(job.parts) == 2
    got = pd.read_csv(job.download(progress=False))
    truth = here_truth(emu, date(2026, 5, 1), date(2026, 9, 30), detailLevel="day")
    assert len(got) == len(truth) > 0
    assert got["Usage Amount (billableValue)"].sum() == pytest.approx(truth["billableValue"].sum())
    assert ("POST", "/here/oauth2/token", 200) in emu.requests_log


@pytest.mark.slow
def test_here_report_at_the_record_cap_is_split_until_complete() -> None:
    with running(seed=7, speed="fast", here_max_records=400) as small:
        creds = small.credentials["here"]
        client = HereClient(
            token=creds["token"],
            realm_id=creds["realm_id"],
            base_url=small.here_api_url,
            schedule=FAST,
            max_records=400,
        )
        job = client.request_report("2026-10-01", "2026-10-20")
        got = pd.read_csv(job.download(progress=False))
        truth = here_truth(small, date(2026, 10, 1), date(2026, 10, 20), step=2, detailLevel="day")
        assert len(truth) > 400  # one report would have been cut at 400 records
        assert len(got) == len(truth)
        assert got["Usage Amount (billableValue)"].sum() == pytest.approx(
            truth["billableValue"].sum()
        )
        assert len(list(job.leaves())) > 1


@pytest.mark.slow
def test_informatica_export_split_by_span_equals_the_ground_truth(
    emu: Emulator, env: dict[str, str]
) -> None:
    client = InformaticaClient(schedule=FAST)
    job = client.request_export("2026-08-01", "2026-10-15", job_type="PROJECT_FOLDER")
    assert len(job.parts) == 3
    path = job.download(progress=False)
    with zipfile.ZipFile(path) as zf:
        got = pd.concat([pd.read_csv(zf.open(n)) for n in zf.namelist()], ignore_index=True)
    truth = pd.concat(
        [
            emu.ground_truth(
                "informatica",
                startDate=f"{p.params['start']}T00:00:00Z",
                endDate=f"{p.params['end']}T23:59:59Z",
                jobType="PROJECT_FOLDER",
            )
            for p in job.parts
        ],
        ignore_index=True,
    )
    assert len(got) == len(truth) > 0
    assert got["Consumption (IPUs)"].sum() == pytest.approx(truth["Consumption (IPUs)"].sum())
    assert len(job.to_dataframe()) == len(truth)


def test_an_expired_informatica_session_is_renewed(emu: Emulator, env: dict[str, str]) -> None:
    client = InformaticaClient(schedule=FAST)
    client.login()
    emu.advance(31 * 60)  # sessions expire after 30 minutes idle
    alerts = client.ipu_alerts()
    assert alerts and alerts[0]["orgId"] == client.org_id
    logins = [s for m, p, s in emu.requests_log if p.endswith("/v3/login")]
    assert logins[-2:] == [200, 200]


@pytest.mark.slow
def test_fetch_many_keeps_particle_at_three_outstanding(emu: Emulator) -> None:
    creds = emu.credentials["particle"]
    client = ParticleClient(token=creds["token"], base_url=emu.particle_api_url, schedule=FAST)
    seen = len(emu.requests_log)
    frames = fetch_many(
        [(client, {"start": f"2026-08-{d:02d}", "end": f"2026-08-{d:02d}"}) for d in range(1, 7)],
        progress=False,
    )
    assert [len(f) > 0 for f in frames] == [True] * 6
    posts = [s for m, p, s in emu.requests_log[seen:] if m == "POST"]
    assert posts == [202] * 6  # no request refused for the limit


def test_cli_fetches_to_a_file_and_lists_jobs(
    emu: Emulator, env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.csv"
    code = cli_main(
        [
            "fetch",
            "particle",
            "--start",
            "2026-07-01",
            "--end",
            "2026-07-02",
            "--out",
            str(out),
            "--schedule",
            FAST,
        ]
    )
    assert code == 0
    truth = emu.ground_truth(
        "particle",
        report_type="devices",
        date_period_start="2026-07-01",
        date_period_end="2026-07-02",
    )
    assert len(pd.read_csv(out)) == len(truth)
    assert cli_main(["jobs"]) == 0
    printed = capsys.readouterr()
    assert "downloaded" in printed.out
    assert env["PARTICLE_ACCESS_TOKEN"] not in printed.out + printed.err


_CHILD = textwrap.dedent(
    """
    import sys
    from usage_analysis.clients import ParticleClient
    job = ParticleClient(schedule="0.2").request_report("2026-10-01", "2026-10-04")
    print(job.id, flush=True)
    job.wait(progress=False)
    print("finished", flush=True)
    """
)


@pytest.mark.slow  # a child process killed mid-wait, then a new one
def test_a_job_survives_its_process_being_killed_mid_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    with running(seed=7, speed="fast", job_seconds=3600.0) as slow:
        child_env = {
            **os.environ,
            **slow.env(),
            "USAGE_ANALYSIS_HOME": os.environ["USAGE_ANALYSIS_HOME"],
        }
        with subprocess.Popen(
            [sys.executable, "-c", _CHILD],
            env=child_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as proc:
            try:
                assert proc.stdout is not None
                job_id = proc.stdout.readline().strip()
                assert job_id, proc.stderr.read() if proc.stderr else ""
                deadline = time.monotonic() + 30
                while (
                    sum(
                        1 for m, p, s in slow.requests_log if p.endswith(f"/usage_reports/{job_id}")
                    )
                    < 2
                ):
                    assert time.monotonic() < deadline, "the child never polled"
                    time.sleep(0.05)
            finally:
                proc.kill()  # mid-wait: the report is an hour from ready
                proc.wait(timeout=10)
        assert proc.returncode != 0
        slow.advance(3600)
        for name, value in slow.env().items():
            monkeypatch.setenv(name, value)
        job = resume(job_id)  # this process never saw the job: only the journal did
        path = job.download(progress=False)
        truth = slow.ground_truth("particle", report_id=job_id)
        assert len(pd.read_csv(path)) == len(truth) > 0
        assert jobs().set_index("id").loc[job_id, "state"] == "downloaded"
        posts = [p for m, p, s in slow.requests_log if m == "POST"]
        assert len(posts) == 1  # resumed, not requested again


@pytest.mark.parametrize("paging", ["page", "record"])
def test_here_search_equals_the_ground_truth_whether_offsets_count_pages_or_records(
    paging: str,
) -> None:
    with running(seed=7, speed="instant", here_paging=paging) as emulator:
        creds = emulator.credentials["here"]
        client = HereClient(
            token=creds["token"], realm_id=creds["realm_id"], base_url=emulator.here_api_url
        )
        items = client.search("2026-10-01", "2026-10-03", detail_level="day", limit=37)
        truth = emulator.ground_truth(
            "here",
            kind="search",
            startDate="2026-10-01T00:00:00",
            endDate="2026-10-03T23:59:59",
            detailLevel="day",
        )
        assert len(items) == len(truth) > 37
        got = sum(float(i["billableValue"]) for i in items)
        assert got == pytest.approx(truth["billableValue"].sum(), abs=1e-3)
        client.close()


def test_here_error_details_as_an_object_are_read_too() -> None:
    from usage_analysis.errors import APIError

    with running(seed=7, speed="instant", here_error_details="object") as emulator:
        creds = emulator.credentials["here"]
        client = HereClient(
            token=creds["token"], realm_id="org-not-mine-1", base_url=emulator.here_api_url
        )
        with pytest.raises(APIError) as info:
            client.search("2026-10-01", "2026-10-02")
        assert info.value.code == "E706001"
        client.close()


@pytest.mark.slow
def test_here_one_day_report_is_read_as_that_day(emu: Emulator) -> None:
    """A daily refresh on the 2nd: the report covers the 2nd only, never the whole month."""
    creds = emu.credentials["here"]
    client = HereClient(
        token=creds["token"],
        realm_id=creds["realm_id"],
        base_url=emu.here_api_url,
        schedule=FAST,
    )
    for level in ("day", "summarized"):
        job = client.request_report("2026-10-02", "2026-10-02", detail_level=level)
        assert job._read_options() == {
            "period": (date(2026, 10, 2), date(2026, 10, 3)),
            "detail_level": level,
        }
        frame = job.fetch(unified=True, progress=False)
        assert len(frame) > 0
        assert set(frame["period_start"].dt.date) == {date(2026, 10, 2)}
        assert set(frame["period_end"].dt.date) == {date(2026, 10, 3)}
    client.close()


@pytest.mark.slow
def test_particle_service_agreements_and_notifications_in_documented_shapes(
    emu: Emulator,
) -> None:
    creds = emu.credentials["particle"]
    client = ParticleClient(
        token=creds["token"], org=creds["org"], base_url=emu.particle_api_url, schedule=FAST
    )
    [agreement] = client.service_agreements()
    assert agreement["current_usage_summary"]["connectivity"]["all"]["device_messages"] >= 0
    assert agreement["pricing_terms"]["messaging"]["max_messages"] > 0
    assert "blocks" not in agreement["pricing_terms"]
    for item in client.notifications():
        assert item["details"]["event_type"] == "usage_threshold"
    job = client.request_report("2026-10-01", "2026-10-02")
    assert job.download(progress=False).stat().st_size > 0
    client.close()
