"""Sealed metric shards: Parquet files written atomically, read with key and step filters.

A shard holds the rows of a contiguous range of batches of one segment (its file name says
which), sorted by (key, step), with page checksums and a whole-file sha256 recorded in the index.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import CorruptDataError
from .atomic import publishing
from .layout import ShardName
from .lru import SizedLRU
from .metrics import DTYPES_META, SCHEMA, arrow_strings, dtypes_from_metadata
from .rangedfiles import RangeFile, open_source

ROW_GROUP_ROWS = 128 * 1024
# A row group ends where a key ends once it holds KEY_GROUP_ROWS rows (or a shard's rows /
# MAX_KEY_GROUPS, so a huge merged shard's footer stays small): a key of that many rows is
# then a row group of its own, which a chart reads without the others' rows (_row_groups_for).
KEY_GROUP_ROWS = 1024
MAX_KEY_GROUPS = 128
BATCH_ROWS = 64 * 1024  # rows decoded at a time where a whole shard need not be in memory
_PARSE_ERRORS = (OSError, pa.ArrowException, ValueError, IndexError, KeyError, TypeError)
_WRITE_OPTIONS = {
    "compression": "zstd",
    "use_dictionary": ["key"],
    "column_encoding": {
        "step": "DELTA_BINARY_PACKED",
        "value": "BYTE_STREAM_SPLIT",
        "wall_time": "DELTA_BINARY_PACKED",
    },
    "write_page_checksum": True,
    "write_statistics": True,
}


@dataclass(frozen=True)
class ShardInfo:
    """A sealed shard as recorded in the index."""

    name: ShardName
    rows: int
    bytes: int
    sha256: str
    min_step: int | None
    max_step: int | None


_VERIFIED = SizedLRU(100_000)  # (path, size, mtime) → sha256 of the bytes seen then


def check_sha256(path: Path, expected: str | None) -> None:
    """Raise CorruptDataError unless the file's bytes hash to `expected` (None: nothing known).

    Checked before the file is parsed: a flipped bit in a Parquet footer can make the Parquet
    reader abort the whole process. Each (path, size, mtime) is hashed once per process.
    """
    if expected is None:
        return
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    actual = _VERIFIED.get(key)
    if actual is None:
        actual = sha256_file(path)
        _VERIFIED.put(key, actual)
    if actual != expected:
        raise CorruptDataError(
            f"shard {path} does not match the sha256 recorded when it was sealed "
            f"({actual[:12]}… ≠ {expected[:12]}…); `localtrack doctor --repair` quarantines it"
        )


_MAX_FOOTER_BYTES = 16 << 20  # as limits.MAX_FOOTER_BYTES: real shards' footers have KiBs


def open_verified_shard(path: Path, expected: str | None) -> Path | RangeFile:
    """The shard at `path`, checked before it is parsed: the path, hash-checked
    (``check_sha256``), or, for a shard a replica reads by byte range (store/rangedfiles.py),
    a file over its blob, whose sha256 is the one recorded and whose Parquet frame (the magic
    bytes at its end, a footer length that fits; both in the footer's block, which the read
    fetches anyway) is sound. FileNotFoundError when it is neither."""
    source = open_source(path)
    if isinstance(source, Path):
        check_sha256(source, expected)
        return source
    if expected is not None and source.blob.sha256 != expected:
        raise CorruptDataError(
            f"shard {path.name} is committed as blob {source.blob.sha256[:12]}… but was sealed "
            f"as {expected[:12]}…; the run's files disagree with its run.json"
        )
    size = source.size()
    tail = source.blob.read_at(size - 8, 8) if size >= 12 else b""
    footer = int.from_bytes(tail[:4], "little")
    if tail[4:] != b"PAR1" or footer > min(_MAX_FOOTER_BYTES, size - 12):
        raise CorruptDataError(f"shard {path.name} is damaged: not a whole Parquet file")
    return source


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def _publishing(path: Path) -> Iterator[tuple[BinaryIO, list[str]]]:
    """Publish a file atomically (see atomic.publishing), recording the sha256 of exactly the
    bytes written before it is renamed into place. Yields (file, [sha256 after])."""
    path.parent.mkdir(parents=True, exist_ok=True)
    digest: list[str] = []
    with publishing(path) as f:
        yield f, digest
        f.flush()
        digest.append(sha256_file(Path(f.name)))


def write_shard(
    path: Path, name: ShardName, table: pa.Table, dtypes: Mapping[str, str]
) -> ShardInfo:
    """Write `table` (sorted by key, step) to `path` atomically: tmp → fsync → rename → fsync(dir)."""
    meta = {DTYPES_META: json.dumps(dict(dtypes), sort_keys=True).encode()}
    table = table.cast(SCHEMA).replace_schema_metadata(meta)
    sorting = [pq.SortingColumn(1), pq.SortingColumn(0)]
    with (
        _publishing(path) as (f, digest),
        pq.ParquetWriter(f, table.schema, sorting_columns=sorting, **_WRITE_OPTIONS) as writer,
    ):
        for start, stop in key_groups(table.column("key")):
            writer.write_table(table.slice(start, stop - start), row_group_size=ROW_GROUP_ROWS)
    steps = table.column("step")
    return ShardInfo(
        name=name,
        rows=table.num_rows,
        bytes=path.stat().st_size,
        sha256=digest[0],
        min_step=pc.min(steps).as_py() if table.num_rows else None,
        max_step=pc.max(steps).as_py() if table.num_rows else None,
    )


def key_groups(keys: pa.ChunkedArray) -> list[tuple[int, int]]:
    """Row ranges [start, stop) of a key-sorted column, each ending where a key ends once it
    holds KEY_GROUP_ROWS rows (see there); the last one takes what is left."""
    rows = len(keys)
    if rows == 0:
        return [(0, 0)]
    least = max(KEY_GROUP_ROWS, -(-rows // MAX_KEY_GROUPS))
    changed = pc.not_equal(keys.slice(1), keys.slice(0, rows - 1))
    ends = np.flatnonzero(changed.to_numpy(zero_copy_only=False)) + 1
    groups, start = [], 0
    for end in ends.tolist():
        if end - start >= least:
            groups.append((start, end))
            start = end
    groups.append((start, rows))
    return groups


def concat_shards(
    sources: list[Path], path: Path, name: ShardName, dtypes: Mapping[str, str]
) -> ShardInfo:
    """Join shards into one file row group by row group, in memory one row group at a time.

    The result is a sequence of sorted runs (one per source, in logging order) rather than one
    sorted run; readers sort what they read. Used to merge shards too big to sort in memory.
    """
    meta = {DTYPES_META: json.dumps(dict(dtypes), sort_keys=True).encode()}
    schema = SCHEMA.with_metadata(meta)
    rows, lows, highs = 0, [], []
    with _publishing(path) as (f, digest), pq.ParquetWriter(f, schema, **_WRITE_OPTIONS) as writer:
        for source in sources:
            pf = pq.ParquetFile(source, page_checksum_verification=True)
            for i in range(pf.metadata.num_row_groups):
                group = pf.read_row_group(i).replace_schema_metadata(None).cast(SCHEMA)
                writer.write_table(
                    group.replace_schema_metadata(meta), row_group_size=ROW_GROUP_ROWS
                )
                rows += group.num_rows
                if group.num_rows:
                    lows.append(pc.min(group.column("step")).as_py())
                    highs.append(pc.max(group.column("step")).as_py())
    return ShardInfo(
        name,
        rows,
        path.stat().st_size,
        digest[0],
        min(lows, default=None),
        max(highs, default=None),
    )


def _row_groups_for(pf: pq.ParquetFile, keys: Sequence[str]) -> tuple[list[int], bool]:
    """Row groups whose key statistics admit one of `keys` (the file is sorted by key), and
    whether every row of them is one of `keys` (each holds a single wanted key: no filter)."""
    wanted = sorted(set(keys))
    if not wanted:
        return [], True
    key_column = pf.schema_arrow.get_field_index("key")
    groups = []
    exact = True
    for i in range(pf.metadata.num_row_groups):
        stats = pf.metadata.row_group(i).column(key_column).statistics
        if stats is None or not stats.has_min_max:
            groups.append(i)
            exact = False
            continue
        lo, hi = stats.min, stats.max
        if isinstance(lo, bytes):
            lo, hi = lo.decode(), hi.decode()
        at = bisect.bisect_left(wanted, lo)
        if at < len(wanted) and wanted[at] <= hi:
            groups.append(i)
            exact = exact and lo == hi
    return groups, exact


def read_shard(
    path: Path | RangeFile, keys: Sequence[str] | None = None
) -> tuple[pa.Table, dict[str, str]]:
    """Read a shard's rows (optionally only some keys) and its dtypes; damaged → CorruptDataError.

    With `keys`, only row groups whose statistics admit those keys are read. ``keys=[]`` reads
    just the footer (a cheap check that the file is whole). `path` may be a ``RangeFile``
    (``open_verified_shard``): then only the footer and those row groups are fetched.
    """
    try:
        pf = pq.ParquetFile(path, page_checksum_verification=True)
        dtypes = dtypes_from_metadata(pf.schema_arrow.metadata)
        if keys is None:
            table = pf.read()
        else:
            groups, exact = _row_groups_for(pf, keys)
            table = pf.read_row_groups(groups) if groups else pf.schema_arrow.empty_table()
            if groups and not exact:
                wanted = arrow_strings(sorted(set(keys)))
                table = table.filter(pc.is_in(table.column("key"), value_set=wanted))
    except FileNotFoundError:
        raise
    except _PARSE_ERRORS as exc:
        raise CorruptDataError(f"shard {path} is damaged: {exc}") from exc
    return _conform(table, path), dtypes


def _conform(table: pa.Table, path: Path | RangeFile) -> pa.Table:
    table = table.replace_schema_metadata(None)
    if table.schema != SCHEMA:
        try:
            table = table.select(SCHEMA.names).cast(SCHEMA)
        except (KeyError, pa.ArrowException) as exc:
            raise CorruptDataError(f"shard {path} has an unexpected schema: {exc}") from exc
    return table


def shard_batches(
    path: Path | RangeFile, batch_rows: int = BATCH_ROWS
) -> tuple[dict[str, str], Iterator[pa.Table]]:
    """A shard's dtypes and its rows in file order, at most `batch_rows` at a time, so memory
    stays bounded whatever the file declares. Damaged → CorruptDataError, from this call (the
    footer) or from the iterator (a page), possibly after some batches."""
    try:
        pf = pq.ParquetFile(path, page_checksum_verification=True)
        dtypes = dtypes_from_metadata(pf.schema_arrow.metadata)
    except FileNotFoundError:
        raise
    except _PARSE_ERRORS as exc:
        raise CorruptDataError(f"shard {path} is damaged: {exc}") from exc

    def batches() -> Iterator[pa.Table]:
        try:
            for batch in pf.iter_batches(batch_size=batch_rows):
                yield _conform(pa.Table.from_batches([batch]), path)
        except FileNotFoundError:
            raise
        except _PARSE_ERRORS as exc:
            raise CorruptDataError(f"shard {path} is damaged: {exc}") from exc

    return dtypes, batches()


def shard_info_from_file(path: Path, name: ShardName) -> ShardInfo:
    """Verify a shard fully (parse every page, in bounded batches) and describe it;
    damaged → CorruptDataError."""
    _, batches = shard_batches(path)
    rows, lows, highs = 0, [], []
    for table in batches:
        rows += table.num_rows
        if table.num_rows:
            lows.append(pc.min(table.column("step")).as_py())
            highs.append(pc.max(table.column("step")).as_py())
    return ShardInfo(
        name=name,
        rows=rows,
        bytes=path.stat().st_size,
        sha256=sha256_file(path),
        min_step=min(lows, default=None),
        max_step=max(highs, default=None),
    )
