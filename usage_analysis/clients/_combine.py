"""Join the files of a report split into parts into one file of the same format.

A range too long for one report is asked for in parts; their files are joined so
that a reader sees one report, exactly as the provider would have written it: a
CSV keeps the first part's header and the rows of every part; a gzipped CSV is
recompressed as one; a ZIP gets each member once, with the rows of that member
from every part. Everything is streamed: memory stays constant.

The client never parses CSV: it only drops each later part's first line (the
header), after checking it is the same header as the first part's.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import uuid
import zipfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Protocol

from ..errors import ReportParseError
from ._http import Download

__all__ = ["combine"]

_BOM = b"\xef\xbb\xbf"
_COPY_CHUNK = 1024 * 1024


class _Reader(Protocol):
    def readline(self) -> bytes: ...
    def read(self, size: int = ..., /) -> bytes: ...


class _Writer(Protocol):
    def write(self, data: bytes, /) -> int: ...


def _same_header(a: bytes, b: bytes) -> bool:
    return a.removeprefix(_BOM).rstrip(b"\r\n") == b.removeprefix(_BOM).rstrip(b"\r\n")


def _append(sources: Sequence[tuple[str, _Reader]], out: _Writer, *, what: str) -> None:
    """Write the first source whole, then every later source without its header line."""
    header = b""
    last = b"\n"
    for name, src in sources:
        first = src.readline()
        if not header:
            header = first
            if first:
                out.write(first)
                last = first[-1:]
        elif first and not _same_header(header, first):
            raise ReportParseError(
                f"cannot join the parts of {what}: their headers differ",
                file=name,
                line=1,
                expected=f"the first part's header {header[:120]!r}",
            )
        starting = True
        while chunk := src.read(_COPY_CHUNK):
            if starting and last != b"\n":
                # The previous part ended without a line break: its last row must
                # not run into this part's first one.
                out.write(b"\n")
            starting = False
            out.write(chunk)
            last = chunk[-1:]


def _finish(tmp: Path, dest: Path) -> Download:
    digest = hashlib.sha256()
    size = 0
    with open(tmp, "rb") as f:
        while chunk := f.read(_COPY_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    os.replace(tmp, dest)
    return Download(dest, size, digest.hexdigest())


def combine(files: Sequence[Path], dest: Path, *, what: str) -> Download:
    """Join ``files`` (all CSV, all gzipped CSV, or all ZIP) into ``dest`` atomically."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex[:8]}.part"
    try:
        if all(zipfile.is_zipfile(f) for f in files):
            _combine_zip(files, tmp, what=what)
        else:
            zipped = all(_is_gzip(f) for f in files)
            with ExitStack() as stack:
                opener = gzip.open if zipped else open
                sources = [(str(f), stack.enter_context(opener(f, "rb"))) for f in files]
                # compresslevel 1: the file is read once by pandas, size matters little.
                # Both closed by the ExitStack.
                writer = gzip.open(tmp, "wb", compresslevel=1) if zipped else open(tmp, "wb")  # noqa: SIM115
                out = stack.enter_context(writer)
                _append(sources, out, what=what)
        return _finish(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _combine_zip(files: Sequence[Path], tmp: Path, *, what: str) -> None:
    archives = [zipfile.ZipFile(f) for f in files]
    try:
        names: list[str] = []
        for archive in archives:
            for name in archive.namelist():
                if name not in names and not name.endswith("/"):
                    names.append(name)
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as out:
            for name in names:
                holders = [
                    (f, a) for f, a in zip(files, archives, strict=True) if name in a.namelist()
                ]
                if not name.lower().endswith(".csv"):
                    holders = holders[:1]  # not rows: keep the first part's copy
                members = [a.open(name) for _, a in holders]
                try:
                    with out.open(name, "w", force_zip64=True) as dst:
                        _append(
                            [
                                (f"{f}:{name}", m)
                                for (f, _), m in zip(holders, members, strict=True)
                            ],
                            dst,
                            what=what,
                        )
                finally:
                    for m in members:
                        m.close()
    finally:
        for archive in archives:
            archive.close()
