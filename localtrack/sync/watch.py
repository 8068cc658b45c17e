"""``localtrack sync --watch``: keep pushing runs as they progress.

Every `interval` seconds (sooner when watchdog reports a sealed shard or a new run.json) the
watcher looks at each selected run's files — run.json, the shard list, the heartbeat — and syncs
the runs whose files changed since their last successful sync. On a network filesystem inotify
sees nothing written by other hosts, so there the periodic rescan alone drives it (it is the
backstop everywhere). Partial files (``.name.tmp``) and tail logs never trigger a sync: only
sealed data is sent.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..store.fsdetect import is_network_filesystem
from ..store.layout import is_partial_name
from ..store.root import StoreRoot
from .client import SyncClient, SyncReport

log = logging.getLogger(__name__)
DEBOUNCE_S = 1.0


def run_signature(store: StoreRoot, run_id: str) -> tuple[Any, ...]:
    """Changes whenever something sync would send (or the heartbeat) changed."""
    paths = store.run(run_id)
    parts: list[Any] = []
    for path in (paths.run_json, paths.heartbeat):
        try:
            st = path.stat()
            parts.append((st.st_mtime_ns, st.st_size))
        except OSError:
            parts.append(None)
    try:
        parts.append(
            tuple(sorted(e.name for e in os.scandir(paths.metrics) if not is_partial_name(e.name)))
        )
    except OSError:
        parts.append(())
    return tuple(parts)


class _Wake:
    """Wakes the loop when watchdog sees a file that matters land (optional)."""

    def __init__(self, root: Path, event: threading.Event) -> None:
        self.observer: Any = None
        if is_network_filesystem(root):
            return
        try:
            from watchdog.events import FileSystemEvent, FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            return

        class Handler(FileSystemEventHandler):
            def on_any_event(self, ev: FileSystemEvent) -> None:
                name = Path(str(getattr(ev, "dest_path", "") or ev.src_path)).name
                if name.endswith(".parquet") or name == "run.json":
                    event.set()

        try:
            observer = Observer()
            observer.schedule(Handler(), str(root / "runs"), recursive=True)
            observer.daemon = True
            observer.start()
            self.observer = observer
        except OSError as exc:
            log.info("file watching unavailable (%s); rescanning every interval", exc)

    def stop(self) -> None:
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(timeout=5)


def watch(
    client: SyncClient,
    root: Path | str,
    select: Callable[[], list[str]],
    interval: float = 5.0,
    stop: threading.Event | None = None,
    on_report: Callable[[SyncReport], None] | None = None,
) -> None:
    """Sync changed runs until `stop` is set (or forever); `select()` lists the runs to watch."""
    store = StoreRoot(root)
    stop = stop or threading.Event()
    wake = threading.Event()
    waker = _Wake(store.root, wake)
    synced: dict[str, tuple[Any, ...]] = {}
    try:
        while not stop.is_set():
            changed = []
            signatures = {}
            for run_id in select():
                signatures[run_id] = run_signature(store, run_id)
                if synced.get(run_id) != signatures[run_id]:
                    changed.append(run_id)
            if changed:
                report = client.sync(changed)
                for result in report.runs:
                    if result.outcome != "failed":
                        synced[result.run_id] = signatures[result.run_id]
                if on_report is not None:
                    on_report(report)
            wake.clear()
            deadline = time.monotonic() + interval
            while not stop.is_set() and time.monotonic() < deadline:
                if wake.wait(0.25):
                    stop.wait(DEBOUNCE_S)  # let a burst of files land first
                    break
    finally:
        waker.stop()
