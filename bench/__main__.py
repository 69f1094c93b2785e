"""``python -m bench [NAME ...]``: run every bench/bench_*.py module (or the named ones)."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import bench
from bench._common import OUT, Report


def main(argv: list[str]) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    names = sorted(
        m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_")
    )
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    report = Report()
    for name in names:
        print(f"\n== {name} ==", flush=True)
        module = importlib.import_module(f"bench.{name}")
        module.run(report)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
