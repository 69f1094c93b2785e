"""The notebooks: each runs top to bottom headless, and is saved clean and paired.

Execution uses no credentials at all, as a new user would: every provider falls
back to the emulator embedded in the kernel, and the notebook must say so.
(``tests/test_demo.py`` runs notebook 04 through ``make demo``'s path, with the
environment pointing the clients at an emulator.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import jupytext
import nbformat
import pytest
from test_charts_tables import column_css

from usage_analysis.emulator import Emulator

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
NAMES = [
    "01_particle_data_operations",
    "02_here_usage",
    "03_informatica_ipus",
    "04_billing_overview",
    "05_budget_monitors",
    "06_chargeback",
]
# A saved notebook must name no place on the machine it was saved on.
MACHINE_PATH = re.compile(r"(/work/|/home/|/root/|/tmp/|/Users/|[A-Z]:\\\\)")
# What a table cell must never show (pandas' words for "nothing").
SHOWN_MISSING = {"NaN", "nan", "NaT", "None", "<NA>"}
# Trace types drawn without x/y axes.
NO_AXES = {"treemap", "sunburst", "pie", "table", "indicator", "icicle"}


def _secrets() -> list[str]:
    """The embedded emulator's credentials (fixed by its seed), which no output may show."""
    creds = Emulator(seed=7).credentials
    return [
        creds["particle"]["token"],
        creds["here"]["token"],
        creds["here"]["access_key_secret"],
        creds["informatica"]["password"],
    ]


def _text_of(outputs: list[dict]) -> str:
    return json.dumps(outputs)


def test_notebooks_folder_holds_exactly_the_paired_notebooks() -> None:
    found = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    assert found == NAMES
    assert sorted(p.stem for p in NOTEBOOKS.glob("[0-9]*.py")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_saved_notebook_has_no_outputs_secrets_or_machine_paths(name: str) -> None:
    text = (NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name}: a code cell was saved with outputs"
            assert cell.execution_count is None
    assert "widgets" not in nb.metadata, f"{name}: widget state was saved"
    assert not MACHINE_PATH.search(text), f"{name}: names a path on this machine"
    for secret in _secrets():
        assert secret not in text


@pytest.mark.parametrize("name", NAMES)
def test_saved_notebook_matches_its_paired_script(name: str) -> None:
    script = jupytext.read(NOTEBOOKS / f"{name}.py", fmt="py:percent")
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)

    def cells(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
        return [(c.cell_type, c.source.strip()) for c in nb.cells]

    assert cells(notebook) == cells(script), (
        f"{name}.ipynb and {name}.py differ: run `jupytext --sync notebooks/{name}.py`"
    )
    assert notebook.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom_on_the_embedded_emulator(
    name: str, executed_notebook: Callable[[str], nbformat.NotebookNode]
) -> None:
    # No provider credentials: the embedded emulator serves. A failing cell raises
    # CellExecutionError naming it (tests/server_helpers.py runs each notebook once).
    nb = executed_notebook(name)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors
    text = _text_of(outputs)
    assert "EMULATED DATA" in text, "the notebook must say its data is emulated"
    for secret in _secrets():
        assert secret not in text, f"{name}: an output shows a credential"
    # Every chart has a title, and a chart with axes names what they measure.
    figures = [
        o["data"]["application/vnd.plotly.v1+json"]
        for o in outputs
        if "application/vnd.plotly.v1+json" in o.get("data", {})
    ]
    assert figures, f"{name}: no chart was drawn"
    for fig in figures:
        layout = fig["layout"]
        title = layout.get("title", {})
        title = title.get("text") if isinstance(title, dict) else title
        assert title, f"{name}: a chart has no title"
        if all(t.get("type", "scatter") in NO_AXES for t in fig["data"]):
            continue
        labels = [
            (axis.get("title") or {}).get("text")
            for key, axis in layout.items()
            if re.fullmatch(r"[xy]axis\d*", key)
        ]
        assert any(labels), f"{name}: chart {title!r} has no axis label"
    # Tables read as a report: no NaN, NaT, None or "+00:00" in any shown cell.
    for table in (
        o["data"]["text/html"]
        for o in outputs
        if "<table" in o.get("data", {}).get("text/html", "")
    ):
        for cell in re.findall(r"<td[^>]*>(.*?)</td>", table, re.S):
            shown = re.sub(r"<[^>]+>", "", cell).strip()
            assert shown not in SHOWN_MISSING, f"{name}: a table shows {shown!r}"
            assert "+00:00" not in shown, f"{name}: a table shows a UTC offset: {shown!r}"
        if name[:2] in ("01", "02", "03") and "ua-report-table" in table:
            # Every report table says how fresh its rows are (issue 19 item 4).
            assert re.search(r"data as of \d{4}-\d\d-\d\d \d\d:\d\d UTC", table), (
                f"{name}: a table does not say 'data as of'"
            )
    if name == "02_here_usage":
        # Unpriced features are named, not given as HRNs.
        assert "not on the rate card: " in text and "not on the rate card: hrn" not in text
        # The cost table's months read "Oct 2026", on one line.
        cost_table = next(
            o["data"]["text/html"]
            for o in outputs
            if "Estimated cost per feature" in o.get("data", {}).get("text/html", "")
        )
        assert "white-space:nowrap" in column_css(cost_table, "month")
        assert re.search(r">\s*[A-Z][a-z]{2} \d{4}\s*</td>", cost_table)
    if name == "03_informatica_ipus":
        # The IPU burn-down says when its alert level is (or will be) crossed.
        titles = [str((f["layout"].get("title") or {}).get("text", "")) for f in figures]
        assert any("alert level" in t and "crossed" in t for t in titles), titles
    # Widgets are displayed (the request form, the explorer).
    views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert views, f"{name}: no widget was displayed"
