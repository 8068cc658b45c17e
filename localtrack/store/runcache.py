"""A bounded local cache of run directories made from the object store (shared-nothing replicas).

A server with ``--index postgresql://…`` and ``--blobs s3://…`` keeps no run directories of its
own: what each commit placed is in PostgreSQL (``run_files``), every file is the blob
``blobs/<sha256>`` in the bucket. To read a run, a replica makes the committed version of it
here, once, and the readers open it as they open any run directory::

    <cache>/views/<digest>/<run_id>/…     one committed version of a run (run.json, metrics/…)
    <cache>/views/<digest>/view.json      {"run_id", "bytes", "missing": {name: problem},
                                           "ranged": {name: {"sha256", "bytes"}}, …}
    <cache>/blocks/<sha[:2]>/<sha>.<n>    blocks of ranged files (store/blockcache.py)
    <cache>/tmp/<token>/                  a view being filled, renamed into views/ when whole

``digest`` names the version (the run id, its files' names and hashes, its heartbeat), so a new
commit makes a new view and an unchanged run is never fetched twice. Every file is hashed while
it is fetched and kept only when it hashes to its name; files an older view of the run (or the
server's own verified upload) already holds are hard-linked, not fetched again. A blob the bucket
lacks (or that hashes wrong) is left out and named in ``missing``: reads of the run list it as
damage, and it is looked for again ``RETRY_MISSING_S`` later.

With ``range_min_bytes`` (``LOCALTRACK_READ_RANGE_BYTES``, set on a server whose blobs are in an
object store), a shard or media file of at least that size is not fetched: the view lists it as
*ranged* once the object store confirms (a HEAD) that the blob is there with its recorded size,
and readers read it by byte range through ``<cache>/blocks/`` (store/rangedfiles.py,
store/blockcache.py; what is checked on a range is said there). A blob found missing or changed
by a range read is added to the view's ``missing`` then. A view made for a commit (``whole``)
holds every file whole and hash-checked, as the commit's scan reads them all.

The cache holds views and blocks up to ``max_bytes`` in all (``LOCALTRACK_READ_CACHE_BYTES``),
evicting the least recently used first; a view read in the last ``EVICT_GRACE_S`` seconds is kept
(a reader may be in the middle of it), as is a single view bigger than the bound.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..errors import CorruptDataError, MissingBlobsError
from . import rangedfiles
from .atomic import write_json_atomic
from .blobdamage import damage_line
from .blobstore import BlobStore
from .blockcache import BlockCache
from .ingest.manifest_types import check_file_name
from .layout import RunPaths
from .runview import VIEW_FILE, RunView, read_view, set_heartbeat, version_digest, view_json

log = logging.getLogger(__name__)

EVICT_GRACE_S = 5.0
RETRY_MISSING_S = 30.0
STALE_TMP_S = 3600.0

_CHUNK = 1 << 20
BLOCK_BYTES = 1 << 20  # default size of a cached block of a ranged file


class RunCache:
    """Run views made from a blob store, bounded by size (thread-safe; see the module doc)."""

    def __init__(
        self,
        root: Path,
        blobs: BlobStore,
        max_bytes: int,
        verified_copy: Callable[[str], Path] | None = None,
        range_min_bytes: int | None = None,
        block_bytes: int = BLOCK_BYTES,
    ) -> None:
        self.root = root
        self.views = root / "views"
        self.tmp = root / "tmp"
        self.blobs = blobs
        self.max_bytes = max_bytes
        self._verified_copy = verified_copy  # sha256 -> a local copy already hash-checked
        self._lru: OrderedDict[str, RunView] | None = None
        self._lock = threading.Lock()
        self._filling: dict[str, threading.Lock] = {}
        self.fetched = 0  # blobs fetched from the blob store (for tests and logs)
        # ranged reads need the object's size (a HEAD): only stores that can say it
        self._object_size: Callable[[str], int | None] | None = getattr(blobs, "size", None)
        self.range_min_bytes = range_min_bytes if self._object_size is not None else None
        self.blocks = BlockCache(root / "blocks", blobs.read_range, block_bytes)
        rangedfiles.register(self)

    # -- lookups --------------------------------------------------------------------------------

    def view(self, run_id: str, record: Mapping[str, Any], whole: bool = False) -> RunView:
        """The view of `run_id`'s committed version `record`, made now if it is not here
        (`whole`: every file on disk and hash-checked, none ranged, as a commit needs)."""
        digest = version_digest(run_id, record)
        with self._fill_lock(digest):
            found = self._known(digest)
            if found is not None and (
                (found.missing and time.time() - found.made_at > RETRY_MISSING_S)
                or (whole and found.ranged)
            ):
                self._drop(digest)  # look for what was missing again, or fetch it whole
                found = None
            if found is None:
                found = self._fill(digest, run_id, record, whole)
        self._touch(found)
        self._evict()
        return found

    def _known(self, digest: str) -> RunView | None:
        lru = self._entries()
        with self._lock:
            found = lru.get(digest)
        if found is not None and (self.views / digest / VIEW_FILE).is_file():
            return found
        found = read_view(self.views / digest)  # made by another process sharing the cache
        if found is not None:
            with self._lock:
                lru[digest] = found
        return found

    def _touch(self, view: RunView) -> None:
        view.used_at = time.monotonic()
        lru = self._entries()
        with self._lock:
            lru[view.digest] = view
            lru.move_to_end(view.digest)

    def _fill_lock(self, digest: str) -> threading.Lock:
        with self._lock:
            lock = self._filling.setdefault(digest, threading.Lock())
            if len(self._filling) > 4096:
                self._filling = {digest: lock}
            return lock

    def _entries(self) -> OrderedDict[str, RunView]:
        """The views on disk, least recently used first (read once, on first use)."""
        with self._lock:
            if self._lru is not None:
                return self._lru
        self._clear_stale_tmp()
        found = []
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.views):
                view = read_view(Path(entry.path))
                if view is not None:
                    found.append((entry.stat().st_mtime, view))
        with self._lock:
            if self._lru is None:
                self._lru = OrderedDict((v.digest, v) for _, v in sorted(found, key=lambda x: x[0]))
            return self._lru

    def _clear_stale_tmp(self) -> None:
        """Remove what a crash left in tmp/ (fills and evictions older than ``STALE_TMP_S``)."""
        now = time.time()
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.tmp):
                with contextlib.suppress(OSError):
                    if now - entry.stat(follow_symlinks=False).st_mtime > STALE_TMP_S:
                        shutil.rmtree(entry.path, ignore_errors=True)

    # -- filling --------------------------------------------------------------------------------

    def _fill(
        self, digest: str, run_id: str, record: Mapping[str, Any], whole: bool = False
    ) -> RunView:
        """Make the view in tmp/, every file hash-checked, then rename it into views/."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.views.mkdir(parents=True, exist_ok=True)
        work = self.tmp / secrets.token_hex(8)
        run_dir = work / run_id
        run_dir.mkdir(parents=True)
        try:
            view = RunView(digest, run_id, 0, made_at=time.time())
            siblings = self._sibling_files(run_id)
            for name, entry in sorted((record.get("files") or {}).items()):
                check_file_name(name)
                sha = str(entry["sha256"])
                target = run_dir / name
                target.parent.mkdir(parents=True, exist_ok=True)
                size = int(entry.get("bytes") or 0)
                if self._link(sha, target, siblings.get((name, sha))):
                    problem = None  # held whole here already: linked, not fetched
                elif not whole and self._read_by_range(name, size):
                    problem = self._check_object(sha, size)
                    if problem is None:
                        view.ranged[name] = {"sha256": sha, "bytes": size}
                    else:
                        view.missing[name] = f"blob {sha} {problem}"
                    continue
                else:
                    problem = self._fetch(sha, target)
                if problem is None:
                    view.bytes += int(entry.get("bytes") or 0)
                    view.files[name] = sha
                else:
                    view.missing[name] = f"blob {sha} {problem}"
            set_heartbeat(RunPaths(run_dir), record.get("heartbeat_at"))
            write_json_atomic(work / VIEW_FILE, view_json(view))
            try:
                os.rename(work, self.views / digest)
            except OSError:  # another process made this very view first: use theirs
                theirs = read_view(self.views / digest)
                if theirs is None:
                    raise
                view = theirs
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if view.missing:
            where = self.blobs.location
            log.error("run %s: files not read whole from %s: %s", run_id, where, view.missing)
        return view

    def _sibling_files(self, run_id: str) -> dict[tuple[str, str], Path]:
        """(name, sha256) -> a file of another view of the same run (to link, not fetch)."""
        lru = self._entries()
        with self._lock:
            others = [v for v in lru.values() if v.run_id == run_id]
        found: dict[tuple[str, str], Path] = {}
        for other in others:
            for name, sha in other.files.items():
                found.setdefault((name, sha), self.views / other.digest / run_id / name)
        return found

    def _read_by_range(self, name: str, size: int) -> bool:
        limit = self.range_min_bytes
        return limit is not None and size >= limit and rangedfiles.is_rangeable(name)

    def _link(self, sha256: str, target: Path, sibling: Path | None) -> bool:
        """Hard-link a copy held whole already (another view's, or a verified upload's)."""
        local = self._verified_copy(sha256) if self._verified_copy else None
        for source in (sibling, local):
            if source is not None:
                with contextlib.suppress(OSError):
                    os.link(source, target)
                    return True
        return False

    def _check_object(self, sha256: str, size: int) -> str | None:
        """None when the object store holds the blob with its recorded size, else what is wrong."""
        assert self._object_size is not None
        actual = self._object_size(sha256)
        if actual is None:
            return "missing"
        if actual != size:
            return f"changed: {actual:,} bytes, not the {size:,} recorded"
        return None

    def _fetch(self, sha256: str, target: Path) -> str | None:
        """Fetch the blob whole to `target` (a new file), hashed on the way; None when it is
        there whole, else what is wrong."""
        digest = hashlib.sha256()
        try:
            with open(target, "wb") as out:
                for chunk in self.blobs.chunks(sha256):
                    digest.update(chunk)
                    out.write(chunk)
        except MissingBlobsError:
            target.unlink(missing_ok=True)
            return "missing"
        self.fetched += 1
        actual = digest.hexdigest()
        if actual != sha256:
            target.unlink(missing_ok=True)
            return f"changed: hashes to {actual}"
        return None

    # -- ranged files (store/rangedfiles.py) ----------------------------------------------------

    def ranged_blob(self, digest: str, name: str) -> rangedfiles.RangedBlob | None:
        """The ranged file `name` of the view `digest`, or None when it is not one."""
        view = self._known(digest)
        entry = None if view is None else view.ranged.get(name)
        if view is None or entry is None:
            return None
        sha, size = str(entry["sha256"]), int(entry["bytes"])

        def read_at(offset: int, length: int) -> bytes:
            return self._read_ranged(view, name, sha, size, offset, length)

        return rangedfiles.RangedBlob(name, sha, size, read_at, self.blocks.block_bytes)

    def ranged_names(self, digest: str, folder: str) -> list[str]:
        """The names of the view's ranged files directly in `folder` ("metrics", …)."""
        view = self._known(digest)
        if view is None:
            return []
        return sorted(
            name.rpartition("/")[2]
            for name in list(view.ranged)  # a copy: a failed range read may drop one meanwhile
            if name.rpartition("/")[0] == folder
        )

    def _read_ranged(
        self, view: RunView, name: str, sha: str, size: int, offset: int, length: int
    ) -> bytes:
        """A range of a ranged file; a blob the store lost or changed is named in the view's
        ``missing`` (so reads of the run list it as damage) and raises CorruptDataError."""
        self._touch(view)
        try:
            data = self.blocks.read(sha, size, offset, length, keep=length <= self.max_bytes)
        except MissingBlobsError:
            raise self._lost(view, name, sha, "missing") from None
        except CorruptDataError as exc:
            self.blocks.forget_blob(sha)
            raise self._lost(view, name, sha, str(exc).removeprefix(f"blob {sha} ")) from exc
        self._evict()  # (a StoreError, the store failing this request, says nothing is lost)
        return data

    def _lost(self, view: RunView, name: str, sha: str, problem: str) -> CorruptDataError:
        """Name the file as damage from now on (left out of reads, as a whole-fetch view leaves
        out a blob it could not fetch; looked for again ``RETRY_MISSING_S`` later)."""
        view.missing[name] = f"blob {sha} {problem}"
        view.ranged.pop(name, None)
        view.made_at = time.time()
        with contextlib.suppress(OSError):  # the view may have been evicted meanwhile
            write_json_atomic(self.views / view.digest / VIEW_FILE, view_json(view))
        log.error("run %s: %s is %s in %s", view.run_id, name, problem, self.blobs.location)
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(view.made_at))
        where, found_by = self.blobs.location, f"reading the run at {when}"
        return CorruptDataError(damage_line(name, view.missing[name], where, found_by))

    # -- eviction -------------------------------------------------------------------------------

    def _evict(self) -> None:
        """Drop the least recently used views and blocks until the rest fit in ``max_bytes``."""
        lru = self._entries()
        now = time.monotonic()
        with self._lock:
            total = sum(v.bytes for v in lru.values())
            views = [  # never the one just used, nor one a reader may be in the middle of
                v for v in list(lru.values())[:-1] if now - v.used_at >= EVICT_GRACE_S
            ]
        total += self.blocks.held_bytes()
        while total > self.max_bytes:
            block = self.blocks.oldest()
            view = views[0] if views else None
            if view is not None and (block is None or view.used_at <= block[1]):
                views.pop(0)
                self._drop(view.digest)
                total -= view.bytes
            elif block is not None:
                total -= self.blocks.drop(block[0])
            else:
                break

    def _drop(self, digest: str) -> None:
        """Remove one view: renamed away first, so no reader ever finds half of it."""
        with self._lock:
            if self._lru is not None:
                self._lru.pop(digest, None)
        trash = self.tmp / f"evicted-{secrets.token_hex(6)}"
        try:
            self.tmp.mkdir(parents=True, exist_ok=True)
            os.rename(self.views / digest, trash)
        except FileNotFoundError:
            return  # another process dropped it
        shutil.rmtree(trash, ignore_errors=True)

    def held_bytes(self) -> int:
        """The bytes of every view and block held now."""
        lru = self._entries()
        with self._lock:
            views = sum(v.bytes for v in lru.values())
        return views + self.blocks.held_bytes()
