"""Artifacts of entity-namespaced projects (``init(entity="team", project="p")``): their own
collections beside other entities' of the same project and name, reached as "team/p/name:v0"
locally, through the UI's routes, and on a real server after ``localtrack sync``; a store
written before entities were part of the artifact layout stays readable and writable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import localtrack
from localtrack.errors import UsageError
from localtrack.store.artifacts.repository import ArtifactRepository
from webui import create_app

from .backend_fixtures import ServerBackend

QUIET = {"console": "off"}


def _log(root: Path, data: Path, entity: str | None, text: str) -> str:
    """A run of `entity`/p logs "ds" holding a.txt = `text`; returns the run id."""
    data.mkdir(parents=True, exist_ok=True)
    (data / "a.txt").write_text(text)
    with localtrack.init(project="p", entity=entity, dir=root, settings=QUIET) as run:
        art = localtrack.Artifact("ds", "dataset")
        art.add_dir(data)
        run.log_artifact(art, aliases=["raw"])
        return run.id


def _text(art: localtrack.Artifact, where: Path) -> str:
    return (Path(art.download(where)) / "a.txt").read_text()


@pytest.fixture
def three(tmp_path: Path) -> Path:
    """team/p/ds, other/p/ds and p/ds (no entity), each with other content."""
    root = tmp_path / "store"
    for entity, text in (("team", "team's"), ("other", "other's"), (None, "nobody's")):
        _log(root, tmp_path / f"data-{entity}", entity, text)
    return root


def test_each_entity_has_its_own_collection_and_the_run_finds_its_own(
    three: Path, tmp_path: Path
) -> None:
    folders = sorted(p.name for p in (three / "artifacts" / "collections").iterdir())
    assert folders == ["other%2Fp", "p", "team%2Fp"]
    api = localtrack.Api(three)
    assert _text(api.artifact("team/p/ds:v0"), tmp_path / "t") == "team's"
    assert _text(api.artifact("other/p/ds:raw"), tmp_path / "o") == "other's"
    assert _text(api.artifact("p/ds:v0"), tmp_path / "n") == "nobody's"
    with localtrack.init(project="p", entity="team", dir=three, settings=QUIET) as run:
        full = run.use_artifact("team/p/ds:v0")
        short = run.use_artifact("ds:latest")  # the run's own namespace
        consumer = run.id
    assert full.qualified_name == short.qualified_name == "team/p/ds:v0"
    assert (full.entity, full.project) == ("team", "p")
    assert [r.id for r in api.artifact("team/p/ds:v0").used_by()] == [consumer]
    assert api.artifact("other/p/ds:v0").used_by() == []
    assert [a.qualified_name for a in api.run(consumer).used_artifacts()] == ["team/p/ds:v0"]


def test_ui_routes_of_an_entity_project(three: Path) -> None:
    app = create_app(three, watch=False)
    try:
        client = app.test_client()
        listing = client.get("/api/v1/projects/team/p/artifacts").get_json()
        assert listing["project"] == "team/p"
        assert [c["name"] for g in listing["types"] for c in g["collections"]] == ["ds"]
        version = client.get("/api/v1/projects/team/p/artifacts/ds/v0").get_json()
        assert version["project"] == "team/p" and version["aliases"] == ["latest", "raw"]
        with client.get("/api/v1/projects/team/p/artifacts/ds/v0/file?path=a.txt") as raw:
            assert raw.data == b"team's"
        lineage = client.get("/api/v1/projects/team/p/artifacts/ds/v0/lineage").get_json()
        assert lineage["focus"] == "artifact:team/p/ds:v0"
        page = client.get("/projects/team/p/artifacts/ds/v0")
        assert page.status_code == 200
    finally:
        app.extensions["localtrack"].close()


def test_entity_artifacts_after_sync_to_a_real_server(
    three: Path, tmp_path: Path, server_backend: ServerBackend
) -> None:
    """On both server backends (``server_backend``)."""
    from localtrack.apikeys import KeyStore

    from .sync_fixtures import ServerProcess, env_without_home, get_json, run_cli

    server_root = tmp_path / "real"
    token = KeyStore(server_root).create("ci", "admin").token
    proc = ServerProcess(server_root).start()
    try:
        env = dict(env_without_home(tmp_path), LOCALTRACK_API_KEY=token)
        done = run_cli("sync", "--all", "--dir", str(three), "--to", proc.url, "--json", env=env)
        assert done.returncode == 0, done.stderr
        sent = sorted(a["collection"] for a in json.loads(done.stdout)["artifacts"])
        assert sent == ["other/p/ds", "p/ds", "team/p/ds"]
        auth = {"Authorization": f"Bearer {token}"}
        status, view = get_json(f"{proc.url}/api/v1/projects/team/p/artifacts/ds/v0", auth)
        assert status == 200 and view["files"][0]["path"] == "a.txt"
        api = localtrack.Api(base_url=proc.url, api_key=token)
        art = api.artifact("team/p/ds:v0")
        assert art.qualified_name == "team/p/ds:v0"
        assert _text(art, tmp_path / "remote") == "team's"
        assert _text(api.artifact("other/p/ds:v0"), tmp_path / "remote-o") == "other's"
        names = sorted(a.qualified_name for a in api.artifacts("dataset"))
        assert names == ["other/p/ds:v0", "p/ds:v0", "team/p/ds:v0"]
    finally:
        proc.stop()
    # the server's catalog holds each namespace's version apart, and their bytes
    with server_backend.artifacts(server_root) as artifacts:
        manifest, _ = artifacts.resolve("team/p", "ds", "v0")
        with artifacts.open_blob(manifest.entries["a.txt"]) as f:
            assert f.read() == b"team's"
        assert artifacts.collections() == [("other/p", "ds"), ("p", "ds"), ("team/p", "ds")]
    if not server_backend.shared:  # a run on the server's directory store uses it by full name
        with localtrack.init(project="p", entity="team", dir=server_root, settings=QUIET) as run:
            assert _text(run.use_artifact("team/p/ds:v0"), tmp_path / "on-server") == "team's"


def test_a_store_of_the_old_layout_stays_readable_and_writable(tmp_path: Path) -> None:
    root = tmp_path / "store"
    _log(root, tmp_path / "data", "team", "v0")
    # the layout before entities: the plain project folder, no namespace.json
    collections = root / "artifacts" / "collections"
    (collections / "p").mkdir()
    shutil.move(collections / "team%2Fp" / "ds", collections / "p" / "ds")
    (collections / "team%2Fp").rmdir()
    (collections / "p" / "ds" / "namespace.json").unlink()

    api = localtrack.Api(root)
    assert api.artifact("team/p/ds:raw").qualified_name == "team/p/ds:v0"
    assert api.artifact("p/ds:v0").qualified_name == "team/p/ds:v0"  # as it was named before
    assert ArtifactRepository(root).collections() == [("team/p", "ds")]

    _log(root, tmp_path / "data", "team", "v1")  # the next version goes where the others are
    assert sorted(p.name for p in collections.iterdir()) == ["p"]
    assert json.loads((collections / "p" / "ds" / "namespace.json").read_text())["entity"] == "team"
    assert _text(api.artifact("team/p/ds:latest"), tmp_path / "v1") == "v1"
    assert api.artifact("team/p/ds:v1").version == "v1"
    with pytest.raises(UsageError, match="belongs to team/p"):
        _log(root, tmp_path / "data", None, "no entity")  # that folder is team's
