"""Fixed-size blocks of large blobs, read from the object store by byte range and kept on disk.

A shared-nothing replica (store/runcache.py) reads a blob of at least ``read_range_bytes`` by
range rather than whole: a chart of one key needs a Parquet shard's footer and that key's column
chunks, a browser seeking in a video needs the bytes it asked for. What is fetched is kept as
blocks of ``block_bytes`` (the last one shorter)::

    <cache>/blocks/<sha256[:2]>/<sha256>.<block number>     one block, written atomically

Missing neighbouring blocks of one read are fetched with one range request. A block is kept only
when it has exactly the length the blob's recorded size gives it: a whole-blob sha256 cannot be
checked on a range, so what is checked is the object's size (when the view is made, with a HEAD),
every block's length, and, above this layer, the file's own structure (a Parquet footer's magic
and declared length, and its page CRCs). Blobs under the threshold keep the whole-file path and
its sha256 check.

The blocks share the read cache's bound with the run views; ``RunCache`` evicts the least
recently used of both (``oldest`` / ``drop``). Thread-safe; processes sharing the directory
each keep their own order, and a block another process removed is fetched again.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import CorruptDataError

ReadRange = Callable[[str, int, int], bytes]  # (sha256, offset, length) -> bytes


@dataclass
class _Block:
    bytes: int
    used_at: float = 0.0  # time.monotonic() of the last read (0: found on disk at start)


class BlockCache:
    """Blocks of blobs on disk under `root`, fetched through `read_range` (see the module doc)."""

    def __init__(self, root: Path, read_range: ReadRange, block_bytes: int) -> None:
        if block_bytes < 1:
            raise ValueError("block_bytes must be at least 1")
        self.root = root
        self.block_bytes = block_bytes
        self._read_range = read_range
        self._lock = threading.Lock()
        self._lru: OrderedDict[tuple[str, int], _Block] | None = None
        self._bytes = 0  # the sum of the blocks' bytes in _lru
        self.fetched_bytes = 0  # bytes fetched from the blob store (for tests and logs)
        self.requests = 0  # range requests made

    # -- reading --------------------------------------------------------------------------------

    def read(self, sha256: str, size: int, offset: int, length: int, keep: bool = True) -> bytes:
        """Bytes [offset, offset + length) of the blob `sha256` of `size` bytes (fewer at its
        end); CorruptDataError when the store gives a block of the wrong length. `keep`: store
        the blocks fetched (a read bigger than the whole cache passes through instead)."""
        end = min(size, offset + max(0, length))
        if offset >= end:
            return b""
        first, last = offset // self.block_bytes, (end - 1) // self.block_bytes
        blocks = self._held(sha256, size, first, last)
        self._fetch_missing(sha256, size, blocks, first, keep)
        data = b"".join(b for b in blocks if b is not None)
        start = offset - first * self.block_bytes
        return data[start : start + (end - offset)]

    def _held(self, sha256: str, size: int, first: int, last: int) -> list[bytes | None]:
        """The blocks first..last found on disk whole (None where one is not)."""
        found: list[bytes | None] = []
        for number in range(first, last + 1):
            data = None
            with contextlib.suppress(FileNotFoundError):
                data = self._path(sha256, number).read_bytes()
            if data is not None and len(data) != self._length(size, number):
                data = None  # cut short somehow: fetched again
            if data is not None:
                self._touch(sha256, number, len(data))
            found.append(data)
        return found

    def _fetch_missing(
        self, sha256: str, size: int, blocks: list[bytes | None], first: int, keep: bool
    ) -> None:
        """Fill the None entries of `blocks`, one range request per run of missing blocks."""
        i = 0
        while i < len(blocks):
            if blocks[i] is not None:
                i += 1
                continue
            j = i
            while j < len(blocks) and blocks[j] is None:
                j += 1
            lo, hi = first + i, first + j - 1
            start = lo * self.block_bytes
            want = min(size, (hi + 1) * self.block_bytes) - start
            data = self._read_range(sha256, start, want)
            with self._lock:
                self.requests += 1
                self.fetched_bytes += len(data)
            if len(data) != want:
                raise CorruptDataError(
                    f"blob {sha256} changed: the object store gave {len(data):,} bytes at "
                    f"offset {start:,} where its recorded size of {size:,} bytes says {want:,}"
                )
            for n in range(lo, hi + 1):
                piece = data[(n - lo) * self.block_bytes : (n - lo + 1) * self.block_bytes]
                if keep:
                    self._store(sha256, n, piece)
                blocks[n - first] = piece
            i = j

    def _length(self, size: int, number: int) -> int:
        return max(0, min(self.block_bytes, size - number * self.block_bytes))

    def _path(self, sha256: str, number: int) -> Path:
        return self.root / sha256[:2] / f"{sha256}.{number}"

    def _store(self, sha256: str, number: int, data: bytes) -> None:
        """Write one block atomically (a reader never sees half of one)."""
        path = self._path(sha256, number)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            with open(partial, "wb") as out:
                out.write(data)
            os.replace(partial, path)
        except OSError:
            partial.unlink(missing_ok=True)
            raise
        self._touch(sha256, number, len(data))

    # -- the bound (driven by RunCache) ---------------------------------------------------------

    def _entries(self) -> OrderedDict[tuple[str, int], _Block]:
        """The blocks on disk, least recently used first (scanned once, on first use)."""
        with self._lock:
            if self._lru is not None:
                return self._lru
        found = []
        with contextlib.suppress(FileNotFoundError):
            for folder in os.scandir(self.root):
                for entry in os.scandir(folder.path):
                    sha, _, number = entry.name.partition(".")
                    if entry.name.startswith(".") or not number.isdigit():
                        with contextlib.suppress(OSError):  # a partial left by a crash
                            if time.time() - entry.stat().st_mtime > 3600:
                                os.unlink(entry.path)
                        continue
                    st = entry.stat()
                    found.append((st.st_mtime, (sha, int(number)), st.st_size))
        with self._lock:
            if self._lru is None:
                found.sort(key=lambda x: x[0])
                self._lru = OrderedDict((key, _Block(size)) for _, key, size in found)
                self._bytes = sum(size for _, _, size in found)
            return self._lru

    def _touch(self, sha256: str, number: int, size: int) -> None:
        lru = self._entries()
        with self._lock:
            old = lru.pop((sha256, number), None)
            self._bytes += size - (0 if old is None else old.bytes)
            lru[(sha256, number)] = _Block(size, time.monotonic())

    def held_bytes(self) -> int:
        """The bytes of every block held now."""
        self._entries()
        with self._lock:
            return self._bytes

    def oldest(self) -> tuple[tuple[str, int], float, int] | None:
        """(key, last use, bytes) of the least recently used block, or None when none is held."""
        lru = self._entries()
        with self._lock:
            for key, block in lru.items():
                return key, block.used_at, block.bytes
        return None

    def drop(self, key: tuple[str, int]) -> int:
        """Remove one block (readers holding its bytes keep them); the bytes it held."""
        lru = self._entries()
        with self._lock:
            block = lru.pop(key, None)
            self._bytes -= 0 if block is None else block.bytes
        with contextlib.suppress(FileNotFoundError):
            self._path(*key).unlink()
        return 0 if block is None else block.bytes

    def forget_blob(self, sha256: str) -> None:
        """Drop every block of one blob (it was found missing or changed in the store)."""
        lru = self._entries()
        with self._lock:
            keys = [key for key in lru if key[0] == sha256]
        for key in keys:
            self.drop(key)
