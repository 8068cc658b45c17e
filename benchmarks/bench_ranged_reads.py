"""A first chart read from a cold read cache on a shared-nothing replica (issue 18): one key of a
large shard in the object store, fetched whole (today's path for small blobs) vs by byte range
(store/rangedfiles.py). Run:

    flock /work/bench.lock nice -n 19 python benchmarks/bench_ranged_reads.py [--keys 100] [--steps 20000]

One shard of KEYS × STEPS random float points (sealed as a run's shard is: a row group per key)
goes into a fresh bucket of moto's S3 server (tests/s3_fixtures.py; a Python **test double** for
MinIO/Ceph/AWS S3 on loopback, so its speed is not an object store's). Each read makes a run view
in an empty cache directory (``RunCache``, as a replica's first read of the run does) and reads
one key's rows (``read_run_data``, what the chart API reads before it buckets), a different key
each time, REPEAT times per mode:

- floor: pyarrow reading that key's row groups of the same Parquet file on local disk (page cache
  warm; ``shards.read_shard``);
- whole: the blob fetched whole into the cache, hashed, then read (``range_min_bytes`` off);
- ranges: the footer and the key's column chunks fetched by range, in 1 MiB blocks (the defaults,
  ``LOCALTRACK_READ_RANGE_BYTES`` 8 MiB, ``LOCALTRACK_READ_BLOCK_BYTES`` 1 MiB).

Prints a Markdown table: median and min ms, and the bytes fetched from the store per read.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

from localtrack.store.blobstore import open_blob_store  # noqa: E402
from localtrack.store.ingest.staging import DirectoryBlobStore  # noqa: E402
from localtrack.store.layout import ShardName  # noqa: E402
from localtrack.store.runcache import RunCache  # noqa: E402
from localtrack.store.runfiles import read_run_data  # noqa: E402
from localtrack.store.s3blobs import S3BlobStore  # noqa: E402
from localtrack.store.shards import read_shard, sha256_file, write_shard  # noqa: E402
from tests.s3_fixtures import TEST_CREDENTIALS, moto_server, new_bucket, s3_client  # noqa: E402

REPEAT = 7


def make_shard(path: Path, keys: int, steps: int) -> list[str]:
    names = [f"k{i:03d}" for i in range(keys)]
    rows = keys * steps
    table = pa.table(
        {
            "step": pa.array(np.tile(np.arange(steps), keys), pa.int64()),
            "key": pa.array(np.repeat(names, steps)),
            "value": pa.array(np.random.default_rng(0).random(rows)),
            "wall_time": pa.array(
                1764510000_000000 + np.tile(np.arange(steps), keys) * 10_000,
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )
    write_shard(path, ShardName(0, 0, 9), table, dict.fromkeys(names, "float"))
    return names


def timed(fn: Callable[[int], int], runs: int) -> tuple[list[float], list[int]]:
    """Milliseconds and bytes fetched of fn(i) for i in range(runs)."""
    ms, fetched = [], []
    for i in range(runs):
        start = time.perf_counter()
        fetched.append(fn(i))
        ms.append((time.perf_counter() - start) * 1000)
    return ms, fetched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--steps", type=int, default=20_000)
    args = parser.parse_args()
    os.environ.update(TEST_CREDENTIALS)
    with tempfile.TemporaryDirectory() as tmp, moto_server() as port:
        work = Path(tmp)
        env = new_bucket(port)
        os.environ["LOCALTRACK_S3_ENDPOINT"] = env["LOCALTRACK_S3_ENDPOINT"]
        shard = work / "0000-000000000-000000009.parquet"
        keys = make_shard(shard, args.keys, args.steps)
        sha, size = sha256_file(shard), shard.stat().st_size
        store = open_blob_store(env["LOCALTRACK_BLOBS"], DirectoryBlobStore(work / "t", work / "b"))
        assert isinstance(store, S3BlobStore)
        # uploaded with boto3: pyarrow's multipart upload of a blob over 10 MB fails against
        # moto (CompleteMultipartUpload: INTERNAL_FAILURE), and this measures reads
        bucket, prefix = env["LOCALTRACK_BLOBS"][len("s3://") :].split("/", 1)
        s3_client(port).put_object(Bucket=bucket, Key=f"{prefix}/blobs/{sha}", Body=shard.read_bytes())  # type: ignore[attr-defined]  # fmt: skip
        record = {"files": {f"metrics/{shard.name}": {"sha256": sha, "bytes": size}}}
        picks = [keys[(i * 7) % len(keys)] for i in range(REPEAT)]

        def floor(i: int) -> int:
            read_shard(shard, [picks[i]])
            return 0

        def cold(mode: str) -> Callable[[int], int]:
            def read(i: int) -> int:
                ranged = {"range_min_bytes": 8 << 20} if mode == "ranges" else {}
                cache = RunCache(work / f"{mode}-{i}", store, 4 << 30, **ranged)  # type: ignore[arg-type]
                view = cache.view("r1", dict(record, heartbeat_at=float(i)))
                data = read_run_data(view.paths(cache.views), keys=[picks[i]])
                assert not data.damaged and data.tables[0].num_rows == args.steps, data.damaged
                return cache.blocks.fetched_bytes + (size if cache.fetched else 0)

            return read

        rows = [("floor: pyarrow, the same file on local disk", *timed(floor, REPEAT))]
        for mode in ("whole", "ranges"):
            rows.append((f"{mode}: cold cache, blob in moto", *timed(cold(mode), REPEAT)))
    load = os.getloadavg()
    print(f"{platform.machine()}, {os.cpu_count()} cores, load average {load[0]:.1f}")
    print(f"shard: {args.keys} keys × {args.steps:,} steps, {size / 1e6:.1f} MB; {REPEAT} reads each\n")  # fmt: skip
    print("| first chart read of one key | median ms | min ms | fetched per read |")
    print("|---|---|---|---|")
    for name, ms, fetched in rows:
        got = statistics.median(fetched)
        print(f"| {name} | {statistics.median(ms):.1f} | {min(ms):.1f} | {got / 1e6:.2f} MB |")


if __name__ == "__main__":
    main()
