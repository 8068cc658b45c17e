"""Live updates without long-lived connections: ETags, 304s, and the watchdog change feed."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from localtrack.store.reader import StoreReader
from webui import create_app
from webui.live import ChangeFeed, is_relevant

from .webui_fixtures import log_run, wait_for

POLLED = ["/api/v1/projects", "/api/v1/projects/p/runs", "/api/v1/series?runs={id}&key=train/loss"]


@pytest.mark.parametrize("url", POLLED)
def test_etag_gives_304_until_data_lands(tmp_path: Path, url: str) -> None:
    run_id = log_run(tmp_path, "p", "first", steps=5)
    client = create_app(tmp_path, watch=False).test_client()
    url = url.format(id=run_id)
    first = client.get(url)
    assert first.status_code == 200 and first.headers["ETag"]
    assert first.headers["Cache-Control"] == "no-cache"
    again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    log_run(tmp_path, "p", "second", steps=5)
    after = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert after.status_code == 200 and after.headers["ETag"] != first.headers["ETag"]


@pytest.mark.parametrize(
    ("path", "relevant"),
    [
        ("/s/runs/abc/run.json", True),
        ("/s/runs/abc/tail-0000.log", True),
        ("/s/index.db-wal", False),
        ("/s/runs/abc/.run.json.tmp", False),
        ("/s/runs/abc/metrics/x.parquet.tmp", False),
        ("/s/runs/abc/heartbeat", False),
    ],
)
def test_partial_and_heartbeat_files_are_ignored(path: str, relevant: bool) -> None:
    assert is_relevant(path) is relevant


@pytest.mark.parametrize("polling", [False, True])
def test_change_feed_moves_when_a_run_logs(tmp_path: Path, polling: bool) -> None:
    log_run(tmp_path, "p", "first", steps=3)
    feed = ChangeFeed(StoreReader(tmp_path), rescan_interval=60, polling=polling).start()
    try:
        assert feed.observer_kind == ("polling" if polling else "native")
        before = feed.version
        log_run(tmp_path, "p", "second", steps=3)
        assert wait_for(lambda: feed.version > before, timeout=60)
    finally:
        feed.stop()


def test_change_feed_ignores_partial_files(tmp_path: Path) -> None:
    log_run(tmp_path, "p", "first", steps=3)
    feed = ChangeFeed(StoreReader(tmp_path), rescan_interval=60, polling=False).start()
    try:
        wait_for(lambda: False, timeout=0.3)  # let events from the setup drain
        settled = feed.version
        (tmp_path / "runs" / ".scratch.tmp").write_text("partial")
        assert not wait_for(lambda: feed.version != settled, timeout=0.5)
    finally:
        feed.stop()


def test_rescan_is_a_backstop_without_an_observer(tmp_path: Path) -> None:
    root = tmp_path / "later"  # missing at start: no observer can watch it
    feed = ChangeFeed(StoreReader(root), rescan_interval=0.1).start()
    try:
        assert feed.observer_kind == "none"
        before = feed.version
        log_run(root, "p", "late", steps=3)
        assert wait_for(lambda: feed.version > before, timeout=60)
    finally:
        feed.stop()


def test_app_etag_follows_the_feed(tmp_path: Path) -> None:
    log_run(tmp_path, "p", "first", steps=3)
    app = create_app(tmp_path, rescan_interval=60)
    try:
        client = app.test_client()
        etag = client.get("/api/v1/projects").headers["ETag"]
        log_run(tmp_path, "p", "second", steps=3)
        assert wait_for(
            lambda: (
                client.get("/api/v1/projects", headers={"If-None-Match": etag}).status_code == 200
            )
        )
        assert client.get("/api/v1/changes").json["watching"] == "native"
    finally:
        app.extensions["localtrack"].close()


def test_feed_threads_stop(tmp_path: Path) -> None:
    log_run(tmp_path, "p", "first", steps=3)
    before = set(threading.enumerate())
    feed = ChangeFeed(StoreReader(tmp_path), rescan_interval=0.1).start()
    feed.stop()
    assert wait_for(lambda: set(threading.enumerate()) <= before, timeout=60)


def test_slow_snapshot_is_rebuilt_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webui import state as state_module

    monkeypatch.setattr(state_module, "SYNC_BUILD_S", -1.0)  # every build counts as slow
    monkeypatch.setattr(state_module, "MIN_GAP_FACTOR", 0.0)
    log_run(tmp_path, "p", "first", steps=3)
    client = create_app(tmp_path, watch=False).test_client()
    first = client.get("/api/v1/projects")
    log_run(tmp_path, "q", "second", steps=3)
    stale = client.get("/api/v1/projects", headers={"If-None-Match": first.headers["ETag"]})
    # the old snapshot answers at once, under its own ETag, so the browser asks again
    assert stale.status_code == 200 and stale.headers["ETag"] == first.headers["ETag"]
    assert [p["name"] for p in stale.json["projects"]] == ["p"]

    def fresh() -> bool:
        return [p["name"] for p in client.get("/api/v1/projects").json["projects"]] == ["p", "q"]

    assert wait_for(fresh, timeout=60)
    assert client.get("/api/v1/projects").headers["ETag"] != first.headers["ETag"]


def test_a_project_that_just_arrived_is_found_even_while_snapshots_are_slow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that syncs and then asks for its project at once must not get a 404 from the
    snapshot of before the sync (the slow path answers other requests from the old one)."""
    from webui import state as state_module

    monkeypatch.setattr(state_module, "SYNC_BUILD_S", -1.0)  # every build counts as slow
    monkeypatch.setattr(state_module, "MIN_GAP_FACTOR", 1e6)  # no background rebuild comes
    log_run(tmp_path, "p", "first", steps=3)
    client = create_app(tmp_path, watch=False).test_client()
    assert client.get("/api/v1/projects").status_code == 200  # the snapshot without "q"
    log_run(tmp_path, "q", "second", steps=3)
    runs = client.get("/api/v1/projects/q/runs")
    assert runs.status_code == 200, runs.json
    assert [r["name"] for r in runs.json["rows"]] == ["second"]
    assert client.get("/api/v1/projects/nope/runs").status_code == 404


def test_watch_limit_falls_back_to_watching_the_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webui import live

    schedule = live.Observer.schedule

    def limited(
        self: object, handler: object, path: str, recursive: bool = False, **kw: object
    ) -> object:
        if recursive:
            raise OSError(28, "inotify watch limit reached")
        return schedule(self, handler, path, recursive=recursive, **kw)

    monkeypatch.setattr(live.Observer, "schedule", limited)
    log_run(tmp_path, "p", "first", steps=3)
    feed = ChangeFeed(StoreReader(tmp_path), rescan_interval=60, polling=False).start()
    try:
        assert feed.observer_kind == "native"
        before = feed.version
        log_run(tmp_path, "p", "second", steps=3)  # the index's WAL file at the root changes
        assert wait_for(lambda: feed.version > before, timeout=60)
    finally:
        feed.stop()


def test_readers_opening_the_index_do_not_count_as_changes(tmp_path: Path) -> None:
    log_run(tmp_path, "p", "first", steps=3)
    feed = ChangeFeed(StoreReader(tmp_path), rescan_interval=60, polling=False).start()
    try:
        settled = feed.version  # wait until the writes of logging are all seen (quiet for 0.5 s)
        for _ in range(20):
            if not wait_for(lambda seen=settled: feed.version != seen, timeout=0.5):
                break
            settled = feed.version
        for _ in range(3):  # fresh readers open index.db and its WAL, as request threads do
            StoreReader(tmp_path).runs()
        assert not wait_for(lambda: feed.version != settled, timeout=0.5)
    finally:
        feed.stop()
