"""HERE search pages: the client as it pages and the reader on saved pages judge alike.

One rule (``readers.here.PageTally``) says when the pages of a search repeat a
page, lack one or hold more records than their ``total``; ``HereClient.search()``
and ``readers.here.check_pages`` both apply it. Asked about the same pages, they
refuse the same ones and keep the same records.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usage_analysis.clients import FakeClock, HereClient
from usage_analysis.errors import APIError, ReportParseError
from usage_analysis.readers.here import check_pages


def pages_of(n: int, limit: int, fault: str, at: int, written: str) -> list[dict[str, Any]]:
    """The pages of one search of ``n`` records, with a fault, ``total`` written as ``written``."""
    items = [{"featureId": f"f{i}", "billableValue": f"{i}.0000"} for i in range(n)]
    chunks = [items[i : i + limit] for i in range(0, n, limit)] or [[]]
    total: Any = {"int": n, "str": str(n), "float": float(n)}[written]
    pages = [{"total": total, "limit": limit, "items": c} for c in chunks]
    k = at % len(pages)
    if fault == "repeat" and len(pages) > 1:
        # Before the last page: past it, the client has its total and asks no more.
        k = at % (len(pages) - 1)
        pages.insert(k + 1, pages[k])
    elif fault == "drop" and len(pages) > 1:
        del pages[k]
    elif fault == "retotal" and len(pages) > 1:
        pages[max(k, 1)] = {**pages[max(k, 1)], "total": n + 1}  # another search's page
    return pages


def serve(pages: list[dict[str, Any]]) -> HereClient:
    """A server answering offset k (a page number, as the spec counts) with pages[k]."""

    def handler(request: httpx.Request) -> httpx.Response:
        k = int(request.url.params["offset"])
        body = {**pages[k], "lastOffset": len(pages) - 1}
        if k + 1 < len(pages):
            body["nextOffset"] = k + 1
        return httpx.Response(200, json=body)

    return HereClient(
        token="here-token-0123456789",
        realm_id="org123456",
        base_url="https://usage.test/v2",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        clock=FakeClock(),
    )


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 40),
    limit=st.integers(1, 9),
    fault=st.sampled_from(["none", "repeat", "drop", "retotal"]),
    at=st.integers(0, 8),
    written=st.sampled_from(["int", "str", "float"]),
)
def test_client_and_reader_refuse_the_same_pages_and_keep_the_same_records(
    n: int, limit: int, fault: str, at: int, written: str
) -> None:
    pages = pages_of(n, limit, fault, at, written)
    try:
        got: list[dict[str, Any]] | None = serve(pages).search(
            "2026-10-01", "2026-10-02", limit=limit
        )
    except APIError:
        got = None
    try:
        check_pages(pages, label="pages.json", member=None)
        read: list[dict[str, Any]] | None = [i for p in pages for i in p["items"]]
    except ReportParseError:
        read = None
    assert (got is None) == (read is None), (fault, written, got is None)
    assert got == read
    if fault == "none":
        assert got is not None and len(got) == n
