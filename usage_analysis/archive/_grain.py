"""The archive's side of grains: how far back a report's replacement reaches.

The grains themselves and the one rule that picks them per period live in
:mod:`usage_analysis.grains` (shared with the analysis functions); they are
re-exported here for the old import path.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Set

import pandas as pd

from .. import providers
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


class _RowSpans(Mapping[str, "pd.Timedelta | None"]):
    """Grain -> how long one of its rows can last (None: no bound), from the registry.

    A report replacing [start, end) also replaces earlier rows of its grain
    reaching into that range, and only months this far back can hold one.
    """

    def _spans(self) -> dict[str, pd.Timedelta | None]:
        return {
            g: (None if span is None else pd.Timedelta(span))
            for p in providers.registered()
            for g, span in p.grain_spans.items()
        }

    def __getitem__(self, grain: str) -> pd.Timedelta | None:
        return self._spans()[grain]

    def __iter__(self) -> Iterator[str]:
        return iter(self._spans())

    def __len__(self) -> int:
        return len(self._spans())


class _ByStart(Set[str]):
    """Grains whose rows are events keyed by their start (an Informatica job that
    runs past midnight belongs to the report of the day it started): a report
    replaces the rows that start within it, not those that merely overlap it."""

    def _grains(self) -> frozenset[str]:
        return frozenset(g for p in providers.registered() for g in p.by_start)

    def __contains__(self, grain: object) -> bool:
        return grain in self._grains()

    def __iter__(self) -> Iterator[str]:
        return iter(self._grains())

    def __len__(self) -> int:
        return len(self._grains())


MAX_ROW_SPAN: Mapping[str, pd.Timedelta | None] = _RowSpans()
BY_START: Set[str] = _ByStart()
