"""Saved workspace views travel with their project: ``localtrack sync`` puts them on a real
server, a bundle carries them into another store, the receiving side checks them with the
schema (a bad one is refused naming the field), and the newer copy wins. Also: the central
server's view routes need the session's CSRF token when called on a browser session. The
server-side tests run on both server backends (``server_backend``: on ``pg+s3`` the server's
views are rows of PostgreSQL, read here through ``workspaces.open_views`` with its URL)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from localtrack.apikeys import KeyStore
from localtrack.errors import BundleError
from localtrack.store import workspaces
from localtrack.sync.bundle import export_bundle, import_bundle
from localtrack.sync.bundle_format import FORMAT, MAGIC, VERSION, FrameWriter
from webui.server import sessions
from webui.server.app import create_server_app

from .backend_fixtures import ServerBackend, committed_runs
from .sync_fixtures import ServerProcess, env_without_home, get_json, log_runs, run_cli

STATE = {"smoothing": "ema", "amount": 0.8, "pinned": ["k1"], "panels": [], "runs": "all"}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_view_saved_locally_is_on_the_server_after_localtrack_sync(
    tmp_path: Path, server_backend: ServerBackend
) -> None:
    local = tmp_path / "laptop"
    ids = log_runs(local, n=1, steps=20, project="vis")
    workspaces.save_view(local, "vis", "losses", STATE)
    workspaces.set_default(local, "vis", "losses")
    workspaces.save_view(local, "elsewhere", "not-carried", STATE)  # no synced run there
    root = tmp_path / "server"
    keys = KeyStore(root)
    write = keys.create("ci", "write", "vis").token
    read = keys.create("viewer", "read").token
    proc = ServerProcess(root).start()
    try:
        env = dict(env_without_home(tmp_path), LOCALTRACK_API_KEY=write)
        out = run_cli("sync", "--all", "--dir", str(local), "--to", proc.url, "--json", env=env)
        assert out.returncode == 0, out.stdout + out.stderr
        assert committed_runs(server_backend, root) == {ids[0]}
        served = workspaces.open_views(root, server_backend.index_url)
        status, view = get_json(f"{proc.url}/api/v1/projects/vis/views/losses", _bearer(read))
        assert status == 200, view
        assert view["state"]["smoothing"] == "ema" and view["state"]["pinned"] == ["k1"]
        assert view["updated_at"] == workspaces.read_view(local, "vis", "losses")["updated_at"]
        status, listed = get_json(f"{proc.url}/api/v1/projects/vis/views", _bearer(read))
        assert listed["default"] == "losses" and [v["name"] for v in listed["views"]] == ["losses"]
        assert not served.list_views("elsewhere")
        # a copy changed on the server afterwards is newer: a later sync leaves it alone
        served.save_view("vis", "losses", dict(STATE, smoothing="gaussian"))
        out = run_cli("sync", "--all", "--dir", str(local), "--to", proc.url, "--json", env=env)
        assert out.returncode == 0, out.stdout + out.stderr
        _, view = get_json(f"{proc.url}/api/v1/projects/vis/views/losses", _bearer(read))
        assert view["state"]["smoothing"] == "gaussian"
    finally:
        proc.stop()


def test_export_and_import_carry_the_views_of_the_exported_projects(tmp_path: Path) -> None:
    local, other = tmp_path / "a", tmp_path / "b"
    ids = log_runs(local, n=1, steps=20, project="vis")
    saved = workspaces.save_view(local, "vis", "losses", STATE)
    workspaces.set_default(local, "vis", "losses")
    bundle = tmp_path / "out.ltb"
    report = export_bundle(local, ids, bundle)
    assert report.views == ["vis/losses"]
    imported = import_bundle(bundle, other)
    assert imported.views == ["vis/losses"] and not imported.failed
    assert workspaces.read_view(other, "vis", "losses") == saved
    assert workspaces.default_view(other, "vis") == "losses"
    # importing an older copy over a newer one keeps the newer
    workspaces.save_view(other, "vis", "losses", dict(STATE, smoothing="running"))
    import_bundle(bundle, other)
    assert workspaces.read_view(other, "vis", "losses")["state"]["smoothing"] == "running"


def _bundle_with(path: Path, frame: dict[str, Any]) -> Path:
    with open(path, "wb") as f:
        w = FrameWriter(f)
        w.write(MAGIC)
        header = {"format": FORMAT, "version": VERSION, "created_at": time.time()}
        w.frame(b"H", json.dumps(header).encode())
        w.frame(b"W", json.dumps(frame).encode())
        w.end()
    return path


def test_a_bundled_view_that_breaks_the_schema_is_refused_naming_the_field(
    tmp_path: Path,
) -> None:
    good = {"version": 1, "name": "v", "updated_at": 1.0, "state": {"smoothing": "ema"}}
    bad = {"project": "vis", "view": dict(good, state={"smoothing": "wiggly"}), "default": False}
    ok = {"project": "vis", "view": good, "default": False}
    import_bundle(_bundle_with(tmp_path / "ok.ltb", ok), tmp_path / "store")
    assert workspaces.read_view(tmp_path / "store", "vis", "v")["state"] == good["state"]
    with pytest.raises(BundleError, match="smoothing"):
        import_bundle(_bundle_with(tmp_path / "bad.ltb", bad), tmp_path / "other")
    assert not workspaces.list_views(tmp_path / "other", "vis")


def _login(client: Any, token: str) -> None:
    page = client.get("/login?next=/")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert csrf is not None
    reply = client.post("/login", data={"api_key": token, "csrf_token": csrf.group(1)})
    assert reply.status_code == 303


def test_view_writes_on_a_browser_session_need_its_csrf_token(
    tmp_path: Path, server_backend: ServerBackend
) -> None:
    root = tmp_path / "server"
    log_runs(root, n=1, steps=5, project="vis")
    server_backend.adopt(root)
    served = workspaces.open_views(root, server_backend.index_url)
    token = KeyStore(root).create("alice", "write", "vis").token
    app = create_server_app(root, watch=False)
    try:
        client = app.test_client()
        _login(client, token)
        url = "/api/v1/projects/vis/views/mine"
        assert client.put(url, json={"state": STATE}).status_code == 403
        assert not served.list_views("vis")
        cfg = app.extensions["localtrack_auth"]
        session = cfg.sessions.read(client.get_cookie(sessions.SESSION_COOKIE).value)
        csrf = {"X-CSRF-Token": cfg.sessions.csrf_token(session)}
        page = client.get("/projects/vis/workspace").get_data(as_text=True)
        assert f'data-csrf="{csrf["X-CSRF-Token"]}"' in page  # what the page script sends
        reply = client.put(url, json={"state": STATE, "default": True}, headers=csrf)
        assert reply.status_code == 200, reply.json
        assert client.get(url).json["state"]["smoothing"] == "ema"
        refused = client.delete(url)
        assert refused.status_code == 403 and refused.json["error"]["code"] == "csrf"
        assert client.delete(url, headers=csrf).status_code == 200
        assert not served.list_views("vis")
    finally:
        app.extensions["localtrack"].close()
        app.extensions["localtrack_ingest"].close()
