"""kill -9 a tight logging loop 50 times at random moments: no step whose log() returned is lost.

Issue 11 / DESIGN.md §8: log() writes each call into a MAP_SHARED mapping of a pre-allocated
file, so once it returns the row is in the kernel's page cache and a killed process cannot lose
it. Unlike tests/test_crash.py there is nothing to wait for before the kill: the victim reports a
step (one write(2) to a progress file) right after log() returned for it, and every step up to
the last one reported must read back exactly, before and after repair. Half of the kills happen
next to two CPU-burning processes (scripts/cpu_hog.py). Delays come from ``CRASH_SEED``
(printed; set it to replay a failure), short so the 50 kills stay cheap.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from localtrack.store import recovery
from localtrack.store.metrics import normalize
from localtrack.store.reader import StoreReader
from localtrack.store.root import StoreRoot
from localtrack.store.runfiles import read_run_data

from .store_fixtures import REPO, Child, column, write_script

pytestmark = pytest.mark.crash

SEED = int(os.environ.get("CRASH_SEED") or time.time_ns() % 1_000_000)
KILLS = 50
DELAY_S = (0.0, 0.4)
VICTIM = """
    import os, sys
    import localtrack

    root, progress_path = sys.argv[1:3]
    run = localtrack.init(project="crash", id="tight", dir=root, settings=localtrack.Settings(
        system_metrics=False, console=False, seal_scalars=20_000))
    fd = os.open(progress_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    print("ready", flush=True)
    s = 0
    while True:
        run.log({"a": s * 0.5, "b": s, "c": s % 3 == 0})
        if s % 16 == 0:
            os.write(fd, b"%d\\n" % s)  # reported: log() returned for every step up to s
        s += 1
"""


def _last_reported(progress: Path) -> int:
    lines = progress.read_bytes().split(b"\n")[:-1] if progress.exists() else []
    return int(lines[-1]) if lines else -1


def _assert_prefix(table: object, at_least: int) -> int:
    steps = column(table, "step")  # type: ignore[arg-type]
    assert np.array_equal(steps, np.arange(len(steps))), "steps are not a contiguous prefix"
    assert len(steps) > at_least, f"CRASH_SEED={SEED}: steps {len(steps)}..{at_least} are lost"
    np.testing.assert_array_equal(column(table, "a"), steps * 0.5)  # type: ignore[arg-type]
    np.testing.assert_array_equal(column(table, "b"), steps)  # type: ignore[arg-type]
    return len(steps)


def _wide(root: Path) -> object:
    return StoreReader(root).history("tight")


@pytest.mark.parametrize("hog", [False, True], ids=["idle", "cpu-hog"])
def test_crash_kill9_at_random_moments_loses_no_step_whose_log_returned(
    tmp_path: Path, hog: bool
) -> None:
    rng = random.Random(f"{SEED}-{hog}")
    print(f"CRASH_SEED={SEED} hog={hog}")
    script = write_script(tmp_path, "victim.py", VICTIM)
    burner = None
    if hog:
        burner = subprocess.Popen(
            [sys.executable, str(REPO / "scripts" / "cpu_hog.py"), "--procs", "2"]
        )
    try:
        for kill in range(KILLS // 2):
            root, progress = tmp_path / f"store-{kill}", tmp_path / f"progress-{kill}"
            child = Child(script, root, progress)
            try:
                child.expect("ready")
                time.sleep(rng.uniform(*DELAY_S))  # the point of the test: a random moment
                child.kill9()
            finally:
                child.stop()
            assert child.stderr_text == ""
            reported = _last_reported(progress)
            paths = StoreRoot(root).run("tight")
            data = read_run_data(paths)
            rows = normalize(data.tables) if data.tables else None
            if rows is None:
                assert reported < 0, f"CRASH_SEED={SEED}: nothing on disk, {reported} reported"
                continue
            n = _assert_prefix(_wide(root), reported)
            if kill % 5 == 0:  # repair (cut, seal, mark crashed) keeps exactly the same rows
                assert recovery.repair_run(paths).problems == []
                assert _assert_prefix(_wide(root), reported) == n
    finally:
        if burner is not None:
            burner.send_signal(signal.SIGTERM)
            burner.wait(60)
