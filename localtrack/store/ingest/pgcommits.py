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

An edit of a run on the server (``edit``, ``PATCH /api/v1/runs/<id>``) is a commit too: a new
run.json blob, its ``run_files`` row and the index rows, in one transaction under the same lock.
The run.json the client sent is kept beside it (``run_commits.synced_run_json_*``): ``record``
answers with it, as the directory's commit record does, so the next sync plans as it would there.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import MissingBlobsError, RunNotFoundError
from ...settings import resolve
from ..layout import RunPaths
from ..remoteruns import ChangeRunJson, RemoteRuns
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
        self.remote = RemoteRuns(
            self.stored, self._run_ids, cache, delete=self.delete, edit=self.edit
        )

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
        """What the last commit of `run_id` placed, as the directory's commit record says it:
        after an edit on the server, run.json is the one its client sent (so a sync of that
        same run.json leaves the edit, one of a changed run.json replaces it); None if none."""
        record = self.stored(run_id)
        if record is not None and record.get("synced_run_json"):
            record["files"] = dict(record["files"], **{"run.json": record["synced_run_json"]})
        return record

    def stored(self, run_id: str) -> dict[str, Any] | None:
        """The run's ``run_files`` as readers read them (an edited run.json), or None."""
        return self._pg().run_record(run_id)

    def records(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Every committed run's files ({run_id: {name: {"sha256", "bytes"}}})."""
        return self._pg().run_records()

    def _run_ids(self) -> list[str]:
        return self._pg().committed_run_ids()

    def run_json(self, run_id: str) -> Path | None:
        """A verified local copy of the committed run.json (fetched if need be), or None when
        no commit placed one (the path may not exist when the object store lost it)."""
        entry = ((self.stored(run_id) or {}).get("files") or {}).get("run.json")
        return None if not entry else self.ingest.blob_path(str(entry["sha256"]))

    def apply(self, plan: dict[str, Any]) -> None:
        """Write the run's new ``run_files`` and index rows (inside ``transaction``)."""
        files, synced = self._keep_edit(plan["run_id"], plan)
        self._write(plan["run_id"], files, plan.get("heartbeat_at"), synced)

    def _whole(self, run_id: str, files: dict[str, Any], heartbeat_at: float | None) -> RunPaths:
        """The run with `files` made whole in the read cache (a scan reads it all)."""
        version = {"files": files, "heartbeat_at": heartbeat_at}
        view = self.remote.cache.view(run_id, version, whole=True)
        if view.missing:
            shas = sorted({problem.split()[1] for problem in view.missing.values()})
            raise MissingBlobsError(f"run {run_id}: {len(shas)} blobs vanished mid-commit", shas)
        return view.paths(self.remote.cache.views)

    def _write(
        self,
        run_id: str,
        files: dict[str, Any],
        heartbeat_at: float | None,
        synced: dict[str, Any] | None,
    ) -> None:
        """The run's ``run_files`` and index rows for `files` (inside ``transaction``)."""
        from ..recovery import scan_run, write_run_rows

        scan = scan_run(self._whole(run_id, files, heartbeat_at))
        index = self._pg()
        index.write_run_record(run_id, files, heartbeat_at, synced)
        write_run_rows(index, scan)

    def edit(self, run_id: str, change: ChangeRunJson) -> None:
        """Replace the run's run.json with ``change(run.json, run paths)`` for every replica:
        in one transaction under the run's lock, the new run.json is stored as a blob (hashed,
        written once), its ``run_files`` row points at it and the index rows are rebuilt; the
        run.json the client sent is kept so its next sync follows the directory's rule."""
        from ..runmeta import load, run_json_bytes

        with self.transaction(run_id):
            stored = self.stored(run_id) or {}
            files, heartbeat_at = dict(stored.get("files") or {}), stored.get("heartbeat_at")
            if "run.json" not in files:
                raise RunNotFoundError(f"no run {run_id!r} in the shared store")
            try:
                paths = self._whole(run_id, files, heartbeat_at)
            except MissingBlobsError as exc:
                raise MissingBlobsError(
                    f"run {run_id} cannot be edited: {len(exc.missing)} of its blobs are missing in "
                    f"{self.ingest.blob_store.location} (`localtrack server check` names them; "
                    "`--repair` or a sync of the run from its client puts them back)",
                    exc.missing,
                ) from None
            data = run_json_bytes(change(load(paths.run_json), paths))
            sha256 = hashlib.sha256(data).hexdigest()
            self.ingest.receive(sha256, [data], len(data))
            synced = stored.get("synced_run_json") or files["run.json"]
            files["run.json"] = {"sha256": sha256, "bytes": len(data)}
            kept = None if synced["sha256"] == sha256 else synced
            self._write(run_id, files, heartbeat_at, kept)

    def _keep_edit(
        self, run_id: str, plan: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The files a commit leaves, and the client's run.json when an edit made on the server
        stays: as on the directory backend, a commit that does not place run.json keeps the
        edited one, and one that places the client's (changed) run.json replaces it."""
        stored = self.stored(run_id) or {}
        synced = stored.get("synced_run_json")
        edited = (stored.get("files") or {}).get("run.json")
        placed = {item["name"] for item in plan["place"]}
        if not synced or not edited or "run.json" in placed or "run.json" not in plan["files"]:
            return plan["files"], None
        return dict(plan["files"], **{"run.json": edited}), synced

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
        stored = self.stored(run_id) or record
        files = stored.get("files") or {}
        index.write_run_record(run_id, files, heartbeat_at, stored.get("synced_run_json"))
        index.update_run_fields(run_id, heartbeat_at=heartbeat_at)
        index.bump_changes()
