"""The tail log: an append-only file of CRC-framed records, the writer's crash-safety net.

File layout::

    MAGIC (8 bytes: b"LTTAIL1\\n")
    record*    where record = crc32 (u32 LE) | length (u32 LE) | type (u8) | payload (length bytes)

The CRC (zlib.crc32) covers the type byte and the payload. Corruption policy: a reader stops at
the first record that is torn (runs past the end of the file) or fails its CRC; everything before it
is kept. `repair()` truncates the file there so that appends continue after the last whole record.
"""

from __future__ import annotations

import contextlib
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"LTTAIL1\n"
_HEADER = struct.Struct("<IIB")
MAX_RECORD_BYTES = 1 << 30

RECORD_METRICS = 1


@dataclass(frozen=True)
class TailRecord:
    """One whole record read back from a tail log."""

    type: int
    payload: bytes
    offset: int


@dataclass(frozen=True)
class TailScan:
    """What a read of a tail log found: whole records, where they end, and what follows them."""

    records: list[TailRecord]
    valid_end: int
    file_size: int

    @property
    def damaged_bytes(self) -> int:
        """Bytes after the last whole record (a torn write or garbage)."""
        return self.file_size - self.valid_end


def frame(record_type: int, payload: bytes) -> bytes:
    """Encode one record: header followed by payload."""
    body_crc = zlib.crc32(payload, zlib.crc32(bytes([record_type])))
    return _HEADER.pack(body_crc, len(payload), record_type) + payload


def _iter_records(data: bytes) -> Iterator[TailRecord]:
    pos = len(MAGIC)
    while pos + _HEADER.size <= len(data):
        crc, length, rtype = _HEADER.unpack_from(data, pos)
        start = pos + _HEADER.size
        end = start + length
        if length > MAX_RECORD_BYTES or end > len(data):
            return
        payload = data[start:end]
        if zlib.crc32(payload, zlib.crc32(bytes([rtype]))) != crc:
            return
        yield TailRecord(rtype, payload, pos)
        pos = end


def scan_bytes(data: bytes) -> TailScan:
    """Parse a tail log's bytes, stopping at the first torn or corrupt record."""
    if not data.startswith(MAGIC):
        return TailScan([], 0, len(data))
    records = list(_iter_records(data))
    if records:
        last = records[-1]
        valid_end = last.offset + _HEADER.size + len(last.payload)
    else:
        valid_end = len(MAGIC)
    return TailScan(records, valid_end, len(data))


def scan(path: Path) -> TailScan:
    """Read a tail log; a missing file reads as empty. Never raises on damaged content."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return TailScan([], 0, 0)
    return scan_bytes(data)


def repair(path: Path) -> int:
    """Truncate a tail log after its last whole record; return how many bytes were cut."""
    result = scan(path)
    if result.file_size == 0 or result.damaged_bytes == 0:
        return 0
    with open(path, "r+b") as f:
        if result.valid_end == 0:
            f.truncate(0)
            f.write(MAGIC)
        else:
            f.truncate(result.valid_end)
        f.flush()
        os.fsync(f.fileno())
    return result.damaged_bytes


class TailWriter:
    """Appends records to one tail log. Used by exactly one writer thread.

    A failed append (disk full, I/O error) truncates the file back to where it was, so a later
    retry never leaves a torn record in the middle of the file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        repair(path)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self._size = os.lseek(self._fd, 0, os.SEEK_END)
        if self._size == 0:
            self._write_all(MAGIC)

    def _write_all(self, data: bytes) -> None:
        start = self._size
        try:
            os.lseek(self._fd, start, os.SEEK_SET)
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError:
            self._truncate_quietly(start)
            raise
        self._size = start + len(data)

    def _truncate_quietly(self, size: int) -> None:
        # on failure the reader stops at the torn record, and the next append overwrites it
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, size)

    def append(self, record_type: int, payload: bytes) -> None:
        """Append one record (not yet fsynced: call sync())."""
        self._write_all(frame(record_type, payload))

    def sync(self) -> None:
        os.fsync(self._fd)

    def reset(self) -> None:
        """Drop every record (they are sealed into a shard now) and keep appending from empty."""
        os.ftruncate(self._fd, len(MAGIC))
        self._size = len(MAGIC)
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
