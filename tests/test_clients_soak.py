"""Soak: 50 reports across the three providers against the emulator with ~20 % faults.

Every kind of fault the emulator injects is on (429 with Retry-After, 500/503,
connections dropped mid-body, slow answers, truncated and expired downloads, failed
reports, partial Informatica jobs). Waits are honoured on a clock that runs twenty
times faster than real time (and the emulator's jobs take 0.1-0.4 s), so the soak takes seconds, not minutes.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
import zipfile
from collections import Counter
from datetime import date, timedelta
from typing import Any

import pandas as pd
import pytest

from usage_analysis._secrets import Secret
from usage_analysis.clients import (
    FakeClock,
    HereClient,
    InformaticaClient,
    PartialReportWarning,
    ParticleClient,
    ReportJob,
    RetryPolicy,
)
from usage_analysis.clients.journal import params_key
from usage_analysis.emulator import Emulator, running
from usage_analysis.errors import AuthenticationError

pytestmark = pytest.mark.slow


def _particle_requests() -> list[dict[str, Any]]:
    out = []
    for i in range(17):
        start = date(2026, 6, 1) + timedelta(days=4 * i)
        out.append(
            {
                "start": start,
                "end": start + timedelta(days=1 + i % 4),
                "report_type": "products" if i % 3 == 2 else "devices",
            }
        )
    return out


def _here_requests() -> list[dict[str, Any]]:
    out = []
    for i in range(17):
        start = date(2026, 1, 1) + timedelta(days=9 * i)
        days = 120 if i % 5 == 0 else 2 + i % 6  # some longer than 95 days: split in two
        out.append(
            {
                "start": start,
                "end": start + timedelta(days=days - 1),
                "detail_level": ("day", "month", "summarized")[i % 3],
            }
        )
    return out


def _informatica_requests() -> list[dict[str, Any]]:
    out = []
    kinds = ("SUMMARY", "PROJECT_FOLDER", "JOB_LEVEL", "ASSET")
    for i in range(16):
        start = date(2026, 3, 1) + timedelta(days=7 * i)
        kind = kinds[i % 4]
        days = 40 if kind == "PROJECT_FOLDER" and i % 8 == 1 else 3 + i % 5  # a few split spans
        out.append(
            {
                "start": start,
                "end": start + timedelta(days=days - 1),
                "job_type": kind,
                "all_linked_orgs": kind == "SUMMARY",  # partial results are possible
            }
        )
    return out


def _file_frames(job: ReportJob) -> dict[str, pd.DataFrame]:
    """The downloaded file's tables (one per ZIP member), read by pandas directly."""
    assert job.path is not None
    if job.provider == "informatica":
        with zipfile.ZipFile(job.path) as zf:
            return {n: pd.read_csv(io.BytesIO(zf.read(n))) for n in zf.namelist()}
    return {"report": pd.read_csv(job.path)}


def _truth_frames(emu: Emulator, job: ReportJob) -> dict[str, pd.DataFrame]:
    """What the emulator put in the files of the job's provider-side jobs, joined."""
    tables: dict[str, list[pd.DataFrame]] = {}
    for leaf in job.leaves():
        if job.provider == "informatica":
            members = emu.ground_truth_members(job_id=leaf.id)
        else:
            members = {"report": emu.ground_truth(job.provider, report_id=leaf.id)}
        for name, frame in members.items():
            tables.setdefault(name, []).append(frame)
    return {n: pd.concat(f, ignore_index=True) for n, f in tables.items()}


_QUANTITY = {
    "particle": ("Total Data Operations", "Total Data Operations"),
    "here": ("Usage Amount (billableValue)", "billableValue"),
}


def _assert_equal_totals(emu: Emulator, job: ReportJob) -> None:
    got, truth = _file_frames(job), _truth_frames(emu, job)
    assert sorted(got) == sorted(truth), job
    for name, frame in truth.items():
        assert len(got[name]) == len(frame), (job, name)
        if job.provider in _QUANTITY:
            file_column, truth_column = _QUANTITY[job.provider]
            assert got[name][file_column].sum() == pytest.approx(frame[truth_column].sum()), job
        else:
            numeric = [
                c
                for c in frame.columns
                if pd.api.types.is_numeric_dtype(frame[c]) and c in got[name]
            ]
            assert numeric, (job, name)
            for column in numeric:
                assert got[name][column].sum() == pytest.approx(frame[column].sum()), (
                    job,
                    name,
                    column,
                )


def test_fifty_reports_with_twenty_percent_faults_complete_exactly(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    with running(
        seed=11, speed="fast", job_seconds=(0.1, 0.4), faults=0.2, slow_seconds=0.1
    ) as emu:
        creds = emu.credentials
        clock = FakeClock(real_fraction=0.05)
        options: dict[str, Any] = {
            "clock": clock,
            "schedule": [2.0],
            # At 20 % faults, 6 attempts fail together about once in 60,000 requests,
            # too often for a soak of a thousand requests: give it room.
            "retry": RetryPolicy(attempts=12, timeout=600.0),
            "rerequests": 6,
        }
        particle = ParticleClient(
            token=creds["particle"]["token"], base_url=emu.particle_api_url, **options
        )
        here = HereClient(
            credentials={
                "access_key_id": creds["here"]["access_key_id"],
                "access_key_secret": creds["here"]["access_key_secret"],
            },
            realm_id=creds["here"]["realm_id"],
            base_url=emu.here_api_url,
            token_url=emu.here_token_url,
            **options,
        )
        informatica = InformaticaClient(
            username=creds["informatica"]["username"],
            password=creds["informatica"]["password"],
            login_url=emu.informatica_login_url,
            **options,
        )
        plan = (
            [(particle, r) for r in _particle_requests()]
            + [(here, r) for r in _here_requests()]
            + [(informatica, r) for r in _informatica_requests()]
        )
        assert len(plan) == 50
        with warnings.catch_warnings(record=True) as partial:
            warnings.simplefilter("always", PartialReportWarning)
            jobs = [client.request(**params) for client, params in plan]
            frames = [job.fetch(progress=True) for job in jobs]
        assert all(len(f) > 0 for f in frames)
        for job in jobs:
            _assert_equal_totals(emu, job)

        # Faults really happened, of every kind that hits requests.
        statuses = Counter(s for _m, _p, s in emu.requests_log)
        assert statuses[429] > 0 and statuses[500] + statuses[503] > 0
        assert statuses[410] + statuses[404] > 0  # expired links (and jobs not ready)
        assert re.search(r"ConnectionFailed; retry", caplog.text)
        partial_warnings = [w for w in partial if issubclass(w.category, PartialReportWarning)]
        assert all("Data couldn't be collected" in str(w.message) for w in partial_warnings)

        # No report was asked for twice, except again after it failed...
        journal = particle.journal
        for provider, account in (
            ("particle", "sandbox"),
            ("here", here.account),
            ("informatica", informatica.account),
        ):
            rows = [
                r for r in journal.rows(provider=provider, account=account) if not r.get("parts")
            ]
            alive = Counter(
                params_key(provider, r["params"]) for r in rows if r["state"] != "failed"
            )
            assert max(alive.values()) == 1, provider
        # ...or when the answer to a request was lost on the way (the server made a job
        # the client never heard of): every such extra job matches one lost answer.
        accepted = sum(
            1
            for m, p, s in emu.requests_log
            if m == "POST"
            and s in (200, 201, 202)
            and ("usage_reports" in p or "/reports" in p or "Export" in p)
        )
        ours = sum(1 for r in journal.rows() if not r.get("parts"))
        lost = len(
            re.findall(
                r"POST \S+ \((?:report|export) request\): ConnectionFailed; retry", caplog.text
            )
        )
        assert ours <= accepted <= ours + lost

        # No secret anywhere: log lines, reprs, progress output, exception texts.
        secrets = [
            creds["particle"]["token"],
            creds["here"]["token"],
            creds["here"]["access_key_secret"],
            creds["informatica"]["password"],
        ]
        for client in (here, informatica):
            token = getattr(client, "_token", None) or getattr(client, "_session", None)
            assert isinstance(token, Secret)
            secrets.append(token.get())
        links = [
            leaf._download_url.get() for job in jobs for leaf in job.leaves() if leaf._download_url
        ]
        assert links
        secrets += [link.split("?", 1)[1] for link in links if "?" in link]
        errors: list[str] = []
        for bad in (
            lambda: ParticleClient(
                token="wrong-token-000000000", base_url=emu.particle_api_url
            ).service_agreements(),
            lambda: InformaticaClient(
                username="x", password="wrong-password-1", login_url=emu.informatica_login_url
            ).login(),
            lambda: HereClient(
                token="wrong-here-token-0000",
                realm_id=creds["here"]["realm_id"],
                base_url=emu.here_api_url,
            ).search("2026-10-01", "2026-10-01"),
        ):
            with pytest.raises(AuthenticationError) as info:
                bad()
            errors.append(str(info.value))
        printed = capsys.readouterr()
        texts = [caplog.text, printed.out, printed.err, *errors, *(repr(j) for j in jobs)]
        texts += [repr(c) for c in (particle, here, informatica)]
        texts += [str(w.message) for w in partial]
        for secret in secrets:
            for text in texts:
                assert secret not in text
