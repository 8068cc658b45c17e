"""Run locks: one held while a run is committed, one held by the process writing a live run.

::

    <root>/ingest/locks/<run>.lock      flock'ed while one run is committed
    <root>/locks/<run>.lock             flock'ed by the one process writing the live run, from
                                        before init() creates or resumes it until finish()

The lock files stay behind (empty); only the flock on them means anything. The kernel drops a
flock when its process dies, so a killed writer never leaves its run locked.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import ManifestError, StoreError
from .layout import is_valid_run_id

log = logging.getLogger(__name__)
LOCK_TIMEOUT_S = 60.0
WRITER_LOCKS_DIR = "locks"
_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


@contextlib.contextmanager
def run_lock(locks: Path, run_id: str, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the run's lock in the folder `locks` against other threads and processes (flock)."""
    if not is_valid_run_id(run_id):
        raise ManifestError(f"run id {run_id!r} is not a valid run id")
    locks.mkdir(parents=True, exist_ok=True)
    key = str(locks / run_id)
    with _process_locks_guard:
        thread_lock = _process_locks.setdefault(key, threading.Lock())
    if not thread_lock.acquire(timeout=timeout):
        raise StoreError(f"run {run_id} is being committed by another request; try again")
    try:
        with open(locks / f"{run_id}.lock", "a+b") as f:
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


class WriterLock:
    """The live writer's lock on one run: exclusive across processes and across runs in one."""

    def __init__(self, root: Path, run_id: str) -> None:
        if not is_valid_run_id(run_id):
            raise ManifestError(f"run id {run_id!r} is not a valid run id")
        self.path = root / WRITER_LOCKS_DIR / f"{run_id}.lock"
        self._fd = -1

    def acquire(self) -> bool:
        """Take the lock without waiting; False when another writer holds it.

        Where the file system has no working flock (some network mounts), the lock is skipped
        with a debug message and True is returned: the heartbeat check still applies there.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            log.debug("no writer lock for %s (%s); relying on the heartbeat", self.path, exc)
            return True
        self._fd = fd
        return True

    def release(self) -> None:
        """Let the next writer in (idempotent)."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            with contextlib.suppress(OSError):  # unlock first: a forked child may share the fd
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
