"""A fourth provider, whole, in one module: its client, its reader and its grain.

"Acme Cloud" serves one CSV report (``Day,Widget,Calls``) through a tiny JSON API:
``POST /reports`` -> ``{"id"}``, ``GET /reports/{id}`` -> ``{"state"}``,
``GET /reports/{id}/file`` -> the CSV. ``PROVIDER`` describes it to the registry;
:func:`registered` adds it for the length of a ``with`` block.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from usage_analysis import providers
from usage_analysis.clients._base import BaseClient
from usage_analysis.clients.job import PENDING, READY, Poll, ReportJob

NAME = "acme"
BASE_URL = "https://api.acme.test"
HEADER = ["Day", "Widget", "Calls"]

# --------------------------------------------------------------------- the API


def report_csv(start: date, end: date) -> bytes:
    """The report the API serves: two widgets, ``calls`` = day of month (x10 for w-2)."""
    lines = [",".join(HEADER)]
    day = start
    while day <= end:
        lines += [f"{day.isoformat()},w-1,{day.day}", f"{day.isoformat()},w-2,{day.day * 10}"]
        day += timedelta(days=1)
    return ("\n".join(lines) + "\n").encode()


class AcmeAPI:
    """The provider's side, as an httpx transport: a report is ready at the second poll."""

    def __init__(self) -> None:
        self.reports: dict[str, dict[str, Any]] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.strip("/").split("/")
        if request.method == "POST" and parts == ["reports"]:
            body = json.loads(request.content)
            rid = f"R{len(self.reports) + 1}"
            self.reports[rid] = {"params": body, "polls": 0}
            return httpx.Response(201, json={"id": rid, "state": "queued"})
        if parts[0] == "reports" and len(parts) >= 2 and parts[1] in self.reports:
            report = self.reports[parts[1]]
            if len(parts) == 2:
                report["polls"] += 1
                return httpx.Response(
                    200, json={"state": "done" if report["polls"] > 1 else "queued"}
                )
            start = date.fromisoformat(report["params"]["start"])
            end = date.fromisoformat(report["params"]["end"])
            return httpx.Response(200, content=report_csv(start, end))
        return httpx.Response(404, json={"error": "not found"})


# --------------------------------------------------------------------- the client


class AcmeClient(BaseClient):
    """Requests, polls and downloads Acme Cloud reports."""

    provider = NAME
    default_endpoint = BASE_URL

    def __init__(self, *, account: str = "acme-1", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._account = account

    @classmethod
    def from_journal(cls, account: str, endpoints: Mapping[str, str]) -> AcmeClient:
        return cls(account=account)

    @property
    def account(self) -> str:
        return self._account

    def endpoints(self) -> dict[str, str]:
        return {"base_url": BASE_URL}

    def request(self, start: date | str, end: date | str, **options: Any) -> ReportJob:
        params = {"start": str(start), "end": str(end)}
        return self._submit(params, refresh=bool(options.get("refresh")))

    def _create(self, params: dict[str, Any]) -> tuple[str, Poll]:
        answer = self.http.send_json(
            "POST", f"{BASE_URL}/reports", what="request", json_body=params
        )
        return str(answer["id"]), Poll(PENDING, str(answer["state"]))

    def _poll(self, job: ReportJob) -> Poll:
        answer = self.http.send_json("GET", f"{BASE_URL}/reports/{job.id}", what="status")
        state = str(answer["state"])
        return Poll(READY if state == "done" else PENDING, state)

    def _download_request(self, job: ReportJob) -> tuple[str, dict[str, str]]:
        return f"{BASE_URL}/reports/{job.id}/file", {}


# --------------------------------------------------------------------- the reader
# The reader protocol of usage_analysis.readers (see readers/particle.py).

KINDS = ("calls",)
LAYOUTS: dict[str, Any] = {}


def detect_csv(sniffed: Any) -> str | None:
    return "calls" if [h.strip() for h in sniffed.header] == HEADER else None


def default_kind(sniffed: Any) -> str:
    return "calls"


def guess_kind(df: pd.DataFrame) -> str:
    return "calls"


def read_csv(member: Any, sniffed: Any, *, kind: str, ctx: Any, column_map: Any) -> pa.Table:
    data = bytes(member.data)[sniffed.skip_bytes :]
    types = {"Day": pa.timestamp("ns"), "Widget": pa.string(), "Calls": pa.float64()}
    table = pacsv.read_csv(
        pa.BufferReader(data), convert_options=pacsv.ConvertOptions(column_types=types)
    )
    day = table.column("Day").cast(pa.timestamp("ns", tz="UTC"))  # the file's days are UTC
    return pa.table({"day": day, "widget": table.column("Widget"), "calls": table.column("Calls")})


def unify(df: pd.DataFrame, *, kind: str) -> tuple[dict[str, pd.Series | None], dict[str, Any]]:
    idx = df.index

    def const(value: str) -> pd.Series:
        return pd.Series(value, index=idx)

    cols: dict[str, pd.Series | None] = {
        "provider": const(NAME),
        "resource_id": df["widget"],
        "meter_id": const("api_calls"),
        "meter": const("API calls"),
        "category": const("widget"),
        "period_start": df["day"],
        "period_end": df["day"] + pd.Timedelta(days=1),
        "quantity": df["calls"],
        "unit": const("calls"),
        "billable_quantity": df["calls"],
        "billable_unit": const("calls"),
    }
    return cols, {}


# --------------------------------------------------------------------- the grain


def guess_grain(df: Mapping[str, Any], at: Mapping[str, np.int8]) -> np.ndarray:
    """Every Acme row is of its one grain, ``calls``."""
    return np.full(len(df["provider"]), at["calls"], dtype=np.int8)


PROVIDER = providers.Provider(
    name=NAME,
    display="Acme Cloud",
    client=f"{__name__}:AcmeClient",
    reader=__name__,
    grains=("calls",),
    kind_grains={"calls": "calls"},
    guess_grain=f"{__name__}:guess_grain",
    grain_spans={"calls": timedelta(days=1)},
)


@contextlib.contextmanager
def registered() -> Iterator[providers.Provider]:
    """Acme Cloud in the registry while the block runs (other tests see three providers)."""
    providers.register(PROVIDER)
    try:
        yield PROVIDER
    finally:
        providers.unregister(NAME)
