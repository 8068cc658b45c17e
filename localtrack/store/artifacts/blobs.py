"""The blob area: every file stored once, named by its sha256, plus the gc lock and gc itself.

Adding a file reads it once to hash it; only when no blob of that hash exists is it copied
(``shutil.copyfile``: kernel copy where possible) into ``incoming/`` and renamed into place, so
re-logging unchanged content costs one hash and stores nothing. The file's size and mtime are
checked around the copy: a file that changes while it is logged is an error, not a wrong blob.
Small files (up to ``SMALL``) are read once into memory and hashed and written from there.

New blobs are made durable with one ``syncfs`` before the manifest naming them is published.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import logging
import os
import secrets
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ...errors import StoreError, UsageError
from .layout import ArtifactPaths

log = logging.getLogger(__name__)
SMALL = 1 << 20
CHUNK = 1 << 20
GC_GRACE_S = 3600.0
LOCK_TIMEOUT_S = 600.0


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


@dataclass
class AddReport:
    """What adding files did: how many blobs and bytes were new."""

    new_blobs: int = 0
    new_bytes: int = 0
    reused: int = 0
    pending_sync: list[Path] = field(default_factory=list)


class BlobStore:
    """The blob area of one store."""

    def __init__(self, paths: ArtifactPaths) -> None:
        self.paths = paths
        self._made: set[Path] = set()  # folders known to exist (one mkdir each, not per blob)

    def _mkdir(self, folder: Path) -> None:
        if folder not in self._made:
            folder.mkdir(parents=True, exist_ok=True)
            self._made.add(folder)

    def path(self, sha256: str) -> Path:
        return self.paths.blob(sha256)

    def has(self, sha256: str) -> bool:
        return self.paths.blob(sha256).exists()

    def _tmp(self) -> Path:
        self._mkdir(self.paths.incoming)
        return self.paths.incoming / f"{os.getpid()}-{secrets.token_hex(8)}.tmp"

    def _reuse(self, sha256: str, report: AddReport) -> bool:
        """Whether the blob exists; if so its mtime is refreshed (gc's grace period)."""
        target = self.paths.blob(sha256)
        try:
            os.utime(target)
        except FileNotFoundError:
            return False
        except PermissionError:
            pass  # a blob someone else owns: it exists, and gc's lock still protects it
        report.reused += 1
        return True

    def _place(self, tmp: Path, sha256: str, size: int, report: AddReport) -> None:
        target = self.paths.blob(sha256)
        self._mkdir(target.parent)
        os.chmod(tmp, 0o444)  # hard-linked downloads must not be able to edit the store
        os.replace(tmp, target)
        report.new_blobs += 1
        report.new_bytes += size
        report.pending_sync.append(target)

    def add_file(self, src: Path, report: AddReport) -> tuple[str, int]:
        """Store the file at `src` (if its content is new); returns (sha256, size)."""
        try:
            st = os.stat(src)
            if st.st_size <= SMALL:
                data = Path(src).read_bytes()
                sha = hashlib.sha256(data).hexdigest()
                if not self._reuse(sha, report):
                    tmp = self._tmp()
                    try:
                        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
                        try:
                            os.write(fd, data)
                        finally:
                            os.close(fd)
                        self._place(tmp, sha, len(data), report)
                    except BaseException:
                        tmp.unlink(missing_ok=True)
                        raise
                return sha, len(data)
            sha, size = hash_file(src)
            if self._reuse(sha, report):
                return sha, size
            tmp = self._tmp()
            try:
                shutil.copyfile(src, tmp)
                after = os.stat(src)
                if (after.st_size, after.st_mtime_ns) != (size, st.st_mtime_ns):
                    raise UsageError(f"{src} changed while it was being added; add it again")
                self._place(tmp, sha, size, report)
            finally:
                tmp.unlink(missing_ok=True)
            return sha, size
        except FileNotFoundError as exc:
            raise UsageError(f"cannot add {src}: it does not exist") from exc
        except IsADirectoryError as exc:
            raise UsageError(f"cannot add {src} as a file: it is a directory") from exc
        except PermissionError as exc:
            raise UsageError(f"cannot read {src}: permission denied ({exc})") from exc
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise StoreError(
                    f"no space left while storing {src} in {self.paths.blobs}; nothing was "
                    "published (free space and log again)"
                ) from exc
            raise

    def make_durable(self, report: AddReport) -> None:
        """Flush every new blob of `report` to disk before a manifest names them."""
        if report.pending_sync:
            _syncfs(self.paths.blobs)
            report.pending_sync.clear()

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
        try:
            return sorted(self.paths.incoming.iterdir())
        except FileNotFoundError:
            return []


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
