"""The Artifacts pages and their JSON twins (Flask test client; the browser tests are in
test_artifacts_ui_browser.py)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import localtrack
from localtrack.store.artifact_reader import ArtifactReader
from localtrack.store.artifacts.repository import ArtifactRepository
from webui import create_app

from .artifact_ui_fixtures import artifact_store, png_bytes


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str]]]:
    base = tmp_path_factory.mktemp("artifacts-ui")
    ids = artifact_store(base / "store", base / "data")
    app = create_app(base / "store", watch=False)
    yield app.test_client(), ids
    app.extensions["localtrack"].close()


BASE = "/projects/p/artifacts"


def test_project_lists_artifacts_by_type_then_name(site: tuple[Any, dict[str, str]]) -> None:
    client, _ = site
    data = client.get("/api/v1" + BASE).get_json()
    assert [g["type"] for g in data["types"]] == ["dataset", "model"]
    assert [c["name"] for c in data["types"][1]["collections"]] == ["net", "net-registry"]
    page = client.get(BASE)
    assert page.status_code == 200 and b'href="/projects/p/artifacts/ds"' in page.data
    assert b'id="artifacts-link"' in client.get("/projects/p").data


def test_versions_carry_aliases_size_files_metadata_and_runs(
    site: tuple[Any, dict[str, str]],
) -> None:
    client, ids = site
    coll = client.get(f"/api/v1{BASE}/ds").get_json()
    [v0] = coll["versions"]
    assert v0["aliases"] == ["latest", "raw"] and v0["file_count"] == 3
    assert v0["metadata"] == {"rows": 3}
    assert v0["producer"]["id"] == ids["prepare"]
    assert [c["id"] for c in v0["consumers"]] == [ids["train"]]
    version = client.get(f"/api/v1{BASE}/ds/v0").get_json()
    assert [f["kind"] for f in version["files"]] == ["image", "text", "table"]
    assert [m["alias"] for m in version["moves"]] == ["raw"]
    html = client.get(f"{BASE}/ds/raw").data.decode()
    assert "prepare" in html and "train" in html and 'data-path="rows.parquet"' in html


def test_previews_and_files(site: tuple[Any, dict[str, str]]) -> None:
    client, _ = site
    url = f"/api/v1{BASE}/ds/v0"
    text = client.get(url + "/preview?path=readme.txt").get_json()
    assert text["kind"] == "text" and text["text"].startswith("hello <b>artifact</b>")
    table = client.get(url + "/preview?path=rows.parquet").get_json()
    assert table["columns"] == ["x", "label"] and table["rows"][2] == [3, "c"]
    image = client.get(url + "/file?path=pic.png")
    assert image.mimetype == "image/png" and image.data == png_bytes()
    assert image.headers["X-Content-Type-Options"] == "nosniff"
    image.close()
    raw = client.get(url + "/file?path=rows.parquet")
    assert raw.headers["Content-Disposition"].startswith("attachment")
    raw.close()
    for bad in ("../run.json", "/etc/passwd", "nope.txt", "sub/../../x"):
        response = client.get(url + "/preview", query_string={"path": bad})
        assert response.status_code == 400, bad
        assert "error" in response.get_json()
    assert client.get(f"/api/v1{BASE}/nope").status_code == 400
    assert client.get(f"/api/v1{BASE}/ds/v9").status_code == 400


def test_lineage_twin_joins_runs_versions_and_links(site: tuple[Any, dict[str, str]]) -> None:
    client, ids = site
    graph = client.get(f"/api/v1{BASE}/net/v0/lineage").get_json()
    by_id = {n["id"]: n for n in graph["nodes"]}
    assert graph["focus"] == "artifact:p/net:v0"
    edges = {(e["from"], e["to"], e["kind"]) for e in graph["edges"]}
    assert (f"run:{ids['train']}", "artifact:p/net:v0", "output") in edges
    assert ("artifact:p/ds:v0", f"run:{ids['train']}", "input") in edges
    assert (f"run:{ids['prepare']}", "artifact:p/ds:v0", "output") in edges  # upstream
    assert ("artifact:p/net:v0", f"run:{ids['evaluate']}", "input") in edges  # downstream
    assert ("artifact:p/net:v0", "artifact:p/net-registry:v0", "link") in edges
    assert by_id[f"run:{ids['train']}"]["url"] == f"/runs/{ids['train']}"
    assert by_id["artifact:p/ds:v0"]["url"] == f"{BASE}/ds/v0"
    shallow = client.get(f"/api/v1{BASE}/net/v0/lineage?depth=1").get_json()
    assert f"run:{ids['prepare']}" not in {n["id"] for n in shallow["nodes"]}
    page = client.get(f"{BASE}/net/v0/lineage")
    assert page.status_code == 200 and b"vendor/dagre.min.js" in page.data
    assert b"dagre" not in client.get(f"{BASE}/net/v0").data  # loaded only on the lineage page


def test_run_twin_lists_inputs_and_outputs(site: tuple[Any, dict[str, str]]) -> None:
    client, ids = site
    data = client.get(f"/api/v1/runs/{ids['train']}/artifacts").get_json()
    assert [f"{v['name']}:{v['version']}" for v in data["inputs"]] == ["ds:v0"]
    assert [f"{v['name']}:{v['version']}" for v in data["outputs"]] == ["net:v0"]
    assert b'id="run-artifacts"' in client.get(f"/runs/{ids['train']}").data


def _age(root: Path) -> None:
    """Date every collection folder a minute back (past the cache's racy window)."""
    old = time.time() - 60
    for dirpath, _dirs, _files in os.walk(root / "artifacts" / "collections"):
        os.utime(dirpath, (old, old))


def test_lineage_reads_only_the_collections_that_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    with localtrack.init(project="p", dir=root) as run:
        for i in range(20):
            art = localtrack.Artifact(f"c{i}", "dataset")
            with art.new_file("x.txt") as f:
                f.write(str(i))
            run.log_artifact(art)
    _age(root)
    read: list[str] = []
    real = ArtifactRepository.state

    def counting(self: ArtifactRepository, project: str, name: str) -> Any:
        read.append(name)
        return real(self, project, name)

    monkeypatch.setattr(ArtifactRepository, "state", counting)
    first = ArtifactReader(root).lineage("p", "c0", "latest")
    assert len(read) == 21  # nothing cached yet: every collection, and the focus
    read.clear()
    assert ArtifactReader(root).lineage("p", "c0", "latest") == first
    assert read == ["c0"]  # only the focus is resolved
    with localtrack.init(project="p", dir=root) as run:
        run.use_artifact("c0:latest")
        consumer = run.id
    read.clear()
    third = ArtifactReader(root).lineage("p", "c0", "latest")
    assert read == ["c0", "c0"]  # the focus, and the one collection that changed
    assert f"run:{consumer}" in {n["id"] for n in third["nodes"]}
