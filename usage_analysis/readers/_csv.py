"""What the three CSV readers share: header matching by meaning and typed parsing.

Parsing goes straight from bytes to typed Arrow columns with ``pyarrow.csv``:
repeated strings become dictionary arrays (pandas categoricals), numbers float64,
timestamps UTC. Only when that fast path meets a value it cannot convert does a
second, slower pass read the typed columns as text, convert them leniently
(ISO 8601 in every variant, padded numbers) and point at the rows that still do
not convert: they are an error (``errors="raise"``) or become missing and are
counted (``errors="coerce"``), never dropped.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .. import defaults
from ..errors import InvalidParameter, ReportParseError
from ._source import Member

__all__ = [
    "CoercedValuesWarning",
    "Field",
    "Layout",
    "ParseContext",
    "norm",
    "snake",
]

# Types of a field: "cat" (repeated string -> categorical), "text" (unique-ish
# string), "float", "time" (timestamp, naive means UTC) and "date" (a day).
_ARROW_TYPES: dict[str, pa.DataType] = {
    "cat": pa.dictionary(pa.int32(), pa.string()),
    "text": pa.string(),
    "float": pa.float64(),
    "time": pa.timestamp("ns"),
    "date": pa.timestamp("ns"),
    "time_z": pa.timestamp("ns", "UTC"),
}
_EXPECTED: dict[str, str] = {
    "float": "a finite number",
    "time": "an ISO 8601 date and time (UTC)",
    "time_z": "an ISO 8601 date and time (UTC)",
    "date": "a date YYYY-MM-DD",
}
UTC_NS = "datetime64[ns, UTC]"


class CoercedValuesWarning(UserWarning):
    """``errors="coerce"`` turned values that did not convert into missing values.

    The counts per column are also in ``df.attrs["coerced"]``.
    """


def norm(name: str) -> str:
    """A header reduced to lowercase letters and digits: ``"Device ID"`` -> ``"deviceid"``."""
    return re.sub(r"[^0-9a-z]", "", name.casefold())


def snake(name: str) -> str:
    """A header as a snake_case column name: ``"Consumption (IPUs)"`` -> ``"consumption_ipus"``."""
    inner = re.search(r"\(([A-Za-z][A-Za-z0-9]*)\)\s*$", name)
    if inner and re.search(r"[a-z][A-Z]", inner.group(1)):
        name = inner.group(1)  # HERE "Label (camelCase)": the field name is the stable part
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    name = re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_").lower()
    return name or "column"


def _keys(header: str) -> list[str]:
    """Spellings to look a header up by: whole, the part in parentheses, the part before."""
    keys = [norm(header)]
    m = re.match(r"^(.*?)\s*\(([^()]*)\)\s*$", header)
    if m:
        keys += [norm(m.group(2)), norm(m.group(1))]
    return [k for k in keys if k]


@dataclass(frozen=True)
class Field:
    """A column a reader knows: its snake_case name, type and header spellings."""

    name: str
    type: str
    label: str  # the documented header, used in messages
    aliases: tuple[str, ...] = ()  # more spellings; label and name are always accepted

    def spellings(self) -> set[str]:
        """Every normalised spelling that identifies this field."""
        return {norm(a) for a in (self.label, self.name, *self.aliases)} - {""}


@dataclass(frozen=True)
class Layout:
    """One report kind of one provider: its fields and what identifies it."""

    provider: str
    kind: str
    fields: tuple[Field, ...]
    # Detection: every group must have at least one of its fields in the header.
    signature: tuple[tuple[str, ...], ...]
    # Reading: every group must be present, else ReportParseError naming it.
    required: tuple[tuple[str, ...], ...] = ()

    def field(self, name: str) -> Field:
        """The field called ``name``."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        """The snake_case names of every field."""
        return tuple(f.name for f in self.fields)


def match_fields(
    header: Sequence[str], fields: Iterable[Field], column_map: Mapping[str, str] | None = None
) -> dict[int, str]:
    """Map header positions to field names; each field is matched at most once.

    ``column_map`` (field name -> header text) wins over spellings; whole-header
    matches win over matches on the part in parentheses or before it.
    """
    fields = list(fields)
    found: dict[int, str] = {}
    used: set[str] = set()
    for name, header_text in (column_map or {}).items():
        if header_text in header:
            pos = list(header).index(header_text)
            found[pos] = name
            used.add(name)
    lookup: dict[str, str] = {}
    for f in fields:
        for s in f.spellings():
            lookup.setdefault(s, f.name)
    for rank in range(3):
        for pos, text in enumerate(header):
            if pos in found:
                continue
            keys = _keys(text)
            if rank < len(keys):
                hit = lookup.get(keys[rank])
                if hit and hit not in used:
                    found[pos] = hit
                    used.add(hit)
    return found


def satisfied(groups: Iterable[Iterable[str]], names: Iterable[str]) -> bool:
    """True when every group has at least one of its names in ``names``."""
    have = set(names)
    return all(any(n in have for n in group) for group in groups)


def column_names(header: Sequence[str], found: Mapping[int, str]) -> list[str]:
    """The output names: field names where matched, else snake_case, made unique."""
    names: list[str] = []
    seen: set[str] = set(found.values())
    for pos, text in enumerate(header):
        if pos in found:
            names.append(found[pos])
            continue
        base = snake(text)
        name, i = base, 2
        while name in seen:
            name, i = f"{base}_{i}", i + 1
        seen.add(name)
        names.append(name)
    return names


def closest(wanted: Iterable[str], known: Iterable[str], *, n: int = 3) -> list[str]:
    """Known names closest to any of ``wanted`` (difflib), best first, no repeats."""
    known = list(dict.fromkeys(known))
    by_norm: dict[str, str] = {}
    for k in known:
        by_norm.setdefault(norm(k), k)
    out: list[str] = []
    for w in wanted:
        for hit in difflib.get_close_matches(norm(w), list(by_norm), n=n, cutoff=0.6):
            if by_norm[hit] not in out:
                out.append(by_norm[hit])
    return out[: max(n, 1) * 2]


# --- reading the header and a sample -----------------------------------------


def _delimiter(first_line: str) -> str:
    # Excel in many European locales saves CSV with ';', "Unicode text" with tabs.
    outside = re.sub(r'"[^"]*"', "", first_line)
    counts = {d: outside.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > counts[","] else ","


@dataclass
class Sniffed:
    """The first row and a sample of the following rows of a CSV member."""

    header: list[str]
    rows: list[list[str]]
    delimiter: str
    skip_bytes: int  # leading blank lines before the header


def sniff(member: Member, *, label: str, sample_rows: int = 200) -> Sniffed:
    """Header and first rows of ``member`` (raises ReportParseError when there is no header)."""
    text = member.head(256 * 1024)
    stripped = text.lstrip("\r\n \t")
    skip = len(text[: len(text) - len(stripped)].encode("utf-8"))
    if not stripped.strip():
        raise ReportParseError(
            "the file is empty",
            file=label,
            member=member.name,
            line=1,
            expected="a header row",
        )
    first_line = stripped.split("\n", 1)[0]
    delim = _delimiter(first_line)
    complete = stripped if member.data.size <= 256 * 1024 else stripped.rsplit("\n", 1)[0]
    try:
        reader = csv.reader(io.StringIO(complete), delimiter=delim)
        header = next(reader)
        rows = []
        for row in reader:
            if row:
                rows.append(row)
            if len(rows) >= sample_rows:
                break
    except (csv.Error, StopIteration) as exc:
        raise ReportParseError(
            f"the header row is not valid CSV ({exc})",
            file=label,
            member=member.name,
            line=1,
            expected="a header row of comma-separated names",
        ) from None
    header = [h.strip().lstrip("\ufeff") for h in header]
    return Sniffed(header, rows, delim, skip)


# --- parsing -----------------------------------------------------------------


@dataclass
class ParseContext:
    """Per-call options and the record of what ``errors="coerce"`` changed."""

    label: str
    errors: str = "raise"
    coerced: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.errors not in ("raise", "coerce"):
            raise InvalidParameter("errors", f"must be 'raise' or 'coerce', not {self.errors!r}")

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


_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)


def _caller_level() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside this package."""
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level


def _line_numbers(member: Member, sniffed: Sniffed, rows: Sequence[int]) -> dict[int, int]:
    """Physical line numbers (header = line 1) of data rows (0-based), for messages."""
    wanted = set(rows)
    out: dict[int, int] = {}
    if not wanted:
        return out
    text = bytes(member.data.slice(sniffed.skip_bytes)).decode("utf-8", "replace")
    base = bytes(member.data.slice(0, sniffed.skip_bytes)).count(b"\n")
    reader = csv.reader(io.StringIO(text), delimiter=sniffed.delimiter)
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


def _lenient(values: pd.Series, kind: str) -> pd.Series:
    """Convert text leniently; values that still fail become missing."""
    if kind == "float":
        numbers = pd.to_numeric(values.str.strip(), errors="coerce").astype("float64")
        return numbers.where(np.isfinite(numbers))
    converted = pd.to_datetime(values.str.strip(), utc=True, errors="coerce", format="ISO8601")
    return converted.astype(UTC_NS)


def _is_blank(values: pd.Series) -> pd.Series:
    stripped = values.str.strip()
    return values.isna() | (stripped == "") | stripped.str.casefold().isin(["nan"])


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
    listed = [(lines.get(i, i + 2), values.iloc[i]) for i in shown]
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


def parse(
    member: Member,
    sniffed: Sniffed,
    ctx: ParseContext,
    *,
    names: Sequence[str],
    types: Mapping[str, str],
) -> pa.Table:
    """Parse ``member`` into an Arrow table with the given column names and field types.

    Columns without a type are read as dictionary-encoded strings. Naive timestamps
    are taken as UTC.
    """

    def read(column_types: Mapping[str, pa.DataType]) -> pa.Table:
        if member.path is not None and sniffed.skip_bytes == 0:
            # Arrow skips a UTF-8 BOM itself; streaming keeps the peak memory down.
            stream: Any = pa.input_stream(member.path)
        else:
            stream = pa.BufferReader(member.data.slice(sniffed.skip_bytes))
        return pacsv.read_csv(
            stream,
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
                # UTF-8 is checked after parsing, on the (small) dictionaries
                # rather than on every cell: about 15 % of the parse time.
                check_utf8=False,
            ),
        )

    typed = {n: _ARROW_TYPES[types.get(n, "cat")] for n in names}
    header_of = dict(zip(names, sniffed.header, strict=False))
    try:
        table: pa.Table | None
        try:
            table = read(typed)
            if _any_infinite(table, [n for n in names if types.get(n) == "float"]):
                table = None  # "1e999" parses as infinity: a broken value, not usage
        except pa.ArrowInvalid as exc:
            if "conversion error" not in str(exc):
                raise
            table = None
        if table is None:
            as_text = {
                n: (pa.string() if types.get(n, "cat") in _EXPECTED else t)
                for n, t in typed.items()
            }
            table = read(as_text)
            table = _convert_slowly(table, member, sniffed, ctx, types, header_of)
        _check_utf8(table)
    except pa.ArrowException as exc:
        if "columns, got" in str(exc):
            raise _shape_error(member, sniffed, ctx, len(names)) from None
        raise _arrow_error(exc, member, ctx) from None
    for n in names:
        kind = types.get(n, "cat")
        if kind in ("time", "date") and table.schema.field(n).type.tz is None:
            idx = table.schema.get_field_index(n)
            table = table.set_column(idx, n, table.column(n).cast(pa.timestamp("ns", "UTC")))
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
    reader = csv.reader(io.StringIO(text), delimiter=sniffed.delimiter)
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
    return ReportParseError(
        f"{count} row(s) have a different number of fields than the header ({listed})",
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
    types: Mapping[str, str],
    header_of: Mapping[str, str],
) -> pa.Table:
    for name in table.column_names:
        kind = types.get(name, "cat")
        if kind not in _EXPECTED:
            continue
        values = table.column(name).to_pandas()
        converted = _lenient(values, kind)
        bad = (converted.isna() & ~_is_blank(values)).to_numpy()
        if bad.any():
            bad_rows = np.flatnonzero(bad)
            if ctx.errors == "raise":
                _raise_bad(
                    member,
                    sniffed,
                    ctx,
                    header_text=header_of.get(name, name),
                    kind=kind,
                    bad_rows=bad_rows,
                    values=values,
                )
            lines = _line_numbers(member, sniffed, [int(bad_rows[0])])
            ctx.note_coerced(
                name,
                int(bad.sum()),
                f"first at line {lines.get(int(bad_rows[0]), int(bad_rows[0]) + 2)}: "
                f"{values.iloc[int(bad_rows[0])]!r}",
            )
        arrow = pa.array(converted, from_pandas=True)
        if kind == "float":
            arrow = arrow.cast(pa.float64())
        table = table.set_column(table.schema.get_field_index(name), name, arrow)
    return table


def check_columns(
    layout: Layout,
    sniffed: Sniffed,
    member: Member,
    ctx: ParseContext,
    column_map: Mapping[str, str] | None,
    *,
    extra_fields: Iterable[str] = (),
) -> dict[int, str]:
    """Match the header to ``layout``; raise naming what is missing, and near misses."""
    known = set(layout.names) | set(extra_fields)
    for key, value in (column_map or {}).items():
        if key not in known:
            raise InvalidParameter(
                "column_map",
                f"{key!r} is not a column of a {layout.provider} {layout.kind} report; "
                f"known: {', '.join(sorted(known))}",
            )
        if value not in sniffed.header:
            raise ReportParseError(
                f"column_map maps {key!r} to a column the file does not have",
                file=ctx.label,
                member=member.name,
                line=1,
                column=value,
                expected="a header name of this file",
                candidates=closest([value], sniffed.header),
            )
    found = match_fields(sniffed.header, layout.fields, column_map)
    for group in layout.required:
        if not any(n in found.values() for n in group):
            labels = [layout.field(n).label for n in group]
            raise ReportParseError(
                f"no column for {' or '.join(repr(x) for x in labels)} in this "
                f"{layout.provider} {layout.kind} report; pass column_map={{{group[0]!r}: "
                "'<header in your file>'}} if it has another name",
                file=ctx.label,
                member=member.name,
                line=1,
                column=labels[0],
                expected="a header row with " + " or ".join(repr(x) for x in labels),
                candidates=closest(labels, sniffed.header),
            )
    return found


def read_layout(
    member: Member,
    sniffed: Sniffed,
    layout: Layout,
    ctx: ParseContext,
    column_map: Mapping[str, str] | None,
) -> pa.Table:
    """Parse a member whose columns are those of ``layout`` (extra columns are kept)."""
    found = check_columns(layout, sniffed, member, ctx, column_map)
    names = column_names(sniffed.header, found)
    return parse(member, sniffed, ctx, names=names, types={f.name: f.type for f in layout.fields})


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow table -> DataFrame; dictionary columns become categoricals."""
    # split_blocks/self_destruct: the table is not used again, so its memory can go
    # as each column is converted (lower peak for million-row reports).
    # Members parsed apart have their own dictionaries: unify them once in Arrow
    # (cheaper than letting the conversion do it column by column).
    if table.num_rows and any(pa.types.is_dictionary(t) for t in table.schema.types):
        table = table.unify_dictionaries()
    return table.to_pandas(split_blocks=True, self_destruct=True)
