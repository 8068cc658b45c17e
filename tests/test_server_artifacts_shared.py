"""Artifacts on replicas that share no directory: manifests, aliases, alias moves, uses and
registry links in PostgreSQL, blobs in the bucket (docs/deploy.md).

Two real `localtrack server` processes with DIFFERENT `--dir`s, one throwaway PostgreSQL
(tests/pg_fixtures.py) and moto's S3 server (a test double for MinIO/Ceph/AWS that speaks the
S3 HTTP protocol): a dataset → train → model → registry chain synced through one replica is
read whole through the other (``Api(base_url=…)``, downloads, previews, lineage JSON); a blob
the bucket has is never sent again through either; a version whose blob is deleted from the
bucket is named by `server check` and by the download. Two replicas committing one collection
at the same moment land it once.
"""

from __future__ import annotations

import hashlib
import json
import threading
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
import pytest

import localtrack
from localtrack.errors import ArtifactConflictError, LocaltrackError
from localtrack.store.artifact_reader import ArtifactReader
from localtrack.store.artifacts.pgcatalog import SharedArtifacts
from localtrack.store.artifacts.repository import ArtifactRepository
from localtrack.store.ingest.artifacts import collection_document, parse_collection
from localtrack.store.ingest.importer import Ingest
from localtrack.sync.bundle import export_bundle, import_bundle

from .artifact_ui_fixtures import artifact_store
from .s3_fixtures import s3_client, use_new_bucket
from .sync_fixtures import ServerProcess, env_without_home, get_json, run_cli
from .test_server_replicas import _cli, _key

pytestmark = pytest.mark.server


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}  # fmt: skip


def _edges(lineage: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(e["from"], e["to"], e["kind"]) for e in lineage["edges"]}


def _sync(client: Path, url: str, env: dict[str, str]) -> dict[str, Any]:
    done = run_cli("sync", "--all", "--dir", str(client), "--to", url, "--json", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_an_artifact_chain_synced_through_one_replica_is_served_by_the_other(
    tmp_path: Path, pg_url: str, bucket_env: dict[str, str]
) -> None:
    a_dir, b_dir, client, data = (tmp_path / d for d in ("a", "b", "cluster", "data"))
    admin, writer = _key(a_dir, pg_url, "root", "admin"), _key(a_dir, pg_url, "ci", "write")
    ids = artifact_store(client, data)  # ds → train (logs net, links p/net-registry) → evaluate
    v0_files = _files(data)
    (data / "extra.txt").write_text("only in v1\n")
    with localtrack.init(project="p", name="refresh", dir=client) as run:
        art = localtrack.Artifact("ds", "dataset")
        art.add_dir(data)
        run.log_artifact(art, aliases=["raw"])  # v1 takes 'raw' from v0: an alias move
    a = ServerProcess(a_dir, env=bucket_env, args=("--index", pg_url))
    b = ServerProcess(b_dir, env=bucket_env, args=("--index", pg_url))
    env = dict(env_without_home(tmp_path), LOCALTRACK_API_KEY=writer["token"])
    as_admin = {"Authorization": f"Bearer {admin['token']}"}
    try:
        a.start()
        b.start()
        first = _sync(client, a.url, env)
        assert {x["collection"]: x["outcome"] for x in first["artifacts"]} == {
            "p/ds": "sent", "p/net": "sent", "p/net-registry": "sent"
        }, first["artifacts"]  # fmt: skip
        for root in (a_dir, b_dir):  # neither replica keeps an artifact area of its own
            assert not any((root / "artifacts").rglob("*.json"))

        # through the other replica: versions, aliases, their moves, producers, consumers
        api = localtrack.Api(base_url=b.url, api_key=admin["token"])
        raw = api.artifact("p/ds:raw")
        assert (raw.version, raw.aliases) == ("v1", ["latest", "raw"])
        assert api.artifact("p/net:best").logged_by().id == ids["train"]
        assert [r.id for r in api.artifact("p/ds:v0").used_by()] == [ids["train"]]
        linked = api.artifact("p/net-registry:production")
        assert linked.linked_from is not None and linked.linked_from["name"] == "net"
        code, view = get_json(f"{b.url}/api/v1/projects/p/artifacts/ds/v1", as_admin)
        assert code == 200 and [(m["alias"], m["from"], m["to"]) for m in view["moves"]] == [
            ("raw", "v0", "v1")
        ]
        code, lineage = get_json(f"{b.url}/api/v1/projects/p/artifacts/ds/v0/lineage", as_admin)
        assert code == 200, lineage
        assert _edges(lineage) == _edges(ArtifactReader(client).lineage("p", "ds", "v0"))
        assert (f"run:{ids['train']}", "artifact:p/net:v0", "output") in _edges(lineage)
        assert ("artifact:p/net:v0", "artifact:p/net-registry:v0", "link") in _edges(lineage)
        # files: a download and a preview, fetched from the bucket into B's read cache
        got = Path(api.artifact("p/ds:v0").download(tmp_path / "got"))
        assert _files(got) == v0_files
        code, preview = get_json(
            f"{b.url}/api/v1/projects/p/artifacts/ds/v0/preview?path=readme.txt", as_admin
        )
        assert code == 200 and preview["text"].startswith("hello <b>artifact</b>")
        assert len(list((b_dir / "readcache" / "views").glob("*/artifact-blob/files/*"))) == 3

        # a new collection with the same bytes, synced through B: the bucket has every blob
        with localtrack.init(project="p", name="copy", dir=client) as run:
            copy = localtrack.Artifact("ds-copy", "dataset")
            copy.add_dir(data)
            run.log_artifact(copy)
        second = _sync(client, b.url, env)
        outcomes = {x["collection"]: (x["outcome"], x["blobs"]) for x in second["artifacts"]}
        assert outcomes == {
            "p/ds": ("current", 0), "p/net": ("current", 0),
            "p/net-registry": ("current", 0), "p/ds-copy": ("sent", 0),
        }  # fmt: skip

        # a blob deleted from the bucket behind the servers' back: check and download say so
        lost = hashlib.sha256((data / "extra.txt").read_bytes()).hexdigest()
        bucket = bucket_env["LOCALTRACK_BLOBS"][len("s3://") :].split("/")[0]
        port = int(bucket_env["LOCALTRACK_S3_ENDPOINT"].rsplit(":", 1)[1])
        s3_client(port).delete_object(Bucket=bucket, Key=f"prod/blobs/{lost}")  # type: ignore[attr-defined]
        check = _cli("server", "check", "--dir", str(a_dir), "--index", pg_url, env=bucket_env)
        assert check.returncode == 1, check.stdout + check.stderr
        assert f"artifact p/ds:v1: extra.txt: blob {lost} missing" in check.stdout
        assert f"artifact p/ds-copy:v0: extra.txt: blob {lost} missing" in check.stdout
        assert "p/ds:v0" not in check.stdout and "2 damaged artifact versions" in check.stdout
        with pytest.raises(LocaltrackError) as damaged:
            api.artifact("p/ds:v1").download(tmp_path / "v1")
        line = f"extra.txt: blob {lost} missing in {bucket_env['LOCALTRACK_BLOBS']}"
        assert line in str(damaged.value)
        code, body = get_json(
            f"{b.url}/api/v1/projects/p/artifacts/ds/v1/preview?path=extra.txt", as_admin
        )
        assert code == 404 and line in body["error"]["message"], body
        page = urllib.request.Request(f"{b.url}/projects/p/artifacts/ds/v1", headers=as_admin)
        with urllib.request.urlopen(page, timeout=120) as reply:  # the page itself still reads
            html = reply.read().decode()
        assert "extra.txt" in html and "raw" in html and "Traceback" not in html
        # A still holds its own upload of the blob: --repair puts it back
        repaired = _cli(
            "server", "check", "--dir", str(a_dir), "--index", pg_url, "--repair", env=bucket_env
        )
        assert repaired.returncode == 0, repaired.stdout + repaired.stderr
        assert "repaired p/ds:v1/extra.txt" in repaired.stdout
    finally:
        a.stop()
        b.stop()


def _collection(root: Path, name: str, text: str) -> tuple[Any, dict[str, bytes]]:
    """A one-version collection `p/<name>` (one file holding `text`), as a synced document."""
    art = localtrack.Artifact(name, "dataset")
    with art.new_file("data.txt") as f:
        f.write(text)
    repo = ArtifactRepository(root, create=True)
    repo.log("p", name, "dataset", list(art._sources.values()), aliases=["raw"])
    blobs = {}
    for entry in repo.state("p", name).versions[0].entries.values():
        with repo.blobs.open(entry.sha256) as blob:
            blobs[entry.sha256] = blob.read()
    return parse_collection(collection_document(repo, "p", name)), blobs


def _at_once(calls: list[Any]) -> list[Any]:
    """Run `calls` in threads released together; what each returned or raised."""
    both = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def call(i: int) -> None:
        both.wait(timeout=60)
        try:
            results[i] = calls[i]()
        except Exception as exc:  # reported by the caller, not lost in a thread
            results[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_two_replicas_committing_one_collection_at_once_land_it_once(
    tmp_path: Path, pg_url: str, moto_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same document reaching two replicas at the same moment lands once (one adds it, the
    other finds it there); two different versions under one number: one lands, the other is a
    conflict, never an overwrite."""
    blobs = use_new_bucket(monkeypatch, moto_port)
    areas = [Ingest(tmp_path / d, blobs_url=blobs, index_url=pg_url).create() for d in "ab"]
    replicas = [SharedArtifacts.open(area) for area in areas]
    doc, data = _collection(tmp_path / "client", "ds", "alpha")
    for sha, payload in data.items():  # uploaded through replica a
        areas[0].receive(sha, [payload], 1 << 30)
    plans = _at_once([lambda r=r: r.apply(doc) for r in replicas])  # type: ignore[union-attr]
    assert sorted(len(p.versions) for p in plans) == [0, 1], plans
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT project, name, version FROM artifact_versions").fetchall()
        moves = conn.execute("SELECT count(*) FROM artifact_events").fetchone()
    assert rows == [("p", "ds", 0)] and moves == (1,)
    for r in replicas:
        assert r is not None and r.state("p", "ds").aliases == {"raw": 0}

    # two clients each logged their own v0 of p/other: one lands, the other is told
    first, first_blobs = _collection(tmp_path / "one", "other", "one")
    other, other_blobs = _collection(tmp_path / "two", "other", "two")
    for sha, payload in {**first_blobs, **other_blobs}.items():
        areas[1].receive(sha, [payload], 1 << 30)
    results = _at_once([lambda: replicas[0].apply(first), lambda: replicas[1].apply(other)])  # type: ignore[union-attr]
    assert sorted(type(r).__name__ for r in results) == ["ArtifactConflictError", "CollectionPlan"]
    winner = first if isinstance(results[1], ArtifactConflictError) else other
    assert replicas[1].state("p", "other").versions[0].digest == winner.versions[0].digest  # type: ignore[union-attr]
    for area in areas:
        area.close()


def test_a_bundle_imported_into_a_replicas_store_puts_its_artifacts_in_postgresql(
    tmp_path: Path, pg_url: str, moto_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`localtrack import --blobs s3://…` on a shared-nothing server's machine: the bundle's
    collections land in PostgreSQL (every replica lists them), not in that store's directory."""
    client = tmp_path / "client"
    with localtrack.init(project="p", name="prepare", dir=client) as run:
        art = localtrack.Artifact("ds", "dataset")
        with art.new_file("readme.txt") as f:
            f.write("hello")
        run.log_artifact(art, aliases=["raw"])
    bundle = tmp_path / "cluster.ltbundle"
    assert export_bundle(client, [run.id], bundle).artifacts == ["p/ds"]
    blobs = use_new_bucket(monkeypatch, moto_port)
    monkeypatch.setenv("LOCALTRACK_INDEX_URL", pg_url)
    imported = import_bundle(bundle, tmp_path / "a", blobs_url=blobs)
    assert imported.artifacts == ["p/ds"] and not imported.failed, imported
    assert not any((tmp_path / "a" / "artifacts").rglob("*.json"))
    other = Ingest(tmp_path / "b", blobs_url=blobs, index_url=pg_url).create()
    replica = SharedArtifacts.open(other)
    assert replica is not None and replica.collections() == [("p", "ds")]
    manifest, state = replica.resolve("p", "ds", "raw")
    with replica.open_blob(manifest.entries["readme.txt"]) as blob:
        assert blob.read() == b"hello"  # from the bucket, through b's read cache
    assert state.uses == [] and manifest.run_id == run.id
    other.close()
