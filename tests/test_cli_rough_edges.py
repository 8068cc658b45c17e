"""The command line's rough edges (issue 10): -h, port ranges, --open without a display, a
refused sync, sync --status with no server, export to a missing folder, the summary in `show`,
plurals, `show | head`, and `demo` twice."""

from __future__ import annotations

import socket
import subprocess
import sys
import webbrowser
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

import localtrack
from localtrack.cli.main import cli
from localtrack.cli.sync import standalone
from localtrack.errors import TransientSyncError
from localtrack.humanize import format_duration
from localtrack.store.reader import StoreReader
from localtrack.sync.remote import RetryPolicy, ServerUnreachableError, connect
from webui.server.app import create_server_app
from webui.standalone import open_browser_at

from .conftest import PYTHON, child_env
from .sync_fixtures import ThreadServer, log_runs


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))  # no `localtrack login` here
    return CliRunner()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadServer]:
    with ThreadServer(create_server_app(tmp_path / "server", watch=False)) as s:
        yield s


def _refused_url() -> str:
    """An http:// address on loopback where nothing listens (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _one_run(root: Path, project: str = "proj", config: dict[str, Any] | None = None) -> str:
    run = localtrack.init(project=project, name="only", dir=root, config=config or {"lr": 0.1})
    for i in range(5):
        run.log({"loss": 1.0 / (i + 1)})
    run.finish()
    return run.id


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _command_paths(command, (*prefix, name))


def test_h_is_help_on_the_group_and_every_command(runner: CliRunner) -> None:
    paths = [(), *_command_paths(cli)]
    assert ("keys", "create") in paths
    for path in paths:
        out = runner.invoke(cli, [*path, "-h"])
        assert out.exit_code == 0 and "Usage:" in out.output, (path, out.output)
    assert runner.invoke(standalone, ["sync", "-h"]).exit_code == 0


@pytest.mark.parametrize("command", ["ui", "server"])
@pytest.mark.parametrize("port", ["99999", "65536", "-1"])
def test_a_port_out_of_range_is_refused_not_wrapped(
    runner: CliRunner, command: str, port: str
) -> None:
    out = runner.invoke(cli, [command, "--port", port])
    assert out.exit_code == 2 and "--port" in out.output and "65535" in out.output, out.output


def test_ui_open_without_a_display_says_to_open_the_url_by_hand(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("webui.standalone.serve", lambda root, **kw: calls.append(kw))
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    out = runner.invoke(cli, ["ui", "--open", "--dir", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert "no display" in out.output and "by hand" in out.output
    assert calls[0]["open_browser"] is False


def test_ui_open_says_so_when_no_browser_opens(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(webbrowser, "open", lambda url: False)
    assert open_browser_at("http://127.0.0.1:8080/") is False
    err = capsys.readouterr().err
    assert "http://127.0.0.1:8080/ by hand" in err and err.count("\n") == 1


def test_a_refused_connection_fails_at_once_without_retrying() -> None:
    sleeps: list[float] = []
    remote = connect(
        _refused_url(), None, retry=RetryPolicy(sleep=sleeps.append, fail_fast_unreachable=True)
    )
    try:
        with pytest.raises(ServerUnreachableError, match="connection refused"):
            remote.info()
    finally:
        remote.transport.close()
    assert sleeps == [] and remote.stats.requests == 1


def test_a_refused_connection_after_first_contact_is_retried(tmp_path: Path) -> None:
    sleeps: list[float] = []
    with ThreadServer(create_server_app(tmp_path / "server", watch=False)) as server:
        remote = connect(server.url, None, retry=RetryPolicy(attempts=3, sleep=sleeps.append))
        remote.info()
        remote.transport.close()  # no kept-alive connection: the next request dials again
    try:  # the server has gone away mid-session: worth retrying
        with pytest.raises(TransientSyncError) as caught:
            remote.info()
    finally:
        remote.transport.close()
    assert not isinstance(caught.value, ServerUnreachableError) and len(sleeps) == 2


def test_sync_to_a_refused_server_prints_one_line_and_exits_1(root: Path) -> None:
    log_runs(root, n=3, steps=20, shards=1)
    out = subprocess.run(
        [
            PYTHON,
            "-m",
            "localtrack.cli",
            "sync",
            "--all",
            "--dir",
            str(root),
            "--to",
            _refused_url(),
        ],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = (out.stdout + out.stderr).strip().splitlines()
    assert out.returncode == 1 and len(lines) == 1, lines
    assert "cannot reach the server" in lines[0] and "connection refused" in lines[0]


def test_sync_status_works_with_no_server_configured(
    runner: CliRunner, root: Path, server: ThreadServer
) -> None:
    [run_id] = log_runs(root, n=1, steps=20, shards=1)
    out = runner.invoke(standalone, ["sync", "--status", "--dir", str(root)])
    assert out.exit_code == 0, out.output
    assert "no server configured" in out.output and run_id in out.output and "never" in out.output
    sent = runner.invoke(standalone, ["sync", "--all", "--dir", str(root), "--to", server.url])
    assert sent.exit_code == 0, sent.output
    out = runner.invoke(standalone, ["sync", "--status", "--dir", str(root)])
    assert out.exit_code == 0 and "synced" in out.output, out.output


def test_export_to_a_missing_folder_names_the_folder(
    runner: CliRunner, root: Path, tmp_path: Path
) -> None:
    _one_run(root)
    missing = tmp_path / "no" / "such"
    out = runner.invoke(
        cli, ["export", "--all", "--dir", str(root), "-o", str(missing / "x.ltbundle")]
    )
    assert out.exit_code == 2 and str(missing) in out.output, out.output
    assert "partial" not in out.output and "tmp" not in out.output.replace(str(tmp_path), "")


def test_show_prints_the_summary_and_the_shared_duration(runner: CliRunner, root: Path) -> None:
    run_id = _one_run(root)
    out = runner.invoke(cli, ["show", run_id, "--dir", str(root)])
    assert out.exit_code == 0, out.output
    assert "summary:" in out.output
    summary = out.output.split("summary:")[1].split("metrics")[0]
    assert "loss" in summary and "0.2" in summary
    info = StoreReader(root).run(run_id)
    assert f"ran {format_duration(info.duration)} on" in out.output


def test_counts_of_one_are_singular(runner: CliRunner, root: Path, server: ThreadServer) -> None:
    run_id = _one_run(root)
    assert "indexed 1 run\n" in runner.invoke(cli, ["reindex", "--dir", str(root)]).output
    doctor = runner.invoke(cli, ["doctor", "--dir", str(root)]).output
    assert "checked 1 run and the index: 0 problems" in doctor, doctor
    sync = runner.invoke(cli, ["sync", run_id, "--dir", str(root), "--to", server.url]).output
    assert "1 run → " in sync and "1 runs" not in sync, sync


def test_show_piped_into_head_prints_no_broken_pipe(root: Path) -> None:
    # a config far bigger than a pipe's buffer, so `show` is still writing when head leaves
    run_id = _one_run(root, config={f"key{i:05d}": "x" * 100 for i in range(3000)})
    cmd = f"{PYTHON} -m localtrack.cli show {run_id} --dir {root} | head -n 2"
    out = subprocess.run(
        ["bash", "-c", cmd], env=child_env(), capture_output=True, text=True, timeout=120
    )
    assert len(out.stdout.splitlines()) == 2
    assert "Broken pipe" not in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert out.stderr == ""


def test_demo_twice_writes_nothing_unless_again(runner: CliRunner, root: Path) -> None:
    from localtrack.cli.demo import PROJECT

    _one_run(root, project=PROJECT)
    out = runner.invoke(cli, ["demo", "--dir", str(root)])
    # exit 0: the README's `localtrack demo && localtrack ui --open` must still open the UI
    assert out.exit_code == 0 and "--again" in out.output and PROJECT in out.output, out.output
    assert "wrote nothing" in out.output
    assert len(list((root / "runs").iterdir())) == 1
