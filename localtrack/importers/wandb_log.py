"""Reading a W&B ``.wandb`` record log: the framing here, each record decoded by ``wandb``.

The file is a LevelDB-style log: a 7-byte header (``:W&B``, a u16 magic, a u8 version), then
32 KiB blocks of chunks, each ``crc32 (u32 LE) | length (u16 LE) | type (u8) | data``, where the
CRC is zlib's CRC-32 of the type byte and the data, and a record is one FULL chunk or a FIRST,
MIDDLE..., LAST sequence; a block's last bytes, too few for a chunk header, are zero padding.
Each record's bytes are a protobuf ``Record`` decoded with the ``wandb`` package's own
``wandb.proto.wandb_internal_pb2`` — its schema is never copied here.

Reading stops at the first chunk that fails its CRC or runs past the end of the file (a run
killed mid-write, a damaged copy), keeping every record before it, as W&B's own reader does.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HEADER = 7
BLOCK = 32 * 1024
_CHUNK = struct.Struct("<IHB")
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


@dataclass
class LogRead:
    """How far a read got: bytes of whole records, and the file's size."""

    good_bytes: int = HEADER
    size: int = 0
    problem: str | None = None


def records(path: Path, read: LogRead) -> Iterator[Any]:
    """Every whole record of the log at `path`, decoded; `read` says where it stopped."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    read.size = len(data)
    if data[:4] != b":W&B":
        read.good_bytes, read.problem = 0, "not a W&B record log (no :W&B header)"
        return
    pos, parts = HEADER, []
    while pos < len(data):
        left = BLOCK - pos % BLOCK
        if left < _CHUNK.size:
            pos += left  # block trailer
            continue
        if pos + _CHUNK.size > len(data):
            read.problem = "the file ends inside a chunk header"
            return
        crc, length, kind = _CHUNK.unpack_from(data, pos)
        if crc == 0 and length == 0 and kind == 0:
            pos += left  # zero padding to the block's end
            continue
        body = data[pos + _CHUNK.size : pos + _CHUNK.size + length]
        if len(body) < length:
            read.problem = "the file ends inside a record"
            return
        if zlib.crc32(body, zlib.crc32(bytes([kind]))) != crc:
            read.problem = "a record fails its checksum"
            return
        pos += _CHUNK.size + length
        parts.append(body)
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()  # type: ignore[attr-defined]
            try:
                record.ParseFromString(b"".join(parts))
            except Exception:  # protobuf's DecodeError: the framing held, the bytes did not
                read.problem = "a record that does not decode"
                return
            parts = []
            read.good_bytes = pos
            yield record
