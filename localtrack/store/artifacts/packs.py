"""Packs: small blobs appended to plain POSIX tar archives, found through a SQLite index.

A store of one file per blob pays for creating every file (about nine system calls and a rename
each), which for 4 KiB files costs more than the bytes. Blobs up to ``PACKED_MAX`` are instead
appended to a pack: an uncompressed ustar archive whose members are named by their sha256, so
``tar xf pack-<id>.tar`` yields the same plain files named by hash that single blobs are. A
writer appends to its own partial ``.pack-<id>.tar.tmp``; sealing writes the end-of-archive
blocks and renames it to ``pack-<id>.tar`` (then never changed, only removed or repacked by gc).
``index.sqlite`` maps sha256 → (pack, offset of the bytes, size); it is a cache of the packs'
own headers (``reindex`` rebuilds a pack's rows from its tar headers).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import secrets
import tarfile
import time
from pathlib import Path

from .layout import is_sha256

PACKED_MAX = 64 * 1024  # blobs up to this size are packed; larger ones stay single files
PACK_TARGET = 256 * 1024 * 1024  # a pack is sealed once it holds this many bytes
BLOCK = 512
PACK_RE = re.compile(r"pack-[0-9a-f-]+\.tar", re.ASCII)
PARTIAL_PACK_RE = re.compile(r"\.pack-[0-9a-f-]+\.tar\.tmp", re.ASCII)
Member = tuple[str, int, int]  # (sha256, offset of its bytes in the pack, size)
_PADS = [bytes(n) for n in range(BLOCK)]


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to `fd` (a short write continues)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _header_template(mtime: int) -> tuple[bytearray, int]:
    """A ustar header with an empty name and size (filled per member) and its byte sum."""
    h = bytearray(BLOCK)
    h[100:108] = b"0000444\0"  # mode
    h[108:116] = b"0000000\0"  # uid
    h[116:124] = b"0000000\0"  # gid
    h[136:148] = b"%011o\0" % mtime
    h[148:156] = b" " * 8  # checksum, counted as spaces
    h[156:157] = b"0"  # a regular file
    h[257:265] = b"ustar\x0000"
    h[265:275] = b"localtrack"
    h[297:307] = b"localtrack"
    h[329:337] = b"0000000\0"
    h[337:345] = b"0000000\0"
    return h, sum(h)


class PackWriter:
    """One partial pack being appended to; `seal` makes it a pack."""

    _seq = itertools.count()

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        ident = f"{time.time_ns():x}-{os.getpid():x}-{secrets.token_hex(4)}-{next(self._seq):x}"
        self.name = f"pack-{ident}.tar"
        self.path = folder / self.name
        self.partial = folder / f".{self.name}.tmp"
        self.fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        self.offset = 0
        self.members: list[Member] = []
        template, self._sum = _header_template(int(time.time()))
        self._middle = bytes(template[64:124])  # after the name, before the size
        self._mtime = bytes(template[136:148])
        self._tail = bytes(template[156:])
        self._sizes: dict[int, tuple[bytes, int]] = {}  # size -> (its header field, byte sum)

    def member(self, sha256: str, data: bytes) -> bytes:
        """The bytes that append `data` as member `sha256` (call `appended` once written)."""
        name = sha256.encode()
        sized = self._sizes.get(len(data))
        if sized is None:
            field = b"%011o\0" % len(data)
            sized = self._sizes[len(data)] = (field, self._sum + sum(field))
        checksum = b"%06o\0 " % (sized[1] + sum(name))
        pad = _PADS[-len(data) % BLOCK]
        return b"".join(
            (name, self._middle, sized[0], self._mtime, checksum, self._tail, data, pad)
        )

    def appended(self, sha256: str, size: int, written: int) -> None:
        self.members.append((sha256, self.offset + BLOCK, size))
        self.offset += written

    def append_member(self, sha256: str, data: bytes) -> bytes:
        """`member`, counted as appended: the caller writes the bytes next, in order."""
        piece = self.member(sha256, data)
        self.members.append((sha256, self.offset + BLOCK, len(data)))
        self.offset += len(piece)
        return piece

    @property
    def full(self) -> bool:
        return self.offset >= PACK_TARGET

    def seal(self) -> None:
        """End the archive and give it its name (not yet durable: the caller syncs)."""
        try:
            os.write(self.fd, bytes(2 * BLOCK))
        finally:
            os.close(self.fd)
            self.fd = -1
        os.rename(self.partial, self.path)

    def abort(self) -> None:
        """Drop the pack (partial or sealed): nothing names its blobs."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.partial.unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)


def read_members(path: Path) -> list[Member]:
    """The sha256-named regular members of the tar archive at `path` (a truncated tail ends it)."""
    out: list[Member] = []
    with contextlib.suppress(tarfile.ReadError), tarfile.open(path, "r:") as tar:
        while True:
            try:
                info = tar.next()
            except tarfile.TarError:
                break
            if info is None:
                break
            if info.isreg() and is_sha256(info.name):
                out.append((info.name, info.offset_data, info.size))
    return out


def sealed_packs(folder: Path) -> list[str]:
    """Names of the sealed packs in `folder`, sorted."""
    try:
        return sorted(n for n in os.listdir(folder) if PACK_RE.fullmatch(n))
    except FileNotFoundError:
        return []


def partial_packs(folder: Path) -> list[Path]:
    try:
        return sorted(folder / n for n in os.listdir(folder) if PARTIAL_PACK_RE.fullmatch(n))
    except FileNotFoundError:
        return []
