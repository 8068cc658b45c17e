"""Large shards and media read by byte range from the object store (store/rangedfiles.py,
store/blockcache.py, store/runcache.py), over moto's S3 server (a test double for MinIO, Ceph
RGW and AWS S3, spoken to by the real S3 client over HTTP) behind a proxy that counts what the
store served: a chart of one key fetches a small part of its shard; the cache stays under its
bound while more than it holds is read; a blob deleted behind the server's back is reported as
damage; and on a replica that never held the files, a video answers a ``Range`` request with
206 and the right bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.request
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from localtrack.store.blobstore import open_blob_store
from localtrack.store.historypage import HistoryPager
from localtrack.store.ingest.staging import DirectoryBlobStore
from localtrack.store.layout import ShardName
from localtrack.store.remoteruns import RemoteRuns
from localtrack.store.runcache import RunCache
from localtrack.store.runfiles import read_run_data
from localtrack.store.s3blobs import S3BlobStore
from localtrack.store.shards import read_shard, write_shard

from .media_fixtures import QUIET
from .s3_fixtures import new_bucket, s3_client
from .sync_fixtures import FaultPlan, FaultProxy, ServerProcess, env_without_home, run_cli
from .test_server_replicas import _key
from .test_server_shared_nothing import get_json

KEYS = [f"k{i:02d}" for i in range(40)]
STEPS = 5000
BLOCK = 16 << 10


class CountingProxy(FaultProxy):
    """A proxy in front of moto that counts the body bytes of every GET it passes on, per object
    key (the path of the request, without its query)."""

    def __init__(self, upstream_port: int) -> None:
        super().__init__(upstream_port, FaultPlan())
        self.served: dict[str, int] = {}

    def _forward(
        self, head: bytes, body: bytes, method: str = "GET", port: int | None = None
    ) -> bytes | None:
        reply = super()._forward(head, body, method, port)
        if reply is not None and method == "GET":
            target = head.split(b" ", 2)[1].decode().split("?", 1)[0]
            with self.lock:
                self.served[target] = self.served.get(target, 0) + len(reply.split(b"\r\n\r\n", 1)[1])  # fmt: skip
        return reply

    def served_of(self, sha256: str) -> int:
        with self.lock:
            return sum(n for target, n in self.served.items() if target.endswith("/" + sha256))


@pytest.fixture
def counted(moto_port: int, monkeypatch: pytest.MonkeyPatch) -> tuple[CountingProxy, str]:
    """(the counting proxy, a fresh bucket's s3:// URL), this process's S3 client pointed at
    moto through the proxy."""
    proxy = CountingProxy(moto_port).start()
    env = new_bucket(moto_port, endpoint=proxy.url)
    url = env.pop("LOCALTRACK_BLOBS")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield proxy, url
    proxy.close()


def _shard(tmp_path: Path) -> tuple[Path, pa.Table]:
    """A sealed shard of 40 keys × 5,000 steps (random values: it does not compress away)."""
    rng = np.random.default_rng(1)
    rows = len(KEYS) * STEPS
    table = pa.table(
        {
            "step": pa.array(np.tile(np.arange(STEPS), len(KEYS)), pa.int64()),
            "key": pa.array(np.repeat(KEYS, STEPS)),
            "value": pa.array(rng.random(rows)),
            "wall_time": pa.array(np.full(rows, 1764510000_000000), pa.timestamp("us", tz="UTC")),
        }
    )
    path = tmp_path / "0000-000000000-000000009.parquet"
    write_shard(path, ShardName(0, 0, 9), table, {k: "float" for k in KEYS})
    return path, table


def _stored_run(tmp_path: Path, url: str) -> tuple[S3BlobStore, dict, Path]:
    """A run of one large shard (and its run.json) in the bucket; (store, record, shard)."""
    shard, _ = _shard(tmp_path)
    local = DirectoryBlobStore(tmp_path / "up-tmp", tmp_path / "up-blobs")
    store = open_blob_store(url, local)
    assert isinstance(store, S3BlobStore)
    files = {}
    run_json = json.dumps({"id": "r1", "shards": {shard.name: _sha(shard.read_bytes())}}).encode()
    for name, data in (("run.json", run_json), (f"metrics/{shard.name}", shard.read_bytes())):
        store.put(_sha(data), [data], 1 << 30)
        files[name] = {"sha256": _sha(data), "bytes": len(data)}
    return store, {"files": files, "heartbeat_at": 1764510000.0}, shard


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_chart_of_one_key_fetches_a_small_part_of_a_large_shard(
    tmp_path: Path, counted: tuple[CountingProxy, str]
) -> None:
    proxy, url = counted
    store, record, shard = _stored_run(tmp_path, url)
    cache = RunCache(tmp_path / "cache", store, 1 << 30, range_min_bytes=256 << 10, block_bytes=BLOCK)  # fmt: skip
    sha = _sha(shard.read_bytes())
    assert shard.stat().st_size > 1 << 20 and proxy.served_of(sha) == 0, shard.stat().st_size

    view = cache.view("r1", record)
    assert f"metrics/{shard.name}" in view.ranged and not view.missing
    data = read_run_data(view.paths(cache.views), keys=["k07"])
    assert data.damaged == []
    expected, _ = read_shard(shard, ["k07"])
    assert pa.concat_tables(data.tables).equals(expected)
    fetched = proxy.served_of(sha)
    assert 0 < fetched < shard.stat().st_size / 8, (fetched, shard.stat().st_size)

    again = read_run_data(view.paths(cache.views), keys=["k07"])  # from the cached blocks
    assert pa.concat_tables(again.tables).equals(expected) and proxy.served_of(sha) == fetched
    page = HistoryPager(view.paths(cache.views), ["k07"]).page(100, None, 50)  # history API
    assert page.warnings == [] and page.table.column("k07").to_pylist() == expected.column("value").to_pylist()[100:150]  # fmt: skip
    assert proxy.served_of(sha) == fetched

    # a commit's view holds it whole (fetched and hashed); a later version links that copy
    before = cache.fetched
    committed = cache.view("r1", record, whole=True)  # replaces the ranged view
    assert not committed.ranged and cache.fetched == before + 2  # run.json and the shard
    newer = cache.view("r1", dict(record, heartbeat_at=1764510001.0))
    assert not newer.ranged and cache.fetched == before + 2
    assert (newer.paths(cache.views).metrics / shard.name).read_bytes() == shard.read_bytes()


def test_the_cache_stays_under_its_bound_while_reading_more_than_it_holds(
    tmp_path: Path, counted: tuple[CountingProxy, str]
) -> None:
    _, url = counted
    store, record, shard = _stored_run(tmp_path, url)
    bound = 8 * BLOCK
    cache = RunCache(tmp_path / "cache", store, bound, range_min_bytes=1, block_bytes=BLOCK)
    paths = cache.view("r1", record).paths(cache.views)
    expected, _ = read_shard(shard)
    for key in KEYS:  # every key: far more than the bound, a key at a time
        data = read_run_data(paths, keys=[key])
        assert data.damaged == [] and data.tables[0].num_rows == STEPS
        assert cache.held_bytes() <= bound
    whole = read_run_data(paths)  # one read bigger than the cache: passed through, not kept
    assert pa.concat_tables(whole.tables).equals(expected)
    on_disk = sum(p.stat().st_size for p in (tmp_path / "cache").rglob("*") if p.is_file())
    assert on_disk <= bound + 4096, on_disk  # the blocks and the small view (its run.json)


def test_a_blob_deleted_behind_the_servers_back_is_reported_as_damage(
    tmp_path: Path, counted: tuple[CountingProxy, str], moto_port: int
) -> None:
    _, url = counted
    store, record, shard = _stored_run(tmp_path, url)
    cache = RunCache(tmp_path / "cache", store, 1 << 30, range_min_bytes=1, block_bytes=BLOCK)
    remote = RemoteRuns(lambda run_id: record, lambda: ["r1"], cache)
    paths = remote.run_paths("r1")
    assert paths is not None and read_run_data(paths, keys=["k01"]).damaged == []
    sha = _sha(shard.read_bytes())
    bucket, prefix = url[len("s3://") :].split("/", 1)
    s3_client(moto_port).delete_object(Bucket=bucket, Key=f"{prefix}/blobs/{sha}")  # type: ignore[attr-defined]

    data = read_run_data(paths, keys=["k30"])  # blocks not fetched yet: the store has none
    assert [name for name, _ in data.damaged] == [shard.name], data.damaged
    assert f"metrics/{shard.name}: blob {sha} missing in {url}" in data.damaged[0][1]
    lines = remote.damage("r1")
    assert len(lines) == 1 and lines[0].startswith(f"metrics/{shard.name}: blob {sha} missing")

    fresh = RunCache(tmp_path / "fresh", store, 1 << 30, range_min_bytes=1, block_bytes=BLOCK)
    view = fresh.view("r1", record)  # a view made now finds it gone at once (a HEAD)
    assert view.missing == {f"metrics/{shard.name}": f"blob {sha} missing"} and not view.ranged


def _content_range(header: str | None) -> tuple[int, int, int]:
    match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", header or "")
    assert match, header
    return int(match[1]), int(match[2]), int(match[3])


def range_get(url: str, headers: dict[str, str], first: int, last: int) -> tuple[int, dict, bytes]:
    """(status, headers, body) of a GET of bytes first..last."""
    request = urllib.request.Request(url, headers=dict(headers, Range=f"bytes={first}-{last}"))
    with urllib.request.urlopen(request, timeout=120) as reply:
        return reply.status, dict(reply.headers), reply.read()


def _large_run(client: Path, video: Path) -> str:
    """A finished run: 40 keys × 5,000 steps of random values, and one video file."""
    import localtrack

    rng = np.random.default_rng(2)
    run = localtrack.init(project="big", dir=str(client), settings=localtrack.Settings(**QUIET))
    for step in range(STEPS):
        row: dict[str, object] = dict(zip(KEYS, rng.random(len(KEYS)).tolist(), strict=True))
        if step == 0:
            row["clip"] = localtrack.Video(str(video))
        run.log(row, step=step)
    run.finish()
    return str(run.id)


@pytest.mark.server
def test_a_replica_reads_a_large_run_by_range_and_answers_range_requests_for_its_video(
    tmp_path: Path, pg_url: str, moto_port: int
) -> None:
    """Replica A receives the sync; replica B, with a directory of its own, reads the run from
    the bucket (through a counting proxy): a chart of one key fetches a small part of the largest
    shard, and a `Range` request for the video is answered 206 with exactly those bytes."""
    proxy = CountingProxy(moto_port).start()
    bucket = new_bucket(moto_port, endpoint=proxy.url)
    video = tmp_path / "clip.mp4"
    payload = b"\x00\x00\x00\x20ftypisom" + np.random.default_rng(3).bytes(600_000)
    video.write_bytes(payload)
    client = tmp_path / "client"
    run_id = _large_run(client, video)
    shard = max((client / "runs" / run_id / "metrics").glob("*.parquet"), key=lambda p: p.stat().st_size)  # fmt: skip
    assert shard.stat().st_size > 512 << 10
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    writer = _key(a_dir, pg_url, "ci", "write")  # reads too
    ranged = dict(bucket, LOCALTRACK_READ_RANGE_BYTES=str(256 << 10), LOCALTRACK_READ_BLOCK_BYTES=str(BLOCK))  # fmt: skip
    a = ServerProcess(a_dir, env=ranged, args=("--index", pg_url))
    b = ServerProcess(b_dir, env=ranged, args=("--index", pg_url))
    as_writer = {"Authorization": f"Bearer {writer['token']}"}
    try:
        a.start()
        b.start()
        env = dict(env_without_home(tmp_path), LOCALTRACK_API_KEY=writer["token"])
        synced = run_cli("sync", "--all", "--dir", str(client), "--to", a.url, env=env)
        assert synced.returncode == 0 and "1 sent" in synced.stdout, synced.stderr

        sha = _sha(shard.read_bytes())
        before = proxy.served_of(sha)  # what A's commit read (none: it held the upload)
        code, series = get_json(f"{b.url}/api/v1/series?runs={run_id}&key=k07", as_writer)
        assert code == 200, series
        fetched = proxy.served_of(sha) - before
        assert 0 < fetched < shard.stat().st_size / 8, (fetched, shard.stat().st_size)
        code, run = get_json(f"{b.url}/api/v1/runs/{run_id}", as_writer)
        assert code == 200 and run["warnings"] == [], run

        name = f"{_sha(payload)}.mp4"
        url = f"{b.url}/api/v1/runs/{run_id}/media/{name}"
        status, headers, body = range_get(url, as_writer, 300_000, 300_999)
        assert status == 206 and body == payload[300_000:301_000]
        assert _content_range(headers.get("Content-Range")) == (300_000, 300_999, len(payload))
        assert headers.get("Accept-Ranges") == "bytes"
        assert proxy.served_of(_sha(payload)) < len(payload) / 8  # the blocks around them
        status, _, tail = range_get(url, as_writer, len(payload) - 100, len(payload) + 50)
        assert status == 206 and tail == payload[-100:]
    finally:
        a.stop()
        b.stop()
        proxy.close()
