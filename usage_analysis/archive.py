"""The usage archive: every report read, kept as Parquet and queried through DuckDB.

Layout (Hive-style, readable by DuckDB, Spark, Trino, Dask and pyarrow alike)::

    <root>/provider=<provider>/account=<account>/month=<YYYY-MM>/part-<uuid>.parquet

``<root>`` is the ``archive=`` argument, else the ``USAGE_ANALYSIS_ARCHIVE``
variable, else ``<data dir>/archive``; any fsspec URL (``s3://bucket/prefix``)
works. Partition values are percent-encoded (a missing account is
``__HIVE_DEFAULT_PARTITION__``), and the partition columns are not repeated inside
the files, because Spark refuses a column that is both. The files hold the unified
columns except ``provider`` (``account_id`` stays, unencoded) plus where each row
came from: ``report_id``, ``source`` and ``archived_at``.

A later report replaces the rows of an earlier one with the same provider,
account, resource, meter and period: :func:`archive_frame` rewrites each affected
partition as one file holding the old rows not matched by the new report plus
the new rows. Nothing therefore counts twice, however often a period is fetched.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import duckdb
import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .defaults import ARCHIVE_DIRNAME, ARCHIVE_ENV, PROVIDERS
from .errors import InvalidParameter, SchemaError
from .paths import data_dir
from .schema import UNIFIED_COLUMNS, UNIFIED_DTYPES, coerce_unified

__all__ = [
    "ARCHIVE_ENV",
    "FILE_SCHEMA",
    "ArchiveWrite",
    "archive_file",
    "archive_frame",
    "archive_root",
    "history",
    "refresh",
    "sql",
]

log = logging.getLogger(__name__)

# Hive's spelling of a missing partition value, understood by Spark, Trino and DuckDB.
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
PARTITION_KEYS = ("provider", "account", "month")
PROVENANCE_COLUMNS = ("report_id", "source", "archived_at")

# What identifies "the same usage" across reports. ``meter`` stands in for a missing
# ``meter_id`` so readers that know only the meter's name still replace correctly.
_KEY_SQL = (
    "o.resource_id IS NOT DISTINCT FROM n.resource_id"
    " AND coalesce(o.meter_id, o.meter) IS NOT DISTINCT FROM coalesce(n.meter_id, n.meter)"
    " AND o.period_start = n.period_start"
    " AND o.period_end IS NOT DISTINCT FROM n.period_end"
)

_STRING_COLUMNS = tuple(c for c, t in UNIFIED_DTYPES.items() if t == "category")
_FILE_UNIFIED = tuple(c for c in UNIFIED_COLUMNS if c != "provider")


def _arrow_type(dtype: str) -> pa.DataType:
    if dtype == "category":
        return pa.string()
    if dtype.startswith("datetime64"):
        # Microseconds: DuckDB, Spark and Trino all read them natively; nanoseconds
        # need a flag in Spark and add nothing for daily or hourly usage.
        return pa.timestamp("us", tz="UTC")
    return pa.float64()


# The schema of every archive file (partition columns excluded, see module doc).
FILE_SCHEMA = pa.schema(
    [pa.field(c, _arrow_type(UNIFIED_DTYPES[c])) for c in _FILE_UNIFIED]
    + [
        pa.field("report_id", pa.string()),
        pa.field("source", pa.string()),
        pa.field("archived_at", pa.timestamp("us", tz="UTC")),
    ]
)
_VIEW_COLUMNS = (*UNIFIED_COLUMNS, *PROVENANCE_COLUMNS)
_FILTERABLE = (*(c for c in _STRING_COLUMNS if c != "provider"), "report_id", "source")


# --- where the archive is ----------------------------------------------------


def archive_root(archive: str | os.PathLike[str] | None = None) -> str:
    """Where the archive lives: the argument, else ``USAGE_ANALYSIS_ARCHIVE``, else the data dir."""
    if archive is not None:
        root = os.fspath(archive)
    else:
        root = os.environ.get(ARCHIVE_ENV) or str(data_dir(create=False) / ARCHIVE_DIRNAME)
    if not root:
        raise InvalidParameter("archive", "expected a directory or an fsspec URL, got ''")
    return root.rstrip("/") or "/"


@dataclass(frozen=True)
class _Store:
    """An archive root resolved to an fsspec filesystem and a path inside it."""

    fs: Any
    path: str

    @property
    def local(self) -> bool:
        return "file" in _protocols(self.fs)

    def url(self, path: str) -> str:
        """A path DuckDB can open: plain for local files, with the protocol otherwise."""
        return path if self.local else self.fs.unstrip_protocol(path)


def _protocols(fs: Any) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)


def _store(
    archive: str | os.PathLike[str] | None, storage_options: Mapping[str, Any] | None
) -> _Store:
    root = archive_root(archive)
    # fsspec rather than hand-written S3/GCS code: one API for every object store,
    # configured by the usual credentials chain or by ``storage_options``.
    fs, path = fsspec.core.url_to_fs(root, **dict(storage_options or {}))
    if "file" in _protocols(fs):
        path = str(Path(path).expanduser().resolve())
    return _Store(fs, path.rstrip("/"))


def _encode(value: object) -> str:
    """A partition value as it appears in a directory name."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return NULL_PARTITION
    # Percent-encode everything but a small safe set, so "/" or "=" in an account
    # id can never make a new directory level.
    return quote(str(value), safe="-_.@")


def _partition_dir(store: _Store, provider: str, account: object, month: str) -> str:
    return f"{store.path}/provider={_encode(provider)}/account={_encode(account)}/month={month}"


@contextlib.contextmanager
def _writer_lock(store: _Store) -> Iterator[None]:
    """Serialise writers on one machine; object stores have no locks (one writer at a time)."""
    if not store.local:
        yield
        return
    import fcntl

    Path(store.path).mkdir(parents=True, exist_ok=True)
    with open(Path(store.path) / ".lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- writing -----------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveWrite:
    """What one call to :func:`archive_frame` did."""

    report_id: str
    rows: int
    replaced: int
    partitions: tuple[str, ...]


def _clean_source(source: object) -> str | None:
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


def _frame_report_id(df: pd.DataFrame) -> str:
    """A report id derived from the rows, so archiving the same frame twice is idempotent."""
    digest = pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes()
    return "frame-" + hashlib.sha256(digest).hexdigest()[:16]


def _to_file_table(df: pd.DataFrame) -> pa.Table:
    arrays = []
    for field in FILE_SCHEMA:
        s = df[field.name]
        arr = pa.array(s, from_pandas=True)
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        arrays.append(arr.cast(field.type))
    return pa.Table.from_arrays(arrays, schema=FILE_SCHEMA)


def _read_partition(store: _Store, files: Sequence[str]) -> pa.Table:
    tables = [
        pq.read_table(f, filesystem=store.fs).select(FILE_SCHEMA.names).cast(FILE_SCHEMA)
        for f in files
    ]
    return pa.concat_tables(tables) if tables else FILE_SCHEMA.empty_table()


def _write_table(store: _Store, directory: str, table: pa.Table) -> str:
    store.fs.makedirs(directory, exist_ok=True)
    final = f"{directory}/part-{uuid.uuid4().hex}.parquet"
    # Local: write under a name the readers' glob skips, then rename atomically, so
    # a reader never sees half a file. Object stores publish a PUT atomically.
    target = f"{final}.tmp" if store.local else final
    with store.fs.open(target, "wb") as handle:
        pq.write_table(table, handle, compression="zstd")
    if store.local:
        os.replace(target, final)
    return final


def archive_frame(
    df: pd.DataFrame,
    *,
    report_id: str | None = None,
    source: str | os.PathLike[str] | None = None,
    account: str | None = None,
    archive: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> ArchiveWrite:
    """Write a unified frame into the archive, replacing rows an earlier report had.

    Rows are matched on provider, account, resource, meter and period; every old
    row matching a new one is dropped from its partition. ``report_id`` defaults to
    the frame's own ``report_id`` column, else a hash of the rows. ``source`` is kept
    without any query string, so a pre-signed URL never lands in the archive.
    A frame from :func:`history` can be archived again (to copy an archive): its
    ``report_id``, ``source`` and ``archived_at`` columns are kept. ``account``
    fills a missing ``account_id`` (a Particle CSV does not name its account).
    """
    if not isinstance(df, pd.DataFrame):
        raise InvalidParameter("df", f"expected a pandas DataFrame, got {type(df).__name__}")
    frame = coerce_unified(df)
    if account is not None:
        if not isinstance(account, str) or not account.strip():
            raise InvalidParameter("account", f"expected a non-empty account id, got {account!r}")
        ids_ = frame["account_id"]
        frame["account_id"] = ids_.astype("string").fillna(account).astype("category")
    if frame["provider"].isna().any():
        raise SchemaError("cannot archive rows without a provider")
    if frame["period_start"].isna().any():
        bad = frame.index[frame["period_start"].isna()][:5].tolist()
        raise SchemaError(f"cannot archive rows without a period_start (index {bad})")
    now = pd.Timestamp.now(tz="UTC").floor("us")
    if report_id is None:
        if "report_id" in frame.columns and frame["report_id"].notna().all():
            ids = frame["report_id"].astype("string")
        else:
            ids = pd.Series(_frame_report_id(frame[list(UNIFIED_COLUMNS)]), index=frame.index)
    else:
        ids = pd.Series(str(report_id), index=frame.index)
    frame["report_id"] = ids
    if source is not None or "source" not in frame.columns:
        frame["source"] = _clean_source(source)
    else:
        frame["source"] = frame["source"].astype("string").map(_clean_source, na_action="ignore")
    if "archived_at" not in frame.columns or frame["archived_at"].isna().any():
        frame["archived_at"] = now
    frame["archived_at"] = pd.to_datetime(frame["archived_at"], utc=True)
    summary_id = str(ids.iloc[0]) if len(ids) and ids.nunique() == 1 else "several"

    store = _store(archive, storage_options)
    if not store.local:
        # fsspec caches listings per filesystem instance: another writer's files
        # must be seen, or their rows would be kept beside the replacements.
        store.fs.invalidate_cache()
    starts = frame["period_start"]
    frame["_month"] = (starts.dt.year * 100 + starts.dt.month).astype("int64")
    replaced = 0
    written: list[str] = []
    with _writer_lock(store), duckdb.connect() as con:
        groups = frame.groupby(["provider", "account_id", "_month"], observed=True, dropna=False)
        for (provider, account, month_num), part in groups:
            month = f"{int(month_num) // 100:04d}-{int(month_num) % 100:02d}"
            directory = _partition_dir(store, str(provider), account, month)
            new = _to_file_table(part)
            old_files = sorted(store.fs.glob(f"{directory}/*.parquet"))
            kept = FILE_SCHEMA.empty_table()
            if old_files:
                old = _read_partition(store, old_files)
                con.register("o", old)
                con.register("n", new)
                kept = con.sql(f"SELECT o.* FROM o ANTI JOIN n ON {_KEY_SQL}").to_arrow_table()
                con.unregister("o")
                con.unregister("n")
                replaced += old.num_rows - kept.num_rows
            table = pa.concat_tables([kept.cast(FILE_SCHEMA), new]).sort_by(
                [("period_start", "ascending"), ("resource_id", "ascending")]
            )
            _write_table(store, directory, table)
            # Only after the new file is complete: a crash here leaves rows visible
            # twice until the same report is archived again, which repairs it (the
            # anti-join runs over every file of the partition).
            for f in old_files:
                store.fs.rm_file(f)
            written.append(directory[len(store.path) + 1 :])
    log.debug(
        "archived %d rows of report %s into %d partitions (%d replaced)",
        len(frame),
        summary_id,
        len(written),
        replaced,
    )
    return ArchiveWrite(summary_id, len(frame), replaced, tuple(written))


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def archive_file(
    path: str | os.PathLike[str],
    *,
    report_id: str | None = None,
    account: str | None = None,
    archive: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    **read_options: Any,
) -> ArchiveWrite:
    """Read a report file (any kind :func:`usage_analysis.read_report` knows) and archive it.

    ``report_id`` defaults to the file name plus a hash of its bytes: importing the
    same download twice changes nothing, a corrected re-download replaces it.
    ``account`` fills a missing account id (Particle files name none).
    ``read_options`` go to ``read_report`` (for example ``provider=``).
    """
    from .readers import read_report  # type: ignore[attr-defined,unused-ignore]

    file = Path(path).expanduser()
    if not file.is_file():
        raise InvalidParameter("path", f"{file}: expected an existing report file")
    df = read_report(file, unified=True, **read_options)
    rid = report_id or f"{file.name}@{_file_digest(file)[:12]}"
    return archive_frame(
        df,
        report_id=rid,
        source=str(file.resolve()),
        account=account,
        archive=archive,
        storage_options=storage_options,
    )


# --- reading -----------------------------------------------------------------


def _files(store: _Store) -> list[str]:
    pattern = f"{store.path}/provider=*/account=*/month=*/*.parquet"
    return sorted(store.url(p) for p in store.fs.glob(pattern))


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _connect(store: _Store) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with a view ``usage`` over every archive file."""
    con = duckdb.connect()
    # Timestamps come back in UTC whatever the machine's zone (ICU ships with duckdb).
    con.execute("SET TimeZone = 'UTC'")
    if not store.local:
        # DuckDB's own S3 support (httpfs) is an extension downloaded on first use,
        # which fails offline and behind strict proxies; handing DuckDB the fsspec
        # filesystem instead keeps read_parquet (and its pushdown) working with any
        # store fsspec knows, with the same credentials the writer used.
        store.fs.invalidate_cache()
        con.register_filesystem(store.fs)
    files = _files(store)
    if files:
        listing = "[" + ", ".join(_sql_string(f) for f in files) + "]"
        # Explicit partition types: DuckDB would otherwise read account=0123 as a number.
        con.execute(
            f"CREATE VIEW _usage_files AS SELECT * FROM read_parquet({listing}, "
            "hive_partitioning = true, "
            "hive_types = {'provider': VARCHAR, 'account': VARCHAR, 'month': VARCHAR})"
        )
    else:
        empty = FILE_SCHEMA.empty_table()
        for key in PARTITION_KEYS:
            empty = empty.append_column(key, pa.array([], pa.string()))
        con.register("_usage_files", empty)
    # ``account`` (the encoded directory name) stays out of the public view; history()
    # filters on it through _usage_files so DuckDB skips other accounts' files.
    con.execute(f"CREATE VIEW usage AS SELECT {', '.join(_VIEW_COLUMNS)}, month FROM _usage_files")
    return con


def _timestamp(value: object, parameter: str) -> pd.Timestamp:
    if not isinstance(value, str | date | datetime | pd.Timestamp):
        raise InvalidParameter(
            parameter, f"expected a date, datetime or ISO string, got {type(value).__name__}"
        )
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise InvalidParameter(
            parameter, f"expected an ISO date such as 2026-01-31: {exc}"
        ) from exc
    if ts is pd.NaT:
        raise InvalidParameter(parameter, "expected a date, got NaT")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _as_list(value: object) -> list[object]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        return [value]
    return list(value)


def _in_clause(column: str, values: Sequence[object], params: list[object]) -> str:
    present = [str(v) for v in values if v is not None and v is not pd.NA]
    parts = []
    if present:
        parts.append(f"{column} IN ({', '.join('?' for _ in present)})")
        params.extend(present)
    if len(present) < len(values):
        parts.append(f"{column} IS NULL")
    return "(" + " OR ".join(parts or ["false"]) + ")"


def _where(
    provider: str | Sequence[str] | None,
    start: object,
    end: object,
    filters: Mapping[str, object],
) -> tuple[str, list[object]]:
    """The WHERE clause, with partition-column conditions DuckDB uses to skip files."""
    clauses: list[str] = []
    params: list[object] = []
    if provider is not None:
        clauses.append(_in_clause("provider", _as_list(provider), params))
    if start is not None:
        ts = _timestamp(start, "start")
        clauses.append("month >= ?")
        params.append(ts.strftime("%Y-%m"))
        clauses.append("period_start >= ?")
        params.append(ts.to_pydatetime())
    if end is not None:
        ts = _timestamp(end, "end")
        clauses.append("month <= ?")
        params.append((ts - timedelta(microseconds=1)).strftime("%Y-%m"))
        clauses.append("period_start < ?")
        params.append(ts.to_pydatetime())
    for name, value in filters.items():
        if name not in _FILTERABLE:
            raise InvalidParameter(
                name,
                "not a filterable column; expected provider=, start=, end= or one of "
                + ", ".join(_FILTERABLE),
            )
        values = _as_list(value)
        if name == "account_id" and all(v is not None for v in values):
            clauses.append(_in_clause("account", [_encode(v) for v in values], params))
        clauses.append(_in_clause(name, values, params))
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _to_frame(table: pa.Table) -> pd.DataFrame:
    """Arrow -> pandas with the unified dtypes (categoricals built from Arrow dictionaries)."""
    columns = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            col = col.dictionary_encode()
        elif pa.types.is_timestamp(col.type):
            col = col.cast(pa.timestamp("ns", tz="UTC"))
        columns[name] = col
    # DuckDB's own .df() warns under pandas 3.1 (it calls drop(inplace=...)), and
    # Arrow's conversion keeps dictionaries as categoricals without a copy per string.
    return pa.table(columns).to_pandas()


def history(
    *,
    provider: str | Sequence[str] | None = None,
    start: str | date | datetime | None = None,
    end: str | date | datetime | None = None,
    archive: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    **filters: object,
) -> pd.DataFrame:
    """Archived usage as a unified frame (plus ``report_id``, ``source``, ``archived_at``).

    ``start`` (inclusive) and ``end`` (exclusive) bound ``period_start``; other
    keywords filter string columns (``product="Fleet"``, ``meter_id=[...]``, ``None``
    for missing). Filters run inside DuckDB over the Parquet files, and the
    provider, account and month conditions skip whole files.
    """
    where, params = _where(provider, start, end, filters)
    store = _store(archive, storage_options)
    with _connect(store) as con:
        table = con.sql(
            f"SELECT {', '.join(_VIEW_COLUMNS)} FROM _usage_files{where} "
            "ORDER BY period_start, provider, account_id, resource_id, meter_id",
            params=params,
        ).to_arrow_table()
    return coerce_unified(_to_frame(table))


def sql(
    query: str,
    *,
    params: Sequence[object] | Mapping[str, object] | None = None,
    archive: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Run a DuckDB query against the view ``usage`` over the archive.

    The view has the unified columns, ``report_id``, ``source``, ``archived_at`` and
    ``month`` (``YYYY-MM``, from the directory name: filtering or grouping on it reads
    no extra data). Example: ``sql("select month, product, sum(quantity) from usage
    where provider = 'particle' group by all order by all")``.
    """
    if not isinstance(query, str) or not query.strip():
        raise InvalidParameter("query", "expected a SQL statement over the view 'usage'")
    store = _store(archive, storage_options)
    with _connect(store) as con:
        try:
            rel = con.sql(query, params=params)
        except (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException) as exc:
            # A mistake in the query is the caller's: say so in the package's own terms.
            raise InvalidParameter("query", f"DuckDB cannot run it: {exc}") from exc
        if rel is None:  # older DuckDB: a statement without a result
            raise InvalidParameter("query", "expected a query returning rows (a SELECT)")
        return _to_frame(rel.to_arrow_table())


# --- refresh -----------------------------------------------------------------


def _default_client(provider: str) -> Any:
    """The provider's client, configured from the environment (see docs/clients.md)."""
    from .clients import HereClient, InformaticaClient, ParticleClient

    classes: dict[str, Any] = {
        "particle": ParticleClient,
        "here": HereClient,
        "informatica": InformaticaClient,
    }
    return classes[provider]()


def _last_end(store: _Store, provider: str, account: str) -> pd.Timestamp | None:
    """The end of the latest archived period of one provider account (DuckDB max, no rows read)."""
    with _connect(store) as con:
        # Through Arrow: DuckDB's Python values for TIMESTAMPTZ need pytz.
        row = (
            con.sql(
                "SELECT max(period_end) AS e, max(period_start) AS s FROM _usage_files "
                "WHERE provider = ? AND account = ? AND account_id = ?",
                params=[provider, _encode(account), account],
            )
            .to_arrow_table()
            .to_pylist()[0]
        )
    end, start = row["e"], row["s"]
    value = end if end is not None else start
    return None if value is None else pd.Timestamp(value).tz_convert("UTC")


def refresh(
    provider: str,
    *,
    until: str | date | datetime | None = None,
    start: str | date | datetime | None = None,
    client: Any = None,
    archive: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    progress: bool = False,
    timeout: float | None = None,
    **request_options: Any,
) -> list[ArchiveWrite]:
    """Fetch and archive only the days missing since the last archived period.

    The gap runs from the end of the latest archived period of the client's
    account (its day, so a partly archived day is asked for again and replaced)
    up to ``until`` (exclusive, default today in UTC: today is not over). When the
    archive has nothing for this account yet, ``start`` says the first day. The
    client (default: built from the environment) splits the gap into windows the
    provider accepts (HERE 95 days, Informatica 180 or 30) and keeps within its
    limit of outstanding reports; each provider job is archived as its own report.
    ``request_options`` go to the client's ``request`` (``report_type=``,
    ``detail_level=``, ``job_type=``...). Returns one :class:`ArchiveWrite` per
    provider job, none when the archive is up to date.
    """
    if provider not in PROVIDERS:
        raise InvalidParameter(
            "provider", f"expected one of {', '.join(PROVIDERS)}, got {provider!r}"
        )
    own = client is None
    if client is None:
        client = _default_client(provider)
    elif getattr(client, "provider", provider) != provider:
        raise InvalidParameter(
            "client", f"expected a {provider} client, got one for {client.provider!r}"
        )
    try:
        account = str(client.account)
        store = _store(archive, storage_options)
        stop = (
            _timestamp(until, "until") if until is not None else pd.Timestamp.now(tz="UTC")
        ).floor("D")
        last = _last_end(store, provider, account)
        if last is not None:
            first = last.floor("D")
        elif start is not None:
            first = _timestamp(start, "start").floor("D")
        else:
            raise InvalidParameter(
                "start",
                f"the archive holds no {provider} usage of account {account!r} yet: "
                "give start= (the first day to fetch)",
            )
        last_day = stop - pd.Timedelta(days=1)
        if first > last_day:
            log.debug("%s %s: archive is up to date until %s", provider, account, stop.date())
            return []
        log.debug("%s %s: fetching %s..%s", provider, account, first.date(), last_day.date())
        job = client.request(first.date(), last_day.date(), **request_options)
        job.download(progress=progress, timeout=timeout)
        written = []
        for leaf in job.leaves():
            frame = leaf.to_dataframe(unified=True, archive=False)
            written.append(
                archive_frame(
                    frame,
                    report_id=f"{provider}:{leaf.id}",
                    source=leaf.path,
                    account=account,
                    archive=archive,
                    storage_options=storage_options,
                )
            )
        return written
    finally:
        if own:
            client.close()
