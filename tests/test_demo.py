"""``usage_analysis.demo``: connect() for notebooks and ``make demo`` / ``make dashboard``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from server_helpers import free_port

from usage_analysis.clients import HereClient, InformaticaClient, ParticleClient
from usage_analysis.defaults import DEMO_EMULATOR_ENV
from usage_analysis.demo import (
    connect,
    connection_of,
    demo_env,
    embedded_emulator,
)
from usage_analysis.emulator import Emulator, running
from usage_analysis.errors import ConfigurationError, InvalidParameter

REPO = Path(__file__).resolve().parent.parent


def _emulator_secrets() -> list[str]:
    creds = Emulator(seed=7).credentials
    return [
        creds["particle"]["token"],
        creds["here"]["token"],
        creds["here"]["access_key_secret"],
        creds["informatica"]["password"],
    ]


# --------------------------------------------------------------------------- connect()


@pytest.mark.parametrize(
    ("provider", "cls"),
    [("particle", ParticleClient), ("here", HereClient), ("informatica", InformaticaClient)],
)
def test_connect_without_credentials_uses_the_embedded_emulator_and_says_so(
    provider: str, cls: type, capsys: pytest.CaptureFixture[str]
) -> None:
    client = connect(provider)
    assert isinstance(client, cls)
    connection = connection_of(client)
    assert connection is not None and connection.emulated
    assert connection.where.startswith(embedded_emulator().base_url)
    note = capsys.readouterr().out
    assert "EMULATED DATA" in note and "no credentials configured" in note
    for secret in _emulator_secrets():
        assert secret not in note
        assert secret not in repr(client)


def test_embedded_emulator_is_started_once_per_process() -> None:
    assert embedded_emulator() is embedded_emulator()
    first = connect("particle", note=False)
    second = connect("here", note=False)
    assert (
        connection_of(first).where.split("/particle")[0]
        == (  # type: ignore[union-attr]
            connection_of(second).where.split("/here")[0]  # type: ignore[union-attr]
        )
    )


def test_embedded_particle_client_reads_the_emulated_org_agreements() -> None:
    client = connect("particle", note=False)
    agreements = client.service_agreements()  # type: ignore[attr-defined]
    assert agreements and agreements[0]["current_billing_period_start"]
    assert client.account != "sandbox"


def test_connect_with_configured_credentials_talks_to_the_configured_api(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PARTICLE_ACCESS_TOKEN", "configured-token-0123456789")
    monkeypatch.setenv("PARTICLE_API_URL", "https://particle.example.invalid")
    monkeypatch.setenv("PARTICLE_ORG", "my-org")
    client = connect("particle")
    assert isinstance(client, ParticleClient)
    assert client.base_url == "https://particle.example.invalid"
    assert client.account == "my-org"
    connection = connection_of(client)
    assert connection is not None and not connection.emulated
    note = capsys.readouterr().out
    assert "https://particle.example.invalid" in note and "EMULATED" not in note
    assert "configured-token-0123456789" not in note


def test_connect_calls_the_make_demo_emulator_emulated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERE_TOKEN", "demo-token-0123456789")
    monkeypatch.setenv("HERE_REALM_ID", "org123456789")
    monkeypatch.setenv("HERE_API_URL", "http://127.0.0.1:9/here/v2")
    monkeypatch.setenv(DEMO_EMULATOR_ENV, "http://127.0.0.1:9")
    connection = connection_of(connect("here", note=False))
    assert connection is not None and connection.emulated
    assert "make demo" in connection.text
    assert "<code>make demo</code>" in connection._repr_html_()
    monkeypatch.setenv("USAGE_ANALYSIS_DEMO_COMMAND", "make dashboard")
    connection = connection_of(connect("here", note=False))
    assert connection is not None and "started by `make dashboard`" in connection.text


def test_connect_explicit_emulator_is_used_even_with_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INFORMATICA_USERNAME", "someone")
    monkeypatch.setenv("INFORMATICA_PASSWORD", "a-password-0123")
    with running(seed=7, speed="instant") as emu:
        client = connect("informatica", emulator=emu, note=False)
        assert connection_of(client).emulated  # type: ignore[union-attr]
        assert client.account  # logs in to the given emulator


def test_connect_refusing_the_emulator_names_the_missing_credentials() -> None:
    with pytest.raises(ConfigurationError, match="INFORMATICA_USERNAME"):
        connect("informatica", emulator=False)


def test_connect_rejects_an_unknown_provider() -> None:
    with pytest.raises(InvalidParameter, match="provider"):
        connect("aws")


def test_demo_env_points_every_client_at_the_emulator(tmp_path: Path) -> None:
    with running(seed=7, speed="instant") as emu:
        env = demo_env(emu, home=tmp_path)
        assert env["PARTICLE_API_URL"] == emu.particle_api_url
        assert env["HERE_API_URL"] == emu.here_api_url
        assert env["INFORMATICA_LOGIN_URL"] == emu.informatica_login_url
        assert env["USAGE_ANALYSIS_HOME"] == str(tmp_path)
        assert env[DEMO_EMULATOR_ENV] == emu.base_url
        assert env["PARTICLE_ORG"] == emu.credentials["particle"]["org"]
        assert env["USAGE_ANALYSIS_DEMO_COMMAND"] == "make demo"
        assert (
            demo_env(emu, home=tmp_path, command="make dashboard")["USAGE_ANALYSIS_DEMO_COMMAND"]
            == "make dashboard"
        )


# --------------------------------------------------------------------------- make demo


def _demo_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        JUPYTER_PLATFORM_DIRS="1",
        JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"),
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
def demo_process(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Demo processes started by a test; stopped (by their own id) if still running."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        # Its output pipe too: a test that failed before reading it left the pipe to
        # the garbage collector, whose ResourceWarning then failed an unrelated test.
        if proc.stdout is not None:
            proc.stdout.close()


def _start_demo(
    tmp_path: Path,
    started: list[subprocess.Popen[bytes]],
    *args: str,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """``python -m usage_analysis.demo ARGS`` in a session of its own, output captured."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "usage_analysis.demo", *args, f"--home={tmp_path / 'home'}"],
        env=env or _demo_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    started.append(proc)
    return proc


def _stop_and_check(
    proc: subprocess.Popen[bytes], sig: int, children: list[psutil.Process], ports: list[int]
) -> None:
    """Send ``sig``: the demo exits (0 on Ctrl-C, else 130), nothing it started survives,
    no port answers."""
    try:
        proc.send_signal(sig)
        output = proc.communicate(timeout=90)[0].decode()
        assert proc.returncode == (0 if sig == signal.SIGINT else 130), output[-2000:]
        assert "stopping" in output
        _gone, alive = psutil.wait_procs(children, timeout=20)
        assert not alive, f"the demo left processes running: {alive}"
    finally:
        for child in children:
            if child.is_running():
                child.kill()
    for port in ports:
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)


def _wait_for_kernel(proc: subprocess.Popen[bytes], timeout: float) -> list[psutil.Process]:
    """The demo's descendants, once one of them is an IPython kernel."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the demo exited early"
        children = psutil.Process(proc.pid).children(recursive=True)
        if any("ipykernel" in " ".join(c.cmdline()) for c in children):
            return children
        time.sleep(0.5)
    raise AssertionError("no kernel started")


def _wait_http(url: str, *, proc: subprocess.Popen[bytes], timeout: float) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the demo exited early"
        try:
            return httpx.get(url, timeout=60)
        except httpx.TransportError:
            time.sleep(0.3)
    raise AssertionError(f"nothing answered at {url} within {timeout} s")


@pytest.mark.notebook
@pytest.mark.slow
def test_demo_without_lab_runs_the_overview_notebook_and_writes_its_html(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "usage_analysis.demo",
            "--port=0",
            "--no-lab",
            f"--home={tmp_path / 'home'}",
            f"--output={out}",
        ],
        env=_demo_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    page = (out / "04_billing_overview.html").read_text(encoding="utf-8")
    assert "Billing overview" in page
    assert "EMULATED DATA" in page and "make demo" in page
    assert "Traceback" not in page
    env_file = tmp_path / "home" / "emulator.env"
    assert env_file.stat().st_mode & 0o077 == 0, "the env file holds credentials"
    for secret in _emulator_secrets():
        assert secret not in result.stdout and secret not in result.stderr
        assert secret not in page


@pytest.mark.slow
def test_demo_serves_jupyterlab_and_ctrl_c_stops_everything(
    tmp_path: Path, demo_process: list[subprocess.Popen[bytes]]
) -> None:
    emulator_port, lab_port = free_port(), free_port()
    proc = _start_demo(
        tmp_path,
        demo_process,
        f"--port={emulator_port}",
        "--no-job",
        "--no-browser",
        f"--server-port={lab_port}",
    )
    answer = _wait_http(f"http://127.0.0.1:{lab_port}/api", proc=proc, timeout=90)
    assert answer.status_code == 200 and "version" in answer.json()
    emulated = httpx.get(f"http://127.0.0.1:{emulator_port}/particle/v1/user/service_agreements")
    assert emulated.status_code == 401  # the emulator is up (and wants a token)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert children, "JupyterLab runs as a child of the demo"
    _stop_and_check(proc, signal.SIGINT, children, [emulator_port, lab_port])


@pytest.mark.slow
def test_dashboard_serves_the_billing_overview_with_voila(
    tmp_path: Path, demo_process: list[subprocess.Popen[bytes]]
) -> None:
    voila_port = free_port()
    proc = _start_demo(
        tmp_path,
        demo_process,
        "--port=0",
        "--no-job",
        "--no-browser",
        "--dashboard",
        f"--server-port={voila_port}",
    )
    # Voila runs the notebook before it answers with the page.
    page = _wait_http(f"http://127.0.0.1:{voila_port}/", proc=proc, timeout=180)
    assert page.status_code == 200
    assert "Billing overview" in page.text
    assert "application/vnd.jupyter.widget-view+json" in page.text  # the explorer
    assert "Traceback" not in page.text
    # The note names the command that started the emulator.
    assert "started by <code>make dashboard</code>" in page.text.replace("\\u003c", "<").replace(
        "\\u003e", ">"
    )
    assert "make demo" not in page.text
    proc.send_signal(signal.SIGINT)
    output = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 0  # Ctrl-C is the way to stop it, not a failure
    assert "DeprecationWarning" not in output, output[-3000:]


# --------------------------------------------------------------------------- signals


def _job_notebook(path: Path, source: str) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_after_the_headless_job_stops_jupyterlab_and_its_kernels(
    tmp_path: Path, demo_process: list[subprocess.Popen[bytes]], sig: signal.Signals
) -> None:
    # The headless step (nbclient) used to reset SIGTERM to the default on its way out:
    # a later SIGTERM killed the demo alone and left JupyterLab running.
    job = _job_notebook(tmp_path / "job.ipynb", "print('job done')")
    emulator_port, lab_port = free_port(), free_port()
    proc = _start_demo(
        tmp_path,
        demo_process,
        f"--port={emulator_port}",
        f"--job={job}",
        f"--output={tmp_path / 'out'}",
        "--no-browser",
        f"--server-port={lab_port}",
        env=_demo_env(tmp_path) | {"JUPYTER_TOKEN": "signal-test-token"},
    )
    _wait_http(f"http://127.0.0.1:{lab_port}/api", proc=proc, timeout=120)
    assert (tmp_path / "out" / "job.html").exists(), "the headless job ran first"
    # A kernel started in JupyterLab runs in a session of its own, as users' kernels do.
    kernel = httpx.post(
        f"http://127.0.0.1:{lab_port}/api/kernels",
        headers={"Authorization": "token signal-test-token"},
        json={"name": "python3"},
        timeout=60,
    )
    assert kernel.status_code == 201, kernel.text
    children = _wait_for_kernel(proc, timeout=60)
    _stop_and_check(proc, sig, children, [emulator_port, lab_port])


@pytest.mark.slow
def test_sigterm_during_the_headless_job_stops_its_kernel(
    tmp_path: Path, demo_process: list[subprocess.Popen[bytes]]
) -> None:
    job = _job_notebook(tmp_path / "job.ipynb", "import time\ntime.sleep(600)")
    proc = _start_demo(
        tmp_path,
        demo_process,
        "--port=0",
        f"--job={job}",
        f"--output={tmp_path / 'out'}",
        "--no-lab",
    )
    children = _wait_for_kernel(proc, timeout=90)
    time.sleep(2)  # the cell is running
    _stop_and_check(proc, signal.SIGTERM, children, [])
    assert not (tmp_path / "out" / "job.html").exists()


@pytest.mark.slow
def test_make_demo_stopped_with_ctrl_c_prints_no_make_error(
    tmp_path: Path, demo_process: list[subprocess.Popen[bytes]]
) -> None:
    """Ctrl-C reaches make and the demo together (one foreground process group):
    the demo's exit status decides whether make reports "Error 130"."""
    lab_port = free_port()
    makefile = tmp_path / "Makefile"
    makefile.write_text(
        "demo:\n"
        f"\t{sys.executable} -m usage_analysis.demo --port=0 --no-job --no-browser "
        f"--server-port={lab_port} --home={tmp_path / 'home'}\n"
    )
    proc = subprocess.Popen(
        ["make", "-f", str(makefile), "demo"],
        env=_demo_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # As in a terminal: Ctrl-C's SIGINT is not ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    demo_process.append(proc)
    _wait_http(f"http://127.0.0.1:{lab_port}/api", proc=proc, timeout=90)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
    output = proc.communicate(timeout=90)[0].decode()
    assert "stopping" in output
    assert "Error 130" not in output and "make: ***" not in output, output[-2000:]


@pytest.mark.slow
def test_the_html_report_has_an_as_of_line_and_no_widget_placeholders(tmp_path: Path) -> None:
    import nbformat

    from usage_analysis.demo import export_html

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("UsageExplorer(usage)")
    view = {"model_id": "abc", "version_major": 2, "version_minor": 0}
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={
                "application/vnd.jupyter.widget-view+json": view,
                "text/plain": "UsageExplorer(children=(...))",
            },
        ),
        nbformat.v4.new_output("stream", name="stdout", text="12 rows\n"),
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("# Billing overview"), cell]
    page = export_html(nb, tmp_path / "report.html", as_of="2026-12-07T15:20:00Z").read_text(
        encoding="utf-8"
    )
    assert "Report as of 2026-12-07 15:20 UTC" in page
    assert page.index("Report as of") < page.index(">Billing overview<")
    assert "An interactive widget is here" not in page
    assert "UsageExplorer(children" not in page  # nor the widget's text form
    assert page.count("ua-widget-note") == 1  # one line at the end says where to use it
    assert "12 rows" in page


@pytest.mark.slow
def test_the_demo_s_exit_is_bounded_whatever_thread_is_left_running(tmp_path: Path) -> None:
    """A thread nobody stops (a library's, after the cleanup) cannot keep a stopped demo
    alive: the exit ends within its grace, with the demo's exit code."""
    code = (
        "import threading, time\n"
        "threading.Thread(target=time.sleep, args=(600,), name='stuck-library-thread').start()\n"
        "from usage_analysis.demo import exit_bounded\n"
        "exit_bounded(130, grace=1.0)\n"
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, timeout=60, env=_demo_env(tmp_path)
    )
    took = time.monotonic() - started
    assert done.returncode == 130, done.stderr.decode()[-2000:]
    assert "stuck-library-thread" in done.stderr.decode()
    assert took < 30, took
