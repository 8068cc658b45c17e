"""A full disk in the middle of logging an artifact: a clear error, nothing published, a
consistent store (doctor finds nothing to repair), and the same log succeeds once space returns.

ENOSPC is injected at the blob store's own seams, as tests/test_enospc.py does for metrics:
``packs.write_all`` (small files, appended to a pack a batch of up to 256 at a time) after a
short write, and
``shutil.copyfile`` as the blob store sees it (large files) after half the bytes.
"""

from __future__ import annotations

import errno
import os
import shutil
import threading
import types
from pathlib import Path

import pytest

import localtrack
from localtrack.errors import StoreError
from localtrack.store.artifacts import blobs, packs
from localtrack.store.artifacts.repository import ArtifactRepository
from localtrack.store.doctor import run_doctor


def _enospc() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _many(tmp_path: Path, n: int) -> Path:
    d = tmp_path / "many"
    for i in range(n):
        sub = d / f"{i % 7}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{i}.bin").write_bytes(i.to_bytes(4, "big") * 256)
    return d


def _large(tmp_path: Path) -> Path:
    d = tmp_path / "large"
    d.mkdir()
    (d / "weights.bin").write_bytes(os.urandom(blobs.SMALL + 4096))
    (d / "small.txt").write_text("x")
    return d


def _fill_small_writes(monkeypatch: pytest.MonkeyPatch, after: int) -> None:
    real = packs.write_all
    lock = threading.Lock()
    seen = [0]

    def write_all(fd: int, data: bytes) -> None:
        with lock:
            seen[0] += 1
            full = seen[0] > after
        if full:
            os.write(fd, data[: len(data) // 2])  # the kernel took part of it, then no more
            raise _enospc()
        real(fd, data)

    monkeypatch.setattr(packs, "write_all", write_all)


def _fill_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    def copyfile(src: str, dst: str) -> None:
        with open(src, "rb") as f, open(dst, "wb") as out:
            out.write(f.read(blobs.SMALL // 2))
        raise _enospc()

    monkeypatch.setattr(blobs, "shutil", types.SimpleNamespace(copyfile=copyfile))


@pytest.mark.parametrize(
    ("make", "fill"),
    [
        (lambda p: _many(p, 300), lambda mp: _fill_small_writes(mp, after=1)),  # 2nd batch
        (lambda p: _many(p, 20), lambda mp: _fill_small_writes(mp, after=0)),  # the only one
        (_large, _fill_copies),
    ],
    ids=["many-small-files", "few-small-files", "large-file"],
)
def test_disk_full_mid_add_publishes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: object, fill: object
) -> None:
    folder = make(tmp_path)  # type: ignore[operator]
    root = tmp_path / "store"
    with localtrack.init(project="p", dir=root) as run:
        before = localtrack.Artifact("before", "dataset")
        before.add_file(__file__)
        run.log_artifact(before)
        with monkeypatch.context() as mp:
            fill(mp)  # type: ignore[operator]
            art = localtrack.Artifact("ds", "dataset")
            art.add_dir(folder)
            with pytest.raises(StoreError, match=r"no space left .* nothing was published"):
                run.log_artifact(art, aliases=["best"])
    repo = ArtifactRepository(root)
    assert repo.state("p", "ds").versions == {}
    assert not repo.blobs.incoming_files(), "a partial blob was left behind"
    report = run_doctor(root)
    assert report["problems"] == 0, report["lines"]

    with localtrack.init(project="p", dir=root) as run:  # space is back: the same log works
        art = localtrack.Artifact("ds", "dataset")
        art.add_dir(folder)
        run.log_artifact(art, aliases=["best"])
    assert art.version == "v0"
    art.verify(art.download(tmp_path / "dl"))
    shutil.rmtree(tmp_path / "dl")
    assert run_doctor(root)["problems"] == 0
