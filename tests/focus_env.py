"""The FinOps Foundation's focus-validator in its own environment (it needs Python >= 3.12).

``python tests/focus_env.py`` (what ``make focus-env`` runs) or :func:`validator_python`
builds the environment once with uv from a Python >= 3.12 found on this machine
(``$FOCUS_VALIDATOR_PYTHON``, pyenv's ``~/.pyenv/versions/3.12.*``, or ``python3.12``
on PATH; 3.12 first, because ``pyarrow<17``, which the validator's numpy 1.26 needs,
has no wheels for 3.13). The project itself stays on Python 3.11+.

The environment lives in the user's cache (``~/.cache/usage-analysis/``, or
``$XDG_CACHE_HOME``; ``$FOCUS_VALIDATOR_ENV`` names another place), not in the
checkout: a fresh clone on a machine that ran the test before reuses it instead of
installing and compiling 1,800 modules again (27 s of CPU). A stamp names what was
installed; a different one rebuilds it. Builders take a lock, so two checkouts testing
at once build it once.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The tests point HOME at a temporary directory: look in the real one.
REAL_HOME = Path(pwd.getpwuid(os.getuid()).pw_dir)
VALIDATOR = "focus-validator==2.2.1"
# The validator pins numpy 1.26; pyarrow 17+ needs numpy 2.
REQUIREMENTS = (VALIDATOR, "pyarrow<17")
# What the stamp says: the validator and how it was installed (a change rebuilds the env).
BUILD = f"{VALIDATOR} {' '.join(REQUIREMENTS[1:])} compiled"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or REAL_HOME / ".cache") / "usage-analysis"
ENV = Path(os.environ.get("FOCUS_VALIDATOR_ENV") or CACHE / "focus-validator-2.2.1")
HOW_TO_GET_ONE = (
    "focus-validator needs Python >= 3.12 and none was found. Install one "
    "(`pyenv install 3.12`, or `apt-get install python3.12`, or `uv python install 3.12`) "
    "or point FOCUS_VALIDATOR_PYTHON at its interpreter, then rerun."
)


class NoPython312(RuntimeError):
    pass


def _version(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print(sys.version_info[0], sys.version_info[1])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.split()
        return int(out[0]), int(out[1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def find_python() -> str:
    """A Python >= 3.12 interpreter, or raise :class:`NoPython312` saying how to get one."""
    candidates: list[str] = []
    if os.environ.get("FOCUS_VALIDATOR_PYTHON"):
        candidates.append(os.environ["FOCUS_VALIDATOR_PYTHON"])
    pyenv = Path(os.environ.get("PYENV_ROOT", REAL_HOME / ".pyenv")) / "versions"
    if pyenv.is_dir():
        candidates += [str(p) for p in sorted(pyenv.glob("3.12*/bin/python"), reverse=True)]
    candidates += [p for p in (shutil.which("python3.12"),) if p]
    if pyenv.is_dir():
        candidates += [str(p) for p in sorted(pyenv.glob("3.1[3-9]*/bin/python"), reverse=True)]
    candidates += [p for p in (shutil.which("python3.13"), shutil.which("python3")) if p]
    for python in candidates:
        v = _version(python)
        if v is not None and v >= (3, 12):
            return python
    raise NoPython312(HOW_TO_GET_ONE)


def _uv() -> str:
    here = Path(sys.executable).parent / "uv"
    if here.exists():
        return str(here)
    found = shutil.which("uv")
    if found:
        return found
    raise RuntimeError(
        "uv is needed to build the validator environment: `pip install uv` (make setup does)"
    )


def validator_python() -> Path:
    """The validator environment's Python, built on first use."""
    python, stamp = ENV / "bin" / "python", ENV / ".installed"

    def built() -> bool:
        return python.exists() and stamp.exists() and stamp.read_text().strip() == BUILD

    if built():
        return python
    ENV.parent.mkdir(parents=True, exist_ok=True)
    with open(ENV.parent / f"{ENV.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another checkout may be building it
        if not built():
            _build(python, stamp)
    return python


def _build(python: Path, stamp: Path) -> None:
    base = find_python()
    uv = _uv()
    env = {**os.environ, "HOME": str(REAL_HOME)}  # uv's cache lives there
    subprocess.run([uv, "venv", "-q", "--clear", "--python", base, str(ENV)], check=True, env=env)
    subprocess.run(
        # Bytecode compiled once here: this machine sets PYTHONDONTWRITEBYTECODE, and
        # without .pyc files each validator run compiled its 1,800 modules again (30 s).
        [uv, "pip", "install", "-q", "--compile-bytecode", "--python", str(python), *REQUIREMENTS],
        check=True,
        env=env,
    )
    stamp.write_text(BUILD + "\n")  # last: a build cut short has none and is redone


def site_packages(python: Path) -> Path:
    """The directory focus_validator is installed in (the validator must run from there)."""
    out = subprocess.run(
        [
            str(python),
            "-c",
            "import focus_validator, os; print(os.path.dirname(os.path.dirname(focus_validator.__file__)))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return Path(out.stdout.strip())


if __name__ == "__main__":
    try:
        print(validator_python())
    except NoPython312 as exc:
        sys.exit(str(exc))
