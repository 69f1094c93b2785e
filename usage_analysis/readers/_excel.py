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
import html
import io
import math
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

from ..errors import ReportParseError

__all__ = ["XLS_MAGIC", "Sheet", "is_xlsx", "sheets"]

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


@dataclass
class Sheet:
    """One non-empty sheet: its name, its CSV text, whether it is visible, uncached formulas."""

    name: str
    csv: bytes
    visible: bool
    uncached: list[str] = field(default_factory=list)  # cells like "B2"


_CELL = re.compile(rb"<c\b([^>]*)>(.*?)</c>", re.DOTALL)
_REF = re.compile(rb'\br="([A-Z]+[0-9]+)"')
_VALUE = re.compile(rb"<v>[^<]+</v>|<is>", re.DOTALL)
_SHEET_TAG = re.compile(rb"<sheet\b[^>]*>")


def _uncached(data: bytes) -> dict[str, list[str]]:
    """Sheet name -> cells holding a formula with no saved value (xlsx only).

    calamine reads the value a spreadsheet saved with each formula; a file written
    by a library that does not compute formulas has none, and the cell would read
    as empty: a count silently lost.
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        book = zf.read("xl/workbook.xml")
        rels = zf.read("xl/_rels/workbook.xml.rels")
    except (zipfile.BadZipFile, KeyError, OSError, ValueError):
        return {}
    targets = {
        m.group(1).decode(): m.group(2).decode()
        for m in re.finditer(rb'<Relationship\b[^>]*?Id="([^"]+)"[^>]*?Target="([^"]+)"', rels)
    }
    targets |= {
        m.group(2).decode(): m.group(1).decode()
        for m in re.finditer(rb'<Relationship\b[^>]*?Target="([^"]+)"[^>]*?Id="([^"]+)"', rels)
    }
    out: dict[str, list[str]] = {}
    for tag in _SHEET_TAG.findall(book):
        name = re.search(rb'\bname="([^"]*)"', tag)
        rid = re.search(rb'\br:id="([^"]*)"', tag)
        if not name or not rid or rid.group(1).decode() not in targets:
            continue
        target = targets[rid.group(1).decode()].lstrip("/")
        path = target if target.startswith("xl/") else f"xl/{target}"
        try:
            xml = zf.read(path)
        except KeyError:
            continue
        if b"<f" not in xml:
            continue
        cells = []
        for attrs, body in _CELL.findall(xml):
            if b"<f" in body and not _VALUE.search(body):
                ref = _REF.search(attrs)
                cells.append(ref.group(1).decode() if ref else "?")
        if cells:
            out[html.unescape(name.group(1).decode())] = cells
    return out


def sheets(data: bytes, *, label: str, member: str | None) -> list[Sheet]:
    """Every non-empty sheet, in workbook order, with its visibility."""
    # Every calamine failure (ZipError, XmlError, PasswordError...) is a CalamineError.
    from python_calamine import CalamineError, CalamineWorkbook, SheetVisibleEnum

    try:
        wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
        visible = {m.name: m.visible == SheetVisibleEnum.Visible for m in wb.sheets_metadata}
        uncached = _uncached(data)
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
            out.append(
                Sheet(
                    name,
                    buf.getvalue().encode("utf-8"),
                    visible.get(name, True),
                    uncached.get(name, []),
                )
            )
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
