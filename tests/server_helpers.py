"""The servers and the browser the tests share: one of each per test run (per xdist worker).

- ``chromium``: Debian's Chromium, driven by Playwright, launched once; ``browser`` hands
  it to one test and closes the pages the test opened.
- ``lab_server``: one JupyterLab, ``voila_server``: one Voila (tree mode), both serving
  ``notebook_workdir`` (a copy of notebooks/ a test may add notebooks to) with
  ``server_env`` (the ``server_emulator``'s variables, every Jupyter directory in a temp dir).
- ``executed_notebook(name)``: a notebook of notebooks/ run headless once, its executed copy
  shared by every test that checks its outputs.

A test using any of these must carry the matching marker (``browser`` or ``notebook``):
``tests/conftest.py`` refuses to collect it otherwise, and puts the tests of one server
in one xdist group (``XDIST_GROUPS``), so that ``--dist loadgroup`` starts each server
once per run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from usage_analysis.emulator import Emulator

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
ARTIFACTS = REPO / "test-artifacts"
# Playwright drives Debian's Chromium (`make browser` installs it): it must not
# download a browser of its own.
CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps calling out, and this
# machine's closed network refuses it many times a second.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's Chromium at /usr/bin/chromium (`make browser` installs it)",
)
# Starting JupyterLab or Voila (imports, extensions) on a busy machine.
SERVER_START_TIMEOUT_S = 120.0
# A headless notebook cell: reports from the emulator, charts.
CELL_TIMEOUT_S = 180

# The fixtures that need a marker, and which one (checked in tests/conftest.py).
BROWSER_FIXTURES = frozenset(
    {"chromium", "browser", "lab_server", "lab_pages", "voila_server", "voila_pages"}
)
NOTEBOOK_FIXTURES = frozenset({"executed_notebook"})
# The xdist group of a test that uses one of these (the first that matches): each group
# runs on one worker, which starts that server once. Three groups keep both workers busy.
XDIST_GROUPS = (
    ("lab", "lab_server"),
    ("voila", "voila_server"),
    ("notebooks", "executed_notebook"),
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def jupyter_env(base: dict[str, str], tmp: Path) -> dict[str, str]:
    """``base`` without Jupyter or provider variables, every Jupyter directory under ``tmp``."""
    (tmp / "home").mkdir(parents=True, exist_ok=True)
    # No "get notified about Jupyter news?" toast over the screenshots, no fetch online.
    settings = tmp / "lab-settings"
    notification = (
        settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    )
    notification.parent.mkdir(parents=True, exist_ok=True)
    notification.write_text('{"fetchNews": "false", "checkForUpdates": false}')
    env = {
        k: v
        for k, v in base.items()
        if not k.startswith(("PARTICLE_", "HERE_", "INFORMATICA_", "USAGE_ANALYSIS_", "JUPYTER"))
    }
    env.update(
        HOME=str(tmp / "home"),
        JUPYTER_PLATFORM_DIRS="1",
        JUPYTER_CONFIG_DIR=str(tmp / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(tmp / "jupyter-runtime"),
        IPYTHONDIR=str(tmp / "ipython"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "lab-workspaces"),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        USAGE_ANALYSIS_HOME=str(tmp / "ua-home"),
        MPLBACKEND="agg",
    )
    return env


class Server:
    """A Voila or JupyterLab process on a free port with a token, its output in a log file."""

    def __init__(
        self, command: list[str], *, env: dict[str, str], cwd: Path, port: int, token: str
    ) -> None:
        self.port, self.token = port, token
        self.log_path = ARTIFACTS / f"server-{port}.log"
        ARTIFACTS.mkdir(exist_ok=True)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT
        )

    def url(self, path: str = "/") -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}{path}{sep}token={self.token}"

    def wait_listening(self, timeout: float = SERVER_START_TIMEOUT_S) -> Server:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited; see {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"the server did not listen within {timeout} s; see {self.log_path}")

    def shutdown_kernels(self) -> None:
        """Stop every kernel a test left running in JupyterLab (they hold CPU and memory)."""
        headers = {"Authorization": f"token {self.token}"}
        base = f"http://127.0.0.1:{self.port}"
        with httpx.Client(headers=headers, timeout=30) as http:
            for kernel in http.get(f"{base}/api/kernels").json():
                http.delete(f"{base}/api/kernels/{kernel['id']}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def voila_command(root: Path, port: int, token: str) -> list[str]:
    """Voila as ``make dashboard`` runs it (command and template), on the notebook or the
    folder ``root`` (a folder: each notebook at ``voila_page(name)``); run it with
    :func:`usage_analysis.demo.voila_env`."""
    from usage_analysis.demo import voila_command as dashboard_command

    return [*dashboard_command(root, port=port), "--no-browser", f"--token={token}"]


def voila_server_for(notebook: Path, env: dict[str, str]) -> Server:
    """A Voila of its own serving ``notebook`` (started; call ``wait_listening``).

    Tests share ``voila_server``; this is for a test that needs a server to itself.
    """
    from usage_analysis.demo import voila_env

    port, token = free_port(), secrets.token_hex(16)
    command = voila_command(notebook, port, token)
    return Server(command, env=voila_env(env), cwd=notebook.parent, port=port, token=token)


def lab_command(root: Path, port: int, token: str) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={root}",
        f"--ServerApp.port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        "--no-browser",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    return command


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def server_emulator() -> Iterator[Emulator]:
    """The emulator the servers' notebooks fetch their reports from."""
    from usage_analysis.emulator import running

    with running(seed=7, speed="fast") as emu:
        yield emu


@pytest.fixture(scope="session")
def notebook_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of notebooks/: JupyterLab saves what it opens, and the checkout stays clean.

    A test may write a notebook of its own into it; both servers find it there.
    """
    target = tmp_path_factory.mktemp("work") / "notebooks"
    shutil.copytree(NOTEBOOKS, target, ignore=shutil.ignore_patterns("exports", ".ipynb_*"))
    return target


@pytest.fixture(scope="session")
def server_env(
    server_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """The servers' environment: the emulator's, and every Jupyter directory in a temp dir."""
    from usage_analysis.demo import demo_env

    tmp = tmp_path_factory.mktemp("servers")
    env = jupyter_env(dict(os.environ), tmp)
    env.update(demo_env(server_emulator, home=tmp / "ua-home"))
    return env


def _serve(
    command: list[str], *, env: dict[str, str], cwd: Path, port: int, token: str
) -> Iterator[Server]:
    server = Server(command, env=env, cwd=cwd, port=port, token=token)
    try:
        yield server.wait_listening()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def lab_server(notebook_workdir: Path, server_env: dict[str, str]) -> Iterator[Server]:
    """The run's JupyterLab on ``notebook_workdir``."""
    port, token = free_port(), secrets.token_hex(16)
    command = lab_command(notebook_workdir, port, token)
    yield from _serve(command, env=server_env, cwd=notebook_workdir, port=port, token=token)


@pytest.fixture(scope="session")
def voila_server(notebook_workdir: Path, server_env: dict[str, str]) -> Iterator[Server]:
    """The run's Voila on ``notebook_workdir``: ``voila_server.url(voila_page(name))``."""
    from usage_analysis.demo import voila_env

    port, token = free_port(), secrets.token_hex(16)
    command = voila_command(notebook_workdir, port, token)
    env = voila_env(server_env)
    yield from _serve(command, env=env, cwd=notebook_workdir, port=port, token=token)


def voila_page(notebook: str) -> str:
    """The path of ``notebook``'s dashboard on the tree-mode Voila."""
    return f"/voila/render/{notebook}"


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, launched once; tests get it through ``browser``."""
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    # Playwright's sync API leaves its event loop marked as this thread's running loop
    # between calls; other tests of the worker (asyncio.run, nbclient) must not see it.
    # ``browser`` marks it running for a browser test only.
    loop = asyncio.events._get_running_loop()
    try:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    except BaseException:
        pw.stop()
        raise
    asyncio.events._set_running_loop(None)
    yield chromium
    asyncio.events._set_running_loop(loop)
    try:
        chromium.close()
    finally:
        pw.stop()
        asyncio.events._set_running_loop(None)


# Browser contexts of the shared pages (SharedPages): a test's ``browser`` leaves them open.
_SHARED_CONTEXTS: set[Any] = set()


@pytest.fixture
def browser(chromium: Any) -> Iterator[Any]:
    """The run's Chromium for one test; the pages (contexts) the test opened are closed after it."""
    loop = chromium._impl_obj._loop
    asyncio.events._set_running_loop(loop)
    try:
        yield chromium
    finally:
        for context in list(chromium.contexts):
            if context not in _SHARED_CONTEXTS:
                context.close()
        asyncio.events._set_running_loop(None)


@dataclasses.dataclass
class OpenPage:
    """A page as it was opened: what it asked for, what it reported, what was seen first."""

    page: Any
    requests: list[str] = dataclasses.field(default_factory=list)
    page_errors: list[str] = dataclasses.field(default_factory=list)
    console_errors: list[str] = dataclasses.field(default_factory=list)
    opening: Any = None


class SharedPages:
    """Voila pages opened once per run and read by every test that needs the same page.

    Each Voila page runs its notebook in a new kernel (the most costly step of a browser
    test): the dashboard and one-answer tests read one notebook 04 page, the first-change
    and redraw tests one explorer page. ``open`` is called inside a test (with
    ``browser``); the page's requests, page errors and console errors are recorded from
    before it loads. ``on_open(page)`` runs once, right after the page starts loading
    (what a user does first), and what it returns or raises is given to every caller.
    """

    def __init__(self, chromium: Any, server: Server) -> None:
        self._chromium, self._server = chromium, server
        self._pages: dict[str, OpenPage] = {}
        self._failures: dict[str, BaseException] = {}

    def open(
        self,
        notebook: str,
        *,
        viewport: dict[str, int],
        timeout_ms: float,
        on_open: Callable[[Any], Any] | None = None,
    ) -> OpenPage:
        if notebook in self._failures:
            raise self._failures[notebook]
        if notebook not in self._pages:
            context = self._chromium.new_context(viewport=viewport)
            _SHARED_CONTEXTS.add(context)
            page = context.new_page()
            shown = OpenPage(page)
            page.on("request", lambda request: shown.requests.append(request.url))
            page.on("pageerror", lambda exc: shown.page_errors.append(f"{exc}\n{exc.stack}"[:600]))
            page.on(
                "console",
                lambda m: shown.console_errors.append(m.text[:300]) if m.type == "error" else None,
            )
            # Voila streams the page while the kernel runs: do not wait for "load" here.
            page.goto(
                self._server.url(voila_page(notebook)), wait_until="commit", timeout=timeout_ms
            )
            try:
                shown.opening = on_open(page) if on_open is not None else None
            except BaseException as exc:
                self._failures[notebook] = exc
                raise
            self._pages[notebook] = shown
        return self._pages[notebook]

    def close(self) -> None:
        for shown in self._pages.values():
            context = shown.page.context
            _SHARED_CONTEXTS.discard(context)
            context.close()


# The notebook panel in front (JupyterLab keeps the others in the DOM, hidden).
LAB_VISIBLE_PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"


class SharedLab:
    """One JupyterLab page per run: each test opens its notebook in it, as a user does.

    Loading JupyterLab costs Chromium more than any notebook it shows (its scripts,
    then plotly's, compiled again in every new page). The first ``open`` loads
    ``/lab/tree/NOTEBOOK?reset``; the next ones use File > Open from Path…, and the
    notebook comes to the front in a tab of its own. A page left with a dialog or
    closed (a failed test) is replaced by a new one. Kernels keep running until the
    run ends (shutting one down under an open notebook makes JupyterLab ask what to do).
    """

    def __init__(self, chromium: Any, server: Server) -> None:
        self._chromium, self._server = chromium, server
        self.page: Any = None
        self.loads = 0  # how many times JupyterLab itself was loaded

    def open(self, notebook: str, *, viewport: dict[str, int], timeout_ms: float) -> Any:
        """The page with ``notebook`` open in front and its kernel idle."""
        import re

        page = self.page
        if page is not None and (page.is_closed() or page.locator(".jp-Dialog").count()):
            self._close()
            page = None
        if page is None:
            context = self._chromium.new_context(viewport=viewport)
            _SHARED_CONTEXTS.add(context)
            page = self.page = context.new_page()
            page.goto(self._server.url(f"/lab/tree/{notebook}?reset"), timeout=timeout_ms)
            self.loads += 1
        else:
            page.set_viewport_size(viewport)
            page.keyboard.press("Escape")  # a menu a failed test left open
            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^File$")).click()
            page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Open from Path")).click()
            page.locator(".jp-Dialog input").fill(notebook)
            page.keyboard.press("Enter")
        name = notebook.rsplit("/", 1)[-1]
        page.locator(
            "#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel",
            has_text=re.compile(rf"^{re.escape(name)}$"),
        ).wait_for(timeout=timeout_ms)
        # Its kernel up and idle, as the status bar says once it follows this notebook
        # (it names the document in front): "Run All Cells" chosen earlier does nothing.
        status = page.locator(".jp-StatusBar-Widget")
        status.get_by_text(name, exact=True).wait_for(timeout=timeout_ms)
        status.get_by_text(re.compile(r"\| Idle$")).wait_for(timeout=timeout_ms)
        return page

    def run_all(self, notebook: str, *, viewport: dict[str, int], timeout_ms: float) -> Any:
        """``notebook`` opened (:meth:`open`), then Run > Run All Cells chosen in the menu
        until a cell of it has started (a kernel that said idle a moment before
        its connection was made drops the request, as a user would see: nothing runs,
        and choosing it again runs it). The page."""
        import re

        page = self.open(notebook, viewport=viewport, timeout_ms=timeout_ms)
        # Some cell of it running or run: "[*]:" or "[n]:" (JupyterLab keeps only the
        # cells near the view in the page, so no one cell is watched).
        started = (
            "panel => Array.from(panel.querySelectorAll('.jp-InputArea-prompt'))"
            ".some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))"
        )
        panel = page.locator(LAB_VISIBLE_PANEL).first
        for _attempt in range(3):
            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if panel.evaluate(started):
                    return page
                page.wait_for_timeout(250)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "jupyterlab-run-all-failure.png"))
        raise AssertionError(
            f"Run All Cells never started {notebook} (3 tries; "
            "test-artifacts/jupyterlab-run-all-failure.png)"
        )

    def _close(self) -> None:
        context = self.page.context
        _SHARED_CONTEXTS.discard(context)
        context.close()
        self.page = None

    def close(self) -> None:
        if self.page is not None:
            self._close()


@contextlib.contextmanager
def playwright_calls(chromium: Any) -> Iterator[None]:
    """Playwright's loop marked running for calls made outside a test's ``browser``
    (a shared page's teardown)."""
    asyncio.events._set_running_loop(chromium._impl_obj._loop)
    try:
        yield
    finally:
        asyncio.events._set_running_loop(None)


@pytest.fixture(scope="session")
def lab_pages(chromium: Any, lab_server: Server) -> Iterator[SharedLab]:
    """The run's one JupyterLab page (:class:`SharedLab`)."""
    lab = SharedLab(chromium, lab_server)
    yield lab
    with playwright_calls(chromium):
        lab.close()
    lab_server.shutdown_kernels()


@pytest.fixture(scope="session")
def voila_pages(chromium: Any, voila_server: Server) -> Iterator[SharedPages]:
    """The run's shared Voila pages (:class:`SharedPages`)."""
    pages = SharedPages(chromium, voila_server)
    yield pages
    with playwright_calls(chromium):
        pages.close()


@pytest.fixture(scope="session")
def executed_notebook(
    notebook_workdir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Any]:
    """``executed_notebook(name)``: notebooks/NAME.ipynb run headless, once per run.

    As a new user runs it: no provider credentials at all, so every provider falls
    back to the emulator embedded in the kernel. The executed notebook is shared:
    callers must not change it.
    """
    from usage_analysis.demo import execute_notebook

    env = jupyter_env(dict(os.environ), tmp_path_factory.mktemp("headless"))
    # A copy of notebooks/ of its own (with the files the notebooks read): the servers'
    # kernels write next to theirs.
    folder = tmp_path_factory.mktemp("headless") / "notebooks"
    shutil.copytree(NOTEBOOKS, folder, ignore=shutil.ignore_patterns("exports", ".ipynb_*"))
    done: dict[str, Any] = {}
    lock = threading.Lock()

    def run(name: str) -> Any:
        with lock:
            if name not in done:
                path = folder / f"{name}.ipynb"
                done[name] = execute_notebook(path, env=env, timeout=CELL_TIMEOUT_S)
            return done[name]

    return run
