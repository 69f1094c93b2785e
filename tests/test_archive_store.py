"""The archive table: layout, overlap replacement, history() and sql() filters."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from archive_helpers import usage
from deltalake import DeltaTable

from usage_analysis import archive
from usage_analysis.errors import InvalidParameter, SchemaError
from usage_analysis.schema import UNIFIED_DTYPES


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "archive"


def test_archived_rows_come_back_with_unified_dtypes_and_provenance(root: Path) -> None:
    frame = usage("2026-01-30", "2026-02-02")
    done = archive.archive_frame(frame, report_id="R-1", source="/tmp/r1.csv", archive=root)

    back = archive.history(archive=root, sort=True)

    assert done.rows == len(frame) == len(back) == 8
    assert done.replaced == 0
    for column, dtype in UNIFIED_DTYPES.items():
        assert str(back[column].dtype) == dtype, column
    assert set(back["report_id"]) == {"R-1"}
    assert set(back["source"]) == {"/tmp/r1.csv"}
    assert back["archived_at"].notna().all()
    pd.testing.assert_frame_equal(
        back[list(UNIFIED_DTYPES)].reset_index(drop=True),
        frame.sort_values(["period_start", "resource_id"]).reset_index(drop=True),
        check_categorical=False,
    )


def test_layout_is_a_delta_table_partitioned_by_provider_account_grain_and_month(
    root: Path,
) -> None:
    archive.archive_frame(usage("2026-01-31", "2026-02-01", account="org/with=odd"), archive=root)

    assert (root / "_delta_log" / "00000000000000000000.json").is_file()
    table = DeltaTable(str(root))
    assert table.metadata().partition_columns == ["provider", "account_id", "grain", "month"]
    files = pa.table(table.get_add_actions(flatten=True))
    assert sorted(files["partition.month"].to_pylist()) == ["2026-01", "2026-02"]
    # The exact account id is in the log; the directory name is only an encoding.
    assert set(files["partition.account_id"].to_pylist()) == {"org/with=odd"}
    assert set(files["partition.grain"].to_pylist()) == {"devices"}
    assert all(p.count("/") == 4 for p in files["path"].to_pylist())


def test_same_report_archived_twice_does_not_double_count(root: Path) -> None:
    frame = usage("2026-03-01", "2026-03-10")
    archive.archive_frame(frame, archive=root)
    again = archive.archive_frame(frame, archive=root)

    back = archive.history(archive=root)
    assert len(back) == len(frame)
    assert again.replaced == len(frame)
    assert back["quantity"].sum() == frame["quantity"].sum()


def test_later_report_replaces_overlapping_rows_and_keeps_the_rest(root: Path) -> None:
    archive.archive_frame(usage("2026-01-20", "2026-02-10"), report_id="early", archive=root)
    later = archive.archive_frame(
        usage("2026-02-01", "2026-02-20", quantity=5.0), report_id="late", archive=root
    )

    back = archive.history(archive=root)
    by_report = back.groupby("report_id", observed=True)["period_start"].agg(["min", "max"])
    assert later.replaced == 20  # Feb 1..10, two devices
    assert by_report.loc["early", "max"] == pd.Timestamp("2026-01-31", tz="UTC")
    assert by_report.loc["late", "min"] == pd.Timestamp("2026-02-01", tz="UTC")
    assert not back.duplicated(["resource_id", "meter_id", "period_start"]).any()
    assert back["quantity"].sum() == 12 * 2 * 1.0 + 20 * 2 * 5.0


def test_replacement_matches_missing_resource_and_meter_ids(root: Path) -> None:
    # Product-level rows have no device; missing keys must still match each other.
    archive.archive_frame(usage("2026-04-01", "2026-04-03", [None], meter_id=None), archive=root)
    archive.archive_frame(
        usage("2026-04-02", "2026-04-03", [None], meter_id=None, quantity=9.0),
        report_id="fix",
        archive=root,
    )

    back = archive.history(archive=root, sort=True)
    assert len(back) == 3
    assert back["quantity"].tolist() == [1.0, 9.0, 9.0]


@pytest.mark.slow
def test_replacement_never_touches_other_accounts_or_providers(root: Path) -> None:
    archive.archive_frame(usage("2026-05-01", "2026-05-02", account="a"), archive=root)
    archive.archive_frame(usage("2026-05-01", "2026-05-02", account="b"), archive=root)
    archive.archive_frame(usage("2026-05-01", "2026-05-02", provider="here"), archive=root)

    back = archive.history(archive=root)
    assert len(back) == 12
    assert back.groupby(["provider", "account_id"], observed=True).size().tolist() == [4, 4, 4]


@pytest.mark.slow
def test_history_filters_by_provider_dates_and_columns(root: Path) -> None:
    archive.archive_frame(usage("2025-12-01", "2026-03-31", product="Trackers"), archive=root)
    archive.archive_frame(
        usage("2026-01-01", "2026-01-31", ["gw-1"], product="Gateways"), archive=root
    )
    archive.archive_frame(usage("2026-01-01", "2026-01-31", provider="here"), archive=root)

    window = archive.history(
        provider="particle", start="2026-01-15", end="2026-02-01", archive=root
    )
    assert set(window["provider"]) == {"particle"}
    assert window["period_start"].min() == pd.Timestamp("2026-01-15", tz="UTC")
    assert window["period_start"].max() == pd.Timestamp("2026-01-31", tz="UTC")
    assert len(window) == 17 * 3

    gateways = archive.history(archive=root, product="Gateways")
    assert set(gateways["resource_id"]) == {"gw-1"}
    assert len(gateways) == 31

    two = archive.history(archive=root, provider=["particle"], resource_id=["dev-a", "gw-1"])
    assert set(two["resource_id"]) == {"dev-a", "gw-1"}
    assert len(two) == 121 + 31

    by_account = archive.history(archive=root, account_id="acme", start="2026-03-31")
    assert len(by_account) == 2


def test_history_filter_none_selects_missing_values(root: Path) -> None:
    archive.archive_frame(usage("2026-06-01", "2026-06-02", ["dev-a", None]), archive=root)

    missing = archive.history(archive=root, resource_id=None)
    assert len(missing) == 2
    assert missing["resource_id"].isna().all()


def test_history_rejects_an_unknown_filter_naming_it(root: Path) -> None:
    with pytest.raises(InvalidParameter, match="colour"):
        archive.history(archive=root, colour="red")
    with pytest.raises(InvalidParameter, match="start"):
        archive.history(archive=root, start="the first of May")


def test_history_of_an_empty_archive_is_an_empty_unified_frame(root: Path) -> None:
    back = archive.history(archive=root)
    assert back.empty
    for column, dtype in UNIFIED_DTYPES.items():
        assert str(back[column].dtype) == dtype, column


@pytest.mark.slow
def test_sql_answers_monthly_totals_per_product(root: Path) -> None:
    archive.archive_frame(usage("2026-01-30", "2026-02-02"), archive=root)
    archive.archive_frame(
        usage("2026-02-01", "2026-02-02", ["gw-1"], product="Gateways", quantity=3.0),
        archive=root,
    )

    totals = archive.sql(
        "select month, product, unit, sum(quantity) as total from usage "
        "where provider = ? group by all order by all",
        params=["particle"],
        archive=root,
    )

    assert totals.to_dict("records") == [
        {"month": "2026-01", "product": "Trackers", "unit": "data operations", "total": 4.0},
        {"month": "2026-02", "product": "Gateways", "unit": "data operations", "total": 6.0},
        {"month": "2026-02", "product": "Trackers", "unit": "data operations", "total": 4.0},
    ]


def test_a_wrong_query_is_an_invalid_parameter_naming_the_problem(root: Path) -> None:
    archive.archive_frame(usage("2026-01-01", "2026-01-01"), archive=root)

    with pytest.raises(InvalidParameter, match=r"query: .*no_such_column"):
        archive.sql("select no_such_column from usage", archive=root)
    with pytest.raises(InvalidParameter, match="query"):
        archive.sql("selec 1", archive=root)
    with pytest.raises(InvalidParameter, match="query"):
        archive.sql("   ", archive=root)


@pytest.mark.slow
def test_month_filters_never_scan_files_of_other_months(root: Path) -> None:
    archive.archive_frame(usage("2026-01-01", "2026-03-31"), archive=root)
    # Spoil March's file: a query pruned to February must never open it.
    (march,) = root.glob("*/*/*/month=2026-03/*.parquet")
    march.write_bytes(b"not parquet at all")

    feb = archive.history(archive=root, start="2026-02-01", end="2026-03-01")
    assert len(feb) == 28 * 2
    total = archive.sql(
        "select sum(quantity) as q from usage where month = '2026-02'", archive=root
    )
    assert total["q"].tolist() == [56.0]
    # Arrow's own error never reaches the caller: it is chained under an ArchiveError.
    with pytest.raises(archive.ArchiveError, match="magic bytes") as caught:
        archive.history(archive=root)
    assert isinstance(caught.value.__cause__, pa.ArrowInvalid)


def test_a_presigned_source_url_is_stored_without_its_query(root: Path) -> None:
    archive.archive_frame(
        usage("2026-01-01", "2026-01-01"),
        source="https://user:pw@files.example.com/r/42.csv?X-Amz-Signature=s3cr3t",
        archive=root,
    )

    back = archive.history(archive=root)
    assert set(back["source"]) == {"https://files.example.com/r/42.csv"}
    stored = b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())
    assert b"s3cr3t" not in stored
    assert b"pw@" not in stored


def test_archive_root_comes_from_argument_then_variable_then_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert archive.archive_root() == str(tmp_path / "ua-home" / "archive")
    monkeypatch.setenv("USAGE_ANALYSIS_ARCHIVE", str(tmp_path / "shared"))
    assert archive.archive_root() == str(tmp_path / "shared")
    assert archive.archive_root(tmp_path / "mine") == str(tmp_path / "mine")

    archive.archive_frame(usage("2026-01-01", "2026-01-01"))
    assert len(archive.history(archive=tmp_path / "shared")) == 2


@pytest.mark.slow
def test_history_frame_copies_into_another_archive_with_its_provenance(
    root: Path, tmp_path: Path
) -> None:
    archive.archive_frame(usage("2026-01-01", "2026-01-02"), report_id="R-9", archive=root)
    copy = tmp_path / "copy"

    archive.archive_frame(archive.history(archive=root), archive=copy)

    original = archive.history(archive=root, sort=True)
    copied = archive.history(archive=copy, sort=True)
    pd.testing.assert_frame_equal(copied, original, check_categorical=False)


def test_frames_without_period_or_unified_columns_are_refused(root: Path) -> None:
    frame = usage("2026-01-01", "2026-01-01")
    frame.loc[0, "period_start"] = pd.NaT
    with pytest.raises(SchemaError, match="period_start"):
        archive.archive_frame(frame, archive=root)
    with pytest.raises(SchemaError, match="missing columns"):
        archive.archive_frame(pd.DataFrame({"x": [1]}), archive=root)
    assert not list(root.rglob("*.parquet"))


ODD_ACCOUNTS = ("001", "NULL", "a/b", "x y", "é", "a=b", "100%", "__HIVE_DEFAULT_PARTITION__", None)


@pytest.mark.slow
def test_sql_reads_every_partition_value_as_the_log_has_it(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Account ids DuckDB's hive partitioning could misread from the (encoded)
    # paths: numbers, spellings of null, characters delta-rs percent-encodes.
    for i, account in enumerate(ODD_ACCOUNTS):
        frame = usage("2026-01-30", "2026-02-01", quantity=float(i + 1), account=account)
        archive.archive_frame(frame, account=account, archive=root)
    query = (
        "select account_id, month, grain, sum(quantity) as q, count(*) as n from {} "
        "group by all order by all"
    )
    truth = sorted(
        (str(a), month, "devices", (i + 1) * days * 2.0, days * 2)
        for i, a in enumerate(ODD_ACCOUNTS)
        for month, days in (("2026-01", 2), ("2026-02", 1))
    )

    from usage_analysis.archive import _read

    with _read._connect(archive._store.store(root, None), None, None) as con:
        (view,) = con.sql("select sql from duckdb_views() where view_name = 'usage'").fetchall()
    assert "read_parquet" in view[0]  # DuckDB reads the files itself
    native = {
        view: archive.sql(query.format(view), archive=root) for view in ("usage", "usage_all")
    }
    monkeypatch.setattr(_read, "_native_views", lambda *args: False)
    for view, got in native.items():
        rows = sorted(
            (str(r.account_id) if r.account_id is not None else "None", r.month, r.grain, r.q, r.n)
            for r in got.astype(object).where(got.notna(), None).itertuples()
        )
        assert rows == truth
        arrow = archive.sql(query.format(view), archive=root)
        pd.testing.assert_frame_equal(got, arrow)


def test_sql_reads_a_missing_account_with_the_other_files_in_one_scan(root: Path) -> None:
    # delta-rs writes a missing partition value as __HIVE_DEFAULT_PARTITION__, which
    # DuckDB's hive partitioning reads as NULL: no branch of its own per partition
    # (each branch costs DuckDB a bind and a footer read on every query).
    archive.archive_frame(
        usage("2026-01-30", "2026-02-01", quantity=1.0, account=None), archive=root
    )
    archive.archive_frame(
        usage("2026-01-30", "2026-02-01", quantity=2.0, account="acme"), archive=root
    )
    from usage_analysis.archive import _read

    with _read._connect(archive._store.store(root, None), None, None) as con:
        (view,) = con.sql("select sql from duckdb_views() where view_name = 'usage'").fetchall()
    assert view[0].count("read_parquet") == 1
    got = archive.sql(
        "select account_id, month, sum(quantity) as q from usage group by all order by all",
        archive=root,
    )
    rows = [
        (None if pd.isna(r.account_id) else r.account_id, r.month, r.q) for r in got.itertuples()
    ]
    assert sorted(rows, key=str) == sorted(
        [("acme", "2026-01", 8.0), ("acme", "2026-02", 4.0),
         (None, "2026-01", 4.0), (None, "2026-02", 2.0)],
        key=str,
    )  # fmt: skip


@pytest.mark.slow
def test_sql_as_of_reads_the_files_of_that_table_version(root: Path) -> None:
    first = archive.archive_frame(usage("2026-01-01", "2026-01-10"), archive=root)
    archive.archive_frame(usage("2026-01-06", "2026-01-10", quantity=5.0), archive=root)
    query = "select sum(quantity) as q, count(*) as n from {}"

    for view in ("usage", "usage_all"):
        then = archive.sql(query.format(view), as_of=first.version, archive=root)
        now = archive.sql(query.format(view), archive=root)
        assert then.to_dict("records") == [{"q": 20.0, "n": 20}]
        assert now.to_dict("records") == [{"q": 5 * 2 + 5 * 10.0, "n": 20}]
