"""Safe decompression: gzip streams and ZIP archives, with caps that hold across nesting.

Every cap applies to one *source* (whatever the user passed), summed over every
level of nesting: a ZIP of ZIPs counts the members of all of them, and its
decompressed bytes and compression ratio are totals. A gzip stream is read
member after member, decompressed while it is consumed (never inflated whole
before the caps are checked), and anything after its last member that is not
another member raises, whatever its length; the ratio is computed on the
compressed bytes actually consumed, so zero padding cannot dilute it.
"""

from __future__ import annotations

import io
import itertools
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from .. import defaults
from ..errors import ReportParseError

_inflate: Any
try:  # ISA-L inflates gzip about twice as fast as zlib, with zlib's own API
    from isal import isal_zlib as _inflate
except ImportError:  # pragma: no cover - isal is a dependency; zlib is the fallback
    _inflate = zlib
# Both modules' errors (isal's is its own class).
_INFLATE_ERRORS: tuple[type[BaseException], ...] = (zlib.error, _inflate.error)

__all__ = [
    "Budget",
    "GzipStream",
    "check_zip",
    "gunzip",
    "member_key",
    "split_concatenated",
    "unzip",
]

GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
_FIRST_FEED = 1 << 12
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zipfile's own layout of a local file header


class Budget:
    """Running totals for one source: decompressed bytes and members, across every level."""

    def __init__(self, label: str, input_size: int = 0) -> None:
        self.label = label
        self.total = 0
        self.members = 0
        self.declared = 0
        self.input_size = input_size

    def add(self, n: int, *, member: str | None) -> None:
        """Count ``n`` more decompressed bytes; raise past the caps."""
        self.total += n
        cap = defaults.MAX_UNCOMPRESSED_BYTES
        if self.total > cap:
            raise ReportParseError(
                "the file expands to more than the allowed uncompressed size",
                file=self.label,
                member=member,
                expected=f"at most {cap:,} bytes in total (defaults.MAX_UNCOMPRESSED_BYTES; "
                "raise it for a larger report)",
            )
        if self.input_size:
            check_ratio(self.total, self.input_size, label=self.label, member=member)

    def add_members(self, n: int, declared: int) -> None:
        """Count the members and declared sizes of one more archive (nested ones included)."""
        self.members += n
        self.declared += declared
        if self.members > defaults.MAX_ZIP_MEMBERS:
            raise ReportParseError(
                f"the archive holds {self.members:,} members or more (nested archives counted)",
                file=self.label,
                expected=f"at most {defaults.MAX_ZIP_MEMBERS:,} in total "
                "(defaults.MAX_ZIP_MEMBERS)",
            )
        if self.declared > defaults.MAX_UNCOMPRESSED_BYTES:
            raise ReportParseError(
                f"the archive declares {self.declared:,} uncompressed bytes (nested archives "
                "counted)",
                file=self.label,
                expected=f"at most {defaults.MAX_UNCOMPRESSED_BYTES:,} "
                "(defaults.MAX_UNCOMPRESSED_BYTES)",
            )


def check_ratio(out: int, compressed: int, *, label: str, member: str | None) -> None:
    """Raise when ``out`` bytes came from too few ``compressed`` bytes."""
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


class GzipStream(io.RawIOBase):
    """A readable file of the decompressed content of a (multi-member) gzip buffer.

    Caps are enforced as bytes come out; errors are ReportParseError. Arrow's CSV
    reader pulls from it (through ``pyarrow.PythonFile``), so a large report is
    never held decompressed in memory as a whole.
    """

    def __init__(
        self, data: pa.Buffer | bytes, *, label: str, member: str | None, budget: Budget
    ) -> None:
        super().__init__()
        self._view = memoryview(data)
        self._label, self._member, self._budget = label, member, budget
        self._pos = 0  # start of the current gzip member in the input
        self._fed = 0  # input bytes handed to the current member's decompressor
        self._out = 0  # bytes produced so far
        self._d: Any = None
        self._feed = _FIRST_FEED
        self._pending = b""
        self._done = False
        self._start_member()

    def readable(self) -> bool:
        return True

    def _error(self, message: str) -> ReportParseError:
        return ReportParseError(message, file=self._label, member=self._member)

    def _start_member(self) -> None:
        rest = self._view[self._pos :]
        if not len(rest):
            self._done = True
            return
        if bytes(rest[:2]) != GZIP_MAGIC:
            # Only zero padding may follow the last member, and all of it is checked.
            for i in range(0, len(rest), _CHUNK):
                if any(rest[i : i + _CHUNK]):
                    raise ReportParseError(
                        f"{len(rest):,} bytes after the last gzip member are not gzip data "
                        "(a damaged or tampered download?)",
                        file=self._label,
                        member=self._member,
                        expected="gzip members only (or zero padding)",
                    )
            self._done = True
            return
        self._d = _inflate.decompressobj(16 + zlib.MAX_WBITS)
        self._fed = 0
        # Input is fed in growing pieces: zlib copies what a member leaves unused,
        # so a fixed 1 MB feed per member made a file of many tiny members quadratic.
        self._feed = _FIRST_FEED

    def _consumed(self) -> int:
        """Compressed bytes really consumed: fed, minus what zlib has not used yet."""
        d = self._d
        return self._pos + self._fed - len(d.unconsumed_tail) - len(d.unused_data)

    def _produce(self) -> bytes:
        """The next piece of output (b"" at the end of everything)."""
        while not self._done:
            d = self._d
            if d.eof:
                self._pos = self._consumed()
                self._start_member()
                continue
            if d.unconsumed_tail:
                chunk_in: bytes | memoryview = d.unconsumed_tail
            else:
                start = self._pos + self._fed
                chunk_in = self._view[start : start + self._feed]
                self._feed = min(self._feed * 2, _CHUNK)
                self._fed += len(chunk_in)
                if not len(chunk_in):
                    try:
                        piece = d.flush()
                    except _INFLATE_ERRORS as exc:
                        raise self._error(f"corrupt gzip data ({exc})") from None
                    if not d.eof:
                        raise self._error("gzip data ends early (truncated download?)")
                    if piece:
                        return self._count(piece)
                    continue
            try:
                piece = d.decompress(chunk_in, _CHUNK)
            except _INFLATE_ERRORS as exc:
                raise self._error(f"corrupt gzip data ({exc})") from None
            if piece:
                return self._count(piece)
        return b""

    def _count(self, piece: bytes) -> bytes:
        self._out += len(piece)
        self._budget.add(len(piece), member=self._member)
        check_ratio(self._out, self._consumed(), label=self._label, member=self._member)
        return piece

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            parts = [self._pending]
            self._pending = b""
            while piece := self._produce():
                parts.append(piece)
            return b"".join(parts)
        # Collect whole pieces, then cut once: no quadratic re-copying of a buffer.
        parts, have = [self._pending], len(self._pending)
        while have < size:
            piece = self._produce()
            if not piece:
                break
            parts.append(piece)
            have += len(piece)
        data = b"".join(parts) if len(parts) > 1 else parts[0]
        if len(data) <= size:
            self._pending = b""
            return data
        self._pending = data[size:]
        return data[:size]

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def gunzip(data: pa.Buffer, *, label: str, member: str | None, budget: Budget) -> bytes:
    """Decompress a whole gzip buffer (every member) under the caps."""
    return GzipStream(data, label=label, member=member, budget=budget).read()


def _zip_error(message: str, label: str, member: str | None = None, **kw: Any) -> ReportParseError:
    return ReportParseError(message, file=label, member=member, **kw)


def _check_layout(raw: memoryview, infos: list[zipfile.ZipInfo], label: str) -> None:
    """Refuse duplicate names and central-directory entries whose data overlap.

    Two entries with one name, or pointing into the same bytes, let a member be
    read twice (counted twice) or hide one behind another: a hostile archive.
    """
    seen: dict[str, str] = {}
    for info in infos:
        key = member_key(info.filename)
        if key in seen:
            raise _zip_error(
                f"two members have the same name ({seen[key]!r} and {info.filename!r} differ "
                "only in form: path, case or Unicode spelling): refusing an archive whose "
                "members could be read twice or hide each other",
                label,
                info.filename,
                expected="unique member names",
            )
        seen[key] = info.filename
    spans = []
    for info in infos:
        start = info.header_offset
        head = bytes(raw[start : start + _LOCAL_HEADER.size])
        if len(head) < _LOCAL_HEADER.size or head[:4] != b"PK\x03\x04":
            raise _zip_error(
                "a central-directory entry does not point at a member",
                label,
                info.filename,
                expected="a well-formed ZIP archive",
            )
        fields = _LOCAL_HEADER.unpack(head)
        name_len, extra_len = fields[-2], fields[-1]
        end = start + _LOCAL_HEADER.size + name_len + extra_len + info.compress_size
        spans.append((start, end, info.filename))
    spans.sort()
    for (_, prev_end, prev), (start, _, name) in itertools.pairwise(spans):
        if start < prev_end:
            raise _zip_error(
                f"members {prev!r} and {name!r} overlap: refusing an archive whose entries "
                "share data",
                label,
                name,
                expected="members stored one after the other",
            )


def member_key(name: str) -> str:
    """A member name in one form: ``./a.csv``, ``d//A.CSV`` and NFD spellings all meet.

    Slashes (either way) and ``.`` segments are normalised, Unicode is NFC, case
    is folded: two members with one key are one file as far as a user can tell.
    """
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    return unicodedata.normalize("NFC", "/".join(parts)).casefold()


def split_concatenated(data: pa.Buffer, *, label: str) -> list[pa.Buffer]:
    """The archives of ``data``: more than one when ZIPs were concatenated (``cat a.zip b.zip``).

    A ZIP reader finds only the last end-of-central-directory record, and takes
    whatever precedes that archive's first member as a stub to skip: the members
    of the archives before it would be lost without a word. When those leading
    bytes are themselves a ZIP (they start with a local file header), they are
    read too, recursively.
    """
    parts: list[pa.Buffer] = []
    rest = data
    while True:
        with open_zip(rest, label=label) as zf:
            offsets = [i.header_offset for i in zf.infolist()]
        start = min(offsets) if offsets else 0
        if start <= 0 or bytes(rest.slice(0, 4)) != b"PK\x03\x04":
            parts.append(rest)
            break
        parts.append(rest.slice(start))
        rest = rest.slice(0, start)
        if len(parts) > defaults.MAX_ZIP_MEMBERS:
            raise _zip_error("too many concatenated archives", label, expected="one ZIP archive")
    return parts[::-1]


def _unsafe_name(name: str) -> bool:
    if not name or "\x00" in name:
        return True
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return True
    parts = name.replace("\\", "/").split("/")
    return ".." in parts


def open_zip(data: pa.Buffer, *, label: str) -> zipfile.ZipFile:
    """A ZipFile over ``data`` (ReportParseError when it is not a readable archive)."""
    try:
        return zipfile.ZipFile(io.BytesIO(memoryview(data)))
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        NotImplementedError,  # an unsupported ZIP version or feature
        ValueError,
        EOFError,
        OSError,
    ) as exc:
        raise _zip_error(f"not a readable ZIP archive ({exc})", label) from None


def check_zip(zf: zipfile.ZipFile, data: pa.Buffer, *, label: str, budget: Budget) -> list[Any]:
    """Every check that needs no decompression; returns the file members."""
    infos = [i for i in zf.infolist() if not i.is_dir()]
    budget.add_members(len(infos), sum(i.file_size for i in infos))
    for info in infos:
        if _unsafe_name(info.filename):
            raise _zip_error(
                "unsafe member name (absolute path or '..'): refusing a hostile archive",
                label,
                info.filename,
                expected="relative member names without '..'",
            )
        if info.flag_bits & 0x1:
            raise _zip_error(
                "member is encrypted", label, info.filename, expected="an unencrypted ZIP"
            )
        check_ratio(info.file_size, info.compress_size, label=label, member=info.filename)
    _check_layout(memoryview(data), infos, label)
    return infos


def unzip(data: pa.Buffer, *, label: str, budget: Budget, skip: Any) -> Iterator[tuple[str, bytes]]:
    """Yield (name, bytes) of each member after every cap and layout check.

    ``skip(name)`` says which members are metadata to leave out.
    """
    zf = open_zip(data, label=label)
    with zf:
        infos = check_zip(zf, data, label=label, budget=budget)
        for info in infos:
            if skip(info.filename):
                continue
            try:
                with zf.open(info) as fh:
                    # One read of at most the declared size plus one byte: zipfile
                    # stops at the declared size, and more would be a lie we refuse.
                    out = fh.read(info.file_size + 1)
                if len(out) > info.file_size:
                    raise _zip_error(
                        "member is larger than its declared size", label, info.filename
                    )
                budget.add(len(out), member=info.filename)
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
                raise _zip_error(
                    f"cannot decompress member ({exc})", label, info.filename
                ) from None
            yield info.filename, out
