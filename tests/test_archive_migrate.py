"""An archive of the old layout (plain Hive Parquet) moves into the Delta table once, losing nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from usage_analysis import archive
from usage_analysis.cli import main

# The old files' schema: the unified columns less provider, plus provenance.
OLD_SCHEMA = pa.schema(
    [
        ("account_id", pa.string()),
        ("account_name", pa.string()),
        ("product", pa.string()),
        ("resource_id", pa.string()),
        ("resource_name", pa.string()),
        ("meter_id", pa.string()),
        ("meter", pa.string()),
        ("category", pa.string()),
        ("period_start", pa.timestamp("us", tz="UTC")),
        ("period_end", pa.timestamp("us", tz="UTC")),
        ("quantity", pa.float64()),
        ("unit", pa.string()),
        ("billable_quantity", pa.float64()),
        ("billable_unit", pa.string()),
        ("report_id", pa.string()),
        ("source", pa.string()),
        ("archived_at", pa.timestamp("us", tz="UTC")),
    ]
)


def old_rows(days: pd.DatetimeIndex, resource: str | None, category: str, q: float) -> list[dict]:
    return [
        {
            "account_id": "org/1",
            "product": "Trackers",
            "resource_id": resource,
            "meter_id": "data_operations",
            "category": category,
            "period_start": d,
            "period_end": d + pd.Timedelta(days=1),
            "quantity": q,
            "unit": "data operations",
            "billable_quantity": q,
            "billable_unit": "data operations",
            "report_id": f"old-{category}",
            "source": "/downloads/old.csv",
            "archived_at": pd.Timestamp("2026-09-01", tz="UTC"),
        }
        for d in days
    ]


def write_old_archive(root: Path) -> int:
    """Two months of Particle device and product rows, and a month of HERE days."""
    count = 0
    for month in ("2026-07", "2026-08"):
        days = pd.date_range(f"{month}-01", periods=pd.Period(month).days_in_month, tz="UTC")
        rows = old_rows(days, "dev-a", "device", 2.0) + old_rows(days, "Trackers", "product", 2.0)
        d = root / "provider=particle" / "account=org%2F1" / f"month={month}"
        d.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(rows, OLD_SCHEMA), d / "part-0.parquet")
        count += len(rows)
    days = pd.date_range("2026-08-01", periods=31, tz="UTC")
    rows = old_rows(days, "app1", "Location Services", 5.0)
    d = root / "provider=here" / "account=org%2F1" / "month=2026-08"
    d.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, OLD_SCHEMA), d / "part-1.parquet")
    return count + len(rows)


@pytest.mark.slow
def test_an_old_archive_migrates_by_itself_the_first_time_it_is_read(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    n = write_old_archive(root)

    every = archive.sql(
        "select provider, grain, count(*) as n, sum(quantity) as q "
        "from usage_all group by all order by all",
        archive=root,
    )
    assert every.to_dict("records") == [
        {"provider": "here", "grain": "day", "n": 31, "q": 155.0},
        {"provider": "particle", "grain": "devices", "n": 62, "q": 124.0},
        {"provider": "particle", "grain": "products", "n": 62, "q": 124.0},
    ]
    assert int(every["n"].sum()) == n
    # The old archive added device and product rows together; now one grain counts.
    back = archive.history(archive=root, provider="particle")
    assert back["quantity"].sum() == 124.0
    assert set(back["report_id"]) == {"old-device"}
    assert set(back["account_id"]) == {"org/1"}
    assert (back["archived_at"] == pd.Timestamp("2026-09-01", tz="UTC")).all()
    # The old files were moved aside, not deleted; running again changes nothing.
    assert not list(root.glob("provider=*/account=*/month=*/*.parquet"))
    assert len(list((root / "_parquet_before_delta").rglob("*.parquet"))) == 3
    assert archive.migrate(root).rows == 0
    assert len(archive.history(archive=root, grain="products")) == 62


@pytest.mark.slow
def test_cli_migrates_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "archive"
    n = write_old_archive(root)

    assert main(["archive", "migrate", "--archive", str(root)]) == 0
    assert f"migrated {n} rows from 3 Parquet files" in capsys.readouterr().out
    assert main(["archive", "migrate", "--archive", str(root)]) == 0
    assert "nothing to migrate" in capsys.readouterr().out
    # New reports replace migrated rows like any others.
    done = archive.archive_frame(
        archive.history(archive=root, provider="here").assign(quantity=6.0),
        report_id="here-again",
        archive=root,
    )
    assert done.replaced == 31
    assert archive.history(archive=root, provider="here")["quantity"].sum() == 186.0


def _digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


@pytest.mark.slow
def test_an_archive_written_without_the_readers_columns_gets_them_back(tmp_path: Path) -> None:
    """Issue 19: archives before the table kept HERE's project and billing_tag."""
    from usage_analysis import read_report

    samples = Path(__file__).resolve().parents[1] / "sample_data"
    source = tmp_path / "here_report_2026-10.csv"
    source.write_bytes((samples / "here_report_2026-10.csv").read_bytes())
    gone = tmp_path / "here_search_pages.json"
    gone.write_bytes((samples / "here_search_pages.json").read_bytes())
    read = read_report(source, unified=True)
    root = tmp_path / "archive"
    # What the older archive wrote: the unified columns only (one commit).
    olds = []
    for path in (source, gone):
        old = read_report(path, unified=True).drop(columns=["project", "billing_tag"])
        olds.append(old.assign(report_id=f"{path.name}@{_digest(path)}", source=str(path)))
    archive.archive_frame(pd.concat(olds, ignore_index=True), archive=root)
    gone.unlink()
    from deltalake import DeltaTable

    assert "billing_tag" not in pa.schema(DeltaTable(str(root)).schema().to_arrow()).names

    back = archive.history(archive=root)  # opening it migrates it
    mine = back[back["source"] == str(source)]
    assert len(mine) == len(read)
    assert sorted(mine["billing_tag"].dropna().astype(str)) == sorted(
        read["billing_tag"].dropna().astype(str)
    )
    assert (mine["billing_tag"] == "team-logistics").any()
    # The report whose file is gone keeps its rows, the columns empty.
    theirs = back[back["source"] == str(gone)]
    assert len(theirs) > 0 and theirs["billing_tag"].isna().all()
    assert back["quantity"].sum() == pytest.approx(
        read["quantity"].sum() + theirs["quantity"].sum()
    )
    # Once is enough: migrating again re-reads nothing.
    assert archive.migrate(root).reports_reread == 0
