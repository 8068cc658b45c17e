"""A real `localtrack server` process on 127.0.0.1: sync, login, import and keys, end to end."""

from __future__ import annotations

import json
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from localtrack.apikeys import KeyStore
from localtrack.cli.sync import standalone

from .backend_fixtures import ServerBackend
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


@pytest.fixture
def live(tmp_path: Path, server_backend: ServerBackend) -> Iterator[dict[str, Any]]:
    """A server process on a new store, on each backend (``server_backend``): its index, keys,
    blobs and runs in the store directory, or in a fresh PostgreSQL database and bucket
    (``--index … --blobs …``; ``backend.env`` gives other server-side commands the same)."""
    server_root = tmp_path / "server"
    keys = KeyStore(server_root, server_backend.index_url)
    tokens = {
        "admin": keys.create("root", "admin").token,
        "write": keys.create("ci", "write").token,
    }
    proc = ServerProcess(server_root, args=server_backend.server_args).start()
    try:
        yield {
            "proc": proc,
            "root": server_root,
            "tokens": tokens,
            "tmp": tmp_path,
            "backend": server_backend,
        }
    finally:
        proc.stop()
    if server_backend.shared:  # nothing fell back to the directory: no index, keys or runs
        assert not (server_root / "index.db").exists()
        assert not (server_root / "server" / "keys.json").exists()
        assert not any((server_root / "runs").glob("*/run.json"))


def test_sync_to_a_real_server_then_a_second_sync_sends_nothing(live: dict[str, Any]) -> None:
    client = live["tmp"] / "cluster"
    ids = log_runs(client, n=3)
    env = dict(env_without_home(live["tmp"]), LOCALTRACK_API_KEY=live["tokens"]["write"])
    url = live["proc"].url
    first = run_cli("sync", "--all", "--dir", str(client), "--to", url, env=env)
    assert first.returncode == 0, first.stderr
    assert "3 sent" in first.stdout
    backend: ServerBackend = live["backend"]
    with backend.reader(live["root"]) as server:
        assert store_files(server.store) == store_files(client)
        for run_id in ids:
            assert metric_rows(server, run_id) == metric_rows(client, run_id)
    before = backend.snapshot(live["root"])
    second = run_cli("sync", "--all", "--dir", str(client), "--to", url, "--json", env=env)
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    assert report["blobs_sent"] == 0 and {r["outcome"] for r in report["runs"]} == {"current"}
    assert backend.snapshot(live["root"]) == before
    status = run_cli("sync", "--status", "--dir", str(client), "--to", url, env=env)
    assert status.stdout.count("synced") == 3, status.stdout
    code, data = get_json(
        f"{url}/api/v1/projects/proj/runs", {"Authorization": f"Bearer {live['tokens']['admin']}"}
    )
    assert code == 200 and data["total"] == 3
    code, _ = get_json(f"{url}/api/v1/projects/proj/runs")
    assert code == 401
    if backend.shared:  # the commits were indexed in PostgreSQL
        assert indexed_run_ids(backend.index_url) == sorted(ids)


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


def test_import_into_a_running_servers_directory(live: dict[str, Any]) -> None:
    client = live["tmp"] / "cluster"
    ids = log_runs(client, n=2)
    bundle = live["tmp"] / "carry.ltbundle"
    env = env_without_home(live["tmp"])
    exported = run_cli("export", "--all", "--dir", str(client), "-o", str(bundle), env=env)
    assert exported.returncode == 0, exported.stderr
    imported = run_cli(
        "import", str(bundle), "--dir", str(live["root"]), env=dict(env, **live["backend"].env)
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


def test_the_server_refuses_a_public_address_without_keys(
    tmp_path: Path, server_backend: ServerBackend
) -> None:
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
            *server_backend.server_args,
        ],
        env=child_env(**server_backend.env),
        cwd=str(REPO),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "refusing to serve on 0.0.0.0 without API keys" in out.stderr
    assert "keys create" in out.stderr


def test_keys_commands_show_a_key_once_and_store_no_secret(
    tmp_path: Path, server_backend: ServerBackend
) -> None:
    """On ``pg+s3`` the keys are rows of PostgreSQL (``LOCALTRACK_INDEX_URL``), not a file."""
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
    assert (tmp_path / "s" / "server" / "keys.json").exists() != server_backend.shared


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
    with live["backend"].reader(live["root"]) as server:
        assert metric_rows(server, run.id) == metric_rows(client, run.id)
    headers = {"Authorization": f"Bearer {live['tokens']['admin']}"}
    code, data = get_json(f"{live['proc'].url}/api/v1/runs/{run.id}", headers)
    assert code == 200 and data["run"]["state"] == "finished"
