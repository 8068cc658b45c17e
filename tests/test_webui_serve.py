"""webui.standalone: waitress on loopback, a clear error for a busy port, /healthz under load."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from localtrack.errors import UsageError
from webui import create_app
from webui.standalone import make_server, serve, url_for_server

from .conftest import PYTHON, REPO, child_env
from .webui_fixtures import live_server, log_run

pytestmark = pytest.mark.server


@pytest.fixture
def busy_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield sock.getsockname()[1]


def test_busy_port_is_a_usage_error_suggesting_another(tmp_path: Path, busy_port: int) -> None:
    app = create_app(tmp_path, watch=False)
    with pytest.raises(
        UsageError, match=rf"port is already in use\. Pick another with --port {busy_port + 1}"
    ):
        make_server(app, "127.0.0.1", busy_port)


def test_serve_raises_before_serving_on_a_busy_port(tmp_path: Path, busy_port: int) -> None:
    with pytest.raises(UsageError, match="--port"):
        serve(tmp_path, port=busy_port)


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8080/"),
        ("0.0.0.0", "http://127.0.0.1:8080/"),
        ("::1", "http://[::1]:8080/"),
    ],
)
def test_url_for_server(host: str, url: str) -> None:
    assert url_for_server(host, 8080) == url


START_S = 120.0  # outer bound for a child to import Flask and start serving on a busy machine
STOP_S = 60.0  # outer bound for waitress to stop after SIGINT
REQUEST_S = 60.0


def _first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The child's first stdout line, waited for at most `timeout` seconds."""
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.append(proc.stdout.readline() if proc.stdout else ""), daemon=True
    )
    reader.start()
    reader.join(timeout)
    assert lines, f"the UI printed no URL line within {timeout} s of starting"
    return lines[0]


@pytest.mark.parametrize(
    "prelude",
    ["", "signal.signal(signal.SIGINT, signal.SIG_IGN); "],
    ids=["from-a-terminal", "started-in-the-background-by-a-script"],
)
def test_serve_prints_the_url_and_stops_on_ctrl_c(tmp_path: Path, prelude: str) -> None:
    """Also when the UI inherited SIGINT ignored, as a script's background job does (`cmd &`
    in a non-interactive shell): it says "Ctrl+C to stop", so Ctrl+C must stop it."""
    log_run(tmp_path, "p", "r", steps=3)
    code = (
        f"import signal, sys; {prelude}"
        "from webui.standalone import serve; serve(sys.argv[1], port=0)"
    )
    errors = (tmp_path / "stderr.txt").open("w")
    proc = subprocess.Popen(
        [PYTHON, "-c", code, str(tmp_path)],
        env=child_env(PYTHONFAULTHANDLER="1"),  # SIGABRT dumps every thread's stack
        cwd=str(REPO),
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
    )
    try:
        line = _first_line(proc, START_S)
        assert f"localtrack UI for {tmp_path} at http://127.0.0.1:" in line
        url = line.split(" at ", 1)[1].split()[0]
        with urllib.request.urlopen(url + "healthz", timeout=REQUEST_S) as response:
            assert response.status == 200
        with urllib.request.urlopen(url + "projects/p", timeout=REQUEST_S) as response:
            assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)  # where it hangs, for the failure message
            proc.wait(timeout=STOP_S)
            stacks = (tmp_path / "stderr.txt").read_text()[-6000:]
            raise AssertionError(
                f"the UI did not exit within {STOP_S} s of SIGINT; its threads:\n{stacks}"
            ) from None
        assert code == 0
    finally:
        errors.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


def test_healthz_answers_at_once_while_many_tabs_poll(tmp_path: Path) -> None:
    run_id = log_run(tmp_path, "p", "r", steps=200)
    stop = threading.Event()
    urls = [
        "/api/v1/projects",
        "/api/v1/projects/p/runs",
        f"/api/v1/series?runs={run_id}&key=train/loss",
    ]

    with live_server(tmp_path) as server:

        def tab(path: str) -> None:
            etag = None
            while not stop.is_set():
                request = urllib.request.Request(server.url + path)
                if etag:
                    request.add_header("If-None-Match", etag)
                try:
                    with urllib.request.urlopen(request, timeout=10) as response:
                        etag = response.headers.get("ETag")
                except urllib.error.HTTPError as exc:  # 304 arrives as an HTTPError
                    exc.close()

        tabs = [threading.Thread(target=tab, args=(urls[i % 3],)) for i in range(12)]
        for t in tabs:
            t.start()
        try:
            worst = 0.0
            for _ in range(10):
                start = time.perf_counter()
                with urllib.request.urlopen(server.url + "/healthz", timeout=10) as response:
                    assert response.status == 200
                worst = max(worst, time.perf_counter() - start)
            assert worst < 1.0, f"/healthz took {worst:.2f}s with 12 polling tabs"
        finally:
            stop.set()
            for t in tabs:
                t.join(timeout=10)
