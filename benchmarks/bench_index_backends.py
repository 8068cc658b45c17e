"""The run index in SQLite (index.db) vs PostgreSQL (issue 18). Run:
python benchmarks/bench_index_backends.py [--runs 200]

Starts its own throwaway PostgreSQL (Debian's postgresql, as the tests do: tests/pg_fixtures.py,
fsync off like the tests' cluster, so commit latency here excludes a disk flush) on 127.0.0.1 and
measures, for each backend, on the same R runs:

- commit: one run's index rows replaced in one transaction (``recovery.index_run``, what a sync
  commit does after its files are in place), median and p95;
- list: ``StoreReader.runs()`` of every run (the runs table, the UI's first request), median;
- poll: ``StoreReader.changes()`` (every ETag poll asks it), median;
- floor: one ``SELECT 1`` round trip on an open connection (SQLite in-process; PostgreSQL over
  loopback TCP through the pool), the least any index call can cost.

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from localtrack.store.pgindex import pool_for  # noqa: E402
from localtrack.store.reader import StoreReader  # noqa: E402
from localtrack.store.recovery import index_run, reindex, scan_run  # noqa: E402
from localtrack.store.root import StoreRoot  # noqa: E402
from tests.pg_fixtures import throwaway_cluster  # noqa: E402
from tests.sync_fixtures import log_runs  # noqa: E402


def times_ms(fn: Callable[[], object], repeat: int) -> list[float]:
    """Wall time of each of `repeat` calls of `fn`, in ms."""
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * (len(values) - 1))]


def measure(root: Path, index_url: str) -> dict[str, float]:
    store = StoreRoot(root, index_url=index_url)
    reindex(store)
    index = store.open_index()
    assert index is not None
    scans = [scan_run(store.run(r)) for r in store.run_ids()]
    commits = [t for s in scans for t in times_ms(lambda s=s: index_run(index, s), 1)]
    reader = StoreReader(root, index_url=index_url)
    reader.runs()
    if index_url:
        pool = pool_for(index_url)

        def floor() -> None:
            with pool.connection() as conn:
                conn.execute("SELECT 1").fetchone()
    else:
        conn = index.conn  # type: ignore[attr-defined]

        def floor() -> None:
            conn.execute("SELECT 1").fetchone()

    return {
        "commit_ms": statistics.median(commits),
        "commit_p95_ms": _p95(commits),
        "list_ms": statistics.median(times_ms(reader.runs, 20)),
        "poll_ms": statistics.median(times_ms(reader.changes, 200)),
        "floor_ms": statistics.median(times_ms(floor, 200)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, throwaway_cluster() as cluster:
        root = Path(tmp) / "store"
        log_runs(root, n=args.runs, steps=100, shards=2, keys=10)
        rows = {
            "SQLite index.db": measure(root, ""),
            "PostgreSQL": measure(root, cluster.new_database()),
        }
    print(f"{args.runs} runs × 10 keys, 2 shards each\n")
    print("| backend | floor: SELECT 1 | commit (median / p95) | list all runs | changes() poll |")
    print("|---|---|---|---|---|")
    for name, r in rows.items():
        print(
            f"| {name} | {r['floor_ms']:.3f} ms | {r['commit_ms']:.2f} / {r['commit_p95_ms']:.2f} ms "
            f"| {r['list_ms']:.1f} ms | {r['poll_ms']:.3f} ms |"
        )


if __name__ == "__main__":
    main()
