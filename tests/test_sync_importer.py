"""The store's importer: verified blobs, manifests applied in one step, crash recovery."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from localtrack.errors import (
    BlobTooLargeError,
    CorruptDataError,
    DigestMismatchError,
    ManifestError,
    MissingBlobsError,
    RunConflictError,
)
from localtrack.store.ingest import commits
from localtrack.store.ingest.importer import Ingest
from localtrack.store.ingest.manifest_types import FileRef, RunManifest
from localtrack.store.root import StoreRoot
from localtrack.sync.manifest_builder import ManifestBuilder
from localtrack.sync.state import RunSyncState

from .sync_fixtures import log_runs, metric_rows, store_files


def _manifest(root: Path, run_id: str) -> tuple[RunManifest, dict[str, bytes]]:
    """A run's manifest and each listed file's bytes, as the sync client would send them."""
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
        area.receive(sha, [data[i : i + 1000] for i in range(0, len(data), 1000)], 1 << 30)


@pytest.fixture
def client(tmp_path: Path) -> tuple[Path, list[str]]:
    root = tmp_path / "client"
    return root, log_runs(root, n=2, steps=300)


def test_receive_keeps_only_blobs_whose_hash_matches(tmp_path: Path) -> None:
    area = Ingest(tmp_path / "s").create()
    data = b"x" * 5000
    sha = hashlib.sha256(data).hexdigest()
    assert area.receive(sha, [data[:10], data[10:]], 10_000) == 5000
    assert area.blob_path(sha).read_bytes() == data
    other = hashlib.sha256(b"other").hexdigest()
    with pytest.raises(DigestMismatchError):
        area.receive(other, [data], 10_000)
    with pytest.raises(BlobTooLargeError):
        area.receive(other, iter([b"y" * 4000] * 3), 10_000)  # counted as it streams
    assert not area.has_blob(other) and os.listdir(area.tmp) == []
    with pytest.raises(ManifestError):
        area.receive("../../etc/passwd", [b""], 10)


def test_commit_makes_the_server_run_byte_identical_and_indexed(
    client: tuple[Path, list[str]], tmp_path: Path
) -> None:
    root, ids = client
    area = Ingest(tmp_path / "s").create()
    for run_id in ids:
        manifest, blobs = _manifest(root, run_id)
        status = area.status(manifest)
        assert not status.current and set(status.missing) <= set(blobs)
        _upload(area, blobs)
        assert area.status(manifest).missing == ()
        result = area.commit(manifest)
        assert result.changed and result.placed == len(manifest.files) and result.project == "proj"
        assert area.status(manifest).current
        assert area.commit(manifest).changed is False  # idempotent
        assert metric_rows(tmp_path / "s", run_id) == metric_rows(root, run_id)
    assert store_files(tmp_path / "s") == store_files(root)
    assert os.listdir(area.journal) == []
    index = StoreRoot(tmp_path / "s").open_index(readonly=True)
    assert index is not None and {r["id"] for r in index.run_rows()} == set(ids)
    index.close()


def test_a_commit_without_its_blobs_names_what_is_missing(
    client: tuple[Path, list[str]], tmp_path: Path
) -> None:
    root, ids = client
    area = Ingest(tmp_path / "s").create()
    manifest, blobs = _manifest(root, ids[0])
    first = next(iter(blobs))
    _upload(area, {first: blobs[first]})
    with pytest.raises(MissingBlobsError) as info:
        area.commit(manifest)
    assert set(info.value.missing) == set(blobs) - {first}
    assert not (tmp_path / "s" / "runs" / ids[0]).exists()


def _compact(root: Path, run_id: str) -> None:
    """Merge a run's shards into one covering shard, as the writer's compaction does."""
    from localtrack.store.layout import ShardName
    from localtrack.store.metrics import sort_rows
    from localtrack.store.runfiles import list_shards
    from localtrack.store.shards import read_shard, write_shard

    paths = StoreRoot(root).run(run_id)
    shards = list_shards(paths)
    tables, dtypes = [], {}
    for s in shards:
        t, d = read_shard(paths.shard(s))
        tables.append(t)
        dtypes.update(d)
    merged = ShardName(0, shards[0].first_batch, shards[-1].last_batch)
    write_shard(paths.shard(merged), merged, sort_rows(tables), dtypes)
    for s in shards:
        paths.shard(s).unlink()


def test_shards_covered_by_a_new_merged_shard_are_removed(
    client: tuple[Path, list[str]], tmp_path: Path
) -> None:
    root, ids = client
    server = tmp_path / "s"
    area = Ingest(server).create()
    manifest, blobs = _manifest(root, ids[0])
    _upload(area, blobs)
    area.commit(manifest)
    assert len(os.listdir(server / "runs" / ids[0] / "metrics")) == 3
    _compact(root, ids[0])
    manifest, blobs = _manifest(root, ids[0])
    missing = area.status(manifest).missing
    assert len(missing) == 1  # only the merged shard is new
    _upload(area, {m: blobs[m] for m in missing})
    result = area.commit(manifest)
    assert result.placed == 1 and result.removed == 3
    assert os.listdir(server / "runs" / ids[0] / "metrics") == ["0000-000000001-000000003.parquet"]
    assert metric_rows(server, ids[0]) == metric_rows(root, ids[0])


def test_a_shard_the_client_no_longer_lists_is_kept_when_nothing_covers_it(
    client: tuple[Path, list[str]], tmp_path: Path
) -> None:
    root, ids = client
    server = tmp_path / "s"
    area = Ingest(server).create()
    manifest, blobs = _manifest(root, ids[0])
    _upload(area, blobs)
    area.commit(manifest)
    before = metric_rows(server, ids[0])
    # The client quarantines a damaged shard: its next manifest lacks it.
    (root / "runs" / ids[0] / "metrics" / "0000-000000002-000000002.parquet").unlink()
    manifest, blobs = _manifest(root, ids[0])
    area.commit(manifest)
    assert metric_rows(server, ids[0]) == before
    assert area.status(manifest).current


def test_a_crash_mid_commit_is_finished_by_recover(
    client: tuple[Path, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, ids = client
    server = tmp_path / "s"
    area = Ingest(server).create()
    manifest, blobs = _manifest(root, ids[0])
    _upload(area, blobs)
    real = commits._link_into_place
    calls = []

    def crash_after_one(blob: Path, target: Path) -> None:
        if calls:
            raise KeyboardInterrupt("simulated crash")
        calls.append(target)
        real(blob, target)

    monkeypatch.setattr(commits, "_link_into_place", crash_after_one)
    with pytest.raises(KeyboardInterrupt):
        area.commit(manifest)
    monkeypatch.setattr(commits, "_link_into_place", real)
    assert os.listdir(area.journal) == [f"{ids[0]}.json"]
    assert Ingest(server).recover() == [ids[0]]
    assert os.listdir(area.journal) == [] and area.status(manifest).current
    assert metric_rows(server, ids[0]) == metric_rows(root, ids[0])


def test_the_same_run_id_from_another_origin_is_a_conflict(
    client: tuple[Path, list[str]], tmp_path: Path
) -> None:
    root, ids = client
    server = tmp_path / "s"
    area = Ingest(server).create()
    manifest, blobs = _manifest(root, ids[0])
    _upload(area, blobs)
    area.commit(manifest)
    # Another machine made a run with the same id: different created_at and host.
    other = tmp_path / "other"
    shutil.copytree(root, other)
    meta_path = other / "runs" / ids[0] / "run.json"
    meta = json.loads(meta_path.read_text())
    meta["created_at"] += 1000
    meta["segments"][0]["host"] = "elsewhere"
    meta_path.write_text(json.dumps(meta))
    manifest2, blobs2 = _manifest(other, ids[0])
    _upload(area, blobs2)
    with pytest.raises(RunConflictError, match="another run"):
        area.commit(manifest2)
    assert metric_rows(server, ids[0]) == metric_rows(root, ids[0])


@pytest.mark.parametrize("what", ["run_json_of_another_run", "shard_not_parquet"])
def test_blobs_that_are_not_what_the_manifest_says_are_refused(
    client: tuple[Path, list[str]], tmp_path: Path, what: str
) -> None:
    root, ids = client
    area = Ingest(tmp_path / "s").create()
    manifest, blobs = _manifest(root, ids[0])
    files = list(manifest.files)
    if what == "run_json_of_another_run":
        data = (root / "runs" / ids[1] / "run.json").read_bytes()
        files[0] = FileRef("run.json", hashlib.sha256(data).hexdigest(), len(data))
        error: type[Exception] = ManifestError
    else:
        data = b"not parquet at all"
        files[1] = FileRef(files[1].name, hashlib.sha256(data).hexdigest(), len(data))
        error = CorruptDataError
    blobs[hashlib.sha256(data).hexdigest()] = data
    _upload(area, blobs)
    with pytest.raises(error):
        area.commit(RunManifest(ids[0], tuple(files)))
    assert not (tmp_path / "s" / "runs" / ids[0]).exists()


def test_gc_removes_only_stale_uploads(tmp_path: Path) -> None:
    area = Ingest(tmp_path / "s").create()
    data = b"z" * 10
    sha = hashlib.sha256(data).hexdigest()
    area.receive(sha, [data], 100)
    assert area.gc() == 0 and area.has_blob(sha)
    old = area.blob_path(sha).stat().st_mtime - 2 * 86400
    os.utime(area.blob_path(sha), (old, old))
    assert area.gc() == 1 and not area.has_blob(sha)
