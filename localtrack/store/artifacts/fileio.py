"""Hashing files in bounded chunks, and flushing the blob area's file system once."""

from __future__ import annotations

import ctypes
import hashlib
import os
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
