"""The runs a shared-nothing server reads: committed files in PostgreSQL, bytes in the bucket.

With ``--index postgresql://…`` and ``--blobs s3://…`` a server keeps no run directories: what
each commit placed is the table ``run_files`` (written in the commit's transaction), and the
files are blobs in the object store. ``RemoteRuns`` is the reader's hook (``StoreRoot.remote``):
``run_paths(run_id)`` gives the directory of the run's committed version in the local
``RunCache`` (made on first read), so every reader (UI pages, chart API, media, files) opens it as
it opens any run directory. A run PostgreSQL has no files for is read from ``<root>/runs/`` as
before (runs from before the store moved).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from ..errors import UsageError
from .blobdamage import damage_line
from .layout import RunPaths
from .runcache import RunCache
from .runview import RunView

LOOKUP_TTL_S = 1.0  # how long one answer of PostgreSQL about a run's version is reused

RecordOf = Callable[[str], "dict[str, Any] | None"]
ChangeRunJson = Callable[["dict[str, Any]", RunPaths], "dict[str, Any]"]


class RemoteRuns:
    """Runs whose committed files PostgreSQL lists, read through a bounded local cache."""

    def __init__(
        self,
        record_of: RecordOf,
        run_ids: Callable[[], list[str]],
        cache: RunCache,
        delete: Callable[[str], None] | None = None,
        edit: Callable[[str, ChangeRunJson], None] | None = None,
    ):
        self._record_of = record_of  # run_id -> {"files", "heartbeat_at", …} or None
        self._run_ids = run_ids
        self._delete = delete
        self._edit = edit
        self.cache = cache
        self._seen: dict[str, tuple[float, RunView]] = {}
        self._lock = threading.Lock()

    def view(self, run_id: str) -> RunView | None:
        """The cached view of the run's committed version; None when PostgreSQL lists none."""
        now = time.monotonic()
        with self._lock:
            seen = self._seen.get(run_id)
        fresh = seen is not None and now - seen[0] < LOOKUP_TTL_S
        if seen is not None and fresh and (self.cache.views / seen[1].digest).is_dir():
            return seen[1]  # asked PostgreSQL less than a second ago, and still cached
        record = self._record_of(run_id)
        if record is None:  # not remembered: a commit through another replica may come any time
            return None
        view = self.cache.view(run_id, record)
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen.clear()
            self._seen[run_id] = (now, view)
        return view

    def run_paths(self, run_id: str) -> RunPaths | None:
        view = self.view(run_id)
        return None if view is None else view.paths(self.cache.views)

    def run_ids(self) -> list[str]:
        """Every run id with committed files in PostgreSQL."""
        return self._run_ids()

    def delete_run(self, run_id: str) -> None:
        """Delete the run for every replica (its rows in PostgreSQL)."""
        if self._delete is None:
            raise UsageError("runs cannot be deleted through this reader")
        self._delete(run_id)
        self.forget(run_id)

    def edit_run(self, run_id: str, change: ChangeRunJson) -> None:
        """Replace the run's run.json with ``change(run.json, run paths)`` for every replica
        (a new blob, its ``run_files`` row and index rows, in one transaction)."""
        if self._edit is None:
            raise UsageError("runs cannot be edited through this reader")
        self._edit(run_id, change)
        self.forget(run_id)

    def forget(self, run_id: str) -> None:
        """Ask PostgreSQL again at the next read (a commit of this run just happened here)."""
        with self._lock:
            self._seen.pop(run_id, None)

    def damage(self, run_id: str) -> list[str]:
        """One line per file of the run the object store could not give whole."""
        view = self.view(run_id)
        if view is None or not view.missing:
            return []
        when = datetime.fromtimestamp(view.made_at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return [
            damage_line(name, problem, self.cache.blobs.location, f"reading the run at {when}")
            for name, problem in sorted(view.missing.items())
        ]
