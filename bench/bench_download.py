"""Downloading a 500 MB report: memory stays flat, time stays close to a plain file write.

The report is served by an ``httpx.MockTransport`` that generates the body chunk by
chunk (so the server side holds no copy), through the whole client path: Particle
status answer -> pre-signed link -> ``ReportJob.download()`` (streamed, hashed,
fsynced, renamed into place, journaled). Each figure is measured in a fresh process.

Targets: peak RSS grows by less than 64 MB while downloading; the time is compared
with writing the same bytes straight to a file in the same run (the baseline).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx

from bench._common import Report, in_fresh_process
from usage_analysis.clients import FakeClock, ParticleClient

SIZE = 500 * 1024**2
CHUNK = 1024**2
LINE = b"2026-10-01,0123456789abcdef01234567,device-001,14501,Tracker Fleet,10,2,3,4,19\n"
TOKEN = "bench-token-0123456789"


def _chunks() -> Iterator[bytes]:
    block = LINE * (CHUNK // len(LINE) + 1)
    sent = 0
    while sent < SIZE:
        piece = block[: min(CHUNK, SIZE - sent)]
        sent += len(piece)
        # A report ends with a line break (the client refetches one that looks cut).
        yield piece if sent < SIZE else piece[:-1] + b"\n"


class _Body(httpx.SyncByteStream):
    def __iter__(self) -> Iterator[bytes]:
        yield from _chunks()


def _handler(request: httpx.Request) -> httpx.Response:
    if request.url.host == "dl.bench":
        return httpx.Response(200, stream=_Body(), headers={"Content-Length": str(SIZE)})
    if request.method == "POST":
        return httpx.Response(202, json={"data": {"id": "1", "attributes": {"state": "pending"}}})
    url = "https://dl.bench/usage_report_1.csv?sig=bench"
    return httpx.Response(
        200, json={"data": {"id": "1", "attributes": {"state": "available", "download_url": url}}}
    )


def download_report(home: str) -> None:
    """The measured work: request, wait and download a 500 MB report."""
    os.environ["USAGE_ANALYSIS_HOME"] = home
    client = ParticleClient(
        token=TOKEN,
        base_url="https://api.bench",
        http_client=httpx.Client(transport=httpx.MockTransport(_handler)),
        clock=FakeClock(),
    )
    job = client.request_report("2026-10-01", "2026-10-31", agreement="sa-1")
    path = job.download(progress=False)
    assert job.size == SIZE and path.stat().st_size == SIZE
    path.unlink()


def write_plainly(home: str) -> None:
    """The baseline: the same bytes written straight to a file."""
    path = Path(home) / "plain.csv"
    with open(path, "wb") as out:
        for chunk in _chunks():
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    path.unlink()


def run(report: Report) -> None:
    """Peak memory growth and time of a 500 MB download, against a plain write."""
    with tempfile.TemporaryDirectory() as home:
        base_seconds, base_before, base_peak = in_fresh_process(write_plainly, home)
        seconds, before, peak = in_fresh_process(download_report, home)
    mb = 1024**2
    report.absolute(
        "download 500 MB report: peak RSS growth", (peak - before) / mb, unit="MB", target=64
    )
    report.absolute(
        "plain write of 500 MB: peak RSS growth (reference)",
        (base_peak - base_before) / mb,
        unit="MB",
    )
    report.ratio(
        "download 500 MB report: time",
        seconds,
        base_seconds,
        baseline_name="plain write",
    )
