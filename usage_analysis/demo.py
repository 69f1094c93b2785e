"""The demo: ``connect()`` for notebooks, and ``make demo`` (emulator + JupyterLab or Voila).

In a notebook::

    from usage_analysis.demo import connect

    client = connect("particle")   # ParticleClient, HereClient or InformaticaClient

gives a configured client. When credentials are configured (the environment
variables and credential files each client reads), it talks to the real API and
the notebook runs unchanged. Otherwise it talks to an emulator embedded in the
kernel (started once, in the background, seed 7, speed "fast"), and says so in a
visible note: the data is emulated.

From a shell::

    python -m usage_analysis.demo [--port 8765] [--no-lab] [--dashboard]

starts the emulator on the port, points the clients at it (environment
variables, inherited by every kernel), runs the main job (notebook 04, the
billing overview, executed headless; its HTML lands in ``demo-output/``), then
serves JupyterLab on ``notebooks/`` (or Voila on notebook 04 with
``--dashboard``). Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import atexit
import html
import os
import re
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from .defaults import (
    DEMO_EMULATOR_ENV,
    DEMO_POLL_SCHEDULE,
    DEMO_SEED,
    DEMO_SPEED,
    HOME_ENV,
    PARTICLE_ORG_ENV,
    POLL_SCHEDULE_ENV,
    PROVIDERS,
)
from .errors import ConfigurationError, InvalidParameter, UsageAnalysisError

if TYPE_CHECKING:
    from .clients._base import BaseClient
    from .emulator import Emulator

__all__ = [
    "DASHBOARD_NOTEBOOK",
    "DEMO_COMMAND_ENV",
    "NOTEBOOKS",
    "REPO",
    "Connection",
    "connect",
    "connection_of",
    "demo_env",
    "embedded_emulator",
    "execute_notebook",
    "export_html",
    "main",
    "voila_command",
    "voila_env",
]

# The checkout this module lives in (``make demo`` runs from an editable install).
REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
DASHBOARD_NOTEBOOK = "04_billing_overview.ipynb"
DEMO_HOME = REPO / ".usage-analysis-home"
DEMO_OUTPUT = REPO / "demo-output"
# A notebook cell may wait for a report; against the emulator that is seconds, so
# a cell running this long is stuck, not slow.
CELL_TIMEOUT = 300
# JupyterLab's and Voila's usual ports; each picks the next free one when taken.
LAB_PORT = 8888
VOILA_PORT = 8866
_PLOTLY_MIME = "application/vnd.plotly.v1+json"
_WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# Said once, at the end of the HTML report, where the notebook's widgets (request
# forms, explorers) are left out: they need a running kernel.
_WIDGET_NOTE = (
    "The notebook's interactive explorer is not in this page: open it with `make demo` "
    "(JupyterLab) or `make dashboard` (Voila)."
)
# How long a child server gets to shut its kernels down after SIGTERM.
STOP_GRACE = 15.0
# Seconds the interpreter may take to exit once the demo is done: what it waits for
# then (threads a library left running, handlers at exit) is not ours to bound.
EXIT_GRACE = 20.0
# Which command started the emulator the kernels talk to ("make demo" or "make
# dashboard"), so the note in each notebook names the right one.
DEMO_COMMAND_ENV = "USAGE_ANALYSIS_DEMO_COMMAND"


# --------------------------------------------------------------------------- connect()


class Connection:
    """Where a client from :func:`connect` talks to, for the note a notebook shows."""

    def __init__(self, provider: str, *, emulated: bool, where: str, reason: str | None) -> None:
        self.provider = provider
        self.emulated = emulated
        self.where = where
        self.reason = reason

    def __repr__(self) -> str:
        kind = "emulated" if self.emulated else "real"
        return f"Connection({self.provider!r}, {kind}, {self.where!r})"

    @property
    def text(self) -> str:
        """The note as plain text."""
        name = _NAMES[self.provider]
        if not self.emulated:
            return f"{name}: using {self.where} with the credentials configured on this machine."
        why = f" ({self.reason})" if self.reason else ""
        return (
            f"{name}: EMULATED DATA from the local emulator at {self.where}{why}. "
            "Configure credentials to see your own account; the notebook runs unchanged."
        )

    def _repr_html_(self) -> str:
        colour, border = ("#fff7e0", "#e0a800") if self.emulated else ("#eef6ee", "#5a9e5a")
        # `make demo` in the plain text is code in the page.
        text = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(self.text))
        return (
            f"<div class='ua-connection' style='background:{colour};border-left:4px solid "
            f"{border};padding:6px 10px;margin:4px 0'>{text}</div>"
        )


_NAMES = {"particle": "Particle", "here": "HERE", "informatica": "Informatica IDMC"}
_embedded: Emulator | None = None
_embedded_lock = threading.Lock()
# Kept beside the clients rather than set on them: the clients are not this module's.
_connections: weakref.WeakKeyDictionary[BaseClient, Connection] = weakref.WeakKeyDictionary()


def embedded_emulator() -> Emulator:
    """The emulator of this process: started on first use on a free port, stopped at exit."""
    global _embedded
    with _embedded_lock:
        if _embedded is None:
            from .emulator import Emulator

            emulator = Emulator(seed=DEMO_SEED, speed=DEMO_SPEED, port=0).start()
            atexit.register(emulator.stop)
            _embedded = emulator
        return _embedded


def _emulator_client(provider: str, emulator: Emulator, options: dict[str, Any]) -> BaseClient:
    """A client of ``provider`` pointed at ``emulator`` with its credentials."""
    from .clients import HereClient, InformaticaClient, ParticleClient

    creds = emulator.credentials[provider]
    options.setdefault("schedule", DEMO_POLL_SCHEDULE)
    if provider == "particle":
        options.setdefault("org", creds["org"])
        return ParticleClient(token=creds["token"], base_url=emulator.particle_api_url, **options)
    if provider == "here":
        return HereClient(
            token=creds["token"],
            realm_id=creds["realm_id"],
            base_url=emulator.here_api_url,
            token_url=emulator.here_token_url,
            **options,
        )
    return InformaticaClient(
        username=creds["username"],
        password=creds["password"],
        login_url=emulator.informatica_login_url,
        **options,
    )


def _configured_client(provider: str, options: dict[str, Any]) -> BaseClient:
    """A client from the environment and credential files (ConfigurationError if none)."""
    from .clients import HereClient, InformaticaClient, ParticleClient

    if provider == "particle":
        if "org" not in options:
            options["org"] = os.environ.get(PARTICLE_ORG_ENV, "").strip() or None
        return ParticleClient(**options)
    if provider == "here":
        return HereClient(**options)
    return InformaticaClient(**options)


def _where(client: BaseClient) -> str:
    for name in ("base_url", "login_url"):
        value = getattr(client, name, None)
        if isinstance(value, str) and value:
            return value
    return "the provider's API"


def connect(
    provider: str,
    *,
    emulator: bool | Emulator | None = None,
    note: bool = True,
    **options: Any,
) -> BaseClient:
    """A configured client of ``provider``: the real API if configured, else the emulator.

    Args:
        provider: ``"particle"``, ``"here"`` or ``"informatica"``.
        emulator: ``None`` (default): the real API when credentials are configured
            (environment variables or credential files), else the embedded emulator;
            ``True``: always the embedded emulator; ``False``: never (raises
            :class:`ConfigurationError` naming what is missing); an
            :class:`~usage_analysis.emulator.Emulator`: that one.
        note: show (in a notebook) or print where the client talks to, and that
            the data is emulated when it is.
        options: passed to the client (e.g. ``org=`` for Particle; default
            ``$PARTICLE_ORG``, else the sandbox).

    :func:`connection_of` tells where the client talks to and whether the data is
    emulated.
    """
    if provider not in PROVIDERS:
        raise InvalidParameter(
            "provider", f"expected one of {', '.join(PROVIDERS)}, got {provider!r}"
        )
    reason: str | None = None
    client: BaseClient | None = None
    if emulator is None or emulator is False:
        try:
            client = _configured_client(provider, dict(options))
        except ConfigurationError as exc:
            if emulator is False:
                raise
            # The message names the argument, variable and files looked at; no secrets.
            reason = f"no credentials configured: {exc}"
    if client is None:
        target = emulator if emulator is not None and not isinstance(emulator, bool) else None
        client = _emulator_client(provider, target or embedded_emulator(), dict(options))
        connection = Connection(provider, emulated=True, where=_where(client), reason=reason)
    else:
        demo_url = os.environ.get(DEMO_EMULATOR_ENV, "").strip()
        emulated = bool(demo_url) and _where(client).startswith(demo_url)
        command = os.environ.get(DEMO_COMMAND_ENV, "").strip() or "make demo"
        reason = f"started by `{command}`" if emulated else None
        connection = Connection(provider, emulated=emulated, where=_where(client), reason=reason)
    _connections[client] = connection
    if note:
        _show(connection)
    return client


def connection_of(client: BaseClient) -> Connection | None:
    """Where a client from :func:`connect` talks to (None for other clients)."""
    return _connections.get(client)


def _show(connection: Connection) -> None:
    """Display the note in a notebook, print it elsewhere."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        shell = None
    if shell is not None and getattr(shell, "kernel", None) is not None:
        from IPython.display import display

        display(connection)
    else:
        print(connection.text)


# --------------------------------------------------------------------------- make demo


def demo_env(emulator: Emulator, *, home: Path, command: str = "make demo") -> dict[str, str]:
    """Environment variables pointing every client (and kernel) at ``emulator``."""
    env = dict(emulator.env())
    env[DEMO_COMMAND_ENV] = command
    env[PARTICLE_ORG_ENV] = emulator.credentials["particle"]["org"]
    env[POLL_SCHEDULE_ENV] = DEMO_POLL_SCHEDULE
    env[DEMO_EMULATOR_ENV] = emulator.base_url
    env[HOME_ENV] = str(home)
    return env


def execute_notebook(
    path: Path,
    *,
    html_out: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: int = CELL_TIMEOUT,
    kernel_name: str = "python3",
) -> Any:
    """Run a notebook top to bottom in a fresh kernel (cwd: its folder); optionally save HTML.

    Returns the executed notebook; raises ``nbclient.exceptions.CellExecutionError``
    naming the cell that failed.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(path.parent)}},
    )
    if env is not None:
        client.execute(env=dict(env))
    else:
        client.execute()
    if html_out is not None:
        export_html(nb, html_out)
    return nb


_OFFLINE_TEMPLATE = """\
{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
"""


def export_html(nb: Any, path: Path, *, as_of: Any = None) -> Path:
    """Write an executed notebook as one HTML page that reads offline.

    Plotly figures get an HTML rendering with plotly.js embedded once (a notebook
    keeps only their JSON, which a static page cannot draw). Widgets need a
    kernel: they are left out, and one line at the end says where to use them.
    The page opens with the time it was made (``as_of``, default now, UTC).
    """
    import copy

    import nbformat
    import pandas as pd
    import plotly.io as pio
    from nbconvert import HTMLExporter

    page = copy.deepcopy(nb)
    first = True
    widgets_left_out = 0
    for cell in page.cells:
        kept = []
        for output in cell.get("outputs", []):
            data = output.get("data")
            if data and _WIDGET_MIME in data:
                widgets_left_out += 1
                continue
            kept.append(output)
            if not data:
                continue
            if _PLOTLY_MIME in data and "text/html" not in data:
                data["text/html"] = pio.to_html(
                    dict(data[_PLOTLY_MIME]),
                    full_html=False,
                    include_plotlyjs=first,
                    validate=False,
                )
                first = False
        if "outputs" in cell:
            cell["outputs"] = kept
    stamp = pd.Timestamp(as_of if as_of is not None else pd.Timestamp.now(tz="UTC"))
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    page.cells.insert(
        0,
        nbformat.v4.new_markdown_cell(
            f"<p class='ua-as-of'><b>Report as of {stamp:%Y-%m-%d %H:%M} UTC</b> "
            "(when the notebook ran; each table and chart says how fresh its data is)</p>"
        ),
    )
    if widgets_left_out:
        page.cells.append(
            nbformat.v4.new_markdown_cell(
                f"<p class='ua-widget-note'><i>{html.escape(_WIDGET_NOTE)}</i></p>"
            )
        )
    page.metadata.pop("widgets", None)
    # A report for readers: prose and results, no code (as Voila shows it).
    # No network: the lab template loads require.js and MathJax from a CDN, and the
    # widget renderer when widget state is saved. Neither is needed (plotly.js is
    # embedded, widgets are replaced by a note), so those blocks are left empty.
    import jinja2

    exporter = HTMLExporter(
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        template_name="lab",
        extra_loaders=[jinja2.DictLoader({"ua_offline.html.j2": _OFFLINE_TEMPLATE})],
        template_file="ua_offline.html.j2",
    )
    body, _ = exporter.from_notebook_node(page)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    return path


# The Voila template of the dashboard (Voila's lab template without CDN links), found
# through JUPYTER_PATH in the package's data.
VOILA_TEMPLATE = "usage-analysis"
JUPYTER_DATA = Path(__file__).resolve().parent / "data" / "jupyter"


def voila_command(notebook: Path, *, port: int) -> list[str]:
    """Voila serving ``notebook`` as the dashboard; run it with :func:`voila_env`."""
    return [
        sys.executable,
        "-m",
        "voila",
        str(notebook),
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        f"--template={VOILA_TEMPLATE}",
        # Jupytext's lab extension needs JupyterLab's document manager, absent in Voila.
        # One item per flag: the ['...'] list form is deprecated in traitlets 5.
        "--VoilaConfiguration.extension_denylist=jupyterlab-jupytext",
    ]


def voila_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) with the package's Voila template on JUPYTER_PATH."""
    out = dict(os.environ if env is None else env)
    paths = [str(JUPYTER_DATA), *filter(None, out.get("JUPYTER_PATH", "").split(os.pathsep))]
    out["JUPYTER_PATH"] = os.pathsep.join(paths)
    return out


def _server_command(args: argparse.Namespace) -> list[str]:
    """The JupyterLab or Voila command line."""
    if args.dashboard:
        command = voila_command(NOTEBOOKS / DASHBOARD_NOTEBOOK, port=args.server_port or VOILA_PORT)
    else:
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            f"--ServerApp.root_dir={NOTEBOOKS}",
            f"--ServerApp.port={args.server_port or LAB_PORT}",
            "--ServerApp.ip=127.0.0.1",
        ]
    if args.no_browser:
        command.append("--no-browser")
    if not args.dashboard and hasattr(os, "geteuid") and os.geteuid() == 0:
        # Containers often run as root; JupyterLab refuses to unless told.
        command.append("--allow-root")
    return command


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group (it then shuts its kernels down), SIGKILL late."""
    if process.poll() is not None:
        return
    # The server runs in a session of its own: its group holds it and what it forked.
    _signal_group(process, signal.SIGTERM)
    try:
        process.wait(STOP_GRACE)
    except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL)
        process.wait()


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        process.send_signal(sig)


def _descendants() -> list[Any]:
    """Every process this one started, directly or not (psutil.Process objects)."""
    import psutil

    try:
        return list(psutil.Process().children(recursive=True))
    except psutil.Error:  # pragma: no cover - our own process is always there
        return []


def _reap(processes: Sequence[Any]) -> None:
    """Terminate the processes still running, then kill what outlives a short grace."""
    import psutil

    alive = []
    for proc in processes:
        try:
            proc.terminate()
            alive.append(proc)
        except psutil.Error:  # already gone
            continue
    _gone, alive = psutil.wait_procs(alive, timeout=5)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            continue
    psutil.wait_procs(alive, timeout=5)


class _Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP: stopped from outside (Ctrl-C is a plain KeyboardInterrupt)."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    # Turned into KeyboardInterrupt so one cleanup path handles Ctrl-C, kill and hang-up.
    raise _Stopped


# Signals that stop the demo; SIGINT keeps Python's own handler (KeyboardInterrupt).
_STOP_SIGNALS = tuple(s for s in (signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None)


def _run_job(notebook: Path, html_out: Path) -> None:
    """Run the headless job in a worker thread, so the signals stay this module's.

    nbclient adds asyncio signal handlers in the main thread and, when done, resets
    SIGTERM to the default (the demo then died on SIGTERM and left JupyterLab
    running). Off the main thread it adds none; a signal interrupts the wait here,
    and the kernel, a child process, is stopped by :func:`main`'s cleanup.
    """
    failure: list[BaseException] = []

    def work() -> None:
        try:
            execute_notebook(notebook, html_out=html_out)
        except BaseException as exc:  # handed to the main thread
            failure.append(exc)

    worker = threading.Thread(target=work, name="usage-analysis-demo-job", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.2)  # short waits: signal handlers run between them
    if failure:
        raise failure[0]


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m usage_analysis.demo`` options."""
    p = argparse.ArgumentParser(
        prog="python -m usage_analysis.demo",
        description="Start the emulator, run the billing overview notebook headless, "
        "then serve JupyterLab on notebooks/ (or Voila on notebook 04). Ctrl-C stops it.",
    )
    p.add_argument("--port", type=int, default=8765, help="emulator port (0: any free port)")
    p.add_argument("--no-lab", action="store_true", help="run the main job only, start no server")
    p.add_argument(
        "--dashboard", action="store_true", help="serve notebook 04 with Voila, not JupyterLab"
    )
    p.add_argument("--no-job", action="store_true", help="skip the headless run of notebook 04")
    p.add_argument(
        "--job",
        type=Path,
        default=NOTEBOOKS / DASHBOARD_NOTEBOOK,
        metavar="NOTEBOOK",
        help=f"the notebook run headless first (default notebooks/{DASHBOARD_NOTEBOOK})",
    )
    p.add_argument(
        "--server-port",
        type=int,
        default=None,
        help=f"JupyterLab/Voila port (default {LAB_PORT} / {VOILA_PORT})",
    )
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument(
        "--home",
        type=Path,
        default=DEMO_HOME,
        help=f"data directory of the demo (default {DEMO_HOME.name}/ in the checkout)",
    )
    p.add_argument(
        "--output", type=Path, default=DEMO_OUTPUT, help="where the main job writes its HTML"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo until Ctrl-C; returns the exit status."""
    args = build_parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        raise InvalidParameter("--port", f"expected 0..65535, got {args.port}")
    from .emulator import Emulator
    from .emulator.cli import write_env_file

    previous = {s: signal.signal(s, _on_signal) for s in _STOP_SIGNALS}
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    emulator = Emulator(seed=DEMO_SEED, speed=DEMO_SPEED, port=args.port)
    server: subprocess.Popen[bytes] | None = None
    try:
        emulator.start()
        home = args.home.resolve()
        env = demo_env(
            emulator, home=home, command="make dashboard" if args.dashboard else "make demo"
        )
        os.environ.update(env)
        home.mkdir(parents=True, exist_ok=True)
        env_file = home / "emulator.env"
        # Credentials go to a file readable by the owner only, never to the terminal.
        write_env_file(env_file, env)
        print(f"usage-analysis demo: emulator on {emulator.base_url} (seed {DEMO_SEED})")
        print(f"  data directory   {home}")
        print(f"  environment      {env_file}  (load with: set -a; . {env_file}; set +a)")
        if not args.no_job:
            job = args.job.resolve()
            out = args.output.resolve() / f"{job.stem}.html"
            print(f"  main job         running {job.name} headless ...", flush=True)
            started = time.monotonic()
            _run_job(job, out)
            print(f"                   done in {time.monotonic() - started:.0f} s: {out}")
        if args.no_lab:
            return 0
        what = "Voila on notebook 04" if args.dashboard else "JupyterLab on notebooks/"
        print(f"  starting         {what}; Ctrl-C stops everything", flush=True)
        # A session of its own: Ctrl-C reaches only this process, which then stops
        # the server cleanly (JupyterLab would otherwise ask for confirmation).
        server = subprocess.Popen(
            _server_command(args),
            cwd=NOTEBOOKS,
            env=voila_env() if args.dashboard else None,
            start_new_session=True,
        )
        return server.wait()
    except KeyboardInterrupt as exc:
        print("\nusage-analysis demo: stopping ...", flush=True)
        # Ctrl-C is how the demo is meant to end: exit 0, or `make demo` would print
        # "make: *** [Makefile: demo] Error 130" after a clean stop. A SIGTERM or
        # SIGHUP from elsewhere still reports the interruption.
        return 130 if isinstance(exc, _Stopped) else 0
    except UsageAnalysisError as exc:
        print(f"usage-analysis demo: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        # nbclient's CellExecutionError names the cell and shows its traceback.
        if type(exc).__name__ != "CellExecutionError":
            raise
        print(f"usage-analysis demo: the main job failed:\n{exc}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C or SIGTERM must not cut the cleanup short.
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        # Taken before the server stops: its kernels (sessions of their own) would
        # otherwise be orphans nobody can find.
        children = _descendants()
        if server is not None:
            _stop(server)
        _reap(children)
        emulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def exit_bounded(code: int, *, grace: float = EXIT_GRACE) -> None:
    """``sys.exit(code)``, with the interpreter's own exit bounded by ``grace`` seconds.

    After :func:`main`'s cleanup, Python still joins the threads left running and runs
    its exit handlers; a library thread stuck there (the headless job's kernel client
    after its kernel was stopped) kept a stopped demo alive. Past the grace, the
    process says which threads were left and exits with the same code.
    """

    def force() -> None:
        left = sorted(t.name for t in threading.enumerate() if t is not threading.current_thread())
        print(
            f"usage-analysis demo: exit took over {grace:g} s (threads left: "
            f"{', '.join(left) or 'none'}); exiting now",
            file=sys.stderr,
            flush=True,
        )
        sys.stdout.flush()
        os._exit(code)

    timer = threading.Timer(grace, force)
    timer.daemon = True
    timer.name = "usage-analysis-exit-bound"
    timer.start()
    sys.exit(code)


if __name__ == "__main__":
    exit_bounded(main())
