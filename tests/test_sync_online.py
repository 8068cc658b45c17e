"""Background pushing: `sync --watch` and the online-mode pusher, against a waitress server in a
thread of this process, on both server backends (``server_backend``; what the server holds is
read through the server app's own reader)."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

import localtrack
from localtrack.store.reader import StoreReader
from localtrack.sync.client import SyncClient
from localtrack.sync.config import Target
from localtrack.sync.online import OnlinePusher, start_online
from localtrack.sync.remote import Remote
from localtrack.sync.watch import watch
from webui.server.app import create_server_app

from .backend_fixtures import ServerBackend, client_side
from .sync_fixtures import (
    AppTransport,
    ThreadServer,
    fast_retry,
    free_port,
    log_runs,
    metric_rows,
    wait_until,
)

pytestmark = pytest.mark.server
FAST = localtrack.Settings(
    seal_interval=0.3, flush_interval=0.1, system_metrics=False, console=False
)


def _server_has(app: Any, run_id: str, steps: int, state: str | None = None) -> bool:
    reader: StoreReader = app.extensions["localtrack"].reader
    try:
        info = reader.run(run_id)
        got = len(reader.history(run_id))
    except (localtrack.LocaltrackError, OSError):
        return False
    return got >= steps and (state is None or info.state == state)


def test_watch_pushes_new_and_growing_runs_until_stopped(
    root: Path, tmp_path: Path, server_backend: ServerBackend
) -> None:
    server_root = tmp_path / "server"
    app = create_server_app(server_root, watch=False)
    [first] = log_runs(root, n=1, steps=50)
    with client_side():  # as on another machine
        client = SyncClient.for_store(root, Remote(AppTransport(app), retry=fast_retry(3)))
    stop = threading.Event()
    reports = []
    thread = threading.Thread(
        target=watch,
        args=(client, root, lambda: sorted(p.name for p in (root / "runs").iterdir())),
        kwargs={"interval": 0.2, "stop": stop, "on_report": reports.append},
    )
    thread.start()
    try:
        assert wait_until(lambda: _server_has(app, first, 50, "finished"))
        [second] = log_runs(root, n=1, steps=60)
        assert wait_until(lambda: _server_has(app, second, 60, "finished"))
        assert metric_rows(app.extensions["localtrack"].reader, second) == metric_rows(root, second)
    finally:
        stop.set()
        thread.join(timeout=10)
        app.extensions["localtrack"].close()
        app.extensions["localtrack_ingest"].close()
    assert not thread.is_alive() and all(not r.failed for r in reports)


def test_online_pusher_streams_a_live_run_and_pushes_the_end_after_finish(
    root: Path, tmp_path: Path, server_backend: ServerBackend
) -> None:
    server_root = tmp_path / "server"
    with ThreadServer(create_server_app(server_root, watch=False)) as server:
        run = localtrack.init(project="online", dir=root, settings=FAST)
        pusher = OnlinePusher(root, run.id, Target(server.url, None), interval=0.2).start()
        run.attach_background(pusher)
        for step in range(50):
            run.log({"loss": 1.0 / (step + 1)})
        run.flush()
        assert wait_until(lambda: _server_has(server.app, run.id, 50, "running"))
        for step in range(50, 80):
            run.log({"loss": 1.0 / (step + 1)})
        run.finish()
        assert pusher.wait(timeout=30)
        assert _server_has(server.app, run.id, 80, "finished")
        served = server.app.extensions["localtrack"].reader
        assert metric_rows(served, run.id) == metric_rows(root, run.id)


def test_a_dead_server_never_blocks_training_and_finish_says_what_is_left(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    run = localtrack.init(project="online", dir=root, settings=FAST)
    pusher = OnlinePusher(root, run.id, Target(url, None), interval=0.1, finish_timeout=2.0).start()
    run.attach_background(pusher)
    caplog.set_level(logging.WARNING, logger="localtrack.sync.online")
    for step in range(2000):
        run.log({"x": float(step)})
    run.finish()
    assert not pusher.wait(timeout=20)
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "logging goes on locally" in messages and "`localtrack sync" in messages
    assert len(StoreReader(root).history(run.id)) == 2000


def test_a_server_that_never_answers_never_blocks_log_or_finish(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The pusher is held in a request that is never answered while the script logs: every
    log() returns all the same (a log() waiting on the network would never finish here), and
    finish() gives up on the push at its bound instead of waiting out that request."""
    stall = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                held.append(stall.accept()[0])  # read nothing, answer nothing

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    url = f"http://127.0.0.1:{stall.getsockname()[1]}"
    run = localtrack.init(project="online", dir=root, settings=FAST)
    pusher = OnlinePusher(root, run.id, Target(url, None), interval=0.1, finish_timeout=2.0).start()
    run.attach_background(pusher)
    logged = threading.Event()

    def train() -> None:
        for step in range(2000):
            run.log({"x": float(step)})
        logged.set()

    try:
        run.log({"x": -1.0})
        assert wait_until(lambda: bool(held))  # the pusher is now waiting for an answer
        threading.Thread(target=train, daemon=True).start()
        assert logged.wait(timeout=120), "log() waited for a server that never answers"
        caplog.set_level(logging.WARNING, logger="localtrack.sync.online")
        run.finish()
        assert len(StoreReader(root).history(run.id)) == 2001
        # the final push did not queue behind the unanswered one: it said so and gave up
        assert "an earlier push is still waiting for the server to answer" in caplog.text
        assert "`localtrack sync" in caplog.text
    finally:
        stall.shutdown(socket.SHUT_RDWR)  # wakes the accept() (a close alone does not)
        stall.close()
        acceptor.join(timeout=30)
        for conn in held:
            conn.close()


def test_start_online_without_a_server_logs_offline_with_a_warning(
    root: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    run = localtrack.init(project="p", dir=root, settings=FAST)
    caplog.set_level(logging.WARNING, logger="localtrack.sync.online")
    assert start_online(run) is None
    assert "no server to sync to" in caplog.text
    run.finish()
