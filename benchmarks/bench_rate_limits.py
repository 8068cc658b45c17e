"""What a rate limit shared through PostgreSQL adds to each request (issue 18). Run:
python benchmarks/bench_rate_limits.py [--requests 2000]

Starts its own throwaway PostgreSQL (as the tests do: tests/pg_fixtures.py, fsync off) on
127.0.0.1 and measures, per call, median and p95:

- floor: one ``SELECT 1`` round trip through the pool, the least any PostgreSQL call costs;
- take: one ``take`` of a token bucket in process memory (``RateLimiter``, the directory
  backend) and in PostgreSQL (``SharedRateLimiter``: one upsert);
- request: ``GET /api/v1/projects`` with a key through the server app (Flask's test client, no
  sockets) on a PostgreSQL index, with the per-key limit off and on (two apps, called in turns so
  a changing load hits both alike): the difference is what the shared limit adds to every
  request with a key.

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.bench_index_backends import times_ms  # noqa: E402
from localtrack.apikeys import KeyStore  # noqa: E402
from localtrack.store.pgindex import close_pools, pool_for  # noqa: E402
from tests.pg_fixtures import throwaway_cluster  # noqa: E402
from webui.server.ratelimit import RateLimiter, SharedRateLimiter  # noqa: E402


def _row(name: str, times: list[float]) -> str:
    p95 = sorted(times)[int(0.95 * (len(times) - 1))]
    return f"| {name} | {statistics.median(times):.3f} ms | {p95:.3f} ms |"


def _request(root: Path, url: str, rate: str) -> tuple[Callable[[], None], Callable[[], None]]:
    """(one GET with a key through a new server app, closing that app)."""
    from webui.server.app import create_server_app

    os.environ["LOCALTRACK_INDEX_URL"] = url
    os.environ["LOCALTRACK_RATE_LIMIT"] = rate
    os.environ["LOCALTRACK_RATE_BURST"] = "1e12"  # never refused: only the cost
    token = KeyStore(root, url).create("bench", "read").token
    app = create_server_app(root, watch=False)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    def get() -> None:
        assert client.get("/api/v1/projects", headers=headers).status_code == 200

    return get, app.extensions["localtrack"].close


def _interleaved(calls: list[Callable[[], None]], repeat: int) -> list[list[float]]:
    """Each call timed `repeat` times, taking turns, so drifting load hits all alike."""
    for call in calls:
        times_ms(call, 50)  # warm up
    out: list[list[float]] = [[] for _ in calls]
    for _ in range(repeat):
        for times, call in zip(out, calls, strict=True):
            times += times_ms(call, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    n = parser.parse_args().requests
    with throwaway_cluster() as cluster, tempfile.TemporaryDirectory() as tmp:
        url = cluster.new_database()
        pool = pool_for(url)

        def select_one() -> None:
            with pool.connection() as conn:
                conn.execute("SELECT 1").fetchone()

        memory, shared = RateLimiter(1e6, 1e9), SharedRateLimiter(url, "key", 1e6, 1e9)
        rows = [
            _row("floor: `SELECT 1` (PostgreSQL, pooled)", times_ms(select_one, n)),
            _row("take, process memory", times_ms(lambda: memory.take("k"), n)),
            _row("take, PostgreSQL", times_ms(lambda: shared.take("k"), n)),
        ]
        get_off, close_off = _request(Path(tmp) / "off", url, "0")
        get_on, close_on = _request(Path(tmp) / "on", url, "1000000")
        off, on = _interleaved([get_off, get_on], n)
        close_off()
        close_on()
        rows.append(_row("request with a key, PostgreSQL index, limit off", off))
        rows.append(_row("request with a key, PostgreSQL index, shared limit on", on))
        close_pools()
    print(f"{n} calls each; load average {os.getloadavg()[0]:.1f}\n")
    print("| per call | median | p95 |\n|---|---|---|")
    print("\n".join(rows))
    added = statistics.median(on) - statistics.median(off)
    print(f"\nadded by the shared limit: {added:.3f} ms median per request")


if __name__ == "__main__":
    main()
