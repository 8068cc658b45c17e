"""kill -9 in the middle of logging an artifact, and gc racing a writer.

A real child process logs a folder of many small files and one large file; the test kills it
(SIGKILL) once its blobs start to appear, at a few different depths. Whatever moment the kill
lands on, the store holds either no version or a whole one (every blob present and matching its
hash); ``doctor`` names the partial blobs the kill left, repair removes them, and the same log
then succeeds. gc, meanwhile, never removes a blob a writer has added but not yet published.
"""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import threading
import time
from pathlib import Path

import pytest

from localtrack.errors import StoreError
from localtrack.store.artifacts import blobs
from localtrack.store.artifacts.layout import ArtifactPaths
from localtrack.store.artifacts.repository import ArtifactRepository, Source
from localtrack.store.doctor import run_doctor

from .conftest import PYTHON, child_env

FILES = 1500
CHILD = textwrap.dedent(
    """
    import sys
    from localtrack.artifacts.artifact import Artifact
    from localtrack.store.artifacts.repository import ArtifactRepository

    art = Artifact("ds", "dataset")
    art.add_dir(sys.argv[2])
    ArtifactRepository(sys.argv[1]).log("p", "ds", "dataset", list(art._sources.values()))
    print("logged", flush=True)
    """
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("data") / "ds"
    for i in range(FILES):
        sub = d / f"{i % 10}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{i}.bin").write_bytes(i.to_bytes(4, "big") * 128)
    (d / "weights.bin").write_bytes(os.urandom(blobs.SMALL * 3))
    return d


def _blob_count(paths: ArtifactPaths) -> int:
    """Single blob files, plus the members written to packs so far (each of the small files
    takes 1 KiB there: a 512-byte tar header and its 512 bytes)."""
    try:
        fans = list(os.scandir(paths.blobs))
    except FileNotFoundError:
        fans = []
    try:
        packed = sum(p.stat().st_size for p in os.scandir(paths.packs) if ".tar" in p.name)
    except FileNotFoundError:
        packed = 0
    return sum(len(os.listdir(f.path)) for f in fans if f.is_dir()) + packed // 1024


def _kill_when_blobs(root: Path, folder: Path, at_least: int) -> None:
    """Run the child and kill -9 it once `at_least` blob files exist (or when it is done)."""
    paths = ArtifactPaths.of_root(root)
    child = subprocess.Popen(
        [PYTHON, "-c", CHILD, str(root), str(folder)],
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while child.poll() is None and time.monotonic() < deadline:
        if _blob_count(paths) >= at_least:
            break
        time.sleep(0.002)
    child.send_signal(signal.SIGKILL)
    _, err = child.communicate(timeout=60)
    assert child.returncode in (0, -signal.SIGKILL), err


@pytest.mark.crash
@pytest.mark.parametrize("at_least", [1, FILES // 3, FILES])
def test_kill_mid_log_leaves_no_partial_version(
    tmp_path: Path, folder: Path, at_least: int
) -> None:
    root = tmp_path / "store"
    ArtifactRepository(root, create=True)
    _kill_when_blobs(root, folder, at_least)

    repo = ArtifactRepository(root)
    live = repo.state("p", "ds").live if ("p", "ds") in repo.collections() else {}
    assert sorted(live) in ([], [0])
    if live:  # published: whole, every hash verified on the way out
        repo.materialize(live[0], tmp_path / "whole")
        assert len(live[0].entries) == FILES + 1

    run_doctor(root, repair=True)
    after = run_doctor(root)
    assert after["problems"] == 0, after["lines"]
    assert repo.blobs.incoming_files() == []

    art_sources = [
        Source(p.relative_to(folder).as_posix(), local=p) for p in folder.rglob("*") if p.is_file()
    ]
    manifest, _created, _report = repo.log("p", "ds", "dataset", art_sources)
    assert manifest.version == 0
    out = repo.materialize(manifest, tmp_path / "dl")
    assert (out / "weights.bin").read_bytes() == (folder / "weights.bin").read_bytes()
    assert (out / "7/1237.bin").read_bytes() == (folder / "7/1237.bin").read_bytes()


KILL_BEFORE_INDEX = textwrap.dedent(
    """
    import os, signal, sys
    from localtrack.artifacts.artifact import Artifact
    from localtrack.store.artifacts import packindex
    from localtrack.store.artifacts.repository import ArtifactRepository

    def killed(self, pack, members):  # the pack is sealed and synced; die before its rows land
        os.kill(os.getpid(), signal.SIGKILL)

    packindex.PackIndex.add = killed
    art = Artifact("ds", "dataset")
    art.add_dir(sys.argv[2])
    ArtifactRepository(sys.argv[1]).log("p", "ds", "dataset", list(art._sources.values()))
    """
)


@pytest.mark.crash
def test_kill_between_sealing_and_indexing_a_pack(tmp_path: Path, folder: Path) -> None:
    root = tmp_path / "store"
    ArtifactRepository(root, create=True)
    child = subprocess.run(
        [PYTHON, "-c", KILL_BEFORE_INDEX, str(root), str(folder)],
        env=child_env(),
        capture_output=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    repo = ArtifactRepository(root)
    assert repo.state("p", "ds").versions == {}  # nothing was published
    assert list(repo.blobs.all_blobs()) == [blobs.hash_file(folder / "weights.bin")[0]]

    found = run_doctor(root)
    assert any("not in the pack index" in line for line in found["lines"]), found["lines"]
    run_doctor(root, repair=True)  # indexes the pack from its own tar headers
    assert run_doctor(root)["problems"] == 0
    sources = [Source(p.relative_to(folder).as_posix(), local=p) for p in folder.rglob("*.bin")]
    manifest, _created, report = repo.log("p", "ds", "dataset", sources)
    assert report.new_bytes == 0  # the killed writer's blobs are found, not stored again
    out = repo.materialize(manifest, tmp_path / "dl")
    assert (out / "3/1233.bin").read_bytes() == (folder / "3/1233.bin").read_bytes()


def test_gc_never_removes_a_blob_a_writer_has_not_published_yet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    repo = ArtifactRepository(root, create=True)
    src = tmp_path / "model.bin"
    src.write_bytes(b"weights" * 1000)
    added, release = threading.Event(), threading.Event()
    real = blobs.BlobStore.make_durable

    def paused(self: blobs.BlobStore, report: blobs.AddReport) -> None:
        added.set()  # the blob is in the store; no manifest names it yet
        assert release.wait(60)
        real(self, report)

    monkeypatch.setattr(blobs.BlobStore, "make_durable", paused)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            repo.log("p", "model", "model", [Source("model.bin", local=src)])
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    assert added.wait(60)
    with pytest.raises(StoreError, match="held by an artifact writer"):
        repo.gc(grace_s=0, timeout=0.2)
    assert len(repo.blobs.incoming_files()) == 1  # the writer's pack, still partial, is kept
    release.set()
    writer.join(60)
    assert not errors
    report = repo.gc(grace_s=0)
    assert report.removed == [] and report.kept_referenced == 1
    manifest, _ = repo.resolve("p", "model", "latest")
    assert (repo.materialize(manifest, tmp_path / "dl") / "model.bin").read_bytes() == (
        src.read_bytes()
    )
