"""The blob area: every file stored once, named by its sha256, plus the gc lock and gc itself.

Adding a file reads it once to hash it; only when no blob of that hash exists is it written, as a
partial ``.<sha256>.<pid>-<random>.tmp`` in the blob's own fan-out folder, then renamed into place
(a rename inside one folder: cheaper than across folders), so re-logging unchanged content costs
one hash and stores nothing. Small files (up to ``SMALL``) are read once into memory and hashed
and written from there, on the calling thread; bigger ones are hashed, then copied
(``shutil.copyfile``: kernel copy where possible) on a few worker threads (hashing and copying
release the GIL), with their size and mtime checked around the copy: a file that changes while it
is logged is an error, not a wrong blob. Memory stays bounded: one small file at a time, and
large ones stream.

New blobs are not fsynced one by one: one ``syncfs`` makes all of them (and their renames) durable
before the manifest naming them is published. The manifest is the commit point; a blob that
exists but no manifest names yet is only a candidate for gc. A power loss before that sync may
leave a blob short, so reuse checks the size too (a short blob is rewritten).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import itertools
import logging
import os
import secrets
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ...errors import StoreError, UsageError
from .layout import ArtifactPaths, is_sha256

log = logging.getLogger(__name__)
SMALL = 1 << 20
CHUNK = 1 << 20
GC_GRACE_S = 3600.0
LOCK_TIMEOUT_S = 600.0
PARTIAL_SUFFIX = ".tmp"


def hash_stream(f: BinaryIO) -> tuple[str, int]:
    """(sha256 hex, bytes) of a binary stream, read in bounded chunks."""
    h = hashlib.sha256()
    n = 0
    while chunk := f.read(CHUNK):
        h.update(chunk)
        n += len(chunk)
    return h.hexdigest(), n


def hash_file(path: Path) -> tuple[str, int]:
    with open(path, "rb") as f:
        return hash_stream(f)


def _syncfs(directory: Path) -> None:
    """Flush the file system holding `directory` (one call for every new blob)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(directory, os.O_RDONLY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    except (OSError, AttributeError):
        pass
    os.sync()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _workers() -> int:
    return max(2, min(4, os.cpu_count() or 1))


@dataclass
class AddReport:
    """What adding files did: how many blobs and bytes were new."""

    new_blobs: int = 0
    new_bytes: int = 0
    reused: int = 0
    pending_sync: int = 0  # new blobs not yet made durable

    def count(self, new: bool, size: int) -> None:
        if new:
            self.new_blobs += 1
            self.new_bytes += size
            self.pending_sync += 1
        else:
            self.reused += 1


class BlobStore:
    """The blob area of one store."""

    def __init__(self, paths: ArtifactPaths) -> None:
        self.paths = paths
        self._root = str(paths.blobs)
        self._made: set[str] = set()  # fan-out folders known to exist (one mkdir each)
        self._token = secrets.token_hex(4)  # partial names unique across processes and stores
        self._seq = itertools.count()  # ... and within this one (next() is atomic under the GIL)

    def path(self, sha256: str) -> Path:
        return self.paths.blob(sha256)

    def has(self, sha256: str) -> bool:
        return self.paths.blob(sha256).exists()

    def _target(self, sha256: str) -> tuple[str, str]:
        """(fan-out folder, blob path) as strings: the hot path builds no Path objects."""
        fan = f"{self._root}/{sha256[:2]}"
        if fan not in self._made:
            os.makedirs(fan, exist_ok=True)
            self._made.add(fan)
        return fan, f"{fan}/{sha256}"

    def _tmp(self, fan: str, sha256: str) -> str:
        return f"{fan}/.{sha256}.{os.getpid()}-{self._token}-{next(self._seq)}{PARTIAL_SUFFIX}"

    def _exists(self, target: str, size: int | None) -> bool:
        """Whether a whole blob is at `target`; if so its mtime is refreshed (gc's grace)."""
        try:
            if size is not None and os.stat(target).st_size != size:
                return False  # short (a power loss before its sync): rewrite it
            os.utime(target)
        except FileNotFoundError:
            return False
        except PermissionError:
            pass  # a blob someone else owns: it exists, and gc's lock still protects it
        return True

    def _reuse(self, sha256: str, report: AddReport, size: int | None = None) -> bool:
        """Whether the blob exists (counted as reused in `report` if so)."""
        if not is_sha256(sha256):
            raise UsageError(f"{sha256!r} is not a sha256 hex digest")
        found = self._exists(self._target(sha256)[1], size)
        if found:
            report.reused += 1
        return found

    def _add_small(self, src: str, size: int) -> tuple[str, int, bool]:
        """Store one small file from memory; (sha256, size, whether a new blob was written)."""
        fd = os.open(src, os.O_RDONLY)
        try:
            data = os.read(fd, size + 1)  # a short read of a regular file means end of file
            if len(data) > size:  # it grew since stat: read the rest
                data += b"".join(iter(lambda: os.read(fd, CHUNK), b""))
        finally:
            os.close(fd)
        sha = hashlib.sha256(data).hexdigest()
        fan, target = self._target(sha)
        if self._exists(target, len(data)):
            return sha, len(data), False
        tmp = self._tmp(fan, sha)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
            try:
                _write_all(fd, data)
            finally:
                os.close(fd)
            os.replace(tmp, target)  # read-only: hard-linked downloads cannot edit the store
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return sha, len(data), True

    def _add_large(self, src: str, st: os.stat_result) -> tuple[str, int, bool]:
        sha, size = hash_file(Path(src))
        fan, target = self._target(sha)
        if self._exists(target, size):
            return sha, size, False
        tmp = self._tmp(fan, sha)
        try:
            shutil.copyfile(src, tmp)
            after = os.stat(src)
            if (after.st_size, after.st_mtime_ns) != (size, st.st_mtime_ns):
                raise UsageError(f"{src} changed while it was being added; add it again")
            os.chmod(tmp, 0o444)
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return sha, size, True

    def _add_one(self, src: str, st: os.stat_result | None = None) -> tuple[str, int, bool]:
        try:
            st = st or os.stat(src)
            if st.st_size <= SMALL:
                return self._add_small(src, st.st_size)
            return self._add_large(src, st)
        except OSError as exc:
            raise self._error(src, exc) from exc

    def _error(self, src: str, exc: OSError) -> Exception:
        """The domain error for a failed add of `src` (the OSError itself if none fits)."""
        if isinstance(exc, FileNotFoundError):
            return UsageError(f"cannot add {src}: it does not exist")
        if isinstance(exc, IsADirectoryError):
            return UsageError(f"cannot add {src} as a file: it is a directory")
        if isinstance(exc, PermissionError):
            return UsageError(f"cannot read {src}: permission denied ({exc})")
        if exc.errno == errno.ENOSPC:
            return StoreError(
                f"no space left while storing {src} in {self.paths.blobs}; nothing was "
                "published (free space and log again)"
            )
        return exc

    def add_file(self, src: Path, report: AddReport) -> tuple[str, int]:
        """Store the file at `src` (if its content is new); returns (sha256, size)."""
        sha, size, new = self._add_one(str(src))
        report.count(new, size)
        return sha, size

    def add_files(self, srcs: Sequence[str | Path], report: AddReport) -> list[tuple[str, int]]:
        """Store many files; (sha256, size) of each, in order.

        Small files are added on the calling thread: for a few KiB the system calls and Python
        work per file dominate, and threads only add GIL hand-offs (measured: more CPU, no less
        time). Large files are hashed and copied on worker threads, beside the rest. The first
        failure stops the rest and is raised; blobs already written stay as gc candidates
        (nothing names them).
        """
        names = [str(s) for s in srcs]
        pending: list[tuple[str, int, bool] | Future[tuple[str, int, bool]]] = []
        pool: ThreadPoolExecutor | None = None
        try:
            for name in names:
                try:
                    st = os.stat(name)
                except OSError as exc:
                    raise self._error(name, exc) from exc
                if st.st_size > SMALL and len(names) > 1:
                    pool = pool or ThreadPoolExecutor(
                        _workers(), thread_name_prefix="localtrack-blobs"
                    )
                    pending.append(pool.submit(self._add_one, name, st))
                else:
                    pending.append(self._add_one(name, st))
            done = [r.result() if isinstance(r, Future) else r for r in pending]
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        for _sha, size, new in done:
            report.count(new, size)
        return [(sha, size) for sha, size, _new in done]

    def make_durable(self, report: AddReport) -> None:
        """Flush every new blob of `report` to disk before a manifest names them."""
        if report.pending_sync:
            _syncfs(self.paths.blobs)
            report.pending_sync = 0

    # -- the gc lock ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, kind: int, timeout: float) -> Iterator[None]:
        self.paths.dir.mkdir(parents=True, exist_ok=True)
        with open(self.paths.gc_lock, "a+b") as f:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(f.fileno(), kind | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        what = "a gc" if kind == fcntl.LOCK_SH else "an artifact writer"
                        raise StoreError(
                            f"{self.paths.gc_lock} is held by {what}; try again later"
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def writing(self, timeout: float = LOCK_TIMEOUT_S) -> contextlib.AbstractContextManager[None]:
        """Held (shared) by a writer from its first blob until its version is published."""
        return self._locked(fcntl.LOCK_SH, timeout)

    def collecting(
        self, timeout: float = LOCK_TIMEOUT_S
    ) -> contextlib.AbstractContextManager[None]:
        """Held (exclusive) by gc: no writer is between adding blobs and publishing."""
        return self._locked(fcntl.LOCK_EX, timeout)

    # -- listing and gc --------------------------------------------------------------------------

    def all_blobs(self) -> Iterator[Path]:
        try:
            fans = sorted(self.paths.blobs.iterdir())
        except FileNotFoundError:
            return
        for fan in fans:
            if fan.is_dir():
                yield from sorted(p for p in fan.iterdir() if not p.name.startswith("."))

    def incoming_files(self) -> list[Path]:
        """Partial blobs: ``.<sha256>.*.tmp`` in the fan-out folders (and anything in
        ``incoming/``, where earlier versions wrote them)."""
        found: list[Path] = []
        with contextlib.suppress(FileNotFoundError):
            found += self.paths.incoming.iterdir()
        with contextlib.suppress(FileNotFoundError):
            for fan in self.paths.blobs.iterdir():
                if fan.is_dir():
                    found += (
                        p
                        for p in fan.iterdir()
                        if p.name.startswith(".") and p.name.endswith(PARTIAL_SUFFIX)
                    )
        return sorted(found)


@dataclass
class GcReport:
    """What gc removed (or, dry run, would remove)."""

    removed: list[str] = field(default_factory=list)
    removed_bytes: int = 0
    kept_young: int = 0
    kept_referenced: int = 0
    partials: list[str] = field(default_factory=list)


def collect(
    blobs: BlobStore, referenced: Iterable[str], grace_s: float, dry_run: bool, now: float
) -> GcReport:
    """Remove blobs not in `referenced` and older than `grace_s` (call under ``collecting``)."""
    keep = set(referenced)
    report = GcReport()
    for path in blobs.all_blobs():
        if path.name in keep:
            report.kept_referenced += 1
            continue
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        if now - st.st_mtime < grace_s:
            report.kept_young += 1
            continue
        report.removed.append(path.name)
        report.removed_bytes += st.st_size
        if not dry_run:
            path.unlink(missing_ok=True)
    for path in blobs.incoming_files():
        try:
            old = now - path.stat().st_mtime >= grace_s
        except FileNotFoundError:
            continue
        if old:
            report.partials.append(path.name)
            if not dry_run:
                path.unlink(missing_ok=True)
    return report
