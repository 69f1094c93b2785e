"""Writing reports: each one replaces its range of its grain in a single Delta commit."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError

from ..errors import InvalidParameter, SchemaError, UsageAnalysisError
from ..schema import UNIFIED_COLUMNS, coerce_unified
from ._grain import BY_START, MAX_ROW_SPAN, frame_grains
from ._migrate import ensure_migrated
from ._store import ArchiveError, Store, clean_source, store
from ._table import PARTITIONS, TABLE_SCHEMA, open_table

__all__ = ["ArchiveWrite", "archive_file", "archive_frame"]

log = logging.getLogger(__name__)

# Two writers committing at once: the later one's commit fails (delta-rs checks
# that nothing it replaced changed underneath) and it starts again from the new
# version. Bounded: a writer gives up after this many tries.
MAX_ATTEMPTS = 25
_WRITER = WriterProperties(compression="ZSTD")


@dataclass(frozen=True)
class ArchiveWrite:
    """What one call to :func:`archive_frame` did."""

    report_id: str
    rows: int
    replaced: int
    partitions: tuple[str, ...]
    version: int | None = None  # the Delta table version of the commit


def _frame_report_id(df: pd.DataFrame) -> str:
    """A report id derived from the rows, so archiving the same frame twice is idempotent."""
    digest = pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes()
    return "frame-" + hashlib.sha256(digest).hexdigest()[:16]


def _to_arrow(df: pd.DataFrame) -> pa.Table:
    """The frame as Arrow: partition columns as strings (delta-rs needs them plain),
    other string columns as they are in pandas, dictionaries (Parquet keeps them)."""
    arrays = []
    fields = []
    for field in TABLE_SCHEMA:
        column = df[field.name]
        if field.name in PARTITIONS and column.nunique(dropna=False) == 1:
            value = column.iloc[0]
            value = None if pd.isna(value) else str(value)
            arr = pa.repeat(pa.scalar(value, field.type), len(df))
        else:
            arr = pa.array(column, from_pandas=True)
            if pa.types.is_dictionary(arr.type) and field.name not in PARTITIONS:
                arr = arr.cast(pa.dictionary(pa.int32(), field.type))
            elif pa.types.is_dictionary(arr.type):
                arr = arr.dictionary_decode().cast(field.type)
            else:
                arr = arr.cast(field.type)
        arrays.append(arr)
        fields.append(pa.field(field.name, arr.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _literal(value: object) -> str:
    if isinstance(value, pd.Timestamp):
        return "'" + value.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ") + "'"
    return "'" + str(value).replace("'", "''") + "'"


def _equals(column: str, value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return f"{column} IS NULL"
    return f"{column} = {_literal(value)}"


def _month(ts: pd.Timestamp) -> str:
    return f"{ts.year:04d}-{ts.month:02d}"


def _range_clause(grain: str, part: pd.DataFrame) -> str:
    """Which archived rows of this grain the report replaces.

    Rows whose period overlaps the report's range ``[first start, last end)``, so
    a coarser row reaching into it never stays beside the new rows; for events
    (job-level rows) the rows that start within ``[first start, last start]``.
    The month bounds only let delta-rs skip partitions that cannot match.
    """
    starts = part["period_start"]
    first, last = starts.min(), starts.max()
    ends = part["period_end"]
    stop = max(ends.max() if ends.notna().any() else last, last + pd.Timedelta(microseconds=1))
    if grain in BY_START:
        months = f"month >= {_literal(_month(first))} AND month <= {_literal(_month(last))}"
        return (
            f"{months} AND period_start >= {_literal(first)} AND period_start <= {_literal(last)}"
        )
    span = MAX_ROW_SPAN[grain]
    months = f"month <= {_literal(_month(stop - pd.Timedelta(microseconds=1)))}"
    if span is not None:
        months += f" AND month >= {_literal(_month(first - span))}"
    return (
        f"{months} AND period_start < {_literal(stop)}"
        f" AND (period_start >= {_literal(first)} OR period_end > {_literal(first)})"
    )


def _one_of(column: str, values: pd.Series) -> str:
    """``column`` is one of ``values`` (missing matches missing)."""
    present = sorted({str(v) for v in values.dropna()})
    parts = [f"{column} IN ({', '.join(_literal(v) for v in present)})"] if present else []
    if values.isna().any():
        parts.append(f"{column} IS NULL")
    return "(" + " OR ".join(parts) + ")"


def _predicate(frame: pd.DataFrame) -> str:
    """One condition naming every row the report replaces.

    Per provider, account and grain: the rows in the report's range (see
    :func:`_range_clause`) of the resources and meters the report has. A
    report asked for some devices, apps, features or meters only (every
    provider allows such filters) so never erases the others' rows; a resource
    of the report without some meter in the range had no usage of it.
    """
    clauses = []
    keys = ["provider", "account_id", "grain"]
    if all(frame[k].nunique(dropna=False) == 1 for k in keys):  # one report, one grain
        groups: Any = [(tuple(frame[k].iloc[0] for k in keys), frame)]
    else:
        groups = frame.groupby(keys, observed=True, dropna=False)
    for (provider, account, grain), part in groups:
        meter_id = part["meter_id"]
        meters = pd.Series(meter_id.unique(), dtype=object).dropna()
        if meter_id.isna().any():
            fallback = part["meter"][meter_id.isna().to_numpy(bool)]
            meters = pd.concat([meters, pd.Series(fallback.unique(), dtype=object)])
        resources = pd.Series(part["resource_id"].unique(), dtype=object)
        clauses.append(
            f"({_equals('provider', provider)} AND {_equals('account_id', account)}"
            f" AND {_equals('grain', grain)} AND {_range_clause(str(grain), part)}"
            f" AND {_one_of('resource_id', resources)}"
            f" AND {_one_of('coalesce(meter_id, meter)', meters)})"
        )
    return " OR ".join(clauses)


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
    starts = frame["period_start"]
    codes = (starts.dt.year * 12 + starts.dt.month - 1).to_numpy()
    uniques, inverse = np.unique(codes, return_inverse=True)
    labels = [f"{c // 12:04d}-{c % 12 + 1:02d}" for c in uniques]
    frame["month"] = pd.Categorical.from_codes(inverse.reshape(-1), categories=labels)
    if report_id is None:
        if "report_id" in frame.columns and frame["report_id"].notna().all():
            ids = frame["report_id"].astype("string")
        else:
            ids = pd.Series(_frame_report_id(frame[list(UNIFIED_COLUMNS)]), index=frame.index)
    else:
        ids = pd.Series(str(report_id), index=frame.index)
    frame["report_id"] = ids
    if source is not None or "source" not in frame.columns:
        frame["source"] = clean_source(source)
    else:
        frame["source"] = frame["source"].astype("string").map(clean_source, na_action="ignore")
    now = pd.Timestamp.now(tz="UTC").floor("us")
    if "archived_at" not in frame.columns or frame["archived_at"].isna().any():
        frame["archived_at"] = now
    frame["archived_at"] = pd.to_datetime(frame["archived_at"], utc=True)
    return frame


def _rows_at(s: Store, version: int) -> int:
    table = open_table(s, as_of=version)
    if table is None:
        return 0
    return int(
        pa.compute.sum(pa.table(table.get_add_actions(flatten=True))["num_records"]).as_py() or 0
    )


def commit(s: Store, data: pa.Table, predicate: str | None, metadata: Mapping[str, str]) -> int:
    """Write ``data`` replacing ``predicate``'s rows in one commit; retry on a conflict."""
    props = CommitProperties(custom_metadata=dict(metadata))
    for attempt in range(1, MAX_ATTEMPTS + 1):
        table = open_table(s)
        try:
            if table is None:
                # The first writer creates an empty table, then replaces like any
                # other. Appending the first report instead double-counted: two
                # writers racing to create the table both saw none, and delta-rs
                # retried the loser's append as a blind append, which conflicts
                # with nothing (tests/test_archive_atomic.py, two processes).
                with contextlib.suppress(CommitFailedError):  # another writer created it
                    DeltaTable.create(
                        s.uri,
                        schema=data.schema,
                        mode="ignore",
                        partition_by=list(PARTITIONS),
                        storage_options=s.delta_options or None,
                    )
                continue
            if predicate:
                write_deltalake(
                    table,
                    data,
                    partition_by=list(PARTITIONS),
                    mode="overwrite",
                    predicate=predicate,
                    writer_properties=_WRITER,
                    commit_properties=props,
                )
            else:
                write_deltalake(
                    table,
                    data,
                    partition_by=list(PARTITIONS),
                    mode="append",
                    writer_properties=_WRITER,
                    commit_properties=props,
                )
        except CommitFailedError as exc:
            if attempt == MAX_ATTEMPTS:
                raise ArchiveError(
                    f"{s.root}: gave up after {attempt} commits conflicting with other writers"
                ) from exc
            pause = min(2.0, 0.05 * attempt) * (0.5 + random.random())
            log.debug("commit conflict (attempt %d), retrying in %.2fs: %s", attempt, pause, exc)
            time.sleep(pause)
            continue
        except (DeltaError, OSError) as exc:
            raise ArchiveError(f"cannot write the archive at {s.root}: {exc}") from exc
        done = open_table(s)
        assert done is not None
        return _own_version(done, metadata)
    raise AssertionError("unreachable")


def _own_version(table: Any, metadata: Mapping[str, str]) -> int:
    """The version of our commit: the newest whose commit info carries our write id."""
    token = metadata["usage_analysis.write_id"]
    for info in table.history(limit=50):
        if info.get("usage_analysis.write_id") == token:
            return int(info["version"])
    return int(table.version())


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
    rows: that starts within it); other grains are never touched. A crash leaves
    the old rows or the new ones, never both; a concurrent writer's commit makes
    this one start again.

    ``grain`` defaults to what the reader recorded (report kind, HERE detail
    level), else a ``grain`` column, else a guess from the rows (see
    ``usage_analysis.archive.GRAINS``). ``report_id`` defaults to the frame's own
    ``report_id`` column, else a hash of the rows. ``source`` is kept without any
    query string, so a pre-signed URL never lands in the archive. A frame from
    :func:`history` can be archived again (to copy an archive): its ``grain``,
    ``report_id``, ``source`` and ``archived_at`` are kept. ``account`` fills a
    missing ``account_id`` (a Particle CSV does not name its account).
    """
    frame = _prepare(df, report_id=report_id, source=source, account=account, grain=grain)
    ids = frame["report_id"]
    summary_id = str(ids.iloc[0]) if len(ids) and ids.nunique() == 1 else "several"
    s = store(archive, storage_options)
    ensure_migrated(s)
    if frame.empty:
        return ArchiveWrite(summary_id, 0, 0, ())
    data = _to_arrow(frame)
    predicate = _predicate(frame)
    write_id = os.urandom(8).hex()
    version = commit(
        s,
        data,
        predicate,
        {"usage_analysis.report_id": summary_id, "usage_analysis.write_id": write_id},
    )
    before = _rows_at(s, version - 1) if version > 0 else 0
    after = _rows_at(s, version)
    replaced = before + len(frame) - after
    partitions = tuple(
        sorted(
            {
                f"provider={p}/account_id={a}/grain={g}/month={m}"
                for p, a, g, m in frame[list(PARTITIONS)].drop_duplicates().itertuples(index=False)
            }
        )
    )
    log.debug(
        "archived %d rows of report %s as version %d (%d replaced)",
        len(frame),
        summary_id,
        version,
        replaced,
    )
    return ArchiveWrite(summary_id, len(frame), replaced, partitions, version)


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
