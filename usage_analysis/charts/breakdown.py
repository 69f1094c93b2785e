"""How usage splits along a path of columns: treemap or sunburst."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..analysis import (
    usage_by,
)
from ..defaults import (
    CHART_MAX_CELLS,
    OTHER_LABEL,
)
from ..errors import InvalidParameter
from ._common import (
    _SEP,
    _check,
    _check_count,
    _labels,
    _noun,
    _num,
    _units,
    format_quantity,
)
from ._fresh import note as fresh_note
from ._style import (
    _TEMPLATE_JSON,
    _TREE_WRAP_CHARS,
    OTHER_COLOR,
    UNIT_ROOT_COLOR,
    _colors,
    _empty,
    _esc,
    _figure,
    _layout_keys,
    _merge,
    _wrap,
)


def breakdown(
    df: pd.DataFrame,
    *,
    path: Sequence[str] = ("meter", "product"),
    kind: str = "treemap",
    top: int | None = 40,
    quantity: str = "quantity",
    title: str | None = None,
) -> go.Figure:
    """How usage splits along ``path`` (e.g. meter, then project), as a treemap or sunburst.

    The ``top`` leaves (combinations of the path's values, per unit) are drawn;
    the rest become one grey "other" leaf. With several units there is one
    treemap per unit side by side, so no box is ever sized against another unit.
    """
    df, ucol = _check(df, quantity)
    cols = [path] if isinstance(path, str) else list(path)
    if not cols or any(c not in df.columns for c in cols) or len(set(cols)) != len(cols):
        raise InvalidParameter(
            "path", f"expected distinct column names of the frame, got {list(cols)!r}"
        )
    keys = [c for c in cols if c != ucol]
    if not keys:
        raise InvalidParameter("path", f"needs a column besides {ucol!r} to break usage down by")
    if kind not in ("treemap", "sunburst"):
        raise InvalidParameter("kind", f"expected 'treemap' or 'sunburst', got {kind!r}")
    n = _check_count(top, "top", cap=CHART_MAX_CELLS // 100)
    text = title or "Usage by " + " and ".join(_noun(df, c) for c in keys)
    units = _units(df, ucol)
    if not units:
        return _empty(text)
    table = usage_by(df, by=[*keys, ucol], top=n, quantity=quantity)
    label_maps = {c: _labels(df, c, table[c].unique().tolist()) for c in keys}
    traces: list[dict[str, Any]] = []
    titles: list[dict[str, Any]] = []
    per_row = min(len(units), 3)
    n_rows = -(-len(units) // per_row)
    for k, unit in enumerate(units):
        part = table.loc[(table[ucol] == unit).to_numpy(dtype=bool, na_value=False)]
        nodes = _tree_nodes(part, keys, label_maps, quantity)
        col, row = k % per_row, k // per_row
        gap = 0.02
        domain = {
            "x": [col / per_row + gap, (col + 1) / per_row - gap],
            "y": [1 - (row + 1) / n_rows + gap, 1 - row / n_rows - (0.07 if n_rows > 1 else 0)],
        }
        # Values as people read them ("277 GB", not "277.263506"), formatted here:
        # plotly's d3 formats give either fixed decimals or raw floats, never both
        # sensible for 0.004 GB and 1,686,556 transactions.
        amounts = [format_quantity(v, unit) for v in nodes["values"]]
        position = {node: i for i, node in enumerate(nodes["ids"])}
        # The parent's label, not its id (an id joins the whole path).
        parents = [nodes["labels"][position[p]] if p else "all" for p in nodes["parents"]]
        # Long names wrapped, so a box shows its name instead of hiding it as too wide.
        texts = [
            f"{_wrap(label, _TREE_WRAP_CHARS, None)}<br>{_esc(amount)}"
            for label, amount in zip(nodes["labels"], amounts, strict=True)
        ]
        trace: dict[str, Any] = {
            "type": kind,
            "ids": nodes["ids"],
            "labels": nodes["labels"],
            "parents": nodes["parents"],
            "values": _num(nodes["values"]),
            "branchvalues": "total",
            "domain": domain,
            "name": unit,
            "text": texts,
            "hovertemplate": (
                "<b>%{label}</b><br>%{customdata[0]}"
                "<br>%{percentRoot:.1%} of all, %{percentParent:.1%} of %{customdata[1]}"
                "<extra></extra>"
            ),
            "texttemplate": ("%{text}<br>%{percentRoot:.1%}" if kind == "treemap" else "%{text}"),
            "marker": {"colors": nodes["colors"]},
        }
        if len(amounts):
            trace["customdata"] = np.column_stack([amounts, parents])
        traces.append(trace)
        if len(units) > 1:
            titles.append(
                {
                    "text": f"<b>in {_esc(unit)}</b>",
                    "showarrow": False,
                    "xref": "paper",
                    "yref": "paper",
                    "x": (domain["x"][0] + domain["x"][1]) / 2,
                    "y": domain["y"][1],
                    "yanchor": "bottom",
                }
            )
    # Plain dicts, taken as they are (see _style._figure), the layout made in one go.
    layout: dict[str, Any] = {"annotations": titles} if titles else {}
    layout["template"] = _TEMPLATE_JSON
    _merge(
        layout,
        _layout_keys(title=text, note=fresh_note(df), height=560 if n_rows == 1 else 420 * n_rows),
    )
    # A label that would need a font under 10 px is left to the hover: unreadable
    # slivers of text helped nobody.
    _merge(
        layout,
        {
            "margin": {"l": 10, "r": 10, "t": 70, "b": 10},
            "uniformtext": {"minsize": 10, "mode": "hide"},
        },
    )
    return _figure(traces, layout)


def _tree_nodes(
    part: pd.DataFrame, keys: list[str], label_maps: dict[str, dict[Any, str]], quantity: str
) -> dict[str, list[Any]]:
    """Treemap nodes (ids, labels, parents, values, colors) of one unit's rows."""
    out: dict[str, list[Any]] = {k: [] for k in ("ids", "labels", "parents", "values", "colors")}
    index: dict[str, int] = {}
    quantities = _num(part[quantity])
    rows = list(part[keys].itertuples(index=False))
    # Colour by the first level that has more than one value, so the boxes differ.
    level = 0
    while level < len(keys) - 1 and part[keys[level]].nunique(dropna=False) <= 1:
        level += 1
    # A branch keeps one colour, so the eye groups its boxes: the colour map's
    # colour of its label, the same as in every other chart.
    level_labels = [label_maps[keys[level]][v] for v in part[keys[level]].unique()]
    level_colors = _colors(level_labels)
    for i, row in enumerate(rows):
        parent = ""
        for depth, (col, value) in enumerate(zip(keys, row, strict=True)):
            label = label_maps[col][value]
            node = f"{parent}{_SEP}{label}" if parent else label
            if node not in index:
                index[node] = len(out["ids"])
                out["ids"].append(node)
                out["labels"].append(label)
                out["parents"].append(parent)
                out["values"].append(0.0)
                head = node.split(_SEP)[: level + 1]
                if depth < level:
                    out["colors"].append(UNIT_ROOT_COLOR)
                else:
                    color = OTHER_COLOR if OTHER_LABEL in head else level_colors[head[-1]]
                    out["colors"].append(color)
            out["values"][index[node]] += float(quantities[i])
            parent = node
            if label == OTHER_LABEL:
                break  # the "other" leaf has no further levels worth a box
    return out
