"""A full disk on the mapped tail path: in-memory chunks are bounded, log() waits, nothing is lost.

When no tail segment file can be allocated and no shard can be written, log() keeps rows in
memory chunks (store/segwriter.py) up to ``MAX_VOLATILE_BYTES``; then it blocks, says so once,
and goes on as soon as the disk has room again.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import localtrack
from localtrack.store import segwriter, writer
from localtrack.store.reader import StoreReader
from localtrack.store.runmeta import load

from .store_fixtures import column

WAITS = "log() waits until they are written"


def test_a_full_disk_makes_log_wait_at_the_memory_limit_and_loses_no_row(
    root: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    full = threading.Event()
    full.set()
    real_allocate, real_write_shard = segwriter.allocate, writer.write_shard

    def allocate(fd: int, size: int) -> None:
        if full.is_set():
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_allocate(fd, size)

    def write_shard(*args: Any, **kwargs: Any) -> Any:
        if full.is_set():
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write_shard(*args, **kwargs)

    limit = 3 * segwriter.MIN_CHUNK_BYTES
    monkeypatch.setattr(segwriter, "allocate", allocate)
    monkeypatch.setattr(writer, "write_shard", write_shard)
    monkeypatch.setattr(segwriter, "MAX_VOLATILE_BYTES", limit)
    caplog.set_level(logging.WARNING)
    settings = localtrack.Settings(
        system_metrics=False, console=False, seal_scalars=2000, flush_interval=0.05
    )
    run = localtrack.init(project="p", dir=root, settings=settings)
    segs = run._writer.segments
    assert segs is not None
    seen: dict[str, Any] = {}

    def free_the_disk_once_log_waits() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if any(WAITS in r.getMessage() for r in list(caplog.records)):
                seen["held"] = sum(c.size for c in list(segs.chunks) if c.volatile)
                seen["step"] = run.step
                time.sleep(0.3)  # log() must still be waiting
                seen["step_later"] = run.step
                full.clear()
                return
            time.sleep(0.01)

    freer = threading.Thread(target=free_the_disk_once_log_waits)
    freer.start()
    steps = 20_000  # about 11 chunks of 64 KiB: far beyond the limit of 3
    for s in range(steps):
        run.log({"a": float(s)})
    freer.join()
    run.finish()

    assert seen, "log() never waited although the memory limit was reached"
    assert seen["held"] <= limit
    assert seen["step"] == seen["step_later"] < steps  # the training loop was held there
    waits = [r for r in caplog.records if WAITS in r.getMessage()]
    assert len(waits) == 1 and "nothing logged so far is lost" in waits[0].getMessage()
    history = StoreReader(root).history(run.id)
    np.testing.assert_array_equal(column(history, "step"), np.arange(steps))
    np.testing.assert_array_equal(column(history, "a"), np.arange(steps, dtype=float))
    assert load(run.dir / "run.json")["state"] == "finished"
