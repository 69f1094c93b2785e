"""The usage archive: every report read, kept in a Delta Lake table, queried through DuckDB.

The table (``<root>/_delta_log`` plus Parquet files partitioned by ``provider``,
``account_id``, ``grain`` and ``month``) is written by delta-rs (``deltalake``: no
JVM, no catalog) and read natively by Spark, Databricks, Trino, DuckDB, Polars.
``<root>`` is the ``archive=`` argument, else the ``USAGE_ANALYSIS_ARCHIVE``
variable, else ``<data dir>/archive``; a local path or an object-store URL
(``s3://bucket/prefix``).

Each report replaces, in one commit, the rows of its own provider, account and
grain (see :mod:`._grain`) that its period covers: a crash leaves the old rows
or the new ones, a concurrent writer makes the later commit start again, and
queries show one grain per provider, account and month, so no total counts the
same usage twice. Storage only: fetching reports (``refresh``) lives in
:mod:`usage_analysis.refreshing`, above both the clients and this package.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from ..defaults import ARCHIVE_ENV
from ._grain import GRAINS
from ._lazy import daily_cube, scan
from ._migrate import Migration, migrate_columns
from ._migrate import migrate as _migrate
from ._read import history, last_archived, sql, sql_arrow
from ._store import ArchiveError, archive_root, clean_source, store
from ._table import PARTITIONS, TABLE_SCHEMA, archive_errors
from ._write import ArchiveWrite, archive_file, archive_frame

__all__ = [
    "ARCHIVE_ENV",
    "GRAINS",
    "PARTITIONS",
    "TABLE_SCHEMA",
    "ArchiveError",
    "ArchiveWrite",
    "Migration",
    "archive_file",
    "archive_frame",
    "archive_root",
    "clean_source",
    "daily_cube",
    "history",
    "last_archived",
    "migrate",
    "scan",
    "sql",
    "sql_arrow",
]


def migrate(
    archive: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> Migration:
    """Bring an older archive up to date (idempotent): move the old Parquet layout
    into the Delta table, and read again, from their source files, the reports
    archived without the columns their reader now keeps (HERE ``project``,
    ``billing_tag``).

    Runs by itself the first time an old archive is opened; this is the same step
    on demand (``usage-analysis archive migrate``).
    """
    s = store(archive, storage_options)
    with archive_errors(s, "migrate"):
        done = _migrate(s)
        return dataclasses.replace(done, reports_reread=migrate_columns(s))
