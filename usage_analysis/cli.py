"""The ``usage-analysis`` command line.

Each area registers its own sub-commands in a module of its own, so this file only
wires them together: ``emulator`` (usage_analysis.emulator.cli), ``fetch`` and
``jobs`` (usage_analysis.clients.cli), ``import`` (usage_analysis.archive_cli), ``export`` (usage_analysis.focus_cli),
``check`` (usage_analysis.monitors.cli).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from .errors import UsageAnalysisError

# Modules defining ``register(subparsers) -> None``; each sub-parser sets
# ``func=callable(args) -> int`` as its default.
COMMAND_MODULES = (
    "usage_analysis.emulator.cli",
    "usage_analysis.clients.cli",
    "usage_analysis.archive_cli",
    "usage_analysis.focus_cli",
    "usage_analysis.monitors.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="usage-analysis",
        description="Request, read and chart Particle, HERE and Informatica usage reports.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug lines")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except UsageAnalysisError as exc:
        print(f"usage-analysis: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
