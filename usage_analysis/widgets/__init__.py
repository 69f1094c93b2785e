"""Notebook widgets: thin ipywidgets shells over the clients, the analysis and the charts.

- :class:`ReportRequester`: a form to ask a provider for a usage report, watch it
  come in (polling in a background thread, so the kernel stays free) and get
  the unified frame.
- :class:`UsageExplorer`: filters, headline numbers, a chart, the top consumers
  and exports for a unified frame.

All logic is in plain functions and readable attributes, so it is tested
without a browser; every message and error shows in the widget's own Output area.
"""

from __future__ import annotations

from .explorer import Headline, UsageExplorer
from .requester import ReportRequester

__all__ = ["Headline", "ReportRequester", "UsageExplorer"]
