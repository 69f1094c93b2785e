"""CSV files a spreadsheet opens safely: plain dates, numbers as numbers, no formulas.

pandas and Arrow write timestamps as ``2026-11-01 00:00:00+00:00`` or
``2026-11-01 00:00:00.000000000Z``, which Excel and LibreOffice keep as text.
Here a timestamp column is written in UTC as ``2026-11-01`` when every value is a
midnight (a day), else ``2026-11-01 00:00:00`` (whole seconds: fractions are
truncated, never nine digits), with no zone suffix.

A text cell that begins with ``=``, ``+``, ``-``, ``@``, tab, carriage return,
line feed or NUL would be evaluated as a formula ("CSV injection"; the OWASP list
plus ASVS 1.2.10's NUL): it gets a leading ``'``, which spreadsheets read as "this
is text". Numeric columns are never touched, so ``-12.5`` stays a number; a text
cell that is a plain number such as ``-3`` or ``+44`` is not a formula either and
is left alone.

Pure: a frame in, a file (or bytes) out; the writer is pyarrow's CSV writer,
already a dependency, fast on millions of rows, and RFC 4180 quoting.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

__all__ = [
    "FORMULA_PREFIXES",
    "escape_cell",
    "spreadsheet_table",
    "to_csv",
    "to_csv_bytes",
    "write_csv",
]

# OWASP "CSV Injection": = + - @ tab CR; ASVS 1.2.10 adds NUL; a leading LF behaves as CR.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NS_PER_DAY = 86_400 * 10**9


def escape_cell(value: str) -> str:
    """``value`` with a leading ``'`` if a spreadsheet would read it as a formula."""
    if value.startswith(FORMULA_PREFIXES) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def spreadsheet_table(df: pd.DataFrame) -> pa.Table:
    """The frame as an Arrow table of numbers, booleans and safe text, ready to write."""
    # Header cells are cells too; from_arrays keeps repeated names apart.
    names = [escape_cell(str(name)) for name in df.columns]
    return pa.Table.from_arrays([_column(df.iloc[:, i]) for i in range(df.shape[1])], names=names)


def write_csv(df: pd.DataFrame, path: str | os.PathLike[str], *, bom: bool = False) -> Path:
    """Write ``df`` to ``path`` for spreadsheets; the name only ever holds a whole file.

    ``bom=True`` starts the file with a UTF-8 byte-order mark, which Excel needs to
    read non-ASCII names (``Zürich``) correctly; other tools may show it.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.part")
    try:
        with open(tmp, "wb") as fh:
            fh.write(to_csv_bytes(df, bom=bom))
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def to_csv(
    df: pd.DataFrame, path: str | os.PathLike[str] | None = None, *, bom: bool = False
) -> str | Path:
    """Like ``DataFrame.to_csv``: the text when no path is given, else the written path."""
    if path is None:
        return to_csv_bytes(df, bom=bom).decode("utf-8")
    return write_csv(df, path, bom=bom)


def to_csv_bytes(df: pd.DataFrame, *, bom: bool = False) -> bytes:
    """The CSV text of ``df`` (UTF-8, header row, ``\\n`` line ends)."""
    sink = io.BytesIO()
    if bom:
        sink.write("\ufeff".encode())
    pacsv.write_csv(spreadsheet_table(df), sink)
    return sink.getvalue()


def _column(s: pd.Series) -> pa.Array:
    dtype = s.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
        return _timestamps(s)
    if isinstance(dtype, pd.CategoricalDtype):
        cats = dtype.categories
        if pd.api.types.is_datetime64_any_dtype(cats.dtype):
            return _timestamps(pd.Series(s.astype(cats.dtype), index=s.index))
        if pd.api.types.is_numeric_dtype(cats.dtype) or pd.api.types.is_bool_dtype(cats.dtype):
            return pa.array(s.astype(cats.dtype), from_pandas=True)
        # Escape each category once, not each row.
        safe = [escape_cell(str(c)) for c in cats]
        codes = s.cat.codes.to_numpy()
        return pa.DictionaryArray.from_arrays(
            pa.array(codes, mask=codes < 0, type=pa.int32()), pa.array(safe, pa.string())
        ).cast(pa.string())
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return pa.array(s, from_pandas=True)
    if isinstance(dtype, pd.PeriodDtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return _text(s.astype(object).where(s.notna(), None).map(_plain, na_action="ignore"))
    kind = pd.api.types.infer_dtype(s, skipna=True)
    if kind in ("integer", "floating", "mixed-integer-float", "boolean"):
        return pa.array(s, from_pandas=True)  # numbers held as objects stay numbers
    if kind in ("datetime", "datetime64"):
        return _timestamps(pd.Series(pd.to_datetime(s, utc=True), index=s.index))
    if kind == "date":
        return _text(s.map(_plain, na_action="ignore"))
    return _text(s.map(_plain, na_action="ignore"))


def _plain(value: Any) -> str:
    """One value as text: dates as ISO dates, everything else as ``str``."""
    if isinstance(value, pd.Timestamp):
        return _timestamps(pd.Series([value])).to_pylist()[0]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _text(s: pd.Series) -> pa.Array:
    """Text cells, each distinct value escaped once."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    safe = [escape_cell(str(u)) for u in uniques]
    return pa.DictionaryArray.from_arrays(
        pa.array(codes.astype(np.int32), mask=codes < 0), pa.array(safe, pa.string())
    ).cast(pa.string())


def _timestamps(s: pd.Series) -> pa.Array:
    """UTC, zone-less text: a date when every value is a midnight, else date and time."""
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    s = s.astype("datetime64[ns]")
    ns = s.to_numpy().view("i8")
    present = s.notna().to_numpy()
    arr = pa.array(s, from_pandas=True, type=pa.timestamp("ns"))
    values = ns[present]
    if not (values % _NS_PER_DAY).any():
        return arr.cast(pa.date32()).cast(pa.string())
    # Whole seconds (fractions truncated, as a time bucket starts at its second): the
    # one layout every spreadsheet reads as a date and time.
    return pc.strftime(arr.cast(pa.timestamp("s"), safe=False), format="%Y-%m-%d %H:%M:%S")
