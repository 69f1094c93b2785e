"""The test suite's own speed mechanisms keep working (they fail silently otherwise)."""

from __future__ import annotations

import subprocess
import sys


def test_a_process_the_tests_start_skips_jsonschema_s_iri_parser() -> None:
    """Every Python process started by a test (servers, kernels, the demo) gets
    tests/_site/sitecustomize.py: jsonschema then leaves rfc3987_syntax (3.5 s of CPU
    at import) alone, and still checks the formats it has."""
    code = (
        "import sys, jsonschema\n"
        "print(sys.modules.get('rfc3987_syntax', 'absent'))\n"
        "checker = jsonschema.Draft7Validator.FORMAT_CHECKER\n"
        "print('iri' in checker.checkers, 'email' in checker.checkers)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split("\n")
    assert out[0] == "None", out
    assert out[1] == "False True", out
