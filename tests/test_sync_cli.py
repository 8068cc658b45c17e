"""The sync commands' command line: help with examples, summaries, exit codes, clean errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from localtrack.cli.sync import COMMANDS, standalone
from webui.server.app import create_server_app

from .backend_fixtures import ServerBackend
from .sync_fixtures import ThreadServer, log_runs


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return CliRunner()


@pytest.fixture
def server(tmp_path: Path, server_backend: ServerBackend) -> Iterator[ThreadServer]:
    """A server in a thread of this process, on each backend."""
    with ThreadServer(create_server_app(tmp_path / "server", watch=False)) as s:
        yield s


def test_every_sync_command_has_help_with_an_example(runner: CliRunner) -> None:
    names = []
    for command in COMMANDS:
        names.append(command.name)
        assert "Example:" in runner.invoke(standalone, [command.name, "--help"]).output
    for sub in ("create", "list", "revoke"):
        assert "Example:" in runner.invoke(standalone, ["keys", sub, "--help"]).output
    assert sorted(names) == ["export", "import", "keys", "login", "server", "sync"]


def test_sync_summarises_names_failed_runs_and_exits_1(
    runner: CliRunner, root: Path, server: ThreadServer
) -> None:
    good, bad = log_runs(root, n=2)
    (root / "runs" / bad / "run.json").write_text("{")
    out = runner.invoke(standalone, ["sync", "--all", "--dir", str(root), "--to", server.url])
    assert out.exit_code == 1
    assert "2 runs → " in out.output and "1 failed, 1 sent" in out.output
    assert f"{bad}: FAILED" in out.output and "Traceback" not in out.output
    out = runner.invoke(
        standalone, ["sync", good, "--dir", str(root), "--to", server.url, "--json"]
    )
    assert out.exit_code == 0 and json.loads(out.output)["runs"][0]["outcome"] == "current"


def test_dry_run_and_status_say_what_is_pending(
    runner: CliRunner, root: Path, server: ThreadServer
) -> None:
    [run_id] = log_runs(root, n=1)
    out = runner.invoke(
        standalone, ["sync", "--all", "--dir", str(root), "--to", server.url, "--dry-run"]
    )
    assert out.exit_code == 0 and f"{run_id}: would send 5 blobs" in out.output
    out = runner.invoke(standalone, ["sync", "--status", "--dir", str(root), "--to", server.url])
    assert "never" in out.output and "5 files" in out.output
    runner.invoke(standalone, ["sync", "--all", "--dir", str(root), "--to", server.url])
    out = runner.invoke(
        standalone, ["sync", "--status", "--dir", str(root), "--to", server.url, "--json"]
    )
    assert json.loads(out.output)["runs"][0]["status"] == "synced"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sync", "--to", "http://127.0.0.1:9"], "name the runs"),
        (["sync", "--all"], "no server to sync to"),
        (["sync", "--all", "--to", "ftp://x"], "not an http"),
        (["sync", "nosuchrun", "--to", "http://127.0.0.1:9"], "matches no run"),
    ],
)
def test_mistakes_are_one_clean_line(
    runner: CliRunner, root: Path, args: list[str], message: str
) -> None:
    log_runs(root, n=1, steps=10)
    out = runner.invoke(standalone, [*args, "--dir", str(root)])
    assert out.exit_code in (1, 2) and message in out.output and "Traceback" not in out.output
