"""Particle's official Node.js example, replayed with raw HTTP requests, works unchanged.

The example (Particle's "Data operations reports" tutorial) does exactly this:
GET /v1/user/service_agreements, take data[0].id and the current billing period,
POST .../usage_reports with report_type "devices", GET /v1/user/usage_reports/:id
until download_url is set, then GET that URL with Accept: text/csv and no auth.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable

import httpx
from emulator_helpers import start_emulator

from usage_analysis.emulator import Emulator

__all__ = ["start_emulator"]


def test_official_node_example_call_sequence_works_unchanged(
    start_emulator: Callable[..., Emulator],
) -> None:
    emu = start_emulator(speed="fast")
    api = emu.particle_api_url
    auth = {"Authorization": f"Bearer {emu.credentials['particle']['token']}"}
    with httpx.Client(timeout=30) as http:
        r = http.get(f"{api}/v1/user/service_agreements", headers=auth)
        assert r.status_code == 200
        agreement = r.json()["data"][0]
        sa_id = agreement["id"]
        start = agreement["attributes"]["current_billing_period_start"]
        end = agreement["attributes"]["current_billing_period_end"]

        r = http.post(
            f"{api}/v1/user/service_agreements/{sa_id}/usage_reports",
            headers={**auth, "Content-Type": "application/json"},
            json={"report_type": "devices", "date_period_start": start, "date_period_end": end},
        )
        assert r.status_code == 202
        report_id = r.json()["data"]["id"]

        download_url = None
        polls = 0
        deadline = time.monotonic() + 20
        while download_url is None:
            assert time.monotonic() < deadline, "the report never became available"
            r = http.get(f"{api}/v1/user/usage_reports/{report_id}", headers=auth)
            assert r.status_code == 200
            download_url = r.json()["data"]["attributes"]["download_url"]
            polls += 1
            if download_url is None:
                time.sleep(0.1)  # the example waits 15 s, 30 s, 60 s...; speed "fast" is < 1 s
        assert polls >= 2  # "fast" reports are pending at first

        r = http.get(download_url, headers={"Accept": "text/csv"})  # no Authorization header
        assert r.status_code == 200
        assert "authorization" not in {k.lower() for k in r.request.headers}
        rows = list(csv.DictReader(io.StringIO(r.text)))

    truth = emu.ground_truth(
        "particle", report_type="devices", date_period_start=start, date_period_end=end
    )
    assert len(rows) == len(truth) > 0
    assert sum(int(row["Total Data Operations"]) for row in rows) == int(
        truth["Total Data Operations"].sum()
    )
    paths = [(method, path) for method, path, _status in emu.requests_log]
    assert paths[:2] == [
        ("GET", "/particle/v1/user/service_agreements"),
        ("POST", f"/particle/v1/user/service_agreements/{sa_id}/usage_reports"),
    ]
    assert paths[2:-1] == [("GET", f"/particle/v1/user/usage_reports/{report_id}")] * polls
    assert paths[-1] == ("GET", f"/particle/downloads/usage_report_{report_id}.csv")
