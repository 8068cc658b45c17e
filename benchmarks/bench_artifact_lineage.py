"""Lineage graph on a project with many collections: a request with nothing cached (every
collection read, as every request did before the per-collection cache) vs a request on an
unchanged store (only the focus collection resolved; the other parts checked by three stats).

    python benchmarks/bench_artifact_lineage.py                # 200 collections, 3 versions each
    python benchmarks/bench_artifact_lineage.py --collections 50
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import localtrack
from localtrack.store import artifact_reader
from localtrack.store.artifact_reader import ArtifactReader


def build(root: Path, collections: int, versions: int) -> None:
    settings = localtrack.Settings(system_metrics=False, console=False, save_code=False)
    with localtrack.init(project="p", dir=root, settings=settings) as run:
        for i in range(collections):
            for v in range(versions):
                art = localtrack.Artifact(f"c{i:03d}", "dataset")
                for j in range(10):
                    with art.new_file(f"f{j}.txt") as f:
                        f.write(f"{i}-{v}-{j}")
                run.log_artifact(art, aliases=["best"])
    with localtrack.init(project="p", dir=root, settings=settings) as run:
        for i in range(0, collections, 4):
            run.use_artifact(f"c{i:03d}:latest")
    old = time.time() - 60  # past the racy window, as a store that is not being written
    for dirpath, _dirs, _files in os.walk(root / "artifacts" / "collections"):
        os.utime(dirpath, (old, old))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--collections", type=int, default=200)
    ap.add_argument("--versions", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "store"
        build(root, args.collections, args.versions)
        cold, warm = [], []
        for _ in range(args.repeat):
            artifact_reader._parts.clear()
            t = time.perf_counter()
            ArtifactReader(root).lineage("p", "c000", "latest")
            cold.append(time.perf_counter() - t)
            t = time.perf_counter()
            ArtifactReader(root).lineage("p", "c000", "latest")
            warm.append(time.perf_counter() - t)
        c, w = statistics.median(cold), statistics.median(warm)
        print(f"{args.collections} collections × {args.versions} versions")
        print(f"  every collection read (before): {c * 1000:8.1f} ms")
        print(f"  unchanged store, cached (after): {w * 1000:8.1f} ms  ({c / w:.0f}× faster)")


if __name__ == "__main__":
    main()
