"""Importing malformed documents: a bundle whose run.json, manifest or header breaks its schema
is refused whole with a clear error (never a RecursionError traceback) and the store is left as
it was; a commit that fails for any reason is undone; a journal that cannot be rolled forward
is undone and set aside by ``recover()``, which never raises for it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from localtrack.errors import BundleError
from localtrack.store.ingest import commits
from localtrack.store.ingest.importer import Ingest
from localtrack.store.root import StoreRoot
from localtrack.sync.bundle import import_bundle
from localtrack.sync.bundle_format import MAGIC, FrameWriter
from localtrack.sync.manifest_builder import ManifestBuilder
from localtrack.sync.state import RunSyncState

from .sync_fixtures import log_runs, run_cli, store_files


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_bundle(path: Path, header: bytes, blobs: list[bytes], manifests: list[bytes]) -> None:
    """A well-framed bundle (valid checksum) holding whatever documents it is given."""
    with open(path, "wb") as f:
        w = FrameWriter(f)
        w.write(MAGIC)
        w.frame(b"H", header)
        for blob in blobs:
            w.frame(b"B", bytes.fromhex(_sha(blob)) + blob)
        for manifest in manifests:
            w.frame(b"M", manifest)
        w.end()


HEADER = json.dumps({"format": "localtrack-bundle", "version": 1, "created_at": 1.7e9}).encode()


def _run_bundle(path: Path, run_json: bytes, run_id: str = "imported") -> None:
    manifest = {
        "run_id": run_id,
        "project": "p",
        "entity": None,
        "heartbeat_at": None,
        "files": [{"name": "run.json", "sha256": _sha(run_json), "bytes": len(run_json)}],
    }
    _write_bundle(path, HEADER, [run_json], [json.dumps(manifest).encode()])


@pytest.fixture
def central(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A store that already holds one run, and its files by sha256."""
    root = tmp_path / "central"
    log_runs(root, n=1, steps=10)
    Ingest(root).create()
    return root, store_files(root)


def _unchanged(root: Path, before: dict[str, str]) -> None:
    assert store_files(root) == before
    for sub in ("blobs", "tmp", "journal"):
        d = root / "ingest" / sub
        assert not d.exists() or os.listdir(d) == [], f"{sub}: {os.listdir(d)}"


@pytest.mark.parametrize(
    ("run_json", "message"),
    [
        (json.dumps({"id": "imported", "tags": 5}).encode(), "field 'tags' must be a list"),
        (json.dumps({"id": "imported", "created_at": "x"}).encode(), "field 'created_at'"),
        (json.dumps({"id": "imported", "group": {"a": 1}}).encode(), "field 'group'"),
        (b'{"id": "imported", "config": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested deeper"),
    ],
)
def test_import_of_a_bundle_with_a_malformed_run_json_fails_clearly_and_changes_nothing(
    central: tuple[Path, dict[str, str]], tmp_path: Path, run_json: bytes, message: str
) -> None:
    root, before = central
    bundle = tmp_path / "bad.ltbundle"
    _run_bundle(bundle, run_json)
    with pytest.raises(BundleError, match=message):
        import_bundle(bundle, root)
    _unchanged(root, before)
    result = run_cli("import", str(bundle), "--dir", str(root))
    assert result.returncode != 0
    assert message.split("'")[0] in result.stderr + result.stdout
    assert "run imported cannot be imported" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    _unchanged(root, before)


@pytest.mark.parametrize(
    ("header", "manifest", "message"),
    [
        (HEADER, b"[" * 5000 + b"]" * 5000, "nested deeper than 64 levels"),
        (b"[" * 5000 + b"]" * 5000, b"{}", "nested deeper than 64 levels"),
        (
            json.dumps({"format": "localtrack-bundle", "version": 1, "created_at": "x"}).encode(),
            b"{}",
            "the bundle header field 'created_at' must be a number",
        ),
        (json.dumps({"format": "localtrack-bundle", "version": "1"}).encode(), b"{}", "version"),
    ],
)
def test_deep_or_mistyped_bundle_frames_are_a_clear_error(
    central: tuple[Path, dict[str, str]],
    tmp_path: Path,
    header: bytes,
    manifest: bytes,
    message: str,
) -> None:
    root, before = central
    bundle = tmp_path / "deep.ltbundle"
    _write_bundle(bundle, header, [], [manifest])
    with pytest.raises(BundleError, match=message):
        import_bundle(bundle, root)
    result = run_cli("import", str(bundle), "--dir", str(root))
    assert result.returncode != 0 and message in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    _unchanged(root, before)


# -- a failed commit is undone ---------------------------------------------------------------


def _manifest(root: Path, run_id: str) -> tuple[Any, dict[str, bytes]]:
    builder = ManifestBuilder(StoreRoot(root))
    local = builder.build(run_id, RunSyncState(None))
    builder.close()
    blobs = {}
    for ref in local.manifest.files:
        with local.open_file(ref.name) as f:
            blobs[ref.sha256] = f.read()
    return local.manifest.run, blobs


def _upload(area: Ingest, blobs: dict[str, bytes]) -> None:
    for sha, data in blobs.items():
        area.receive(sha, [data], 1 << 30)


def _tree(directory: Path) -> dict[str, str]:
    """Every file under `directory` by content (the heartbeat by its mtime)."""
    out = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        rel = str(path.relative_to(directory))
        out[rel] = (
            str(path.stat().st_mtime) if rel.endswith("heartbeat") else _sha(path.read_bytes())
        )
    return out


def test_a_commit_that_fails_after_placing_files_is_undone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = tmp_path / "client"
    [run_id] = log_runs(client, n=1, steps=30, shards=3)
    server = tmp_path / "server"
    area = Ingest(server).create()
    manifest, blobs = _manifest(client, run_id)
    _upload(area, blobs)

    def fail(run: str) -> None:
        raise RuntimeError("the index is gone")

    monkeypatch.setattr(area._commits, "_reindex", fail)
    with pytest.raises(RuntimeError):
        area.commit(manifest)
    assert not (server / "runs" / run_id).exists()  # a new run: its directory is gone again
    assert area.record(run_id) is None and os.listdir(area.journal) == []
    monkeypatch.undo()
    area.commit(manifest)  # the same commit, when nothing fails, goes through
    before = _tree(server / "runs" / run_id)
    record = area.record(run_id)
    # A second commit of the same run (new run.json, one more shard) fails at the end.
    meta_path = client / "runs" / run_id / "run.json"
    meta_path.write_text(json.dumps(dict(json.loads(meta_path.read_text()), notes="changed")))
    manifest2, blobs2 = _manifest(client, run_id)
    _upload(area, blobs2)
    monkeypatch.setattr(area._commits, "_reindex", fail)
    with pytest.raises(RuntimeError):
        area.commit(manifest2)
    assert _tree(server / "runs" / run_id) == before
    assert area.record(run_id) == record
    assert os.listdir(area.journal) == [] and os.listdir(area.dir / "undo") == []


def test_recover_undoes_and_sets_aside_a_journal_it_cannot_roll_forward(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    client = tmp_path / "client"
    [run_id] = log_runs(client, n=1, steps=30, shards=3)
    server = tmp_path / "server"
    area = Ingest(server).create()
    manifest, blobs = _manifest(client, run_id)
    _upload(area, blobs)
    real = commits._link_into_place
    placed: list[Path] = []

    def crash_after_one(blob: Path, target: Path) -> None:
        if placed:
            raise KeyboardInterrupt("simulated crash")
        placed.append(target)
        real(blob, target)

    monkeypatch.setattr(commits, "_link_into_place", crash_after_one)
    with pytest.raises(KeyboardInterrupt):
        area.commit(manifest)
    monkeypatch.undo()
    assert placed and placed[0].exists()  # the crash left a half-placed run
    shutil.rmtree(area.blobs)  # ... and its blobs are gone: it can never be rolled forward
    area.blobs.mkdir()
    assert Ingest(server).recover() == []  # no exception
    assert not (server / "runs" / run_id).exists()  # undone: the run is as it was (absent)
    assert os.listdir(area.journal) == []
    assert [p.name.split(".")[0] for p in (area.dir / "quarantine").iterdir()] == [run_id]
    assert any("could not be applied" in r.getMessage() for r in caplog.records)
    assert Ingest(server).recover() == []  # and the next start has nothing left to trip over


def test_a_deeply_nested_run_json_already_on_disk_does_not_break_negotiation(
    tmp_path: Path,
) -> None:
    root = tmp_path / "server"
    area = Ingest(root).create()
    run_dir = root / "runs" / "old-junk"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_bytes(b"[" * 5000 + b"]" * 5000)  # left by an older version
    assert area.existing_project("old-junk") == "uncategorized"
