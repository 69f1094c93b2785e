"""Source handling: paths, bytes, file objects, encodings, gzip and ZIP safety."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from usage_analysis import defaults
from usage_analysis.errors import ReportParseError
from usage_analysis.readers import detect, read_report
from usage_analysis.readers._source import load_source

SUMMARY = (
    "OrgId,MeterId,MeterName,Date,BillingPeriodStartDate,BillingPeriodEndDate,MeterUsage,IPU,"
    "Scalar,MetricCategory,OrgName,OrgType,IPURate\n"
    "orgA,a2nB20h1o0lc7k3P9xtWS8,Data Integration,2026-10-01,2026-10-01,2026-10-31,10,1.6,1,"
    "Compute Units,Acme,Production,0.16\n"
    "orgA,a2nB20h1o0lc7k3P9xtWS8,Data Integration,2026-10-02,2026-10-01,2026-10-31,20,3.2,1,"
    "Compute Units,Acme,Production,0.16\n"
)


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda s: s.encode(), id="utf8"),
        pytest.param(lambda s: b"\xef\xbb\xbf" + s.encode(), id="utf8-bom"),
        pytest.param(lambda s: s.encode("utf-16"), id="utf16-bom"),
        pytest.param(lambda s: s.encode("utf-16-le"), id="utf16le-no-bom"),
        pytest.param(lambda s: s.encode("utf-16-be"), id="utf16be-no-bom"),
        pytest.param(lambda s: s.replace("\n", "\r\n").encode(), id="crlf"),
        pytest.param(lambda s: (s + "\r\n\r\n").encode(), id="trailing-blank-lines"),
        pytest.param(lambda s: ("\n\n" + s).encode(), id="leading-blank-lines"),
        pytest.param(lambda s: s.replace(",", ";").encode(), id="semicolons"),
        pytest.param(lambda s: s.replace(",", "\t").encode("utf-16"), id="excel-unicode-text"),
    ],
)
def test_every_encoding_and_line_ending_reads_the_same_rows(encode, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(encode(SUMMARY))
    # Bytes are parsed from memory, a plain UTF-8 file is streamed from disk.
    for source in (encode(SUMMARY), path):
        df = read_report(source)
        assert df.attrs["kind"] == "summary"
        assert list(df["meter_usage"]) == [10.0, 20.0]
        assert list(df["org_name"]) == ["Acme", "Acme"]
        assert df.columns[0] == "org_id"


def test_a_bad_value_in_a_file_on_disk_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b"\xef\xbb\xbf" + SUMMARY.replace(",20,3.2,", ",20,x,").encode())
    with pytest.raises(ReportParseError) as info:
        read_report(path)
    assert (info.value.file, info.value.line, info.value.column) == (str(path), 3, "IPU")


def test_a_path_a_str_path_and_file_objects_all_read(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(SUMMARY)
    for source in (path, str(path), io.BytesIO(SUMMARY.encode()), io.StringIO(SUMMARY), SUMMARY):
        df = read_report(source)
        assert len(df) == 2, source
    assert read_report(path).attrs["source"] == str(path)


def test_a_missing_path_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_report(tmp_path / "nope.csv")


def test_an_empty_file_is_a_parse_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(ReportParseError, match="empty") as info:
        read_report(path)
    assert info.value.file == str(path)


def test_gzip_and_multi_member_gzip_read() -> None:
    half = SUMMARY.encode()
    rows = SUMMARY.split("\n", 1)[1].encode()
    assert len(read_report(gzip.compress(half))) == 2
    # Concatenated gzip members form one stream, as `cat a.gz b.gz` does.
    assert len(read_report(gzip.compress(half) + gzip.compress(rows))) == 4


def test_truncated_gzip_is_a_parse_error() -> None:
    data = gzip.compress(SUMMARY.encode() * 50)
    with pytest.raises(ReportParseError, match="gzip"):
        read_report(data[: len(data) // 2])


def test_zip_members_are_concatenated_and_named_in_attrs() -> None:
    header, *rows = SUMMARY.strip().split("\n")
    data = _zip(
        {
            "MeteringSummary_orgA.csv": (header + "\n" + rows[0] + "\n").encode(),
            "MeteringSummary_orgB.csv": (header + "\n" + rows[1].replace("orgA", "orgB")).encode(),
        }
    )
    df = read_report(data)
    assert list(df["org_id"]) == ["orgA", "orgB"]
    assert df.attrs["members"] == ["MeteringSummary_orgA.csv", "MeteringSummary_orgB.csv"]


def test_macos_metadata_members_are_skipped_and_reported() -> None:
    data = _zip(
        {
            "MeteringSummary_orgA.csv": SUMMARY.encode(),
            "__MACOSX/._MeteringSummary_orgA.csv": b"\0\5",
        }
    )
    df = read_report(data)
    assert len(df) == 2
    assert df.attrs["skipped_members"] == ["__MACOSX/._MeteringSummary_orgA.csv"]


@pytest.mark.parametrize("name", ["../evil.csv", "/etc/passwd", "a/../../b.csv", "C:\\x.csv"])
def test_zip_member_names_that_escape_are_refused(name: str) -> None:
    with pytest.raises(ReportParseError, match="unsafe member name") as info:
        read_report(_zip({name: SUMMARY.encode()}))
    assert name in str(info.value.member)


def test_too_many_zip_members_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(defaults, "MAX_ZIP_MEMBERS", 3)
    data = _zip({f"MeteringSummary_{i}.csv": SUMMARY.encode() for i in range(4)})
    with pytest.raises(ReportParseError, match="4 members"):
        read_report(data)


def test_declared_uncompressed_size_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(defaults, "MAX_UNCOMPRESSED_BYTES", 1000)
    data = _zip({"MeteringSummary_a.csv": SUMMARY.encode() * 5})
    with pytest.raises(ReportParseError, match="uncompressed"):
        read_report(data)


def test_a_member_larger_than_its_declared_size_is_refused() -> None:
    data = _zip({"MeteringSummary_a.csv": SUMMARY.encode() * 40})
    # Lie in the central directory: claim 10 bytes for a member of several KB.
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        real = zf.infolist()[0].file_size
    patched = data.replace(real.to_bytes(4, "little"), (10).to_bytes(4, "little"))
    # zipfile stops at the declared size, so the check fails on the CRC.
    with pytest.raises(ReportParseError, match=r"declared size|CRC") as info:
        read_report(patched)
    assert info.value.member == "MeteringSummary_a.csv"


def test_zip_bomb_ratio_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(defaults, "RATIO_CHECK_MIN_BYTES", 1000)
    data = _zip({"MeteringSummary_a.csv": SUMMARY.encode() + b"0" * 2_000_000})
    with pytest.raises(ReportParseError, match="compression ratio"):
        read_report(data)


def test_gzip_bomb_ratio_and_total_size_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(defaults, "RATIO_CHECK_MIN_BYTES", 1000)
    with pytest.raises(ReportParseError, match="compression ratio"):
        read_report(gzip.compress(b"a" * 5_000_000))
    monkeypatch.setattr(defaults, "RATIO_CHECK_MIN_BYTES", 10**12)
    monkeypatch.setattr(defaults, "MAX_UNCOMPRESSED_BYTES", 10_000)
    with pytest.raises(ReportParseError, match="uncompressed size"):
        read_report(gzip.compress(SUMMARY.encode() * 100))


def test_encrypted_zip_members_are_refused() -> None:
    data = bytearray(_zip({"MeteringSummary_a.csv": SUMMARY.encode()}))
    # Set the "encrypted" flag bit in the local header and the central directory.
    for sig, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = data.find(sig)
        data[pos + offset] |= 0x01
    with pytest.raises(ReportParseError, match="encrypted"):
        read_report(bytes(data))


def test_an_archive_without_files_is_a_parse_error() -> None:
    with pytest.raises(ReportParseError, match="no report files"):
        read_report(_zip({}))


def test_a_corrupt_zip_is_a_parse_error() -> None:
    data = _zip({"MeteringSummary_a.csv": SUMMARY.encode() * 30})
    with pytest.raises(ReportParseError):
        read_report(data[:-40])


def test_load_source_reads_paths_without_copying_into_python_bytes(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(SUMMARY)
    src = load_source(path)
    assert src.container is None
    assert bytes(src.members[0].data) == SUMMARY.encode()


def test_detect_does_not_use_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "particle_devices.csv"  # a misleading name
    path.write_text(SUMMARY)
    assert tuple(detect(path)) == ("informatica", "summary")


@pytest.mark.slow
def test_large_multi_member_gzip_streams_read_completely() -> None:
    rng = np.random.default_rng(1)
    header, row = SUMMARY.split("\n")[:2]
    # Random values and org names keep the stream poorly compressible: more than
    # the decompressor's input chunk, so it is fed in pieces and crosses a member
    # boundary in the middle.
    values = rng.random(100_000)
    names = [f"{x:020x}" for x in rng.integers(0, 2**62, 100_000)]
    rows = [
        row.replace(",10,1.6,", f",{v:.6f},{v * 0.16:.6f},").replace("Acme", n)
        for v, n in zip(values, names, strict=True)
    ]
    first = "\n".join([header, *rows[:50_000]]) + "\n"
    second = "\n".join(rows[50_000:]) + "\n"
    data = gzip.compress(first.encode(), 1) + gzip.compress(second.encode(), 1)
    assert len(data) > 1024**2
    df = read_report(data)
    assert len(df) == 100_000
    assert df["org_name"].iloc[-1] == names[-1]
    assert df["meter_usage"].sum() == pytest.approx(sum(float(f"{v:.6f}") for v in values))


def test_invalid_utf8_in_a_value_names_its_line() -> None:
    data = SUMMARY.replace("Acme,Production,0.16\n", "Acm\xe9,Production,0.16\n", 1)
    with pytest.raises(ReportParseError, match="not valid UTF-8") as info:
        read_report(data.encode("latin-1"))
    assert info.value.line == 2
