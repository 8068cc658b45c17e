"""Files of a cached run view that are read by byte range instead of lying on disk.

A shared-nothing replica's read cache (store/runcache.py) makes a run's directory from the
object store, but leaves a large shard or media file out of it: the view lists it as *ranged*
(its sha256 and size), and its bytes are read on demand, by range, through the cache's blocks
(store/blockcache.py). The readers that know this open a run's file with ``open_source(path)``:
the path itself when the file is on disk, else a read-only, seekable binary file over the
blob's ranges (``RangeFile``: pyarrow reads a Parquet footer and column chunks through it, and
the web layer answers HTTP ``Range`` requests from it). ``ranged_names`` lists a directory's
ranged files, so listings (``list_shards``, ``media.blob_path``) see them.

Only a ``RunCache`` registers here; in a plain store nothing is ranged and each call is one
dictionary lookup.
"""

from __future__ import annotations

import io
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..errors import CorruptDataError

RANGED_FILE_NAMES = ("metrics/*.parquet", "media/blobs/* (not .parquet)")


def is_rangeable(name: str) -> bool:
    """Whether a run file may be read by range: a shard, or a media file other than a table
    (tables and every other file are read whole and parsed whole)."""
    if name.startswith("metrics/"):
        return name.endswith(".parquet") and name.count("/") == 1
    if name.startswith("media/blobs/"):
        return not name.endswith(".parquet") and name.count("/") == 2
    return False


@dataclass(frozen=True)
class RangedBlob:
    """A run file read by range: its blob, its size, and how to read a range of it."""

    name: str
    sha256: str
    size: int
    read_at: Callable[[int, int], bytes]  # (offset, length) -> bytes; CorruptDataError if lost
    block_bytes: int

    def open(self) -> RangeFile:
        return RangeFile(self)


class RangedViews(Protocol):
    """What ``RunCache`` offers this module (kept apart so neither imports the other's guts)."""

    views: Path

    def ranged_blob(self, digest: str, name: str) -> RangedBlob | None: ...

    def ranged_names(self, digest: str, folder: str) -> list[str]: ...


_REGISTERED: weakref.WeakValueDictionary[str, RangedViews] = weakref.WeakValueDictionary()
_LOCK = threading.Lock()


def register(cache: RangedViews) -> None:
    """Let readers find `cache`'s ranged files by path (the cache stays owned by its caller)."""
    with _LOCK:
        _REGISTERED[str(cache.views)] = cache


def _locate(path: Path) -> tuple[RangedViews, str, str] | None:
    """(cache, view digest, file name inside the run) of a path inside a registered view."""
    if not _REGISTERED:
        return None
    with _LOCK:
        caches = list(_REGISTERED.items())
    text = str(path)
    for views, cache in caches:
        if text.startswith(views + "/"):
            parts = text[len(views) + 1 :].split("/")
            if len(parts) >= 3:
                return cache, parts[0], "/".join(parts[2:])
    return None


def ranged_blob(path: Path) -> RangedBlob | None:
    """The ranged file at `path` (a path inside a cached view), or None when it is not one."""
    found = _locate(path)
    return None if found is None else found[0].ranged_blob(found[1], found[2])


def ranged_names(directory: Path) -> list[str]:
    """The names of the ranged files directly in `directory` (a folder of a cached view)."""
    found = _locate(directory / "-")
    if found is None:
        return []
    cache, digest, name = found
    return cache.ranged_names(digest, name.rpartition("/")[0])


def open_source(path: Path) -> Path | RangeFile:
    """`path` when the file is on disk, else a ``RangeFile`` over its blob when it is a ranged
    file; FileNotFoundError when it is neither."""
    if path.is_file():
        return path
    blob = ranged_blob(path)
    if blob is None:
        raise FileNotFoundError(f"no file {path}")
    return blob.open()


def is_file(path: Path) -> bool:
    """Whether `path` is a file on disk or a ranged file."""
    return path.is_file() or ranged_blob(path) is not None


class RangeFile(io.RawIOBase):
    """A read-only, seekable binary file over a ranged blob; keeps the last block it read, so
    small sequential reads (a web server's) cost one fetch per block, not per call."""

    def __init__(self, blob: RangedBlob) -> None:
        super().__init__()
        self.blob = blob
        self.name = blob.name
        self._pos = 0
        self._held_at = -1
        self._held = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def size(self) -> int:
        return self.blob.size

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.blob.size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        want = min(len(buffer), max(0, self.blob.size - self._pos))
        if want == 0:
            return 0
        data = self._read(self._pos, want)
        memoryview(buffer)[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def _read(self, offset: int, length: int) -> bytes:
        block = self.blob.block_bytes
        start = offset - offset % block
        if length >= block:
            return self.blob.read_at(offset, length)  # big reads (a column chunk) go straight
        if self._held_at != start:
            self._held = self.blob.read_at(start, block)
            self._held_at = start
        piece = self._held[offset - start : offset - start + length]
        if len(piece) < length:  # the read crosses into the next block
            piece += self._read(start + block, length - len(piece))
        if len(piece) != length:
            raise CorruptDataError(f"{self.name}: blob {self.blob.sha256} ended early")
        return piece

    def readall(self) -> bytes:
        rest = self.blob.size - self._pos
        data = self._read(self._pos, rest) if rest > 0 else b""
        self._pos += len(data)
        return data
