"""Excel workbooks (.xlsx, .xls) saved from a report: each sheet as the CSV it was saved from.

python-calamine (bindings to the Rust calamine crate) reads both formats without
evaluating anything, fast and with no heavy dependency; the cells come back as
Python values, written here as CSV text so every check of the CSV readers
applies unchanged. Numbers are written in their shortest round-trip form (a cell
holding 0.16 reads back as 0.16, a whole number without ``.0``), dates as ISO 8601.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from typing import Any

from ..errors import ReportParseError

__all__ = ["XLS_MAGIC", "is_xlsx", "sheets"]

XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the OLE2 container of .xls


def is_xlsx(names: list[str]) -> bool:
    """True when ZIP member ``names`` are those of an Office Open XML workbook."""
    have = set(names)
    return "[Content_Types].xml" in have and any(n.startswith("xl/") for n in have)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value.total_seconds())
    return str(value)


def sheets(data: bytes, *, label: str, member: str | None) -> list[tuple[str, bytes]]:
    """(sheet name, CSV bytes) of every non-empty sheet, in workbook order."""
    # Every calamine failure (ZipError, XmlError, PasswordError...) is a CalamineError.
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
        out = []
        for name in wb.sheet_names:
            rows = wb.get_sheet_by_name(name).to_python(skip_empty_area=True)
            rows = [r for r in rows if any(c not in (None, "") for c in r)]
            if not rows:
                continue
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            for row in rows:
                writer.writerow([_cell(c) for c in row])
            out.append((name, buf.getvalue().encode("utf-8")))
    except (CalamineError, ValueError, OSError, TypeError) as exc:
        raise ReportParseError(
            f"not a readable Excel workbook ({type(exc).__name__}: {exc})",
            file=label,
            member=member,
            expected="an .xlsx or .xls workbook, or a CSV file",
        ) from None
    if not out:
        raise ReportParseError(
            "the Excel workbook has no sheet with data",
            file=label,
            member=member,
            expected="a sheet holding the report",
        )
    return out
