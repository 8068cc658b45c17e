"""Limits on what a client sends (docs/security.md, "Size limits on what a client sends").

A Parquet file of a few KiB can declare millions of rows of one repeated value. The receiver
reads its footer first and refuses it, naming the limit, before anything is decoded: the files
crafted here have their data pages replaced by junk, so a receiver that decoded anything would
answer "damaged" instead of naming the limit. What is accepted is decoded in bounded batches.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from localtrack.errors import CorruptDataError, LimitExceededError, UsageError
from localtrack.store import limits
from localtrack.store.ingest.importer import Ingest
from localtrack.store.ingest.manifest_types import FileRef, RunManifest
from localtrack.store.metrics import SCHEMA

from .backend_fixtures import ServerBackend, committed_runs
from .conftest import PYTHON, REPO, child_env
from .sync_fixtures import ServerProcess, log_runs

SHARD = "metrics/0000-000000000-000000000.parquet"


def craft_shard(path: Path, rows: int, key: str = "loss", junk_pages: bool = True) -> Path:
    """A shard of `rows` identical rows: tiny on disk, big once decoded. With `junk_pages`,
    every byte between the leading magic and the footer is overwritten (undecodable)."""
    zeros = np.zeros(rows, dtype=np.int64)
    table = pa.table(
        {
            "step": zeros,
            "key": pa.array([key]).take(pa.array(np.zeros(rows, dtype=np.int32))),
            "value": np.zeros(rows),
            "wall_time": pa.array(zeros).cast(pa.timestamp("us", tz="UTC")),
        }
    ).cast(SCHEMA)
    pq.write_table(table, path, compression="zstd", row_group_size=1 << 20)
    if junk_pages:
        data = bytearray(path.read_bytes())
        footer_start = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
        data[4:footer_start] = b"\xa5" * (footer_start - 4)
        path.write_bytes(bytes(data))
    return path


def test_a_shard_over_the_row_limit_is_refused_from_its_footer(tmp_path: Path) -> None:
    shard = craft_shard(tmp_path / "s.parquet", 300_000)
    assert shard.stat().st_size < 20_000
    with pytest.raises(LimitExceededError, match="LOCALTRACK_MAX_SHARD_ROWS") as caught:
        limits.check_shard("s", shard, limits.Limits(max_shard_rows=100_000))
    assert "300,000 rows" in str(caught.value)
    assert caught.value.setting == "LOCALTRACK_MAX_SHARD_ROWS"


def test_a_shard_over_the_decoded_size_limit_is_refused_from_its_footer(tmp_path: Path) -> None:
    shard = craft_shard(tmp_path / "s.parquet", 300_000)
    with pytest.raises(LimitExceededError, match="LOCALTRACK_MAX_DECODED_BYTES"):
        limits.check_shard("s", shard, limits.Limits(max_decoded_bytes=1_000_000))


def test_long_repeated_keys_count_at_their_decoded_length(tmp_path: Path) -> None:
    """A dictionary holds a 4 KiB key once; decoded, every row repeats it."""
    shard = craft_shard(tmp_path / "s.parquet", 50_000, key="k" * 4096, junk_pages=False)
    assert shard.stat().st_size < 50_000
    limits.check_shard("s", shard, limits.Limits(max_decoded_bytes=300_000_000))
    with pytest.raises(LimitExceededError, match="LOCALTRACK_MAX_DECODED_BYTES"):
        limits.check_shard("s", shard, limits.Limits(max_decoded_bytes=100_000_000))


@pytest.mark.parametrize(
    "table",
    [
        pa.table({"step": [1], "key": ["a"], "value": ["1.0"], "wall_time": [1]}),
        pa.table({"step": [1], "key": ["a"], "value": [1.0]}),
        pa.table({"x": [[1, 2]]}),
    ],
    ids=["value is a string", "a column missing", "a list column"],
)
def test_a_shard_with_other_columns_is_refused(tmp_path: Path, table: pa.Table) -> None:
    path = tmp_path / "s.parquet"
    pq.write_table(table, path)
    with pytest.raises(CorruptDataError, match="not a metric shard"):
        limits.check_shard("s", path)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "not a Parquet file"),
        (b"PAR1" + b"x" * 20 + (2**31).to_bytes(4, "little") + b"PAR1", "footer"),
    ],
    ids=["empty", "a footer longer than the file"],
)
def test_files_that_are_not_parquet_are_refused(tmp_path: Path, data: bytes, problem: str) -> None:
    path = tmp_path / "s.parquet"
    path.write_bytes(data)
    with pytest.raises(CorruptDataError, match=problem):
        limits.check_shard("s", path)


def test_logged_tables_are_held_to_the_same_limits(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": np.zeros(200_000), "b": ["x"] * 200_000}), path)
    limits.check_table("t", path)
    with pytest.raises(LimitExceededError, match="LOCALTRACK_MAX_SHARD_ROWS"):
        limits.check_table("t", path, limits.Limits(max_shard_rows=1000))
    pq.write_table(pa.table({"a": [[1.0, 2.0]]}), path)
    with pytest.raises(CorruptDataError, match="column 'a'"):
        limits.check_table("t", path)


def test_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert limits.current() == limits.Limits()
    monkeypatch.setenv("LOCALTRACK_MAX_SHARD_ROWS", "10")
    monkeypatch.setenv("LOCALTRACK_MAX_JSON_BYTES", "2000")
    assert limits.current().max_shard_rows == 10 and limits.current().max_json_bytes == 2000
    monkeypatch.setenv("LOCALTRACK_MAX_DECODED_BYTES", "lots")
    with pytest.raises(UsageError, match="LOCALTRACK_MAX_DECODED_BYTES"):
        limits.current()


def _stage(area: Ingest, data: bytes) -> FileRef:
    sha = hashlib.sha256(data).hexdigest()
    area.receive(sha, [data], len(data) + 1)
    return FileRef("", sha, len(data))


def _ref(name: str, staged: FileRef) -> FileRef:
    return FileRef(name, staged.sha256, staged.bytes)


def test_a_run_json_over_the_json_limit_is_refused_before_it_is_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCALTRACK_MAX_JSON_BYTES", "1000")
    area = Ingest(tmp_path / "server").create()
    run_json = json.dumps({"id": "r1", "project": "p", "notes": "n" * 2000}).encode()
    manifest = RunManifest("r1", (_ref("run.json", _stage(area, run_json)),))
    with pytest.raises(LimitExceededError, match="LOCALTRACK_MAX_JSON_BYTES"):
        area.commit(manifest)
    area.close()
    assert not (tmp_path / "server" / "runs" / "r1").exists()


def test_a_tiny_shard_of_many_rows_is_refused_by_a_real_server(
    tmp_path: Path, server_backend: ServerBackend
) -> None:
    """The commit answers 400 naming the limit; the run never lands in the server's store (on
    both server backends)."""
    [run_id] = log_runs(tmp_path / "client", n=1, steps=20, shards=1, keys=1)
    shard = craft_shard(tmp_path / "crafted.parquet", 300_000).read_bytes()
    sha = hashlib.sha256(shard).hexdigest()
    meta = json.loads((tmp_path / "client" / "runs" / run_id / "run.json").read_bytes())
    meta["shards"] = {SHARD.split("/")[1]: sha}
    run_json = json.dumps(meta).encode()
    files = [
        {
            "name": "run.json",
            "sha256": hashlib.sha256(run_json).hexdigest(),
            "bytes": len(run_json),
        },
        {"name": SHARD, "sha256": sha, "bytes": len(shard)},
    ]
    server = ServerProcess(tmp_path / "server", env={"LOCALTRACK_MAX_SHARD_ROWS": "100000"})
    server.start()
    try:
        for data in (run_json, shard):
            status, _ = _http(server.url, "PUT", f"/blobs/{hashlib.sha256(data).hexdigest()}", data)
            assert status == 201
        manifest = {"run_id": run_id, "project": meta["project"], "files": files}
        status, body = _http(
            server.url, "POST", "/sync/commit", {"protocol": 1, "manifest": manifest}
        )
    finally:
        server.stop()
    assert status == 400, body
    message = body["error"]["message"]
    assert "LOCALTRACK_MAX_SHARD_ROWS" in message and "300,000 rows" in message, message
    assert "damaged" not in message  # refused from the footer: the junk pages were never read
    assert run_id not in committed_runs(server_backend, tmp_path / "server")


def _http(base: str, method: str, path: str, body: Any) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {
        "Content-Type": "application/octet-stream"
        if isinstance(body, bytes)
        else "application/json"
    }
    request = urllib.request.Request(base + "/api/v1" + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        exc.close()
        return exc.code, json.loads(payload)


PEAK_PROBE = """
import sys
from pathlib import Path
import pyarrow as pa
from localtrack.store.runstats import _shard_stats
stats, _ = _shard_stats(Path(sys.argv[1]), 64 * 1024)
print(stats["loss"].count, pa.default_memory_pool().max_memory())
"""


def test_statistics_of_a_big_shard_are_computed_in_bounded_memory(tmp_path: Path) -> None:
    """4M rows decode to over 100 MB; folded 64k rows at a time, Arrow's peak stays small.
    (Measured in a child, whose memory pool has seen nothing else.)"""
    shard = craft_shard(tmp_path / "big.parquet", 4_000_000, junk_pages=False)
    out = subprocess.run(
        [PYTHON, "-c", PEAK_PROBE, str(shard)],
        env=child_env(),
        cwd=str(REPO),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    count, peak = map(int, out.stdout.split())
    assert count == 4_000_000
    assert peak < 40_000_000, f"peak Arrow memory {peak:,} bytes: the shard was read whole"


def test_every_limit_is_documented_where_the_server_settings_are() -> None:
    for doc in ("README.md", "docs/sync.md", "docs/security.md"):
        text = (REPO / doc).read_text()
        for spec in limits.SPECS:
            assert f"`{spec.env}`" in text, f"{spec.env} is not documented in {doc}"


def test_each_file_a_run_may_hold_is_checked_by_its_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCALTRACK_MAX_SHARD_ROWS", "1000")
    monkeypatch.setenv("LOCALTRACK_MAX_JSON_BYTES", "100")
    table = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": np.zeros(5000)}), table)
    log = tmp_path / "log.jsonl"
    log.write_bytes(b'{"key": "img", "step": 1}\n' * 10)
    with pytest.raises(LimitExceededError, match="LOCALTRACK_MAX_SHARD_ROWS"):
        limits.check_incoming("media/blobs/" + "a" * 64 + ".parquet", table)
    with pytest.raises(LimitExceededError, match="LOCALTRACK_MAX_JSON_BYTES"):
        limits.check_incoming("media/log-0000.jsonl", log)
    limits.check_incoming("files/output.log", log)  # not decoded by the server: no limit here
