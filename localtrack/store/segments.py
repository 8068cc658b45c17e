"""Decoding tail segments (the format: segformat.py, docs/format.md): scan, read, cut.

Decoding is vectorised: a run of consecutive rows of one keyset is one numpy view; CRCs are
checked column by column over all rows at once (``crc32_rows``).
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from .metrics import merge_dtype, pieces_to_table
from .segformat import CRC as CRC
from .segformat import DEF_ID as DEF_ID
from .segformat import FORMAT_VERSION as FORMAT_VERSION
from .segformat import FRAME as FRAME
from .segformat import HEADER as HEADER
from .segformat import MAGIC as MAGIC
from .segformat import ROW_FIXED as ROW_FIXED
from .segformat import SYNCED_END as SYNCED_END
from .segformat import SYNCED_END_OFFSET as SYNCED_END_OFFSET
from .segformat import Keyset as Keyset
from .segformat import chunk_path as chunk_path
from .segformat import frame_definition as frame_definition
from .segformat import header as header
from .segformat import list_chunks as list_chunks
from .segformat import parse_chunk_name as parse_chunk_name
from .segformat import row_struct as row_struct
from .segformat import synced_end as synced_end

_WINDOW = 256


def _row_dtype(n_values: int) -> np.dtype:
    fields = [("crc", "<u4"), ("len", "<u4"), ("ks", "<u4"), ("step", "<i8"), ("wall", "<f8")]
    return np.dtype([*fields, ("v", "<f8", (n_values,))] if n_values else fields)


def _crc_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(0xEDB88320), table >> 1)
    return table.astype(np.uint32)


_CRC_TABLE = _crc_table()


def crc32_rows(rows: np.ndarray) -> np.ndarray:
    """zlib.crc32 of each row of a 2-D uint8 array, computed for all rows at once."""
    crc = np.full(rows.shape[0], 0xFFFFFFFF, dtype=np.uint32)
    for j in range(rows.shape[1]):
        crc = _CRC_TABLE[(crc ^ rows[:, j]) & 0xFF] ^ (crc >> 8)
    return crc ^ np.uint32(0xFFFFFFFF)


@dataclass
class Block:
    """Consecutive rows of one keyset: steps, wall times (s), values (rows × keys)."""

    keyset: Keyset
    steps: np.ndarray
    walls: np.ndarray
    values: np.ndarray
    first_seq: int


@dataclass
class ChunkScan:
    """What decoding a byte range found: row blocks, definitions, where whole records end."""

    blocks: list[Block] = field(default_factory=list)
    end: int = 0
    torn: bool = False  # non-zero bytes after the last whole record
    rows: int = 0


def scan(
    buf: bytes | memoryview,
    start: int,
    stop: int,
    keysets: Mapping[int, Keyset] | Sequence[Keyset],
    verify: bool,
) -> ChunkScan:
    """Decode whole records in buf[start:stop]; `keysets` maps ids to definitions (a list is
    indexed by id - 1) and gains the definitions met in the range when it is a dict."""
    out = ChunkScan(end=start)
    pos = start
    while pos + FRAME.size <= stop:
        crc, length, ks = FRAME.unpack_from(buf, pos)
        size = 8 + length
        if length < 4 or pos + size > stop:
            break
        if ks == 0:
            if not _read_definition(buf, pos, size, crc, keysets):
                break
            pos += size
            continue
        keyset = _lookup(keysets, ks)
        if keyset is None or length != ROW_FIXED + 8 * len(keyset.keys):
            break
        taken, whole = _take_rows(buf, pos, stop, size, length, ks, keyset, verify, out)
        pos += taken * size
        if not whole:
            break
    out.end = pos
    out.torn = pos < stop and any(bytes(buf[pos : min(stop, pos + 64)]))
    return out


def _lookup(keysets: Mapping[int, Keyset] | Sequence[Keyset], ks: int) -> Keyset | None:
    if isinstance(keysets, Mapping):
        return keysets.get(ks)
    return keysets[ks - 1] if 0 < ks <= len(keysets) else None


def _read_definition(
    buf: bytes | memoryview,
    pos: int,
    size: int,
    crc: int,
    keysets: Mapping[int, Keyset] | Sequence[Keyset],
) -> bool:
    if zlib.crc32(buf[pos + 4 : pos + size]) != crc:
        return False
    (keyset_id,) = DEF_ID.unpack_from(buf, pos + FRAME.size)
    try:
        doc = json.loads(bytes(buf[pos + FRAME.size + 4 : pos + size]))
        keyset = Keyset(tuple(map(str, doc["keys"])), tuple(map(str, doc["kinds"])))
    except (ValueError, KeyError, TypeError):
        return False
    if len(keyset.keys) != len(keyset.kinds):
        return False
    if isinstance(keysets, dict):
        keysets[keyset_id] = keyset
    return True


def _take_rows(
    buf: bytes | memoryview,
    pos: int,
    stop: int,
    size: int,
    length: int,
    ks: int,
    keyset: Keyset,
    verify: bool,
    out: ChunkScan,
) -> tuple[int, bool]:
    """Append the run of same-keyset rows at `pos` to `out`; (rows taken, all of them whole)."""
    dtype = _row_dtype(len(keyset.keys))
    taken = 0
    window = _WINDOW
    while True:
        count = min((stop - pos) // size - taken, window)
        if count <= 0:
            return taken, True
        offset = pos + taken * size
        arr = np.frombuffer(buf, dtype=dtype, count=count, offset=offset)
        same = (arr["len"] == length) & (arr["ks"] == ks)
        m = count if bool(same.all()) else int(np.argmin(same))
        whole = True
        if verify and m:
            raw = np.frombuffer(buf, dtype=np.uint8, count=m * size, offset=offset)
            good = crc32_rows(raw.reshape(m, size)[:, 4:]) == arr["crc"][:m]
            if not bool(good.all()):
                m, whole = int(np.argmin(good)), False
        if m:
            rows = arr[:m]
            values = rows["v"] if len(keyset.keys) else np.zeros((m, 0))
            out.blocks.append(
                Block(keyset, rows["step"].copy(), rows["wall"].copy(), values.copy(), out.rows)
            )
            out.rows += m
        taken += m
        if m < count or not whole:
            return taken, whole
        window = min(window * 4, 1 << 20)


def blocks_to_table(blocks: Sequence[Block]) -> tuple[pa.Table, dict[str, str]]:
    """Row blocks → the long metrics table (sorted by key, step) and each key's kind."""
    pieces: dict[str, list[tuple[np.ndarray, ...]]] = {}
    dtypes: dict[str, str] = {}
    for block in blocks:
        n = len(block.steps)
        walls = (block.walls * 1e6).astype(np.int64)
        seqs = np.arange(block.first_seq, block.first_seq + n, dtype=np.int64)
        for j, key in enumerate(block.keyset.keys):
            pieces.setdefault(key, []).append((block.steps, block.values[:, j], walls, seqs))
            dtypes[key] = merge_dtype(dtypes.get(key), block.keyset.kinds[j])
    return pieces_to_table(pieces), dtypes


@dataclass(frozen=True)
class ChunkRead:
    """A chunk file read back: its rows as a table, and how its end looked."""

    segment: int
    number: int
    table: pa.Table
    dtypes: dict[str, str]
    torn: bool
    end: int
    size: int


def read_chunk(path: Path) -> ChunkRead | None:
    """Read a chunk file up to its last whole record (None: missing, or not a chunk yet)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    if len(data) < HEADER.size or not data.startswith(MAGIC):
        return None
    _, segment, number, _, _ = HEADER.unpack_from(data)
    found = scan(data, HEADER.size, len(data), {}, verify=True)
    table, dtypes = blocks_to_table(found.blocks)
    return ChunkRead(segment, number, table, dtypes, found.torn, found.end, len(data))


def cut_torn(path: Path) -> int:
    """Truncate a dead chunk after its last whole record; returns the non-zero bytes cut."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0
    if not data.startswith(MAGIC):
        end = 0
    else:
        end = scan(data, HEADER.size, len(data), {}, verify=True).end
    damaged = len(data[end:].rstrip(b"\0"))
    if end < len(data):
        with open(path, "r+b") as f:
            f.truncate(end)
            f.flush()
            os.fsync(f.fileno())
    return damaged
