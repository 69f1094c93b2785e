"""Particle data operations reports: ``devices`` and ``products``, long or wide layout.

Particle does not document the report's columns, so they are found by meaning:
a device id column by its name (``Device ID``, ``device_id``, ``deviceId``,
``coreid``...) or, failing that, by its values (24 hexadecimal characters); the
date or period; the product; and the data operation counts, as a total and/or
split by kind (publishes, subscribes, function calls, variable reads). A wide
export (one row per device, one column per day) is melted to the long layout:
one row per device (or product) per day, the day's count in
``total_data_operations``. ``column_map`` names any column the reader misses.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .. import defaults
from ..errors import ReportParseError
from . import _unified as U
from ._csv import (
    Field,
    Layout,
    ParseContext,
    Sniffed,
    check_columns,
    column_names,
    conflict_error,
    match_fields,
    parse,
    satisfied,
)
from ._source import Member

PROVIDER = "particle"
KINDS = ("devices", "products")
UNIT = "data operations"
METER_ID = "data_operations"
METER = "Data Operations"
KIND_COLUMNS = ("publishes", "subscribes", "function_calls", "variable_reads")
OPS = ("total_data_operations", *KIND_COLUMNS)
# Keys of Arrow schema metadata that become attrs of the provider frame.
META_LAYOUT, META_PERIOD = b"ua.layout", b"ua.period"

_F = Field
FIELDS: tuple[Field, ...] = (
    _F(
        "date",
        "date",
        "Date",
        ("day", "period", "month", "usage date", "report date", "period start", "start date"),
    ),
    _F(
        "end_date",
        "date",
        "End Date",
        ("period end", "date period end", "to date", "date to", "until"),
    ),
    _F(
        "device_id",
        "cat",
        "Device ID",
        ("device", "coreid", "core id", "particle device id", "device identifier"),
        meanings=(frozenset({"device", "id"}),),
        unless=frozenset({"name", "product"}),
    ),
    _F("device_name", "cat", "Device Name", ("name",)),
    _F("product_id", "cat", "Product ID", ("productid",)),
    _F("product_name", "cat", "Product Name", ("product",)),
    _F("publishes", "float", "Publishes", ("publish", "published", "events published", "events")),
    _F("subscribes", "float", "Subscribes", ("subscribe", "subscriptions")),
    _F("function_calls", "float", "Function Calls", ("functions", "function", "function call")),
    _F(
        "variable_reads",
        "float",
        "Variable Reads",
        ("variables", "variable", "variable read", "variable requests"),
    ),
    _F(
        "total_data_operations",
        "float",
        "Total Data Operations",
        (
            "data operations",
            "data ops",
            "total data ops",
            "total",
            "total ops",
            "operations",
            "data operations count",
            "data operation count",
        ),
        # "Data Operations Used", "Data Ops (total)", "Total data operations billed"...
        meanings=(frozenset({"data", "operations"}),),
        unless=frozenset({"limit", "remaining", "allowance", "included", "max"}),
    ),
    _F("devices", "float", "Devices", ("device count", "number of devices", "active devices")),
)
LAYOUTS: dict[str, Layout] = {
    "devices": Layout(
        PROVIDER,
        "devices",
        FIELDS,
        signature=(("device_id",), ("date",), OPS),
        required=(("device_id",), ("date",), OPS),
    ),
    "products": Layout(
        PROVIDER,
        "products",
        FIELDS,
        signature=(("product_id", "product_name"), ("date",), OPS),
        required=(("product_id", "product_name"), ("date",), OPS),
    ),
}
_HEX = re.compile(defaults.PARTICLE_DEVICE_ID_PATTERN)
_DAY = re.compile(r"^\s*(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]00:00(?::00(?:\.0+)?)?Z?)?\s*$")
_MONTH = re.compile(r"^\s*(\d{4})[-/](\d{1,2})\s*$")
# 10/02/2026, 02.10.2026 (a time of midnight may follow): day or month first.
_SLASHED = re.compile(r"^\s*(\d{1,2})([/.])(\d{1,2})\2(\d{4})(?:[ T]00:00(?::00(?:\.0+)?)?)?\s*$")
# A header that names a time: digits and date separators only (and an optional time).
_DATE_LIKE = re.compile(r"^\s*\d{1,4}[-/.]\d{1,2}(?:[-/.]\d{1,4})?(?:[ T][\d:.]+Z?)?\s*$")


def _header_date(
    text: str, dayfirst: bool | None = None
) -> tuple[pd.Timestamp, str] | tuple[tuple[pd.Timestamp | None, pd.Timestamp | None], str] | None:
    """A wide layout's column header as (UTC day, "day"/"month"), or None.

    A slash date that reads both ways gives ((month-first, day-first), "slash")
    unless ``dayfirst`` says which.
    """
    m = _DAY.match(text)
    period = "day"
    if not m:
        m = _MONTH.match(text)
        period = "month"
    if not m:
        s = _SLASHED.match(text)
        if not s:
            return None
        a, sep, b, year = int(s.group(1)), s.group(2), int(s.group(3)), int(s.group(4))
        if sep == ".":
            dayfirst = True if dayfirst is None else dayfirst  # 02.10.2026 is day-first
        month_first = _day(year, a, b)
        day_first = _day(year, b, a)
        if dayfirst is True:
            return (day_first, "day") if day_first is not None else None
        if dayfirst is False:
            return (month_first, "day") if month_first is not None else None
        if month_first is None and day_first is None:
            return None
        return (month_first, day_first), "slash"
    try:
        parts = [int(g) for g in m.groups()] + ([1] if period == "month" else [])
        return pd.Timestamp(*parts[:3], tz="UTC"), period
    except ValueError:
        return None


def _day(year: int, month: int, day: int) -> pd.Timestamp | None:
    try:
        return pd.Timestamp(year, month, day, tz="UTC")
    except ValueError:
        return None


def _hex_column(sniffed: Sniffed, taken: set[int]) -> int | None:
    """The position of a column whose sample values are all Particle device ids."""
    for pos in range(len(sniffed.header)):
        if pos in taken:
            continue
        values = [r[pos].strip() for r in sniffed.rows if pos < len(r) and r[pos].strip()]
        if values and all(_HEX.match(v) for v in values):
            return pos
    return None


class _Shape:
    """How a Particle CSV is laid out: its matched columns, kind, layout and period."""

    def __init__(
        self,
        sniffed: Sniffed,
        column_map: Mapping[str, str] | None = None,
        dayfirst: bool | None = None,
    ) -> None:
        self.wide_dates: dict[int, tuple[pd.Timestamp, str]] = {}
        self.conflicts: list[tuple[str, list[int]]] = []
        # Day headers that read both as month-first and day-first, and no rule settles it.
        self.ambiguous: list[int] = []
        found = match_fields(sniffed.header, FIELDS, column_map, conflicts=self.conflicts)
        if "date" not in found.values():
            slashed: dict[int, tuple[pd.Timestamp | None, pd.Timestamp | None]] = {}
            for pos, text in enumerate(sniffed.header):
                if pos in found or not (hit := _header_date(text, dayfirst)):
                    continue
                if hit[1] == "slash":
                    slashed[pos] = hit[0]  # type: ignore[assignment]
                else:
                    self.wide_dates[pos] = hit  # type: ignore[assignment]
            if slashed:
                self._resolve(slashed)
        if "device_id" not in found.values():
            hex_pos = _hex_column(sniffed, set(found) | set(self.wide_dates))
            if hex_pos is not None:
                # The 24-hex values identify the device id column whatever its header.
                found = {k: v for k, v in found.items() if k != hex_pos}
                found[hex_pos] = "device_id"
        self.found = found
        self.layout = "wide" if self.wide_dates else "long"
        names = set(found.values())
        if "device_id" in names:
            self.kind: str | None = "devices"
        elif names & {"product_id", "product_name"}:
            self.kind = "products"
        else:
            self.kind = None
        have = names | ({"date", "total_data_operations"} if self.wide_dates else set())
        self.recognised = self.kind is not None and satisfied(LAYOUTS[self.kind].signature, have)
        date_pos = [p for p, n in found.items() if n == "date"]
        self.period = "day"
        if self.wide_dates:
            periods = {p for _, p in self.wide_dates.values()}
            self.period = "month" if periods == {"month"} else "day"
        elif date_pos:
            header = sniffed.header[date_pos[0]]
            values = [r[date_pos[0]] for r in sniffed.rows if date_pos[0] < len(r)]
            if re.sub(r"[^a-z]", "", header.casefold()) == "month" or (
                values and all(_MONTH.match(v) for v in values if v.strip())
            ):
                self.period = "month"

    def _resolve(self, slashed: dict[int, tuple[pd.Timestamp | None, pd.Timestamp | None]]) -> None:
        """Slash-date headers: the order every header reads in, else the one giving daily steps."""
        orders = []
        for k in (0, 1):
            days = [v[k] for v in slashed.values()]
            if all(d is not None for d in days):
                orders.append(k)
        if len(orders) == 2:
            daily = [k for k in orders if _daily([v[k] for v in slashed.values()])]
            orders = daily if len(daily) == 1 else orders
        if len(orders) != 1:
            self.ambiguous = list(slashed)
            for pos, (first, second) in slashed.items():
                day = first or second
                assert day is not None
                self.wide_dates[pos] = (day, "day")
            return
        for pos, pair in slashed.items():
            day = pair[orders[0]]
            assert day is not None
            self.wide_dates[pos] = (day, "day")


def _daily(days: list[pd.Timestamp | None]) -> bool:
    """True when the days, sorted, are one day apart."""
    stamps = sorted(d for d in days if d is not None)
    return len(stamps) > 1 and all(
        (b - a) == pd.Timedelta(days=1) for a, b in itertools.pairwise(stamps)
    )


def detect_csv(sniffed: Sniffed) -> str | None:
    """``"devices"``/``"products"`` when the CSV reads as a Particle report, else None."""
    shape = _Shape(sniffed)
    return shape.kind if shape.recognised else None


def default_kind(sniffed: Sniffed) -> str:
    """The kind to read a CSV as when ``provider="particle"`` is forced."""
    return _Shape(sniffed).kind or "devices"


def guess_kind(df: pd.DataFrame) -> str:
    """The kind of a Particle provider frame that lost its attrs."""
    return "devices" if "device_id" in df.columns else "products"


def read_csv(
    member: Member,
    sniffed: Sniffed,
    *,
    kind: str,
    ctx: ParseContext,
    column_map: Mapping[str, str] | None,
) -> pa.Table:
    """Parse one Particle CSV into a typed Arrow table in the long layout."""
    shape = _Shape(sniffed, column_map, ctx.dayfirst)
    layout = LAYOUTS[kind]
    # Columns found by value (the hex device ids) are handed on as a column map.
    effective = {name: sniffed.header[pos] for pos, name in shape.found.items()}
    for name, positions in shape.conflicts:
        raise conflict_error(layout, sniffed, member, ctx, name, positions)
    if shape.layout == "wide":
        _refuse_wide_totals(sniffed, shape, member, ctx)
        _check_wide_columns(sniffed, shape, member, ctx)
        check_columns(
            Layout(PROVIDER, kind, FIELDS, (), layout.required[:1]),
            sniffed,
            member,
            ctx,
            effective,
        )
        table = _read_wide(member, sniffed, ctx, shape)
    else:
        found = check_columns(layout, sniffed, member, ctx, effective, user_map=column_map or {})
        names = column_names(sniffed.header, found)
        table = parse(member, sniffed, ctx, names=names, types={f.name: f.type for f in FIELDS})
    meta = {META_LAYOUT: shape.layout.encode(), META_PERIOD: shape.period.encode()}
    return table.replace_schema_metadata(meta)


def _refuse_wide_totals(sniffed: Sniffed, shape: _Shape, member: Member, ctx: ParseContext) -> None:
    """A wide export's day columns hold the counts: a total column beside them means them twice."""
    ops = [p for p, n in shape.found.items() if n in OPS]
    if not ops:
        return
    total = sniffed.header[ops[0]]
    days = [sniffed.header[p] for p in shape.wide_dates]
    raise ReportParseError(
        f"column {total!r} and the day columns ({days[0]!r} ... {days[-1]!r}) both hold data "
        "operations: reading both would count every operation twice; remove the total column "
        "(the day columns are read)",
        file=ctx.label,
        member=member.name,
        line=1,
        column=total,
        expected="a wide export with one column per day and no total column",
        candidates=[total, days[0]],
    )


def _wide_error(
    message: str,
    sniffed: Sniffed,
    member: Member,
    ctx: ParseContext,
    positions: list[int],
    expected: str,
) -> ReportParseError:
    headers = [sniffed.header[p] for p in positions]
    return ReportParseError(
        message,
        file=ctx.label,
        member=member.name,
        line=1,
        column=headers[0],
        expected=expected,
        candidates=headers,
    )


def _check_wide_columns(sniffed: Sniffed, shape: _Shape, member: Member, ctx: ParseContext) -> None:
    """Every column of a wide export is read or named in an error: no day counted twice or lost."""
    header = sniffed.header
    if shape.ambiguous:
        first = header[shape.ambiguous[0]]
        raise _wide_error(
            f"the day columns ({first!r} ...) read both as month/day and as day/month; "
            "pass dayfirst=True for DD/MM/YYYY or dayfirst=False for MM/DD/YYYY",
            sniffed,
            member,
            ctx,
            shape.ambiguous,
            "day headers whose day/month order is clear, or dayfirst=",
        )
    by_day: dict[pd.Timestamp, list[int]] = {}
    for pos, (day, _) in shape.wide_dates.items():
        by_day.setdefault(day, []).append(pos)
    for day, positions in by_day.items():
        if len(positions) > 1:
            names = " and ".join(repr(header[p]) for p in positions)
            raise _wide_error(
                f"columns {names} are the same day ({day.date()}): adding them could count "
                "that day twice; remove one",
                sniffed,
                member,
                ctx,
                positions,
                "one column per day",
            )
    periods = {p for _, p in shape.wide_dates.values()}
    if len(periods) > 1:
        months = [p for p, (_, k) in shape.wide_dates.items() if k == "month"]
        raise _wide_error(
            f"the export mixes month columns ({header[months[0]]!r}) with day columns: a month "
            "column would count its days twice",
            sniffed,
            member,
            ctx,
            months,
            "one column per day, or one per month",
        )
    unread = []
    for pos, text in enumerate(header):
        if pos in shape.found or pos in shape.wide_dates:
            continue
        values = [r[pos].strip() for r in sniffed.rows if pos < len(r) and r[pos].strip()]
        if _DATE_LIKE.match(text) or (values and all(_NUMBER.match(v) for v in values)):
            unread.append(pos)
    if unread:
        names = ", ".join(repr(header[p]) for p in unread)
        raise _wide_error(
            f"column(s) {names} hold numbers or look like a period, but their header is not a "
            "day this reader understands (YYYY-MM-DD, YYYY-MM, MM/DD/YYYY, DD.MM.YYYY): "
            "their counts would be lost; rename them or remove them",
            sniffed,
            member,
            ctx,
            unread,
            "one column per day headed by its date",
        )


_NUMBER = re.compile(r"^[-+]?(?:\d[\d,. ']*)?\d(?:[eE][-+]?\d+)?$")


def _read_wide(member: Member, sniffed: Sniffed, ctx: ParseContext, shape: _Shape) -> pa.Table:
    header = sniffed.header
    names = column_names(
        header, {**shape.found, **{p: f"day_{i}" for i, p in enumerate(shape.wide_dates)}}
    )
    types = {n: "float" for n in names if n.startswith("day_")}
    types |= {f.name: f.type for f in FIELDS}
    table = parse(member, sniffed, ctx, names=names, types=types)
    day_cols = [names[p] for p in shape.wide_dates]
    id_cols = [n for n in names if n not in day_cols]
    n, k = table.num_rows, len(day_cols)
    # Melt in Arrow: each id column repeated once per day, the day columns
    # interleaved row by row, so a device's days stay together.
    ids = table.select(id_cols).take(pa.array(np.repeat(np.arange(n), k)))
    counts = np.column_stack(
        [table.column(c).to_numpy(zero_copy_only=False) for c in day_cols]
    ).ravel()
    stamps = pd.DatetimeIndex([d for d, _ in shape.wide_dates.values()]).as_unit("ns")
    days = pa.array(np.tile(stamps.tz_convert(None).to_numpy(), n), pa.timestamp("ns", "UTC"))
    long = ids.add_column(0, "date", days)
    return long.append_column("total_data_operations", pa.array(counts, pa.float64()))


def table_attrs(table: pa.Table) -> dict[str, Any]:
    """Attrs carried in a Particle table's schema metadata."""
    meta = table.schema.metadata or {}
    out = {}
    if META_LAYOUT in meta:
        out["layout"] = meta[META_LAYOUT].decode()
    if META_PERIOD in meta:
        out["period"] = meta[META_PERIOD].decode()
    return out


# --- unified -------------------------------------------------------------------


def _period(df: pd.DataFrame) -> str:
    period = df.attrs.get("period")
    if period in ("day", "month"):
        return str(period)
    days = pd.DatetimeIndex(df["date"].dropna().unique() if "date" in df.columns else [])
    if len(days) > 1 and (days.day == 1).all():
        return "month"
    return "day"


def _stated_end(start: pd.Series, stated: pd.Series) -> pd.Series:
    """The exclusive period end from a file's own end dates.

    A date names a day that is covered (a one-day row says 2026-10-01 twice), so
    it ends a day later; only ends that are all the first of a month, after starts
    that are too, are taken as already exclusive (a month written [start, next)).
    Rows without an end keep a one-day period.
    """
    first = (stated.dt.day == 1) & (start.dt.day == 1) & (stated > start)
    known = stated.notna()
    exclusive = bool(known.any() and first[known].all())
    end = stated if exclusive else stated + pd.Timedelta(days=1)
    if (known & (end <= start)).any():
        bad = int(np.flatnonzero((known & (end <= start)).to_numpy())[0])
        raise ReportParseError(
            f"row {bad + 1} ends ({stated.iloc[bad]}) before it starts ({start.iloc[bad]})",
            column="end_date",
            expected="an end date on or after the start date",
        )
    return end.where(known, start + pd.Timedelta(days=1))


def unify(df: pd.DataFrame, *, kind: str) -> tuple[dict[str, pd.Series | None], dict[str, Any]]:
    """Unified columns from a Particle provider frame: one row per device (product) and day."""
    if "date" not in df.columns:
        raise ReportParseError(
            "a Particle frame needs a 'date' column", expected="the frame read_report returned"
        )
    idx = df.index
    get = df.get
    total = get("total_data_operations")
    split = [df[c] for c in KIND_COLUMNS if c in df.columns]
    if total is not None and (not split or not total.isna().any()):
        quantity = total  # complete: the per-kind columns are not needed (nor summed)
    else:
        kinds_sum = pd.concat(split, axis=1).sum(axis=1, min_count=1) if split else None
        if total is None:
            quantity = kinds_sum
        else:
            quantity = total.where(total.notna(), kinds_sum)
    if quantity is None:
        raise ReportParseError(
            "a Particle frame needs 'total_data_operations' or the per-kind counts",
            expected=", ".join(OPS),
        )
    period = _period(df)
    start = df["date"]
    stated = get("end_date")
    if stated is not None and stated.notna().any():
        end = _stated_end(start, stated)
        period = "stated"
    elif period == "month":
        codes, uniques = pd.factorize(start)
        ends = pd.DatetimeIndex(uniques) + pd.DateOffset(months=1)
        end = pd.Series(ends.take(codes, allow_fill=True, fill_value=pd.NaT), index=idx)
    else:
        end = start + pd.Timedelta(days=1)
    product = (
        U.coalesce(*(c for c in (get("product_name"), get("product_id")) if c is not None))
        if ("product_name" in df.columns or "product_id" in df.columns)
        else None
    )
    if kind == "devices":
        resource_id, resource_name = get("device_id"), get("device_name")
    else:
        resource_id = U.coalesce(
            *(c for c in (get("product_id"), get("product_name")) if c is not None)
        )
        resource_name = get("product_name")
    unit = U.const(UNIT, idx)
    cols: dict[str, pd.Series | None] = {
        "provider": U.const(PROVIDER, idx),
        "product": product,
        "resource_id": resource_id,
        "resource_name": resource_name,
        "meter_id": U.const(METER_ID, idx),
        "meter": U.const(METER, idx),
        "category": U.const("device" if kind == "devices" else "product", idx),
        "period_start": start,
        "period_end": end,
        "quantity": quantity,
        "unit": unit,
        "billable_quantity": quantity,
        "billable_unit": unit,
    }
    attrs = {"period": period} if period != "stated" else {"period": "stated in the file"}
    return {k: v for k, v in cols.items() if v is not None}, attrs
