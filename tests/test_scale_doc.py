"""docs/scale.md's example runs as written, locally and on S3 (moto), and its answers
agree with each other and with history()."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import polars as pl
import pytest
from server_helpers import free_port

from usage_analysis import archive
from usage_analysis.errors import InvalidParameter
from usage_analysis.schema import coerce_unified, report_rows

DOC = Path(__file__).resolve().parent.parent / "docs" / "scale.md"
MARKER = "<!-- tested by tests/test_scale_doc.py -->"


def doc_example() -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"```python\n(.*?)```", text[text.index(MARKER) :], re.S)
    assert match, "docs/scale.md lost its tested example"
    return match.group(1)


def usage() -> pd.DataFrame:
    """Two providers, two Particle months, sums that differ per month and product."""
    rows = []
    for day in pd.date_range("2026-01-20", "2026-02-10", freq="D", tz="UTC"):
        for i, (provider, product, unit) in enumerate(
            [
                ("particle", "Trackers", "data operations"),
                ("particle", "Sensors", "data operations"),
                ("here", "app-1", "transactions"),
            ]
        ):
            rows.append(
                {
                    "provider": provider,
                    "account_id": "acme",
                    "product": product,
                    "resource_id": f"{product}-dev",
                    "meter_id": "m",
                    "period_start": day,
                    "period_end": day + pd.Timedelta(days=1),
                    "quantity": float(day.day * (i + 1)),
                    "unit": unit,
                }
            )
    return coerce_unified(pd.DataFrame(rows))


def fill(where: dict[str, Any]) -> pd.DataFrame:
    df = usage()
    for provider in ("particle", "here"):
        part = df.loc[(df["provider"] == provider).to_numpy()]
        archive.archive_frame(part, report_id=provider, **where)
    return df


def check_example(where: dict[str, Any]) -> None:
    df = fill(where)
    ns: dict[str, Any] = {"ARCHIVE": where["archive"], "OPTIONS": where["storage_options"]}
    exec(compile(doc_example(), str(DOC), "exec"), ns)
    monthly: pl.DataFrame = ns["monthly"]
    same: pd.DataFrame = ns["same"]
    per_product: pd.DataFrame = ns["per_product"]
    particle = df.loc[(df["provider"] == "particle").to_numpy()]
    by_month = particle.groupby(particle["period_start"].dt.strftime("%Y-%m"))["quantity"].sum()
    assert (
        monthly["month"].to_list() == same["month"].astype(str).tolist() == ["2026-01", "2026-02"]
    )
    assert monthly["quantity"].to_list() == same["quantity"].tolist() == by_month.tolist()
    got = per_product.set_index("product")["quantity"].sort_index()
    want = df.groupby("product", observed=True)["quantity"].sum().sort_index()
    assert got.to_dict() == want.to_dict()
    assert archive.history(**where)["quantity"].sum() == per_product["quantity"].sum()


@pytest.mark.slow
def test_the_scale_example_runs_on_a_local_archive(tmp_path: Path) -> None:
    check_example({"archive": str(tmp_path / "archive"), "storage_options": None})


@pytest.mark.slow
def test_scan_reads_the_chosen_grain_only_and_lazily(tmp_path: Path) -> None:
    where = {"archive": str(tmp_path / "archive"), "storage_options": None}
    fill(where)
    lazy = archive.scan(**where)
    assert isinstance(lazy, pl.LazyFrame)  # nothing read yet
    # A provider condition skips files; the answer equals history()'s.
    here = lazy.filter(pl.col("provider") == "here").select(pl.len()).collect().item()
    assert here == len(archive.history(provider="here", **where))
    rel = archive.scan(engine="duckdb", **where)
    assert rel.aggregate("count(*)").fetchall() == [(len(archive.history(**where)),)]
    with pytest.raises(InvalidParameter, match="engine"):
        archive.scan(engine="spark", **where)


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
                client(url).list_buckets()
                break
            except Exception:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def client(url: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.mark.slow
def test_the_scale_example_runs_on_an_archive_on_s3(s3_endpoint: str) -> None:
    client(s3_endpoint).create_bucket(Bucket="scale-doc")
    options = {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"},
    }
    check_example({"archive": "s3://scale-doc/archive", "storage_options": options})


@pytest.mark.slow
def test_the_daily_cube_sums_each_day_in_the_engine_like_pandas(tmp_path: Path) -> None:
    where = {"archive": str(tmp_path / "archive"), "storage_options": None}
    df = fill(where)
    cube = archive.daily_cube(by=["product"], **where)
    assert list(cube.columns)[: len(df.columns)] == list(df.columns)
    keys = ["provider", "product", "period_start"]
    want = df.groupby(keys, observed=True)["quantity"].sum()
    got = cube.groupby(keys, observed=True)["quantity"].sum()
    assert got.to_dict() == want.to_dict()
    assert len(cube) == len(want)
    # Each cube row counts the archived rows it sums.
    counts = df.groupby(keys, observed=True).size()
    assert cube.groupby(keys, observed=True)["report_rows"].sum().to_dict() == counts.to_dict()
    assert report_rows(cube) == len(df) == report_rows(df)
    assert (cube["period_end"] - cube["period_start"] == pd.Timedelta(days=1)).all()
    with pytest.raises(InvalidParameter, match="by"):
        archive.daily_cube(by=["quantity"], **where)
