"""Shared fixtures: no test sees the developer's credentials or data directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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
