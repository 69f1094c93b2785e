"""Any report, passed through what a spreadsheet does to it, keeps its totals (issue 10).

A hypothesis strategy draws a small Particle or HERE report (written here, not by
our generator) and passes it through "add a total row", "save as European CSV"
(``;`` separated, decimal commas, ``.`` thousands), "CR line endings" and "save as
xlsx"; the unified total must stay the sum of the drawn amounts.
"""

from __future__ import annotations

import csv
import io
import warnings

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usage_analysis.readers import read_report

DEVICES = ("e00fce68a1b2c3d4e5f60718", "e00fce68a1b2c3d4e5f60719", "3a0037000c47353136383631")
FEATURES = ("hrn:here:service::org1:routing-8", "hrn:here:service::org1:search-geocoding-1")


@st.composite
def reports(draw: st.DrawFn) -> tuple[str, list[str], list[list[object]], list[int]]:
    """(provider, header, rows, amounts in cents) of a small report."""
    provider = draw(st.sampled_from(["particle", "here"]))
    n = draw(st.integers(min_value=1, max_value=12))
    cents = draw(st.lists(st.integers(0, 250_000_000), min_size=n, max_size=n))
    days = draw(st.lists(st.integers(1, 28), min_size=n, max_size=n))
    who = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    rows: list[list[object]] = []
    if provider == "particle":
        header = ["Date", "Device ID", "Device Name", "Total Data Operations"]
        for c, d, w in zip(cents, days, who, strict=True):
            rows.append([pd.Timestamp(2026, 10, d), DEVICES[w], f"dev-{w}", c / 100])
    else:
        header = [
            "Date and time (usageDateTime)",
            "Org ID (realmId)",
            "Item (featureId)",
            "Unit (valueDriver)",
            "Usage Amount (billableValue)",
        ]
        for c, d, w in zip(cents, days, who, strict=True):
            rows.append([pd.Timestamp(2026, 10, d), "org1", FEATURES[w], "Transactions", c / 100])
    return provider, header, rows, cents


def _number(value: float, european: bool) -> str:
    text = f"{value:,.2f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".") if european else text


def _csv(header: list[str], rows: list[list[object]], *, european: bool, cr: bool) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";" if european else ",", lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        cells = []
        for value in row:
            if isinstance(value, pd.Timestamp):
                cells.append(value.strftime("%Y-%m-%d"))
            elif isinstance(value, float):
                cells.append(_number(value, european))
            else:
                cells.append("" if value is None else str(value))
        writer.writerow(cells)
    text = buf.getvalue()
    return (text.replace("\n", "\r") if cr else text).encode()


def _xlsx(header: list[str], rows: list[list[object]]) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for row in rows:
        ws.append([v.to_pydatetime() if isinstance(v, pd.Timestamp) else v for v in row])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


@pytest.mark.slow
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    report=reports(),
    total_row=st.booleans(),
    form=st.sampled_from(["csv", "european", "cr", "european+cr", "xlsx"]),
)
def test_spreadsheet_treatments_keep_the_totals(
    report: tuple[str, list[str], list[list[object]], list[int]], total_row: bool, form: str
) -> None:
    provider, header, rows, cents = report
    expected = sum(cents) / 100
    if total_row and len(rows) > 1:
        total: list[object] = ["Total"] + [None] * (len(header) - 2) + [sum(cents) / 100]
        rows = [*rows, total]
    if form == "xlsx":
        data = _xlsx(header, rows)
    else:
        data = _csv(header, rows, european="european" in form, cr="cr" in form)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the summary-row warning is expected
        df = read_report(data, unified=True)
    assert df.attrs["provider"] == provider
    assert df["quantity"].sum() == pytest_approx(expected)
    assert len(df) == len(cents)


def pytest_approx(value: float) -> object:
    import pytest

    return pytest.approx(value, rel=1e-12, abs=1e-6)
