"""The blob area: every file stored once by its sha256, in a pack (up to 64 KiB) or on its own.

Adding a file reads it once to hash it; only when no blob of that hash exists is it written. A
blob of at most ``PACKED_MAX`` is appended, a batch at a time, to this writer's pack (packing.py,
packs.py; many files are read, hashed and packed a chunk at a time by two threads); a larger one
is written as a partial ``.<sha256>.<pid>-<random>.tmp`` in its fan-out folder, then renamed
into place, so re-logging unchanged content costs one hash and stores nothing. Files up to
``SMALL`` are read once into memory, hashed and written from there; bigger ones are hashed, then
copied (``shutil.copyfile``: kernel copy where possible) on a few worker threads (hashing and
copying release the GIL), with their size and mtime checked around the copy: a file that changes
while it is logged is an error, not a wrong blob. Memory stays bounded: a few chunks of small
files at a time, and large ones stream.

New blobs are not fsynced one by one: one ``syncfs`` makes all of them (and their renames) durable
before this writer's packs are indexed and the manifest naming them is published. The manifest
is the commit point; a blob that exists but no manifest names yet is only a candidate for gc. A
power loss before that sync may leave a blob short, so reuse checks the size too (a short blob is
rewritten).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import hashlib
import io
import itertools
import logging
import os
import secrets
import shutil
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, TypeVar, cast

from ...errors import CorruptDataError, StoreError, UsageError
from .fileio import CHUNK, hash_file, syncfs
from .layout import ArtifactPaths, is_sha256
from .locks import gc_lock
from .packindex import PackIndex
from .packing import BATCH_FILES, Added, AddReport, PackAppender
from .packs import PACKED_MAX, partial_packs, write_all

log = logging.getLogger(__name__)
SMALL = 1 << 20
GC_GRACE_S = 3600.0
LOCK_TIMEOUT_S = 600.0
PARTIAL_SUFFIX = ".tmp"


READERS = 2  # threads reading, hashing and packing small files
T = TypeVar("T")
R = TypeVar("R")


def _workers() -> int:
    return max(2, min(4, os.cpu_count() or 1))


def _pool(threads: int, what: str) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(threads, thread_name_prefix=f"localtrack-{what}")


def _in_order(
    pool: ThreadPoolExecutor | None, work: Callable[[T], R], items: Sequence[T]
) -> Iterator[tuple[T, R]]:
    """(item, work(item)) in order, run on `pool` (at most two per thread at once) or here."""
    if pool is None:
        yield from ((item, work(item)) for item in items)
        return
    running: deque[tuple[T, Future[R]]] = deque()
    for item in items:
        running.append((item, pool.submit(work, item)))
        if len(running) >= 2 * READERS:
            first, done = running.popleft()
            yield first, done.result()
    while running:
        first, done = running.popleft()
        yield first, done.result()


class BlobStore:
    """The blob area of one store."""

    def __init__(self, paths: ArtifactPaths) -> None:
        self.paths = paths
        self._root = str(paths.blobs)
        self.index = PackIndex(paths.pack_index)
        self.appender = PackAppender(paths.packs, self.index)  # this writer's packs
        self._made: set[str] = set()  # fan-out folders known to exist (one mkdir each)
        self._fans: set[str] | None = None  # fan-out folder names, listed once per writer
        self._token = secrets.token_hex(4)  # partial names unique across processes and stores
        self._seq = itertools.count()  # ... and within this one (next() is atomic under the GIL)

    def single(self, sha256: str) -> Path | None:
        """The plain file of a blob stored on its own (None if it is packed or absent)."""
        path = self.paths.blob(sha256)
        return path if path.is_file() else None

    def has(self, sha256: str) -> bool:
        """Whether the blob is stored (single, packed, or in this writer's unsealed pack)."""
        return (
            self.paths.blob(sha256).exists()
            or sha256 in self.appender.unindexed
            or self.index.find(sha256) is not None
        )

    def open(self, sha256: str) -> BinaryIO:
        """The blob's bytes, from its single file or its pack; FileNotFoundError if absent."""
        single = self.single(sha256)
        if single is not None:
            return open(single, "rb")
        data = self.read_packed(sha256)
        if data is None:
            raise FileNotFoundError(f"blob {sha256} is not in {self.paths.blobs} or its packs")
        return io.BytesIO(data)

    def read_packed(self, sha256: str, fds: dict[str, int] | None = None) -> bytes | None:
        """A packed blob's bytes, None if it is not packed (`fds`: packs kept open by the
        caller, who closes them)."""
        found = self.index.find(sha256)
        if found is None:
            return None
        pack, offset, size = found
        fd = fds.get(pack) if fds is not None else None
        if fd is None:
            fd = os.open(self.paths.packs / pack, os.O_RDONLY)
            if fds is not None:
                fds[pack] = fd
        try:
            data = os.pread(fd, size, offset)
        finally:
            if fds is None:
                os.close(fd)
        if len(data) != size:
            raise CorruptDataError(f"pack {pack} is shorter than its index says (blob {sha256})")
        return data

    def _target(self, sha256: str) -> tuple[str, str]:
        """(fan-out folder, blob path) as strings: the hot path builds no Path objects."""
        fan = f"{self._root}/{sha256[:2]}"
        if fan not in self._made:
            os.makedirs(fan, exist_ok=True)
            self._made.add(fan)
            if self._fans is not None:
                self._fans.add(sha256[:2])
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

    def _stored(self, sha256: str, size: int | None) -> bool:
        """Whether a whole blob is stored, single (mtime refreshed) or packed."""
        if sha256 in self.appender.unindexed or self.index.find(sha256) is not None:
            return True
        return self._single_exists(sha256, size)

    def _single_exists(self, sha256: str, size: int | None) -> bool:
        """Whether a whole single blob file exists (its mtime refreshed: gc's grace)."""
        if self._fans is None:
            try:
                self._fans = set(os.listdir(self._root))
            except FileNotFoundError:
                self._fans = set()
        if sha256[:2] not in self._fans:
            return False  # no single blob can be there: no stat (one list per writer)
        return self._exists(f"{self._root}/{sha256[:2]}/{sha256}", size)

    def _reuse(self, sha256: str, report: AddReport, size: int | None = None) -> bool:
        """Whether the blob exists (counted as reused in `report` if so)."""
        if not is_sha256(sha256):
            raise UsageError(f"{sha256!r} is not a sha256 hex digest")
        found = self._stored(sha256, size)
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
        if len(data) <= PACKED_MAX:
            return sha, len(data), self.appender.append([(sha, data)], self._single_exists)[0]
        fan, target = self._target(sha)
        if self._exists(target, len(data)):
            return sha, len(data), False
        tmp = self._tmp(fan, sha)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
            try:
                write_all(fd, data)
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

        Files go a chunk (``BATCH_FILES``) at a time to ``READERS`` threads, each reading,
        hashing and packing the small files of its chunk: opening, reading, hashing over 2 KiB
        and the pack's write release the GIL, so two threads keep two cores busy (``tar`` keeps
        one). A file too big to pack is stored by the calling thread, or, over ``SMALL``, hashed
        and copied on worker threads beside the rest. The first failure stops the rest and is
        raised; blobs already written stay as gc candidates (nothing names them).
        """
        names = [os.fspath(s) for s in srcs]
        chunks = [names[i : i + BATCH_FILES] for i in range(0, len(names), BATCH_FILES)]
        results: list[Added | Future[Added]] = []
        readers = _pool(READERS, "read") if len(chunks) > 1 else None
        large: ThreadPoolExecutor | None = None
        try:
            store = functools.partial(
                self.appender.store_files, single=self._single_exists, error=self._error
            )
            for chunk, stored in _in_order(readers, store, chunks):
                if None not in stored:  # the common case: every file of the chunk was packed
                    results += cast("list[Added]", stored)
                    continue
                for name, got in zip(chunk, stored, strict=True):
                    if got is not None:
                        results.append(got)
                        continue
                    st = self._stat(name)
                    if st.st_size > SMALL and len(names) > 1:
                        large = large or _pool(_workers(), "blobs")
                        results.append(large.submit(self._add_one, name, st))
                    else:
                        results.append(self._add_one(name, st))
            done = [r.result() if isinstance(r, Future) else r for r in results]
        finally:
            for pool in (readers, large):
                if pool is not None:
                    pool.shutdown(wait=True, cancel_futures=True)
        report.count_all(done)
        return [(sha, size) for sha, size, _new in done]

    def _stat(self, name: str) -> os.stat_result:
        try:
            return os.stat(name)
        except OSError as exc:
            raise self._error(name, exc) from exc

    def make_durable(self, report: AddReport) -> None:
        """Seal this writer's pack, flush every new blob of `report` to disk, then index the
        packs: all before a manifest names them."""

        def flush() -> None:
            if report.pending_sync:
                syncfs(self.paths.dir)
                report.pending_sync = 0

        self.appender.make_durable(flush)

    # -- the gc lock ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
        """Held (shared) by a writer from its first blob until its version is published; packs
        it leaves unindexed (a failure before `make_durable`) are dropped on the way out."""
        with gc_lock(self.paths.gc_lock, fcntl.LOCK_SH, timeout):
            self._fans = None  # listed afresh by this writer
            try:
                yield
            finally:
                if self.appender.pending:
                    self.appender.abort()

    def collecting(
        self, timeout: float = LOCK_TIMEOUT_S
    ) -> contextlib.AbstractContextManager[None]:
        """Held (exclusive) by gc: no writer is between adding blobs and publishing."""
        return gc_lock(self.paths.gc_lock, fcntl.LOCK_EX, timeout)

    # -- listing and gc --------------------------------------------------------------------------

    def all_blobs(self) -> Iterator[str]:
        """The sha256 of every stored blob: single files, then packed ones."""
        yield from (p.name for p in self.single_blobs())
        for _pack, members in self.index.by_pack():
            yield from (sha for sha, _o, _s in members)

    def single_blobs(self) -> Iterator[Path]:
        try:
            fans = sorted(self.paths.blobs.iterdir())
        except FileNotFoundError:
            return
        for fan in fans:
            if len(fan.name) == 2 and fan.is_dir():
                yield from sorted(p for p in fan.iterdir() if not p.name.startswith("."))

    def incoming_files(self) -> list[Path]:
        """Partial blobs: ``.<sha256>.*.tmp`` in the fan-out folders, partial packs (and
        anything in ``incoming/``, where earlier versions wrote them)."""
        found: list[Path] = partial_packs(self.paths.packs)
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
