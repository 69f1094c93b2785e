"""HERE Cost Management usage: report CSVs (plain or gzipped) and JSON search pages.

Kinds: ``"report"`` (the CSV of ``/reports/{id}/output`` or ``/csv``, every header
variant) and ``"search"`` (the JSON pages of ``/usage/realms/{realmId}``). Both give
the same provider frame: one column per HERE field, in snake_case
(``usage_date_time``, ``realm_id``, ``feature_id``, ``billable_value`` ...).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .. import defaults
from ..errors import InvalidParameter, ReportParseError
from . import _unified as U
from ._csv import (
    Field,
    Layout,
    ParseContext,
    Sniffed,
    match_fields,
    read_layout,
    satisfied,
    snake,
)
from ._source import Member
from ._values import MISSING_MARKERS

PROVIDER = "here"
KINDS = ("report", "search")
DETAIL_LEVELS = ("hour", "day", "month", "summarized")

_F = Field
FIELDS: tuple[Field, ...] = (
    # Zone-less in every example of the spec (UTC implied); a trailing Z reads too.
    _F("usage_date_time", "time", "Date and time (usageDateTime)"),
    _F("realm_id", "cat", "Org ID (realmId)", ("orgid",)),
    _F("org_name", "cat", "orgName", ("Org Name",)),
    _F("category", "cat", "Category (category)"),
    _F("app_id", "cat", "App ID (appId)"),
    _F("app_name", "cat", "App Name (appName)"),
    _F("app_hrn", "cat", "App Hrn (appHrn)"),
    _F("feature_id", "cat", "Item (featureId)"),
    _F("billing_subscription_id", "cat", "Subscription ID (billingSubscriptionId)"),
    _F("name", "cat", "Item description (name)", ("itemdescription",)),
    _F("value_driver", "cat", "Unit (valueDriver)", ("unit",)),
    _F("project_hrn", "cat", "Project ID (projectHrn)", ("projectid",)),
    _F("billing_tag", "cat", "Billing tag (billingTag)"),
    _F("resource_hrn", "cat", "Resource ID (resourceHrn)", ("resourceid",)),
    _F("billing_charge_number", "cat", "Charge Number (billingChargeNumber)"),
    _F("billable_value", "float", "Usage Amount (billableValue)", ("usageamount",)),
    _F("usage_value", "float", "Usage Amount (usageValue)"),
    _F("billable_value_hot", "float", "billableValueHot"),
    _F("billable_value_cold", "float", "billableValueCold"),
    _F("usage_value_hot", "float", "usageValueHot"),
    _F("usage_value_cold", "float", "usageValueCold"),
)
_VALUE = ("billable_value", "usage_value")
LAYOUT = Layout(
    PROVIDER,
    "report",
    FIELDS,
    signature=(("feature_id",), _VALUE),
    required=(("feature_id",), _VALUE),
)
LAYOUTS = {
    "report": LAYOUT,
    "search": Layout(PROVIDER, "search", FIELDS, LAYOUT.signature, LAYOUT.required),
}


def detect_csv(sniffed: Sniffed) -> str | None:
    """``"report"`` when the header is a HERE usage header, else None."""
    found = match_fields(sniffed.header, FIELDS)
    return "report" if satisfied(LAYOUT.signature, found.values()) else None


def default_kind(sniffed: Sniffed) -> str:
    """The kind to read a CSV as when ``provider="here"`` is forced."""
    return "report"


def guess_kind(df: pd.DataFrame) -> str:
    """The kind of a HERE provider frame that lost its attrs (CSV and JSON read alike)."""
    return "report"


def read_csv(
    member: Member,
    sniffed: Sniffed,
    *,
    kind: str,
    ctx: ParseContext,
    column_map: Mapping[str, str] | None,
) -> pa.Table:
    """Parse one HERE CSV member into a typed Arrow table.

    Timestamps written with an offset (``2026-10-01T00:00:00+02:00``) become UTC,
    and their offset is kept in ``utc_offset_minutes``: the row's period (an hour,
    the local day or month) is decided and measured on the clock it was written in.
    """
    pos = _time_position(sniffed, column_map)
    if pos is None or not any(
        _offset_minutes(r[pos]) for r in sniffed.rows if pos < len(r) and r[pos].strip()
    ):
        return read_layout(member, sniffed, LAYOUT, ctx, column_map)
    as_text = replace(
        LAYOUT,
        fields=tuple(
            replace(f, type="text") if f.name == "usage_date_time" else f for f in LAYOUT.fields
        ),
    )
    table = read_layout(member, sniffed, as_text, ctx, column_map)
    text = table.column("usage_date_time").to_pandas()
    utc, offsets = _zoned(text, ctx=ctx, member=member.name, column=sniffed.header[pos])
    idx = table.schema.get_field_index("usage_date_time")
    table = table.set_column(idx, "usage_date_time", pa.array(utc, pa.timestamp("ns", "UTC")))
    return table.append_column("utc_offset_minutes", pa.array(offsets, pa.float64()))


_OFFSET = re.compile(r"([+-])(\d\d):?(\d\d)$")


def _offset_minutes(text: str) -> int:
    m = _OFFSET.search(text.strip())
    if not m:
        return 0
    sign = -1 if m.group(1) == "-" else 1
    return sign * (int(m.group(2)) * 60 + int(m.group(3)))


def _time_position(sniffed: Sniffed, column_map: Mapping[str, str] | None) -> int | None:
    found = match_fields(sniffed.header, FIELDS, column_map)
    return next((p for p, n in found.items() if n == "usage_date_time"), None)


def _zoned(
    text: pd.Series, *, ctx: ParseContext, member: str | None, column: str
) -> tuple[pd.Series, np.ndarray]:
    """(UTC timestamps, offset minutes) of time text that may carry offsets."""
    clean = text.astype("str").str.strip().str.replace("'T'", "T", regex=False)
    blank = (text.isna() | (clean == "")).to_numpy()
    parts = clean.str.extract(_OFFSET)
    sign = np.where(parts[0] == "-", -1.0, 1.0)
    offsets = sign * (
        pd.to_numeric(parts[1], errors="coerce").fillna(0).to_numpy() * 60
        + pd.to_numeric(parts[2], errors="coerce").fillna(0).to_numpy()
    )
    utc = pd.to_datetime(clean.where(~blank), utc=True, errors="coerce", format="ISO8601")
    bad = np.flatnonzero((utc.isna().to_numpy()) & ~blank)
    if len(bad):
        first = [(int(i) + 2, text.iloc[int(i)]) for i in bad[: defaults.MAX_BAD_ROWS_SHOWN]]
        if ctx.errors == "raise":
            raise ReportParseError(
                f"{len(bad)} value(s) do not convert (first: line {first[0][0]}: "
                f"{first[0][1]!r}); pass errors='coerce' to turn them into missing values",
                file=ctx.label,
                member=member,
                line=first[0][0],
                column=column,
                expected="an ISO 8601 date and time",
                bad_rows=first,
            )
        ctx.note_coerced("usage_date_time", len(bad), f"first: {first[0][1]!r}")
    return utc.astype(U.UTC_NS), np.where(blank, np.nan, offsets)


# --- JSON search pages ---------------------------------------------------------


def looks_like_json(member: Member) -> bool:
    """True when the member's first non-blank character opens a JSON object or array."""
    return member.head(64).lstrip()[:1] in ("{", "[")


def load_json(member: Member, *, label: str) -> Any:
    """Parse a JSON member (ReportParseError with line and column when it is not JSON)."""
    text = bytes(member.data).decode("utf-8", "replace")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportParseError(
            f"not valid JSON ({exc.msg}, column {exc.colno})",
            file=label,
            member=member.name,
            line=exc.lineno,
            expected="a HERE search page or a list of pages",
        ) from None
    except RecursionError:
        raise ReportParseError(
            "JSON nested too deeply",
            file=label,
            member=member.name,
            expected="a HERE search page or a list of pages",
        ) from None


def _pages(obj: Any, *, label: str, member: str | None) -> list[Mapping[str, Any]]:
    pages = [obj] if isinstance(obj, Mapping) else obj
    if not isinstance(pages, list | tuple) or not pages:
        what = "an empty list" if isinstance(pages, list | tuple) else f"a {type(obj).__name__}"
        raise ReportParseError(
            f"the JSON holds {what}",
            file=label,
            member=member,
            expected='a HERE search page {"total", "limit", "items": [...]} or a list of pages',
        )
    for i, page in enumerate(pages):
        if not isinstance(page, Mapping) or not isinstance(page.get("items"), list):
            if isinstance(page, Mapping) and ("errorId" in page or "title" in page):
                what = f"a HERE error response: {page.get('code', '')} {page.get('title', '')}"
            else:
                what = f"not a search page: no 'items' list (JSON {type(page).__name__})"
            raise ReportParseError(
                f"page {i + 1} is {what.strip()}",
                file=label,
                member=member,
                expected='a HERE search page {"total", "limit", "items": [...]}',
            )
        for j, item in enumerate(page["items"]):
            if not isinstance(item, Mapping):
                raise ReportParseError(
                    f"page {i + 1}, item {j + 1} is not an object (JSON {type(item).__name__})",
                    file=label,
                    member=member,
                    expected="an object of HERE usage fields",
                )
    return list(pages)


@dataclass(frozen=True)
class PageProblem:
    """What is wrong with the pages of a HERE usage search (see :class:`PageTally`).

    ``kind``: "repeated" (page ``last`` holds the items of an earlier page),
    "missing" (pages ``first``-``last`` hold ``have`` items but say
    total=``want``) or "extra" (pages ``first``-``last`` hold more than ``want``).
    Page numbers are 1-based, in the order the pages were added.
    """

    kind: str
    first: int
    last: int
    have: int
    want: int | None


def page_total(value: Any) -> int | None:
    """A page's ``total``: a whole number (also written as ``"114"`` or ``114.0``), else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


@dataclass
class PageTally:
    """The one rule for the pages of HERE usage searches: each page once, none missing.

    Fed page by page, in order: by ``HereClient.search()`` as it pages through a
    window (it raises :class:`~usage_analysis.errors.APIError`) and by
    :func:`check_pages` on saved pages (:class:`~usage_analysis.errors.ReportParseError`);
    each says what is wrong in its own words. A page whose items repeat an earlier
    page's (``seen``: across the members of one source) would be counted twice.
    Pages are runs of one search: a run starts with a page stating ``total`` and
    ends once that many items are in hand; a run that ends short (``total=10`` but
    5 items, or a page stating another total begins) lacks a page, and a page that
    takes a run past its total holds records the server did not count. Pages
    without ``total`` cannot be checked against one.
    """

    seen: set[str] = field(default_factory=set)
    want: int | None = None  # the total the current run states
    have: int = 0  # its items so far
    first: int = 1  # its first page (1-based)
    pages: int = 0  # pages added

    @property
    def complete(self) -> bool:
        """The current run states a total and has that many items."""
        return self.want is not None and self.have >= self.want

    def add(self, items: list[Any], total: Any) -> PageProblem | None:
        """Count one page (``items`` and its ``total`` field); what is wrong, if anything."""
        self.pages += 1
        number = self.pages
        fingerprint = json.dumps(items, sort_keys=True, default=str)
        if items and fingerprint in self.seen:
            return PageProblem("repeated", number, number, self.have, self.want)
        self.seen.add(fingerprint)
        stated = page_total(total)
        if self.want is None or self.complete:
            self.want, self.have, self.first = stated, 0, number
        elif stated is not None and stated != self.want:
            return PageProblem("missing", self.first, number - 1, self.have, self.want)
        self.have += len(items)
        if self.want is not None and self.have > self.want:
            return PageProblem("extra", self.first, number, self.have, self.want)
        return None

    def close(self) -> PageProblem | None:
        """After the last page: a run that ended short lacks a page."""
        if self.want is not None and self.have < self.want:
            return PageProblem("missing", self.first, self.pages, self.have, self.want)
        return None


def check_pages(
    pages: list[Mapping[str, Any]],
    *,
    label: str,
    member: str | None,
    seen: set[str] | None = None,
) -> None:
    """The page rule (:class:`PageTally`) on saved pages: none repeated, none missing."""
    tally = PageTally(seen=set() if seen is None else seen)
    for page in pages:
        problem = tally.add(page["items"], page.get("total"))
        if problem is not None:
            _page_error(problem, label, member)
    problem = tally.close()
    if problem is not None:
        _page_error(problem, label, member)


def _page_error(problem: PageProblem, label: str, member: str | None) -> None:
    if problem.kind == "repeated":
        raise ReportParseError(
            f"page {problem.last} repeats the items of an earlier page: reading both would "
            "count its records twice",
            file=label,
            member=member,
            expected="each search page once",
        )
    pages = f"pages {problem.first}-{problem.last} hold {problem.have} items"
    if problem.kind == "extra":
        raise ReportParseError(
            f"{pages} but say total={problem.want}: a page is repeated or belongs to another "
            "search",
            file=label,
            member=member,
            expected=f"{problem.want} items in the pages of one search",
        )
    raise ReportParseError(
        f"{pages} but say total={problem.want}: a page is missing, and the records it held "
        "would be lost",
        file=label,
        member=member,
        expected=f"every page of the search ({problem.want} items)",
    )


def _cell(value: Any) -> Any:
    # Nested values (a list of tags, say) are kept as their JSON text.
    if isinstance(value, Mapping | list):
        return json.dumps(value, sort_keys=True)
    return value


def read_pages(
    obj: Any,
    *,
    ctx: ParseContext,
    member: str | None = None,
    column_map: Mapping[str, str] | None = None,
    seen: set[str] | None = None,
) -> pd.DataFrame:
    """One DataFrame from HERE JSON search pages (items of every page, in order).

    The pages are checked first (:func:`check_pages`): none repeated, none missing.
    """
    pages = _pages(obj, label=ctx.label, member=member)
    check_pages(pages, label=ctx.label, member=member, seen=seen)
    items = [item for page in pages for item in page["items"]]
    keys: list[str] = list(dict.fromkeys(k for item in items for k in item))
    if column_map:
        unknown = set(column_map) - set(LAYOUT.names)
        if unknown:
            raise InvalidParameter(
                "column_map", f"{sorted(unknown)} are not HERE columns; known: {LAYOUT.names}"
            )
    found = match_fields(keys, FIELDS, column_map)
    if items and not satisfied(LAYOUT.required, found.values()):
        raise ReportParseError(
            "the items lack 'featureId' or a usage value ('billableValue'/'usageValue')",
            file=ctx.label,
            member=member,
            expected="HERE usage items with featureId and billableValue",
        )
    names = [found.get(i) or snake(k) for i, k in enumerate(keys)]
    types = {f.name: f.type for f in FIELDS}
    data: dict[str, pd.Series] = {}
    for key, name in zip(keys, names, strict=True):
        raw = pd.Series([_cell(item.get(key)) for item in items], dtype=object)
        kind = types.get(name, "cat")
        if kind == "float":
            # An explicit JSON null in a quantity is a missing value: counted and said,
            # never silently left out of a total (an absent key is not a null).
            nulls = sum(1 for item in items if key in item and item[key] is None)
            if nulls:
                ctx.note_markers(name, nulls)
        data[name] = _convert_json(raw, name=name, key=key, kind=kind, ctx=ctx, member=member)
    for f in FIELDS:
        # Every page-derived frame has the documented columns, even when empty.
        if f.name in data or f.name not in ("usage_date_time", "feature_id", "billable_value"):
            continue
        data[f.name] = _convert_json(
            pd.Series([None] * len(items), dtype=object),
            name=f.name,
            key=f.name,
            kind=f.type,
            ctx=ctx,
            member=member,
        )
    if "usage_date_time" in data:
        key = keys[names.index("usage_date_time")] if "usage_date_time" in names else ""
        times = [item.get(key) if key else None for item in items]
        if any(isinstance(t, str) and _offset_minutes(t) for t in times):
            data["utc_offset_minutes"] = pd.Series(
                [float(_offset_minutes(t)) if isinstance(t, str) else np.nan for t in times],
                dtype="float64",
            )
    df = pd.DataFrame(data, index=pd.RangeIndex(len(items)))
    totals = [p.get("total") for p in pages if isinstance(p.get("total"), int)]
    if totals:
        df.attrs["total"] = totals[0]
    return df


def _convert_json(
    raw: pd.Series, *, name: str, key: str, kind: str, ctx: ParseContext, member: str | None
) -> pd.Series:
    blank = raw.isna() | raw.map(lambda v: isinstance(v, str) and not v.strip())
    if kind == "float":
        # "NaN", "null", "N/A" as strings: missing, but counted and announced.
        marked = raw.map(lambda v: isinstance(v, str) and v.strip().casefold() in MISSING_MARKERS)
        marked = marked.astype(bool)
        if marked.any():
            ctx.note_markers(name, int(marked.sum()))
            blank = blank | marked
    if kind in ("cat", "text"):
        values = raw.where(~blank).map(lambda v: v if v is None or isinstance(v, str) else str(v))
        return values.astype("category") if kind == "cat" else values.astype("str")
    if kind == "float":
        # JSON true/false is not a quantity (pandas would read it as 1/0).
        flags = raw.map(lambda v: isinstance(v, bool | np.bool_)).astype(bool)
        conv = pd.to_numeric(raw.where(~blank & ~flags), errors="coerce").astype("float64")
        conv = conv.where(np.isfinite(conv))  # 1e999 is infinity: a broken value
    else:
        conv = pd.to_datetime(
            # Zone-less (UTC implied), also written 2026-10-01'T'00:00:00 in the spec.
            raw.where(~blank).astype("str").str.replace("'T'", "T", regex=False),
            utc=True,
            errors="coerce",
            format="ISO8601",
        ).astype(U.UTC_NS)
    bad = np.flatnonzero((conv.isna() & ~blank).to_numpy())
    if len(bad):
        first = [(int(i) + 1, raw.iloc[int(i)]) for i in bad[: defaults.MAX_BAD_ROWS_SHOWN]]
        listed = ", ".join(f"item {i}: {v!r}" for i, v in first)
        if ctx.errors == "raise":
            raise ReportParseError(
                f"{len(bad)} value(s) do not convert (first: {listed}); "
                "pass errors='coerce' to turn them into missing values",
                file=ctx.label,
                member=member,
                column=key,
                expected="a finite number" if kind == "float" else "an ISO 8601 date and time",
                bad_rows=first,
            )
        ctx.note_coerced(name, len(bad), f"first: {listed}")
    return conv


# --- unified -------------------------------------------------------------------


def infer_detail_level(start: pd.Series) -> str:
    """``"hour"``, ``"day"`` or ``"month"`` from the timestamps; ``"summarized"`` when none.

    Any time other than midnight means hourly rows; two or more midnights that
    all fall on the first of consecutive months, one each, mean monthly rows; other
    midnights mean daily rows (a sparse daily file whose days happen to be firsts of
    months with a gap between them stays daily). Offsets are taken out first: pass
    the wall-clock times. A single date is never widened to a month (a one-day report that starts
    on the 1st would then cover 30 days): it is a day. Pass ``detail_level="month"``
    for a one-month monthly report.
    """
    values = pd.DatetimeIndex(start.dropna().unique())
    if len(values) == 0:
        return "summarized"
    if (values != values.floor("D")).any():
        return "hour"
    if len(values) > 1 and (values.day == 1).all():
        months = np.unique(values.year * 12 + values.month)
        if len(months) == len(values) and (np.diff(months) == 1).all():
            return "month"
    return "day"


def _end(start: pd.Series, level: str) -> pd.Series:
    if level == "hour":
        return start + pd.Timedelta(hours=1)
    if level == "day":
        return start + pd.Timedelta(days=1)
    # Month arithmetic is done once per distinct timestamp, not once per row.
    codes, uniques = pd.factorize(start)
    ends = pd.DatetimeIndex(uniques) + pd.DateOffset(months=1)
    out = pd.Series(ends.take(codes, allow_fill=True, fill_value=pd.NaT), index=start.index)
    return out.astype(U.UTC_NS)


def unify(
    df: pd.DataFrame,
    *,
    kind: str,
    detail_level: str | None = None,
) -> tuple[dict[str, pd.Series], dict[str, Any]]:
    """Unified columns from a HERE provider frame, and attrs to add."""
    if detail_level is not None and detail_level not in DETAIL_LEVELS:
        raise InvalidParameter(
            "detail_level", f"must be one of {DETAIL_LEVELS}, not {detail_level!r}"
        )
    idx = df.index
    get = df.get
    if "usage_date_time" in df.columns:
        start = df["usage_date_time"]
        start = (
            start
            if str(start.dtype) == U.UTC_NS
            else pd.to_datetime(start, utc=True).astype(U.UTC_NS)
        )
    else:
        start = U.missing(idx, U.UTC_NS)
    # Written with offsets: the grain is decided on the clock the times were written
    # in (local midnights are days, not hours at 22:00Z); hours are then exact UTC.
    offset = get("utc_offset_minutes")
    shift = (
        pd.to_timedelta(offset.fillna(0), unit="min")
        if offset is not None
        else pd.Series(pd.Timedelta(0), index=idx)
    )
    wall = start + shift
    level = detail_level or infer_detail_level(wall)
    if level == "summarized" or start.isna().all():
        end = U.missing(idx, U.UTC_NS)
    elif level == "hour":
        end = _end(start, level)
    else:
        # A day or a month is the calendar day or month written, whatever zone's it
        # was: the row of 2026-10-01T00:00:00+02:00 is October 1st, in October.
        start = wall.astype(U.UTC_NS)
        end = _end(start, level)
    usage = get("usage_value")
    billable = get("billable_value")
    if usage is not None and billable is not None:
        quantity = usage.where(usage.notna(), billable)
    else:
        quantity = usage if usage is not None else billable
    resource_hrn = get("resource_hrn")
    app_name = get("app_name")
    if resource_hrn is not None and app_name is not None:
        resource_name = U.text(app_name).where(resource_hrn.isna())
    else:
        resource_name = app_name
    unit = get("value_driver")
    cols: dict[str, pd.Series | None] = {
        "provider": U.const(PROVIDER, idx),
        "account_id": get("realm_id"),
        "account_name": get("org_name"),
        "product": _coalesce_present(app_name, get("app_id"), get("project_hrn")),
        "resource_id": _coalesce_present(resource_hrn, get("app_id")),
        "resource_name": resource_name,
        "meter_id": get("feature_id"),
        "meter": _coalesce_present(get("name"), get("feature_id")),
        "category": get("category"),
        "period_start": start,
        "period_end": end,
        "quantity": quantity,
        "unit": unit,
        "billable_quantity": billable,
        "billable_unit": unit,
        # Extra columns: HERE bills and tags by these, the unified schema has no place.
        "project": get("project_hrn"),
        "billing_tag": get("billing_tag"),
    }
    return {k: v for k, v in cols.items() if v is not None}, {"detail_level": level}


def _coalesce_present(*columns: pd.Series | None) -> pd.Series | None:
    present = [c for c in columns if c is not None]
    return U.coalesce(*present) if present else None
