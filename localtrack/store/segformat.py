"""The tail segments' on-disk format: memory-mapped files ``log()`` appends records to directly.

A run segment's live tail is a sequence of *chunks*, ``tail-<segment>-<chunk>.seg`` (format
version 1, docs/format.md). Each is allocated with ``posix_fallocate`` and mapped ``MAP_SHARED``;
what the training thread stores into the mapping is in the kernel's page cache at once, so a
killed process loses none of it. The background writer seals finished chunks into Parquet shards
(the chunk number is the shard's batch number) and deletes them.

Chunk layout (little-endian)::

    header   magic b"LTSEG1\\n\\0" | u32 run segment | u32 chunk number | u64 synced end | u64 0
    record*  crc32 u32 | length u32 | keyset u32 | body (length - 4 bytes)
    zeros    the unused, pre-allocated rest

The CRC (zlib.crc32) covers the length, keyset and body. Keyset 0 is a definition, body = u32 id
+ UTF-8 JSON ``{"keys": [...], "kinds": [...]}``; keyset ids >= 1 are rows, body = i64 step +
f64 wall time (Unix seconds) + one f64 per key of the keyset. Every chunk repeats the definitions
it uses before its first row, so each chunk reads on its own. A reader stops at the first record
whose length is 0 (the zero fill), runs past the end, or fails its CRC (a torn write).

This module is what the training thread needs (framing, names); segments.py decodes.
"""

from __future__ import annotations

import json
import os
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

FORMAT_VERSION = 1
MAGIC = b"LTSEG1\n\0"
HEADER = struct.Struct("<8sIIQQ")
SYNCED_END = struct.Struct("<Q")
SYNCED_END_OFFSET = 16
FRAME = struct.Struct("<III")  # crc, length, keyset
CRC = struct.Struct("<I")
DEF_ID = struct.Struct("<I")
ROW_FIXED = 4 + 8 + 8  # keyset, step, wall time: the length of a row without its values
_NAME_RE = re.compile(r"tail-(\d{4})-(\d{9})\.seg", re.ASCII)


@dataclass(frozen=True)
class Keyset:
    """The keys (in record order) and their kinds ("bool", "int", "float") of one row shape."""

    keys: tuple[str, ...]
    kinds: tuple[str, ...]


def chunk_path(run_dir: Path, segment: int, number: int) -> Path:
    return run_dir / f"tail-{segment:04d}-{number:09d}.seg"


def parse_chunk_name(name: str) -> tuple[int, int] | None:
    """(run segment, chunk number) of a chunk file name, or None if it is not one."""
    match = _NAME_RE.fullmatch(name)
    return (int(match.group(1)), int(match.group(2))) if match else None


def list_chunks(run_dir: Path) -> list[tuple[int, int]]:
    """Chunk files of a run directory as sorted (segment, number) pairs."""
    try:
        return sorted(c for e in os.scandir(run_dir) if (c := parse_chunk_name(e.name)))
    except FileNotFoundError:
        return []


def synced_end(path: Path) -> int:
    """The end of the records a chunk's writer last made durable (-1: unreadable)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(HEADER.size)
    except OSError:
        return -1
    if len(raw) < HEADER.size or not raw.startswith(MAGIC):
        return -1
    return int(SYNCED_END.unpack_from(raw, SYNCED_END_OFFSET)[0])


def header(segment: int, number: int) -> bytes:
    return HEADER.pack(MAGIC, segment, number, 0, 0)


def frame_definition(keyset_id: int, keyset: Keyset) -> bytes:
    body = DEF_ID.pack(keyset_id) + json.dumps(
        {"keys": list(keyset.keys), "kinds": list(keyset.kinds)}
    ).encode("utf-8")
    rest = FRAME.pack(0, 4 + len(body), 0)[4:] + body
    return CRC.pack(zlib.crc32(rest)) + rest


def row_struct(n_values: int) -> struct.Struct:
    """Packs length, keyset, step, wall time and the values (the CRC goes in front after)."""
    return struct.Struct(f"<IIqd{n_values}d")
