"""Where the archive lives and how each library reaches it.

One root, three clients: delta-rs (``deltalake``) commits and reads the log with
its own object-store options; pyarrow reads the data files (through fsspec for
object stores, pyarrow's own local filesystem otherwise); fsspec also lists the
Parquet files of an archive written before the Delta table.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import fsspec
import pyarrow.fs as pafs

from ..defaults import ARCHIVE_DIRNAME, ARCHIVE_ENV
from ..errors import ArchiveError, InvalidParameter
from ..paths import data_dir

__all__ = ["ArchiveError", "Store", "archive_root", "clean_source", "store"]

# fsspec (s3fs) option -> delta-rs object_store option.
_S3_KEYS = {
    "key": "AWS_ACCESS_KEY_ID",
    "secret": "AWS_SECRET_ACCESS_KEY",
    "token": "AWS_SESSION_TOKEN",
}
_S3_CLIENT_KEYS = {"endpoint_url": "AWS_ENDPOINT_URL", "region_name": "AWS_REGION"}


def archive_root(archive: str | os.PathLike[str] | None = None) -> str:
    """Where the archive lives: the argument, else ``USAGE_ANALYSIS_ARCHIVE``, else the data dir."""
    if archive is not None:
        root = os.fspath(archive)
    else:
        root = os.environ.get(ARCHIVE_ENV) or str(data_dir(create=False) / ARCHIVE_DIRNAME)
    if not root:
        raise InvalidParameter("archive", "expected a directory or an fsspec URL, got ''")
    return root.rstrip("/") or "/"


def clean_source(source: object) -> str | None:
    """Keep a source's location but never a query string or user info (pre-signed URLs)."""
    if source is None:
        return None
    text = os.fspath(source) if isinstance(source, os.PathLike) else str(source)
    parts = urlsplit(text)
    if parts.scheme and parts.netloc:
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, "", ""))
    return text


def _protocols(fs: Any) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)


def _delta_options(protocol: str, options: Mapping[str, Any]) -> dict[str, str]:
    """delta-rs options from fsspec-style ``storage_options`` (and delta-rs' own keys).

    Keys delta-rs knows (``AWS_*``, ``aws_*``, ``GOOGLE_*``, ``AZURE_*``...) pass
    through; s3fs' ``key``/``secret``/``token`` and ``client_kwargs`` endpoint and
    region are translated. A plain-HTTP endpoint (MinIO, a test server) needs
    ``AWS_ALLOW_HTTP``.
    """
    out: dict[str, str] = {}
    for name, value in options.items():
        if name in _S3_KEYS and protocol in ("s3", "s3a"):
            out[_S3_KEYS[name]] = str(value)
        elif name == "client_kwargs" and isinstance(value, Mapping):
            for k, v in value.items():
                if k in _S3_CLIENT_KEYS and v is not None:
                    out[_S3_CLIENT_KEYS[k]] = str(v)
        elif name.upper() == name or ("_" in name and name.split("_")[0] in (
            "aws", "google", "azure", "gcs", "allow", "timeout", "conditional",
        )):  # fmt: skip
            out[name] = str(value)
    endpoint = out.get("AWS_ENDPOINT_URL", "")
    if endpoint.startswith("http://"):
        out.setdefault("AWS_ALLOW_HTTP", "true")
    if endpoint:
        out.setdefault("AWS_REGION", "us-east-1")
    return out


def _fsspec_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options fsspec understands: delta-rs' upper-case keys are left out."""
    return {k: v for k, v in options.items() if k.upper() != k}


@dataclass(frozen=True)
class Store:
    """An archive root resolved for delta-rs, pyarrow and fsspec."""

    root: str  # as given (a path or URL), for messages
    uri: str  # the Delta table: a local path or a URL delta-rs opens
    fs: Any  # fsspec filesystem
    path: str  # the root inside ``fs``
    delta_options: dict[str, str]

    @property
    def local(self) -> bool:
        return "file" in _protocols(self.fs)

    def arrow_fs(self) -> pafs.FileSystem:
        """A pyarrow filesystem rooted at the table.

        pyarrow's own for local files; fsspec's for object stores (the same
        credentials as everything else). Not delta-rs' filesystem handler: its
        threads may abort the interpreter at exit when pyarrow read through it.
        """
        if self.local:
            return pafs.SubTreeFileSystem(self.path, pafs.LocalFileSystem())
        self.fs.invalidate_cache()
        return pafs.SubTreeFileSystem(self.path, pafs.PyFileSystem(pafs.FSSpecHandler(self.fs)))


def store(
    archive: str | os.PathLike[str] | None, storage_options: Mapping[str, Any] | None
) -> Store:
    root = archive_root(archive)
    options = dict(storage_options or {})
    # fsspec rather than hand-written S3/GCS code for everything delta-rs does not
    # do itself: one API for every object store, the usual credentials chain.
    fs, path = fsspec.core.url_to_fs(root, **_fsspec_options(options))
    protocol = _protocols(fs)[0]
    if "file" in _protocols(fs):
        path = str(Path(path).expanduser().resolve())
        uri = path
    else:
        uri = fs.unstrip_protocol(path.rstrip("/"))
        if protocol == "s3a":
            uri = "s3://" + uri.split("://", 1)[1]
    return Store(root, uri, fs, path.rstrip("/"), _delta_options(protocol, options))
