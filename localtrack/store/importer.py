"""Importing runs into a store: verified blobs in, a run's manifest applied in one step.

The server's ingest API and ``localtrack import`` (bundles) both go through this module, so a
blob is verified the same way whichever door it came in by. Everything lives under the store root::

    <root>/ingest/tmp/.<token>.tmp      a blob being received (deleted on failure, GC'd by age)
    <root>/ingest/blobs/<sha256>        a verified blob (hard-linked into runs once committed)
    <root>/ingest/journal/<run>.json    a commit being applied (rolled forward after a crash)
    <root>/ingest/runs/<run>.json       what the last commit of a run placed: {name: sha256, bytes}
    <root>/ingest/locks/<run>.lock      flock'ed while one run is committed (threads and processes)

A run directory is changed only by ``Ingest.commit``: it writes a journal naming the final set
of files, links each blob into place (partial name → rename, so a reader never sees half a file),
removes shards that a listed shard covers, updates the heartbeat, rewrites the commit record,
re-indexes the run and deletes the journal. Blobs stay staged (as hard links) until ``gc()``,
so runs sharing a content (the same requirements.txt) can all be committed from one upload. A crash in between leaves the journal, and the next
``recover()`` (or the next commit of that run) finishes it. Every intermediate state is a valid
run directory: a covering shard next to the shards it covers is what compaction leaves too.

File names are never taken from outside as paths: a manifest may name only ``run.json`` and
``metrics/<segment>-<first>-<last>.parquet``; blobs are named by their sha256.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CorruptDataError, StoreError, UsageError
from .atomic import fsync_dir, partial_path, read_json, write_json_atomic
from .layout import (
    METRICS_DIR,
    RUN_JSON,
    ShardName,
    StorePaths,
    is_valid_run_id,
    parse_shard_name,
)

log = logging.getLogger(__name__)

INGEST_DIR = "ingest"
DEFAULT_MAX_BLOB_BYTES = 512 << 20
MAX_FILES_PER_RUN = 100_000
LOCK_TIMEOUT_S = 60.0
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20
_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


class DigestMismatchError(CorruptDataError):
    """Received bytes do not hash to the sha256 they were sent under."""


class BlobTooLargeError(UsageError):
    """A blob is bigger than the store accepts."""


class ManifestError(UsageError):
    """A manifest names a file it may not name, or is otherwise malformed."""


class MissingBlobsError(StoreError):
    """A commit needs blobs that were never uploaded (``missing`` lists their sha256)."""

    def __init__(self, message: str, missing: list[str]) -> None:
        super().__init__(message)
        self.missing = missing


class RunConflictError(StoreError):
    """The run id already belongs to another run here (another origin, or a live local writer)."""


# -- value types -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileRef:
    """One file of a run, by content: its name inside the run directory, sha256 and size."""

    name: str
    sha256: str
    bytes: int


@dataclass(frozen=True)
class RunManifest:
    """What a run consists of right now: run.json plus its live sealed shards."""

    run_id: str
    files: tuple[FileRef, ...]
    heartbeat_at: float | None = None

    def validate(self) -> None:
        """Raise ManifestError unless every name is allowed, unique, and run.json is there."""
        if not isinstance(self.run_id, str) or not is_valid_run_id(self.run_id):
            raise ManifestError(f"run id {self.run_id!r} is not a valid run id")
        if len(self.files) > MAX_FILES_PER_RUN:
            raise ManifestError(f"a manifest may list at most {MAX_FILES_PER_RUN} files")
        names = set()
        for ref in self.files:
            check_file_name(ref.name)
            if not is_sha256(ref.sha256):
                raise ManifestError(f"{ref.name}: {ref.sha256!r} is not a lowercase hex sha256")
            if not isinstance(ref.bytes, int) or isinstance(ref.bytes, bool) or ref.bytes < 0:
                raise ManifestError(f"{ref.name}: bytes must be a non-negative integer")
            if ref.name in names:
                raise ManifestError(f"{ref.name} is listed twice")
            promised = media_blob_sha(ref.name)
            if promised is not None and promised != ref.sha256:
                raise ManifestError(f"{ref.name} is named for another sha256 than its content's")
            names.add(ref.name)
        if RUN_JSON not in names:
            raise ManifestError("a manifest must list run.json")

    @property
    def run_json(self) -> FileRef:
        return next(f for f in self.files if f.name == RUN_JSON)

    @property
    def total_bytes(self) -> int:
        return sum(f.bytes for f in self.files)


@dataclass(frozen=True)
class RunStatus:
    """What a store holds of a manifest: up to date, or which blobs it still lacks."""

    run_id: str
    current: bool
    missing: tuple[str, ...]


@dataclass(frozen=True)
class RunIdentity:
    """Who a run belongs to: from the incoming run.json, and from the run already here."""

    run_id: str
    project: str
    entity: str | None
    existing_project: str | None
    existing_entity: str | None


@dataclass(frozen=True)
class CommitResult:
    run_id: str
    changed: bool
    placed: int
    removed: int
    project: str
    entity: str | None


def is_sha256(value: object) -> bool:
    return isinstance(value, str) and bool(_SHA256_RE.match(value))


_MEDIA_BLOB_RE = re.compile(r"^media/blobs/([0-9a-f]{64})\.(?:png|parquet|jpg|gif)$")
_MEDIA_LOG_RE = re.compile(r"^media/log-\d{4}\.jsonl$")
_FILES_RE = re.compile(r"^files/[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def check_file_name(name: object) -> ShardName | None:
    """Allow only the names a run directory holds (an allowlist, so no name is a path outside
    it): ``run.json``, ``metrics/<shard>``, ``media/blobs/<sha256>.<ext>``,
    ``media/log-<segment>.jsonl`` and ``files/<name>``. Returns the shard name, if one."""
    if name == RUN_JSON:
        return None
    if isinstance(name, str):
        if name.startswith(METRICS_DIR + "/"):
            shard = parse_shard_name(name[len(METRICS_DIR) + 1 :])
            if shard is not None:
                return shard
        elif (
            _MEDIA_BLOB_RE.match(name)
            or _MEDIA_LOG_RE.match(name)
            or (_FILES_RE.match(name) and ".." not in name and not name.endswith(".tmp"))
        ):
            return None
    raise ManifestError(
        f"{name!r} is not a file a run may hold (run.json, metrics/<shard>.parquet, "
        "media/blobs/<sha256>.<ext>, media/log-<segment>.jsonl or files/<name>)"
    )


def media_blob_sha(name: str) -> str | None:
    """The sha256 a media blob's name promises, or None for other files."""
    match = _MEDIA_BLOB_RE.match(name)
    return match.group(1) if match else None


# -- the ingest area ---------------------------------------------------------------------------


class Ingest:
    """The ingest area of one store: receive blobs, plan and apply manifests. Thread-safe."""

    def __init__(self, root: Path | str, index_mode: str = "auto") -> None:
        self.paths = StorePaths(Path(root).expanduser().absolute())
        self.index_mode = index_mode
        self.dir = self.paths.root / INGEST_DIR
        self.tmp = self.dir / "tmp"
        self.blobs = self.dir / "blobs"
        self.journal = self.dir / "journal"
        self.records = self.dir / "runs"
        self.locks = self.dir / "locks"
        self._local = threading.local()

    def create(self) -> Ingest:
        """Make the store (format marker, runs/) and the ingest folders if they are missing."""
        from .root import StoreRoot

        store = StoreRoot(self.paths.root, create=True, index_mode=self.index_mode)
        for d in (self.tmp, self.blobs, self.journal, self.records, self.locks):
            d.mkdir(parents=True, exist_ok=True)
        if not store.paths.index.exists():
            # Made now, whole, so no reader ever opens a half-migrated index mid-commit.
            index = store.open_index()
            if index is not None:
                index.close()
        return self

    # -- blobs ----------------------------------------------------------------------------------

    def blob_path(self, sha256: str) -> Path:
        if not is_sha256(sha256):
            raise ManifestError(f"{sha256!r} is not a lowercase hex sha256")
        return self.blobs / sha256

    def has_blob(self, sha256: str) -> bool:
        return self.blob_path(sha256).is_file()

    def receive(self, sha256: str, chunks: Iterable[bytes], max_bytes: int) -> int:
        """Stream `chunks` to a temp file, counting and hashing; keep it only if the hash matches.

        Raises BlobTooLargeError as soon as more than `max_bytes` arrived (whatever any header
        said), DigestMismatchError when the bytes hash to something else. Returns the size.
        """
        final = self.blob_path(sha256)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.blobs.mkdir(parents=True, exist_ok=True)
        tmp = self.tmp / f".{sha256[:16]}-{secrets.token_hex(6)}.tmp"
        digest = hashlib.sha256()
        size = 0
        try:
            with open(tmp, "wb") as f:
                for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise BlobTooLargeError(
                            f"blob {sha256[:12]}… is larger than the {max_bytes} bytes accepted here"
                        )
                    digest.update(chunk)
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            actual = digest.hexdigest()
            if actual != sha256:
                raise DigestMismatchError(
                    f"the {size} bytes received hash to {actual[:12]}…, not {sha256[:12]}…; "
                    "they were damaged on the way (or the file changed): send them again"
                )
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        fsync_dir(self.blobs)
        return size

    # -- planning -------------------------------------------------------------------------------

    def record(self, run_id: str) -> dict[str, Any] | None:
        """What the last commit of `run_id` placed, or None if none did."""
        try:
            value = read_json(self.records / f"{run_id}.json")
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring the unreadable commit record of run %s: %s", run_id, exc)
            return None
        return value if isinstance(value, dict) else None

    def status(self, manifest: RunManifest) -> RunStatus:
        """Whether the store already holds `manifest`, and which of its blobs it lacks."""
        manifest.validate()
        record = self.record(manifest.run_id) or {}
        placed = record.get("files") or {}
        run_dir = self.paths.run(manifest.run_id).dir
        missing: list[str] = []
        in_place = 0
        covering = [
            s
            for name in placed
            if (s := _shard_of(name)) is not None and (run_dir / name).is_file()
        ]
        for ref in manifest.files:
            have = placed.get(ref.name) or {}
            if have.get("sha256") == ref.sha256 and (run_dir / ref.name).is_file():
                in_place += 1
                continue
            shard = check_file_name(ref.name)
            if shard is not None and any(c != shard and c.covers(shard) for c in covering):
                in_place += 1  # a bigger shard here already holds its rows
                continue
            if ref.sha256 not in missing and not self.has_blob(ref.sha256):
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

    def _source(self, manifest: RunManifest, ref: FileRef, record: dict[str, Any]) -> Path | None:
        blob = self.blob_path(ref.sha256)
        if blob.is_file():
            return blob
        placed = (record.get("files") or {}).get(ref.name) or {}
        target = self.paths.run(manifest.run_id).dir / ref.name
        if placed.get("sha256") == ref.sha256 and target.is_file():
            return target
        return None

    def _incoming_meta(self, manifest: RunManifest) -> dict[str, Any]:
        ref = manifest.run_json
        source = self._source(manifest, ref, self.record(manifest.run_id) or {})
        if source is None:
            raise MissingBlobsError(f"run.json of {manifest.run_id} was not uploaded", [ref.sha256])
        meta = _parse_run_json(source.read_bytes(), manifest.run_id)
        return meta

    def existing_project(self, run_id: str) -> str | None:
        """The project of the run with this id already in the store, or None if there is none."""
        meta = self._existing_meta(run_id)
        return None if meta is None else str(meta.get("project") or "uncategorized")

    def _existing_meta(self, run_id: str) -> dict[str, Any] | None:
        if not is_valid_run_id(run_id):
            raise ManifestError(f"run id {run_id!r} is not a valid run id")
        path = self.paths.run(run_id).run_json
        try:
            meta = read_json(path)
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}
        return meta if isinstance(meta, dict) else {}

    # -- committing -----------------------------------------------------------------------------

    def commit(
        self,
        manifest: RunManifest,
        authorize: Callable[[RunIdentity], None] | None = None,
    ) -> CommitResult:
        """Make the run directory hold exactly what `manifest` lists (plus older shards it does
        not cover), in one step; `authorize` may veto, under the run's lock, by raising."""
        manifest.validate()
        self.create()
        with self.run_lock(manifest.run_id):
            self._finish_journal(manifest.run_id)
            record = self.record(manifest.run_id) or {}
            missing = [
                ref.sha256 for ref in manifest.files if self._source(manifest, ref, record) is None
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
            plan = self._plan(manifest, record)
            if not plan["place"] and not plan["remove"]:
                self._touch_heartbeat(manifest, record)
                return CommitResult(manifest.run_id, False, 0, 0, identity.project, identity.entity)
            self._check_shards(manifest, plan)
            write_json_atomic(self.journal / f"{manifest.run_id}.json", plan)
            self._apply(plan)
            return CommitResult(
                manifest.run_id,
                True,
                len(plan["place"]),
                len(plan["remove"]),
                identity.project,
                identity.entity,
            )

    def _check_origin(self, manifest: RunManifest, record: dict[str, Any]) -> None:
        existing = self._existing_meta(manifest.run_id)
        if existing is None:
            return
        if not existing and record:
            return  # an unreadable run.json that an earlier commit placed: replace it
        incoming = self._incoming_meta(manifest)
        if _origin(existing) != _origin(incoming):
            raise RunConflictError(
                f"run id {manifest.run_id!r} already belongs to another run here (created "
                f"{existing.get('created_at')} on {_first_host(existing)}); give one of them "
                "another id (init(id=...)) before syncing"
            )
        if not record and _has_local_writer(existing):
            raise RunConflictError(
                f"run {manifest.run_id!r} is being written by a live process on this machine; "
                "import it after that run finished"
            )

    def _plan(self, manifest: RunManifest, record: dict[str, Any]) -> dict[str, Any]:
        run_dir = self.paths.run(manifest.run_id).dir
        placed = dict(record.get("files") or {})
        on_disk = _shard_names_on_disk(run_dir)
        candidates = {n for n in on_disk} | {
            s for ref in manifest.files if (s := check_file_name(ref.name)) is not None
        }
        from .runfiles import drop_covered

        live = set(drop_covered(sorted(candidates)))
        final: dict[str, dict[str, Any]] = {}
        place = []
        for ref in manifest.files:
            shard = check_file_name(ref.name)
            if shard is not None and shard not in live:
                continue  # an older manifest's shard that a shard here already covers
            final[ref.name] = {"sha256": ref.sha256, "bytes": ref.bytes}
            have = placed.get(ref.name) or {}
            if have.get("sha256") != ref.sha256 or not (run_dir / ref.name).is_file():
                place.append({"name": ref.name, "sha256": ref.sha256, "bytes": ref.bytes})
        for name, entry in placed.items():
            if name not in final and _shard_of(name) is None and (run_dir / name).is_file():
                final[name] = entry  # e.g. a media log the client no longer has: kept
        remove = []
        for shard in sorted(on_disk):
            name = f"{METRICS_DIR}/{shard.filename}"
            if name in final:
                continue
            if shard in live:
                if name in placed:  # kept: sealed earlier, not covered by anything listed
                    final[name] = placed[name]
                continue
            remove.append(name)
        return {
            "run_id": manifest.run_id,
            "place": place,
            "remove": remove,
            "files": final,
            "heartbeat_at": manifest.heartbeat_at,
            "started_at": time.time(),
        }

    def _check_shards(self, manifest: RunManifest, plan: dict[str, Any]) -> None:
        """Refuse blobs listed as shards that are not Parquet files (footer parse only)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        record = self.record(manifest.run_id) or {}
        refs = {ref.name: ref for ref in manifest.files}
        for item in plan["place"]:
            if not item["name"].startswith(METRICS_DIR + "/"):
                continue
            source = self._source(manifest, refs[item["name"]], record)
            assert source is not None
            try:
                pq.ParquetFile(source).metadata  # noqa: B018 - parsing the footer is the check
            except (OSError, pa.ArrowException, ValueError) as exc:
                raise CorruptDataError(
                    f"{item['name']} of run {manifest.run_id} is not a readable Parquet shard: {exc}"
                ) from exc

    def _apply(self, plan: dict[str, Any]) -> None:
        run_id = plan["run_id"]
        run_paths = self.paths.run(run_id)
        self._check_inside(run_paths.metrics / "x")
        run_paths.metrics.mkdir(parents=True, exist_ok=True)
        for item in plan["place"]:
            check_file_name(item["name"])
            target = run_paths.dir / item["name"]
            self._check_inside(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            blob = self.blobs / item["sha256"]
            if not blob.is_file():
                if target.is_file() and _sha256_file(target) == item["sha256"]:
                    continue  # placed before a crash; its blob is gone since
                raise MissingBlobsError(
                    f"run {run_id}: blob of {item['name']} vanished mid-commit", [item["sha256"]]
                )
            _link_into_place(blob, target)
        for name in plan["remove"]:
            (run_paths.dir / name).unlink(missing_ok=True)
        fsync_dir(run_paths.metrics)
        fsync_dir(run_paths.dir)
        self._set_heartbeat(run_id, plan.get("heartbeat_at"))
        write_json_atomic(
            self.records / f"{run_id}.json",
            {
                "run_id": run_id,
                "files": plan["files"],
                "heartbeat_at": plan.get("heartbeat_at"),
                "committed_at": time.time(),
            },
        )
        self._reindex(run_id)
        (self.journal / f"{run_id}.json").unlink(missing_ok=True)
        # Staged blobs stay (hard links: no extra space) for other runs that share a content,
        # such as the same requirements.txt; gc() drops them a day later.

    def _check_inside(self, target: Path) -> None:
        """Refuse to write through a symlink planted in the store to somewhere outside it."""
        runs = os.path.realpath(self.paths.runs)
        where = os.path.realpath(target.parent)
        if where == runs or os.path.commonpath([runs, where]) != runs or os.path.islink(target):
            raise StoreError(f"{target} leads outside {self.paths.runs}; refusing to write there")

    def _touch_heartbeat(self, manifest: RunManifest, record: dict[str, Any]) -> None:
        if manifest.heartbeat_at is None:
            return
        self._set_heartbeat(manifest.run_id, manifest.heartbeat_at)
        write_json_atomic(
            self.records / f"{manifest.run_id}.json",
            dict(record, heartbeat_at=manifest.heartbeat_at, committed_at=time.time()),
        )
        index = self._index()
        if index is not None:
            with index.transaction():
                index.update_run_fields(manifest.run_id, heartbeat_at=manifest.heartbeat_at)
                index.bump_changes()

    def _set_heartbeat(self, run_id: str, heartbeat_at: float | None) -> None:
        if heartbeat_at is None:
            return
        path = self.paths.run(run_id).heartbeat
        self._check_inside(path)
        with open(path, "a"):
            pass
        os.utime(path, (heartbeat_at, heartbeat_at))

    def _index(self) -> Any:
        from .root import StoreRoot

        index = getattr(self._local, "index", None)
        if index is None:
            index = StoreRoot(self.paths.root, index_mode=self.index_mode).open_index()
            self._local.index = index
        return index

    def _reindex(self, run_id: str) -> None:
        from .recovery import index_run, scan_run

        index = self._index()
        if index is not None:
            index_run(index, scan_run(self.paths.run(run_id)))

    def close(self) -> None:
        index = getattr(self._local, "index", None)
        if index is not None:
            index.close()
            self._local.index = None

    # -- crash recovery and housekeeping ----------------------------------------------------------

    def _finish_journal(self, run_id: str) -> bool:
        path = self.journal / f"{run_id}.json"
        try:
            plan = read_json(path)
        except FileNotFoundError:
            return False
        except (OSError, ValueError) as exc:
            log.warning("dropping the unreadable commit journal of run %s: %s", run_id, exc)
            path.unlink(missing_ok=True)
            return False
        try:
            self._apply(plan)
        except MissingBlobsError as exc:
            log.warning("abandoning an interrupted commit of run %s: %s", run_id, exc)
            path.unlink(missing_ok=True)
            return False
        log.info("finished an interrupted commit of run %s", run_id)
        return True

    def recover(self) -> list[str]:
        """Finish every commit a crash interrupted; returns the run ids it finished."""
        done: list[str] = []
        try:
            names = sorted(p.name for p in self.journal.iterdir() if p.suffix == ".json")
        except FileNotFoundError:
            return done
        for name in names:
            run_id = name[: -len(".json")]
            if not is_valid_run_id(run_id):
                continue
            with self.run_lock(run_id):
                if self._finish_journal(run_id):
                    done.append(run_id)
        return done

    def gc(self, tmp_age_s: float = 3600.0, blob_age_s: float = 86400.0) -> int:
        """Delete partial uploads and never-committed blobs older than the given ages."""
        now = time.time()
        removed = 0
        for directory, age in ((self.tmp, tmp_age_s), (self.blobs, blob_age_s)):
            try:
                entries = list(os.scandir(directory))
            except FileNotFoundError:
                continue
            for entry in entries:
                with contextlib.suppress(FileNotFoundError):
                    if now - entry.stat().st_mtime > age:
                        os.unlink(entry.path)
                        removed += 1
        return removed

    @contextlib.contextmanager
    def run_lock(self, run_id: str, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
        """Hold the run's lock against other threads and other processes (flock)."""
        if not is_valid_run_id(run_id):
            raise ManifestError(f"run id {run_id!r} is not a valid run id")
        self.locks.mkdir(parents=True, exist_ok=True)
        key = str(self.locks / run_id)
        with _process_locks_guard:
            thread_lock = _process_locks.setdefault(key, threading.Lock())
        if not thread_lock.acquire(timeout=timeout):
            raise StoreError(f"run {run_id} is being committed by another request; try again")
        try:
            with open(self.locks / f"{run_id}.lock", "a+b") as f:
                deadline = time.monotonic() + timeout
                while True:
                    try:
                        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise StoreError(
                                f"run {run_id} is being committed by another process; try again"
                            ) from None
                        time.sleep(0.02)
                try:
                    yield
                finally:
                    fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        finally:
            thread_lock.release()


# -- helpers ------------------------------------------------------------------------------------


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def _parse_run_json(data: bytes, run_id: str) -> dict[str, Any]:
    try:
        meta = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ManifestError(f"run.json of {run_id} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("id") != run_id:
        raise ManifestError(f"run.json sent for run {run_id} describes another run (or none)")
    return meta


def _shard_of(name: str) -> ShardName | None:
    try:
        return check_file_name(name)
    except ManifestError:
        return None


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _first_host(meta: dict[str, Any]) -> str | None:
    segments = meta.get("segments") or [{}]
    first = segments[0] if isinstance(segments, list) and segments else {}
    return first.get("host") if isinstance(first, dict) else None


def _origin(meta: dict[str, Any]) -> tuple[Any, ...]:
    """What tells one run from another with the same id: when and where it started."""
    segments = meta.get("segments") or [{}]
    first = segments[0] if isinstance(segments, list) and segments else {}
    first = first if isinstance(first, dict) else {}
    return (meta.get("created_at"), first.get("host"), first.get("started_at"))


def _has_local_writer(meta: dict[str, Any]) -> bool:
    if meta.get("state") != "running":
        return False
    segments = meta.get("segments") or [{}]
    last = segments[-1] if isinstance(segments, list) and segments else {}
    if not isinstance(last, dict) or last.get("host") != socket.gethostname():
        return False
    pid = last.get("pid")
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _shard_names_on_disk(run_dir: Path) -> set[ShardName]:
    try:
        entries = list(os.scandir(run_dir / METRICS_DIR))
    except FileNotFoundError:
        return set()
    return {n for e in entries if (n := parse_shard_name(e.name)) is not None}


def _link_into_place(blob: Path, target: Path) -> None:
    """Publish `blob`'s content at `target` atomically: hard link (or copy) → rename."""
    with contextlib.suppress(FileNotFoundError):
        if os.path.samefile(blob, target):
            return  # placed before a crash (a hard link to this very blob)
    tmp = partial_path(target)
    tmp.unlink(missing_ok=True)
    try:
        try:
            os.link(blob, tmp)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
            with open(blob, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, _CHUNK)
                dst.flush()
                os.fsync(dst.fileno())
        os.replace(tmp, target)
        # rename() between two links to one file does nothing and keeps both names: drop ours.
        tmp.unlink(missing_ok=True)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
