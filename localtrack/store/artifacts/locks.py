"""The artifact area's gc lock: shared by writers, exclusive for gc."""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Iterator
from pathlib import Path

from ...errors import StoreError


@contextlib.contextmanager
def gc_lock(path: Path, kind: int, timeout: float) -> Iterator[None]:
    """Hold flock `kind` (LOCK_SH or LOCK_EX) on `path`; StoreError after `timeout` seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as f:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(f.fileno(), kind | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    what = "a gc" if kind == fcntl.LOCK_SH else "an artifact writer"
                    raise StoreError(f"{path} is held by {what}; try again later") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
