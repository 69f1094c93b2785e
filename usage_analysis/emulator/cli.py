"""``usage-analysis emulator``: run the emulator in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import uvicorn

from ..defaults import DEMO_POLL_SCHEDULE, PARTICLE_ORG_ENV, POLL_SCHEDULE_ENV
from ..errors import InvalidParameter
from .options import SPEEDS, EmulatorOptions
from .server import Emulator, bind_socket, uvicorn_config

__all__ = ["client_env", "register", "run", "write_env_file"]

# Seconds between status checks for clients of the emulator: its "instant" and "fast"
# jobs finish within a second, where the providers' schedules (15 s and up) would
# make every fetch wait for nothing; "realistic" jobs take minutes.
EMULATOR_POLL_SCHEDULES = {"instant": DEMO_POLL_SCHEDULE, "fast": DEMO_POLL_SCHEDULE}
REALISTIC_POLL_SCHEDULE = "2,5,10"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``emulator`` sub-command."""
    p = subparsers.add_parser(
        "emulator",
        help="serve the Particle, HERE and Informatica report APIs locally",
        description="A local emulator of the three report APIs, with data from a seed. "
        "Credentials are written to an env file (never printed).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (0: any free port; default 8765)")
    p.add_argument(
        "--seed", type=int, default=7, help="seed of the data, ids and faults (default 7)"
    )
    p.add_argument(
        "--speed", choices=sorted(SPEEDS), default="fast", help="how fast report jobs finish"
    )
    p.add_argument(
        "--faults",
        type=float,
        default=0.0,
        help="total fault rate per request, spread across kinds (default 0: off)",
    )
    p.add_argument(
        "--env-file",
        type=Path,
        default=None,
        help="where to write the environment variables pointing clients at the emulator "
        "(default: emulator.env in the data directory)",
    )
    p.set_defaults(func=run)


def _env_file(path: Path | None) -> Path:
    if path is not None:
        return path
    from ..paths import data_dir

    return data_dir() / "emulator.env"


def client_env(emulator: Emulator, speed: str) -> dict[str, str]:
    """What the env file holds: URLs, credentials, the org and a poll schedule to match."""
    env = dict(emulator.env())
    env[PARTICLE_ORG_ENV] = emulator.credentials["particle"]["org"]
    env[POLL_SCHEDULE_ENV] = EMULATOR_POLL_SCHEDULES.get(speed, REALISTIC_POLL_SCHEDULE)
    return env


def write_env_file(path: Path, env: dict[str, str]) -> None:
    """Write ``KEY='value'`` lines, readable by the owner only (they hold credentials).

    The lines go to a new 0600 file beside ``path`` that then replaces it, so an
    existing file (any mode) ends up 0600 too, and never holds half the lines.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for key, value in sorted(env.items()):
                quoted = value.replace("'", "'\\''")  # shell single quotes
                fh.write(f"{key}='{quoted}'\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    if not 0 <= args.port <= 65535:
        raise InvalidParameter("--port", f"expected 0..65535, got {args.port}")
    options = EmulatorOptions.build(
        seed=args.seed, speed=args.speed, faults=args.faults, host=args.host, port=args.port
    )
    emulator = Emulator(options)
    sock = bind_socket(args.host, args.port)
    emulator.port = int(sock.getsockname()[1])
    env_path = _env_file(args.env_file)
    write_env_file(env_path, client_env(emulator, args.speed))
    print(
        f"usage-analysis emulator on {emulator.base_url} (seed {args.seed}, speed {args.speed}, "
        f"faults {args.faults:g})"
    )
    print(f"  Particle API    {emulator.particle_api_url}")
    print(f"  HERE API        {emulator.here_api_url}  (token: {emulator.here_token_url})")
    print(f"  Informatica     {emulator.informatica_login_url}")
    print(f"Credentials and URLs: {env_path}  (load with: set -a; . {env_path}; set +a)")
    print("Ctrl-C stops it.", flush=True)
    server = uvicorn.Server(uvicorn_config(emulator.app, host=args.host, port=emulator.port))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn shuts down gracefully, then re-raises the Ctrl-C: that is a normal stop.
        pass
    finally:
        sock.close()
    print("usage-analysis emulator stopped.", flush=True)
    return 0
