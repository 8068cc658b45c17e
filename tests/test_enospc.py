"""A full disk (ENOSPC, injected) never reaches the training loop, and no row is lost.

DESIGN.md §2 and writer.py: failures never reach the training thread; rows stay in memory, a
warning is logged once, and the writer retries; once space returns, logging resumes and
``finish()`` leaves every row on disk exactly once. The faults are injected in-process at the
store's own seams: ``os.write`` as seen by the tail log, the shard writer used for sealing, and
``open`` as seen by the atomic writer of run.json.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import localtrack
from localtrack.store import atomic, recovery, taillog, writer
from localtrack.store.reader import StoreReader
from localtrack.store.root import StoreRoot
from localtrack.store.runmeta import load

from .store_fixtures import column, raw_row_count

KEYS = ("acc", "loss", "n", "ok")


def _values(step: int) -> dict[str, Any]:
    return {"acc": step * 0.01, "loss": 1 / (step + 1), "n": step, "ok": step % 2 == 0}


def _log(run: Any, steps: range) -> None:
    for s in steps:
        run.log(_values(s), step=s)


def _assert_all_steps(root: Path, run_id: str, n: int) -> None:
    """Steps 0..n-1 read back exactly, each stored once."""
    reader = StoreReader(root)
    history = reader.history(run_id, keys=list(KEYS))
    steps = np.arange(n)
    np.testing.assert_array_equal(column(history, "step"), steps)
    np.testing.assert_array_equal(column(history, "acc"), steps * 0.01)
    np.testing.assert_array_equal(column(history, "loss"), 1 / (steps + 1))
    np.testing.assert_array_equal(column(history, "n"), steps)
    np.testing.assert_array_equal(column(history, "ok"), steps % 2 == 0)
    assert raw_row_count(StoreRoot(root).run(run_id), KEYS) == n * len(KEYS), "rows stored twice"


def _no_space_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and os.strerror(errno.ENOSPC) in r.getMessage()
    ]


class FullDisk:
    """A switchable ENOSPC. `refused` is set once a write has actually been refused."""

    def __init__(self) -> None:
        self.full = threading.Event()
        self.refused = threading.Event()
        self.short_writes = False
        self._short_done = False

    def check(self) -> None:
        if self.full.is_set():
            self.refused.set()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def write(self, fd: int, data: Any) -> int:
        """os.write: while full, optionally one short write (as the kernel does), then ENOSPC."""
        if self.full.is_set() and self.short_writes and not self._short_done and len(data) > 1:
            self._short_done = True
            return os.write(fd, bytes(data[: len(data) // 2]))
        self._short_done = False
        self.check()
        return os.write(fd, data)


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch, classic_tail: None) -> FullDisk:
    """ENOSPC on the tail log's writes (only there: other files see the real os module).

    The classic write path (network filesystems); tests/test_segments.py covers mapped ones."""
    fault = FullDisk()
    faulty_os = types.SimpleNamespace(**{**vars(os), "write": fault.write})
    monkeypatch.setattr(taillog, "os", faulty_os)
    return fault


@pytest.fixture
def sealing(monkeypatch: pytest.MonkeyPatch, classic_tail: None) -> FullDisk:
    """ENOSPC on every shard the writer tries to seal (or compact)."""
    fault = FullDisk()
    real = writer.write_shard

    def write_shard(*args: Any, **kwargs: Any) -> Any:
        fault.check()
        return real(*args, **kwargs)

    monkeypatch.setattr(writer, "write_shard", write_shard)
    return fault


@pytest.mark.parametrize(
    ("short_writes", "outage_steps"),
    [(False, 500), (True, 500), (False, 300_000)],
    ids=["refused", "short write first", "long outage"],
)
def test_enospc_on_the_tail_log_is_survived_and_every_row_lands_later(
    root: Path,
    disk: FullDisk,
    caplog: pytest.LogCaptureFixture,
    short_writes: bool,
    outage_steps: int,
) -> None:
    disk.short_writes = short_writes
    run = localtrack.init(project="p", dir=root, settings=localtrack.Settings(flush_interval=0.05))
    _log(run, range(100))
    assert run.flush(timeout=60)

    disk.full.set()
    end = 100 + outage_steps
    _log(run, range(100, end))  # the training loop: must not raise (nor stall)
    assert disk.refused.wait(10), "the writer never tried to write"
    assert run.flush(timeout=0.5) is False, "flush() must not claim rows are durable on a full disk"
    _log(run, range(end, end + 50))
    assert _no_space_warnings(caplog), "no warning said the disk is full"
    tail = StoreRoot(root).run(run.id).tail(0)
    assert taillog.scan(tail).damaged_bytes == 0, "a refused append left a torn record"

    disk.full.clear()
    _log(run, range(end + 50, end + 100))
    assert run.flush(timeout=30)
    assert taillog.scan(tail).damaged_bytes == 0
    _assert_all_steps(root, run.id, end + 100)  # readable before finish
    run.finish()
    assert load(StoreRoot(root).run(run.id).run_json)["state"] == "finished"
    _assert_all_steps(root, run.id, end + 100)
    assert any("recovered" in r.getMessage() for r in caplog.records)


def test_enospc_while_sealing_keeps_rows_in_the_tail_until_space_returns(
    root: Path, sealing: FullDisk, caplog: pytest.LogCaptureFixture
) -> None:
    settings = localtrack.Settings(flush_interval=0.05, seal_scalars=400, system_metrics=False)
    run = localtrack.init(project="p", dir=root, settings=settings)
    paths = StoreRoot(root).run(run.id)
    sealing.full.set()
    _log(run, range(300))  # 1,200 scalars: a seal is due at every round
    assert sealing.refused.wait(10)
    assert run.flush(timeout=60), "rows in the fsynced tail log are durable"
    assert list(paths.metrics.glob("*.parquet")) == []
    assert any("cannot write shard" in m for m in _no_space_warnings(caplog))
    _assert_all_steps(root, run.id, 300)  # served from the tail

    sealing.full.clear()
    _log(run, range(300, 400))
    assert run.flush(timeout=60)
    assert list(paths.metrics.glob("*.parquet")), "sealing did not resume"
    run.finish()
    _assert_all_steps(root, run.id, 400)
    assert recovery.reindex(StoreRoot(root)) == (1, [])
    counts = {k.key: k.count for k in StoreReader(root).metric_keys(run.id) if k.key in KEYS}
    assert counts == dict.fromkeys(KEYS, 400)


def test_enospc_while_sealing_at_finish_leaves_every_row_readable_once(
    root: Path, sealing: FullDisk, caplog: pytest.LogCaptureFixture
) -> None:
    run = localtrack.init(project="p", dir=root, settings=localtrack.Settings(flush_interval=3600))
    paths = StoreRoot(root).run(run.id)
    _log(run, range(200))
    assert run.flush(timeout=60)  # in the tail log, not sealed
    _log(run, range(200, 300))  # still in memory when finish() starts
    sealing.full.set()
    run.finish()
    assert sealing.refused.is_set()
    assert any("cannot write shard" in m for m in _no_space_warnings(caplog))
    assert paths.tail(0).exists(), "the tail log holds what could not be sealed"
    assert load(paths.run_json)["state"] == "finished"
    _assert_all_steps(root, run.id, 300)
    counts = {k.key: k.count for k in StoreReader(root).metric_keys(run.id) if k.key in KEYS}
    assert counts == dict.fromkeys(KEYS, 300)

    sealing.full.clear()  # space is back: doctor --repair seals the tail
    report = recovery.repair_run(paths)
    assert report.problems == []
    assert not paths.tail(0).exists()
    assert recovery.reindex(StoreRoot(root)) == (1, [])
    _assert_all_steps(root, run.id, 300)
    counts = {k.key: k.count for k in StoreReader(root).metric_keys(run.id) if k.key in KEYS}
    assert counts == dict.fromkeys(KEYS, 300)


def test_enospc_when_saving_run_json_never_reaches_the_training_loop(
    root: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Config and summary updates inside the loop save run.json: a full disk must not raise."""
    run = localtrack.init(project="p", dir=root, config={"lr": 0.1})
    fault = FullDisk()

    def faulty_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if "w" in mode:
            fault.check()
        return open(file, mode, *args, **kwargs)

    monkeypatch.setattr(atomic, "open", faulty_open, raising=False)
    fault.full.set()
    for epoch in range(3):  # the training loop
        _log(run, range(epoch * 10, epoch * 10 + 10))
        run.config.update({"lr": 0.1 / (epoch + 1)}, allow_val_change=True)
        run.summary["best_acc"] = epoch * 0.1
    assert fault.refused.is_set()
    assert _no_space_warnings(caplog), "no warning said run.json could not be saved"

    fault.full.clear()
    run.finish()
    meta = load(StoreRoot(root).run(run.id).run_json)
    assert meta["config"]["lr"] == pytest.approx(0.1 / 3)
    assert meta["summary"]["best_acc"] == pytest.approx(0.2)
    _assert_all_steps(root, run.id, 30)
