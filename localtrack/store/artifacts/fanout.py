"""Writing small blobs with few system calls: the hot path of ``add_dir`` on many small files.

A batch of adds holds one open descriptor per fan-out folder (``blobs/<sha[0:2]>/``), so every
operation on a blob is relative to its folder: no path walk from the root per call. A small file
is read once into a reusable buffer (no ``stat`` first: a short read of a regular file is its
end), hashed from there, and, when no whole blob of that hash exists, written as an unnamed file
(``O_TMPFILE``) that is linked under its name only when whole, so a blob under its name is always
complete and a killed writer leaves nothing behind. Where the file system has no ``O_TMPFILE``
the blob is written under a partial name and renamed, as larger blobs are.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import os
import secrets
import threading

PARTIAL_SUFFIX = ".tmp"
_NO_TMPFILE = (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT, errno.EPERM)
_local = threading.local()


def read_small(src: str, limit: int) -> memoryview | None:
    """The bytes of `src` (a view of this thread's buffer, valid until its next read), or None
    when it holds more than `limit` bytes."""
    buf = getattr(_local, "buf", None)
    if buf is None or len(buf) != limit + 1:
        buf = _local.buf = bytearray(limit + 1)
    fd = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    try:
        n = os.readv(fd, [buf])
    finally:
        os.close(fd)
    return None if n > limit else memoryview(buf)[:n]


def _write_all(fd: int, data: memoryview | bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class FanDirs:
    """The fan-out folders of one blob area, opened for one batch of adds (close() after)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._fds: dict[str, int] = {}
        self._lock = threading.Lock()
        self._tmpfile = hasattr(os, "O_TMPFILE")
        self._token = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._seq = itertools.count()

    def __enter__(self) -> FanDirs:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            fds, self._fds = self._fds, {}
        for fd in fds.values():
            os.close(fd)

    def fd(self, sha256: str) -> int:
        """The open folder of `sha256`'s blob (made if missing)."""
        prefix = sha256[:2]
        found = self._fds.get(prefix)
        if found is not None:
            return found
        with self._lock:
            if prefix not in self._fds:
                path = f"{self.root}/{prefix}"
                os.makedirs(path, exist_ok=True)
                self._fds[prefix] = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            return self._fds[prefix]

    def exists(self, sha256: str, size: int) -> bool:
        """Whether a whole blob (of `size` bytes) is there; if so its mtime is refreshed (gc's
        grace). A short one (a power loss before its sync) counts as missing."""
        dfd = self.fd(sha256)
        try:
            if os.stat(sha256, dir_fd=dfd).st_size != size:
                return False
            os.utime(sha256, dir_fd=dfd)
        except FileNotFoundError:
            return False
        except PermissionError:
            pass  # a blob someone else owns: it exists, and gc's lock still protects it
        return True

    def add(self, data: memoryview) -> tuple[str, int, bool]:
        """Store `data` unless a whole blob of it exists: (sha256, size, whether written)."""
        sha = hashlib.sha256(data).hexdigest()
        if self.exists(sha, len(data)):
            return sha, len(data), False
        if self._tmpfile:
            try:
                self._link_unnamed(sha, data)
                return sha, len(data), True
            except OSError as exc:
                if exc.errno not in _NO_TMPFILE:
                    raise
                self._tmpfile = False  # this file system has none: partial names from now on
        self._rename_partial(sha, data)
        return sha, len(data), True

    def _link_unnamed(self, sha: str, data: memoryview) -> None:
        dfd = self.fd(sha)
        fd = os.open(".", os.O_WRONLY | os.O_TMPFILE | os.O_CLOEXEC, 0o444, dir_fd=dfd)
        try:
            _write_all(fd, data)
            try:  # linkat(AT_SYMLINK_FOLLOW): the name appears with the whole content
                os.link(f"/proc/self/fd/{fd}", sha, dst_dir_fd=dfd)
            except FileExistsError:
                self._replace_short(sha, fd)
        finally:
            os.close(fd)

    def _replace_short(self, sha: str, fd: int) -> None:
        """A blob of that name appeared meanwhile (another writer) or is short (a power loss):
        a whole one stays; a short one is replaced through a partial name."""
        if self.exists(sha, os.fstat(fd).st_size):
            return
        dfd = self.fd(sha)
        tmp = f".{sha}.{self._token}-{next(self._seq)}{PARTIAL_SUFFIX}"
        os.link(f"/proc/self/fd/{fd}", tmp, dst_dir_fd=dfd)
        try:
            os.rename(tmp, sha, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dfd)
            raise

    def _rename_partial(self, sha: str, data: memoryview) -> None:
        dfd = self.fd(sha)
        tmp = f".{sha}.{self._token}-{next(self._seq)}{PARTIAL_SUFFIX}"
        try:
            fd = os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444, dir_fd=dfd
            )
            try:
                _write_all(fd, data)
            finally:
                os.close(fd)
            os.rename(tmp, sha, src_dir_fd=dfd, dst_dir_fd=dfd)  # read-only: links cannot edit it
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dfd)
            raise
