"""Two `localtrack server` processes (replicas) on one store directory, one PostgreSQL index and
one S3 bucket.

Real processes on 127.0.0.1, a real, throwaway PostgreSQL (tests/pg_fixtures.py) and moto's S3
server (tests/s3_fixtures.py, a test double for MinIO/Ceph/AWS): keys made
with `localtrack keys create --index …` work on both replicas, a run synced through one is listed
and read by the other, and a key revoked with `keys revoke --index …` fails on both at once.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import PYTHON, REPO, child_env
from .pg_fixtures import PgCluster, indexed_run_ids
from .s3_fixtures import TEST_CREDENTIALS, moto_server, s3_client
from .sync_fixtures import (
    ServerProcess,
    env_without_home,
    get_json,
    log_runs,
    run_cli,
    store_files,
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
