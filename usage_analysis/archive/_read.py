"""Reading the archive: history() as a frame, sql() through DuckDB; one grain per period."""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from deltalake import DeltaTable

from .._memory import release_memory
from ..errors import InvalidParameter
from ..grains import choose_grains, grain_choice, month_index
from ..schema import UNIFIED_COLUMNS, UNIFIED_DTYPES
from ._frames import FrameBuilder, check_ns_range, sort_rows
from ._migrate import ensure_migrated
from ._store import Store, store
from ._table import (
    PARTITIONS,
    PROVENANCE_COLUMNS,
    TABLE_SCHEMA,
    archive_errors,
    extra_columns,
    open_table,
    table_files,
    table_schema,
)

__all__ = ["history", "sql", "sql_arrow"]

# What history() returns by default, in this order (columns readers added, such
# as HERE's project and billing_tag, come after the unified ones).
HISTORY_COLUMNS = (*UNIFIED_COLUMNS, "grain", *PROVENANCE_COLUMNS)
_DICT = pa.dictionary(pa.int32(), pa.string())


def _read_schema(schema: pa.Schema) -> pa.Schema:
    """The table's schema as read: strings that are not partition values come as
    dictionaries straight from Parquet's dictionary pages (the declared schema
    wins over the read option, so it must say so too)."""
    return pa.schema(
        [
            pa.field(f.name, _DICT)
            if pa.types.is_string(f.type) and f.name not in PARTITIONS
            else f
            for f in schema
        ]
    )


def _string_columns(schema: pa.Schema) -> list[str]:
    return [f.name for f in schema if pa.types.is_string(f.type)]


# --- which files a query sees ---------------------------------------------------


def _month_number(label: Any) -> int | None:
    """Months since 1970-01 of a ``YYYY-MM`` partition value (any number of year digits)."""
    try:
        year, month = str(label).rsplit("-", 1)
        y, m = int(year), int(month)
    except ValueError:
        return None
    return (y - 1970) * 12 + m - 1 if 1 <= m <= 12 else None


def _us(column: Any) -> np.ndarray:
    """Timestamps (Arrow) as microseconds since 1970; missing as the int64 minimum."""
    arr = pc.cast(column, pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return pc.fill_null(arr, np.iinfo(np.int64).min).to_numpy(zero_copy_only=False)


@dataclass
class Snapshot:
    """One version of the table and what a query over it shows: ``history()`` and
    ``sql()`` both read through it, so they see the same files and grains."""

    store: Store
    table: DeltaTable | None
    schema: pa.Schema
    files: pa.Table | None
    chosen: set[tuple[Any, ...]]
    # DuckDB's database for queries over this snapshot and the statements making its
    # views, made on the first query (None: not yet; False: the views do not apply).
    _duckdb: tuple[duckdb.DuckDBPyConnection, tuple[str, ...]] | bool | None = dataclass_field(
        default=None, repr=False, compare=False
    )
    _lock: threading.Lock = dataclass_field(
        default_factory=threading.Lock, repr=False, compare=False
    )

    def database(self) -> tuple[duckdb.DuckDBPyConnection, tuple[str, ...]] | None:
        """A DuckDB database kept with this snapshot (its Parquet footers read once:
        a snapshot's files never change) and the statements creating the views
        ``usage`` and ``usage_all`` over its files with DuckDB's own Parquet reader
        (local files); None where they do not apply. Each query runs on a cursor of
        its own, the views temporary in it (:func:`_connect`): what a query does to
        its connection ends with it."""
        with self._lock:
            if self._duckdb is None:
                views = _native_views(self)
                if views is None:
                    self._duckdb = False
                else:
                    con = duckdb.connect()
                    con.execute("SET parquet_metadata_cache = true")
                    self._duckdb = (con, views)
            return self._duckdb if isinstance(self._duckdb, tuple) else None

    @property
    def columns(self) -> list[str]:
        return self.schema.names

    @property
    def extras(self) -> list[str]:
        return extra_columns(self.schema.names)

    def relative(self, path: str) -> str:
        return unquote(path)  # the log's paths are URL-encoded

    def rows(self, which: set[tuple[Any, ...]] | None) -> int:
        if self.files is None:
            return 0
        return sum(
            int(r["num_records"] or 0)
            for r in self.files.select([*PARTITIONS, "num_records"]).to_pylist()
            if which is None or tuple(r[k] for k in PARTITIONS) in which
        )


def _pieces(files: pa.Table) -> tuple[pd.DataFrame, dict[tuple[Any, ...], tuple[Any, ...]]]:
    """The rule's pieces (one per partition: month, and the month its rows reach),
    and each piece's partition."""
    starts = _us(files["min.period_start"])
    ends = _us(files["max.period_end"])
    latest = _us(files["max.period_start"])
    nat = np.iinfo(np.int64).min
    end = np.where(ends != nat, ends - 1, latest)
    frame = pd.DataFrame(
        {k: files[k].to_pylist() for k in PARTITIONS} | {"first": starts, "end": end}
    )
    frame = frame[files["num_records"].to_numpy(zero_copy_only=False) > 0]
    labels: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    rows = []
    for key, part in frame.groupby(list(PARTITIONS), dropna=False, sort=False):
        provider, account, grain, month = (None if pd.isna(v) else v for v in key)
        number = _month_number(month)
        if number is None:  # not our label: the month of the rows' first start
            first = part["first"][part["first"] != nat]
            number = int(month_index(first.to_numpy().min(keepdims=True))[0]) if len(first) else 0
        last = part["end"][part["end"] != nat]
        reach = int(month_index(last.to_numpy().max(keepdims=True))[0]) if len(last) else number
        key = (provider, account, grain, number)
        labels[key] = (provider, account, grain, month)
        rows.append((provider, account, grain, number, reach))
    pieces = pd.DataFrame(rows, columns=["provider", "account_id", "grain", "month", "reach"])
    return pieces, labels


def _chosen_partitions(
    s: Store, table: DeltaTable, files: pa.Table, choice: Mapping[str, tuple[str, ...]]
) -> set[tuple[Any, ...]]:
    """The (provider, account, grain, month) partitions a view shows: the grain rule
    (:func:`usage_analysis.grains.choose_grains`) over the table's partitions, with
    the row periods read only where a block holds more than one grain."""
    pieces, labels = _pieces(files)

    def intervals(wanted: pd.DataFrame) -> pd.DataFrame:
        parts = {
            labels[(p, a, g, int(m))]
            for p, a, g, m in wanted[["provider", "account_id", "grain", "month"]].itertuples(
                index=False
            )
        }
        keep = [
            (row["path"], tuple(row[k] for k in PARTITIONS))
            for row in files.select(["path", *PARTITIONS]).to_pylist()
            if tuple(row[k] for k in PARTITIONS) in parts
        ]
        fs = s.arrow_fs()
        out = []
        for path, (provider, account, grain, _) in keep:
            data = pq.read_table(
                unquote(path), columns=["period_start", "period_end"], filesystem=fs
            )
            start = _us(data["period_start"])
            end = _us(data["period_end"])
            nat = np.iinfo(np.int64).min
            ok = start != nat
            end = np.where((end == nat) | (end <= start), start + 1, end)
            spans = pd.DataFrame({"start": start[ok], "end": end[ok]}).drop_duplicates()
            out.append(spans.assign(provider=provider, account_id=account, grain=grain))
        if not out:
            return pd.DataFrame(columns=["provider", "account_id", "grain", "start", "end"])
        return pd.concat(out, ignore_index=True).drop_duplicates()

    chosen = choose_grains(pieces, choice, intervals)
    return {labels[key] for key in chosen}


# The snapshots read last, per archive, table, version and grain choice. A query on a
# table that has not changed reuses its file list, the grain rule's choice and the
# DuckDB views over them (0.3 to 0.6 s a query on the 100,000-device year, at load 4
# to 8); delta-rs still reads the log each time to learn the version, so any commit
# (an append, a replace, an optimize), or another table made at the same place (a
# new table id), is read afresh.
SNAPSHOT_CACHE_SIZE = 8
_SNAPSHOTS: OrderedDict[tuple[Any, ...], Snapshot] = OrderedDict()
_SNAPSHOTS_LOCK = threading.Lock()


def _snapshot_key(
    s: Store, table: DeltaTable, choice: Mapping[str, tuple[str, ...]]
) -> tuple[Any, ...]:
    return (
        s.uri,
        tuple(sorted(s.delta_options.items())),
        table.metadata().id,
        table.version(),
        tuple(sorted(choice.items())),
    )


def snapshot(
    s: Store,
    as_of: object,
    grain: str | Mapping[str, str] | None,
    latest: DeltaTable | None = None,
) -> Snapshot:
    """The table at ``as_of`` and the partitions the one-grain view shows (kept per
    table version: ``SNAPSHOT_CACHE_SIZE``). ``latest``: the table just opened at its
    latest version (by :func:`ensure_migrated`), used when ``as_of`` is None."""
    choice = grain_choice(grain)
    table = latest if latest is not None and as_of is None else open_table(s, as_of)
    if table is None:
        return Snapshot(s, None, TABLE_SCHEMA, None, set())
    key = _snapshot_key(s, table, choice)
    with _SNAPSHOTS_LOCK:
        kept = _SNAPSHOTS.get(key)
        if kept is not None:
            _SNAPSHOTS.move_to_end(key)
            return kept
    files = table_files(table)
    snap = Snapshot(
        s, table, table_schema(table), files, _chosen_partitions(s, table, files, choice)
    )
    with _SNAPSHOTS_LOCK:
        # One snapshot kept per archive and grain choice: an older version's files,
        # views and DuckDB database (50 MB of footers for the 100,000-device year)
        # are let go when a newer one is read.
        for other in [k for k in _SNAPSHOTS if k[:2] == key[:2] and k[4] == key[4]]:
            del _SNAPSHOTS[other]
        _SNAPSHOTS[key] = snap
        while len(_SNAPSHOTS) > SNAPSHOT_CACHE_SIZE:
            _SNAPSHOTS.popitem(last=False)
    return snap


def _keys(fragment: Any) -> dict[str, Any]:
    keys = ds.get_partition_keys(fragment.partition_expression)
    return {k: keys.get(k) for k in PARTITIONS}


def _partition(fragment: Any) -> ds.Expression:
    expr = ds.scalar(True)
    for name, value in _keys(fragment).items():
        field = ds.field(name)
        expr = expr & (field.is_null() if value is None else field == value)
    return expr


def _datasets(snap: Snapshot) -> tuple[ds.Dataset, ds.Dataset, int]:
    """Every row, and the rows of the chosen grain, as Arrow datasets over the
    snapshot's files; and how many rows the chosen files hold (from the log)."""
    read_schema = _read_schema(snap.schema)
    if snap.table is None:
        empty = ds.dataset(read_schema.empty_table())
        return empty, empty, 0
    fmt = ds.ParquetFileFormat(
        read_options=ds.ParquetReadOptions(
            dictionary_columns=[c for c in _string_columns(snap.schema) if c not in PARTITIONS]
        )
    )
    full = snap.table.to_pyarrow_dataset(filesystem=snap.store.arrow_fs())
    fragments = list(full.get_fragments())
    keep = [f for f in fragments if tuple(_keys(f).values()) in snap.chosen]

    def rebuild(frags: list[Any]) -> ds.Dataset:
        # Each file's partition values only: delta-rs's own expressions also carry
        # its statistics, and read a column without min/max as ">= null" (no rows).
        made = [
            fmt.make_fragment(f.path, f.filesystem, partition_expression=_partition(f))
            for f in frags
        ]
        return ds.FileSystemDataset(made, read_schema, fmt, full.filesystem)

    return rebuild(fragments), rebuild(keep), snap.rows(snap.chosen)


# --- filters ------------------------------------------------------------------


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


def _one_of(column: str, values: Sequence[object]) -> ds.Expression:
    present = [str(v) for v in values if v is not None and v is not pd.NA]
    field = ds.field(column)
    parts = []
    if present:
        parts.append(field.isin(present))
    if len(present) < len(values):
        parts.append(field.is_null())
    if not parts:
        return ds.scalar(False)
    expr = parts[0]
    for p in parts[1:]:
        expr = expr | p
    return expr


def _filter(
    provider: str | Sequence[str] | None,
    start: object,
    end: object,
    filters: Mapping[str, object],
    filterable: Sequence[str],
) -> tuple[ds.Expression | None, bool]:
    """The filter (partition conditions first, so whole files are skipped); and
    whether it can drop rows inside a file (then unused categories are dropped)."""
    clauses: list[ds.Expression] = []
    within = False
    if provider is not None:
        clauses.append(_one_of("provider", _as_list(provider)))
    ts_type = pa.timestamp("us", tz="UTC")
    if start is not None:
        ts = _timestamp(start, "start")
        clauses.append(ds.field("month") >= ts.strftime("%Y-%m"))
        clauses.append(ds.field("period_start") >= pa.scalar(ts.floor("us"), ts_type))
        within = True
    if end is not None:
        ts = _timestamp(end, "end")
        clauses.append(ds.field("month") <= (ts - timedelta(microseconds=1)).strftime("%Y-%m"))
        clauses.append(ds.field("period_start") < pa.scalar(ts.ceil("us"), ts_type))
        within = True
    for name, value in filters.items():
        if name not in filterable:
            raise InvalidParameter(
                name,
                f"the archive has no filterable column {name!r}; expected provider=, start=, "
                "end=, grain=, columns=, sort=, as_of= or one of " + ", ".join(filterable),
            )
        clauses.append(_one_of(name, _as_list(value)))
        within = within or name != "account_id"
    if not clauses:
        return None, False
    expr = clauses[0]
    for c in clauses[1:]:
        expr = expr & c
    return expr, within


# --- frames -------------------------------------------------------------------


def _to_pandas(holder: list[pa.Table], *, drop_unused: bool) -> pd.DataFrame:
    """Arrow -> pandas: strings as categoricals (from Arrow dictionaries), UTC ns timestamps.

    ``holder`` hands the one table over: once its dictionaries are unified, the
    table itself is released, so its rows are never held three times.
    """
    table = holder.pop()
    columns = {}
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            col = col.dictionary_encode()
        elif pa.types.is_timestamp(col.type):
            check_ns_range(col, name)
        columns[name] = col
    arrow = pa.table(columns).unify_dictionaries()
    del columns, table
    # Arrow's conversion keeps dictionaries as categoricals without a copy per
    # string; split_blocks + self_destruct free each Arrow column once converted.
    df = arrow.to_pandas(split_blocks=True, self_destruct=True, coerce_temporal_nanoseconds=True)
    del arrow
    for name in df.columns:
        if isinstance(df[name].dtype, pd.CategoricalDtype):
            column = df[name].cat.remove_unused_categories() if drop_unused else df[name]
            # Sorted, as history() gives them: the same categories in the same order.
            df[name] = column.cat.reorder_categories(sorted(column.cat.categories))
    for name, dtype in UNIFIED_DTYPES.items():
        if name in df.columns and str(df[name].dtype) != dtype:
            df[name] = df[name].astype(dtype)
    return df


def _batches(
    dataset: ds.Dataset, columns: Sequence[str], expr: ds.Expression | None
) -> Iterator[tuple[pa.RecordBatch, dict[str, Any]]]:
    """The rows, batch by batch, with the values of the wanted partition columns."""
    physical = [c for c in columns if c not in PARTITIONS]
    wanted = [c for c in columns if c in PARTITIONS]
    # Little read-ahead: each batch is converted and let go; buffers ahead only add.
    scanner = dataset.scanner(
        columns=physical, filter=expr, batch_readahead=2, fragment_readahead=1
    )
    for tagged in scanner.scan_batches():
        if tagged.record_batch.num_rows:
            keys = _keys(tagged.fragment) if wanted else {}
            yield tagged.record_batch, {name: keys[name] for name in wanted}


def history(
    *,
    provider: str | Sequence[str] | None = None,
    start: str | date | datetime | None = None,
    end: str | date | datetime | None = None,
    grain: str | Mapping[str, str] | None = None,
    columns: Sequence[str] | None = None,
    sort: bool = False,
    as_of: int | str | date | datetime | None = None,
    archive: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    **filters: object,
) -> pd.DataFrame:
    """Archived usage rows as a unified frame (plus ``grain``, ``report_id``, ``source``,
    ``archived_at``), one grain per provider, account and month.

    For totals, do not add up this frame: ask :func:`sql` (DuckDB aggregates
    without building rows in pandas), or pass a *filtered* history (few
    columns, a short range) to ``usage_by``.

    ``start`` (inclusive) and ``end`` (exclusive) bound ``period_start``; other
    keywords filter string columns (``product="Fleet"``, ``meter_id=[...]``,
    ``None`` for missing). ``grain``: which grain to show (default: Particle
    ``devices``, HERE ``day`` else ``hour``, ``month``, ``summarized``,
    Informatica ``SUMMARY``); a grain name shows only that grain, a dict
    ``{provider: grain}`` overrides some providers. ``columns``: only these.
    ``sort``: order by period, provider, account, resource and meter (off: rows
    come in file order, which is faster). ``as_of``: the archive as it was at a
    table version (int) or a moment ("what did we know on invoice day": a date
    means the end of that day, UTC).
    """
    s = store(archive, storage_options)
    with archive_errors(s, "read"):
        snap = snapshot(s, as_of, grain, ensure_migrated(s))
        default = [*UNIFIED_COLUMNS, *snap.extras, "grain", *PROVENANCE_COLUMNS]
        names = [str(c) for c in (default if columns is None else _as_list(columns))]
        unknown = [c for c in names if c not in snap.columns]
        if unknown:
            raise InvalidParameter(
                "columns",
                f"unknown columns {unknown}; expected some of {', '.join(snap.columns)}",
            )
        filterable = [
            c for c in _string_columns(snap.schema) if c not in ("provider", "month", "grain")
        ]
        expr, within = _filter(provider, start, end, filters, filterable)
        _, chosen, rows = _datasets(snap)
        # Sized for every row of the chosen files: rows a filter drops cost no memory.
        builder = FrameBuilder({c: snap.schema.field(c).type for c in names}, capacity=rows)
        df = builder.add_all(_batches(chosen, names, expr)).frame(drop_unused=within)
    # The record batches are gone; Arrow's pool kept their memory (1.4 GB after 12M rows).
    release_memory()
    if sort:
        df = sort_rows(df, ("period_start", "provider", "account_id", "resource_id", "meter_id"))
    return df


# --- DuckDB reading the table's files itself ------------------------------------

# A partition value DuckDB's hive partitioning reads back unchanged from a path
# (no percent-encoding, not a spelling of null); any other file gets its values
# from the Delta log, written into its own branch as constants.
_PLAIN = re.compile(r"[A-Za-z0-9._-]+\Z")
_NOT_PLAIN = ("NULL", "__HIVE_DEFAULT_PARTITION__")
# How delta-rs (and Spark) spell a missing partition value in a path, which DuckDB's
# hive partitioning reads as NULL: a Particle month (no account) is read with the
# rest instead of in a branch of its own (tests/test_archive_store.py checks it).
_NULL_PART = "__HIVE_DEFAULT_PARTITION__"
_GLOB = frozenset("*?[]{}")  # DuckDB would expand a path holding these
# DuckDB errors that are the query's own (its text, names, values), not the archive's.
_QUERY_ERRORS = (
    duckdb.ParserException,
    duckdb.BinderException,
    duckdb.CatalogException,
    duckdb.ConversionException,
    duckdb.OutOfRangeException,
    duckdb.NotImplementedException,
    duckdb.SyntaxException,
    duckdb.TypeMismatchException,
)
_HIVE_TYPES = "{" + ", ".join(f"'{k}': 'VARCHAR'" for k in PARTITIONS) + "}"


def _hive_safe(relative: str, keys: Mapping[str, Any]) -> bool:
    """Whether DuckDB's hive partitioning reads exactly the log's partition values
    from this path (``provider=../account_id=../grain=../month=../file``)."""
    parts = relative.split("/")
    if len(parts) != len(PARTITIONS) + 1 or "=" in parts[-1]:
        return False
    for part, key in zip(parts, PARTITIONS, strict=False):
        value = keys[key]
        if value is None:
            if part != f"{key}={_NULL_PART}":
                return False
            continue
        if part != f"{key}={value}" or not _PLAIN.match(value) or value.upper() in _NOT_PLAIN:
            return False
    return True


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class _File:
    """One data file as DuckDB reads it: its path, partition values, whether hive
    partitioning reads them from the path, and the table's columns it lacks."""

    path: str
    keys: tuple[Any, ...]
    hive: bool
    lacks: frozenset[str]


# Arrow types a column a file lacks is read as (NULL cast to it); beyond these the
# Arrow dataset scan serves the table.
_DUCKDB_TYPES = {pa.string(): "VARCHAR", pa.float64(): "DOUBLE", pa.int64(): "BIGINT"}


def _file_select(files: list[_File], schema: pa.Schema) -> str:
    """A SELECT of every column over these data files, read by DuckDB itself.

    Files whose paths carry their partition values plainly are read by one
    ``read_parquet`` with hive partitioning (conditions on the partition columns
    skip whole files); the others (a missing account, an encoded value) by one
    ``read_parquet`` per partition, its values from the log written in as
    constants (a condition on them drops the whole branch). Files written before
    a reader's columns joined the table read them as NULL: each set of missing
    columns is its own branch, so no ``union_by_name`` (it opens every file
    before any is skipped).
    """
    if not files:
        empty = ", ".join(
            f'NULL::{_DUCKDB_TYPES.get(f.type, "VARCHAR")} AS "{f.name}"' for f in schema
        )
        return f"SELECT {empty} WHERE false"
    groups: dict[tuple[Any, ...], list[str]] = {}
    for f in files:
        groups.setdefault((f.hive, None if f.hive else f.keys, f.lacks), []).append(f.path)
    branches = []
    for (hive, keys, lacks), paths in groups.items():
        constants = {} if hive else dict(zip(PARTITIONS, keys, strict=True))
        selected = []
        for field in schema:
            c = field.name
            if c in constants:
                value = constants[c]
                shown = "NULL" if value is None else _literal(str(value))
                selected.append(f'{shown}::VARCHAR AS "{c}"')
            elif c in lacks:
                selected.append(f'NULL::{_DUCKDB_TYPES[field.type]} AS "{c}"')
            else:
                selected.append(f'"{c}"')
        listed = ", ".join(_literal(p) for p in paths)
        how = (
            f"hive_partitioning = true, hive_types = {_HIVE_TYPES}"
            if hive
            else ("hive_partitioning = false")
        )
        branches.append(f"SELECT {', '.join(selected)} FROM read_parquet([{listed}], {how})")
    return " UNION ALL ".join(branches)


def _lacking(snap: Snapshot, full_paths: Mapping[str, str]) -> dict[str, frozenset[str]] | None:
    """Which of the table's added columns each file lacks: from the log's null counts
    (a file without the column has none), else from the file's own footer; None when
    an added column has a type DuckDB's branch cannot cast a NULL to."""
    extras = snap.extras
    if not extras:
        return dict.fromkeys(full_paths, frozenset())
    if any(snap.schema.field(c).type not in _DUCKDB_TYPES for c in extras):
        return None
    assert snap.table is not None
    actions = pa.table(snap.table.get_add_actions(flatten=True))
    counted = {
        c: actions[f"null_count.{c}"].is_valid().to_pylist()
        if f"null_count.{c}" in actions.column_names
        else [False] * actions.num_rows
        for c in extras
    }
    out: dict[str, frozenset[str]] = {}
    for i, path in enumerate(actions["path"].to_pylist()):
        if path not in full_paths:
            continue
        unknown = [c for c in extras if not counted[c][i]]
        names = set(pq.read_schema(full_paths[path]).names) if unknown else set(extras)
        out[path] = frozenset(c for c in extras if c not in names)
    return out


def _native_views(snap: Snapshot) -> tuple[str, ...] | None:
    """The statements creating ``usage`` and ``usage_all`` (temporary views) over
    DuckDB's own Parquet reader, from the snapshot's file list; None where it does
    not apply.

    Local archives only: on an object store DuckDB needs its httpfs extension,
    downloaded on first use (which fails offline), and its own credentials.
    """
    s = snap.store
    if not s.local or "=" in s.path or _GLOB & set(s.path):
        return None
    if snap.files is None:
        return None
    # In path order (the log's own order varies by writer): DuckDB binds the view to
    # the first file's schema, so a query never depends on which commit came first.
    rows = sorted(snap.files.select(["path", *PARTITIONS]).to_pylist(), key=lambda r: r["path"])
    full: dict[str, str] = {}
    for row in rows:
        relative = snap.relative(row["path"])
        if "://" in relative or relative.startswith("/") or _GLOB & set(relative):
            return None
        full[row["path"]] = f"{s.path}/{relative}"
    lacks = _lacking(snap, full)
    if lacks is None:
        return None
    every: list[_File] = []
    mine: list[_File] = []
    for row in rows:
        keys = {k: row[k] for k in PARTITIONS}
        entry = _File(
            full[row["path"]],
            tuple(keys.values()),
            _hive_safe(snap.relative(row["path"]), keys),
            lacks[row["path"]],
        )
        every.append(entry)
        if entry.keys in snap.chosen:
            mine.append(entry)
    return (
        f"CREATE TEMP VIEW usage AS {_file_select(mine, snap.schema)}",
        f"CREATE TEMP VIEW usage_all AS {_file_select(every, snap.schema)}",
    )


def _connect(
    s: Store | Snapshot, as_of: object = None, grain: str | Mapping[str, str] | None = None
) -> duckdb.DuckDBPyConnection:
    """DuckDB with views ``usage`` (the grain rule's rows) and ``usage_all`` (every
    grain), over the files of one snapshot."""
    snap = s if isinstance(s, Snapshot) else snapshot(s, as_of, grain)
    # Local files: DuckDB's own Parquet reader over the log's file list (its
    # projection, filter and row-group pushdown, its threads), the views made once
    # per snapshot and each query on a cursor of their database.
    database = snap.database()
    con = duckdb.connect() if database is None else database[0].cursor()
    # Timestamps come back in UTC whatever the machine's zone (ICU ships with duckdb).
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # a long query drew one on stdout
    if database is not None:
        for statement in database[1]:
            con.execute(statement)
        return con
    # Elsewhere, Arrow datasets rather than DuckDB's own S3 code (httpfs is
    # downloaded on first use, which fails offline): DuckDB still pushes
    # projections and filters into the scan.
    everything, chosen, _ = _datasets(snap)
    con.register("_usage_chosen", chosen)
    con.register("_usage_every", everything)
    cols = ", ".join(f'"{c}"' for c in snap.schema.names)
    con.execute(f"CREATE VIEW usage AS SELECT {cols} FROM _usage_chosen")
    con.execute(f"CREATE VIEW usage_all AS SELECT {cols} FROM _usage_every")
    return con


def sql(
    query: str,
    *,
    params: Sequence[object] | Mapping[str, object] | None = None,
    grain: str | Mapping[str, str] | None = None,
    as_of: int | str | date | datetime | None = None,
    archive: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Run a DuckDB query against the views ``usage`` and ``usage_all``.

    ``usage`` shows the rows the grain rule counts (``grain=`` as in
    :func:`history`; the same files as ``history()``), so every total over it is
    true; ``usage_all`` shows every grain, with its ``grain`` column: filter on
    it before adding anything up. Both have the unified columns, the columns
    readers added (HERE ``project``, ``billing_tag``...), ``grain``, ``month``
    (``YYYY-MM``), ``report_id``, ``source`` and ``archived_at``; conditions on
    ``provider``, ``account_id``, ``grain`` and ``month`` skip whole files.
    Strings come back as categoricals with sorted categories, as in
    ``history()``. Example: ``sql("select month, product, sum(quantity) from
    usage where provider = 'particle' group by all order by all")``.
    """
    result = sql_arrow(
        query,
        params=params,
        grain=grain,
        as_of=as_of,
        archive=archive,
        storage_options=storage_options,
    )
    s = store(archive, storage_options)
    with archive_errors(s, "query"):
        return _to_pandas([result], drop_unused=False)


def sql_arrow(
    query: str,
    *,
    params: Sequence[object] | Mapping[str, object] | None = None,
    grain: str | Mapping[str, str] | None = None,
    as_of: int | str | date | datetime | None = None,
    archive: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> pa.Table:
    """:func:`sql`, its answer as DuckDB gives it (an Arrow table, strings as
    strings): for an answer of many rows handed on rather than shown, which would
    spend longer made into sorted categoricals than queried."""
    if not isinstance(query, str) or not query.strip():
        raise InvalidParameter("query", "expected a SQL statement over the view 'usage'")
    s = store(archive, storage_options)
    with archive_errors(s, "query"):
        snap = snapshot(s, as_of, grain, ensure_migrated(s))
        with _connect(snap) as con:
            try:
                rel = con.sql(query, params=params)
                if rel is None:  # a statement without a result
                    raise InvalidParameter("query", "expected a query returning rows (a SELECT)")
                return rel.to_arrow_table()
            except _QUERY_ERRORS as exc:
                # A mistake in the query is the caller's: say so in the package's own terms.
                raise InvalidParameter("query", f"DuckDB cannot run it: {exc}") from exc


def last_archived(
    provider: str,
    account: str,
    grains: Sequence[str] | None = None,
    *,
    archive: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """The end of the latest archived period of one provider account, and when the
    files holding that period were archived (from the log's statistics: no rows read)."""
    s = store(archive, storage_options)
    with archive_errors(s, "read"):
        ensure_migrated(s)
        table = open_table(s)
        if table is None:
            return None, None
        files = table_files(table)
    mask = pc.and_(pc.equal(files["provider"], provider), pc.equal(files["account_id"], account))
    if grains is not None:
        mask = pc.and_(mask, pc.is_in(files["grain"], pa.array(list(grains), pa.string())))
    mine = files.filter(pc.fill_null(mask, False))
    # A file's end is its latest period end, else its latest start.
    ends = pc.coalesce(mine["max.period_end"], mine["max.period_start"])
    latest = pc.max(ends).as_py()
    if latest is None:
        return None, None
    holding = mine.filter(pc.fill_null(pc.equal(ends, pa.scalar(latest, ends.type)), False))
    archived = pc.min(holding["max.archived_at"]).as_py()
    return (
        pd.Timestamp(latest).tz_convert("UTC"),
        None if archived is None else pd.Timestamp(archived).tz_convert("UTC"),
    )
