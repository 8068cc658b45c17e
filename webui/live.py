"""The live-change counter behind every ETag: watchdog events plus a periodic rescan.

Browsers poll with ``If-None-Match``; the server answers 304 until this counter moves, so a poll
costs almost nothing and no connection stays open (waitress's thread pool is small).

- watchdog's native observer (inotify on Linux) bumps the counter when a file under the store
  changes. Partial files (``.name.tmp``) are ignored; a rename counts by its destination.
- On a network filesystem (NFS, Lustre, GPFS, …) inotify sees nothing written by other hosts, so
  the polling observer is used instead.
- When inotify runs out of watches (a huge store), only the root is watched: the index's WAL file
  there changes on every flush of every run.
- A rescan thread asks ``StoreReader.changes()`` every few seconds and bumps the counter when it
  moved: the backstop for inotify overflow, a missing directory, or an observer that failed.
- With a PostgreSQL index (a server's ``--index``), the counter also moves on every ``NOTIFY``
  a commit sends, through any replica (``localtrack/store/pglisten.py``): replicas see each
  other's commits at once, without sharing a filesystem that inotify could watch.
"""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from localtrack.store.fsdetect import is_network_filesystem
from localtrack.store.reader import StoreReader

log = logging.getLogger(__name__)

# watchdog's inotify thread warns when a directory that vanished and came back (a run folder
# re-created, a temp dir renamed into place) gets its watch again; the watch is still right, and
# a RuntimeWarning on the UI's stderr would only alarm. Tests turn warnings into errors, so
# pyproject.toml's filterwarnings says the same.
warnings.filterwarnings(
    "ignore", message="Callback with id .* already exists", category=RuntimeWarning
)

IGNORED_NAMES = frozenset({"heartbeat"})
# SQLite's side files change when readers merely open the index (read marks in -shm, -wal
# created and removed); the data they index arrives as run files, which have events of their own
IGNORED_SUFFIXES = ("-wal", "-shm", "-journal")


def is_relevant(path: str) -> bool:
    """Whether a changed path can mean new data: not a partial, dot, heartbeat or SQLite side
    file."""
    name = Path(path).name
    return (
        bool(name)
        and not name.startswith(".")
        and not name.endswith(".tmp")
        and not name.endswith(IGNORED_SUFFIXES)
        and name not in IGNORED_NAMES
    )


class _Handler(FileSystemEventHandler):
    def __init__(self, feed: ChangeFeed) -> None:
        self.feed = feed

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write", "attrib"):
            return  # reads; a reader opening the index even touches its WAL file's attributes
        if event.is_directory and event.event_type == "modified":
            return  # a child changed: its own event says whether that matters
        path = getattr(event, "dest_path", "") or event.src_path
        if is_relevant(str(path)):
            self.feed.bump()


class ChangeFeed:
    """A counter that moves whenever data lands under a store root."""

    def __init__(
        self, reader: StoreReader, rescan_interval: float = 2.0, polling: bool | None = None
    ) -> None:
        self.reader = reader
        self.root = reader.root
        self.rescan_interval = rescan_interval
        self.polling = polling
        self._version = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._observer: Any = None
        self._rescan: threading.Thread | None = None
        self._last_changes: int | None = None
        self._listener: Any = None

    @property
    def version(self) -> int:
        return self._version

    def bump(self) -> None:
        with self._lock:
            self._version += 1

    def start(self) -> ChangeFeed:
        """Start the observer and the rescan thread (both daemons); returns self."""
        self._last_changes = self._safe_changes()
        self._observer = self._start_observer()
        self._rescan = threading.Thread(
            target=self._rescan_loop, name="localtrack-ui-rescan", daemon=True
        )
        self._rescan.start()
        url = self.reader.store.index_url
        if url:
            from localtrack.store.pglisten import ChangeListener

            self._listener = ChangeListener(url, self.bump).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.stop()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
        if self._rescan is not None:
            self._rescan.join(timeout=5)

    @property
    def notifications(self) -> dict[str, Any] | None:
        """With a PostgreSQL index: whether this process is listening, and how many change
        notifications it heard (None without one)."""
        if self._listener is None:
            return None
        return {
            "from": "postgresql",
            "listening": self._listener.connected,
            "heard": self._listener.notifications,
        }

    @property
    def observer_kind(self) -> str:
        if self._observer is None:
            return "none"
        return "polling" if isinstance(self._observer, PollingObserver) else "native"

    def _start_observer(self) -> Any:
        """The first observer that starts: see ``_observer_plan`` for the order tried."""
        if not self.root.is_dir():
            log.info("%s does not exist yet; relying on the periodic rescan", self.root)
            return None
        for kind, recursive in self._observer_plan():
            observer = kind(timeout=1.0) if kind is PollingObserver else kind()
            try:
                observer.schedule(_Handler(self), str(self.root), recursive=recursive)
                observer.daemon = True
                observer.start()
            except OSError as exc:
                log.warning(
                    "cannot watch %s with %s (%s); trying the next way",
                    self.root,
                    kind.__name__,
                    exc,
                )
                continue
            return observer
        return None

    def _observer_plan(self) -> list[tuple[type, bool]]:
        """Network filesystem: poll the tree. Local: inotify on the whole tree, or — when the
        kernel's watch limit is reached — on the root alone (the index's WAL file changes there
        on every flush) with the rescan for the rest."""
        polling = self.polling if self.polling is not None else is_network_filesystem(self.root)
        if polling:
            return [(PollingObserver, True)]
        return [(Observer, True), (Observer, False)]

    def _safe_changes(self) -> int | None:
        try:
            return self.reader.changes()
        except Exception as exc:  # the backstop must survive a store that is briefly unreadable
            log.warning("rescan of %s failed: %s", self.root, exc)
            return None

    def _rescan_loop(self) -> None:
        while not self._stop.wait(self.rescan_interval):
            current = self._safe_changes()
            if current is not None and current != self._last_changes:
                self._last_changes = current
                self.bump()
