"""Summary rows that spreadsheets add (totals, subtotals, averages, footers): found by arithmetic.

The label is a hint; the arithmetic is the proof. The rule, applied to every
parsed CSV member (and every Excel sheet) before its rows are used:

*Terms.* The **identifying columns** are the columns that are not numbers (ids,
names, dates, times). A cell is **filled** when it holds a value of its column's
kind (text in a text column; a date in a date column: the word "Total" in a date
column is not filled). The **additive columns** are the number columns except
rates and sizes (:data:`NON_ADDITIVE`). A **block** is a run of data rows above
a row: the rows since the start of the file or since any earlier summary row
(nearest start first; already-found summary rows are never part of a block). A
row above every data row (right under the header) closes the block of all data
rows below it. For a row *r* and a block *B*, ``K`` is the set of identifying
columns filled in every row of *B*; *r* **misses** the columns of ``K`` it does
not fill and **keeps** the others. *r* is **labelled** when one of its text cells
holds a summary word (:data:`SUMMARY_WORDS`: "Total", "Subtotal",
"Gesamtergebnis", "Totalt", "Итого", "合计", "Average", ... in many languages), as
a whole word of the cell ("Fleet Total", "Device A Total", "Total:").

*Rule.* Row *r* is a **summary row** of block *B* when

1. it misses at least one column of ``K`` (a row as complete as the rows it
   would close is data: a device called "Total Tracker" with its id and date is
   never a summary row, whatever its numbers), and
2. it keeps no column of ``K``, or it keeps one and is labelled or *B* has at
   least two rows (so a real two-row report, where row 2 may equal row 1 by
   coincidence, loses nothing). A cell holding a summary word is the row's label,
   not a kept identity: "Fleet Total" in the name column of a row that has only
   its date keeps one column (the date), and
3. in every additive column where *r* has a value (at least one), the value is
   the sum of *B* (a total) or the mean of *B* (an average), to the precision it
   was written with.

Nested subtotals (Excel's per-group subtotals, with or without a grand total, a
total followed by an average) follow from the block definition: each summary row
found starts new blocks for the rows after it, and a grand total closes the
block that starts at the top. Summary rows are left out of the frame, reported
once per member with :class:`SummaryRowWarning`, and listed in
``df.attrs["summary_rows"]``.

A row with no number at all that keeps at most one identifying column (a footer
line such as "Generated 2026-11-02 by the console") carries no usage: it is
left out as a ``"note"`` and reported the same way. A **labelled** row that
keeps at most one identifying column and misses one, but adds up to no block,
raises :class:`ReportParseError` naming its line: keeping it could count the
usage twice, dropping it could lose a real row.
"""

from __future__ import annotations

import itertools
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ReportParseError
from ._stack import caller_level

__all__ = ["SUMMARY_WORDS", "Summary", "SummaryRowWarning", "find", "is_summary_label"]

# Words (whole words of a cell, case-folded) that hint at a summary row. A hint
# only: the arithmetic decides. CJK words match anywhere in the cell.
SUMMARY_WORDS = frozenset(
    {
        # English and Romance languages
        "total", "totals", "subtotal", "subtotals", "sub-total", "grandtotal", "sum", "sums",
        "overall", "totale", "subtotale", "somma", "totaal", "subtotaal", "som", "somme",
        "sous-total", "suma", "subtotales", "totales", "soma", "totalgeral",
        # Germanic and Nordic
        "summe", "gesamt", "gesamtergebnis", "gesamtsumme", "ergebnis", "zwischensumme",
        "teilergebnis", "insgesamt", "totalt", "totalsum", "summa", "i alt", "samtals",
        "yhteensä", "yht", "kokku", "kopā", "iš viso",
        # Slavic, Greek, Turkish, Hungarian, other
        "итого", "итог", "всего", "сумма", "подытог", "razem", "celkem", "součet",
        "spolu", "ukupno", "skupaj", "összesen", "toplam", "σύνολο", "jumlah", "tổng",
        "sumă", "סה\"כ", "المجموع", "الإجمالي", "कुल",
        # averages
        "average", "averages", "avg", "mean", "durchschnitt", "mittelwert", "moyenne",
        "promedio", "media", "média", "gemiddelde", "среднее", "srednia", "średnia",
        "průměr", "genomsnitt", "gjennomsnitt", "gennemsnit", "keskiarvo", "ortalama",
        "átlag", "ø",
    }
)  # fmt: skip
_CJK_WORDS = (
    "合计",
    "总计",
    "小计",
    "合計",
    "總計",
    "小計",
    "総計",
    "共计",
    "평균",
    "합계",
    "총계",
    "소계",
    "平均",
)
_WORD = re.compile(r"[^\W\d_]+")
# Entries of two words ("i alt", "iš viso", 'סה"כ', "sub-total"), as word pairs.
_PHRASES = frozenset((ws[0], ws[1]) for w in SUMMARY_WORDS if len(ws := _WORD.findall(w)) == 2)


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
    """Summary rows (totals, subtotals, averages, footer notes) were found and left out.

    ``df.attrs["summary_rows"]`` says which lines, what they held and which lines
    they summed.
    """


def is_summary_label(value: Any) -> bool:
    """True when a cell holds a summary word: "Total", "Grand Total:", "Итого", "合计"..."""
    if not isinstance(value, str) or not value.strip():
        return False
    text = value.casefold()
    words = _WORD.findall(text)
    if not SUMMARY_WORDS.isdisjoint(words):
        return True
    if any(w in text for w in _CJK_WORDS):
        return True
    return not _PHRASES.isdisjoint(itertools.pairwise(words))


@dataclass
class Summary:
    """One left-out row: its 0-based row index in the table and what it was."""

    row: int
    kind: str  # "total", "average" or "note"
    label: str
    values: dict[str, float] = field(default_factory=dict)
    closes: tuple[int, int] | None = None  # first and last row index of the block


def _labelled(col: pa.ChunkedArray) -> np.ndarray | None:
    """Rows whose cell holds a summary word, None if no row does.

    Tested once per distinct value (a dictionary column's values repeat in every chunk).
    """
    seen: set[Any] = {None}
    hits: set[Any] = set()

    def test(values: list[Any]) -> np.ndarray:
        distinct = set(values)
        for v in distinct - seen:
            if is_summary_label(v):
                hits.add(v)
        seen.update(distinct)
        out = np.zeros(len(values) + 1, dtype=bool)  # the extra False is for nulls (-1)
        if not hits.isdisjoint(distinct):
            out[:-1] = [v in hits for v in values]
        return out

    parts: list[np.ndarray | None] = []
    for chunk in col.chunks:
        if pa.types.is_dictionary(chunk.type):
            flags = test(chunk.dictionary.to_pylist())
            if not flags.any():
                parts.append(None)
                continue
            codes = chunk.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
            parts.append(flags[codes])
        else:
            uniques = pc.unique(chunk)
            flags = test(uniques.to_pylist())
            if not flags.any():
                parts.append(None)
                continue
            pos = pc.index_in(chunk, value_set=uniques).fill_null(-1).to_numpy(zero_copy_only=False)
            parts.append(flags[pos.astype(np.int64)])
    if all(p is None for p in parts):
        return None
    return np.concatenate(
        [
            np.zeros(len(c), dtype=bool) if p is None else p
            for c, p in zip(col.chunks, parts, strict=True)
        ]
    )


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or (pa.types.is_dictionary(t) and pa.types.is_string(t.value_type))


def _filled(col: pa.ChunkedArray, bad: np.ndarray | None) -> np.ndarray:
    # Both parse paths read an empty cell as null (null_values=[""]).
    out = np.asarray(pc.is_valid(col).to_numpy(zero_copy_only=False), dtype=bool)
    if bad is not None:
        out = out & ~bad
    return out


def _decimals(text: str) -> int:
    text = text.strip()
    if "e" in text.casefold():
        mantissa, _, exp = text.casefold().partition("e")
        try:
            return max(0, _decimals(mantissa) - int(exp))
        except ValueError:
            return 0
    sep = max(text.rfind("."), text.rfind(","))
    return len(text) - sep - 1 if sep >= 0 else 0


def _matches(values: np.ndarray, target: np.ndarray, texts: Sequence[str | None]) -> bool:
    for v, t, s in zip(values, target, texts, strict=True):
        decimals = _decimals(s) if s else _decimals(repr(float(v)))
        tolerance = 0.5 * 10.0**-decimals + 1e-9 * max(1.0, abs(t))
        if not abs(v - t) <= tolerance:
            return False
    return True


def find(
    table: pa.Table,
    kinds: Mapping[str, str],
    *,
    bad: Mapping[str, np.ndarray] | None = None,
    bad_text: Mapping[str, Any] | None = None,
    number_text: Mapping[str, Any] | None = None,
    line_of: Any = None,
    label: str = "<source>",
    member: str | None = None,
) -> list[Summary]:
    """The summary rows of ``table`` by the rule of this module (raises for a bad labelled one).

    ``bad`` marks identifying cells whose text is not of their column's kind (the
    slow path's conversion failures), ``bad_text`` gives that text (a label in a
    date column), ``number_text`` the written text of number cells (for the
    precision); ``line_of(row)`` turns a row index into a file line for messages.
    """
    n = table.num_rows
    if n < 2:
        return []
    bad = bad or {}
    names = table.column_names
    additive = [c for c in names if kinds.get(c) == "float" and c not in NON_ADDITIVE]
    ident = [c for c in names if kinds.get(c, "cat") != "float"]
    if not additive:
        return []
    filled_cols = []
    for c in ident:
        f = _filled(table.column(c), bad.get(c))
        if f.any():
            filled_cols.append((c, f))
    if not filled_cols:
        return []
    filled = np.column_stack([f for _, f in filled_cols])  # n x k
    kept_any = filled.sum(axis=1)
    missing_any = (~filled).any(axis=1)
    # Labels matter only for rows that miss an identifying value (cheap to find).
    label_rows = np.zeros(n, dtype=bool)
    # Identity cells: filled, and not a summary word (the label of a total is no id).
    plain = filled.copy()
    position = {c: j for j, (c, _) in enumerate(filled_cols)}
    if missing_any.any():
        for c in ident:
            if _is_text(table.schema.field(c).type):
                hit = _labelled(table.column(c))
                if hit is not None:
                    hit &= missing_any
                    label_rows |= hit
                    if c in position:
                        plain[:, position[c]] &= ~hit
            if c in bad and bad_text is not None and c in bad_text:
                texts = bad_text[c]
                for i in np.flatnonzero(bad[c]).tolist():
                    if is_summary_label(texts[i]):
                        label_rows[i] = True
    candidates = np.flatnonzero(missing_any & (plain.sum(axis=1) <= 1))
    if not len(candidates):
        return []
    values = np.column_stack(
        [table.column(c).to_numpy(zero_copy_only=False).astype(float) for c in additive]
    )
    has_num = ~np.isnan(values)
    # Entirely empty rows (",,,," saved by spreadsheets): nothing to count, nothing to say.
    blank = (kept_any == 0) & ~has_num.any(axis=1)
    for m in bad.values():
        blank &= ~m
    return _scan(
        candidates,
        values=values,
        has_num=has_num,
        filled=filled,
        plain=plain,
        label_rows=label_rows,
        blank=blank,
        additive=additive,
        table=table,
        ident=[c for c, _ in filled_cols],
        bad_text=bad_text or {},
        number_text=number_text or {},
        line_of=line_of or (lambda i: i + 2),
        label=label,
        member=member,
    )


def _row_label(table: pa.Table, ident: Sequence[str], bad_text: Mapping[str, Any], i: int) -> str:
    for c in ident:
        if c in bad_text and bad_text[c][i] not in (None, ""):
            value = bad_text[c][i]
        else:
            value = table.column(c)[i].as_py()
        if isinstance(value, str) and is_summary_label(value):
            return value.strip()
    return ""


def _scan(
    candidates: np.ndarray,
    *,
    values: np.ndarray,
    has_num: np.ndarray,
    filled: np.ndarray,
    plain: np.ndarray,
    label_rows: np.ndarray,
    blank: np.ndarray,
    additive: Sequence[str],
    table: pa.Table,
    ident: Sequence[str],
    bad_text: Mapping[str, Any],
    number_text: Mapping[str, Any],
    line_of: Any,
    label: str,
    member: str | None,
) -> list[Summary]:
    n = len(values)
    zero = np.zeros((1, values.shape[1]))
    # Prefix sums over every row; found summary rows are subtracted as they are found.
    cum = np.vstack([zero, np.cumsum(np.nan_to_num(values), axis=0)])
    cnt = np.vstack([zero, np.cumsum(has_num, axis=0)])
    rows = np.arange(n + 1, dtype=float)
    fcum = np.vstack([np.zeros((1, filled.shape[1])), np.cumsum(filled, axis=0)])
    removed_sum = np.zeros(values.shape[1])
    removed_cnt = np.zeros(values.shape[1])
    removed_rows = 0.0
    removed_f = np.zeros(filled.shape[1])
    # Block starts: position and the data-only prefix values there.
    b_pos: list[int] = [0]
    b_sum: list[np.ndarray] = [np.zeros(values.shape[1])]
    b_cnt: list[np.ndarray] = [np.zeros(values.shape[1])]
    b_rows: list[float] = [0.0]
    b_f: list[np.ndarray] = [np.zeros(filled.shape[1])]
    found: list[Summary] = []
    leading: list[int] = []

    def texts(i: int, cols: np.ndarray) -> list[str | None]:
        out: list[str | None] = []
        for j in cols:
            t = number_text.get(additive[j])
            out.append(None if t is None else t[i])
        return out

    def decide(
        i: int, s: np.ndarray, c: np.ndarray, r: np.ndarray, f: np.ndarray
    ) -> tuple[str, int] | None:
        """(kind, block index) of the first block (in the order given) that row i sums."""
        cols = np.flatnonzero(has_num[i])
        if not len(cols):
            return None
        row_texts = texts(i, cols)
        for b in range(len(r)):
            if r[b] <= 0:
                continue
            key = f[b] >= r[b] - 0.5  # filled in every row of the block
            misses = key & ~filled[i]
            if not misses.any():
                continue
            keeps = int((key & plain[i]).sum())
            if not (keeps == 0 or (keeps <= 1 and (label_rows[i] or r[b] >= 2))):
                continue
            if _matches(values[i, cols], s[b, cols], row_texts):
                return "total", b
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = s[b, cols] / c[b, cols]
            if (c[b, cols] > 0).all() and _matches(values[i, cols], mean, row_texts):
                return "average", b
        return None

    def note_or_raise(i: int, s_all: np.ndarray) -> Summary | None:
        if int(plain[i].sum()) > 1:
            return None
        if not has_num[i].any() and blank[i]:
            return Summary(i, "blank", "")
        if not has_num[i].any():
            return Summary(i, "note", _row_label(table, ident, bad_text, i))
        if label_rows[i]:
            j = int(np.flatnonzero(has_num[i])[0])
            line = line_of(i)
            raise ReportParseError(
                f"line {line} looks like a total row but does not add up: column "
                f"{additive[j]!r} holds {values[i, j]:g}, the rows above sum to {s_all[j]:g}",
                file=label,
                member=member,
                line=line,
                column=additive[j],
                expected="a summary row equal to the sum (or mean) of the rows it closes, "
                "or no summary row",
            )
        return None

    def remove(i: int) -> None:
        nonlocal removed_sum, removed_cnt, removed_rows, removed_f
        removed_sum = removed_sum + np.nan_to_num(values[i])
        removed_cnt = removed_cnt + has_num[i]
        removed_rows += 1
        removed_f = removed_f + filled[i]

    for i in candidates.tolist():
        p_sum, p_cnt = cum[i] - removed_sum, cnt[i] - removed_cnt
        p_rows, p_f = rows[i] - removed_rows, fcum[i] - removed_f
        if p_rows <= 0:
            leading.append(i)
            continue
        order = list(range(len(b_pos) - 1, -1, -1))  # nearest block start first
        s = p_sum - np.array([b_sum[k] for k in order])
        c = p_cnt - np.array([b_cnt[k] for k in order])
        r = p_rows - np.array([b_rows[k] for k in order])
        f = p_f - np.array([b_f[k] for k in order])
        hit = decide(i, s, c, r, f)
        if hit is None:
            extra = note_or_raise(i, s[-1])
            if extra is not None:
                found.append(extra)
                remove(i)
            continue
        kind, b = hit
        start = b_pos[order[b]]
        found.append(
            Summary(
                i,
                kind,
                _row_label(table, ident, bad_text, i),
                {additive[j]: float(values[i, j]) for j in np.flatnonzero(has_num[i]).tolist()},
                (start, i - 1),
            )
        )
        remove(i)
        b_pos.append(i + 1)
        b_sum.append(cum[i + 1] - removed_sum)
        b_cnt.append(cnt[i + 1] - removed_cnt)
        b_rows.append(rows[i + 1] - removed_rows)
        b_f.append(fcum[i + 1] - removed_f)
    # Rows above every data row: they close all the data rows below them.
    lead_set = set(leading)
    for i in leading:
        out = sorted({*leading, *(x.row for x in found)})  # never part of a block
        s = cum[n] - np.nan_to_num(values[out]).sum(axis=0)
        c = cnt[n] - has_num[out].sum(axis=0)
        r = np.array([n - len(out) + 0.0])
        f = fcum[n] - filled[out].sum(axis=0)
        hit = decide(i, s[None, :], c[None, :], r, f[None, :])
        if hit is None:
            extra = note_or_raise(i, s)
            if extra is not None:
                found.append(extra)
            continue
        kind, _ = hit
        last = max(j for j in range(n) if j not in lead_set)
        found.append(
            Summary(
                i,
                kind,
                _row_label(table, ident, bad_text, i),
                {additive[j]: float(values[i, j]) for j in np.flatnonzero(has_num[i]).tolist()},
                (i + 1, last),
            )
        )
    return sorted(found, key=lambda x: x.row)


def record(ctx: Any, found: Sequence[Summary], *, line_of: Any, member: str | None) -> None:
    """Note the left-out rows in the parse context and warn once for the member.

    Entirely blank rows are left out without a word.
    """
    found = [s for s in found if s.kind != "blank"]
    if not found:
        return
    for s in found:
        entry: dict[str, Any] = {
            "line": line_of(s.row),
            "kind": s.kind,
            "label": s.label,
            "values": dict(s.values),
        }
        if member:
            entry["member"] = member
        if s.closes is not None:
            entry["closes_lines"] = (line_of(s.closes[0]), line_of(s.closes[1]))
        ctx.summary_rows.append(entry)
    shown = ", ".join(
        f"line {line_of(s.row)}" + (f" ({s.label!r}, {s.kind})" if s.label else f" ({s.kind})")
        for s in found[:5]
    )
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    warnings.warn(
        SummaryRowWarning(
            f"{ctx.label}{f' [{member}]' if member else ''}: {len(found)} summary row(s) left "
            f"out so nothing is counted twice: {shown}{more} (values = sum or mean of the rows "
            "they close; see df.attrs['summary_rows'])"
        ),
        stacklevel=caller_level(),
    )
