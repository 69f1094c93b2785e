"""UsageExplorer headless: set widget values, click, and check numbers, figure, table and files."""

from __future__ import annotations

import re
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from usage_analysis import charts
from usage_analysis.analysis import ParticlePlan, forecast, plan_status
from usage_analysis.errors import InvalidParameter
from usage_analysis.readers import read_report
from usage_analysis.schema import coerce_unified
from usage_analysis.widgets import UsageExplorer
from usage_analysis.widgets._filter import FrameFilter, Selection
from usage_analysis.widgets.explorer import RETIRED_CHART_SECONDS

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"


@pytest.fixture(scope="module")
def particle() -> pd.DataFrame:
    return read_report(SAMPLES / "particle_devices_2026-09-01_2026-11-20.csv", unified=True)


@pytest.fixture(scope="module")
def mixed(particle: pd.DataFrame) -> pd.DataFrame:
    here = read_report(SAMPLES / "here_report_2026-10.csv.gz", unified=True)
    infa = read_report(SAMPLES / "informatica_summary_2026-10.zip", unified=True)
    return coerce_unified(pd.concat([particle, here, infa], ignore_index=True))


@pytest.fixture
def explorer(particle: pd.DataFrame, tmp_path: Path) -> UsageExplorer:
    return UsageExplorer(particle, export_dir=tmp_path / "exports")


def chart_total(ex: UsageExplorer) -> float:
    return float(sum(np.asarray(t.y, dtype=float).sum() for t in ex.figure.data))


def classes(widget: Any) -> set[str]:
    found = set(getattr(widget, "_dom_classes", ()))
    for child in getattr(widget, "children", ()):
        found |= classes(child)
    return found


@pytest.mark.slow
def test_the_explorer_opens_with_totals_chart_and_table_of_the_whole_frame(
    explorer: UsageExplorer, particle: pd.DataFrame
) -> None:
    total = particle["quantity"].sum()
    assert explorer.headline.totals == {"data operations": pytest.approx(total)}
    assert chart_total(explorer) == pytest.approx(total)
    assert "Usage per day by product" in explorer.figure.layout.title.text
    # The table ranks devices whatever the chart groups by.
    top_device = particle.groupby("resource_name", observed=True)["quantity"].sum().idxmax()
    assert top_device in explorer.top_table.value
    assert f"{total:,.0f}" in explorer.headline_html.value
    assert not explorer.messages.errors


@pytest.mark.slow
def test_widgets_carry_the_css_classes_a_browser_test_looks_for(explorer: UsageExplorer) -> None:
    assert {
        "ua-explorer",
        "ua-provider-filter",
        "ua-product-filter",
        "ua-product-search",
        "ua-resource-filter",
        "ua-meter-filter",
        "ua-date-start",
        "ua-date-end",
        "ua-group-by",
        "ua-freq",
        "ua-chart-type",
        "ua-plan",
        "ua-plan-blocks",
        "ua-headline",
        "ua-chart",
        "ua-top-table",
        "ua-export-csv",
        "ua-export-html",
        "ua-messages",
    } <= classes(explorer)


@pytest.mark.slow
def test_choosing_a_product_redraws_with_only_its_usage(
    explorer: UsageExplorer, particle: pd.DataFrame
) -> None:
    before = explorer.redraws
    explorer.selects["product"].value = ("Fleet Gateway",)
    expected = particle.loc[particle["product"] == "Fleet Gateway", "quantity"].sum()
    assert explorer.redraws == before + 1
    assert explorer.headline.total == pytest.approx(expected)
    assert chart_total(explorer) == pytest.approx(expected)
    assert len(explorer.filtered) == (particle["product"] == "Fleet Gateway").sum()
    assert np.isfinite(explorer.last_redraw_seconds)


@pytest.mark.slow
def test_sandbox_devices_without_a_product_can_be_chosen(
    explorer: UsageExplorer, particle: pd.DataFrame
) -> None:
    labels = dict(explorer.selects["product"].options)
    assert labels["(none)"] is None
    explorer.selects["product"].value = (None,)
    assert explorer.headline.total == pytest.approx(
        particle.loc[particle["product"].isna(), "quantity"].sum()
    )


@pytest.mark.slow
def test_searching_narrows_the_device_list_and_keeps_what_is_selected(
    explorer: UsageExplorer, particle: pd.DataFrame
) -> None:
    select = explorer.selects["resource_id"]
    first = select.options[0][1]
    select.value = (first,)
    explorer.searches["resource_id"].value = "tracker-000"
    labels = [label for label, _ in select.options]
    assert select.value == (first,)
    assert all("tracker-000" in label for label in labels if label != select.options[0][0])
    assert len(labels) < len(explorer.filter.options("resource_id"))
    assert explorer.headline.total == pytest.approx(
        particle.loc[particle["resource_id"] == first, "quantity"].sum()
    )


@pytest.mark.slow
def test_a_date_range_keeps_the_days_in_it(explorer: UsageExplorer, particle: pd.DataFrame) -> None:
    explorer.set_filters(start="2026-10-01", end="2026-10-31")
    day = particle["period_start"].dt.tz_convert("UTC").dt.date
    inside = (day >= date(2026, 10, 1)) & (day <= date(2026, 10, 31))
    assert explorer.headline.total == pytest.approx(particle.loc[inside, "quantity"].sum())
    assert explorer.redraws >= 2


@pytest.mark.slow
def test_a_last_day_before_the_first_is_reported_in_the_widget_not_raised(
    explorer: UsageExplorer,
) -> None:
    explorer.start.value = date(2026, 11, 10)
    explorer.end.value = date(2026, 11, 1)
    assert explorer.messages.errors
    assert "before the first" in "".join(
        o.get("text", "") for o in explorer.messages.output.outputs
    )


@pytest.mark.slow
def test_an_error_message_is_cleared_when_the_next_change_succeeds(
    explorer: UsageExplorer,
) -> None:
    def shown_errors() -> list[str]:
        return [o["text"] for o in explorer.messages.output.outputs if o.get("name") == "stderr"]

    explorer.messages.info("kept: not an error")
    explorer.start.value = date(2026, 11, 10)
    explorer.end.value = date(2026, 11, 1)
    assert shown_errors() and explorer.date_error.value
    explorer.end.value = date(2026, 11, 15)  # fixed
    assert shown_errors() == [] and explorer.date_error.value == ""
    assert not [line for line in explorer.messages.lines if "before the first" in line]
    assert "kept: not an error" in explorer.messages.lines


@pytest.mark.slow
def test_every_chart_type_draws_without_errors(explorer: UsageExplorer) -> None:
    titles = {}
    for kind in ("time", "top", "heatmap", "breakdown", "compare", "plan"):
        explorer.chart.value = kind
        titles[kind] = explorer.figure.layout.title.text
        assert explorer.figure.data, kind
    assert not explorer.messages.errors, explorer.messages.lines
    assert titles["top"].startswith("Top 10 products")
    assert "plan" in titles["plan"]
    explorer.by.value = "resource_id"
    explorer.chart.value = "top"
    assert "devices" in explorer.figure.layout.title.text


@pytest.mark.slow
def test_the_plan_choice_drives_percent_and_forecast(
    explorer: UsageExplorer, particle: pd.DataFrame
) -> None:
    # Default: Basic with the blocks the newest month needs.
    needed = plan_status(particle, ParticlePlan.basic(blocks=1)).blocks_needed
    assert explorer.plan.value == "basic" and explorer.blocks.value == needed
    explorer.plan.value = "free"
    status = plan_status(particle, ParticlePlan.free())
    h = explorer.headline
    assert h.percent == pytest.approx(status.percent)
    assert h.allowance == 100_000
    expected = forecast(
        particle, start=status.period_start, end=status.period_end, allowance=100_000
    )
    assert h.forecast == pytest.approx(expected["projected"].iloc[0])
    assert "ua-headline-percent" in explorer.headline_html.value
    assert f"{status.percent:.1f} %" in explorer.headline_html.value
    explorer.plan.value = "basic"
    explorer.blocks.value = 3
    assert explorer.headline.allowance == 3 * 720_000
    assert explorer.blocks.disabled is False
    explorer.plan.value = "none"
    assert explorer.headline.percent is None and explorer.blocks.disabled


@pytest.mark.slow
def test_units_are_never_added_across_providers(mixed: pd.DataFrame, tmp_path: Path) -> None:
    ex = UsageExplorer(mixed, export_dir=tmp_path)
    # Informatica's billable unit (IPU) is common to its meters: billable is the default.
    assert ex.quantity.value == "billable_quantity"
    billable = mixed.groupby("billable_unit", observed=True)["billable_quantity"].sum()
    assert ex.headline.totals == pytest.approx(billable.to_dict())
    assert "IPU" in ex.headline.totals
    ex.quantity.value = "quantity"
    consumed = mixed.groupby("unit", observed=True)["quantity"].sum()
    assert ex.headline.totals == pytest.approx(consumed.to_dict())
    ex.chart.value = "heatmap"  # one colour scale cannot hold three units
    assert any("UnitMismatch" in line for line in ex.messages.lines)
    assert "refusing to add" in ex.figure.layout.annotations[0].text
    ex.selects["provider"].value = ("here",)
    ex.chart.value = "time"
    axes = {t.yaxis for t in ex.figure.data}
    assert len(axes) == mixed.loc[mixed["provider"] == "here", "unit"].nunique()


@pytest.mark.slow
def test_saving_writes_the_filtered_rows_and_the_chart(
    explorer: UsageExplorer, particle: pd.DataFrame, tmp_path: Path
) -> None:
    explorer.selects["product"].value = ("Smart Water Meter",)
    explorer.csv_button.click()
    explorer.html_button.click()
    csv_path, html_path = explorer.last_export["csv"], explorer.last_export["html"]
    back = pd.read_csv(csv_path)
    chosen = particle.loc[particle["product"] == "Smart Water Meter"]
    assert len(back) == len(chosen)
    assert back["quantity"].sum() == pytest.approx(chosen["quantity"].sum())
    assert set(back.columns) >= {"provider", "resource_id", "period_start", "quantity", "unit"}
    page = html_path.read_text()
    assert "plotly" in page.lower() and "Usage per day by product" in page
    assert "ua-download-csv" in explorer.links.value
    assert any(str(csv_path) in line for line in explorer.messages.lines)


@pytest.mark.slow
def test_an_unexpected_error_in_a_callback_shows_its_traceback_in_the_widget(
    explorer: UsageExplorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("chart exploded")

    monkeypatch.setattr(charts, "top_bar", broken)
    explorer.chart.value = "top"  # must not raise into the comm handler
    text = "".join(o.get("text", "") for o in explorer.messages.output.outputs)
    assert "RuntimeError: chart exploded" in text and "Traceback" in text


# ----------------------------------------------------------------- the filter


def test_frame_filter_masks_match_pandas(particle: pd.DataFrame) -> None:
    flt = FrameFilter(particle)
    products = [v for _, v in flt.options("product") if v is not None][:2]
    sel = Selection(
        values={"product": frozenset(products)},
        start=date(2026, 9, 15),
        end=date(2026, 10, 20),
    )
    day = particle["period_start"].dt.date
    expected = (
        particle["product"].isin(products)
        & (day >= date(2026, 9, 15))
        & (day <= date(2026, 10, 20))
    ).to_numpy()
    mask = flt.mask(sel)
    assert mask is not None
    np.testing.assert_array_equal(mask, expected)
    # The same selection again reuses the cached column mask.
    first = flt._column_mask("product", products)
    assert flt._column_mask("product", products) is first


def test_frame_filter_returns_the_frame_itself_when_nothing_is_filtered(
    particle: pd.DataFrame,
) -> None:
    flt = FrameFilter(particle)
    everything = Selection(start=flt.first_day, end=flt.last_day)
    assert flt.mask(everything) is None
    assert flt.apply(everything) is particle


@pytest.mark.slow
def test_a_browser_view_opened_after_a_redraw_starts_from_the_current_chart(
    explorer: UsageExplorer,
) -> None:
    # A new view of the FigureWidget (a page opened, the box displayed later) is
    # built from its synced state, not from the messages sent before it existed.
    explorer.selects["product"].value = ("Fleet Gateway",)
    state = explorer.figure.get_state()
    assert [t["name"] for t in state["_widget_data"]] == ["Fleet Gateway"]
    assert state["_widget_layout"]["title"]["text"] == "Usage per day by product"


@pytest.mark.slow
def test_the_provider_filter_shows_providers_as_they_write_themselves(
    mixed: pd.DataFrame, tmp_path: Path
) -> None:
    ex = UsageExplorer(mixed, export_dir=tmp_path)
    options = dict(ex.selects["provider"].options)
    assert options == {"Particle": "particle", "HERE": "here", "Informatica": "informatica"}
    ex.selects["provider"].value = ("here",)  # the values stay the frame's keys
    assert set(ex.filtered["provider"].unique()) == {"here"}
    ex.by.value = "provider"
    ex.chart.value = "top"
    assert list(ex.figure.data[0].y) == ["HERE"]


@pytest.mark.slow
def test_the_chart_has_no_fixed_width_and_refits_to_its_container(
    explorer: UsageExplorer,
) -> None:
    # What a browser view starts from, after any chart type: plotly autosizes to the
    # container only when the layout carries no width ...
    for kind in ("time", "top", "heatmap", "breakdown", "compare", "plan"):
        explorer.chart.value = kind
        state = explorer.figure.get_state()
        assert state["_widget_layout"].get("width") is None, kind
        assert state["_widget_layout"].get("autosize") is True, kind
    # ... and refits on a resize only with the responsive config; the resizer in the
    # explorer fires that resize when the explorer gets (or changes) its width.
    assert state["_config"]["responsive"] is True
    assert explorer.resizer in explorer.children
    esm = explorer.resizer.get_state()["_esm"]
    assert "ResizeObserver" in esm and 'new Event("resize")' in esm


@pytest.mark.slow
def test_each_headline_line_says_its_period(explorer: UsageExplorer) -> None:
    text = re.sub(r"<[^>]+>", "\n", explorer.headline_html.value)
    total = explorer.headline_html.value.split("ua-headline-rows")[0]
    # The total covers the selected days; the plan and forecast lines the month.
    assert "Sep 1 to Nov 20, 2026" in total
    assert "Nov 2026: " in text and "% of the basic" in text
    assert "Nov 2026 so far (to Nov 20)" in text and "forecast by Nov 30" in text
    assert "28 days of data" in text
    explorer.set_filters(start="2026-10-05", end="2026-10-20")
    assert "Oct 5 to Oct 20, 2026" in explorer.headline_html.value


@pytest.mark.slow
def test_a_month_end_forecast_is_never_below_the_months_usage_so_far(
    particle: pd.DataFrame,
) -> None:
    # Credits (negative rows) in the newest days make the daily rate negative.
    last = particle["period_start"].max()
    credit = particle.loc[particle["period_start"] >= last - pd.Timedelta(days=27)].copy()
    credit["quantity"] = -credit["quantity"] * 3
    credit["billable_quantity"] = -credit["billable_quantity"] * 3
    df = coerce_unified(pd.concat([particle, credit], ignore_index=True))
    raw = forecast(df, quantity="quantity", freq="MS")
    assert float(raw["projected"].iloc[0]) < float(raw["used"].iloc[0])  # the case exists
    ex = UsageExplorer(df, plan=None, quantity="quantity")
    ex.plan.value = "none"
    h = ex.headline
    assert h.month_used == pytest.approx(float(raw["used"].iloc[0]))
    assert h.forecast is not None and h.forecast >= h.month_used
    assert h.forecast_lower is None or h.forecast_lower >= h.month_used


def options_of(ex: UsageExplorer, column: str) -> set[Any]:
    return {v for _, v in ex.selects[column].options}


@pytest.mark.slow
def test_choosing_a_provider_narrows_the_other_filters_to_it(
    mixed: pd.DataFrame, tmp_path: Path
) -> None:
    ex = UsageExplorer(mixed, export_dir=tmp_path)
    here_apps = set(mixed.loc[mixed["provider"] == "here", "product"].dropna())
    particle_products = set(mixed.loc[mixed["provider"] == "particle", "product"].dropna())
    assert here_apps <= options_of(ex, "product") and particle_products <= options_of(ex, "product")
    ex.set_filters(product=["Fleet Gateway"])
    ex.selects["provider"].value = ("particle",)
    assert options_of(ex, "product") - {None} == particle_products
    assert options_of(ex, "meter") == set(mixed.loc[mixed["provider"] == "particle", "meter"])
    # The sample Particle report names no account: only "(none)" is left to choose.
    assert options_of(ex, "account_id") - {None} == set(
        mixed.loc[mixed["provider"] == "particle", "account_id"].dropna()
    )
    # A product of the chosen provider stays chosen ...
    assert ex.selects["product"].value == ("Fleet Gateway",)
    # ... one of another provider is dropped instead of selecting nothing.
    ex.selects["provider"].value = ("here",)
    assert ex.selects["product"].value == ()
    assert options_of(ex, "product") == here_apps
    assert ex.headline.rows == int((mixed["provider"] == "here").sum())
    ex.clear_filters()
    assert here_apps | particle_products <= options_of(ex, "product")


@pytest.mark.slow
def test_account_project_and_billing_tag_filters_keep_their_rows(
    mixed: pd.DataFrame, tmp_path: Path
) -> None:
    ex = UsageExplorer(mixed, export_dir=tmp_path)
    assert {"account_id", "project", "billing_tag"} <= set(ex.columns)
    org = mixed.loc[mixed["provider"] == "informatica", "account_id"].iloc[0]
    ex.set_filters(account_id=[org])
    assert len(ex.filtered) == int((mixed["account_id"] == org).sum())
    ex.clear_filters()
    tag = mixed["billing_tag"].dropna().iloc[0]
    ex.set_filters(billing_tag=[tag])
    assert len(ex.filtered) == int((mixed["billing_tag"] == tag).sum()) > 0
    rows = mixed.loc[mixed["billing_tag"] == tag]
    ucol = "unit" if ex.quantity.value == "quantity" else "billable_unit"
    expected = rows.groupby(ucol, observed=True)[ex.quantity.value].sum()
    assert ex.headline.totals == pytest.approx({str(k): v for k, v in expected.items()})
    ex.clear_filters()
    project = mixed["project"].dropna().iloc[0]
    ex.set_filters(project=[project])
    assert len(ex.filtered) == int((mixed["project"] == project).sum()) > 0


def test_a_frame_without_billing_tags_has_no_billing_tag_filter(
    particle: pd.DataFrame, tmp_path: Path
) -> None:
    ex = UsageExplorer(particle, export_dir=tmp_path)
    assert "billing_tag" not in ex.columns
    with pytest.raises(InvalidParameter, match="billing_tag"):
        ex.set_filters(billing_tag=["x"])


@pytest.mark.slow
def test_informatica_summary_rows_are_grouped_by_meter_at_first(tmp_path: Path) -> None:
    infa = read_report(SAMPLES / "informatica_summary_2026-10.zip", unified=True)
    assert infa["product"].isna().all()
    ex = UsageExplorer(infa, export_dir=tmp_path)
    assert ex.by.value == "meter"
    names = {t.name for t in ex.figure.data}
    assert "(none)" not in names and names <= set(infa["meter"].astype(str)) | {"other"}


@pytest.mark.slow
def test_a_wrong_date_range_is_said_beside_the_dates_and_cleared_when_fixed(
    explorer: UsageExplorer,
) -> None:
    explorer.start.value = date(2026, 11, 10)
    before = explorer.redraws
    explorer.end.value = date(2026, 11, 1)
    assert "before the first" in explorer.date_error.value
    assert explorer.redraws == before  # the chart is not redrawn from a wrong range
    explorer.end.value = date(2026, 11, 15)
    assert explorer.date_error.value == ""
    assert explorer.redraws == before + 1


@pytest.mark.slow
def test_choosing_informatica_groups_by_meter_until_the_user_picks_a_grouping(
    mixed: pd.DataFrame, tmp_path: Path
) -> None:
    ex = UsageExplorer(mixed, export_dir=tmp_path)
    assert ex.by.value == "product"  # most rows (Particle) name a product
    ex.selects["provider"].value = ("informatica",)
    assert ex.by.value == "meter"  # its SUMMARY rows name no project
    assert "(none)" not in " ".join(str(t.name) for t in ex.figure.data)
    ex.selects["provider"].value = ("particle",)
    assert ex.by.value == "product"
    ex.by.value = "resource_id"  # chosen by hand: kept from now on
    ex.selects["provider"].value = ("informatica",)
    assert ex.by.value == "resource_id"
    assert not ex.messages.errors, ex.messages.lines


@pytest.mark.slow
def test_here_projects_are_offered_and_drawn_by_name_not_hrn(tmp_path: Path) -> None:
    here = read_report(SAMPLES / "here_report_2026-10.csv.gz", unified=True)
    hrns = set(here["project"].dropna().astype(str))
    assert hrns and all(h.startswith("hrn:here:") for h in hrns)
    ex = UsageExplorer(here, export_dir=tmp_path)
    labels = [label for label, value in ex.selects["project"].options if value is not None]
    assert sorted(labels) == sorted(h.rsplit("project/", 1)[1] for h in hrns)
    ex.selects["project"].value = (sorted(hrns)[0],)  # the value is still the HRN
    assert ex.headline.total > 0
    transactions = here[here["billable_unit"] == "Transactions"]
    fig = charts.top_bar(transactions, by="project", quantity="billable_quantity")
    shown = " ".join(str(t) for t in fig.layout.yaxis.ticktext or ()) + " ".join(
        str(y) for trace in fig.data for y in (trace.y if trace.y is not None else ())
    )
    assert "hrn:" not in shown and sorted(labels)[0] in shown


@pytest.mark.slow
def test_each_drawing_is_a_new_chart_widget_in_the_old_ones_place(
    explorer: UsageExplorer,
) -> None:
    # A page view of the old widget may still be drawing its first figure: patching it
    # lost the change there. A new widget's view starts from the whole new figure.
    clock = [time.monotonic()]  # the explorer's own clock, moved by hand from now on
    explorer._clock = lambda: clock[0]
    before = explorer.figure
    explorer.selects["product"].value = ("Fleet Gateway",)
    after = explorer.figure
    assert after is not before
    charts = [c for c in explorer.children if isinstance(c, type(after))]
    assert charts == [after]
    # Off the page, the old one stays open a while (a page may still be setting it up),
    # then the next drawing closes it; closing the explorer closes every chart.
    assert before.comm is not None
    clock[0] += RETIRED_CHART_SECONDS
    explorer.selects["product"].value = ()
    assert before.comm is None and after.comm is not None
    state = after.get_state()
    assert [t["name"] for t in state["_widget_data"]] == ["Fleet Gateway"]
    explorer.close()
    assert after.comm is None and explorer.figure.comm is None


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The state of every widget comm opened from now on, as sent."""
    import comm

    states: list[dict[str, Any]] = []
    create = comm.create_comm

    def spy(**kwargs: Any) -> Any:
        states.append(kwargs["data"]["state"])
        return create(**kwargs)

    monkeypatch.setattr(comm, "create_comm", spy)
    return states


@pytest.mark.slow
def test_a_new_chart_widget_opens_its_comm_with_the_whole_figure(
    explorer: UsageExplorer, opened: list[dict[str, Any]]
) -> None:
    # A view created right after the widget (the chart put in place of the old one)
    # starts from what the comm opened with: it must already be the whole figure.
    explorer.selects["product"].value = ("Fleet Gateway",)
    charts = [
        s for s in opened if s.get("_model_name") == explorer.figure.get_state()["_model_name"]
    ]
    assert len(charts) == 1
    assert [t["name"] for t in charts[0]["_widget_data"]] == ["Fleet Gateway"]
    assert charts[0]["_widget_layout"]["title"]["text"] == "Usage per day by product"
    assert "ua-chart" in charts[0]["_dom_classes"]


@pytest.mark.slow
def test_plotly_s_script_goes_to_the_page_once_per_kernel_not_once_per_chart(
    explorer: UsageExplorer, opened: list[dict[str, Any]]
) -> None:
    # plotly's widget script is 5 MB; a new chart widget per drawing sent it each time.
    import plotly.graph_objects as go

    from usage_analysis.widgets._common import plotly_script, plotly_script_key

    first = explorer.figure
    for product in (("Fleet Gateway",), (), ("Fleet Gateway",)):
        explorer.selects["product"].value = product
    assert explorer.figure is not first
    sizes = [len(str(s.get("_esm", ""))) for s in opened]
    assert opened and max(sizes) < 10_000, sizes
    script = plotly_script()
    # Every chart points at the kernel's one script, which is plotly's own.
    assert {s["_script"] for s in opened if "_script" in s} == {f"IPY_MODEL_{script.model_id}"}
    assert script.source == str(go.FigureWidget._esm) and len(script.source) > 1_000_000
    assert {s["_script_key"] for s in opened if "_script_key" in s} == {plotly_script_key()}
    # A closed script (a cleared output) is made again for the next chart.
    script.close()
    explorer.selects["product"].value = ()
    assert explorer.figure._script is not script and explorer.figure._script.comm is not None


@pytest.mark.slow
def test_set_view_draws_once_what_setting_each_control_draws(
    particle: pd.DataFrame, tmp_path: Path
) -> None:
    view = {"chart": "top", "by": "resource_id", "freq": "W", "top": 3, "plan": "free"}
    one_by_one = UsageExplorer(particle, export_dir=tmp_path)
    for name, value in view.items():
        getattr(one_by_one, name).value = value
    at_once = UsageExplorer(particle, export_dir=tmp_path)
    before = at_once.redraws
    at_once.set_view(**view)  # type: ignore[arg-type]
    assert at_once.redraws == before + 1
    assert at_once.view == one_by_one.view
    assert at_once.figure.to_json() == one_by_one.figure.to_json()
    assert at_once.top_table.value == one_by_one.top_table.value
    assert at_once.headline_html.value == one_by_one.headline_html.value
    # A value no control offers changes nothing, and says which parameter.
    for bad in ({"chart": "pie"}, {"top": 0}, {"by": "colour"}):
        with pytest.raises(InvalidParameter, match=next(iter(bad))):
            at_once.set_view(freq="D", **bad)  # type: ignore[arg-type]
    assert at_once.view == one_by_one.view and at_once.redraws == before + 1
