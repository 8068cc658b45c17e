"""Sync under failure, against a real server process on 127.0.0.1: the client killed with -9 at
random moments, the server killed and restarted mid-sync, and a proxy that resets, stalls, answers
503/429 and flips bytes. Each time, syncing again converges to the client's exact data. On both
server backends (``server_backend``); on ``pg+s3`` with fewer kills (the commit path is the same
for every trial) and its blobs checked in the bucket."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from localtrack.sync.client import SyncClient, SyncReport
from localtrack.sync.remote import Remote, RetryPolicy
from localtrack.sync.transport import HTTPTransport

from .backend_fixtures import ServerBackend, committed_runs
from .conftest import PYTHON, REPO, child_env
from .pg_fixtures import indexed_run_ids
from .sync_fixtures import FaultPlan, FaultProxy, ServerProcess, log_runs, metric_rows, store_files

pytestmark = [pytest.mark.server, pytest.mark.crash, pytest.mark.slow]
# client kills and server restarts per directory-backend run (12 in CI; CRASH_KILLS for more)
TRIALS = int(os.environ.get("CRASH_KILLS") or 12)


def _assert_converged(client: Path, root: Path, backend: ServerBackend) -> None:
    """The server holds exactly the client's runs: same files, same bytes, same rows, and no
    leftovers (covered shards, partial files, unfinished commits, blobs with a wrong hash)."""
    with backend.reader(root) as server:
        assert store_files(server.store) == store_files(client)
        for run_id in os.listdir(client / "runs"):
            local = sorted(os.listdir(client / "runs" / run_id / "metrics"))
            remote = sorted(os.listdir(server.store.run(run_id).metrics))
            assert remote == local, run_id
            assert metric_rows(server, run_id) == metric_rows(client, run_id)
    assert committed_runs(backend, root) == set(os.listdir(client / "runs"))
    if not backend.shared:  # no leftover run directory either
        assert sorted(os.listdir(root / "runs")) == sorted(os.listdir(client / "runs"))
    assert os.listdir(root / "ingest" / "journal") == []
    assert backend.misnamed_blobs(root) == []
    partials = [p for p in (root / "runs").rglob(".*.tmp")]
    assert partials == []


def _sync_all(client: Path, url: str) -> SyncReport:
    remote = Remote(
        HTTPTransport(url, timeout=10), retry=RetryPolicy(attempts=10, base_s=0.05, cap_s=0.5)
    )
    sync = SyncClient.for_store(client, remote)
    report = sync.sync(sorted(os.listdir(client / "runs")))
    remote.transport.close()
    return report


def test_killing_the_client_at_random_moments_then_syncing_again_converges(
    tmp_path: Path, server_backend: ServerBackend
) -> None:
    rng = random.Random(4)
    client = tmp_path / "cluster"
    log_runs(client, n=4, steps=300)
    server = ServerProcess(tmp_path / "server").start()
    kills_wanted = 5 if server_backend.shared else TRIALS
    try:
        kills, trial = 0, 0
        while kills < kills_wanted and trial < 3 * kills_wanted:  # kills that land mid-sync
            trial += 1
            log_runs(client, n=1, steps=120, project=f"p{trial % 3}")
            proc = subprocess.Popen(
                [
                    PYTHON,
                    "-m",
                    "localtrack.cli.sync",
                    "sync",
                    "--all",
                    "--dir",
                    str(client),
                    "--to",
                    server.url,
                ],
                env=child_env(),
                cwd=str(REPO),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(rng.uniform(0.2, 1.0))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(timeout=30)
        assert kills >= kills_wanted, f"only {kills} of {trial} kills landed mid-sync"
        report = _sync_all(client, server.url)
        assert not report.failed, [r.message for r in report.failed]
        _assert_converged(client, tmp_path / "server", server_backend)
        assert _sync_all(client, server.url).blobs_sent == 0
    finally:
        server.stop()


def test_restarting_the_server_mid_sync_converges(
    tmp_path: Path, server_backend: ServerBackend
) -> None:
    """Killed with -9 and restarted mid-sync: with everything in the store directory, and
    (fewer trials: the commit path is the same) with PostgreSQL and the bucket, where the index
    must end up listing every run exactly once."""
    rng = random.Random(7)
    client = tmp_path / "cluster"
    log_runs(client, n=2, steps=300)
    trials = 3 if server_backend.shared else TRIALS
    server = ServerProcess(tmp_path / "server", args=server_backend.server_args).start()
    policy = RetryPolicy(attempts=80, base_s=0.05, cap_s=0.5, deadline_s=60)
    try:
        for _ in range(trials):
            log_runs(client, n=1, steps=200)
            reports: list[SyncReport] = []
            remote = Remote(HTTPTransport(server.url, timeout=10), retry=policy)
            sync = SyncClient.for_store(client, remote)
            thread = threading.Thread(
                target=lambda s=sync, out=reports: out.append(
                    s.sync(sorted(os.listdir(client / "runs")))
                )
            )
            thread.start()
            time.sleep(rng.uniform(0.0, 0.25))
            server.kill()
            server.start()
            thread.join(timeout=120)
            assert not thread.is_alive()
            remote.transport.close()
            assert reports and not reports[0].failed, [r.message for r in reports[0].failed]
        _assert_converged(client, tmp_path / "server", server_backend)
        assert _sync_all(client, server.url).blobs_sent == 0
        if server_backend.shared:
            assert indexed_run_ids(server_backend.index_url) == sorted(os.listdir(client / "runs"))
    finally:
        server.stop()


def test_a_faulty_link_still_converges_and_keeps_no_damaged_blob(
    tmp_path: Path, server_backend: ServerBackend
) -> None:
    client = tmp_path / "cluster"
    log_runs(client, n=4, steps=300)
    server = ServerProcess(tmp_path / "server").start()
    plan = FaultPlan(
        reset=0.08,
        stall=0.04,
        stall_s=1.5,
        status_503=0.08,
        status_429=0.08,
        flip=0.25,
        seed=11,
        first=("reset", "stall", "503", "429", "flip"),  # each kind at least once, under any load
    )
    proxy = FaultProxy(server.port, plan).start()
    remote = Remote(
        HTTPTransport(proxy.url, timeout=1.0),
        retry=RetryPolicy(attempts=12, base_s=0.01, cap_s=0.1),
    )
    sync = SyncClient.for_store(client, remote)
    try:
        run_ids = sorted(os.listdir(client / "runs"))
        for _ in range(10):
            report = sync.sync(run_ids)
            if not report.failed:
                break
        assert not report.failed, [r.message for r in report.failed]
        assert set(proxy.injected) == {"reset", "stall", "503", "429", "flip"}, proxy.injected
        assert remote.stats.transit_errors, "no flipped byte reached the server's hash check"
        _assert_converged(client, tmp_path / "server", server_backend)
        assert sync.sync(run_ids).blobs_sent == 0
    finally:
        remote.transport.close()
        proxy.close()
        server.stop()
