"""Run focus-validator on several files in one process (run with the validator's Python).

Usage: python run_validator.py VERSION FILE...   (from focus_validator's site-packages
directory: the validator opens focus_validator/rules/currency_codes.csv by a relative path)

For each file prints one line ``<file>\t<the validator's "Total: ..." summary line>``
followed by the names of the failed rules, one per line, prefixed ``FAIL\t``.
The validator exits 0 even when rules fail, so its summary line is what counts.
"""

from __future__ import annotations

import contextlib
import io
import sys

from focus_validator import main as validator_main


def validate(version: str, path: str) -> str:
    out = io.StringIO()
    argv = sys.argv
    sys.argv = [
        "focus-validator",
        "--data-file",
        path,
        "--validate-version",
        version,
        "--block-download",
        "--show-violations",
    ]
    try:
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            validator_main.main()
    finally:
        sys.argv = argv
    return out.getvalue()


def main() -> None:
    version, *files = sys.argv[1:]
    for path in files:
        text = validate(version, path)
        summary = next((ln for ln in text.splitlines() if ln.startswith("Total:")), "NO SUMMARY")
        print(f"{path}\t{summary}", flush=True)
        for line in text.splitlines():
            if ": FAIL" in line:
                print(f"FAIL\t{line.strip()}", flush=True)


if __name__ == "__main__":
    main()
