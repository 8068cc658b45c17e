"""Two `localtrack server` processes (replicas) on one store directory, one PostgreSQL index and
one S3 bucket.

Real processes on 127.0.0.1, a real, throwaway PostgreSQL (tests/pg_fixtures.py) and moto's S3
server (tests/s3_fixtures.py, a test double for MinIO/Ceph/AWS): keys made
with `localtrack keys create --index …` work on both replicas, a run synced through one is listed
and read by the other, and a key revoked with `keys revoke --index …` fails on both at once. A
commit through one replica reaches a page polling another through NOTIFY/LISTEN; 8 clients
syncing through a round-robin proxy lose nothing when a replica is killed with -9 mid-sync.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import secrets
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from localtrack.sync.client import SyncClient
from localtrack.sync.remote import Remote, RetryPolicy
from localtrack.sync.transport import HTTPTransport

from .conftest import PYTHON, REPO, child_env
from .pg_fixtures import PgCluster, indexed_run_ids
from .s3_fixtures import TEST_CREDENTIALS, moto_server, s3_client
from .sync_fixtures import (
    FaultPlan,
    FaultProxy,
    ServerProcess,
    env_without_home,
    get_json,
    log_runs,
    run_cli,
    store_files,
    wait_until,
)

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


@pytest.fixture
def bucket_env() -> Iterator[dict[str, str]]:
    """moto's S3 server on loopback with a fresh bucket; the environment that points at it."""
    with moto_server() as port:
        bucket = f"lt-{secrets.token_hex(4)}"
        s3_client(port).create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
        env = dict(TEST_CREDENTIALS, LOCALTRACK_S3_ENDPOINT=f"http://127.0.0.1:{port}")
        yield dict(env, LOCALTRACK_BLOBS=f"s3://{bucket}/prod")


def test_two_replicas_share_keys_and_runs_through_postgresql(
    tmp_path: Path, pg_url: str, bucket_env: dict[str, str]
) -> None:
    """Both replicas: one store directory, one PostgreSQL index, one S3 bucket for blobs."""
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


def _projects_page(url: str, headers: dict[str, str]) -> tuple[int, str, Any]:
    """GET the projects JSON the projects page polls: (status, ETag, body: None on 304)."""
    request = urllib.request.Request(f"{url}/api/v1/projects", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.headers["ETag"], json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code, exc.headers.get("ETag", ""), None


def test_a_replica_hears_a_commit_made_through_another_from_postgresql(
    tmp_path: Path, pg_url: str
) -> None:
    """Replica B has its own store directory, so no file B could watch changes when a run is
    synced through replica A: B's change counter moves because A's commit sent NOTIFY and B
    LISTENs. A page polling B with its ETag then gets the new project instead of a 304."""
    admin, writer = _key(tmp_path / "a", pg_url, "root", "admin"), _key(tmp_path / "a", pg_url, "ci", "write")  # fmt: skip
    a = ServerProcess(tmp_path / "a", args=("--index", pg_url)).start()
    b = ServerProcess(tmp_path / "b", args=("--index", pg_url)).start()
    as_admin = {"Authorization": f"Bearer {admin['token']}"}
    try:
        code, before = get_json(f"{b.url}/api/v1/changes", as_admin)
        assert code == 200 and before["notifications"]["from"] == "postgresql", before
        assert wait_until(lambda: _notifications(b.url, as_admin)["listening"])
        heard = _notifications(b.url, as_admin)["heard"]
        status, etag, body = _projects_page(b.url, as_admin)
        assert status == 200 and body["projects"] == []
        assert _projects_page(b.url, dict(as_admin, **{"If-None-Match": etag}))[0] == 304

        client = tmp_path / "cluster"
        ids = log_runs(client, n=2, steps=20)
        env = dict(env_without_home(tmp_path), LOCALTRACK_API_KEY=writer["token"])
        synced = run_cli("sync", "--all", "--dir", str(client), "--to", a.url, env=env)
        assert synced.returncode == 0 and "2 sent" in synced.stdout, synced.stderr

        assert wait_until(lambda: _notifications(b.url, as_admin)["heard"] > heard)
        status, _, body = _projects_page(b.url, dict(as_admin, **{"If-None-Match": etag}))
        assert status == 200, status
        assert [(p["name"], p["run_count"]) for p in body["projects"]] == [("proj", len(ids))]
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


def test_eight_clients_through_a_round_robin_proxy_survive_a_replica_killed_mid_sync(
    tmp_path: Path, pg_url: str
) -> None:
    """Two replicas (one directory, one PostgreSQL) behind a round-robin proxy; 8 clients sync
    at once, and replica 0 is killed with -9 while requests are in flight: every run lands once
    and whole, a second sync sends nothing, and a replica started afterwards lists every run."""
    root = tmp_path / "server"
    writer, admin = _key(root, pg_url, "ci", "write"), _key(root, pg_url, "root", "admin")
    replicas = [ServerProcess(root, args=("--index", pg_url)).start() for _ in range(2)]
    killed = threading.Event()
    survivor_before_kill: list[int] = []

    def kill_mid_sync(port: int, n: int) -> None:
        if port == replicas[0].port and n == KILL_AT_REQUEST and not killed.is_set():
            killed.set()  # this request and those after it meet a dead replica
            survivor_before_kill.append(proxy.forwarded[replicas[1].port])
            threading.Timer(0.05, replicas[0].kill).start()

    proxy = RoundRobinProxy([r.port for r in replicas], kill_mid_sync).start()
    clients = [tmp_path / f"client{i}" for i in range(8)]
    ids = sorted(run_id for c in clients for run_id in log_runs(c, n=1, steps=20, shards=2))
    later: ServerProcess | None = None
    try:
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
        # the syncs went on after the kill, through the replica left
        assert proxy.forwarded[replicas[1].port] > survivor_before_kill[0]
        assert sum(retries) > 0  # some clients met the dead replica and tried again

        assert indexed_run_ids(pg_url) == ids
        server_files = store_files(root)
        for client in clients:
            mine = store_files(client)
            assert {k: server_files.get(k) for k in mine} == mine
        assert len({k.split("/")[0] for k in server_files}) == len(ids)

        proxy.ports = [replicas[1].port]  # the dead replica leaves the balancer
        again: dict[Path, Any] = {}
        _sync_in_thread(clients[0], proxy.url, writer["token"], again)
        assert again[clients[0]].blobs_sent == 0

        later = ServerProcess(root, args=("--index", pg_url)).start()
        code, data = get_json(
            f"{later.url}/api/v1/projects/proj/runs?per_page=100",
            {"Authorization": f"Bearer {admin['token']}"},
        )
        assert code == 200 and sorted(r["id"] for r in data["rows"]) == ids, data
    finally:
        proxy.close()
        for replica in [*replicas, *([later] if later else [])]:
            replica.stop()


KILL_AT_REQUEST = 6  # the 6th request replica 0 gets: the 8 clients' syncs are under way
