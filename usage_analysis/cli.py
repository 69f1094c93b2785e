"""The ``usage-analysis`` command line.

Each area registers its own sub-commands in a module of its own, so this file only
wires them together: ``emulator`` (usage_analysis.emulator.cli), ``fetch`` and
``jobs`` (usage_analysis.clients.cli), ``import`` (usage_analysis.archive_cli), ``export`` (usage_analysis.focus_cli),
``check`` (usage_analysis.monitors.cli), ``allocate`` (usage_analysis.allocation_cli).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime

from ._secrets import install_on_handlers
from .errors import InvalidParameter, UsageAnalysisError

# Modules defining ``register(subparsers) -> None``; each sub-parser sets
# ``func=callable(args) -> int`` as its default.
COMMAND_MODULES = (
    "usage_analysis.emulator.cli",
    "usage_analysis.clients.cli",
    "usage_analysis.archive_cli",
    "usage_analysis.focus_cli",
    "usage_analysis.monitors.cli",
    "usage_analysis.allocation_cli",
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
    # Every line, of every library (apprise, urllib3 ...), goes through the redacting
    # filter: records are redacted when made, and again by the handler that prints them.
    install_on_handlers()
    try:
        return int(args.func(args) or 0)
    except UsageAnalysisError as exc:
        flags = flags_of(parser, args)
        print(f"usage-analysis: {in_flags(str(exc), flags, exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


# --start and --end mean the same in every command: UTC days, both included.
START_HELP = "first day, YYYY-MM-DD (UTC; included)"
END_HELP = "last day, YYYY-MM-DD (UTC; included: --end 2026-10-31 ends with October)"


def day(text: str) -> str:
    """An argparse ``type`` for --start/--end: a YYYY-MM-DD day, else an error naming the flag."""
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a day as YYYY-MM-DD (e.g. 2026-10-01), got {text!r}"
        ) from None


def check_range(start: str | None, end: str | None, *, today: date | None = None) -> None:
    """Refuse --start after --end; warn about an --end in the future (no data yet)."""
    if start and end and start > end:
        raise InvalidParameter("--start", f"{start} is after --end {end}")
    today = today or datetime.now(UTC).date()
    if end and date.fromisoformat(end) > today:
        print(
            f"usage-analysis: warning: --end {end} is in the future (today is {today} UTC): "
            "there is no usage after today yet",
            file=sys.stderr,
        )


# Client arguments that are secrets: the CLI has no flags for them (every user of the
# machine can read a command line), only environment variables and files.
_SECRET_ARGUMENTS = ("token", "password", "username", "credentials", "session_id")


def flags_of(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, str]:
    """Python name -> flag (``realm_id`` -> ``--realm-id``) of the command that ran."""
    flags: dict[str, str] = {}
    current: argparse.ArgumentParser | None = parser
    while current is not None:
        chosen = None
        # argparse lists a parser's options only in _actions.
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = action.choices.get(getattr(args, action.dest, None) or "")
                continue
            longs = [o for o in action.option_strings if o.startswith("--")]
            if longs and action.dest != "help":
                flags[action.dest] = longs[0]  # the sub-command's own flag wins
        current = chosen
    return flags


def in_flags(message: str, flags: Mapping[str, str], exc: BaseException | None = None) -> str:
    """An error in the command line's words: ``--realm-id``, not ``realm_id=``.

    "pass x= or set VAR" advice loses the secret arguments (no flags), keeping the
    variables and files; a parameter named first becomes its flag.
    """
    parameter = getattr(exc, "parameter", None)
    if parameter and message.startswith(f"{parameter}: "):
        message = f"{flags.get(parameter, parameter)}: {message[len(parameter) + 2 :]}"
    secret = "|".join(_SECRET_ARGUMENTS)
    message = re.sub(rf"\bpass (?:{secret})= or ", "", message)
    message = re.sub(rf"\b(?:with|pass) (?:{secret})= or ", "with ", message)

    def flag(match: re.Match[str]) -> str:
        return flags.get(match.group(1), match.group(0))

    return re.sub(r"\b([a-z][a-z_]*)=(?=[\s,;.)]|$)", flag, message)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
