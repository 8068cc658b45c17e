"""The background writer: sealing, compaction and the files a long run leaves behind."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

import localtrack
from localtrack.store.layout import parse_shard_name


def _settings(**kw) -> localtrack.Settings:
    return localtrack.Settings(flush_interval=0.01, **kw)


def test_many_seals_are_compacted_into_few_shards_without_losing_rows(root: Path) -> None:
    run = localtrack.init(project="p", dir=root, settings=_settings(seal_scalars=50))
    for i in range(400):
        run.log({"a": float(i), "b": i})
        if i % 10 == 9:
            run.flush()
    run.finish()
    shards = [parse_shard_name(p.name) for p in (root / "runs" / run.id / "metrics").iterdir()]
    assert all(shards)
    assert len(shards) <= 12, f"{len(shards)} shards left; compaction should keep them few"
    covered = sorted((s.first_batch, s.last_batch) for s in shards)
    assert covered[0][0] == 1 and all(a[1] + 1 == b[0] for a, b in itertools.pairwise(covered))
    hist = localtrack.Api(root).run(run.id).history(pandas=False).to_pydict()
    assert hist["a"] == [float(i) for i in range(400)] and hist["b"] == list(range(400))
    keys = localtrack.Api(root).run(run.id).metric_keys()
    assert {k.key: k.count for k in keys if not k.key.startswith("system/")} == {"a": 400, "b": 400}


@pytest.mark.usefixtures("classic_tail")  # asserts on the classic tail log
def test_seal_interval_seals_a_slow_run(root: Path) -> None:
    run = localtrack.init(project="p", dir=root, settings=_settings(seal_interval=0.0))
    run.log({"a": 1.0})
    run.flush()
    run.log({"a": 2.0})
    run.flush()
    assert list((root / "runs" / run.id / "metrics").glob("*.parquet"))
    tail = root / "runs" / run.id / "tail-0000.log"
    assert tail.stat().st_size == 8  # only the magic: sealed rows left the tail log
    run.finish()
    assert not tail.exists()
    assert localtrack.Api(root).run(run.id).history(pandas=False)["a"].to_pylist() == [1.0, 2.0]


def test_finished_run_statistics_match_a_rebuild_from_files(root: Path) -> None:
    from localtrack.store.recovery import scan_run
    from localtrack.store.root import StoreRoot

    run = localtrack.init(project="p", dir=root, settings=_settings(seal_scalars=30))
    for i in range(100):
        run.log({"x": (i * 7) % 13 - 6.5, "n": float("nan") if i % 9 == 0 else i})
        if i % 17 == 0:
            run.flush()
    with pytest.warns(UserWarning, match="lower than step"):
        run.log({"x": 99.0}, step=3)  # an overwrite of an early step
    run.finish()
    indexed = {k.key: k for k in localtrack.Api(root).run(run.id).metric_keys()}
    rebuilt = scan_run(StoreRoot(root).run(run.id)).stats
    for key, stats in rebuilt.items():
        assert (stats.count, stats.min, stats.max, stats.last_step) == (
            indexed[key].count,
            indexed[key].min,
            indexed[key].max,
            indexed[key].last_step,
        )


def test_finish_never_hangs_on_a_stuck_disk(
    root: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import threading
    import time

    from localtrack.store import writer as writer_module

    release = threading.Event()
    real_write_shard = writer_module.write_shard

    def stuck_write_shard(*args, **kwargs):
        release.wait(30)
        return real_write_shard(*args, **kwargs)

    monkeypatch.setattr(writer_module, "write_shard", stuck_write_shard)
    # no sampler: its rows, queued after the flush, would (rightly) make the run read "failed"
    settings = _settings(finish_timeout=0.5, system_metrics=False)
    run = localtrack.init(project="p", dir=root, settings=settings)
    run.log({"a": 1.0})
    assert run.flush(timeout=60)  # the row is in the tail log before the disk "sticks"
    start = time.monotonic()
    run.finish()
    elapsed = time.monotonic() - start
    release.set()
    assert elapsed < 5, f"finish() took {elapsed:.1f} s despite a 0.5 s deadline"
    assert any("gave up" in r.message for r in caplog.records)
    assert localtrack.Api(root).run(run.id).history(pandas=False)["a"].to_pylist() == [1.0]
