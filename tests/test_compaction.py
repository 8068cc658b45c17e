"""Compaction keeps every shard inside what a receiving server accepts."""

from __future__ import annotations

from localtrack.store.compaction import MAX_MERGED_ROWS, compaction_group
from localtrack.store.layout import ShardName
from localtrack.store.limits import Limits
from localtrack.store.shards import ShardInfo


def _shard(batch: int, rows: int) -> ShardInfo:
    return ShardInfo(ShardName(0, batch, batch), rows, rows * 7, "0" * 64, None, None)


def test_compaction_never_merges_past_the_row_cap() -> None:
    big = [_shard(i, MAX_MERGED_ROWS // 2) for i in range(4)]
    assert compaction_group(big, min_rows=10_000, fanout=4) == []
    small = [_shard(i, 10_000) for i in range(4)]
    assert compaction_group(small, min_rows=10_000, fanout=4) == small


def test_the_row_cap_is_inside_the_servers_default_limit() -> None:
    assert Limits().max_shard_rows > MAX_MERGED_ROWS
