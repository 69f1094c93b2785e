"""The archive as a lazy frame or relation: aggregation runs in the engine (issue 21).

:func:`history` builds every chosen row in pandas, which a year of a 1M-device
fleet (365M rows) cannot afford. :func:`scan` hands over the same rows - the
same snapshot, protocol check and grain rule as ``history()`` and ``sql()`` -
without reading any: a Polars ``LazyFrame`` or a DuckDB relation over the
snapshot's files. Filters and group-bys written on it run inside the engine,
streaming the files; only the result reaches Python.

    totals = (
        archive.scan(engine="polars")
        .filter(pl.col("provider") == "particle")
        .group_by("month", "unit")
        .agg(pl.col("quantity").sum())
        .collect()
    )
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from ..errors import InvalidParameter
from ..schema import REPORT_ROWS, UNIFIED_COLUMNS, coerce_unified
from ._migrate import ensure_migrated
from ._read import _connect, _datasets, snapshot
from ._store import store
from ._table import archive_errors

if TYPE_CHECKING:
    import polars as pl

__all__ = ["CUBE_KEYS", "ENGINES", "daily_cube", "scan"]

ENGINES = ("polars", "duckdb")


def scan(
    *,
    engine: str = "polars",
    grain: str | Mapping[str, str] | None = None,
    as_of: int | str | date | datetime | None = None,
    archive: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> pl.LazyFrame | duckdb.DuckDBPyRelation:
    """The rows ``history()`` would return, unread: a lazy frame or a relation.

    Args:
        engine: ``"polars"`` (a ``polars.LazyFrame`` over the snapshot's files through
            Arrow's dataset scanner, local or on an object store) or ``"duckdb"`` (a
            relation over the view ``usage``, as in :func:`sql`).
        grain, as_of, archive, storage_options: as in :func:`history`.

    Conditions on ``provider``, ``account_id``, ``grain`` and ``month`` skip whole
    files in both engines; other filters and the aggregation stream the rows.
    """
    if engine not in ENGINES:
        raise InvalidParameter("engine", f"expected one of {', '.join(ENGINES)}, got {engine!r}")
    s = store(archive, storage_options)
    with archive_errors(s, "read"):
        snap = snapshot(s, as_of, grain, ensure_migrated(s))
        if engine == "duckdb":
            # The relation keeps its own connection (and the views in it) alive.
            return _connect(snap).sql("SELECT * FROM usage")
        try:
            import polars as pl
        except ImportError as exc:  # polars is optional: the test extra has it
            raise InvalidParameter("engine", "engine='polars' needs polars installed") from exc
        _, chosen, _ = _datasets(snap)
        return pl.scan_pyarrow_dataset(chosen)


# Columns every daily cube keeps: who is billed, in which units.
CUBE_KEYS = ("provider", "account_id", "account_name", "unit", "billable_unit")


def daily_cube(
    *,
    by: Sequence[str] = (),
    grain: str | Mapping[str, str] | None = None,
    as_of: int | str | date | datetime | None = None,
    archive: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """The archive summed per UTC day (and ``by`` columns) inside DuckDB: a small unified frame.

    One row per provider, account, unit, ``by`` value and day, with ``quantity`` and
    ``billable_quantity`` summed (NaN when every row was missing) - what the overview,
    the forecast and every chart not grouped by device need, from a year of a large
    fleet in a fraction of its rows. Rows shorter than a day are summed into their
    day (``period_start`` at midnight, ``period_end`` a day later). ``report_rows``
    (:data:`~usage_analysis.schema.REPORT_ROWS`) counts the archived rows each row sums.
    """
    keys = list(dict.fromkeys([*CUBE_KEYS, *by]))
    allowed = set(UNIFIED_COLUMNS) - {"period_start", "period_end", "quantity", "billable_quantity"}
    unknown = [k for k in keys if k not in allowed]
    if unknown:
        raise InvalidParameter("by", f"unknown or not groupable columns {unknown}")
    rel = scan(
        engine="duckdb", grain=grain, as_of=as_of, archive=archive, storage_options=storage_options
    )
    cols = ", ".join(f'"{k}"' for k in keys)
    # Summed per period first (plain column compares), then per day over those few
    # rows: truncating every row's timestamp in its zone cost three times the scan.
    day = "date_trunc('day', period_start)"
    query = (
        f"SELECT {cols}, {day} AS period_start, {day} + INTERVAL 1 DAY AS period_end, "
        "sum(quantity) AS quantity, sum(billable_quantity) AS billable_quantity, "
        f"sum({REPORT_ROWS})::BIGINT AS {REPORT_ROWS} FROM ("
        f"SELECT {cols}, period_start, sum(quantity) AS quantity, "
        f"sum(billable_quantity) AS billable_quantity, count(*) AS {REPORT_ROWS} "
        "FROM usage GROUP BY ALL"
        f") GROUP BY ALL ORDER BY period_start, {cols}"
    )
    assert isinstance(rel, duckdb.DuckDBPyRelation)
    with archive_errors(store(archive, storage_options), "query"):
        result = rel.query("usage", query)
        assert result is not None
        table = result.to_arrow_table()
    df = table.to_pandas()
    for col in ("period_start", "period_end"):
        df[col] = pd.to_datetime(df[col], utc=True).astype("datetime64[ns, UTC]")
    return coerce_unified(df)
