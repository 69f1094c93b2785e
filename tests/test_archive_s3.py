"""An archive shared on S3: a local S3-compatible server (moto) on 127.0.0.1.

The server runs in its own process: delta-rs may hold the GIL while it waits for
an answer, which a server thread of the test process could then never give.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pandas as pd
import pytest
from server_helpers import free_port

from usage_analysis import archive
from usage_analysis.schema import coerce_unified

# A moto S3 server in a process of its own: seconds to start.
pytestmark = pytest.mark.slow

BUCKET = "team-usage"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                boto3.client(
                    "s3",
                    endpoint_url=url,
                    region_name="us-east-1",
                    aws_access_key_id="testing",
                    aws_secret_access_key="testing",
                ).list_buckets()
                break
            except Exception:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def s3(s3_endpoint: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """A fresh bucket prefix per test, and the storage options reaching it."""
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    if BUCKET not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=BUCKET)
    return {
        "client": client,
        "url": f"s3://{BUCKET}/{request.node.name}",
        "options": {
            "key": "testing",
            "secret": "testing",
            "client_kwargs": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"},
        },
    }


def usage(first: str, last: str, *, quantity: float, product: str = "Trackers") -> pd.DataFrame:
    rows = [
        {
            "provider": "particle",
            "account_id": "acme",
            "product": product,
            "resource_id": device,
            "meter_id": "data_operations",
            "period_start": day,
            "period_end": day + pd.Timedelta(days=1),
            "quantity": quantity,
            "unit": "data operations",
        }
        for day in pd.date_range(first, last, freq="D", tz="UTC")
        for device in ("dev-a", "dev-b")
    ]
    return coerce_unified(pd.DataFrame(rows))


def test_s3_archive_replaces_overlaps_and_answers_queries(s3: dict[str, Any]) -> None:
    where = {"archive": s3["url"], "storage_options": s3["options"]}
    archive.archive_frame(usage("2026-01-25", "2026-02-05", quantity=1.0), report_id="a", **where)
    second = archive.archive_frame(
        usage("2026-02-01", "2026-02-10", quantity=2.0), report_id="b", **where
    )

    keys = [
        o["Key"]
        for o in s3["client"].list_objects_v2(Bucket=BUCKET, Prefix=s3["url"].split("/", 3)[3])[
            "Contents"
        ]
    ]
    assert second.replaced == 10
    assert second.version == 2  # version 0 is the empty table the first writer made
    # A Delta table: its log, and data files under provider/account/grain/month.
    assert any("/_delta_log/00000000000000000002.json" in k for k in keys)
    assert {tuple(k.split("/")[1:5]) for k in keys if k.endswith(".parquet")} == {
        ("provider=particle", "account_id=acme", "grain=devices", "month=2026-01"),
        ("provider=particle", "account_id=acme", "grain=devices", "month=2026-02"),
    }

    back = archive.history(start="2026-02-01", **where)
    assert len(back) == 20
    assert set(back["report_id"]) == {"b"}

    totals = archive.sql(
        "select month, report_id, sum(quantity) as total from usage group by all order by all",
        **where,
    )
    assert totals.to_dict("records") == [
        {"month": "2026-01", "report_id": "a", "total": 14.0},
        {"month": "2026-02", "report_id": "b", "total": 40.0},
    ]
    # What did we know before report b?
    before = archive.history(as_of=1, **where)  # version 0 is the empty table
    assert before["quantity"].sum() == 24.0


def test_s3_archive_named_by_variable_is_used_by_default(
    s3: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USAGE_ANALYSIS_ARCHIVE", s3["url"])
    archive.archive_frame(
        usage("2026-03-01", "2026-03-02", quantity=4.0), storage_options=s3["options"]
    )

    back = archive.history(product="Trackers", storage_options=s3["options"])
    assert len(back) == 4
    assert back["quantity"].sum() == 16.0
