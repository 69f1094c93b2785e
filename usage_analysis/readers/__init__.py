"""Read Particle, HERE and Informatica report files into pandas, and unify them.

``read_report(source)`` takes a path, bytes, a file object, CSV/JSON text or parsed
HERE JSON pages; it finds the provider and report kind from the content (header
row, ZIP members, gzip magic, JSON shape; never from the file name), and returns
the *provider frame*: the file's columns in snake_case, typed (UTC timestamps,
float quantities, categoricals for repeated strings), with ``attrs["provider"]``,
``attrs["kind"]`` and ``attrs["source"]``. ``to_unified(df)`` (or
``read_report(..., unified=True)``) turns a provider frame into the unified usage
schema of :mod:`usage_analysis.schema`. The mapping is in ``docs/unified-schema.md``.

Readers are pure: no network, nothing written to disk.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pandas as pd
import pyarrow as pa

from .. import providers
from .._memory import release_memory
from ..errors import InvalidParameter, ReportParseError, UsageAnalysisError
from . import _unified as U
from . import here  # its JSON search pages are read apart from CSV reports
from ._csv import LookalikeColumnWarning, Sniffed, closest, sniff
from ._overlap import drop_covered
from ._parse import (
    CoercedValuesWarning,
    MissingValuesWarning,
    ParseContext,
    _caller_level,
    to_pandas,
)
from ._source import DuplicateMemberWarning, Member, Source, load_source
from ._summary import SummaryRowWarning

__all__ = [
    "KINDS",
    "MIXED_COLUMN",
    "CoercedValuesWarning",
    "Detection",
    "DuplicateMemberWarning",
    "ExcelSheetsWarning",
    "LookalikeColumnWarning",
    "MissingValuesWarning",
    "SummaryRowWarning",
    "detect",
    "read_report",
    "to_unified",
]

# Detection order: the most specific headers first. Particle comes last because
# it recognises columns by meaning and would claim too much otherwise.
# The reader modules come from the provider registry (usage_analysis.providers),
# so a provider registered later is read like the three built in.


class _ReaderModules(Mapping[str, ModuleType]):
    """Provider name -> its reader module, in detection order (registry, live)."""

    def __getitem__(self, name: str) -> ModuleType:
        if name not in providers.names():
            raise KeyError(name)
        module: ModuleType = providers.get(name).load("reader")
        return module

    def __iter__(self) -> Iterator[str]:
        ordered = sorted(providers.registered(), key=lambda p: p.detect_order)
        return iter([p.name for p in ordered])

    def __len__(self) -> int:
        return len(providers.names())


class _Kinds(Mapping[str, tuple[str, ...]]):
    """Provider name -> the report kinds its reader knows (``KINDS``)."""

    def __getitem__(self, name: str) -> tuple[str, ...]:
        return tuple(_MODULES[name].KINDS)

    def __iter__(self) -> Iterator[str]:
        return iter(_MODULES)

    def __len__(self) -> int:
        return len(_MODULES)


_MODULES: Mapping[str, ModuleType] = _ReaderModules()
KINDS: Mapping[str, tuple[str, ...]] = _Kinds()
# An archive of several kinds (job-level files of DI and AI meters) reads into one
# frame with this column naming each row's kind; attrs["kind"] is then "mixed".
MIXED_COLUMN = "report_kind"
# Sources above this size (bytes) give Arrow's unused memory back after the read.
_RELEASE_AFTER = 32 * 1024**2


@dataclass(frozen=True)
class Detection:
    """What a source holds: provider and report kind (unpacks as ``provider, kind``).

    ``kind`` is ``"mixed"`` when an archive mixes kinds (say, job-level files of
    Data Integration and Application Integration meters); ``members`` says which
    member is which.
    """

    provider: str
    kind: str
    members: tuple[tuple[str | None, str], ...] = ()

    def __iter__(self) -> Any:
        yield self.provider
        yield self.kind


@dataclass
class _Plan:
    member: Member | None
    provider: str
    kind: str
    sniffed: Sniffed | None = None
    json: Any = None


def _known_labels() -> list[str]:
    labels: list[str] = []
    for mod in _MODULES.values():
        for layout in mod.LAYOUTS.values():
            labels += [f.label for f in layout.fields]
    return list(dict.fromkeys(labels))


def _provider_of_kind(kind: str) -> str:
    owners = [p for p, kinds in KINDS.items() if kind in kinds]
    if not owners:
        known = ", ".join(f"{p}: {', '.join(k)}" for p, k in KINDS.items())
        raise InvalidParameter("kind", f"unknown report kind {kind!r}; known kinds: {known}")
    return owners[0]


def _check_options(provider: str | None, kind: str | None) -> tuple[str | None, str | None]:
    if provider is not None and provider not in _MODULES:
        raise InvalidParameter(
            "provider", f"must be one of {', '.join(_MODULES)}, not {provider!r}"
        )
    if kind is not None:
        owner = _provider_of_kind(kind)
        if provider is None:
            provider = owner
        elif kind not in KINDS[provider]:
            raise InvalidParameter(
                "kind", f"{provider} reports are {', '.join(KINDS[provider])}, not {kind!r}"
            )
    return provider, kind


def _plan_member(member: Member, *, label: str, provider: str | None, kind: str | None) -> _Plan:
    if here.looks_like_json(member):
        if provider not in (None, "here"):
            raise ReportParseError(
                f"this is JSON, but {provider} reports are CSV",
                file=label,
                member=member.name,
                line=1,
                expected=f"a {provider} CSV report",
            )
        return _Plan(member, "here", "search", json=here.load_json(member, label=label))
    sniffed = sniff(member, label=label)
    candidates = [provider] if provider else list(_MODULES)
    for name in candidates:
        found = _MODULES[name].detect_csv(sniffed)
        if found and (kind is None or found == kind):
            return _Plan(member, name, found, sniffed)
    if provider is not None:
        # Forced: read as asked and let the reader say which columns are missing.
        forced = kind or _MODULES[provider].default_kind(sniffed)
        return _Plan(member, provider, forced, sniffed)
    raise ReportParseError(
        "cannot tell which report this is from its header row",
        file=label,
        member=member.name,
        line=1,
        expected="the header of a Particle, HERE or Informatica usage report "
        "(or pass provider= and kind=)",
        candidates=closest(sniffed.header[:20], _known_labels()),
    )


class ExcelSheetsWarning(UserWarning):
    """A workbook has hidden sheets, which are not read.

    ``df.attrs["sheets"]`` names the sheets read, ``df.attrs["hidden_sheets"]`` the
    hidden ones and ``df.attrs["other_sheets"]`` the visible ones holding no report.
    """


def _pick_sheets(src: Source, provider: str | None, kind: str | None) -> None:
    """An Excel workbook: read every visible sheet that is a report, and say which.

    Hidden sheets are never read (they often hold old numbers) and are named in an
    :class:`ExcelSheetsWarning`; visible sheets that are no report (notes, charts'
    data) are listed in ``attrs["other_sheets"]``; a report sheet with a formula
    whose value was never saved is refused (it would read as empty).
    """
    if src.container != "excel":
        return
    reports, first_error = [], None
    for sheet in src.members:
        try:
            _plan_member(sheet, label=src.label, provider=provider, kind=kind)
        except ReportParseError as exc:
            first_error = first_error or exc
            src.other_sheets.append(str(sheet.sheet))
            continue
        reports.append(sheet)
    if not reports:
        assert first_error is not None
        raise first_error
    for sheet in reports:
        if sheet.uncached:
            cells = ", ".join(sheet.uncached[:5])
            raise ReportParseError(
                f"sheet {sheet.sheet!r} has formulas without a saved value (cells {cells}"
                f"{' ...' if len(sheet.uncached) > 5 else ''}): they would read as empty, "
                "losing their counts; open the workbook in a spreadsheet and save it again",
                file=src.label,
                member=sheet.name,
                column=sheet.uncached[0],
                expected="formulas saved with their values",
            )
    src.members = reports
    if src.hidden_sheets:
        warnings.warn(
            ExcelSheetsWarning(
                f"{src.label}: hidden sheet(s) {', '.join(repr(h) for h in src.hidden_sheets)} "
                f"not read; read: {', '.join(repr(m.sheet) for m in reports)}"
            ),
            stacklevel=_caller_level(),
        )


def _plans(src: Source, provider: str | None, kind: str | None) -> list[_Plan]:
    _pick_sheets(src, provider, kind)
    if src.obj is not None:
        if provider not in (None, "here") or kind not in (None, "search"):
            raise InvalidParameter("source", "parsed JSON objects can only be HERE search pages")
        return [_Plan(None, "here", "search", json=src.obj)]
    if kind is not None and len(src.members) > 1:
        # An archive: keep the members of the asked kind, detecting each.
        plans = []
        for m in src.members:
            try:
                plans.append(_plan_member(m, label=src.label, provider=provider, kind=None))
            except ReportParseError:
                plans.append(_plan_member(m, label=src.label, provider=provider, kind=kind))
        chosen = [p for p in plans if p.kind == kind]
        if not chosen:
            raise ReportParseError(
                f"no member of this archive is a {kind!r} report",
                file=src.label,
                expected=f"one of: {', '.join(sorted({p.kind for p in plans}))}",
            )
        src.skipped += [str(p.member.name) for p in plans if p.kind != kind and p.member]
        return chosen
    plans = [_plan_member(m, label=src.label, provider=provider, kind=kind) for m in src.members]
    providers = sorted({p.provider for p in plans})
    if len(providers) > 1:
        raise ReportParseError(
            f"the archive mixes reports of {', '.join(providers)}",
            file=src.label,
            expected="members of one provider",
        )
    return plans


def _read_group(
    plans: Sequence[_Plan], src: Source, ctx: ParseContext, column_map: Any
) -> pd.DataFrame:
    provider, kind = plans[0].provider, plans[0].kind
    mod = _MODULES[provider]
    if kind == "search":
        seen: set[str] = set()  # page fingerprints across every member of the source
        frames = [
            here.read_pages(
                p.json,
                ctx=ctx,
                member=p.member.name if p.member else None,
                column_map=column_map,
                seen=seen,
            )
            for p in plans
        ]
        df = U.concat_frames(frames).reset_index(drop=True)
    else:
        tables = []
        for p in plans:
            assert p.member is not None and p.sniffed is not None
            tables.append(
                mod.read_csv(p.member, p.sniffed, kind=kind, ctx=ctx, column_map=column_map)
            )
        if len(tables) > 1:
            names = [
                (p.member.name or (f"sheet {p.member.sheet}" if p.member.sheet else None))
                if p.member
                else None
                for p in plans
            ]
            keep = drop_covered(tables, names, label=src.label, skipped=src.skipped)
            plans = [plans[i] for i in keep]
            tables = [tables[i] for i in keep]
        table = (
            tables[0]
            if len(tables) == 1
            else pa.concat_tables(tables, promote_options="permissive")
        )
        table_attrs = getattr(mod, "table_attrs", None)
        extra = table_attrs(table) if table_attrs is not None else {}
        df = to_pandas(table)
        df.attrs.update(extra)
    df.attrs.update(
        {
            "provider": provider,
            "kind": kind,
            "source": src.label,
            "members": [p.member.name for p in plans if p.member is not None and p.member.name],
            "coerced": dict(ctx.coerced),
            "missing_markers": dict(ctx.markers),
            "summary_rows": list(ctx.summary_rows),
        }
    )
    sheets = [p.member.sheet for p in plans if p.member is not None and p.member.sheet]
    if sheets:
        df.attrs["sheet"] = sheets[0]
        df.attrs["sheets"] = sheets
        df.attrs["hidden_sheets"] = list(src.hidden_sheets)
        df.attrs["other_sheets"] = list(src.other_sheets)
    if src.skipped:
        df.attrs["skipped_members"] = list(src.skipped)
    return df


def _safely(label: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn``; any parsing failure of a library below becomes ReportParseError."""
    try:
        return fn(*args, **kwargs)
    except UsageAnalysisError:
        raise
    except (OSError, TypeError) as exc:
        if not isinstance(exc, pa.ArrowException):
            raise  # a missing file or a wrong argument type, not a bad file
        raise ReportParseError(f"could not read the file ({exc})", file=label) from exc
    except (
        ValueError,
        LookupError,
        ArithmeticError,
        pa.ArrowException,
        RecursionError,
        UnicodeError,
        EOFError,
        NotImplementedError,
    ) as exc:
        # A reader bug or a file shape nobody foresaw: still the caller's bad file,
        # reported as such (the original is chained for debugging).
        raise ReportParseError(
            f"could not read the file ({type(exc).__name__}: {exc})", file=label
        ) from exc


def detect(source: Any) -> Detection:
    """Which provider and report kind ``source`` holds, from its content alone.

    Raises:
        ReportParseError: the content is not a report this package knows.
    """
    src = _safely("<source>", load_source, source)
    plans = _safely(src.label, _plans, src, None, None)
    kinds = sorted({p.kind for p in plans})
    members = tuple((p.member.name if p.member else None, p.kind) for p in plans)
    return Detection(plans[0].provider, kinds[0] if len(kinds) == 1 else "mixed", members)


def _clip_to_window(
    start: pd.Series, end: pd.Series, window: tuple[pd.Timestamp, pd.Timestamp]
) -> tuple[pd.Series, pd.Series]:
    """A HERE row's period, cut to the requested range it was aggregated over.

    HERE labels a ``detailLevel=month`` row with its month, even when the request
    covered one day of it: that row holds the requested days only, so it must not
    claim the whole month (a daily refresh on the 2nd would otherwise archive the
    1st as the month, then skip the 2nd to the month's end). Rows that do not
    overlap the range are left as the file says.
    """
    overlaps = (start < window[1]) & (end > window[0])
    if not overlaps.any():
        return start, end
    return (
        start.where(~overlaps | (start >= window[0]), window[0]),
        end.where(~overlaps | (end <= window[1]), window[1]),
    )


def read_report(
    source: Any,
    *,
    provider: str | None = None,
    kind: str | None = None,
    column_map: Mapping[str, str] | None = None,
    unified: bool = False,
    errors: str = "raise",
    period: Sequence[Any] | None = None,
    detail_level: str | None = None,
    decimal: str | None = None,
    thousands: str | None = None,
    dayfirst: bool | None = None,
) -> pd.DataFrame:
    """Read a usage report into a typed provider frame, or the unified frame.

    Args:
        source: a path, ``bytes``, a binary or text file object, CSV/JSON text, or
            HERE search pages as Python objects (one page dict or a list of them).
            Plain, gzipped, ZIP (one or many CSV members), Excel ``.xlsx``/``.xls``
            (whatever the file is called); UTF-8 with or without BOM, UTF-16; LF,
            CRLF or CR line ends; ``,``/``;``/tab separated.
        provider: ``"particle"``, ``"here"`` or ``"informatica"``: skip detection.
        kind: the report kind (see ``KINDS``); for an archive mixing kinds, read
            only the members of this kind.
        column_map: ``{"device_id": "My Column", ...}``: which file column holds a
            field, when the reader cannot tell by itself.
        unified: return the unified usage frame (``to_unified``) instead.
        errors: ``"raise"`` (default): a value that does not convert raises
            :class:`ReportParseError` listing the first bad rows. ``"coerce"``: such
            values become missing; :class:`CoercedValuesWarning` says how many and
            ``df.attrs["coerced"]`` holds the count per column.
        period: ``(start, end)`` (end exclusive, UTC) of the requested range, for
            rows without a time of their own (HERE ``detailLevel=summarized``).
        detail_level: HERE only: ``"hour"``, ``"day"``, ``"month"`` or
            ``"summarized"``, overriding what the timestamps suggest.
        decimal: ``"."`` or ``","``: the decimal separator of the numbers, when
            the file does not make it clear (``1.234`` in a ``;``-separated file).
            Default: found from the numbers; a decimal comma implies ``.`` thousands.
        thousands: the thousands separator (``"."``, ``","``, ``" "``, ``"'"`` or
            ``""`` for none).
        dayfirst: ``True`` for DD/MM/YYYY dates, ``False`` for MM/DD/YYYY, when the
            file's slash dates could be either. Default: found from the dates.

    Summary rows (totals, subtotals, averages, footer notes; any label, any
    position, nested) are found by arithmetic, by the rule in
    :mod:`usage_analysis.readers._summary`: left out with a
    :class:`SummaryRowWarning` and listed in ``df.attrs["summary_rows"]``. Numbers
    written ``NaN``/``null``/``N/A`` (and JSON nulls) are missing, counted in
    ``df.attrs["missing_markers"]`` with a :class:`MissingValuesWarning`. An archive
    member that is a copy (same bytes, any nesting) or is covered by a combined
    member (``MeteringSummary_AllOrgs.csv``) is read once, with a
    :class:`DuplicateMemberWarning` (``df.attrs["skipped_members"]``). An Excel
    workbook is read from its visible report sheets (``df.attrs["sheets"]``);
    hidden sheets are named in an :class:`ExcelSheetsWarning`. Saved HERE pages
    are checked as ``search()`` checks them: a repeated or missing page raises.

    Raises:
        ReportParseError: the file is not a report this package reads, is damaged,
            or holds values that do not convert (with ``errors="raise"``).
        InvalidParameter: an option is wrong.
        FileNotFoundError: ``source`` names a missing file.
    """
    ctx = ParseContext(
        label="<source>", errors=errors, decimal=decimal, thousands=thousands, dayfirst=dayfirst
    )
    provider, kind = _check_options(provider, kind)
    window = U.parse_period(period)
    if column_map is not None and not isinstance(column_map, Mapping):
        raise InvalidParameter("column_map", "expected a dict of field name -> header text")
    src = _safely(ctx.label, load_source, source)
    ctx.label = src.label
    plans = _safely(src.label, _plans, src, provider, kind)
    groups: dict[str, list[_Plan]] = {}
    for p in plans:
        groups.setdefault(p.kind, []).append(p)
    frames = [_safely(src.label, _read_group, g, src, ctx, column_map) for g in groups.values()]
    if unified:
        out = U.concat_unified(
            [
                _safely(src.label, to_unified, f, period=window, detail_level=detail_level)
                for f in frames
            ]
        ).reset_index(drop=True)
    else:
        out = frames[0] if len(frames) == 1 else _mixed(frames)
    if src.size > _RELEASE_AFTER or src.container is not None:
        # Arrow's allocator keeps freed parse buffers for reuse, malloc the inflated
        # bytes of a compressed report; after a large read that is memory the
        # notebook never gets back. Return it now.
        del frames
        release_memory()
    return out


def _mixed(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One frame from an archive of several kinds: the union of their columns.

    ``report_kind`` says each row's kind; columns of the other kinds are missing.
    """
    parts = []
    for f in frames:
        part = f.copy()
        part.insert(0, MIXED_COLUMN, U.const(str(f.attrs["kind"]), f.index))
        parts.append(part)
    df = U.concat_frames(parts).reset_index(drop=True)
    attrs = dict(frames[0].attrs)
    attrs["kind"] = "mixed"
    attrs["kinds"] = [str(f.attrs["kind"]) for f in frames]
    attrs["members"] = [m for f in frames for m in f.attrs.get("members", [])]
    attrs["coerced"] = frames[-1].attrs.get("coerced", {})
    df.attrs.update(attrs)
    return df


def _guess_kind(provider: str, df: pd.DataFrame) -> str:
    mod = _MODULES[provider]
    return str(mod.guess_kind(df))


def to_unified(
    df: pd.DataFrame,
    *,
    provider: str | None = None,
    kind: str | None = None,
    period: Sequence[Any] | None = None,
    detail_level: str | None = None,
) -> pd.DataFrame:
    """Convert a provider frame (from :func:`read_report`) to the unified usage schema.

    ``provider``/``kind`` default to ``df.attrs``; pass them for a frame that lost
    its attrs (the kind is then guessed from the columns). ``period=(start, end)``
    fills the period of rows that have no time of their own; ``detail_level`` (HERE)
    overrides the period length inferred from the timestamps.

    Raises:
        InvalidParameter: the provider is unknown or cannot be told.
        SchemaError: the frame lacks the columns the conversion needs.
    """
    p = provider or df.attrs.get("provider")
    if p is None:
        raise InvalidParameter(
            "provider",
            "the frame has no attrs['provider']: pass provider='particle', 'here' or 'informatica'",
        )
    if (kind or df.attrs.get("kind")) == "mixed" and MIXED_COLUMN in df.columns:
        parts = []
        for k_, part in df.groupby(MIXED_COLUMN, observed=True, sort=False):
            part = part.drop(columns=MIXED_COLUMN)
            part.attrs = {**df.attrs, "kind": str(k_)}
            parts.append(
                to_unified(part, provider=str(p), period=period, detail_level=detail_level)
            )
        return U.concat_unified(parts).loc[df.index]
    checked, k = _check_options(str(p), kind)
    p = str(checked)
    if detail_level is not None and p != "here":
        raise InvalidParameter("detail_level", "applies to HERE reports only")
    k = k or df.attrs.get("kind") or _guess_kind(p, df)
    window = U.parse_period(period)
    mod = _MODULES[p]
    opts: dict[str, Any] = {"kind": k}
    if p == "here":
        opts["detail_level"] = detail_level
    # Without attrs: pandas deep-copies a frame's attrs into every column taken
    # from it, which is most of the conversion's time for a large report.
    bare = df.copy(deep=False)
    bare.attrs = {}
    columns, extra = mod.unify(bare, **opts)
    if window is not None:
        start = columns.get("period_start")
        end = columns.get("period_end")
        if start is None:
            start, end = U.missing(df.index, U.UTC_NS), U.missing(df.index, U.UTC_NS)
        no_time = start.isna()
        if no_time.any():
            columns["period_start"] = start.where(~no_time, window[0])
            columns["period_end"] = (
                end if end is not None else U.missing(df.index, U.UTC_NS)
            ).where(~no_time, window[1])
        if p == "here":
            columns["period_start"], columns["period_end"] = _clip_to_window(
                columns["period_start"], columns["period_end"], window
            )
    attrs = {"provider": p, "kind": k, "source": df.attrs.get("source"), **extra}
    for key in ("coerced", "missing_markers", "summary_rows"):
        if df.attrs.get(key):
            attrs[key] = df.attrs[key]
    return U.finish(columns, df.index, attrs)
