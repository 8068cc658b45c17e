"""The server's blobs in an S3-compatible object store (``--blobs s3://bucket/prefix``).

Against a real S3-protocol server on loopback: ``moto_server`` (tests/s3_fixtures.py), a test
double for MinIO, Ceph RGW and AWS S3; the server talks to it with its real client (pyarrow.fs)
over HTTP. Faults go through ``FaultProxy`` in front of it: 503 answers and stalled answers.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import localtrack
from localtrack.cli.main import cli
from localtrack.errors import DigestMismatchError, MissingBlobsError
from localtrack.store.ingest.importer import Ingest
from localtrack.sync.client import SyncClient, SyncReport
from localtrack.sync.remote import Remote, RetryPolicy
from localtrack.sync.transport import HTTPTransport
from webui.server.app import create_server_app

from .s3_fixtures import TEST_CREDENTIALS, s3_client
from .sync_fixtures import (
    FaultPlan,
    FaultProxy,
    ThreadServer,
    get_json,
    log_runs,
    metric_rows,
    store_files,
)

pytestmark = pytest.mark.server


@pytest.fixture
def bucket(moto_port: int, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket; the LOCALTRACK_S3_* settings point at moto, retries kept short."""
    name = f"lt-{secrets.token_hex(4)}"
    s3_client(moto_port).create_bucket(Bucket=name)  # type: ignore[attr-defined]
    for key, value in TEST_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("LOCALTRACK_S3_ENDPOINT", f"http://127.0.0.1:{moto_port}")
    monkeypatch.setenv("LOCALTRACK_S3_REGION", "us-east-1")
    monkeypatch.setenv("LOCALTRACK_S3_TIMEOUT", "2")
    return name


def _objects(port: int, bucket: str, prefix: str) -> dict[str, bytes]:
    client: Any = s3_client(port)
    listing = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {
        o["Key"]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listing
    }


def _sync(client: Path, url: str, attempts: int = 5) -> SyncReport:
    remote = Remote(
        HTTPTransport(url, timeout=30), retry=RetryPolicy(attempts=attempts, base_s=0.01, cap_s=0.1)
    )
    try:
        return SyncClient.for_store(client, remote).sync(sorted(os.listdir(client / "runs")))
    finally:
        remote.transport.close()


def _check(root: Path, *extra: str) -> Any:
    return CliRunner().invoke(cli, ["server", "check", "--dir", str(root), *extra])


def test_synced_runs_land_in_the_bucket_once_each_and_check_finds_a_deleted_blob(
    tmp_path: Path, bucket: str, moto_port: int
) -> None:
    client, server = tmp_path / "cluster", tmp_path / "server"
    log_runs(client, n=2, steps=120)
    url = f"s3://{bucket}/prod"
    with ThreadServer(create_server_app(server, blobs=url, watch=False)) as srv:
        report = _sync(client, srv.url)
        assert not report.failed, [r.message for r in report.failed]
    assert store_files(server) == store_files(client)
    for run_id in os.listdir(client / "runs"):
        assert metric_rows(server, run_id) == metric_rows(client, run_id)

    objects = _objects(moto_port, bucket, "prod/blobs/")
    committed = set(store_files(server).values())
    assert committed <= {key.rsplit("/", 1)[1] for key in objects}  # (and superseded shards)
    for key, data in objects.items():
        assert hashlib.sha256(data).hexdigest() == key.rsplit("/", 1)[1]

    ok = _check(server, "--blobs", url)
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("OK: checked ") and f"blobs of 2 runs in {url}" in ok.output

    run_id = sorted(os.listdir(server / "runs"))[0]
    shard = sorted(os.listdir(server / "runs" / run_id / "metrics"))[0]
    sha = hashlib.sha256((server / "runs" / run_id / "metrics" / shard).read_bytes()).hexdigest()
    s3_client(moto_port).delete_object(Bucket=bucket, Key=f"prod/blobs/{sha}")  # type: ignore[attr-defined]
    damaged = _check(server, "--blobs", url)
    assert damaged.exit_code == 1
    assert f"run {run_id}: metrics/{shard}: blob {sha} missing" in damaged.output
    assert "1 damaged runs" in damaged.output
    assert _check(server).exit_code == 0  # the run's own files are whole: only the bucket lost it
    _check(server, "--blobs", url)  # reads list the last check's findings: this one's

    other = next(r for r in os.listdir(server / "runs") if r != run_id)
    with ThreadServer(create_server_app(server, blobs=url, watch=False)) as srv:
        status, view = get_json(f"{srv.url}/api/v1/runs/{run_id}")
        assert status == 200  # the server's own copy still reads whole, and says what is lost
        [line] = [w for w in view["warnings"] if "server check" in w]
        assert line.startswith(f"metrics/{shard}: blob {sha} missing in {url}")
        page = urllib.request.urlopen(f"{srv.url}/runs/{run_id}", timeout=30).read().decode()
        assert 'id="run-warnings"' in page and f"metrics/{shard}: blob {sha} missing" in page
        assert get_json(f"{srv.url}/api/v1/runs/{other}")[1]["warnings"] == []
    assert metric_rows(server, run_id) == metric_rows(client, run_id)
    assert line in localtrack.Api(server).run(run_id).damage()  # localtrack show lists these

    repaired = _check(server, "--blobs", url, "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert f"repaired {run_id}/metrics/{shard}: put back from the server's copy" in repaired.output
    assert _objects(moto_port, bucket, f"prod/blobs/{sha}")  # back in the bucket
    assert _check(server, "--blobs", url).exit_code == 0
    assert localtrack.Api(server).run(run_id).damage() == []


def test_put_verifies_the_hash_writes_once_and_reads_ranges(
    tmp_path: Path, bucket: str, moto_port: int
) -> None:
    proxy = FaultProxy(int(os.environ["LOCALTRACK_S3_ENDPOINT"].rsplit(":", 1)[1]), FaultPlan())
    os.environ["LOCALTRACK_S3_ENDPOINT"] = proxy.start().url  # restored by monkeypatch
    try:
        store = Ingest(tmp_path / "store", blobs_url=f"s3://{bucket}/p").create().blob_store
        data = b"0123456789" * 1000
        sha = hashlib.sha256(data).hexdigest()
        with pytest.raises(DigestMismatchError):
            store.put(sha, [data[:-1] + b"x"], max_bytes=1 << 20)
        assert list(store.hashes()) == []
        assert not store.exists(sha)

        assert store.put(sha, [data[:5000], data[5000:]], max_bytes=1 << 20) == len(data)
        puts = proxy.methods.count("PUT")
        assert store.put(sha, [data], max_bytes=1 << 20) == len(data)
        assert proxy.methods.count("PUT") == puts  # already there: never written twice
        assert list(store.hashes()) == [sha]
        assert store.read_range(sha, 9995, 10) == data[9995:10005]

        store.discard_local(sha)  # the local cache lost it: fetched back, hash checked again
        assert store.local_file(sha).read_bytes() == data
        with pytest.raises(MissingBlobsError, match="is not in s3://"):
            store.read_range("0" * 64, 0, 1)

        s3_client(moto_port).delete_object(Bucket=bucket, Key=f"p/blobs/{sha}")  # type: ignore[attr-defined]
        assert store.cache.exists(sha) and not store.exists(sha)  # a local copy is not durable
        assert store.put(sha, [data], max_bytes=1 << 20) == len(data)  # so it is sent again
        assert store.read_range(sha, 0, 10) == data[:10]
    finally:
        proxy.close()


def test_503s_and_stalled_answers_from_the_object_store_are_retried(
    tmp_path: Path, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = FaultPlan(status_503=0.25, stall=0.1, stall_s=1.0, seed=5, first=("503", "stall"))
    proxy = FaultProxy(int(os.environ["LOCALTRACK_S3_ENDPOINT"].rsplit(":", 1)[1]), plan).start()
    monkeypatch.setenv("LOCALTRACK_S3_ENDPOINT", proxy.url)
    monkeypatch.setenv("LOCALTRACK_S3_TIMEOUT", "1")
    monkeypatch.setenv("LOCALTRACK_S3_RETRIES", "10")
    try:
        store = Ingest(tmp_path / "store", blobs_url=f"s3://{bucket}/p").create().blob_store
        blobs = [secrets.token_bytes(1000 + i) for i in range(3)]
        for data in blobs:
            store.put(hashlib.sha256(data).hexdigest(), [data], max_bytes=1 << 20)
        for data in blobs:
            assert store.read_range(hashlib.sha256(data).hexdigest(), 0, 1 << 20) == data
        assert proxy.injected.get("503") and proxy.injected.get("stall"), proxy.injected
    finally:
        proxy.close()


def test_a_sync_through_503s_and_stalls_of_the_object_store_lands_every_run(
    tmp_path: Path, bucket: str, moto_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = FaultPlan(status_503=0.12, stall=0.03, stall_s=1.5, seed=11, first=("503", "stall"))
    proxy = FaultProxy(moto_port, plan).start()
    monkeypatch.setenv("LOCALTRACK_S3_ENDPOINT", proxy.url)
    monkeypatch.setenv("LOCALTRACK_S3_TIMEOUT", "1")
    monkeypatch.setenv(
        "LOCALTRACK_S3_RETRIES", "4"
    )  # some blobs fail on the server: 503 to the client
    client, server = tmp_path / "cluster", tmp_path / "server"
    log_runs(client, n=1, steps=60)
    url = f"s3://{bucket}/faulty"
    try:
        with ThreadServer(create_server_app(server, blobs=url, watch=False)) as srv:
            report = _sync(client, srv.url, attempts=8)
            assert not report.failed, [r.message for r in report.failed]
    finally:
        proxy.close()
        monkeypatch.setenv("LOCALTRACK_S3_ENDPOINT", f"http://127.0.0.1:{moto_port}")
    assert proxy.injected.get("503") and proxy.injected.get("stall"), proxy.injected
    assert store_files(server) == store_files(client)
    for run_id in os.listdir(client / "runs"):
        assert metric_rows(server, run_id) == metric_rows(client, run_id)
    objects = _objects(moto_port, bucket, "faulty/blobs/")
    assert set(store_files(server).values()) <= {k.rsplit("/", 1)[1] for k in objects}
    for key, data in objects.items():  # no partial object was kept under a name
        assert hashlib.sha256(data).hexdigest() == key.rsplit("/", 1)[1]
    assert _check(server, "--blobs", url).exit_code == 0


def test_an_object_store_that_keeps_failing_is_a_503_and_the_next_sync_lands(
    tmp_path: Path, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = FaultPlan(status_503=1.0)
    proxy = FaultProxy(int(os.environ["LOCALTRACK_S3_ENDPOINT"].rsplit(":", 1)[1]), plan).start()
    monkeypatch.setenv("LOCALTRACK_S3_ENDPOINT", proxy.url)
    monkeypatch.setenv("LOCALTRACK_S3_RETRIES", "2")
    client, server = tmp_path / "cluster", tmp_path / "server"
    log_runs(client, n=1, steps=60)
    try:
        with ThreadServer(create_server_app(server, blobs=f"s3://{bucket}/p", watch=False)) as srv:
            failed = _sync(client, srv.url, attempts=2)
            assert failed.failed, "the sync went through although the object store refused all"
            assert "object store" in failed.failed[0].message
            assert os.listdir(server / "runs") == []
            assert os.listdir(server / "ingest" / "blobs") == []  # nothing counts as stored

            plan.status_503 = 0.0  # the object store is back
            report = _sync(client, srv.url)
            assert not report.failed, [r.message for r in report.failed]
        assert store_files(server) == store_files(client)
    finally:
        proxy.close()


def test_check_on_a_directory_store_names_a_run_whose_file_changed(tmp_path: Path) -> None:
    client, server = tmp_path / "cluster", tmp_path / "server"
    log_runs(client, n=2, steps=60)
    with ThreadServer(create_server_app(server, watch=False)) as srv:
        assert not _sync(client, srv.url).failed
    assert _check(server).exit_code == 0
    run_id = sorted(os.listdir(server / "runs"))[1]
    shard = (
        server
        / "runs"
        / run_id
        / "metrics"
        / sorted(os.listdir(server / "runs" / run_id / "metrics"))[0]
    )
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    result = _check(server, "--json")
    assert result.exit_code == 1
    assert f'"run_id": "{run_id}"' in result.output and "changed: hashes to" in result.output


def test_import_with_blobs_puts_a_bundles_blobs_in_the_bucket(
    tmp_path: Path, bucket: str, moto_port: int
) -> None:
    from localtrack.sync.bundle import export_bundle

    client, server = tmp_path / "cluster", tmp_path / "server"
    ids = log_runs(client, n=1, steps=60)
    export_bundle(client, ids, tmp_path / "runs.ltbundle")
    url = f"s3://{bucket}/imported"
    args = ["import", str(tmp_path / "runs.ltbundle"), "--dir", str(server), "--create"]
    result = CliRunner().invoke(cli, [*args, "--blobs", url])
    assert result.exit_code == 0, result.output
    assert store_files(server) == store_files(client)
    keys = {k.rsplit("/", 1)[1] for k in _objects(moto_port, bucket, "imported/blobs/")}
    assert set(store_files(server).values()) <= keys
    assert _check(server, "--blobs", url).exit_code == 0


def test_a_blobs_url_that_is_not_s3_is_refused_with_what_to_give(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    result = CliRunner().invoke(
        cli, ["server", "check", "--dir", str(tmp_path / "store"), "--blobs", "gs://bucket"]
    )
    assert result.exit_code == 1  # one line, as every localtrack error (cli/options.py)
    assert "--blobs 'gs://bucket' is not supported: give s3://BUCKET" in result.output
