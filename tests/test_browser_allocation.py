"""The chargeback statement in a real browser, offline: it draws, and asks for nothing.

Each team's page from ``usage-analysis allocate --format html`` on the sample
reports is opened in Debian's Chromium through Playwright with every network
request refused; the test reads what the browser drew.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server_helpers import needs_chromium

from usage_analysis.cli import main

pytestmark = [pytest.mark.browser, needs_chromium]

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"
RULES = (
    Path(__file__).resolve().parent.parent / "usage_analysis" / "data" / "allocation.example.toml"
)
REPORTS = (
    "here_report_2026-10.csv.gz",
    "particle_devices_2026-09-01_2026-11-20.csv",
    "informatica_project_folder_2026-10.zip",
)

DRAWN = """() => {
    const box = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
    const tables = Array.from(document.querySelectorAll('table'));
    return {
        title: document.querySelector('h1').textContent,
        totals: Array.from(document.querySelectorAll('.total')).filter(box).map(e => e.textContent),
        headings: Array.from(document.querySelectorAll('h2')).filter(box).map(e => e.textContent),
        rows: tables.map(t => Array.from(t.querySelectorAll('tbody tr')).filter(box).length),
        width: document.documentElement.scrollWidth,
        viewport: window.innerWidth,
        scripts: document.scripts.length,
    };
}"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("statements")
    args = ["allocate", "--rules", str(RULES), "--month", "2026-10", "--format", "html"]
    args += ["--out", str(out)]
    for name in REPORTS:
        args += ["--report", str(SAMPLES / name)]
    with pytest.warns(UserWarning):  # the example's HERE teams overlap: said, not fatal
        assert main(args) == 0
    return {p.name.rsplit("-2026-10", 1)[0]: p for p in out.glob("*.html")}


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """An offline page of the run's Chromium (tests/server_helpers.py)."""
    context = browser.new_context(offline=True)
    yield context.new_page()
    context.close()


def test_every_team_has_a_statement(pages: dict[str, Path]) -> None:
    assert set(pages) == {
        "logistics",
        "mobility",
        "fleet",
        "facilities",
        "data",
        "customer",
        "unallocated",
    }


@pytest.mark.parametrize("team", ["fleet", "facilities", "unallocated"])
def test_statement_renders_offline_with_its_numbers(
    pages: dict[str, Path], page: Any, team: str
) -> None:
    requests: list[str] = []

    def seen(request: Any) -> None:
        requests.append(request.url)

    page.on("request", seen)
    try:
        page.goto(pages[team].as_uri())
        drawn = page.evaluate(DRAWN)
    finally:
        page.remove_listener("request", seen)
    assert drawn["title"] == f"Chargeback statement: {team}"
    assert drawn["totals"] and drawn["totals"][0].startswith("Total ")
    assert drawn["scripts"] == 0
    assert drawn["headings"][:2] == ["Cost per provider", "Cost per meter"]
    assert drawn["rows"][0] >= 1  # cost per provider
    assert drawn["width"] <= drawn["viewport"]  # nothing wider than the window
    assert all(u.startswith("file://") for u in requests), requests


def test_shared_cost_and_top_devices_are_drawn(pages: dict[str, Path], page: Any) -> None:
    page.goto(pages["fleet"].as_uri())
    text = page.inner_text("body")
    assert "office sensors" in text and "proportional" in text
    assert "Top resources" in text and "Data as of" in text
    drawn = page.evaluate(DRAWN)
    assert drawn["rows"][2] >= 1 and drawn["rows"][3] >= 1  # shared costs, top resources
