"""Building a run's manifest from a local store: what a server needs to hold the run.

Listed: ``run.json``, the live sealed shards (``metrics/``), media blobs (``media/blobs/``), the
media logs (``media/log-*.jsonl``), the alerts the run raised (``alerts.jsonl``) and the run's files (``files/``: console output,
requirements.txt, diff.patch). Never listed: the unsealed tail log, the heartbeat (its time
travels in the manifest instead), partial files, quarantined files.

Files that change while a run is live are sent as a snapshot: run.json, the media logs and the
alerts log are read once into memory (a log cut after its last whole line) and those exact bytes are hashed
and sent; an append-only ``files/`` entry is sent as its first N bytes, N its size when the
manifest was built. Immutable files (shards, media blobs) get their sha256 from the sync state's
cache, else the index (computed when the shard was sealed), else one read of the file.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ..errors import CorruptDataError, ManifestError, RunNotFoundError
from ..store import segments
from ..store.alertlog import ALERTS_FILE
from ..store.indexbackend import IndexBackend
from ..store.ingest.manifest_types import FileRef, RunManifest, check_file_name, media_blob_sha
from ..store.layout import METRICS_DIR, RUN_JSON, RunPaths, is_partial_name, is_valid_run_id
from ..store.root import StoreRoot
from ..store.runfiles import list_shards, list_tail_segments
from ..store.runmeta import effective_state, heartbeat_time
from .protocol import Manifest
from .state import RunSyncState

log = logging.getLogger(__name__)
_CHUNK = 1 << 20


@dataclass(frozen=True)
class LocalRun:
    """A run ready to send: its manifest, the in-memory snapshots it names, what stays behind
    (the unsealed tail), and how to read each listed file."""

    manifest: Manifest
    memory: dict[str, bytes]
    state: str
    tail_bytes: int
    opener: Callable[[str], BinaryIO]
    warnings: tuple[str, ...] = field(default=())

    @property
    def run_id(self) -> str:
        return self.manifest.run_id

    @property
    def run_json(self) -> bytes:
        return self.memory[RUN_JSON]

    def open_file(self, name: str) -> BinaryIO:
        """A stream of one listed file's bytes (snapshots from memory, the rest by `opener`)."""
        if name in self.memory:
            return io.BytesIO(self.memory[name])
        return self.opener(name)


def _hash_prefix(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    left = size
    with open(path, "rb") as f:
        while left > 0:
            chunk = f.read(min(_CHUNK, left))
            if not chunk:
                raise CorruptDataError(f"{path} shrank while it was hashed")
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def _listdir(directory: Path) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(directory) if e.is_file(follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError):
        return []


def _walk_files(top: Path) -> list[str]:
    """Every file below `top` as a relative name with "/" (links and hidden folders skipped)."""
    found = []
    for folder, dirs, names in os.walk(top):  # os.walk does not follow links to folders
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        where = Path(folder).relative_to(top).as_posix()
        prefix = "" if where == "." else where + "/"
        found += [prefix + n for n in sorted(names) if not os.path.islink(os.path.join(folder, n))]
    return found


class ManifestBuilder:
    """Builds manifests for the runs of one store, caching hashes in the sync state.

    It is what ``SyncClient`` sends from (a bundle's ``BundleSource`` is the other kind)."""

    def __init__(self, store: StoreRoot) -> None:
        self.store = store
        self.label = str(store.root)
        self._index: IndexBackend | None = None
        self._index_opened = False

    def _index_hashes(self, run_id: str) -> dict[str, tuple[int, str]]:
        if not self._index_opened:
            self._index_opened = True
            self._index = self.store.open_index(readonly=True)
        if self._index is None:
            return {}
        try:
            rows = self._index.shard_rows(run_id)
        except (sqlite3.Error, ValueError, TypeError):  # a cache: hashing the file works too
            return {}
        return {r["name"]: (int(r["bytes"] or -1), str(r["sha256"])) for r in rows if r["sha256"]}

    def load_state(self, run_id: str) -> RunSyncState:
        return RunSyncState.load(self.store.root, run_id)

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None

    def build(self, run_id: str, state: RunSyncState) -> LocalRun:
        """The run's manifest now; CorruptDataError if run.json is unreadable."""
        paths = self.store.run(run_id)
        try:
            raw = paths.run_json.read_bytes()
        except FileNotFoundError:
            raise RunNotFoundError(f"run {run_id!r} has no run.json in {self.store.root}") from None
        try:
            meta = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise CorruptDataError(f"{paths.run_json} is not valid JSON: {exc}") from None
        if not isinstance(meta, dict) or meta.get("id") != run_id:
            raise CorruptDataError(f"{paths.run_json} does not describe run {run_id!r}")
        memory = {RUN_JSON: raw}
        warnings: list[str] = []
        files = [FileRef(RUN_JSON, hashlib.sha256(raw).hexdigest(), len(raw))]
        for name, data in self._media_logs(paths):
            memory[name] = data
            files.append(FileRef(name, hashlib.sha256(data).hexdigest(), len(data)))
        indexed: dict[str, tuple[int, str]] = {}
        for name in self._disk_files(paths):
            ref = self._describe(paths, name, state, indexed, run_id, warnings)
            if ref is not None:
                files.append(ref)
        state.keep_only({f.name for f in files})
        heartbeat = heartbeat_time(paths.heartbeat)
        run = RunManifest(run_id, tuple(files), heartbeat)
        project = str(meta.get("project") or "uncategorized")
        entity = meta.get("entity")
        manifest = Manifest(run, project, None if entity is None else str(entity))
        run_dir = paths.dir
        return LocalRun(
            manifest,
            memory,
            effective_state(meta, heartbeat),
            _tail_bytes(paths),
            lambda name: open(run_dir / name, "rb"),  # the caller closes it
            tuple(warnings),
        )

    def _media_logs(self, paths: RunPaths) -> Iterator[tuple[str, bytes]]:
        names = [f"media/{entry}" for entry in _listdir(paths.dir / "media")] + [ALERTS_FILE]
        for name in names:
            if not _allowed(name):
                continue
            try:
                data = (paths.dir / name).read_bytes()
            except (FileNotFoundError, IsADirectoryError):
                continue
            cut = data.rfind(b"\n") + 1  # a torn last line is not sent
            yield name, data[:cut]

    def _disk_files(self, paths: RunPaths) -> Iterator[str]:
        """Every live shard, media blob and run file on disk now (sent as their first N bytes,
        N the size seen here: immutable files are whole, append-only ones a snapshot)."""
        for shard in list_shards(paths):
            yield f"{METRICS_DIR}/{shard.filename}"
        for entry in _listdir(paths.dir / "media" / "blobs"):
            name = f"media/blobs/{entry}"
            if _allowed(name):
                yield name
        for entry in _walk_files(paths.files):
            name = f"files/{entry}"
            if not is_partial_name(entry.rsplit("/", 1)[-1]) and _allowed(name):
                yield name

    def _describe(
        self,
        paths: RunPaths,
        name: str,
        state: RunSyncState,
        indexed: dict[str, tuple[int, str]],
        run_id: str,
        warnings: list[str],
    ) -> FileRef | None:
        path = paths.dir / name
        try:
            st = path.stat()
        except FileNotFoundError:
            return None  # a shard compacted away just now: its rows are in the covering shard
        sha = state.cached_hash(name, st.st_size, st.st_mtime_ns)
        if sha is None:
            if name.startswith(METRICS_DIR + "/"):
                if not indexed:
                    indexed.update(self._index_hashes(run_id) or {"": (-1, "")})
                size_sha = indexed.get(name[len(METRICS_DIR) + 1 :])
                if size_sha is not None and size_sha[0] == st.st_size:
                    sha = size_sha[1]
            if sha is None:
                try:
                    sha = _hash_prefix(path, st.st_size)
                except (FileNotFoundError, CorruptDataError):
                    return None
            state.remember_hash(name, st.st_size, st.st_mtime_ns, sha)
        promised = media_blob_sha(name)
        if promised is not None and promised != sha:
            warnings.append(f"{name} does not match its name (damaged); not sent")
            log.warning("run %s: %s does not match its sha256 name; not sent", run_id, name)
            return None
        return FileRef(name, sha, st.st_size)


def _allowed(name: str) -> bool:
    try:
        check_file_name(name)
    except ManifestError:
        return False
    return True


def _tail_bytes(paths: RunPaths) -> int:
    """Bytes of logged data not sealed yet: classic tail logs, and mapped tail chunks up to the
    end their writer last made durable (the pre-allocated zeros past it are no data)."""
    total = 0
    for segment in list_tail_segments(paths):
        try:
            size = paths.tail(segment).stat().st_size
        except OSError:
            continue
        total += max(0, size - 8)  # the 8-byte magic is not data
    for segment, number in segments.list_chunks(paths.dir):
        end = segments.synced_end(segments.chunk_path(paths.dir, segment, number))
        total += max(0, end - segments.HEADER.size)
    return total


def select_runs(
    store: StoreRoot,
    run_ids: Sequence[str] = (),
    project: str | None = None,
    all_runs: bool = False,
) -> list[str]:
    """Run ids by explicit id (or unique prefix), by project, or all of them, sorted."""
    everything = store.run_ids()
    if all_runs:
        return everything
    chosen: list[str] = []
    for wanted in run_ids:
        if not is_valid_run_id(wanted):
            raise RunNotFoundError(f"{wanted!r} is not a run id")
        if wanted in everything:
            chosen.append(wanted)
            continue
        matches = [r for r in everything if r.startswith(wanted)]
        if len(matches) != 1:
            problem = "matches no run" if not matches else f"is ambiguous ({len(matches)} runs)"
            raise RunNotFoundError(f"run id {wanted!r} {problem} in {store.root}")
        chosen.append(matches[0])
    if project is not None:
        for run_id in everything:
            if run_id in chosen:
                continue
            try:
                meta = json.loads(store.run(run_id).run_json.read_bytes())
            except (OSError, ValueError):
                continue
            if isinstance(meta, dict) and (meta.get("project") or "uncategorized") == project:
                chosen.append(run_id)
    return sorted(set(chosen))


def store_for_sync(root: Path | str) -> StoreRoot:
    root = Path(os.fspath(root)).expanduser()
    if not (root / "runs").is_dir():
        raise RunNotFoundError(f"no store at {root}: nothing to sync (pass --dir?)")
    return StoreRoot(root)
