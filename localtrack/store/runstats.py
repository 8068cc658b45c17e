"""A run's per-key statistics, computed from its files in bounded batches.

Re-indexing a run (``reindex``, a sync commit, a reader scanning a run the index does not know)
needs every row once, to fold it into running statistics, but never all rows at once: each shard
is decoded ``BATCH_ROWS`` at a time, so memory stays flat whatever a shard declares. A shard that
turns out damaged half way counts for nothing: its rows are folded into statistics of their
own, merged into the run's only once the whole shard has decoded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from ..errors import CorruptDataError
from .layout import RunPaths, ShardName
from .metrics import KeyStats, merge_dtype, update_stats
from .rangedfiles import RangeFile
from .runfiles import TailBatch, expected_hashes, list_shards, list_tail_segments, read_tail_batches
from .shards import BATCH_ROWS, open_verified_shard, shard_batches

_ATTEMPTS = 5


@dataclass
class RunStats:
    """Statistics of a run's metric rows, the shards they came from, and what was damaged."""

    stats: dict[str, KeyStats] = field(default_factory=dict)
    dtypes: dict[str, str] = field(default_factory=dict)
    shards: list[ShardName] = field(default_factory=list)
    damaged: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason)

    @property
    def warnings(self) -> list[str]:
        return [f"{name}: {reason}" for name, reason in self.damaged]

    def add_dtypes(self, dtypes: dict[str, str]) -> None:
        for key, kind in dtypes.items():
            self.dtypes[key] = merge_dtype(self.dtypes.get(key), kind)


def merge_stats(into: dict[str, KeyStats], later: dict[str, KeyStats]) -> None:
    """Fold statistics of rows logged after `into`'s (as if their tables were folded one by one)."""
    for key, b in later.items():
        a = into.get(key)
        if a is None:
            into[key] = b
            continue
        a.count += b.count
        if b.finite_count:
            a.min = b.min if a.min is None or (b.min is not None and b.min < a.min) else a.min
            a.max = b.max if a.max is None or (b.max is not None and b.max > a.max) else a.max
            a.exact_sum = _exact(a) + _exact(b)
            a.sum = float(a.exact_sum)
            a.finite_count += b.finite_count
        if b.max_step is not None and (a.max_step is None or b.max_step >= a.max_step):
            a.last, a.last_step, a.last_wall = b.last, b.last_step, b.last_wall
            a.max_step = b.max_step


def _exact(s: KeyStats) -> Fraction:
    return s.exact_sum if s.exact_sum is not None else Fraction(s.sum)


def _shard_stats(
    path: Path | RangeFile, batch_rows: int
) -> tuple[dict[str, KeyStats], dict[str, str]]:
    dtypes, batches = shard_batches(path, batch_rows)
    local: dict[str, KeyStats] = {}
    for table in batches:
        update_stats(local, table, dtypes)
    return local, dtypes


def _scan_once(paths: RunPaths, batch_rows: int) -> RunStats:
    out = RunStats()
    tails: list[TailBatch] = []
    for segment in list_tail_segments(paths):  # before listing shards: see runfiles
        batches, problem = read_tail_batches(paths, segment)
        tails.extend(batches)
        if problem:
            out.damaged.append((paths.tail(segment).name, problem))
    expected = expected_hashes(paths)
    shards = list_shards(paths)
    sources: list[tuple[tuple[int, int], ShardName | TailBatch]] = [
        ((s.segment, s.first_batch), s) for s in shards
    ]
    sources += [
        ((b.segment, b.batch_seq), b)
        for b in tails
        if not any(s.covers_batch(b.segment, b.batch_seq) for s in shards)
    ]
    sources.sort(key=lambda p: p[0])
    for _, source in sources:
        if isinstance(source, TailBatch):
            out.add_dtypes(source.dtypes)
            update_stats(out.stats, source.table, source.dtypes)
            continue
        try:
            shard = open_verified_shard(paths.shard(source), expected.get(source.filename))
            local, dtypes = _shard_stats(shard, batch_rows)
        except CorruptDataError as exc:
            out.damaged.append((source.filename, str(exc)))
            continue
        out.shards.append(source)
        out.add_dtypes(dtypes)
        merge_stats(out.stats, local)
    for key, s in out.stats.items():  # a key's type is what the whole run logged for it
        s.dtype = out.dtypes.get(key, "float")
    return out


def scan_stats(paths: RunPaths, batch_rows: int = BATCH_ROWS) -> RunStats:
    """Per-key statistics of every metric row of a run, decoded `batch_rows` at a time."""
    for _ in range(_ATTEMPTS - 1):
        try:
            return _scan_once(paths, batch_rows)
        except FileNotFoundError:
            continue  # a shard was compacted away while we read: list again
    return _scan_once(paths, batch_rows)
