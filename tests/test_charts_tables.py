"""Report tables: numbers as people read them, "—" where nothing applies, colour past a threshold."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

import usage_analysis as ua
from usage_analysis import charts
from usage_analysis.readers import read_report
from usage_analysis.schema import coerce_unified

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"


@pytest.fixture(scope="module")
def usage() -> pd.DataFrame:
    frames = [
        read_report(SAMPLES / "particle_devices_2026-09-01_2026-11-20.csv", unified=True),
        read_report(SAMPLES / "here_report_2026-10.csv.gz", unified=True),
        read_report(SAMPLES / "informatica_summary_2026-10.zip", unified=True),
    ]
    return coerce_unified(pd.concat(frames, ignore_index=True))


def cells(html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>.*?</td>", html, re.S)]


def test_the_overview_table_reads_like_a_report(usage: pd.DataFrame) -> None:
    plan = ua.ParticlePlan.basic(blocks=1)
    table = ua.overview(usage, allowances={"particle": plan, ("informatica", "x"): 1.0})
    html = charts.overview_table(table).to_html()
    text = cells(html)
    assert not [c for c in text if c.lower() in ("nan", "nat", "none", "<na>")]
    assert "—" in text  # HERE has no allowance
    particle = table.loc[table["provider"] == "particle"].iloc[0]
    # Thousands separators, percent with "%", the month as a month, a date as a date.
    assert f"{particle['used']:,.0f}" in text
    assert f"{particle['percent']:.1f} %" in text
    assert "Nov 2026" in " ".join(text) and "Oct 2026" in " ".join(text)  # each row's month
    alone = charts.overview_table(ua.overview(usage.loc[usage["provider"] == "particle"]))
    assert "Nov 2026 so far" in alone.to_html() and "Oct 2026 (complete)" in alone.to_html()
    runs_out = pd.Timestamp(particle["runs_out_on"])
    assert f"{runs_out:%b} {runs_out.day}" in text
    assert "rate of 28 days of data" in " ".join(text)
    # 86.9 % used is past the 70 % warning; the forecast past 100 % is red.
    assert particle["percent"] > 70 and particle["forecast_percent"] > 100
    assert "#fff3cd" in html and "#f8d7da" in html
    joined = " ".join(text)
    assert "Particle" in joined and "HERE" in joined and "Informatica" in joined
    assert "Acme Analytics" in joined  # names, not ids, where the report has them


def test_text_from_a_report_is_escaped_in_the_table(usage: pd.DataFrame) -> None:
    table = ua.overview(usage)
    table["account_name"] = table["account_name"].astype(object)
    table.loc[0, "account_name"] = "<script>alert(1)</script>"
    html = charts.overview_table(table).to_html()
    assert "<script>alert" not in html and "&lt;script&gt;" in html


def test_a_forecast_from_two_days_says_so(usage: pd.DataFrame) -> None:
    early = usage.loc[(usage["provider"] == "particle") & (usage["period_start"] >= "2026-11-19")]
    text = " ".join(cells(charts.overview_table(ua.overview(early)).to_html()))
    assert "rate of 2 days of data" in text
    assert re.search(r"[\d,]+ to [\d,]+", text)  # the interval


def test_spend_is_shown_per_month_and_currency_never_added_across_currencies() -> None:
    spend = pd.DataFrame(
        {
            "provider": ["particle", "here", "here"],
            "account_id": ["a", "b", "b"],
            "month": pd.to_datetime(["2026-10-01", "2026-10-01", "2026-10-01"], utc=True),
            "currency": ["USD", "USD", "EUR"],
            "cost": [1234.5, 10.0, 20.0],
            "rows": [1, 1, 1],
        }
    )
    styler = charts.spend_table(spend, names={"a": "Acme"})
    text = cells(styler.to_html())
    assert "1,234.50 USD" in text and "20.00 EUR" in text and "10.00 USD" in text
    assert list(styler.data.columns) == ["provider", "account", "Oct 2026 (EUR)", "Oct 2026 (USD)"]
    assert "Acme" in text
