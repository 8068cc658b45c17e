"""Artifacts over sync and bundles: versions, aliases (with their moves) and lineage arrive
whole; blobs cross once; every collection document is checked against one schema. The server
side runs on both server backends (``server_backend``); what the client does in this process
is done outside the server's variables (``client_side``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import localtrack
from localtrack.errors import ArtifactConflictError, BundleError, RunConflictError
from localtrack.store.artifacts.repository import ArtifactRepository
from localtrack.store.ingest.artifacts import ArtifactIngest, parse_collection
from localtrack.sync.artifact_manifests import COMMIT_PATH, NEGOTIATE_PATH
from localtrack.sync.bundle import BundleSource, export_bundle, import_bundle
from localtrack.sync.client import SyncClient
from localtrack.sync.remote import Remote
from localtrack.sync.transport import Request
from webui.server.app import create_server_app

from .backend_fixtures import ServerBackend, artifact_documents, client_side
from .sync_fixtures import AppTransport, fast_retry


@pytest.fixture
def app(tmp_path: Path, server_backend: ServerBackend) -> Any:
    app = create_server_app(tmp_path / "server", watch=False)
    yield app
    app.extensions["localtrack"].close()
    app.extensions["localtrack_ingest"].close()


def _pipeline(root: Path, data: Path) -> tuple[str, str]:
    """dataset v0 (raw) → train (uses it, logs a model) → dataset v1 takes 'raw'."""
    with client_side():
        return _log_pipeline(root, data)


def _log_pipeline(root: Path, data: Path) -> tuple[str, str]:
    data.mkdir(parents=True, exist_ok=True)
    (data / "a.txt").write_text("alpha")
    (data / "b.txt").write_text("beta")
    with localtrack.init(project="p", dir=root) as run:
        art = localtrack.Artifact("ds", "dataset", metadata={"n": 2})
        art.add_dir(data)
        run.log_artifact(art, aliases=["raw"])
        producer = run.id
    with localtrack.init(project="p", dir=root) as run:
        run.use_artifact("ds:latest")
        model = localtrack.Artifact("net", "model")
        with model.new_file("weights.txt") as f:
            f.write("w")
        run.log_artifact(model, aliases=["best"])
        consumer = run.id
    (data / "c.txt").write_text("gamma")
    with localtrack.init(project="p", dir=root) as run:
        art = localtrack.Artifact("ds", "dataset")
        art.add_dir(data)
        run.log_artifact(art, aliases=["raw"])  # moves 'raw' v0 → v1
    return producer, consumer


def _run_ids(root: Path) -> list[str]:
    """The client store's runs of project p."""
    with client_side():
        return [r.id for r in localtrack.Api(root).runs("p")]


def _state(root: Path) -> dict[str, Any]:
    """The client store's collections, as the documents that carry them."""
    return artifact_documents(ArtifactRepository(root))


def _client(root: Path, app: Any) -> tuple[SyncClient, AppTransport]:
    transport = AppTransport(app)
    with client_side():  # as on another machine
        return SyncClient.for_store(root, Remote(transport, retry=fast_retry(4))), transport


def _count(transport: AppTransport, method: str, path: str = "") -> int:
    return sum(1 for r in transport.requests if r.method == method and r.path.startswith(path))


def _artifact_puts(transport: AppTransport, root: Path) -> int:
    shas = set(ArtifactRepository(root).blobs.all_blobs())
    return sum(1 for r in transport.requests if r.method == "PUT" and r.path[-64:] in shas)


def test_sync_carries_versions_aliases_moves_and_lineage(
    root: Path, tmp_path: Path, app: Any, server_backend: ServerBackend
) -> None:
    producer, consumer = _pipeline(root, tmp_path / "data")
    run_ids = _run_ids(root)
    client, _ = _client(root, app)
    report = client.sync(run_ids)
    assert not report.failed and all(a.outcome == "sent" for a in report.artifacts)
    server = tmp_path / "server"
    assert server_backend.artifact_documents(server) == _state(root)
    with server_backend.artifacts(server) as artifacts:
        state = artifacts.state("p", "ds")
    assert state.aliases == {"raw": 1}
    assert [(m.alias, m.from_version, m.to_version) for m in state.moves] == [
        ("raw", None, 0),
        ("raw", 0, 1),
    ]
    assert state.versions[0].run_id == producer
    assert [u.run_id for u in state.uses] == [consumer]
    if server_backend.shared:  # its runs are in the bucket: read them as the server does
        assert app.extensions["localtrack"].reader.run(consumer).id == consumer
    else:
        api = localtrack.Api(server)
        assert [r.id for r in api.artifact("p/ds:v0").used_by()] == [consumer]

    # a second sync sends nothing: no negotiate, no blob, no commit
    client2, transport2 = _client(root, app)
    again = client2.sync(run_ids)
    assert again.blobs_sent == 0
    assert _count(transport2, "PUT") == 0
    assert _count(transport2, "POST", "/api/v1/artifacts") == 0
    assert all(a.outcome == "current" for a in again.artifacts)


def test_a_version_whose_blobs_the_server_has_sends_no_blob(
    root: Path, tmp_path: Path, app: Any, server_backend: ServerBackend
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "big.bin").write_bytes(b"x" * 100_000)
    with client_side(), localtrack.init(project="p", dir=root) as run:
        art = localtrack.Artifact("shared", "dataset")
        art.add_dir(data)
        run.log_artifact(art)
        first = run.id
    client, transport = _client(root, app)
    client.sync([first])
    assert _artifact_puts(transport, root) == 1
    # 100 runs use it, and one more collection holds the same bytes: none of it crosses again
    ids = []
    for _ in range(3):
        with client_side(), localtrack.init(project="p", dir=root) as run:
            run.use_artifact("shared:latest")
            copy = localtrack.Artifact("copy", "dataset")
            copy.add_dir(data)
            run.log_artifact(copy)
            ids.append(run.id)
    client, transport = _client(root, app)
    report = client.sync(ids)
    assert _artifact_puts(transport, root) == 0
    assert sum(a.blobs for a in report.artifacts) == 0
    assert {a.collection: a.outcome for a in report.artifacts} == {
        "p/copy": "sent",
        "p/shared": "sent",
    }
    with server_backend.artifacts(tmp_path / "server") as artifacts:
        assert len(artifacts.state("p", "shared").uses) == 3


def test_export_import_round_trip_keeps_versions_aliases_and_lineage(
    root: Path, tmp_path: Path
) -> None:
    _pipeline(root, tmp_path / "data")
    ids = [r.id for r in localtrack.Api(root).runs("p")]
    bundle = tmp_path / "b.ltbundle"
    report = export_bundle(root, ids, bundle)
    assert sorted(report.artifacts) == ["p/ds", "p/net"]
    target = tmp_path / "other"
    imported = import_bundle(bundle, target)
    assert sorted(imported.artifacts) == ["p/ds", "p/net"] and not imported.failed
    assert _state(target) == _state(root)
    again = import_bundle(bundle, target)  # idempotent
    assert not again.failed and _state(target) == _state(root)
    api = localtrack.Api(target)
    assert api.artifact("p/ds:raw").version == "v1"
    man = ArtifactRepository(target).resolve("p", "ds", "v1")[0]
    for entry in man.entries.values():
        assert ArtifactRepository(target).blobs.has(entry.sha256)


def test_a_tampered_artifact_document_in_a_bundle_is_refused(root: Path, tmp_path: Path) -> None:
    _pipeline(root, tmp_path / "data")
    ids = [r.id for r in localtrack.Api(root).runs("p")]
    bundle = tmp_path / "b.ltbundle"
    export_bundle(root, ids, bundle)
    raw = bundle.read_bytes()
    bad = raw.replace(b'"type":"dataset"', b'"type":12345678', 1)
    assert bad != raw
    bundle.write_bytes(bad)
    with pytest.raises(BundleError):
        import_bundle(bundle, tmp_path / "other")
    assert not (tmp_path / "other" / "artifacts" / "collections").exists()


def _post(app: Any, path: str, body: object, key: str | None = None) -> tuple[int, Any]:
    transport = AppTransport(app)
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    response = transport.send(Request("POST", path, headers, json.dumps(body).encode()))
    return response.status, json.loads(response.body)


def test_a_bad_document_is_a_4xx_naming_the_field(root: Path, tmp_path: Path, app: Any) -> None:
    _pipeline(root, tmp_path / "data")
    doc = _state(root)["p/ds"]
    doc["versions"][0]["entries"]["a.txt"]["size"] = "big"
    status, body = _post(app, COMMIT_PATH, {"protocol": 1, "collection": doc})
    assert status == 400
    assert "versions[0].entries['a.txt']" in body["error"]["field"]
    doc = _state(root)["p/ds"]
    doc["events"][0]["alias"] = "../x"
    status, body = _post(app, NEGOTIATE_PATH, {"protocol": 1, "collections": [doc]})
    assert status == 200
    verdict = body["collections"][0]
    assert verdict["status"] == "error" and "events[0].alias" in verdict["message"]
    doc = _state(root)["p/ds"]
    doc["name"] = "other"
    status, body = _post(app, COMMIT_PATH, {"protocol": 1, "collection": doc})
    assert status == 400 and body["error"]["field"] == "versions[0].name"


def test_a_conflicting_version_is_a_409_and_never_overwritten(
    root: Path, tmp_path: Path, app: Any, server_backend: ServerBackend
) -> None:
    _pipeline(root, tmp_path / "data")
    doc = _state(root)["p/net"]
    client, _ = _client(root, app)
    client.sync(_run_ids(root))
    other = tmp_path / "elsewhere"
    with client_side(), localtrack.init(project="p", dir=other) as run:
        art = localtrack.Artifact("net", "model")
        with art.new_file("weights.txt") as f:
            f.write("different")
        run.log_artifact(art)
    doc = _state(other)["p/net"]
    status, body = _post(app, COMMIT_PATH, {"protocol": 1, "collection": doc})
    assert status == 409 and body["error"]["code"] == "artifact_conflict"
    status, body = _post(app, NEGOTIATE_PATH, {"protocol": 1, "collections": [doc]})
    assert body["collections"][0]["code"] == "artifact_conflict"
    with server_backend.artifacts(tmp_path / "server") as artifacts:
        server = artifact_documents(artifacts)
        ingest = (
            artifacts
            if not isinstance(artifacts, ArtifactRepository)
            else ArtifactIngest(tmp_path / "server", lambda sha: tmp_path / "nowhere" / sha)
        )
        with pytest.raises(ArtifactConflictError) as info:
            ingest.plan(parse_collection(doc))
    assert not isinstance(info.value, RunConflictError)
    assert server["p/net"] == _state(root)["p/net"]  # the version synced first stays


def test_a_scoped_key_may_only_write_artifacts_of_its_namespace(
    root: Path, tmp_path: Path, server_backend: ServerBackend
) -> None:
    from localtrack.apikeys import KeyStore

    _pipeline(root, tmp_path / "data")
    server_root = tmp_path / "scoped"
    keys = KeyStore(server_root)
    mine = keys.create("alice", "write", "p").token
    theirs = keys.create("bob", "write", "q").token
    app = create_server_app(server_root, watch=False)
    try:
        doc = _state(root)["p/net"]
        status, body = _post(app, NEGOTIATE_PATH, {"protocol": 1, "collections": [doc]}, theirs)
        assert status == 200 and body["collections"][0]["code"] == "forbidden"
        status, body = _post(app, COMMIT_PATH, {"protocol": 1, "collection": doc}, theirs)
        assert status == 403
        status, body = _post(app, NEGOTIATE_PATH, {"protocol": 1, "collections": [doc]}, mine)
        assert body["collections"][0]["status"] == "pending"
        assert len(body["collections"][0]["missing"]) == 1
    finally:
        app.extensions["localtrack"].close()
        app.extensions["localtrack_ingest"].close()


def test_cli_sync_to_a_real_server_carries_artifacts(
    root: Path, tmp_path: Path, server_backend: ServerBackend
) -> None:
    from localtrack.apikeys import KeyStore

    from .sync_fixtures import ServerProcess, env_without_home, run_cli

    _pipeline(root, tmp_path / "data")
    server_root = tmp_path / "real"
    token = KeyStore(server_root).create("ci", "write").token
    proc = ServerProcess(server_root).start()
    try:
        env = dict(env_without_home(tmp_path), LOCALTRACK_API_KEY=token)
        args = ("sync", "--all", "--dir", str(root), "--to", proc.url, "--json")
        first = run_cli(*args, env=env)
        assert first.returncode == 0, first.stderr
        assert server_backend.artifact_documents(server_root) == _state(root)
        second = run_cli(*args, env=env)
        assert json.loads(second.stdout)["blobs_sent"] == 0
    finally:
        proc.stop()


def _team_pipeline(root: Path, data: Path) -> str:
    """A run of team/proj logs a dataset; a run-less version goes into proj/loose."""
    with client_side():
        return _log_team_pipeline(root, data)


def _log_team_pipeline(root: Path, data: Path) -> str:
    data.mkdir(parents=True, exist_ok=True)
    (data / "a.txt").write_text("alpha")
    with localtrack.init(project="proj", entity="team", dir=root) as run:
        art = localtrack.Artifact("ds", "dataset")
        art.add_dir(data)
        run.log_artifact(art, aliases=["raw"])
        run_id = run.id
    art = localtrack.Artifact("loose", "dataset")
    art.add_dir(data)
    ArtifactRepository(root).log("proj", "loose", "dataset", list(art._sources.values()))
    return run_id


def test_collections_carry_the_namespace_of_the_run_that_logged_them(
    root: Path, tmp_path: Path
) -> None:
    _team_pipeline(root, tmp_path / "data")
    docs = _state(root)
    assert (docs["team/proj/ds"]["entity"], docs["team/proj/ds"]["project"]) == ("team", "proj")
    assert docs["proj/loose"]["entity"] is None  # logged without a run: the project alone


def test_a_key_scoped_to_the_runs_namespace_syncs_their_artifacts(
    root: Path, tmp_path: Path, server_backend: ServerBackend
) -> None:
    from localtrack.apikeys import KeyStore

    run_id = _team_pipeline(root, tmp_path / "data")
    server_root = tmp_path / "scoped"
    keys = KeyStore(server_root)
    mine = keys.create("alice", "write", "team/proj").token
    bare = keys.create("bob", "write", "proj").token
    other = keys.create("carol", "write", "other/proj").token
    app = create_server_app(server_root, watch=False)
    try:
        for token in (bare, other):  # out of scope: refused like its runs, nothing lands
            remote = Remote(AppTransport(app), api_key=token, retry=fast_retry(4))
            with client_side():
                client = SyncClient.for_store(root, remote)
            report = client.sync([run_id])
            assert [r.outcome for r in report.runs] == ["failed"]
            assert [(a.collection, a.outcome) for a in report.artifacts] == [
                ("team/proj/ds", "failed")
            ]
            assert "forbidden" in report.artifacts[0].message
            assert not server_backend.artifact_documents(server_root)
        remote = Remote(AppTransport(app), api_key=mine, retry=fast_retry(4))
        with client_side():
            client = SyncClient.for_store(root, remote)
        report = client.sync([run_id])
        assert not report.failed
        assert [(a.collection, a.outcome) for a in report.artifacts] == [("team/proj/ds", "sent")]
        server = server_backend.artifact_documents(server_root)
        assert server["team/proj/ds"] == _state(root)["team/proj/ds"]
        # the same name of another entity's project is another collection, beside it
        doc = dict(_state(root)["team/proj/ds"], entity="other")
        status, body = _post(app, COMMIT_PATH, {"protocol": 1, "collection": doc}, mine)
        assert status == 403  # a scoped key only writes its own namespace
        admin = keys.create("root", "admin").token
        status, body = _post(app, COMMIT_PATH, {"protocol": 1, "collection": doc}, admin)
        assert status == 200, body
        server = server_backend.artifact_documents(server_root)
        assert sorted(server) == ["other/proj/ds", "team/proj/ds"]
        assert server["other/proj/ds"]["versions"] == server["team/proj/ds"]["versions"]
    finally:
        app.extensions["localtrack"].close()
        app.extensions["localtrack_ingest"].close()


def test_sync_bundle_carries_artifacts_like_import(
    root: Path, tmp_path: Path, app: Any, server_backend: ServerBackend
) -> None:
    _pipeline(root, tmp_path / "data")
    bundle = tmp_path / "b.ltbundle"
    export_bundle(root, _run_ids(root), bundle)
    source = BundleSource(bundle)
    transport = AppTransport(app)
    client = SyncClient(source, Remote(transport, retry=fast_retry(4)))
    report = client.sync(source.run_ids)
    assert not report.failed
    assert sorted((a.collection, a.outcome) for a in report.artifacts) == [
        ("p/ds", "sent"),
        ("p/net", "sent"),
    ]
    assert server_backend.artifact_documents(tmp_path / "server") == _state(root)
    again = SyncClient(BundleSource(bundle), Remote(AppTransport(app), retry=fast_retry(4)))
    second = again.sync(source.run_ids)
    assert all(a.outcome == "current" for a in second.artifacts) and second.blobs_sent == 0


def test_cli_sync_bundle_with_a_scoped_key_to_a_real_server(
    root: Path, tmp_path: Path, server_backend: ServerBackend
) -> None:
    from localtrack.apikeys import KeyStore

    from .sync_fixtures import ServerProcess, env_without_home, run_cli

    run_id = _team_pipeline(root, tmp_path / "data")
    bundle = tmp_path / "b.ltbundle"
    export_bundle(root, [run_id], bundle)
    server_root = tmp_path / "real"
    token = KeyStore(server_root).create("ci", "write", "team/proj").token
    proc = ServerProcess(server_root).start()
    try:
        env = dict(env_without_home(tmp_path), LOCALTRACK_API_KEY=token)
        done = run_cli("sync", "--bundle", str(bundle), "--to", proc.url, "--json", env=env)
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout)
        assert [(a["collection"], a["outcome"]) for a in out["artifacts"]] == [
            ("team/proj/ds", "sent")
        ]
        server = server_backend.artifact_documents(server_root)
        assert server["team/proj/ds"] == _state(root)["team/proj/ds"]
    finally:
        proc.stop()
