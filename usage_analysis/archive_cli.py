"""``usage-analysis import FILES...`` puts report files downloaded by hand into the archive;
``usage-analysis archive migrate`` moves an archive of the old Parquet layout into the
Delta table (which also happens by itself the first time such an archive is opened)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .defaults import PROVIDERS
from .errors import InvalidParameter, UsageAnalysisError

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``import`` and ``archive`` sub-commands to the ``usage-analysis`` parser."""
    _register_archive(subparsers)
    parser = subparsers.add_parser(
        "import",
        help="archive report files downloaded by hand",
        description=(
            "Read each report file (Particle CSV, HERE CSV or .csv.gz, Informatica ZIP "
            "or CSV) and add it to the usage archive. A later report of the same "
            "account and grain replaces the earlier rows of its resources and meters "
            "in its period, in one commit."
        ),
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="report files")
    parser.add_argument(
        "--archive",
        metavar="PATH_OR_URL",
        help="archive root, a directory or an fsspec URL such as s3://bucket/prefix "
        "(default: $USAGE_ANALYSIS_ARCHIVE, else <data dir>/archive)",
    )
    parser.add_argument(
        "--account",
        help="account id for rows whose file names none (Particle CSVs): the org slug or 'sandbox'",
    )
    parser.add_argument(
        "--provider",
        choices=PROVIDERS,
        help="skip detecting which provider's report each file is",
    )
    parser.add_argument(
        "--report-id",
        help="id recorded for every row (one file only; default: file name and content hash)",
    )
    parser.set_defaults(func=run_import)


def run_import(args: argparse.Namespace) -> int:
    """Archive each file; report every failure and go on with the next file."""
    from .archive import archive_file, archive_root, clean_source

    files: list[Path] = args.files
    if args.report_id and len(files) > 1:
        raise InvalidParameter("--report-id", "expected exactly one FILE when a report id is given")
    root = archive_root(args.archive)
    failed = 0
    for file in files:
        try:
            done = archive_file(
                file,
                report_id=args.report_id,
                account=args.account,
                archive=root,
                **({"provider": args.provider} if args.provider else {}),
            )
        except UsageAnalysisError as exc:
            failed += 1
            print(f"{file}: not imported: {exc}", file=sys.stderr)
            continue
        replaced = f", {done.replaced} earlier rows replaced" if done.replaced else ""
        print(f"{file}: {done.rows} rows archived as {done.report_id}{replaced}")
    print(f"archive: {clean_source(root)}")
    return 1 if failed else 0


def _register_archive(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "archive",
        help="maintain the usage archive",
        description="Maintain the usage archive (a Delta Lake table).",
    )
    actions = parser.add_subparsers(dest="action", required=True)
    migrate = actions.add_parser(
        "migrate",
        help="move an archive of the old Parquet layout into the Delta table",
        description=(
            "Move the rows of an archive written as plain Parquet files "
            "(provider=/account=/month= directories) into the Delta table in one commit, "
            "check that rows and totals match, then move the old files under "
            "_parquet_before_delta/. Running it again does nothing."
        ),
    )
    migrate.add_argument(
        "--archive",
        metavar="PATH_OR_URL",
        help="archive root (default: $USAGE_ANALYSIS_ARCHIVE, else <data dir>/archive)",
    )
    migrate.set_defaults(func=run_migrate)


def run_migrate(args: argparse.Namespace) -> int:
    """Migrate once; say what was done."""
    from .archive import archive_root, clean_source, migrate

    root = archive_root(args.archive)
    done = migrate(root)
    if done.rows:
        print(
            f"migrated {done.rows} rows from {done.files} Parquet files into the Delta table "
            f"(version {done.version}); the old files are under {clean_source(done.moved_to)}"
        )
    elif done.moved_to:
        print(f"moved {done.files} already migrated Parquet files to {clean_source(done.moved_to)}")
    else:
        print(f"nothing to migrate in {clean_source(root)}")
    return 0
