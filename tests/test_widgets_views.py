"""The explorer's top-consumers table says what a share is, for any quantities.

A unit whose total is 0 (every quantity 0 or missing) has no shares: the table
says "no usage" there, never "nan %".
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usage_analysis.schema import coerce_unified
from usage_analysis.widgets._views import NO_USAGE, top_table_html

DAY = pd.Timedelta(days=1)
START = pd.Timestamp("2026-11-01", tz="UTC")
SHARE = re.compile(r"^\d{1,3}\.\d %$")


def usage(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    """Particle-like rows (device, unit, quantity), one day each."""
    return coerce_unified(
        pd.DataFrame(
            {
                "provider": "particle",
                "account_id": "org-1",
                "resource_id": [r[0] for r in rows],
                "period_start": [START + i * DAY for i in range(len(rows))],
                "period_end": [START + (i + 1) * DAY for i in range(len(rows))],
                "quantity": np.array([r[2] for r in rows], dtype=np.float64),
                "unit": [r[1] for r in rows],
            }
        )
    )


def share_cells(html: str) -> list[tuple[str, str]]:
    """(share, cumulative) cell texts of each row."""
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", html)
    return [(cells[i + 4], cells[i + 5]) for i in range(0, len(cells), 6)]


def test_a_unit_with_only_missing_quantities_says_no_usage_not_nan() -> None:
    df = usage([("dev-a", "ops", np.nan), ("dev-b", "ops", np.nan)])
    html = top_table_html(df, by="resource_id", quantity="quantity", n=10)
    assert "nan" not in html.lower()
    assert share_cells(html) == [(NO_USAGE, NO_USAGE)] * 2


quantity = st.one_of(
    st.just(np.nan),
    st.just(0.0),
    st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False),
)


@pytest.mark.slow
@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["dev-a", "dev-b", "dev-c"]), st.sampled_from(["ops", "GB"]), quantity
        ),
        min_size=1,
        max_size=12,
    )
)
def test_every_share_in_the_top_table_is_a_percent_or_no_usage(
    rows: list[tuple[str, str, float]],
) -> None:
    html = top_table_html(usage(rows), by="resource_id", quantity="quantity", n=10)
    text = re.sub(r"<[^>]+>", " ", html).lower()
    assert "nan" not in text and "inf" not in text
    totals: dict[str, float] = {}
    for _, unit, q in rows:
        totals[unit] = totals.get(unit, 0.0) + (0.0 if np.isnan(q) else q)
    cells = share_cells(html)
    units = re.findall(r"<td[^>]*>([^<]*)</td>", html)[3::6]
    assert len(cells) == len(units)
    for (share, cumulative), unit in zip(cells, units, strict=True):
        if totals[unit] > 0:
            assert SHARE.match(share) and SHARE.match(cumulative), (share, cumulative)
        else:
            assert share == cumulative == NO_USAGE
