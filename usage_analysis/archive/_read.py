"""Reading the archive: history() as a frame, sql() through DuckDB; one grain per period."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from ..errors import InvalidParameter
from ..schema import UNIFIED_COLUMNS, UNIFIED_DTYPES
from ._frames import FrameBuilder, sort_rows
from ._grain import grain_choice
from ._migrate import ensure_migrated
from ._store import Store, store
from ._table import (
    PARTITIONS,
    PROVENANCE_COLUMNS,
    STRING_COLUMNS,
    TABLE_SCHEMA,
    open_table,
    table_files,
)

__all__ = ["history", "sql"]

# What history() returns by default, in this order.
HISTORY_COLUMNS = (*UNIFIED_COLUMNS, "grain", *PROVENANCE_COLUMNS)
_FILTERABLE = tuple(c for c in STRING_COLUMNS if c not in ("provider", "month", "grain"))
_DICT = pa.dictionary(pa.int32(), pa.string())
# The table's schema as read: strings that are not partition values come as
# dictionaries straight from Parquet's dictionary pages (the declared schema
# wins over the read option, so it must say so too).
_READ_SCHEMA = pa.schema(
    [
        pa.field(f.name, _DICT) if f.name in STRING_COLUMNS and f.name not in PARTITIONS else f
        for f in TABLE_SCHEMA
    ]
)


# --- which files a query sees ---------------------------------------------------


def _next_month(month: str) -> str:
    y, m = int(month[:4]), int(month[5:7])
    return f"{y + m // 12:04d}-{m % 12 + 1:02d}"


def _chosen_partitions(
    files: pa.Table, choice: Mapping[str, tuple[str, ...]]
) -> set[tuple[Any, ...]]:
    """The (provider, account, grain, month) partitions a one-grain view shows.

    Per provider, account and month, the first grain of ``choice`` present that
    month. A partition whose rows reach past its month (a summarized HERE row of
    a whole quarter) is shown only if no other shown grain has rows in the months
    it reaches: the same days would otherwise count at two grains.
    """
    present: dict[tuple[Any, Any], dict[str, dict[str, str]]] = {}
    for row in files.select([*PARTITIONS, "max.period_end", "num_records"]).to_pylist():
        if not row["num_records"]:
            continue
        key = (row["provider"], row["account_id"])
        by_grain = present.setdefault(key, {}).setdefault(row["grain"], {})
        end = row["max.period_end"]
        last = (
            (pd.Timestamp(end).tz_convert("UTC") - pd.Timedelta(microseconds=1)).strftime("%Y-%m")
            if end is not None
            else row["month"]
        )
        by_grain[row["month"]] = max(by_grain.get(row["month"], row["month"]), last)
    chosen: set[tuple[Any, ...]] = set()
    for (provider, account), grains in present.items():
        order = [g for g in choice.get(provider, ()) if g in grains]
        months = sorted({m for g in order for m in grains[g]})
        for month in months:
            for g in order:
                if month not in grains[g]:
                    continue
                reach, m = grains[g][month], _next_month(month)
                clash = False
                while m <= reach and not clash:
                    clash = any(m in grains[o] for o in order if o != g)
                    m = _next_month(m)
                if not clash:
                    chosen.add((provider, account, g, month))
                    break
    return chosen


def _keys(fragment: Any) -> dict[str, Any]:
    keys = ds.get_partition_keys(fragment.partition_expression)
    return {k: keys.get(k) for k in PARTITIONS}


def _partition(fragment: Any) -> ds.Expression:
    expr = ds.scalar(True)
    for name, value in _keys(fragment).items():
        field = ds.field(name)
        expr = expr & (field.is_null() if value is None else field == value)
    return expr


def _datasets(
    s: Store, as_of: object, grain: str | Mapping[str, str] | None
) -> tuple[ds.Dataset, ds.Dataset, int]:
    """Every row, and the rows of the chosen grain, as Arrow datasets over the table's
    files; and how many rows the chosen files hold (from the log)."""
    choice = grain_choice(grain)
    table = open_table(s, as_of)
    if table is None:
        empty = ds.dataset(TABLE_SCHEMA.empty_table())
        return empty, empty, 0
    fmt = ds.ParquetFileFormat(
        read_options=ds.ParquetReadOptions(
            dictionary_columns=[c for c in STRING_COLUMNS if c not in PARTITIONS]
        )
    )
    full = table.to_pyarrow_dataset(filesystem=s.arrow_fs())
    files = table_files(table)
    chosen = _chosen_partitions(files, choice)
    rows = sum(
        int(r["num_records"] or 0)
        for r in files.select([*PARTITIONS, "num_records"]).to_pylist()
        if tuple(r[k] for k in PARTITIONS) in chosen
    )
    fragments = list(full.get_fragments())
    keep = [f for f in fragments if tuple(_keys(f).values()) in chosen]

    def rebuild(frags: list[Any]) -> ds.Dataset:
        # Each file's partition values only: delta-rs's own expressions also carry
        # its statistics, and read a column without min/max as ">= null" (no rows).
        made = [
            fmt.make_fragment(f.path, f.filesystem, partition_expression=_partition(f))
            for f in frags
        ]
        return ds.FileSystemDataset(made, _READ_SCHEMA, fmt, full.filesystem)

    return rebuild(fragments), rebuild(keep), rows


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
        if name not in _FILTERABLE:
            raise InvalidParameter(
                name,
                "not a filterable column; expected provider=, start=, end=, grain=, "
                "columns=, sort=, as_of= or one of " + ", ".join(_FILTERABLE),
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
        columns[name] = col
    arrow = pa.table(columns).unify_dictionaries()
    del columns, table
    # Arrow's conversion keeps dictionaries as categoricals without a copy per
    # string; split_blocks + self_destruct free each Arrow column once converted.
    df = arrow.to_pandas(split_blocks=True, self_destruct=True, coerce_temporal_nanoseconds=True)
    del arrow
    if drop_unused:
        for name in df.columns:
            if isinstance(df[name].dtype, pd.CategoricalDtype):
                df[name] = df[name].cat.remove_unused_categories()
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
    names = [str(c) for c in (HISTORY_COLUMNS if columns is None else _as_list(columns))]
    unknown = [c for c in names if c not in TABLE_SCHEMA.names]
    if unknown:
        raise InvalidParameter(
            "columns",
            f"unknown columns {unknown}; expected some of {', '.join(TABLE_SCHEMA.names)}",
        )
    expr, within = _filter(provider, start, end, filters)
    s = store(archive, storage_options)
    ensure_migrated(s)
    _, chosen, rows = _datasets(s, as_of, grain)
    # Sized for every row of the chosen files: rows a filter drops cost no memory.
    builder = FrameBuilder({c: TABLE_SCHEMA.field(c).type for c in names}, capacity=rows)
    df = builder.add_all(_batches(chosen, names, expr)).frame(drop_unused=within)
    if sort:
        df = sort_rows(df, ("period_start", "provider", "account_id", "resource_id", "meter_id"))
    return df


# --- DuckDB reading the table's files itself ------------------------------------

# A partition value DuckDB's hive partitioning reads back unchanged from a path
# (no percent-encoding, not a spelling of null); any other file gets its values
# from the Delta log through a join on its name.
_PLAIN = re.compile(r"[A-Za-z0-9._-]+\Z")
_NOT_PLAIN = ("NULL", "__HIVE_DEFAULT_PARTITION__")
_GLOB = frozenset("*?[]{}")  # DuckDB would expand a path holding these
_HIVE_TYPES = "{" + ", ".join(f"'{k}': 'VARCHAR'" for k in PARTITIONS) + "}"


def _hive_safe(relative: str, keys: Mapping[str, Any]) -> bool:
    """Whether DuckDB's hive partitioning reads exactly the log's partition values
    from this path (``provider=../account_id=../grain=../month=../file``)."""
    parts = relative.split("/")
    if len(parts) != len(PARTITIONS) + 1 or "=" in parts[-1]:
        return False
    for part, key in zip(parts, PARTITIONS, strict=False):
        value = keys[key]
        if (
            value is None
            or part != f"{key}={value}"
            or not _PLAIN.match(value)
            or value.upper() in _NOT_PLAIN
        ):
            return False
    return True


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _file_select(
    con: duckdb.DuckDBPyConnection, name: str, files: list[tuple[str, dict[str, Any], bool]]
) -> str:
    """A SELECT of every column over these data files, read by DuckDB itself.

    Files whose paths carry their partition values plainly are one
    ``read_parquet`` with hive partitioning (conditions on the partition
    columns skip whole files); the others take their values from the log.
    Every file has the table's columns (writes cast to ``TABLE_SCHEMA``), so no
    ``union_by_name``: that would open every file before any is skipped.
    """
    cols = ", ".join(TABLE_SCHEMA.names)
    if not files:
        con.register(name, TABLE_SCHEMA.empty_table())
        return f"SELECT {cols} FROM {name}"
    branches = []
    hive = [path for path, _, safe in files if safe]
    odd = [(path, keys) for path, keys, safe in files if not safe]
    if hive:
        listed = ", ".join(_literal(p) for p in hive)
        branches.append(
            f"SELECT {cols} FROM read_parquet([{listed}], hive_partitioning = true, "
            f"hive_types = {_HIVE_TYPES})"
        )
    if odd:
        parts = pa.table(
            {
                "filename": pa.array([p for p, _ in odd], pa.string()),
                **{k: pa.array([keys[k] for _, keys in odd], pa.string()) for k in PARTITIONS},
            }
        )
        con.register(name, parts)
        listed = ", ".join(_literal(p) for p, _ in odd)
        qualified = ", ".join(f"p.{c}" if c in PARTITIONS else f"f.{c}" for c in TABLE_SCHEMA.names)
        branches.append(
            f"SELECT {qualified} FROM read_parquet([{listed}], hive_partitioning = false, "
            f"filename = true) AS f JOIN {name} AS p USING (filename)"
        )
    return " UNION ALL ".join(branches)


def _native_views(
    con: duckdb.DuckDBPyConnection, s: Store, as_of: object, grain: str | Mapping[str, str] | None
) -> bool:
    """Create ``usage`` and ``usage_all`` over DuckDB's own Parquet reader, from the
    log's file list; False (nothing created) where it does not apply.

    Local archives only: on an object store DuckDB needs its httpfs extension,
    downloaded on first use (which fails offline), and its own credentials.
    """
    if not s.local or "=" in s.path or _GLOB & set(s.path):
        return False
    table = open_table(s, as_of)
    if table is None:
        return False
    files = table_files(table)
    chosen = _chosen_partitions(files, grain_choice(grain))
    every: list[tuple[str, dict[str, Any], bool]] = []
    mine: list[tuple[str, dict[str, Any], bool]] = []
    for row in files.select(["path", *PARTITIONS]).to_pylist():
        relative = unquote(row["path"])  # the log's paths are URL-encoded
        if "://" in relative or relative.startswith("/") or _GLOB & set(relative):
            return False
        keys = {k: row[k] for k in PARTITIONS}
        entry = (f"{s.path}/{relative}", keys, _hive_safe(relative, keys))
        every.append(entry)
        if tuple(keys.values()) in chosen:
            mine.append(entry)
    con.execute(f"CREATE VIEW usage AS {_file_select(con, '_usage_chosen_parts', mine)}")
    con.execute(f"CREATE VIEW usage_all AS {_file_select(con, '_usage_every_parts', every)}")
    return True


def _connect(
    s: Store, as_of: object, grain: str | Mapping[str, str] | None
) -> duckdb.DuckDBPyConnection:
    """DuckDB with views ``usage`` (one grain per period) and ``usage_all`` (every grain)."""
    con = duckdb.connect()
    # Timestamps come back in UTC whatever the machine's zone (ICU ships with duckdb).
    con.execute("SET TimeZone = 'UTC'")
    # Local files: DuckDB's own Parquet reader over the log's file list (its
    # projection, filter and row-group pushdown, its threads).
    if _native_views(con, s, as_of, grain):
        return con
    # Elsewhere, Arrow datasets rather than DuckDB's own S3 code (httpfs is
    # downloaded on first use, which fails offline): DuckDB still pushes
    # projections and filters into the scan.
    everything, chosen, _ = _datasets(s, as_of, grain)
    con.register("_usage_chosen", chosen)
    con.register("_usage_every", everything)
    cols = ", ".join(TABLE_SCHEMA.names)
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

    ``usage`` shows one grain per provider, account and month (``grain=`` as in
    :func:`history`), so every total over it is true; ``usage_all`` shows every
    grain, with its ``grain`` column: filter on it before adding anything up.
    Both have the unified columns, ``grain``, ``month`` (``YYYY-MM``),
    ``report_id``, ``source`` and ``archived_at``; conditions on ``provider``,
    ``account_id``, ``grain`` and ``month`` skip whole files. Example:
    ``sql("select month, product, sum(quantity) from usage where provider =
    'particle' group by all order by all")``.
    """
    if not isinstance(query, str) or not query.strip():
        raise InvalidParameter("query", "expected a SQL statement over the view 'usage'")
    s = store(archive, storage_options)
    ensure_migrated(s)
    with _connect(s, as_of, grain) as con:
        try:
            rel = con.sql(query, params=params)
        except (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException) as exc:
            # A mistake in the query is the caller's: say so in the package's own terms.
            raise InvalidParameter("query", f"DuckDB cannot run it: {exc}") from exc
        if rel is None:  # a statement without a result
            raise InvalidParameter("query", "expected a query returning rows (a SELECT)")
        return _to_pandas([rel.to_arrow_table()], drop_unused=False)


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
