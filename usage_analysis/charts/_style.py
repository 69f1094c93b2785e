"""Palette, colour map, template and the shared layout of every chart: one place."""

from __future__ import annotations

import copy
import functools
import textwrap
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import plotly.graph_objects as go
import plotly.io as pio
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from ..defaults import (
    OTHER_LABEL,
)

# Tableau 10 without its grey (kept for "other"), then Dark24: distinct, readable
# on white, and the first colours are colour-blind friendly.
PALETTE: tuple[str, ...] = (
    *[c for c in qualitative.T10 if c != "#BAB0AC"],
    *qualitative.Dark24,
)


OTHER_COLOR = "#BAB0AC"


UNIT_ROOT_COLOR = "#F4F4F4"


MISSING_LABEL = "(none)"


# plotly_white's layout only: its per-trace defaults are set explicitly here anyway,
# and the full template (7 KB) is copied on every figure, a third of a redraw.
TEMPLATE = go.layout.Template(layout=pio.templates["plotly_white"].layout)


# Room, in pixels, for the text around stacked panels: a line of tick labels (12 px
# font), an axis title (14 px) with its standoff, a panel's "in <unit>" title (14 px).
# Pixels, not fractions of the figure: a fraction that fits on a tall figure makes the
# panel title of one panel overlap the axis title of the panel above on a short one.
_TICK_LINE_PX = 17


_AXIS_TITLE_PX = 28


# A date axis has two lines of ticks ("Sep 6" over "2026").
_DATE_TICKS_PX = 2 * _TICK_LINE_PX + _AXIS_TITLE_PX


_PANEL_TITLE_PX = 30


# Category tick labels (feature or project names) wrap at this many characters, on at
# most this many lines: a fixed height below the panel, instead of 45-degree labels
# reaching into the panel underneath.
_WRAP_CHARS = 14


_WRAP_LINES = 3


# Treemap and sunburst names wrap at this many characters (never cut: a box has room).
_TREE_WRAP_CHARS = 20


class ColorMap:
    """The colour of each product, app or meter: the same in every chart and notebook.

    A label's colour comes from a stable hash of its text (CRC-32, not Python's
    salted ``hash``), so "Fleet Gateway" is one colour in notebook 01, notebook
    04 and the explorer, whatever else a chart shows and in whatever order. Two
    labels of one chart that hash to the same colour are told apart: the one
    later in alphabetical order takes the next free colour (so which one moves
    does not depend on the chart's order either). ``pin`` fixes colours by hand.
    """

    def __init__(self, palette: Sequence[str] = PALETTE) -> None:
        self.palette = tuple(palette)
        self.pinned: dict[str, str] = {}

    def pin(self, colors: Mapping[str, str]) -> None:
        """Give labels fixed colours (e.g. ``{"Fleet Gateway": "#4C78A8"}``)."""
        self.pinned.update({str(k): str(v) for k, v in colors.items()})

    def preferred(self, label: str) -> str:
        """The colour ``label`` gets unless another label of the same chart has it."""
        if label in self.pinned:
            return self.pinned[label]
        if label == OTHER_LABEL:
            return OTHER_COLOR
        return self.palette[zlib.crc32(label.encode("utf-8")) % len(self.palette)]

    def assign(self, labels: Sequence[str]) -> dict[str, str]:
        """A distinct colour per label of one chart (grey for "other")."""
        unique = sorted(set(labels), key=lambda label: (label not in self.pinned, label))
        out: dict[str, str] = {}
        taken: set[str] = set()
        for label in unique:
            color = self.preferred(label)
            if color in taken and label not in self.pinned and label != OTHER_LABEL:
                start = self.palette.index(color) if color in self.palette else 0
                free = [
                    c
                    for k in range(1, len(self.palette) + 1)
                    if (c := self.palette[(start + k) % len(self.palette)]) not in taken
                ]
                color = free[0] if free else color  # more labels than colours: repeat
            out[label] = color
            taken.add(color)
        return {label: out[label] for label in labels}


# The one colour map every chart uses.
COLOR_MAP = ColorMap()


def _colors(labels: Sequence[str]) -> dict[str, str]:
    """A colour per label from the shared colour map, grey for 'other'."""
    return COLOR_MAP.assign(list(labels))


def color_map(labels: Iterable[Any]) -> dict[str, str]:
    """Label -> colour from the package's colour map, for a chart drawn by hand.

    Pass it as plotly express's ``color_discrete_map``: a feature or meter then has
    the colour it has in every chart of the package.
    """
    unique = list(dict.fromkeys(str(v) for v in labels))
    return _colors(unique)


def _title(text: str, note: str | None = None) -> dict[str, Any]:
    return {
        "text": text,
        "subtitle": {"text": note} if note else None,
        "x": 0.01,
        "xanchor": "left",
    }


def _top_margin(note: str | None, *, panel_titles: bool = False) -> int:
    """Room above the plot for the title (and subtitle), and the first panel's title."""
    return (90 if note else 70) + (_PANEL_TITLE_PX if panel_titles else 0)


def _set_template(fig: go.Figure) -> None:
    """Give ``fig`` the template without validating it again.

    TEMPLATE is a constant plotly object, valid by construction; validating its
    copy on every figure took a tenth of an explorer redraw on a busy machine.
    """
    layout = fig.layout
    validate, layout._validate = layout._validate, False
    try:
        layout.template = _TEMPLATE_JSON
    finally:
        layout._validate = validate


_TEMPLATE_JSON = TEMPLATE.to_plotly_json()


def _merge(into: dict[str, Any], more: Mapping[str, Any]) -> dict[str, Any]:
    """``into`` updated by ``more`` as plotly's ``update`` does (nested dicts merged)."""
    for key, value in more.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        elif isinstance(value, Mapping):
            into[key] = _merge({}, value)
        else:
            into[key] = value
    return into


class _Draft:
    """A figure being drawn, as plain dicts: traces, layout and panel axes are set
    here and the figure is made once at the end (:meth:`figure`), taken as it is;
    each ``update_*`` call of a plotly figure parsed its keys again."""

    def __init__(self, panels: _Panels, units: Sequence[str]) -> None:
        self.layout: dict[str, Any] = panels.layout
        self.grid = panels.grid_ref
        self.grid_str = panels.grid_str
        self.units = list(units)
        self.traces: list[dict[str, Any]] = []

    def axis(self, axis: str, unit: str | None = None) -> list[str]:
        """The layout keys of the ``axis`` ("x" or "y") of ``unit``'s panel (all when None)."""
        if self.grid is None:
            return [f"{axis}axis"]
        at = 0 if axis == "x" else 1
        rows = range(len(self.units)) if unit is None else [self.units.index(unit)]
        return [self.grid[r][0][0].layout_keys[at] for r in rows]

    def update_axes(self, axis: str, values: Mapping[str, Any], unit: str | None = None) -> None:
        for key in self.axis(axis, unit):
            self.layout[key] = _merge(self.layout.get(key, {}), values)

    def add(self, trace: dict[str, Any], unit: str) -> None:
        """Add a trace to ``unit``'s panel."""
        if self.grid is not None:
            trace = {**trace, **self.grid[self.units.index(unit)][0][0].trace_kwargs}
        self.traces.append(trace)

    def figure(self, *, title: str, **options: Any) -> go.Figure:
        """The figure, with the shared layout (:func:`_layout`'s) and ``options``."""
        more = options.pop("more", {})
        # The template replaces plotly's default one (as _set_template does).
        self.layout["template"] = _TEMPLATE_JSON
        _merge(self.layout, _layout_keys(title=title, **options))
        _merge(self.layout, more)
        fig = _figure(self.traces, self.layout)
        if self.grid is not None:
            fig.__dict__["_grid_ref"] = self.grid
            fig.__dict__["_grid_str"] = self.grid_str
        return fig


def _layout_keys(
    *,
    title: str,
    note: str | None = None,
    height: int = 460,
    top: int | None = None,
    bottom: int = 50,
    **more: Any,
) -> dict[str, Any]:
    """The shared layout's keys (see :func:`_layout`)."""
    return {
        "title": _title(title, note),
        "height": height,
        # No width: the figure fills its container (a notebook cell, the explorer).
        "autosize": True,
        "margin": {"l": 70, "r": 20, "t": _top_margin(note) if top is None else top, "b": bottom},
        "legend": {"title": {"text": ""}, "traceorder": "normal", **more.pop("legend", {})},
        "hoverlabel": {"namelength": -1},
        "separators": ".,",
        **more,
    }


def _layout(
    fig: go.Figure,
    *,
    title: str,
    note: str | None = None,
    height: int = 460,
    top: int | None = None,
    bottom: int = 50,
    **more: Any,
) -> None:
    """The shared layout, and ``more`` layout keys, in one update (each update of a
    plotly figure costs milliseconds, whatever it holds)."""
    _set_template(fig)
    fig.update_layout(
        title=_title(title, note),
        height=height,
        # No width: the figure fills its container (a notebook cell, the explorer).
        autosize=True,
        margin={"l": 70, "r": 20, "t": _top_margin(note) if top is None else top, "b": bottom},
        legend={"title": {"text": ""}, "traceorder": "normal", **more.pop("legend", {})},
        hoverlabel={"namelength": -1},
        separators=".,",
        **more,
    )


def _empty(title: str, message: str = "no usage in the selection") -> go.Figure:
    # One layout dict, the figure made once from it (each plotly update walks its keys).
    layout: dict[str, Any] = {"template": _TEMPLATE_JSON, **_layout_keys(title=title)}
    layout["title"]["subtitle"] = {}  # as plotly's update_layout set it: no subtitle
    layout["annotations"] = [
        {
            "font": {"color": "#666", "size": 16},
            "showarrow": False,
            "text": message,
            "x": 0.5,
            "xref": "paper",
            "y": 0.5,
            "yref": "paper",
        }
    ]
    layout["xaxis"] = {"visible": False}
    layout["yaxis"] = {"visible": False}
    return _figure((), layout)


class _Geometry(TypedDict):
    """A figure's height and margins in pixels, as ``_layout`` takes them."""

    height: int
    top: int
    bottom: int


def _figure(data: Sequence[dict[str, Any]] = (), layout: dict[str, Any] | None = None) -> go.Figure:
    """A figure from plain trace and layout dicts, taken as they are.

    Every chart builds its traces and layout from known keys (the chart tests
    draw each); plotly's validation of each key and array again, and again when
    the figure is updated, was most of an explorer redraw.
    """
    fig = go.Figure(data=list(data), layout=layout or {}, _validate=False)
    return fig


@functools.lru_cache(maxsize=128)
def _grid(
    rows: int, shared_x: bool, spacing: float, heights: tuple[int, ...], titles: tuple[str, ...]
) -> tuple[dict[str, Any], Any, Any]:
    """``make_subplots``' layout (as JSON) and grid for one column of panels, made once
    per shape: plotly builds and checks it anew on each call, a tenth of a redraw."""
    fig = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=shared_x,
        vertical_spacing=spacing,
        row_heights=list(heights),
        subplot_titles=list(titles),
    )
    fig.update_annotations(font={"size": 14})
    layout = fig.layout.to_plotly_json()
    # Plotly's default template: every chart drawn on these panels sets its own
    # (_Draft.figure), and copying this one cost 10 ms a drawing.
    layout.pop("template", None)
    return layout, fig._grid_ref, fig._grid_str


@dataclass
class _Panels:
    """The layout (plain dicts, the draft's own copy) and grid of a column of panels:
    what :class:`_Draft` draws on, without a plotly figure made and read back."""

    layout: dict[str, Any]
    grid_ref: Any = None
    grid_str: Any = None


def _facets(
    units: list[str],
    *,
    shared_x: bool,
    panels: Sequence[int],
    below: int,
    note: str | None = None,
) -> tuple[_Panels, _Geometry]:
    """A column of panels, one per unit (titled "in <unit>"), and its geometry for ``_layout``.

    ``panels`` are the plot heights in pixels, one per unit; ``below`` is the room
    each panel needs under it for its tick labels and x axis title (only the bottom
    one's when the x axis is shared). The gap between two panels holds that room
    plus the lower panel's title, so no text overlaps whatever the number of panels.
    """
    top = _top_margin(note, panel_titles=len(units) > 1)
    bottom = below + 10
    if len(units) == 1:
        return _Panels({}), {"height": top + panels[0] + bottom, "top": top, "bottom": bottom}
    gap = _PANEL_TITLE_PX + (_TICK_LINE_PX if shared_x else below)
    plot = sum(panels) + gap * (len(units) - 1)
    layout, grid_ref, grid_str = _grid(
        len(units), shared_x, gap / plot, tuple(panels), tuple(f"in {u}" for u in units)
    )
    geometry: _Geometry = {"height": top + plot + bottom, "top": top, "bottom": bottom}
    return _Panels(copy.deepcopy(layout), grid_ref, grid_str), geometry


def _with_traces(fig: go.Figure, traces: Sequence[dict[str, Any]]) -> go.Figure:
    """``fig`` (a figure without traces) with ``traces`` added at once, taken as they are."""
    out = _figure(traces, fig.layout.to_plotly_json())
    if "_grid_ref" in fig.__dict__:
        out.__dict__["_grid_ref"] = fig.__dict__["_grid_ref"]
        out.__dict__["_grid_str"] = fig.__dict__["_grid_str"]
    return out


def _axes_of(fig: go.Figure, units: list[str], unit: str) -> dict[str, str]:
    """The axes a trace of ``unit``'s panel names (``{"xaxis": "x2", "yaxis": "y2"}``)."""
    if len(units) == 1:
        return {}
    ref = fig._grid_ref[units.index(unit)][0][0]
    return dict(ref.trace_kwargs)


def _wrap(label: str, width: int = _WRAP_CHARS, lines: int | None = _WRAP_LINES) -> str:
    """A long label on short lines (``<br>``-joined; beyond ``lines`` cut with '…')."""
    parts = textwrap.wrap(label, width, break_on_hyphens=False) or [label]
    if lines is not None and len(parts) > lines:
        parts = [*parts[: lines - 1], parts[lines - 1][: width - 1] + "…"]
    return "<br>".join(_esc(part) for part in parts)


def _cell(units: list[str], unit: str) -> dict[str, int]:
    return {"row": units.index(unit) + 1, "col": 1} if len(units) > 1 else {}


def _esc(text: str) -> str:
    """Escape text put inside a hovertemplate (plotly reads HTML in it)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
