"""The Delta table: its schema, its protocol, opening it at a version, errors in our terms.

Every entry point (``history``, ``sql``, ``archive_*``, ``refresh``, ``migrate``)
opens the table through :func:`open_table`, so :func:`check_protocol` sees
every table before anything reads or writes it, and wraps what the libraries
raise through :func:`archive_errors`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any
from urllib.parse import unquote

import duckdb
import pandas as pd
import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError, TableNotFoundError

from ..errors import ArchiveError, InvalidParameter, UsageAnalysisError
from ..schema import UNIFIED_COLUMNS, UNIFIED_DTYPES
from ._store import Store

__all__ = [
    "PARTITIONS",
    "PROVENANCE_COLUMNS",
    "TABLE_SCHEMA",
    "archive_errors",
    "check_protocol",
    "extra_columns",
    "open_table",
    "table_schema",
]

# Directory levels: a query on provider, account, grain or month skips whole files,
# and a report's replacement touches only its own partitions.
PARTITIONS = ("provider", "account_id", "grain", "month")
PROVENANCE_COLUMNS = ("report_id", "source", "archived_at")


def _arrow_type(dtype: str) -> pa.DataType:
    if dtype == "category":
        return pa.string()
    if dtype.startswith("datetime64"):
        # Microseconds: Delta's timestamp type, read natively by Spark, Trino, DuckDB.
        return pa.timestamp("us", tz="UTC")
    return pa.float64()


TABLE_SCHEMA = pa.schema(
    [pa.field(c, _arrow_type(UNIFIED_DTYPES[c])) for c in UNIFIED_COLUMNS]
    + [
        pa.field("grain", pa.string()),
        pa.field("month", pa.string()),
        pa.field("report_id", pa.string()),
        pa.field("source", pa.string()),
        pa.field("archived_at", pa.timestamp("us", tz="UTC")),
    ]
)
STRING_COLUMNS = tuple(f.name for f in TABLE_SCHEMA if pa.types.is_string(f.type))


def _as_of(value: object) -> int | datetime:
    """A table version (int) or a moment (date, datetime, ISO string; UTC if naive)."""
    if isinstance(value, bool):
        raise InvalidParameter("as_of", "expected a table version or a date, got a bool")
    if isinstance(value, int):
        if value < 0:
            raise InvalidParameter("as_of", f"expected a version >= 0, got {value}")
        return value
    if not isinstance(value, str | date | datetime | pd.Timestamp):
        raise InvalidParameter(
            "as_of", f"expected a version number or a date/datetime, got {type(value).__name__}"
        )
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise InvalidParameter("as_of", f"expected an ISO date or datetime: {exc}") from exc
    if isinstance(value, date) and not isinstance(value, datetime):
        ts = ts + pd.Timedelta(days=1)  # "as of invoice day": everything known that day
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()


# Delta table features this package reads and writes correctly. Reading the data
# files ourselves (DuckDB, pyarrow) is right only without deletion vectors,
# column mapping and the like, so every other feature is refused by name.
HANDLED_FEATURES = frozenset(
    {"appendOnly", "invariants", "checkConstraints", "v2Checkpoint", "vacuumProtocolCheck"}
)
MAX_READER_VERSION, MAX_WRITER_VERSION = 3, 7


def check_protocol(table: DeltaTable, root: str) -> None:
    """Raise :class:`ArchiveError` naming each Delta feature of the table this package
    does not handle (deletion vectors, column mapping, any feature it does not know).

    The one check of the table's protocol; :func:`open_table` runs it on every table.
    """
    protocol = table.protocol()
    config = table.metadata().configuration or {}
    features = set(protocol.reader_features or ()) | set(protocol.writer_features or ())
    # Legacy protocols name no features; their table properties say what is on.
    mapping = str(config.get("delta.columnMapping.mode") or "none").lower()
    if mapping != "none":
        features.add("columnMapping")
    if str(config.get("delta.enableDeletionVectors") or "").lower() == "true":
        features.add("deletionVectors")
    if str(config.get("delta.enableChangeDataFeed") or "").lower() == "true":
        features.add("changeDataFeed")
    unknown = sorted(features - HANDLED_FEATURES)
    if protocol.min_reader_version > MAX_READER_VERSION:
        unknown.append(f"reader version {protocol.min_reader_version}")
    if protocol.min_writer_version > MAX_WRITER_VERSION:
        unknown.append(f"writer version {protocol.min_writer_version}")
    if unknown:
        raise ArchiveError(
            f"the archive at {root} uses Delta table features this package does not "
            f"handle: {', '.join(unknown)} (written by another engine?); it reads and "
            f"writes tables with {', '.join(sorted(HANDLED_FEATURES))} only"
        )


@contextmanager
def archive_errors(s: Store, doing: str) -> Iterator[None]:
    """The libraries' errors (delta-rs, Arrow, DuckDB, the file system) as
    :class:`ArchiveError`, with the original chained; the package's own pass."""
    try:
        yield
    except UsageAnalysisError:
        raise
    except (DeltaError, pa.ArrowException, duckdb.Error, OSError) as exc:
        raise ArchiveError(f"cannot {doing} the archive at {s.root}: {exc}") from exc


def _missing_files(s: Store, table: DeltaTable) -> list[str]:
    """Data files the table's version names that are gone (removed by vacuum)."""
    paths = pa.table(table.get_add_actions(flatten=True))["path"].to_pylist()
    if not paths:
        return []
    s.fs.invalidate_cache()
    present = {p[len(s.path) + 1 :] for p in s.fs.find(s.path)}
    return [p for p in paths if unquote(p) not in present and p not in present]


def open_table(s: Store, as_of: object = None) -> DeltaTable | None:
    """The table (at ``as_of``: delta-rs's own time travel), protocol checked; None
    when the archive holds no table yet."""
    try:
        table = DeltaTable(s.uri, storage_options=s.delta_options or None)
    except TableNotFoundError:
        return None
    except (DeltaError, OSError) as exc:
        raise ArchiveError(f"cannot open the archive at {s.root}: {exc}") from exc
    if as_of is not None:
        when = _as_of(as_of)
        shown = when if isinstance(when, int) else when.isoformat()
        try:
            table.load_as_version(when)
            # delta-rs takes the newest version committed by then, and the first
            # one for a moment before it: that one must not pass for "as of".
            if isinstance(when, datetime) and table.version() == 0:
                fresh = DeltaTable(s.uri, storage_options=s.delta_options or None)
                born = [h["timestamp"] for h in fresh.history() if h.get("version") == 0]
                if born and int(born[0]) > when.timestamp() * 1000:
                    raise InvalidParameter("as_of", f"the archive has no version as old as {shown}")
        except InvalidParameter:
            raise
        except (DeltaError, OSError, ValueError) as exc:
            raise InvalidParameter(
                "as_of", f"the archive has no version {shown} (or none that old): {exc}"
            ) from exc
        try:
            gone = _missing_files(s, table)
        except (OSError, pa.ArrowException) as exc:
            raise ArchiveError(f"cannot list the files of {s.root}: {exc}") from exc
        if gone:
            raise ArchiveError(
                f"version {table.version()} of the archive at {s.root} can no longer be "
                f"read: {len(gone)} of its data files were removed (by vacuum), "
                f"first {gone[0]}"
            )
    check_protocol(table, s.root)
    return table


def table_schema(table: DeltaTable) -> pa.Schema:
    """The table's columns as Arrow: ``TABLE_SCHEMA`` plus columns readers added."""
    schema = pa.schema(table.schema().to_arrow())
    # In the table's own order, whatever order a schema merge left (delta-rs puts
    # partition columns last): the same columns in the same place for every reader.
    ours = [schema.field(n) for n in TABLE_SCHEMA.names if n in schema.names]
    return pa.schema(ours + [f for f in schema if f.name not in TABLE_SCHEMA.names])


def extra_columns(names: Iterable[Any]) -> list[str]:
    """Columns beyond the table's own (what a reader added: HERE ``project``...)."""
    return [str(n) for n in names if isinstance(n, str) and n not in TABLE_SCHEMA.names]


def table_files(table: DeltaTable) -> pa.Table:
    """One row per data file: path, rows, partition values, period bounds (from the log)."""
    actions = pa.table(table.get_add_actions(flatten=True))
    out: dict[str, Any] = {
        "path": actions["path"],
        "num_records": actions["num_records"],
    }
    for key in PARTITIONS:
        out[key] = actions[f"partition.{key}"]
    for stat in ("min.period_start", "max.period_end", "max.period_start", "max.archived_at"):
        out[stat] = (
            actions[stat]
            if stat in actions.column_names
            else pa.nulls(actions.num_rows, pa.timestamp("us", tz="UTC"))
        )
    return pa.table(out)
