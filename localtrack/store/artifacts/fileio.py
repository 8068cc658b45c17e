"""Hashing files in bounded chunks, and flushing the blob area's file system once (having asked
the kernel early to start writing packs out)."""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20


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


def syncfs(directory: Path) -> None:
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


SYNC_FILE_RANGE_WRITE = 2


@functools.cache
def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    try:
        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None  # not Linux: the one syncfs (or sync) does it all
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return]


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing bytes of `fd` to disk now, without waiting: the syncfs
    before publishing then finds most of them written (it is what makes them durable)."""
    fn = _sync_file_range()
    if fn is not None:
        fn(fd, offset, length, SYNC_FILE_RANGE_WRITE)  # a refusal only means later writeback
