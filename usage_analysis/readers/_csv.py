"""What the three CSV readers share: finding columns by meaning, and sniffing a header.

Typed parsing is in :mod:`._parse`. A header is matched to a layout's fields by
its spellings (whole header, the part in parentheses, the part before), then by
meaning (the words it holds: "Data Operations Used", "Data Ops (total)",
"Device Identifier"). Two columns with one meaning raise, naming both, unless
``column_map=`` says which one to use.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa

from ..errors import InvalidParameter, ReportParseError
from ._parse import (
    CoercedValuesWarning,
    MissingValuesWarning,
    ParseContext,
    _caller_level,
    parse,
)
from ._source import Member

__all__ = [
    "CoercedValuesWarning",
    "Field",
    "Layout",
    "LookalikeColumnWarning",
    "MissingValuesWarning",
    "ParseContext",
    "norm",
    "snake",
]

PROVIDER_NAMES = {"particle": "Particle", "here": "HERE", "informatica": "Informatica"}
# Words that mean the same in a header, for matching by meaning.
_SYNONYMS = {
    "ops": "operations",
    "op": "operations",
    "operation": "operations",
    "identifier": "id",
    "ident": "id",
}


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
    # Matching by meaning: a header holding every word of one of these sets.
    meanings: tuple[frozenset[str], ...] = ()
    # Words that rule a header out of the meanings ("Device Name" is no device id).
    unless: frozenset[str] = frozenset()

    def spellings(self) -> set[str]:
        """Every normalised spelling that identifies this field."""
        return {norm(a) for a in (self.label, self.name, *self.aliases)} - {""}

    def means(self, header: str) -> bool:
        """True when ``header``'s words carry this field's meaning."""
        if not self.meanings:
            return False
        have = words(header)
        return not (have & self.unless) and any(m <= have for m in self.meanings)


def words(header: str) -> frozenset[str]:
    """A header's words, lowercased, camelCase split, synonyms folded."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", header)
    return frozenset(_SYNONYMS.get(w, w) for w in re.findall(r"[a-z0-9]+", spaced.casefold()))


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
    # Text that means "missing" in this provider's files (Informatica writes null).
    null_text: tuple[str, ...] = ()

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


def _hits(
    header: Sequence[str], fields: Sequence[Field], skip: set[int], rank: int
) -> dict[str, list[int]]:
    """Field name -> header positions that match it at ``rank`` (0-2 spellings, 3 meaning)."""
    lookup: dict[str, str] = {}
    for f in fields:
        for s in f.spellings():
            lookup.setdefault(s, f.name)
    out: dict[str, list[int]] = {}
    for pos, text in enumerate(header):
        if pos in skip:
            continue
        if rank == 3:
            hit = next((f.name for f in fields if f.means(text)), None)
        else:
            keys = _keys(text)
            hit = lookup.get(keys[rank]) if rank < len(keys) else None
        if hit:
            out.setdefault(hit, []).append(pos)
    return out


def match_fields(
    header: Sequence[str],
    fields: Iterable[Field],
    column_map: Mapping[str, str] | None = None,
    *,
    conflicts: list[tuple[str, list[int]]] | None = None,
) -> dict[int, str]:
    """Map header positions to field names; each field is matched at most once.

    ``column_map`` (field name -> header text) wins over spellings; whole-header
    matches win over matches on the part in parentheses or before it, which win
    over matches by meaning. When two headers match one field equally well, the
    first is taken and, if ``conflicts`` is a list, the pair is appended to it.
    """
    fields = list(fields)
    found: dict[int, str] = {}
    used: set[str] = set()
    for name, header_text in (column_map or {}).items():
        if header_text in header:
            pos = list(header).index(header_text)
            found[pos] = name
            used.add(name)
    for rank in range(4):
        for name, positions in _hits(header, fields, set(found), rank).items():
            if name in used:
                continue
            found[positions[0]] = name
            used.add(name)
            if len(positions) > 1 and conflicts is not None:
                conflicts.append((name, positions))
    return found


class LookalikeColumnWarning(UserWarning):
    """A column that was not read looks like a field another column was read for.

    ``Data Ops`` was read as the data operations and ``Data Operations Billed`` was
    not: if the wrong one was picked, pass ``column_map=`` to say which.
    """


def warn_lookalikes(
    fields: Sequence[Field],
    header: Sequence[str],
    found: Mapping[int, str],
    *,
    ctx: ParseContext,
    member: str | None,
    chosen: Mapping[str, str] | None = None,
) -> None:
    """Warn about each unread column that matches an already-matched field (any rank).

    Fields the caller mapped with ``column_map`` are the caller's choice: no warning.
    """
    used = set(found.values()) - set(chosen or {})
    for pos, text in enumerate(header):
        if pos in found:
            continue
        for rank in range(4):
            hit = _hits([text], list(fields), set(), rank).get
            name = next((f.name for f in fields if f.name in used and hit(f.name)), None)
            if name is None:
                continue
            picked = header[next(p for p, n in found.items() if n == name)]
            label = next(f.label for f in fields if f.name == name)
            warnings.warn(
                LookalikeColumnWarning(
                    f"{ctx.label}{f' [{member}]' if member else ''}: column {text!r} also "
                    f"looks like {label!r}, which was read from {picked!r}; pass "
                    f"column_map={{{name!r}: {text!r}}} if that is the one"
                ),
                stacklevel=_caller_level(),
            )
            break


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
    whole = member.size is not None and member.size <= 256 * 1024
    complete = stripped if whole else stripped.rsplit("\n", 1)[0]
    # newline="": a bare CR ends a row here as it does for the parser, so a CR in an
    # unquoted value is reported where it is, not as a broken header.
    reader = csv.reader(io.StringIO(complete, newline=""), delimiter=delim)
    rows: list[list[str]] = []
    try:
        header = next(reader)
    except (csv.Error, StopIteration) as exc:
        raise ReportParseError(
            f"the header row is not valid CSV ({exc})",
            file=label,
            member=member.name,
            line=1,
            expected="a header row of comma-separated names",
        ) from None
    try:
        for row in reader:
            if row:
                rows.append(row)
            if len(rows) >= sample_rows:
                break
    except csv.Error:
        pass  # the sample ends here; the parser reports the row with its line
    header = [h.strip().lstrip("\ufeff") for h in header]
    return Sniffed(header, rows, delim, skip)


def _what(layout: Layout) -> str:
    """ "HERE usage report", "Particle devices report" (never "report report")."""
    kind = "usage" if layout.kind == "report" else layout.kind.replace("_", " ")
    return f"{PROVIDER_NAMES.get(layout.provider, layout.provider)} {kind} report"


def conflict_error(
    layout: Layout,
    sniffed: Sniffed,
    member: Member,
    ctx: ParseContext,
    name: str,
    positions: Sequence[int],
) -> ReportParseError:
    """The error for two header columns that mean the same field."""
    what = _what(layout)
    both = [sniffed.header[p] for p in positions]
    return ReportParseError(
        f"columns {' and '.join(repr(b) for b in both)} both mean {layout.field(name).label!r} "
        f"in this {what}: reading either could count usage twice or lose it; pass "
        f"column_map={{{name!r}: {both[0]!r}}} to say which one to use",
        file=ctx.label,
        member=member.name,
        line=1,
        column=both[1],
        expected=f"one column for {layout.field(name).label!r}",
        candidates=both,
    )


def check_columns(
    layout: Layout,
    sniffed: Sniffed,
    member: Member,
    ctx: ParseContext,
    column_map: Mapping[str, str] | None,
    *,
    extra_fields: Iterable[str] = (),
    user_map: Mapping[str, str] | None = None,
) -> dict[int, str]:
    """Match the header to ``layout``; raise naming what is missing, and near misses.

    ``user_map`` is the caller's own ``column_map`` when ``column_map`` also holds
    columns the reader found itself (its fields are not warned about as look-alikes).
    """
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
    conflicts: list[tuple[str, list[int]]] = []
    found = match_fields(sniffed.header, layout.fields, column_map, conflicts=conflicts)
    what = _what(layout)
    for name, positions in conflicts:
        raise conflict_error(layout, sniffed, member, ctx, name, positions)
    warn_lookalikes(
        layout.fields,
        sniffed.header,
        found,
        ctx=ctx,
        member=member.name,
        chosen=column_map if user_map is None else user_map,
    )
    for group in layout.required:
        if not any(n in found.values() for n in group):
            labels = [layout.field(n).label for n in group]
            raise ReportParseError(
                f"no column for {' or '.join(repr(x) for x in labels)} in this {what}; "
                f"pass column_map={{{group[0]!r}: '<header in your file>'}} if it has "
                "another name",
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
    return parse(
        member,
        sniffed,
        ctx,
        names=names,
        types={f.name: f.type for f in layout.fields},
        null_text=layout.null_text,
    )
