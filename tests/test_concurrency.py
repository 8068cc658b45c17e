"""Many processes logging different runs into one store at once (DESIGN.md §4, FIELD-NOTES.md).

Eight real writer processes start at the same moment and log 2,000 steps × 5 keys each with a
short flush interval (many small index transactions), while this process keeps reading the
store. No child may see "database is locked" or any other warning, every row of every run must
be readable, and the index must pass `PRAGMA integrity_check`. Creating a fresh store from many
processes at once, and reading an index that is still being created, are tested on their own.
"""

from __future__ import annotations

import sqlite3
import threading
import traceback
from pathlib import Path

import numpy as np
import pytest

import localtrack
from localtrack.store.reader import StoreReader
from localtrack.store.root import StoreRoot

from .store_fixtures import Child, column, index_rows, integrity_check, write_script

pytestmark = pytest.mark.slow

WORKERS = 8
STEPS = 2_000
KEYS = ("flag", "inv", "step_copy", "worker", "x")

WORKER = """
    import sys
    import localtrack

    root, worker, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    print("ready", flush=True)
    assert sys.stdin.readline() == "go\\n"
    run = localtrack.init(
        project="concurrency", name=f"worker-{worker}", id=f"worker-{worker}", dir=root,
        config={"worker": worker},
        settings=localtrack.Settings(flush_interval=0.02, seal_scalars=2_500),
    )
    for s in range(steps):
        run.log({
            "x": s * 0.5 + worker,
            "inv": 1.0 / (s + 1 + worker),
            "step_copy": s,
            "worker": worker,
            "flag": (s + worker) % 2 == 0,
        })
        if s % 100 == 99:
            assert run.flush()
    run.finish()
    print("done", flush=True)
"""


def _read_while_writing(root: Path, stop: threading.Event, errors: list[str]) -> None:
    """What a UI does while runs are being written: list runs and read their data."""
    reader = StoreReader(root)
    try:
        while not stop.is_set():
            for info in reader.runs():
                reader.history(info.id)
                reader.metric_keys(info.id)
    except Exception:  # reported by the test
        errors.append(traceback.format_exc())


def test_concurrency_eight_processes_log_into_one_root_without_locking(
    tmp_path: Path, root: Path
) -> None:
    StoreRoot(root, create=True).open_index().close()  # creating it at once: the next test
    script = write_script(tmp_path, "worker.py", WORKER)
    children = [Child(script, root, i, STEPS) for i in range(WORKERS)]
    stop, errors = threading.Event(), list[str]()
    reading = threading.Thread(target=_read_while_writing, args=(root, stop, errors), daemon=True)
    try:
        for child in children:
            child.expect("ready")
        reading.start()
        for child in children:  # all at once
            child.send("go")
        for child in children:
            child.expect("done", timeout=180)
        codes = [child.wait() for child in children]
    finally:
        stop.set()
        for child in children:
            child.stop()
    reading.join(60)

    for i, child in enumerate(children):
        assert "database is locked" not in child.stderr_text, f"worker {i}"
        assert child.stderr_text == "", f"worker {i}: {child.stderr_text}"
    assert codes == [0] * WORKERS
    assert integrity_check(root) == "ok"

    reader = StoreReader(root)
    runs = reader.runs()
    assert sorted((r.id, r.state) for r in runs) == [
        (f"worker-{i}", "finished") for i in range(WORKERS)
    ]
    steps = np.arange(STEPS)
    for i in range(WORKERS):
        run_id = f"worker-{i}"
        history = reader.history(run_id, keys=list(KEYS))
        np.testing.assert_array_equal(column(history, "step"), steps)
        np.testing.assert_array_equal(column(history, "x"), steps * 0.5 + i)
        np.testing.assert_array_equal(column(history, "inv"), 1.0 / (steps + 1 + i))
        np.testing.assert_array_equal(column(history, "step_copy"), steps)
        np.testing.assert_array_equal(column(history, "worker"), np.full(STEPS, i))
        np.testing.assert_array_equal(column(history, "flag"), (steps + i) % 2 == 0)
        counts = {k.key: k.count for k in reader.metric_keys(run_id) if k.key in KEYS}
        assert counts == dict.fromkeys(KEYS, STEPS), run_id
        assert reader.run(run_id).config == {"worker": i}
        on_disk = sorted(p.name for p in StoreRoot(root).run(run_id).metrics.glob("*.parquet"))
        indexed = [
            r[0]
            for r in index_rows(
                root, "SELECT name FROM shards WHERE run_id=? ORDER BY name", run_id
            )
        ]
        assert indexed == on_disk, run_id

    assert not errors, f"a reader failed while the runs were written:\n{errors[0]}"


OPENER = """
    import sys, traceback
    from pathlib import Path
    from localtrack.store.root import StoreRoot

    base = Path(sys.argv[1])
    print("ready", flush=True)
    for line in sys.stdin:  # one fresh store per line, opened by every process at once
        root = base / line.strip()
        try:
            store = StoreRoot(root, create=True)
            index = store.open_index()
            assert index is not None, "no index"
            index.close()
            print("ok", flush=True)
        except Exception:
            print("error", traceback.format_exc().strip().splitlines()[-1], flush=True)
"""


def test_concurrency_processes_creating_one_fresh_store_at_once_all_succeed(
    tmp_path: Path,
) -> None:
    """Eight sweep agents start together on a store that does not exist yet, again and again:
    each creates the root (format marker) and opens the index; none may fail or warn."""
    script = write_script(tmp_path, "opener.py", OPENER)
    children = [Child(script, tmp_path / "stores") for _ in range(WORKERS)]
    failures = []
    try:
        for child in children:
            child.expect("ready")
        for attempt in range(10):
            for child in children:
                child.send(f"store-{attempt}")
            for i, child in enumerate(children):
                line = child.next_line(timeout=60)
                if line != "ok":
                    failures.append(f"store-{attempt}, process {i}: {line}")
        codes = [child.wait() for child in children]
    finally:
        for child in children:
            child.stop()
    assert codes == [0] * WORKERS
    assert not failures, "\n".join(failures)
    for i, child in enumerate(children):
        assert child.stderr_text == "", f"process {i}: {child.stderr_text}"


def test_concurrency_reader_of_an_index_still_being_created_reads_the_run_files(root: Path) -> None:
    """A writer creates index.db, then migrates it: a reader in between sees no tables yet."""
    run = localtrack.init(
        project="p", name="early", dir=root, settings=localtrack.Settings(system_metrics=False)
    )
    run.log({"loss": 0.5})
    run.finish()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{root / 'index.db'}{suffix}").unlink(missing_ok=True)
    sqlite3.connect(root / "index.db").close()  # created, not migrated yet

    reader = StoreReader(root)
    assert [(r.id, r.name, r.state) for r in reader.runs()] == [(run.id, "early", "finished")]
    assert reader.run(run.id).state == "finished"
    assert [k.key for k in reader.metric_keys(run.id)] == ["loss"]
    assert reader.history(run.id, keys=["loss"]).column("loss").to_pylist() == [0.5]
