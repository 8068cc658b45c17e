"""Row groups of a sealed shard end where keys end, so a chart of one key reads that key's rows
without the others' (docs/format.md): a key of KEY_GROUP_ROWS rows or more is a row group of
its own, smaller keys share one, and a shard never has more than MAX_KEY_GROUPS of them."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

import localtrack
from localtrack.store import shards
from localtrack.store.layout import ShardName
from localtrack.store.metrics import rows_to_table, sort_rows
from localtrack.store.reader import StoreReader
from localtrack.store.root import StoreRoot
from localtrack.store.shards import read_shard, write_shard


def _group_keys(path: Path) -> list[tuple[str, str, int]]:
    """(lowest key, highest key, rows) of each row group, from the footer's statistics."""
    md = pq.ParquetFile(path).metadata
    out = []
    for i in range(md.num_row_groups):
        stats = md.row_group(i).column(1).statistics
        out.append((stats.min, stats.max, md.row_group(i).num_rows))
    return out


def test_a_logged_run_seals_one_row_group_per_big_key(tmp_path: Path) -> None:
    steps = shards.KEY_GROUP_ROWS + 100
    settings = localtrack.Settings(capture_git=False, system_metrics=False)
    run = localtrack.init(project="p", dir=str(tmp_path), settings=settings)
    for s in range(steps):
        row = {"loss": 1 / (s + 1), "acc": s / steps}
        if s % 100 == 0:
            row.update({f"tiny/{k}": float(k) for k in range(5)})
        run.log(row, step=s)
    run.finish()

    paths = StoreRoot(tmp_path).run(run.id)
    (shard,) = sorted(paths.metrics.glob("*.parquet"))
    groups = _group_keys(shard)
    assert ("acc", "acc", steps) in groups and ("loss", "loss", steps) in groups
    # the small keys share one row group rather than one each
    assert [g for g in groups if g[0].startswith("tiny/")] == [
        ("tiny/0", "tiny/4", 5 * len(range(0, steps, 100)))
    ]
    table, _ = read_shard(shard, ["loss"])
    assert set(table.column("key").to_pylist()) == {"loss"} and table.num_rows == steps
    xs, ys = StoreReader(tmp_path).points(run.id, "loss")
    np.testing.assert_array_equal(xs, np.arange(steps))
    np.testing.assert_allclose(ys, 1 / (np.arange(steps) + 1))


def test_many_small_keys_keep_the_footer_small(tmp_path: Path) -> None:
    now = time.time()
    rows = [(s, now, {f"k{k:04d}": float(s * k) for k in range(600)}) for s in range(400)]
    path = tmp_path / ShardName(0, 1, 1).filename
    write_shard(path, ShardName(0, 1, 1), sort_rows([rows_to_table(rows)]), {})
    groups = _group_keys(path)
    assert len(groups) <= shards.MAX_KEY_GROUPS
    assert all(rows >= shards.KEY_GROUP_ROWS for _, _, rows in groups[:-1])
    # each group ends where a key ends: no key is split across two of them
    assert all(a[1] < b[0] for a, b in itertools.pairwise(groups))
    table, _ = read_shard(path, ["k0123"])
    assert table.column("value").to_pylist() == [float(s * 123) for s in range(400)]


def test_metric_key_names_match_metric_keys_with_and_without_the_index(tmp_path: Path) -> None:
    settings = localtrack.Settings(capture_git=False, system_metrics=False)
    ids = []
    for keys in (["a/x", "b"], ["b", "c"], []):
        run = localtrack.init(project="p", dir=str(tmp_path), settings=settings)
        for s in range(3):
            run.log({k: float(s) for k in keys} or {}, step=s)
        run.finish()
        ids.append(run.id)
    for mode in ("auto", "off"):
        reader = StoreReader(tmp_path, index_mode=mode)
        expected = {r: {k.key for k in reader.metric_keys(r)} for r in ids}
        assert reader.metric_key_names(ids) == expected
        assert expected[ids[0]] == {"a/x", "b"} and expected[ids[2]] == set()
