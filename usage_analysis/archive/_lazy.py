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
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import duckdb

from ..errors import InvalidParameter
from ._migrate import ensure_migrated
from ._read import _connect, _datasets, snapshot
from ._store import store
from ._table import archive_errors

if TYPE_CHECKING:
    import polars as pl

__all__ = ["ENGINES", "scan"]

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
        ensure_migrated(s)
        snap = snapshot(s, as_of, grain)
        if engine == "duckdb":
            # The relation keeps its own connection (and the views in it) alive.
            return _connect(snap).sql("SELECT * FROM usage")
        try:
            import polars as pl
        except ImportError as exc:  # polars is optional: the test extra has it
            raise InvalidParameter("engine", "engine='polars' needs polars installed") from exc
        _, chosen, _ = _datasets(snap)
        return pl.scan_pyarrow_dataset(chosen)
