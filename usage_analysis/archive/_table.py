"""The Delta table's schema, and opening the table at a version."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pandas as pd
import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError, TableNotFoundError

from ..errors import InvalidParameter
from ..schema import UNIFIED_COLUMNS, UNIFIED_DTYPES
from ._store import ArchiveError, Store

__all__ = ["PARTITIONS", "PROVENANCE_COLUMNS", "TABLE_SCHEMA", "open_table"]

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


def open_table(s: Store, as_of: object = None) -> DeltaTable | None:
    """The table (at ``as_of``), or None when the archive holds no table yet."""
    try:
        table = DeltaTable(s.uri, storage_options=s.delta_options or None)
    except TableNotFoundError:
        return None
    except (DeltaError, OSError) as exc:
        raise ArchiveError(f"cannot open the archive at {s.root}: {exc}") from exc
    if as_of is None:
        return table
    when = _as_of(as_of)
    try:
        if isinstance(when, int):
            table.load_as_version(when)
        else:
            # The last version committed at or before that moment.
            versions = [(int(h["version"]), int(h["timestamp"])) for h in table.history()]
            limit = int(when.timestamp() * 1000)
            known = [v for v, t in versions if t <= limit]
            if not known:
                raise InvalidParameter(
                    "as_of", f"the archive has no version as old as {when.isoformat()}"
                )
            table.load_as_version(max(known))
    except InvalidParameter:
        raise
    except Exception as exc:  # delta-rs raises its own errors for a missing version
        raise InvalidParameter("as_of", f"no such table version: {exc}") from exc
    return table


def table_files(table: DeltaTable) -> pa.Table:
    """One row per data file: path, rows, partition values, period bounds (from the log)."""
    actions = pa.table(table.get_add_actions(flatten=True))
    out: dict[str, Any] = {
        "path": actions["path"],
        "num_records": actions["num_records"],
    }
    for key in PARTITIONS:
        out[key] = actions[f"partition.{key}"]
    for stat in ("max.period_end", "max.period_start", "max.archived_at"):
        out[stat] = (
            actions[stat]
            if stat in actions.column_names
            else pa.nulls(actions.num_rows, pa.timestamp("us", tz="UTC"))
        )
    return pa.table(out)
