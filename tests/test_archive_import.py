"""Importing report files downloaded by hand: archive_file() and ``usage-analysis import``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from usage_analysis import archive, read_report
from usage_analysis.cli import main

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
PARTICLE = SAMPLE / "particle_devices_2026-09-01_2026-11-20.csv"
HERE = SAMPLE / "here_report_2026-10.csv.gz"
INFORMATICA = SAMPLE / "informatica_summary_2026-10.zip"


def first_lines(source: Path, dest: Path, lines: int) -> Path:
    """An earlier, shorter download of the same report: its header and first rows."""
    with open(source, encoding="utf-8") as handle:
        dest.write_text("".join(next(handle) for _ in range(lines)), encoding="utf-8")
    return dest


@pytest.mark.slow
def test_archive_file_keeps_every_row_of_each_provider_with_its_report(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    for path in (PARTICLE, HERE, INFORMATICA):
        done = archive.archive_file(path, archive=root)
        assert done.report_id.startswith(path.name + "@")
        assert done.rows == len(read_report(path, unified=True))

    back = archive.history(archive=root)
    counts = back.groupby("provider", observed=True).size().to_dict()
    assert counts == {
        p: len(read_report(f, unified=True))
        for p, f in (("particle", PARTICLE), ("here", HERE), ("informatica", INFORMATICA))
    }
    assert set(back["source"]) == {str(p.resolve()) for p in (PARTICLE, HERE, INFORMATICA)}


@pytest.mark.slow
def test_importing_the_same_download_twice_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    first = archive.archive_file(PARTICLE, account="acme", archive=root)
    query = "select sum(quantity) as q, count(*) as n from usage"
    total = archive.sql(query, archive=root)

    again = archive.archive_file(PARTICLE, account="acme", archive=root)

    assert again.report_id == first.report_id
    assert again.replaced == first.rows
    assert archive.sql(query, archive=root).equals(total)
    assert set(archive.history(archive=root)["account_id"]) == {"acme"}


@pytest.mark.slow
def test_a_longer_later_download_replaces_the_shorter_one(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    early = first_lines(PARTICLE, tmp_path / "early.csv", 301)
    archive.archive_file(early, archive=root)

    later = archive.archive_file(PARTICLE, archive=root)

    back = archive.history(archive=root)
    assert later.replaced == 300
    assert len(back) == later.rows
    assert set(back["report_id"]) == {later.report_id}


def test_cli_imports_files_and_reports_failures_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "archive"
    broken = tmp_path / "broken.csv"
    broken.write_text("nothing,a,reader,knows\n1,2,3,4\n", encoding="utf-8")
    copy = shutil.copy(PARTICLE, tmp_path / "particle.csv")

    code = main(["import", str(copy), str(broken), "--account", "acme", "--archive", str(root)])

    out, err = capsys.readouterr()
    assert code == 1
    assert f"{copy}: {len(read_report(PARTICLE))} rows archived as particle.csv@" in out
    assert f"archive: {root}" in out
    assert f"{broken}: not imported" in err
    back = archive.history(archive=root)
    assert set(back["account_id"]) == {"acme"}
    assert set(back["report_id"].str.split("@").str[0]) == {"particle.csv"}


def test_cli_import_uses_the_archive_variable_and_a_given_report_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("USAGE_ANALYSIS_ARCHIVE", str(tmp_path / "team"))

    assert main(["import", str(HERE), "--report-id", "REPORT-1583", "--provider", "here"]) == 0

    assert "REPORT-1583" in capsys.readouterr().out
    back = archive.history(archive=tmp_path / "team")
    assert set(back["report_id"]) == {"REPORT-1583"}
    assert back["period_start"].min() >= pd.Timestamp("2026-10-01", tz="UTC")
    assert main(["import", str(HERE), str(PARTICLE), "--report-id", "x"]) == 1
    assert "--report-id" in capsys.readouterr().err
