"""The journal: every report job ever requested, in SQLite in the data directory.

One row per job (provider, endpoint, account, id): its parameters, state, times,
and the file it was saved to with size and sha256. The endpoint (the API's base
URL) is part of a job's identity: report 1001 of the emulator is not report 1001
of the real API, and neither is reused for, or counted against, the other. Never a token, password, session id or
download link. The journal is what makes a kernel restart harmless
(:func:`resume`), what lets a repeated request reuse a report already downloaded,
and what the provider limits are counted from (see :mod:`.limits`), across
processes: SQLite's locking serialises writers.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ..defaults import JOURNAL_LOCK_TIMEOUT
from ..errors import ConfigurationError, InvalidParameter, NotFoundError
from ..paths import journal_path
from ._http import remove_stale_parts

if TYPE_CHECKING:
    import pandas as pd

    from ._base import BaseClient
    from .job import ReportJob

__all__ = ["Journal", "JournalError", "Owner", "jobs", "params_key", "resume"]


class JournalError(ConfigurationError):
    """The journal cannot be used: corrupt, locked by another process, or not writable."""

    def __init__(self, path: Path, problem: str, remedy: str) -> None:
        self.path = path
        super().__init__(f"the journal {path} {problem}: {remedy}")


def _journal_error(path: Path, exc: sqlite3.Error, timeout: float) -> JournalError:
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return JournalError(
            path,
            f"stayed locked by another process for {timeout:.0f} s ({exc})",
            "close the other notebooks or processes using it (or point USAGE_ANALYSIS_HOME "
            "elsewhere), then try again",
        )
    if isinstance(exc, sqlite3.DatabaseError) and (
        "not a database" in text or "malformed" in text or "corrupt" in text
    ):
        return JournalError(
            path,
            f"is damaged ({exc})",
            f"move it aside (e.g. rename it to {path.name}.damaged) and run again: a new, "
            "empty journal is made, and the report files already downloaded stay where they are",
        )
    return JournalError(
        path,
        f"cannot be used ({type(exc).__name__}: {exc})",
        "check that its folder exists and is writable, or point USAGE_ANALYSIS_HOME elsewhere",
    )


class Owner(NamedTuple):
    """Whose jobs: a provider's account at one endpoint (the API's base URL)."""

    provider: str
    endpoint: str
    account: str


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    provider TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    account TEXT NOT NULL,
    id TEXT NOT NULL,
    parent TEXT,
    params TEXT NOT NULL,
    params_key TEXT NOT NULL,
    state TEXT NOT NULL,
    provider_state TEXT,
    parts TEXT,
    endpoints TEXT,
    requested_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    path TEXT,
    size INTEGER,
    sha256 TEXT,
    warnings TEXT,
    message TEXT,
    PRIMARY KEY (provider, endpoint, account, id)
);
CREATE INDEX IF NOT EXISTS jobs_by_params ON jobs (provider, endpoint, account, params_key);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (provider, endpoint, account, state);
CREATE INDEX IF NOT EXISTS jobs_by_id ON jobs (id);
CREATE TABLE IF NOT EXISTS slots (
    token TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    account TEXT NOT NULL,
    created REAL NOT NULL,
    pid INTEGER
);
"""

_OWNER = "provider = ? AND endpoint = ? AND account = ?"
_JSON_COLUMNS = ("params", "parts", "endpoints", "warnings")
_TIME_COLUMNS = ("requested_at", "updated_at")
COLUMNS = (
    "provider",
    "account",
    "endpoint",
    "id",
    "state",
    "provider_state",
    "requested_at",
    "updated_at",
    "params",
    "path",
    "size",
    "sha256",
    "parent",
    "parts",
    "warnings",
    "message",
)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def params_key(provider: str, params: dict[str, Any]) -> str:
    """A fingerprint of a request's parameters: equal requests have equal keys."""
    return hashlib.sha256(f"{provider}\n{_canonical(params)}".encode()).hexdigest()


class Journal:
    """The SQLite journal at ``path`` (default: ``journal.sqlite`` in the data dir)."""

    def __init__(
        self, path: str | Path | None = None, *, timeout: float = JOURNAL_LOCK_TIMEOUT
    ) -> None:
        self.path = Path(path) if path is not None else journal_path()
        self.timeout = float(timeout)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            # WAL: readers never wait for a writer, and a commit costs one fsync at most.
            db.execute("PRAGMA journal_mode = WAL")
            columns = {r["name"] for r in db.execute("PRAGMA table_info(jobs)")}
            if columns and "endpoint" not in columns:
                # A journal from before endpoints were kept: set it aside, start afresh.
                db.execute("ALTER TABLE jobs RENAME TO jobs_without_endpoint")
                db.execute("DROP TABLE IF EXISTS slots")
                for index in ("jobs_by_params", "jobs_by_state"):
                    db.execute(f"DROP INDEX IF EXISTS {index}")
            db.executescript(_SCHEMA)

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    @contextmanager
    def _connect(self, *, write: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection; an SQLite failure (corrupt, locked) becomes a JournalError."""
        try:
            with self._sqlite(write=write) as db:
                yield db
        except sqlite3.Error as exc:
            raise _journal_error(self.path, exc, self.timeout) from None

    @contextmanager
    def _sqlite(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        # A connection per operation: cheap, and safe across threads and processes.
        db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            db.execute("PRAGMA synchronous = NORMAL")
            if write:
                # IMMEDIATE: take the write lock now, so a count-then-insert is atomic.
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            else:
                yield db
        finally:
            db.close()

    # -- rows -----------------------------------------------------------------

    @staticmethod
    def _encode(row: dict[str, Any]) -> dict[str, Any]:
        out = dict(row)
        for name in _JSON_COLUMNS:
            if out.get(name) is not None:
                out[name] = _canonical(out[name])
        for name in _TIME_COLUMNS:
            value = out.get(name)
            if isinstance(value, datetime):
                out[name] = value.isoformat()
        out["params_key"] = params_key(row["provider"], row["params"])
        return out

    @staticmethod
    def _decode(row: sqlite3.Row) -> dict[str, Any]:
        out = dict(row)
        for name in _JSON_COLUMNS:
            if out.get(name) is not None:
                out[name] = json.loads(out[name])
        for name in _TIME_COLUMNS:
            if out.get(name):
                out[name] = datetime.fromisoformat(out[name])
        return out

    def save(self, job: ReportJob, *, release: str | None = None) -> None:
        """Insert or update ``job``'s row; ``release`` a slot token in the same transaction."""
        row = self._encode(job.to_row())
        names = list(row)
        sql = (
            f"INSERT INTO jobs ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)}) "
            "ON CONFLICT (provider, endpoint, account, id) DO UPDATE SET "
            + ", ".join(
                f"{n} = excluded.{n}"
                for n in names
                if n not in ("provider", "endpoint", "account", "id", "requested_at")
            )
        )
        with self._connect(write=True) as db:
            db.execute(sql, [row[n] for n in names])
            if release is not None:
                db.execute("DELETE FROM slots WHERE token = ?", (release,))

    def get(self, owner: Owner, job_id: str) -> dict[str, Any] | None:
        """One job's row, or None."""
        with self._connect() as db:
            found = db.execute(
                f"SELECT * FROM jobs WHERE {_OWNER} AND id = ?", (*owner, job_id)
            ).fetchone()
        return self._decode(found) if found else None

    def find(self, job_id: str, *, provider: str | None = None) -> list[dict[str, Any]]:
        """Every row with this id (of this provider), newest first."""
        sql = "SELECT * FROM jobs WHERE id = ?"
        args: list[Any] = [job_id]
        if provider is not None:
            sql += " AND provider = ?"
            args.append(provider)
        with self._connect() as db:
            rows = db.execute(sql + " ORDER BY requested_at DESC", args).fetchall()
        return [self._decode(r) for r in rows]

    def reusable(self, owner: Owner, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Rows for the same request that are not failed or expired, newest first."""
        with self._connect() as db:
            rows = db.execute(
                f"SELECT * FROM jobs WHERE {_OWNER} AND params_key = ? "
                "AND state IN ('pending', 'ready', 'downloaded') ORDER BY requested_at DESC",
                (*owner, params_key(owner.provider, params)),
            ).fetchall()
        return [self._decode(r) for r in rows]

    def outstanding(self, owner: Owner) -> list[dict[str, Any]]:
        """The provider-side jobs of this account still pending, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                f"SELECT * FROM jobs WHERE {_OWNER} AND state = 'pending' AND parts IS NULL "
                "ORDER BY requested_at",
                tuple(owner),
            ).fetchall()
        return [self._decode(r) for r in rows]

    def rows(
        self, *, provider: str | None = None, account: str | None = None
    ) -> list[dict[str, Any]]:
        """All rows (of a provider, an account), oldest first."""
        sql = "SELECT * FROM jobs WHERE 1 = 1"
        args: list[Any] = []
        if provider is not None:
            sql += " AND provider = ?"
            args.append(provider)
        if account is not None:
            sql += " AND account = ?"
            args.append(account)
        with self._connect() as db:
            found = db.execute(sql + " ORDER BY requested_at, id", args).fetchall()
        return [self._decode(r) for r in found]

    # -- slots under a provider limit -------------------------------------------

    def try_reserve(
        self, owner: Owner, *, limit: int, now: float, ttl: float
    ) -> tuple[str | None, int]:
        """Reserve a slot when fewer than ``limit`` jobs are outstanding: (token or None, count).

        Counted in one write transaction: pending jobs in the journal plus slots
        reserved by requests in flight (in any process); reservations older than
        ``ttl`` seconds belong to a process that died and are dropped.
        """
        with self._connect(write=True) as db:
            db.execute("DELETE FROM slots WHERE created < ?", (now - ttl,))
            (pending,) = db.execute(
                f"SELECT COUNT(*) FROM jobs WHERE {_OWNER} AND state = 'pending' AND parts IS NULL",
                tuple(owner),
            ).fetchone()
            (reserved,) = db.execute(
                f"SELECT COUNT(*) FROM slots WHERE {_OWNER}", tuple(owner)
            ).fetchone()
            count = int(pending) + int(reserved)
            if count >= limit:
                return None, count
            token = uuid.uuid4().hex
            db.execute(
                "INSERT INTO slots (token, provider, endpoint, account, created, pid) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (token, *owner, now, os.getpid()),
            )
            return token, count

    def touch(self, token: str, *, now: float) -> None:
        """Keep a reservation alive while its request waits for the provider."""
        with self._connect(write=True) as db:
            db.execute("UPDATE slots SET created = ? WHERE token = ?", (now, token))

    def release(self, token: str) -> None:
        """Give a reserved slot back (the request was not sent, or failed)."""
        with self._connect(write=True) as db:
            db.execute("DELETE FROM slots WHERE token = ?", (token,))

    # -- views ----------------------------------------------------------------

    def frame(self, *, provider: str | None = None) -> pd.DataFrame:
        """The journal as a DataFrame, oldest first."""
        import pandas as pd

        rows = self.rows(provider=provider)
        for row in rows:
            for name in ("params", "parts", "warnings"):
                if row.get(name) is not None:
                    row[name] = _canonical(row[name])
        df = pd.DataFrame(rows, columns=list(COLUMNS))
        for name in _TIME_COLUMNS:
            df[name] = pd.to_datetime(df[name], utc=True)
        df["size"] = df["size"].astype("Int64")
        return df


def jobs(*, provider: str | None = None) -> pd.DataFrame:
    """Every report job requested from this machine (the journal), as a DataFrame."""
    return Journal().frame(provider=provider)


def _client_for(row: dict[str, Any]) -> BaseClient:
    """A client able to talk about this row's job: credentials from env/config files."""
    from .. import providers

    try:
        provider = providers.get(row["provider"])
    except InvalidParameter:
        raise InvalidParameter(
            "provider", f"unknown provider {row['provider']!r} in the journal"
        ) from None
    client: BaseClient = provider.client_class().from_journal(
        row["account"], row.get("endpoints") or {}
    )
    return client


def resume(
    job_id: str, *, provider: str | None = None, client: BaseClient | None = None
) -> ReportJob:
    """Re-attach to a job requested earlier (after a kernel restart, from another process).

    Credentials come from ``client`` when given, else from the environment and
    config files as for a new client; the job's endpoints come from the journal.
    Partial downloads left by a process that died are removed.
    """
    from .job import ReportJob

    journal = client.journal if client is not None else Journal()
    if client is not None:
        provider = provider or client.provider
    rows = journal.find(job_id, provider=provider)
    if client is not None:
        rows = [r for r in rows if _owner_of(r) == client.owner]
    if not rows:
        raise NotFoundError(
            f"no job {job_id!r} in the journal at {journal.path}"
            + (f" for {client!r}" if client is not None else "")
            + "; usage_analysis.jobs() lists the jobs it knows",
        )
    owners = sorted({_owner_of(r) for r in rows})
    if len(owners) > 1:
        several = "; ".join(f"{o.provider} account {o.account} at {o.endpoint}" for o in owners)
        which = "provider" if len({o.provider for o in owners}) > 1 else "client"
        raise InvalidParameter(
            which,
            f"job id {job_id!r} is in the journal {len(owners)} times ({several}): pass {which}=",
        )
    row = rows[0]
    if client is None:
        client = _client_for(row)
        client._journal = journal
    owner = _owner_of(row)

    def load(part_id: str) -> dict[str, Any]:
        part = journal.get(owner, part_id)
        if part is None:
            raise NotFoundError(f"part {part_id!r} of job {job_id!r} is missing from the journal")
        return part

    job = ReportJob.from_row(row, client, load=load)
    # A kernel killed mid-download left a .part file: it goes now (live downloads stay).
    for part in {job, *job.leaves()}:
        remove_stale_parts(part.path or client._default_path(part))
    return job


def _owner_of(row: dict[str, Any]) -> Owner:
    return Owner(row["provider"], row["endpoint"], row["account"])
