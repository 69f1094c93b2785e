"""Report tables: numbers as people read them, "—" where nothing applies, colour past a threshold."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import usage_analysis as ua
from usage_analysis import charts
from usage_analysis.errors import InvalidParameter
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_text_from_a_report_is_escaped_in_the_table(usage: pd.DataFrame) -> None:
    table = ua.overview(usage)
    table["account_name"] = table["account_name"].astype(object)
    table.loc[0, "account_name"] = "<script>alert(1)</script>"
    html = charts.overview_table(table).to_html()
    assert "<script>alert" not in html and "&lt;script&gt;" in html


@pytest.mark.slow
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


# --------------------------------------------------------------------------- charts.table


def test_any_table_shows_no_nan_nat_or_utc_offset() -> None:
    frame = pd.DataFrame(
        {
            "day": pd.to_datetime(["2026-12-04", None], utc=True),
            "seen": pd.to_datetime(["2026-12-04 14:05", "2026-12-05 00:00"], utc=True),
            "value": [5334.0, float("nan")],
            "name": ["gateway", None],
            "crossed": [True, False],
        }
    )
    text = cells(charts.table(frame).to_html())
    joined = " ".join(text)
    for bad in ("nan", "NaN", "NaT", "None", "+00:00", "<NA>"):
        assert bad not in joined, bad
    assert text[:5] == ["Dec 4, 2026", "Dec 4, 2026 14:05 UTC", "5,334", "gateway", "yes"]
    assert text[5:] == ["—", "Dec 5, 2026 00:00 UTC", "—", "—", "no"]


def test_a_table_says_percent_and_keeps_one_number_of_decimals_per_column() -> None:
    frame = pd.DataFrame(
        {"quantity": [1.0, 2.5, 1000.0], "% of threshold": [70.0, 5.25, 100.0], "count": [1, 2, 3]}
    )
    text = cells(charts.table(frame, percent=()).to_html())
    quantity, percent, count = text[0::3], text[1::3], text[2::3]
    assert quantity == ["1.00", "2.50", "1,000.00"]
    assert percent == ["70.0 %", "5.2 %", "100.0 %"]  # one decimal, "%" said
    assert count == ["1", "2", "3"]
    for column in (quantity, percent):
        assert len({len(c.split(".")[1].rstrip(" %")) for c in column}) == 1


def test_a_table_names_its_columns_and_refuses_one_it_lacks() -> None:
    frame = pd.DataFrame({"resource_name": ["a"], "value": [1.0]})
    html = charts.table(frame, columns={"value": "data operations", "resource_name": "device"})
    assert re.findall(r"<th[^>]*>(.*?)</th>", html.to_html()) == ["data operations", "device"]
    with pytest.raises(ua.InvalidParameter, match="'devices'"):
        charts.table(frame, columns={"devices": "x"})


def test_threshold_colours_in_any_table_follow_the_plan_levels() -> None:
    frame = pd.DataFrame({"used %": [50.0, 75.0, 101.0]})
    html = charts.table(frame, thresholds=("used %",)).to_html()
    assert "#fff3cd" in html and "#f8d7da" in html and "#ffe5cc" not in html


@pytest.mark.parametrize(
    ("price", "unit", "shown"),
    [
        (0.00083, "Transactions", "0.83 USD per 1,000 Transactions"),
        (0.000083, "Transactions", "0.083 USD per 1,000 Transactions"),
        (0.0045, "Transactions", "4.50 USD per 1,000 Transactions"),
        (0.09, "GB", "0.09 USD per GB"),
        (0.025, "GB-months", "0.025 USD per GB-months"),
        (1250.0, "block", "1,250.00 USD per block"),
        (2e-8, "Transactions", "0.02 USD per 1,000,000 Transactions"),
    ],
)
def test_a_price_is_shown_with_the_digits_it_needs_and_its_unit(
    price: float, unit: str, shown: str
) -> None:
    assert charts.format_price(price, unit, "USD") == shown


@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=1e-7, max_value=1e6, allow_nan=False, allow_infinity=False))
def test_a_shown_price_never_reads_zero_and_reads_back_within_a_percent(price: float) -> None:
    shown = charts.format_price(price, "Transactions", "USD")
    match = re.fullmatch(r"([\d,.]+) USD per (?:([\d,]+) )?Transactions", shown)
    assert match, shown
    amount = float(match.group(1).replace(",", ""))
    per = int((match.group(2) or "1").replace(",", ""))
    assert amount > 0
    assert amount / per == pytest.approx(price, rel=0.01)


@pytest.mark.slow
def test_an_account_is_shown_whole_with_its_id_on_hover(usage: pd.DataFrame) -> None:
    spend = ua.costs(usage).spend
    long_id = "0123456789abcdefghij-long-account-id"
    spend = spend.assign(account_id=long_id)
    html = charts.spend_table(spend, names={long_id: "Acme Very Long Account Name Ltd"}).to_html()
    assert "Acme Very Long Account Name Ltd" in html
    assert f"title='{long_id}'" in html
    nameless = charts.spend_table(spend).to_html()
    assert long_id in nameless and "…" not in nameless


@pytest.mark.slow
def test_every_spend_caption_says_when_prices_are_examples(usage: pd.DataFrame) -> None:
    example = ua.costs(usage)
    shown = [
        charts.spend_table(example.spend, caption="Spend").to_html(),
        charts.spend_table(example.combined, by=(), caption="All").to_html(),
        charts.cost_forecast_table(example.forecast, caption="This month").to_html(),
        charts.cost_forecast_table(example.combined_forecast, caption="Together").to_html(),
    ]
    for html in shown:
        (caption,) = re.findall(r"<caption>(.*?)</caption>", html)
        assert "EXAMPLE prices" in caption
    own = ua.costs(usage, prices=dataclasses.replace(example.prices, example=False))
    assert "EXAMPLE" not in charts.spend_table(own.spend, caption="Spend").to_html()


@pytest.mark.slow
def test_the_combined_cost_forecast_is_one_row_per_month_and_currency(
    usage: pd.DataFrame,
) -> None:
    result = ua.costs(usage)
    combined = result.combined_forecast
    text = cells(charts.cost_forecast_table(combined).to_html())
    assert "all providers" in text
    per_account = result.forecast
    for rec in combined.to_dict("records"):
        mine = per_account[
            (per_account["month"] == rec["month"]) & (per_account["currency"] == rec["currency"])
        ]
        assert rec["projected"] == pytest.approx(mine["projected"].sum())
        assert f"{rec['projected']:,.2f} {rec['currency']}" in text


# ----------------------------------------------------------------- freshness


@pytest.mark.slow
def test_every_table_says_data_as_of_the_newest_row(usage: pd.DataFrame) -> None:
    """The caption's 'data as of' is ua.freshness of the rows shown: the one function."""
    particle = usage.loc[usage["provider"] == "particle"]
    here = usage.loc[usage["provider"] == "here"]
    for rows in (particle, here, usage):
        expected = ua.freshness(rows).text
        # the newest row's end, to the minute (not a second computation: the same text)
        newest = rows["period_end"].max()
        assert expected == f"data as of {newest:%Y-%m-%d %H:%M} UTC"
        shown = charts.table(rows.head(3), columns={"product": "product"}, fresh=rows).to_html()
        assert expected in shown
        # A Freshness already asked of the rows gives the same line.
        assert expected in charts.table(rows.head(3), fresh=ua.freshness(rows)).to_html()
    # A caption keeps its words; HERE's provisional days are named as on the charts.
    shown = charts.table(here.head(2), caption="HERE usage", fresh=here).to_html()
    assert "HERE usage · data as of " in shown and "provisional" in shown
    # Without fresh= a table says nothing about freshness (nothing invented).
    assert "data as of" not in charts.table(particle.head(2)).to_html()
    status = ua.overview(usage)
    assert ua.freshness(usage).text in charts.overview_table(status, fresh=usage).to_html()


@pytest.mark.slow
def test_spend_tables_say_data_as_of(usage: pd.DataFrame) -> None:
    cost = ua.costs(usage)
    expected = ua.freshness(usage).text
    assert expected in charts.spend_table(cost.spend, fresh=usage).to_html()
    assert expected in charts.cost_forecast_table(cost.forecast, fresh=usage).to_html()


def test_a_table_refuses_a_freshness_that_is_neither_frame_nor_freshness(
    usage: pd.DataFrame,
) -> None:
    with pytest.raises(ua.InvalidParameter):
        charts.table(usage.head(2), fresh="yesterday")  # type: ignore[arg-type]


def column_css(html: str, header: str) -> set[str]:
    """The CSS declarations every body cell under ``header`` carries (pandas Styler HTML)."""
    heads = re.findall(r'<th [^>]*class="col_heading level0 (col\d+)"[^>]*>(.*?)</th>', html, re.S)
    col = next(c for c, text in heads if re.sub(r"<[^>]+>", "", text).strip() == header)
    ids = re.findall(rf'<td id="([^"]+)" class="data row\d+ {col}"', html)
    assert ids, header
    rules = re.findall(r"([^{}]+)\{([^}]*)\}", html.split("</style>")[0])
    per_cell = []
    for cell in ids:
        props: set[str] = set()
        for selectors, body in rules:
            if f"#{cell}" in [s.strip() for s in selectors.split(",")]:
                props |= {p.strip().replace(" ", "") for p in body.split(";") if p.strip()}
        per_cell.append(props)
    return set.intersection(*per_cell)


def test_date_and_month_columns_never_wrap() -> None:
    frame = pd.DataFrame(
        {
            "month": pd.to_datetime(["2026-10-01", "2026-11-01"], utc=True),
            "day": pd.to_datetime(["2026-10-04", "2026-11-30"]),
            "seen": pd.to_datetime(["2026-10-04 14:05", None], utc=True),
            "feature": ["Vector Tiles", "Routing"],
            "cost": [12.5, 3.0],
        }
    )
    styler = charts.table(frame, months=("month",))
    html = styler.to_html()
    assert cells(html)[:3] == ["Oct 2026", "Oct 4, 2026", "Oct 4, 2026 14:05 UTC"]
    for header in ("month", "day", "seen"):
        assert "white-space:nowrap" in column_css(html, header), header
    # The check can fail: text still wraps.
    assert "white-space:nowrap" not in column_css(html, "feature")
    with pytest.raises(InvalidParameter, match="months"):
        charts.table(frame, months=("feature",))
    with pytest.raises(InvalidParameter, match="months"):
        charts.table(frame, columns={"day": "day"}, months=("month",))


@pytest.mark.slow
def test_report_tables_keep_their_month_and_day_columns_on_one_line(usage: pd.DataFrame) -> None:
    overview = charts.overview_table(ua.overview(usage)).to_html()
    assert "white-space:nowrap" in column_css(overview, "runs out on")
    forecast = charts.cost_forecast_table(ua.costs(usage).forecast).to_html()
    assert "white-space:nowrap" in column_css(forecast, "month")
