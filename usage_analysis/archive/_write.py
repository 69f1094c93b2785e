"""Writing reports: each one replaces its range of its grain in one delta-rs commit.

A report's rows go in with delta-rs's own predicate overwrite
(``write_deltalake(mode="overwrite", predicate=...)``): in one commit it removes
the archived rows the predicate matches (rewriting the rest of their files) and
adds the new rows, with delta-rs's own statistics. The predicate says which rows
a report replaces (:class:`Replace`). Concurrency is Delta's: a writer whose
snapshot went stale under rows it replaces gets a commit conflict from delta-rs
and starts again from the new version; any other commit failure (an append-only
table, no permission, a protocol this package does not write) is raised at once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError

from ..errors import ArchiveError, InvalidParameter, SchemaError, UsageAnalysisError
from ..grains import frame_grains
from ..schema import UNIFIED_COLUMNS, coerce_unified
from ._grain import BY_START, MAX_ROW_SPAN
from ._migrate import ensure_migrated
from ._store import Store, clean_source, store
from ._table import (
    PARTITIONS,
    TABLE_SCHEMA,
    archive_errors,
    extra_columns,
    open_table,
    table_files,
)

__all__ = ["ArchiveWrite", "archive_file", "archive_frame"]

log = logging.getLogger(__name__)

# Two writers replacing the same rows at once: the later commit fails in delta-rs's
# conflict check and starts again from the new version. Bounded.
MAX_ATTEMPTS = 25
# delta-rs's messages for a commit that lost a race (its CommitConflictError and
# the version race): the only failures worth another try.
_CONFLICTS = (
    "concurrent transaction",
    "concurrent transactions",
    "changed since last commit",
    "already exists",
    "invalid table version",
)
# Data pages of a few thousand rows: with the rows in device order (``device_order``)
# a reader selecting a few devices decodes the pages holding them, not the whole
# column (DuckDB, 50 devices of a 100,000-device month: 55 ms with delta-rs's
# default 20,000-row pages, 40 ms with these; the same full-scan time).
PAGE_ROWS = 4096
_WRITER = WriterProperties(compression="ZSTD", data_page_row_count_limit=PAGE_ROWS)


@dataclass(frozen=True)
class ArchiveWrite:
    """What one call to :func:`archive_frame` did."""

    report_id: str
    rows: int
    replaced: int
    partitions: tuple[str, ...]
    version: int | None = None  # the Delta table version of the commit


# --- which archived rows a report replaces -----------------------------------------


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_time(ts: pd.Timestamp) -> str:
    return _sql_text(ts.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


def _month(ts: pd.Timestamp) -> str:
    return f"{ts.year:04d}-{ts.month:02d}"


def _values(*parts: pd.Series) -> tuple[list[str], bool]:
    """The distinct non-missing values of these series as strings (sorted), and whether
    missing is among them."""
    present: set[str] = set()
    missing = False
    for series in parts:
        if isinstance(series.dtype, pd.CategoricalDtype):
            # The categories in use, from the codes: no per-row hashing.
            codes = series.cat.codes.to_numpy()
            used = np.bincount(codes[codes >= 0], minlength=len(series.cat.categories)) > 0
            present.update(str(v) for v in series.cat.categories[used])
            missing = missing or bool((codes < 0).any())
        else:
            distinct = series.unique()
            present.update(str(v) for v in distinct if not pd.isna(v))
            missing = missing or bool(pd.isna(distinct).any())
    return sorted(present), missing


# delta-rs's SQL parser recurses once per value of an IN list: a Particle month of
# 30,000 devices overflowed the 8 MB main-thread stack and killed the process
# (issue 21). Past this many resources a predicate names the archived resources the
# report does *not* have instead (none, for a fleet's monthly report), and a
# predicate that still lists many is evaluated on a thread with a large stack.
LISTED_MAX = 1_000
_LONG_PREDICATE = 100_000  # characters
_BIG_STACK = 1024**3  # reserved address space, touched only as deep as delta-rs goes

T = TypeVar("T")


def _beside(expr: str, others: list[str], null: bool) -> str:
    """SQL: ``expr`` is present and none of ``others`` (or missing, if ``null``)."""
    if others:
        term = f"({expr} IS NOT NULL AND {expr} NOT IN ({', '.join(_sql_text(v) for v in others)}))"
    else:
        term = f"{expr} IS NOT NULL"
    return f"({term} OR {expr} IS NULL)" if null else term


def _member(expr: str, values: list[str], null: bool) -> str:
    """SQL: ``expr`` is one of ``values`` (or missing, if ``null``)."""
    terms = []
    if values:
        terms.append(f"{expr} IN ({', '.join(_sql_text(v) for v in values)})")
    if null:
        terms.append(f"{expr} IS NULL")
    return "(" + " OR ".join(terms) + ")" if len(terms) > 1 else terms[0]


@dataclass(frozen=True)
class Replace:
    """The archived rows of one provider, account and grain a report replaces.

    Rows whose period overlaps the report's range ``[first start, last end)``,
    so a coarser row reaching into it never stays beside the new rows; for
    events (job-level rows) the rows that start within ``[first start, last
    start]``. Only rows of the resources and meters the report has: a report
    asked for some devices, apps, features or meters only (every provider
    allows such filters) never erases the others' rows. A resource of the report
    without some meter in the range had no usage of it. Rows of the same report
    (``report_id``) in that range are replaced under any account: a file
    imported once without, then with, an account replaces itself.
    """

    provider: str
    account: str | None
    grain: str
    first: pd.Timestamp
    last: pd.Timestamp
    stop: pd.Timestamp
    resources: list[str]
    null_resource: bool
    meters: list[str]  # coalesce(meter_id, meter)
    null_meter: bool
    report_id: str | None

    @classmethod
    def of(cls, provider: str, account: str | None, grain: str, part: pd.DataFrame) -> Replace:
        starts = part["period_start"]
        first, last = starts.min(), starts.max()
        ends = part["period_end"]
        stop = max(ends.max() if ends.notna().any() else last, last + pd.Timedelta(microseconds=1))
        meter_id = part["meter_id"]
        resources, null_resource = _values(part["resource_id"])
        # coalesce(meter_id, meter): the ids, and the names where there is no id.
        no_id = meter_id.isna().to_numpy(bool)
        if no_id.any():
            meters, null_meter = _values(meter_id.dropna(), part["meter"][no_id])
        else:
            meters, null_meter = _values(meter_id)
        ids = part["report_id"]
        report = str(ids.iloc[0]) if len(ids) and _is_constant(ids) else None
        return cls(
            provider, account, grain, first, last, stop,
            resources, null_resource, meters, null_meter, report,
        )  # fmt: skip

    @property
    def months(self) -> tuple[str | None, str]:
        """The month partitions that can hold a replaced row (None: no lower bound)."""
        if self.grain in BY_START:
            return _month(self.first), _month(self.last)
        span = MAX_ROW_SPAN[self.grain]
        high = _month(self.stop - pd.Timedelta(microseconds=1))
        return (None if span is None else _month(self.first - span)), high

    def others(self, s: Store, table: DeltaTable | None) -> list[str] | None:
        """The resources archived where this report replaces rows (its provider, grain
        and months, any account) that the report does not have; None when listing the
        report's own resources is shorter."""
        if len(self.resources) <= LISTED_MAX or table is None:
            return None
        low, high = self.months
        files = table_files(table).to_pylist()
        fs = s.arrow_fs()
        archived: set[str] = set()
        for f in files:
            month = f["month"]
            if (
                f["provider"] != self.provider
                or f["grain"] != self.grain
                or month is None
                or month > high
                or (low is not None and month < low)
                or not f["num_records"]
            ):
                continue
            column = pq.read_table(
                unquote(f["path"]),
                columns=["resource_id"],
                filesystem=fs,
                read_dictionary=["resource_id"],
            )["resource_id"]
            for chunk in column.chunks:  # each chunk's dictionary: its distinct values
                values = chunk.dictionary if pa.types.is_dictionary(chunk.type) else chunk
                archived.update(v for v in values.to_pylist() if v is not None)
        others = sorted(archived.difference(self.resources))
        return others if len(others) <= len(self.resources) else None

    def predicate(self, others: list[str] | None = None) -> str:
        """The rows replaced, as a delta-rs (DataFusion SQL) predicate: partition
        conditions first, so delta-rs reads only the files that can hold one.

        ``others`` (from :meth:`others`, read from the version being replaced): the
        resources are named as "archived here, but none of these", which picks the
        same rows as listing the report's own.
        """
        low, high = self.months
        scope = [f"provider = {_sql_text(self.provider)}", f"grain = {_sql_text(self.grain)}"]
        if low is not None:
            scope.append(f"month >= {_sql_text(low)}")
        scope.append(f"month <= {_sql_text(high)}")
        if self.account is None:
            account = "account_id IS NULL"
        else:
            account = f"account_id = {_sql_text(self.account)}"
        if self.grain in BY_START:
            when = (
                f"period_start >= {_sql_time(self.first)} "
                f"AND period_start <= {_sql_time(self.last)}"
            )
        else:
            when = (
                f"period_start < {_sql_time(self.stop)} AND (period_start >= "
                f"{_sql_time(self.first)} OR period_end > {_sql_time(self.first)})"
            )
        if self.report_id is not None:
            account = f"({account} OR report_id = {_sql_text(self.report_id)})"
        rows = " AND ".join(
            [
                account,
                when,
                _member("resource_id", self.resources, self.null_resource)
                if others is None
                else _beside("resource_id", others, self.null_resource),
                _member("coalesce(meter_id, meter)", self.meters, self.null_meter),
            ]
        )
        return " AND ".join(scope) + f" AND ({rows})"


def _replaces(frame: pd.DataFrame) -> list[Replace]:
    """Per provider, account and grain: the archived rows the report replaces."""
    keys = ["provider", "account_id", "grain"]
    if all(_is_constant(frame[k]) for k in keys):  # one report, one grain
        groups: Any = [(tuple(frame[k].iloc[0] for k in keys), frame)]
    else:
        groups = frame.groupby(keys, observed=True, dropna=False)
    out = []
    for (provider, account, grain), part in groups:
        account = None if pd.isna(account) else str(account)
        out.append(Replace.of(str(provider), account, str(grain), part))
    return out


def replace_predicate(
    replaces: list[Replace], s: Store | None = None, table: DeltaTable | None = None
) -> str:
    """The rows a report replaces in ``table`` (the version the commit starts from)."""
    return " OR ".join(
        f"({r.predicate(None if s is None else r.others(s, table))})" for r in replaces
    )


# --- the frame as the table stores it ----------------------------------------------


def _frame_report_id(df: pd.DataFrame) -> str:
    """A report id derived from the rows, so archiving the same frame twice is idempotent."""
    digest = pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes()
    return "frame-" + hashlib.sha256(digest).hexdigest()[:16]


def _arrow_column(name: str, column: pd.Series, kind: pa.DataType | None) -> pa.Array:
    """One column in the table's type; strings stay dictionaries (Parquet keeps them
    so), except partition columns, which delta-rs reads as plain strings."""
    try:
        arr = pa.array(column, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise SchemaError(f"cannot archive column {name!r} ({column.dtype}): {exc}") from exc
    if kind is None:  # a column the reader added beyond the unified ones
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        if pa.types.is_timestamp(arr.type):
            kind = pa.timestamp("us", tz="UTC")
        elif pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
            kind = pa.float64()
        elif pa.types.is_boolean(arr.type) or pa.types.is_null(arr.type):
            kind = pa.string() if pa.types.is_null(arr.type) else arr.type
        else:
            kind = pa.string()
        if pa.types.is_timestamp(arr.type) and arr.type.tz is None:
            raise SchemaError(f"cannot archive column {name!r}: timestamps without a time zone")
    try:
        if pa.types.is_dictionary(arr.type) and name not in PARTITIONS:
            return arr.cast(pa.dictionary(pa.int32(), kind))
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        return arr.cast(kind)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise SchemaError(f"cannot archive column {name!r} as {kind}: {exc}") from exc


def _to_arrow(df: pd.DataFrame, extras: list[str]) -> pa.Table:
    """The frame as Arrow: the table's columns, then the extra ones the reader gave."""
    names = [*TABLE_SCHEMA.names, *extras]
    arrays = [
        _arrow_column(n, df[n], TABLE_SCHEMA.field(n).type if n in TABLE_SCHEMA.names else None)
        for n in names
    ]
    return pa.Table.from_arrays(arrays, names=names)


def _constant(value: str | None, index: pd.Index) -> pd.Series:
    """One value on every row, as a categorical (no string per row)."""
    codes = np.full(len(index), 0 if value is not None else -1, dtype=np.int8)
    categories = [] if value is None else [value]
    return pd.Series(pd.Categorical.from_codes(codes, categories=categories), index=index)


def _is_constant(column: pd.Series) -> bool:
    """Whether every row holds the same value (missing counts as a value)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()
        return len(codes) == 0 or bool((codes == codes[0]).all())
    return bool(column.nunique(dropna=False) <= 1)


def _prepare(
    df: pd.DataFrame,
    *,
    report_id: str | None,
    source: object,
    account: str | None,
    grain: str | None,
) -> pd.DataFrame:
    """The frame as the table stores it: unified columns, grain, month, provenance."""
    if not isinstance(df, pd.DataFrame):
        raise InvalidParameter("df", f"expected a pandas DataFrame, got {type(df).__name__}")
    attrs = dict(df.attrs)
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
    backwards = (frame["period_end"] < frame["period_start"]).fillna(False)
    if backwards.any():
        bad = frame.index[backwards.to_numpy(bool)][:5].tolist()
        raise SchemaError(f"period_end before period_start (index {bad})")
    frame["grain"] = frame_grains(frame, attrs, grain)
    # Months since 1970 (UTC), factorized by hashing rather than sorting every row.
    months = frame["period_start"].to_numpy(dtype="datetime64[ns]").astype("datetime64[M]")
    inverse, uniques = pd.factorize(months.view(np.int64), sort=True)
    labels = [f"{1970 + c // 12:04d}-{c % 12 + 1:02d}" for c in uniques.tolist()]
    frame["month"] = pd.Categorical.from_codes(inverse, categories=labels)
    if report_id is None:
        if "report_id" in frame.columns and frame["report_id"].notna().all():
            ids = frame["report_id"].astype("string")
        else:
            ids = pd.Series(_frame_report_id(frame[list(UNIFIED_COLUMNS)]), index=frame.index)
    else:
        ids = _constant(str(report_id), frame.index)
    frame["report_id"] = ids
    if source is not None or "source" not in frame.columns:
        frame["source"] = _constant(clean_source(source), frame.index)
    else:
        frame["source"] = frame["source"].astype("string").map(clean_source, na_action="ignore")
    now = pd.Timestamp.now(tz="UTC").floor("us")
    if "archived_at" not in frame.columns or frame["archived_at"].isna().any():
        frame["archived_at"] = now
    frame["archived_at"] = pd.to_datetime(frame["archived_at"], utc=True)
    return frame


def device_order(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows in the archive's order: by ``resource_id`` (missing last), then by
    ``period_start``; the order they had among equals kept.

    A device's rows lie together in each file, so the row-group statistics and
    pages of a file tell a reader where a device is: selecting 50 devices of a
    100,000-device month read every page of the file in day order (1.2 s), the
    pages holding them in this order (0.05 s); the file is also a quarter of the
    size (a device's id repeats down its run). Sorted on the categorical codes: no
    string compared per row.
    """
    if len(frame) < 2:
        return frame
    rid = frame["resource_id"]
    if isinstance(rid.dtype, pd.CategoricalDtype):
        names = rid.cat.categories.astype(str)
        rank = np.empty(len(names) + 1, dtype=np.int64)
        rank[np.argsort(names.to_numpy(), kind="stable")] = np.arange(len(names))
        rank[-1] = len(names)  # code -1, missing: last
        device = rank[rid.cat.codes.to_numpy()]
    else:
        codes, _ = pd.factorize(rid, sort=True, use_na_sentinel=True)
        device = np.where(codes < 0, np.iinfo(np.int64).max, codes)
    starts = frame["period_start"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    order = np.lexsort((starts, device))
    if bool((order[1:] > order[:-1]).all()):
        return frame
    return frame.take(order)


# --- the commit --------------------------------------------------------------------


def _is_conflict(exc: BaseException) -> bool:
    """Whether delta-rs refused the commit because another writer committed first."""
    text = str(exc).lower()
    return isinstance(exc, CommitFailedError | DeltaError) and any(c in text for c in _CONFLICTS)


def _refusal(s: Store, exc: BaseException) -> ArchiveError:
    """A commit failure that is no conflict, said in the package's terms."""
    text = str(exc)
    low = text.lower()
    if "append-only" in low or "append only" in low:
        what = "the table is append-only (delta.appendOnly): a report cannot replace rows"
    elif "permission denied" in low or isinstance(exc, PermissionError):
        what = "permission denied"
    elif "protocol" in low or "feature" in low:
        what = "the table's Delta protocol does not allow this write"
    elif "failed validation" in low or "schema" in low:
        what = "the rows do not fit the table"
    else:
        what = "the write failed"
    return ArchiveError(f"cannot write the archive at {s.root}: {what} ({text})")


def _create(s: Store) -> None:
    """The empty table. The first writer creates it, then replaces like any other:
    two writers racing to create it then conflict on their rows like any two
    (appending the first report instead double-counted)."""
    try:
        DeltaTable.create(
            s.uri,
            schema=TABLE_SCHEMA,
            mode="ignore",
            partition_by=list(PARTITIONS),
            storage_options=s.delta_options or None,
        )
    except CommitFailedError as exc:  # another writer created it first
        log.debug("table created by another writer: %s", exc)
    except (DeltaError, OSError) as exc:
        raise ArchiveError(f"cannot create the archive at {s.root}: {exc}") from exc


def _on_big_stack(fn: Callable[[], T]) -> T:
    """``fn()`` on a thread with a large stack (delta-rs recursing through a long predicate)."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread
            out["error"] = exc

    previous = threading.stack_size(_BIG_STACK)
    try:
        worker = threading.Thread(target=run, name="usage-analysis-delta-write")
        worker.start()
    finally:
        threading.stack_size(previous)
    worker.join()
    if "error" in out:
        raise out["error"]
    return out["value"]  # type: ignore[no-any-return]


def commit(
    s: Store,
    data: pa.Table,
    predicate: str | Callable[[DeltaTable], str],
    metadata: Mapping[str, str],
) -> int:
    """Write ``data`` replacing the rows ``predicate`` matches, in one commit; start
    again on a conflict. ``predicate`` may depend on the version it replaces (a
    function of it, called again on each attempt). The commit's version."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        table = open_table(s)
        if table is None:
            _create(s)
            continue
        replaced = predicate if isinstance(predicate, str) else predicate(table)

        def write(table: DeltaTable = table, replaced: str = replaced) -> None:
            write_deltalake(
                table,
                data,
                mode="overwrite",
                predicate=replaced,
                partition_by=list(PARTITIONS),
                schema_mode="merge",
                writer_properties=_WRITER,
                commit_properties=CommitProperties(custom_metadata=dict(metadata)),
            )

        try:
            if len(replaced) > _LONG_PREDICATE:
                _on_big_stack(write)
            else:
                write()
        except (DeltaError, OSError) as exc:
            if not _is_conflict(exc):
                raise _refusal(s, exc) from exc
            if attempt == MAX_ATTEMPTS:
                raise ArchiveError(
                    f"{s.root}: gave up after {attempt} commits conflicting with other writers"
                ) from exc
            pause = min(2.0, 0.05 * attempt) * (0.5 + random.random())
            log.debug("commit conflict (attempt %d), retrying in %.2fs: %s", attempt, pause, exc)
            time.sleep(pause)
            continue
        return _own_version(s, metadata)
    raise AssertionError("unreachable")


def _own_version(s: Store, metadata: Mapping[str, str]) -> int:
    """The version of our commit: the newest whose commit info carries our write id."""
    table = open_table(s)
    assert table is not None
    token = metadata["usage_analysis.write_id"]
    for info in table.history(limit=50):
        if info.get("usage_analysis.write_id") == token:
            return int(info["version"])
    return int(table.version())


def _rows_at(s: Store, version: int) -> int:
    """How many rows the table held at a version (from the log: no data read)."""
    if version < 0:
        return 0
    table = DeltaTable(s.uri, version=version, storage_options=s.delta_options or None)
    records = pa.table(table.get_add_actions(flatten=True))["num_records"]
    return int(pa.compute.sum(records).as_py() or 0)


def _partitions(frame: pd.DataFrame) -> tuple[str, ...]:
    """The partitions the rows go to, from the categorical codes (no string per row)."""
    columns = [pd.Categorical(frame[k]) for k in PARTITIONS]
    key = np.zeros(len(frame), np.int64)
    for c in columns:
        key = key * (len(c.categories) + 1) + (c.codes.astype(np.int64) + 1)
    _, first = np.unique(key, return_index=True)
    out = []
    for i in first:
        values = [c.categories[c.codes[i]] if c.codes[i] >= 0 else "" for c in columns]
        out.append("/".join(f"{k}={v}" for k, v in zip(PARTITIONS, values, strict=True)))
    return tuple(sorted(out))


def archive_frame(
    df: pd.DataFrame,
    *,
    report_id: str | None = None,
    source: str | os.PathLike[str] | None = None,
    account: str | None = None,
    grain: str | None = None,
    archive: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> ArchiveWrite:
    """Write a unified frame into the archive, replacing what an earlier report said.

    The report replaces, in one Delta commit, every archived row of the same
    provider, account and **grain** whose period overlaps its own range (job-level
    rows: that starts within it), of the resources and meters it has; other
    grains are never touched. A crash leaves the old rows or the new ones, never
    both; a concurrent writer's commit makes this one start again. Columns beyond
    the unified ones (HERE's ``project`` and ``billing_tag``...) are kept: the
    table gains them.

    ``grain`` defaults to what the reader recorded (report kind, HERE detail
    level), else a ``grain`` column, else a guess from the rows (see
    ``usage_analysis.archive.GRAINS``). ``report_id`` defaults to the frame's own
    ``report_id`` column, else a hash of the rows. ``source`` is kept without any
    query string, so a pre-signed URL never lands in the archive. A frame from
    :func:`history` can be archived again (to copy an archive): its ``grain``,
    ``report_id``, ``source`` and ``archived_at`` are kept. ``account`` fills a
    missing ``account_id`` (a Particle CSV does not name its account).
    """
    s = store(archive, storage_options)
    with archive_errors(s, "write"):
        ensure_migrated(s)
        return write_frame(s, df, report_id=report_id, source=source, account=account, grain=grain)


def write_frame(
    s: Store,
    df: pd.DataFrame,
    *,
    report_id: str | None = None,
    source: object = None,
    account: str | None = None,
    grain: str | None = None,
) -> ArchiveWrite:
    """:func:`archive_frame` on a resolved store, migrated already."""
    frame = _prepare(df, report_id=report_id, source=source, account=account, grain=grain)
    ids = frame["report_id"]
    summary_id = str(ids.iloc[0]) if len(ids) and _is_constant(ids) else "several"
    if frame.empty:
        return ArchiveWrite(summary_id, 0, 0, ())
    with archive_errors(s, "write"):
        data = _to_arrow(device_order(frame), extra_columns(frame.columns))
        write_id = os.urandom(8).hex()
        metadata = {"usage_analysis.report_id": summary_id, "usage_analysis.write_id": write_id}
        replaces = _replaces(frame)
        version = commit(s, data, lambda table: replace_predicate(replaces, s, table), metadata)
        # How many rows the commit replaced: what the version before held, plus
        # the new rows, less what this version holds (its own commit alone).
        replaced = _rows_at(s, version - 1) + len(frame) - _rows_at(s, version)
    log.debug(
        "archived %d rows of report %s as version %d (%d replaced)",
        len(frame),
        summary_id,
        version,
        replaced,
    )
    return ArchiveWrite(summary_id, len(frame), replaced, _partitions(frame), version)


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_by_kind(file: Path, read_options: Mapping[str, Any]) -> pd.DataFrame:
    """The unified rows of a file, each kind read apart when a ZIP mixes kinds.

    A ZIP of SUMMARY and ASSET exports would otherwise come back as one frame
    whose rows no longer say which export they came from.
    """
    from ..readers import detect, read_report  # type: ignore[attr-defined,unused-ignore]

    if "kind" not in read_options:
        try:
            kinds = sorted({k for _, k in detect(file).members})
        except UsageAnalysisError:
            kinds = []  # read_report below says what is wrong, with provider= honoured
        if len(kinds) > 1:
            parts = []
            for k in kinds:
                part = read_report(file, unified=True, kind=k, **read_options)
                part["grain"] = frame_grains(part, part.attrs, None)
                parts.append(part)
            return pd.concat(parts, ignore_index=True)
    return read_report(file, unified=True, **read_options)


def archive_file(
    path: str | os.PathLike[str],
    *,
    report_id: str | None = None,
    account: str | None = None,
    grain: str | None = None,
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
    file = Path(path).expanduser()
    if not file.is_file():
        raise InvalidParameter("path", f"{file}: expected an existing report file")
    df = _read_by_kind(file, read_options)
    rid = report_id or f"{file.name}@{_file_digest(file)[:12]}"
    return archive_frame(
        df,
        report_id=rid,
        source=str(file.resolve()),
        account=account,
        grain=grain,
        archive=archive,
        storage_options=storage_options,
    )
