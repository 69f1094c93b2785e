"""``usage-analysis export --format focus``: a FOCUS 1.2 file from report files or the archive."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from .cli import END_HELP, START_HELP, check_range, day
from .errors import InvalidParameter

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``export`` sub-command to the ``usage-analysis`` parser."""
    parser = subparsers.add_parser(
        "export",
        help="export usage as a FinOps FOCUS 1.2 file (CSV or Parquet)",
        description=(
            "Map usage to FinOps FOCUS 1.2 charge rows, priced from a price book. "
            "INPUTS are report files (Particle CSV, HERE CSV/.csv.gz/JSON, Informatica "
            "ZIP/CSV); without INPUTS the archive is read, over --start..--end "
            "(default: everything archived). See docs/focus.md."
        ),
    )
    parser.add_argument("inputs", nargs="*", type=Path, metavar="INPUTS", help="report files")
    parser.add_argument(
        "--format", choices=("focus",), default="focus", help="output format (default: focus)"
    )
    parser.add_argument(
        "--out", required=True, type=Path, metavar="FILE", help="FILE.csv or FILE.parquet"
    )
    parser.add_argument(
        "--prices",
        type=Path,
        metavar="FILE",
        help="price book TOML (default: the EXAMPLE prices shipped with the package)",
    )
    parser.add_argument(
        "--rules",
        type=Path,
        metavar="FILE",
        help="allocation rules TOML: Tags then name each row's team (docs/allocation.md)",
    )
    parser.add_argument(
        "--archive",
        metavar="PATH_OR_URL",
        help="archive root when no INPUTS are given (default: $USAGE_ANALYSIS_ARCHIVE, "
        "else <data dir>/archive)",
    )
    parser.add_argument("--start", type=day, help=START_HELP)
    parser.add_argument("--end", type=day, help=END_HELP)
    parser.add_argument(
        "--period",
        nargs=2,
        type=day,
        metavar=("START", "END"),
        help="the requested range (first and last day, both included) of reports whose "
        "rows carry no dates (HERE summarized)",
    )
    parser.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from .focus import to_focus, write_focus

    out: Path = args.out.expanduser()
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise InvalidParameter("--out", f"expected FILE.csv or FILE.parquet, got {out.name!r}")
    if out.is_dir():
        raise InvalidParameter("--out", f"{out} is a folder: name a FILE.csv or FILE.parquet")
    check_range(args.start, args.end)
    if args.period:
        check_range(*args.period)
    for path in args.inputs:
        if path.is_dir():
            raise InvalidParameter(
                "INPUTS", f"{path} is a folder: give the report files in it ({path}/*)"
            )
        if not path.exists():
            raise InvalidParameter("INPUTS", f"no such file: {path}")
    frame = _inputs(args)
    if not len(frame):
        print("usage-analysis: warning: no usage rows to export", file=sys.stderr)
    focus = to_focus(frame, prices=args.prices, charge_period=_period(args), rules=args.rules)
    # A missing folder is made, as ``fetch --out`` does.
    out.parent.mkdir(parents=True, exist_ok=True)
    write_focus(focus, out)
    totals = focus.groupby("BillingCurrency", observed=True)["BilledCost"].sum()
    money = ", ".join(f"{v:,.2f} {k}" for k, v in totals.items()) or "nothing"
    note = " (EXAMPLE prices: pass --prices FILE)" if focus.attrs.get("example_prices") else ""
    print(f"{out}: {len(focus)} FOCUS 1.2 rows, billed {money}{note}")
    unpriced = int(focus["x_CostNote"].notna().sum())
    if unpriced:
        print(
            f"usage-analysis: warning: {unpriced} row(s) have no price (cost 0, see x_CostNote)",
            file=sys.stderr,
        )
    return 0


def _period(args: argparse.Namespace) -> tuple[Any, Any] | None:
    """--period as the library's ``(start, end)``, its end exclusive: the day after END."""
    if not args.period:
        return None
    return args.period[0], _day_after(args.period[1])


def _day_after(day_text: str) -> pd.Timestamp:
    return pd.Timestamp(day_text, tz="UTC") + pd.Timedelta(days=1)


def _inputs(args: argparse.Namespace) -> pd.DataFrame:
    """The unified rows to export: the files (refusing one report given twice) or the archive."""
    from .readers import read_report
    from .schema import coerce_unified

    if not args.inputs:
        from .archive import archive_root, history

        end = _day_after(args.end) if args.end else None
        return history(start=args.start, end=end, archive=archive_root(args.archive))
    if args.archive:
        raise InvalidParameter("--archive", "give report files or --archive, not both")
    frames = []
    seen: dict[int, tuple[int, Path]] = {}
    for number, path in enumerate(args.inputs):
        df = read_report(path, unified=True, period=_period(args))
        _refuse_repeats(df, (number, path), seen)
        frames.append(df)
    # Categories differ between files: concatenate as objects, then type once.
    frame = coerce_unified(
        pd.concat(
            [f.astype({c: object for c in f.columns if f[c].dtype == "category"}) for f in frames],
            ignore_index=True,
        )
    )
    if args.start or args.end:
        keep = pd.Series(True, index=frame.index)
        if args.start:
            keep &= frame["period_start"] >= pd.Timestamp(args.start, tz="UTC")
        if args.end:
            keep &= frame["period_start"] < _day_after(args.end)
        frame = frame.loc[keep.to_numpy()]
    return frame.reset_index(drop=True)


def _refuse_repeats(
    df: pd.DataFrame, source: tuple[int, Path], seen: dict[int, tuple[int, Path]]
) -> None:
    """Rows identical to another input's rows would be counted twice: refuse them."""
    from .schema import UNIFIED_COLUMNS

    cols = [c for c in UNIFIED_COLUMNS if c in df.columns]
    hashes = pd.util.hash_pandas_object(df[cols].astype(object), index=False).to_numpy()
    for h in hashes:
        other = seen.get(int(h))
        if other is not None and other[0] != source[0]:
            raise InvalidParameter(
                "INPUTS",
                f"{source[1]} repeats rows of {other[1]} (the same report twice, or "
                "overlapping periods): exporting both would count that usage twice",
            )
    for h in hashes:
        seen.setdefault(int(h), source)
