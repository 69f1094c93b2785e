"""Charts: what each figure shows adds up to the frame, units never mix, figures stay small."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import usage_analysis as ua
from usage_analysis import charts
from usage_analysis.analysis import (
    ParticlePlan,
    compare_periods,
    forecast,
    ipu_status,
    plan_status,
)
from usage_analysis.errors import InvalidParameter, SchemaError, UnitMismatch
from usage_analysis.readers import read_report
from usage_analysis.schema import coerce_unified

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"


def synthetic(
    *,
    devices: int = 40,
    days: int = 61,
    products: int = 4,
    start: str = "2026-09-01",
    units: tuple[str, ...] = ("data operations",),
    provider: str = "particle",
    seed: int = 1,
) -> pd.DataFrame:
    """A unified frame: one row per device, day and unit; device i is in product i % products."""
    rng = np.random.default_rng(seed)
    dev = np.repeat(np.arange(devices), days)
    day = np.tile(np.arange(days), devices)
    base = rng.integers(50, 500, devices).astype(float)
    ts = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(day, unit="D")

    def cat(codes: np.ndarray | int, labels: list[str]) -> pd.Categorical:
        codes = np.broadcast_to(np.asarray(codes, dtype=np.int32), dev.shape)
        return pd.Categorical.from_codes(codes, categories=pd.Index(labels, dtype="str"))

    frames = []
    for k, unit in enumerate(units):
        qty = base[dev] * (1 + k) + rng.integers(0, 20, len(dev))
        frames.append(
            pd.DataFrame(
                {
                    "provider": cat(0, [provider]),
                    "account_id": cat(0, ["acme"]),
                    "account_name": cat(0, ["Acme"]),
                    "product": cat(dev % products, [f"P{p}" for p in range(products)]),
                    "resource_id": cat(dev, [f"{i:024x}" for i in range(devices)]),
                    "resource_name": cat(dev, [f"dev-{i:03d}" for i in range(devices)]),
                    "meter_id": cat(0, [f"m{k}"]),
                    "meter": cat(0, [f"meter {k}"]),
                    "category": cat(0, ["device"]),
                    "period_start": ts,
                    "period_end": ts + pd.Timedelta(days=1),
                    "quantity": qty,
                    "unit": cat(0, [unit]),
                    "billable_quantity": qty,
                    "billable_unit": cat(0, [unit]),
                }
            )
        )
    return coerce_unified(pd.concat(frames, ignore_index=True))


def ys(trace: Any) -> np.ndarray:
    return np.asarray(trace.y, dtype=float)


def fig_size(fig: go.Figure) -> int:
    return len(fig.to_json().encode())


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return synthetic()


@pytest.fixture(scope="module")
def here() -> pd.DataFrame:
    return read_report(SAMPLES / "here_report_2026-10.csv.gz", unified=True)


@pytest.fixture(scope="module")
def particle() -> pd.DataFrame:
    return read_report(SAMPLES / "particle_devices_2026-09-01_2026-11-20.csv", unified=True)


@pytest.fixture(scope="module")
def mixed_providers(particle: pd.DataFrame, here: pd.DataFrame) -> pd.DataFrame:
    infa = read_report(SAMPLES / "informatica_summary_2026-10.zip", unified=True)
    return coerce_unified(pd.concat([particle, here, infa], ignore_index=True))


# ----------------------------------------------------------------- usage over time


def test_usage_over_time_stacks_top_groups_and_other_adding_up_to_the_total(
    frame: pd.DataFrame,
) -> None:
    fig = charts.usage_over_time(frame, by="resource_id", freq="D", top=5)
    names = [t.name for t in fig.data]
    assert len(names) == 6 and names[-1] == "other"
    assert fig.layout.barmode == "stack"
    assert sum(ys(t).sum() for t in fig.data) == pytest.approx(frame["quantity"].sum())
    # Devices are labelled by name, largest first.
    totals = frame.groupby("resource_name", observed=True)["quantity"].sum()
    assert names[:5] == list(totals.sort_values(ascending=False).index[:5])
    assert fig.data[-1].marker.color == charts.OTHER_COLOR


def test_usage_over_time_labels_axes_with_the_unit_and_hover_with_exact_values(
    frame: pd.DataFrame,
) -> None:
    fig = charts.usage_over_time(frame, by="product", freq="W")
    assert fig.layout.yaxis.title.text == "data operations per week"
    assert "by product" in fig.layout.title.text
    assert all(
        "%{y:,}" in t.hovertemplate and "data operations" in t.hovertemplate for t in fig.data
    )
    # Weeks start on Monday; 2026-08-31 is the Monday before the first day.
    assert fig.data[0].x[0] == "2026-08-31"


def test_usage_over_time_gives_each_unit_its_own_panel(here: pd.DataFrame) -> None:
    fig = charts.usage_over_time(here, by="meter", freq="D")
    units = here.groupby("unit", observed=True)["quantity"].sum()
    layout = fig.layout.to_plotly_json()
    titles = {a["title"]["text"] for k, a in layout.items() if k.startswith("yaxis")}
    assert titles == {f"{u} per day" for u in units.index}
    per_axis: dict[str, float] = {}
    for t in fig.data:
        per_axis[t.yaxis] = per_axis.get(t.yaxis, 0.0) + ys(t).sum()
    axis_unit = {
        ("y" + k[5:]): a["title"]["text"].removesuffix(" per day")
        for k, a in layout.items()
        if k.startswith("yaxis")
    }
    for axis, total in per_axis.items():
        assert total == pytest.approx(units[axis_unit[axis]])


def test_usage_over_time_stacks_areas_per_unit_panel(here: pd.DataFrame) -> None:
    fig = charts.usage_over_time(here, by="meter", freq="D", kind="area")
    assert {t.type for t in fig.data} == {"scatter"}
    # One stack per panel: areas of different units are never stacked together.
    stacks = {t.yaxis: set() for t in fig.data}
    for t in fig.data:
        stacks[t.yaxis].add(t.stackgroup)
    assert all(len(groups) == 1 for groups in stacks.values())
    assert len({g for groups in stacks.values() for g in groups}) == len(stacks)


def test_usage_over_time_uses_coarser_periods_when_days_would_not_fit() -> None:
    big = synthetic(devices=30, days=1500, products=30)
    fig = charts.usage_over_time(big, by="product", freq="D", top=20)
    assert "weekly" in fig.layout.title.subtitle.text
    points = sum(len(t.x) for t in fig.data)
    assert points <= charts.CHART_MAX_POINTS


def test_usage_over_time_names_the_sandbox_for_particle_devices_without_product(
    particle: pd.DataFrame,
) -> None:
    fig = charts.usage_over_time(particle, by="product")
    assert "(sandbox)" in [t.name for t in fig.data]
    assert sum(ys(t).sum() for t in fig.data) == pytest.approx(particle["quantity"].sum())


@pytest.mark.parametrize("by", ["category", "account_id", "resource_id", "team"])
@pytest.mark.parametrize("top", [1, 10])
def test_usage_over_time_draws_missing_group_values_as_none_in_every_panel(
    mixed_providers: pd.DataFrame, by: str, top: int
) -> None:
    # A grouping column with missing values (categorical, or an object column such
    # as the allocated team holding NaN objects) draws them as "(none)", never a
    # KeyError looking up the label of NaN; every unit keeps its total.
    df = mixed_providers.copy()
    missing = np.arange(len(df)) % 3 == 0
    if by == "team":
        df[by] = np.array(
            [float("nan") if m else f"team {i % 4}" for i, m in enumerate(missing)], dtype=object
        )
    else:
        codes = df[by].cat.codes.to_numpy().copy()
        codes[missing] = -1
        df[by] = pd.Categorical.from_codes(codes, dtype=df[by].dtype)
    for freq in ("D", "W", "MS"):
        fig = charts.usage_over_time(df, by=by, freq=freq, top=top)
        names = {t.name for t in fig.data}
        assert "(none)" in names or (top == 1 and "other" in names)
        total = sum(float(np.nansum(ys(t))) for t in fig.data)
        assert total == pytest.approx(float(np.nansum(df["quantity"])), rel=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"freq": "H"}, "freq"),
        ({"top": 0}, "top"),
        ({"top": 500}, "top"),
        ({"kind": "pie"}, "kind"),
    ],
)
def test_usage_over_time_rejects_bad_options_naming_them(
    frame: pd.DataFrame, kwargs: dict[str, Any], parameter: str
) -> None:
    with pytest.raises(InvalidParameter) as info:
        charts.usage_over_time(frame, **kwargs)
    assert info.value.parameter == parameter


def test_charts_refuse_a_frame_that_is_not_unified() -> None:
    with pytest.raises(SchemaError):
        charts.top_bar(pd.DataFrame({"quantity": [1.0]}))


def test_an_empty_selection_gives_a_figure_that_says_so(frame: pd.DataFrame) -> None:
    fig = charts.usage_over_time(frame.iloc[:0])
    assert not fig.data
    assert "no usage" in fig.layout.annotations[0].text


# ----------------------------------------------------------------- top bars


def test_top_bar_has_n_bars_and_an_other_bar_with_the_rest(frame: pd.DataFrame) -> None:
    fig = charts.top_bar(frame, by="resource_id", n=7)
    (bars,) = fig.data
    assert len(bars.y) == 8 and bars.y[-1] == "other"
    per_device = frame.groupby("resource_id", observed=True)["quantity"].sum()
    top = per_device.sort_values(ascending=False)
    np.testing.assert_allclose(bars.x[:7], top.iloc[:7].to_numpy())
    assert bars.x[-1] == pytest.approx(top.iloc[7:].sum())
    shares = bars.customdata[:, 0].astype(float)
    assert shares.sum() == pytest.approx(100.0)
    assert bars.marker.color[-1] == charts.OTHER_COLOR
    assert fig.layout.yaxis.autorange == "reversed"  # largest on top


def test_top_bar_tells_devices_with_the_same_name_apart() -> None:
    df = synthetic(devices=3, days=2)
    df["resource_name"] = pd.Categorical(["twin"] * len(df))
    fig = charts.top_bar(df, by="resource_id", n=3)
    labels = list(fig.data[0].y)
    assert len(set(labels)) == 3 and all(label.startswith("twin (") for label in labels)


# ----------------------------------------------------------------- heatmap


def test_heatmap_cells_hold_each_device_days_usage(frame: pd.DataFrame) -> None:
    fig = charts.heatmap(frame, by="resource_id", top=10)
    (hm,) = fig.data
    assert len(hm.y) == 10 and len(hm.x) == 61
    exact = np.asarray(hm.customdata, dtype=float)
    name = hm.y[0]
    day = frame["period_start"].dt.strftime("%Y-%m-%d") == hm.x[3]
    expected = frame.loc[(frame["resource_name"] == name) & day, "quantity"].sum()
    assert exact[0, 3] == pytest.approx(expected)
    # Colours follow log10(1 + value): a 30x runaway does not flatten the others.
    np.testing.assert_allclose(np.asarray(hm.z, dtype=float), np.log10(1 + exact))
    assert "%{customdata:,}" in hm.hovertemplate
    # 'data as of' the newest row, from the one freshness function, as on every time chart.
    assert ua.freshness(frame).text in fig.layout.title.subtitle.text
    assert f"data as of {frame['period_end'].max():%Y-%m-%d %H:%M} UTC" in (
        fig.layout.title.subtitle.text
    )


@pytest.mark.parametrize(
    ("start", "days"), [("2026-09-01", 61), ("2026-09-07", 28), ("2026-09-03", 30)]
)
def test_weekly_heatmap_ticks_fall_on_week_starts_and_partial_weeks_are_marked(
    start: str, days: int
) -> None:
    frame = synthetic(devices=5, days=days, start=start)
    fig = charts.heatmap(frame, by="resource_id", freq="W")
    (hm,) = fig.data
    ticks = pd.DatetimeIndex(fig.layout.xaxis.tickvals)
    assert len(ticks) and (ticks.day_of_week == 0).all()  # Mondays, as the weeks' cells
    assert set(fig.layout.xaxis.tickvals) <= set(hm.x)
    first = pd.Timestamp(start)
    last = first + pd.Timedelta(days=days - 1)
    head_partial = first.weekday() != 0
    tail_partial = last.weekday() != 6
    text = dict(zip(fig.layout.xaxis.tickvals, fig.layout.xaxis.ticktext, strict=True))
    assert text[hm.x[0]].endswith("*") == head_partial
    assert text[hm.x[-1]].endswith("*") == tail_partial
    note = fig.layout.title.subtitle.text or ""
    assert ("data from" in note) == head_partial and ("data until" in note) == tail_partial
    assert ua.freshness(frame).text in note  # the weekly heatmap says 'data as of' too
    starred = [t for t in fig.layout.xaxis.ticktext if t.endswith("*")]
    assert len(starred) == head_partial + tail_partial


def test_daily_heatmap_ticks_fall_on_mondays(frame: pd.DataFrame) -> None:
    fig = charts.heatmap(frame, by="resource_id", top=10)
    ticks = pd.DatetimeIndex(fig.layout.xaxis.tickvals)
    assert len(ticks) >= 4 and (ticks.day_of_week == 0).all()
    assert all(re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}", t) for t in fig.layout.xaxis.ticktext)


def test_heatmap_refuses_to_mix_units(here: pd.DataFrame) -> None:
    with pytest.raises(UnitMismatch) as info:
        charts.heatmap(here)
    assert "GB" in str(info.value) and "Transactions" in str(info.value)


# ----------------------------------------------------------------- breakdown


def test_breakdown_boxes_add_up_and_each_unit_gets_its_own_treemap(here: pd.DataFrame) -> None:
    fig = charts.breakdown(here, path=("category", "meter"))
    units = here.groupby("unit", observed=True)["quantity"].sum()
    assert sorted(t.name for t in fig.data) == sorted(units.index)
    for t in fig.data:
        roots = [v for v, p in zip(t["values"], t.parents, strict=True) if p == ""]
        assert sum(roots) == pytest.approx(units[t.name])
        assert t.branchvalues == "total"


def test_breakdown_cuts_to_top_leaves_with_one_other(frame: pd.DataFrame) -> None:
    fig = charts.breakdown(frame, path=("product", "resource_id"), top=5, kind="sunburst")
    (sb,) = fig.data
    leaves = set(sb.ids) - set(sb.parents)
    assert len(leaves) == 6 and "other" in leaves
    assert sum(v for v, p in zip(sb["values"], sb.parents, strict=True) if p == "") == (
        pytest.approx(frame["quantity"].sum())
    )


# ----------------------------------------------------------------- period over period


def test_period_over_period_compares_the_same_days_of_a_month_in_progress(
    particle: pd.DataFrame,
) -> None:
    fig = charts.period_over_period(particle, by="product")
    expected = compare_periods(particle, by="product", freq="MS", to_date=True)
    previous, current = fig.data
    assert "same days" in previous.name
    assert sum(current.y) == pytest.approx(expected["current"].sum())
    assert sum(previous.y) == pytest.approx(expected["previous"].sum())
    assert "Nov 2026" in fig.layout.title.text


# ----------------------------------------------------------------- cumulative vs allowance


def test_cumulative_vs_allowance_draws_the_plan_lines_the_usage_and_the_forecast(
    particle: pd.DataFrame,
) -> None:
    plan = ParticlePlan.basic(blocks=1)
    fig = charts.cumulative_vs_allowance(particle, plan=plan)
    status = plan_status(particle, plan)
    lines = sorted(shape.y0 for shape in fig.layout.shapes if shape.yref == "y")
    assert lines == pytest.approx([0.7 * 720_000, 0.9 * 720_000, 720_000])
    used = next(t for t in fig.data if t.name == "used")
    assert used.y[-1] == pytest.approx(status.used)
    projected = forecast(
        particle, start=status.period_start, end=status.period_end, allowance=720_000
    )["projected"].iloc[0]
    line = next(t for t in fig.data if t.name == "forecast")
    assert line.y[-1] == pytest.approx(projected)
    assert line.x[-1].startswith("2026-12-01")
    assert "of 720,000 data operations" in fig.layout.title.text
    crossed = status.thresholds.loc[status.thresholds["crossed"]]
    labels = " ".join(a.text for a in fig.layout.annotations)
    for day in crossed["crossed_on"]:
        assert f"crossed {day:%b %d}" in labels


def test_cumulative_vs_allowance_takes_an_informatica_ipu_status() -> None:
    df = read_report(SAMPLES / "informatica_summary_2026-10.zip", unified=True)
    org = str(df["account_id"].dropna().iloc[0])
    status = ipu_status(df, entitlement=3000, account=org)
    fig = charts.cumulative_vs_allowance(df, plan=status)
    assert fig.layout.yaxis.title.text == "IPU (cumulative)"
    assert len([s for s in fig.layout.shapes if s.yref == "y"]) == len(status.thresholds)
    assert "data as of " in fig.layout.title.subtitle.text
    assert next(t for t in fig.data if t.name == "used").y[-1] == pytest.approx(status.used)


def test_cumulative_vs_allowance_refuses_something_that_is_not_a_plan(
    particle: pd.DataFrame,
) -> None:
    with pytest.raises(InvalidParameter) as info:
        charts.cumulative_vs_allowance(particle, plan=720_000)
    assert info.value.parameter == "plan"


# ----------------------------------------------------------------- size


@pytest.mark.slow
def test_every_figure_stays_under_500_kb_on_a_million_rows() -> None:
    big = synthetic(devices=1000, days=1000, products=40)
    assert len(big) == 1_000_000
    figures = {
        "time": charts.usage_over_time(big, by="resource_id", top=25),
        "top": charts.top_bar(big, by="resource_id", n=25),
        "heatmap": charts.heatmap(big, top=100),
        "breakdown": charts.breakdown(big, path=("product", "resource_id"), top=120),
        "compare": charts.period_over_period(big, by="resource_id", top=25),
        "plan": charts.cumulative_vs_allowance(big, plan=ParticlePlan.basic(blocks=300)),
    }
    for name, fig in figures.items():
        size = fig_size(fig)
        assert size < 500_000, (name, size)
        json.loads(fig.to_json())  # valid JSON


# ----------------------------------------------------------------- what people read


def axis_titles(fig: go.Figure) -> dict[str, str | None]:
    """Each axis with tick labels shown -> its title (None when untitled)."""
    layout = fig.layout.to_plotly_json()
    out = {}
    for key, axis in layout.items():
        if key.startswith(("xaxis", "yaxis")) and axis.get("showticklabels", True):
            out[key] = (axis.get("title") or {}).get("text") or None
    return out


@pytest.mark.slow
def test_every_cartesian_chart_titles_both_axes(
    frame: pd.DataFrame, here: pd.DataFrame, particle: pd.DataFrame
) -> None:
    figures = {
        "time": charts.usage_over_time(frame),
        "time by unit": charts.usage_over_time(here, by="meter"),
        "top": charts.top_bar(frame),
        "top by unit": charts.top_bar(here),
        "heatmap": charts.heatmap(frame),
        "compare": charts.period_over_period(particle),
        "compare by unit": charts.period_over_period(here, by="meter"),
        "plan": charts.cumulative_vs_allowance(particle, plan=ParticlePlan.basic(blocks=1)),
    }
    for name, fig in figures.items():
        titles = axis_titles(fig)
        assert any(k.startswith("xaxis") for k in titles), name
        assert any(k.startswith("yaxis") for k in titles), name
        assert all(titles.values()), (name, titles)


@pytest.mark.slow
def test_time_axes_say_the_period_and_utc_and_top_bars_name_what_they_rank(
    frame: pd.DataFrame, here: pd.DataFrame
) -> None:
    assert charts.usage_over_time(frame).layout.xaxis.title.text == "day (UTC)"
    weekly = charts.usage_over_time(frame, freq="W")
    assert weekly.layout.xaxis.title.text == "week from Monday (UTC)"
    assert charts.heatmap(frame).layout.xaxis.title.text == "day (UTC)"
    top = charts.top_bar(frame, by="resource_id")
    assert (top.layout.yaxis.title.text, top.layout.xaxis.title.text) == (
        "device",
        "data operations",
    )
    # With one panel per unit, the shared time axis is titled under the bottom panel.
    stacked = axis_titles(charts.usage_over_time(here, by="meter"))
    assert [v for k, v in stacked.items() if k.startswith("xaxis")] == ["day (UTC)"]


@pytest.mark.slow
def test_stacked_panels_leave_room_in_pixels_for_ticks_axis_title_and_panel_title(
    here: pd.DataFrame, frame: pd.DataFrame
) -> None:
    # Between two panels: the upper one's tick labels (a line, ~17 px) and x axis
    # title (~28 px), then the lower one's "in <unit>" title (~30 px).
    needed = 17 + 28 + 30
    many_units = synthetic(devices=4, days=3, units=("a", "b", "c", "d", "e", "f"))
    for fig in (charts.top_bar(here), charts.top_bar(frame), charts.top_bar(many_units)):
        layout = fig.layout
        plot = layout.height - layout.margin.t - layout.margin.b
        domains = sorted(
            (
                a.get("domain", [0, 1])
                for k, a in layout.to_plotly_json().items()
                if k.startswith("yaxis")
            ),
            reverse=True,
        )
        for upper, lower in itertools.pairwise(domains):
            assert (upper[0] - lower[1]) * plot >= needed - 0.5  # float rounding
        # The panel titles sit on top of their panels, inside the figure.
        titles = [a for a in layout.annotations if a.text.startswith("in ")]
        assert len(titles) == len(domains) if len(domains) > 1 else not titles
        for title, domain in zip(titles, domains, strict=len(titles) > 0):
            assert title.y == pytest.approx(domain[1]) and title.yanchor == "bottom"
        # ... and the top one's title has room between the figure title and the panel.
        assert layout.margin.t >= 70 + (30 if titles else 0)


@pytest.mark.slow
def test_providers_are_named_as_they_write_themselves(mixed_providers: pd.DataFrame) -> None:
    assert [charts.provider_name(p) for p in ("particle", "here", "informatica")] == [
        "Particle",
        "HERE",
        "Informatica",
    ]
    names = set()
    for trace in charts.top_bar(mixed_providers, by="provider").data:
        names |= set(trace.y)
    assert names == {"Particle", "HERE", "Informatica"}
    over_time = charts.usage_over_time(mixed_providers, by="provider")
    assert {t.name for t in over_time.data} == {"Particle", "HERE", "Informatica"}


def test_a_burn_down_title_names_the_provider_as_it_writes_itself() -> None:
    df = read_report(SAMPLES / "informatica_summary_2026-10.zip", unified=True)
    org = str(df["account_id"].dropna().iloc[0])
    status = ipu_status(df, entitlement=3000, account=org)
    fig = charts.cumulative_vs_allowance(df, plan=status, forecast=False)
    assert fig.layout.title.text.startswith("Informatica: ")
    # Any status, e.g. one a user computes for HERE: "HERE", never "Here".
    here_status = dataclasses.replace(status, provider="here")
    fig = charts.cumulative_vs_allowance(df, plan=here_status, forecast=False)
    assert fig.layout.title.text.startswith("HERE: ")


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (1_686_556.0, "Transactions", "1,686,556 Transactions"),
        (277.263506, "GB", "277 GB"),
        (42.0273, "GB-months", "42.03 GB-months"),
        (3.0, "IPU", "3 IPU"),
        (0.00123456, "GB", "0.00123 GB"),
        (0.0, None, "0"),
        (float("nan"), "GB", "n/a GB"),
    ],
)
def test_quantities_are_formatted_for_people(value: float, unit: str | None, text: str) -> None:
    assert charts.format_quantity(value, unit) == text


@pytest.mark.parametrize("kind", ["treemap", "sunburst"])
def test_breakdown_labels_and_hover_show_readable_values_with_their_unit(
    here: pd.DataFrame, kind: str
) -> None:
    fig = charts.breakdown(here, path=("category", "meter"), kind=kind)
    raw_float = re.compile(r"\d\.\d{3,}")
    for trace in fig.data:
        unit = trace.name
        assert "%{value" not in trace.texttemplate and "%{value" not in trace.hovertemplate
        assert "%{text}" in trace.texttemplate and "%{customdata[0]}" in trace.hovertemplate
        for value, text, custom in zip(trace["values"], trace.text, trace.customdata, strict=True):
            amount = charts.format_quantity(value, unit)
            assert text.endswith(f"<br>{amount}") and custom[0] == amount
            assert not raw_float.search(text) and not raw_float.search(custom[0])
    # A GB leaf (a float like 259.2209 in the data) reads as a whole number of GB.
    gb = next(t for t in fig.data if t.name == "GB")
    assert any(t.endswith("<br>259 GB") for t in gb.text)


@pytest.mark.parametrize("left", [True, False])
def test_threshold_lines_are_what_plotly_add_hline_draws(left: bool) -> None:
    from usage_analysis.charts.allowance import _hline

    line = {"color": "#E45756", "dash": "solid", "width": 1.5}
    font = {"color": "#333", "size": 11}
    expected = go.Figure()
    expected.add_hline(
        y=125_000.0,
        line=line,
        annotation_text="100 %: 125,000, crossed Mar 04",
        annotation_position="top left" if left else "top right",
        annotation_font=font,
    )
    shape, label = _hline(
        125_000.0, line=line, text="100 %: 125,000, crossed Mar 04", left=left, font=font
    )
    ours = go.Figure()
    ours.layout.shapes = [shape]
    ours.layout.annotations = [label]
    assert ours.to_json() == expected.to_json()


def test_period_over_period_shows_informatica_meter_names_in_full() -> None:
    df = read_report(SAMPLES / "informatica_summary_2026-10.zip", unified=True)
    long_name = "Data Integration - Change Data Capture"
    assert long_name in set(df["meter"].astype(str))
    fig = charts.period_over_period(df, by="meter", freq="W", quantity="billable_quantity")
    shown = [t.replace("<br>", " ") for t in fig.layout.xaxis.ticktext]
    assert long_name in shown
    assert not [t for t in shown if "…" in t]
    # Room under the panel for the longest name's lines.
    lines = max(t.count("<br>") + 1 for t in fig.layout.xaxis.ticktext)
    assert fig.layout.margin.b >= lines * 17


def _assert_month_ticks(fig: go.Figure, months: pd.DatetimeIndex) -> None:
    """Each x axis names the months ``months`` (every k-th past 12) at their bars or cells."""
    bars = {x for trace in fig.data for x in np.atleast_1d(trace.x)}
    step = -(-len(months) // 12)
    for axis in [k for k in fig.layout if k.startswith("xaxis")]:
        ticks = fig.layout[axis]
        assert ticks.ticktext is not None, axis
        assert list(ticks.ticktext) == [f"{m:%b %Y}" for m in months[::step]]
        for value in ticks.tickvals:
            assert pd.Timestamp(value).day == 1 and value in bars


def test_monthly_time_axes_name_each_month_where_its_bar_is() -> None:
    """Month buckets are labelled as months ("Oct 2026"), never as period-end days ("Oct 31")."""
    df = synthetic(devices=2, days=92, products=2, start="2026-09-10", units=("ops", "GB"))
    months = pd.date_range("2026-09-01", "2026-12-01", freq="MS")
    _assert_month_ticks(charts.usage_over_time(df, by="product", freq="MS"), months)
    one_unit = df.loc[(df["unit"] == "ops").to_numpy()]
    _assert_month_ticks(charts.heatmap(one_unit, by="resource_id", freq="MS"), months)


@pytest.mark.slow
@settings(max_examples=50, deadline=None)
@given(
    first=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2090, 12, 1)),
    count=st.integers(min_value=1, max_value=200),
)
def test_month_ticks_name_every_kth_month_on_its_first_day(first: dt.date, count: int) -> None:
    from usage_analysis.charts.timeseries import _month_ticks

    months = pd.date_range(pd.Timestamp(first).replace(day=1), periods=count, freq="MS", tz="UTC")
    ticks = _month_ticks(months)
    assert 1 <= len(ticks["ticktext"]) <= 12
    step = -(-count // 12)
    assert ticks["tickvals"] == [f"{m:%Y-%m-01}" for m in months[::step]]
    assert ticks["ticktext"] == [f"{m:%b %Y}" for m in months[::step]]
