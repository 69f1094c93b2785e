"""Where usage-analysis keeps its files: the journal and the raw downloads.

The data directory is ``$USAGE_ANALYSIS_HOME`` when set, else the platform's user
data directory (``~/.local/share/usage-analysis`` on Linux), found with platformdirs
so macOS and Windows get their native places too.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from .defaults import APP_NAME, HOME_ENV

__all__ = ["data_dir", "downloads_dir", "journal_path"]

JOURNAL_FILE = "journal.sqlite"
DOWNLOADS_DIR = "downloads"


def data_dir(*, create: bool = True) -> Path:
    """The data directory: ``$USAGE_ANALYSIS_HOME``, else the user data dir."""
    configured = os.environ.get(HOME_ENV, "").strip()
    if configured:
        path = Path(configured).expanduser()
    else:
        path = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def downloads_dir(*, create: bool = True) -> Path:
    """Where raw report files land, one sub-directory per provider and account."""
    path = data_dir(create=create) / DOWNLOADS_DIR
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def journal_path(*, create: bool = True) -> Path:
    """The SQLite journal of every report job requested."""
    return data_dir(create=create) / JOURNAL_FILE
