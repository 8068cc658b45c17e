"""Reading a run's metric data straight from its files: sealed shards plus the live tail.

This is how both the reader and recovery see a run. The tail logs are read *before* the shard
directory is listed, so a batch that the writer seals in between is found in its shard; a shard
that compaction deletes while we read makes us start over (the merged shard holds its rows).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import CorruptDataError
from . import segments, taillog
from .layout import RunPaths, ShardName, is_partial_name, parse_shard_name, parse_tail_name
from .metrics import arrow_strings, decode_batch, merge_dtype
from .rangedfiles import ranged_names
from .shards import open_verified_shard, read_shard

_ATTEMPTS = 5


@dataclass
class TailBatch:
    segment: int
    batch_seq: int
    table: pa.Table
    dtypes: dict[str, str]


@dataclass
class RunData:
    """A run's metric rows in logging order, with what went wrong reading them."""

    tables: list[pa.Table] = field(default_factory=list)
    dtypes: dict[str, str] = field(default_factory=dict)
    shards: list[ShardName] = field(default_factory=list)
    damaged: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason)
    tail_batches: list[TailBatch] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        return [f"{name}: {reason}" for name, reason in self.damaged]

    def add_dtypes(self, dtypes: dict[str, str]) -> None:
        for key, kind in dtypes.items():
            self.dtypes[key] = merge_dtype(self.dtypes.get(key), kind)


def list_shards(paths: RunPaths) -> list[ShardName]:
    """Live shards in logging order; a shard covered by a bigger one (compaction debris) is left out."""
    try:
        found = [e.name for e in os.scandir(paths.metrics)]
    except FileNotFoundError:
        found = []
    found += ranged_names(paths.metrics)  # read by byte range on a replica (rangedfiles.py)
    names = [
        n
        for name in found
        if not is_partial_name(name) and (n := parse_shard_name(name)) is not None
    ]
    return drop_covered(list(set(names)))


def drop_covered(names: list[ShardName]) -> list[ShardName]:
    ordered = sorted(names, key=lambda n: (n.segment, n.first_batch, -n.last_batch))
    live: list[ShardName] = []
    for name in ordered:
        if live and live[-1].covers(name):
            continue
        live.append(name)
    return live


def list_tail_segments(paths: RunPaths) -> list[int]:
    """Run segments with a tail: a classic tail log, or mapped tail chunks (segments.py)."""
    found: set[int] = set()
    try:
        for e in os.scandir(paths.dir):
            seg = parse_tail_name(e.name)
            chunk = segments.parse_chunk_name(e.name) if seg is None else None
            if seg is not None or chunk is not None:
                found.add(seg if seg is not None else chunk[0])  # type: ignore[index]
    except FileNotFoundError:
        return []
    return sorted(found)


def _chunk_versions(paths: RunPaths) -> tuple:
    """Each tail chunk with the end its writer last made durable (moves as data lands)."""
    return tuple(
        (seg, num, segments.synced_end(segments.chunk_path(paths.dir, seg, num)))
        for seg, num in segments.list_chunks(paths.dir)
    )


def dir_version(paths: RunPaths) -> tuple:
    """What changes when anything a run scan reads changes (run.json, heartbeat, shards, tails)."""
    parts: list[Any] = []
    for p in (paths.run_json, paths.heartbeat, paths.metrics):
        try:
            st = p.stat()
            parts.append((st.st_mtime_ns, st.st_size))
        except OSError:
            parts.append(None)
    for seg in list_tail_segments(paths):
        try:
            parts.append(paths.tail(seg).stat().st_size)
        except OSError:
            parts.append(None)
    parts.append(_chunk_versions(paths))
    return tuple(parts)


def data_version(paths: RunPaths) -> tuple:
    """What changes when a run's metric rows change (its live shards, its tail sizes)."""
    tails = []
    for seg in list_tail_segments(paths):
        try:
            tails.append((seg, paths.tail(seg).stat().st_size))
        except OSError:
            tails.append((seg, -1))
    return (tuple(list_shards(paths)), tuple(tails), _chunk_versions(paths))


def read_tail_batches(paths: RunPaths, segment: int) -> tuple[list[TailBatch], str | None]:
    """Whole batches of one tail log; a damaged end is reported, never raised."""
    scan = taillog.scan(paths.tail(segment))
    batches: list[TailBatch] = []
    problem = None
    for record in scan.records:
        if record.type != taillog.RECORD_METRICS:
            continue
        try:
            decoded = decode_batch(record.payload)
        except (pa.ArrowException, ValueError) as exc:
            problem = f"undecodable record at byte {record.offset}: {exc}"
            break
        batches.append(TailBatch(segment, decoded.batch_seq, decoded.table, decoded.dtypes))
    if problem is None and scan.damaged_bytes:
        problem = f"{scan.damaged_bytes} bytes after the last whole record (torn write)"
    chunks = [n for s, n in segments.list_chunks(paths.dir) if s == segment]
    for number in chunks:
        read = segments.read_chunk(segments.chunk_path(paths.dir, segment, number))
        if read is None:
            continue
        batches.append(TailBatch(segment, number, read.table, read.dtypes))
        if read.torn and number != chunks[-1] and problem is None:  # the newest may be mid-write
            problem = f"tail chunk {number}: bytes after the last whole record (torn write)"
    return batches, problem


def _filter_keys(table: pa.Table, keys: Sequence[str] | None) -> pa.Table:
    if keys is None:
        return table
    return table.filter(pc.is_in(table.column("key"), value_set=arrow_strings(sorted(set(keys)))))


def expected_hashes(paths: RunPaths) -> dict[str, str]:
    """The sha256 of each shard, as recorded in run.json when it was sealed ({} if unknown)."""
    try:
        meta = json.loads(paths.run_json.read_bytes())
    except (OSError, ValueError):
        return {}
    shards = meta.get("shards") if isinstance(meta, dict) else None
    return {str(k): str(v) for k, v in shards.items()} if isinstance(shards, dict) else {}


def _read_once(paths: RunPaths, keys: Sequence[str] | None) -> RunData:
    data = RunData()
    tails: list[TailBatch] = []
    for segment in list_tail_segments(paths):
        batches, problem = read_tail_batches(paths, segment)
        tails.extend(batches)
        if problem:
            data.damaged.append((paths.tail(segment).name, problem))
    expected = expected_hashes(paths)
    shards = list_shards(paths)
    pieces: list[tuple[tuple[int, int], pa.Table]] = []
    for name in shards:
        try:
            source = open_verified_shard(paths.shard(name), expected.get(name.filename))
            table, dtypes = read_shard(source, keys)
        except CorruptDataError as exc:
            data.damaged.append((name.filename, str(exc)))
            continue
        data.shards.append(name)
        data.add_dtypes(dtypes)
        pieces.append(((name.segment, name.first_batch), table))
    for batch in tails:
        if any(s.covers_batch(batch.segment, batch.batch_seq) for s in shards):
            continue
        data.tail_batches.append(batch)
        data.add_dtypes(batch.dtypes)
        pieces.append(((batch.segment, batch.batch_seq), _filter_keys(batch.table, keys)))
    pieces.sort(key=lambda p: p[0])
    data.tables = [t for _, t in pieces]
    return data


def read_run_data(paths: RunPaths, keys: Sequence[str] | None = None) -> RunData:
    """Every metric row of a run (optionally only some keys), in logging order."""
    for _ in range(_ATTEMPTS - 1):
        try:
            return _read_once(paths, keys)
        except FileNotFoundError:
            continue  # a shard was compacted away while we read: list again
    return _read_once(paths, keys)
