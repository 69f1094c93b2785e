"""UsageExplorer in a real browser (Voila, Debian's Chromium): the chart fills the explorer.

The case a notebook meets after a report arrives: a box is already on the page and
an explorer built later (in ``on_complete``, here a button's callback) is put into
it. Its chart must take the explorer's width, not plotly's 700 px default, and
follow the window when it is resized.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from server_helpers import Server, needs_chromium, voila_page

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
PARTICLE = SAMPLE / "particle_devices_2026-09-01_2026-11-20.csv"
STEP_TIMEOUT_MS = 60_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    needs_chromium,
]

NOTEBOOK = f"""\
import ipywidgets as widgets
from usage_analysis.readers import read_report
from usage_analysis.widgets import UsageExplorer

df = read_report({str(PARTICLE)!r}, unified=True)
box = widgets.VBox([widgets.HTML("waiting for the report")])
button = widgets.Button(description="report arrived")
button.add_class("ua-test-load")

def arrived(_):
    box.children = [UsageExplorer(df, export_dir="exports")]

button.on_click(arrived)
display(button, box)
"""

# Widths of the explorer, the chart widget and the plot plotly drew inside it.
WIDTHS = """() => {
    const width = s => {
        const el = document.querySelector(s);
        return el ? el.getBoundingClientRect().width : null;
    };
    return {
        explorer: width('.ua-explorer'),
        chart: width('.ua-explorer .ua-chart'),
        plot: width('.ua-explorer .ua-chart .main-svg'),
    };
}"""


@pytest.fixture
def voila(voila_server: Server, notebook_workdir: Path) -> str:
    """The run's Voila serving the notebook above; its URL."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(NOTEBOOK)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(nb, notebook_workdir / "late_explorer.ipynb")
    return voila_server.url(voila_page("late_explorer.ipynb"))


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    yield page
    page.close()


def _fills(page: Any, *, explorer_below: float | None = None) -> dict[str, Any]:
    """The widths once the plot spans the chart widget (the last ones seen if it never does).

    ``explorer_below``: also wait for the page to reflow the explorer narrower than
    that (right after a resize the old layout can still be measured).
    """
    deadline = time.monotonic() + 15
    widths: dict[str, Any] = {}
    while time.monotonic() < deadline:
        widths = page.evaluate(WIDTHS)
        reflowed = explorer_below is None or (widths["explorer"] or 0) < explorer_below
        if reflowed and widths["plot"] and abs(widths["plot"] - widths["chart"]) <= 2:
            return widths
        page.wait_for_timeout(250)
    return widths


def test_an_explorer_put_into_a_box_already_shown_draws_its_chart_full_width(
    voila: str, page: Any
) -> None:
    page.goto(voila, timeout=STEP_TIMEOUT_MS * 2)
    page.locator(".ua-test-load").click(timeout=STEP_TIMEOUT_MS * 2)
    page.wait_for_selector(".ua-explorer .ua-chart .main-svg", timeout=STEP_TIMEOUT_MS)
    widths = _fills(page)
    # The explorer spans the page (far wider than plotly's 700 px default) ...
    assert widths["explorer"] > 1100, widths
    # ... and so does its chart.
    assert widths["chart"] >= widths["explorer"] - 2, widths
    assert abs(widths["plot"] - widths["chart"]) <= 2, widths
    # A narrower window: the chart follows.
    page.set_viewport_size({"width": 900, "height": 900})
    narrow = _fills(page, explorer_below=widths["explorer"] - 300)
    assert narrow["explorer"] < widths["explorer"] - 300, narrow
    assert abs(narrow["plot"] - narrow["chart"]) <= 2, narrow
