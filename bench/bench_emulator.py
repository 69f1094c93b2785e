"""Emulator: serving HERE's largest report, and status polls under 50 concurrent clients."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime

import httpx

from bench._common import Report
from usage_analysis.emulator import running
from usage_analysis.sample_data import gzip_bytes, here_csv, here_usage, make_world

NOW = datetime(2026, 11, 20, tzinfo=UTC)
# 95 days of daily records for ~3,900 apps: just over HERE's 1,000,000-record cap.
APPS = 3900
START, END = date(2026, 6, 1), date(2026, 9, 3)


def _baseline_render() -> int:
    """What serving the file with sample_data's own renderers would cost (generate, CSV, gzip)."""
    world = make_world(7, here_apps=APPS)
    frame = here_usage(world, START, END, detail_level="day").iloc[:1_000_000]
    return len(gzip_bytes(here_csv(frame)))


def run(report: Report) -> None:
    t0 = time.perf_counter()
    baseline_size = _baseline_render()
    baseline = time.perf_counter() - t0

    with (
        running(speed="instant", here_apps=APPS, now=NOW) as emu,
        httpx.Client(timeout=120) as http,
    ):
        realm = emu.credentials["here"]["realm_id"]
        headers = {"Authorization": f"Bearer {emu.credentials['here']['token']}"}
        url = f"{emu.here_api_url}/usage/realms/{realm}/reports"
        params = {
            "startDate": f"{START}T00:00:00",
            "endDate": f"{END}T00:00:00",
            "detailLevel": "day",
        }
        t0 = time.perf_counter()
        rid = http.post(url, params=params, headers=headers).json()["id"]
        href = http.get(f"{url}/{rid}", headers=headers).json()["resultHref"]
        size = 0
        with http.stream("GET", href, headers=headers) as r:
            for chunk in r.iter_raw():
                size += len(chunk)
        served = time.perf_counter() - t0
    report.ratio(
        "HERE 1,000,000-record report: request to last byte",
        served,
        baseline,
        target=1.0,
        baseline_name="sample_data render",
    )
    report.absolute("HERE 1,000,000-record report: gzip MB served", size / 1e6, unit="MB")
    report.absolute("  (sample_data's gzip of the same rows)", baseline_size / 1e6, unit="MB")

    with running(speed="fast") as emu:
        realm = emu.credentials["here"]["realm_id"]
        headers = {"Authorization": f"Bearer {emu.credentials['here']['token']}"}
        base = f"{emu.here_api_url}/usage/realms/{realm}/reports"
        oct_params = {"startDate": "2026-10-01T00:00:00", "endDate": "2026-10-31T00:00:00"}
        with httpx.Client() as http:
            rid = http.post(base, params=oct_params, headers=headers).json()["id"]

        def poller(_: int) -> list[float]:
            times = []
            with httpx.Client(timeout=30) as client:
                for _ in range(20):
                    t = time.perf_counter()
                    assert client.get(f"{base}/{rid}", headers=headers).status_code == 200
                    times.append(time.perf_counter() - t)
            return times

        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=50) as pool:
            latencies = [x for batch in pool.map(poller, range(50)) for x in batch]
        wall = time.perf_counter() - t0
    report.absolute(
        "50 pollers x 20 status polls: requests per second", len(latencies) / wall, unit="r/s"
    )
    report.absolute(
        "50 pollers: median status latency",
        statistics.median(latencies) * 1000,
        unit="ms",
        target=250,
    )
