"""Summary rows that spreadsheets append: recognised, left out, reported; never counted twice.

A bottom row is a summary row when it is labelled ("Total", "Grand Total", "Sum"
...) in any text column, or when it has no identifying value at all (every text,
date and time cell empty) but holds numbers. It is left out only if, in every
additive number column where it has a value, it equals the sum of the rows above
(to the precision it was written with). A labelled row that does not add up
raises, naming its line: keeping it would count the usage twice, dropping it
silently could lose a real row.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ReportParseError

__all__ = ["SummaryRowWarning", "is_total_label", "last_row_kind", "verify"]

TOTAL_LABELS = frozenset(
    {"total", "totals", "grand total", "sum", "summe", "gesamt", "total général", "totaal"}
)
# Number columns that are rates or sizes, not amounts: a total row repeats or omits them.
NON_ADDITIVE = frozenset(
    {
        "ipu_rate",
        "ipu_per_unit",
        "scalar",
        "cores_used",
        "average_execution_time_seconds",
        "devices",
    }
)


class SummaryRowWarning(UserWarning):
    """A summary (total) row was found at the bottom of a file and left out.

    ``df.attrs["summary_rows"]`` says which line and what it held.
    """


def is_total_label(value: Any) -> bool:
    """True for "Total", "Grand Total:", "SUM" and the like."""
    if not isinstance(value, str):
        return False
    text = value.strip().rstrip(":").strip().casefold()
    return text in TOTAL_LABELS or text.startswith(("total ", "grand total"))


def _last(table: pa.Table, name: str) -> Any:
    return table.column(name)[table.num_rows - 1].as_py()


def last_row_kind(table: pa.Table, types: Mapping[str, str]) -> tuple[str, str] | None:
    """("labelled", label) or ("idless", "") when the last row may be a summary row."""
    if table.num_rows < 2:
        return None
    floats = [n for n in table.column_names if types.get(n, "cat") == "float"]
    others = [n for n in table.column_names if n not in floats]
    for name in others:
        value = _last(table, name)
        if is_total_label(value):
            return "labelled", str(value).strip()
    if not floats or any(_last(table, n) not in (None, "") for n in others):
        return None
    if all(_last(table, n) is None for n in floats):
        return None
    return "idless", ""


def verify(
    body: pa.Table,
    row: Mapping[str, float | None],
    texts: Mapping[str, str],
    *,
    labelled: bool,
    line: int,
    label: str,
    member: str | None,
) -> bool:
    """True when the summary ``row`` is the sum of ``body``; raise if labelled and not."""
    checked = 0
    for name, value in row.items():
        if value is None or name in NON_ADDITIVE or name not in body.column_names:
            continue
        total = pc.sum(body.column(name)).as_py() or 0.0
        text = texts.get(name, "")
        decimals = (
            len(text.replace(",", ".").rsplit(".", 1)[1]) if "." in text or "," in text else 0
        )
        tolerance = 0.5 * 10.0**-decimals + 1e-9 * max(1.0, abs(total))
        if abs(total - value) > tolerance:
            if labelled:
                raise ReportParseError(
                    f"line {line} looks like a total row but does not add up: column {name!r} "
                    f"holds {value:g}, the rows above sum to {total:g}",
                    file=label,
                    member=member,
                    line=line,
                    column=name,
                    expected="a total row equal to the sum of the rows above, or no total row",
                )
            return False
        checked += 1
    return checked > 0


def record(ctx: Any, *, line: int, label_text: str, row: Mapping[str, float | None]) -> None:
    """Note a left-out summary row in the parse context and warn once for it."""
    entry = {
        "line": line,
        "label": label_text,
        "values": {k: v for k, v in row.items() if v is not None},
    }
    ctx.summary_rows.append(entry)
    warnings.warn(
        SummaryRowWarning(
            f"{ctx.label}: line {line} is a summary row"
            + (f" ({label_text!r})" if label_text else " (no id, values = sum of the rows above)")
            + "; it was left out so nothing is counted twice (see df.attrs['summary_rows'])"
        ),
        stacklevel=_level(),
    )


def _level() -> int:
    from ._parse import _caller_level

    return _caller_level()


def row_floats(table: pa.Table, names: list[str]) -> dict[str, float | None]:
    """The last row's values of the number columns ``names``."""
    return {n: (None if pd.isna(v := _last(table, n)) else float(v)) for n in names}
