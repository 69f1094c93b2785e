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
from deltalake import CommitProperties, DeltaTable, Transaction
from deltalake.exceptions import CommitFailedError, DeltaError

from ..errors import InvalidParameter, SchemaError, UsageAnalysisError
from ..schema import UNIFIED_COLUMNS, coerce_unified
from ._files import (
    Replace,
    app_id,
    constant_column,
    delete_files,
    replaced_files,
    write_data_files,
    write_token,
)
from ._grain import frame_grains
from ._migrate import ensure_migrated
from ._store import ArchiveError, Store, clean_source, store
from ._table import PARTITIONS, TABLE_SCHEMA, open_table

__all__ = ["ArchiveWrite", "archive_file", "archive_frame"]

log = logging.getLogger(__name__)

# Two writers committing at once: the later one's commit fails (delta-rs checks
# that nothing it replaced changed underneath) and it starts again from the new
# version. Bounded: a writer gives up after this many tries.
MAX_ATTEMPTS = 25


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
    """The frame as Arrow in the table's columns; strings as dictionaries (Parquet
    keeps them so: no string per row is ever built)."""
    arrays = []
    fields = []
    for field in TABLE_SCHEMA:
        column = df[field.name]
        if field.name in PARTITIONS and len(column) and _is_constant(column):
            value = column.iloc[0]
            arr: pa.Array = constant_column(None if pd.isna(value) else str(value), len(df))
        else:
            arr = pa.array(column, from_pandas=True)
            if pa.types.is_dictionary(arr.type):
                arr = arr.cast(pa.dictionary(pa.int32(), field.type))
            else:
                arr = arr.cast(field.type)
        arrays.append(arr)
        fields.append(pa.field(field.name, arr.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


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


def _rows_at(s: Store, version: int) -> int:
    table = open_table(s, as_of=version)
    if table is None:
        return 0
    return int(
        pa.compute.sum(pa.table(table.get_add_actions(flatten=True))["num_records"]).as_py() or 0
    )


def commit(
    s: Store, data: pa.Table, replaces: list[Replace], metadata: Mapping[str, str]
) -> tuple[int, int, tuple[str, ...]]:
    """Write ``data`` replacing the rows ``replaces`` name, in one commit; retry on a
    conflict. The commit's version, how many archived rows it replaced, and the
    partitions the new rows went to."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        table = open_table(s)
        if table is None:
            # The first writer creates an empty table, then replaces like any
            # other. Appending the first report instead double-counted: two
            # writers racing to create the table both saw none, and delta-rs
            # retried the loser's append as a blind append, which conflicts
            # with nothing (tests/test_archive_atomic.py, two processes).
            try:
                with contextlib.suppress(CommitFailedError):  # another writer created it
                    DeltaTable.create(
                        s.uri,
                        schema=TABLE_SCHEMA,
                        mode="ignore",
                        partition_by=list(PARTITIONS),
                        storage_options=s.delta_options or None,
                    )
            except (DeltaError, OSError) as exc:
                raise ArchiveError(f"cannot create the archive at {s.root}: {exc}") from exc
            continue
        read_version = table.version()
        adds = []
        try:
            old = replaced_files(s, table, replaces)
            token = write_token()
            adds = write_data_files(s, data, token)
            partitions = tuple(
                sorted("/".join(f"{k}={a.partition_values[k]}" for k in PARTITIONS) for a in adds)
            )
            for n, rest in enumerate(old.survivors):
                adds += write_data_files(s, rest, f"{token}-kept{n}")
            # One application transaction per provider, account and grain: a
            # concurrent writer of the same grain commits the same ids, and
            # Delta's conflict check makes the later commit fail.
            props = CommitProperties(
                custom_metadata=dict(metadata),
                app_transactions=[
                    Transaction(app_id(r.provider, r.account, r.grain), read_version + 1)
                    for r in replaces
                ],
            )
            table.create_write_transaction(
                [*adds, *old.removes],
                "append",
                TABLE_SCHEMA,
                partition_by=list(PARTITIONS),
                commit_properties=props,
            )
        except CommitFailedError as exc:
            delete_files(s, adds)
            if attempt == MAX_ATTEMPTS:
                raise ArchiveError(
                    f"{s.root}: gave up after {attempt} commits conflicting with other writers"
                ) from exc
            pause = min(2.0, 0.05 * attempt) * (0.5 + random.random())
            log.debug("commit conflict (attempt %d), retrying in %.2fs: %s", attempt, pause, exc)
            time.sleep(pause)
            continue
        except (DeltaError, OSError) as exc:
            delete_files(s, adds)
            raise ArchiveError(f"cannot write the archive at {s.root}: {exc}") from exc
        done = open_table(s)
        assert done is not None
        return _own_version(done, metadata), old.rows, partitions
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
    summary_id = str(ids.iloc[0]) if len(ids) and _is_constant(ids) else "several"
    s = store(archive, storage_options)
    ensure_migrated(s)
    if frame.empty:
        return ArchiveWrite(summary_id, 0, 0, ())
    data = _to_arrow(frame)
    write_id = os.urandom(8).hex()
    version, replaced, partitions = commit(
        s,
        data,
        _replaces(frame),
        {"usage_analysis.report_id": summary_id, "usage_analysis.write_id": write_id},
    )
    # The log must agree with what was committed, or the archive's totals are wrong.
    before = _rows_at(s, version - 1) if version > 0 else 0
    after = _rows_at(s, version)
    if after != before - replaced + len(frame):
        raise ArchiveError(
            f"{s.root}: version {version} holds {after} rows; expected {before} - "
            f"{replaced} replaced + {len(frame)} new"
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
