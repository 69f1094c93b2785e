"""Charts drawn by a real browser: no piece of text lands on another.

Each test's figures are drawn in Debian's Chromium through Playwright, in one page
per module that loaded plotly.js once (its 4.7 MB script costs Chromium 3 to 4 s of
CPU to compile, the drawing itself well under one): the test puts in the page the
very ``<div>`` and script ``to_html`` writes for each figure, and reads the boxes
the browser drew for every title, panel title and tick label.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import pytest
from server_helpers import _SHARED_CONTEXTS, needs_chromium, playwright_calls

from usage_analysis import charts
from usage_analysis.readers import read_report
from usage_analysis.schema import coerce_unified

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"

pytestmark = [
    pytest.mark.browser,
    needs_chromium,
]

# Every drawn piece of text of each figure (its title, axis titles, panel titles,
# tick labels, legend entries) with the box the browser gave it.
TEXT_BOXES = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(gd => {
    const boxes = [];
    const kindOf = el => {
        const cls = el.getAttribute('class') || '';
        if (/^[xy][0-9]*title$/.test(cls)) return 'axis title';
        if (cls.startsWith('gtitle')) return 'figure title';
        if (cls === 'annotation-text') return 'panel title';
        if (cls === 'legendtext') return 'legend';
        if (el.closest('.xtick, .ytick')) return 'tick label';
        return null;
    };
    gd.querySelectorAll('text').forEach(el => {
        const kind = kindOf(el);
        const r = el.getBoundingClientRect();
        const text = el.textContent.trim();
        if (kind && text && r.width > 0 && r.height > 0) {
            boxes.push({kind, text, x0: r.left, y0: r.top, x1: r.right, y1: r.bottom});
        }
    });
    return {id: gd.id, boxes};
})"""


@pytest.fixture(scope="module")
def here() -> pd.DataFrame:
    return read_report(SAMPLES / "here_report_2026-10.csv.gz", unified=True)


@pytest.fixture(scope="module")
def mixed(here: pd.DataFrame) -> pd.DataFrame:
    particle = read_report(SAMPLES / "particle_devices_2026-09-01_2026-11-20.csv", unified=True)
    infa = read_report(SAMPLES / "informatica_summary_2026-10.zip", unified=True)
    return coerce_unified(pd.concat([particle, here, infa], ignore_index=True))


class _PlotlyPage:
    """The module's page with plotly.js loaded, opened by the first test that draws."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.page = folder, None

    def get(self, browser: Any) -> Any:
        if self.page is None:
            context = browser.new_context()
            _SHARED_CONTEXTS.add(context)  # the test's ``browser`` leaves it open
            path = self.folder / "plotly.html"
            # The script exactly as a figure's offline page embeds it.
            script = go.Figure().to_html(full_html=False, include_plotlyjs=True, div_id="none")
            path.write_text(f"<!doctype html><html><head></head><body>{script}</body></html>")
            page = context.new_page()
            page.goto(path.as_uri())
            page.wait_for_function("typeof window.Plotly === 'object'")
            self.page = page
        return self.page


@pytest.fixture(scope="module")
def _plotly_page(chromium: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[_PlotlyPage]:
    shared = _PlotlyPage(tmp_path_factory.mktemp("plotly"))
    yield shared
    if shared.page is not None:
        context = shared.page.context
        _SHARED_CONTEXTS.discard(context)
        with playwright_calls(chromium):
            context.close()


@pytest.fixture
def page(browser: Any, _plotly_page: _PlotlyPage) -> Any:
    """The module's page of the run's Chromium with plotly.js loaded (tests/server_helpers.py)."""
    return _plotly_page.get(browser)


# Out with the figures drawn before (and their window listeners), in with the new ones:
# each figure's div and script as ``to_html`` writes them; the scripts of a contextual
# fragment run when it is inserted, as they do when a page loads.
DRAW = """html => {
    document.querySelectorAll('.js-plotly-plot').forEach(gd => Plotly.purge(gd));
    document.body.replaceChildren(document.createRange().createContextualFragment(html));
}"""


def drawn_text(page: Any, figures: dict[str, go.Figure], width: int) -> list[Any]:
    """Draw ``figures`` in the page ``width`` pixels wide; the text boxes of each figure."""
    html = "".join(
        fig.to_html(full_html=False, include_plotlyjs=False, div_id=name)
        for name, fig in figures.items()
    )
    page.set_viewport_size({"width": width, "height": 900})
    page.evaluate(DRAW, html)
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {len(figures)}"
    )
    return list(page.evaluate(TEXT_BOXES))


def overlaps(boxes: list[dict[str, Any]], *, slack: float = 1.0) -> list[str]:
    """Pairs of text boxes that cover each other by more than ``slack`` pixels each way."""
    found = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            if a["kind"] == b["kind"] and a["kind"] in ("tick label", "legend"):
                continue  # plotly itself spaces (or rotates) the ticks of an axis
            dx = min(a["x1"], b["x1"]) - max(a["x0"], b["x0"])
            dy = min(a["y1"], b["y1"]) - max(a["y0"], b["y0"])
            if dx > slack and dy > slack:
                found.append(f"{a['kind']} {a['text']!r} over {b['kind']} {b['text']!r}")
    return found


@pytest.mark.parametrize("width", [1300, 900])
def test_stacked_unit_panels_keep_their_titles_clear_of_the_axes_above(
    page: Any, here: pd.DataFrame, mixed: pd.DataFrame, width: int
) -> None:
    figures = {
        "top_bar_here": charts.top_bar(here, by="resource_id"),
        "top_bar_providers": charts.top_bar(mixed, by="provider"),
        "usage_over_time_here": charts.usage_over_time(here, by="meter"),
        "period_over_period_here": charts.period_over_period(here, by="meter"),
    }
    drawn = drawn_text(page, figures, width)
    assert [d["id"] for d in drawn] == list(figures)
    for figure in drawn:
        kinds = {b["kind"] for b in figure["boxes"]}
        # The test sees what it checks: panel titles, axis titles and ticks were drawn.
        assert {"axis title", "panel title", "tick label"} <= kinds, figure["id"]
        assert overlaps(figure["boxes"]) == [], figure["id"]


@pytest.mark.parametrize("width", [1300, 800])
def test_free_plan_burn_down_keeps_its_70_90_100_labels_apart(page: Any, width: int) -> None:
    import usage_analysis as ua

    particle = read_report(SAMPLES / "particle_devices_2026-09-01_2026-11-20.csv", unified=True)
    # A month of ~900,000 data operations against the Free plan's 100,000: the three
    # levels lie within a few pixels of each other at the bottom of the axis.
    figures = {
        "free": charts.cumulative_vs_allowance(particle, plan=ua.ParticlePlan.free()),
        "free_early": charts.cumulative_vs_allowance(
            particle[particle["period_start"] < "2026-11-04"], plan=ua.ParticlePlan.free()
        ),
        "basic": charts.cumulative_vs_allowance(particle, plan=ua.ParticlePlan.basic(blocks=1)),
    }
    drawn = drawn_text(page, figures, width)
    for figure in drawn:
        levels = [b for b in figure["boxes"] if b["kind"] == "panel title" and "%:" in b["text"]]
        assert len(levels) == 3, figure
        assert overlaps(levels) == [], figure["id"]


@pytest.mark.parametrize("width", [1300, 800])
def test_monthly_charts_name_months_under_their_bars_and_ticks_stay_apart(
    page: Any, width: int
) -> None:
    import re

    particle = read_report(SAMPLES / "particle_devices_2026-09-01_2026-11-20.csv", unified=True)
    # Three years of one device's days: every third month gets a tick.
    days = pd.date_range("2024-01-01", "2026-12-31", freq="D", tz="UTC")
    long = coerce_unified(
        pd.DataFrame(
            {
                "provider": "particle",
                "resource_id": "dev-1",
                "product": "Fleet",
                "period_start": days,
                "period_end": days + pd.Timedelta(days=1),
                "quantity": 10.0,
                "unit": "data operations",
            }
        )
    )
    figures = {
        "months": charts.usage_over_time(particle, by="product", freq="MS"),
        "months_heatmap": charts.heatmap(particle, by="resource_id", freq="MS"),
        "three_years": charts.usage_over_time(long, by="product", freq="MS"),
    }
    drawn = drawn_text(page, figures, width)
    for figure in drawn:
        ticks = [b for b in figure["boxes"] if b["kind"] == "tick label"]
        x_ticks = [b for b in ticks if re.fullmatch(r"[A-Z][a-z]{2} \d{4}", b["text"])]
        assert x_ticks, figure["id"]
        # No day-of-month label ("Oct 31") on any axis.
        assert not [b for b in ticks if re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}", b["text"])]
        # Month names are wider than days: they must not cover one another.
        covered = [
            (a["text"], b["text"])
            for i, a in enumerate(x_ticks)
            for b in x_ticks[i + 1 :]
            if min(a["x1"], b["x1"]) > max(a["x0"], b["x0"])
            and min(a["y1"], b["y1"]) > max(a["y0"], b["y0"])
        ]
        assert covered == [], figure["id"]
