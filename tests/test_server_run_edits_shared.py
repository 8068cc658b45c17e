"""Editing a run through a server (``PATCH /api/v1/runs/<id>``, ``ApiRun.update()``) on both
backends: a directory server, and shared-nothing replicas (``--index`` + ``--blobs``, different
``--dir``s, one throwaway PostgreSQL and moto's S3 server) where an edit through one replica is
read through the other. On both, an invalid edit is a 400 naming the field, and a later sync of
the run from its client follows one rule: a sync that leaves run.json as the client last sent it
keeps the edit; one whose run.json changed on the client replaces it with the client's.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import localtrack
from localtrack.apikeys import KeyStore
from localtrack.errors import StoreError
from localtrack.store.ingest.importer import Ingest
from localtrack.store.root import StoreRoot
from localtrack.store.runedit import edit_run

from .s3_fixtures import use_new_bucket
from .sync_fixtures import ServerProcess, env_without_home, log_runs, run_cli, wait_until
from .test_server_replicas import _key
from .test_server_shared_nothing import get_json
from .test_sync_importer import _manifest

pytestmark = pytest.mark.server


def _patch(url: str, run_id: str, body: dict[str, Any], token: str) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{url}/api/v1/runs/{run_id}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="PATCH",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read() or b"null")


def _seen(url: str, run_id: str, token: str) -> dict[str, Any]:
    """What a user of `url` sees of the run: through ``Api``, the run's JSON, the project's
    runs table filtered by tag and by config, and ``Api().runs`` searched by tag."""
    api = localtrack.Api(base_url=url, api_key=token)
    run = api.run(run_id)
    auth = {"Authorization": f"Bearer {token}"}
    code, body = get_json(f"{url}/api/v1/runs/{run_id}", auth)
    assert code == 200, body
    code, tagged = get_json(f"{url}/api/v1/projects/proj/runs?tag=edited", auth)
    assert code == 200, tagged
    code, by_lr = get_json(f"{url}/api/v1/projects/proj/runs?where=lr%20%3E%200.4", auth)
    assert code == 200, by_lr
    return {
        "tags": run.tags,
        "notes": run.notes,
        "lr": run.config.get("lr"),
        "final": run.summary.get("final"),
        "json": {k: body["run"].get(k) for k in ("tags", "notes")},
        "tagged": [r["id"] for r in tagged["rows"]],
        "by_lr": [r["id"] for r in by_lr["rows"]],
        "searched": [r.id for r in api.runs("proj", filters={"tags": "edited"})],
        "files": sorted(f.name for f in run.files()),
    }


def _edit_then_sync(edit_url: str, read_url: str, client: Path, run_id: str, keys: dict) -> None:
    """The same checks on either backend (`read_url`: another replica, or the same server)."""
    code, refused = _patch(edit_url, run_id, {"tags": ["ok", ""]}, keys["write"])
    assert code == 400 and "tags" in refused["error"]["message"], refused
    code, refused = _patch(edit_url, run_id, {"config": "lr=0.5"}, keys["write"])
    assert code == 400 and "config" in refused["error"]["message"], refused

    run = localtrack.Api(base_url=edit_url, api_key=keys["write"]).run(run_id)
    run.tags.append("edited")
    run.notes = "edited on the server"
    run.config["lr"] = 0.5
    run.summary["final"] = 1.5
    run.update()
    edited = {
        "tags": ["edited"],
        "notes": "edited on the server",
        "lr": 0.5,
        "final": 1.5,
        "json": {"tags": ["edited"], "notes": "edited on the server"},
        "tagged": [run_id],
        "by_lr": [run_id],
        "searched": [run_id],
    }

    def seen() -> dict[str, Any]:
        return {k: v for k, v in _seen(read_url, run_id, keys["read"]).items() if k != "files"}

    assert wait_until(lambda: seen() == edited), seen()

    env = dict(env_without_home(client.parent), LOCALTRACK_API_KEY=keys["write"])
    (client / "runs" / run_id / "files").mkdir(exist_ok=True)
    (client / "runs" / run_id / "files" / "extra.txt").write_text("more\n")
    synced = run_cli("sync", run_id, "--dir", str(client), "--to", edit_url, env=env)
    assert synced.returncode == 0 and "1 sent" in synced.stdout, synced.stdout + synced.stderr
    assert wait_until(lambda: "extra.txt" in _seen(read_url, run_id, keys["read"])["files"])
    assert seen() == edited  # run.json as the client last sent it: the edit stays

    run_json = client / "runs" / run_id / "run.json"
    meta = json.loads(run_json.read_text())
    meta["notes"] = "changed on the client"
    run_json.write_text(json.dumps(meta))
    synced = run_cli("sync", run_id, "--dir", str(client), "--to", edit_url, env=env)
    assert synced.returncode == 0 and "1 sent" in synced.stdout, synced.stdout + synced.stderr
    replaced = {
        "tags": [],
        "notes": "changed on the client",
        "lr": None,
        "final": None,
        "json": {"tags": [], "notes": "changed on the client"},
        "tagged": [],
        "by_lr": [],
        "searched": [],
    }
    assert wait_until(lambda: seen() == replaced), seen()


def test_an_edit_on_a_directory_server_and_the_next_syncs(tmp_path: Path) -> None:
    root, client = tmp_path / "server", tmp_path / "client"
    [run_id] = log_runs(client, n=1, steps=20, shards=1)
    root.mkdir()
    store = KeyStore(root)
    keys = {role: store.create(f"u-{role}", role).token for role in ("write", "read")}
    server = ServerProcess(root)
    try:
        server.start()
        env = dict(env_without_home(tmp_path), LOCALTRACK_API_KEY=keys["write"])
        synced = run_cli("sync", "--all", "--dir", str(client), "--to", server.url, env=env)
        assert synced.returncode == 0, synced.stderr
        _edit_then_sync(server.url, server.url, client, run_id, keys)
    finally:
        server.stop()


def test_an_edit_through_one_replica_is_read_through_the_other(
    tmp_path: Path, pg_url: str, bucket_env: dict[str, str]
) -> None:
    a_dir, b_dir, client = tmp_path / "a", tmp_path / "b", tmp_path / "client"
    [run_id] = log_runs(client, n=1, steps=20, shards=1)
    keys = {role: _key(a_dir, pg_url, f"u-{role}", role)["token"] for role in ("write", "read")}
    a = ServerProcess(a_dir, env=bucket_env, args=("--index", pg_url))
    b = ServerProcess(b_dir, env=bucket_env, args=("--index", pg_url))
    try:
        a.start()
        b.start()
        env = dict(env_without_home(tmp_path), LOCALTRACK_API_KEY=keys["write"])
        synced = run_cli("sync", "--all", "--dir", str(client), "--to", a.url, env=env)
        assert synced.returncode == 0, synced.stderr
        _edit_then_sync(a.url, b.url, client, run_id, keys)
        for root in (a_dir, b_dir):  # still no run directories: the edit is a blob and rows
            assert not any((root / "runs").glob("*/run.json"))
    finally:
        a.stop()
        b.stop()


def test_a_run_still_being_written_is_refused_as_on_a_directory(
    tmp_path: Path, pg_url: str, moto_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live run synced into the bucket has no writer lock on the server: its heartbeat says
    it is live, and the edit is refused with the directory backend's message."""
    client = tmp_path / "client"
    quiet = localtrack.Settings(system_metrics=False, console=False, save_code=False)
    live = localtrack.init(project="proj", dir=client, settings=quiet)
    try:
        live.log({"x": 1.0})
        live.flush()
        manifest, data = _manifest(client, live.id)
        blobs = use_new_bucket(monkeypatch, moto_port)
        area = Ingest(tmp_path / "a", blobs_url=blobs, index_url=pg_url).create()
        for sha, payload in data.items():
            area.receive(sha, [payload], 1 << 30)
        area.commit(manifest)
        shared = StoreRoot(area.paths.root)
        shared.remote = area.shared.remote  # type: ignore[union-attr]
        with pytest.raises(StoreError) as there:
            edit_run(shared, live.id, {"notes": "x"})
        with pytest.raises(StoreError) as here:
            edit_run(StoreRoot(client), live.id, {"notes": "x"})
        assert "still being written by a live process" in str(there.value)
        assert str(there.value) == str(here.value)
        assert json.loads(shared.run(live.id).run_json.read_text()).get("notes") is None
        area.close()
    finally:
        live.finish()
