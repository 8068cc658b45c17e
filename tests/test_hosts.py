"""The Host allowlist of a real `localtrack ui` process: a DNS-rebinding page (a foreign name
pointing at 127.0.0.1) reads nothing; loopback names and names the user adds work."""

from __future__ import annotations

import http.client
import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from webui.hosts import allowed_hosts_for

from .conftest import PYTHON, REPO, child_env
from .webui_fixtures import log_run

pytestmark = pytest.mark.server


@contextmanager
def ui_process(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[tuple[int, str]]:
    """`localtrack ui --port 0 ARGS` for `root`; yields (port, its startup line)."""
    code = "from localtrack.cli import main; main()"
    proc = subprocess.Popen(
        [PYTHON, "-c", code, "ui", "--dir", str(root), "--port", "0", *args],
        env=child_env(**(env or {})),
        cwd=str(REPO),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert " at http://" in line, line
        port = int(line.split(" at ", 1)[1].split()[0].rstrip("/").rsplit(":", 1)[1])
        yield port, line
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        if proc.stdout:
            proc.stdout.close()


def fetch(port: int, path: str, host: str) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Host": host})
        reply = conn.getresponse()
        return reply.status, reply.getheader("Content-Type") or "", reply.read()
    finally:
        conn.close()


def test_the_ui_refuses_a_foreign_host_name_and_answers_loopback_ones(tmp_path: Path) -> None:
    run_id = log_run(tmp_path, "secret-project", "r", steps=3)
    with ui_process(tmp_path) as (port, line):
        assert "answers Host: 127.0.0.1, ::1, localhost" in line
        for path in ("/api/v1/projects", f"/api/v1/runs/{run_id}/console"):
            status, kind, body = fetch(port, path, f"evil.example:{port}")
            assert status == 400 and kind.startswith("application/json"), (path, status)
            assert json.loads(body)["error"]["code"] == "bad_host"
            assert b"secret-project" not in body
        status, kind, body = fetch(port, "/projects/secret-project", "evil.example")
        assert status == 400 and kind.startswith("text/html")
        assert b"Unknown host name" in body and b"secret-project" not in body
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "[::1]"):
            status, _, body = fetch(port, "/api/v1/projects", host)
            assert status == 200 and b"secret-project" in body, host


def test_binding_every_interface_adds_no_names_but_users_can(tmp_path: Path) -> None:
    log_run(tmp_path, "p", "r", steps=3)
    env = {"LOCALTRACK_ALLOWED_HOSTS": "box.lan"}
    args = ("--host", "0.0.0.0", "--allow-host", "tracker.example")
    with ui_process(tmp_path, *args, env=env) as (port, line):
        assert (
            "box.lan" in line
            and "tracker.example" in line
            and "0.0.0.0" not in line.split("Host:")[1]
        )
        for host, status in (
            ("tracker.example", 200),
            (f"box.lan:{port}", 200),
            (f"0.0.0.0:{port}", 400),
            ("evil.example", 400),
        ):
            assert fetch(port, "/api/v1/projects", host)[0] == status, host


@pytest.mark.parametrize(
    ("bound", "expected"),
    [
        ("127.0.0.1", {"127.0.0.1", "::1", "localhost"}),
        ("0.0.0.0", {"127.0.0.1", "::1", "localhost"}),
        ("::", {"127.0.0.1", "::1", "localhost"}),
        ("10.0.0.5", {"127.0.0.1", "::1", "localhost", "10.0.0.5"}),
        ("fe80::1", {"127.0.0.1", "::1", "localhost", "fe80::1"}),
    ],
)
def test_the_allowlist_holds_loopback_names_and_the_bound_address(
    bound: str, expected: set[str]
) -> None:
    assert allowed_hosts_for(bound) == expected
