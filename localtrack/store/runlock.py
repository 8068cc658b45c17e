"""One lock per run, held against other threads and other processes while it is committed.

::

    <root>/ingest/locks/<run>.lock      flock'ed while one run is committed
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import ManifestError, StoreError
from .layout import is_valid_run_id

LOCK_TIMEOUT_S = 60.0
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
