"""Joining the files of a split report: one header, every row once, byte for byte."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import pytest

from usage_analysis.clients import _combine
from usage_analysis.clients._combine import combine
from usage_analysis.errors import ReportParseError

HEADER = b"Date,Device ID,Total\n"
PART_1 = HEADER + b"".join(b"2026-10-%02d,dev-%03d,%d\n" % (1 + i % 28, i, i) for i in range(50))
PART_2 = HEADER + b"".join(b"2026-11-%02d,dev-%03d,%d\n" % (1 + i % 28, i, i) for i in range(40))


@pytest.fixture(autouse=True)
def _small_copy_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    # Chunks much smaller than a row: every row boundary case is crossed.
    monkeypatch.setattr(_combine, "_COPY_CHUNK", 7)


def test_csv_parts_join_with_one_header(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_bytes(PART_1)
    b.write_bytes(PART_2)
    saved = combine([a, b], tmp_path / "out.csv", what="a test report")
    assert saved.path.read_bytes() == PART_1 + PART_2[len(HEADER) :]
    assert saved.size == len(PART_1) + len(PART_2) - len(HEADER)


def test_a_part_without_a_final_line_break_does_not_run_into_the_next(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_bytes(PART_1.rstrip(b"\n"))
    b.write_bytes(b"\xef\xbb\xbf" + PART_2)  # and a BOM on the later header
    saved = combine([a, b], tmp_path / "out.csv", what="a test report")
    assert saved.path.read_bytes() == PART_1 + PART_2[len(HEADER) :]


def test_gzipped_parts_join_into_one_gzipped_csv(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv.gz", tmp_path / "b.csv.gz"
    a.write_bytes(gzip.compress(PART_1))
    b.write_bytes(gzip.compress(PART_2))
    saved = combine([a, b], tmp_path / "out.csv.gz", what="a test report")
    assert gzip.decompress(saved.path.read_bytes()) == PART_1 + PART_2[len(HEADER) :]


def test_zip_parts_join_member_by_member(tmp_path: Path) -> None:
    paths = []
    for i, (rows, extra) in enumerate(((PART_1, True), (PART_2, False))):
        path = tmp_path / f"p{i}.zip"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("MeteringSummary_ORG1.csv", rows)
            if extra:
                zf.writestr("MeteringSummary_ORG2.csv", PART_2)
        paths.append(path)
    saved = combine(paths, tmp_path / "out.zip", what="a test export")
    with zipfile.ZipFile(saved.path) as zf:
        assert sorted(zf.namelist()) == ["MeteringSummary_ORG1.csv", "MeteringSummary_ORG2.csv"]
        assert zf.read("MeteringSummary_ORG1.csv") == PART_1 + PART_2[len(HEADER) :]
        assert zf.read("MeteringSummary_ORG2.csv") == PART_2


def test_parts_with_different_headers_are_refused(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_bytes(PART_1)
    b.write_bytes(b"Other,Columns\n1,2\n")
    with pytest.raises(ReportParseError, match="headers differ") as info:
        combine([a, b], tmp_path / "out.csv", what="a test report")
    assert info.value.file == str(b) and info.value.line == 1
    assert not (tmp_path / "out.csv").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
