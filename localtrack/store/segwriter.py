"""The training thread's side of the tail segments (segments.py): appending records to a mapping.

``TailSegments.appender(keys, kinds)`` returns a function that packs one row straight into the
current chunk: one cached ``struct.Struct`` per keyset, a CRC, no Python object kept. When a chunk
is full the training thread maps the next one itself (``posix_fallocate`` first, so a full disk is
an ``OSError`` here, never a ``SIGBUS`` later). If no chunk file can be allocated, the next chunk is
an in-memory buffer instead ("volatile": the writer seals it into a shard as soon as it can), one
warning says so, and logging goes on; a later chunk tries the disk again. Memory is bounded: once
volatile chunks hold ``MAX_VOLATILE_BYTES``, the next chunk waits (back-pressure: ``log()`` blocks,
with one warning) until the writer has written some of them or a chunk file can be allocated,
so no row whose ``log()`` returned is ever dropped.

The writer thread reads ``chunks`` (appended to here; released by the writer once sealed) and
each chunk's ``pos``: every byte below ``pos`` is a whole record.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .segformat import (
    CRC,
    HEADER,
    SYNCED_END,
    SYNCED_END_OFFSET,
    Keyset,
    chunk_path,
    frame_definition,
    header,
    row_struct,
)

MAX_VOLATILE_BYTES = 256 * 1024 * 1024  # in-memory chunks (no file could be allocated) at most
MIN_CHUNK_BYTES = 64 * 1024
MAX_CHUNK_BYTES = 16 * 1024 * 1024
BYTES_PER_SCALAR = 12  # about what a row of 10 scalars takes per value


def chunk_bytes_for(seal_scalars: int) -> int:
    """A chunk holds about one seal's worth of scalars."""
    return max(MIN_CHUNK_BYTES, min(MAX_CHUNK_BYTES, seal_scalars * BYTES_PER_SCALAR))


def allocate(fd: int, size: int) -> None:
    """Reserve the file's blocks (a seam for tests that simulate a full disk)."""
    os.posix_fallocate(fd, 0, size)


class Chunk:
    """One chunk: a mapped file, or a volatile in-memory buffer when no file could be allocated."""

    __slots__ = (
        "buf",
        "decoded",
        "fd",
        "mv",
        "number",
        "path",
        "pos",
        "prelude_end",
        "size",
        "synced",
        "volatile",
    )

    def __init__(self, number: int, path: Path | None, buf: Any, fd: int) -> None:
        self.number = number
        self.path = path
        self.buf = buf
        self.mv = memoryview(buf)
        self.size = len(buf)
        self.fd = fd
        self.pos = HEADER.size
        self.prelude_end = HEADER.size  # where the definitions the chunk starts with end
        self.decoded = HEADER.size  # the writer thread has read records up to here
        self.synced = HEADER.size  # ... and fsynced up to here
        self.volatile = path is None

    def sync(self, end: int) -> None:
        """Called by the writer thread: make bytes up to `end` durable (file chunks only)."""
        if self.fd >= 0 and end > self.synced:
            SYNCED_END.pack_into(self.buf, SYNCED_END_OFFSET, end)
            os.fsync(self.fd)
            self.synced = end

    def release(self, unlink: bool) -> None:
        """Unmap and close (and delete the file): the writer sealed it, or the run is over."""
        self.mv.release()
        if isinstance(self.buf, mmap.mmap):
            self.buf.close()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if unlink and self.path is not None:
            self.path.unlink(missing_ok=True)


class TailSegments:
    """The mapped tail of one run segment: chunks, keysets, and the row appenders."""

    def __init__(
        self,
        run_dir: Path,
        segment: int,
        first_number: int,
        chunk_bytes: int,
        warn: Callable[[str, str], None],
        recovered: Callable[[str], None],
    ) -> None:
        self.run_dir = run_dir
        self.segment = segment
        self.chunk_bytes = chunk_bytes
        self.chunks: list[Chunk] = []
        self.keysets: list[Keyset] = []  # keyset id i + 1 is keysets[i]
        self._ids: dict[Keyset, int] = {}
        self._definitions: list[bytes] = []
        self._packers: dict[int, struct.Struct] = {}
        self._next_number = first_number
        self._warn = warn
        self._recovered = recovered
        self.current: Chunk | None = None
        self.closed = False
        self.roll_wanted = False  # set by the writer: seal-interval reached on a slow run
        # set by the writer: wait up to the given seconds for volatile chunks to be written;
        # False when waiting is pointless (the writer is gone, or it is the caller)
        self.room_wait: Callable[[float], bool] | None = None
        # True while the training thread waits in flush(): then the writer may append too
        self.handed_over = False
        self.waiting_for_room = False  # a roll waits for in-memory chunks to be written
        self.handover = threading.Lock()  # held by the writer while it appends

    # -- the hot path ------------------------------------------------------------------------

    def row_packer(
        self, keys: tuple[str, ...], kinds: tuple[str, ...]
    ) -> tuple[Callable[..., None], int, int, int]:
        """How to append a row of this keyset: ``(pack_into, length, keyset id, record size)``.

        ``log()`` inlines the append (run.log's fast path): ``pack_into(record, 4, length,
        keyset_id, step, wall, *values)`` into a scratch record of `size` bytes, its CRC (of
        bytes 4 on) at 0, the record copied to ``chunk.buf[pos : pos + size]``, then ``chunk.pos
        = pos + size`` — when ``pos + size <= chunk.size``; otherwise ``roll(size)`` first.
        ``appender`` does the same in a function.
        """
        keyset_id = self.intern(Keyset(keys, kinds))
        packer = row_struct(len(keys))
        if self.current is None:
            self.roll(packer.size + 4)
        return packer.pack_into, packer.size - 4, keyset_id, packer.size + 4

    def appender(self, keys: tuple[str, ...], kinds: tuple[str, ...]) -> Callable[[int, Any], None]:
        """A function appending (step, {key: value} in keyset order) as one row of this keyset."""
        pack, length, keyset_id, size = self.row_packer(keys, kinds)
        crc_pack = CRC.pack_into
        crc32 = zlib.crc32
        now = time.time
        segs = self

        def append(step: int, row: Any) -> None:
            chunk = segs.current
            assert chunk is not None
            pos = chunk.pos
            if pos + size > chunk.size:
                chunk = segs.roll(size)
                pos = chunk.pos
            pack(chunk.buf, pos + 4, length, keyset_id, step, now(), *row.values())
            crc_pack(chunk.buf, pos, crc32(chunk.mv[pos + 4 : pos + size]))
            chunk.pos = pos + size

        return append

    def write(
        self, step: int, wall: float, keys: tuple[str, ...], kinds: tuple[str, ...], values: Any
    ) -> None:
        """Append one row with its own wall time (the general path: not cached)."""
        keyset_id = self.intern(Keyset(keys, kinds))
        packer = self._packers.get(keyset_id)
        if packer is None:
            packer = self._packers[keyset_id] = row_struct(len(keys))
        size = packer.size + 4
        chunk = self.current
        if chunk is None or chunk.pos + size > len(chunk.buf):
            chunk = self.roll(size)
        pos = chunk.pos
        packer.pack_into(chunk.buf, pos + 4, packer.size - 4, keyset_id, step, wall, *values)
        CRC.pack_into(chunk.buf, pos, zlib.crc32(chunk.mv[pos + 4 : pos + size]))
        chunk.pos = pos + size

    def intern(self, keyset: Keyset) -> int:
        """The id of a keyset; a new one is defined in the current chunk before any row uses it."""
        keyset_id = self._ids.get(keyset)
        if keyset_id is not None:
            return keyset_id
        keyset_id = len(self.keysets) + 1
        record = frame_definition(keyset_id, keyset)
        self.keysets.append(keyset)
        self._ids[keyset] = keyset_id
        self._definitions.append(record)
        chunk = self.current
        if chunk is not None:
            if chunk.pos + len(record) > len(chunk.buf):
                self.roll(0)  # the new chunk starts with every definition, this one included
            else:
                chunk.buf[chunk.pos : chunk.pos + len(record)] = record
                chunk.pos += len(record)
        return keyset_id

    # -- chunks ------------------------------------------------------------------------------

    def roll(self, need: int) -> Chunk:
        """Start the next chunk (with every keyset definition) with room for `need` bytes."""
        if self.closed:
            raise RuntimeError("the run's tail segments are closed (the run is finished)")
        number = self._next_number
        self._next_number += 1
        prelude = header(self.segment, number) + b"".join(self._definitions)
        size = max(self.chunk_bytes, len(prelude) + need)
        chunk = self._open_file(number, size) or self._open_memory(number, size)
        chunk.buf[: len(prelude)] = prelude
        chunk.pos = chunk.prelude_end = len(prelude)
        self.chunks.append(chunk)
        self.current = chunk
        return chunk

    def _open_file(self, number: int, size: int) -> Chunk | None:
        path = chunk_path(self.run_dir, self.segment, number)
        fd = -1
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            allocate(fd, size)
            buf = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except OSError as exc:
            if fd >= 0:
                os.close(fd)
                with contextlib.suppress(OSError):
                    path.unlink()
            self._warn(
                "segment",
                f"cannot allocate tail segment {path.name} ({exc}); logging continues in "
                "memory and is written as soon as the disk allows",
            )
            return None
        self._recovered("segment")
        return Chunk(number, path, buf, fd)

    def _open_memory(self, number: int, size: int) -> Chunk:
        """An in-memory chunk, once volatile chunks leave room for it (back-pressure)."""
        try:
            return self._memory_when_room(number, size)
        finally:
            self.waiting_for_room = False

    def _memory_when_room(self, number: int, size: int) -> Chunk:
        while self.room_wait is not None:
            held = sum(c.size for c in list(self.chunks) if c.volatile)
            if held + size <= MAX_VOLATILE_BYTES:
                break
            self.waiting_for_room = True  # the writer must not start a chunk meanwhile
            self._warn(
                "memory",
                f"the disk is full and {held / 2**20:.0f} MiB of logged rows wait in memory, "
                f"the limit: log() waits until they are written (free space on the disk of "
                f"{self.run_dir}); nothing logged so far is lost",
            )
            if not self.room_wait(1.0):
                break
            chunk = self._open_file(number, size)
            if chunk is not None:
                self._recovered("memory")
                return chunk
        self._recovered("memory")
        return Chunk(number, None, bytearray(size), -1)

    def hand_over(self) -> None:
        """The training thread will append nothing until take_back(): the writer may."""
        self.handed_over = True

    def take_back(self) -> None:
        """The training thread appends again (after waiting for an append under way)."""
        with self.handover:
            self.handed_over = False
        self.waiting_for_room = False  # a roll waits for in-memory chunks to be written

    def close(self) -> None:
        """No more rows: the training thread is done (finish)."""
        self.closed = True
