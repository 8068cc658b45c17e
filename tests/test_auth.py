"""Who may reach a real `localtrack server` process: revoked keys and loopback, a same-host
reverse proxy, namespace scopes when syncing, one 404 for missing and hidden runs, and names
no filesystem can hold. On both server backends (``server_backend``; runs written into the
server's directory are moved onto ``pg+s3`` with ``server migrate``, ``ServerBackend.adopt``)."""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from localtrack.apikeys import KeyStore
from webui.server.app import create_server_app

from .backend_fixtures import ServerBackend, committed_runs
from .sync_fixtures import (
    FaultPlan,
    FaultProxy,
    ServerProcess,
    env_without_home,
    log_runs,
    run_cli,
)

pytestmark = pytest.mark.server


def fetch(
    port: int, path: str, token: str | None = None, method: str = "GET", body: bytes = b""
) -> tuple[int, bytes]:
    """One request to 127.0.0.1:`port`; (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        conn.request(method, path, body=body or None, headers=headers)
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()


def log_entity_run(root: Path, entity: str | None, project: str) -> str:
    import localtrack

    settings = localtrack.Settings(console=False, system_metrics=False, capture_packages=False)
    run = localtrack.init(project=project, entity=entity, dir=root, settings=settings)
    run.log({"loss": 1.0})
    run.finish()
    return run.id


@pytest.fixture
def fresh(tmp_path: Path, server_backend: ServerBackend) -> Iterator[dict[str, Any]]:
    """A real server with one admin key and runs of project alpha, on each backend."""
    root = tmp_path / "server"
    ids = log_runs(root, n=1, steps=20, project="alpha")
    server_backend.adopt(root)
    keys = KeyStore(root)
    admin = keys.create("root", "admin")
    proc = ServerProcess(root).start()
    try:
        yield {
            "proc": proc,
            "root": root,
            "keys": keys,
            "admin": admin,
            "ids": ids,
            "tmp": tmp_path,
        }
    finally:
        proc.stop()


def test_revoking_every_key_does_not_open_the_server_to_loopback(fresh: dict[str, Any]) -> None:
    port = fresh["proc"].port
    assert fetch(port, "/api/v1/projects")[0] == 401
    fresh["keys"].revoke(fresh["admin"].key.id, force=True)
    assert fresh["keys"].active_count() == 0
    for path in ("/api/v1/projects", f"/api/v1/runs/{fresh['ids'][0]}"):
        status, body = fetch(port, path)
        assert status == 401, (path, status, body[:200])
    status, _ = fetch(port, "/api/v1/sync/negotiate", method="POST", body=b'{"manifests":[]}')
    assert status == 401
    assert fetch(port, "/api/v1/projects", fresh["admin"].token)[0] == 401


def test_a_same_host_proxy_without_forwarded_headers_gains_nothing(fresh: dict[str, Any]) -> None:
    # A reverse proxy on the server's machine: every request arrives from 127.0.0.1, with a
    # loopback Host, and this one sends no X-Forwarded-For.
    proxy = FaultProxy(fresh["proc"].port, FaultPlan()).start()
    try:
        assert fetch(proxy.port, "/api/v1/projects")[0] == 401
        assert fetch(proxy.port, "/api/v1/projects", fresh["admin"].token)[0] == 200
        fresh["keys"].revoke(fresh["admin"].key.id, force=True)
        status, body = fetch(proxy.port, "/api/v1/projects")
        assert status == 401, body[:200]
        assert fetch(proxy.port, "/", None)[0] == 303  # to the login page, not the runs
    finally:
        proxy.close()


def test_a_key_for_entity_and_project_syncs_its_own_runs_only(
    tmp_path: Path, server_backend: ServerBackend
) -> None:
    client = tmp_path / "client"
    own = log_entity_run(client, "team-a", "mnist")
    root = tmp_path / "server"
    keys = KeyStore(root)
    admin = keys.create("root", "admin").token
    team = keys.create("ci", "write", "team-a/mnist").token
    bare = keys.create("ci2", "write", "mnist").token
    proc = ServerProcess(root).start()
    try:
        env = dict(env_without_home(tmp_path), LOCALTRACK_API_KEY=team)
        out = run_cli("sync", own, "--dir", str(client), "--to", proc.url, "--json", env=env)
        assert out.returncode == 0, out.stdout + out.stderr
        assert committed_runs(server_backend, root) == {own}
        # A key for the entity-less project "mnist" may not write team-a's (or anyone's) mnist.
        other = log_entity_run(client, "victim", "mnist")
        env = dict(env, LOCALTRACK_API_KEY=bare)
        out = run_cli("sync", other, "--dir", str(client), "--to", proc.url, "--json", env=env)
        assert out.returncode != 0 and committed_runs(server_backend, root) == {own}
        assert "forbidden" in out.stdout + out.stderr
        status, _ = fetch(proc.port, f"/api/v1/runs/{own}", keys.create("r", "read", "mnist").token)
        assert status == 404
        assert fetch(proc.port, f"/api/v1/runs/{own}", admin)[0] == 200
    finally:
        proc.stop()


def _shape(body: bytes, name: str) -> bytes:
    return body.replace(name.encode(), b"NAME")


def test_a_run_outside_the_scope_answers_exactly_like_a_missing_run(
    tmp_path: Path, server_backend: ServerBackend
) -> None:
    root = tmp_path / "server"
    [alpha] = log_runs(root, n=1, steps=20, project="alpha")
    [beta] = log_runs(root, n=1, steps=20, project="beta")
    server_backend.adopt(root)
    keys = KeyStore(root)
    admin = keys.create("root", "admin").token
    scoped = keys.create("alice", "read", "alpha").token
    proc = ServerProcess(root).start()
    missing = "zz" + beta[2:]
    try:
        for template in ("/api/v1/runs/{}", "/runs/{}", "/api/v1/runs/{}/console"):
            hidden = fetch(proc.port, template.format(beta), scoped)
            absent = fetch(proc.port, template.format(missing), scoped)
            assert hidden[0] == absent[0] == 404, template
            assert _shape(hidden[1], beta) == _shape(absent[1], missing), template
        for template in ("/api/v1/projects/{}/runs", "/projects/{}"):
            hidden = fetch(proc.port, template.format("beta"), scoped)
            absent = fetch(proc.port, template.format("gamma"), scoped)
            assert hidden[0] == absent[0] == 404
            assert _shape(hidden[1], "beta") == _shape(absent[1], "gamma")
        # Nobody, not even an admin, is told where the store lives.
        for path in (f"/api/v1/runs/{missing}", "/api/v1/projects/gamma/runs", "/projects/gamma"):
            for token in (admin, scoped):
                status, body = fetch(proc.port, path, token)
                assert status == 404 and str(root).encode() not in body, (path, body[:200])
        status, body = fetch(proc.port, f"/api/v1/runs/{alpha}", scoped)
        assert status == 200
    finally:
        proc.stop()


def _route_urls(root: Path, values: dict[str, str], long: str) -> list[tuple[str, str]]:
    """Every (method, url) of the server's routes, once per argument set to `long`."""
    app = create_server_app(root, watch=False)
    try:
        rules = list(app.url_map.iter_rules())
    finally:
        app.extensions["localtrack"].close()
        app.extensions["localtrack_ingest"].close()
    out = []
    for rule in rules:
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for arg in rule.arguments:
                url = rule.rule
                for name in rule.arguments:
                    value = quote(long if name == arg else values.get(name, "x"), safe="/")
                    url = re.sub(r"<(?:[^:<>]+:)?" + name + ">", value, url)
                out.append((method, url))
            out.append((method, rule.rule.split("<")[0] + f"?runs={quote(long)}&key=k0"))
    return out


def test_names_too_long_for_any_file_answer_400_or_404_on_every_route(
    tmp_path: Path, server_backend: ServerBackend
) -> None:
    root = tmp_path / "server"
    [run_id] = log_runs(root, n=1, steps=20, project="alpha")
    server_backend.adopt(root)
    keys = KeyStore(root)
    tokens = [keys.create("root", "admin").token, keys.create("a", "write", "alpha").token]
    values = {"run_id": run_id, "project": "alpha", "name": "output.log", "sha256": "0" * 64}
    proc = ServerProcess(root).start()
    try:
        for long in ("a" * 5000, "é" * 3000):
            for method, url in _route_urls(root, values, long):
                for token in tokens:
                    status, body = fetch(proc.port, url, token, method, b"{}")
                    assert status < 500, (method, url[:80], status, body[:200])
                    assert str(root).encode() not in body
        assert "Traceback" not in proc.output()
    finally:
        proc.stop()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/runs/RUN%0A",
        "/api/v1/runs/RUN%0A/history",
        "/runs/RUN%0A",
        "/api/v1/runs/RUN/files/output.log%0A",
        "/api/v1/projects/alpha%0A/runs",
    ],
)
def test_names_with_a_trailing_newline_are_refused(tmp_path: Path, path: str) -> None:
    from webui import create_app

    root = tmp_path / "store"
    [run_id] = log_runs(root, n=1, steps=5, project="alpha")
    (root / "runs" / run_id / "files").mkdir(exist_ok=True)
    (root / "runs" / run_id / "files" / "output.log").write_text("hello\n")
    app = create_app(root, watch=False)
    try:
        reply = app.test_client().get(path.replace("RUN", run_id))
        assert reply.status_code == 404, (path, reply.status_code)
        if path.startswith("/api/"):
            assert json.loads(reply.data)["error"]["code"] == "not_found"
    finally:
        app.extensions["localtrack"].close()
