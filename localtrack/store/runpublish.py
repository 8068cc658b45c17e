"""What a live run's writer tells the rest of the store: its index row and its heartbeat.

The index is a cache (DESIGN.md §4): a failed update is logged once and retried on the next
round, and ``localtrack reindex`` can always rebuild it. The heartbeat file's mtime is how readers
on any host tell a live writer from a dead one.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable

from .indexbackend import IndexBackend
from .keystats import KeyStats
from .layout import RunPaths
from .runmeta import MetaDocument, index_row
from .writerhealth import WriterHealth


class RunPublisher:
    """Keeps one run's index row, key statistics and heartbeat current; writer thread only
    (``publish_meta`` and ``close`` are also called by ``finish()`` once the thread is done)."""

    def __init__(
        self,
        paths: RunPaths,
        meta: MetaDocument,
        stats: dict[str, KeyStats],
        open_index: Callable[[], IndexBackend | None],
        health: WriterHealth,
        heartbeat_interval_s: float,
    ) -> None:
        self.paths = paths
        self.meta = meta
        self.stats = stats
        self._open_index = open_index
        self._health = health
        self._interval = heartbeat_interval_s
        self._index: IndexBackend | None = None
        self._dirty_keys: set[str] = set()
        self.dirty = True  # the run's row needs writing
        self._last_heartbeat = 0.0

    def keys_changed(self, keys: list[str]) -> None:
        self._dirty_keys.update(keys)
        self.dirty = True

    def index_call(self, fn: Callable[[IndexBackend], None]) -> bool:
        """Run `fn` in one index transaction; False (and a warning) when it cannot."""
        if self._index is None:
            self._index = self._open_index()
            if self._index is None:
                return False
        try:
            with self._index.transaction():
                fn(self._index)
                self._index.bump_changes()
        except sqlite3.Error as exc:
            self._health.warn(
                "index", f"index update failed ({exc}); `localtrack reindex` repairs it"
            )
            return False
        self._health.recovered("index")
        return True

    def update_index(self) -> None:
        """Write the run's row and the statistics of keys that changed, if anything did."""
        if not self.dirty:
            return
        keys = set(self._dirty_keys)
        changed = {k: self.stats[k] for k in keys if k in self.stats}
        row = index_row(self.meta.snapshot(), self.stats, self._heartbeat_at())

        def apply(idx: IndexBackend) -> None:
            idx.upsert_run(row)
            idx.upsert_key_stats(self.paths.run_id, changed)

        if self.index_call(apply):
            self._dirty_keys -= keys
            self.dirty = False

    def _heartbeat_at(self) -> float | None:
        try:
            return self.paths.heartbeat.stat().st_mtime
        except OSError:
            return None

    def touch_heartbeat(self) -> None:
        try:
            with open(self.paths.heartbeat, "a"):
                pass
            os.utime(self.paths.heartbeat)
            self._last_heartbeat = time.monotonic()
        except OSError as exc:
            self._health.warn("heartbeat", f"cannot update the heartbeat file: {exc}")

    def maybe_heartbeat(self) -> None:
        if time.monotonic() - self._last_heartbeat >= self._interval:
            self.touch_heartbeat()
            self.dirty = True

    def checkpoint(self) -> None:
        if self._index is not None:
            with contextlib.suppress(sqlite3.Error):
                self._index.checkpoint()

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None
