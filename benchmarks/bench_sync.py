"""Sync, export and import benchmarks (issue 4). Run: python benchmarks/bench_sync.py [--quick]

Measured against a real `python -m localtrack.cli server` process on 127.0.0.1:

- initial sync of R runs × P points, as a ratio to `cp -r` of the same store directory;
- re-sync with nothing new (target: 1,000 unchanged runs in ≤ 2 s, 0 blobs sent);
- export to one bundle and import of that bundle, in MB/s.

Runs are written straight through the store (shards + run.json + index), each with its own random
values, so generating 100 × 1M points takes seconds, not minutes. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

from localtrack.naming import new_run_id  # noqa: E402
from localtrack.store.layout import ShardName  # noqa: E402
from localtrack.store.metrics import SCHEMA  # noqa: E402
from localtrack.store.recovery import reindex  # noqa: E402
from localtrack.store.root import StoreRoot  # noqa: E402
from localtrack.store.runmeta import save  # noqa: E402
from localtrack.store.shards import write_shard  # noqa: E402
from localtrack.sync.bundle import export_bundle, import_bundle  # noqa: E402
from localtrack.sync.client import SyncClient  # noqa: E402
from localtrack.sync.remote import connect  # noqa: E402

KEYS = 10
SHARD_POINTS = 1_000_000


def make_store(root: Path, runs: int, points: int, seed: int = 0) -> int:
    """`runs` finished runs of `points` scalars each (10 keys); returns bytes on disk."""
    store = StoreRoot(root, create=True)
    rng = np.random.default_rng(seed)
    now = time.time()
    for _ in range(runs):
        run_id = new_run_id()
        paths = store.run(run_id)
        paths.dir.mkdir(parents=True)
        steps = max(1, points // KEYS)
        for batch, start in enumerate(range(0, steps, SHARD_POINTS // KEYS), start=1):
            n = min(SHARD_POINTS // KEYS, steps - start)
            step = np.repeat(np.arange(start, start + n, dtype=np.int64), KEYS)
            keys = np.tile(np.array([f"train/m{j}" for j in range(KEYS)]), n)
            order = np.lexsort((step, keys))
            table = pa.table(
                {
                    "step": step[order],
                    "key": keys[order],
                    "value": rng.standard_normal(n * KEYS),
                    "wall_time": pa.array(
                        (now * 1e6 + step[order] * 1000).astype("int64"),
                        pa.timestamp("us", tz="UTC"),
                    ),
                },
                schema=SCHEMA,
            )
            name = ShardName(0, batch, batch)
            write_shard(
                paths.shard(name), name, table, {f"train/m{j}": "float" for j in range(KEYS)}
            )
        save(
            paths.run_json,
            {
                "id": run_id,
                "project": "bench",
                "name": run_id,
                "state": "finished",
                "created_at": now,
                "updated_at": now,
                "ended_at": now,
                "config": {"seed": seed},
                "segments": [
                    {"segment": 0, "host": "bench", "pid": os.getpid(), "started_at": now}
                ],
            },
        )
    reindex(store)
    return sum(p.stat().st_size for p in (root / "runs").rglob("*") if p.is_file())


class Server:
    def __init__(self, root: Path) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        env = dict(os.environ, PYTHONPATH=str(REPO))
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "localtrack.cli",
                "server",
                "--dir",
                str(root),
                "--port",
                str(self.port),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        for _ in range(600):
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def timed_sync(root: Path, url: str) -> tuple[float, int, int]:
    client = SyncClient.for_store(root, connect(url, None))
    run_ids = sorted(os.listdir(root / "runs"))
    t0 = time.perf_counter()
    report = client.sync(run_ids)
    seconds = time.perf_counter() - t0
    assert not report.failed, [r.message for r in report.failed]
    client.remote.transport.close()
    return seconds, report.blobs_sent, report.bytes_sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--resync-runs", type=int, default=1000)
    parser.add_argument(
        "--quick", action="store_true", help="10 runs × 200k points, 200 re-sync runs"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.points, args.resync_runs = 10, 200_000, 200
    results: dict[str, object] = {"runs": args.runs, "points": args.points}
    with tempfile.TemporaryDirectory(prefix="lt-bench-sync-") as tmp:
        tmp_path = Path(tmp)
        client = tmp_path / "client"
        size = make_store(client, args.runs, args.points)
        results["store_mb"] = round(size / 1e6, 1)

        t0 = time.perf_counter()
        subprocess.run(["cp", "-r", str(client), str(tmp_path / "copy")], check=True)
        cp_s = time.perf_counter() - t0
        shutil.rmtree(tmp_path / "copy")

        server = Server(tmp_path / "server")
        try:
            sync_s, blobs, sent = timed_sync(client, server.url)
            resync_s, reblobs, _ = timed_sync(client, server.url)
        finally:
            server.stop()
        results.update(
            cp_s=round(cp_s, 3),
            sync_s=round(sync_s, 3),
            sync_vs_cp=round(sync_s / cp_s, 1),
            sync_mb_s=round(sent / 1e6 / sync_s, 1),
            blobs=blobs,
            resync_s=round(resync_s, 3),
            resync_blobs=reblobs,
        )

        many = tmp_path / "many"
        make_store(many, args.resync_runs, 100, seed=1)
        server = Server(tmp_path / "server-many")
        try:
            timed_sync(many, server.url)
            many_s, many_blobs, _ = timed_sync(many, server.url)
        finally:
            server.stop()
        results.update(
            resync_many_runs=args.resync_runs,
            resync_many_s=round(many_s, 3),
            resync_many_blobs=many_blobs,
        )

        bundle = tmp_path / "all.ltbundle"
        run_ids = sorted(os.listdir(client / "runs"))
        t0 = time.perf_counter()
        exported = export_bundle(client, run_ids, bundle)
        export_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        imported = import_bundle(bundle, tmp_path / "imported")
        import_s = time.perf_counter() - t0
        assert not imported.failed
        mb = bundle.stat().st_size / 1e6
        results.update(
            export_s=round(export_s, 3),
            export_mb_s=round(mb / export_s, 1),
            import_s=round(import_s, 3),
            import_mb_s=round(mb / import_s, 1),
            bundle_mb=round(mb, 1),
        )
        assert exported.runs == run_ids
    if args.json:
        print(json.dumps(results, indent=1))
        return
    r = results
    print(
        f"| sync benchmark ({r['runs']} runs × {r['points']:,} points, {r['store_mb']} MB) | result |"
    )
    print("|---|---|")
    print(f"| `cp -r` of the store | {r['cp_s']} s |")
    print(
        f"| initial sync to a server on 127.0.0.1 | {r['sync_s']} s ({r['sync_vs_cp']}× cp -r, {r['sync_mb_s']} MB/s, {r['blobs']} blobs) |"
    )
    print(f"| re-sync, nothing new | {r['resync_s']} s, {r['resync_blobs']} blobs |")
    print(
        f"| re-sync of {r['resync_many_runs']:,} unchanged runs | {r['resync_many_s']} s, {r['resync_many_blobs']} blobs (target ≤ 2 s, 0) |"
    )
    print(
        f"| export to one bundle ({r['bundle_mb']} MB) | {r['export_s']} s ({r['export_mb_s']} MB/s) |"
    )
    print(f"| import of that bundle | {r['import_s']} s ({r['import_mb_s']} MB/s) |")


if __name__ == "__main__":
    main()
