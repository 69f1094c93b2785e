"""Issue 18, readers: each class of wrong total, and the property that proves it fixed.

Every test generates its variants (hypothesis); none lists the cases it expects.

1. **Summary rows** (``readers/_summary.py``, the rule in its docstring). Property:
   for a generated report (devices x days, `,` or `;` with decimal commas) with
   summary rows of any label (English, German, Nordic, Russian, Chinese, none), in
   any position (bottom, right under the header, followed by an Average row or a
   footer line, Excel-style subtotals per day with or without a grand total), the
   frame holds exactly the data rows and their sum. A labelled summary row that
   does not add up raises ReportParseError naming its line; a real device named
   like a total ("Total Tracker") and the rows of a two-row report are never lost.
2. **ZIP members counted twice** (``_archive.member_key``, ``_source._drop_copies``,
   ``_overlap.drop_covered``, ``_archive.split_concatenated``). Property: whatever
   the name form of a second copy (``./``, ``//``, case, NFD), a nested
   ``backup.zip`` copy, or an all-orgs summary beside the per-org files it sums,
   the total read is the true total or the archive is refused; concatenated ZIPs
   lose no member.
3. **Numbers** (``_values.number_convention`` / ``to_float``). Property: values
   written in a `;` file with decimal commas, in plain, grouped or scientific
   notation (``1,2E-01``, ``1E-07``), read back as the values written.
4. **Wide exports** (``particle._Shape`` / ``_check_wide_columns``). Property: day
   headers in any of the generated spellings (ISO, ISO with midnight, US slash,
   dotted day-first) read as their days with the right total; the same day twice,
   or a column holding numbers under a header that is no day, raises naming it.
5. **Saved JSON pages** (``here.check_pages``). Property: the pages of a generated
   search read as every item once; a repeated page or a missing page raises.
6. **Excel** (``__init__._pick_sheets``, ``_excel.sheets``). Property: for generated
   workbooks, only the visible report sheets are read (hidden ones are named in an
   ExcelSheetsWarning), every visible report sheet is read, and a formula without
   a saved value raises.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import itertools
import json
import unicodedata
import warnings
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from usage_analysis.errors import ReportParseError
from usage_analysis.readers import read_report

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HEADER = ["Date", "Device ID", "Device Name", "Product ID", "Product Name", "Total Data Operations"]
LABELS = [
    "Total",
    "Grand Total",
    "Gesamtergebnis",
    "Totalt",
    "Итого",
    "合计",
    "Subtotal",
    "Fleet Total",
    "SUM:",
    "",
]


def _quiet(fn: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


def _dev(i: int) -> str:
    return f"{i:024x}"


@st.composite
def reports(draw: Any) -> tuple[list[list[str]], list[float]]:
    """Data rows (text cells) of a long Particle report and their values."""
    devices = draw(st.integers(1, 4))
    days = draw(st.integers(1, 4))
    rows, values = [], []
    for d in range(days):
        for k in range(devices):
            value = draw(st.integers(0, 5000)) / draw(st.sampled_from([1, 10, 100]))
            day = (dt.date(2026, 10, 1) + dt.timedelta(days=d)).isoformat()
            rows.append([day, _dev(k + 1), f"dev{k}", "31021", "Tracker", repr(value)])
            values.append(value)
    return rows, values


def _render(rows: list[list[str]], sep: str) -> bytes:
    lines = [HEADER, *rows]
    if sep == ";":
        lines = [[c.replace(".", ",") if i == 5 else c for i, c in enumerate(r)] for r in lines]
    return ("\n".join(sep.join(r) for r in lines) + "\n").encode()


def _summary_row(label: str, value: float, where: int) -> list[str]:
    row = ["", "", "", "", "", repr(round(value, 6))]
    row[where] = label
    return row


def _total(values: list[float]) -> float:
    return round(sum(values), 6)


@pytest.mark.slow
@given(
    reports(),
    st.sampled_from(LABELS),
    st.sampled_from([0, 1, 2]),
    st.sampled_from(["bottom", "top", "average", "footer", "subtotals", "subtotals+grand"]),
    st.sampled_from([",", ";"]),
)
@SETTINGS
def test_summary_rows_are_left_out_whatever_their_label_and_position(
    report: tuple[list[list[str]], list[float]], label: str, where: int, shape: str, sep: str
) -> None:
    rows, values = report
    assume(sum(values) > 0)
    out = [list(r) for r in rows]
    if shape == "top":
        out.insert(0, _summary_row(label, sum(values), where))
    elif shape in ("bottom", "average", "footer"):
        out.append(_summary_row(label, _total(values), where))
        if shape == "average":
            avg = _summary_row("Average", round(sum(values) / len(values), 6), where)
            out.append(avg)
        if shape == "footer":
            out.append(["Generated 2026-11-02 by the console", "", "", "", "", ""])
    else:
        out = []
        for day in sorted({r[0] for r in rows}):
            group = [r for r in rows if r[0] == day]
            out += [list(r) for r in group]
            sub = sum(float(r[5]) for r in group)
            tag = f"{day} {label}".strip() if where == 0 else label
            out.append(_summary_row(tag, round(sub, 6), where))
        if shape == "subtotals+grand":
            out.append(_summary_row(label or "Grand Total", _total(values), where))
    df = _quiet(lambda: read_report(_render(out, sep)))
    assert len(df) == len(rows)
    assert df["total_data_operations"].sum() == pytest.approx(sum(values), abs=1e-6)
    assert df["device_id"].notna().all()


@pytest.mark.slow
@given(reports(), st.sampled_from([x for x in LABELS if x]), st.sampled_from([0, 1, 2]))
@SETTINGS
def test_a_labelled_row_that_does_not_add_up_raises_naming_its_line(
    report: tuple[list[list[str]], list[float]], label: str, where: int
) -> None:
    rows, values = report
    wrong = sum(values) + 1000.5
    assume(all(abs(wrong - v) > 1 for v in values))
    text = _render([*rows, _summary_row(label, wrong, where)], ",")
    with pytest.raises(ReportParseError) as err:
        read_report(text)
    assert err.value.line == len(rows) + 2
    assert err.value.column == "total_data_operations"


@pytest.mark.slow
@given(
    reports(), st.sampled_from(["Total Tracker", "Fleet Total", "Summe", "Итого"]), st.booleans()
)
@SETTINGS
def test_a_real_device_named_like_a_total_is_never_lost(
    report: tuple[list[list[str]], list[float]], name: str, equal: bool
) -> None:
    rows, values = report
    value = sum(values) if equal else sum(values) + 3.0
    day = rows[-1][0]
    real = [day, _dev(99), name, "", "", repr(value)]  # a sandbox device: no product
    df = _quiet(lambda: read_report(_render([*rows, real], ",")))
    assert len(df) == len(rows) + 1
    assert df["total_data_operations"].sum() == pytest.approx(sum(values) + value)


@pytest.mark.slow
@given(st.integers(0, 1000), st.sampled_from(["", "x"]), st.booleans())
@SETTINGS
def test_a_two_row_report_keeps_both_rows(value: int, tag: str, missing_name: bool) -> None:
    rows = [
        ["2026-10-01", _dev(1), "a", "31021", "Tracker", str(value)],
        ["2026-10-01", _dev(2), "" if missing_name else f"b{tag}", "", "", str(value)],
    ]
    df = _quiet(lambda: read_report(_render(rows, ",")))
    assert len(df) == 2
    assert df["total_data_operations"].sum() == 2 * value


# --- 2. ZIP members ----------------------------------------------------------------

SUMMARY_HEADER = (
    "OrgId,MeterId,MeterName,Date,BillingPeriodStartDate,BillingPeriodEndDate,MeterUsage,"
    "IPU,Scalar,MetricCategory,OrgName,OrgType,IPURate\n"
)


def _summary_rows(org: str, ipus: list[int]) -> str:
    return "".join(
        f"{org},m1,Meter,2026-10-{d + 1:02d},2026-10-01,2026-10-31,{v * 10},{v},Compute Units,"
        f"DI,{org},Prod,0.1\n"
        for d, v in enumerate(ipus)
    )


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(buf, "w") as zf:
            for name, data in members:
                zf.writestr(name, data)
    return buf.getvalue()


def _forms(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from(
        [
            f"./{name}",
            name.upper(),
            name.replace("/", "//") if "/" in name else f".//{name}",
            unicodedata.normalize("NFD", name),
            name.replace("/", "\\") if "/" in name else f"./{name.swapcase()}",
        ]
    )


ORG = st.sampled_from(["orgA", "orgé", "ORGb"])
IPUS = st.lists(st.integers(1, 500), min_size=1, max_size=5)


@given(ORG, IPUS, st.data(), st.booleans(), st.sampled_from(["", "exports/"]))
@SETTINGS
def test_a_member_under_a_second_name_form_is_never_counted_twice(
    org: str, ipus: list[int], data: st.DataObject, same: bool, folder: str
) -> None:
    name = unicodedata.normalize("NFC", f"{folder}MeteringSummary_{org}.csv")
    other = data.draw(_forms(name))
    assume(other != name)
    body = SUMMARY_HEADER + _summary_rows(org, ipus)
    second = body if same else SUMMARY_HEADER + _summary_rows(org, [i + 1 for i in ipus])
    archive = _zip([(name, body.encode()), (other, second.encode())])
    try:
        df = _quiet(lambda: read_report(archive))
    except ReportParseError:
        return  # refused: fine, never a double count
    assert df["ipu"].sum() == sum(ipus)


@pytest.mark.slow
@given(st.lists(ORG, min_size=1, max_size=3, unique=True), IPUS, st.integers(0, 2))
@SETTINGS
def test_copies_across_nesting_and_an_all_orgs_file_count_once(
    orgs: list[str], ipus: list[int], extra: int
) -> None:
    per_org = [
        (f"MeteringSummary_{o}.csv", (SUMMARY_HEADER + _summary_rows(o, ipus)).encode())
        for o in orgs
    ]
    combined = SUMMARY_HEADER + "".join(_summary_rows(o, ipus) for o in orgs)
    members = list(per_org)
    if extra >= 1:
        members.append(("MeteringSummary_AllOrgs.csv", combined.encode()))
    if extra >= 2 or extra == 0:
        members.append(("backup.zip", _zip(per_org[:1])))
    df = _quiet(lambda: read_report(_zip(members)))
    assert df["ipu"].sum() == sum(ipus) * len(orgs)


@pytest.mark.slow
@given(st.lists(IPUS, min_size=2, max_size=4))
@SETTINGS
def test_concatenated_zips_lose_no_member(parts: list[list[int]]) -> None:
    data = b"".join(
        _zip(
            [
                (
                    f"MeteringSummary_org{i}.csv",
                    (SUMMARY_HEADER + _summary_rows(f"org{i}", p)).encode(),
                )
            ]
        )
        for i, p in enumerate(parts)
    )
    df = _quiet(lambda: read_report(data))
    assert df["ipu"].sum() == sum(map(sum, parts))


# --- 3. Numbers ----------------------------------------------------------------------


def _notations(value: float) -> st.SearchStrategy[str]:
    def plain() -> str:
        return repr(value).replace(".", ",")

    def sci() -> str:
        mantissa, exp = f"{value:.6E}".split("E")
        return f"{mantissa.rstrip('0').rstrip('.').replace('.', ',')}E{exp}"

    def grouped() -> str:
        whole, _, frac = f"{value:,.4f}".partition(".")
        return whole.replace(",", ".") + "," + frac

    return st.sampled_from([plain(), sci(), grouped(), sci().replace("E", "e")])


@pytest.mark.slow
@given(st.lists(st.floats(1e-8, 1e7, allow_nan=False), min_size=1, max_size=6), st.data())
@SETTINGS
def test_semicolon_numbers_read_as_written_in_any_notation(
    values: list[float], data: st.DataObject
) -> None:
    values = [float(f"{v:.6E}") for v in values]
    texts = [data.draw(_notations(v)) for v in values]
    rows = [["2026-10-01", _dev(i + 1), f"d{i}", t] for i, t in enumerate(texts)]
    rows.append(["2026-10-02", _dev(90), "anchor", "0,5"])  # one plain decimal comma
    text = "Date;Device ID;Device Name;Total Data Operations\n" + "".join(
        ";".join(r) + "\n" for r in rows
    )
    df = read_report(text.encode())
    got = df["total_data_operations"].tolist()
    for want, have in zip([*values, 0.5], got, strict=True):
        assert have == pytest.approx(want, rel=1e-4, abs=5e-5)


# --- 4. Wide exports -----------------------------------------------------------------

DAY_FORMATS = ["%Y-%m-%d", "%Y-%m-%d 00:00:00", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d"]


@pytest.mark.slow
@given(
    st.integers(2, 10),
    st.sampled_from(DAY_FORMATS),
    st.lists(st.integers(0, 999), min_size=20, max_size=20),
    st.integers(1, 3),
)
@SETTINGS
def test_wide_day_headers_in_any_spelling_read_as_their_days(
    days: int, fmt: str, counts: list[int], devices: int
) -> None:
    first = dt.date(2026, 10, 1)
    stamps = [first + dt.timedelta(days=i) for i in range(days)]
    header = ["Device ID", "Device Name", *(d.strftime(fmt) for d in stamps)]
    rows = [
        [_dev(k + 1), f"d{k}", *(str(counts[(k + i) % 20]) for i in range(days))]
        for k in range(devices)
    ]
    text = "\n".join(",".join(r) for r in [header, *rows]) + "\n"
    df = read_report(text.encode())
    assert sorted({d.date() for d in df["date"]}) == stamps
    assert df["total_data_operations"].sum() == sum(sum(map(int, r[2:])) for r in rows)


@given(st.integers(2, 6), st.sampled_from(DAY_FORMATS), st.sampled_from(DAY_FORMATS), st.data())
@SETTINGS
def test_a_wide_day_twice_or_an_unread_number_column_is_named_in_an_error(
    days: int, fmt: str, fmt2: str, data: st.DataObject
) -> None:
    stamps = [dt.date(2026, 10, 13) + dt.timedelta(days=i) for i in range(days)]
    header = ["Device ID", *(d.strftime(fmt) for d in stamps)]
    dup = data.draw(st.sampled_from(stamps))
    bad = data.draw(st.sampled_from([dup.strftime(fmt2), "Week 42", "2026-10-32", "Oct 3"]))
    header.append(bad)
    text = ",".join(header) + "\n" + ",".join([_dev(1), *["1"] * (days + 1)]) + "\n"
    with pytest.raises(ReportParseError) as err:
        read_report(text.encode())
    assert bad in (err.value.candidates or [err.value.column])


# --- 5. Saved JSON pages ---------------------------------------------------------------


def _items(n: int) -> list[dict[str, Any]]:
    return [
        {"usageDateTime": "2026-10-01T00:00:00", "featureId": f"f{i}", "billableValue": i + 1}
        for i in range(n)
    ]


def _pages_of(items: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    chunks = [items[i : i + limit] for i in range(0, len(items), limit)]
    return [
        {"total": len(items), "limit": limit, "items": c, "nextOffset": k + 1}
        for k, c in enumerate(chunks)
    ]


@given(st.integers(1, 30), st.integers(1, 8), st.sampled_from(["ok", "repeat", "drop", "twice"]))
@SETTINGS
def test_saved_pages_count_every_record_once_or_raise(n: int, limit: int, op: str) -> None:
    items = _items(n)
    pages = _pages_of(items, limit)
    if op == "repeat":
        pages.insert(len(pages) // 2 + 1, pages[len(pages) // 2])
    if op == "drop":
        assume(len(pages) > 1)
        del pages[len(pages) // 2]
    if op == "twice":
        pages = pages + pages
    if op == "ok":
        df = read_report(pages)
        assert df["billable_value"].sum() == n * (n + 1) / 2
        return
    with pytest.raises(ReportParseError):
        read_report(pages)
    with pytest.raises(ReportParseError):
        read_report(json.dumps(pages).encode())


# --- 6. Excel ---------------------------------------------------------------------------


def _workbook(sheets: list[tuple[str, list[list[Any]], str]]) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    for i, (name, rows, state) in enumerate(sheets):
        ws = wb.active if i == 0 else wb.create_sheet(name)
        ws.title = name
        for r in rows:
            ws.append(r)
        ws.sheet_state = state
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _sheet_rows(month: int, values: list[int]) -> list[list[Any]]:
    return [
        ["Date", "Device ID", "Total Data Operations"],
        *[[dt.datetime(2026, month, i + 1), _dev(i + 1), v] for i, v in enumerate(values)],
    ]


@pytest.mark.slow
@given(
    st.lists(
        st.tuples(st.sampled_from(["report", "notes"]), st.sampled_from(["visible", "hidden"])),
        min_size=1,
        max_size=4,
    ),
    st.lists(st.integers(0, 100), min_size=1, max_size=4),
)
@SETTINGS
def test_only_visible_report_sheets_are_read_and_hidden_ones_are_said(
    layout: list[tuple[str, str]], values: list[int]
) -> None:
    assume(any(s == "visible" for _, s in layout))
    sheets = []
    want, read, hidden = 0, 0, []
    for i, (what, state) in enumerate(layout):
        rows = _sheet_rows(i + 1, [v + i for v in values]) if what == "report" else [["notes"]]
        sheets.append((f"S{i}", rows, state))
        if what == "report" and state == "visible":
            want += sum(v + i for v in values)
            read += 1
        if state == "hidden":
            hidden.append(f"S{i}")
    data = _workbook(sheets)
    if not read:
        with pytest.raises(ReportParseError):
            _quiet(lambda: read_report(data))
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = read_report(data)
    assert df["total_data_operations"].sum() == want
    assert set(df.attrs["hidden_sheets"]) == set(hidden)
    said = " ".join(str(w.message) for w in caught)
    assert all(repr(h) in said for h in hidden)


@pytest.mark.slow
@given(st.lists(st.integers(0, 100), min_size=2, max_size=4), st.integers(0, 3))
@SETTINGS
def test_an_uncached_formula_is_refused_not_read_as_empty(values: list[int], at: int) -> None:
    rows = _sheet_rows(10, values)
    row = min(at, len(values) - 1) + 1
    rows[row][2] = "=1+1"
    with pytest.raises(ReportParseError, match="formula"):
        read_report(_workbook([("Usage", rows, "visible")]))


@pytest.mark.slow
def test_gzip_of_many_empty_members_reads_in_linear_time() -> None:
    import time

    body = b"Date,Device ID,Total Data Operations\n2026-10-01," + _dev(1).encode() + b",5\n"

    def build(n: int) -> bytes:
        return gzip.compress(body) + gzip.compress(b"") * n

    timings = []
    for n in (20_000, 80_000):
        data = build(n)
        start = time.perf_counter()
        df = read_report(data)
        timings.append(time.perf_counter() - start)
        assert df["total_data_operations"].sum() == 5
    assert timings[1] < 8 * max(timings[0], 0.05)


# --- Minor (reader side) -------------------------------------------------------------------

HERE_HEADER = "usageDateTime,realmId,featureId,billableValue\n"


@pytest.mark.slow
@given(
    st.integers(-12, 14),
    st.sampled_from([0, 30]),
    st.lists(st.integers(0, 60), min_size=1, max_size=5, unique=True),
    st.sampled_from(["day", "hour"]),
)
@SETTINGS
def test_here_times_with_offsets_keep_their_grain_and_their_day(
    hours: int, minutes: int, days: list[int], grain: str
) -> None:
    sign = "-" if hours < 0 else "+"
    offset = f"{sign}{abs(hours):02d}:{minutes if hours else 0:02d}"
    assume(offset not in ("+00:00", "-00:00"))
    first = dt.datetime(2026, 9, 20)
    if grain == "day":
        stamps = [first + dt.timedelta(days=d) for d in days]
    else:
        stamps = [first + dt.timedelta(hours=d) for d in days]
    text = HERE_HEADER + "".join(f"{s.isoformat()}{offset},r,f,1\n" for s in stamps)
    u = read_report(text.encode(), unified=True)
    months = sorted(t.year * 12 + t.month for t in stamps)
    if any(t.hour for t in stamps):
        expected = "hour"
    elif (
        len(stamps) > 1
        and all(t.day == 1 for t in stamps)
        and all(b - a == 1 for a, b in itertools.pairwise(months))
    ):
        expected = "month"
    else:
        expected = "day"
    assert u.attrs["detail_level"] == expected
    if expected != "hour":
        # The calendar day (month) written is the period, in the month it names.
        assert sorted(u["period_start"].dt.date) == sorted(s.date() for s in stamps)
        if expected == "day":
            assert ((u["period_end"] - u["period_start"]) == dt.timedelta(days=1)).all()
    else:
        shift = dt.timedelta(hours=hours, minutes=minutes if hours >= 0 else -minutes)
        want = sorted(s - shift for s in stamps)
        assert [t.to_pydatetime().replace(tzinfo=None) for t in sorted(u["period_start"])] == want


@pytest.mark.slow
@given(st.lists(st.integers(0, 24), min_size=2, max_size=5, unique=True))
@SETTINGS
def test_a_here_file_is_monthly_only_when_its_firsts_are_consecutive_months(
    months: list[int],
) -> None:
    stamps = [dt.date(2025 + m // 12, m % 12 + 1, 1) for m in months]
    text = HERE_HEADER + "".join(f"{s.isoformat()}T00:00:00,r,f,1\n" for s in stamps)
    u = read_report(text.encode(), unified=True)
    ordered = sorted(months)
    consecutive = all(b - a == 1 for a, b in itertools.pairwise(ordered))
    assert u.attrs["detail_level"] == ("month" if consecutive else "day")


@given(st.sampled_from(["Data Operations Billed", "Data Ops Used", "Billed data operations"]))
@SETTINGS
def test_a_lookalike_column_left_unread_is_said(other: str) -> None:
    from usage_analysis.readers import LookalikeColumnWarning

    text = f"Date,Device ID,Data Ops,{other}\n2026-10-01,{_dev(1)},5,6\n"
    with pytest.warns(LookalikeColumnWarning, match=repr(other)):
        df = read_report(text.encode())
    assert df["total_data_operations"].tolist() == [5.0]


@given(st.integers(1, 6), st.integers(0, 5))
@SETTINGS
def test_a_bare_cr_in_a_value_is_reported_at_its_line(rows: int, at: int) -> None:
    at = min(at, rows - 1)
    body = [f"2026-10-01,{_dev(i + 1)},dev{i},{i}" for i in range(rows)]
    body[at] = f"2026-10-01,{_dev(at + 1)},de\rv{at},{at}"
    text = "Date,Device ID,Device Name,Total Data Operations\n" + "\n".join(body) + "\n"
    with pytest.raises(ReportParseError, match="carriage return") as err:
        read_report(text.encode())
    assert err.value.line == at + 2


@pytest.mark.slow
@given(st.lists(st.one_of(st.none(), st.integers(0, 9)), min_size=1, max_size=8))
@SETTINGS
def test_json_nulls_in_quantities_are_counted_and_said(values: list[int | None]) -> None:
    from usage_analysis.readers import MissingValuesWarning

    items = [
        {"usageDateTime": "2026-10-01T00:00:00", "featureId": f"f{i}", "billableValue": v}
        for i, v in enumerate(values)
    ]
    page = {"total": len(items), "limit": 100, "items": items}
    nulls = sum(v is None for v in values)
    if nulls:
        with pytest.warns(MissingValuesWarning):
            df = read_report(page)
        assert df.attrs["missing_markers"] == {"billable_value": nulls}
    else:
        df = read_report(page)
    assert df["billable_value"].sum() == sum(v or 0 for v in values)
