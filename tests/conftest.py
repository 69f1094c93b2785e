"""Shared fixtures: no test sees the developer's credentials or data directory.

``emu`` is the one emulator fixture of the suite: a module that needs other options
overrides ``emulator_options`` (``tests/test_monitors.py`` sets the clock).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from usage_analysis.emulator import Emulator

# jsonschema imports rfc3987_syntax (installed for jupyter-events) to check the "iri"
# format, and that import builds an Earley parser: 3 s of CPU in every test process.
# No schema of the tests uses a format check; jsonschema skips the format without it.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

PROVIDER_ENV = (
    "PARTICLE_ACCESS_TOKEN",
    "PARTICLE_API_URL",
    "HERE_TOKEN",
    "HERE_REALM_ID",
    "HERE_API_URL",
    "HERE_CREDENTIALS",
    "HERE_TOKEN_URL",
    "HERE_ACCESS_KEY_ID",
    "HERE_ACCESS_KEY_SECRET",
    "PARTICLE_ORG",
    "USAGE_ANALYSIS_POLL_SCHEDULE",
    "INFORMATICA_USERNAME",
    "INFORMATICA_PASSWORD",
    "INFORMATICA_LOGIN_URL",
    "USAGE_ANALYSIS_HOME",
    "USAGE_ANALYSIS_ARCHIVE",
    "USAGE_ANALYSIS_DEMO_COMMAND",
)

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DATA = REPO / "sample_data"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Clear provider variables and point the data directory and HOME at a temp dir."""
    for name in PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USAGE_ANALYSIS_HOME", str(tmp_path / "ua-home"))
    yield


# The options every test emulator starts with; ``emulator_options`` adds to them.
EMULATOR_DEFAULTS: dict[str, Any] = {"seed": 7, "speed": "instant"}


@pytest.fixture(scope="module")
def emulator_options() -> dict[str, Any]:
    """Options for this module's ``emu`` on top of ``EMULATOR_DEFAULTS``; override per module."""
    return {}


@pytest.fixture(scope="module")
def emu(emulator_options: dict[str, Any]) -> Iterator[Emulator]:
    """One running emulator per test module (seed 7, speed instant unless overridden)."""
    from usage_analysis.emulator import running

    with running(**{**EMULATOR_DEFAULTS, **emulator_options}) as emulator:
        yield emulator


# ----------------------------------------------------------------- shared servers, markers

# The shared JupyterLab, Voila, Chromium and executed notebooks (tests/server_helpers.py).
from server_helpers import (  # noqa: E402
    BROWSER_FIXTURES,
    NOTEBOOK_FIXTURES,
    SHARED_FIXTURES,
    XDIST_GROUP,
    browser,
    chromium,
    executed_notebook,
    lab_server,
    notebook_workdir,
    server_emulator,
    server_env,
    voila_server,
)

__all__ = [
    "browser",
    "chromium",
    "executed_notebook",
    "lab_server",
    "notebook_workdir",
    "server_emulator",
    "server_env",
    "voila_server",
]


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test of the shared servers carries its marker and joins their xdist group.

    ``make check`` leaves out the browser, notebook and slow tests by marker: a test that
    starts JupyterLab, Voila, Chromium or a notebook kernel without saying so would slow
    the inner loop down, so it is refused here. The group keeps every such test on one
    xdist worker (``--dist loadgroup``), where each server then starts once.
    """
    unmarked = []
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if not used & SHARED_FIXTURES:
            continue
        needs = [
            name
            for name, fixtures in (("browser", BROWSER_FIXTURES), ("notebook", NOTEBOOK_FIXTURES))
            if used & fixtures and item.get_closest_marker(name) is None
        ]
        if needs:
            unmarked.append(f"{item.nodeid}: mark it {' and '.join(needs)}")
        item.add_marker(pytest.mark.xdist_group(XDIST_GROUP))
    if unmarked:
        raise pytest.UsageError(
            "tests using the shared servers lack their marker:\n" + "\n".join(unmarked)
        )
