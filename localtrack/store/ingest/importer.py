"""Importing runs into a store: verified blobs in, a run's manifest applied in one step.

The server's ingest API and ``localtrack import`` (bundles) both go through ``Ingest``, so a
blob is verified the same way whichever door it came in by. Everything lives under the store root::

    <root>/ingest/tmp/.<token>.tmp      a blob being received (deleted on failure, GC'd by age)
    <root>/ingest/blobs/<sha256>        a verified blob (hard-linked into runs once committed)
    <root>/ingest/journal/<run>.json    a commit being applied (rolled forward after a crash)
    <root>/ingest/runs/<run>.json       what the last commit of a run placed: {name: sha256, bytes}
    <root>/ingest/locks/<run>.lock      flock'ed while one run is committed (threads and processes)

A run directory is changed only by ``Ingest.commit``, under the run's lock. The parts live in
their own modules::

    runmanifest.py  the value types (FileRef, RunManifest, ...) and the allowlist of file names
    staging.py      receiving blobs: hashed while streamed, kept only if the hash matches
    runorigin.py    whose run an incoming run.json is, and whether it may replace the one here
    commits.py      plan → journal → apply, and rolling an interrupted commit forward
    runlock.py      the per-run lock across threads and processes

File names are never taken from outside as paths: a manifest may name only ``run.json`` and
``metrics/<segment>-<first>-<last>.parquet``; blobs are named by their sha256.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from ...errors import ManifestError, MissingBlobsError, StoreError
from .. import limits
from ..alertlog import ALERTS_FILE, check_alert_log
from ..atomic import read_json, write_json_atomic
from ..blobstore import BlobStore, open_blob_store
from ..layout import StorePaths, is_valid_run_id
from ..mediaschema import check_media_log
from ..runlock import LOCK_TIMEOUT_S, run_lock
from .commits import CommitJournal, plan_commit
from .manifest_types import (
    CommitResult,
    FileRef,
    RunIdentity,
    RunManifest,
    RunStatus,
    check_file_name,
    shard_of,
)
from .pgcommits import SharedRuns
from .runorigin import check_same_run, parse_run_json
from .staging import DirectoryBlobStore

log = logging.getLogger(__name__)

INGEST_DIR = "ingest"


class Ingest:
    """The ingest area of one store: receive blobs, plan and apply manifests. Thread-safe."""

    def __init__(
        self,
        root: Path | str,
        index_mode: str = "auto",
        blobs_url: str | None = None,
        index_url: str | None = None,
    ) -> None:
        self.paths = StorePaths(Path(root).expanduser().absolute())
        self.index_mode = index_mode
        self.dir = self.paths.root / INGEST_DIR
        self.tmp = self.dir / "tmp"
        self.blobs = self.dir / "blobs"
        self.journal = self.dir / "journal"
        self.records = self.dir / "runs"
        self.locks = self.dir / "locks"
        self._local = threading.local()
        # blobs_url: None keeps blobs in ingest/blobs/; s3://bucket/prefix puts them in an
        # object store, with ingest/blobs/ as its local cache (store/blobstore.py).
        self.remote_blobs = blobs_url is not None
        self.local_blobs = DirectoryBlobStore(self.tmp, self.blobs)
        self.blob_store: BlobStore = open_blob_store(blobs_url, self.local_blobs)
        # With a PostgreSQL index too, the server shares nothing but the database and the
        # bucket: commits are rows (run_files), reads go through a local cache (pgcommits.py).
        # index_url: None reads LOCALTRACK_INDEX_URL; "" means none (the directory's records).
        self.shared = SharedRuns.open(self, index_url) if self.remote_blobs else None
        self._commits = CommitJournal(
            self.paths, self.blob_store.local_file, self.journal, self.records, self._reindex
        )

    def create(self) -> Ingest:
        """Make the store (format marker, runs/) and the ingest folders if they are missing."""
        from ..root import StoreRoot

        store = StoreRoot(self.paths.root, create=True, index_mode=self.index_mode)
        for d in (self.tmp, self.blobs, self.journal, self.records, self.locks):
            d.mkdir(parents=True, exist_ok=True)
        if store.index_url or not store.paths.index.exists():
            # Made (or migrated, in PostgreSQL) now, whole, so no reader ever opens a
            # half-migrated index mid-commit.
            index = store.open_index()
            if index is not None:
                index.close()
        return self

    # -- blobs ----------------------------------------------------------------------------------

    def blob_path(self, sha256: str) -> Path:
        """A verified local copy of the blob (fetched if only the blob store has it); the path
        does not exist when no store has the blob."""
        return self.blob_store.local_file(sha256)

    def has_blob(self, sha256: str) -> bool:
        return self.blob_store.exists(sha256)

    def discard_blob(self, sha256: str) -> None:
        """Drop the local copy of a blob staged by an import that failed."""
        self.blob_store.discard_local(sha256)

    def receive(self, sha256: str, chunks: Iterable[bytes], max_bytes: int) -> int:
        """Stream `chunks` to a temp file, counting and hashing; keep it only if the hash matches.

        Raises BlobTooLargeError as soon as more than `max_bytes` arrived (whatever any header
        said), DigestMismatchError when the bytes hash to something else. Returns the size.
        """
        return self.blob_store.put(sha256, chunks, max_bytes)

    # -- planning -------------------------------------------------------------------------------

    def record(self, run_id: str) -> dict[str, Any] | None:
        """What the last commit of `run_id` placed, or None if none did."""
        if self.shared is not None:
            return self.shared.record(run_id)
        try:
            value = read_json(self.records / f"{run_id}.json")
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring the unreadable commit record of run %s: %s", run_id, exc)
            return None
        return value if isinstance(value, dict) else None

    def status(
        self, manifest: RunManifest, counts: Callable[[str], bool] | None = None
    ) -> RunStatus:
        """Whether the store already holds `manifest`, and which of its blobs it lacks.

        `counts`: which staged blobs may count as present for this caller (default: all); the
        server passes one per key namespace, so a key never learns of another project's blobs."""
        manifest.validate()
        record = self.record(manifest.run_id) or {}
        placed = record.get("files") or {}
        run_dir = self.paths.run(manifest.run_id).dir
        missing: list[str] = []
        in_place = 0
        covering = [
            s for name in placed if (s := shard_of(name)) is not None and self._here(run_dir, name)
        ]
        for ref in manifest.files:
            have = placed.get(ref.name) or {}
            if have.get("sha256") == ref.sha256 and self._here(run_dir, ref.name):
                in_place += 1
                continue
            shard = check_file_name(ref.name)
            if shard is not None and any(c != shard and c.covers(shard) for c in covering):
                in_place += 1  # a bigger shard here already holds its rows
                continue
            if ref.sha256 not in missing and not self._counted_blob(ref.sha256, counts):
                missing.append(ref.sha256)
        heartbeat = record.get("heartbeat_at")
        fresh = manifest.heartbeat_at is None or (
            heartbeat is not None and manifest.heartbeat_at <= heartbeat
        )
        current = in_place == len(manifest.files) and fresh
        return RunStatus(manifest.run_id, current, tuple(missing))

    def identity(self, manifest: RunManifest) -> RunIdentity:
        """The project and entity of the incoming run.json and of the run already here."""
        meta = self._incoming_meta(manifest)
        existing = self._existing_meta(manifest.run_id)
        return RunIdentity(
            manifest.run_id,
            str(meta.get("project") or "uncategorized"),
            _opt_str(meta.get("entity")),
            None if existing is None else str(existing.get("project") or "uncategorized"),
            None if existing is None else _opt_str(existing.get("entity")),
        )

    def _here(self, run_dir: Path, name: str) -> bool:
        """Whether a file the commit record names is in place (always, on a shared-nothing
        server: the record is the run; `server check` looks for lost blobs)."""
        return self.shared is not None or (run_dir / name).is_file()

    def _counted_blob(self, sha256: str, counts: Callable[[str], bool] | None) -> bool:
        return self.has_blob(sha256) and (counts is None or counts(sha256))

    def _source(
        self,
        manifest: RunManifest,
        ref: FileRef,
        record: dict[str, Any],
        counts: Callable[[str], bool] | None = None,
    ) -> Path | None:
        if self._counted_blob(ref.sha256, counts):
            return self.blob_path(ref.sha256)
        placed = (record.get("files") or {}).get(ref.name) or {}
        target = self.paths.run(manifest.run_id).dir / ref.name
        if placed.get("sha256") != ref.sha256:
            return None
        if self.shared is not None:
            local = self.blob_path(ref.sha256)  # committed before: fetched back if need be
            return local if local.is_file() else None
        return target if target.is_file() else None

    def _incoming_meta(self, manifest: RunManifest) -> dict[str, Any]:
        ref = manifest.run_json
        source = self._source(manifest, ref, self.record(manifest.run_id) or {})
        if source is None:
            raise MissingBlobsError(f"run.json of {manifest.run_id} was not uploaded", [ref.sha256])
        limits.check_json_file(f"run.json of run {manifest.run_id}", source)
        meta = parse_run_json(source.read_bytes(), manifest.run_id)
        return meta

    def existing_namespace(self, run_id: str) -> tuple[str | None, str] | None:
        """(entity, project) of the run with this id already in the store, or None."""
        meta = self._existing_meta(run_id)
        if meta is None:
            return None
        return _opt_str(meta.get("entity")), str(meta.get("project") or "uncategorized")

    def existing_project(self, run_id: str) -> str | None:
        """The project of the run with this id already in the store, or None if there is none."""
        meta = self._existing_meta(run_id)
        return None if meta is None else str(meta.get("project") or "uncategorized")

    def _existing_meta(self, run_id: str) -> dict[str, Any] | None:
        if not is_valid_run_id(run_id):
            raise ManifestError(f"run id {run_id!r} is not a valid run id")
        path = self.paths.run(run_id).run_json
        if self.shared is not None:
            path = self.shared.run_json(run_id) or path
        try:
            meta = read_json(path)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError):  # junk an older version let in
            return {}
        return meta if isinstance(meta, dict) else {}

    # -- committing -----------------------------------------------------------------------------

    def commit(
        self,
        manifest: RunManifest,
        authorize: Callable[[RunIdentity], None] | None = None,
        counts: Callable[[str], bool] | None = None,
    ) -> CommitResult:
        """Make the run directory hold exactly what `manifest` lists (plus older shards it does
        not cover), in one step; `authorize` may veto, under the run's lock, by raising.
        `counts` limits which staged blobs it may use, as in ``status``."""
        manifest.validate()
        self.create()
        with self._commit_guard(manifest.run_id):
            record = self.record(manifest.run_id) or {}
            missing = [
                ref.sha256
                for ref in manifest.files
                if self._source(manifest, ref, record, counts) is None
            ]
            if missing:
                raise MissingBlobsError(
                    f"run {manifest.run_id}: {len(missing)} blobs were not uploaded",
                    sorted(set(missing)),
                )
            identity = self.identity(manifest)
            self._check_origin(manifest, record)
            if authorize is not None:
                authorize(identity)
            status = self.status(manifest)
            if status.current:
                return CommitResult(manifest.run_id, False, 0, 0, identity.project, identity.entity)
            run_dir = self.paths.run(manifest.run_id).dir
            plan = plan_commit(manifest, record, run_dir, placed_only=self.shared is not None)
            if not plan["place"] and not plan["remove"]:
                self._touch_heartbeat(manifest, record)
                return CommitResult(manifest.run_id, False, 0, 0, identity.project, identity.entity)
            self._check_shards(manifest, plan)
            self._check_media_logs(manifest, [item["name"] for item in plan["place"]])
            if self.shared is not None:
                self.shared.apply(plan)
            else:
                self._commits.commit(plan)
            return CommitResult(
                manifest.run_id,
                True,
                len(plan["place"]),
                len(plan["remove"]),
                identity.project,
                identity.entity,
            )

    @contextlib.contextmanager
    def _commit_guard(self, run_id: str) -> Iterator[None]:
        """Commit `run_id` alone: under its lock file (finishing a commit a crash interrupted
        first), or, on a shared-nothing server, in one PostgreSQL transaction holding the
        run's advisory lock."""
        if self.shared is not None:
            with self.shared.transaction(run_id):
                yield
            return
        with self.run_lock(run_id):
            self._commits.finish(run_id)
            yield

    def apply_plan(self, plan: dict[str, Any]) -> None:
        """Apply a planned commit to the run directory, journaled (the caller holds the run's
        lock; ``server migrate`` brings runs back from PostgreSQL and the bucket this way)."""
        self._commits.commit(plan)

    def _check_origin(self, manifest: RunManifest, record: dict[str, Any]) -> None:
        existing = self._existing_meta(manifest.run_id)
        if existing is None:
            return
        if not existing and record:
            return  # an unreadable run.json that an earlier commit placed: replace it
        incoming = self._incoming_meta(manifest)
        check_same_run(manifest.run_id, existing, incoming, committed_before=bool(record))

    def _check_shards(self, manifest: RunManifest, plan: dict[str, Any]) -> None:
        """Refuse placed files over the size limits or not of their documented shape: Parquet
        by its footer, JSON by its size, before anything is decoded (see ``limits``)."""
        record = self.record(manifest.run_id) or {}
        refs = {ref.name: ref for ref in manifest.files}
        bounds = limits.current()
        for item in plan["place"]:
            source = self._source(manifest, refs[item["name"]], record)
            assert source is not None
            label = f"{item['name']} of run {manifest.run_id}"
            limits.check_incoming(item["name"], source, bounds, label=label)

    def check_documents(self, manifest: RunManifest) -> None:
        """Refuse (DocumentError, naming the field) a run whose run.json, media logs or alerts
        log break their schemas; ``localtrack import`` checks every run of a bundle before committing one."""
        self._incoming_meta(manifest)
        self._check_media_logs(manifest, [ref.name for ref in manifest.files])

    def _check_media_logs(self, manifest: RunManifest, names: list[str]) -> None:
        """Refuse a media log with a line that breaks its schema (``mediaschema``)."""
        record = self.record(manifest.run_id) or {}
        refs = {ref.name: ref for ref in manifest.files}
        for name in names:
            if name.startswith("media/log-") or name == ALERTS_FILE:
                source = self._source(manifest, refs[name], record)
                if source is None:
                    raise MissingBlobsError(f"{name} was not uploaded", [refs[name].sha256])
                check = check_alert_log if name == ALERTS_FILE else check_media_log
                check(source.read_bytes(), f"{name} of run {manifest.run_id}")

    def _touch_heartbeat(self, manifest: RunManifest, record: dict[str, Any]) -> None:
        if manifest.heartbeat_at is None:
            return
        if self.shared is not None:
            self.shared.touch_heartbeat(manifest.run_id, record, manifest.heartbeat_at)
            return
        self._commits.set_heartbeat(manifest.run_id, manifest.heartbeat_at)
        write_json_atomic(
            self.records / f"{manifest.run_id}.json",
            dict(record, heartbeat_at=manifest.heartbeat_at, committed_at=time.time()),
        )
        index = self._index()
        if index is not None:
            with index.transaction():
                index.update_run_fields(manifest.run_id, heartbeat_at=manifest.heartbeat_at)
                index.bump_changes()

    def _index(self) -> Any:
        from ..root import StoreRoot

        index = getattr(self._local, "index", None)
        if index is None:
            index = StoreRoot(self.paths.root, index_mode=self.index_mode).open_index()
            self._local.index = index
        return index

    def _reindex(self, run_id: str) -> None:
        from ..recovery import index_run, scan_run

        index = self._index()
        if index is not None:
            index_run(index, scan_run(self.paths.run(run_id)))

    def close(self) -> None:
        index = getattr(self._local, "index", None)
        if index is not None:
            index.close()
            self._local.index = None

    # -- crash recovery and housekeeping ----------------------------------------------------------

    def recover(self) -> list[str]:
        """Finish every commit a crash interrupted; returns the run ids it finished.

        Never raises for one run: a journal that cannot be applied is undone and set aside
        (``ingest/quarantine/``), a run locked by another process is left for later."""
        done: list[str] = []
        for run_id in self._commits.pending():
            try:
                with self.run_lock(run_id):
                    if self._commits.finish(run_id):
                        done.append(run_id)
            except (StoreError, OSError) as exc:
                log.error("run %s: its interrupted commit is left for later: %s", run_id, exc)
        self._commits.discard_stale_undo()
        return done

    def gc(self, tmp_age_s: float = 3600.0, blob_age_s: float = 86400.0) -> int:
        """Delete partial uploads and never-committed blobs older than the given ages."""
        return self.blob_store.gc(tmp_age_s, blob_age_s)

    def run_lock(
        self, run_id: str, timeout: float = LOCK_TIMEOUT_S
    ) -> contextlib.AbstractContextManager[None]:
        """Hold the run's lock against other threads and other processes (flock)."""
        return run_lock(self.locks, run_id, timeout)


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)
