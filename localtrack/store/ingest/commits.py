"""Applying a run's manifest to its directory in one step: plan, journal, apply, roll forward.

::

    <root>/ingest/journal/<run>.json    a commit being applied (rolled forward after a crash)
    <root>/ingest/runs/<run>.json       what the last commit of a run placed: {name: sha256, bytes}
    <root>/ingest/undo/<run>+...        what the commit in progress replaces (commitundo.py)
    <root>/ingest/quarantine/           journals that could not be applied, set aside

A commit writes a journal naming the final set of files, keeps aside what it will replace,
links each blob into place (partial name → rename, so a reader never sees half a file), removes
shards that a listed shard covers, updates the heartbeat, rewrites the commit record, re-indexes
the run and deletes the journal. Blobs stay staged (as hard links) until ``gc()``, so runs
sharing a content (the same requirements.txt) can all be committed from one upload. A crash in
between leaves the journal, and ``CommitJournal.finish`` (from ``Ingest.recover`` or the next
commit of that run) completes it. Every intermediate state is a valid run directory: a covering
shard next to the shards it covers is what compaction leaves too.

A commit that fails — in the request, or when rolled forward after a crash — is undone: the run
directory, its commit record and heartbeat are put back as they were, and a journal that cannot
be applied is moved to ``ingest/quarantine/`` with one log line. ``finish`` never raises, so one
bad journal never stops a server from starting.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...errors import MissingBlobsError, StoreError
from ..atomic import fsync_dir, partial_path, read_json, write_json_atomic
from ..layout import METRICS_DIR, ShardName, StorePaths, is_valid_run_id, parse_shard_name
from .commitundo import CommitUndo, discard_where
from .manifest_types import RunManifest, check_file_name, shard_of

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


def plan_commit(
    manifest: RunManifest, record: dict[str, Any], run_dir: Path, placed_only: bool = False
) -> dict[str, Any]:
    """The journal entry that makes `run_dir` hold `manifest`: what to place, what to remove,
    and the final set of files (older shards it does not cover, and files it no longer lists
    but that are no shards, stay).

    `placed_only`: the run's files are exactly what `record` says (a shared-nothing server,
    whose runs live in the object store), not what `run_dir` holds."""
    placed = dict(record.get("files") or {})
    if placed_only:
        on_disk = {s for name in placed if (s := shard_of(name)) is not None}
    else:
        on_disk = _shard_names_on_disk(run_dir)

    def here(name: str) -> bool:
        return name in placed if placed_only else (run_dir / name).is_file()

    candidates = {n for n in on_disk} | {
        s for ref in manifest.files if (s := check_file_name(ref.name)) is not None
    }
    from ..runfiles import drop_covered

    live = set(drop_covered(sorted(candidates)))
    final: dict[str, dict[str, Any]] = {}
    place = []
    for ref in manifest.files:
        shard = check_file_name(ref.name)
        if shard is not None and shard not in live:
            continue  # an older manifest's shard that a shard here already covers
        final[ref.name] = {"sha256": ref.sha256, "bytes": ref.bytes}
        have = placed.get(ref.name) or {}
        if have.get("sha256") != ref.sha256 or not here(ref.name):
            place.append({"name": ref.name, "sha256": ref.sha256, "bytes": ref.bytes})
    for name, entry in placed.items():
        if name not in final and shard_of(name) is None and here(name):
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


class CommitJournal:
    """Applies planned commits to the runs of one store, journaled so a crash rolls forward."""

    def __init__(
        self,
        paths: StorePaths,
        blob_file: Callable[[str], Path],
        journal: Path,
        records: Path,
        reindex: Callable[[str], None],
    ) -> None:
        self.paths = paths
        self.blob_file = blob_file  # sha256 -> a local copy to link (BlobStore.local_file)
        self.journal = journal
        self.records = records
        self.undo_root = journal.parent / "undo"
        self.quarantine = journal.parent / "quarantine"
        self._reindex = reindex

    def commit(self, plan: dict[str, Any]) -> None:
        """Journal `plan`, then apply it; if that fails, undo it and raise."""
        run_id = plan["run_id"]
        undo = self._undo(run_id)
        undo.discard()  # left by a commit that was done but not cleaned up
        path = self.journal / f"{run_id}.json"
        write_json_atomic(path, plan)
        try:
            self.apply(plan)
        except Exception:  # a crash (or KeyboardInterrupt) leaves the journal to roll forward
            self._roll_back(run_id, path)
            raise

    def _undo(self, run_id: str) -> CommitUndo:
        return CommitUndo(self.undo_root, self.paths.run(run_id), self.records / f"{run_id}.json")

    def _roll_back(self, run_id: str, journal: Path) -> None:
        """Put the run back as it was before the commit, then drop its journal."""
        try:
            self._undo(run_id).restore()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("run %s: could not undo a failed commit: %s", run_id, exc)
            return  # the journal stays, so the next start tries again
        journal.unlink(missing_ok=True)

    def apply(self, plan: dict[str, Any]) -> None:
        """Keep aside what changes, place, remove, set the heartbeat, record, re-index; then
        drop the journal and the backups."""
        run_id = plan["run_id"]
        run_paths = self.paths.run(run_id)
        self.check_inside(run_paths.metrics / "x")
        undo = self._undo(run_id)
        if not undo.ready():
            undo.save(plan)
        run_paths.metrics.mkdir(parents=True, exist_ok=True)
        for item in plan["place"]:
            check_file_name(item["name"])
            target = run_paths.dir / item["name"]
            self.check_inside(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            blob = self.blob_file(item["sha256"])
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
        self.set_heartbeat(run_id, plan.get("heartbeat_at"))
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
        # Done: what follows only cleans up, and its failure would not undo the commit.
        try:
            (self.journal / f"{run_id}.json").unlink(missing_ok=True)
            undo.discard()
        except OSError as exc:
            log.warning("run %s: committed, but cleaning up after it failed: %s", run_id, exc)
        # Staged blobs stay (hard links: no extra space) for other runs that share a content,
        # such as the same requirements.txt; gc() drops them a day later.

    def finish(self, run_id: str) -> bool:
        """Finish the commit of `run_id` a crash interrupted, if any; True if it did.

        Never raises: a journal that cannot be applied is undone and set aside."""
        path = self.journal / f"{run_id}.json"
        if not path.exists():
            return False
        try:
            plan = read_json(path)
            if not isinstance(plan, dict) or plan.get("run_id") != run_id:
                raise ValueError("it is not a commit plan of this run")
            self.apply(plan)
        except Exception as exc:  # whatever it is, it must not stop the server from starting
            self._set_aside(run_id, path, exc)
            return False
        log.info("finished an interrupted commit of run %s", run_id)
        return True

    def _set_aside(self, run_id: str, path: Path, exc: BaseException) -> None:
        """Undo what an unappliable journal changed and move it to quarantine/, logging once."""
        try:
            self._undo(run_id).restore()
            self.quarantine.mkdir(parents=True, exist_ok=True)
            target = self.quarantine / f"{run_id}.{int(time.time() * 1000)}.json"
            os.replace(path, target)
        except (OSError, ValueError, KeyError, TypeError) as undo_exc:
            log.error(
                "run %s: an interrupted commit can be neither applied (%s) nor undone (%s); "
                "its journal stays in %s",
                run_id,
                exc,
                undo_exc,
                path,
            )
            return
        log.error(
            "run %s: an interrupted commit could not be applied (%s: %s); the run is as it was "
            "before it, and its journal was moved to %s",
            run_id,
            type(exc).__name__,
            exc,
            target,
        )

    def discard_stale_undo(self) -> None:
        """Drop backups of commits that are done (their journal is gone)."""
        discard_where(self.undo_root, lambda run_id: not (self.journal / f"{run_id}.json").exists())

    def pending(self) -> list[str]:
        """The run ids whose commits a crash interrupted, sorted."""
        try:
            names = sorted(p.name for p in self.journal.iterdir() if p.suffix == ".json")
        except FileNotFoundError:
            return []
        run_ids = (name[: -len(".json")] for name in names)
        return [run_id for run_id in run_ids if is_valid_run_id(run_id)]

    def check_inside(self, target: Path) -> None:
        """Refuse to write through a symlink planted in the store to somewhere outside it."""
        runs = os.path.realpath(self.paths.runs)
        where = os.path.realpath(target.parent)
        if where == runs or os.path.commonpath([runs, where]) != runs or os.path.islink(target):
            raise StoreError(f"{target} leads outside {self.paths.runs}; refusing to write there")

    def set_heartbeat(self, run_id: str, heartbeat_at: float | None) -> None:
        if heartbeat_at is None:
            return
        path = self.paths.run(run_id).heartbeat
        self.check_inside(path)
        with open(path, "a"):
            pass
        os.utime(path, (heartbeat_at, heartbeat_at))


def _shard_names_on_disk(run_dir: Path) -> set[ShardName]:
    try:
        entries = list(os.scandir(run_dir / METRICS_DIR))
    except FileNotFoundError:
        return set()
    return {n for e in entries if (n := parse_shard_name(e.name)) is not None}


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


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
