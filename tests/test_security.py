"""The server's security rules, each a test: deny by default, roles and project scopes, revoked
keys, path traversal, size and rate limits, Host allowlist, headers, CSRF and sessions. The
access checks (roles, scopes, revocation, rate limits, sessions, namespaces) run on both server
backends (``server_both``, ``server_backend``); the rest are about the HTTP layer and the files
of one directory, the same code on either."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localtrack.apikeys import KeyStore
from localtrack.store.root import StoreRoot
from localtrack.sync import protocol
from localtrack.sync.manifest_builder import ManifestBuilder
from localtrack.sync.state import RunSyncState
from webui.server import access, policies, sessions
from webui.server.app import create_server_app

from .backend_fixtures import ServerBackend, committed_runs
from .sync_fixtures import ServerProcess, log_runs

SECRET = "TOPSECRET-5f1e"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A server store with runs in projects alpha and beta and five keys, made once."""
    root = tmp_path_factory.mktemp("template") / "server"
    alpha = log_runs(root, n=2, steps=30, project="alpha")
    beta = log_runs(root, n=1, steps=30, project="beta")
    keys = KeyStore(root)
    tokens = {
        "admin": keys.create("root", "admin").token,
        "write": keys.create("ci", "write").token,
        "read": keys.create("viewer", "read").token,
        "read_alpha": keys.create("alice", "read", "alpha").token,
        "write_alpha": keys.create("alice-ci", "write", "alpha").token,
    }
    return {"root": root, "alpha": alpha, "beta": beta, "tokens": tokens}


def _open_server(
    template: dict[str, Any], tmp_path: Path, backend: ServerBackend
) -> Iterator[dict[str, Any]]:
    root = tmp_path / "server"
    shutil.copytree(template["root"], root)
    backend.adopt(root)
    (tmp_path / "secret.txt").write_text(SECRET)
    app = create_server_app(root, watch=False)
    yield dict(template, app=app, root=root, keys=KeyStore(root), tmp=tmp_path, backend=backend)
    app.extensions["localtrack"].close()
    app.extensions["localtrack_ingest"].close()


@pytest.fixture
def server(template: dict[str, Any], tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A fresh copy of the template store (tests may change it), a secret beside it, the app."""
    yield from _open_server(template, tmp_path, ServerBackend("dir"))


@pytest.fixture
def server_both(
    template: dict[str, Any], tmp_path: Path, server_backend: ServerBackend
) -> Iterator[dict[str, Any]]:
    """``server`` on each server backend (``pg+s3``: the copy moved onto PostgreSQL and a
    bucket with ``server migrate``), for the access checks whose code paths differ there."""
    yield from _open_server(template, tmp_path, server_backend)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _sample_url(rule: Any, server: dict[str, Any]) -> str:
    values = {
        "project": "alpha",
        "run_id": server["alpha"][0],
        "sha256": "0" * 64,
        "filename": "css/app.css",
    }
    url = rule.rule
    for arg in rule.arguments:
        url = re.sub(r"<(?:[^:<>]+:)?" + arg + ">", values.get(arg, "x"), url)
    return url


def _routes(app: Any) -> list[tuple[str, str, Any]]:
    out = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, method, rule))
    return out


def test_every_route_has_an_access_policy(server: dict[str, Any]) -> None:
    missing = {e for e, _, _ in _routes(server["app"]) if e not in policies.POLICIES}
    assert missing == set(), f"routes without a policy in webui/policies.py POLICIES: {missing}"


def test_a_route_added_without_a_policy_is_closed(server: dict[str, Any]) -> None:
    app = server["app"]
    app.add_url_rule("/api/v1/oops", "oops", lambda: "secret data")
    reply = app.test_client().get("/api/v1/oops", headers=_bearer(server["tokens"]["admin"]))
    assert reply.status_code == 403 and b"secret data" not in reply.data


@pytest.mark.parametrize("who", ["anonymous", "read", "write", "admin"])
def test_deny_by_default_every_route_by_role(server_both: dict[str, Any], who: str) -> None:
    server = server_both
    client = server["app"].test_client()
    headers = {} if who == "anonymous" else _bearer(server["tokens"][who])
    for endpoint, method, rule in _routes(server["app"]):
        policy = policies.POLICIES[endpoint]
        reply = client.open(_sample_url(rule, server), method=method, headers=headers, data=b"{}")
        reply.close()
        needed = policy.role
        if needed == "public":
            assert reply.status_code != 401, (endpoint, method)
            if reply.status_code == 403:  # only the login form's own CSRF check may say 403
                assert endpoint == "auth.login", (endpoint, method)
        elif who == "anonymous":
            assert reply.status_code in (303, 401), (endpoint, method, reply.status_code)
            if reply.status_code == 303:
                assert reply.headers["Location"].startswith("/login?next=")
        elif access.Principal("x", "x", who, None, "bearer").has_role(needed):
            assert reply.status_code not in (401, 403), (endpoint, method, reply.status_code)
        else:
            assert reply.status_code == 403, (endpoint, method, reply.status_code)


def _manifest_for(
    server: dict[str, Any], client_root: Path, run_id: str
) -> tuple[protocol.Manifest, dict[str, bytes]]:
    builder = ManifestBuilder(StoreRoot(client_root, index_url=""))  # the client's own index
    local = builder.build(run_id, RunSyncState(None))
    builder.close()
    blobs = {}
    for ref in local.manifest.files:
        with local.open_file(ref.name) as f:
            blobs[ref.sha256] = f.read()
    return local.manifest, blobs


def _push(client: Any, token: str, manifest: protocol.Manifest, blobs: dict[str, bytes]) -> Any:
    for sha, data in blobs.items():
        assert (
            client.put(f"/api/v1/blobs/{sha}", data=data, headers=_bearer(token)).status_code == 201
        )
    return client.post(
        "/api/v1/sync/commit", json=protocol.commit_request(manifest), headers=_bearer(token)
    )


def test_a_read_key_cannot_write_anything(server_both: dict[str, Any]) -> None:
    server = server_both
    client = server["app"].test_client()
    token = server["tokens"]["read"]
    for method, path in (
        ("PUT", "/api/v1/blobs/" + "0" * 64),
        ("POST", "/api/v1/sync/negotiate"),
        ("POST", "/api/v1/sync/commit"),
    ):
        reply = client.open(path, method=method, headers=_bearer(token), data=b"x")
        assert reply.status_code == 403 and reply.json["error"]["code"] == "forbidden"
    assert server["backend"].blob_names(server["root"]) == set()


def test_a_project_scoped_key_sees_and_writes_only_its_project(
    server_both: dict[str, Any], tmp_path: Path
) -> None:
    server = server_both
    client = server["app"].test_client()
    read = _bearer(server["tokens"]["read_alpha"])
    alpha, beta = server["alpha"][0], server["beta"][0]
    assert client.get(f"/api/v1/runs/{alpha}", headers=read).status_code == 200
    assert client.get("/api/v1/projects/alpha/runs", headers=read).status_code == 200
    for path in (
        f"/api/v1/runs/{beta}",
        f"/runs/{beta}",
        f"/api/v1/runs/{beta}/history",
        "/api/v1/projects/beta/runs",
        "/projects/beta",
        f"/api/v1/series?runs={alpha},{beta}&key=k0",
        f"/api/v1/export?runs={beta}&key=k0",
        f"/api/v1/projects/alpha/compare?runs={alpha},{beta}",
    ):
        reply = client.get(path, headers=read)
        assert reply.status_code == 404, (path, reply.status_code)
        assert beta.encode() not in reply.data or b"no run" in reply.data
    listing = client.get("/api/v1/projects", headers=read)
    assert listing.status_code == 200
    assert [p["name"] for p in listing.json["projects"]] == ["alpha"]  # beta is not even named
    assert listing.json["root"] == ""  # a server never tells its directory
    page = client.get("/", headers=read)
    assert page.status_code == 200 and b"alpha" in page.data and b"beta" not in page.data
    assert str(server["root"]).encode() not in page.data
    # Writing: a beta run is refused at negotiate and at commit, whatever the manifest claims.
    write = server["tokens"]["write_alpha"]
    other = tmp_path / "client"
    [run_id] = log_runs(other, n=1, steps=20, project="beta")
    manifest, blobs = _manifest_for(server, other, run_id)
    reply = client.post(
        "/api/v1/sync/negotiate",
        json=protocol.negotiate_request([manifest]),
        headers=_bearer(write),
    )
    assert reply.json["runs"][0]["code"] == "forbidden"
    lying = protocol.Manifest(manifest.run, "alpha", None)  # claims alpha; its run.json says beta
    reply = _push(client, write, lying, blobs)
    assert reply.status_code == 403
    assert run_id not in committed_runs(server["backend"], server["root"])


def test_a_scoped_writer_cannot_overwrite_another_projects_run(
    server_both: dict[str, Any], tmp_path: Path
) -> None:
    server = server_both
    client = server["app"].test_client()
    other = tmp_path / "client"
    [run_id] = log_runs(other, n=1, steps=20, project="beta")
    manifest, blobs = _manifest_for(server, other, run_id)
    assert _push(client, server["tokens"]["write"], manifest, blobs).status_code == 200
    meta_path = other / "runs" / run_id / "run.json"
    meta = json.loads(meta_path.read_text())
    meta["project"] = "alpha"  # a scoped writer "moves" the run into its project
    meta_path.write_text(json.dumps(meta))
    manifest, blobs = _manifest_for(server, other, run_id)
    reply = _push(client, server["tokens"]["write_alpha"], manifest, blobs)
    assert reply.status_code == 403
    served = server["app"].extensions["localtrack"].reader.store.run(run_id)
    assert json.loads(served.run_json.read_text())["project"] == "beta"


def test_a_revoked_key_fails_on_the_next_request(server_both: dict[str, Any]) -> None:
    server = server_both
    client = server["app"].test_client()
    token = server["tokens"]["read"]
    assert client.get("/api/v1/projects", headers=_bearer(token)).status_code == 200
    server["keys"].revoke(token.split("_")[1])
    reply = client.get("/api/v1/projects", headers=_bearer(token))
    assert reply.status_code == 401 and reply.headers["WWW-Authenticate"].startswith("Bearer")


def test_keys_are_stored_hashed_in_a_private_file(server: dict[str, Any]) -> None:
    path = server["root"] / "server" / "keys.json"
    text = path.read_text()
    for token in server["tokens"].values():
        assert token.split("_", 2)[2] not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert server["keys"].authenticate(server["tokens"]["admin"][:-1] + "x") is None
    assert server["keys"].authenticate("lt_000000000000_" + "a" * 43) is None


TRAVERSALS = [
    "/runs/..%2F..%2Fsecret.txt",
    "/runs/%2e%2e%2f%2e%2e%2fsecret.txt",
    "/api/v1/runs/..%2F..%2F..%2Fsecret.txt",
    "/api/v1/runs/%2e%2e/history",
    "/api/v1/runs/%00/history",
    "/api/v1/runs/..%00/history",
    "/api/v1/runs/%2Fetc%2Fpasswd",
    "/api/v1/runs/abc%2F..%2F..%2F..%2Fsecret.txt/history",
    "/projects/..%2F..%2Fsecret.txt",
    "/api/v1/projects/..%2F..%2F/runs",
    "/static/..%2F..%2F..%2Fsecret.txt",
    "/static/%2e%2e/%2e%2e/localtrack/keys.py",
    "/static//etc/passwd",
    "/api/v1/series?runs=..%2F..%2Fsecret.txt&key=k0",
    "/api/v1/series?runs=/etc/passwd&key=k0",
    "/api/v1/export?runs=..%2F..&key=k0",
    "/api/v1/blobs/..%2F..%2Fsecret.txt",
    "/api/v1/runs/RUN/files/..%2F..%2F..%2F..%2Fsecret.txt",
    "/api/v1/runs/RUN/files/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.txt",
    "/api/v1/runs/RUN/files//etc/passwd",
    "/api/v1/runs/RUN/files/..",
    "/api/v1/runs/RUN/files/%00",
    "/api/v1/runs/RUN/files/link.txt",
    "/api/v1/runs/RUN/files/linkdir/secret.txt",
    "/api/v1/runs/RUN/files/sub/..%2F..%2F..%2F..%2F..%2Fsecret.txt",
    "/api/v1/runs/RUN/files/sub/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.txt",
    "/api/v1/runs/RUN/files/sub/.hidden",
    "/api/v1/runs/RUN/files/sub//etc/passwd",
    "/api/v1/runs/RUN/files/sub%5C..%5C..%5Csecret.txt",
    "/api/v1/runs/RUN/media/..%2F..%2F..%2F..%2Fsecret.txt",
    "/api/v1/runs/RUN/media/%2Fetc%2Fpasswd",
    "/api/v1/runs/RUN/media/" + "0" * 64 + ".png",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_never_returns_a_byte_from_outside(
    server: dict[str, Any], path: str
) -> None:
    run_dir = server["root"] / "runs" / server["alpha"][0]
    (run_dir / "files").mkdir(exist_ok=True)
    (run_dir / "files" / "link.txt").symlink_to(server["tmp"] / "secret.txt")  # planted
    (run_dir / "files" / "linkdir").symlink_to(server["tmp"], target_is_directory=True)
    (run_dir / "files" / "sub").mkdir(exist_ok=True)
    (run_dir / "files" / "sub" / ".hidden").write_text(SECRET)
    blobs = run_dir / "media" / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    (blobs / ("0" * 64 + ".png")).symlink_to(server["tmp"] / "secret.txt")
    client = server["app"].test_client()
    reply = client.get(
        path.replace("RUN", server["alpha"][0]), headers=_bearer(server["tokens"]["admin"])
    )
    data = reply.get_data()
    reply.close()
    assert reply.status_code in (308, 400, 404, 405), (path, reply.status_code)
    assert SECRET.encode() not in data and b"root:x:0" not in data


@pytest.mark.parametrize(
    "name", ["../../secret.txt", "..%2F..%2Fsecret.txt", "%00", "a" * 63, "A" * 64]
)
def test_blob_names_must_be_a_sha256(server: dict[str, Any], name: str) -> None:
    client = server["app"].test_client()
    reply = client.put(
        f"/api/v1/blobs/{name}", data=b"x", headers=_bearer(server["tokens"]["write"])
    )
    assert reply.status_code in (400, 404)
    assert [p for p in server["tmp"].rglob("*") if p.is_file() and p.read_bytes() == b"x"] == []


def test_a_symlink_planted_in_the_store_is_neither_read_nor_written_through(
    server: dict[str, Any], tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    client_root = tmp_path / "client"
    [run_id] = log_runs(client_root, n=1, steps=20, project="alpha")
    (server["root"] / "runs" / run_id).symlink_to(outside, target_is_directory=True)
    manifest, blobs = _manifest_for(server, client_root, run_id)
    reply = _push(server["app"].test_client(), server["tokens"]["write"], manifest, blobs)
    assert reply.status_code >= 400 and os.listdir(outside) == []
    # A run directory that is a link to somewhere else is not served either.
    victim = tmp_path / "victim-run"
    shutil.copytree(server["root"] / "runs" / server["alpha"][1], victim)
    (victim / "files").mkdir(exist_ok=True)
    (victim / "files" / "output.log").write_text(SECRET)
    (server["root"] / "runs" / "planted").symlink_to(victim, target_is_directory=True)
    client = server["app"].test_client()
    for path in ("/api/v1/runs/planted", "/runs/planted", "/api/v1/runs/planted/history"):
        reply = client.get(path, headers=_bearer(server["tokens"]["admin"]))
        assert reply.status_code == 404, (path, reply.status_code)


def test_oversized_blobs_are_refused_with_413(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_server_app(tmp_path / "s", watch=False, max_blob_bytes=1000)
    data = b"y" * 1001
    reply = app.test_client().put(f"/api/v1/blobs/{hashlib.sha256(data).hexdigest()}", data=data)
    assert reply.status_code == 413 and reply.json["error"]["code"] == "too_large"
    assert os.listdir(tmp_path / "s" / "ingest" / "blobs") == []
    app.extensions["localtrack"].close()


@pytest.mark.server
def test_chunked_uploads_are_size_limited_by_counting_bytes(tmp_path: Path) -> None:
    proc = ServerProcess(tmp_path / "s", env={"LOCALTRACK_MAX_BLOB_BYTES": "100000"}).start()
    try:
        data = b"z" * 300_000
        conn = http.client.HTTPConnection("127.0.0.1", proc.port, timeout=30)
        conn.request(
            "PUT",
            f"/api/v1/blobs/{hashlib.sha256(data).hexdigest()}",
            body=(data[i : i + 8192] for i in range(0, len(data), 8192)),
            encode_chunked=True,
        )
        reply = conn.getresponse()
        body = reply.read()
        assert reply.status == 413, body
        assert os.listdir(tmp_path / "s" / "ingest" / "blobs") == []
        assert os.listdir(tmp_path / "s" / "ingest" / "tmp") == []
        conn.close()
    finally:
        proc.stop()


def test_rate_limits_answer_429_with_retry_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server_backend: ServerBackend
) -> None:
    """Per key, in process memory (dir) or in PostgreSQL rows (pg+s3), where a second app on
    the same database (a replica) finds the bucket the first one emptied."""
    monkeypatch.setenv("LOCALTRACK_RATE_LIMIT", "0.5")
    monkeypatch.setenv("LOCALTRACK_RATE_BURST", "3")
    root = tmp_path / "s"
    token = KeyStore(root).create("u", "read").token
    app = create_server_app(root, watch=False)
    client = app.test_client()
    codes = [client.get("/api/v1/projects", headers=_bearer(token)).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    reply = client.get("/api/v1/projects", headers=_bearer(token))
    assert reply.json["error"]["code"] == "rate_limited" and int(reply.headers["Retry-After"]) >= 1
    other = KeyStore(root).create("v", "read").token  # per key: another key is not limited
    assert client.get("/api/v1/projects", headers=_bearer(other)).status_code == 200
    if server_backend.shared:
        replica = create_server_app(root, watch=False)
        assert (
            replica.test_client().get("/api/v1/projects", headers=_bearer(token)).status_code == 429
        )
        replica.extensions["localtrack"].close()
    app.extensions["localtrack"].close()


def test_failed_logins_are_rate_limited(server_both: dict[str, Any]) -> None:
    client = server_both["app"].test_client()
    codes = {
        client.get("/api/v1/projects", headers=_bearer(f"lt_{i:012x}_{'b' * 43}")).status_code
        for i in range(30)
    }
    assert codes == {401, 429}


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("127.0.0.1", 200),
        ("localhost:8080", 200),
        ("[::1]:9", 200),
        ("evil.example", 400),
        ("127.0.0.1.evil.example", 400),
    ],
)
def test_only_allowed_host_names_are_answered(tmp_path: Path, host: str, status: int) -> None:
    app = create_server_app(tmp_path / "s", watch=False)
    reply = app.test_client().get("/healthz", headers={"Host": host})
    assert reply.status_code == status
    app.extensions["localtrack"].close()


def test_more_host_names_can_be_allowed(tmp_path: Path) -> None:
    app = create_server_app(tmp_path / "s", watch=False, allowed_hosts="tracker.example.org")
    assert (
        app.test_client().get("/healthz", headers={"Host": "tracker.example.org"}).status_code
        == 200
    )
    app.extensions["localtrack"].close()


def test_security_headers_on_every_response_and_no_wildcard_cors(server: dict[str, Any]) -> None:
    client = server["app"].test_client()
    origin = {"Origin": "http://evil.example"}
    replies = [
        client.get("/healthz", headers=origin),
        client.get("/api/v1/projects", headers=origin),  # 401
        client.get("/", headers=origin),  # 303 to /login
        client.get("/login", headers=origin),
        client.get("/api/v1/nope", headers={**origin, **_bearer(server["tokens"]["read"])}),
        client.put(
            "/api/v1/blobs/" + "0" * 64, headers={**origin, **_bearer(server["tokens"]["read"])}
        ),
        client.get("/healthz", headers={**origin, "Host": "evil.example"}),
        client.options(
            "/api/v1/sync/commit", headers={**origin, "Access-Control-Request-Method": "POST"}
        ),
    ]
    for reply in replies:
        assert reply.headers["Content-Security-Policy"].startswith("default-src 'self'"), (
            reply.status
        )
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        assert reply.headers["X-Frame-Options"] == "DENY"
        assert "Access-Control-Allow-Origin" not in reply.headers


def _login(client: Any, token: str, next_url: str = "/") -> Any:
    page = client.get(f"/login?next={next_url}")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    return client.post("/login", data={"api_key": token, "csrf_token": csrf, "next": next_url})


def test_login_sets_a_strict_httponly_session_and_refuses_bad_keys(server: dict[str, Any]) -> None:
    client = server["app"].test_client()
    assert _login(client, "lt_000000000000_" + "c" * 43).status_code == 401
    reply = _login(client, server["tokens"]["read"], "/projects/alpha")
    assert reply.status_code == 303 and reply.headers["Location"] == "/projects/alpha"
    cookie = next(
        c for c in reply.headers.getlist("Set-Cookie") if c.startswith(sessions.SESSION_COOKIE)
    )
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert client.get("/api/v1/projects").status_code == 200
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example"])
def test_login_never_redirects_off_site(server: dict[str, Any], target: str) -> None:
    reply = _login(server["app"].test_client(), server["tokens"]["read"], target)
    assert reply.status_code == 303 and reply.headers["Location"] == "/"


def test_login_form_needs_its_csrf_token(server: dict[str, Any]) -> None:
    client = server["app"].test_client()
    client.get("/login")
    reply = client.post("/login", data={"api_key": server["tokens"]["read"], "csrf_token": "guess"})
    assert reply.status_code == 403


def test_state_changing_requests_on_a_session_need_the_csrf_token(server: dict[str, Any]) -> None:
    client = server["app"].test_client()
    _login(client, server["tokens"]["write"])
    body = protocol.negotiate_request([])
    reply = client.post("/api/v1/sync/negotiate", json=body)
    assert reply.status_code == 403 and reply.json["error"]["code"] == "csrf"
    cfg = server["app"].extensions["localtrack_auth"]
    session = cfg.sessions.read(client.get_cookie(sessions.SESSION_COOKIE).value)
    token = cfg.sessions.csrf_token(session)
    reply = client.post("/api/v1/sync/negotiate", json=body, headers={"X-CSRF-Token": token})
    assert reply.status_code == 200
    assert client.post("/logout").status_code == 403
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303


def test_a_tampered_session_cookie_is_ignored(server_both: dict[str, Any]) -> None:
    server = server_both
    client = server["app"].test_client()
    _login(client, server["tokens"]["read"])
    value = client.get_cookie(sessions.SESSION_COOKIE).value
    _, mac = value.split(".")
    forged = sessions._b64(json.dumps({"k": "someoneelse", "e": 9e12, "n": "x"}).encode())
    client.set_cookie(sessions.SESSION_COOKIE, f"{forged}.{mac}")
    assert client.get("/api/v1/projects").status_code == 401


def test_without_keys_only_loopback_clients_are_answered(tmp_path: Path) -> None:
    app = create_server_app(tmp_path / "s", watch=False)
    client = app.test_client()
    assert (
        client.get("/api/v1/projects", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
    )
    reply = client.get("/api/v1/projects", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert reply.status_code == 403 and "keys create" in reply.json["error"]["message"]
    # A reverse proxy on the same machine makes everyone look like loopback: not trusted.
    for headers in ({"X-Forwarded-For": "203.0.113.9"}, {"Forwarded": "for=203.0.113.9"}):
        reply = client.get(
            "/api/v1/projects", headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"}
        )
        assert reply.status_code == 403
    app.extensions["localtrack"].close()


def test_entity_namespaces_keep_same_named_projects_apart(
    tmp_path: Path, server_backend: ServerBackend
) -> None:
    import localtrack

    root = tmp_path / "ns-server"
    settings = localtrack.Settings(console=False, system_metrics=False, capture_packages=False)
    ids = {}
    for entity in ("team-a", "team-b"):
        run = localtrack.init(project="mnist", entity=entity, dir=root, settings=settings)
        run.log({"loss": 1.0})
        run.finish()
        ids[entity] = run.id
    server_backend.adopt(root)
    app = create_server_app(root, watch=False)
    try:
        store_keys = KeyStore(root)
        admin = _bearer(store_keys.create("root", "admin").token)
        team_a = _bearer(store_keys.create("alice", "read", "team-a/mnist").token)
        client = app.test_client()
        names = [p["name"] for p in client.get("/api/v1/projects", headers=admin).json["projects"]]
        assert names == ["team-a/mnist", "team-b/mnist"]
        page = client.get("/projects/team-a/mnist", headers=admin)
        assert page.status_code == 200
        listing = client.get("/api/v1/projects", headers=team_a).json["projects"]
        assert [p["name"] for p in listing] == ["team-a/mnist"]
        assert client.get(f"/api/v1/runs/{ids['team-a']}", headers=team_a).status_code == 200
        assert client.get(f"/api/v1/runs/{ids['team-b']}", headers=team_a).status_code == 404
        assert client.get("/api/v1/projects/team-b/mnist/runs", headers=team_a).status_code == 404
    finally:
        app.extensions["localtrack"].close()
        app.extensions["localtrack_ingest"].close()
