"""Commits on a shared-nothing server: one PostgreSQL transaction over blobs in the object store.

With ``--index postgresql://…`` and ``--blobs s3://…`` a server keeps no run directories and no
commit journal of its own, so replicas on different machines share nothing but the database and
the bucket (docs/deploy.md). A commit of a run is one transaction that

- takes the run's advisory lock (``pg_advisory_xact_lock``: two replicas committing the same run
  take turns, and the second finds the first's commit and has nothing left to do),
- reads what the last commit placed (the ``run_files`` rows), plans as the directory backend does,
- makes the new version of the run in the local read cache (``store/runcache.py``) from blobs
  already verified and stored in the object store, and scans it for the index rows,
- writes the run's ``run_files`` rows and its index rows, and commits.

A failure anywhere rolls the transaction back: nothing is half-committed, and the view made in
the cache is only a cache entry nobody asks for. No journal, undo copies or lock files are needed
on this path.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import MissingBlobsError
from ...settings import resolve
from ..remoteruns import RemoteRuns
from ..runcache import RunCache

if TYPE_CHECKING:
    from ..pgindex import PgIndex
    from .importer import Ingest

READ_CACHE_DIR = "readcache"  # <root>/readcache/: the runs this replica read, made from blobs


class SharedRuns:
    """The committed runs of a shared-nothing server: rows in PostgreSQL, blobs in the bucket."""

    def __init__(self, ingest: Ingest, url: str) -> None:
        self.ingest = ingest
        self.url = url
        self._local = threading.local()
        cache = RunCache(
            ingest.paths.root / READ_CACHE_DIR,
            ingest.blob_store,
            int(resolve("read_cache_bytes")),
            verified_copy=ingest.local_blobs.local_file,
            range_min_bytes=int(resolve("read_range_bytes")),
            block_bytes=int(resolve("read_block_bytes")),
        )
        self.remote = RemoteRuns(self.record, self._run_ids, cache, delete=self.delete)

    @classmethod
    def open(cls, ingest: Ingest, index_url: str | None = None) -> SharedRuns | None:
        """The shared-nothing runs of `ingest`, or None without a PostgreSQL index URL
        (`index_url`: None reads ``LOCALTRACK_INDEX_URL``, "" is none)."""
        from ..root import check_index_url

        url = check_index_url(resolve("index_url") if index_url is None else index_url)
        return None if url is None else cls(ingest, url)

    def _pg(self) -> PgIndex:
        index = getattr(self._local, "index", None)
        if index is None:
            from ..pgindex import PgIndex

            index = self._local.index = PgIndex(self.url)
        return index

    @contextlib.contextmanager
    def transaction(self, run_id: str) -> Iterator[None]:
        """One transaction holding `run_id`'s commit lock; everything in it commits together."""
        index = self._pg()
        with index.transaction():
            index.lock_run(run_id)
            yield
        self.remote.forget(run_id)

    def record(self, run_id: str) -> dict[str, Any] | None:
        """What the last commit of `run_id` placed (``run_files``), or None."""
        return self._pg().run_record(run_id)

    def records(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Every committed run's files ({run_id: {name: {"sha256", "bytes"}}})."""
        return self._pg().run_records()

    def _run_ids(self) -> list[str]:
        return self._pg().committed_run_ids()

    def run_json(self, run_id: str) -> Path | None:
        """A verified local copy of the committed run.json (fetched if need be), or None when
        no commit placed one (the path may not exist when the object store lost it)."""
        entry = ((self.record(run_id) or {}).get("files") or {}).get("run.json")
        return None if not entry else self.ingest.blob_path(str(entry["sha256"]))

    def apply(self, plan: dict[str, Any]) -> None:
        """Write the run's new ``run_files`` and index rows (inside ``transaction``)."""
        from ..recovery import scan_run, write_run_rows

        run_id = plan["run_id"]
        version = {"files": plan["files"], "heartbeat_at": plan.get("heartbeat_at")}
        view = self.remote.cache.view(run_id, version, whole=True)  # the scan reads it all
        if view.missing:
            shas = sorted({problem.split()[1] for problem in view.missing.values()})
            raise MissingBlobsError(f"run {run_id}: {len(shas)} blobs vanished mid-commit", shas)
        scan = scan_run(view.paths(self.remote.cache.views))
        index = self._pg()
        index.write_run_record(run_id, plan["files"], plan.get("heartbeat_at"))
        write_run_rows(index, scan)

    def delete(self, run_id: str) -> None:
        """Delete a run: its ``run_files`` and index rows, in one transaction (its blobs stay
        in the bucket: content-addressed, other runs may share them)."""
        with self.transaction(run_id):
            index = self._pg()
            index.delete_run_record(run_id)
            index.delete_run(run_id)
            index.bump_changes()

    def touch_heartbeat(self, run_id: str, record: dict[str, Any], heartbeat_at: float) -> None:
        """A commit that places nothing but a newer heartbeat (inside ``transaction``)."""
        index = self._pg()
        index.write_run_record(run_id, record.get("files") or {}, heartbeat_at)
        index.update_run_fields(run_id, heartbeat_at=heartbeat_at)
        index.bump_changes()
