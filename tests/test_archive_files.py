"""The archive's commits: delta-rs's own predicate overwrite, one commit per report.

What other engines rely on must be exactly right: the partition values in the
log (whatever the account id looks like), the files' statistics (some engines
answer MIN/MAX or skip files from them), the replaced files' removal, and the
Delta history saying what each commit did.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from archive_helpers import usage
from deltalake import DeltaTable
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usage_analysis import archive
from usage_analysis.archive import _write

ODD_ACCOUNTS = ["acme corp/eu", "ünïcode=ok", "NULL", "50%", "a'b", "..", None]


def _log_actions(root: Path) -> list[dict[str, object]]:
    out = []
    for f in sorted((root / "_delta_log").glob("*.json")):
        for line in f.read_text().splitlines():
            out.append(json.loads(line))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("account", ODD_ACCOUNTS)
def test_any_account_id_is_written_replaced_and_read_back_exactly(
    tmp_path: Path, account: str | None
) -> None:
    root = tmp_path / "archive"
    archive.archive_frame(
        usage("2026-01-30", "2026-02-02", quantity=1.0, account=account), archive=root
    )
    # The same range again, new values: replaces, never adds.
    done = archive.archive_frame(
        usage("2026-01-30", "2026-02-02", quantity=3.0, account=account), archive=root
    )
    assert done.replaced == 8 and done.rows == 8

    back = archive.history(archive=root)
    assert len(back) == 8 and back["quantity"].sum() == 24.0
    got = back["account_id"].astype(object).where(back["account_id"].notna(), None).unique()
    assert list(got) == [account]
    total = archive.sql("select sum(quantity) as q, count(*) as n from usage", archive=root)
    assert (total["q"].iloc[0], total["n"].iloc[0]) == (24.0, 8)
    # delta-rs itself reads the same rows with the same partition values.
    table = DeltaTable(str(root)).to_pyarrow_table()
    assert table.num_rows == 8
    assert set(table.column("account_id").to_pylist()) == {account}
    assert pc.sum(table.column("quantity")).as_py() == 24.0


def test_the_log_statistics_of_a_written_file_are_exact(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    frame = usage("2026-03-01", "2026-03-03", ["dev-b", "dev-a", None], quantity=2.5)
    frame.loc[0, "quantity"] = float("nan")
    frame.loc[1, "quantity"] = 7.25
    archive.archive_frame(frame, archive=root, source="/data/r.csv")
    adds = [a["add"] for a in _log_actions(root) if "add" in a]
    assert len(adds) == 1
    stats = json.loads(adds[0]["stats"])
    data = pq.read_table(root / adds[0]["path"])
    assert stats["numRecords"] == data.num_rows == 9
    assert stats["nullCount"]["resource_id"] == 3
    assert stats["nullCount"]["quantity"] == 1  # NaN from pandas is a null in Parquet
    assert stats["minValues"]["resource_id"] == "dev-a"
    assert stats["maxValues"]["resource_id"] == "dev-b"
    assert stats["minValues"]["quantity"] == 2.5
    assert stats["maxValues"]["quantity"] == 7.25
    assert pd.Timestamp(stats["minValues"]["period_start"]) == pd.Timestamp("2026-03-01", tz="UTC")
    assert pd.Timestamp(stats["maxValues"]["period_end"]) == pd.Timestamp("2026-03-04", tz="UTC")
    for name in ("meter_id", "unit", "product"):
        values = data.column(name).cast(pa.string()).drop_null()
        assert stats["minValues"][name] == pc.min(values).as_py()
        assert stats["maxValues"][name] == pc.max(values).as_py()
    # No partition column inside the file, and no column without a value has bounds.
    assert "provider" not in data.column_names
    assert "account_name" not in stats["minValues"]


def test_a_row_with_microseconds_is_found_by_engines_skipping_files_by_statistics(
    tmp_path: Path,
) -> None:
    root = tmp_path / "archive"
    frame = usage("2026-01-01", "2026-01-01", ["dev-a"])
    when = pd.Timestamp("2026-01-01 00:00:00.000400", tz="UTC")
    frame["period_start"] = when
    archive.archive_frame(frame, archive=root)
    dataset = DeltaTable(str(root)).to_pyarrow_dataset()
    exact = pa.scalar(when, pa.timestamp("us", "UTC"))
    assert dataset.to_table(filter=ds.field("period_start") >= exact).num_rows == 1
    assert dataset.to_table(filter=ds.field("period_start") <= exact).num_rows == 1


def test_engines_skipping_files_by_statistics_get_every_row(tmp_path: Path) -> None:
    """delta-rs's dataset turns the log's statistics into guarantees per file."""
    root = tmp_path / "archive"
    archive.archive_frame(usage("2026-03-01", "2026-03-03", ["dev-a", None]), archive=root)
    archive.archive_frame(usage("2026-04-01", "2026-04-02", ["dev-c"]), archive=root)
    dataset = DeltaTable(str(root)).to_pyarrow_dataset()
    assert dataset.to_table(filter=ds.field("resource_id").is_null()).num_rows == 3
    assert dataset.to_table(filter=ds.field("resource_id") == "dev-c").num_rows == 2
    when = pa.scalar(pd.Timestamp("2026-03-02", tz="UTC"), pa.timestamp("us", "UTC"))
    assert dataset.to_table(filter=ds.field("period_start") >= when).num_rows == 4 + 2


def test_a_partly_replaced_file_keeps_its_other_rows_in_a_new_file(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    archive.archive_frame(usage("2026-05-01", "2026-05-31", ["dev-a", "dev-b"]), archive=root)
    # Days 10-12 of dev-a only: the month's file is removed, the rest written again.
    done = archive.archive_frame(
        usage("2026-05-10", "2026-05-12", ["dev-a"], quantity=10.0), archive=root
    )
    assert done.replaced == 3
    actions = _log_actions(root)
    last = [a for a in actions if "remove" in a or "add" in a][-3:]
    assert sum("remove" in a for a in last) == 1
    assert sum("add" in a for a in last) == 2
    back = archive.history(archive=root)
    assert len(back) == 62
    assert back["quantity"].sum() == 59 * 1.0 + 3 * 10.0
    per = back.groupby("resource_id", observed=True)["quantity"].sum().to_dict()
    assert per == {"dev-a": 28.0 + 30.0, "dev-b": 31.0}


def test_a_commit_that_fails_leaves_no_row_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "archive"
    archive.archive_frame(usage("2026-05-01", "2026-05-02"), archive=root)
    version = DeltaTable(str(root)).version()

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(_write, "write_deltalake", refuse)
    with pytest.raises(archive.ArchiveError, match="disk full") as caught:
        archive.archive_frame(usage("2026-05-01", "2026-05-02", quantity=5.0), archive=root)
    assert isinstance(caught.value.__cause__, OSError)
    assert DeltaTable(str(root)).version() == version
    assert archive.history(archive=root)["quantity"].sum() == 4.0


def test_statistics_name_values_present_not_unused_categories(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    frame = usage("2026-03-01", "2026-03-02", ["dev-a", "dev-m", "dev-z"])
    only_m = frame[frame["resource_id"] == "dev-m"].reset_index(drop=True)
    assert list(only_m["resource_id"].cat.categories) == ["dev-a", "dev-m", "dev-z"]
    archive.archive_frame(only_m, archive=root)
    (add,) = [a["add"] for a in _log_actions(root) if "add" in a]
    stats = json.loads(add["stats"])
    assert (stats["minValues"]["resource_id"], stats["maxValues"]["resource_id"]) == (
        "dev-m",
        "dev-m",
    )


@pytest.mark.parametrize("listed", ["the report's resources", "the archived others"])
def test_which_rows_a_report_replaces_known_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listed: str
) -> None:
    """Overlap of periods, then resource and coalesce(meter_id, meter), nulls as SQL:
    the predicate delta-rs evaluates, checked on a real table. The same rows whether
    it names the report's resources or the archived resources the report lacks."""
    if listed == "the archived others":
        monkeypatch.setattr(_write, "LISTED_MAX", 0)
    root = tmp_path / "archive"
    day = pd.Timestamp("2026-01-10", tz="UTC")
    rows = [
        # (start offset days, length days, resource, meter_id, meter, replaced?)
        (0, 1, "r1", "m1", "x", True),
        (1, 1, None, None, "Named", True),  # missing resource, meter by name
        (1, 1, "r1", None, "Named", True),
        (-1, 1, "r1", "m1", "x", False),  # ends where the report starts
        (-5, 6, "r1", "m1", "x", True),  # a coarser row reaching into the range
        (2, 1, "r1", "m1", "x", False),  # starts at the report's end
        (0, 1, "r2", "m1", "x", False),  # another device
        (0, 1, "r1", "m2", "x", False),  # another meter
        (0, 1, "r1", None, "Other", False),
        (0, 1, "r1", None, None, False),  # no meter at all: the report has none such
        (-1, None, "r1", "m1", "x", False),  # unknown end, starts before: unknown is no
    ]
    starts = [day + pd.Timedelta(days=o) for o, *_ in rows]
    old = pd.DataFrame(
        {
            "provider": "particle",
            "account_id": "acme",
            "period_start": starts,
            "period_end": [
                pd.NaT if n is None else s + pd.Timedelta(days=n)
                for s, (_, n, *__) in zip(starts, rows, strict=True)
            ],
            "resource_id": [r[2] for r in rows],
            "meter_id": [r[3] for r in rows],
            "meter": [r[4] for r in rows],
            "quantity": [float(i) for i in range(len(rows))],
            "unit": "data operations",
        }
    )
    archive.archive_frame(old, grain="devices", report_id="old", archive=root)
    report = pd.DataFrame(
        {
            "provider": "particle",
            "account_id": "acme",
            "period_start": pd.to_datetime(["2026-01-10", "2026-01-11"], utc=True),
            "period_end": pd.to_datetime(["2026-01-11", "2026-01-12"], utc=True),
            "resource_id": ["r1", None],
            "meter_id": ["m1", None],
            "meter": ["M1", "Named"],
            "quantity": [100.0, 100.0],
            "unit": "data operations",
        }
    )
    done = archive.archive_frame(report, grain="devices", report_id="new", archive=root)
    kept = archive.history(archive=root, report_id="old")["quantity"].astype(int)
    assert sorted(kept) == [i for i, r in enumerate(rows) if not r[5]]
    assert done.replaced == sum(r[5] for r in rows)
    (info,) = [h for h in DeltaTable(str(root)).history() if h["version"] == done.version]
    assert ("'r2'" in info["operationParameters"]["predicate"]) == (  # named as an other
        listed == "the archived others"
    )


def test_the_delta_history_of_a_replace_is_an_overwrite_with_its_predicate(
    tmp_path: Path,
) -> None:
    root = tmp_path / "archive"
    archive.archive_frame(usage("2026-05-01", "2026-05-31"), archive=root)
    done = archive.archive_frame(usage("2026-05-10", "2026-05-12", ["dev-a"]), archive=root)
    (info,) = [h for h in DeltaTable(str(root)).history() if h["version"] == done.version]
    assert info["operation"] == "WRITE"
    assert info["operationParameters"]["mode"] == "Overwrite"
    predicate = info["operationParameters"]["predicate"]
    for part in ("provider = 'particle'", "account_id = 'acme'", "grain = 'devices'"):
        assert part in predicate
    assert "resource_id = 'dev-a'" in predicate or "'dev-a'" in predicate
    assert "2026-05-10" in predicate and "2026-05-13" in predicate
    assert done.replaced == 3


def _fleet(devices: range, day: str = "2026-05-01") -> pd.DataFrame:
    start = pd.Timestamp(day, tz="UTC")
    return pd.DataFrame(
        {
            "provider": "particle",
            "account_id": "acme",
            "period_start": start,
            "period_end": start + pd.Timedelta(days=1),
            "resource_id": [f"{i:024x}" for i in devices],
            "meter_id": "data_operations",
            "quantity": [float(i) for i in devices],
            "unit": "data operations",
        }
    )


@pytest.mark.slow
def test_a_report_of_40000_devices_replaces_without_listing_them(tmp_path: Path) -> None:
    """Listing 30,000 devices in the predicate overflowed delta-rs's stack and killed
    the process (issue 21): a fleet's report names the archived devices it lacks."""
    root = tmp_path / "archive"
    archive.archive_frame(_fleet(range(40_000)), grain="devices", archive=root)
    done = archive.archive_frame(_fleet(range(1, 40_001)), grain="devices", archive=root)
    assert done.replaced == 39_999
    (info,) = [h for h in DeltaTable(str(root)).history() if h["version"] == done.version]
    assert f"'{0:024x}'" in info["operationParameters"]["predicate"]  # the one it lacks
    kept = archive.history(archive=root)
    assert len(kept) == 40_001
    assert kept["quantity"].sum() == sum(range(40_001))


@pytest.mark.slow
def test_a_long_predicate_is_evaluated_on_a_big_stack_with_the_same_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_write, "LISTED_MAX", 10)
    monkeypatch.setattr(_write, "_LONG_PREDICATE", 10)
    threads: list[str] = []
    real = _write.write_deltalake

    def spy(*args: object, **kwargs: object) -> None:
        import threading

        threads.append(threading.current_thread().name)
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_write, "write_deltalake", spy)
    root = tmp_path / "archive"
    archive.archive_frame(_fleet(range(0, 300)), grain="devices", archive=root)
    # 150 of the report's 300 devices are archived, 150 archived ones it lacks.
    done = archive.archive_frame(_fleet(range(150, 450)), grain="devices", archive=root)
    assert done.replaced == 150
    assert threads[-1] == "usage-analysis-delta-write"
    assert sorted(archive.history(archive=root)["quantity"]) == [float(i) for i in range(450)]


def test_an_append_only_table_is_refused_at_once_saying_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "archive"
    archive.archive_frame(usage("2026-05-01", "2026-05-02"), archive=root)
    DeltaTable(str(root)).alter.set_table_properties({"delta.appendOnly": "true"})
    sleeps: list[float] = []
    monkeypatch.setattr(_write.time, "sleep", sleeps.append)
    with pytest.raises(archive.ArchiveError, match="append-only") as caught:
        archive.archive_frame(usage("2026-05-01", "2026-05-02", quantity=2.0), archive=root)
    assert "other writers" not in str(caught.value)
    assert sleeps == []  # not retried as a conflict
    assert archive.history(archive=root)["quantity"].sum() == 4.0


@pytest.mark.parametrize(
    ("message", "conflict"),
    [
        ("Commit failed: a concurrent transactions added new data.", True),
        ("Commit failed: a concurrent transaction deleted data this operation read.", True),
        ("Commit failed: a concurrent transaction deleted the same data your transaction", True),
        ("Metadata changed since last commit.", True),
        ("Transaction includes Remove action with data change but table is append-only", False),
        ("Permission denied (os error 13)", False),
        ("Unsupported reader features required: DeletionVectors", False),
    ],
)
def test_only_real_conflicts_are_retried(message: str, conflict: bool) -> None:
    from deltalake.exceptions import CommitFailedError

    assert _write._is_conflict(CommitFailedError(message)) is conflict


DEVICE_POOL = ("dev-a", "dev-b", "dev-c", "dev-d", None)


@pytest.mark.slow
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    archived=st.lists(
        st.tuples(st.integers(0, 6), st.integers(0, 4), st.sampled_from(DEVICE_POOL)),
        min_size=1,
        max_size=4,
    ),
    report=st.tuples(
        st.integers(0, 6),
        st.integers(0, 4),
        st.lists(st.sampled_from(DEVICE_POOL), min_size=1, max_size=3, unique=True),
    ),
)
def test_both_forms_of_the_replace_predicate_leave_the_same_rows(
    tmp_path_factory: pytest.TempPathFactory,
    archived: list[tuple[int, int, str | None]],
    report: tuple[int, int, list[str | None]],
) -> None:
    """A report of many devices names the archived devices it lacks (LISTED_MAX), one
    of few names its own: for any archive and report, both leave the same rows."""
    day = pd.Timestamp("2026-01-01")

    def span(start: int, length: int, devices: list[str | None], q: float) -> pd.DataFrame:
        first, last = day + pd.Timedelta(days=start), day + pd.Timedelta(days=start + length)
        return usage(str(first.date()), str(last.date()), devices, quantity=q)

    results = []
    for listed_max in (_write.LISTED_MAX, 0):
        root = tmp_path_factory.mktemp("forms") / "archive"
        saved = _write.LISTED_MAX
        _write.LISTED_MAX = listed_max
        try:
            for k, (start, length, device) in enumerate(archived):
                archive.archive_frame(span(start, length, [device], float(k + 1)), archive=root)
            archive.archive_frame(span(*report, 100.0), archive=root)
        finally:
            _write.LISTED_MAX = saved
        back = archive.history(archive=root)
        key = back[["resource_id", "period_start", "quantity"]].astype(object)
        results.append(
            sorted(map(tuple, key.where(key.notna(), None).to_numpy().tolist()), key=repr)
        )
    assert results[0] == results[1]
    # The report's rows are all there, once each.
    assert sum(1 for r in results[0] if r[2] == 100.0) == (report[1] + 1) * len(report[2])
