"""The archive respects the Delta protocol and pandas' limits, and speaks in its own errors.

Tables written by other engines: a feature this package does not handle is
refused by name from every entry point, never read around; a period ending
9999-12-31 neither hangs a query nor wraps around; ``as_of`` is delta-rs's own
time travel, and a vacuumed version says so.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from archive_helpers import usage
from deltalake import DeltaTable, TableFeatures, write_deltalake

from usage_analysis import archive, errors, refresh
from usage_analysis.errors import InvalidParameter


class _Client:
    """Just enough of a client for refresh() to reach the archive."""

    provider = "particle"
    account = "acme"

    def close(self) -> None:
        pass

    def request(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("refresh must not fetch from an archive it cannot read")


def _entry_points(root: Path) -> dict[str, Any]:
    return {
        "history": lambda: archive.history(archive=root),
        "sql": lambda: archive.sql("select count(*) from usage", archive=root),
        "archive_frame": lambda: archive.archive_frame(
            usage("2026-02-01", "2026-02-01"), archive=root
        ),
        "last_archived": lambda: archive.last_archived("particle", "acme", archive=root),
        "refresh": lambda: refresh("particle", client=_Client(), archive=root, until="2026-03-01"),
    }


@pytest.mark.parametrize(
    ("feature", "name"),
    [
        (TableFeatures.DeletionVectors, "deletionVectors"),
        (TableFeatures.ColumnMapping, "columnMapping"),
    ],
)
def test_a_feature_the_package_does_not_handle_is_refused_by_name_everywhere(
    tmp_path: Path, feature: TableFeatures, name: str
) -> None:
    root = tmp_path / "archive"
    archive.archive_frame(usage("2026-01-01", "2026-01-31"), archive=root)
    DeltaTable(str(root)).alter.add_feature(feature, allow_protocol_versions_increase=True)
    version = DeltaTable(str(root)).version()
    for entry, call in _entry_points(root).items():
        with pytest.raises(errors.ArchiveError, match=name):
            call()
        assert DeltaTable(str(root)).version() == version, entry  # nothing written


def test_an_unknown_feature_written_by_another_engine_is_refused_by_name(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    archive.archive_frame(usage("2026-01-01", "2026-01-02"), archive=root)
    version = DeltaTable(str(root)).version()
    protocol = {
        "protocol": {
            "minReaderVersion": 1,
            "minWriterVersion": 7,
            "writerFeatures": ["appendOnly", "someFutureFeature"],
        }
    }
    log = root / "_delta_log" / f"{version + 1:020d}.json"
    log.write_text(
        json.dumps({"commitInfo": {"timestamp": int(time.time() * 1000)}})
        + "\n"
        + json.dumps(protocol)
        + "\n"
    )
    for entry, call in _entry_points(root).items():
        with pytest.raises(errors.ArchiveError, match="someFutureFeature"):
            call()
        assert entry


def _append_far_future_row(root: Path) -> None:
    """Another writer (delta-rs directly) appends a row ending 9999-12-31."""
    table = DeltaTable(str(root))
    schema = pa.schema(table.schema().to_arrow())
    row = {f.name: pa.nulls(1, f.type) for f in schema}
    row["provider"] = pa.array(["particle"])
    row["account_id"] = pa.array(["acme"])
    row["grain"] = pa.array(["devices"])
    row["month"] = pa.array(["2026-03"])
    row["resource_id"] = pa.array(["dev-x"])
    row["unit"] = pa.array(["data operations"])
    row["quantity"] = pa.array([5.0])
    stamp = pa.timestamp("us", tz="UTC")
    row["period_start"] = pa.array([datetime(2026, 3, 1, tzinfo=UTC)], stamp)
    row["period_end"] = pa.array([datetime(9999, 12, 31, tzinfo=UTC)], stamp)
    write_deltalake(table, pa.table(row, schema=schema), mode="append")


@pytest.mark.slow
def test_a_period_ending_in_9999_neither_hangs_nor_wraps(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    archive.archive_frame(usage("2026-01-01", "2026-03-31"), archive=root)
    _append_far_future_row(root)
    began = time.monotonic()
    total = archive.sql("select sum(quantity) as q, count(*) as n from usage", archive=root)
    assert (total["q"].iloc[0], total["n"].iloc[0]) == (90 * 2 + 5.0, 90 * 2 + 1)
    # The row's period_end cannot be a pandas timestamp: said, never wrapped around.
    with pytest.raises(errors.ArchiveError, match=r"9999-12-31.*outside the dates pandas"):
        archive.history(archive=root)
    with pytest.raises(errors.ArchiveError, match="9999-12-31"):
        archive.sql("select period_end from usage", archive=root)
    rows = archive.history(archive=root, columns=["period_start", "quantity"])
    assert rows["quantity"].sum() == 90 * 2 + 5.0
    assert rows["period_start"].min() == pd.Timestamp("2026-01-01", tz="UTC")
    assert time.monotonic() - began < 60


@pytest.mark.slow
def test_a_summarized_row_reaching_9999_is_weighed_by_the_grain_rule_without_looping(
    tmp_path: Path,
) -> None:
    root = tmp_path / "archive"
    archive.archive_frame(
        usage("2026-01-01", "2026-01-31", provider="here"), grain="day", archive=root
    )
    forever = usage("2026-01-01", "2026-01-01", ["app"], provider="here", quantity=99.0)
    forever["period_end"] = pd.Timestamp("2262-04-01", tz="UTC")
    archive.archive_frame(forever, grain="summarized", archive=root)
    got = archive.sql("select grain, sum(quantity) as q from usage group by all", archive=root)
    # The summarized row covers far more time than January's days: it alone counts.
    assert got["grain"].tolist() == ["summarized"] and got["q"].tolist() == [99.0]


@pytest.mark.slow
def test_as_of_is_delta_time_travel_and_a_vacuumed_version_says_so(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    first = archive.archive_frame(usage("2026-01-01", "2026-01-10"), archive=root)
    time.sleep(0.05)
    between = datetime.now(UTC)
    time.sleep(0.05)
    archive.archive_frame(usage("2026-01-01", "2026-01-10", quantity=3.0), archive=root)

    assert archive.history(archive=root, as_of=between)["quantity"].sum() == 20.0
    assert archive.history(archive=root, as_of=first.version)["quantity"].sum() == 20.0
    assert archive.history(archive=root)["quantity"].sum() == 60.0
    with pytest.raises(InvalidParameter, match="as_of"):
        archive.history(archive=root, as_of=datetime(2000, 1, 1, tzinfo=UTC))
    with pytest.raises(InvalidParameter, match="as_of"):
        archive.history(archive=root, as_of=99)

    DeltaTable(str(root)).vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    for call in (
        lambda: archive.history(archive=root, as_of=first.version),
        lambda: archive.sql("select count(*) from usage", archive=root, as_of=between),
    ):
        with pytest.raises(errors.ArchiveError, match="vacuum"):
            call()
    assert archive.history(archive=root)["quantity"].sum() == 60.0


@pytest.mark.slow
def test_a_raw_duckdb_or_arrow_error_never_reaches_the_caller(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    archive.archive_frame(usage("2026-01-01", "2026-01-02"), archive=root)
    with pytest.raises(InvalidParameter, match="query") as caught:
        archive.sql("select cast('x' as integer) from usage", archive=root)
    assert caught.value.__cause__ is not None
    (data,) = root.rglob("*.parquet")
    data.write_bytes(b"PAR1 broken")
    for call in (
        lambda: archive.history(archive=root),
        lambda: archive.sql("select sum(quantity) from usage", archive=root),
    ):
        with pytest.raises(errors.ArchiveError) as failed:
            call()
        assert failed.value.__cause__ is not None


def test_archive_error_lives_in_the_error_tree_and_the_old_path_still_works() -> None:
    from usage_analysis.archive import ArchiveError as old_path
    from usage_analysis.archive._store import ArchiveError as older_path

    assert old_path is older_path is errors.ArchiveError
    assert issubclass(errors.ArchiveError, errors.UsageAnalysisError)
    assert "ArchiveError" in errors.__all__
