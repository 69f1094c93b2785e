"""``usage-analysis import FILES...``: put report files downloaded by hand into the archive."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .defaults import PROVIDERS
from .errors import InvalidParameter, UsageAnalysisError

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``import`` sub-command to the ``usage-analysis`` parser."""
    parser = subparsers.add_parser(
        "import",
        help="archive report files downloaded by hand",
        description=(
            "Read each report file (Particle CSV, HERE CSV or .csv.gz, Informatica ZIP "
            "or CSV) and add it to the usage archive. A later report of the same "
            "account, resource, meter and period replaces the earlier rows."
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
