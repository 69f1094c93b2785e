"""Bringing older archives up to date: the Parquet layout, and the columns readers add.

**Columns** (issue 19): archives written before the table kept every column a
reader gives dropped HERE's ``project`` and ``billing_tag``. The first time such
an archive is opened, each report whose source file is still there (and still
the same: its digest, row count and total) is read again and archived again
under its own report id, which replaces its old rows in one commit; the table
gains the columns either way, so filters on them work (rows whose source is
gone keep them empty).

**Layout**: moving an archive written before the Delta table (plain Hive Parquet) into it, once.

The old layout was ``<root>/provider=P/account=A/month=M/part-*.parquet`` with the
unified columns (less ``provider``) and ``report_id``, ``source``, ``archived_at``.
Its rows go into the table in one commit, each with the grain its values show
(they carry no reader attrs), and are counted and summed again before anything
moves. Only then are the old files moved under ``<root>/_parquet_before_delta/``
(a leading underscore: Delta readers and Hive engines ignore the directory), so
nothing is lost and nothing is migrated twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, Field, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError
from deltalake.schema import PrimitiveType

from ..errors import SchemaError, UsageAnalysisError
from ..schema import coerce_unified
from ._grain import frame_grains
from ._store import Store
from ._table import PARTITIONS, TABLE_SCHEMA, extra_columns, open_table

__all__ = ["LEGACY_DIR", "Migration", "ensure_migrated", "migrate", "migrate_columns"]

log = logging.getLogger(__name__)

LEGACY_DIR = "_parquet_before_delta"
_NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
_MARK = "usage_analysis.migrated_files"


@dataclass(frozen=True)
class Migration:
    """What :func:`migrate` did."""

    files: int
    rows: int
    version: int | None
    moved_to: str | None
    reports_reread: int = 0  # reports read again from their source for their columns


def legacy_files(s: Store) -> list[str]:
    if not s.local:
        s.fs.invalidate_cache()
    return sorted(s.fs.glob(f"{s.path}/provider=*/account=*/month=*/*.parquet"))


def _batches(s: Store, files: list[str]) -> Iterator[pa.RecordBatch]:
    """Each old file as table rows: provider from its directory, grain from its values."""
    for f in files:
        provider = unquote(f[len(s.path) + 1 :].split("/")[0].split("=", 1)[1])
        if provider == _NULL_PARTITION:
            raise SchemaError(f"{f}: an archived file without a provider")
        old = pq.read_table(f, filesystem=s.fs).to_pandas()
        old["provider"] = provider
        frame = coerce_unified(old)
        frame["grain"] = frame_grains(frame, {}, None)
        frame["month"] = frame["period_start"].dt.strftime("%Y-%m")
        for col in ("report_id", "source", "archived_at"):
            if col not in frame.columns:
                frame[col] = None
        arrays = []
        for field in TABLE_SCHEMA:
            arr = pa.array(frame[field.name], from_pandas=True)
            if pa.types.is_dictionary(arr.type):
                arr = arr.dictionary_decode()
            arrays.append(arr.cast(field.type))
        yield from pa.Table.from_arrays(arrays, schema=TABLE_SCHEMA).to_batches()


def _totals(s: Store, files: list[str]) -> tuple[int, float]:
    rows, total = 0, 0.0
    for f in files:
        t = pq.read_table(f, columns=["quantity"], filesystem=s.fs)
        rows += t.num_rows
        total += float(pa.compute.sum(t["quantity"]).as_py() or 0.0)
    return rows, total


def _move_aside(s: Store, files: list[str]) -> str:
    target = f"{s.path}/{LEGACY_DIR}"
    for f in files:
        dest = f"{target}/{f[len(s.path) + 1 :]}"
        s.fs.makedirs(dest.rsplit("/", 1)[0], exist_ok=True)
        s.fs.mv(f, dest)
    if s.local:  # the emptied month/account directories (object stores have none)
        for f in files:
            for parent in (f.rsplit("/", 2)[0], f.rsplit("/", 3)[0]):
                with contextlib.suppress(OSError):
                    s.fs.rmdir(parent)
    return target


def _was_migrated(s: Store) -> bool:
    table = open_table(s)
    if table is None:
        return False
    return any(_MARK in info for info in table.history())


def migrate(s: Store) -> Migration:
    """Move the old Parquet files' rows into the Delta table, once, losing nothing."""
    files = legacy_files(s)
    if not files:
        return Migration(0, 0, None, None)
    if open_table(s) is not None:
        if _was_migrated(s):
            # A migration committed but stopped before moving the old files.
            return Migration(len(files), 0, None, _move_aside(s, files))
        raise SchemaError(
            f"{s.root} holds both a Delta table and {len(files)} Parquet files of the old "
            "layout that were never migrated; archive them with archive_frame(history-like "
            f"frames) or move them away (first: {files[0]})"
        )
    rows, total = _totals(s, files)
    reader = pa.RecordBatchReader.from_batches(TABLE_SCHEMA, _batches(s, files))
    try:
        write_deltalake(
            s.uri,
            reader,
            partition_by=list(PARTITIONS),
            mode="error",
            storage_options=s.delta_options or None,
            writer_properties=WriterProperties(compression="ZSTD"),
            commit_properties=CommitProperties(custom_metadata={_MARK: str(len(files))}),
        )
    except (CommitFailedError, DeltaError) as exc:
        if open_table(s) is not None and _was_migrated(s):
            log.debug("another process migrated %s first: %s", s.root, exc)
            return Migration(len(files), 0, None, None)
        raise
    table = open_table(s)
    assert table is not None
    got = pa.table(table.get_add_actions(flatten=True))
    got_rows = int(pa.compute.sum(got["num_records"]).as_py() or 0)
    got_total = float(
        pa.compute.sum(
            table.to_pyarrow_dataset(filesystem=s.arrow_fs()).to_table(columns=["quantity"])[
                "quantity"
            ]
        ).as_py()
        or 0.0
    )
    if got_rows != rows or not math.isclose(got_total, total, rel_tol=1e-9, abs_tol=1e-6):
        raise SchemaError(
            f"migration of {s.root} does not add up: {rows} rows / {total} in the old files, "
            f"{got_rows} rows / {got_total} in the table; the old files were left in place"
        )
    moved = _move_aside(s, files)
    log.info("migrated %d rows from %d Parquet files into the Delta table", rows, len(files))
    return Migration(len(files), rows, int(table.version()), moved)


# Columns readers add beyond the unified ones, per provider (readers/here.py's
# unified frame); an archive whose schema lacks them predates keeping them.
ADDED_COLUMNS = {"here": ("project", "billing_tag")}


def _lacks_columns(table: DeltaTable) -> list[str]:
    """The added columns an archive of rows of those providers does not have."""
    names = set(pa.schema(table.schema().to_arrow()).names)
    wanted = [c for cols in ADDED_COLUMNS.values() for c in cols if c not in names]
    if not wanted:
        return []
    providers = set(pa.table(table.get_add_actions(flatten=True))["partition.provider"].to_pylist())
    return [c for p, cols in ADDED_COLUMNS.items() if p in providers for c in cols if c in wanted]


def _digest_ok(path: Path, report_id: str) -> bool:
    """Whether the file is still the one archived (``name@digest`` report ids)."""
    if "@" not in report_id:
        return True  # refresh's ids name the provider job, not the bytes
    name, digest = report_id.rsplit("@", 1)
    if name != path.name:
        return False
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest().startswith(digest)


def migrate_columns(s: Store) -> int:
    """Read again, from their source files, the reports whose rows lack columns
    their reader now keeps; then give the table those columns. Reports re-read."""
    from ._read import _connect, snapshot  # the read side imports this module
    from ._write import _read_by_kind, write_frame

    table = open_table(s)
    if table is None:
        return 0
    missing = _lacks_columns(table)
    providers = sorted(ADDED_COLUMNS)
    have = set(pa.schema(table.schema().to_arrow()).names)
    present = sorted({c for cols in ADDED_COLUMNS.values() for c in cols} & have)
    # Only reports none of whose rows has any of the columns: archived without them.
    empty = "".join(f' and count("{c}") = 0' for c in present)
    query = (
        "select provider, report_id, any_value(source) as source, count(*) as n, "
        "sum(quantity) as q, count(distinct account_id) as accounts, "
        "any_value(account_id) as account from usage_all where provider in ("
        + ", ".join("'" + p + "'" for p in providers)
        + ") and report_id is not null group by provider, report_id"
        + (" having true" + empty if empty else "")
    )
    with _connect(snapshot(s, None, None)) as con:
        reports = con.sql(query).fetchall()
    done = 0
    for provider, report_id, source, n, total, accounts, account in reports:
        path = Path(str(source)) if source else None
        if path is None or not path.is_file() or not _digest_ok(path, str(report_id)):
            continue
        try:
            frame = _read_by_kind(path, {"provider": provider})
        except (UsageAnalysisError, OSError) as exc:
            log.info("not migrating report %s: %s cannot be read again: %s", report_id, path, exc)
            continue
        same = len(frame) == n and math.isclose(
            float(frame["quantity"].sum()), float(total or 0.0), rel_tol=1e-9, abs_tol=1e-6
        )
        if not same or not extra_columns(frame.columns):
            continue
        write_frame(
            s,
            frame,
            report_id=str(report_id),
            source=str(path),
            account=str(account) if accounts == 1 and account is not None else None,
        )
        done += 1
    table = open_table(s)
    if table is not None:
        still = [c for c in missing if c not in pa.schema(table.schema().to_arrow()).names]
        if still:
            # Rows whose source is gone: the columns exist (empty), so filters on them work.
            table.alter.add_columns(
                [Field(c, PrimitiveType("string"), nullable=True) for c in still]
            )
    log.info("re-read %d reports for their columns (%s)", done, ", ".join(missing))
    return done


def ensure_migrated(s: Store) -> DeltaTable | None:
    """Migrate an old archive the first time it is opened (nothing to do afterwards);
    the table as opened, protocol checked, when nothing needed doing (a reader of
    the latest version need not open it again), else None."""
    table = open_table(s)
    if table is None:
        if legacy_files(s):
            migrate(s)
        return None
    if _lacks_columns(table):
        migrate_columns(s)
        return None
    return table
