"""Typed parsing of one CSV member: a fast Arrow path, a lenient text path, summary rows.

Parsing goes straight from bytes to typed Arrow columns with ``pyarrow.csv``:
repeated strings become dictionary arrays (pandas categoricals), numbers float64,
timestamps UTC. The timestamp type (with or without a zone) is picked from the
sampled rows, so the documented zone-less form (``2026-10-01T00:00:00``, also
``2026-10-01'T'00:00:00``) stays on the fast path. Only when that path meets a
value it cannot convert, or the file is not comma-separated (where decimal commas
are common), does a second pass read those columns as text and convert them with
:mod:`._values` (number conventions, missing markers, day/month order); the rows
that still do not convert are an error (``errors="raise"``) or become missing and
are counted (``errors="coerce"``), never dropped. Missing markers in numbers
(``NaN``, ``null``, ``N/A``) are always counted and warned about. A bottom summary
row is handled by :mod:`._summary`.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .. import defaults
from ..errors import InvalidParameter, ReportParseError
from . import _summary, _values
from ._source import Member
from ._stack import caller_level as _caller_level

if TYPE_CHECKING:
    from ._csv import Sniffed

__all__ = [
    "CoercedValuesWarning",
    "MissingValuesWarning",
    "ParseContext",
    "parse",
    "to_pandas",
]

# Types of a field: "cat" (repeated string -> categorical), "text" (unique-ish
# string), "float", "time" (timestamp, naive means UTC) and "date" (a day).
_ARROW_TYPES: dict[str, pa.DataType] = {
    "cat": pa.dictionary(pa.int32(), pa.string()),
    "text": pa.string(),
    "float": pa.float64(),
}
_TIMES = ("time", "date", "time_z")
_EXPECTED: dict[str, str] = {
    "float": "a finite number",
    "time": "an ISO 8601 date and time (UTC)",
    "time_z": "an ISO 8601 date and time (UTC)",
    "date": "a date YYYY-MM-DD",
}
_ZONE = re.compile(r"(Z|[+-]\d\d:?\d\d)$")
_QUOTED_T = "%Y-%m-%d'T'%H:%M:%S"
UTC_NS = "datetime64[ns, UTC]"


class CoercedValuesWarning(UserWarning):
    """``errors="coerce"`` turned values that did not convert into missing values.

    The counts per column are also in ``df.attrs["coerced"]``.
    """


class MissingValuesWarning(UserWarning):
    """Numbers written as ``NaN``, ``null``, ``N/A``...: read as missing, and counted.

    A total over such a column leaves those rows out; the counts per column are in
    ``df.attrs["missing_markers"]``.
    """


@dataclass
class ParseContext:
    """Per-call options and the record of what the parse changed or left out."""

    label: str
    errors: str = "raise"
    coerced: dict[str, int] = field(default_factory=dict)
    decimal: str | None = None
    thousands: str | None = None
    dayfirst: bool | None = None
    markers: dict[str, int] = field(default_factory=dict)
    summary_rows: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.errors not in ("raise", "coerce"):
            raise InvalidParameter("errors", f"must be 'raise' or 'coerce', not {self.errors!r}")
        self.decimal, self.thousands = _values.check_options(self.decimal, self.thousands)
        if self.dayfirst is not None and not isinstance(self.dayfirst, bool):
            raise InvalidParameter(
                "dayfirst", f"must be True, False or None, not {self.dayfirst!r}"
            )

    def note_coerced(self, column: str, count: int, detail: str) -> None:
        """Record ``count`` coerced values of ``column`` and warn once for them."""
        self.coerced[column] = self.coerced.get(column, 0) + count
        warnings.warn(
            CoercedValuesWarning(
                f"{self.label}: {count} value(s) in column {column!r} did not convert and "
                f"became missing ({detail})"
            ),
            stacklevel=_caller_level(),
        )

    def note_markers(self, column: str, count: int) -> None:
        """Record ``count`` missing markers (NaN, null, N/A) in number column ``column``."""
        self.markers[column] = self.markers.get(column, 0) + count
        warnings.warn(
            MissingValuesWarning(
                f"{self.label}: {count} value(s) in column {column!r} are written as missing "
                "(NaN, null, N/A...); they are missing in the frame and left out of totals "
                "(counts in df.attrs['missing_markers'])"
            ),
            stacklevel=_caller_level(),
        )


def _line_numbers(member: Member, sniffed: Sniffed, rows: Sequence[int]) -> dict[int, int]:
    """Physical line numbers (header = line 1) of data rows (0-based), for messages."""
    wanted = set(rows)
    out: dict[int, int] = {}
    if not wanted:
        return out
    text = bytes(member.data.slice(sniffed.skip_bytes)).decode("utf-8", "replace")
    base = bytes(member.data.slice(0, sniffed.skip_bytes)).count(b"\n")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniffed.delimiter)
    try:
        next(reader)
        idx = 0
        for row in reader:
            if not row:
                continue
            if idx in wanted:
                out[idx] = reader.line_num + base
                if len(out) == len(wanted):
                    break
            idx += 1
    except csv.Error:
        pass
    return out


def _raise_bad(
    member: Member,
    sniffed: Sniffed,
    ctx: ParseContext,
    *,
    header_text: str,
    kind: str,
    bad_rows: np.ndarray,
    values: pd.Series,
) -> None:
    shown = [int(i) for i in bad_rows[: defaults.MAX_BAD_ROWS_SHOWN]]
    lines = _line_numbers(member, sniffed, shown)
    listed = [(lines.get(i, i + 2), values.loc[i]) for i in shown]
    example = ", ".join(f"line {ln}: {val!r}" for ln, val in listed)
    raise ReportParseError(
        f"{len(bad_rows)} value(s) do not convert (first: {example}); "
        "pass errors='coerce' to turn them into missing values",
        file=ctx.label,
        member=member.name,
        line=listed[0][0],
        column=header_text,
        expected=_EXPECTED[kind],
        bad_rows=listed,
    )


def _arrow_error(exc: Exception, member: Member, ctx: ParseContext) -> ReportParseError:
    text = str(exc)
    if "invalid UTF8" in text or "Invalid UTF8" in text:
        data = bytes(member.data)
        try:
            data.decode("utf-8")
            line = None
        except UnicodeDecodeError as err:
            line = data.count(b"\n", 0, err.start) + 1
        return ReportParseError(
            "the text is not valid UTF-8",
            file=ctx.label,
            member=member.name,
            line=line,
            expected="UTF-8 or UTF-16 text (re-save the file as 'CSV UTF-8')",
        )
    return ReportParseError(
        f"not a readable CSV ({text.splitlines()[0] if text else type(exc).__name__})",
        file=ctx.label,
        member=member.name,
    )


def _time_types(
    sniffed: Sniffed, names: Sequence[str], types: Mapping[str, str]
) -> tuple[dict[str, pa.DataType], bool]:
    """Arrow types of the time columns, chosen from the sample; True if ``'T'`` is quoted."""
    out: dict[str, pa.DataType] = {}
    quoted_t = False
    for pos, name in enumerate(names):
        if types.get(name) not in _TIMES:
            continue
        sample = [r[pos].strip() for r in sniffed.rows if pos < len(r) and r[pos].strip()]
        zoned = any(_ZONE.search(v) for v in sample)
        out[name] = pa.timestamp("ns", "UTC") if zoned else pa.timestamp("ns")
        quoted_t = quoted_t or any("'T'" in v for v in sample)
    return out, quoted_t


def parse(
    member: Member,
    sniffed: Sniffed,
    ctx: ParseContext,
    *,
    names: Sequence[str],
    types: Mapping[str, str],
    null_text: Sequence[str] = (),
) -> pa.Table:
    """Parse ``member`` into an Arrow table with the given column names and field types.

    Columns without a type are read as dictionary-encoded strings. Naive timestamps
    are taken as UTC. ``null_text`` (Informatica's literal ``null``) is missing in
    text columns.
    """
    times, quoted_t = _time_types(sniffed, names, types)
    parsers: list[Any] = [pacsv.ISO8601, _QUOTED_T] if quoted_t else [pacsv.ISO8601]

    def read(column_types: Mapping[str, pa.DataType]) -> pa.Table:
        return pacsv.read_csv(
            member.stream(sniffed.skip_bytes),
            # 4 MB blocks (Arrow's default is 1 MB): a quarter of the dictionary
            # chunks to unify for a large report, still enough blocks for threads.
            read_options=pacsv.ReadOptions(
                column_names=list(names), skip_rows=1, block_size=4 * 1024**2
            ),
            # No invalid_row_handler: Arrow then stops at the first malformed row
            # (nothing is skipped) and _shape_error() finds where it is.
            parse_options=pacsv.ParseOptions(delimiter=sniffed.delimiter),
            convert_options=pacsv.ConvertOptions(
                column_types=dict(column_types),
                # Only an empty cell is missing: a device may well be called "NA".
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                timestamp_parsers=parsers,
                # UTF-8 is checked after parsing, on the (small) dictionaries
                # rather than on every cell: about 15 % of the parse time.
                check_utf8=False,
            ),
        )

    kinds = {n: types.get(n, "cat") for n in names}
    typed = {n: times.get(n) or _ARROW_TYPES[kinds[n]] for n in names}
    floats = [n for n in names if kinds[n] == "float"]
    header_of = dict(zip(names, sniffed.header, strict=False))
    # Not comma-separated: a spreadsheet export, where decimal commas are common.
    numbers_as_text = ctx.decimal is not None or sniffed.delimiter != ","
    problems: dict[str, _Problem] = {}
    number_text: dict[str, Any] = {}
    try:
        table: pa.Table | None = None
        if not numbers_as_text:
            try:
                table = read(typed)
                if _any_infinite(table, floats):
                    table = None  # "1e999" parses as infinity: a broken value, not usage
            except pa.ArrowInvalid as exc:
                if "conversion error" not in str(exc):
                    raise
        if table is None:
            as_text = {n: (pa.string() if kinds[n] in _EXPECTED else t) for n, t in typed.items()}
            table = _drop_trailing_empty(read(as_text))
            table, problems, number_text = _convert_slowly(
                table, member, sniffed, ctx, kinds, header_of
            )
        else:
            for n in floats:
                nans = pc.sum(pc.is_nan(table.column(n))).as_py() or 0
                if nans:
                    ctx.note_markers(n, int(nans))
        _check_utf8(table)
    except pa.ArrowException as exc:
        if "columns, got" in str(exc):
            raise _shape_error(member, sniffed, ctx, len(names)) from None
        raise _arrow_error(exc, member, ctx) from None
    for n in names:
        if kinds[n] in _TIMES and table.schema.field(n).type.tz is None:
            idx = table.schema.get_field_index(n)
            table = table.set_column(idx, n, table.column(n).cast(pa.timestamp("ns", "UTC")))
    if null_text:
        table = _null_text(table, kinds, null_text)
    table, problems = _summary_rows(table, member, sniffed, ctx, kinds, problems, number_text)
    _report_problems(problems, member, sniffed, ctx, header_of)
    return table


@dataclass
class _Problem:
    """Cells of one column that did not convert: where, their text, the column's kind."""

    bad: np.ndarray
    text: pd.Series
    kind: str


def _summary_rows(
    table: pa.Table,
    member: Member,
    sniffed: Sniffed,
    ctx: ParseContext,
    kinds: Mapping[str, str],
    problems: dict[str, _Problem],
    number_text: Mapping[str, Any],
) -> tuple[pa.Table, dict[str, _Problem]]:
    """Leave out summary rows (see :mod:`._summary`); raise for a labelled one that does not add up."""

    def line_of(i: int) -> int:
        return _line_numbers(member, sniffed, [i]).get(i, i + 2)

    ident_bad = {n: p.bad for n, p in problems.items() if p.kind != "float"}
    found = _summary.find(
        table,
        kinds,
        bad=ident_bad,
        bad_text={n: p.text.to_numpy(dtype=object) for n, p in problems.items()},
        number_text={n: t.to_numpy(dtype=object) for n, t in number_text.items()},
        line_of=line_of,
        label=ctx.label,
        member=member.name,
    )
    if not found:
        return table, problems
    wanted = sorted({i for s in found for i in (s.row, *(s.closes or ()))})
    lines = _line_numbers(member, sniffed, wanted)
    _summary.record(ctx, found, line_of=lambda i: lines.get(i, i + 2), member=member.name)
    keep = np.ones(table.num_rows, dtype=bool)
    keep[[s.row for s in found]] = False
    # The text keeps the file's row positions as its index (for line numbers).
    kept = {n: _Problem(p.bad[keep], p.text[keep], p.kind) for n, p in problems.items()}
    return table.filter(pa.array(keep)), kept


def _report_problems(
    problems: Mapping[str, _Problem],
    member: Member,
    sniffed: Sniffed,
    ctx: ParseContext,
    header_of: Mapping[str, str],
) -> None:
    """Raise for values that did not convert (``errors="raise"``), or count them (coerce)."""
    for name, p in problems.items():
        if not p.bad.any():
            continue
        pos = np.flatnonzero(p.bad)
        rows = p.text.index.to_numpy()[pos]  # row positions in the file
        if ctx.errors == "raise":
            _raise_bad(
                member,
                sniffed,
                ctx,
                header_text=header_of.get(name, name),
                kind=p.kind,
                bad_rows=rows,
                values=p.text,
            )
        lines = _line_numbers(member, sniffed, [int(rows[0])])
        ctx.note_coerced(
            name,
            int(p.bad.sum()),
            f"first at line {lines.get(int(rows[0]), int(rows[0]) + 2)}: "
            f"{p.text.iloc[int(pos[0])]!r}",
        )


def _drop_trailing_empty(table: pa.Table) -> pa.Table:
    """Leave out rows at the end whose every cell is empty (``,,,,`` saved by spreadsheets).

    They hold no usage; left in, they would hide a summary row above them.
    """
    n = table.num_rows
    while n and all(table.column(i)[n - 1].as_py() in (None, "") for i in range(table.num_columns)):
        n -= 1
    return table if n == table.num_rows else table.slice(0, n)


def _null_text(table: pa.Table, kinds: Mapping[str, str], null_text: Sequence[str]) -> pa.Table:
    """Text cells holding a null marker (Informatica's ``null``) become missing."""
    markers = pa.array(list(null_text), pa.string())
    for name in table.column_names:
        col = table.column(name)
        if kinds[name] == "cat" and pa.types.is_dictionary(col.type):
            chunks = []
            for chunk in col.chunks:
                hit = pc.is_in(chunk.dictionary, value_set=markers)
                if not pc.any(hit).as_py():
                    chunks.append(chunk)
                    continue
                mask = pc.take(hit, chunk.indices)
                indices = pc.if_else(mask, pa.scalar(None, chunk.indices.type), chunk.indices)
                chunks.append(pa.DictionaryArray.from_arrays(indices, chunk.dictionary))
            col = pa.chunked_array(chunks, col.type)
        elif kinds[name] == "text" and pa.types.is_string(col.type):
            col = pc.if_else(pc.is_in(col, value_set=markers), pa.scalar(None, col.type), col)
        else:
            continue
        table = table.set_column(table.schema.get_field_index(name), name, col)
    return table


def _check_utf8(table: pa.Table) -> None:
    """Raise ArrowInvalid if a string column (or a dictionary's values) is not UTF-8."""
    for col in table.columns:
        if pa.types.is_dictionary(col.type):
            for chunk in col.chunks:
                chunk.dictionary.validate(full=True)
        elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            col.validate(full=True)


def _any_infinite(table: pa.Table, names: Sequence[str]) -> bool:
    for name in names:
        col = table.column(name)
        if col.null_count < len(col) and pc.any(pc.is_inf(col)).as_py():
            return True
    return False


def _shape_error(
    member: Member, sniffed: Sniffed, ctx: ParseContext, expected: int
) -> ReportParseError:
    """Where the rows with the wrong number of fields are (error path: a full scan)."""
    text = bytes(member.data.slice(sniffed.skip_bytes)).decode("utf-8", "replace")
    base = bytes(member.data.slice(0, sniffed.skip_bytes)).count(b"\n")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniffed.delimiter)
    bad: list[tuple[int, int, str]] = []
    count = 0
    try:
        next(reader, None)
        for row in reader:
            if row and len(row) != expected:
                count += 1
                if len(bad) < defaults.MAX_BAD_ROWS_SHOWN:
                    bad.append((reader.line_num + base, len(row), sniffed.delimiter.join(row)))
    except csv.Error:
        pass
    if not bad:
        # Python's csv module accepted what Arrow did not (a quoted line break, say).
        return ReportParseError(
            "a row does not split into the header's fields (an unclosed quote or a line "
            "break inside a value?)",
            file=ctx.label,
            member=member.name,
            expected=f"{expected} fields per row, like the header",
        )
    listed = ", ".join(f"line {n}: {k} field(s)" for n, k, _ in bad)
    raw = bytes(member.data.slice(sniffed.skip_bytes))
    bare_cr = raw.count(b"\r") > raw.count(b"\r\n")
    hint = (
        "; a carriage return (CR) outside quotes ends a row: is there one inside a value?"
        if bare_cr
        else ""
    )
    return ReportParseError(
        f"{count} row(s) have a different number of fields than the header ({listed}){hint}",
        file=ctx.label,
        member=member.name,
        line=bad[0][0],
        expected=f"{expected} fields per row, like the header",
        bad_rows=[(n, row[:200]) for n, _, row in bad],
    )


def _convert_slowly(
    table: pa.Table,
    member: Member,
    sniffed: Sniffed,
    ctx: ParseContext,
    kinds: Mapping[str, str],
    header_of: Mapping[str, str],
) -> tuple[pa.Table, dict[str, _Problem], dict[str, pd.Series]]:
    """Convert the text columns of typed fields.

    Returns the table (cells that do not convert are missing), the cells that did
    not convert per column, and the text of the number columns (their precision).
    Nothing is raised for a cell yet: a summary row may hold a label there.
    """
    text_cols = [
        n
        for n in table.column_names
        if kinds[n] in _EXPECTED and pa.types.is_string(table.schema.field(n).type)
    ]
    floats = [n for n in text_cols if kinds[n] == "float"]
    decimal, thousands = ctx.decimal, ctx.thousands
    if decimal is None:
        decimal, thousands = (
            _values.number_convention(
                [table.column(n).to_pandas() for n in floats],
                delimiter=sniffed.delimiter,
                label=ctx.label,
                member=member.name,
            )
            if floats
            else (".", None)
        )
    problems: dict[str, _Problem] = {}
    number_text: dict[str, pd.Series] = {}
    for name in text_cols:
        kind = kinds[name]
        values = table.column(name).to_pandas()
        if kind == "float":
            converted, bad, marker = _values.to_float(values, decimal=decimal, thousands=thousands)
            arrow = pa.array(converted.to_numpy(), pa.float64(), from_pandas=True)
            number_text[name] = values
        else:
            converted, bad, marker = _values.to_time(
                values,
                dayfirst=ctx.dayfirst,
                label=ctx.label,
                member=member.name,
                column=header_of.get(name, name),
            )
            arrow = pa.array(converted, from_pandas=True)
        if marker.any():
            ctx.note_markers(name, int(marker.sum()))
        problems[name] = _Problem(np.asarray(bad, dtype=bool), values, kind)
        table = table.set_column(table.schema.get_field_index(name), name, arrow)
    return table, problems, number_text


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow table -> DataFrame; dictionary columns become categoricals."""
    # Plain to_pandas: Arrow unifies the per-block dictionaries itself while it
    # converts, measured faster than unify_dictionaries() first or split_blocks
    # (bench readers: the 1M-row HERE report).
    return table.to_pandas()
