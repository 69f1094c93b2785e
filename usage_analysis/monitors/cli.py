"""``usage-analysis check [--monitors FILE]``: refresh, evaluate monitors, notify; exit 2 when over budget."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import InvalidParameter

__all__ = ["register"]

DEFAULT_FILE = "monitors.toml"


def register(subparsers: Any) -> None:
    """Add the ``check`` sub-command to the ``usage-analysis`` parser."""
    parser = subparsers.add_parser(
        "check",
        help="refresh the archive, evaluate budget monitors and send new alerts",
        description=(
            "Fetch the days missing from the archive (as ua.refresh does), evaluate every "
            "monitor with the overview's numbers (HERE's last 48 h counted as provisional), "
            "print each monitor's status, use, forecast and data freshness, send each new alert once "
            "through apprise, and exit 2 when a budget is over 100 %, 1 on errors, else 0. "
            "See docs/monitors.md."
        ),
    )
    parser.add_argument(
        "--monitors",
        type=Path,
        metavar="FILE",
        help=f"monitors TOML file (default: <data dir>/{DEFAULT_FILE})",
    )
    parser.add_argument("--archive", metavar="PATH_OR_URL", help="archive root")
    parser.add_argument("--prices", type=Path, metavar="FILE", help="price book for money budgets")
    parser.add_argument(
        "--notify",
        action="append",
        default=[],
        metavar="URL",
        help="an extra apprise URL (repeatable); prefer the file: URLs hold tokens",
    )
    parser.add_argument("--no-refresh", action="store_true", help="use the archive as it is")
    parser.add_argument(
        "--dry-run", action="store_true", help="evaluate and print, send and record nothing"
    )
    parser.add_argument("--now", help=argparse.SUPPRESS)  # tests: the time of the check
    parser.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    from ..paths import data_dir
    from .check import check, print_summary

    path = args.monitors or data_dir() / DEFAULT_FILE
    if not Path(path).exists():
        raise InvalidParameter("--monitors", f"no monitors file at {path} (see docs/monitors.md)")
    result = check(
        path,
        refresh=not args.no_refresh,
        archive=args.archive,
        prices=args.prices,
        notify=args.notify,
        now=args.now,
        dry_run=args.dry_run,
    )
    print_summary(result)
    return result.exit_code
