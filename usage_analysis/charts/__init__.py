"""Plotly figures from unified usage frames: returned, never shown.

Every function aggregates through :mod:`usage_analysis.analysis` and cuts to the
top groups before plotting, so a figure's size depends on how many groups and
periods it shows, never on how many rows the frame has. Quantities of different
units are never drawn on one axis: a figure gets one panel per unit (or, for
the heatmap, refuses with :class:`~usage_analysis.errors.UnitMismatch`).

Signatures follow plotly express: the frame first, options keyword-only::

    fig = usage_over_time(df, by="product", freq="D", top=10)
    fig.write_html("usage.html")

One module per chart family (:mod:`.timeseries`, :mod:`.ranking`,
:mod:`.breakdown`, :mod:`.allowance`); the palette, the colour map (the same
product, app or meter gets the same colour in every chart) and the shared layout
live in :mod:`._style`.
"""

from __future__ import annotations

from ..defaults import CHART_MAX_CELLS, CHART_MAX_POINTS, CHART_MAX_SERIES
from ._common import _labels, _noun, format_quantity, provider_name
from ._style import OTHER_COLOR, PALETTE, TEMPLATE, _empty, color_map
from .allowance import cumulative_vs_allowance
from .breakdown import breakdown
from .ranking import period_over_period, top_bar
from .tables import cost_forecast_table, format_price, overview_table, spend_table, table
from .timeseries import heatmap, usage_over_time

__all__ = [
    "breakdown",
    "color_map",
    "cost_forecast_table",
    "cumulative_vs_allowance",
    "format_price",
    "format_quantity",
    "heatmap",
    "overview_table",
    "period_over_period",
    "provider_name",
    "spend_table",
    "table",
    "top_bar",
    "usage_over_time",
]
# Not in __all__ but kept importable: constants tests and notebooks read, and the
# helpers the explorer shares (its empty figure, labels and nouns).
_SHARED = (
    CHART_MAX_CELLS,
    CHART_MAX_POINTS,
    CHART_MAX_SERIES,
    OTHER_COLOR,
    PALETTE,
    TEMPLATE,
    _empty,
    _labels,
    _noun,
)
