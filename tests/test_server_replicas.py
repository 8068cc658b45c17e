"""`localtrack server` processes (replicas) on one store directory, one PostgreSQL index and
one S3 bucket.

Real processes on 127.0.0.1, a real, throwaway PostgreSQL (tests/pg_fixtures.py) and moto's S3
server (tests/s3_fixtures.py, a test double for MinIO/Ceph/AWS): keys made
with `localtrack keys create --index …` work on both replicas, a run synced through one is listed
and read by the other, and a key revoked with `keys revoke --index …` fails on both at once; a
blob deleted from the bucket behind the servers' back is named by `server check` and by every
replica's read of that run. A commit through one replica reaches a real browser whose page is
open on another, through NOTIFY/LISTEN; 8 clients syncing through a round-robin proxy in front of
three replicas lose nothing when one is killed with -9 mid-sync while the object store answers
503 and stalls.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import json
import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from localtrack.sync.client import SyncClient
from localtrack.sync.remote import Remote, RetryPolicy
from localtrack.sync.transport import HTTPTransport

from .conftest import PYTHON, REPO, child_env
from .pg_fixtures import PgCluster, committed_files, indexed_run_ids
from .s3_fixtures import new_bucket, s3_client
from .sync_fixtures import (
    FaultPlan,
    FaultProxy,
    ServerProcess,
    env_without_home,
    free_port,
    get_json,
    log_runs,
    run_cli,
    store_files,
    wait_until,
)
from .webui_fixtures import guarded

pytestmark = pytest.mark.server


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "localtrack.cli", *args],
        env=child_env(**(env or {})),
        cwd=str(REPO),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _key(root: Path, url: str, user: str, role: str) -> dict[str, str]:
    made = _cli("keys", "create", "--dir", str(root), "--index", url, "--user", user, "--role", role, "--json")  # fmt: skip
    assert made.returncode == 0, made.stderr
    return json.loads(made.stdout)


def _bucket_objects(moto_port: int, blobs_url: str) -> dict[str, bytes]:
    """{sha256 name: bytes} of every blob object under the `s3://bucket/prefix` URL."""
    bucket, prefix = blobs_url.removeprefix("s3://").split("/", 1)
    s3: Any = s3_client(moto_port)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/blobs/")
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    return {k.rsplit("/", 1)[1]: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def test_two_replicas_share_keys_and_runs_through_postgresql(
    tmp_path: Path, pg_url: str, moto_port: int, bucket_env: dict[str, str]
) -> None:
    """Both replicas: one store directory, one PostgreSQL index, one S3 bucket for blobs. A blob
    then deleted from the bucket behind their back: `server check` names the run and file, and
    a read of that run through either replica says so (the other run's reads do not)."""
    root = tmp_path / "server"
    admin, writer = _key(root, pg_url, "root", "admin"), _key(root, pg_url, "ci", "write")
    assert not (root / "server" / "keys.json").exists()  # the keys are in PostgreSQL
    listed = _cli("keys", "list", "--dir", str(root), "--index", pg_url, "--json")
    assert {k["user"] for k in json.loads(listed.stdout)} == {"root", "ci"}

    replicas = [ServerProcess(root, env=bucket_env, args=("--index", pg_url)) for _ in range(2)]
    try:
        for replica in replicas:
            replica.start()
        client = tmp_path / "cluster"
        ids = log_runs(client, n=2, steps=50)
        env = dict(env_without_home(tmp_path), LOCALTRACK_API_KEY=writer["token"])
        synced = run_cli("sync", "--all", "--dir", str(client), "--to", replicas[0].url, env=env)
        assert synced.returncode == 0 and "2 sent" in synced.stdout, synced.stderr
        assert indexed_run_ids(pg_url) == sorted(ids)

        other = replicas[1].url
        as_admin = {"Authorization": f"Bearer {admin['token']}"}
        code, data = get_json(f"{other}/api/v1/projects/proj/runs", as_admin)
        assert code == 200 and data["total"] == 2, data
        code, data = get_json(f"{other}/api/v1/runs/{ids[0]}", as_admin)
        assert code == 200 and data["run"]["state"] == "finished"
        # the other replica knows the runs are there: syncing through it sends nothing
        again = run_cli("sync", "--all", "--dir", str(client), "--to", other, "--json", env=env)
        report = json.loads(again.stdout)
        assert report["blobs_sent"] == 0 and {r["outcome"] for r in report["runs"]} == {"current"}

        revoked = _cli("keys", "revoke", writer["id"], "--dir", str(root), "--index", pg_url)
        assert revoked.returncode == 0, revoked.stderr
        as_writer = {"Authorization": f"Bearer {writer['token']}"}
        for replica in replicas:
            code, _ = get_json(f"{replica.url}/api/v1/projects/proj/runs", as_writer)
            assert code == 401
        check = _cli("server", "check", "--dir", str(root), "--index", pg_url, env=bucket_env)
        assert check.returncode == 0 and check.stdout.startswith("OK"), check.stdout
        assert bucket_env["LOCALTRACK_BLOBS"] in check.stdout  # the blobs were checked in S3

        damaged_run, healthy_run = ids
        name, sha = next(
            (k.split("/", 1)[1], sha)
            for k, sha in sorted(store_files(client).items())
            if k.startswith(f"{damaged_run}/metrics/")
        )
        bucket, prefix = bucket_env["LOCALTRACK_BLOBS"].removeprefix("s3://").split("/", 1)
        s3: Any = s3_client(moto_port)
        s3.delete_object(Bucket=bucket, Key=f"{prefix}/blobs/{sha}")  # behind the servers' back
        check = _cli("server", "check", "--dir", str(root), "--index", pg_url, env=bucket_env)
        assert check.returncode == 1, check.stdout + check.stderr
        assert f"run {damaged_run}: {name}: blob {sha} missing" in check.stdout, check.stdout
        assert "1 damaged runs" in check.stdout and healthy_run not in check.stdout
        for replica in replicas:
            code, data = get_json(f"{replica.url}/api/v1/runs/{damaged_run}", as_admin)
            assert code == 200, data  # the run still reads, and says which file is damaged
            assert [w for w in data["warnings"] if w.startswith(f"{name}: blob {sha} missing")]
            code, data = get_json(f"{replica.url}/api/v1/runs/{healthy_run}", as_admin)
            assert code == 200 and data["warnings"] == [], data
    finally:
        for replica in replicas:
            replica.stop()
    assert not (root / "index.db").exists()


def test_a_sync_while_postgresql_is_down_waits_and_lands_once(
    tmp_path: Path, pg_url: str, pg_cluster: PgCluster
) -> None:
    """PostgreSQL stopped before a sync and started again while the client retries: the server
    answers 503 meanwhile (nothing half-committed), then every run lands and is indexed once."""
    root = tmp_path / "server"
    writer = _key(root, pg_url, "ci", "write")
    server = ServerProcess(root, args=("--index", pg_url)).start()
    client = tmp_path / "cluster"
    ids = log_runs(client, n=2, steps=50)
    env = dict(env_without_home(tmp_path), LOCALTRACK_API_KEY=writer["token"])
    try:
        pg_cluster.stop()
        try:
            code, body = get_json(
                f"{server.url}/api/v1/projects/proj/runs",
                {"Authorization": f"Bearer {writer['token']}"},
            )
            assert code == 503 and "try again" in body["error"]["message"], body
            restart = threading.Timer(3.0, pg_cluster.start)
            restart.start()
            synced = run_cli("sync", "--all", "--dir", str(client), "--to", server.url, env=env)
            restart.join()
        finally:
            if not pg_cluster.is_running():
                pg_cluster.start()
        assert synced.returncode == 0 and "2 sent" in synced.stdout, synced.stderr
        assert indexed_run_ids(pg_url) == sorted(ids)
        assert store_files(root) == store_files(client)
    finally:
        server.stop()


def _notifications(url: str, headers: dict[str, str]) -> dict[str, Any]:
    code, data = get_json(f"{url}/api/v1/changes", headers)
    assert code == 200, data
    return dict(data["notifications"])


@pytest.mark.browser
def test_a_browser_on_one_replica_shows_a_run_synced_through_another_without_reload(
    tmp_path: Path, pg_url: str, browser: Any
) -> None:
    """Replica B has its own store directory, so no file B could watch changes when a run is
    synced through replica A: B hears of A's commit only because A's commit sent NOTIFY and B
    LISTENs. A real browser, signed in on B and showing the project's runs, then shows the run
    synced through A without a reload (the page's own poll gets the new rows)."""
    admin, writer = _key(tmp_path / "a", pg_url, "root", "admin"), _key(tmp_path / "a", pg_url, "ci", "write")  # fmt: skip
    a = ServerProcess(tmp_path / "a", args=("--index", pg_url)).start()
    b = ServerProcess(tmp_path / "b", args=("--index", pg_url)).start()
    as_admin = {"Authorization": f"Bearer {admin['token']}"}
    env = dict(env_without_home(tmp_path), LOCALTRACK_API_KEY=writer["token"])
    try:
        code, before = get_json(f"{b.url}/api/v1/changes", as_admin)
        assert code == 200 and before["notifications"]["from"] == "postgresql", before
        assert wait_until(lambda: _notifications(b.url, as_admin)["listening"])
        [first] = log_runs(tmp_path / "cluster1", n=1, steps=20)
        synced = run_cli("sync", "--all", "--dir", str(tmp_path / "cluster1"), "--to", a.url, env=env)  # fmt: skip
        assert synced.returncode == 0 and "1 sent" in synced.stdout, synced.stderr

        with guarded(browser) as (page, _guard):
            page.goto(f"{b.url}/")  # to the login page: the key was made with `keys --index`
            page.fill("input[name=api_key]", admin["token"])
            page.click("button[type=submit]")
            page.click("#projects-table a:text('proj')", timeout=60_000)
            page.wait_for_selector(f"#runs-table a[href$='/runs/{first}']", timeout=60_000)
            page.evaluate("window.__noReload = true")
            heard = _notifications(b.url, as_admin)["heard"]

            [second] = log_runs(tmp_path / "cluster2", n=1, steps=20)
            synced = run_cli("sync", "--all", "--dir", str(tmp_path / "cluster2"), "--to", a.url, env=env)  # fmt: skip
            assert synced.returncode == 0 and "1 sent" in synced.stdout, synced.stderr
            page.wait_for_selector(f"#runs-table a[href$='/runs/{second}']", timeout=60_000)
            assert page.evaluate("window.__noReload") is True  # the same page, not reloaded
            assert wait_until(lambda: _notifications(b.url, as_admin)["heard"] > heard)
        assert not (tmp_path / "b" / "runs").exists() or not any(
            (tmp_path / "b" / "runs").iterdir()
        )
    finally:
        a.stop()
        b.stop()


class RoundRobinProxy(FaultProxy):
    """A load balancer in front of replicas: each request goes to the next port in turn, on a
    fresh connection (no retry of its own: a replica that fails closes the client's connection
    without a reply, and the client retries). `on_forward(port, n)` runs before the n-th request
    to `port` is forwarded."""

    def __init__(self, ports: list[int], on_forward: Callable[[int, int], None]) -> None:
        super().__init__(ports[0], FaultPlan())
        self.ports = ports
        self.on_forward = on_forward
        self.turn = itertools.count()
        self.forwarded: collections.Counter[int] = collections.Counter()

    def _forward(
        self, head: bytes, body: bytes, method: str = "GET", port: int | None = None
    ) -> bytes | None:
        with self.lock:
            port = self.ports[next(self.turn) % len(self.ports)]
            self.forwarded[port] += 1
            n = self.forwarded[port]
        self.on_forward(port, n)
        return super()._forward(head, body, method, port)


def _sync_in_thread(
    client: Path, url: str, token: str, out: dict[Path, Any], retries: list[int] | None = None
) -> None:
    """Sync every run of the store `client` (its report, or the exception, into `out`; the
    number of requests it had to retry appended to `retries`)."""
    transport = HTTPTransport(url, timeout=30)
    remote = Remote(
        transport, api_key=token, retry=RetryPolicy(attempts=12, base_s=0.05, cap_s=1.0)
    )
    try:
        out[client] = SyncClient.for_store(client, remote).sync(sorted(os.listdir(client / "runs")))
    except Exception as exc:  # reported by the test, not lost in a thread
        out[client] = exc
    finally:
        transport.close()
        if retries is not None:
            retries.append(remote.stats.retries)


def test_eight_clients_through_three_replicas_survive_a_kill_and_a_faulty_object_store(
    tmp_path: Path, pg_url: str, moto_port: int
) -> None:
    """Three replicas (one directory, one PostgreSQL, one bucket) behind a round-robin proxy; the
    object store, behind a fault proxy of its own, answers 503 to some requests and stalls past
    the replicas' S3 timeout on others; 8 clients sync at once, and replica 0 is killed with -9
    while requests are in flight: every run lands once and whole, every object in the bucket
    hashes to its name, `server check` finds nothing missing, a second sync sends nothing, and a
    replica started afterwards lists every run."""
    s3_faults = FaultPlan(stall_s=1.5, seed=3)  # none while the replicas start
    s3_proxy = FaultProxy(moto_port, s3_faults).start()
    bucket = new_bucket(moto_port, endpoint=s3_proxy.url)
    env = dict(bucket, LOCALTRACK_S3_TIMEOUT="1", LOCALTRACK_S3_RETRIES="4")
    root = tmp_path / "server"
    writer, admin = _key(root, pg_url, "ci", "write"), _key(root, pg_url, "root", "admin")
    replicas = [
        ServerProcess(root, port=free_port(), env=env, args=("--index", pg_url)) for _ in range(3)
    ]
    killed = threading.Event()
    survivors_before_kill: list[int] = []

    def kill_mid_sync(port: int, n: int) -> None:
        if port == replicas[0].port and n == KILL_AT_REQUEST and not killed.is_set():
            killed.set()  # this request and those after it meet a dead replica
            survivors_before_kill.append(sum(proxy.forwarded[r.port] for r in replicas[1:]))
            threading.Timer(0.05, replicas[0].kill).start()

    clients = [tmp_path / f"client{i}" for i in range(8)]
    ids = sorted(run_id for c in clients for run_id in log_runs(c, n=1, steps=20, shards=2))
    proxy = RoundRobinProxy([r.port for r in replicas], kill_mid_sync).start()
    later: ServerProcess | None = None
    try:
        for replica in replicas:
            replica.start()
        s3_faults.status_503, s3_faults.stall = 0.1, 0.03  # from here on: mid-sync
        s3_proxy.pending = ["503", "stall"]  # the first two object-store requests of the syncs
        reports: dict[Path, Any] = {}
        retries: list[int] = []
        threads = [
            threading.Thread(
                target=_sync_in_thread, args=(c, proxy.url, writer["token"], reports, retries)
            )
            for c in clients
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert killed.is_set() and replicas[0].proc.poll() is not None  # type: ignore[union-attr]
        for client, report in reports.items():
            assert not isinstance(report, Exception), f"{client}: {report!r}"
            assert not report.failed, [r.message for r in report.failed]
        assert len(reports) == len(clients)
        # the syncs went on after the kill, through the replicas left
        assert sum(proxy.forwarded[r.port] for r in replicas[1:]) > survivors_before_kill[0]
        assert sum(retries) > 0  # some clients met the dead replica and tried again
        assert s3_proxy.injected.get("503") and s3_proxy.injected.get("stall"), s3_proxy.injected

        assert indexed_run_ids(pg_url) == ids  # every run once
        server_files = committed_files(pg_url)  # the replicas share no run directory
        for client in clients:
            mine = store_files(client)
            assert {k: server_files.get(k) for k in mine} == mine
        assert len({k.split("/")[0] for k in server_files}) == len(ids)
        objects = _bucket_objects(moto_port, bucket["LOCALTRACK_BLOBS"])
        assert set(server_files.values()) <= set(objects)
        for sha, data in objects.items():  # no partial object was kept under a name
            assert hashlib.sha256(data).hexdigest() == sha
        direct = dict(bucket, LOCALTRACK_S3_ENDPOINT=f"http://127.0.0.1:{moto_port}")
        check = _cli("server", "check", "--dir", str(root), "--index", pg_url, env=direct)
        assert check.returncode == 0 and check.stdout.startswith("OK"), check.stdout

        proxy.ports = [r.port for r in replicas[1:]]  # the dead replica leaves the balancer
        again: dict[Path, Any] = {}
        _sync_in_thread(clients[0], proxy.url, writer["token"], again)
        assert again[clients[0]].blobs_sent == 0

        later = ServerProcess(root, env=env, args=("--index", pg_url)).start()
        code, data = get_json(
            f"{later.url}/api/v1/projects/proj/runs?per_page=100",
            {"Authorization": f"Bearer {admin['token']}"},
        )
        assert code == 200 and sorted(r["id"] for r in data["rows"]) == ids, data
    finally:
        proxy.close()
        s3_proxy.close()
        for replica in [*replicas, *([later] if later else [])]:
            replica.stop()


KILL_AT_REQUEST = (
    4  # the 4th request replica 0 gets (every third): the 8 clients' syncs are under way
)
