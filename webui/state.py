"""What one UI app holds: the store reader, the change feed, and a cache of table records.

The cache is keyed by the change counter (plus a coarse clock, because a run's state can turn to
"crashed" and its duration grows without any file changing), so 10,000 runs are flattened once
per change, not once per request.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from localtrack.store.reader import StoreReader

from .catalog import Record, make_record
from .live import ChangeFeed

CLOCK_BUCKET_S = 10.0


class UIState:
    """Per-app state, stored as ``app.extensions["localtrack"]``."""

    def __init__(self, reader: StoreReader, feed: ChangeFeed | None) -> None:
        self.reader = reader
        self.feed = feed
        self._lock = threading.Lock()
        self._records: dict[str | None, tuple[Any, list[Record]]] = {}

    def version(self) -> tuple[int, int]:
        """(change counter, clock bucket): moves when data lands, and every few seconds."""
        counter = self.feed.version if self.feed is not None else self.reader.changes()
        return counter, int(time.time() // CLOCK_BUCKET_S)

    def etag(self) -> str:
        counter, bucket = self.version()
        return f'"{counter:x}-{bucket:x}"'

    def records(self, project: str | None) -> list[Record]:
        """Flattened records of every run (of one project), newest first; cached per version."""
        stamp = (self.version(), self.reader.changes() if self.feed is not None else None)
        with self._lock:
            cached = self._records.get(project)
            if cached is not None and cached[0] == stamp:
                return cached[1]
        records = [make_record(run) for run in self.reader.runs(project)]
        with self._lock:
            if len(self._records) > 64:
                self._records.clear()
            self._records[project] = (stamp, records)
        return records

    def close(self) -> None:
        if self.feed is not None:
            self.feed.stop()
