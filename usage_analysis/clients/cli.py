"""``usage-analysis fetch particle|here|informatica ...`` and ``usage-analysis jobs``.

``fetch`` requests a report, waits for it with a progress bar, downloads it into the
data directory (where it stays, recorded in the journal) and copies it to ``--out``
(decompressed when the name asks for plain CSV). Credentials and URLs come from the
environment or config files, as for the clients: never from flags, which every user
of the machine can read in the process list and which stay in the shell history.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
import zipfile
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

from .. import providers as registry
from ..cli import END_HELP, START_HELP, check_range, day
from ..defaults import PARTICLE_ORG_ENV
from ..errors import InvalidParameter
from ._base import BaseClient
from .journal import jobs

__all__ = ["register"]

_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
_PLAIN_SUFFIXES = (".csv", ".txt", ".tsv")

_PARTICLE_RANGE = "the service agreement's current billing period"
_MONTH_START = "the 1st of this month (UTC)"
_TODAY = "today (UTC)"


def _common(parser: argparse.ArgumentParser, *, particle: bool = False) -> None:
    parser.add_argument(
        "--start",
        type=day,
        help=f"{START_HELP} (default: "
        + (f"with --end, {_PARTICLE_RANGE}" if particle else _MONTH_START)
        + ")",
    )
    parser.add_argument(
        "--end",
        type=day,
        help=f"{END_HELP} (default: "
        + (f"with --start, {_PARTICLE_RANGE}" if particle else _TODAY)
        + ")",
    )
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        help="where to copy the report file; a .csv name gets plain CSV (a gzipped "
        "report is decompressed), .csv.gz or .zip the file as sent",
    )
    parser.add_argument(
        "--refresh", action="store_true", help="ask again even if already downloaded"
    )
    parser.add_argument(
        "--timeout", type=float, default=None, help="give up waiting after N seconds"
    )
    parser.add_argument(
        "--schedule",
        default=None,
        help="seconds between status checks, e.g. '15,30,60' (last repeats)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


# The HERE report filters: flag -> what it names.
_HERE_FILTERS = {
    "feature-id": "feature (featureId)",
    "app-id": "app (appId)",
    "charge-type": "charge type",
    "project-hrn": "project (its HRN)",
    "billing-tag": "billing tag",
    "category": "category",
}


def register(subparsers: Any) -> None:
    """Add ``fetch`` and ``jobs`` to the ``usage-analysis`` command."""
    fetch = subparsers.add_parser(
        "fetch",
        help="request, wait for and download a usage report",
        description="Request a usage report, wait for it and download it. Default range: "
        f"Particle, {_PARTICLE_RANGE}; HERE and Informatica, {_MONTH_START} to {_TODAY}.",
    )
    providers = fetch.add_subparsers(dest="provider", required=True)

    particle = providers.add_parser(
        "particle",
        help="a Particle data operations report",
        description=f"A Particle data operations report; default range: {_PARTICLE_RANGE}.",
    )
    _common(particle, particle=True)
    particle.add_argument(
        "--org",
        default=os.environ.get(PARTICLE_ORG_ENV) or None,
        help=f"organization slug or id (default: ${PARTICLE_ORG_ENV}, else your sandbox)",
    )
    particle.add_argument(
        "--report-type",
        default="devices",
        choices=("devices", "products"),
        help="one row per device and day, or per product and day (default: devices)",
    )
    particle.add_argument(
        "--device", action="append", dest="devices", help="a device id (repeatable)"
    )
    particle.add_argument(
        "--product", action="append", dest="products", help="a product id (repeatable)"
    )
    particle.add_argument("--agreement", help="service agreement id (default: the first)")

    here = providers.add_parser(
        "here",
        help="a HERE usage report",
        description=f"A HERE usage report; default range: {_MONTH_START} to {_TODAY}.",
    )
    _common(here)
    here.add_argument("--realm-id", help="your org id (default: $HERE_REALM_ID)")
    here.add_argument(
        "--detail-level",
        default="day",
        choices=("summarized", "day", "month"),
        help="rows per day, per month, or one total per feature (default: day)",
    )
    here.add_argument("--group-by", help="comma list of project, billingTag, appId")
    for name, what in _HERE_FILTERS.items():
        here.add_argument(f"--{name}", help=f"only usage of this {what}")
    here.add_argument(
        "--sub-account", action="append", dest="sub_accounts", help="org id (repeatable)"
    )

    informatica = providers.add_parser(
        "informatica",
        help="an Informatica metering export",
        description=f"An Informatica metering export; default range: {_MONTH_START} to {_TODAY}.",
    )
    _common(informatica)
    informatica.add_argument(
        "--job-type",
        default="SUMMARY",
        choices=("SUMMARY", "PROJECT_FOLDER", "ASSET", "JOB_LEVEL"),
        help="IPUs per org and meter, per project and folder, per asset, or per job run "
        "(JOB_LEVEL needs --meter-id; default: SUMMARY)",
    )
    informatica.add_argument(
        "--meter-id", help="the meter of an ASSET or JOB_LEVEL export (its id, not its name)"
    )
    informatica.add_argument(
        "--all-linked-orgs",
        action="store_true",
        help="include every sub-org linked to this org (SUMMARY only)",
    )
    informatica.add_argument(
        "--combined-meter-usage",
        action="store_true",
        help="one file for all orgs (MeteringSummary_AllOrgs.csv) instead of one per org",
    )
    fetch.set_defaults(func=_fetch)

    listing = subparsers.add_parser("jobs", help="list the report jobs in the journal")
    listing.add_argument(
        "--provider",
        choices=("particle", "here", "informatica"),
        help="only this provider's jobs (default: all)",
    )
    listing.add_argument(
        "--csv",
        type=Path,
        metavar="FILE",
        help="also write every column of the journal to FILE, for a spreadsheet",
    )
    listing.set_defaults(func=_jobs)


def _client(args: argparse.Namespace) -> tuple[BaseClient, dict[str, Any]]:
    client_class = registry.get(args.provider).client_class()
    client, params = client_class.from_cli(args, schedule=args.schedule)
    return client, params


def _range(args: argparse.Namespace, *, today: date | None = None) -> tuple[Any, Any]:
    """--start and --end, defaulted as --help says (Particle: the client's billing period)."""
    own = registry.get(args.provider).client_class().cli_own_range
    if own or (args.start and args.end):
        return args.start, args.end
    today = today or datetime.now(UTC).date()
    end = args.end or today.isoformat()
    start = args.start or _first_of_month(end)
    return start, end


def _first_of_month(day: str) -> str:
    try:
        return date.fromisoformat(day).replace(day=1).isoformat()
    except ValueError:
        raise InvalidParameter("end", f"expected a day as YYYY-MM-DD, got {day!r}") from None


def _fetch(args: argparse.Namespace) -> int:
    out = args.out.expanduser()
    if out.is_dir():
        raise InvalidParameter("--out", f"{out} is a folder: name the file to write")
    check_range(args.start, args.end)
    start, end = _range(args)
    client, params = _client(args)
    with client:
        job = client.request(start, end, refresh=args.refresh, **params)
        saved = job.download(progress=not args.no_progress, timeout=args.timeout)
    out.parent.mkdir(parents=True, exist_ok=True)
    # The raw file stays in the data directory (the journal points at it); --out gets a copy,
    # written beside it first so the final name only ever holds a whole file.
    partial = out.with_name(f".{out.name}.part")
    try:
        how = _copy(Path(saved), out, partial)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    print(f"{out} ({_described(how, out.stat().st_size, job)}; {job.provider} job {job.id})")
    for warning in job.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not _has_rows(out):
        shown = f"{start} to {end}" if start else "the current billing period"
        print(
            f"warning: the {job.provider} report for {shown} has no usage rows "
            "(a header only): nothing was used, or the range, account or filters miss the data",
            file=sys.stderr,
        )
    return 0


def _described(how: str, written: int, job: Any) -> str:
    """How the file was written and its true size; the download's size and digest beside it."""
    if how == "as sent":
        return f"as sent; {written:,} bytes, sha256 {job.sha256}"
    sent = f"{job.size:,} bytes" if isinstance(job.size, int) else "size unknown"
    return f"{how}; {written:,} bytes ({sent} as sent, sha256 {job.sha256})"


def _copy(saved: Path, out: Path, partial: Path) -> str:
    """Copy the report to ``partial`` in the form ``out``'s name asks for; say how."""
    with open(saved, "rb") as fh:
        magic = fh.read(4)
    name = out.name.lower()
    if magic.startswith(_GZIP_MAGIC) and not name.endswith(".gz"):
        if not name.endswith(_PLAIN_SUFFIXES):
            raise InvalidParameter(
                "--out",
                f"the report is gzipped CSV; name the file .csv (decompressed) or .csv.gz, "
                f"got {out.name!r} (the report is kept at {saved})",
            )
        with gzip.open(saved, "rb") as src, open(partial, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        return "decompressed from gzip"
    if magic.startswith(_ZIP_MAGIC) and not name.endswith(".zip"):
        raise InvalidParameter(
            "--out",
            f"the report is a ZIP of CSV files; name the file .zip, got {out.name!r} "
            f"(the report is kept at {saved})",
        )
    shutil.copyfile(saved, partial)
    return "as sent"


def _has_rows(path: Path) -> bool:
    """Whether any CSV in the file has a line after its header (JSON pages: any item)."""
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic.startswith(_ZIP_MAGIC):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.is_dir():
                    with zf.open(info) as member:
                        if _lines_after_header(member):
                            return True
        return False
    if magic.startswith(_GZIP_MAGIC):
        with gzip.open(path, "rb") as gz:
            return _rows_in(gz)
    with open(path, "rb") as plain:
        return _rows_in(plain)


def _rows_in(stream: Any) -> bool:
    head = stream.read(1)
    stream.seek(0)
    if head in (b"{", b"["):
        body = json.load(stream)
        items = body.get("items") if isinstance(body, dict) else body
        return bool(items)
    return _lines_after_header(stream)


def _lines_after_header(fh: IO[bytes]) -> bool:
    seen = 0
    for line in fh:
        if line.strip(b'\r\n\t ,"\xef\xbb\xbf'):
            seen += 1
            if seen > 1:
                return True
    return False


def _jobs(args: argparse.Namespace) -> int:
    df = jobs(provider=args.provider)
    if args.csv is not None:
        from ..csv_export import write_csv

        write_csv(df, args.csv.expanduser())
        print(f"{args.csv} ({len(df)} jobs)")
    if df.empty:
        print("no report jobs yet")
        return 0
    print(jobs_table(df).to_string(index=False))
    return 0


def jobs_table(df: Any) -> Any:
    """The journal as people read it: kind, range, readable times, sizes and paths."""
    import pandas as pd

    params = [json.loads(p) if isinstance(p, str) and p else {} for p in df["params"]]
    requested = pd.to_datetime(df["requested_at"], utc=True)
    return pd.DataFrame(
        {
            "provider": df["provider"],
            "account": df["account"],
            "id": df["id"],
            "kind": [_kind(p, parent) for p, parent in zip(params, df["parent"], strict=True)],
            "range": [_span(p) for p in params],
            "state": df["state"],
            "requested": [
                "" if pd.isna(t) else t.strftime("%Y-%m-%d %H:%M UTC") for t in requested
            ],
            "size": [_size(v) for v in df["size"]],
            "path": [_short(p) for p in df["path"]],
        }
    )


def _kind(params: Mapping[str, Any], parent: Any) -> str:
    kind = str(
        params.get("report_type") or params.get("detail_level") or params.get("job_type") or ""
    )
    if isinstance(parent, str) and parent:
        kind = f"{kind} (part)" if kind else "part"
    return kind or "-"


def _span(params: Mapping[str, Any]) -> str:
    start, end = params.get("start"), params.get("end")
    if not start and not end:
        return "billing period"
    return f"{start} to {end}" if start != end else str(start)


def _size(value: Any) -> str:
    try:
        n = float(value)
    except (TypeError, ValueError):
        return "-"
    if n != n:  # NaN / NA
        return "-"
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return "-"  # pragma: no cover


def _short(path: Any) -> str:
    """A path relative to the working directory when below it, else with ``~``."""
    if not isinstance(path, str) or not path:
        return "-"
    p = Path(path)
    for base, prefix in ((Path.cwd(), ""), (Path.home(), "~/")):
        try:
            return prefix + str(p.relative_to(base))
        except ValueError:
            continue
    return str(p)
