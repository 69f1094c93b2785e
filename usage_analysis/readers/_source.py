"""Turn whatever the caller passed into decoded, size-checked members.

A *source* is a path, ``bytes``, a file object (binary or text), a string of
CSV/JSON text, or already-parsed JSON (a HERE search page or a list of them).
The result is a :class:`Source`: a label for error messages and one or more
:class:`Member` buffers of UTF-8 text, whatever the original encoding and
packaging (gzip, ZIP, UTF-8 with or without BOM, UTF-16).

ZIP members and gzip streams are decompressed in memory, never onto disk, with
caps on member count, declared and actual size, and compression ratio (zip
bombs) that hold across nested archives, and member names are checked (path
traversal: a member called ``../../.bashrc`` is a hostile archive even though
nothing is extracted); see :mod:`._archive`. A plain gzipped report is not
inflated whole: the parser reads it through a capped stream. Excel workbooks
(``.xlsx``/``.xls``, whatever their file name) become the CSV of their report
sheet; an HTML page (a login or error page saved by mistake) is refused.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa

from ..errors import ReportParseError
from . import _excel
from ._archive import (
    GZIP_MAGIC,
    Budget,
    GzipStream,
    check_zip,
    member_key,
    open_zip,
    split_concatenated,
    unzip,
)
from ._stack import caller_level as _caller_level

__all__ = ["DuplicateMemberWarning", "Member", "Source", "load_source"]

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive
# Archives inside archives: a ZIP of gzipped CSVs is plausible, deeper is not.
_MAX_DEPTH = 2
_HTML_STARTS = ("<!doctype html", "<html", "<head", "<body", "<?xml")


class DuplicateMemberWarning(UserWarning):
    """An archive holds the same file twice (same bytes, at any nesting level): read once.

    ``df.attrs["skipped_members"]`` names the copies left out.
    """


@dataclass
class Member:
    """One text document: a bare file, a gzip payload, a ZIP member or a sheet, as UTF-8.

    ``raw`` holds the bytes, or is None for a gzipped file read through a capped
    stream (``opener``); ``data`` then inflates it on first use (error paths only).
    """

    name: str | None  # the ZIP member name; None for a bare file
    raw: pa.Buffer | None  # UTF-8 bytes, no BOM
    encoding: str = "utf-8"  # what the bytes were before transcoding
    # The file itself, when the member is a plain UTF-8 file on disk: the parser
    # then streams it instead of touching every page of the memory map.
    path: str | None = None
    opener: Callable[[], GzipStream] | None = None
    sheet: str | None = None  # the Excel sheet this member was read from
    uncached: list[str] = field(default_factory=list)  # formula cells with no saved value

    @property
    def data(self) -> pa.Buffer:
        """All the bytes (inflating a streamed gzip member once, under its caps)."""
        if self.raw is None:
            assert self.opener is not None
            self.raw = pa.py_buffer(self.opener().read())
            self.opener = None
        return self.raw

    @property
    def size(self) -> int | None:
        """The size in bytes, None while a gzip stream has not been inflated."""
        return None if self.raw is None else self.raw.size

    def head(self, size: int = 64 * 1024) -> str:
        """The first ``size`` bytes as text (a cut multi-byte character is replaced)."""
        if self.raw is None:
            assert self.opener is not None
            return self.opener().read(size).decode("utf-8", "replace")
        return bytes(self.raw.slice(0, min(size, self.raw.size))).decode("utf-8", "replace")

    def stream(self, skip: int = 0) -> Any:
        """An Arrow input stream of the bytes from offset ``skip``."""
        if self.raw is None and self.opener is not None:
            fh = self.opener()
            if skip:
                fh.read(skip)
            return pa.PythonFile(fh, mode="r")
        if self.path is not None and skip == 0:
            # Arrow skips a UTF-8 BOM itself; streaming keeps the peak memory down.
            return pa.input_stream(self.path)
        return pa.BufferReader(self.data.slice(skip))


@dataclass
class Source:
    """What :func:`load_source` found: a label for messages and the members."""

    label: str
    members: list[Member] = field(default_factory=list)
    obj: Any = None  # parsed JSON handed over as Python objects
    container: str | None = None  # "zip", "gzip", "excel" or None
    skipped: list[str] = field(default_factory=list)  # archive metadata members left out
    # Excel: hidden sheets (never read), and visible sheets that hold no report.
    hidden_sheets: list[str] = field(default_factory=list)
    other_sheets: list[str] = field(default_factory=list)
    size: int = 0  # bytes of the source as given (compressed if it is)


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


def _is_metadata(name: str) -> bool:
    # macOS Finder adds AppleDouble files when it re-zips; they are not reports.
    base = PurePosixPath(name.replace("\\", "/"))
    return base.parts[:1] == ("__MACOSX",) or base.name.startswith("._") or base.name == ".DS_Store"


def _check_html(head: bytes, *, label: str, member: str | None) -> None:
    text = head[:2048].decode("utf-8", "replace").lstrip("\ufeff \t\r\n").casefold()
    if text.startswith(_HTML_STARTS) or ("<html" in text and "<body" in text):
        raise ReportParseError(
            "this is an HTML page, not a report (a login or error page saved instead of "
            "the download?)",
            file=label,
            member=member,
            line=1,
            expected="the report file itself: CSV, gzipped CSV, ZIP, Excel workbook or JSON",
        )


def _decode(raw: bytes | pa.Buffer, *, label: str, member: str | None) -> Member:
    """Transcode to UTF-8 without BOM; UTF-8 input is passed through without a copy."""
    buf = raw if isinstance(raw, pa.Buffer) else pa.py_buffer(raw)
    head = bytes(buf.slice(0, min(4, buf.size)))
    encoding = "utf-8"
    if head.startswith(b"\xef\xbb\xbf"):
        buf, encoding = buf.slice(3), "utf-8-sig"
    elif head.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    elif len(head) == 4 and head[1] == 0 and head[3] == 0 and head[0] != 0:
        encoding = "utf-16-le"  # Excel's "Unicode text" sometimes has no BOM
    elif len(head) == 4 and head[0] == 0 and head[2] == 0 and head[1] != 0:
        encoding = "utf-16-be"
    if encoding.startswith("utf-16"):
        try:
            text = memoryview(buf).tobytes().decode(encoding)
        except UnicodeDecodeError as exc:
            raise ReportParseError(
                f"invalid {encoding} text at byte {exc.start}",
                file=label,
                member=member,
                expected="UTF-8 or UTF-16 text",
            ) from None
        buf = pa.py_buffer(text.encode("utf-8"))
    _check_html(bytes(buf.slice(0, min(4096, buf.size))), label=label, member=member)
    return Member(member, _cr_to_lf(buf), encoding)


def _cr_to_lf(buf: pa.Buffer) -> pa.Buffer:
    """Old Mac line endings (CR only) as LF: both parsers then see the rows."""
    head = bytes(buf.slice(0, min(64 * 1024, buf.size)))
    if b"\r" in head and b"\n" not in head:
        return pa.py_buffer(memoryview(buf).tobytes().replace(b"\r", b"\n"))
    return buf


def _is_plain_utf8(head: bytes) -> bool:
    """True when a decompressed head can go to the parser as it is (no transcoding)."""
    if head.startswith((GZIP_MAGIC, *_ZIP_MAGICS, _excel.XLS_MAGIC[:4], b"\xff\xfe", b"\xfe\xff")):
        return False
    if len(head) >= 4 and (head[1] == 0 or head[0] == 0):
        return False  # UTF-16 without BOM
    return not (b"\r" in head and b"\n" not in head)


def _workbook(data: bytes, *, label: str, member: str | None, src: Source) -> None:
    """The visible sheets become members; hidden ones are listed (and said) but not read."""
    found = _excel.sheets(data, label=label, member=member)
    src.container = src.container or "excel"
    for sheet in found:
        if not sheet.visible:
            src.hidden_sheets.append(sheet.name)
            continue
        m = _decode(pa.py_buffer(sheet.csv), label=label, member=member)
        m.sheet = sheet.name
        m.uncached = list(sheet.uncached)
        src.members.append(m)
    if not src.members:
        raise ReportParseError(
            f"every sheet with data is hidden ({', '.join(src.hidden_sheets)}): a hidden sheet "
            "often holds old numbers, so none is read",
            file=label,
            member=member,
            expected="the report on a visible sheet (unhide it if it is the report)",
        )


def _expand(
    raw: pa.Buffer,
    *,
    label: str,
    member: str | None,
    budget: Budget,
    src: Source,
    depth: int,
) -> None:
    head = bytes(raw.slice(0, min(8, raw.size)))
    if head.startswith(_excel.XLS_MAGIC):
        _workbook(memoryview(raw).tobytes(), label=label, member=member, src=src)
        return
    if (head.startswith(GZIP_MAGIC) or head.startswith(_ZIP_MAGICS)) and depth >= _MAX_DEPTH:
        raise ReportParseError(
            "archive nested too deeply",
            file=label,
            member=member,
            expected="a ZIP or gzip of CSV files",
        )
    if head.startswith(GZIP_MAGIC):
        src.container = src.container or "gzip"

        def opener() -> GzipStream:
            return GzipStream(raw, label=label, member=member, budget=Budget(label, raw.size))

        first = opener()
        inner_head = first.read(256 * 1024)
        if len(inner_head) < 256 * 1024 or not first.read(1):
            # Small once inflated: keep the bytes, so no later step inflates it again
            # (a file of a million empty gzip members then costs one pass, not four).
            budget.add(len(inner_head), member=member)
            _expand(
                pa.py_buffer(inner_head),
                label=label,
                member=member,
                budget=budget,
                src=src,
                depth=depth + 1,
            )
            return
        inner_head = inner_head[: 64 * 1024]
        if depth == 0 and _is_plain_utf8(inner_head):
            _check_html(inner_head, label=label, member=member)
            # Read through the capped stream: never inflated whole before parsing.
            src.members.append(
                Member(
                    member,
                    None,
                    "utf-8-sig" if inner_head[:3] == b"\xef\xbb\xbf" else "utf-8",
                    opener=opener,
                )
            )
            return
        inner = GzipStream(raw, label=label, member=member, budget=budget).read()
        _expand(
            pa.py_buffer(inner), label=label, member=member, budget=budget, src=src, depth=depth + 1
        )
        return
    if head.startswith(_ZIP_MAGICS):
        with open_zip(raw, label=label) as zf:
            names = zf.namelist()
            if _excel.is_xlsx(names):
                check_zip(zf, raw, label=label, budget=budget)
                _workbook(memoryview(raw).tobytes(), label=label, member=member, src=src)
                return
        src.container = src.container or "zip"

        def skip(name: str) -> bool:
            if _is_metadata(name):
                src.skipped.append(name)
                return True
            return False

        for part in split_concatenated(raw, label=label):
            for name, data in unzip(part, label=label, budget=budget, skip=skip):
                _expand(
                    pa.py_buffer(data),
                    label=label,
                    member=name if member is None else f"{member}/{name}",
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


def _drop_copies(src: Source) -> None:
    """One copy of each file: members are compared by name form and by content digest.

    The same bytes twice (``a.csv`` beside ``backup.zip/a.csv``, or under two names)
    are read once, with a :class:`DuplicateMemberWarning`; two different files
    whose names differ only in form (``./a.csv``/``A.csv``/NFD) are refused.
    """
    by_digest: dict[bytes, str] = {}
    by_key: dict[str, str] = {}
    kept = []
    for m in src.members:
        name = (m.name or "") + (f"[sheet {m.sheet}]" if m.sheet else "")
        digest = hashlib.blake2b(memoryview(m.data), digest_size=20).digest()
        if digest in by_digest:
            src.skipped.append(name)
            warnings.warn(
                DuplicateMemberWarning(
                    f"{src.label}: member {name!r} holds the same bytes as "
                    f"{by_digest[digest]!r}; it is read once"
                ),
                stacklevel=_caller_level(),
            )
            continue
        key = member_key(name)
        if key in by_key:
            raise ReportParseError(
                f"two members have the same name ({by_key[key]!r} and {name!r} differ only in "
                "form) but different content: refusing an archive whose members could be read "
                "twice or hide each other",
                file=src.label,
                member=name,
                expected="unique member names",
            )
        by_digest[digest] = by_key[key] = name
        kept.append(m)
    src.members = kept


def load_source(source: Any) -> Source:
    """Read ``source`` into a :class:`Source` of UTF-8 members.

    Raises:
        ReportParseError: a broken, hostile or oversized archive, an HTML page, or
            undecodable text.
        FileNotFoundError, IsADirectoryError, PermissionError: a path that cannot be read.
        TypeError: ``source`` is none of the accepted kinds.
    """
    label, raw, obj = _raw_bytes(source)
    src = Source(label=label, obj=obj)
    if raw is None:
        return src
    src.size = raw.size
    _expand(raw, label=label, member=None, budget=Budget(label, raw.size), src=src, depth=0)
    if len(src.members) > 1:
        _drop_copies(src)
    is_path = isinstance(source, os.PathLike) or (isinstance(source, str) and label != "<text>")
    plain = is_path and src.container is None
    only = src.members[0] if len(src.members) == 1 else None
    # Not when CR line endings were rewritten: the file on disk still has them.
    unchanged = (
        only is not None
        and only.raw is not None
        and only.raw.address in (raw.address, raw.address + 3)
    )
    if plain and unchanged and only is not None and only.encoding in ("utf-8", "utf-8-sig"):
        only.path = label
    return src
