"""Chart series: per-bucket min/max/last on shared edges, honest about what was reduced."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import localtrack
from localtrack.errors import UsageError
from localtrack.store.reader import StoreReader
from localtrack.store.series import bucketize, make_edges


def test_bucketize_keeps_spikes_and_counts_every_point() -> None:
    xs = np.arange(100_000, dtype=float)
    ys = np.sin(xs / 1000)
    ys[12_345] = 50.0
    ys[777] = np.nan
    s = bucketize("r", "k", "step", xs, ys, buckets=100)
    assert s.bucketed and len(s.x) == 100 and s.count.sum() == 100_000
    assert np.nanmax(s.max) == 50.0
    assert s.last[-1] == ys[-1] and s.total_points == 100_000 and s.points_in_range == 100_000


def test_bucketize_returns_raw_points_when_few() -> None:
    xs = np.array([0.0, 1.0, 5.0])
    s = bucketize("r", "k", "step", xs, np.array([1.0, 2.0, 3.0]), buckets=10)
    assert not s.bucketed and list(s.x) == [0.0, 1.0, 5.0] and list(s.max) == [1.0, 2.0, 3.0]


def test_bucketize_cuts_to_range_on_given_edges_and_drops_empty_buckets() -> None:
    xs = np.array([0.0, 1.0, 2.0, 8.0, 9.0, 10.0])
    ys = np.array([5.0, 1.0, 3.0, 7.0, 2.0, 4.0])
    s = bucketize("r", "k", "step", xs, ys, x0=1, x1=9, edges=make_edges(1, 9, 4))
    assert s.points_in_range == 4
    assert list(s.count) == [2, 2]
    assert list(s.min) == [1.0, 2.0] and list(s.max) == [3.0, 7.0] and list(s.last) == [3.0, 2.0]
    assert list(s.x) == [2.0, 8.0]


def _two_runs(root: Path) -> list[str]:
    ids = []
    for n in (1000, 600):
        run = localtrack.init(project="p", dir=root, reinit="create_new")
        for i in range(n):
            run.log({"loss": 1.0 / (i + 1), "epoch": i // 100})
        run.finish()
        ids.append(run.id)
    return ids


def test_series_many_shares_edges_so_runs_line_up(root: Path) -> None:
    a, b = _two_runs(root)
    series = StoreReader(root).series_many([a, b], "loss", buckets=50)
    assert np.array_equal(series[0].edges, series[1].edges)
    assert set(series[1].x) <= set(series[0].x)
    assert series[0].count.sum() == 1000 and series[1].count.sum() == 600


def test_series_on_other_x_axes(root: Path) -> None:
    a, _ = _two_runs(root)
    reader = StoreReader(root)
    by_epoch = reader.series(a, "loss", x="epoch")
    assert by_epoch.x.min() == 0 and by_epoch.x.max() == 9 and len(by_epoch.x) == 1000
    wall = reader.series(a, "loss", x="wall_time")
    assert wall.x[0] > 1e9 and np.all(np.diff(wall.x) >= 0)
    rel = reader.series(a, "loss", x="relative_time")
    assert 0 <= rel.x[0] < 60
    with pytest.raises(UsageError, match="buckets"):
        reader.series(a, "loss", buckets=0)


def test_zoomed_range_comes_back_at_full_resolution(root: Path) -> None:
    a, _ = _two_runs(root)
    s = StoreReader(root).series(a, "loss", x0=100, x1=149, buckets=1000)
    assert not s.bucketed and list(s.x) == [float(i) for i in range(100, 150)]


def test_a_batch_of_keys_matches_each_key_alone_and_reads_each_run_once(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = _two_runs(root)
    axes = {"loss": "step", "epoch": "step"}
    alone = StoreReader(root)
    want = {k: alone.series_many([a, b], k, buckets=50, x=x) for k, x in axes.items()}
    batch = StoreReader(root)
    reads: list[str] = []
    real = batch._long
    spy = lambda run_id, keys: reads.append(run_id) or real(run_id, keys)  # noqa: E731
    monkeypatch.setattr(batch, "_long", spy)
    got = batch.series_batch([a, b], axes, buckets=50)
    for key, series in want.items():
        for w, g in zip(series, got[key], strict=True):
            assert g.x_axis == w.x_axis and np.array_equal(g.x, w.x)
            assert np.array_equal(g.last, w.last, equal_nan=True)
            assert np.array_equal(g.max, w.max, equal_nan=True)
    assert sorted(reads) == sorted([a, b])  # each run's files once for both keys
    batch.series_batch([a, b], axes, buckets=50)
    assert len(reads) == 2  # cached: no file read again
    by_epoch = batch.series_batch([a, b], {"loss": "epoch"}, buckets=50)["loss"]
    one = alone.series_many([a, b], "loss", buckets=50, x="epoch")
    assert [s.x_axis for s in by_epoch] == ["epoch", "epoch"]
    assert all(np.array_equal(g.x, w.x) for g, w in zip(by_epoch, one, strict=True))
