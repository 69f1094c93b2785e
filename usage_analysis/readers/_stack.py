"""Where a reader's warning points: the first frame outside the package.

Its own module, below every other readers module, so ``_source``, ``_summary``
and ``_parse`` all use it without importing one another in a circle.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["caller_level"]

_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)


def caller_level() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside this package."""
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level
