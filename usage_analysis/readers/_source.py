"""Turn whatever the caller passed into decoded, size-checked members.

A *source* is a path, ``bytes``, a file object (binary or text), a string of
CSV/JSON text, or already-parsed JSON (a HERE search page or a list of them).
The result is a :class:`Source`: a label for error messages and one or more
:class:`Member` buffers of UTF-8 text, whatever the original encoding and
packaging (gzip, ZIP, UTF-8 with or without BOM, UTF-16).

ZIP members and gzip streams are decompressed in memory, never onto disk, with
caps on member count, declared and actual size, and compression ratio (zip
bombs), and member names are checked (path traversal: a member called
``../../.bashrc`` is a hostile archive even though nothing is extracted).
"""

from __future__ import annotations

import io
import os
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa

from .. import defaults
from ..errors import ReportParseError

__all__ = ["Member", "Source", "load_source"]

_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive
_CHUNK = 1 << 20
# Archives inside archives: a ZIP of gzipped CSVs is plausible, deeper is not.
_MAX_DEPTH = 2


@dataclass
class Member:
    """One text document: a bare file, a gzip payload or a ZIP member, as UTF-8."""

    name: str | None  # the ZIP member name; None for a bare file
    data: pa.Buffer  # UTF-8 bytes, no BOM
    encoding: str = "utf-8"  # what the bytes were before transcoding
    # The file itself, when the member is a plain UTF-8 file on disk: the parser
    # then streams it instead of touching every page of the memory map.
    path: str | None = None

    def head(self, size: int = 64 * 1024) -> str:
        """The first ``size`` bytes as text (a cut multi-byte character is replaced)."""
        return bytes(self.data.slice(0, min(size, self.data.size))).decode("utf-8", "replace")


@dataclass
class Source:
    """What :func:`load_source` found: a label for messages and the members."""

    label: str
    members: list[Member] = field(default_factory=list)
    obj: Any = None  # parsed JSON handed over as Python objects
    container: str | None = None  # "zip", "gzip" or None
    skipped: list[str] = field(default_factory=list)  # archive metadata members left out


class _Budget:
    """Running total of decompressed bytes across every member of one source."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.total = 0

    def add(self, n: int, *, member: str | None) -> None:
        self.total += n
        if self.total > defaults.MAX_UNCOMPRESSED_BYTES:
            raise ReportParseError(
                "archive expands to more than the allowed uncompressed size",
                file=self.label,
                member=member,
                expected=f"at most {defaults.MAX_UNCOMPRESSED_BYTES:,} bytes in total "
                "(defaults.MAX_UNCOMPRESSED_BYTES)",
            )


def _check_ratio(out: int, compressed: int, *, label: str, member: str | None) -> None:
    # Tiny files compress absurdly well without being bombs; only large outputs count.
    if out > defaults.RATIO_CHECK_MIN_BYTES and out > defaults.MAX_COMPRESSION_RATIO * max(
        compressed, 1
    ):
        raise ReportParseError(
            f"compression ratio above {defaults.MAX_COMPRESSION_RATIO:g}: "
            "this looks like a decompression bomb, not a report",
            file=label,
            member=member,
            expected=f"a compression ratio of at most {defaults.MAX_COMPRESSION_RATIO:g} "
            "(defaults.MAX_COMPRESSION_RATIO)",
        )


def _looks_like_path(text: str) -> bool:
    if "\n" in text or "\r" in text or text.lstrip()[:1] in ("{", "["):
        return False
    if len(text) < 4096 and Path(text).expanduser().exists():
        return True
    return "," not in text  # a one-line CSV (header only) is text, not a file name


def _raw_bytes(source: Any) -> tuple[str, pa.Buffer | None, Any]:
    """(label, raw bytes, python object) for any accepted kind of source."""
    if isinstance(source, os.PathLike) or (isinstance(source, str) and _looks_like_path(source)):
        path = Path(os.fspath(source)).expanduser()
        if path.is_dir():
            raise IsADirectoryError(f"{path}: is a directory, expected a report file")
        # A memory map hands the bytes to pyarrow without a copy (a 1M-row HERE
        # report is about 180 MB).
        with path.open("rb"):  # raises FileNotFoundError/PermissionError with the path
            pass
        if path.stat().st_size == 0:
            return str(path), pa.py_buffer(b""), None
        return str(path), pa.memory_map(str(path), "r").read_buffer(), None
    if isinstance(source, str):
        return "<text>", pa.py_buffer(source.encode("utf-8")), None
    if isinstance(source, bytes | bytearray | memoryview):
        return (
            "<bytes>",
            pa.py_buffer(bytes(source) if not isinstance(source, bytes) else source),
            None,
        )
    if isinstance(source, pa.Buffer):
        return "<buffer>", source, None
    if isinstance(source, dict | list | tuple):
        return "<json object>", None, source
    read = getattr(source, "read", None)
    if callable(read):
        label = str(getattr(source, "name", "<file object>"))
        data = read()
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"source.read() returned {type(data).__name__}, expected bytes")
        return label, pa.py_buffer(bytes(data)), None
    raise TypeError(
        f"source is a {type(source).__name__}; expected a path, bytes, a file object, "
        "CSV/JSON text or parsed HERE JSON pages"
    )


def _gunzip(data: pa.Buffer, *, label: str, member: str | None, budget: _Budget) -> bytes:
    """Decompress a (possibly multi-member) gzip stream with size and ratio caps."""
    view = memoryview(data)
    chunks: list[bytes] = []
    out = 0
    pos = 0
    while pos < len(view):
        rest = view[pos:]
        if bytes(rest[:2]) != _GZIP_MAGIC:
            if not any(bytes(rest[:_CHUNK])):
                break  # zero padding after the last member, as some tools write
            raise ReportParseError(
                "unexpected bytes after the gzip data", file=label, member=member
            )
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        consumed = 0  # input bytes handed to this gzip member so far
        try:
            # Feed the input a chunk at a time: zlib copies unconsumed input into
            # unconsumed_tail, which must stay small for a large stream.
            while not d.eof:
                chunk_in: bytes | memoryview = rest[consumed : consumed + _CHUNK]
                consumed += len(chunk_in)
                # Input exhausted: zlib may still hold output for what it has read.
                drain = not chunk_in
                while (chunk_in or drain) and not d.eof:
                    piece = d.decompress(chunk_in, _CHUNK)
                    chunk_in = d.unconsumed_tail
                    if drain and not piece:
                        break
                    out += len(piece)
                    budget.add(len(piece), member=member)
                    _check_ratio(out, len(view), label=label, member=member)
                    chunks.append(piece)
                if drain:
                    break
        except zlib.error as exc:
            raise ReportParseError(
                f"corrupt gzip data ({exc})", file=label, member=member
            ) from None
        if not d.eof:
            raise ReportParseError(
                "gzip data ends early (truncated download?)", file=label, member=member
            )
        pos += consumed - len(d.unused_data)
    return b"".join(chunks)


def _unsafe_name(name: str) -> bool:
    if not name or "\x00" in name:
        return True
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return True
    parts = name.replace("\\", "/").split("/")
    return ".." in parts


def _is_metadata(name: str) -> bool:
    # macOS Finder adds AppleDouble files when it re-zips; they are not reports.
    base = PurePosixPath(name.replace("\\", "/"))
    return base.parts[:1] == ("__MACOSX",) or base.name.startswith("._") or base.name == ".DS_Store"


def _unzip(
    data: pa.Buffer, *, label: str, budget: _Budget, skipped: list[str]
) -> Iterator[tuple[str, bytes]]:
    """Yield (name, bytes) of each file member, after every cap and name check."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(memoryview(data)))
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        NotImplementedError,  # an unsupported ZIP version or feature
        ValueError,
        EOFError,
        OSError,
    ) as exc:
        raise ReportParseError(f"not a readable ZIP archive ({exc})", file=label) from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > defaults.MAX_ZIP_MEMBERS:
            raise ReportParseError(
                f"archive has {len(infos):,} members",
                file=label,
                expected=f"at most {defaults.MAX_ZIP_MEMBERS:,} (defaults.MAX_ZIP_MEMBERS)",
            )
        declared = 0
        for info in infos:
            if _unsafe_name(info.filename):
                raise ReportParseError(
                    "unsafe member name (absolute path or '..'): refusing a hostile archive",
                    file=label,
                    member=info.filename,
                    expected="relative member names without '..'",
                )
            if info.flag_bits & 0x1:
                raise ReportParseError(
                    "member is encrypted",
                    file=label,
                    member=info.filename,
                    expected="an unencrypted ZIP",
                )
            declared += info.file_size
            _check_ratio(info.file_size, info.compress_size, label=label, member=info.filename)
        if declared > defaults.MAX_UNCOMPRESSED_BYTES:
            raise ReportParseError(
                f"archive declares {declared:,} uncompressed bytes",
                file=label,
                expected=f"at most {defaults.MAX_UNCOMPRESSED_BYTES:,} "
                "(defaults.MAX_UNCOMPRESSED_BYTES)",
            )
        for info in infos:
            if _is_metadata(info.filename):
                skipped.append(info.filename)
                continue
            try:
                with zf.open(info) as fh:
                    # One read of at most the declared size plus one byte: zipfile
                    # stops at the declared size, and more would be a lie we refuse.
                    data = fh.read(info.file_size + 1)
                if len(data) > info.file_size:
                    raise ReportParseError(
                        "member is larger than its declared size",
                        file=label,
                        member=info.filename,
                    )
                budget.add(len(data), member=info.filename)
            except ReportParseError:
                raise
            except (
                zipfile.BadZipFile,
                zlib.error,
                EOFError,
                NotImplementedError,
                OSError,
                ValueError,
                RuntimeError,
            ) as exc:
                raise ReportParseError(
                    f"cannot decompress member ({exc})", file=label, member=info.filename
                ) from None
            yield info.filename, data


def _decode(raw: bytes | pa.Buffer, *, label: str, member: str | None) -> Member:
    """Transcode to UTF-8 without BOM; UTF-8 input is passed through without a copy."""
    buf = raw if isinstance(raw, pa.Buffer) else pa.py_buffer(raw)
    head = bytes(buf.slice(0, min(4, buf.size)))
    encoding = "utf-8"
    if head.startswith(b"\xef\xbb\xbf"):
        return Member(member, buf.slice(3), "utf-8-sig")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    elif len(head) == 4 and head[1] == 0 and head[3] == 0 and head[0] != 0:
        encoding = "utf-16-le"  # Excel's "Unicode text" sometimes has no BOM
    elif len(head) == 4 and head[0] == 0 and head[2] == 0 and head[1] != 0:
        encoding = "utf-16-be"
    else:
        return Member(member, buf, encoding)
    try:
        text = memoryview(buf).tobytes().decode(encoding)
    except UnicodeDecodeError as exc:
        raise ReportParseError(
            f"invalid {encoding} text at byte {exc.start}",
            file=label,
            member=member,
            expected="UTF-8 or UTF-16 text",
        ) from None
    return Member(member, pa.py_buffer(text.encode("utf-8")), encoding)


def _expand(
    raw: pa.Buffer,
    *,
    label: str,
    member: str | None,
    budget: _Budget,
    src: Source,
    depth: int,
) -> None:
    head = bytes(raw.slice(0, min(4, raw.size)))
    if head.startswith(_GZIP_MAGIC) or head.startswith(_ZIP_MAGICS):
        if depth >= _MAX_DEPTH:
            raise ReportParseError(
                "archive nested too deeply",
                file=label,
                member=member,
                expected="a ZIP or gzip of CSV files",
            )
        if src.container is None:
            src.container = "gzip" if head.startswith(_GZIP_MAGIC) else "zip"
    if head.startswith(_GZIP_MAGIC):
        inner = _gunzip(raw, label=label, member=member, budget=budget)
        _expand(
            pa.py_buffer(inner), label=label, member=member, budget=budget, src=src, depth=depth + 1
        )
        return
    if head.startswith(_ZIP_MAGICS):
        for name, data in _unzip(raw, label=label, budget=budget, skipped=src.skipped):
            _expand(
                pa.py_buffer(data),
                label=label,
                member=name,
                budget=budget,
                src=src,
                depth=depth + 1,
            )
        if not src.members:
            raise ReportParseError(
                "archive holds no report files", file=label, expected="at least one CSV member"
            )
        return
    src.members.append(_decode(raw, label=label, member=member))


def load_source(source: Any) -> Source:
    """Read ``source`` into a :class:`Source` of UTF-8 members.

    Raises:
        ReportParseError: a broken, hostile or oversized archive, or undecodable text.
        FileNotFoundError, IsADirectoryError, PermissionError: a path that cannot be read.
        TypeError: ``source`` is none of the accepted kinds.
    """
    label, raw, obj = _raw_bytes(source)
    src = Source(label=label, obj=obj)
    if raw is None:
        return src
    _expand(raw, label=label, member=None, budget=_Budget(label), src=src, depth=0)
    is_path = isinstance(source, os.PathLike) or (isinstance(source, str) and label != "<text>")
    plain = is_path and src.container is None
    if plain and len(src.members) == 1 and src.members[0].encoding in ("utf-8", "utf-8-sig"):
        src.members[0].path = label
    return src
