"""One answer in the browser (issue 19): the Voila overview and notebook 05 show the same forecast.

Voila serves notebook 04 (the billing overview) and then notebook 05 (the budget
monitors) against one emulator; the test reads the Particle month-end forecast
(percent of the plan) and percent used from the overview table, and the same from
notebook 05's monitor table, as a person would read them, and compares them.
Both pages must say how fresh their data is.

The Voila server, its emulator and the browser are the run's shared ones
(``tests/server_helpers.py``, through ``tests/conftest.py``).
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from server_helpers import Server, SharedPages, needs_chromium, voila_page
from test_browser import OVERVIEW_NOTEBOOK, OVERVIEW_VIEWPORT, RUN_TIMEOUT_MS, _shot

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]

# Every table with a caption: its caption, header texts and rows of cell texts.
TABLES = """() => Array.from(document.querySelectorAll('table')).filter(t => t.caption).map(t => ({
    caption: t.caption.textContent.trim(),
    heads: Array.from(t.querySelectorAll('thead th')).map(th => th.textContent.trim()),
    rows: Array.from(t.querySelectorAll('tbody tr')).map(
        tr => Array.from(tr.querySelectorAll('td, th')).map(c => c.innerText.trim())),
}))"""


def _table(page: Any, caption: str) -> dict[str, Any]:
    """The table whose caption starts with ``caption``, once the notebook drew it."""
    deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        for table in page.evaluate(TABLES):
            if table["caption"].startswith(caption) and table["rows"]:
                return table
        page.wait_for_timeout(500)
    raise AssertionError(f"no table captioned {caption!r} within {RUN_TIMEOUT_MS} ms")


def _percent(text: str) -> float:
    match = re.fullmatch(r"([\d,]+\.\d) %", text.strip())
    assert match, f"not a percent with one decimal: {text!r}"
    return float(match.group(1).replace(",", ""))


def _cell(table: dict[str, Any], row: list[str], head: str) -> str:
    return row[table["heads"].index(head)]


PAGES = {
    OVERVIEW_NOTEBOOK: "This month per account",
    "05_budget_monitors.ipynb": "Where each monitor stands",
}


def _read_both(chromium: Any, server: Server, pages: SharedPages) -> list[dict[str, Any]]:
    """Both notebooks opened and run at once (each Voila run takes a minute or two).

    Notebook 04 is the run's shared overview page (the dashboard test reads it too).
    """
    overview = pages.open(OVERVIEW_NOTEBOOK, viewport=OVERVIEW_VIEWPORT, timeout_ms=RUN_TIMEOUT_MS)
    monitors = chromium.new_page(viewport={"width": 1400, "height": 1400})
    # Voila streams the page while the kernel runs: do not wait for "load" here.
    monitors.goto(
        server.url(voila_page("05_budget_monitors.ipynb")),
        wait_until="commit",
        timeout=RUN_TIMEOUT_MS,
    )
    tables = []
    for page, (notebook, caption) in zip((overview.page, monitors), PAGES.items(), strict=True):
        tables.append(_table(page, caption))
        _shot(page.locator("table", has=page.locator("caption")).last, f"one-answer-{notebook}")
    return tables


@pytest.mark.timeout(600)
def test_voila_overview_and_notebook_05_show_the_same_particle_forecast(
    browser: Any, voila_server: Server, voila_pages: SharedPages
) -> None:
    overview, monitors = _read_both(browser, voila_server, voila_pages)
    assert "data as of " in overview["caption"] and "data as of " in monitors["caption"]

    (particle,) = [r for r in overview["rows"] if r[0].startswith("Particle")]
    (forecast_monitor,) = [r for r in monitors["rows"] if r[0] == "Particle month-end forecast"]
    seen = {
        "overview forecast": _percent(_cell(overview, particle, "forecast %")),
        "monitor forecast": _percent(_cell(monitors, forecast_monitor, "forecast %")),
        "overview used": _percent(_cell(overview, particle, "used %")),
        "monitor used": _percent(_cell(monitors, forecast_monitor, "used %")),
    }
    assert seen["overview forecast"] == pytest.approx(seen["monitor forecast"], abs=0.1), seen
    assert seen["overview used"] == pytest.approx(seen["monitor used"], abs=0.1), seen
    # The status says what the forecast says.
    status = _cell(monitors, forecast_monitor, "status")
    if seen["monitor used"] >= 100:
        assert status == "over", (status, seen)
    elif seen["monitor forecast"] >= 100:
        assert status == "forecast over", (status, seen)
    else:
        assert status in ("ok", "warning"), (status, seen)
