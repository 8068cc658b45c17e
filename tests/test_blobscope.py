"""Blob content is shared on disk, never across projects: a project-scoped key can neither ask
whether another project's blob exists nor commit it without sending the bytes itself. The server
tests run on both server backends (``server_backend``)."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from localtrack.apikeys import KeyStore
from localtrack.store.ingest.blobscope import NamespaceBlobs
from localtrack.store.ingest.manifest_types import FileRef, RunManifest
from localtrack.store.root import StoreRoot
from localtrack.sync import protocol
from localtrack.sync.manifest_builder import ManifestBuilder
from localtrack.sync.state import RunSyncState

from .backend_fixtures import ServerBackend, committed_runs
from .sync_fixtures import ServerProcess, log_runs

SECRET = b"alpha's private weights " * 40
SECRET_SHA = hashlib.sha256(SECRET).hexdigest()


def test_a_ledger_is_per_namespace_and_shared_between_processes(tmp_path: Path) -> None:
    one, other = NamespaceBlobs(tmp_path), NamespaceBlobs(tmp_path)  # two server processes
    a, b = "a" * 64, "b" * 64
    one.add(("team", "mnist"), [a, "not-a-hash"])
    assert other.holds(("team", "mnist"), a) and not other.holds(("team", "mnist"), b)
    assert not other.holds((None, "mnist"), a) and not other.holds(("mnist", "team"), a)
    other.add((None, "mnist"), [b])
    assert one.holds(("", "mnist"), b)  # an empty entity is no entity
    path = one.path(("team", "mnist"))
    with open(path, "ab") as f:
        f.write(b"c" * 30)  # a line another process is still writing
    assert not one.holds(("team", "mnist"), "c" * 64)
    with open(path, "ab") as f:
        f.write(b"c" * 34 + b"\n")
    assert one.holds(("team", "mnist"), "c" * 64)


def _call(url: str, token: str, method: str, body: Any) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def _manifest(client: Path, run_id: str, extra: tuple[FileRef, ...] = ()) -> protocol.Manifest:
    builder = ManifestBuilder(StoreRoot(client, index_url=""))  # the client's own index
    local = builder.build(run_id, RunSyncState(None))
    builder.close()
    run = RunManifest(run_id, local.manifest.files + extra, local.manifest.run.heartbeat_at)
    return protocol.Manifest(run, local.manifest.project, local.manifest.entity)


def _missing(url: str, token: str, manifest: protocol.Manifest) -> list[str]:
    status, body = _call(
        url + "/api/v1/sync/negotiate", token, "POST", protocol.negotiate_request([manifest])
    )
    assert status == 200 and body["runs"][0]["status"] != "error", body
    return list(body["runs"][0].get("missing") or [])


def _upload(url: str, token: str, client: Path, manifest: protocol.Manifest) -> None:
    run_dir = client / "runs" / manifest.run_id
    for ref in manifest.files:
        if ref.sha256 in _missing(url, token, manifest) and (run_dir / ref.name).exists():
            status, _ = _call(
                f"{url}/api/v1/blobs/{ref.sha256}", token, "PUT", (run_dir / ref.name).read_bytes()
            )
            assert status == 201


@pytest.mark.server
def test_a_scoped_key_cannot_probe_for_or_commit_another_projects_blob(
    tmp_path: Path, server_backend: ServerBackend
) -> None:
    """On both server backends: the ledger of who may use a blob is files, or PostgreSQL rows."""
    root = tmp_path / "server"
    keys = KeyStore(root)
    admin = keys.create("root", "admin").token
    alpha = keys.create("a", "write", "alpha").token
    beta = keys.create("b", "write", "beta").token
    client = tmp_path / "client"
    [alpha_run] = log_runs(client, n=1, steps=20, project="alpha", shards=1)
    [beta_run] = log_runs(client, n=1, steps=20, project="beta", shards=1)
    stolen = FileRef("files/stolen.bin", SECRET_SHA, len(SECRET))
    proc = ServerProcess(root).start()
    url = proc.url
    try:
        # alpha uploads its secret (staged) and commits a run through its own key.
        assert _call(f"{url}/api/v1/blobs/{SECRET_SHA}", alpha, "PUT", SECRET)[0] == 201
        own = _manifest(client, alpha_run)
        _upload(url, alpha, client, own)
        status, _ = _call(url + "/api/v1/sync/commit", alpha, "POST", protocol.commit_request(own))
        assert status == 200
        # beta asks about alpha's hashes: all missing, exactly like hashes nobody has.
        probe = _manifest(client, beta_run, (stolen,))
        assert SECRET_SHA in _missing(url, beta, probe)
        alpha_shard = next(r.sha256 for r in own.files if r.name.startswith("metrics/"))
        shard_probe = _manifest(client, beta_run, (FileRef("files/x.bin", alpha_shard, 1),))
        assert alpha_shard in _missing(url, beta, shard_probe)
        # ... and cannot commit them into its run without sending the bytes.
        _upload(url, beta, client, probe)
        status, body = _call(
            url + "/api/v1/sync/commit", beta, "POST", protocol.commit_request(probe)
        )
        assert status == 409 and body["error"]["missing"] == [SECRET_SHA]
        assert beta_run not in committed_runs(server_backend, root)
        # The namespace that uploaded or references a blob counts it; so does an admin key.
        assert SECRET_SHA not in _missing(url, alpha, _manifest(client, alpha_run, (stolen,)))
        assert SECRET_SHA not in _missing(url, admin, probe)
        # Sending the bytes proves beta holds them: then the commit goes through.
        assert _call(f"{url}/api/v1/blobs/{SECRET_SHA}", beta, "PUT", SECRET)[0] == 201
        status, _ = _call(url + "/api/v1/sync/commit", beta, "POST", protocol.commit_request(probe))
        assert status == 200
    finally:
        proc.stop()


@pytest.mark.server
def test_runs_an_admin_commits_count_for_their_namespace(
    tmp_path: Path, server_backend: ServerBackend
) -> None:
    root = tmp_path / "server"
    keys = KeyStore(root)
    admin = keys.create("root", "admin").token
    alpha = keys.create("a", "write", "alpha").token
    client = tmp_path / "client"
    first, second = log_runs(client, n=2, steps=20, project="alpha", shards=1)
    proc = ServerProcess(root).start()
    try:
        manifest = _manifest(client, first)
        _upload(proc.url, admin, client, manifest)
        status, _ = _call(
            proc.url + "/api/v1/sync/commit", admin, "POST", protocol.commit_request(manifest)
        )
        assert status == 200
        shared = manifest.run.run_json.sha256  # any blob of the first run
        reuse = _manifest(client, second, (FileRef("files/again.json", shared, 1),))
        assert shared not in _missing(proc.url, alpha, reuse)
    finally:
        proc.stop()
