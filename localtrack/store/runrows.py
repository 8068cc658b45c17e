"""The rows of a store's runs: the index's where it can answer, a scan of run directories else.

A run's row is its index row (metadata, state, key statistics). The index answers run lists and
key statistics cheaply; where there is none, it cannot answer (being created, locked too long,
damaged) or it does not know a run yet, the run's directory is scanned instead (run.json, the
heartbeat, per-key statistics in bounded batches), cached per version of the directory.
``StoreReader`` (reader.py) reads every run row through ``RunRows``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..errors import CorruptDataError, RunNotFoundError
from .indexbackend import INDEX_ERRORS, IndexBackend
from .layout import is_valid_run_id
from .lru import SizedLRU
from .metrics import KeyStats
from .root import StoreRoot
from .runfiles import dir_version
from .runinfo import namespace_of, newest_first
from .runmeta import as_text, heartbeat_time, index_row, load
from .runstats import scan_stats

T = TypeVar("T")
log = logging.getLogger(__name__)

SCAN_CACHE_ENTRIES = 4096


def _namespace(row: dict[str, Any]) -> str:
    return namespace_of(as_text(row.get("entity")), as_text(row.get("project")) or "uncategorized")


def _run_rows_of(project: str | None) -> Callable[[IndexBackend], list[dict[str, Any]]]:
    """The index query for the run rows of `project` (every project: None)."""
    return lambda idx: idx.run_rows(project)


class RunRows:
    """Run rows of one store, from its index or its run directories. Safe to share between
    threads (each thread opens its own read-only index connection)."""

    def __init__(self, store: StoreRoot) -> None:
        self.store = store
        self._local = threading.local()
        self._scan_cache = SizedLRU(SCAN_CACHE_ENTRIES)
        self._index_damage_logged = False

    def index(self) -> IndexBackend | None:
        """This thread's read-only index; None when the store has none (yet, or by choice)."""
        idx = getattr(self._local, "index", None)
        if idx is None:
            idx = self.store.open_index(readonly=True)
            self._local.index = idx
        return idx

    def ask(self, query: Callable[[IndexBackend], T], default: T) -> T:
        """Ask the index; `default` when there is none or it cannot answer (being created,
        locked for too long, damaged): callers then fall back to the run directories."""
        idx = self.index()
        if idx is None:
            return default
        try:
            return query(idx)
        except INDEX_ERRORS as exc:
            damaged = "malformed" in str(exc) or "not a database" in str(exc)
            if damaged and not self._index_damage_logged:
                self._index_damage_logged = True
                log.warning(
                    "%s is damaged (%s): reading run directories instead; "
                    "`localtrack doctor --repair` rebuilds it",
                    self.store.paths.index,
                    exc,
                )
            log.debug("index query failed (%s); reading run directories instead", exc)
            return default

    def changes(self) -> int:
        """A number that changes whenever data lands in the store (for ETags and polling)."""
        counter = self.ask(lambda idx: idx.changes(), 0)
        try:
            mtime = os.stat(self.store.paths.runs).st_mtime_ns
        except OSError:
            mtime = 0
        return hash((counter, mtime, self._unindexed_ids_signature())) & 0x7FFFFFFFFFFF

    def _unindexed_ids_signature(self) -> int:
        if self.index() is not None:
            return 0
        sig = 0
        for run_id in self.store.run_ids():
            sig ^= hash(self._dir_version(run_id))
        return sig

    def _dir_version(self, run_id: str) -> tuple:
        return (run_id, *dir_version(self.store.run(run_id)))

    def _scanned_row(self, run_id: str) -> dict[str, Any] | None:
        version = self._dir_version(run_id)
        cached = self._scan_cache.get(version)
        if cached is not None:
            return cached
        paths = self.store.run(run_id)
        try:
            meta = load(paths.run_json)
        except (OSError, CorruptDataError):
            return None
        data = scan_stats(paths)  # bounded batches, whatever a shard declares
        row = index_row(meta, data.stats, heartbeat_time(paths.heartbeat), data.warnings)
        row["_stats"] = data.stats
        self._scan_cache.put(version, row)
        return row

    def rows(self, namespace: str | None) -> list[dict[str, Any]]:
        """Every run's row (of one namespace: ``entity/project``, or a project alone), newest
        first."""
        # "a/b" is project b of entity a, or a project named "a/b": ask for both, keep the match
        projects: list[str | None] = [None]
        if namespace is not None:
            parts = namespace.split("/")
            projects = [*sorted({"/".join(parts[i:]) for i in range(len(parts))})]
        rows: list[dict[str, Any]] = []
        for project in projects:
            rows += self.ask(_run_rows_of(project), [])
        known = {r["id"] for r in rows}
        if namespace is not None:
            no_ids: list[str] = []
            known |= set(self.ask(lambda idx: idx.run_ids_with_prefix(""), no_ids))
        for run_id in self.store.run_ids():
            if run_id not in known:
                row = self._scanned_row(run_id)
                if row is not None:
                    rows.append(row)
        if namespace is not None:
            rows = [r for r in rows if _namespace(r) == namespace]
        rows.sort(key=newest_first)
        return rows

    def resolve_id(self, run_id: str) -> str:
        """The full id for an id or a unique id prefix; RunNotFoundError otherwise."""
        if not run_id or not is_valid_run_id(run_id):
            raise RunNotFoundError(f"no run with id {run_id!r}: run ids are letters, digits, _ - .")
        if self.store.run(run_id).run_json.exists():
            return run_id
        matches = [r for r in self.store.run_ids() if r.startswith(run_id)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise RunNotFoundError(
                f"run id prefix {run_id!r} is ambiguous ({len(matches)} runs); give more characters"
            )
        raise RunNotFoundError(
            f"no run {run_id!r} in {self.store.root}; `localtrack runs` lists them"
        )

    def row(self, run_id: str) -> dict[str, Any]:
        """The row of a run (an id or a unique id prefix); RunNotFoundError when there is none."""
        run_id = self.resolve_id(run_id)
        row = self.ask(lambda idx: idx.run_row(run_id), None)
        if row is None:
            row = self._scanned_row(run_id)
        if row is None:
            raise RunNotFoundError(f"run {run_id!r} has no readable run.json")
        return row

    def key_stats(self, run_id: str) -> dict[str, KeyStats]:
        """Each metric key's statistics (a scanned row carries them; else the index's)."""
        row = self.row(run_id)
        if "_stats" in row:
            return dict(row["_stats"])
        return self.ask(lambda idx: idx.key_stats(row["id"]), {})

    def key_names(self, run_ids: Sequence[str]) -> dict[str, set[str]]:
        """Each run's metric key names: one index query for the indexed runs; a run the index
        has no keys for is asked on its own."""
        found: dict[str, list[str]] = self.ask(lambda idx: idx.key_names(run_ids), {})
        return {r: set(found.get(r) or self.key_stats(r)) for r in run_ids}
