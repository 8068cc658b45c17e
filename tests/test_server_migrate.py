"""`localtrack server migrate`: a real server's store moved from its directory to PostgreSQL (and
its blobs into an S3-protocol object store), then back, answers every query the same way.

Real server processes on 127.0.0.1, a real throwaway PostgreSQL (tests/pg_fixtures.py) and moto's
S3 server on loopback (tests/s3_fixtures.py, a test double for MinIO/Ceph/AWS).
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from localtrack.apikeys import KeyStore
from localtrack.cli import cli

from .artifact_ui_fixtures import artifact_store
from .pg_fixtures import indexed_run_ids
from .s3_fixtures import TEST_CREDENTIALS, moto_server, use_new_bucket
from .sync_fixtures import ServerProcess, env_without_home, get_json, log_runs, run_cli

pytestmark = pytest.mark.server


_ARTIFACT_VIEWS = ("artifacts", "artifacts/ds/v0", "artifacts/ds/v0/lineage", "artifacts/net-registry/production")  # fmt: skip


def _answers(server: ServerProcess, token: str, ids: list[str]) -> dict[str, Any]:
    """What a user sees: the project's run table and each run, the artifacts of project p
    (collections, a version, its lineage, a registry link, a file), through the server's API."""
    headers = {"Authorization": f"Bearer {token}"}
    code, table = get_json(f"{server.url}/api/v1/projects/proj/runs", headers)
    assert code == 200, table
    runs = {}
    for run_id in ids:
        code, runs[run_id] = get_json(f"{server.url}/api/v1/runs/{run_id}", headers)
        assert code == 200, runs[run_id]
    artifacts = {}
    for view in _ARTIFACT_VIEWS:
        code, artifacts[view] = get_json(f"{server.url}/api/v1/projects/p/{view}", headers)
        assert code == 200, artifacts[view]
    file = f"{server.url}/api/v1/projects/p/artifacts/ds/v0/file?path=readme.txt"
    with urllib.request.urlopen(urllib.request.Request(file, headers=headers), timeout=60) as r:
        artifacts["readme.txt"] = r.read()
    return {"table": table, "runs": runs, "artifacts": artifacts}


def _migrate(*args: str) -> dict[str, Any]:
    out = CliRunner().invoke(cli, ["server", "migrate", *args, "--json"])
    assert out.exit_code == 0, out.output
    return json.loads(out.output)


def test_a_store_moves_to_postgresql_and_s3_and_back_with_the_same_answers(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, client = tmp_path / "server", tmp_path / "cluster"
    keys = KeyStore(root)
    admin, writer = keys.create("root", "admin").token, keys.create("ci", "write").token
    server = ServerProcess(root).start()
    try:
        ids = log_runs(client, n=2, steps=80)
        chain = list(artifact_store(client, tmp_path / "data").values())  # 3 runs, 3 collections
        env = dict(env_without_home(tmp_path), LOCALTRACK_API_KEY=writer)
        synced = run_cli("sync", "--all", "--dir", str(client), "--to", server.url, env=env)
        assert synced.returncode == 0, synced.stderr
        before = _answers(server, admin, ids)
        status = run_cli("sync", "--status", "--dir", str(client), "--to", server.url, env=env)
    finally:
        server.stop()

    with moto_server() as port:
        blobs = use_new_bucket(monkeypatch, port)
        first = _migrate("--from", str(root), "--to", pg_url, "--blobs", blobs)
        assert (first["runs_indexed"], first["keys_changed"]) == (5, 2)
        assert (first["artifacts_moved"], first["collections"]) == (3, 3)
        assert first["blobs_copied"] > 0 and not first["problems"]
        again = _migrate("--from", str(root), "--to", pg_url, "--blobs", blobs)
        assert (again["runs_indexed"], again["runs_current"], again["keys_changed"]) == (0, 5, 0)
        references = first["blobs_copied"] + first["blobs_present"]  # runs may share a blob
        assert again["blobs_copied"] == 0 and again["blobs_present"] == references
        check = CliRunner().invoke(cli, ["server", "check", "--dir", str(root), "--blobs", blobs])
        assert check.exit_code == 0 and check.output.startswith("OK"), check.output
        monkeypatch.setenv("LOCALTRACK_INDEX_URL", pg_url)  # as --index would (and undone)
        check = CliRunner().invoke(cli, ["server", "check", "--dir", str(root), "--blobs", blobs])
        monkeypatch.delenv("LOCALTRACK_INDEX_URL")
        assert check.exit_code == 0 and "and 3 artifact versions" in check.output, check.output
        assert indexed_run_ids(pg_url) == sorted(ids + chain)

        # the directory's own index, keys and artifacts are gone: the server now answers from
        # PostgreSQL, and (with --blobs too) reads the runs and artifacts from the bucket
        (root / "index.db").unlink()
        (root / "server" / "keys.json").unlink()
        shutil.rmtree(root / "artifacts")
        server.args = ("--index", pg_url)
        server.env = dict(TEST_CREDENTIALS, LOCALTRACK_S3_ENDPOINT=f"http://127.0.0.1:{port}")
        server.env["LOCALTRACK_BLOBS"] = blobs
        server.start()
        try:
            assert _answers(server, admin, ids) == before
            read = {p.parent.name for p in (root / "readcache").glob("views/*/*/run.json")}
            assert read >= set(ids)  # (and the artifacts' producers, for their names)
            assert list((root / "readcache").glob("views/*/artifact-blob/files/*"))
            again = run_cli("sync", "--status", "--dir", str(client), "--to", server.url, env=env)
            assert again.stdout == status.stdout
        finally:
            server.stop()
        server.env = {}

        # back, with --blobs: the artifacts come home from PostgreSQL and the bucket
        back = _migrate("--from", pg_url, "--to", str(root), "--blobs", blobs)
    assert (back["runs_indexed"], back["keys_changed"], back["artifacts_moved"]) == (5, 2, 3)
    assert (root / "index.db").exists() and (root / "server" / "keys.json").exists()
    server.args = ()
    server.start()
    try:
        assert _answers(server, admin, ids) == before
    finally:
        server.stop()
