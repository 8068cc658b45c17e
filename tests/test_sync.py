"""`localtrack sync` end to end against an in-process server app (no sockets; see
test_server.py for the same against a real server process), on both server backends
(``server_backend``): what the server holds is read through the app's own reader."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import localtrack
from localtrack.store.reader import StoreReader
from localtrack.sync.client import RunSyncStatus, SyncClient, sync_status
from localtrack.sync.remote import Remote
from localtrack.sync.transport import Request, Response
from webui.server.app import create_server_app

from .backend_fixtures import ServerBackend, client_side, committed_runs
from .sync_fixtures import AppTransport, fast_retry, log_runs, metric_rows, store_files


@pytest.fixture
def server_root(tmp_path: Path) -> Path:
    return tmp_path / "server"


@pytest.fixture
def app(server_root: Path, server_backend: ServerBackend) -> Any:
    app = create_server_app(server_root, watch=False)
    yield app
    app.extensions["localtrack"].close()
    app.extensions["localtrack_ingest"].close()


def _client(root: Path, app: Any, before: Any = None) -> tuple[SyncClient, AppTransport]:
    """A sync client of the store at `root` (made as on another machine: ``client_side``)."""
    transport = AppTransport(app, before=before)
    with client_side():
        return SyncClient.for_store(root, Remote(transport, retry=fast_retry(4))), transport


def _status(root: Path, url: str, run_ids: list[str]) -> list[RunSyncStatus]:
    with client_side():
        return sync_status(root, url, run_ids)


def _served(app: Any) -> StoreReader:
    """The server's reader: its store as the UI and API read it, on either backend."""
    reader: StoreReader = app.extensions["localtrack"].reader
    return reader


def _puts(transport: AppTransport) -> int:
    return sum(1 for r in transport.requests if r.method == "PUT")


def test_sync_copies_runs_byte_exact_and_a_second_sync_sends_nothing(
    root: Path, server_root: Path, app: Any, server_backend: ServerBackend
) -> None:
    ids = log_runs(root, n=3)
    client, transport = _client(root, app)
    report = client.sync(ids)
    assert [r.outcome for r in report.runs] == ["sent"] * 3 and not report.failed
    server = _served(app)
    assert store_files(server.store) == store_files(root)
    for run_id in ids:
        assert metric_rows(server, run_id) == metric_rows(root, run_id)
        assert (server.store.run(run_id).dir / "files" / "requirements.txt").read_bytes() == (
            root / "runs" / run_id / "files" / "requirements.txt"
        ).read_bytes()
    assert {r.id: r.state for r in server.runs("proj")} == dict.fromkeys(ids, "finished")
    before, puts = server_backend.snapshot(server_root), _puts(transport)
    again = client.sync(ids)
    assert [r.outcome for r in again.runs] == ["current"] * 3
    assert again.blobs_sent == 0 and _puts(transport) == puts
    assert server_backend.snapshot(server_root) == before


def test_an_interrupted_sync_resumes_without_sending_blobs_twice(
    root: Path, server_root: Path, app: Any
) -> None:
    ids = log_runs(root, n=2)

    def no_commits(request: Request) -> Response | None:
        if request.path.endswith("/commit"):
            return Response(503, {}, b'{"error": {"code": "busy", "message": "down"}}')
        return None

    client, transport = _client(root, app, before=no_commits)
    first = client.sync(ids)
    assert [r.outcome for r in first.runs] == ["failed", "failed"]
    sent = {r.path.rsplit("/", 1)[1] for r in transport.requests if r.method == "PUT"}
    contents = {
        hashlib.sha256(p.read_bytes()).hexdigest()
        for i in ids
        for p in (root / "runs" / i).rglob("*")
        if p.is_file() and p.name != "heartbeat"
    }
    assert sent == contents  # each distinct content once (requirements.txt is shared)
    client, transport = _client(root, app)
    second = client.sync(ids)
    assert [r.outcome for r in second.runs] == ["sent", "sent"]
    assert _puts(transport) == 0  # the server kept the verified blobs until their commit
    assert store_files(_served(app).store) == store_files(root)


def test_a_live_run_syncs_its_sealed_part_now_and_the_rest_later(
    root: Path, server_root: Path, app: Any
) -> None:
    settings = localtrack.Settings(
        seal_scalars=100, flush_interval=60.0, system_metrics=False, console=False
    )
    run = localtrack.init(project="live", dir=root, settings=settings)
    for step in range(100):
        run.log({"x": float(step)})
    run.flush()  # 100 scalars: sealed
    for step in range(100, 130):
        run.log({"x": float(step)})
    run.flush()  # 30 more: only in the tail log
    client, _ = _client(root, app)
    [result] = client.sync([run.id]).runs
    assert result.outcome == "sent" and result.live and result.unsealed_bytes > 0
    server = _served(app)
    assert server.run(run.id).state == "running"
    assert server.history(run.id)["x"].to_pylist() == [float(s) for s in range(100)]
    [status] = _status(root, "http://127.0.0.1", [run.id])
    assert status.status == "partial" and status.unsealed_bytes > 0
    run.finish()
    [result] = client.sync([run.id]).runs
    assert result.outcome == "sent" and not result.live
    assert server.run(run.id).state == "finished"
    assert server.history(run.id)["x"].to_pylist() == [float(s) for s in range(130)]
    [status] = _status(root, "http://127.0.0.1", [run.id])
    assert status.status == "synced"


def test_one_damaged_run_fails_alone_and_is_named(
    root: Path, server_root: Path, app: Any, server_backend: ServerBackend
) -> None:
    good, damaged, unreadable = log_runs(root, n=3)
    shard = sorted((root / "runs" / damaged / "metrics").iterdir())[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # bit rot after sealing: same size, other content
    shard.write_bytes(bytes(data))
    (root / "runs" / unreadable / "run.json").write_text("{not json")
    client, _ = _client(root, app)
    report = client.sync([good, damaged, unreadable])
    assert [r.outcome for r in report.runs] == ["sent", "failed", "failed"]
    assert "damaged" in report.runs[1].message and "run.json" in report.runs[2].message
    assert metric_rows(_served(app), good) == metric_rows(root, good)
    assert "2 failed, 1 sent" in report.summary()
    assert committed_runs(server_backend, server_root) == {good}


def test_a_shard_compacted_away_mid_sync_sends_the_run_again_with_a_fresh_manifest(
    root: Path, server_root: Path, app: Any
) -> None:
    [run_id] = log_runs(root, n=1)
    compacted: list[bool] = []

    def compact_after_negotiate(request: Request) -> Response | None:
        if request.path.endswith("/negotiate") and not compacted:
            compacted.append(True)
            from .test_sync_importer import _compact

            _compact(root, run_id)
        return None

    client, _ = _client(root, app, before=compact_after_negotiate)
    [result] = client.sync([run_id]).runs
    assert result.outcome == "sent", result.message
    server = _served(app)
    assert os.listdir(server.store.run(run_id).metrics) == ["0000-000000001-000000003.parquet"]
    assert metric_rows(server, run_id) == metric_rows(root, run_id)


def test_media_and_run_files_travel_with_the_run(root: Path, server_root: Path, app: Any) -> None:
    settings = localtrack.Settings(system_metrics=False, console=False)
    run = localtrack.init(project="media", dir=root, settings=settings)
    pixels = (np.arange(64 * 48 * 3) % 251).astype(np.uint8).reshape(48, 64, 3)
    run.log({"sample": localtrack.Image(pixels, caption="c"), "loss": 0.5})
    run.log({"hist": localtrack.Histogram(np.linspace(0, 1, 100))})
    run.finish()
    client, _ = _client(root, app)
    assert client.sync([run.id]).runs[0].outcome == "sent"
    local = sorted(
        p.relative_to(root / "runs").as_posix()
        for p in (root / "runs" / run.id).rglob("*")
        if p.is_file() and "media" in p.parts
    )
    served = _served(app).store.run(run.id).dir
    remote = sorted(
        f"{run.id}/{p.relative_to(served).as_posix()}"
        for p in served.rglob("*")
        if p.is_file() and "media" in p.relative_to(served).parts
    )
    assert local and local == remote
    for name in local:
        assert (root / "runs" / name).read_bytes() == (served.parent / name).read_bytes()


def test_status_says_never_partial_synced_and_dry_run_sends_nothing(
    root: Path, server_root: Path, app: Any, server_backend: ServerBackend
) -> None:
    a, b = log_runs(root, n=2)
    url = "http://127.0.0.1"
    assert [s.status for s in _status(root, url, [a, b])] == ["never", "never"]
    client, transport = _client(root, app)
    plan = client.sync([a, b], dry_run=True)
    assert [r.outcome for r in plan.runs] == ["would-send"] * 2 and _puts(transport) == 0
    assert plan.runs[0].bytes == sum(
        p.stat().st_size
        for p in (root / "runs" / a).rglob("*")
        if p.is_file() and p.name != "heartbeat"
    )
    assert committed_runs(server_backend, server_root) == set()
    client.sync([a])
    assert [s.status for s in _status(root, url, [a, b])] == ["synced", "never"]
    meta = json.loads((root / "runs" / a / "run.json").read_text())
    meta["notes"] = "edited after the sync"
    (root / "runs" / a / "run.json").write_text(json.dumps(meta))
    [status] = _status(root, url, [a])
    assert status.status == "partial" and status.pending_files == 1


def test_a_run_id_taken_by_another_run_fails_that_run_only(
    root: Path, tmp_path: Path, server_root: Path, app: Any
) -> None:
    [mine] = log_runs(root, n=1)
    other_root = tmp_path / "other-cluster"
    run = localtrack.init(
        project="proj",
        id=mine,
        dir=other_root,
        settings=localtrack.Settings(system_metrics=False, console=False),
    )
    run.log({"y": 1.0})
    run.finish()
    [theirs] = log_runs(other_root, n=1)
    client, _ = _client(root, app)
    assert client.sync([mine]).runs[0].outcome == "sent"
    client2, _ = _client(other_root, app)
    report = client2.sync([mine, theirs])
    assert [r.outcome for r in report.runs] == ["failed", "sent"]
    assert "another run" in report.runs[0].message
    assert metric_rows(_served(app), mine) == metric_rows(root, mine)
