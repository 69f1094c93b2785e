"""The archive's side of grains: how far back a report's replacement reaches.

The grains themselves and the one rule that picks them per period live in
:mod:`usage_analysis.grains` (shared with the analysis functions); they are
re-exported here for the old import path.
"""

from __future__ import annotations

import pandas as pd

from ..grains import (
    GRAINS,
    canonical_grain,
    choose_grains,
    frame_grains,
    grain_choice,
    provider_of,
)

__all__ = [
    "BY_START",
    "GRAINS",
    "MAX_ROW_SPAN",
    "canonical_grain",
    "choose_grains",
    "frame_grains",
    "grain_choice",
    "provider_of",
]

# How long one row of a grain can last: a report replacing [start, end) also
# replaces earlier rows of its grain reaching into that range, and only months
# this far back can hold one. None: no bound (a summarized row spans the request).
MAX_ROW_SPAN: dict[str, pd.Timedelta | None] = {
    "devices": pd.Timedelta(days=31),
    "products": pd.Timedelta(days=31),
    "day": pd.Timedelta(days=1),
    "hour": pd.Timedelta(hours=1),
    "month": pd.Timedelta(days=31),
    "summarized": None,
    "SUMMARY": pd.Timedelta(days=1),
    "PROJECT_FOLDER": pd.Timedelta(days=1),
    "ASSET": pd.Timedelta(days=1),
    "JOB_LEVEL": None,
}
# Grains whose rows are events keyed by their start (an Informatica job that
# runs past midnight belongs to the report of the day it started): a report
# replaces the rows that start within it, not those that merely overlap it.
BY_START = frozenset({"JOB_LEVEL"})
