"""The read cache of a shared-nothing server (localtrack/store/runcache.py), over a real blob
store (the directory one; the S3 one is exercised end to end in test_server_shared_nothing.py):
every file is hash-checked on the way in, a damaged or lost blob is named and left out, a view
appears whole or not at all, and the bound evicts the least recently read view."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from localtrack.store import runcache
from localtrack.store.ingest.staging import DirectoryBlobStore
from localtrack.store.runcache import RunCache


def _blobs(tmp_path: Path, contents: dict[str, bytes]) -> tuple[DirectoryBlobStore, dict]:
    """A blob store holding `contents` ({file name: bytes}), and the run's record of them."""
    store = DirectoryBlobStore(tmp_path / "tmp", tmp_path / "blobs")
    files = {}
    for name, data in contents.items():
        sha = hashlib.sha256(data).hexdigest()
        store.put(sha, [data], 1 << 20)
        files[name] = {"sha256": sha, "bytes": len(data)}
    return store, {"files": files, "heartbeat_at": 1764510000.0}


def test_a_view_holds_the_run_whole_and_names_what_the_store_lost_or_damaged(
    tmp_path: Path,
) -> None:
    run_json = json.dumps({"id": "r1", "project": "p"}).encode()
    store, record = _blobs(
        tmp_path, {"run.json": run_json, "files/a.txt": b"a" * 100, "files/b.txt": b"b" * 50}
    )
    lost, damaged = record["files"]["files/a.txt"]["sha256"], record["files"]["files/b.txt"]["sha256"]  # fmt: skip
    store.path(lost).unlink()
    store.path(damaged).write_bytes(b"not b")
    cache = RunCache(tmp_path / "cache", store, max_bytes=1 << 20)

    view = cache.view("r1", record)
    paths = view.paths(cache.views)
    assert paths.run_json.read_bytes() == run_json
    assert paths.heartbeat.stat().st_mtime == record["heartbeat_at"]
    assert not (paths.files / "a.txt").exists() and not (paths.files / "b.txt").exists()
    assert view.missing["files/a.txt"] == f"blob {lost} missing"
    bad = hashlib.sha256(b"not b").hexdigest()
    assert view.missing["files/b.txt"] == f"blob {damaged} changed: hashes to {bad}"
    assert not any((tmp_path / "cache" / "tmp").iterdir())  # nothing half-made left behind
    fetched = cache.fetched
    assert cache.view("r1", record).digest == view.digest and cache.fetched == fetched  # once


def test_the_bound_evicts_the_least_recently_read_run_and_it_is_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runcache, "EVICT_GRACE_S", 0.0)
    store, first = _blobs(tmp_path, {"run.json": b'{"id": "r1"}', "files/x": b"x" * 600})
    _, second = _blobs(tmp_path, {"run.json": b'{"id": "r2"}', "files/y": b"y" * 600})
    cache = RunCache(tmp_path / "cache", store, max_bytes=1000)

    one = cache.view("r1", first)
    cache.view("r2", second)  # over the bound: r1, read longest ago, goes
    assert not (cache.views / one.digest).exists()
    assert cache.held_bytes() <= 1000
    again = cache.view("r1", first)  # read again: made again, whole
    assert (again.paths(cache.views).files / "x").read_bytes() == b"x" * 600
    assert [p.name for p in cache.views.glob("*/*") if p.is_dir()] == ["r1"]
