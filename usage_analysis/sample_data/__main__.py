"""``python -m usage_analysis.sample_data``: write sample or scale files."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .files import generate_file, write_samples


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m usage_analysis.sample_data",
        description="Write deterministic usage report files.",
    )
    parser.add_argument("--provider", choices=("particle", "here", "informatica"))
    parser.add_argument(
        "--kind",
        default="report",
        help="particle: devices|products|wide; here: report; "
        "informatica: summary|project_folder|asset|job_level",
    )
    parser.add_argument("--rows", type=int, default=1000, help="rows (per member for ZIPs)")
    parser.add_argument("--members", type=int, default=1, help="Informatica: CSV members (orgs)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, help="file to write (.csv, .csv.gz, .zip, .json)")
    parser.add_argument(
        "--samples", type=Path, help="rewrite the small sample set into this folder"
    )
    args = parser.parse_args(argv)
    if args.samples:
        for path in write_samples(args.samples, seed=args.seed):
            print(path)
        return 0
    if not (args.provider and args.out):
        parser.error("give --provider and --out (or --samples DIR)")
    kind = args.kind
    if args.provider == "particle" and kind == "report":
        kind = "devices"
    if args.provider == "informatica" and kind == "report":
        kind = "summary"
    path = generate_file(
        args.provider, kind, rows=args.rows, out=args.out, seed=args.seed, members=args.members
    )
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
