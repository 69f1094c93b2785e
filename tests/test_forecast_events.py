"""Planned events in the forecast, and the freshness of every number: known answers by hand.

The world: one Particle account, two devices at 50 data operations a day each,
Dec 1 to Dec 10 2026 (as of Dec 11 00:00). The daily rate is 100; 21 days remain.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import usage_analysis as ua
from usage_analysis import charts
from usage_analysis.analysis.freshness import ran_out_text
from usage_analysis.errors import InvalidParameter, ReportParseError
from usage_analysis.monitors import Monitor, evaluate, load_monitors
from usage_analysis.schema import coerce_unified


def day(d: str) -> pd.Timestamp:
    return pd.Timestamp(d, tz="UTC")


def frame(provider: str = "particle", days: int = 10, per_device: float = 50.0) -> pd.DataFrame:
    rows = []
    for d in pd.date_range("2026-12-01", periods=days, freq="D", tz="UTC"):
        for dev in ("a", "b"):
            rows.append(
                {
                    "provider": provider,
                    "account_id": "acme",
                    "resource_id": dev,
                    "period_start": d,
                    "period_end": d + pd.Timedelta(days=1),
                    "quantity": per_device,
                    "unit": "data operations",
                    "billable_quantity": per_device,
                    "billable_unit": "data operations",
                }
            )
    return coerce_unified(pd.DataFrame(rows))


def test_without_events_the_rate_runs_to_the_month_end() -> None:
    row = ua.forecast(frame()).iloc[0]
    assert row["used"] == 1_000.0
    assert row["projected"] == 1_000.0 + 21 * 100.0


def test_more_devices_add_the_average_device_from_their_day() -> None:
    # +2 devices from Dec 21 (11 days): the rate doubles to 200 on those days.
    row = ua.forecast(frame(), events="+2 devices from 2026-12-21", allowance=4_000).iloc[0]
    assert row["projected"] == 1_000.0 + 10 * 100.0 + 11 * 200.0  # 4,200
    # Running total: 2,000 by the end of Dec 20, then 200 a day: 4,000 on Dec 30.
    assert row["runs_out_on"] == day("2026-12-30")
    assert row["projected_percent"] == pytest.approx(105.0)
    assert row["percent"] == pytest.approx(25.0)


def test_a_rate_factor_and_extra_use_per_day_compose() -> None:
    events = [
        ua.Event.scale(1.5, start="2026-12-21"),
        ua.Event.add(10, start="2026-12-31"),
    ]
    row = ua.forecast(frame(), events=events).iloc[0]
    # Dec 11-20: 100 a day; Dec 21-30: 150; Dec 31: (100 + 10) x 1.5 = 165.
    assert row["projected"] == pytest.approx(1_000 + 1_000 + 1_500 + 165)


def test_an_event_with_an_end_covers_only_its_days_and_never_changes_reported_days() -> None:
    row = ua.forecast(frame(), events="+100 per day from 2026-11-01 until 2026-12-13").iloc[0]
    # Only Dec 11 and 12 are estimated days inside the event: +100 each.
    assert row["projected"] == pytest.approx(3_100 + 200)
    assert row["used"] == 1_000.0


def test_events_are_read_from_text_and_refused_when_unreadable() -> None:
    e = ua.Event.parse("+5,000 devices from 2027-01-15")
    assert (e.kind, e.value, e.start, e.end) == ("devices", 5_000.0, day("2027-01-15"), None)
    assert ua.Event.parse("rate x1.3 from 2027-01-01").value == 1.3
    assert ua.Event.parse("+2000 per day from 2027-01-01 until 2027-02-01").end == day("2027-02-01")
    with pytest.raises(InvalidParameter, match="could not read"):
        ua.Event.parse("lots more from tomorrow")
    with pytest.raises(InvalidParameter, match="ends after"):
        ua.Event.add(1, start="2027-02-01", end="2027-01-01")


def test_devices_need_devices_in_the_history() -> None:
    df = frame().assign(resource_id=None)
    with pytest.raises(InvalidParameter, match="resource_id"):
        ua.forecast(coerce_unified(df), events="+3 devices from 2026-12-20")


def test_the_overview_takes_events_per_provider_or_account() -> None:
    df = ua.concat([frame(), frame("informatica")])
    table = ua.overview(df, events={"particle": ["rate x2 from 2026-12-11"]})
    got = dict(zip(table["provider"].astype(str), table["forecast"], strict=True))
    assert got["particle"] == pytest.approx(1_000 + 21 * 200)
    assert got["informatica"] == pytest.approx(3_100)
    everyone = ua.overview(df, events="rate x2 from 2026-12-11")
    assert everyone["forecast"].tolist() == pytest.approx([5_200, 5_200])


def test_a_monitor_takes_events_from_its_file_and_forecasts_as_the_overview(
    tmp_path: Path,
) -> None:
    path = tmp_path / "monitors.toml"
    path.write_text(
        '[[monitor]]\nname = "ops"\nkind = "forecast"\nprovider = "particle"\n'
        'allowance = 4000\nevents = ["+2 devices from 2026-12-21"]\n'
    )
    (monitor,) = load_monitors(path).monitors
    assert monitor.events == (ua.Event.devices(2, start="2026-12-21"),)
    (state,) = evaluate([monitor], frame(), now="2026-12-11T06:00Z")
    assert state.forecast == pytest.approx(4_200)
    assert state.forecast_crosses_on == day("2026-12-30")
    assert state.status == "forecast over"
    (alert,) = state.alerts
    assert "forecast over: forecast 105.0 % by Dec 31" in alert.message
    assert "runs out on Dec 30" in alert.message
    assert "data as of 2026-12-11 00:00 UTC" in alert.message
    table = ua.overview(frame(), allowances={"acme": 4_000}, events="+2 devices from 2026-12-21")
    assert table.loc[0, "forecast_percent"] == pytest.approx(state.forecast_percent)

    path.write_text(
        '[[monitor]]\nname = "ops"\nkind = "forecast"\nprovider = "particle"\n'
        'allowance = 4000\nevents = ["twice as much soon"]\n'
    )
    with pytest.raises(ReportParseError, match="events"):
        load_monitors(path)


def test_the_burn_down_marks_each_event_and_bends_at_it() -> None:
    events = ["+2 devices from 2026-12-21"]
    fig = charts.cumulative_vs_allowance(frame(), plan=ua.ParticlePlan.free(), events=events)
    labels = [a.text for a in fig.layout.annotations]
    assert "+2 devices from 2026-12-21" in labels
    line = next(t for t in fig.data if t.name == "forecast")
    assert line.y[-1] == pytest.approx(4_200)
    # The course: 100 a day to Dec 20, 200 a day after.
    ends = dict(zip(line.x, line.y, strict=True))
    assert ends[next(x for x in ends if x.startswith("2026-12-21"))] == pytest.approx(2_000)
    assert ends[next(x for x in ends if x.startswith("2026-12-22"))] == pytest.approx(2_200)


# ----------------------------------------------------------------------------- freshness


def test_freshness_says_as_of_the_partial_month_and_heres_provisional_days() -> None:
    fresh = ua.freshness(frame())
    assert fresh.as_of == day("2026-12-11")
    assert fresh.partial and not fresh.provisional
    assert fresh.text == "data as of 2026-12-11 00:00 UTC"
    assert fresh.footnote == "data as of 2026-12-11 00:00 UTC · Dec 2026 so far"
    here = ua.freshness(frame("here"))
    assert here.complete_until == day("2026-12-09") and here.provisional
    assert "days from Dec 9 are provisional (HERE reports lag up to 48 h)" in here.footnote
    whole = ua.freshness(frame(days=31))
    assert not whole.partial and whole.period_start == day("2026-12-01")


def test_a_run_out_day_in_the_past_reads_ran_out_on() -> None:
    assert ran_out_text(day("2026-12-03"), day("2026-12-11")) == "the allowance ran out on Dec 3"
    assert ran_out_text(day("2026-12-27"), day("2026-12-11")) == "the allowance runs out on Dec 27"
    # 1,000 used of a 300 allowance: it ran out on Dec 3 (100 a day).
    row = ua.forecast(frame(), allowance=300).iloc[0]
    assert row["runs_out_on"] == day("2026-12-03")
    ipus = frame("informatica")
    status = ua.ipu_status(ipus, entitlement=300, start="2026-12-01", end="2027-01-01")
    fig = charts.cumulative_vs_allowance(ipus, plan=status)
    assert "the allowance ran out on Dec 3" in fig.layout.title.subtitle.text
    (state,) = evaluate(
        [Monitor("m", "forecast", "particle", allowance=300)], frame(), now="2026-12-11T06:00Z"
    )
    assert state.status == "over"


@pytest.mark.slow
def test_every_chart_says_as_of_and_marks_the_partial_month_and_heres_provisional_days() -> None:
    here = frame("here")
    fig = charts.usage_over_time(here, by="account_id", freq="D", quantity="billable_quantity")
    note = fig.layout.title.subtitle.text
    assert "data as of 2026-12-11 00:00 UTC" in note
    assert "HERE days from Dec 9 are provisional (hatched)" in note
    (bars,) = fig.data
    shapes = list(bars.marker.pattern.shape)
    assert shapes[-2:] == ["/", "/"] and set(shapes[:-2]) == {""}  # Dec 9 and 10
    monthly = charts.usage_over_time(
        frame(), by="account_id", freq="MS", quantity="billable_quantity"
    )
    assert "dotted bars: period so far" in monthly.layout.title.subtitle.text
    assert list(monthly.data[0].marker.pattern.shape) == ["."]
    for fig in (
        charts.top_bar(frame(), by="resource_id"),
        charts.period_over_period(frame(), by="resource_id", freq="D"),
        charts.breakdown(frame(), path=("resource_id",)),
    ):
        assert fig.layout.title.subtitle.text.startswith("data as of 2026-12-11 00:00 UTC")
