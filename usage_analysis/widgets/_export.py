"""Saving what the explorer shows: its rows as CSV, its chart as standalone HTML.

A mixin of :class:`~usage_analysis.widgets.explorer.UsageExplorer`: each file is
written next to the others in ``export_dir`` (or where asked), named and sized in a
message, and offered as a download link while it is small enough to embed.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pandas as pd
import plotly.graph_objects as go

from ..csv_export import write_csv
from ._common import Messages, esc

__all__ = ["MAX_LINK_BYTES", "Exports"]

# Files up to this size get a download link with their bytes in it; larger ones are
# named by path.
MAX_LINK_BYTES = 3 * 1024 * 1024


class Exports:
    """CSV and HTML exports of an explorer (a mixin; the explorer makes the widgets)."""

    # Made by UsageExplorer.__init__.
    export_dir: Path
    last_export: dict[str, Path]
    messages: Messages
    links: widgets.HTML
    figure: go.FigureWidget
    filtered: pd.DataFrame  # the rows the filters keep

    def export_csv(self, path: str | Path | None = None) -> Path:
        """Write the filtered rows to a CSV file; return its path (a link appears too)."""
        target = self._target(path, "csv")
        # Spreadsheet-safe: plain dates, numbers as numbers, no formula cells.
        write_csv(self.filtered, target)
        self._exported("csv", target)
        return target

    def export_html(self, path: str | Path | None = None, *, include_plotlyjs: Any = True) -> Path:
        """Write the current chart to a standalone HTML file; return its path."""
        target = self._target(path, "html")
        fig = go.Figure(self.figure)
        tmp = target.with_name(target.name + ".part")
        fig.write_html(tmp, include_plotlyjs=include_plotlyjs, full_html=True)
        tmp.replace(target)
        self._exported("html", target)
        return target

    def _target(self, path: str | Path | None, ext: str) -> Path:
        if path is None:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            path = self.export_dir / f"usage-{stamp}.{ext}"
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def _exported(self, kind: str, target: Path) -> None:
        self.last_export[kind] = target
        size = target.stat().st_size
        self.messages.info(f"saved {target} ({size:,} bytes)")
        links = []
        for k, p in self.last_export.items():
            if not p.exists():
                continue
            name = esc(p.name)
            if p.stat().st_size <= MAX_LINK_BYTES:
                data = base64.b64encode(p.read_bytes()).decode("ascii")
                m = "text/csv" if k == "csv" else "text/html"
                links.append(
                    f"<a class='ua-download-{k}' download='{name}' "
                    f"href='data:{m};base64,{data}'>download {name}</a>"
                )
            else:
                links.append(f"<span class='ua-download-{k}'>saved to {esc(p)}</span>")
        self.links.value = " · ".join(links)
