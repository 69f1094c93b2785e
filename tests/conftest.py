"""Shared fixtures: no test sees the developer's credentials or data directory.

``emu`` is the one emulator fixture of the suite: a module that needs other options
overrides ``emulator_options`` (``tests/test_monitors.py`` sets the clock).
"""

from __future__ import annotations

import os
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
# ... and in every Python process the tests start (tests/_site/sitecustomize.py).
SITE = Path(__file__).resolve().parent / "_site"
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(SITE), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
)

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
    XDIST_GROUPS,
    browser,
    chromium,
    executed_notebook,
    lab_pages,
    lab_server,
    notebook_workdir,
    server_emulator,
    server_env,
    voila_pages,
    voila_server,
)

__all__ = [
    "browser",
    "chromium",
    "executed_notebook",
    "lab_pages",
    "lab_server",
    "notebook_workdir",
    "server_emulator",
    "server_env",
    "voila_pages",
    "voila_server",
]


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test of the shared servers carries its marker and joins its server's xdist group.

    ``make check`` leaves out the browser, notebook and slow tests by marker: a test that
    starts JupyterLab, Voila, Chromium or a notebook kernel without saying so would slow
    the inner loop down, so it is refused here. A group keeps the tests of one server
    on one xdist worker (``--dist loadgroup``), where that server then starts once.
    """
    unmarked = []
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        needs = [
            name
            for name, fixtures in (("browser", BROWSER_FIXTURES), ("notebook", NOTEBOOK_FIXTURES))
            if used & fixtures and item.get_closest_marker(name) is None
        ]
        if needs:
            unmarked.append(f"{item.nodeid}: mark it {' and '.join(needs)}")
        group = next((name for name, fixture in XDIST_GROUPS if fixture in used), None)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
    if unmarked:
        raise pytest.UsageError(
            "tests using the shared servers lack their marker:\n" + "\n".join(unmarked)
        )


class _GroupsKept:
    """Refuses a run whose ``--dist loadgroup`` lost the groups.

    xdist carries a test's group to the scheduler as an ``@group`` suffix of its node id.
    When pytest stops taking that suffix (pytest 9.2 did: pytest-dev/pytest-xdist#1386),
    every test of a shared server goes to any worker, each worker starts its own
    JupyterLab, Voila and notebooks, and nothing fails; the run just takes twice as long.
    """

    @pytest.hookimpl(trylast=True)  # after xdist's worker has written the suffixes
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        if not (hasattr(config, "workerinput") and config.getvalue("loadgroup")):
            return
        lost = [
            item.nodeid
            for item in items
            if item.get_closest_marker("xdist_group") is not None and "@" not in item.nodeid
        ]
        if lost:
            raise pytest.UsageError(
                f"--dist loadgroup dropped the xdist groups of {len(lost)} tests (first: "
                f"{lost[0]}); this pytest and pytest-xdist do not work together, see the "
                "pytest pin in pyproject.toml"
            )


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_GroupsKept(), "ua-groups-kept")
