"""Artifacts benchmark (issue 13), every row beside its floor, measured side by side in one run.

    python benchmarks/bench_artifacts.py                          # 1 GiB file, 100,000 × 4 KiB
    python benchmarks/bench_artifacts.py --mb 64 --files 5000     # quick
    python benchmarks/bench_artifacts.py --only-many               # the many-files rows alone
    python benchmarks/bench_artifacts.py --wandb-python /path/to/venv/bin/python   # + W&B offline

- log a big file as an artifact vs ``sha256sum`` + ``cp`` of it (budget ≤ 1.3×);
- re-log it unchanged: bytes stored (budget 0) and time vs one ``sha256sum``;
- a folder of many 4 KiB files, ``add_dir`` + log vs ``tar`` (budget ≤ 2×), ``tar`` + ``sync``
  (durable, as a logged version is), ``cp -r``, and Python opening, reading and hashing each
  file (the floor of any writer in Python that hashes); small blobs go into tar packs;
- ``download()`` of the many-file version: the first (every packed blob extracted from its pack,
  and kept in the extraction cache) and the second (hard links from that cache), hashes verified;
- sync of a version whose blobs a real server (``localtrack server`` on 127.0.0.1) already has:
  blobs sent (budget 0) and time;
- optionally W&B offline artifacts (add + ``log_artifact`` + ``finish``) as the peer, run by a
  Python that has ``wandb`` installed (kept out of localtrack's own environment).

Each timed case is the median of ``--repeat`` runs, each on a fresh store; copies are removed
between runs; ``tar`` and ``add_dir`` + log run in pairs, one after the other. Prints the load average next to the numbers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_sync import Server  # noqa: E402

import localtrack  # noqa: E402
from localtrack.artifacts.artifact import Artifact  # noqa: E402
from localtrack.store.artifacts.repository import ArtifactRepository  # noqa: E402
from localtrack.store.root import StoreRoot  # noqa: E402
from localtrack.sync.client import SyncClient  # noqa: E402
from localtrack.sync.remote import connect  # noqa: E402

WANDB_CHILD = textwrap.dedent(
    """
    import json, os, sys, time
    import wandb

    def timed(add):
        t = time.perf_counter()
        run = wandb.init(project="bench", mode="offline", dir=sys.argv[1])
        start = time.perf_counter()
        art = wandb.Artifact("a", "dataset")
        add(art)
        run.log_artifact(art)
        run.finish()
        return time.perf_counter() - start, start - t

    big, _ = timed(lambda a: a.add_file(sys.argv[2]))
    many, _ = timed(lambda a: a.add_dir(sys.argv[3]))
    empty, _ = timed(lambda a: None)
    print(json.dumps({"big": big, "many": many, "empty": empty}))
    """
)


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def median_of(repeat: int, fn: Callable[[int], float]) -> float:
    return statistics.median(fn(i) for i in range(repeat))


def rm(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def log(repo: ArtifactRepository, name: str, path: Path) -> int:
    """Log `path` as artifact `name`; returns the bytes newly stored."""
    art = Artifact(name, "dataset")
    art.add_dir(path) if path.is_dir() else art.add_file(path)
    _, _, report = repo.log("bench", name, "dataset", list(art._sources.values()))
    return report.new_bytes


def warm_up(base: Path) -> None:
    """Log one tiny artifact first, so that no timed case pays for first imports."""
    (base / "warm.txt").write_text("warm")
    log(ArtifactRepository(base / "warm", create=True), "warm", base / "warm.txt")
    rm(base / "warm")


def make_data(base: Path, mb: int, files: int) -> tuple[Path, Path]:
    big = base / "big.bin"
    with open(big, "wb") as f:
        for _ in range(mb):
            f.write(os.urandom(1 << 20))
    many = base / "many"
    for i in range(files):
        d = many / f"{i % 100:02d}"
        if i < 100:
            d.mkdir(parents=True)
        (d / f"{i}.bin").write_bytes(os.urandom(4096))
    subprocess.run(["sync"], check=True)
    return big, many


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def big_file_rows(base: Path, big: Path, repeat: int) -> dict[str, float]:
    def peer(i: int) -> float:
        s = timed(lambda: sh("sha256sum", str(big))) + timed(
            lambda: sh("cp", str(big), str(base / "copy.bin"))
        )
        synced.append(s + timed(lambda: sh("sync")))  # the durable floor: cp, then flush
        rm(base / "copy.bin")
        # coreutils' sha256sum may not use the CPU's SHA instructions; openssl (like Python's
        # hashlib) does: the same copy with that hash is the stricter floor.
        with_openssl.append(
            timed(lambda: sh("openssl", "dgst", "-sha256", str(big)))
            + timed(lambda: sh("cp", str(big), str(base / "copy.bin")))
        )
        rm(base / "copy.bin")
        return s

    synced: list[float] = []
    with_openssl: list[float] = []

    def ours(i: int) -> float:
        repo = ArtifactRepository(base / "store-big", create=True)
        s = timed(lambda: log(repo, "big", big))
        rm(base / "store-big")
        return s

    out = {"hash": median_of(repeat, lambda i: timed(lambda: sh("sha256sum", str(big))))}
    out["peer"], out["ours"] = median_of(repeat, peer), median_of(repeat, ours)
    out["peer_synced"] = statistics.median(synced)
    out["peer_openssl"] = statistics.median(with_openssl)
    repo = ArtifactRepository(base / "store-big", create=True)
    log(repo, "big", big)
    relog: list[float] = []
    stored = 0
    for _ in range(repeat):
        t = time.perf_counter()
        stored += log(repo, "big", big)
        relog.append(time.perf_counter() - t)
    out["relog"], out["relog_bytes"] = statistics.median(relog), stored
    rm(base / "store-big")
    return out


def many_file_rows(base: Path, many: Path, repeat: int) -> dict[str, float]:
    """`tar` and localtrack interleaved (one pair per repeat: the load moves between pairs, so
    each pair's ratio is reported too), then the other floors, then downloads."""

    def tar() -> float:
        s = timed(lambda: sh("tar", "cf", str(base / "m.tar"), "-C", str(base), "many"))
        tar_synced.append(s + timed(lambda: sh("sync")))  # durable, as a logged version is
        rm(base / "m.tar")
        return s

    tar_synced: list[float] = []

    def read_and_hash(i: int) -> float:
        """The floor of any Python writer that hashes: open, read, sha256 each file."""
        names = [str(p) for p in sorted(many.rglob("*.bin"))]
        start = time.perf_counter()
        for name in names:
            with open(name, "rb") as f:
                hashlib.sha256(f.read()).hexdigest()
        return time.perf_counter() - start

    def cp(i: int) -> float:
        s = timed(lambda: sh("cp", "-r", str(many), str(base / "cp")))
        rm(base / "cp")
        return s

    def ours() -> float:
        repo = ArtifactRepository(base / "store-many", create=True)
        s = timed(lambda: log(repo, "many", many))
        rm(base / "store-many")
        return s

    pairs = [(tar(), ours()) for _ in range(repeat)]
    out = {"tar": statistics.median(t for t, _o in pairs)}
    out["ours"] = statistics.median(o for _t, o in pairs)
    out["pair_ratios"] = sorted(o / t for t, o in pairs)  # type: ignore[assignment]
    out["tar_synced"] = statistics.median(tar_synced)
    out["cp"] = median_of(repeat, cp)
    out["read_hash"] = median_of(repeat, read_and_hash)
    repo = ArtifactRepository(base / "store-many", create=True)
    log(repo, "many", many)
    manifest, _ = repo.resolve("bench", "many", "latest")

    def download(i: int) -> float:
        """A fresh store's first download (extracts every packed blob), then a second one
        (hard links from the extraction cache)."""
        rm(repo.paths.extracted)
        first = timed(lambda: repo.materialize(manifest, base / "dl"))
        second = timed(lambda: repo.materialize(manifest, base / "dl2"))
        seconds.append(second)
        rm(base / "dl")
        rm(base / "dl2")
        return first

    seconds: list[float] = []
    out["download"] = median_of(repeat, download)
    out["download_again"] = statistics.median(seconds)
    rm(base / "store-many")
    return out


def sync_rows(base: Path, files: int) -> dict[str, float]:
    """A version synced once; then new runs log the same bytes under other names: 0 blobs."""
    data = base / "sync-data"
    for i in range(files):
        d = data / f"{i % 10}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{i}.bin").write_bytes(os.urandom(4096))
    store = base / "sync-store"
    StoreRoot(base / "sync-server", create=True)
    server = Server(base / "sync-server")
    out: dict[str, float] = {}
    try:
        for key in ("first", "again"):
            with localtrack.init(project="bench", dir=store) as run:
                art = localtrack.Artifact(f"data-{key}", "dataset")
                art.add_dir(data)
                run.log_artifact(art)
                run_id = run.id
            client = SyncClient.for_store(store, connect(server.url, None))
            t = time.perf_counter()
            report = client.sync([run_id])
            out[f"{key}_s"] = time.perf_counter() - t
            assert not report.failed, [r.message for r in report.failed]
            out[f"{key}_blobs"] = sum(a.blobs for a in report.artifacts)
            client.remote.transport.close()
    finally:
        server.stop()
    for p in (data, store, base / "sync-server"):
        rm(p)
    return out


def wandb_rows(base: Path, python: str, big: Path, many: Path) -> dict[str, float] | str:
    env = dict(
        os.environ,
        WANDB_SILENT="true",
        WANDB_DATA_DIR=str(base / "wandb-data"),
        WANDB_CACHE_DIR=str(base / "wandb-cache"),
        WANDB_CONFIG_DIR=str(base / "wandb-config"),
        WANDB_ARTIFACT_DIR=str(base / "wandb-artifacts"),
    )
    env.pop("PYTHONPATH", None)
    (base / "wandb-runs").mkdir()
    done = subprocess.run(
        [python, "-c", WANDB_CHILD, str(base / "wandb-runs"), str(big), str(many)],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    for p in base.glob("wandb-*"):
        rm(p)
    if done.returncode != 0:
        return f"W&B run failed: {done.stderr.strip().splitlines()[-1:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--mb", type=int, default=1024, help="size of the big file in MiB")
    ap.add_argument("--files", type=int, default=100_000, help="number of 4 KiB files")
    ap.add_argument("--sync-files", type=int, default=2000, help="files of the synced version")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each timed case (median)")
    ap.add_argument("--wandb-python", help="a Python with wandb installed: adds W&B offline")
    ap.add_argument("--dir", default=".", help="where the temporary data goes (same disk)")
    ap.add_argument(
        "--only-many", action="store_true", help="only the many-files rows (and a 1 MiB file)"
    )
    args = ap.parse_args()
    if args.only_many:
        args.mb = 1
    print(f"load average before: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-artifacts-") as tmp:
        base = Path(tmp)
        big, many = make_data(base, args.mb, args.files)
        warm_up(base)
        b = None if args.only_many else big_file_rows(base, big, args.repeat)
        print(f"big file: {b}; load average {os.getloadavg()}", flush=True)
        m = many_file_rows(base, many, args.repeat)
        print(f"many files: {m}; load average {os.getloadavg()}", flush=True)
        s = None if args.only_many else sync_rows(base, args.sync_files)
        print(f"sync: {s}; load average {os.getloadavg()}", flush=True)
        w = wandb_rows(base, args.wandb_python, big, many) if args.wandb_python else None
    print(f"load average after: {os.getloadavg()}")
    print(f"\nmedians of {args.repeat}; {args.mb} MiB file, {args.files} × 4 KiB files\n")
    print("| what | localtrack | floor (same run) |")
    print("|---|---|---|")
    if b is not None:
        print_big_rows(args.mb, b)
    print_many_rows(args.files, m)
    if s is not None:
        print(
            f"| sync a {args.sync_files:,}-file version whose blobs the server has | "
            f"{s['again_s']:.2f} s, {s['again_blobs']:.0f} blobs sent | the first sync of those"
            f" bytes: {s['first_s']:.2f} s, {s['first_blobs']:.0f} blobs |"
        )
    if isinstance(w, dict):
        print(
            f"| W&B offline, add + `log_artifact` + `finish` | {args.mb} MiB file {w['big']:.2f} s;"
            f" {args.files:,} files {w['many']:.2f} s | an empty artifact run {w['empty']:.2f} s |"
        )
    elif w is not None:
        print(f"| W&B offline | {w} | |")


def print_big_rows(mb: int, b: dict[str, float]) -> None:
    print(
        f"| log a {mb} MiB file | {b['ours']:.2f} s | `sha256sum` + `cp` {b['peer']:.2f} s:"
        f" **{b['ours'] / b['peer']:.2f}×**; then `sync` too {b['peer_synced']:.2f} s:"
        f" {b['ours'] / b['peer_synced']:.2f}×; `openssl dgst -sha256` + `cp`"
        f" {b['peer_openssl']:.2f} s: {b['ours'] / b['peer_openssl']:.2f}× |"
    )
    print(
        f"| re-log it unchanged | {b['relog']:.2f} s, {b['relog_bytes']} bytes stored |"
        f" one `sha256sum` {b['hash']:.2f} s: {b['relog'] / b['hash']:.2f}× |"
    )


def print_many_rows(files: int, m: dict[str, float]) -> None:
    pairs = ", ".join(f"{r:.2f}×" for r in m["pair_ratios"])  # type: ignore[attr-defined]
    print(
        f"| {files:,} × 4 KiB files `add_dir` + log | {m['ours']:.2f} s | `tar` {m['tar']:.2f} s:"
        f" **{m['ours'] / m['tar']:.2f}×** (each pair: {pairs}); `tar` + `sync`"
        f" {m['tar_synced']:.2f} s: {m['ours'] / m['tar_synced']:.2f}×; `cp -r` {m['cp']:.2f} s:"
        f" {m['ours'] / m['cp']:.2f}×; Python open + read + sha256 of each file"
        f" {m['read_hash']:.2f} s: {m['ours'] / m['read_hash']:.2f}× |"
    )
    print(
        f"| `download()` of the {files:,}-file version, first time | {m['download']:.2f} s"
        f" (extracted from the packs, every hash verified) | `cp -r` {m['cp']:.2f} s |"
    )
    print(
        f"| `download()` of it again (cached: hard links) | {m['download_again']:.2f} s"
        f" (every hash verified) | `cp -r` {m['cp']:.2f} s |"
    )


if __name__ == "__main__":
    main()
