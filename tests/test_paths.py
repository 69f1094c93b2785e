"""The data directory: $USAGE_ANALYSIS_HOME, else the platform's user data dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from usage_analysis import paths


def test_data_dir_is_usage_analysis_home_when_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USAGE_ANALYSIS_HOME", str(tmp_path / "here"))
    assert paths.data_dir() == tmp_path / "here"
    assert (tmp_path / "here").is_dir()
    assert paths.downloads_dir() == tmp_path / "here" / "downloads"
    assert paths.journal_path() == tmp_path / "here" / "journal.sqlite"


def test_data_dir_defaults_to_the_user_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("USAGE_ANALYSIS_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert paths.data_dir(create=False) == tmp_path / "xdg" / "usage-analysis"


def test_data_dir_expands_a_tilde(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("USAGE_ANALYSIS_HOME", "~/ua")
    assert paths.data_dir() == tmp_path / "ua"


def test_data_dir_is_not_created_when_asked_not_to(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("USAGE_ANALYSIS_HOME", str(tmp_path / "nope"))
    paths.journal_path(create=False)
    assert not (tmp_path / "nope").exists()
