"""Tiered compaction of one segment's shards, so a day-long run leaves a handful of files.

Shards are put in size levels (powers of `fanout` above `min_rows`); whenever the last `fanout`
shards share a level they are merged into one shard covering their batch ranges: re-sorted when
they are small, their row groups joined one after another (constant memory) when they are big.
"""

from __future__ import annotations

import math

from .layout import RunPaths, ShardName
from .metrics import merge_dtype, sort_rows
from .shards import ShardInfo, concat_shards, read_shard, write_shard

# A merged shard never grows past this many rows, so every shard a run writes stays well inside
# what a receiving server accepts (limits.py: LOCALTRACK_MAX_SHARD_ROWS, 50M by default).
MAX_MERGED_ROWS = 16_000_000


def _level(rows: int, min_rows: int, fanout: int) -> int:
    return int(math.log(max(rows, min_rows) / min_rows, fanout))


def compaction_group(shards: list[ShardInfo], min_rows: int, fanout: int) -> list[ShardInfo]:
    """The last `fanout` shards when they are due for a merge; otherwise an empty list."""
    if len(shards) < fanout:
        return []
    group = shards[-fanout:]
    if sum(s.rows for s in group) > MAX_MERGED_ROWS:
        return []
    levels = {_level(s.rows, min_rows, fanout) for s in group}
    return group if len(levels) == 1 else []


def merge_shards(
    paths: RunPaths,
    segment: int,
    group: list[ShardInfo],
    dtypes: dict[str, str],
    sort_limit: int,
) -> ShardInfo:
    """Write the shard that replaces `group` (the caller removes the old ones)."""
    name = ShardName(segment, group[0].name.first_batch, group[-1].name.last_batch)
    sources = [paths.shard(info.name) for info in group]
    dtypes = dict(dtypes)
    if sum(s.rows for s in group) > sort_limit:
        return concat_shards(sources, paths.shard(name), name, dtypes)
    tables = []
    for source in sources:
        table, shard_dtypes = read_shard(source)
        tables.append(table)
        for key, kind in shard_dtypes.items():
            dtypes[key] = merge_dtype(dtypes.get(key), kind)
    return write_shard(paths.shard(name), name, sort_rows(tables), dtypes)
