"""Artifacts benchmark: log a big file vs sha256sum + cp; re-log unchanged; a many-file folder
add_dir + log vs tar and vs cp -r of the same folder (each the median of --repeat runs, taken
side by side); download of a cached version (hard links).

    python benchmarks/bench_artifacts.py                 # 1 GiB file, 100,000 × 4 KiB files
    python benchmarks/bench_artifacts.py --mb 64 --files 5000   # quick

``tar`` reads every file and writes one archive; ``cp -r`` also creates every file, as a store of
one file per blob must: on a busy disk file creation dominates, and cp -r shows that floor.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from localtrack.artifacts.artifact import Artifact
from localtrack.store.artifacts.repository import ArtifactRepository


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _log(repo: ArtifactRepository, name: str, path: Path) -> None:
    art = Artifact(name, "dataset")
    art.add_dir(path) if path.is_dir() else art.add_file(path)
    repo.log("bench", name, "dataset", list(art._sources.values()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mb", type=int, default=1024, help="size of the big file in MiB")
    ap.add_argument("--files", type=int, default=100_000, help="number of 4 KiB files")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the many-file case (median)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        base = Path(tmp)
        big = base / "big.bin"
        with open(big, "wb") as f:
            for _ in range(args.mb):
                f.write(os.urandom(1 << 20))
        many = base / "many"
        for i in range(args.files):
            d = many / f"{i % 100:02d}"
            if i < 100:
                d.mkdir(parents=True)
            (d / f"{i}.bin").write_bytes(os.urandom(4096))
        repo = ArtifactRepository(base / "store", create=True)
        peer = _timed(
            lambda: (
                subprocess.run(["sha256sum", str(big)], check=True, capture_output=True),
                shutil.copyfile(big, base / "copy.bin"),
            )
        )
        ours = _timed(lambda: _log(repo, "big", big))
        relog = _timed(lambda: _log(repo, "big", big))
        tars, cps, logs = [], [], []
        for i in range(args.repeat):
            tars.append(
                _timed(
                    lambda: subprocess.run(
                        ["tar", "cf", str(base / "m.tar"), "-C", str(base), "many"], check=True
                    )
                )
            )
            cps.append(
                _timed(
                    lambda i=i: subprocess.run(
                        ["cp", "-r", str(many), str(base / f"cp{i}")], check=True
                    )
                )
            )
            fresh = ArtifactRepository(base / f"store{i}", create=True)
            logs.append(_timed(lambda fresh=fresh: _log(fresh, "many", many)))
            (base / "m.tar").unlink()
        tar, cp, many_t = (statistics.median(x) for x in (tars, cps, logs))
        _log(repo, "many", many)
        manifest, _ = repo.resolve("bench", "many", "latest")
        dl = _timed(lambda: repo.materialize(manifest, base / "dl"))
    print(f"log {args.mb} MiB file: {ours:.2f} s vs sha256sum+cp {peer:.2f} s ({ours / peer:.2f}x)")
    print(f"re-log unchanged: {relog:.2f} s")
    print(
        f"{args.files} x 4 KiB add_dir+log: {many_t:.2f} s vs tar {tar:.2f} s ({many_t / tar:.2f}x),"
        f" cp -r {cp:.2f} s ({many_t / cp:.2f}x); medians of {args.repeat}"
    )
    print(f"download cached {args.files}-file version: {dl:.2f} s")


if __name__ == "__main__":
    main()
