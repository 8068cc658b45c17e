"""A real `localtrack server` process on 127.0.0.1: sync, login, import and keys, end to end."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from localtrack.apikeys import KeyStore
from localtrack.cli.sync import standalone

from .conftest import PYTHON, REPO, child_env
from .pg_fixtures import indexed_run_ids
from .sync_fixtures import (
    ServerProcess,
    env_without_home,
    get_json,
    log_runs,
    metric_rows,
    run_cli,
    store_files,
)

pytestmark = pytest.mark.server


BOTH_BACKENDS = pytest.mark.parametrize("live", ["directory", "postgresql"], indirect=True)


@pytest.fixture
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A server process on a new store: its index and keys in the store directory, or (with
    ``BOTH_BACKENDS``, for the sync, commit and query paths) in a fresh PostgreSQL database
    (``--index``; ``index_env`` gives other commands the same)."""
    server_root = tmp_path / "server"
    index_env: dict[str, str] = {}
    args: tuple[str, ...] = ()
    if getattr(request, "param", "directory") == "postgresql":
        url = request.getfixturevalue("pg_url")
        index_env, args = {"LOCALTRACK_INDEX_URL": url}, ("--index", url)
    keys = KeyStore(server_root, index_env.get("LOCALTRACK_INDEX_URL"))
    tokens = {
        "admin": keys.create("root", "admin").token,
        "write": keys.create("ci", "write").token,
    }
    proc = ServerProcess(server_root, args=args).start()
    try:
        yield {
            "proc": proc,
            "root": server_root,
            "tokens": tokens,
            "tmp": tmp_path,
            "index_env": index_env,
        }
    finally:
        proc.stop()
    if index_env:  # nothing fell back to an index.db in the directory
        assert not (server_root / "index.db").exists()
        assert not (server_root / "server" / "keys.json").exists()


def _files_state(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, _, names in os.walk(root / "runs"):
        for name in names:
            st = os.stat(os.path.join(dirpath, name))
            out[os.path.join(dirpath, name)] = (st.st_size, st.st_mtime_ns)
    return out


@BOTH_BACKENDS
def test_sync_to_a_real_server_then_a_second_sync_sends_nothing(live: dict[str, Any]) -> None:
    client = live["tmp"] / "cluster"
    ids = log_runs(client, n=3)
    env = dict(env_without_home(live["tmp"]), LOCALTRACK_API_KEY=live["tokens"]["write"])
    url = live["proc"].url
    first = run_cli("sync", "--all", "--dir", str(client), "--to", url, env=env)
    assert first.returncode == 0, first.stderr
    assert "3 sent" in first.stdout
    assert store_files(live["root"]) == store_files(client)
    for run_id in ids:
        assert metric_rows(live["root"], run_id) == metric_rows(client, run_id)
    before = _files_state(live["root"])
    second = run_cli("sync", "--all", "--dir", str(client), "--to", url, "--json", env=env)
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    assert report["blobs_sent"] == 0 and {r["outcome"] for r in report["runs"]} == {"current"}
    assert _files_state(live["root"]) == before
    status = run_cli("sync", "--status", "--dir", str(client), "--to", url, env=env)
    assert status.stdout.count("synced") == 3, status.stdout
    code, data = get_json(
        f"{url}/api/v1/projects/proj/runs", {"Authorization": f"Bearer {live['tokens']['admin']}"}
    )
    assert code == 200 and data["total"] == 3
    code, _ = get_json(f"{url}/api/v1/projects/proj/runs")
    assert code == 401
    if live["index_env"]:  # the commits were indexed in PostgreSQL
        assert indexed_run_ids(live["index_env"]["LOCALTRACK_INDEX_URL"]) == sorted(ids)


def test_login_checks_the_key_and_saves_it_privately_for_sync(live: dict[str, Any]) -> None:
    env = env_without_home(live["tmp"])
    url = live["proc"].url
    bad = run_cli("login", url, "--key", "lt_000000000000_" + "x" * 43, env=env)
    assert bad.returncode == 1 and "key" in bad.stderr
    config = live["tmp"] / "xdg" / "localtrack" / "config.json"
    assert not config.exists()
    good = run_cli("login", url, "--key", live["tokens"]["write"], env=env)
    assert good.returncode == 0, good.stderr
    assert "as ci (write)" in good.stdout
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert json.loads(config.read_text())["default"] == url
    client = live["tmp"] / "cluster"
    log_runs(client, n=1)
    synced = run_cli("sync", "--all", "--dir", str(client), env=env)  # URL and key from the login
    assert synced.returncode == 0 and "1 sent" in synced.stdout, synced.stderr


@BOTH_BACKENDS
def test_import_into_a_running_servers_directory(live: dict[str, Any]) -> None:
    client = live["tmp"] / "cluster"
    ids = log_runs(client, n=2)
    bundle = live["tmp"] / "carry.ltbundle"
    env = env_without_home(live["tmp"])
    exported = run_cli("export", "--all", "--dir", str(client), "-o", str(bundle), env=env)
    assert exported.returncode == 0, exported.stderr
    imported = run_cli(
        "import", str(bundle), "--dir", str(live["root"]), env=dict(env, **live["index_env"])
    )
    assert imported.returncode == 0 and "imported 2 of 2 runs" in imported.stdout, imported.stderr
    headers = {"Authorization": f"Bearer {live['tokens']['admin']}"}
    for run_id in ids:
        code, data = get_json(f"{live['proc'].url}/api/v1/runs/{run_id}", headers)
        assert code == 200 and data["run"]["id"] == run_id
    # The server now owns those runs like synced ones: a later sync finds them current.
    again = run_cli(
        "sync",
        "--all",
        "--dir",
        str(client),
        "--to",
        live["proc"].url,
        "--json",
        env=dict(env, LOCALTRACK_API_KEY=live["tokens"]["write"]),
    )
    assert json.loads(again.stdout)["blobs_sent"] == 0


def test_the_server_refuses_a_public_address_without_keys(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            PYTHON,
            "-m",
            "localtrack.cli",
            "server",
            "--dir",
            str(tmp_path / "s"),
            "--create",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
        ],
        env=child_env(),
        cwd=str(REPO),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "refusing to serve on 0.0.0.0 without API keys" in out.stderr
    assert "keys create" in out.stderr


def test_keys_commands_show_a_key_once_and_store_no_secret(tmp_path: Path) -> None:
    runner = CliRunner()
    root = str(tmp_path / "s")
    out = runner.invoke(
        standalone,
        ["keys", "create", "--user", "ann", "--role", "write", "--project", "mnist", "--dir", root],
    )
    assert out.exit_code == 0, out.output
    token = out.output.splitlines()[0]
    assert token.startswith("lt_")
    listing = runner.invoke(standalone, ["keys", "list", "--dir", root, "--json"])
    [key] = json.loads(listing.output)
    assert key["user"] == "ann" and key["project"] == "mnist" and key["active"]
    assert token.split("_", 2)[2] not in listing.output and "secret" not in listing.output
    out = runner.invoke(standalone, ["keys", "revoke", key["id"], "--dir", root])
    assert out.exit_code == 0 and KeyStore(root).authenticate(token) is None
    out = runner.invoke(
        standalone,
        ["keys", "create", "--user", "x", "--role", "admin", "--project", "p", "--dir", root],
    )
    assert out.exit_code == 1 and "admin keys cover every project" in out.output


def test_init_online_logs_locally_and_pushes_to_a_real_server(live: dict[str, Any]) -> None:
    import localtrack

    client = live["tmp"] / "online-client"
    settings = localtrack.Settings(
        base_url=live["proc"].url, api_key=live["tokens"]["write"], console=False
    )
    run = localtrack.init(project="online", dir=client, mode="online", settings=settings)
    for step in range(200):
        run.log({"loss": 1.0 / (step + 1)})
    run.finish()
    assert metric_rows(client, run.id)  # logged locally exactly as offline does
    assert metric_rows(live["root"], run.id) == metric_rows(client, run.id)
    headers = {"Authorization": f"Bearer {live['tokens']['admin']}"}
    code, data = get_json(f"{live['proc'].url}/api/v1/runs/{run.id}", headers)
    assert code == 200 and data["run"]["state"] == "finished"
