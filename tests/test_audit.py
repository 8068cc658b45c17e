"""The central server's audit log: what gets recorded (keys, syncs, imports, edits, deletions,
alias moves, logins), by whom, from where; who may read it (admins: a page and its JSON twin,
and ``localtrack server audit``); and that nothing can edit or delete an entry.

One real waitress server on 127.0.0.1 (``ThreadServer``) is driven through every recorded action
once (module fixture); the tests then read what it recorded. On both server backends
(``module_server_backend``): with the log in the store directory (SQLite), and with the server
on a real PostgreSQL index and a bucket (``--index … --blobs …``), the log in PostgreSQL.
"""

from __future__ import annotations

import getpass
import http.client
import json
import os
import re
import sqlite3
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import localtrack
from localtrack.cli.main import cli
from localtrack.sync.bundle import export_bundle
from localtrack.sync.client import SyncClient
from localtrack.sync.remote import Remote, RetryPolicy
from localtrack.sync.transport import HTTPTransport
from webui.server.app import create_server_app

from .backend_fixtures import ServerBackend
from .sync_fixtures import ThreadServer, log_runs

pytestmark = pytest.mark.server


def _cli(*args: str) -> Any:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result


def _request(
    url: str, method: str = "GET", token: str | None = None, body: Any = None, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = body
    if isinstance(body, dict):
        data = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    try:
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), data, headers)
        reply = conn.getresponse()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()
    finally:
        conn.close()


def _login(base: str, key: str) -> int:
    """Sign in through the /login form as a browser does; the reply's status."""
    status, headers, page = _request(base + "/login")
    assert status == 200
    cookie = headers["set-cookie"].split(";", 1)[0]
    csrf = re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()  # type: ignore[union-attr]
    form = urllib.parse.urlencode({"csrf_token": csrf, "next": "/", "api_key": key}).encode()
    status, _, _ = _request(
        base + "/login",
        "POST",
        body=form,
        Cookie=cookie,
        **{"Content-Type": "application/x-www-form-urlencoded"},
    )
    return status


def _sync(client: Path, url: str, token: str) -> None:
    transport = HTTPTransport(url, timeout=30)
    remote = Remote(transport, api_key=token, retry=RetryPolicy(attempts=3, base_s=0.01, cap_s=0.1))
    try:
        report = SyncClient.for_store(client, remote).sync(sorted(os.listdir(client / "runs")))
        assert not report.failed, [r.message for r in report.failed]
    finally:
        transport.close()


@pytest.fixture(scope="module")
def served(
    module_server_backend: ServerBackend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Every audited action done once against a real server: keys made and one revoked on the
    CLI, a sync (a run and an artifact whose alias moves), a run edited and one deleted, a
    bundle imported, a good and a bad sign-in, a bad bearer key. On ``pg+s3`` the server and the
    commands have the backend's variables (LOCALTRACK_INDEX_URL, as `--index` sets it, and
    LOCALTRACK_BLOBS) while the actions are done; the tests then read the log with that URL
    given explicitly."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LOCALTRACK_INDEX_URL", "")
        for key, value in module_server_backend.env.items():
            env.setenv(key, value)
        yield from _serve(
            tmp_path_factory.mktemp("audit"),
            module_server_backend.index_url,
        )


def _serve(tmp: Path, index_url: str) -> Iterator[dict[str, Any]]:
    root, client = tmp / "server", tmp / "cluster"
    root.mkdir()
    tokens = {
        role: _cli("keys", "create", "--user", user, "--role", role, "--dir", str(root))
        .stdout.strip()
        .splitlines()[0]
        for user, role in (("root", "admin"), ("ci", "write"), ("viewer", "read"))
    }
    _cli("keys", "revoke", tokens["read"][3:15], "--dir", str(root))
    tokens["read"] = _cli(
        "keys", "create", "--user", "viewer", "--role", "read", "--dir", str(root)
    ).stdout.splitlines()[0]
    ids = log_runs(client, n=2, steps=20)
    with localtrack.init(project="p", dir=client) as run:
        for text in ("one", "two"):  # 'raw' goes to v0, then moves to v1
            art = localtrack.Artifact("ds", "dataset")
            with art.new_file("a.txt") as f:
                f.write(text)
            run.log_artifact(art, aliases=["raw"])
        artifact_run = run.id
    bundle_src = tmp / "other"
    bundle_ids = log_runs(bundle_src, n=1, steps=10)
    export_bundle(bundle_src, bundle_ids, tmp / "more.ltbundle")

    app = create_server_app(root, watch=False)
    with ThreadServer(app) as srv:
        _sync(client, srv.url, tokens["write"])
        status, _, body = _request(
            f"{srv.url}/api/v1/runs/{ids[0]}", "PATCH", tokens["write"], {"notes": "checked"}
        )
        assert status == 200, body
        status, _, _ = _request(f"{srv.url}/api/v1/runs/{ids[1]}", "DELETE", tokens["admin"])
        assert status == 200
        assert _login(srv.url, "lt_000000000000_" + "x" * 43) == 401
        assert _login(srv.url, tokens["read"]) == 303
        assert _request(srv.url + "/api/v1/projects", token="not-a-key")[0] == 401
        _cli("import", str(tmp / "more.ltbundle"), "--dir", str(root))
        yield {
            "root": root,
            "url": srv.url,
            "tokens": tokens,
            "ids": ids,
            "bundle": bundle_ids,
            "artifact_run": artifact_run,
            "index_url": index_url,
        }
    app.extensions["localtrack_ingest"].close()


def _entries(served: dict[str, Any], query: str = "") -> dict[str, Any]:
    status, _, body = _request(
        served["url"] + "/api/v1/audit" + query, token=served["tokens"]["admin"]
    )
    assert status == 200, body
    return json.loads(body)


def test_every_action_is_recorded_with_user_key_time_and_source(served: dict[str, Any]) -> None:
    entries = _entries(served, "?limit=500")["entries"]
    by_action: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        by_action.setdefault(e["action"], []).append(e)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", e["time"])
    assert [e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)
    me = getpass.getuser()
    created = by_action["key.create"]
    assert len(created) == 4 and {e["source"] for e in created} == {"cli"}
    assert {e["user"] for e in created} == {me}
    assert {e["detail"]["for_user"] for e in created} == {"root", "ci", "viewer"}
    [revoked] = by_action["key.revoke"]
    assert revoked["key_id"] == revoked["target"] and revoked["detail"]["for_user"] == "viewer"

    write_key = served["tokens"]["write"][3:15]
    commits = by_action["sync.commit"]
    assert {e["target"] for e in commits} == {*served["ids"], served["artifact_run"]}
    assert {(e["user"], e["key_id"], e["source"]) for e in commits} == {
        ("ci", write_key, "127.0.0.1")
    }
    moves = by_action["artifact.alias"]
    assert [(e["target"], e["detail"]["from"], e["detail"]["to"]) for e in moves[::-1]] == [
        ("p/ds:raw", None, 0),
        ("p/ds:raw", 0, 1),
    ]
    [edit] = by_action["run.edit"]
    assert (edit["target"], edit["user"], edit["detail"]["fields"]) == (
        served["ids"][0],
        "ci",
        ["notes"],
    )
    [delete] = by_action["run.delete"]
    assert (delete["target"], delete["user"], delete["key_id"]) == (
        served["ids"][1],
        "root",
        served["tokens"]["admin"][3:15],
    )
    [imported] = by_action["bundle.import"]
    assert imported["source"] == "cli" and imported["target"].endswith("more.ltbundle")
    assert imported["detail"]["changed"] == served["bundle"]
    [ok] = by_action["login.ok"]
    assert (ok["user"], ok["key_id"], ok["source"]) == (
        "viewer",
        served["tokens"]["read"][3:15],
        "127.0.0.1",
    )
    failed = {e["detail"]["via"]: e for e in by_action["login.failed"]}
    assert failed["session"]["key_id"] == "000000000000"
    assert failed["session"]["detail"]["reason"] == "unknown key"
    assert failed["bearer"]["detail"]["reason"] == "malformed"


def test_filters_by_user_action_and_time_and_pages_back(served: dict[str, Any]) -> None:
    logins = _entries(served, "?action=login")["entries"]
    assert {e["action"] for e in logins} == {"login.ok", "login.failed"}
    assert {e["user"] for e in _entries(served, "?user=ci")["entries"]} == {"ci"}
    assert _entries(served, "?since=2999-01-01")["entries"] == []
    assert len(_entries(served, "?until=2999-01-01T00:00:00Z&limit=500")["entries"]) > 10

    everything = [e["id"] for e in _entries(served, "?limit=500")["entries"]]
    paged: list[int] = []
    page = _entries(served, "?limit=4")
    while True:
        paged += [e["id"] for e in page["entries"]]
        if page["next"] is None:
            break
        assert "limit=4" in page["next"]
        page = _entries(served, "?" + page["next"].split("?", 1)[1])
    assert paged == everything

    status, _, body = _request(
        served["url"] + "/api/v1/audit?since=yesterday", token=served["tokens"]["admin"]
    )
    assert (
        status == 400 and "since 'yesterday' is not a time" in json.loads(body)["error"]["message"]
    )


def test_only_admins_read_it_and_the_nav_links_it_for_them(served: dict[str, Any]) -> None:
    url, tokens = served["url"], served["tokens"]
    for role in ("read", "write"):
        for path in ("/api/v1/audit", "/admin/audit"):
            status, headers, body = _request(url + path, token=tokens[role])
            assert status == 403 and headers["content-type"] == "application/json"
            assert json.loads(body)["error"]["code"] == "forbidden"
        assert b"nav-audit" not in _request(url + "/", token=tokens[role])[2]
    status, _, page = _request(url + "/admin/audit?action=run", token=tokens["admin"])
    assert status == 200
    assert b'id="nav-audit" href="/admin/audit"' in page
    rows = re.findall(rb'<tr data-id="\d+" data-action="([a-z.]+)"', page)
    assert sorted(rows) == [b"run.delete", b"run.edit"]
    assert served["ids"][1].encode() in page


def test_no_api_or_database_statement_edits_or_deletes_an_entry(served: dict[str, Any]) -> None:
    for method in ("DELETE", "PUT", "PATCH", "POST"):
        status, _, _ = _request(
            served["url"] + "/api/v1/audit", method, served["tokens"]["admin"], {}
        )
        assert status == 405
    statements = ["UPDATE audit_log SET \"user\" = 'x'", "DELETE FROM audit_log"]
    if served["index_url"]:
        import psycopg

        assert not (served["root"] / "server" / "audit.db").exists()  # it is in PostgreSQL
        for statement in [*statements, "TRUNCATE audit_log"]:
            with (
                psycopg.connect(served["index_url"]) as conn,  # as the database's superuser
                pytest.raises(psycopg.errors.RaiseException, match="append-only"),
            ):
                conn.execute(statement)
    else:
        db = sqlite3.connect(served["root"] / "server" / "audit.db")
        try:
            for statement in statements:
                with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                    db.execute(statement)
        finally:
            db.close()
    assert len(_entries(served, "?limit=500")["entries"]) > 10


def test_cli_prints_the_log_filtered(
    served: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCALTRACK_INDEX_URL", "")  # only --index names the PostgreSQL index
    root = str(served["root"])
    where = ["--dir", root, *(["--index", served["index_url"]] if served["index_url"] else [])]
    keys = json.loads(_cli("server", "audit", *where, "--action", "key", "--json").stdout)
    assert [e["action"] for e in keys] == ["key.create", "key.revoke", *["key.create"] * 3]
    text = _cli("server", "audit", *where, "--user", "ci", "--limit", "1").stdout
    assert len(text.splitlines()) == 1 and " ci " in text and "127.0.0.1" in text
    bad = CliRunner().invoke(cli, ["server", "audit", "--dir", root, "--since", "soon"])
    assert bad.exit_code != 0 and "--since 'soon' is not a time" in bad.output
